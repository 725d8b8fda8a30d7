"""Seeds, summarised: the one place that turns several seeds' values into a mean and an interval, and writes it.

    spread([v0, v1, ...]) -> {"n", "mean", "low", "high", "kind"}
    band(spread, ".1f") -> "61.3 (59.0–63.1)"          minmax([v0, v1, ...]) -> the same over min–max
    paired(a, b) -> the differences a_i - b_i of two arms on the same seeds, with a 95 % t-interval
    interval(paired(a, b)) -> "+1.00 (+0.75 to +1.25)"
    verdict(paired(a, b), margin) -> "held" | "reversed" | "leans" | "leans against" | "inconclusive"

The interval a claim needs: min–max for up to 3 seeds, a 95 % t-interval of the mean beyond; for a
comparison, the paired differences' t-interval, and "held" only on 3 pairs or more.
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
    half = _t95(n - 1) * sd / math.sqrt(n)
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


def _t95(df: int) -> float:
    return _T95[max(k for k in _T95 if k <= df)] if df <= 30 else 1.96


def paired(a: list[float], b: list[float]) -> dict:
    """The differences a_i - b_i of two arms run on the same seeds: their mean and its 95 % t-interval (one pair:
    no interval, low = high = the difference)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired: {len(a)} and {len(b)} values; one per seed on each side")
    d = [x - y for x, y in zip(a, b)]
    n, mean = len(d), sum(d) / len(d)
    if n == 1:
        return {"n": 1, "mean": mean, "low": mean, "high": mean, "kind": "one pair", "differences": d}
    half = _t95(n - 1) * math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1)) / math.sqrt(n)
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half, "kind": "paired 95 % t-interval",
            "differences": d}


def interval(d: dict, scale: float = 1.0, digits: int = 2) -> str:
    """"+1.00 (+0.75 to +1.25)": a paired difference's mean and interval, signed, each number scaled."""
    f = lambda v: f"{scale * v:+.{digits}f}"  # noqa: E731
    return f"{f(d['mean'])} ({f(d['low'])} to {f(d['high'])})"


def verdict(d: dict, margin: float = 0.0) -> str:
    """The decision rule for "a is ahead of b by more than margin", on paired(a, b): held when there are 3 pairs or
    more and the whole interval lies above margin; reversed when it lies below -margin; leans (or leans against)
    when the mean is past the margin but the interval is not, or there are fewer than 3 pairs; else inconclusive."""
    if d["n"] >= 3 and d["low"] > margin:
        return "held"
    if d["n"] >= 3 and d["high"] < -margin:
        return "reversed"
    if d["mean"] > margin:
        return "leans"
    if d["mean"] < -margin:
        return "leans against"
    return "inconclusive"
