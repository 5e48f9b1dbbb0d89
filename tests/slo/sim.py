"""Pure-Python simulation helpers for the statistics tests (fixed seeds; no numpy needed).

Streams of i.i.d. Bernoulli requests are drawn as *gaps*: the number of good requests before the next bad one
is geometric, so a stream of ``n`` requests at rate ``p`` costs ``O(n p)`` draws. Feeding a detector "gap goods,
then one bad" is exactly the per-request recursion, because nothing can alarm during a run of good requests.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from chaoskit.slo.cusum import CusumBank


def gaps(rng: random.Random, p: float) -> Iterator[int]:
    """Good requests before each bad one, for bad-rate ``p``."""
    if p <= 0:
        while True:
            yield 10**12
    if p >= 1:
        while True:
            yield 0
    log_q = math.log1p(-p)
    while True:
        yield int(math.log(1.0 - rng.random()) / log_q)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """An exact Binomial(n, p) draw by counting geometric gaps (cheap for small ``n p``)."""
    if p <= 0 or n <= 0:
        return 0
    if p >= 1:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1 - p)
    log_q = math.log1p(-p)
    k, used = 0, 0
    while True:
        used += int(math.log(1.0 - rng.random()) / log_q) + 1
        if used > n:
            return k
        k += 1


def beta_binomial(rng: random.Random, n: int, mean: float, icc: float) -> int:
    """Bad events of one second: the second's rate is Beta with this mean and intra-class correlation."""
    if icc <= 0:
        return binomial(rng, n, mean)
    ab = 1 / icc - 1
    return binomial(rng, n, rng.betavariate(mean * ab, (1 - mean) * ab))


def requests_to_abort(
    bank: CusumBank, rng: random.Random, p: float, *, onset: int = 0, before: float = 0.001, limit: int = 10**6
) -> int | None:
    """Feed a fresh bank per request: ``before`` for ``onset`` requests, then ``p``. Returns the 0-based index of
    the deciding request counted from the onset (negative: a false abort before it; ``bank.py``'s convention),
    or None when nothing alarmed within ``limit`` requests."""
    bank.reset()
    position = 0  # requests consumed so far
    stream = gaps(rng, before)
    while position < onset:
        g = next(stream)
        if position + g >= onset:  # the change comes inside this run of good requests
            bank.update(onset - position, 0)
            position = onset
            break
        bank.update(g, 0)
        if bank.update(1, 1) is not None:
            return position + g - onset
        position += g + 1
    stream = gaps(rng, p)
    while position < onset + limit:
        g = next(stream)
        bank.update(g, 0)
        if bank.update(1, 1) is not None:
            return position + g - onset
        position += g + 1
    return None


def false_abort(bank: CusumBank, rng: random.Random, p: float, requests: int) -> bool:
    """Whether the bank alarms within ``requests`` i.i.d. requests at ``p``."""
    index = requests_to_abort(bank, rng, p, limit=requests)
    return index is not None and index < requests


def wilson_upper(k: int, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval for a binomial proportion."""
    phat = k / n
    centre = phat + z * z / (2 * n)
    spread = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n))
    return (centre + spread) / (1 + z * z / n)
