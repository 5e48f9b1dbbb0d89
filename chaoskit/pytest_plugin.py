"""chaoskit's pytest plugin (the ``pytest11`` entry point).

- Experiment files are collected as test items: ``pytest experiments/`` runs every file matching the
  ``chaoskit_glob`` ini option (default ``experiments/*.yaml *.chaos.yaml``). Each item is marked ``chaoskit``
  and with each of the experiment's ``tags`` (so ``-m "not compose"`` deselects by tag).
- A failing item says which SLO broke in which phase, with the observed value and the evidence.
- ``--chaoskit-report-dir DIR`` writes every registered report format of each experiment item into DIR (named
  after the experiment file), attaches each path to the item as the ``chaoskit_report_<format>`` user property
  (which pytest's own ``--junitxml`` records), and lists them in the terminal summary.
- The ``chaoskit`` fixture gives tests the Python API: ``with chaoskit.fault("process.stop", target=...):``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

DEFAULT_GLOB = "experiments/*.yaml *.chaos.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaoskit")
    group.addoption("--chaoskit-state-dir", default=None, help="Ledger and journals (default: <rootdir>/.chaoskit).")
    group.addoption("--chaoskit-report-dir", default=None, help="Write each experiment's reports here.")
    group.addoption("--chaoskit-no-collect", action="store_true", help="Do not collect experiment files.")
    parser.addini("chaoskit_glob", "Patterns of experiment files collected as tests.", default=DEFAULT_GLOB)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaoskit: a chaoskit experiment item (or a test that injects faults)")


def _state_dir(config: pytest.Config) -> Path:
    option = config.getoption("--chaoskit-state-dir")
    return Path(option) if option else config.rootpath / ".chaoskit"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    if config.getoption("--chaoskit-no-collect") or file_path.suffix not in (".yaml", ".yml"):
        return None
    patterns = str(config.getini("chaoskit_glob")).split()
    if any(file_path.match(p) for p in patterns):
        return ExperimentFile.from_parent(parent, path=file_path)
    return None


class ExperimentFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        item = ExperimentItem.from_parent(self, name=self.path.stem)
        item.add_marker(pytest.mark.chaoskit)
        for tag in _tags(self.path):  # `pytest experiments/ -m "not compose"` selects by the experiment's tags
            self.config.addinivalue_line("markers", f"{tag}: experiments tagged {tag!r}")
            item.add_marker(tag)
        yield item


def _tags(path: Path) -> list[str]:
    """The experiment's ``tags`` that can be pytest markers; a file that does not parse has none here (running it
    reports the located errors)."""
    import re

    from chaoskit.errors import ExperimentError
    from chaoskit.experiment.loader import read_source, read_yaml

    try:  # the loader's own bounds (size, alias expansion) apply at collection too
        data = read_yaml(read_source(path), str(path))[0]
    except ExperimentError:
        return []
    tags = data.get("tags") if isinstance(data, dict) else None
    if not isinstance(tags, list):
        return []
    return [t for t in tags if isinstance(t, str) and re.fullmatch(r"[A-Za-z_][\w\-.]*", t) and t != "chaoskit"]


class ExperimentFailed(Exception):
    """Raised by an experiment item whose outcome is not PASSED."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(text)


class ExperimentItem(pytest.Item):
    """One experiment file run end to end; passes only on PASSED."""

    def runtest(self) -> None:
        from chaoskit.api import run_experiment
        from chaoskit.errors import ChaoskitError, ExperimentError
        from chaoskit.runner.result import Outcome

        try:
            result = run_experiment(self.path, state_dir=_state_dir(self.config), handle_signals=False)
        except ExperimentError as exc:
            raise ExperimentFailed("invalid experiment:\n" + "\n".join(str(d) for d in exc.diagnostics)) from None
        except ChaoskitError as exc:
            raise ExperimentFailed(f"error: {exc}") from None
        self.user_properties.append(("chaoskit_outcome", result.outcome.value))
        self.user_properties.append(("chaoskit_journal", result.journal))
        self._write_reports(result)
        if result.outcome is not Outcome.PASSED:
            raise ExperimentFailed(_failure_text(result))

    def _write_reports(self, result: Any) -> None:
        report_dir = self.config.getoption("--chaoskit-report-dir")
        if not report_dir:
            return
        from chaoskit.plugins import plugin_manager
        from chaoskit.runner.journal import read_events

        registry = plugin_manager().registry
        events = read_events(result.journal) if result.journal else []
        out = Path(report_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, reporter in sorted(registry.reporters.items()):
            path = (out / f"{self.path.stem}{reporter.suffix}").resolve()
            try:  # one broken reporter must not hide the others or the verdict
                path.write_text(reporter.render(result, events), encoding="utf-8")
            except Exception as exc:
                self.user_properties.append((f"chaoskit_report_{name}_error", f"{type(exc).__name__}: {exc}"))
                continue
            self.user_properties.append((f"chaoskit_report_{name}", str(path)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExperimentFailed):
            return excinfo.value.text
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"chaoskit experiment {self.name}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List every experiment item's reports (read from the reports' user_properties, so xdist works too)."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            written = [(k.removeprefix("chaoskit_report_"), v) for k, v in getattr(report, "user_properties", ())
                       if str(k).startswith("chaoskit_report_")]
            if written:
                lines.append(f"{report.nodeid}:")
                lines += [f"  {fmt:<12} {where}" for fmt, where in sorted(written)]
    if lines:
        terminalreporter.write_sep("-", "chaoskit reports")
        for line in lines:
            terminalreporter.write_line(line)


def _failure_text(result: Any) -> str:
    from chaoskit.report.text import render_text, verdict_line

    lines = [f"{result.outcome.value.upper()}: {result.reason}"]
    for v in result.breaches():
        lines.append(f"  SLO {v.slo} broke in {v.phase}" + (f" of fault {v.fault}" if v.fault else "") +
                     f": observed {v.observed_text}, objective {v.objective}, evidence {v.evidence.requests} "
                     f"requests / {v.evidence.errors} errors over {v.evidence.seconds:g}s")
        lines.append("    " + verdict_line(v))
    lines += ["", render_text(result)]
    return "\n".join(lines)


class ChaoskitFixture:
    """What the ``chaoskit`` fixture gives a test."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def fault(self, kind: str, *, target: Mapping[str, Any], params: Mapping[str, Any] | None = None,
              name: str = "inline") -> Any:
        """``with chaoskit.fault("process.stop", target={"pid": pid}):`` injects for the block, then reverts."""
        from chaoskit.api import fault

        return fault(kind, target=target, params=params, name=name, state_dir=self.state_dir)

    def run(self, path: str | Path) -> Any:
        """Run an experiment file and return its RunResult (does not fail the test by itself)."""
        from chaoskit.api import run_experiment

        return run_experiment(path, state_dir=self.state_dir, handle_signals=False)

    def load(self, path: str | Path) -> Any:
        from chaoskit.api import load

        return load(path)


@pytest.fixture
def chaoskit(request: pytest.FixtureRequest) -> ChaoskitFixture:
    """The chaoskit Python API bound to this session's state directory."""
    return ChaoskitFixture(_state_dir(request.config))
