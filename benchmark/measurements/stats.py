"""The statistics every verdict rests on, each chosen for the kind of data it summarises.

Values (each a dict {"mean", "ci95": [low, high], "n_seeds", "method"}; an interval never
leaves the range the quantity can take, and is never clipped into it):
- `summary`: a mean with the 95% Student-t interval, for quantities with no bound (differences).
- `log_summary`: positive quantities (times, latencies, gradient ratios) that may span decades:
  the geometric mean with a t-interval on the log scale, so the interval stays positive.
- `bounded_summary`: a mean of values with bounds (accuracies in [0, 1], spans on a grid): a
  percentile bootstrap interval, which lies inside the values' own range.
- `exact`: a count with no seed noise (zero-width interval).

Counts and times to an event:
- `wilson`: k of n with the Wilson score interval (Wilson 1927), which stays in [0, 1]
  and behaves at 0/n and n/n where the normal approximation does not.
- `kaplan_meier`: steps to solve from right-censored data (a seed that never solved within its
  budget is censored at its last step, not left out: no survivorship), through
  `scipy.stats.ecdf` on `CensoredData`; the median's interval inverts the log-log pointwise
  band of the solved fraction. A median past the last step observed is "> cap".

Tests (each two-sided, alpha 0.05; the several comparisons inside one verdict corrected by `holm`):
- `barnard`: two solved shares, Barnard's exact unconditional test (more powerful than Fisher's
  at these sizes: 10/10 against 3/10 gives p = 0.0009, Fisher 0.003).
- `logrank`: two sets of censored steps to solve.
- `sign_test`: paired continuous values (seed i of one arm against seed i of the other), the
  exact binomial test on the signs of the differences; at n seeds its smallest p is 2 / 2^n, so
  3 seeds (p >= 0.25) can never decide and 10 can (p >= 0.002).
- `falling`: the Mann-Kendall trend test (Kendall's tau between step and value, one-sided): has
  a curve fallen significantly over its last stretch?
- `detectable_share`, `detectable_signs`: the smallest effect a comparison at these sizes and
  this level can detect, for rows that stay inconclusive.
"""
from __future__ import annotations

import math
import statistics
import warnings
from typing import Iterable, Sequence

import numpy as np
from scipy import stats as sstats

LEVEL = 0.95
ALPHA = 1 - LEVEL
SOLVED_SHARE = 0.8  # "solved at lag L": at least 8 of 10 seeds (ceil(0.8 n) of n) reach the target
BOOTSTRAP_RESAMPLES = 9999


def stat(mean, low, high, n: int, method: str, **extra) -> dict:
    return {"mean": mean, "ci95": [low, high], "n_seeds": n, "method": method, **extra}


def _finite(values: Iterable) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def summary(values: Iterable[float | None]) -> dict:
    """Mean and 95% t-interval over the finite values; one value has no interval (-inf, inf)."""
    xs = _finite(values)
    n, method = len(xs), "mean, 95% t-interval"
    if n == 0:
        return stat(None, None, None, 0, method)
    mean = statistics.fmean(xs)
    if n == 1:
        return stat(mean, -math.inf, math.inf, 1, method)
    half = float(sstats.t.ppf((1 + LEVEL) / 2, n - 1)) * statistics.stdev(xs) / math.sqrt(n)
    return stat(mean, mean - half, mean + half, n, method)


def log_summary(values: Iterable[float | None]) -> dict:
    """Geometric mean of positive values with the t-interval of their logs, exponentiated.
    Zeros and negatives have no logarithm: they are left out, and counted (`not_positive`)."""
    xs = _finite(values)
    positive = [x for x in xs if x > 0]
    logs = summary(math.log(x) for x in positive)
    method = "geometric mean, 95% t-interval on the log scale"

    def back(v):
        return None if v is None else 0.0 if v == -math.inf else math.inf if v == math.inf else math.exp(v)
    out = stat(back(logs["mean"]), back(logs["ci95"][0]), back(logs["ci95"][1]), logs["n_seeds"], method)
    if len(positive) < len(xs):
        out["not_positive"] = len(xs) - len(positive)
    return out


