"""Load an experiment file: YAML with positions, ``${ENV}`` substitution, validation, cross-checks.

Every problem found in a file is collected and raised at once as one :class:`~chaoskit.errors.ExperimentError`
carrying located diagnostics; no input, however broken, raises anything else.

The YAML is read event by event (libyaml's C parser when available) into plain values, recording where each
value and key starts. Reading events rather than composing libyaml's node tree keeps control of depth (the C
composer recurses and can overflow the stack), of duplicate keys (an error here, silently "last wins" in PyYAML)
and of aliases: a document may expand to at most ``MAX_VALUES`` values, which stops "billion laughs" bombs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chaoskit.errors import Diagnostic, ExperimentError, FileDiagnosticsError, PluginError
from chaoskit.experiment.diagnostics import SourceMap, cross_checks, render_path
from chaoskit.experiment.envsubst import substitute

if TYPE_CHECKING:
    from chaoskit.experiment.model import Experiment, FaultSpec, ProbeSpec
    from chaoskit.registry import FaultKind, ProbeKind, Registry

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    _STR,
    "tag:yaml.org,2002:timestamp",  # kept as text: the format has no dates
    "tag:yaml.org,2002:binary",  # kept as text
    "tag:yaml.org,2002:value",
}
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class _Abort(Exception):
    """The document cannot be read further; the diagnostic explaining why is already recorded."""


# ------------------------------------------------------------------------------------------------ composing


@dataclass(eq=False)
class _Node:
    """A value with its position; collections hold nodes. Aliases share nodes, so sizes count expansions."""

    value: Any
    line: int
    column: int
    kind: str = "scalar"  # "scalar", "seq" or "map"
    raw: str | None = None  # a scalar's text, used when it is a mapping key
    merge: bool = False  # a scalar that is the merge key "<<"
    size: int = 1
    depth: int = 1
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)  # a mapping's key positions


@dataclass(eq=False)
class _Frame:
    node: _Node
    path: tuple[str | int, ...]
    anchor: str | None
    key: str | None = None  # map: the key whose value comes next
    key_pos: tuple[int, int] = (1, 1)
    expect_key: bool = True
    bad_key: bool = False
    merge_key: bool = False
    merges: list[_Node] = field(default_factory=list)


class _Composer:
    """Builds ``_Node`` trees from YAML events, collecting diagnostics instead of raising."""

    def __init__(self, source: SourceMap, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.diagnostics: list[Diagnostic] = []
        self.flagged: set[tuple[str | int, ...]] = set()
        self.anchors: dict[str, _Node] = {}
        self.stack: list[_Frame] = []
        self.root: _Node | None = None
        self.documents = 0
        self.loader: Any = None

    def report(
        self,
        line: int,
        column: int,
        path: tuple[str | int, ...],
        message: str,
        hint: str | None,
        *,
        flag: bool = True,
    ) -> None:
        """Record a diagnostic; ``flag`` hides later validation errors at or under ``path`` (they repeat it)."""
        if flag:
            self.flagged.add(path)
        self.diagnostics.append(Diagnostic(self.source.file, line, column, render_path(path), message, hint))

    # -- events -------------------------------------------------------------------------------------------

    def compose(self, text: str) -> _Node | None:
        loader = self.loader = _Loader(text)
        try:
            while True:
                event = loader.get_event()
                if event is None or isinstance(event, yaml.StreamEndEvent):
                    break
                self._event(event)
        except _Abort:
            return None
        except yaml.MarkedYAMLError as exc:
            self._syntax_error(exc, text)
            return None
        except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
            position = getattr(exc, "position", None)
            line, column = _line_col(text, position if isinstance(position, int) else 0)
            reason = getattr(exc, "reason", None) or str(exc)
            self.report(line, column, (), f"unreadable YAML: {reason}", "remove control characters from the file")
            return None
        finally:
            dispose = getattr(loader, "dispose", None)
            if dispose is not None:
                dispose()
        return self.root

    def _event(self, event: Any) -> None:
        mark = event.start_mark
        line, column = mark.line + 1, mark.column + 1
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.report(line, column, (), "a file holds one experiment, found a second YAML document", None)
                raise _Abort
        elif isinstance(event, yaml.ScalarEvent):
            node = self._scalar(event, line, column)
            if event.anchor:
                self.anchors[event.anchor] = node
            self._attach(node)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event, line, column)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            is_map = isinstance(event, yaml.MappingStartEvent)
            path = self._next_path()
            if len(self.stack) >= MAX_DEPTH:
                self.report(line, column, path, f"nested more than {MAX_DEPTH} levels deep", None)
                raise _Abort
            if event.tag not in _COLLECTION_TAGS:
                self.report(line, column, path, f"unsupported YAML tag {event.tag!r}", "remove the tag")
            node = _Node({} if is_map else [], line, column, kind="map" if is_map else "seq")
            self.stack.append(_Frame(node, path, event.anchor))
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            frame = self.stack.pop()
            if frame.node.kind == "map":
                self._merge(frame)
            if frame.anchor:
                self.anchors[frame.anchor] = frame.node
            self._attach(frame.node)

    def _next_path(self) -> tuple[str | int, ...]:
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if frame.node.kind == "seq":
            return (*frame.path, len(frame.node.value))
        if frame.expect_key or frame.bad_key or frame.key is None:
            return frame.path
        return (*frame.path, frame.key)

    def _alias(self, event: Any, line: int, column: int) -> None:
        path = self._next_path()
        node = self.anchors.get(event.anchor)
        if node is None:
            if any(f.anchor == event.anchor for f in self.stack):
                self.report(line, column, path, f"alias *{event.anchor} refers to a value that contains it", None)
            else:
                self.report(line, column, path, f"undefined alias *{event.anchor}", "define it first with &name")
            node = _Node(None, line, column)
        self._attach(node)

    def _scalar(self, event: Any, line: int, column: int) -> _Node:
        raw: str = event.value
        path = self._next_path()
        tag = event.tag if event.tag not in (None, "!") else self.loader.resolve(yaml.ScalarNode, raw, event.implicit)
        if self.stack and self.stack[-1].node.kind == "map" and self.stack[-1].expect_key:
            return _Node(raw, line, column, raw=raw, merge=tag == _MERGE)
        value: Any
        if tag == _STR and "${" in raw:
            plain = event.style in (None, "") and event.implicit[0]
            value, problems = substitute(raw, self.env)
            for problem in problems:
                at = column + problem.offset if plain and "\n" not in raw else column
                self.report(line, at, path, problem.message, problem.hint)
            if plain and not problems and value:
                # A plain ${VAR} takes the type its value would have had written in place: users: ${USERS} is
                # an integer. An empty result stays an empty string rather than becoming null.
                tag = self.loader.resolve(yaml.ScalarNode, value, (True, False))
                raw = value
            else:
                return _Node(value, line, column, raw=event.value)
        if tag not in _SCALAR_TAGS:
            self.report(line, column, path, f"unsupported YAML tag {tag!r}", "remove the tag")
            return _Node(raw, line, column, raw=raw)
        return _Node(self._construct(tag, raw, line, column, path), line, column, raw=raw)

    def _construct(self, tag: str, raw: str, line: int, column: int, path: tuple[str | int, ...]) -> Any:
        if tag in (_STR, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:value"):
            return raw
        try:
            return self.loader.yaml_constructors[tag](self.loader, yaml.ScalarNode(tag, raw))
        except Exception:
            what = tag.rsplit(":", 1)[-1]
            self.report(line, column, path, f"cannot read {raw[:40]!r} as {what}", "quote it to make it a string")
            return raw

    def _attach(self, node: _Node) -> None:
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        parent = frame.node
        if len(self.stack) + node.depth > MAX_DEPTH:
            self.report(node.line, node.column, frame.path, f"nested more than {MAX_DEPTH} levels deep", None)
            raise _Abort
        if parent.kind == "seq":
            parent.value.append(node)
        elif frame.expect_key:
            frame.expect_key = False
            frame.key_pos = (node.line, node.column)
            frame.bad_key = node.kind != "scalar"
            frame.key = node.raw if node.kind == "scalar" else None
            frame.merge_key = node.merge
            if frame.bad_key:
                self.report(node.line, node.column, frame.path, "a mapping key must be a plain string", None)
            return
        else:
            frame.expect_key = True
            if frame.bad_key:
                return
            key = frame.key if frame.key is not None else ""
            if frame.merge_key:
                frame.merges.append(node)
            else:
                if key in parent.value:
                    first = parent.keys[key]
                    self.report(
                        *frame.key_pos,
                        (*frame.path, key),
                        f"duplicate key {key!r}",
                        f"first given at line {first[0]}",
                        flag=False,
                    )
                parent.value[key] = node
                parent.keys[key] = frame.key_pos
        parent.size += node.size
        parent.depth = max(parent.depth, node.depth + 1)
        if parent.size > MAX_VALUES:
            hint = "aliases (*name) are expanded where they are used; use fewer of them" if self.anchors else None
            self.report(node.line, node.column, frame.path, f"the document has more than {MAX_VALUES} values", hint)
            raise _Abort

    def _merge(self, frame: _Frame) -> None:
        """Apply ``<<: *base`` merges: explicit keys win, then earlier merge sources over later ones."""
        node = frame.node
        for source in frame.merges:
            sources = source.value if source.kind == "seq" else [source]
            for item in sources:
                if item.kind != "map":
                    self.report(item.line, item.column, (*frame.path, "<<"), "'<<' merges only mappings", None)
                    continue
                for key, value in item.value.items():
                    if key not in node.value:
                        node.value[key] = value
                        node.keys[key] = item.keys.get(key, (item.line, item.column))
                        node.size += value.size
                        node.depth = max(node.depth, value.depth + 1)
        if node.size > MAX_VALUES or len(self.stack) + node.depth > MAX_DEPTH:
            self.report(node.line, node.column, frame.path, "'<<' merges make the document too large", None)
            raise _Abort

    def _syntax_error(self, exc: yaml.MarkedYAMLError, text: str) -> None:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or "invalid YAML"
        message = f"invalid YAML: {problem}"
        if exc.context:
            message += f" ({exc.context}"
            if exc.context_mark is not None and exc.context_mark is not mark:
                message += f" at line {exc.context_mark.line + 1}"
            message += ")"
        hint = None
        lines = text.splitlines()
        if "\t" in problem or (0 < line <= len(lines) and "\t" in lines[line - 1][: column + 1]):
            hint = "indent with spaces; YAML does not allow tabs for indentation"
        elif "flow" in (exc.context or "") and _UNQUOTED_VAR.search(_lines_between(lines, exc, line)):
            hint = 'inside {...} or [...] a ${VAR} must be quoted, e.g. {tcp: "${HOST}:7001"}'
        self.report(line, column, (), message, hint)


_UNQUOTED_VAR = re.compile(r"(?:^|[\s,{\[:])\$\{")


def _lines_between(lines: list[str], exc: yaml.MarkedYAMLError, line: int) -> str:
    first = exc.context_mark.line + 1 if exc.context_mark is not None else line
    return "\n".join(lines[first - 1 : line])


def _line_col(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _flatten(node: _Node, path: tuple[str | int, ...], source: SourceMap) -> Any:
    """Plain Python values from nodes, recording every position in ``source``."""
    source.values[path] = (node.line, node.column)
    if node.kind == "seq":
        return [_flatten(item, (*path, i), source) for i, item in enumerate(node.value)]
    if node.kind == "map":
        out = {}
        for key, value in node.value.items():
            if key in node.keys:
                source.keys[(*path, key)] = node.keys[key]
            out[key] = _flatten(value, (*path, key), source)
        return out
    return node.value


# ----------------------------------------------------------------------------------------------- decoding


def _decode(data: bytes, file: str) -> str:
    """UTF-8 (with or without BOM) or UTF-16/32 with a BOM; a located diagnostic otherwise."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encoding = "utf-32"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode(encoding, errors="replace")
        line, column = _line_col(good, len(good))
        diagnostic = Diagnostic(
            file, line, column, "", f"the file is not valid {encoding.upper()[:6]} text", "save it as UTF-8"
        )
        raise ExperimentError([diagnostic], file) from None


