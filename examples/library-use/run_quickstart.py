"""Run an experiment from Python and act on the result.

    python examples/library-use/run_quickstart.py [experiments/quickstart.yaml]
"""

from __future__ import annotations

import sys

import chaoskit


def main(path: str) -> int:
    try:
        experiment = chaoskit.load(path)  # every problem at once, each located
    except chaoskit.ExperimentError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        return 2
    print(f"running {experiment.title!r}: {len(experiment.faults)} faults, {len(experiment.slos)} SLOs")
    result = chaoskit.run_experiment(path)
    for verdict in result.verdicts:
        where = f"{verdict.phase} {verdict.fault or ''}".strip()
        print(f"{verdict.slo:<16} {where:<24} {verdict.observed_text:>14}  {verdict.status.value}")
    for fault in result.faults:
        print(f"{fault.name}: reverted={fault.verified} recovered in {fault.recovery_seconds}s")
    print(f"{result.outcome.value.upper()}: {result.reason}")
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "experiments/quickstart.yaml"))
