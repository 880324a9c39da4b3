"""The statistics every verdict rests on: means with 95% t-intervals over seeds, paired
comparisons, and solved fractions with Wilson intervals.

- `summary(values)`: mean and the 95% Student-t interval over seeds, mean +- t_{0.975, n-1} * s/sqrt(n).
  One seed gives an unbounded interval (no spread can be estimated) and so never decides a rule;
  seeds that agree exactly give a zero-width one.
- `paired(a, b, op)`: seed i of one family against seed i of the other (same seed, same data),
  one value per seed (a ratio or a difference), then `summary` of those: pairing removes the
  variation the seeds share.
- `side(stat, threshold)`: "above" / "below" when the whole interval lies on one side of the
  threshold, "undecided" when it straddles it: the only way a rule turns into `confirmed` or
  `refuted`; anything else is `inconclusive`.
- `solved_fraction(flags)`: share of seeds that reached a threshold, with the Wilson score
  interval (Wilson 1927; scipy's `binomtest(...).proportion_ci(method="wilson")`), which stays
  inside [0, 1] and behaves at 0/3 and 3/3 where the normal approximation does not.
- `is_solved(flags)`: "solved" = at least two thirds of the seeds (2 of 3) reach the threshold.
"""
from __future__ import annotations

import math
import statistics
from typing import Callable, Iterable, Sequence

from scipy import stats as sstats

LEVEL = 0.95
SOLVED_SHARE = 2 / 3  # "solved at lag L": at least 2 of 3 seeds


def summary(values: Iterable[float | None]) -> dict:
    """{"mean", "ci95": [low, high], "n_seeds"} over the finite values (None and NaN are left out)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return {"mean": None, "ci95": [None, None], "n_seeds": 0}
    mean = statistics.fmean(xs)
    if n == 1:
        return {"mean": mean, "ci95": [-math.inf, math.inf], "n_seeds": 1}
    half = float(sstats.t.ppf((1 + LEVEL) / 2, n - 1)) * statistics.stdev(xs) / math.sqrt(n)
    return {"mean": mean, "ci95": [mean - half, mean + half], "n_seeds": n}


def exact(value: float) -> dict:
    """A value with no seed noise (a parameter count): zero-width interval, one 'seed'."""
    return {"mean": value, "ci95": [value, value], "n_seeds": 1}


def paired(a: Sequence[float | None], b: Sequence[float | None], op: Callable[[float, float], float]) -> dict:
    """`summary` of op(a_i, b_i) over the seeds both have (a_i, b_i not None)."""
    if len(a) != len(b):
        raise ValueError(f"paired values need one per seed on both sides: {len(a)} vs {len(b)}")
    return summary(op(x, y) for x, y in zip(a, b) if x is not None and y is not None)


def ratio(x: float, y: float) -> float:
    return x / y if y else math.nan


def difference(x: float, y: float) -> float:
    return x - y


def log10_ratio(x: float, y: float) -> float:
    return math.log10(x / y) if x > 0 and y > 0 else math.nan


def side(stat: dict, threshold: float) -> str:
    """'above', 'below' or 'undecided': where the interval lies relative to `threshold`."""
    low, high = stat["ci95"]
    if low is None or stat["n_seeds"] == 0:
        return "undecided"
    if low > threshold:
        return "above"
    if high < threshold:
        return "below"
    return "undecided"


def solved_fraction(flags: Sequence[bool]) -> dict:
    """{"solved", "n", "fraction", "wilson95": [low, high], "is_solved"} of per-seed solved flags."""
    n, k = len(flags), sum(bool(f) for f in flags)
    if n == 0:
        return {"solved": 0, "n": 0, "fraction": None, "wilson95": [0.0, 1.0], "is_solved": False}
    ci = sstats.binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="wilson")
    return {"solved": k, "n": n, "fraction": k / n, "wilson95": [float(ci.low), float(ci.high)],
            "is_solved": is_solved(flags)}


def is_solved(flags: Sequence[bool]) -> bool:
    return len(flags) > 0 and sum(bool(f) for f in flags) >= math.ceil(SOLVED_SHARE * len(flags) - 1e-9)


def largest_solved(solved_by_lag: dict[int, bool]) -> int:
    """The largest lag that is solved with every smaller lag of the grid solved too; 0 if the
    shortest is not."""
    best = 0
    for lag in sorted(solved_by_lag):
        if not solved_by_lag[lag]:
            break
        best = lag
    return best


def fmt(stat: dict, digits: int = 3) -> str:
    """'0.52 [0.41, 0.63]' (mean [95% interval]); 'n/a' without values."""
    if stat.get("mean") is None:
        return "n/a"
    low, high = stat["ci95"]
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return f"{stat['mean']:.{digits}g} (n={stat['n_seeds']}, no interval)"
    if low == high:
        return f"{stat['mean']:.{digits}g}"
    return f"{stat['mean']:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"
