"""Load a game-day file with every problem located (``file:line:col path: message``), as experiments are.

The YAML goes through the experiment loader's reader (positions, ``${ENV}`` from the environment, size and alias
limits); validation errors are worded by the same diagnostics; then each experiment path or glob must match a
file.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from chaoskit.errors import Diagnostic, ExperimentError, GameDayError
from chaoskit.experiment.diagnostics import SourceMap, validation_diagnostics
from chaoskit.experiment.loader import read_source, read_yaml
from chaoskit.gameday.model import GameDay, Parallel


@dataclass(frozen=True)
class LoadedGameDay:
    """A validated game day and its steps, each a list of experiment files (one, or a parallel group)."""

    gameday: GameDay
    path: Path
    stages: tuple[tuple[Path, ...], ...]

    @property
    def name(self) -> str:
        return self.gameday.name

    def experiment_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment experiments see: ``base`` (default: this process's) with the game day's variables."""
        return {**(os.environ if base is None else base), **self.gameday.variables}


def load_gameday(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> LoadedGameDay:
    """Read, validate and resolve a game-day file; :class:`GameDayError` lists every problem."""
    data = read_source(path, GameDayError)
    return load_gameday_text(data, os.fspath(path), base_dir=Path(path).resolve().parent, env=env)


def load_gameday_text(
    text: str | bytes, source: str, *, base_dir: Path, env: Mapping[str, str] | None = None
) -> LoadedGameDay:
    try:
        data, smap, diagnostics, _ = read_yaml(text, source, env=env)
    except ExperimentError as exc:  # unreadable bytes: the reader's diagnostics are ours too
        raise GameDayError(exc.diagnostics, source) from None
    if data is None or not isinstance(data, dict):
        message = "the file is empty" if data is None else "a game day is a mapping of keys (version, name, ...)"
        if data is not None or not diagnostics:
            diagnostics.append(smap.diagnostic((), message, "a game day starts with 'version: 1'"))
        raise GameDayError(diagnostics, source)
    gameday: GameDay | None = None
    try:
        gameday = GameDay.model_validate(data)
    except ValidationError as exc:
        diagnostics.extend(validation_diagnostics(exc, GameDay, smap))
    stages: list[tuple[Path, ...]] = []
    if gameday is not None:
        for i, step in enumerate(gameday.experiments):
            if isinstance(step, Parallel):
                group: list[Path] = []
                for j, pattern in enumerate(step.parallel):
                    group.extend(_expand(pattern, base_dir, smap, ("experiments", i, "parallel", j), diagnostics))
                if group:
                    stages.append(tuple(group))
            else:
                found = _expand(step, base_dir, smap, ("experiments", i), diagnostics)
                stages.extend((p,) for p in found)
        for stage in stages:
            twice = sorted({p.name for p in stage if stage.count(p) > 1})
            if twice:
                diagnostics.append(smap.diagnostic(("experiments",), f"{', '.join(twice)} would run twice at the "
                                                   "same time in one parallel group",
                                                   "an experiment may repeat in order, not inside a group"))
    if diagnostics:
        raise GameDayError(sorted(diagnostics, key=lambda d: (d.line, d.column)), source)
    assert gameday is not None
    return LoadedGameDay(gameday, Path(source).resolve(), tuple(stages))


def _expand(
    pattern: str, base_dir: Path, smap: SourceMap, path: tuple[str | int, ...], diagnostics: list[Diagnostic]
) -> list[Path]:
    """The files ``pattern`` names (sorted, when it is a glob), or a diagnostic when it names none."""
    full = pattern if os.path.isabs(pattern) else str(base_dir / pattern)
    if glob.has_magic(pattern):
        found = sorted(Path(p).resolve() for p in glob.glob(full, recursive=True) if Path(p).is_file())
        if not found:
            diagnostics.append(smap.diagnostic(path, f"no experiment file matches {pattern!r}",
                                               f"globs are taken from {base_dir}"))
        return found
    target = Path(full)
    if not target.is_file():
        diagnostics.append(smap.diagnostic(path, f"no such experiment file {pattern!r}",
                                           f"paths are taken from {base_dir}"))
        return []
    return [target.resolve()]