def read_yaml(
    text: str | bytes, source: str, *, env: Mapping[str, str] | None = None
) -> tuple[Any, SourceMap, list[Diagnostic], set[tuple[str | int, ...]]]:
    """Parse one YAML document: ``(data, positions, diagnostics, paths with a problem)``.

    ``data`` is None when the document could not be read at all (the diagnostics say why).
    """
    smap = SourceMap(source)
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_BYTES:
            raise ExperimentError([_too_big(source)], source)
        text = _decode(bytes(text), source)
    elif len(text) > MAX_BYTES:
        raise ExperimentError([_too_big(source)], source)
    composer = _Composer(smap, os.environ if env is None else env)
    text = text.lstrip("\ufeff")
    try:
        root = composer.compose(text)
    except UnicodeEncodeError as exc:  # a lone surrogate in a str given by a caller
        line, column = _line_col(text, exc.start)
        raise ExperimentError(
            [Diagnostic(source, line, column, "", "unreadable text: a lone surrogate")], source
        ) from None
    except (UnicodeError, RecursionError, MemoryError, ValueError) as exc:
        raise ExperimentError([Diagnostic(source, 1, 1, "", f"unreadable YAML: {exc}")], source) from None
    data = None if root is None else _flatten(root, (), smap)
    return data, smap, composer.diagnostics, composer.flagged


