"""Recovery awareness: a killed container that its restart policy does not bring back "stayed down" — a finding
that makes the run FAILED — and chaoskit still starts it, so nothing is left down."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.compose import owner_labels, reap

pytestmark = pytest.mark.slow


@pytest.fixture
def lone_store(docker_client: Any) -> Iterator[Any]:
    """The shop's store in a container of its own, with no restart policy, reaped by its test label."""
    test_id = uuid.uuid4().hex[:10]
    container = docker_client.containers.run(
        "chaoskit/shop:local", ["python3", "-m", "targets.shop.store", "--host", "0.0.0.0", "--port", "7001"],
        name=f"chaoskit-test-{test_id}-store", detach=True, init=True, labels=owner_labels(test_id),
        restart_policy={"Name": "no"})
    try:
        yield container
    finally:
        reap(docker_client, test_id)


def test_a_container_its_restart_policy_leaves_down_is_a_finding_and_is_started_again(
    lone_store: Any, tmp_path: Path
) -> None:
    path = tmp_path / "stays-down.yaml"
    path.write_text(f"""
version: 1
title: the store is expected to come back by itself
phases: {{baseline: 0s, recovery: 0s}}
faults:
  - name: crash
    type: container.kill
    target: {{name: {lone_store.name}}}
    params: {{restart: policy, restart_timeout: 2s}}
    duration: 1s
""")
    proc = subprocess.run([sys.executable, "-m", "chaoskit", "run", "--json", "--state-dir", str(tmp_path / "state"),
                           str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    [result] = json.loads(proc.stdout)

    assert result["outcome"] == "failed" and proc.returncode == 1, result["reason"]
    assert f"{lone_store.name} stayed down: its restart policy (no) did not bring it back within 2s" in result["reason"]
    [record] = result["faults"]
    assert record["verified"], "chaoskit starts it, so the revert itself is complete"
    assert record["observations"]["restarted_by"] == "chaoskit"
    assert record["observations"]["back_after"] >= 2
    lone_store.reload()
    assert lone_store.attrs["State"]["Running"] and lone_store.attrs["RestartCount"] == 0


def test_a_revert_that_leaves_residue_is_a_revert_error_listing_all_of_it(lone_store: Any, docker_client: Any) -> None:
    import asyncio

    from chaoskit.errors import RevertError
    from chaoskit.faults import _container, _docker

    lone_store.reload()
    pid = lone_store.attrs["State"]["Pid"]
    fault = _container.restore({"kind": "container.pause", "id": lone_store.id, "name": lone_store.name,
                                "image": "sha256:" + "0" * 64, "run_id": "r", "fault": "f", "note": ""})
    lone_store.pause()
    _docker.apply_rules(pid, _docker.partition_rules("chaoskit.run=other/run/x", "egress", [], [], "all"))
    try:
        with pytest.raises(RevertError) as residue:
            asyncio.run(fault.verify_reverted())
        text = str(residue.value)
        assert "paused" in text
        assert "image changed from sha256:000000000000" in text
        assert "1 chaoskit iptables rule(s) left: -A OUTPUT ! -o lo" in text and "chaoskit.run=other/run/x" in text

        asyncio.run(fault.revert())  # unpauses; another run's rule is not this fault's to delete
        with pytest.raises(RevertError, match="rule"):
            asyncio.run(fault.verify_reverted())
    finally:
        lone_store.reload()
        if lone_store.attrs["State"]["Paused"]:
            lone_store.unpause()
        _docker.remove_rules(pid, "chaoskit.run=other/run/x")
    lone_store.reload()
    assert not lone_store.attrs["State"]["Paused"] and _docker.rules(pid) == []
