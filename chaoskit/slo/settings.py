"""The error rates and burns each SLO's tests run with: the experiment's settings, or these defaults.

The reference (``verdict-statistics.md``) states its tables at alpha = beta = 1 % and a PASS burn of 2x. The
defaults here keep alpha = 1 % for everything that stops or fails a healthy run (false abort over the fault
window, refusing a healthy baseline, calling a compliant phase breached) but take beta = 5 % and a PASS burn of
5x, so that short demo-sized experiments (the quickstart: 6-8 s faults at ~90 requests/s against a 99 % SLO)
can conclude: at beta = 1 % and 2x a 99 % SLO needs ~3,000 requests per fault and ~900 clean baseline requests.
Every verdict reports the values it used; set ``alpha``, ``beta`` and ``burn`` on an SLO for the reference's.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaoskit.experiment.model import Guardrails, LatencySlo, Slo, SuccessRateSlo

DEFAULT_ALPHA = 0.01
DEFAULT_BETA = 0.05
DEFAULT_BURN = 5.0
FALLBACK_RATE = 100.0  # requests/s assumed for sizing a fault window when there was no baseline to measure


@dataclass(frozen=True)
class SloSettings:
    alpha: float
    beta: float
    burn: float


def settings_for(slo: Slo) -> SloSettings:
    if isinstance(slo, SuccessRateSlo | LatencySlo):
        return SloSettings(
            alpha=slo.alpha if slo.alpha is not None else DEFAULT_ALPHA,
            beta=slo.beta if slo.beta is not None else DEFAULT_BETA,
            burn=slo.burn if slo.burn is not None else DEFAULT_BURN,
        )
    return SloSettings(DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_BURN)


def burn_rates(guardrails: Guardrails) -> tuple[float, ...]:
    return tuple(sorted(set(guardrails.burn_rates)))
