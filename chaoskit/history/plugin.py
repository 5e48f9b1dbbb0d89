"""The built-in history recorder: every finished run, whatever started it, goes into the history.

It is a plugin on ``chaoskit_run_finish`` like any other, so the CLI, the pytest plugin, game days and the API
all record without knowing about it. Recording must never cost a run its result: a database that cannot be
written is logged (logger ``chaoskit.history``) and the run goes on.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING

from chaoskit.plugins import hookimpl

if TYPE_CHECKING:
    from chaoskit.runner.context import RunContext
    from chaoskit.runner.result import RunResult


@hookimpl
def chaoskit_run_finish(run: RunContext, result: RunResult) -> None:
    from chaoskit._version import __version__
    from chaoskit.errors import HistoryError
    from chaoskit.gameday import ENV_GAMEDAY, ENV_GAMEDAY_RUN
    from chaoskit.history.record import record_of
    from chaoskit.history.store import history_url, open_history

    try:
        url = history_url(run.state_dir)
        if url is None:
            return
        record = record_of(result, via=entry_point(), gameday=os.environ.get(ENV_GAMEDAY) or None,
                           gameday_run=os.environ.get(ENV_GAMEDAY_RUN) or None, host=socket.gethostname(),
                           version=__version__)
        history = open_history(url)
        try:
            history.add(record)
        finally:
            history.close()
    except HistoryError as exc:
        import logging  # only here: every command that builds a plugin manager imports this module

        logging.getLogger("chaoskit.history").warning("run %s not recorded in the history: %s", result.run_id, exc)


def entry_point() -> str:
    """What started this run: ``gameday``, ``pytest``, ``cli`` or ``api``."""
    if os.environ.get("CHAOSKIT_GAMEDAY_RUN"):
        return "gameday"
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if (spec is not None and spec.name == "chaoskit.__main__") or os.path.basename(sys.argv[0]) == "chaoskit":
        return "cli"  # checked before pytest: a test's subprocess inherits PYTEST_CURRENT_TEST
    if "PYTEST_CURRENT_TEST" in os.environ:
        return "pytest"
    return "api"
