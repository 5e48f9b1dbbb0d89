"""``chaoskit plan``: the timeline, targets and faults of a run, touching nothing."""

from __future__ import annotations

from pathlib import Path

import click

from chaoskit.commands._common import load_or_exit, plugins_or_exit
from chaoskit.experiment.model import Experiment
from chaoskit.plugins import Plugins


def plan_lines(experiment: Experiment, plugins: Plugins) -> list[str]:
    exp, p = experiment, experiment.phases
    out = [f"experiment: {exp.title}"]
    for proc in exp.target.processes:
        ready = proc.ready.http or proc.ready.tcp or " ".join(proc.ready.command or []) if proc.ready else "none"
        out.append(f"  start process {proc.name}: {' '.join(proc.command)}  (ready: {ready})")
    for proxy in exp.proxies:
        where = exp.proxy.url or "embedded proxy"
        out.append(f"  proxy {proxy.name}: {proxy.listen} -> {proxy.upstream} ({where})")
    if exp.load is not None:
        out.append(f"  load: {exp.load.generator}, {exp.load.users} users")
    for probe in exp.probes:
        out.append(f"  probe {probe.name} ({probe.type}) every {probe.every:g}s")
    for slo in exp.slos:
        out.append(f"  SLO {slo.name}: {slo.sli}")
    out.append("timeline (seconds after preflight):")
    t = 0.0
    for name, seconds in (("warmup", p.warmup), ("baseline", p.baseline)):
        if seconds:
            out.append(f"  {t:7.1f}  {name} for {seconds:g}s")
            t += seconds
    for spec in exp.faults:
        kind = plugins.registry.faults[spec.type]
        t += spec.start
        out.append(f"  {t:7.1f}  inject {spec.name} ({spec.type}) for {spec.duration:g}s")
        for target in kind.preview(spec, exp) if kind.preview else ["(this kind cannot preview its targets)"]:
            out.append(f"           hits {target}")
        t += spec.duration
        out.append(f"  {t:7.1f}  revert {spec.name}, then recover for at most {p.recovery:g}s")
        t += p.recovery
    out.append(f"  {t:7.1f}  teardown (at most; max_duration {exp.guardrails.max_duration:g}s)")
    return out


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def plan(files: tuple[Path, ...]) -> None:
    """Show what running FILES would do: processes, proxies, timeline and exactly what each fault hits."""
    plugins = plugins_or_exit()
    for path, experiment in load_or_exit(list(files), plugins):
        click.echo(f"# {path}")
        click.echo("\n".join(plan_lines(experiment, plugins)))
