"""Load levels over time: what a ``step``, ``ramp`` or ``spike`` shape asks for at each moment, and how a level
is split among load children."""

from __future__ import annotations

from dataclasses import dataclass

from chaoskit.experiment.model import LoadSpec, RampShape, SpikeShape, StepShape


@dataclass(frozen=True)
class Level:
    """How many users to run and the request rate they aim at (None: closed-loop users, no pacing)."""

    users: int
    rate: float | None = None

    def split(self, parts: int) -> list[Level]:
        """This level spread over ``parts`` children: users as evenly as possible, rate in proportion."""
        base, extra = divmod(self.users, parts)
        counts = [base + (1 if i < extra else 0) for i in range(parts)]
        if self.rate is None:
            return [Level(n) for n in counts]
        if not self.users:
            return [Level(0, self.rate / parts) for _ in counts]
        return [Level(n, self.rate * n / self.users) for n in counts]


def level_at(spec: LoadSpec, elapsed: float) -> Level:
    """The level ``spec`` asks for ``elapsed`` seconds after the load started."""
    shape = spec.shape
    users, rate = spec.users, spec.rate
    if isinstance(shape, StepShape):
        end = 0.0
        for stage in shape.stages:
            users = stage.users if stage.users is not None else users
            rate = stage.rate if stage.rate is not None else rate
            end += stage.duration
            if elapsed < end:
                break
    elif isinstance(shape, RampShape):
        done = min(max(elapsed / shape.duration, 0.0), 1.0)
        users = round(shape.start_users + (spec.users - shape.start_users) * done)
        if spec.rate is not None:
            start_rate = shape.start_rate
            if start_rate is None:
                start_rate = spec.rate * shape.start_users / spec.users
            rate = start_rate + (spec.rate - start_rate) * done
    elif isinstance(shape, SpikeShape) and elapsed >= shape.at:
        into = elapsed - shape.at
        if shape.every is not None:
            into %= shape.every
        if into < shape.duration:
            users = shape.users if shape.users is not None else users
            rate = shape.rate if shape.rate is not None else rate
    if rate is not None and rate <= 0:
        users = 0  # a rate of nothing: no user may run unpaced
    return Level(users, rate)


def peak_users(spec: LoadSpec) -> int:
    """The most users ``spec`` ever asks for (to size the number of load children)."""
    shape = spec.shape
    if isinstance(shape, StepShape):
        return max([spec.users, *(s.users for s in shape.stages if s.users is not None)])
    if isinstance(shape, SpikeShape) and shape.users is not None:
        return max(spec.users, shape.users)
    return spec.users
