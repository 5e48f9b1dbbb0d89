"""The Locust side of load windows: bucket every request into clock-aligned windows, pace users to a rate.

This module imports only the standard library at import time (locust and gevent are imported inside the
functions that need them) and never imports chaoskit. That is on purpose: in distributed mode the master ships
this file's source to every worker as an extra locustfile, so a plain ``locust --worker -f -`` on a host without
chaoskit still aggregates its own windows. :func:`bucket_key` must therefore repeat the bucketing of
:class:`chaoskit.slo.histogram.LatencyHistogram`; a test holds the two together.

A request belongs to the window in which it *completed* (``start_time + response_time``), so a flusher running
late cannot move samples. Only counts are kept per window and request name (no per-request lists, unless
``keep_samples`` is asked for by a test); request names are capped at :data:`MAX_NAMES`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
_MIN_SECONDS = 1e-6
MAX_NAMES = 1000
OTHER_NAME = "(other)"
WINDOW_MESSAGE = "chaoskit_window"
CONFIG_MESSAGE = "chaoskit_config"
HTTP_USER_NAME = "ChaoskitHttpUser"


def bucket_key(seconds: float) -> int:
    """The histogram bucket of a latency, identical to ``LatencyHistogram.key``."""
    return math.ceil(math.log(max(seconds, _MIN_SECONDS)) / _LOG_GAMMA)


class NameCounts:
    """Counts for one request name in one window; ``slower[i]`` counts requests slower than ``thresholds[i]``."""

    __slots__ = ("count", "errors", "histogram", "samples", "slower")

    def __init__(self, n_thresholds: int, keep_samples: bool) -> None:
        self.count = 0
        self.errors = 0
        self.slower = [0] * n_thresholds
        self.histogram: dict[int, int] = {}
        self.samples: list[float] | None = [] if keep_samples else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.count, "e": self.errors, "s": self.slower, "h": list(self.histogram.items())}
        if self.samples is not None:
            out["raw"] = self.samples
        return out


def merge_names(into: dict[str, Any], names: dict[str, Any]) -> None:
    """Add the per-name counts of one window payload (``NameCounts.to_json`` form) into another."""
    for name, c in names.items():
        have = into.get(name)
        if have is None:
            into[name] = {"n": c["n"], "e": c["e"], "s": list(c["s"]), "h": [list(p) for p in c["h"]]}
            if "raw" in c:
                into[name]["raw"] = list(c["raw"])
            continue
        have["n"] += c["n"]
        have["e"] += c["e"]
        have["s"] = [a + b for a, b in zip(have["s"], c["s"], strict=False)]
        merged = dict(have["h"])
        for k, n in c["h"]:
            merged[k] = merged.get(k, 0) + n
        have["h"] = list(merged.items())
        if "raw" in c:
            have.setdefault("raw", []).extend(c["raw"])


class WindowCollector:
    """Listener for Locust's ``events.request`` that aggregates windows of ``width`` seconds.

    :param thresholds: latency thresholds in seconds; each window counts requests slower than each.
    :param grace: a window is closed this long after its end, for requests whose event fires a little late.
    """

    def __init__(
        self,
        width: float,
        thresholds: tuple[float, ...] = (),
        *,
        grace: float = 0.03,
        keep_samples: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.width = width
        self.thresholds = tuple(thresholds)
        self.grace = grace
        self.keep_samples = keep_samples
        self.clock = clock
        self._open: dict[int, dict[str, NameCounts]] = {}
        self._flushed = 0
        self._cpu_mark = (0.0, 0.0)
        self.restart()

    def restart(self) -> None:
        """Forget everything and start windows from the current one (load is about to start)."""
        self._open.clear()
        self._flushed = math.floor(self.clock() / self.width) - 1  # the last slot already emitted
        self._cpu_mark = (self.clock(), time.process_time())

    def on_request(
        self,
        request_type: str = "",
        name: str = "",
        response_time: float | None = 0.0,
        response_length: int = 0,
        exception: BaseException | None = None,
        start_time: float | None = None,
        response: Any = None,
        context: Any = None,
        url: str | None = None,
        **_: Any,
    ) -> None:
        seconds = (response_time or 0.0) / 1000.0
        end = start_time + seconds if start_time is not None else self.clock()
        # A request that completes in a slot already emitted is folded into the oldest open one: counts are
        # never lost, at the price of a shift of at most one window.
        slot = max(math.floor(end / self.width), self._flushed + 1)
        names = self._open.get(slot)
        if names is None:
            names = self._open[slot] = {}
        counts = names.get(name)
        if counts is None:
            if len(names) >= MAX_NAMES:
                name = OTHER_NAME
                counts = names.get(name)
            if counts is None:
                counts = names[name] = NameCounts(len(self.thresholds), self.keep_samples)
        counts.count += 1
        if exception is not None:
            counts.errors += 1
        for i, threshold in enumerate(self.thresholds):
            if seconds > threshold:
                counts.slower[i] += 1
        key = bucket_key(seconds)
        counts.histogram[key] = counts.histogram.get(key, 0) + 1
        if counts.samples is not None:
            counts.samples.append(seconds)

    def flush(self, now: float | None = None, *, final: bool = False) -> list[dict[str, Any]]:
        """Payloads of every window closed by ``now`` (all of them when ``final``), oldest first, gaps included.

        Each payload is ``{"k": slot, "names": {name: counts}, "cpu": percent}``; slot ``k`` covers
        ``[k * width, (k + 1) * width)``. ``cpu`` is this process's CPU use since the previous flush.
        """
        now = self.clock() if now is None else now
        last = math.floor((now - self.grace) / self.width) - 1
        if final:
            last = max([last, math.floor(now / self.width), *self._open])
        if last <= self._flushed:
            return []
        wall, cpu = self.clock(), time.process_time()
        cpu_pct = 100.0 * (cpu - self._cpu_mark[1]) / max(wall - self._cpu_mark[0], 1e-3)
        self._cpu_mark = (wall, cpu)
        out = []
        for slot in range(self._flushed + 1, last + 1):
            names = self._open.pop(slot, {})
            out.append({"k": slot, "names": {n: c.to_json() for n, c in names.items()}, "cpu": round(cpu_pct, 1)})
        self._flushed = last
        return out

    @property
    def next_slot(self) -> int:
        """The oldest slot not yet flushed: the next payload will be for this slot."""
        return self._flushed + 1

    def next_flush_at(self) -> float:
        """Wall-clock time at which the next window closes (its end plus the grace)."""
        return (self._flushed + 2) * self.width + self.grace


# --------------------------------------------------------------------------------------------------- pacing


class Pacing:
    """Constant throughput per user: with ``rate`` set, each of ``users`` users runs one task every
    ``users / rate`` seconds, so the users together aim at ``rate`` tasks per second."""

    def __init__(self, rate: float | None = None, users: int = 1) -> None:
        self.rate = rate
        self.users = users

    def interval(self) -> float | None:
        if not self.rate:
            return None
        return max(self.users, 1) / self.rate


def paced_wait_time(original: Callable[[Any], float] | None, pacing: Pacing) -> Callable[[Any], float]:
    """A ``wait_time`` for a User class: paced by ``pacing`` when it has a rate, else the class's own.

    Each user keeps a schedule (first slot at a random phase so users do not fire in lockstep). A task that
    overruns its slot starts the next one at once but is never caught up, as Locust's ``constant_throughput``.
    """

    def wait_time(user: Any) -> float:
        interval = pacing.interval()
        if interval is None:
            return original(user) if original is not None else 0.0
        now = time.monotonic()
        due = getattr(user, "_chaoskit_due", None)
        due = now + random.random() * interval if due is None else max(due + interval, now)
        user._chaoskit_due = due
        return due - now

    return wait_time


def install_pacing(user_classes: list[type[Any]], pacing: Pacing) -> None:
    """Wrap the ``wait_time`` of every class so :class:`Pacing` can take over (idempotent)."""
    for cls in user_classes:
        if getattr(cls, "_chaoskit_paced", False):
            continue
        original = cls.__dict__.get("wait_time", getattr(cls, "wait_time", None))
        cls.wait_time = paced_wait_time(original, pacing)
        cls._chaoskit_paced = True


# ------------------------------------------------------------------------------------------ declarative load


def build_http_user(spec: dict[str, Any]) -> type[Any]:
    """A Locust User class for a declarative ``http:`` list.

    ``spec``: ``{"host", "client": "fasthttp"|"requests", "wait", "timeout", "requests": [{"method", "path",
    "name", "weight", "headers", "json", "body", "status"}]}``. A response counts as a failure when its status
    is not in ``status`` (when given) or is 400 or above (Locust's default).
    """
    from locust import FastHttpUser, HttpUser, constant

    base: type[Any] = FastHttpUser if spec.get("client", "fasthttp") == "fasthttp" else HttpUser
    tasks: dict[Callable[[Any], None], int] = {}
    for request in spec["requests"]:
        tasks[_http_task(request)] = int(request.get("weight", 1))
    attrs: dict[str, Any] = {
        "host": spec.get("host"),
        "tasks": tasks,
        "wait_time": constant(float(spec.get("wait", 0.0))),
        "abstract": False,
        "__module__": __name__,
    }
    timeout = float(spec.get("timeout", 10.0))
    if base is FastHttpUser:
        attrs.update(network_timeout=timeout, connection_timeout=timeout, max_retries=0)
    else:
        attrs["_chaoskit_timeout"] = timeout
    return type(HTTP_USER_NAME, (base,), attrs)


def _http_task(request: dict[str, Any]) -> Callable[[Any], None]:
    method = str(request.get("method", "GET"))
    path = str(request["path"])
    name = str(request.get("name") or path)
    headers = dict(request.get("headers") or {}) or None
    body = request.get("body")
    json_body = request.get("json")
    status = set(request.get("status") or ())

    def run(user: Any) -> None:
        kwargs: dict[str, Any] = {"name": name, "headers": headers, "catch_response": True}
        if json_body is not None:
            kwargs["json"] = json_body
        elif body is not None:
            kwargs["data"] = body
        timeout = getattr(user, "_chaoskit_timeout", None)
        if timeout is not None:
            kwargs["timeout"] = timeout
        with user.client.request(method, path, **kwargs) as response:
            if status and response.status_code not in status:
                response.failure(f"status {response.status_code} not in {sorted(status)}")
            elif status:
                response.success()

    run.__name__ = f"{method.lower()} {name}"
    return run


# ----------------------------------------------------------------------------------------- distributed workers


def install_worker(environment: Any) -> None:
    """Aggregate windows in a Locust worker and send each closed one to the master as a custom message.

    The master answers with a :data:`CONFIG_MESSAGE` (window width, thresholds, rate, users) before it starts
    the users; until then the worker has nothing to measure.
    """
    import gevent  # type: ignore[import-untyped]

    if getattr(environment, "_chaoskit_worker", False):
        return
    environment._chaoskit_worker = True
    runner = environment.runner
    state: dict[str, Any] = {"collector": None}
    pacing = Pacing()
    install_pacing(environment.user_classes, pacing)

    def on_config(environment: Any, msg: Any, **_: Any) -> None:
        data = msg.data
        pacing.rate, pacing.users = data.get("rate"), int(data.get("users") or 1)
        current = state["collector"]
        if current is None or current.width != data["width"] or current.thresholds != tuple(data["thresholds"]):
            collector = WindowCollector(
                float(data["width"]), tuple(data["thresholds"]), keep_samples=bool(data.get("keep_samples"))
            )
            # The collector itself listens (no forwarding call per request): a new one replaces the old.
            environment.events.request.add_listener(collector.on_request)
            if current is not None:
                environment.events.request.remove_listener(current.on_request)
            state["collector"] = collector

    def send(payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:
            payload["users"] = runner.user_count
            payload["sent"] = time.time()
            runner.send_message(WINDOW_MESSAGE, payload)

    def flusher() -> None:
        while True:
            collector = state["collector"]
            if collector is None:
                gevent.sleep(0.05)
                continue
            gevent.sleep(max(collector.next_flush_at() - time.time(), 0.0))
            send(collector.flush())

    def on_quitting(**_: Any) -> None:
        collector = state["collector"]
        if collector is not None:
            send(collector.flush(final=True))

    runner.register_message(CONFIG_MESSAGE, on_config)
    environment.events.quitting.add_listener(on_quitting)
    gevent.spawn(flusher)


def on_locust_init(environment: Any, runner: Any = None, **_: Any) -> None:
    """``events.init`` listener: install window aggregation when this process is a Locust worker."""
    if type(environment.runner).__name__ == "WorkerRunner":
        install_worker(environment)
