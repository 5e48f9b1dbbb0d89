"""The verdict statistics (issue 7) against the reference tables, with more runs than the unit tests afford.

Everything runs through ``chaoskit.slo`` itself (pure Python; per-request streams drawn exactly from geometric
gaps, ``tests/slo/sim.py``). Reproduce: ``.venv/bin/python benchmarks/verdict_stats.py`` (about 3 minutes on one
core); ``--quick`` for a tenth of the runs. Prints markdown.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaoskit.slo.changepoint import ChangePointDetector, RecoveryState  # noqa: E402
from chaoskit.slo.cusum import CusumBank, calibrate_threshold  # noqa: E402
from chaoskit.slo.power import information_bound  # noqa: E402
from chaoskit.slo.sequential import Decision, steady_state_gate  # noqa: E402
from tests.slo.sim import beta_binomial, binomial, false_abort, gaps, requests_to_abort, wilson_upper  # noqa: E402

WINDOW = 30_000


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def bank_table(scale: float) -> list[str]:
    began = time.perf_counter()
    calibrate_threshold.cache_clear()
    bank = CusumBank.design(0.01, requests=WINDOW, alpha=0.01)
    took = time.perf_counter() - began
    hs = ", ".join(f"{d.threshold:.2f}" for d in bank.detectors)
    out = [f"Bank thresholds (2x/5x/20x, 1 % over 30k requests at p0 = 1 %): {hs} (bank.py: 9.99, 11.74, 13.56); "
           f"computed in {took * 1000:.0f} ms.", "",
           "| true bad rate | onset 0: mean / p99 | onset 10,000: mean / p99 | bank.py | bound | mean / bound |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    reference = {0.05: "268 / 683, 277 / 705", 0.10: "88 / 210, 92 / 211", 0.50: "9.2 / 20, 9.4 / 21"}
    rng = random.Random(21)
    for p in (0.05, 0.10, 0.50):
        early = [requests_to_abort(bank, rng, p) for _ in range(round(4000 * scale))]
        late = [requests_to_abort(bank, rng, p, onset=10_000) for _ in range(round(2000 * scale))]
        e = [float(d) for d in early if d is not None]
        lt = [float(d) for d in late if d is not None and d >= 0]
        bound = information_bound(0.01, p, 0.01, 0.01)
        out.append(f"| {p:.0%} | {statistics.mean(e):.1f} / {p99(e):.0f} | {statistics.mean(lt):.1f} / {p99(lt):.0f} "
                   f"| {reference[p]} | {bound:.1f} | {statistics.mean(e) / bound:.2f}x |")  # fmt: skip
    return out


def false_abort_table(scale: float) -> list[str]:
    out = ["| design | runs | false aborts | upper 95 % |", "|---|---|---|---|"]
    for p0, window, label in ((0.01, WINDOW, "99 % SLO, 30k requests"), (0.05, WINDOW, "p95 SLO, 30k requests")):
        bank = CusumBank.design(p0, requests=window, alpha=0.01)
        rng = random.Random(2024)
        reps = round((20_000 if p0 == 0.01 else 5_000) * scale)
        k = sum(false_abort(bank, rng, p0, window) for _ in range(reps))
        out.append(f"| {label}, per request | {reps} | {k / reps:.2%} | {wilson_upper(k, reps):.2%} |")
    bank = CusumBank.design(0.01, requests=WINDOW, alpha=0.01)
    rng, reps, k = random.Random(5), round(5_000 * scale), 0
    for _ in range(reps):
        bank.reset()
        for _second in range(300):
            if bank.update(100, binomial(rng, 100, 0.01)) is not None:
                k += 1
                break
    out.append(f"| 99 % SLO, 30k requests, one window per second | {reps} | {k / reps:.2%} | "
               f"{wilson_upper(k, reps):.2%} |")  # fmt: skip
    return out


def bursty(bank: CusumBank, icc: float, reps: int, seed: int) -> float:
    rng, k = random.Random(seed), 0
    for _ in range(reps):
        bank.reset()
        for _second in range(300):
            if bank.update(100, beta_binomial(rng, 100, 0.01, icc)) is not None:
                k += 1
                break
    return k / reps


def dispersion_table(scale: float) -> list[str]:
    out = ["| ICC | D | naive | LLR / D | per-detector scale (chaoskit) | reference naive / LLR / D (2x only) |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    reference = {0.0: "0.6 % / 0.4 %", 0.002: "1.7 % / 0.9 %", 0.01: "28.8 % / 0.5 %", 0.05: "97.8 % / 0.4 %"}
    reps = round(2000 * scale)
    for icc in (0.0, 0.002, 0.01, 0.05):
        d = 1 + 99 * icc
        naive = bursty(CusumBank.design(0.01, requests=WINDOW, alpha=0.01), icc, reps, 1)
        plain = bursty(CusumBank.design(0.01, requests=WINDOW, alpha=0.01, dispersion=d), icc, reps, 2)
        exact = bursty(CusumBank.design(0.01, requests=WINDOW, alpha=0.01, icc=icc, per_second=100), icc, reps, 3)
        out.append(f"| {icc} | {d:.2f} | {naive:.1%} | {plain:.1%} | {exact:.1%} | {reference[icc]} |")
    return out


def ttr_table(scale: float) -> list[str]:
    healthy, faulted, tau, p0, horizon = 0.001, 0.30, 10.0, 0.01, 120.0
    p_star = math.log((1 - p0 / 2) / (1 - p0)) / (math.log(2) + math.log((1 - p0 / 2) / (1 - p0)))
    target = tau * math.log((faulted - healthy) / (p_star - healthy))
    out = [f"E4 on ttr.py's curve (target: the crossing of {p_star:.2%} at {target:.1f} s), quarter-second windows:",
           "", "| requests/s | runs | TTR bias / SD | confirmed at (mean) | ttr.py bias / SD, confirmed |",
           "|---|---|---|---|---|"]  # fmt: skip
    reference = {100: "-0.6 / 4.8, 66.7 s", 1000: "0.0 / 2.1, 44.5 s"}
    for rps, runs in ((100, 400), (1000, 150)):
        rng, ttrs, confirmed = random.Random(11), [], []
        for _ in range(round(runs * max(scale, 0.25))):
            d = ChangePointDetector(p0, 0.0, horizon, alpha=0.01, beta=0.01)
            n, t = round(rps * 0.25), 0.0
            while t < horizon and not d.update(t + 0.25, n, binomial(
                    rng, n, healthy + (faulted - healthy) * math.exp(-(t + 0.125) / tau))):  # fmt: skip
                t += 0.25
            if d.state is RecoveryState.RECOVERED and d.ttr is not None and d.confirmed_after is not None:
                ttrs.append(d.ttr)
                confirmed.append(d.confirmed_after)
        out.append(f"| {rps} | {len(ttrs)} | {statistics.mean(ttrs) - target:+.2f} / {statistics.pstdev(ttrs):.2f} | "
                   f"{statistics.mean(confirmed):.1f} s | {reference[rps]} |")  # fmt: skip
    return out


def gate_line(scale: float) -> list[str]:
    out = []
    for alpha, beta in ((0.01, 0.01), (0.01, 0.05)):
        rng, used = random.Random(3), []
        for _ in range(round(3000 * scale)):
            gate = steady_state_gate(0.01, alpha=alpha, beta=beta)
            stream = gaps(rng, 0.001)
            while gate.decision is Decision.UNDECIDED:
                g = next(stream)
                need = gate.requests_to_accept()
                if need <= g:
                    gate.update(need, 0)
                    break
                gate.update(g, 0)
                gate.update(1, 1)
            used.append(gate.n)
        out.append(f"Gate (0.5 % vs 1 %) at a true 0.1 %, alpha {alpha:.0%} beta {beta:.0%}: "
                   f"{statistics.mean(used):.0f} requests on average (reference: 1,060 at 1 % / 1 %).")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the runs")
    scale = 0.1 if parser.parse_args().quick else 1.0
    began = time.time()
    for section in (bank_table, false_abort_table, dispersion_table, ttr_table, gate_line):
        print("\n".join(section(scale)))
        print()
    print(f"({time.time() - began:.0f} s)")


if __name__ == "__main__":
    main()
