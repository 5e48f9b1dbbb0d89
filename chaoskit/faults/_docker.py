"""The Docker engine side of the container faults: the client, target selection, iptables rules in a container's
network namespace, and what a verified revert checks. Imported only when a container fault is used.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import os
import random
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaoskit.errors import FaultError

if TYPE_CHECKING:
    from chaoskit.faults.container import ContainerSelector

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
RULE_MARK = "chaoskit.run="  # every iptables rule chaoskit adds carries this comment
_NSENTER_TIMEOUT = 10.0


def client(timeout: float = 30.0) -> Any:
    """A ``docker.DockerClient`` for the engine of the environment (``DOCKER_HOST`` or the local socket)."""
    try:
        import docker
    except ImportError as exc:
        raise FaultError("container faults need the docker SDK: pip install 'chaoskit[docker]'") from exc
    try:
        c = docker.from_env(timeout=int(timeout))
        c.ping()
    except Exception as exc:  # the SDK raises DockerException, requests errors or OSError
        raise FaultError(f"cannot reach the Docker engine: {exc}") from exc
    return c


def not_found() -> type[Exception]:
    from docker.errors import NotFound

    result: type[Exception] = NotFound
    return result


def engine_errors() -> tuple[type[Exception], ...]:
    """What the SDK raises for an engine that refuses or fails a call."""
    from docker.errors import APIError, DockerException
    from requests.exceptions import RequestException

    return (APIError, DockerException, RequestException)


# ------------------------------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """The containers a selector hits: ``chosen`` out of ``matched`` (both sorted by name) with ``seed``."""

    chosen: list[Any]
    matched: list[Any]
    seed: int | None

    def note(self) -> str:
        if len(self.chosen) == len(self.matched):
            return ""
        return f"; {len(self.chosen)} of {len(self.matched)} chosen with seed {self.seed}"


def name_of(container: Any) -> str:
    return str(container.attrs.get("Name") or container.name).lstrip("/")


def run_seed(run_id: str, fault: str) -> int:
    """The seed a run uses when the selector gives none: stable within the run, so preflight and the episode
    choose the same containers."""
    return int.from_bytes(hashlib.sha256(f"{run_id}/{fault}".encode()).digest()[:4], "big")


def matches(selector: ContainerSelector, c: Any) -> bool:
    labels: dict[str, str] = c.attrs.get("Config", {}).get("Labels") or {}
    if selector.name is not None and not fnmatch.fnmatchcase(name_of(c), selector.name.lstrip("/")):
        return False
    for key, value in selector.labels.items():
        if key not in labels or (value != "*" and labels[key] != value):
            return False
    if selector.compose is not None:
        if labels.get(COMPOSE_PROJECT) != selector.compose.project:
            return False
        if selector.compose.service is not None and labels.get(COMPOSE_SERVICE) != selector.compose.service:
            return False
    return True


def select(docker: Any, selector: ContainerSelector, seed: int | None) -> Selection:
    """The running containers the selector hits; FaultError (touching nothing) when it hits none.

    Without ``count``/``percent`` every match is hit and ``seed`` is not used.
    """
    filters: dict[str, Any] = {"status": "running"}
    label_filters = [k if v == "*" else f"{k}={v}" for k, v in selector.labels.items()]
    if selector.compose is not None:
        label_filters.append(f"{COMPOSE_PROJECT}={selector.compose.project}")
        if selector.compose.service is not None:
            label_filters.append(f"{COMPOSE_SERVICE}={selector.compose.service}")
    if label_filters:
        filters["label"] = label_filters
    try:
        running = docker.containers.list(filters=filters)
    except engine_errors() as exc:
        raise FaultError(f"cannot list containers: {exc}", target=selector.describe()) from exc
    matched = sorted((c for c in running if matches(selector, c)), key=name_of)
    if not matched:
        raise FaultError(f"no running container matches {selector.describe()}", target=selector.describe())
    k = len(matched)
    if selector.count is not None:
        k = min(selector.count, len(matched))
    elif selector.percent is not None:
        k = max(1, math.ceil(len(matched) * selector.percent / 100 - 1e-9))
    if k == len(matched):
        return Selection(matched, matched, None)
    chosen = random.Random(seed).sample(matched, k)
    return Selection(sorted(chosen, key=name_of), matched, seed)


def peer_ips(docker: Any, target: Any, peers: list[str]) -> list[str]:
    """IP networks for ``peers``: addresses and CIDRs as given; container names and services of the target's
    compose project as every address they have on any network. FaultError for a peer that resolves to nothing."""
    import ipaddress

    out: list[str] = []
    project = (target.attrs.get("Config", {}).get("Labels") or {}).get(COMPOSE_PROJECT)
    containers = None
    for peer in peers:
        try:
            out.append(str(ipaddress.ip_network(peer, strict=False)))
            continue
        except ValueError:
            pass
        if containers is None:
            containers = docker.containers.list()
        hits = [c for c in containers if name_of(c) == peer.lstrip("/") or (
            project is not None and (c.attrs.get("Config", {}).get("Labels") or {}).get(COMPOSE_PROJECT) == project
            and (c.attrs.get("Config", {}).get("Labels") or {}).get(COMPOSE_SERVICE) == peer)]
        addresses = [
            f"{net['IPAddress']}/32"
            for c in hits
            for net in (c.attrs.get("NetworkSettings", {}).get("Networks") or {}).values()
            if net.get("IPAddress")
        ]
        if not addresses:
            raise FaultError(f"partition peer {peer!r} is no address, CIDR, running container or service of "
                             f"compose project {project!r}", target=name_of(target))
        out.extend(addresses)
    return sorted(set(out))


# ---------------------------------------------------------------------------------------------------- iptables


def _nsenter(pid: int, argv: list[str], stdin: str | None = None) -> str:
    if shutil.which("nsenter") is None:
        raise FaultError("container.partition needs nsenter (Debian package util-linux) and iptables on the engine's "
                         "host, run as root")
    try:
        proc = subprocess.run(["nsenter", "--target", str(pid), "--net", "--", *argv], input=stdin,
                              capture_output=True, text=True, timeout=_NSENTER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FaultError(f"{argv[0]} in the network namespace of pid {pid} failed: {exc}") from exc
    if proc.returncode != 0:
        raise FaultError(f"{argv[0]} in the network namespace of pid {pid} failed: "
                         f"{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def _comment(line: str) -> str | None:
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    for i, word in enumerate(words[:-1]):
        if word == "--comment":
            return words[i + 1]
    return None


def rules(pid: int, mark: str | None = None) -> list[str]:
    """The chaoskit rules (``mark``'s only, when given) in the filter table of pid's network namespace, as
    ``iptables-save`` prints them."""
    out = []
    for line in _nsenter(pid, ["iptables-save", "-t", "filter"]).splitlines():
        comment = _comment(line) if line.startswith("-A ") else None
        if comment is not None and comment.startswith(RULE_MARK) and (mark is None or comment == mark):
            out.append(line)
    return out


def apply_rules(pid: int, add: list[str]) -> None:
    """Add rules (``-A``/``-I`` lines of iptables-restore) atomically, keeping what is there."""
    _nsenter(pid, ["iptables-restore", "--noflush", "-w", "5"], "*filter\n" + "\n".join(add) + "\nCOMMIT\n")


def remove_rules(pid: int, mark: str) -> int:
    """Delete the chaoskit rules commented ``mark``, atomically; returns how many."""
    found = rules(pid, mark)
    if found:
        deletes = ["-D " + line[3:] for line in found]
        _nsenter(pid, ["iptables-restore", "--noflush", "-w", "5"], "*filter\n" + "\n".join(deletes) + "\nCOMMIT\n")
    return len(found)


def partition_rules(mark: str, direction: str, peers: list[str], ports: list[int], protocol: str) -> list[str]:
    """The iptables-restore lines of a partition; every rule is commented with ``mark``."""
    comment = f"-m comment --comment {shlex.quote(mark)}"
    protocols = [protocol] if protocol != "all" else (["tcp", "udp"] if ports else [""])
    out = []
    chains = {"both": ("INPUT", "OUTPUT"), "ingress": ("INPUT",), "egress": ("OUTPUT",)}[direction]
    for chain in chains:
        lo = "! -i lo" if chain == "INPUT" else "! -o lo"
        side = "-s" if chain == "INPUT" else "-d"
        for peer in peers or [""]:
            for proto in protocols:
                match = [lo]
                if peer:
                    match.append(f"{side} {peer}")
                if proto:
                    match.append(f"-p {proto}")
                if ports:
                    match.append(f"-m multiport --ports {','.join(str(p) for p in ports)}")
                out.append(f"-I {chain} 1 {' '.join(match)} {comment} -j DROP")
    return out


# ---------------------------------------------------------------------------------------------------- residue


def residue(docker: Any, container_id: str, image: str | None, *, check_rules: bool | None = None) -> list[str]:
    """What is still wrong with a container after a revert: not running, paused, chaoskit iptables rules left,
    image changed, or gone. Empty when the container is as it was.

    ``check_rules``: True (a partition) always reads the rules, and fails when it cannot; None reads them when
    it can (root, nsenter present) and ignores a failure; False never."""
    try:
        c = docker.containers.get(container_id)
    except not_found():
        return ["the container no longer exists"]
    state = c.attrs.get("State", {})
    out = []
    if not state.get("Running") or state.get("Restarting"):
        out.append(f"not running (status {state.get('Status')}, exit code {state.get('ExitCode')})")
    if state.get("Paused"):
        out.append("paused")
    if image is not None and c.attrs.get("Image") != image:
        out.append(f"image changed from {image[:19]} to {str(c.attrs.get('Image'))[:19]}")
    pid = int(state.get("Pid") or 0)
    strict = check_rules is True
    if check_rules is None:
        check_rules = os.geteuid() == 0 and shutil.which("nsenter") is not None
    if state.get("Running") and pid > 0 and check_rules:
        try:
            left = rules(pid)
        except FaultError:
            if strict:
                raise
            left = []
        if left:
            out.append(f"{len(left)} chaoskit iptables rule(s) left: " + "; ".join(left))
    return out
