"""The compose demo stack as the integration tests run it: a private project on free 127.0.0.1 ports, with every
resource labelled ``chaoskit.test=<id>`` (see conftest.py)."""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TEST_LABEL = "chaoskit.test"
OWNER_LABEL = "chaoskit.test.pid"
SERVICES = ("store", "proxy", "api")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports() -> dict[str, int]:
    """Five free ports, two of them consecutive (the API replicas share a published range)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(31000, 39000, 8)
        ports = [base + i for i in range(5)]
        if all(_free(p) for p in ports):
            return {"api1": ports[0], "api2": ports[1], "store": ports[2], "proxy_api": ports[3],
                    "proxy_store": ports[4]}
    raise RuntimeError("no free block of 127.0.0.1 ports in 31000-39000")


@dataclass
class Stack:
    """A running copy of docker-compose.yml: its project, ports and environment for the experiments."""

    test_id: str
    project: str
    ports: dict[str, int]
    compose: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def replicas(self) -> list[str]:
        return [f"http://127.0.0.1:{self.ports['api1']}", f"http://127.0.0.1:{self.ports['api2']}"]

    def run_env(self) -> dict[str, str]:
        """The environment an experiment against this stack runs with."""
        return {**os.environ, "CHAOSKIT_DEMO_PROJECT": self.project, "SHOP_REPLICAS": ",".join(self.replicas)}

    def containers(self, docker_client: Any, service: str | None = None) -> list[Any]:
        labels = [f"com.docker.compose.project={self.project}"]
        if service is not None:
            labels.append(f"com.docker.compose.service={service}")
        return sorted(docker_client.containers.list(all=True, filters={"label": labels}), key=lambda c: c.name)

    def repair(self, docker_client: Any) -> list[str]:
        """Unpause and start what a failed test left broken, so the next test starts clean; what it fixed."""
        fixed = []
        for c in self.containers(docker_client):
            state = c.attrs["State"]
            if state.get("Paused"):
                c.unpause()
                fixed.append(f"unpaused {c.name}")
            elif not state.get("Running") and not state.get("Restarting"):
                c.start()
                fixed.append(f"started {c.name}")
        return fixed

    def wait_healthy(self, docker_client: Any, timeout: float = 90.0) -> None:
        """Every container running, unpaused and healthy, and both replicas serving through the store path."""
        deadline = time.monotonic() + timeout
        problem = "not checked"
        while time.monotonic() < deadline:
            problem = self._problem(docker_client)
            if problem is None:
                return
            time.sleep(0.25)
        raise AssertionError(f"the compose stack {self.project} is not healthy after {timeout:g}s: {problem}")

    def _problem(self, docker_client: Any) -> str | None:
        found = self.containers(docker_client)
        if len(found) != 4:
            return f"{len(found)} containers"
        for c in found:
            state = c.attrs["State"]
            if not state["Running"] or state["Paused"] or state.get("Restarting"):
                return f"{c.name} is {state['Status']}"
            if state.get("Health", {}).get("Status", "healthy") != "healthy":
                return f"{c.name} is {state['Health']['Status']}"
        for url in self.replicas:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status != 200:
                        return f"{url}/health answers {r.status}"
            except OSError as exc:
                return f"{url}/health: {exc}"
        return None


def owner_labels(test_id: str) -> dict[str, str]:
    """The labels every test resource carries: its session's id and the pid of the pytest process that owns it."""
    return {TEST_LABEL: test_id, OWNER_LABEL: str(os.getpid())}


def write_override(test_id: str, path: Path) -> None:
    labels = owner_labels(test_id)
    doc = {"version": "2.4", "services": {s: {"labels": labels} for s in SERVICES},
           "networks": {"default": {"labels": labels}}}
    path.write_text(json.dumps(doc, indent=2))


def reap_orphans(docker_client: Any) -> list[str]:
    """Reap the resources of test sessions that died without their teardown (SIGKILL, a lost machine session):
    those whose owning pytest process is gone. Restart policies bring such stacks back with the engine, so
    without this they would run (and take CPU and ports) forever. Returns the test ids reaped."""
    orphans = set()
    for c in docker_client.containers.list(all=True, filters={"label": [TEST_LABEL]}):
        labels = c.labels or {}
        if not _alive(labels.get(OWNER_LABEL)):
            orphans.add(labels[TEST_LABEL])
    for test_id in sorted(orphans):
        reap(docker_client, test_id)
    return sorted(orphans)


def _alive(pid: str | None) -> bool:
    if pid is None or not pid.isdigit():
        return False  # made before sessions recorded their owner
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


def reap(docker_client: Any, test_id: str) -> None:
    """Remove every container and network labelled with this session's test id."""
    selector = {"label": [f"{TEST_LABEL}={test_id}"]}
    for c in docker_client.containers.list(all=True, filters=selector):
        try:
            if c.attrs["State"].get("Paused"):
                c.unpause()
            c.remove(force=True, v=True)
        except Exception as exc:  # keep reaping the others
            print(f"reaper: cannot remove {c.name}: {exc}", file=sys.stderr)
    for n in docker_client.networks.list(filters=selector):
        try:
            n.remove()
        except Exception as exc:
            print(f"reaper: cannot remove network {n.name}: {exc}", file=sys.stderr)


