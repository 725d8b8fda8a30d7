"""Seeds, summarised: the one place that turns several seeds' values into a mean and an interval, and writes it.

    spread([v0, v1, ...]) -> {"n", "mean", "low", "high", "kind"}
    band(spread, ".1f") -> "61.3 (59.0–63.1)"          minmax([v0, v1, ...]) -> the same over min–max

The interval a claim needs: min–max for up to 3 seeds, a 95 % t-interval of the mean beyond.
"""

from __future__ import annotations

import math

_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        15: 2.131, 20: 2.086, 30: 2.042}


def spread(values: list[float]) -> dict:
    """mean, and the interval a claim needs: min–max for N <= 3 seeds, else a 95 % t-interval of the mean."""
    n, mean = len(values), sum(values) / len(values)
    if n <= 3:
        return {"n": n, "mean": mean, "low": min(values), "high": max(values), "kind": "min–max"}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    t = _T95[max(k for k in _T95 if k <= n - 1)] if n - 1 <= 30 else 1.96
    half = t * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half, "kind": "95 % t-interval"}


def band(s: dict, fmt: str, scale: float = 1.0, value=lambda v: v) -> str:
    """"mean (low–high)" of a spread, each number scaled (and mapped by `value`, e.g. 10 ** log) then formatted."""
    f = lambda v: format(value(scale * v), fmt)  # noqa: E731
    return f"{f(s['mean'])} ({f(s['low'])}–{f(s['high'])})"


def minmax(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """"61.2 (58.0–63.1)": the mean over seeds and its min–max; one seed: the value alone."""
    if len(values) == 1:
        return f"{scale * values[0]:.{digits}f}"
    s = {"mean": sum(values) / len(values), "low": min(values), "high": max(values)}
    return band(s, f".{digits}f", scale)
