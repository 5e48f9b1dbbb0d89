"""What a game day will do: its next slots, and for each step the experiments with their faults and length."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from chaoskit.errors import ExperimentError
from chaoskit.gameday.cron import explain, slots_after

if TYPE_CHECKING:
    from chaoskit.experiment.model import Experiment
    from chaoskit.gameday.loader import LoadedGameDay
    from chaoskit.plugins import Plugins


def longest(experiment: Experiment) -> float:
    """The most a run of ``experiment`` takes by its phases (teardown aside), capped by its max_duration."""
    p = experiment.phases
    total = p.warmup + p.baseline + sum(f.start + f.duration + p.recovery for f in experiment.faults)
    return min(total, experiment.guardrails.max_duration)


def plan_lines(loaded: LoadedGameDay, plugins: Plugins, *, start: float, count: int,
               state_dir: Path | None = None) -> tuple[list[str], int]:
    """The plan as text lines, and how many experiments are invalid."""
    gd = loaded.gameday
    out = [f"game day: {gd.name} ({loaded.path})"]
    if gd.description:
        out.append(f"  {gd.description.strip()}")
    if gd.schedule is None:
        out.append("schedule: none (run it with `chaoskit gameday run`)")
    else:
        s = gd.schedule
        out.append(f"schedule: {s.cron} in {s.timezone} ({explain(s.cron)}); a missed slot still starts up to "
                   f"{s.starting_deadline:g}s late; concurrency: {gd.concurrency}")
        out.append(f"next {count} run(s):")
        for i, slot in enumerate(slots_after(s.cron, s.timezone, start)):
            if i >= count:
                break
            utc = slot.astimezone(dt.UTC)
            out.append(f"  {slot:%a %Y-%m-%d %H:%M %Z}  ({utc:%Y-%m-%d %H:%M}Z)")
        if state_dir is not None:
            out.extend(_last_slots(state_dir, gd.name))
    rules = [f"deadline {gd.deadline:g}s" if gd.deadline is not None else "no deadline",
             "stops on the first failure" if gd.stop_on_failure else "runs every step whatever the outcomes"]
    out.append("each run: " + ", ".join(rules))
    if gd.variables:
        out.append("variables: " + ", ".join(f"{k}={v}" for k, v in sorted(gd.variables.items())))
    env = loaded.experiment_env()
    invalid, total = 0, 0.0
    for i, stage in enumerate(loaded.stages):
        out.append(f"step {i + 1}" + (f" (in parallel, {len(stage)} experiments):" if len(stage) > 1 else ":"))
        step_time = 0.0
        for path in stage:
            try:
                experiment = _load(path, plugins, env)
            except ExperimentError as exc:
                invalid += 1
                out.append(f"  INVALID {path}")
                out.extend(f"    {d}" for d in exc.diagnostics)
                continue
            seconds = longest(experiment)
            step_time = max(step_time, seconds)
            out.append(f"  {experiment.title}  ({path}, at most {seconds:g}s)")
            for fault in experiment.faults:
                out.append(f"    fault {fault.name}: {fault.type} for {fault.duration:g}s")
        total += step_time
    out.append(f"a run takes at most about {total:g}s" + (
        f"; the deadline ({gd.deadline:g}s) would cut it short" if gd.deadline is not None and total > gd.deadline
        else ""))
    notify = gd.notify
    if notify.webhook is not None:
        out.append(f"notify ({notify.when}): POST summary to {notify.webhook.url} "
                   f"(timeout {notify.webhook.timeout:g}s, {notify.webhook.retries} retries)")
    if notify.command is not None:
        out.append(f"notify ({notify.when}): run {' '.join(notify.command.argv)}")
    return out, invalid


def _load(path: Path, plugins: Plugins, env: dict[str, str]) -> Experiment:
    from chaoskit.experiment.loader import load_experiment

    return load_experiment(path, plugins.registry, env=env)


def _last_slots(state_dir: Path, name: str) -> list[str]:
    from chaoskit.gameday.slots import SLOTS_FILE, SlotStore

    if not (state_dir / SLOTS_FILE).exists():
        return []
    store = SlotStore(state_dir)
    try:
        rows = store.recent(name, 5)
    finally:
        store.close()
    if not rows:
        return []
    out = ["recent slots (from the scheduler's record):"]
    for row in rows:
        detail = row.outcome or row.reason or ""
        out.append(f"  {row.slot_iso}  {row.state}  {detail}".rstrip())
    return out
