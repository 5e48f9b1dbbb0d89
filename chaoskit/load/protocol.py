"""The load child protocol: JSON lines both ways, every line carrying ``"v": 1``.

Driver -> child, on stdin (plain words are accepted too, for a human at a terminal)::

    {"v": 1, "cmd": "users", "users": 20, "spawn_rate": 50}      users 20 [50]
    {"v": 1, "cmd": "rate", "rate": 200.0}                       rate 200    (rate null / "rate off": no pacing)
    {"v": 1, "cmd": "stop"}                                      stop

End of file on stdin means the same as ``stop``. Child -> driver, on stdout, one message per line::

    {"v": 1, "type": "hello", "child": 0, "pid": 4242, "locust": "2.47.0", "mode": "local", "workers": 0}
    {"v": 1, "type": "window", "child": 0, "k": 7186543210, "width": 0.25, "names": {...}, "cpu": 41.5,
     "users": 10, "target_users": 10, "target_rate": 100.0, "rate": 98.0, "workers": 0, "sent": 1796635802.53}
    {"v": 1, "type": "error", "child": 0, "message": "..."}
    {"v": 1, "type": "stopped", "child": 0, "reason": "stop"}    (or "stdin closed", "SIGTERM", "max_duration",
                                                               "shape": the locustfile's LoadTestShape ended)

``names`` maps each request name to ``{"n": count, "e": errors, "s": [slower than threshold i], "h": [[bucket,
count], ...]}`` (buckets of :class:`~chaoskit.slo.histogram.LatencyHistogram`). Window ``k`` covers
``[k * width, (k + 1) * width)`` in wall-clock seconds. This module imports nothing outside the standard
library and :mod:`chaoskit.errors` (where :class:`~chaoskit.errors.LoadError` lives; it is also importable from
here, its first home), because both sides of the pipe use it.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from chaoskit.errors import LoadError as LoadError  # its old home: keep ``chaoskit.load.protocol.LoadError``

PROTOCOL_VERSION = 1


class ProtocolError(LoadError):
    """A line on the pipe is not a message of this protocol version."""


class Command(enum.StrEnum):
    USERS = "users"
    RATE = "rate"
    STOP = "stop"


@dataclass(frozen=True)
class ChildCommand:
    """One command to a load child."""

    cmd: Command
    users: int | None = None
    spawn_rate: float | None = None
    rate: float | None = None

    def to_line(self) -> bytes:
        data: dict[str, Any] = {"v": PROTOCOL_VERSION, "cmd": self.cmd.value}
        if self.cmd is Command.USERS:
            data["users"] = self.users
            if self.spawn_rate is not None:
                data["spawn_rate"] = self.spawn_rate
        elif self.cmd is Command.RATE:
            data["rate"] = self.rate
        return json.dumps(data).encode() + b"\n"

    @classmethod
    def parse(cls, line: bytes | str) -> ChildCommand:
        text = (line.decode() if isinstance(line, bytes) else line).strip()
        try:
            if text.startswith("{"):
                data = json.loads(text)
                check_version(data)
                cmd = Command(data["cmd"])
                if cmd is Command.USERS:
                    spawn = data.get("spawn_rate")
                    return cls(cmd, users=int(data["users"]), spawn_rate=None if spawn is None else float(spawn))
                if cmd is Command.RATE:
                    rate = data.get("rate")
                    return cls(cmd, rate=None if rate is None else float(rate))
                return cls(cmd)
            words = text.split()
            cmd = Command(words[0])
            if cmd is Command.USERS:
                return cls(cmd, users=int(words[1]), spawn_rate=float(words[2]) if len(words) > 2 else None)
            if cmd is Command.RATE:
                return cls(cmd, rate=None if words[1] in ("off", "none") else float(words[1]))
            return cls(cmd)
        except ProtocolError:
            raise
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProtocolError(f"not a load child command: {text[:200]!r} ({exc})") from exc


OWN_ENDS = frozenset({"max_duration", "shape"})
"""``stopped`` reasons that end the load as planned (its time bound, the end of the locustfile's LoadTestShape):
the other children are stopped too and the windows end, without an error."""


class MessageType(enum.StrEnum):
    HELLO = "hello"
    WINDOW = "window"
    ERROR = "error"
    STOPPED = "stopped"


def encode(message_type: MessageType, **fields: Any) -> bytes:
    """One child -> driver line."""
    return json.dumps({"v": PROTOCOL_VERSION, "type": message_type.value, **fields}).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one child -> driver line; :class:`ProtocolError` when it is not a message of this version."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"load child wrote a line that is not JSON: {line[:200]!r}") from exc
    if not isinstance(data, dict) or "type" not in data:
        raise ProtocolError(f"load child wrote a line that is not a message: {line[:200]!r}")
    check_version(data)
    try:
        MessageType(data["type"])
    except ValueError as exc:
        raise ProtocolError(f"unknown load child message type {data['type']!r}") from exc
    return data


def check_version(data: dict[str, Any]) -> None:
    """:class:`ProtocolError` unless ``data`` (a line of either side, or a listener's start line) is of this version."""
    if data.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"load protocol version {data.get('v')!r} is not {PROTOCOL_VERSION}: driver and child come from "
            "different chaoskit versions"
        )


# ------------------------------------------------------------------------------------------ child configuration


@dataclass(frozen=True)
class MasterConfig:
    """Run a Locust master in the child; ``expect_workers`` must join within ``wait`` seconds."""

    bind_host: str
    bind_port: int
    expect_workers: int
    wait: float = 60.0


@dataclass(frozen=True)
class ChildConfig:
    """Everything a load child needs, passed as JSON in ``--config``.

    Exactly one of ``locustfile`` (an absolute path, loaded unchanged) and ``http`` (a declarative request
    list, see :func:`chaoskit.load.collector.build_http_user`) is set. ``rate`` of None means closed-loop
    users with their own ``wait_time``. The child quits on its own after ``max_duration`` seconds.

    A locustfile's own ``LoadTestShape`` is followed (see :mod:`chaoskit.load.locustshape`): child ``index`` of
    ``children`` runs its share of the users it asks for; ``run_users`` (the run's total, default ``users``) is
    Locust's ``--users`` for a shape with ``use_common_options``; ``shape_declared`` names where the run declares
    a shape of its own (e.g. ``"load.shape"``), which makes a locustfile shape a conflict.
    """

    index: int
    users: int
    spawn_rate: float
    width: float = 0.25
    thresholds: tuple[float, ...] = ()
    rate: float | None = None
    locustfile: str | None = None
    user_classes: tuple[str, ...] | None = None
    http: dict[str, Any] | None = None
    host: str | None = None
    max_duration: float = 3600.0
    grace: float = 0.03
    keep_samples: bool = False
    master: MasterConfig | None = None
    loglevel: str = "WARNING"
    children: int = 1
    run_users: int | None = None
    shape_declared: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ChildConfig:
        """The configuration ``text`` holds; :class:`ValueError` (with what is wrong) for anything else, including
        a value of the wrong type or out of range (see :func:`config_problems`)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the child configuration is not a JSON object")
        try:
            data["thresholds"] = tuple(data.get("thresholds") or ())
            if data.get("user_classes") is not None:
                data["user_classes"] = tuple(data["user_classes"])
            if data.get("master") is not None:
                if not isinstance(data["master"], dict):
                    raise ValueError("master is not an object")
                data["master"] = MasterConfig(**data["master"])
            config = cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        problems = config_problems(config)
        if problems:
            raise ValueError("; ".join(problems))
        return config


MAX_CHILD_DURATION = 7 * 86400.0
"""The longest ``max_duration`` a child accepts (its hard-kill alarm is set from it)."""
_LOGLEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def config_problems(config: ChildConfig) -> list[str]:
    """What is wrong with a configuration that came over a pipe or a socket (its types and ranges), or []."""
    c = config
    checks: list[tuple[bool, str]] = [
        (_count(c.index), "index must be an integer >= 0"),
        (_count(c.users), "users must be an integer >= 0"),
        (_number(c.spawn_rate) and c.spawn_rate > 0, "spawn_rate must be a number > 0"),
        (_number(c.width) and c.width > 0, "width must be a number > 0"),
        (all(_number(t) and t > 0 for t in c.thresholds), "thresholds must be numbers > 0"),
        (c.rate is None or (_number(c.rate) and c.rate >= 0), "rate must be null or a number >= 0"),
        (c.locustfile is None or isinstance(c.locustfile, str), "locustfile must be null or a path"),
        (
            c.user_classes is None or all(isinstance(u, str) for u in c.user_classes),
            "user_classes must be null or a list of names",
        ),
        (c.http is None or isinstance(c.http, dict), "http must be null or an object"),
        (c.host is None or isinstance(c.host, str), "host must be null or a URL"),
        (
            _number(c.max_duration) and 0 < c.max_duration <= MAX_CHILD_DURATION,
            f"max_duration must be a number > 0 and <= {MAX_CHILD_DURATION:g}",
        ),
        (_number(c.grace) and c.grace >= 0, "grace must be a number >= 0"),
        (isinstance(c.keep_samples, bool), "keep_samples must be true or false"),
        (c.loglevel in _LOGLEVELS, f"loglevel must be one of {', '.join(_LOGLEVELS)}"),
        (_count(c.children) and c.children >= 1, "children must be an integer >= 1"),
        (c.run_users is None or _count(c.run_users), "run_users must be null or an integer >= 0"),
        (c.shape_declared is None or isinstance(c.shape_declared, str), "shape_declared must be null or a string"),
    ]
    m = c.master
    if m is not None:
        checks += [
            (isinstance(m.bind_host, str), "master.bind_host must be a string"),
            (_count(m.bind_port) and m.bind_port < 65536, "master.bind_port must be a port number"),
            (_count(m.expect_workers), "master.expect_workers must be an integer >= 0"),
            (_number(m.wait) and m.wait > 0, "master.wait must be a number > 0"),
        ]
    return [message for ok, message in checks if not ok]
