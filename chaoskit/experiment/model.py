"""The experiment format, version 1: frozen pydantic models with ``extra="forbid"``.

Fault and probe specs are open sets: each kind is a subclass of :class:`FaultSpec` or :class:`ProbeSpec` with a
``Literal`` ``type``, registered by a plugin. :func:`experiment_model` builds the concrete ``Experiment`` model
whose ``faults`` and ``probes`` are discriminated unions over the registered kinds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from chaoskit.experiment.units import Duration, Fraction, FractionObjective, Rate, RateObjective

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64, description="A short identifier.")]
_HOST_PORT = re.compile(r"^(?P<host>[^\s:]+):(?P<port>\d{1,5})$")


def parse_host_port(value: str) -> tuple[str, int]:
    """``"127.0.0.1:7001"`` -> ``("127.0.0.1", 7001)``; ValueError with the expected form otherwise."""
    m = _HOST_PORT.match(value)
    if not m or not 0 < int(m.group("port")) < 65536:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:7001, got {value!r}")
    return m.group("host"), int(m.group("port"))


def _check_host_port(value: str) -> str:
    parse_host_port(value)
    return value


class Strict(BaseModel):
    """Base of every experiment model: immutable, and unknown keys are errors."""

    # defer_build: a model's validator is built on first use, not when its class is created. Validating an
    # experiment builds only the concrete Experiment (with the kinds its file names, see experiment.loader), so
    # importing models that are never used on their own (every kind's spec, their params) costs next to nothing.
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


# --------------------------------------------------------------------------------------------------- target


class ReadyCheck(Strict):
    """How to tell a target is ready: exactly one of ``http``, ``tcp`` or ``command``."""

    http: str | None = Field(None, description="URL that must answer 2xx/3xx.")
    tcp: str | None = Field(None, description="HOST:PORT that must accept a connection.")
    command: list[str] | None = Field(None, min_length=1, description="argv that must exit 0 (no shell).")
    timeout: Duration = Field(30.0, description="Give up after this long.")
    interval: Duration = Field(0.1, description="Pause between attempts.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ReadyCheck:
        given = [k for k in ("http", "tcp", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of http, tcp or command")
        if self.tcp is not None:
            parse_host_port(self.tcp)
        return self


class ProcessTarget(Strict):
    """A local process chaoskit starts before the run and stops after it."""

    name: Name
    command: list[str] = Field(min_length=1, description="argv, run without a shell.")
    cwd: str | None = Field(None, description="Working directory; default: the experiment's directory.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    ready: ReadyCheck | None = None
    stop_timeout: Duration = Field(5.0, description="SIGTERM grace before SIGKILL at teardown.")


class Target(Strict):
    """What the experiment runs against."""

    processes: list[ProcessTarget] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------- proxies


class ProxySpec(Strict):
    """A TCP proxy in front of a dependency, through which network faults are injected."""

    name: Name
    listen: Annotated[str, Field(description="HOST:PORT the proxy listens on.")]
    upstream: Annotated[str, Field(description="HOST:PORT the proxy forwards to.")]
    enabled: bool = True

    _listen = field_validator("listen", "upstream")(_check_host_port)


class ProxyServer(Strict):
    """Where the Toxiproxy-compatible API lives; without ``url`` chaoskit embeds its own."""

    url: str | None = Field(None, description="Base URL of a running Toxiproxy API, e.g. http://127.0.0.1:8474.")


# ------------------------------------------------------------------------------------------------------- load


class HttpRequestSpec(Strict):
    """One request of a declarative ``http:`` load. Each user picks its next request at random by ``weight``."""

    path: str = Field(pattern=r"^/", description="Path and query appended to ``host``, e.g. /cart?items=2.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = Field(
        "GET", description="HTTP method."
    )
    name: str | None = Field(
        None, min_length=1, max_length=200, description="Request name in windows and SLO filters; default: path."
    )
    weight: int = Field(1, ge=1, le=10_000, description="Relative frequency among the requests of the list.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    json_body: Any = Field(None, alias="json", description="A JSON request body (sets Content-Type).")
    body: str | None = Field(None, description="A raw request body; not together with json.")
    status: list[int] | None = Field(
        None, min_length=1, description="Status codes that count as success; default: any status below 400."
    )

    @field_validator("status", mode="before")
    @classmethod
    def _one_status(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestSpec:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give json or body, not both")
        return self

    @property
    def request_name(self) -> str:
        return self.name or self.path


class StepStage(Strict):
    """One stage of a ``step`` shape; a level it leaves out stays as it was."""

    duration: Duration = Field(gt=0, description="How long this stage lasts.")
    users: int | None = Field(None, ge=0, le=100_000, description="Users during this stage.")
    rate: Rate | None = Field(None, description="Target request rate during this stage, e.g. 200/s.")


class StepShape(Strict):
    """Run each stage for its duration, in order; the last stage holds until the load stops."""

    type: Literal["step"]
    stages: list[StepStage] = Field(min_length=1, description="The stages, from the start of the load.")


class RampShape(Strict):
    """Grow linearly from ``start_users`` (and ``start_rate``) to ``users`` (and ``rate``) over ``duration``,
    then hold."""

    type: Literal["ramp"]
    duration: Duration = Field(gt=0, description="How long the ramp takes.")
    start_users: int = Field(1, ge=0, le=100_000, description="Users when the load starts.")
    start_rate: Rate | None = Field(
        None, description="Rate when the load starts; default: ``rate`` scaled by start_users / users."
    )


class SpikeShape(Strict):
    """Run at ``users``/``rate``; at ``at`` jump to the spike's ``users``/``rate`` for ``duration``, then drop
    back (again every ``every`` when given)."""

    type: Literal["spike"]
    at: Duration = Field(description="When the (first) spike starts, from the start of the load.")
    duration: Duration = Field(gt=0, description="How long a spike lasts.")
    users: int | None = Field(None, ge=0, le=100_000, description="Users during a spike.")
    rate: Rate | None = Field(None, description="Target request rate during a spike.")
    every: Duration | None = Field(None, gt=0, description="Repeat the spike with this period.")

    @model_validator(mode="after")
    def _changes_something(self) -> SpikeShape:
        if self.users is None and self.rate is None:
            raise ValueError("a spike needs users or rate")
        if self.every is not None and self.every <= self.duration:
            raise ValueError("every must be longer than duration")
        return self


LoadShape = Annotated[Union[StepShape, RampShape, SpikeShape], Field(discriminator="type")]  # noqa: UP007


class DistributedLoad(Strict):
    """Locust's master/worker mode: the master runs in a load child and waits for ``workers`` to join, started
    with ``chaoskit load worker --master HOST:PORT`` or ``locust --worker --master-host HOST -f -``."""

    bind: str = Field("127.0.0.1:5557", description="HOST:PORT the master listens on for workers.")
    workers: int = Field(ge=1, le=1000, description="Workers to wait for before the load starts.")
    local_workers: int = Field(0, ge=0, le=256, description="Of those, workers chaoskit starts on this machine.")
    wait: Duration = Field(60.0, gt=0, description="Give up when the workers have not joined after this long.")

    _bind = field_validator("bind")(_check_host_port)

    @model_validator(mode="after")
    def _local_within(self) -> DistributedLoad:
        if self.local_workers > self.workers:
            raise ValueError("local_workers cannot exceed workers")
        return self


class LoadSpec(Strict):
    """Load to drive during the whole run (provided by a load-generator plugin, ``locust`` by default).

    Give a ``locustfile`` (used unchanged) or a declarative ``http`` list. Without ``rate`` the users are
    closed-loop (each waits for its response, then its think time); with ``rate`` every user runs one task every
    ``users / rate`` seconds, so the users together aim at ``rate`` and the achieved rate is itself evidence.
    """

    generator: str = Field("locust", description="Name of a registered load generator.")
    locustfile: str | None = Field(
        None, description="A Locust file, relative to the experiment file; used as it is (its own User classes)."
    )
    user_classes: list[str] | None = Field(
        None, min_length=1, description="Run only these User classes of the locustfile; default: all of them."
    )
    http: list[HttpRequestSpec] | None = Field(
        None, min_length=1, description="Requests to send, for load without a locustfile (needs host)."
    )
    host: str | None = Field(
        None, pattern=r"^https?://", description="Base URL, e.g. http://127.0.0.1:8080; overrides User.host."
    )
    users: int = Field(10, ge=1, le=100_000, description="Concurrent users (at the shape's peak, the base).")
    spawn_rate: float = Field(100.0, gt=0, description="Users started per second while ramping to a user count.")
    rate: Rate | None = Field(
        None, description="Target rate, e.g. 200/s: constant throughput per user (tasks per second in a locustfile)."
    )
    wait: Duration = Field(0.0, description="Think time between two requests of one declarative user, without rate.")
    timeout: Duration = Field(10.0, gt=0, description="Connect and response timeout of declarative requests.")
    client: Literal["fasthttp", "requests"] = Field(
        "fasthttp", description="HTTP client of declarative users: Locust's FastHttpUser or HttpUser."
    )
    shape: LoadShape | None = Field(None, description="How users and rate change over time: step, ramp or spike.")
    processes: int | None = Field(
        None, ge=1, le=256, description="Load children on this machine; default: one per core, at most one per user."
    )
    distributed: DistributedLoad | None = Field(None, description="Spread the load over Locust workers.")

    @model_validator(mode="after")
    def _one_source(self) -> LoadSpec:
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be above 0/s")
        if self.locustfile is not None and self.http is not None:
            raise ValueError("give locustfile or http, not both")
        if self.generator == "locust" and self.locustfile is None and self.http is None:
            raise ValueError("give a locustfile or an http list of requests")
        if self.http is not None and self.host is None:
            raise ValueError("http requests need a host, e.g. host: http://127.0.0.1:8080")
        if self.user_classes is not None and self.locustfile is None:
            raise ValueError("user_classes selects classes of a locustfile")
        if self.distributed is not None and self.processes is not None:
            raise ValueError("give processes or distributed, not both")
        return self


# ------------------------------------------------------------------------------------------------------- SLOs


class _Slo(Strict):
    name: Name
    request: str | None = Field(None, description="Only requests with this name; default: all.")
    source: str | None = Field(None, description="Only windows from this source (a probe name or 'load').")


class FractionDuring(Strict):
    objective: FractionObjective


class LatencyDuring(Strict):
    threshold: Duration


class RateDuring(Strict):
    objective: RateObjective


# Settings of the sequential tests of bad-event SLOs (docs/verdicts.md); None takes the default.
SloAlpha = Annotated[
    Fraction | None,
    Field(
        gt=0, lt=0.5,
        description="Chance of a false alarm on a healthy system: a false abort over the whole planned fault window, "
        "a healthy baseline refused, a compliant phase called breached. Default 1%.",
    ),
]
SloBeta = Annotated[
    Fraction | None,
    Field(
        gt=0, lt=0.5,
        description="Chance of a wrong claim: accepting a baseline already at the SLO's limit, missing a breach of "
        "`burn` (a PASS has power 1 - beta), confirming a recovery that has not happened. Default 5%.",
    ),
]
SloBurn = Annotated[
    float | None,
    Field(
        gt=1,
        description="A PASS needs the evidence to have caught this burn of the error budget (a bad rate of burn x "
        "the allowed fraction) with probability 1 - beta; with less evidence it is INCONCLUSIVE. Default 5.",
    ),
]


class SuccessRateSlo(_Slo):
    """Share of requests that succeed, e.g. ``objective: ">= 99%"``."""

    sli: Literal["success_rate"]
    objective: FractionObjective
    during: FractionDuring | None = Field(None, description="A relaxed objective while a fault is active.")
    alpha: SloAlpha = None
    beta: SloBeta = None
    burn: SloBurn = None


class LatencySlo(_Slo):
    """The ``percentile`` latency must stay at or below ``threshold``."""

    sli: Literal["latency"]
    percentile: float = Field(gt=0, lt=100)
    threshold: Duration
    during: LatencyDuring | None = Field(None, description="A relaxed threshold while a fault is active.")
    alpha: SloAlpha = None
    beta: SloBeta = None
    burn: SloBurn = None


class ThroughputSlo(_Slo):
    """Requests per second, e.g. ``objective: ">= 50/s"``."""

    sli: Literal["throughput"]
    objective: RateObjective
    during: RateDuring | None = Field(None, description="A relaxed objective while a fault is active.")


Slo = Annotated[Union[SuccessRateSlo, LatencySlo, ThroughputSlo], Field(discriminator="sli")]  # noqa: UP007


# ----------------------------------------------------------------------------------------------- probes, faults


Problem = tuple[tuple[str | int, ...], str, str | None]


class ProbeSpec(Strict):
    """Base of every probe kind. A probe is called every ``every`` and each call becomes one window."""

    name: Name
    type: str
    every: Duration = Field(1.0, description="Pause between calls.")
    timeout: Duration = Field(5.0, description="A call that takes longer counts as a failure.")


class FaultSpec(Strict):
    """Base of every fault kind: what to break, where, when and for how long."""

    name: Name
    type: str
    start: Duration = Field(0.0, description="Wait this long after the episode begins before injecting.")
    duration: Duration = Field(description="How long the fault stays active.")

    def problems(self, experiment: Experiment) -> list[Problem]:
        """Cross-checks against the rest of the experiment (e.g. the target process exists).

        Each problem is ``(path inside this fault, message, hint)``; the loader locates and reports them.
        """
        return []


# ------------------------------------------------------------------------------------------ phases, guardrails


class Phases(Strict):
    """How long each phase lasts."""

    warmup: Duration = Field(0.0, description="Load runs, nothing is judged.")
    baseline: Duration = Field(10.0, description="Steady state must hold before any fault.")
    recovery: Duration = Field(10.0, description="After each revert: time allowed to recover.")
    window: Duration = Field(0.25, gt=0, description="Length of an SLI window.")
    settle: Duration = Field(2.0, gt=0, description="A recovery counts once the SLOs hold for this long.")


class AbortWhen(Strict):
    """Abort a fault at once when, over the last ``over`` of traffic, any of these holds."""

    success_rate: FractionObjective | None = None
    error_count: int | None = Field(None, ge=1, description="Abort after this many failed requests.")
    over: Duration = Field(5.0, gt=0)
    min_requests: int = Field(10, ge=1, description="Never decide on fewer requests than this.")


class Guardrails(Strict):
    abort_when: AbortWhen | None = None
    burn_rates: list[Annotated[float, Field(gt=1)]] = Field(
        default_factory=lambda: [2.0, 5.0, 20.0], min_length=1, max_length=8,
        description="Burn rates the abort detectors watch for during a fault (one CUSUM each, jointly calibrated "
        "to each SLO's alpha over the planned fault window); a 20x burn aborts within a few requests.",
    )
    budget: Fraction = Field(
        0.02, gt=0, le=1,
        description="Abort a fault once its bad events reach this share of the SLO's 30-day error budget.",
    )
    production_rate: Rate | None = Field(
        None, gt=0,
        description="Requests per second the 30-day error budget is computed from; default: the rate measured "
        "during the baseline.",
    )
    baseline_budget: Duration | None = Field(
        None, gt=0,
        description="The steady-state gate is sequential: while it is undecided after phases.baseline, the baseline "
        "goes on, up to this long in all; then nothing is injected. Default: 3 x phases.baseline.",
    )
    max_duration: Duration = Field(3600.0, gt=0, description="The whole run is interrupted after this long.")


class Rollback(Strict):
    """An explicit action run at teardown, whatever the outcome (e.g. restore a config)."""

    name: Name
    command: list[str] = Field(min_length=1, description="argv, run without a shell.")
    timeout: Duration = 30.0
    cwd: str | None = None


# -------------------------------------------------------------------------------------------------- experiment


class Experiment(Strict):
    """Base of the experiment model; ``faults`` and ``probes`` are typed by :func:`experiment_model`."""

    version: Literal[1] = Field(description="Format version; always 1.")
    title: str = Field(min_length=1)
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    target: Target = Field(default_factory=Target)
    proxy: ProxyServer = Field(default_factory=ProxyServer)
    proxies: list[ProxySpec] = Field(default_factory=list)
    load: LoadSpec | None = None
    slos: list[Slo] = Field(default_factory=list)
    probes: list[ProbeSpec] = Field(default_factory=list)
    phases: Phases = Field(default_factory=Phases)
    faults: list[FaultSpec] = Field(default_factory=list)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    rollbacks: list[Rollback] = Field(default_factory=list)

    @property
    def thresholds(self) -> tuple[float, ...]:
        """Every latency threshold any SLO declares, in seconds (sources count requests above each)."""
        out: set[float] = set()
        for slo in self.slos:
            if isinstance(slo, LatencySlo):
                out.add(slo.threshold)
                if slo.during is not None:
                    out.add(slo.during.threshold)
        return tuple(sorted(out))


def experiment_model(faults: list[type[FaultSpec]], probes: list[type[ProbeSpec]]) -> type[Experiment]:
    """The concrete ``Experiment`` model for the given fault and probe kinds."""

    def union(kinds: list[type[Any]], base: type[Any]) -> Any:
        if not kinds:
            return base
        if len(kinds) == 1:
            return kinds[0]
        return Annotated[Union[tuple(kinds)], Field(discriminator="type")]  # noqa: UP007

    # Built at run time from plugin kinds, so no static type can describe the fields.
    fields: dict[str, Any] = {
        "faults": (list[union(faults, FaultSpec)], Field(default_factory=list)),  # type: ignore[misc]
        "probes": (list[union(probes, ProbeSpec)], Field(default_factory=list)),  # type: ignore[misc]
    }
    model: type[Experiment] = create_model("Experiment", __base__=Experiment, **fields)
    return model


__all__ = [
    "AbortWhen",
    "Experiment",
    "FaultSpec",
    "Fraction",
    "Guardrails",
    "LatencySlo",
    "LoadSpec",
    "Phases",
    "ProbeSpec",
    "ProcessTarget",
    "ProxyServer",
    "ProxySpec",
    "ReadyCheck",
    "Rollback",
    "Slo",
    "Strict",
    "SuccessRateSlo",
    "Target",
    "ThroughputSlo",
    "experiment_model",
    "parse_host_port",
]
