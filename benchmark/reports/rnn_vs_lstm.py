"""The lecture's RNN-vs-LSTM table, reproduced: each claim beside measured numbers and a verdict.

`reproduce(profile, out)` runs (or reuses) the four measurements in `out`, every one over
seeds, then each row's verdict is computed from the numbers by a rule written next to it
(`*_row` functions, pure, with the rule in the row's `rule`):

- arms, not just families: memory and gradient rows compare `lstm` with both `rnn` and
  `rnn-matched` (the RNN widened to the LSTM's parameters); `lstm-chrono` gets the same verdict
  beside it (where the two disagree, the row says so: a finding); the GRU arms are reported;
- every arm's learning rate comes from the same search (memory_span.tune), listed in `tuning`;
- solved shares are compared by Barnard's exact test, paired continuous values (per seed) by
  the sign test, the several comparisons of one row corrected together by Holm's method;
- `confirmed` / `refuted` only when the tests decide; `refined` when they decide that the claim
  holds in part; `inconclusive` otherwise, with what would decide it (budget, seeds, grid) and
  the smallest effect the seeds used could have detected. A budget-limited lag (memory_span)
  can neither confirm nor refute.

Output: `rnn_vs_lstm.md` opens with the answer card (one line per aspect: claim, verdict, one
sentence of at most 160 characters), then the detail (values per arm, rule, full evidence),
the arms and the tuning table; `.json` (`schema_version` 3) holds everything, `.csv` and `.tex`
the detail table.
"""
from __future__ import annotations

import json
import math
import textwrap
import time
from pathlib import Path

import pandas as pd
from scipy.stats import binomtest

from benchmark import families
from benchmark.engine.environment import code_commit
from benchmark.engine.store import ResultsStore
from benchmark.measurements import MEASUREMENTS, measure, stats
from benchmark.measurements import settings as measurement_settings
from benchmark.reports import plots
from benchmark.reports.render import Table, render as render_tables
from benchmark.reports.run_note import write_run_note

SCHEMA_VERSION = 3
ORDER = ("params", "speed", "memory-span", "gradient-flow")  # cheapest first; gradient flow reads memory span's cells
LECTURE = ("rnn", "lstm", "gru")  # the families the lecture's claims name; other families get columns, not verdicts
ARMS = ("rnn", "rnn-matched", "lstm", "lstm-chrono", "gru", "gru-matched")  # the arms the rules compare
VERDICTS = ("confirmed", "refined", "refuted", "inconclusive")
CARD_COLUMNS = ("aspect", "claim (RNN / LSTM)", "verdict", "evidence")
CARD_MAX = 160  # characters of an answer-card sentence
CLAIMS = {
    "parameters": "O(h^2) / O(4h^2); GRU 3x",
    "memory": "short, 5-10 steps / long, 100+ steps",
    "gradient flow": "multiplicative, vanishes after 10-20 steps / additive cell-state highway",
    "training speed": "fast / slower",
    "gradient problem": "severe / largely solved",
    "use cases": "short sequences, real-time, limited compute / long dependencies",
}
# Thresholds of the rules, in the claims' own terms (committed before the reference run).
ALPHA = stats.ALPHA     # family-wise error of one row's tests (Holm)
RNN_SHORT_SPAN = 20     # "short, 5-10 steps": an RNN span up to 20 (the next grid lag) still agrees
LSTM_LONG_SPAN = 100    # "long, 100+ steps"
CLAIM_LAG = 20          # "vanishes after 10-20 steps": judged at lag 20
VANISHED = 1e-2         # a gradient ratio below this is lost
SLOWER = 1.0            # LSTM/RNN time per batch above this: slower
FOUR_X = 3.0            # the "4x parameters" expectation holds where LSTM/RNN time is significantly >= 3x
SHORT_TIE = 0.05        # "RNN competitive": accuracy within 0.05 of the LSTM's (equivalence margin)
LSTMS = ("lstm", "lstm-chrono")
RNNS = ("rnn", "rnn-matched")


def _row(aspect, verdict, summary, rule, evidence, values, cells=None, **detail) -> dict:
    """A row of the table. An inconclusive row's evidence ends with what would decide it (a cap,
    seeds, a longer grid) and the smallest effect its seeds could have detected."""
    assert verdict in VERDICTS, verdict
    if verdict == "inconclusive" and detail.get("would_decide"):
        evidence = f"{evidence} Would decide it: {detail['would_decide']}."
    if len(summary) > CARD_MAX:  # the card is read in a terminal: one line, never a paragraph
        summary = textwrap.shorten(summary, CARD_MAX, placeholder="...")
    return {"aspect": aspect, "claim": CLAIMS[aspect], "verdict": verdict, "summary": summary, "rule": rule,
            "evidence": evidence, "values": values, "cells": cells or {}, **detail}


def _g(x, digits=2) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def _log(x):
    return math.log(x) if x is not None and x > 0 and math.isfinite(x) else None


def _decided(test: dict) -> str | None:
    """'above' / 'below' when a test's Holm-adjusted p is below ALPHA, else None."""
    return test["direction"] if test["p_holm"] < ALPHA else None


def _holm(tests: list[dict]) -> list[dict]:
    adjusted = stats.holm({i: t["p"] for i, t in enumerate(tests)})
    for i, t in enumerate(tests):
        t["p_holm"] = adjusted[i]
    return tests


# --- parameters -------------------------------------------------------------------------
PARAMETERS_RULE = ("exact counts: confirmed if every measured count equals the closed form and LSTM/RNN, GRU/RNN are "
                   "within 0.05 of 4 and 3 at every size; refined within 0.5; refuted otherwise")


