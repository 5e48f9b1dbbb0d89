"""Container faults without an engine: the experiment model, target selection over fake containers, the iptables
rules of a partition, and that validating never imports the docker SDK."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from chaoskit.errors import FaultError
from chaoskit.faults import _container, _docker
from chaoskit.faults.container import ContainerKillSpec, ContainerPartitionSpec, ContainerSelector


class FakeContainer:
    def __init__(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.name, self.id = name, f"{abs(hash(name)):064x}"[:64]
        self.attrs: dict[str, Any] = {"Name": f"/{name}", "Config": {"Labels": labels or {}}, "Image": "sha256:x"}


class FakeContainers:
    def __init__(self, running: list[FakeContainer]) -> None:
        self.running = running
        self.filters: list[dict[str, Any]] = []

    def list(self, filters: dict[str, Any] | None = None, **_: Any) -> list[FakeContainer]:
        self.filters.append(filters or {})
        return list(self.running)


class FakeDocker:
    def __init__(self, running: list[FakeContainer]) -> None:
        self.containers = FakeContainers(running)


def compose(project: str, service: str) -> dict[str, str]:
    return {_docker.COMPOSE_PROJECT: project, _docker.COMPOSE_SERVICE: service}


STACK = [
    FakeContainer("demo_api_1", compose("demo", "api")),
    FakeContainer("demo_api_2", compose("demo", "api")),
    FakeContainer("demo_api_3", compose("demo", "api")),
    FakeContainer("demo_store_1", compose("demo", "store")),
    FakeContainer("other_api_1", compose("other", "api")),
]


def test_a_selector_needs_a_criterion_and_one_of_count_or_percent() -> None:
    with pytest.raises(ValidationError, match="give at least one of name, labels or compose"):
        ContainerSelector(count=1)
    with pytest.raises(ValidationError, match="count or percent, not both"):
        ContainerSelector(name="x", count=1, percent=50)
    with pytest.raises(ValidationError):
        ContainerSelector(name="x", percent=0)
    with pytest.raises(ValidationError, match="unknown signal"):
        ContainerKillSpec.model_validate({"name": "k", "type": "container.kill", "duration": "1s",
                                          "target": {"name": "x"}, "params": {"signal": "SIGNOPE"}})


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ({"compose": {"project": "demo", "service": "api"}}, ["demo_api_1", "demo_api_2", "demo_api_3"]),
        ({"compose": {"project": "demo"}}, ["demo_api_1", "demo_api_2", "demo_api_3", "demo_store_1"]),
        ({"name": "*_api_1"}, ["demo_api_1", "other_api_1"]),
        ({"name": "/demo_store_1"}, ["demo_store_1"]),
        ({"labels": {_docker.COMPOSE_SERVICE: "api", _docker.COMPOSE_PROJECT: "*"}},
         ["demo_api_1", "demo_api_2", "demo_api_3", "other_api_1"]),
        ({"name": "demo_*", "labels": {_docker.COMPOSE_SERVICE: "store"}}, ["demo_store_1"]),
    ],
)
def test_every_criterion_must_hold(selector: dict[str, Any], names: list[str]) -> None:
    picked = _docker.select(FakeDocker(STACK), ContainerSelector.model_validate(selector), seed=1)
    assert [c.name for c in picked.chosen] == names and picked.note() == ""


def test_count_and_percent_choose_at_random_reproducibly_by_seed() -> None:
    api = ContainerSelector.model_validate({"compose": {"project": "demo", "service": "api"}, "count": 1})
    chosen = {seed: _docker.select(FakeDocker(STACK), api, seed).chosen[0].name for seed in range(40)}
    assert set(chosen.values()) == {"demo_api_1", "demo_api_2", "demo_api_3"}, "the seed must matter"
    for seed, name in chosen.items():
        assert _docker.select(FakeDocker(list(reversed(STACK))), api, seed).chosen[0].name == name
    picked = _docker.select(FakeDocker(STACK), api, 5)
    assert picked.note() == "; 1 of 3 chosen with seed 5"
    half = ContainerSelector.model_validate({"compose": {"project": "demo", "service": "api"}, "percent": 50})
    assert len(_docker.select(FakeDocker(STACK), half, 1).chosen) == 2  # rounded up
    assert len(_docker.select(FakeDocker(STACK), half.model_copy(update={"percent": 1}), 1).chosen) == 1
    assert _docker.run_seed("run-a", "f") == _docker.run_seed("run-a", "f") != _docker.run_seed("run-b", "f")


def test_a_selector_matching_nothing_is_a_fault_error_naming_it() -> None:
    selector = ContainerSelector.model_validate({"compose": {"project": "demo", "service": "apl"}})
    with pytest.raises(FaultError, match="no running container matches compose demo/apl"):
        _docker.select(FakeDocker(STACK[:0]), selector, None)


def test_partition_rules_drop_only_what_was_asked_and_never_loopback() -> None:
    everything = _docker.partition_rules("chaoskit.run=r/f/abc", "both", [], [], "all")
    assert everything == [
        "-I INPUT 1 ! -i lo -m comment --comment chaoskit.run=r/f/abc -j DROP",
        "-I OUTPUT 1 ! -o lo -m comment --comment chaoskit.run=r/f/abc -j DROP",
    ]
    narrow = _docker.partition_rules("m", "ingress", ["10.0.0.2/32"], [7001, 7002], "all")
    assert narrow == [
        "-I INPUT 1 ! -i lo -s 10.0.0.2/32 -p tcp -m multiport --ports 7001,7002 -m comment --comment m -j DROP",
        "-I INPUT 1 ! -i lo -s 10.0.0.2/32 -p udp -m multiport --ports 7001,7002 -m comment --comment m -j DROP",
    ]
    assert _docker._comment('-A INPUT -m comment --comment "chaoskit.run=r/f" -j DROP') == "chaoskit.run=r/f"


def test_partition_params_validate_ports_and_spot_addresses() -> None:
    with pytest.raises(ValidationError, match="between 1 and 65535"):
        ContainerPartitionSpec.model_validate({"name": "p", "type": "container.partition", "duration": 1,
                                               "target": {"name": "x"}, "params": {"ports": [0]}})
    spec = ContainerPartitionSpec.model_validate({"name": "p", "type": "container.partition", "duration": 1,
                                                  "target": {"name": "x"}, "params": {"peers": ["10.1.2.3", "proxy"]}})
    assert spec.params.peer_addresses() == ["10.1.2.3/32"]


def test_engine_timestamps_parse_to_epoch_seconds() -> None:
    assert _container._ts("1970-01-01T00:00:01.500000000Z") == pytest.approx(1.5)
    assert _container._ts("0001-01-01T00:00:00Z") is None
    assert _container._ts(None) is None


def test_undo_records_restore_the_same_fault() -> None:
    for undo in (
        {"kind": "container.pause", "id": "c" * 64, "name": "n", "image": "sha256:i", "run_id": "r", "fault": "f",
         "note": ""},
        {"kind": "container.partition", "id": "c" * 64, "name": "n", "image": None, "run_id": "r", "fault": "f",
         "direction": "both", "peers": ["10.0.0.1/32"], "ports": [1], "protocol": "tcp", "note": ""},
        {"kind": "container.kill", "id": "c" * 64, "name": "n", "image": None, "run_id": "r", "fault": "f",
         "signal": "SIGTERM", "restart": "policy", "restart_timeout": 5.0, "note": ""},
    ):
        fault = _container.restore(undo)
        assert fault.kind == undo["kind"]
        assert fault.undo() == undo
    with pytest.raises(ValueError, match="unknown container fault kind"):
        _container.restore({"kind": "container.melt"})


def test_validating_an_experiment_never_imports_the_docker_sdk() -> None:
    code = (
        "import sys\n"
        "from chaoskit.api import load\n"
        "load('experiments/containers-store.yaml')\n"
        "assert 'docker' not in sys.modules, 'docker imported'\n"
        "assert 'chaoskit.faults._container' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
