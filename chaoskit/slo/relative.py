"""The relative check: is the SLI during a fault worse than during the baseline? (Kayenta-style, reference 1.2)

Both phases are cut into one-second bins (the bad fraction for a success-rate SLO, the SLO's percentile for a
latency SLO). A one-sided Mann-Whitney U test compares the bins, with the Hodges-Lehmann shift and its
confidence interval; the bin is "worse" when the interval's lower end exceeds ``tolerance`` of the shift and the
mean ratio reaches ``allowed_increase`` (Kayenta's ``High``). It answers "did the fault change anything?", not
"did the SLO hold?", and has no sequential guarantee: it is reported beside the absolute tests, never decides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from chaoskit.experiment.model import LatencySlo, Slo
from chaoskit.slo.badevents import BadEventSli
from chaoskit.slo.histogram import LatencyHistogram
from chaoskit.slo.window import Window

_NORMAL = NormalDist()
TOLERANCE = 0.25
ALLOWED_INCREASE = 1.0
MAX_PAIRS = 250_000  # Hodges-Lehmann needs every pairwise difference


@dataclass(frozen=True)
class MannWhitney:
    """``u`` counts pairs where the treatment bin exceeds the baseline bin (ties count a half)."""

    u: float
    z: float
    p_value: float  # one-sided: the treatment is stochastically larger
    shift: float  # Hodges-Lehmann: median of treatment - baseline differences
    ci_low: float
    ci_high: float
    n_baseline: int
    n_treatment: int


def mann_whitney(baseline: Sequence[float], treatment: Sequence[float], *, confidence: float = 0.95) -> MannWhitney:
    """One-sided Mann-Whitney U (normal approximation with tie and continuity corrections) and the
    Hodges-Lehmann shift with its distribution-free interval at ``confidence``."""
    n, m = len(baseline), len(treatment)
    if n == 0 or m == 0:
        return MannWhitney(0.0, 0.0, 1.0, 0.0, -math.inf, math.inf, n, m)
    pooled = sorted([(x, 0) for x in baseline] + [(y, 1) for y in treatment])
    ranks_treatment = 0.0
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        size = j - i + 1
        ties += size**3 - size
        ranks_treatment += rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 1)
        i = j + 1
    u = ranks_treatment - m * (m + 1) / 2
    total = n + m
    variance = n * m / 12 * ((total + 1) - ties / (total * (total - 1))) if total > 1 else 0.0
    if variance <= 0:
        z, p = 0.0, 1.0
    else:
        z = (u - n * m / 2 - 0.5) / math.sqrt(variance)
        p = 1.0 - _NORMAL.cdf(z)
    shift, low, high = _hodges_lehmann(baseline, treatment, confidence)
    return MannWhitney(u, z, p, shift, low, high, n, m)


def _hodges_lehmann(baseline: Sequence[float], treatment: Sequence[float], confidence: float) -> tuple[float, ...]:
    n, m = len(baseline), len(treatment)
    stride = max(1, math.ceil(math.sqrt(n * m / MAX_PAIRS)))
    xs, ys = list(baseline)[::stride], list(treatment)[::stride]
    diffs = sorted(y - x for y in ys for x in xs)
    count = len(diffs)
    mid = count // 2
    shift = diffs[mid] if count % 2 else (diffs[mid - 1] + diffs[mid]) / 2
    nx, ny = len(xs), len(ys)
    zc = _NORMAL.inv_cdf(0.5 + confidence / 2)
    k = math.floor(nx * ny / 2 - zc * math.sqrt(nx * ny * (nx + ny + 1) / 12))
    if k < 0:
        return shift, -math.inf, math.inf
    return shift, diffs[k], diffs[count - 1 - k]


@dataclass(frozen=True)
class Comparison:
    """The relative check of one SLO: metric, bins, test and classification ("worse", "better", "same")."""

    metric: str
    test: MannWhitney
    baseline_mean: float
    mean: float
    classification: str

    @property
    def summary(self) -> str:
        t = self.test
        if t.n_baseline == 0 or t.n_treatment == 0:
            return "no baseline to compare"
        word = {"same": "no different from"}.get(self.classification, f"{self.classification} than")
        return f"{word} baseline (shift {t.shift:+.4g} {self.metric}, p={t.p_value:.3g})"


def classify(test: MannWhitney, baseline_mean: float, mean: float) -> str:
    """Kayenta's rule: a confident shift of at least ``TOLERANCE`` of its size, and a large enough mean ratio."""
    ratio = math.inf if baseline_mean <= 0 < mean else 1.0 if baseline_mean <= 0 else mean / baseline_mean
    if test.ci_low > TOLERANCE * abs(test.shift) and test.shift > 0 and ratio >= ALLOWED_INCREASE:
        return "worse"
    if test.ci_high < -TOLERANCE * abs(test.shift) and test.shift < 0 and ratio <= 1 / max(ALLOWED_INCREASE, 1e-9):
        return "better"
    return "same"


def second_bins(sli: BadEventSli, windows: Iterable[Window], *, origin: float | None = None) -> list[float]:
    """The SLI per one-second bin: bad fraction (percent), or the SLO's percentile (ms) for latency SLOs."""
    slo: Slo = sli.slo
    counts: dict[int, list[int]] = {}
    histograms: dict[int, LatencyHistogram] = {}
    rows = [w for w in windows if sli.counts(w) is not None]
    if not rows:
        return []
    t0 = origin if origin is not None else min(w.start for w in rows)
    for w in rows:
        key = math.floor(w.start - t0)
        n, bad = sli.counts(w) or (0, 0)
        cell = counts.setdefault(key, [0, 0])
        cell[0] += n
        cell[1] += bad
        if isinstance(slo, LatencySlo):
            histograms.setdefault(key, LatencyHistogram()).merge(w.histogram)
    out: list[float] = []
    for key in sorted(counts):
        n, bad = counts[key]
        if n == 0:
            continue
        if isinstance(slo, LatencySlo):
            q = histograms[key].quantile(slo.percentile / 100)
            if q is not None:
                out.append(q * 1000)
        else:
            out.append(100.0 * bad / n)
    return out


def compare(sli: BadEventSli, baseline: Sequence[float], treatment: Sequence[float]) -> Comparison:
    metric = "ms" if sli.threshold is not None else "% bad"
    test = mann_whitney(baseline, treatment)
    base_mean = sum(baseline) / len(baseline) if baseline else 0.0
    mean = sum(treatment) / len(treatment) if treatment else 0.0
    return Comparison(metric, test, base_mean, mean, classify(test, base_mean, mean))
