"""The container faults themselves. Their experiment models and registration are in
:mod:`chaoskit.faults.container`; this module (the ``docker`` SDK, through :mod:`chaoskit.faults._docker`) is
imported only when a fault is created, restored or previewed.

Blocking SDK calls run in a worker thread (``asyncio.to_thread``). Each fault's ledger ``undo`` holds the container
ID, its name, its image ID and the run id, so ``chaoskit recover`` can finish the revert after a crash: start what is
down, unpause what is paused, delete the iptables rules the run added.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from chaoskit.errors import FaultError, RevertError
from chaoskit.faults import _docker
from chaoskit.faults.container import (
    ContainerKillSpec,
    ContainerPartitionSpec,
    ContainerPauseSpec,
    ContainerRestartSpec,
    ContainerStopSpec,
)
from chaoskit.faults.process import parse_signal
from chaoskit.registry import Fault

if TYPE_CHECKING:
    from chaoskit.experiment.model import FaultSpec
    from chaoskit.runner.context import RunContext

_POLL = 0.02
_OBSERVE_TIMEOUT = 15.0  # an engine that has not acted on a command after this long has failed it
RESTARTING_POLICIES = ("always", "unless-stopped", "on-failure")


def _ts(value: str | None) -> float | None:
    """Docker's RFC 3339 nanosecond timestamps -> epoch seconds (microsecond precision)."""
    if not value or value.startswith("0001-"):
        return None
    head, _, frac = value.rstrip("Z").partition(".")
    try:
        base = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return None
    return base + (float("0." + frac[:9]) if frac.isdigit() else 0.0)


def _up(state: Mapping[str, Any]) -> bool:
    """Running, and not waiting in its restart policy's back-off (which docker inspect shows as running)."""
    return bool(state.get("Running")) and not state.get("Restarting")


