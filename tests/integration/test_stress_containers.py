"""stress.* against a real container, attached from outside to its cgroups, read back from the container's own
cgroup accounting (what ``docker stats`` reads).

The container is limited to 1 CPU and 1 GiB and runs nothing but ``sleep`` (the hog needs nothing in the image).
On cgroup v1 with the cgroupfs driver it is placed under a parent cgroup made for the test with a high CPU weight
and a 10 ms CFS period for its quota, so that a busy machine and the quota's burst pattern do not blur a
half-second measurement (see ``tests/e2e/scratch_cgroup.py``). Everything is labelled ``chaoskit.test=<id>`` and
removed, the container and the parent cgroup, even when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaoskit.faults import _stress
from chaoskit.faults.cgroups import CgroupSet, cgroups_of, mounts
from chaoskit.runner.engine import Runner
from chaoskit.runner.ledger import Ledger
from tests.e2e.test_stress_faults import Sampler
from tests.integration.compose import owner_labels
from tests.unit.runner_helpers import build, fake_plugins

# timing-bound on a shared 2-core machine: one rerun (reported as such) before a failure counts
pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(os.geteuid() != 0, reason="joining cgroups needs root"),
    pytest.mark.flaky(reruns=1, reruns_delay=2),
]
IMAGE = "chaoskit/shop:local"
PERIOD_US = 10_000


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("CHAOSKIT_REQUIRE_DOCKER"):
        pytest.fail(f"the Docker engine is required here: {reason}", pytrace=False)
    pytest.skip(f"needs a Docker engine: {reason}; run scripts/provision.sh --images as root")


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
        client.images.get(IMAGE)
    except ImportError:
        _unavailable("the docker SDK is not installed")
    except Exception as exc:
        _unavailable(str(exc))
    yield client
    client.close()


@dataclass
class Box:
    """A limited container and how to read its cgroups."""

    container: Any
    cgroups: CgroupSet

    @property
    def pid(self) -> int:
        return int(self.container.attrs["State"]["Pid"])

    def procs(self) -> set[int]:
        cpu = self.cgroups.holding("cpu")
        assert cpu is not None
        return set(cpu.procs())


def _parent_cgroup(name: str, info: dict[str, Any]) -> list[Path]:
    """A parent cgroup with a high CPU weight (v1 + cgroupfs only); [] where the engine places containers itself."""
    if info.get("CgroupVersion") != "1" or info.get("CgroupDriver") != "cgroupfs":
        return []
    own = cgroups_of("self")
    cpu = own.holding("cpu")
    if cpu is None:
        return []
    parent = cpu.mount.mountpoint / name
    parent.mkdir(exist_ok=True)
    (parent / "cpu.shares").write_text("262144")
    return [parent]


@pytest.fixture
def box(engine: Any) -> Iterator[Box]:
    test_id = uuid.uuid4().hex[:8]
    name = f"chaoskit-test-{test_id}"
    made = _parent_cgroup(name, engine.info())
    container = None
    try:
        container = engine.containers.run(
            IMAGE, ["sleep", "600"], name=name, detach=True, labels=owner_labels(test_id),
            cpu_period=PERIOD_US, cpu_quota=PERIOD_US, mem_limit=1 << 30, network_mode="none",
            cgroup_parent=f"/{name}" if made else None, init=True,
        )
        container.reload()
        yield Box(container, cgroups_of(int(container.attrs["State"]["Pid"])))
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        for c in engine.containers.list(all=True, filters={"label": f"chaoskit.test={test_id}"}):
            with contextlib.suppress(Exception):
                c.remove(force=True)
        if made:  # runc made the same parent in every hierarchy
            for mount in mounts():
                d = mount.mountpoint / name
                for _ in range(100):
                    try:
                        d.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:  # the engine is still removing the container's cgroup below it
                        time.sleep(0.05)


def _run(faults: list[dict[str, Any]], state: Path, sampler: Sampler) -> Any:
    plugins, _ = fake_plugins()
    exp = build(plugins, phases={"baseline": 0, "recovery": "0s"}, faults=faults)
    return asyncio.run(Runner(exp, plugins, state_dir=state, listeners=[sampler.listener]).run())


def test_cpu_hog_fills_a_one_cpu_container_within_a_second_and_not_beyond(tmp_path: Path, box: Box) -> None:
    assert box.cgroups.cpu_limit() == 1.0
    fault = {"name": "hog", "type": "stress.cpu", "target": {"container": box.container.name},
             "params": {"workers": 2, "load": "100%"}, "duration": "4s"}
    own = box.procs()  # docker-init and sleep
    with Sampler(box.cgroups) as sampler:
        time.sleep(0.5)
        started = time.monotonic()
        result = _run([fault], tmp_path, sampler)
        time.sleep(0.6)
    assert result.faults[0].verified, result.reason
    assert result.faults[0].target.startswith(f"container {box.container.name} (")
    injected, reverted = sampler.events["fault_injected"], sampler.events["fault_reverted"]
    idle = sampler.rate(started - 0.45, started)
    reached = sampler.rate(injected + 0.5, injected + 1.0)
    windows = [sampler.rate(t, t + 0.5) for t in [injected + 0.5 + 0.25 * i for i in range(11)]]
    after = sampler.rate(reverted + 0.05, reverted + 0.55)
    assert idle < 0.05
    assert reached >= 0.9, f"{reached:.2f} CPU 1 s after injection"
    assert min(windows) >= 0.9 and max(windows) <= 1.03, [round(w, 3) for w in windows]
    assert after < 0.05, f"{after:.2f} CPU after revert"
    assert box.procs() == own, "no hog PID is left in the container's cgroup"
    assert not _stress.hog_pids(_tag(tmp_path)), "nor anywhere else"
    assert Ledger(tmp_path).open_entries() == []


def test_memory_hog_of_200_mb_raises_the_container_usage_by_200_mb(tmp_path: Path, box: Box) -> None:
    fault = {"name": "mem", "type": "stress.memory", "target": {"container": box.container.name},
             "params": {"size": "200MB"}, "duration": "1.5s"}
    own = box.procs()
    with Sampler(box.cgroups) as sampler:
        time.sleep(0.3)
        result = _run([fault], tmp_path, sampler)
        time.sleep(0.3)
    assert result.faults[0].verified, result.reason
    injected, reverted = sampler.events["fault_injected"], sampler.events["fault_reverted"]
    before, during = sampler.memory_at(injected - 0.25), sampler.memory_at(injected + 0.5)
    after = sampler.memory_at(reverted + 0.25)
    assert during - before == pytest.approx(200e6, rel=0.05), f"+{(during - before) / 1e6:.1f} MB"
    assert after - before < 10e6
    assert box.procs() == own


def test_disk_fill_lands_in_the_container_filesystem(tmp_path: Path, box: Box) -> None:
    inside = f"/proc/{box.pid}/root/tmp"
    fault = {"name": "fill", "type": "stress.disk", "target": {"container": box.container.name},
             "params": {"size": "64MB", "path": "/tmp"}, "duration": "0.5s"}
    held: list[int] = []

    def watch(event: str, data: dict[str, Any]) -> None:
        if event == "fault_injected":
            (entry,) = Ledger(tmp_path).open_entries()
            for pid in _stress.hog_pids(str(entry.undo["tag"])):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        st = os.stat(f"/proc/{pid}/fd/{fd}")
                        if st.st_dev == os.stat(inside).st_dev:
                            held.append(st.st_blocks * 512)

    plugins, _ = fake_plugins()
    exp = build(plugins, phases={"baseline": 0, "recovery": "0s"}, faults=[fault])
    result = asyncio.run(Runner(exp, plugins, state_dir=tmp_path, listeners=[watch]).run())
    assert result.faults[0].verified, result.reason
    assert held and max(held) >= 64e6, held
    assert os.listdir(inside) == [], "nothing left in the container's /tmp"


def _tag(state: Path) -> str:
    """The hog tag the ledger recorded for the last fault opened under ``state``."""
    opened = [json.loads(line) for line in (state / "ledger.jsonl").read_text().splitlines() if '"open"' in line]
    return str(opened[-1]["undo"]["tag"])


# ----------------------------------------------------------------------------------- the demo experiment


def test_cpu_hog_demo_breaks_the_latency_slo_of_the_compose_api_and_it_recovers(
    stack: Any, docker_client: Any, tmp_path: Path
) -> None:
    """experiments/containers-cpu-hog-api.yaml against the session's private copy of the compose stack: the hog
    lands in both replicas' cgroups (their limit holds it), reads break the p95 SLO while it runs and are fast again
    after it, and no hog PID is left."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    replicas = stack.containers(docker_client, "api")
    assert [c.attrs["HostConfig"]["NanoCpus"] for c in replicas] == [500_000_000] * 2, "the demo needs the limit"
    path = tmp_path / "cpu-hog.yaml"
    path.write_text((repo / "experiments" / "containers-cpu-hog-api.yaml").read_text().replace(
        "../targets/shop/locustfile_replicas.py", str(repo / "targets" / "shop" / "locustfile_replicas.py")))
    proc = subprocess.run([sys.executable, "-m", "chaoskit", "run", "--json", "--state-dir", str(tmp_path / "state"),
                           str(path)], cwd=tmp_path, env=stack.run_env(), capture_output=True, text=True, timeout=300)
    [result] = json.loads(proc.stdout)

    assert result["outcome"] == "failed" and proc.returncode == 1, result["reason"]
    assert "SLO reads-fast broke during fault cpu-hog-api" in result["reason"]
    verdicts = {(v["phase"], v["slo"]): v for v in result["verdicts"]}
    assert verdicts[("baseline", "reads-fast")]["status"] == "met"
    assert verdicts[("observe", "reads-fast")]["status"] == "breached"
    records = result["faults"]
    assert {r["target"].split()[1] for r in records} == {c.name for c in replicas}
    for r in records:
        assert r["verified"] and r["recovered"], r
        assert r["recovery_seconds"] is not None and r["recovery_seconds"] < 20
        # the hog ran in the replica's cgroup, held to its half CPU (the share it got depends on the machine)
        used, _, limit = (r["observations"] or {}).get("cpu_used", "").partition(" cores of its ")
        assert limit == "0.5 limit" and 0.1 <= float(used) <= 0.55, r["observations"]
    assert verdicts[("recover", "reads-fast")]["status"] == "met"
    tags = [json.loads(line)["undo"]["tag"] for line in (tmp_path / "state" / "ledger.jsonl").read_text().splitlines()
            if '"open"' in line]
    for c in replicas:
        c.reload()
        procs = cgroups_of(int(c.attrs["State"]["Pid"])).holding("cpu")
        assert procs is not None
        for tag in tags:
            assert not _stress.hog_pids(tag, [str(procs.procs_file)]), f"a hog PID is left in {c.name}"
