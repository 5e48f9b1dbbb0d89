"""``chaoskit recover``: revert whatever a crashed run left open in the ledger. Idempotent: a fault that is
already gone verifies as reverted and its entry is closed."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from chaoskit.errors import ChaoskitError
from chaoskit.registry import Registry
from chaoskit.runner.ledger import Ledger, LedgerEntry


@dataclass(frozen=True)
class Recovered:
    entry: LedgerEntry
    ok: bool
    message: str


def _owner_alive(entry: LedgerEntry) -> bool:
    """Whether the run that opened the entry is still running here (then it will revert the fault itself)."""
    if entry.host != socket.gethostname() or entry.pid == os.getpid():
        return False
    try:
        os.kill(entry.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{entry.pid}/cmdline", "rb") as fh:
            return b"chaoskit" in fh.read()
    except OSError:
        return False


async def recover(ledger: Ledger, registry: Registry, *, force: bool = False) -> list[Recovered]:
    """Revert and verify every open entry; skips entries whose run is still alive unless ``force``."""
    results = []
    for entry in ledger.open_entries():
        if not force and _owner_alive(entry):
            results.append(Recovered(entry, False, f"run {entry.run_id} (pid {entry.pid}) is still running; "
                                                   "it reverts its own faults (use --force to revert now)"))
            continue
        kind = registry.faults.get(entry.kind)
        if kind is None:
            results.append(Recovered(entry, False, f"fault kind {entry.kind!r} is not installed; install the plugin "
                                                   "that provides it and run recover again"))
            continue
        try:
            fault = kind.restore(entry.undo)
            await fault.revert()
            await fault.verify_reverted()
        except (ChaoskitError, OSError, KeyError, ValueError, TypeError) as exc:
            results.append(Recovered(entry, False, f"revert failed: {exc}"))
            continue
        ledger.close(entry.id, how="recovered")
        results.append(Recovered(entry, True, "reverted and verified"))
    return results