def parameters_row(res: dict, arm_list: list[dict] | None = None) -> dict:
    rows = res["rows"]
    exact = all(r["measured_cudnn"] == r["closed_form"] == r["measured_scratch"] for r in rows)
    present = measured_families(rows)
    ratio = {f: [r["ratio_to_rnn"] for r in rows if r["family"] == f] for f in present}
    dev = max(abs(x - want) for f, want in (("lstm", 4), ("gru", 3)) for x in ratio[f])
    verdict = "confirmed" if exact and dev < 0.05 else "refined" if dev < 0.5 else "refuted"
    hs = sorted({r["hidden"] for r in rows})
    h = 128 if 128 in hs else hs[len(hs) // 2]
    at = {r["family"]: r for r in rows if r["hidden"] == h}
    values = {f: {f"params (h={r['hidden']})": stats.exact(r["measured_cudnn"]) for r in rows if r["family"] == f}
              for f in present}
    for f in present:
        values[f]["ratio to RNN"] = stats.exact(ratio[f][0]) if len(set(ratio[f])) == 1 else \
            stats.stat(sum(ratio[f]) / len(ratio[f]), min(ratio[f]), max(ratio[f]), len(ratio[f]), "range over sizes")
    cells = {f: f"{at[f]['measured_cudnn']:,} at h={h} ({at[f]['ratio_to_rnn']:.2f}x RNN)" for f in present}
    for arm in arm_list or []:  # the memory arms as built, their own width
        cells.setdefault(arm["name"], f"{arm['params']:,} at h={arm['hidden']} (memory arm)")
    span = f"{min(ratio['lstm']):.3g}-{max(ratio['lstm']):.3g}x" if len(set(ratio["lstm"])) > 1 else f"{ratio['lstm'][0]:.2f}x"
    summary = (f"LSTM/RNN {span}, GRU/RNN {min(ratio['gru']):.3g}x at every h in {hs[0]}-{hs[-1]}; measured counts "
               f"{'equal' if exact else 'differ from'} the closed form")
    evidence = (f"Measured counts {'equal' if exact else 'differ from'} the closed form G(h(h+x)+2h) at every "
                f"h in {hs[0]}..{hs[-1]} on both backends; LSTM/RNN {min(ratio['lstm']):.3g}-{max(ratio['lstm']):.3g}x, "
                f"GRU/RNN {min(ratio['gru']):.3g}-{max(ratio['gru']):.3g}x. Exact counts: no seed noise.")
    return _row("parameters", verdict, summary, PARAMETERS_RULE, evidence, values, cells)


# --- memory -----------------------------------------------------------------------------
MEMORY_RULE = (f"On lag recall. Span: the largest lag solved by >= {stats.SOLVED_SHARE:.0%} of seeds with every "
               f"shorter lag solved; it ends at a real failure, at a budget-limited lag (a lower bound) or at the end "
               f"of the grid. Solved shares of lstm and lstm-chrono are compared with rnn and rnn-matched at every lag "
               f"(Barnard's exact test, Holm over all of them); a difference counts only where the losing arm is not "
               f"budget-limited. LSTM longer than X: it wins somewhere and loses nowhere; equal: the same span (> 0), both "
               f"ended by real failures, no difference. confirmed: rnn span <= {RNN_SHORT_SPAN} (ended by a real failure), "
               f"lstm span >= {LSTM_LONG_SPAN}, and longer than both rnn and rnn-matched; refuted: shorter than either, "
               f"or equal to rnn; refined: longer than rnn with a threshold or rnn-matched not met; inconclusive "
               f"when a part is undecided. lstm-chrono gets the same verdict beside it")


def _ends_at_most(s: dict, limit: int) -> bool | None:
    if s["span"] > limit:
        return False
    return True if s["end"] == "failure" else None


def _reaches(s: dict, limit: int) -> bool | None:
    if s["span"] >= limit:
        return True
    return False if s["end"] == "failure" else None


def share_tests(spans: dict, pairs) -> list[dict]:
    """Barnard's test of the solved shares of (a, b) at every lag, Holm-adjusted together."""
    tests = []
    for a, b in pairs:
        for lag in sorted(spans[a]["lags"], key=int):
            x, y = spans[a]["lags"][lag], spans[b]["lags"][lag]
            p = stats.barnard(x["solved"], x["n"], y["solved"], y["n"])
            diff = x["solved"] / max(1, x["n"]) - y["solved"] / max(1, y["n"])
            tests.append({"test": "Barnard", "a": a, "b": b, "lag": int(lag), "p": p,
                          "direction": "above" if diff > 0 else "below" if diff < 0 else None,
                          "a_solved": f"{x['solved']}/{x['n']}", "b_solved": f"{y['solved']}/{y['n']}"})
    return _holm(tests)


def compare_spans(spans: dict, a: str, b: str, tests: list[dict]) -> tuple[str | None, str]:
    """("longer" | "shorter" | "equal" | None, why) of arm a's memory against arm b's."""
    mine = [t for t in tests if t["a"] == a and t["b"] == b]
    wins = [t["lag"] for t in mine if _decided(t) == "above" and not spans[b]["lags"][str(t["lag"])]["budget_limited"]]
    losses = [t["lag"] for t in mine if _decided(t) == "below" and not spans[a]["lags"][str(t["lag"])]["budget_limited"]]
    if wins and not losses:
        return "longer", f"{a} solves more than {b} at lag {', '.join(map(str, wins))}"
    if losses and not wins:
        return "shorter", f"{a} solves less than {b} at lag {', '.join(map(str, losses))}"
    if wins and losses:
        return None, f"{a} solves more than {b} at lag {wins} but less at {losses}"
    if spans[a]["span"] == spans[b]["span"] > 0 and spans[a]["end"] == spans[b]["end"] == "failure":
        return "equal", f"{a} and {b} both span {spans[a]['span']}, both fail at lag {spans[a]['first_failure']}"
    return None, f"no solved share of {a} and {b} differs significantly"


def memory_parts(spans: dict, lstm: str, tests: list[dict]) -> dict:
    return {"rnn short": _ends_at_most(spans["rnn"], RNN_SHORT_SPAN), "lstm long": _reaches(spans[lstm], LSTM_LONG_SPAN),
            **{f"vs {b}": compare_spans(spans, lstm, b, tests) for b in RNNS}}


def memory_verdict(parts: dict) -> str:
    comparisons = [parts[f"vs {b}"][0] for b in RNNS]
    if "shorter" in comparisons or comparisons[0] == "equal":  # nowhere longer than the plain RNN
        return "refuted"
    if parts["rnn short"] and parts["lstm long"] and comparisons == ["longer", "longer"]:
        return "confirmed"
    if None in (parts["rnn short"], parts["lstm long"], *comparisons):
        return "inconclusive"
    return "refined" if comparisons[0] == "longer" else "refuted"


def _span_text(s: dict) -> str:
    end = {"failure": f"fails at {s['first_failure']}", "budget": f">= {s['span']}, {s['first_failure']} budget-limited",
           "grid": f"every lag solved (>= {s['span']})"}[s["end"]]
    return f"{s['span']} ({end})"


def memory_row(memory: dict) -> dict:
    task = "recall" if "recall" in memory["spans"] else next(iter(memory["spans"]))
    spans = memory["spans"][task]
    arms = [a for a in ARMS if a in spans]
    lags = sorted(int(k) for k in spans["lstm"]["lags"])
    tests = share_tests(spans, [(a, b) for a in LSTMS if a in spans for b in RNNS])
    verdicts, reasons = {}, {}
    for lstm in (a for a in LSTMS if a in spans):
        parts = memory_parts(spans, lstm, tests)
        verdicts[lstm] = memory_verdict(parts)
        reasons[lstm] = parts
    verdict = verdicts["lstm"]
    n = spans["lstm"]["lags"][str(lags[0])]["n"]
    gap = stats.detectable_share(n, n, ALPHA / max(1, len(tests)))
    detect = (f"at {n} seeds an arm and Holm's first level {ALPHA:g}/{len(tests)}, the smallest detectable gap in solved "
              f"share is {n}/{n} vs {gap}/{n}" if gap is not None else
              f"at {n} seeds an arm no gap in solved share can reach Holm's first level {ALPHA:g}/{len(tests)}")
    decide = _memory_needs(spans, reasons["lstm"], gap, n, lags)
    parts = reasons["lstm"]
    summary = (f"span RNN {spans['rnn']['span']}, matched {spans['rnn-matched']['span']}, LSTM {spans['lstm']['span']}"
               + (f", chrono {spans['lstm-chrono']['span']}" if "lstm-chrono" in spans else "")
               + (f", GRU {spans['gru']['span']}" if "gru" in spans else "") + "; " + _short_reason(parts, verdict))
    evidence = (f"Lag recall, grid {lags[0]}..{lags[-1]}, {n} seeds an arm, each arm at its tuned rate. Spans: "
                + "; ".join(f"{a} {_span_text(spans[a])}" for a in arms) + ". "
                + " ".join(f"{lstm}: {v} ({'; '.join(why for _, why in (reasons[lstm][f'vs {b}'] for b in RNNS))}; "
                           f"rnn span <= {RNN_SHORT_SPAN}: {_yn(reasons[lstm]['rnn short'])}, {lstm} span >= "
                           f"{LSTM_LONG_SPAN}: {_yn(reasons[lstm]['lstm long'])})." for lstm, v in verdicts.items())
                + (f" lstm and lstm-chrono disagree ({verdicts['lstm']} vs {verdicts['lstm-chrono']}): the initialisation "
                   f"decides the LSTM's span here, a finding." if len(set(verdicts.values())) > 1 else "")
                + f" Budget-limited: {_limited(spans, arms)}. Steps to solve (Kaplan-Meier median [95%]): "
                + _steps(spans, arms, lags) + f". {detect[0].upper()}{detect[1:]}.")
    values = {a: {"lags": {lag: _lag_value(v) for lag, v in spans[a]["lags"].items()}, "span": spans[a]["span_per_seed"]}
              for a in arms}
    for a in arms:
        for lag in (lags[0], lags[-1]):
            values[a][f"test accuracy at lag {lag}"] = spans[a]["lags"][str(lag)]["value"]
    cells = {a: f"span {_span_text(spans[a])}; solved " + ", ".join(
        f"{lag}: {spans[a]['lags'][str(lag)]['solved']}/{spans[a]['lags'][str(lag)]['n']}" for lag in lags) for a in arms}
    return _row("memory", verdict, summary, MEMORY_RULE, evidence, values, cells, tests=tests,
                arm_verdicts=verdicts, spans={a: {k: spans[a][k] for k in ("span", "first_failure", "bound", "end")}
                                              for a in arms}, would_decide=decide if verdict == "inconclusive" else "")


def _yn(x) -> str:
    return "undecided" if x is None else "yes" if x else "no"


def _short_reason(parts: dict, verdict: str) -> str:
    vs = parts["vs rnn"]
    if verdict == "confirmed":
        return vs[1]
    if verdict == "inconclusive":
        undecided = [k for k, v in parts.items() if (v[0] if isinstance(v, tuple) else v) is None]
        return "undecided: " + ", ".join(undecided)
    return vs[1]


def _memory_needs(spans, parts, gap, n, lags) -> str:
    needs = []
    for arm in ("rnn", "lstm", "rnn-matched"):
        s = spans[arm]
        if s["end"] == "budget":
            needs.append(f"a larger cap at lag {s['first_failure']} ({arm}: "
                         f"{spans[arm]['lags'][str(s['first_failure'])]['budget_limited_why']})")
        elif s["end"] == "grid" and arm != "lstm":
            needs.append(f"a grid past lag {lags[-1]} ({arm} solves every lag of this one; reference-gpu and full reach "
                         f"further)")
    if any(parts[f"vs {b}"][0] is None for b in RNNS):
        needs.append(f"more seeds (the gaps seen are below what {n} seeds detect{'' if gap is None else f': {n}/{n} vs {gap}/{n}'})")
    return "; ".join(dict.fromkeys(needs)) or "more seeds"


def _limited(spans, arms) -> str:
    out = [f"{a} at {lag} ({v['budget_limited_why']})" for a in arms for lag, v in spans[a]["lags"].items()
           if v["budget_limited"]]
    return "; ".join(out) if out else "no lag"


def _steps(spans, arms, lags) -> str:
    return "; ".join(f"{a} " + ", ".join(f"{lag}: {stats.fmt_steps(spans[a]['lags'][str(lag)]['steps_to_solve'])}"
                                         for lag in lags) for a in arms)


def _lag_value(v: dict) -> dict:
    """A lag's result as the JSON keeps it (the curve of the Kaplan-Meier estimate left to the plots)."""
    return {**{k: v[k] for k in ("solved", "n", "wilson", "censored", "still_improving", "failed", "budget_limited",
                                  "budget_limited_why", "cap", "rerun")},
            "steps_to_solve": {k: x for k, x in v["steps_to_solve"].items() if k != "curve"}}


# --- gradient flow ----------------------------------------------------------------------
GRADIENT_RULE = (f"At initialisation, every arm at its own init, ratio ||dL/dx(T-k)|| / ||dL/dx(T)|| at k = "
                 f"{CLAIM_LAG}, per seed, on the log scale; sign tests (Holm over the row): the rnn arms' ratio against "
                 f"{VANISHED:g} (vanished), lstm's against {VANISHED:g}, lstm against rnn and rnn-matched paired by seed. "
                 f"confirmed: both rnn arms below {VANISHED:g}, lstm above it and above both; refuted: lstm below either "
                 f"rnn arm; refined: lstm above both with a threshold not met; inconclusive when a test is undecided. "
                 f"The same rule under the other inits, for lstm-chrono, and on trained models that solved the lag "
                 f"(memory-span cells) is reported beside")


def _ratios(gf: dict, stage: str, init: str, arm: str, lag: int) -> dict[int, float]:
    """{seed: ratio at lag}."""
    if stage == "init":
        return {r["seed"]: r["ratio_at"][str(lag)] for r in gf["rows"] if r["stage"] == "init" and r["init"] == init
                and r["arm"] == arm and str(lag) in r["ratio_at"]}
    return {r["seed"]: r["ratio"] for r in gf["rows"] if r["stage"] == "trained" and r["arm"] == arm
            and r["k"] == lag and r["solved"]}


def _sign(name: str, a: dict, b: dict | float) -> dict:
    """Sign test of log a - log b per seed (b a threshold or paired values by seed)."""
    if isinstance(b, dict):
        diffs = [_log(a[s]) - _log(b[s]) for s in a if s in b and _log(a[s]) is not None and _log(b[s]) is not None]
    else:
        diffs = [_log(v) - math.log(b) for v in a.values() if _log(v) is not None]
    t = stats.sign_test(diffs)
    return {"test": "sign", "name": name, "p": t["p"], "n": t["n"], "above_count": t["above"], "below_count": t["below"],
            "direction": "above" if t["above"] > t["below"] else "below" if t["below"] > t["above"] else None}


def gradient_tests(gf: dict, stage: str, init: str, lag: int, lstms=("lstm",), rnns=RNNS) -> list[dict]:
    """The row's sign tests; an init that applies to the LSTM only (a forget bias) is compared with
    the RNN at its own init."""
    got = {a: _ratios(gf, stage, init, a, lag) or _ratios(gf, stage, "own", a, lag) for a in rnns}
    got.update({a: _ratios(gf, stage, init, a, lag) for a in lstms})
    tests = [_sign(f"{a} vs {VANISHED:g}", got[a], VANISHED) for a in rnns if got[a]]
    for lstm in lstms:
        if got[lstm]:
            tests.append(_sign(f"{lstm} vs {VANISHED:g}", got[lstm], VANISHED))
            tests += [_sign(f"{lstm} vs {a}", got[lstm], got[a]) for a in rnns if got[a]]
    return _holm(tests)


def gradient_verdict(tests: list[dict], lstm: str = "lstm") -> tuple[str, dict]:
    by = {t["name"]: _decided(t) for t in tests}
    rnns = [n.split(" vs ")[0] for n in by if n.endswith(f"vs {VANISHED:g}") and not n.startswith("lstm")]
    if not rnns or f"{lstm} vs {VANISHED:g}" not in by:
        return "inconclusive", {"why": "no ratios"}
    vanish = [by[f"{a} vs {VANISHED:g}"] for a in rnns]
    keeps = by[f"{lstm} vs {VANISHED:g}"]
    more = [by.get(f"{lstm} vs {a}") for a in rnns]
    parts = {"rnn vanishes": _all(vanish, "below"), "lstm keeps": _is(keeps, "above"), "lstm more": _all(more, "above")}
    if "below" in more:
        return "refuted", parts
    if all(parts.values()):
        return "confirmed", parts
    if None in parts.values():
        return "inconclusive", parts
    return ("refined" if parts["lstm more"] else "refuted"), parts


def _is(decision, want) -> bool | None:
    return None if decision is None else decision == want


def _all(decisions, want) -> bool | None:
    if any(d is not None and d != want for d in decisions):
        return False
    return None if None in decisions else True


def gradient_flow_row(gf: dict) -> dict:
    lags = sorted(gf["settings"]["lags"])
    lag = CLAIM_LAG if CLAIM_LAG in lags else min(lags, key=lambda k: abs(k - CLAIM_LAG))
    arms = [a for a in ARMS if any(r["arm"] == a and r["stage"] == "init" and r["init"] == "own" for r in gf["rows"])]
    tests = gradient_tests(gf, "init", "own", lag, lstms=tuple(a for a in LSTMS if a in arms))
    verdict, parts = gradient_verdict(tests)
    others = {"lstm-chrono": gradient_verdict(tests, "lstm-chrono")[0]} if "lstm-chrono" in arms else {}
    for init in dict.fromkeys(r["init"] for r in gf["rows"] if r["stage"] == "init" and r["init"] != "own"):
        if any(r["arm"] == "lstm" for r in gf["rows"] if r["stage"] == "init" and r["init"] == init):
            others[f"init {init}"] = gradient_verdict(gradient_tests(gf, "init", init, lag, rnns=("rnn",)))[0]
    trained_tests = gradient_tests(gf, "trained", "own", lag)
    trained_n = {a: len(_ratios(gf, "trained", "own", a, lag)) for a in ("rnn", "rnn-matched", "lstm")}
    if min(trained_n.values()) >= 1:
        others["trained"] = gradient_verdict(trained_tests)[0]
    geo = {a: stats.log_summary(_ratios(gf, "init", "own", a, lag).values()) for a in arms}
    forget = _forget(gf, "init", lag)
    n = max((t["n"] for t in tests), default=0)
    need = stats.detectable_signs(n, ALPHA / max(1, len(tests))) if n else None
    detect = (f"at {n} seeds a sign test reaches Holm's first level {ALPHA:g}/{len(tests)} only when {need} of {n} "
              f"seeds agree" if need else f"at {n} seeds no sign test can reach Holm's first level {ALPHA:g}/{len(tests)}")
    changes = {k: v for k, v in others.items() if v != verdict}
    summary = (f"at init, lag {lag}: " + ", ".join(f"{_label(a)} {_g(geo[a]['mean'])}" for a in arms if geo[a]["mean"] is not None)
               + f" (geo. mean); " + _gradient_reason(parts, verdict))
    evidence = (f"Ratio of the input gradient {lag} steps before the recall step to the one at it, at initialisation "
                f"(geometric mean [95%] over seeds): " + "; ".join(f"{a} {stats.fmt(geo[a], 2)}" for a in arms)
                + ". Tests: " + "; ".join(f"{t['name']}: {t['above_count']} above, {t['below_count']} below, "
                                          f"{_p(t['p_holm'])} (Holm)" for t in tests) + "."
                + (f" LSTM prod f over {lag} steps, per unit: " + "; ".join(
                    f"{a} median {_g(v['median'])}, top decile {_g(v['p90'])}" for a, v in forget.items()) + "." if forget else "")
                + " Beside it: " + (", ".join(f"{k}: {v}" for k, v in others.items()) or "nothing") + "."
                + (" The verdict changes under " + ", ".join(changes) + ": a finding, not noise." if changes else "")
                + f" Trained models that solved lag {lag} (memory-span cells): "
                + ", ".join(f"{a} {k}" for a, k in trained_n.items()) + f". {detect[0].upper()}{detect[1:]}. "
                + sweep_summary(gf.get("spectral_sweep") or []))
    values = {a: {f"ratio at lag {k} (init)": stats.log_summary(_ratios(gf, "init", "own", a, k).values())
                  for k in lags} for a in arms}
    for init in dict.fromkeys(r["init"] for r in gf["rows"] if r["stage"] == "init" and r["init"] != "own"):
        for a in arms:
            got = _ratios(gf, "init", init, a, lag)
            if got:
                values[a][f"ratio at lag {lag} (init {init})"] = stats.log_summary(got.values())
    trained = {a: stats.log_summary(_ratios(gf, "trained", "own", a, lag).values()) for a in arms}
    cells = {a: f"{stats.fmt(geo[a], 2)} at lag {lag} (init); trained, solved: {stats.fmt(trained[a], 2)}"
             + (f"; prod f median {_g(forget[a]['median'])}, top decile {_g(forget[a]['p90'])}" if a in forget else "")
             for a in arms}
    return _row("gradient flow", verdict, summary, GRADIENT_RULE, evidence.strip(), values, cells, tests=tests,
                beside=others, trained={a: trained[a] for a in arms},
                trained_tests=trained_tests, would_decide=(f"more seeds ({detect})" if verdict == "inconclusive" else ""))


def _label(arm: str) -> str:
    return {"rnn": "RNN", "rnn-matched": "matched", "lstm": "LSTM", "lstm-chrono": "chrono", "gru": "GRU",
            "gru-matched": "GRU-m"}.get(arm, arm)


def _gradient_reason(parts, verdict) -> str:
    if verdict == "inconclusive":
        return "undecided: " + ", ".join(k for k, v in parts.items() if v is None)
    return ", ".join(f"{k}: {_yn(v)}" for k, v in parts.items())


def _forget(gf, stage, lag) -> dict:
    out = {}
    for arm in LSTMS:
        spreads = [r["forget_at"][str(lag)] for r in gf["rows"] if r["stage"] == stage and r["arm"] == arm
                   and r["init"] == "own" and (r.get("forget_at") or {}).get(str(lag))]
        if spreads:
            out[arm] = {q: math.exp(sum(math.log(max(s[q], 1e-300)) for s in spreads) / len(spreads)) for q in ("median", "p90")}
    return out


def sweep_summary(sweep: list[dict]) -> str:
    """W_hh spectral-radius sweep in one sentence: geometric mean over seeds at the largest lag."""
    if not sweep:
        return ""
    radii = sorted({r["radius"] for r in sweep})
    lag = sweep[0]["max_lag"]
    parts = []
    for rho in radii:
        mean = stats.log_summary(r["ratio_at_max_lag"] for r in sweep if r["radius"] == rho)["mean"]
        parts.append(f"{'<1e-300' if mean is None or mean <= 1e-299 else _g(mean)} (rho {rho:g})")
    return f"W_hh sweep, RNN ratio at lag {lag}: " + ", ".join(parts) + "."


# --- training speed ---------------------------------------------------------------------
SPEED_RULE = (f"cudnn backend, LSTM/RNN training time per batch paired per seed at every grid point, sign test on the "
              f"log ratio (Holm over the points): confirmed if the LSTM is significantly slower (> {SLOWER:g}x) at every "
              f"point; refuted if significantly faster at every point; refined if decided everywhere but on both sides; "
              f"inconclusive if any point is undecided. Beside it: time to solve (Kaplan-Meier median steps x the "
              f"step time measured alone) at the largest lag both solve, compared by a log-rank test")


def speed_points(res: dict, backend: str, family: str, key: str = "train_time_vs_rnn") -> dict[tuple, dict[int, float]]:
    """{(hidden, seq): {seed: value}}."""
    ok = [r for r in res["rows"] if r["status"] == "ok" and r["backend"] == backend and key in r and r["family"] == family]
    out = {}
    for r in ok:
        out.setdefault((r["hidden"], r["seq"]), {})[r["seed"]] = r[key]
    return dict(sorted(out.items()))


def time_to_solve(memory: dict | None) -> dict | None:
    """At the largest lag both rnn and lstm solve: per arm the censored median steps to solve times
    the step time measured alone, and a log-rank test of the two arms' times."""
    if not memory or "recall" not in memory.get("spans", {}):
        return None
    spans = memory["spans"]["recall"]
    lag = min(spans["rnn"]["span"], spans["lstm"]["span"])
    if lag == 0:
        return None
    step = memory["step_time_s"]["recall"]
    out = {"lag": lag}
    samples = {}
    for arm in ("rnn", "lstm", "gru"):
        rows = [r for r in memory["rows"] if r["kind"] == "grid" and r["arm"] == arm and r["lag"] == lag
                and r["status"] == "ok"]
        per_step = step[arm][str(lag)]
        samples[arm] = ([r["steps"] * per_step for r in rows], [r["solved"] for r in rows])
        km = stats.kaplan_meier(*samples[arm])
        out[arm] = {"median_s": km["median"], "ci95_s": km["ci95"], "step_s": per_step,
                    "median_steps": spans[arm]["lags"][str(lag)]["steps_to_solve"]["median"]}
    out["logrank"] = stats.logrank(samples["lstm"], samples["rnn"])  # "a" = lstm
    return out


def speed_row(res: dict, memory: dict | None = None) -> dict:
    backends = {r["backend"] for r in res["rows"] if r["status"] == "ok"}
    backend = "cudnn" if "cudnn" in backends else sorted(backends)[0]
    points = speed_points(res, backend, "lstm")
    tests = _holm([{**_sign(f"h={h}, T={t}", v, SLOWER), "point": [h, t]} for (h, t), v in points.items()])
    sides = [_decided(t) for t in tests]
    if sides and all(s == "above" for s in sides):
        verdict = "confirmed"
    elif sides and all(s == "below" for s in sides):
        verdict = "refuted"
    elif not sides or None in sides:
        verdict = "inconclusive"
    else:
        verdict = "refined"
    ratios = {k: stats.log_summary(v.values()) for k, v in points.items()}
    four = [f"h={h}" for (h, _), v in points.items()
            if _decided(_holm([_sign("4x", v, FOUR_X)])[0]) == "above"]
    solve = time_to_solve(memory)
    n = max((t["n"] for t in tests), default=0)
    need = stats.detectable_signs(n, ALPHA / max(1, len(tests))) if n else None
    solve_text = ""
    if solve:
        lr = solve["logrank"]
        faster = {"a": "the LSTM", "b": "the RNN", None: "neither"}[lr["faster"] if lr["p"] < ALPHA else None]
        solve_text = (f" Time to solve lag {solve['lag']} (median steps x step time alone): "
                      + ", ".join(f"{a} {_g(solve[a]['median_s'], 3)} s ({_g(solve[a]['median_steps'], 4)} steps x "
                                  f"{solve[a]['step_s'] * 1e3:.3g} ms)" for a in ("rnn", "lstm", "gru"))
                      + f"; log-rank LSTM vs RNN {_p(lr['p'])}: {faster} solves sooner in wall time.")
    means = [s["mean"] for s in ratios.values() if s["mean"]]
    summary = (f"LSTM/RNN time per batch {min(means):.2f}-{max(means):.2f}x over {len(points)} sizes ({backend}, "
               f"{res.get('accelerator', 'cpu')}); " + ("slower at every size" if verdict == "confirmed" else
                                                         f"{sum(s == 'above' for s in sides)} of {len(sides)} sizes decided slower")
               if means else "no speed points")
    if solve and solve["lstm"]["median_s"] and solve["rnn"]["median_s"]:
        summary += f"; time to solve lag {solve['lag']}: {solve['lstm']['median_s'] / solve['rnn']['median_s']:.2g}x"
    evidence = (f"{backend} backend on {res.get('device', '?')}, LSTM/RNN time per batch (geometric mean [95%] over "
                f"{n} seeds): " + "; ".join(f"h={h}, T={t}: {stats.fmt(s, 3)}" for (h, t), s in ratios.items())
                + ". Sign tests (Holm): " + "; ".join(f"{t['name']} {t['above_count']}/{t['n']} slower, {_p(t['p_holm'])}"
                                                     for t in tests)
                + f". Significantly >= {FOUR_X:g}x (the 4x-parameters expectation) at: {', '.join(four) or 'no size'}."
                + solve_text + (f" At {n} seeds a point is decided only when {need} of {n} agree."
                                if need else f" At {n} seeds no point can be decided.")
                + " Per device: another machine may give other ratios.")
    values = {}
    present = measured_families(res["rows"])
    for f in present:
        pts = speed_points(res, backend, f)
        tps = speed_points(res, backend, f, "train_tokens_per_s")
        values[f] = {**{f"time per batch vs RNN (h={h}, T={t})": stats.log_summary(v.values()) for (h, t), v in pts.items()},
                     **{f"train tokens/s (h={h}, T={t})": stats.log_summary(v.values()) for (h, t), v in tps.items()}}
    cells = {}
    for f in present:
        ms = [s["mean"] for s in (stats.log_summary(v.values()) for v in speed_points(res, backend, f).values()) if s["mean"]]
        cells[f] = f"{min(ms):.2f}-{max(ms):.2f}x RNN time per batch" if ms else "n/a"
        if solve and f in solve and solve[f]["median_s"]:
            cells[f] += f"; solves lag {solve['lag']} in {_g(solve[f]['median_s'], 3)} s"
    return _row("training speed", verdict, summary, SPEED_RULE, evidence, values, cells, tests=tests, time_to_solve=solve,
                would_decide=(f"more seeds or repeats at the undecided sizes "
                              f"({', '.join(t['name'] for t in tests if _decided(t) is None)}; "
                              + (f"at {n} seeds a size is decided only when {need} of {n} agree)" if need else
                                 f"no size can be decided at {n} seeds)") if verdict == "inconclusive" else ""))


# --- gradient problem -------------------------------------------------------------------
PROBLEM_RULE = (f"From training outcomes (the memory row's solved-share tests) and the trained models' gradients. "
                f"Severe for the RNN: at some lag both rnn and rnn-matched solve significantly less than lstm while "
                f"their failure there is not budget-limited (a trained RNN at chance on a lag the budget does not limit "
                f"is evidence); not severe: no such lag and both rnn arms span at least as far as lstm, which solves "
                f"some lag. Largely solved: "
                f"lstm spans >= {LSTM_LONG_SPAN}. confirmed: severe and solved; refined: severe, not solved; refuted: "
                f"not severe; inconclusive otherwise")


def gradient_problem_row(memory: dict, gf: dict | None = None) -> dict:
    spans = memory["spans"]["recall" if "recall" in memory["spans"] else next(iter(memory["spans"]))]
    tests = share_tests(spans, [(a, b) for a in LSTMS if a in spans for b in RNNS])
    lags = sorted(int(k) for k in spans["lstm"]["lags"])
    hard = [lag for lag in lags if all(
        any(t["a"] == "lstm" and t["b"] == b and t["lag"] == lag and _decided(t) == "above" for t in tests)
        and not spans[b]["lags"][str(lag)]["budget_limited"] for b in RNNS)]
    if hard:
        severe = True
    elif spans["lstm"]["span"] > 0 and all(spans[b]["span"] >= spans["lstm"]["span"] for b in RNNS) and not any(
            t["a"] == "lstm" and _decided(t) == "above" for t in tests):
        severe = False
    else:
        severe = None
    solved = _reaches(spans["lstm"], LSTM_LONG_SPAN)
    if severe is False:
        verdict = "refuted"
    elif severe and solved:
        verdict = "confirmed"
    elif severe and solved is False:
        verdict = "refined"
    else:
        verdict = "inconclusive"
    at = hard[0] if hard else spans["rnn"]["first_failure"]
    grad = _trained_at(gf, at) if gf and at else {}
    grad_text = ("; ".join(f"{a} {v['text']}" for a, v in grad.items()) if grad else "not measured at this lag")
    summary = (f"lag {at}: RNN {_share(spans, 'rnn', at)}, matched {_share(spans, 'rnn-matched', at)}, LSTM "
               f"{_share(spans, 'lstm', at)} solved" if at else "no lag where the RNN fails") + \
              f"; LSTM span {spans['lstm']['span']}" + (f"; {_short_grad(grad)}" if grad else "")
    evidence = (f"Lags where both rnn arms solve significantly less than lstm, not budget-limited: "
                f"{', '.join(map(str, hard)) or 'none'}. LSTM span {_span_text(spans['lstm'])}. Trained input-gradient "
                f"ratio at lag {at} (memory-span cells; geometric mean over models): {grad_text}. "
                f"Severe for the RNN: {_yn(severe)}; largely solved by the LSTM: {_yn(solved)}.")
    values = {a: {f"test accuracy at lag {lag}": spans[a]["lags"][str(lag)]["value"] for lag in lags} for a in ARMS if a in spans}
    cells = {a: ", ".join(f"{lag}: {_share(spans, a, lag)}" for lag in lags) for a in ARMS if a in spans}
    n = spans["lstm"]["lags"][str(lags[0])]["n"]
    gap = stats.detectable_share(n, n, ALPHA / max(1, len(tests)))
    detect = (f"the smallest gap in solved share {n} seeds an arm detect at Holm's first level is {n}/{n} vs {gap}/{n}"
              if gap is not None else f"no gap in solved share is detectable at {n} seeds an arm")
    return _row("gradient problem", verdict, summary, PROBLEM_RULE, evidence, values, cells, tests=tests,
                trained_gradient=grad,
                would_decide=(f"{_memory_needs(spans, memory_parts(spans, 'lstm', tests), gap, n, lags)}; {detect}"
                              if verdict == "inconclusive" else ""))


def _share(spans, arm, lag) -> str:
    v = spans[arm]["lags"].get(str(lag))
    return f"{v['solved']}/{v['n']}" if v else "n/a"


def _trained_at(gf: dict, lag: int) -> dict:
    out = {}
    for arm in ("rnn", "rnn-matched", "lstm", "lstm-chrono"):
        rows = [r for r in gf["rows"] if r["stage"] == "trained" and r["arm"] == arm and r["k"] == lag]
        for solved in (True, False):
            mine = [r["ratio"] for r in rows if r["solved"] == solved]
            if mine:
                s = stats.log_summary(mine)
                out.setdefault(arm, {"text": ""})
                out[arm][("solved" if solved else "unsolved")] = s
        if arm in out:
            out[arm]["text"] = ", ".join(f"{k} {_g(out[arm][k]['mean'])} (n={out[arm][k]['n_seeds']})"
                                         for k in ("solved", "unsolved") if k in out[arm])
    return out


def _short_grad(grad: dict) -> str:
    """'trained ratio: RNN 0.0004 unsolved, 3 solved; LSTM 4.1 solved' (the RNN and LSTM arms)."""
    parts = []
    for arm in ("rnn", "lstm"):
        if arm in grad:
            parts.append(f"{_label(arm)} " + ", ".join(f"{_g(grad[arm][k]['mean'])} {k}" for k in ("unsolved", "solved")
                                                       if k in grad[arm]))
    return "trained ratio: " + "; ".join(parts) if parts else ""


# --- use cases --------------------------------------------------------------------------
USE_RULE = (f"Three checks, each dropped from the verdict (with the reason) when the seeds used cannot decide it, "
            f"the rest Holm-corrected: RNN competitive at the shortest lag (LSTM-RNN test accuracy within "
            f"{SHORT_TIE} per seed: two one-sided sign tests, an equivalence test); RNN lower streaming latency "
            f"(sign test of LSTM/RNN latency at the smallest size); LSTM better at the longest lag (Barnard's test of "
            f"solved shares). confirmed if all kept checks hold, refuted if none does, inconclusive if any is "
            f"undecided or none is kept, refined otherwise")


def _one_sided(k: int, n: int) -> float:
    """p of k or more of n seeds on one side when each side is as likely (a one-sided sign test)."""
    return float(binomtest(k, n, alternative="greater").pvalue) if n else 1.0


def task_results(out_dir) -> dict[str, dict[str, float]]:
    """{task: {model: test accuracy-like metric}} from the other results stores in out_dir: a matrix
    run there, not the cells the measurements trained for themselves, nor those of a papers'
    reproduction (`reproduce papers`: other protocols, one model a row)."""
    out = {}
    for path in Path(out_dir).rglob("results.jsonl"):
        if set(path.relative_to(out_dir).parts) & set(MEASUREMENTS.values()) or (path.parent / "papers.json").exists():
            continue
        for r in ResultsStore(path.parent).latest().values():
            acc = {k: v for k, v in (r.get("metrics") or {}).items() if k.startswith("test/") and "acc" in k}
            if r.get("status") == "ok" and acc:
                out.setdefault(r["task"], {})[r["model"]] = next(iter(sorted(acc.items())))[1]
    return out


def use_cases_row(memory: dict, speed: dict, tasks: dict) -> dict:
    task = "recall" if "recall" in memory["spans"] else next(iter(memory["spans"]))
    spans = memory["spans"][task]
    rows = [r for r in memory["rows"] if r["kind"] == "grid" and r["task"] == task]
    lags = sorted({r["lag"] for r in rows})
    short, long = lags[0], lags[-1]

    def accs(arm, lag):
        return {r["seed"]: r["value"] for r in rows if r["arm"] == arm and r["lag"] == lag and r["value"] is not None}

    ok = [r for r in speed["rows"] if r["status"] == "ok" and r["backend"] == "cudnn"]
    small = min(r["hidden"] for r in ok)
    first_seq = min(r["seq"] for r in ok)
    latency = {f: {r["seed"]: r["latency_ms"] for r in ok if r["family"] == f and r["hidden"] == small
                   and r["seq"] == first_seq} for f in LECTURE}
    a, b = accs("lstm", short), accs("rnn", short)
    diffs = [a[s] - b[s] for s in a if s in b]
    n_eq = len(diffs)
    p_eq = max(_one_sided(sum(d < SHORT_TIE for d in diffs), n_eq), _one_sided(sum(d > -SHORT_TIE for d in diffs), n_eq))
    p_worse = _one_sided(sum(d > SHORT_TIE for d in diffs), n_eq)
    lat = _sign("latency", latency["lstm"], latency["rnn"])
    x, y = spans["lstm"]["lags"][str(long)], spans["rnn"]["lags"][str(long)]
    p_long = stats.barnard(x["solved"], x["n"], y["solved"], y["n"])
    checks = {
        f"RNN competitive at lag {short}": {"p": min(p_eq, p_worse), "kind": "equivalence",
                                            "outcome": "yes" if p_eq <= p_worse else "no", "n": n_eq,
                                            "text": f"LSTM-RNN accuracy {stats.fmt(stats.summary(diffs), 2)}"},
        "RNN lower streaming latency": {"p": lat["p"], "kind": "sign", "n": lat["n"],
                                        "outcome": "yes" if lat["direction"] == "above" else "no",
                                        "text": f"LSTM/RNN {stats.fmt(stats.log_summary(latency['lstm'][s] / latency['rnn'][s] for s in latency['lstm'] if s in latency['rnn']), 2)} at h={small}"},
        f"LSTM better at lag {long}": {"p": p_long, "kind": "Barnard", "n": x["n"],
                                       "outcome": "yes" if x["solved"] / max(1, x["n"]) > y["solved"] / max(1, y["n"]) else "no",
                                       "text": f"solved LSTM {x['solved']}/{x['n']}, RNN {y['solved']}/{y['n']}"},
    }
    if x["solved"] == y["solved"] == x["n"] == y["n"]:  # both solve it: the LSTM is not better there
        checks[f"LSTM better at lag {long}"].update(p=0.0, outcome="no", text=checks[f"LSTM better at lag {long}"]["text"]
                                                    + " (both solve it)")
    kept = {}
    for name, c in checks.items():
        best = _best_p(c["kind"], c["n"])
        if best >= ALPHA / len(checks):
            c["dropped"] = f"cannot decide at {c['n']} seeds (smallest attainable p {best:.2g} >= {ALPHA:g}/{len(checks)})"
        else:
            kept[name] = c
    adjusted = stats.holm({k: c["p"] for k, c in kept.items()})
    for k, c in kept.items():
        c["p_holm"] = adjusted[k]
        c["decided"] = c["outcome"] if c["p_holm"] < ALPHA else "undecided"
    outcomes = [c["decided"] for c in kept.values()]
    if not outcomes or "undecided" in outcomes:
        verdict = "inconclusive"
    elif all(o == "yes" for o in outcomes):
        verdict = "confirmed"
    elif all(o == "no" for o in outcomes):
        verdict = "refuted"
    else:
        verdict = "refined"
    other = [f"{t}: LSTM {'>' if m['lstm'] > m['rnn'] else '<='} RNN (one run each)" for t, m in sorted(tasks.items())
             if "lstm" in m and "rnn" in m]
    summary = "; ".join(f"{k}: {c.get('decided', 'dropped')}" for k, c in checks.items())
    evidence = ("; ".join(f"{k}: {c.get('decided', 'dropped: ' + c.get('dropped', ''))} ({c['text']}"
                          + (f", {_p(c['p_holm'])} Holm" if 'p_holm' in c else "") + ")" for k, c in checks.items())
                + f" ({task} task; latency in ms per step at batch 1, h={small}, cudnn); other tasks here (context, not "
                  f"evidence): " + (", ".join(other) if other else "none") + ".")
    values = {}
    for arm in ARMS:
        if arm in spans:
            values[arm] = {f"{task} accuracy at lag {short}": spans[arm]["lags"][str(short)]["value"],
                           f"{task} accuracy at lag {long}": spans[arm]["lags"][str(long)]["value"]}
    for f in LECTURE:
        if latency[f]:
            values.setdefault(f, {})[f"streaming latency (ms/step, h={small})"] = stats.log_summary(latency[f].values())
    cells = {arm: f"acc lag {short}: {stats.fmt(v[f'{task} accuracy at lag {short}'])}, lag {long}: "
                  f"{stats.fmt(v[f'{task} accuracy at lag {long}'])}" for arm, v in values.items() if f"{task} accuracy at lag {short}" in v}
    for f in LECTURE:
        if f in cells and latency[f]:
            cells[f] += f"; {stats.fmt(values[f][f'streaming latency (ms/step, h={small})'])} ms/step"
    open_checks = [f"{k} ({c.get('dropped') or _needs(c)})" for k, c in checks.items()
                   if c.get("decided", "undecided") == "undecided"]
    return _row("use cases", verdict, summary, USE_RULE, evidence, values, cells, checks=checks,
                would_decide=("more seeds for " + "; ".join(open_checks) if verdict == "inconclusive" and open_checks
                              else "a check the seeds can decide" if verdict == "inconclusive" else ""))


def _needs(check: dict) -> str:
    """The smallest effect a kept check could detect at its seeds and Holm's first level."""
    n, level = check["n"], ALPHA / 3
    if check["kind"] == "Barnard":
        gap = stats.detectable_share(n, n, level)
        return f"{n} seeds detect {n}/{n} vs {gap}/{n}" if gap is not None else f"{n} seeds detect no gap"
    k = stats.detectable_signs(n, level)
    return f"{n} seeds decide only when {k} of {n} agree" if k else f"{n} seeds cannot decide it"


def _best_p(kind: str, n: int) -> float:
    """The smallest p a check of this kind can reach at n seeds."""
    if n == 0:
        return 1.0
    if kind == "equivalence":
        return 0.5 ** n
    if kind == "sign":
        return min(1.0, 2 * 0.5 ** n)
    return stats.barnard(n, n, 0, n)


def build_table(results: dict, out_dir) -> list[dict]:
    memory = results["memory-span"]
    return [parameters_row(results["params"], memory.get("arms")), memory_row(memory),
            gradient_flow_row(results["gradient-flow"]), speed_row(results["speed"], memory),
            gradient_problem_row(memory, results["gradient-flow"]),
            use_cases_row(memory, results["speed"], task_results(out_dir))]


# --- what a profile can decide ----------------------------------------------------------
def decidable(n: int, lags: int, points: int) -> dict[str, str]:
    """Per row, whether its tests can reach significance at n seeds (before anything runs)."""
    share = stats.detectable_share(n, n, ALPHA / (4 * lags))
    signs = stats.detectable_signs(n, ALPHA / 8)
    speed = stats.detectable_signs(n, ALPHA / max(1, points))
    yes = "can decide"
    return {"parameters": yes + " (exact counts)",
            "memory": f"{yes} (a gap of {n}/{n} vs {share}/{n})" if share is not None else
            f"cannot: {n} vs {n} seeds never reach Holm's level {ALPHA:g}/{4 * lags}",
            "gradient flow": f"{yes} ({signs} of {n} seeds agreeing)" if signs else f"cannot: a sign test at {n} seeds",
            "training speed": f"{yes} ({speed} of {n} seeds agreeing)" if speed else f"cannot: a sign test at {n} seeds",
            "gradient problem": f"{yes} (as memory)" if share is not None else "cannot: as memory",
            "use cases": yes if n >= 7 else f"only the checks its {n} seeds can reach (the others are dropped)"}


# --- rendering --------------------------------------------------------------------------
def document(rows: list[dict], title: str, meta: dict | None = None) -> dict:
    return _finite({"schema_version": SCHEMA_VERSION, "title": title, **(meta or {}), "rows": rows})


def _finite(x):
    """JSON has no infinity: an unbounded interval end (one seed) is written as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def card(rows: list[dict], title: str = "", meta: dict | None = None) -> Table:
    meta = meta or {}
    notes = [n for n in (meta.get("caveat"),) if n]
    if meta.get("decidable") and any(not v.startswith("can decide") for v in meta["decidable"].values()):
        notes.append(f"At {len(meta.get('seeds') or [])} seeds: " + "; ".join(
            f"{k} {v}" for k, v in meta["decidable"].items()) + ".")
    notes.append("Verdicts: " + ", ".join(f"{sum(r['verdict'] == v for r in rows)} {v}" for v in VERDICTS)
                 + f". Rules and thresholds: commit {meta.get('rules_commit') or 'unknown'}"
                 + (f"; wall time {meta['wall_s'] / 60:.1f} min" if meta.get("wall_s") else "") + ".")
    frame = pd.DataFrame([{"aspect": r["aspect"], "claim (RNN / LSTM)": r["claim"], "verdict": r["verdict"],
                           "evidence": r["summary"]} for r in rows], columns=list(CARD_COLUMNS), dtype=object)
    return Table(frame, title=title or "Answer card", notes=notes, classes=[r["verdict"] for r in rows],
                 column_format="lp{4cm}lp{8cm}")


def detail(rows: list[dict]) -> Table:
    # the rules' arms, then any other column a row fills (a family outside the lecture, an arm configured beside)
    extra = [a for r in rows for a in r["cells"] if a not in ARMS]
    columns = ["aspect", "claim (RNN / LSTM)", *ARMS, *dict.fromkeys(extra), "verdict", "rule", "evidence"]
    frame = pd.DataFrame([{"aspect": r["aspect"], "claim (RNN / LSTM)": r["claim"],
                           **{a: r["cells"].get(a, "") for a in columns[2:-3]}, "verdict": r["verdict"], "rule": r["rule"],
                           "evidence": r["evidence"]} for r in rows], columns=columns, dtype=object)
    return Table(frame, title="Detail: values per arm, rule and full evidence",
                 notes=["Values: geometric means (ratios, times) or means (accuracies) with 95% intervals on the scale "
                        "that keeps them in range; solved shares k/n; spans by the rule. Each arm at its tuned rate."],
                 classes=[r["verdict"] for r in rows], column_format="l" + "p{2.2cm}" * (len(columns) - 1))


def measured_families(rows: list[dict]) -> list[str]:
    """The families a measurement's rows hold, in the registry's order (the lecture's first)."""
    seen = {r["family"] for r in rows}
    return [f for f in families.families() if f in seen] + sorted(seen - set(families.families()))


def arms_table(meta: dict) -> Table | None:
    arms = meta.get("arms") or []
    if not arms:
        return None
    order = {name: i for i, name in enumerate(ARMS)}
    arms = sorted(arms, key=lambda a: (str(a.get("task")), order.get(a["name"], len(order)), a["name"]))
    frame = pd.DataFrame([{"arm": a["name"], "family": a["family"], "hidden": a["hidden"], "parameters": a["params"],
                           "init": a["init"] + ("" if a.get("forget_bias") is None else f", forget bias {a['forget_bias']:g}"),
                           "task": a.get("task"), "lr (tuned)": f"{a['lr']:g}",
                           "note": "best rate at the edge of the extended grid" if a.get("at_edge") else ""} for a in arms])
    return Table(frame, title="Arms: each at the rate its tuning chose")


def tuning_table(meta: dict) -> Table | None:
    rows = meta.get("tuning") or []
    if not rows:
        return None
    frame = pd.DataFrame([{"arm": r["arm"], "task": r["task"], "lag": r["lag"], "lr": f"{r['lr']:g}", "steps": r["steps"],
                           "seeds": ", ".join(map(str, r["seeds"])), "solved": f"{r['solved']}/{r['n']}",
                           "median steps to solve": stats.fmt_steps(r["steps_to_solve"]),
                           "final val loss": r["final_val_loss"], "chosen": "yes" if r["chosen"] else ""} for r in rows])
    return Table(frame, title="Tuning: every arm, every rate, the same steps, seeds apart from the measurement's",
                 notes=["Criterion: solved share, then the censored median of steps to solve, then the final "
                        "validation loss."])


def tables(rows: list[dict], title: str = "", meta: dict | None = None) -> list[Table]:
    meta = meta or {}
    return [t for t in (card(rows, title, meta), detail(rows), arms_table(meta), tuning_table(meta)) if t is not None]


def render(rows: list[dict], fmt: str, title: str = "", meta: dict | None = None) -> str:
    if fmt == "json":
        return json.dumps(document(rows, title, meta), indent=2)
    if fmt == "csv":  # one table: the detail, with the card's sentence
        frame = detail(rows).frame.assign(summary=[r["summary"] for r in rows])
        return frame.to_csv(index=False)
    return render_tables(tables(rows, title, meta), fmt)


def write(rows: list[dict], out_dir, title: str, meta: dict | None = None) -> list[Path]:
    paths = []
    for fmt, ext in (("md", "md"), ("csv", "csv"), ("latex", "tex"), ("json", "json")):
        path = Path(out_dir) / f"rnn_vs_lstm.{ext}"
        path.write_text(render(rows, fmt, title, meta))
        paths.append(path)
    return paths


def meta_of(results: dict, profile: str, table_s: float = 0.0) -> dict:
    """The document's top level. `wall_s`: the measurements' own wall times (each from the run that
    made it; a memory span resumed in parts counts its last part) plus this table's."""
    speed, memory = results["speed"], results["memory-span"]
    spent = {name: r.get("wall_s") for name, r in results.items()}
    n = len(memory["settings"]["seeds"])
    caveat = (f"Smoke profile: small models, short grids and budgets, {n} seeds: the numbers check the pipeline and "
              f"its comparisons cannot reach significance. Use reference-cpu (10 seeds) for verdicts to quote."
              if profile == "smoke" else "")
    return {"profile": profile, "seeds": memory["settings"]["seeds"], "device": speed["device"],
            "versions": speed.get("versions"), "caveat": caveat, "arms": memory.get("arms", []),
            "tuning": memory.get("tuning", []), "rules_commit": code_commit(),
            "measured_with": {name: r.get("code_commit") for name, r in results.items()},
            "wall_s": round(sum(v for v in spent.values() if v) + table_s, 1), "measurement_wall_s": spent,
            "decidable": decidable_of(memory["settings"], speed["settings"])}


def decidable_of(memory: dict, speed: dict) -> dict:
    lags = max(len(v) for v in memory["tasks"].values() if v)
    return decidable(len(memory["seeds"]), lags, len(speed["hidden"]) * len(speed["seq"]))


def announce(profile: str, seeds: int | None, overrides: dict | None) -> None:
    """Before anything runs: what this profile's seeds can decide."""
    memory = measurement_settings.load(profile, "memory_span", seeds, overrides)
    speed = measurement_settings.load(profile, "speed", seeds, overrides)
    print(f"reproduce: profile {profile}, {len(memory['seeds'])} seeds; what these seeds can decide:")
    for aspect, text in decidable_of(memory, speed).items():
        print(f"  {aspect:<17} {text}")


def reproduce(profile: str, out_dir, seeds: int | None = None, overrides: dict | None = None, tracking=None) -> int:
    """`tracking`: a planned W&B Tracking (`reproduce --wandb`): the trained cells log to it and
    a summary run holds the answer card, the detail table and every figure."""
    out = Path(out_dir)
    announce(profile, seeds, overrides)
    results = {name: measure(name, profile, out, reuse=True, seeds=seeds, overrides=overrides, tracking=tracking)
               for name in ORDER}
    start = time.perf_counter()
    for result in results.values():
        plots.draw(result, out / result["name"])
    rows = build_table(results, out)
    meta = meta_of(results, profile, time.perf_counter() - start)
    n = len(meta["seeds"])
    title = f"Answer card: the lecture's RNN-vs-LSTM claims measured ({profile} profile; {n} seeds; {meta['device']})"
    write(rows, out, title, meta)
    write_run_note(out, profile)
    print()
    print(render_tables([card(rows, title, meta)], "md"))
    print(f"table: {out / 'rnn_vs_lstm.md'} (card, detail, arms, tuning; + .csv .tex .json); "
          f"report: python -m benchmark report {out}")
    if tracking is not None and tracking.enabled:
        from benchmark.reports.wandb_summary import frame_of, log_summary
        log_summary(tracking, "reproduce", {"table/answer_card": frame_of(card(rows, title, meta).frame),
                                            "table/detail": frame_of(pd.DataFrame(rows))}, {})
    return 0


def load(out_dir) -> dict | None:
    """The reproduced table's document ({"rows", "arms", "tuning", ...}); a schema-1 or 2 file
    (a bare list, or rows without a summary) is read as rows too."""
    path = Path(out_dir) / "rnn_vs_lstm.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {"rows": data}