def _pid_alive(pid: int) -> bool:
    """Whether a host pid is a live process (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


class ContainerFault(Fault):
    """One container fault against one container, identified by its ID."""

    kind: ClassVar[str]
    check_rules: ClassVar[bool | None] = None

    def __init__(self, *, id: str, name: str, image: str | None, run_id: str, fault: str, note: str = "",
                 docker: Any = None) -> None:
        self.id, self.name, self.image, self.run_id, self.fault, self.note = id, name, image, run_id, fault, note
        self._docker = docker
        self._observed: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------------------ identity

    @property
    def target(self) -> str:
        return f"container {self.name} ({self.id[:12]}{self.note})"

    def undo(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "image": self.image, "run_id": self.run_id,
                "fault": self.fault, "note": self.note, **self.params()}

    def params(self) -> dict[str, Any]:
        """Kind-specific fields of the undo record."""
        return {}

    def observations(self) -> dict[str, Any]:
        return dict(self._observed)

    # ---------------------------------------------------------------------------------------------- lifecycle

    async def inject(self) -> None:
        await asyncio.to_thread(self._guarded, self.inject_sync, FaultError)

    async def revert(self) -> None:
        await asyncio.to_thread(self._guarded, self.revert_sync, RevertError)

    async def verify_reverted(self) -> None:
        await asyncio.to_thread(self._guarded, self.verify_sync, RevertError)

    def inject_sync(self) -> None:
        raise NotImplementedError

    def revert_sync(self) -> None:
        raise NotImplementedError

    def verify_sync(self) -> None:
        left = _docker.residue(self.docker, self.id, self.image, check_rules=self.check_rules)
        if left:
            raise RevertError(f"{self.target} after revert: {'; '.join(left)}", target=self.target)

    # ------------------------------------------------------------------------------------------------ helpers

    @property
    def docker(self) -> Any:
        if self._docker is None:
            self._docker = _docker.client()
        return self._docker

    def _guarded(self, step: Callable[[], None], error: type[FaultError]) -> None:
        try:
            step()
        except FaultError:
            raise
        except _docker.not_found() as exc:
            raise error(f"{self.target} no longer exists", target=self.target) from exc
        except _docker.engine_errors() as exc:
            raise error(f"{self.target}: the Docker engine failed: {exc}", target=self.target) from exc

    def container(self) -> Any:
        return self.docker.containers.get(self.id)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.container().attrs.get("State", {})
        return state

    def start_if_down(self) -> bool:
        """``docker start`` when the container is not running; True when it had to."""
        c = self.container()
        if _up(c.attrs.get("State", {})):
            return False
        if c.attrs.get("State", {}).get("Restarting"):
            # the restart policy is about to start it: let it, rather than race it
            if _wait(lambda: _up(self.state()), _OBSERVE_TIMEOUT):
                return False
        else:
            c.start()
        if not _wait(lambda: _up(self.state()), _OBSERVE_TIMEOUT):
            raise RevertError(f"{self.target} did not start", target=self.target)
        return True

    def wait_healthy(self, since: float, timeout: float) -> None:
        """When the container has a health check, record when it turned healthy (seconds after ``since``),
        waiting at most ``timeout``; a container without one records nothing."""
        state = self.state()
        if "Health" not in state:
            return
        started = _ts(state.get("StartedAt")) or since
        healthy = _wait(lambda: self.state().get("Health", {}).get("Status") == "healthy", timeout)
        health = self.state().get("Health", {})
        if not healthy:
            self._observed["health"] = f"{health.get('Status')} after {timeout:g}s"
            return
        passed = [_ts(e.get("End")) for e in health.get("Log") or [] if e.get("ExitCode") == 0]
        at = min((t for t in passed if t is not None and t >= started), default=time.time())
        self._observed["health"] = "healthy"
        self._observed["healthy_after"] = round(at - since, 3)


# ------------------------------------------------------------------------------------------------ container.kill


class ContainerKill(ContainerFault):
    """Signal the container's main process. From the engine's host the signal goes to the process itself, so
    Docker sees a crash and applies the restart policy (``docker kill`` would count as a manual stop)."""

    kind = "container.kill"

    def __init__(self, *, sig: signal.Signals, restart: str, restart_timeout: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.sig, self.restart, self.restart_timeout = sig, restart, restart_timeout
        self.killed_at: float | None = None
        self.started_before: str | None = None

    def params(self) -> dict[str, Any]:
        return {"signal": self.sig.name, "restart": self.restart, "restart_timeout": self.restart_timeout}

    def _local_pid(self, pid: int) -> bool:
        base = str(getattr(self.docker.api, "base_url", ""))
        return os.geteuid() == 0 and pid > 0 and base.startswith("http+docker://") and os.path.exists(f"/proc/{pid}")

    def inject_sync(self) -> None:
        state = self.state()
        if not state.get("Running") or state.get("Paused"):
            raise FaultError(f"{self.target} is not running (status {state.get('Status')})", target=self.target)
        self.started_before = state.get("StartedAt")
        pid = int(state.get("Pid") or 0)
        self.killed_at = time.time()
        local = self._local_pid(pid)
        if local:
            os.kill(pid, self.sig)
            self._observed["delivered"] = f"{self.sig.name} to pid {pid} (its restart policy applies)"
        else:
            self.container().kill(signal=self.sig.name)
            self._observed["delivered"] = f"{self.sig.name} through the engine (docker kill: a manual stop, so " \
                                          "its restart policy does not apply)"
            if self.restart == "policy":
                self.restart = "chaoskit"

        def gone() -> bool:
            if local:  # the process itself: the engine's own view lags while it tears the container down
                return not _pid_alive(pid)
            s = self.state()
            return not _up(s) or s.get("StartedAt") != self.started_before

        if not _wait(gone, _OBSERVE_TIMEOUT if self.sig == signal.SIGKILL else 2.0):
            if self.sig == signal.SIGKILL:
                raise FaultError(f"{self.target} still runs {_OBSERVE_TIMEOUT:g}s after SIGKILL", target=self.target)
            self._observed["outcome"] = f"kept running after {self.sig.name}"

    def revert_sync(self) -> None:
        killed_at = self.killed_at
        state = self.state()
        if killed_at is None:  # restored by `chaoskit recover`: only make sure it runs
            if self.start_if_down():
                self._observed["restarted_by"] = "chaoskit"
            return
        if _up(state) and state.get("StartedAt") == self.started_before:
            return  # it never went down
        policy = (self.container().attrs.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name") or "no"
        if self.restart == "policy":
            remaining = killed_at + self.restart_timeout - time.time()
            _wait(lambda: _up(self.state()), max(remaining, 0.0))
        state = self.state()
        if _up(state):
            back = _ts(state.get("StartedAt"))
            self._observed["restarted_by"] = f"restart policy {policy}"
            if back is not None:
                self._observed["back_after"] = round(back - killed_at, 3)
        else:
            self.start_if_down()
            self._observed["restarted_by"] = "chaoskit"
            self._observed["back_after"] = round(time.time() - killed_at, 3)
            if self.restart == "policy":
                self._observed["finding"] = (f"{self.name} stayed down: its restart policy ({policy}) did not bring "
                                             f"it back within {self.restart_timeout:g}s of the kill; chaoskit "
                                             "started it")
        self.wait_healthy(killed_at, max(killed_at + self.restart_timeout - time.time(), 1.0))


# ------------------------------------------------------------------------------------------------ container.stop


class ContainerStop(ContainerFault):
    kind = "container.stop"

    def __init__(self, *, timeout: float, health_timeout: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.timeout, self.health_timeout = timeout, health_timeout
        self.stopped_at: float | None = None

    def params(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "health_timeout": self.health_timeout}

    def inject_sync(self) -> None:
        self.stopped_at = time.time()
        self.container().stop(timeout=max(round(self.timeout), 0))
        if not _wait(lambda: not self.state().get("Running"), _OBSERVE_TIMEOUT):
            raise FaultError(f"{self.target} still runs after docker stop", target=self.target)

    def revert_sync(self) -> None:
        if self.start_if_down():
            if self.stopped_at is not None:
                self._observed["down_for"] = round(time.time() - self.stopped_at, 3)
            self.wait_healthy(time.time(), self.health_timeout)


# ----------------------------------------------------------------------------------------------- container.pause


class ContainerPause(ContainerFault):
    kind = "container.pause"

    def inject_sync(self) -> None:
        self.container().pause()
        if not _wait(lambda: bool(self.state().get("Paused")), _OBSERVE_TIMEOUT):
            raise FaultError(f"{self.target} is not paused after docker pause", target=self.target)

    def revert_sync(self) -> None:
        c = self.container()
        if c.attrs.get("State", {}).get("Paused"):
            c.unpause()


# --------------------------------------------------------------------------------------------- container.restart


class ContainerRestart(ContainerFault):
    """``docker restart``. The restart runs in the background: the fault is observable (and the episode's
    observe phase starts) once the container is down, so the SLOs are judged over the outage itself; the revert
    waits for the restart to finish and records how long it took."""

    kind = "container.restart"

    def __init__(self, *, timeout: float, health_timeout: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.timeout, self.health_timeout = timeout, health_timeout
        self._restart: threading.Thread | None = None
        self._error: Exception | None = None
        self.began: float | None = None

    def params(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "health_timeout": self.health_timeout}

    def _run_restart(self) -> None:
        try:
            self.container().restart(timeout=max(round(self.timeout), 0))
        except Exception as exc:  # reported by the revert, which owns the outcome
            self._error = exc

    def inject_sync(self) -> None:
        before = self.state().get("StartedAt")
        self.began = time.time()
        self._restart = threading.Thread(target=self._run_restart, name=f"restart {self.name}", daemon=True)
        self._restart.start()

        def acted() -> bool:
            s = self.state()
            return self._error is not None or not s.get("Running") or s.get("StartedAt") != before

        if not _wait(acted, self.timeout + _OBSERVE_TIMEOUT) or self._error is not None:
            raise FaultError(f"{self.target} did not restart: {self._error or 'still running'}", target=self.target)

    def revert_sync(self) -> None:
        if self._restart is not None:
            self._restart.join(self.timeout + _OBSERVE_TIMEOUT)
        if self.start_if_down():
            self._observed["restarted_by"] = "chaoskit (it was down at revert)"
        if self.began is not None:
            back = _ts(self.state().get("StartedAt"))
            if back is not None:
                self._observed["back_after"] = round(back - self.began, 3)
            self.wait_healthy(self.began, self.health_timeout)


# ------------------------------------------------------------------------------------------- container.partition


class ContainerPartition(ContainerFault):
    """iptables DROP rules in the container's network namespace, each commented ``chaoskit.run=<run>/<fault>/<id>``
    so a revert (or ``chaoskit recover``) deletes exactly its own rules."""

    kind = "container.partition"
    check_rules = True

    def __init__(self, *, direction: str, peers: list[str], ports: list[int], protocol: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.direction, self.peers, self.ports, self.protocol = direction, peers, ports, protocol

    @property
    def mark(self) -> str:
        return f"{_docker.RULE_MARK}{self.run_id}/{self.fault}/{self.id[:12]}"

    def params(self) -> dict[str, Any]:
        return {"direction": self.direction, "peers": self.peers, "ports": self.ports, "protocol": self.protocol}

    def inject_sync(self) -> None:
        state = self.state()
        pid = int(state.get("Pid") or 0)
        if not state.get("Running") or pid <= 0:
            raise FaultError(f"{self.target} is not running", target=self.target)
        add = _docker.partition_rules(self.mark, self.direction, self.peers, self.ports, self.protocol)
        _docker.apply_rules(pid, add)
        placed = _docker.rules(pid, self.mark)
        if len(placed) != len(add):
            raise FaultError(f"{self.target}: {len(placed)} of {len(add)} partition rules in place", target=self.target)
        self._observed["rules"] = len(add)

    def revert_sync(self) -> None:
        state = self.state()
        pid = int(state.get("Pid") or 0)
        if state.get("Running") and pid > 0:  # a stopped container's namespace, and its rules, are gone
            _docker.remove_rules(pid, self.mark)


# ------------------------------------------------------------------------------------------------- construction


def _common(c: Any, run_id: str, fault: str, note: str, docker: Any) -> dict[str, Any]:
    return {"id": c.id, "name": _docker.name_of(c), "image": c.attrs.get("Image"), "run_id": run_id,
            "fault": fault, "note": note, "docker": docker}


def _build(spec: FaultSpec, common: dict[str, Any], policy: str, peers: list[str]) -> ContainerFault:
    if isinstance(spec, ContainerKillSpec):
        p = spec.params
        restart = p.restart
        if restart == "auto":
            restart = "policy" if policy in RESTARTING_POLICIES else "chaoskit"
        return ContainerKill(sig=parse_signal(p.signal), restart=restart, restart_timeout=p.restart_timeout, **common)
    if isinstance(spec, ContainerStopSpec):
        return ContainerStop(timeout=spec.params.timeout, health_timeout=spec.params.health_timeout, **common)
    if isinstance(spec, ContainerPauseSpec):
        return ContainerPause(**common)
    if isinstance(spec, ContainerRestartSpec):
        return ContainerRestart(timeout=spec.params.timeout, health_timeout=spec.params.health_timeout, **common)
    assert isinstance(spec, ContainerPartitionSpec)
    q = spec.params
    return ContainerPartition(direction=q.direction, peers=peers, ports=list(q.ports), protocol=q.protocol, **common)


def create(spec: FaultSpec, ctx: RunContext) -> list[Fault]:
    """One fault per chosen container; FaultError (touching nothing) when the selector matches none."""
    selector = spec.target  # type: ignore[attr-defined]
    docker = ctx.services.get("docker")
    if docker is None:
        docker = ctx.services["docker"] = _docker.client()
    seed = selector.seed if selector.seed is not None else _docker.run_seed(ctx.run_id, spec.name)
    selection = _docker.select(docker, selector, seed)
    faults: list[Fault] = []
    for c in selection.chosen:
        common = _common(c, ctx.run_id, spec.name, selection.note(), docker)
        policy = (c.attrs.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name") or "no"
        peers: list[str] = []
        if isinstance(spec, ContainerPartitionSpec) and spec.params.peers:
            peers = _docker.peer_ips(docker, c, spec.params.peers)
        faults.append(_build(spec, common, policy, peers))
    return faults


def restore(undo: Mapping[str, Any]) -> Fault:
    common: dict[str, Any] = {k: undo.get(k) for k in ("id", "name", "image", "run_id", "fault")}
    common["note"] = str(undo.get("note") or "")
    kind = undo.get("kind")
    if kind == "container.kill":
        return ContainerKill(sig=parse_signal(undo.get("signal", "SIGKILL")), restart=str(undo.get("restart")),
                             restart_timeout=float(undo.get("restart_timeout", 30.0)), **common)
    if kind == "container.stop":
        return ContainerStop(timeout=float(undo["timeout"]), health_timeout=float(undo["health_timeout"]), **common)
    if kind == "container.pause":
        return ContainerPause(**common)
    if kind == "container.restart":
        return ContainerRestart(timeout=float(undo["timeout"]), health_timeout=float(undo["health_timeout"]),
                                **common)
    if kind == "container.partition":
        return ContainerPartition(direction=str(undo["direction"]), peers=list(undo["peers"]),
                                  ports=[int(p) for p in undo["ports"]], protocol=str(undo["protocol"]), **common)
    raise ValueError(f"unknown container fault kind {kind!r} in the ledger")


def preview(spec: FaultSpec) -> list[str]:
    """What the selector hits right now (read-only): exactly which containers with a given seed, else the
    candidates of the random choice."""
    selector = spec.target  # type: ignore[attr-defined]
    try:
        docker = _docker.client(timeout=10)
        selection = _docker.select(docker, selector, selector.seed)
    except FaultError as exc:
        return [f"nothing: {exc}"]
    names = [f"container {_docker.name_of(c)} ({c.id[:12]})" for c in selection.chosen]
    if selection.seed is None and len(selection.chosen) < len(selection.matched):
        pool = ", ".join(_docker.name_of(c) for c in selection.matched)
        return [f"{len(selection.chosen)} of {len(selection.matched)} chosen at run time with a recorded seed "
                f"(give target.seed to fix the choice) among: {pool}"]
    if selection.seed is not None and len(selection.chosen) < len(selection.matched):
        return [f"{n} ({len(selection.chosen)} of {len(selection.matched)}, seed {selection.seed})" for n in names]
    return names
