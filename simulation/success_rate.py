"""Success rates of benchmark trials with their confidence interval (shared by the grasp bench
of :mod:`training.bench_report` and the closed-loop bench of :mod:`tools.closed_loop_bench`)."""

from __future__ import annotations

import math
from typing import Tuple


def wilson(ok: int, n: int, z: float = 1.96) -> Tuple[float, float]:
    """95% Wilson score interval of a success rate, as fractions (Wilson 1927); (nan, nan)
    without trials. ``z``: the normal quantile (1.96: 95%)."""
    if n == 0:
        return (math.nan, math.nan)
    p = ok / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)