def _too_big(source: str) -> Diagnostic:
    return Diagnostic(source, 1, 1, "", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")


# ---------------------------------------------------------------------------------------------- validating


_Kinds = tuple[tuple[type["FaultSpec"], ...], tuple[type["ProbeSpec"], ...]]
_MAX_MODELS = 16
_models: dict[_Kinds, type[Experiment]] = {}  # built models, by their fault and probe kinds


def _model(faults: tuple[type[FaultSpec], ...], probes: tuple[type[ProbeSpec], ...]) -> type[Experiment]:
    """The ``Experiment`` model for these kinds, its validator built; a model already built for more kinds serves
    too (a discriminated union validates an entry of a kind it holds the same way, whatever else it holds)."""
    for (have_faults, have_probes), model in _models.items():
        if set(faults) <= set(have_faults) and set(probes) <= set(have_probes):
            return model
    from chaoskit.experiment.model import experiment_model

    try:
        model = experiment_model(list(faults), list(probes))
        # Models build on first use (defer_build): build this one now, so a plugin whose spec cannot form a
        # model is a PluginError here, not a failure in the middle of validating a file.
        model.model_rebuild()
    except Exception as exc:
        raise PluginError(f"the registered fault and probe kinds do not form a valid model: {exc}") from exc
    if len(_models) >= _MAX_MODELS:
        del _models[next(iter(_models))]
    _models[(faults, probes)] = model
    return model


def experiment_model_for(registry: Registry) -> type[Experiment]:
    """The ``Experiment`` model for the fault and probe kinds in ``registry`` (built once per set of kinds)."""
    return _model(
        tuple(kind.spec for kind in registry.faults.values()), tuple(kind.spec for kind in registry.probes.values())
    )


def _named_kinds(
    data: Mapping[str, Any], key: str, kinds: Mapping[str, FaultKind] | Mapping[str, ProbeKind]
) -> tuple[Any, ...]:
    """The specs of the kinds the document's ``faults`` or ``probes`` list names, in registration order. Every
    kind when an entry names none that is registered, or anything else is odd, so that its error lists them all."""
    if key not in data:
        return ()
    entries = data[key]
    named: set[str] = set()
    for entry in entries if isinstance(entries, list) else [None]:
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(kind, str) or kind not in kinds:
            return tuple(k.spec for k in kinds.values())
        named.add(kind)
    return tuple(k.spec for name, k in kinds.items() if name in named)


def _document_model(data: Mapping[str, Any], registry: Registry) -> type[Experiment]:
    """The ``Experiment`` model for the kinds a document uses: building a validator takes time for every kind it
    holds, and a file names a few of the kinds installed."""
    return _model(_named_kinds(data, "faults", registry.faults), _named_kinds(data, "probes", registry.probes))


def load_experiment_text(
    text: str | bytes,
    source: str,
    registry: Registry,
    *,
    env: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> Experiment:
    """Parse, substitute, validate and cross-check one experiment.

    :param text: the YAML text (bytes are decoded as UTF-8, or UTF-16/32 with a BOM).
    :param source: the name diagnostics give the file.
    :param env: variables for ``${VAR}`` (default: ``os.environ``).
    :param base_dir: the directory relative paths are taken from; handed to validators as
        ``info.context["base_dir"]`` (default: the current directory).
    :raises ExperimentError: with every problem found, each located.
    :raises PluginError: when the registered kinds do not form a valid model (a plugin bug, not the file's).
    """
    data, smap, diagnostics, flagged = read_yaml(text, source, env=env)
    if data is None:
        if not diagnostics:
            diagnostics.append(smap.diagnostic((), "the file is empty", "an experiment starts with 'version: 1'"))
        raise ExperimentError(diagnostics, source)
    if not isinstance(data, dict):
        message = f"an experiment must be a mapping of keys (version, title, ...), got {_kind(data)}"
        raise ExperimentError([*diagnostics, smap.diagnostic((), message)], source)

    from pydantic import ValidationError

    from chaoskit.experiment.diagnostics import validation_diagnostics

    model = _document_model(data, registry)
    experiment: Experiment | None = None
    root = Path(base_dir) if base_dir is not None else Path.cwd()
    context = {"base_dir": root, "source": source}
    try:
        experiment = model.model_validate(data, context=context)
    except ValidationError as exc:
        for diagnostic in validation_diagnostics(exc, model, smap):
            if not _under_flagged(diagnostic, smap, flagged):
                diagnostics.append(diagnostic)
    except Exception as exc:  # a validator that raised something pydantic does not wrap: still no traceback
        hint = "a bug in chaoskit or a plugin; please report it with this file"
        diagnostics.append(smap.diagnostic((), f"validation failed unexpectedly: {exc!r}"[:300], hint))
    diagnostics.extend(cross_checks(data, smap, registry, experiment, root))
    if diagnostics:
        raise ExperimentError(sorted(diagnostics, key=lambda d: (d.line, d.column)), source)
    assert experiment is not None
    return experiment


def load_experiment(
    path: str | os.PathLike[str], registry: Registry, *, env: Mapping[str, str] | None = None
) -> Experiment:
    """Read and load the experiment at ``path``; relative paths in it are taken from the file's directory.

    :raises ExperimentError: with every problem found (a missing or unreadable file is one, too).
    """
    return load_experiment_text(read_source(path), os.fspath(path), registry, env=env, base_dir=Path(path).parent)


def read_source(path: str | os.PathLike[str], error: type[FileDiagnosticsError] = ExperimentError) -> bytes:
    """The bytes of a file to load (at most ``MAX_BYTES + 1``); an unreadable file is one located ``error``."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = "is a directory, not a file"
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
    raise error([Diagnostic(name, 1, 1, "", reason)], name)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "nothing"
    return f"a single value ({value!r})"[:60]


def _under_flagged(diagnostic: Diagnostic, smap: SourceMap, flagged: set[tuple[str | int, ...]]) -> bool:
    """Whether a validation error only repeats a problem already reported while reading (e.g. an unset var)."""
    rendered = {render_path(p) for p in flagged}
    path = diagnostic.path
    return any(path == r or path.startswith(r + ".") or path.startswith(r + "[") for r in rendered if r)


__all__ = ["experiment_model_for", "load_experiment", "load_experiment_text", "read_yaml"]
