"""A real Docker engine and a private copy of the compose demo stack for the container-fault tests.

Every test here is marked ``docker``. Without a reachable engine they skip with the reason, unless ``CI`` or
``CHAOSKIT_REQUIRE_DOCKER`` is set (``.ci/run`` sets it after ``scripts/provision.sh``): then they fail.

The stack runs as compose project ``chaoskit-test-<id>`` on free 127.0.0.1 ports, and everything it creates
(containers, network) carries the label ``chaoskit.test=<id>``; it is taken down, and whatever still carries the
label is removed, when the session ends, even after a failure. A session killed before its teardown leaves its
stack behind (restart policies even bring it back with the engine): the next session reaps every test resource
whose owning pytest process (label ``chaoskit.test.pid``) is gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.compose import REPO, Stack, free_ports, reap, reap_orphans, write_override

IMAGES = ("chaoskit/shop:local", "chaoskit/proxy:local")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.docker)


def _required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("CHAOSKIT_REQUIRE_DOCKER"))


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"the Docker engine is required here (CI / CHAOSKIT_REQUIRE_DOCKER): {reason}", pytrace=False)
    pytest.skip(f"needs a Docker engine: {reason}; run scripts/provision.sh as root (installs and starts one)")


@pytest.fixture(scope="session")
def docker_client() -> Any:
    try:
        import docker
    except ImportError:
        _unavailable("the docker SDK is not installed (pip install -e '.[dev]')")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        _unavailable(f"no engine answers ({exc})")
    return client


def _compose() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    _unavailable("neither docker-compose nor the compose plugin is installed")
    raise AssertionError("unreachable")


def _ensure_images(docker_client: Any) -> None:
    missing = []
    for image in IMAGES:
        try:
            docker_client.images.get(image)
        except Exception:
            missing.append(image)
    if missing:
        build = subprocess.run([str(REPO / "scripts" / "build-images.sh")], capture_output=True, text=True,
                               timeout=1800)
        if build.returncode != 0:
            _unavailable(f"images {', '.join(missing)} are missing and scripts/build-images.sh failed: "
                         f"{build.stderr[-2000:]}")


@pytest.fixture(scope="session")
def compose_stack(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _ensure_images(docker_client)
    reap_orphans(docker_client)
    test_id = uuid.uuid4().hex[:10]
    ports = free_ports()
    stack = Stack(test_id, f"chaoskit-test-{test_id}", ports, _compose())
    override = tmp_path_factory.mktemp("compose") / "docker-compose.test.json"
    write_override(test_id, override)
    env = {**os.environ, "SHOP_API_PORTS": f"{ports['api1']}-{ports['api2']}", "SHOP_STORE_PORT": str(ports["store"]),
           "SHOP_PROXY_API_PORT": str(ports["proxy_api"]), "SHOP_PROXY_STORE_PORT": str(ports["proxy_store"])}
    base = [*stack.compose, "-p", stack.project, "-f", str(REPO / "docker-compose.yml"), "-f", str(override)]
    stack.env = env
    try:
        up = subprocess.run([*base, "up", "-d", "--no-build"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
        assert up.returncode == 0, f"docker-compose up failed:\n{up.stdout}\n{up.stderr}"
        stack.wait_healthy(docker_client)
        yield stack
    finally:
        subprocess.run([*base, "down", "-v", "--remove-orphans", "-t", "1"], cwd=REPO, env=env, capture_output=True,
                       timeout=300)
        reap(docker_client, test_id)


@pytest.fixture
def stack(compose_stack: Stack, docker_client: Any) -> Iterator[Stack]:
    """The session's stack, healthy before the test and again after it (a test never leaves it broken)."""
    compose_stack.wait_healthy(docker_client)
    yield compose_stack
    fixed = compose_stack.repair(docker_client)
    compose_stack.wait_healthy(docker_client)
    assert not fixed, f"the test left the stack broken: {', '.join(fixed)}"