def bounded_summary(values: Iterable[float | None]) -> dict:
    """Mean with a 95% percentile-bootstrap interval (fixed resampling seed: the same values give
    the same interval); it lies within the values' range, so within any bound they respect."""
    xs = _finite(values)
    n, method = len(xs), f"mean, 95% percentile bootstrap ({BOOTSTRAP_RESAMPLES} resamples)"
    if n == 0:
        return stat(None, None, None, 0, method)
    mean = statistics.fmean(xs)
    if n == 1:
        return stat(mean, None, None, 1, method + "; one value: no interval")
    if min(xs) == max(xs):
        return stat(mean, mean, mean, n, method)
    res = sstats.bootstrap((np.asarray(xs),), np.mean, confidence_level=LEVEL, n_resamples=BOOTSTRAP_RESAMPLES,
                           method="percentile", random_state=0)
    return stat(mean, float(res.confidence_interval.low), float(res.confidence_interval.high), n, method)


def exact(value: float) -> dict:
    """A value with no seed noise (a parameter count): zero-width interval, one 'seed'."""
    return stat(value, value, value, 1, "exact")


# --- shares -----------------------------------------------------------------------------
def wilson(k: int, n: int) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    ci = sstats.binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="wilson")
    return [float(ci.low), float(ci.high)]


def needed(n: int) -> int:
    """Seeds of n that must solve a lag for it to count as solved."""
    return math.ceil(SOLVED_SHARE * n - 1e-9)


def is_solved(k: int, n: int) -> bool:
    return n > 0 and k >= needed(n)


def largest_solved(solved_by_lag: dict[int, bool]) -> int:
    """The largest lag solved with every smaller lag of the grid solved too; 0 if the shortest is not."""
    best = 0
    for lag in sorted(solved_by_lag):
        if not solved_by_lag[lag]:
            break
        best = lag
    return best


# --- censored steps to solve ------------------------------------------------------------
def kaplan_meier(times: Sequence[float], solved: Sequence[bool]) -> dict:
    """Steps to solve from (last step, solved?) per seed: a seed that did not solve is censored
    at its last step. {"median", "ci95", "n", "events", "method", "beyond": bool, "curve"}:
    `beyond` when the median lies past the last step observed (the display is "> cap");
    `curve` is the fraction solved by each step ([steps], [fraction]), for the plots."""
    method = "Kaplan-Meier median; 95% interval from the log-log pointwise band"
    pairs = [(float(t), bool(s)) for t, s in zip(times, solved) if t is not None]
    out = {"median": None, "ci95": [None, None], "n": len(pairs), "events": sum(s for _, s in pairs),
           "method": method, "beyond": True, "curve": [[], []]}
    if not pairs:
        return out
    last = max(t for t, _ in pairs)
    data = sstats.CensoredData(uncensored=[t for t, s in pairs if s], right=[t for t, s in pairs if not s])
    cdf = sstats.ecdf(data).cdf
    steps, frac = cdf.quantiles.tolist(), cdf.probabilities.tolist()
    out["curve"] = [steps, frac]
    out["median"] = _first_reaching(steps, frac, 0.5)
    out["beyond"] = out["median"] is None
    if out["events"]:
        with warnings.catch_warnings():  # the band is undefined where every seed has solved: nan, read as open
            warnings.simplefilter("ignore", RuntimeWarning)
            band = cdf.confidence_interval(LEVEL, method="log-log")
        low_p, high_p = np.nan_to_num(band.low.probabilities, nan=0.0), np.nan_to_num(band.high.probabilities, nan=1.0)
        # The median is reached early where the upper band reaches 1/2, late where the lower one does.
        out["ci95"] = [_first_reaching(steps, high_p.tolist(), 0.5), _first_reaching(steps, low_p.tolist(), 0.5)]
    out["last_step"] = last
    return out


def _first_reaching(steps, fractions, level) -> float | None:
    return next((t for t, f in zip(steps, fractions) if f >= level - 1e-12), None)


