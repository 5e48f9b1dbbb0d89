"""The one exception tree of chaoskit.

::

    ChaoskitError
     ├── FileDiagnosticsError     a file is wrong (carries every Diagnostic)
     │    ├── ExperimentError     an experiment file
     │    └── GameDayError        a game-day file
     ├── PluginError              a plugin failed to load or registered something twice
     ├── TargetError              a target did not start or never became ready
     ├── FaultError               a fault could not be injected, reverted or verified
     │    └── RevertError         a revert failed or could not be verified
     ├── ProbeError               a probe is misconfigured (not: a probe that observed a failure)
     ├── LedgerError              the fault ledger cannot be read or written
     ├── LoadError                Locust load could not be generated (a load child failed, crashed or left)
     │    ├── ProtocolError       a load child or driver broke the JSON-lines protocol (chaoskit.load.protocol)
     │    └── ListenError         a load-child listener cannot bind its address (chaoskit.load.listen)
     ├── SchedulerError           the game-day scheduler cannot start (another one holds the state dir)
     └── HistoryError             the run history database cannot be opened, read or written

Errors carry their context as attributes (experiment, fault, target) so callers never parse messages.
Only ``chaoskit.cli`` turns them into text and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Diagnostic:
    """One located problem in an experiment file."""

    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where} {self.path or '<root>'}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ChaoskitError(Exception):
    """Base of every error chaoskit raises on purpose."""


class FileDiagnosticsError(ChaoskitError):
    """A file (experiment, game day) failed to load or validate; ``diagnostics`` lists every problem found."""

    what = "file"

    def __init__(self, diagnostics: list[Diagnostic], source: str | Path | None = None) -> None:
        self.diagnostics = list(diagnostics)
        self.source = str(source) if source is not None else None
        super().__init__("\n".join(str(d) for d in self.diagnostics) or f"invalid {self.what}")


class ExperimentError(FileDiagnosticsError):
    """An experiment failed to load or validate; ``diagnostics`` lists every problem found."""

    what = "experiment"


class PluginError(ChaoskitError):
    """A plugin could not be loaded or registered a kind that already exists."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(message)


class TargetError(ChaoskitError):
    """A target process did not start, exited early, or never passed its readiness check."""

    def __init__(self, message: str, *, target: str | None = None) -> None:
        self.target = target
        super().__init__(message)


class FaultError(ChaoskitError):
    """A fault could not be injected (or planned) against its target."""

    def __init__(self, message: str, *, fault: str | None = None, target: str | None = None) -> None:
        self.fault = fault
        self.target = target
        super().__init__(message)


class RevertError(FaultError):
    """Reverting a fault failed, or the revert could not be verified: something may be left behind."""


class ProbeError(ChaoskitError):
    """A probe cannot run at all (bad module path, missing command), as opposed to observing a failure."""

    def __init__(self, message: str, *, probe: str | None = None) -> None:
        self.probe = probe
        super().__init__(message)


class LedgerError(ChaoskitError):
    """The fault ledger could not be written or read."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(message)


class LoadError(ChaoskitError):
    """Load could not be generated: a load child failed to start, crashed, or broke the protocol.

    ``child`` is the index of the child at fault (None for the whole generator) and ``log`` the tail of its
    stderr, where Locust writes its own errors.
    """

    def __init__(self, message: str, *, child: int | None = None, log: str = "") -> None:
        self.child = child
        self.log = log
        super().__init__(f"{message}\n{log}" if log else message)


class GameDayError(FileDiagnosticsError):
    """A game-day file failed to load or validate; ``diagnostics`` lists every problem found."""

    what = "game day"


class SchedulerError(ChaoskitError):
    """The scheduler cannot run: its state is unreadable or another scheduler holds the state directory."""

    def __init__(self, message: str, *, state_dir: str | Path | None = None) -> None:
        self.state_dir = str(state_dir) if state_dir is not None else None
        super().__init__(message)


class HistoryError(ChaoskitError):
    """The run history could not be opened, read or written (``url`` names the database, without password)."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)