def logrank(a: tuple[Sequence, Sequence], b: tuple[Sequence, Sequence]) -> dict:
    """Log-rank test of two sets of (times, solved flags). {"p", "faster": "a" | "b" | None}."""
    def data(times, solved):
        return sstats.CensoredData(uncensored=[t for t, s in zip(times, solved) if s],
                                   right=[t for t, s in zip(times, solved) if not s])
    if not (any(a[1]) or any(b[1])):
        return {"p": 1.0, "faster": None}
    res = sstats.logrank(data(*a), data(*b))
    # scipy's statistic is negative when the first sample's survival is the larger (it solves later).
    faster = None if not math.isfinite(res.statistic) or res.statistic == 0 else "b" if res.statistic < 0 else "a"
    return {"p": float(res.pvalue) if math.isfinite(res.pvalue) else 1.0, "faster": faster}


# --- tests ------------------------------------------------------------------------------
def barnard(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p of Barnard's exact test that two shares are equal (1.0 when both are 0/n or n/n)."""
    if n1 == 0 or n2 == 0 or (k1 + k2) in (0, n1 + n2):
        return 1.0
    return float(sstats.barnard_exact([[k1, k2], [n1 - k1, n2 - k2]]).pvalue)


def holm(pvalues: dict) -> dict:
    """Holm's step-down adjusted p-values (Holm 1979): the k-th smallest times (m - k + 1),
    made monotone and capped at 1. Reject where adjusted p < ALPHA: family-wise error <= ALPHA."""
    order = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, out = len(order), 0.0, {}
    for i, key in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[key]))
        out[key] = running
    return out


def sign_test(differences: Iterable[float | None]) -> dict:
    """Exact two-sided sign test that the median difference is 0; ties (0) are dropped.
    {"p", "above": count > 0, "below": count < 0, "n"}."""
    xs = _finite(differences)
    above, below = sum(x > 0 for x in xs), sum(x < 0 for x in xs)
    p = float(sstats.binomtest(above, above + below).pvalue) if above + below else 1.0
    return {"p": p, "above": above, "below": below, "n": len(xs)}


def falling(steps: Sequence[float], values: Sequence[float]) -> float:
    """One-sided p of the Mann-Kendall test that `values` fall with `steps` (1.0 with < 3 points)."""
    pts = [(s, v) for s, v in zip(steps, values) if v is not None and math.isfinite(v)]
    if len(pts) < 3 or len({v for _, v in pts}) < 2:
        return 1.0
    res = sstats.kendalltau([s for s, _ in pts], [v for _, v in pts], alternative="less")
    return float(res.pvalue) if math.isfinite(res.pvalue) else 1.0


def detectable_share(n1: int, n2: int, level: float = ALPHA) -> int | None:
    """The largest k2 such that n1/n1 against k2/n2 is significant at `level` (Barnard): the
    smallest gap in solved shares these sizes can detect is n1/n1 vs k2/n2; None when even
    n1/n1 vs 0/n2 is not."""
    for k2 in range(n2, -1, -1):
        if barnard(n1, n1, k2, n2) < level:
            return k2
    return None


def detectable_signs(n: int, level: float = ALPHA) -> int | None:
    """The fewest of n paired seeds that must agree in sign for the sign test to reach `level`;
    None when even n of n cannot."""
    for k in range(math.ceil(n / 2), n + 1):
        if sstats.binomtest(k, n).pvalue < level:
            return k
    return None


# --- display ----------------------------------------------------------------------------
def fmt(value: dict, digits: int = 3) -> str:
    """'0.52 [0.41, 0.63]' (value [95% interval]); 'n/a' without values."""
    if value.get("mean") is None:
        return "n/a"
    low, high = value["ci95"]
    g = lambda x: f"{x:.{digits}g}"  # noqa: E731
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return f"{g(value['mean'])} (n={value['n_seeds']}, no interval)"
    if low == high:
        return g(value["mean"])
    return f"{g(value['mean'])} [{g(low)}, {g(high)}]"


def fmt_steps(km: dict) -> str:
    """A censored median of steps: '450 [300, 800]', '> 2000' past the cap."""
    if km["n"] == 0:
        return "n/a"
    if km["beyond"]:
        return f"> {km.get('last_step', 0):.0f}"
    low, high = km["ci95"]
    # An open end: the band does not reach 1/2 within the steps observed ("1500+": at or past the last step).
    return (f"{km['median']:.0f} [{'0' if low is None else f'{low:.0f}'}, "
            f"{format(km.get('last_step', 0), '.0f') + '+' if high is None else f'{high:.0f}'}]")
