"""The lecture's RNN-vs-LSTM table, reproduced: each claim beside measured numbers, an interval and a verdict.

`reproduce(profile, out)` runs (or reuses) the four measurements in `out`, every one over
seeds, then each row's verdict is computed from the numbers by a rule written next to it
(`*_row` functions, pure) and stated in the row (`rule`):

- a per-family value is a mean with a 95% t-interval over seeds (`measurements.stats`);
- a comparison between families pairs seed i of one with seed i of the other and has its
  own interval;
- `confirmed` / `refuted` only when the deciding intervals lie wholly on one side of the
  claim's threshold; `refined` when they are decided but show the claim holds only in part
  (a size, a lag, a condition); otherwise `inconclusive`, with the reason in the evidence.
  Memory and gradient rows are also inconclusive when the calibration shows the training
  budget too small for a family to learn the easiest cell: never "refined" on models that
  learned nothing.

The table is written as Markdown, CSV, LaTeX and JSON; the JSON (`schema_version` 2) has per
row `aspect`, `verdict`, `rule`, `evidence` and `values`: {family: {measure: {mean, ci95, n_seeds}}}.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from benchmark.engine.store import ResultsStore
from benchmark.measurements import MEASUREMENTS, measure, stats
from benchmark.reports import plots
from benchmark.reports.render import Table, render as render_tables
from benchmark.reports.run_note import write_run_note

SCHEMA_VERSION = 2
ORDER = ("params", "speed", "gradient-flow", "memory-span")  # cheapest first
FAMILIES = ("rnn", "lstm", "gru")
COLUMNS = ("aspect", "claim (RNN / LSTM)", "measured RNN", "measured LSTM", "measured GRU", "verdict", "rule",
           "evidence")
VERDICTS = ("confirmed", "refined", "refuted", "inconclusive")
CLAIMS = {
    "parameters": "O(h^2) / O(4h^2); GRU 3x",
    "memory": "short, 5-10 steps / long, 100+ steps",
    "gradient flow": "multiplicative, vanishes after 10-20 steps / additive cell-state highway",
    "training speed": "fast / slower (4x params)",
    "gradient problem": "severe / largely solved",
    "use cases": "short sequences, real-time, limited compute / long dependencies, most applications",
}
# Thresholds of the rules, in the claims' own terms.
RNN_SHORT_SPAN = 20     # "short, 5-10 steps": an RNN span up to 20 (the next grid lag) still agrees
LSTM_LONG_SPAN = 100    # "long, 100+ steps"
CLAIM_LAG = 20          # "vanishes after 10-20 steps": judged at lag 20
VANISHED = 1e-2         # a gradient ratio below this is lost
SLOWER = 1.0            # LSTM/RNN time per batch above this: slower
FOUR_X = 3.0            # the "4x parameters" expectation holds where LSTM/RNN time >= 3x
SHORT_TIE = 0.05        # "RNN competitive at short lags": LSTM's accuracy at most 0.05 higher


def _row(aspect, cells, verdict, rule, evidence, values) -> dict:
    assert verdict in VERDICTS, verdict
    rnn, lstm, gru = (cells.get(f, "not measured") for f in FAMILIES)
    return {**dict(zip(COLUMNS, (aspect, CLAIMS[aspect], rnn, lstm, gru, verdict, rule, evidence))),
            "values": values}


def _g(x, digits=3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def _ratio_stat(log10_stat: dict) -> dict:
    """A summary of log10 ratios as ratios: geometric mean and interval."""
    if log10_stat["mean"] is None:
        return log10_stat
    pw = lambda v: 10 ** v if v is not None and math.isfinite(v) else (0.0 if v == -math.inf else math.inf)  # noqa: E731
    return {"mean": pw(log10_stat["mean"]), "ci95": [pw(v) for v in log10_stat["ci95"]],
            "n_seeds": log10_stat["n_seeds"]}


def _log10(x):
    return math.log10(max(x, 1e-300)) if x is not None and math.isfinite(x) else None


# --- parameters -------------------------------------------------------------------------
def parameters_row(res: dict) -> dict:
    rows = res["rows"]
    exact = all(r["measured_cudnn"] == r["closed_form"] == r["measured_scratch"] for r in rows)
    ratio = {f: [r["ratio_to_rnn"] for r in rows if r["family"] == f] for f in FAMILIES}
    dev = max(abs(x - want) for f, want in (("lstm", 4), ("gru", 3)) for x in ratio[f])
    verdict = "confirmed" if exact and dev < 0.05 else "refined" if dev < 0.5 else "refuted"
    hs = sorted({r["hidden"] for r in rows})
    h = 128 if 128 in hs else hs[len(hs) // 2]
    at = {r["family"]: r for r in rows if r["hidden"] == h}
    values = {f: {f"params (h={r['hidden']})": stats.exact(r["measured_cudnn"]) for r in rows if r["family"] == f}
              for f in FAMILIES}
    for f in FAMILIES:
        values[f]["ratio to RNN"] = stats.summary(ratio[f]) if len(set(ratio[f])) > 1 else stats.exact(ratio[f][0])
    cells = {f: f"{at[f]['measured_cudnn']:,} at h={h} ({at[f]['ratio_to_rnn']:.2f}x RNN)" for f in FAMILIES}
    evidence = (f"Measured counts {'equal' if exact else 'differ from'} the closed form G(h(h+x)+2h) at every "
                f"h in {hs[0]}..{hs[-1]}; LSTM/RNN {min(ratio['lstm']):.3g}-{max(ratio['lstm']):.3g}x, "
                f"GRU/RNN {min(ratio['gru']):.3g}-{max(ratio['gru']):.3g}x. Exact counts: no seed noise.")
    rule = ("confirmed if every measured count equals the closed form and LSTM/RNN, GRU/RNN are within 0.05 of 4 "
            "and 3 at every size; refined within 0.5; refuted otherwise")
    return _row("parameters", cells, verdict, rule, evidence, values)


# --- memory -----------------------------------------------------------------------------
MEMORY_RULE = (f"per task: inconclusive if any family fails to solve the shortest lag at the budget cap "
               f"(calibration) or the paired per-seed span difference LSTM-RNN has an interval that straddles 0; "
               f"confirmed if the difference is wholly > 0, the RNN's largest lag solved (2 of 3 seeds) is "
               f"<= {RNN_SHORT_SPAN} and the LSTM's >= {LSTM_LONG_SPAN}; refined if wholly > 0 otherwise; refuted if "
               f"wholly <= 0 while the grid reaches past both spans. Row: the verdict the decided tasks share, "
               f"refined if they disagree, inconclusive if none is decided")


def memory_task_verdict(task: str, res: dict) -> tuple[str, str]:
    """(verdict, reason) of the memory claim on one task of the memory-span result."""
    spans, cal = res["spans"][task], res["calibration"][task]
    lags = sorted(int(k) for k in spans["lstm"]["per_lag"])
    if not cal["calibrated"]:
        return "inconclusive", (f"budget too small: {', '.join(cal['unsolved'])} did not solve the shortest lag "
                                f"{cal['lag']} within {cal['budget']} steps (tried {cal['tried']})")
    rnn, lstm = spans["rnn"], spans["lstm"]
    diff = stats.paired(lstm["span_per_seed"], rnn["span_per_seed"], stats.difference)
    where = stats.side(diff, 0)
    top = lags[-1]
    text = (f"largest lag solved RNN {rnn['largest_lag_solved']}, LSTM {lstm['largest_lag_solved']} "
            f"(grid {lags[0]}..{top}, budget {cal['budget']} steps); LSTM-RNN span per seed {stats.fmt(diff)}")
    if where == "above":
        if rnn["largest_lag_solved"] <= RNN_SHORT_SPAN and lstm["largest_lag_solved"] >= LSTM_LONG_SPAN:
            return "confirmed", text
        short = f"the LSTM's span stops below {LSTM_LONG_SPAN}" if lstm["largest_lag_solved"] < LSTM_LONG_SPAN else \
            f"the RNN holds more than {RNN_SHORT_SPAN} steps"
        return "refined", f"{text}: the LSTM remembers longer, but {short}"
    high = diff["ci95"][1]
    if high is not None and high <= 0:  # wholly <= 0: the LSTM's span is nowhere longer (a tie included)
        if max(rnn["largest_lag_solved"], lstm["largest_lag_solved"]) >= top:
            return "inconclusive", f"{text}: the grid stops at {top}, which both reach"
        return "refuted", f"{text}: the LSTM does not remember longer"
    return "inconclusive", f"{text}: the seeds disagree"


def memory_row(res: dict) -> dict:
    tasks = list(res["spans"])
    verdicts = {t: memory_task_verdict(t, res) for t in tasks}
    decided = {v for v, _ in verdicts.values()} - {"inconclusive"}
    verdict = "inconclusive" if not decided else decided.pop() if len(decided) == 1 else "refined"
    values, cells = {}, {}
    for f in FAMILIES:
        fam = {}
        for t in tasks:
            if f in res["spans"][t]:
                fam[f"span {t}"] = res["spans"][t][f]["span"]
                if f"{f}-matched" in res["spans"][t]:
                    fam[f"span {t} (param-matched)"] = res["spans"][t][f"{f}-matched"]["span"]
        if fam:
            values[f] = fam
            cells[f] = "; ".join(f"{t}: {res['spans'][t][f]['largest_lag_solved']} "
                                 f"(per seed {stats.fmt(res['spans'][t][f]['span'])})" for t in tasks
                                 if f in res["spans"][t])
    matched = [f"{label} {res['spans'][t][label]['largest_lag_solved']}" for t in tasks for label in res["spans"][t]
               if label.endswith("-matched")]
    evidence = " ".join(f"{t}: {v} - {why}; steps to solve (mean over the seeds that did): {_steps(res, t)}."
                        for t, (v, why) in verdicts.items())
    if matched:
        evidence += " Parameter-matched largest lag solved: " + ", ".join(matched) + "."
    return _row("memory", cells, verdict, MEMORY_RULE, evidence, values)


def _steps(res: dict, task: str) -> str:
    """Sample efficiency: per family, the mean training steps to reach the target at each solved lag."""
    parts = []
    for f in FAMILIES:
        per_lag = res["spans"][task].get(f, {}).get("per_lag", {})
        solved = [f"{lag}: {v['steps_to_solve']['mean']:.0f}" for lag, v in per_lag.items()
                  if v["is_solved"] and v["steps_to_solve"]["mean"] is not None]
        parts.append(f"{f} {', '.join(solved) if solved else 'none solved'}")
    return "; ".join(parts)


# --- gradient flow ----------------------------------------------------------------------
def gradient_stats(res: dict, stage: str, init: str, family: str, state: str, lag: int) -> tuple[list, dict]:
    """(per-seed log10 ratios in seed order, their summary) at one lag."""
    rows = sorted((r for r in res["rows"] if r["stage"] == stage and r["init"] == init and r["family"] == family
                   and r["state"] == state and str(lag) in r["ratio_at"]), key=lambda r: r["seed"])
    logs = [_log10(r["ratio_at"][str(lag)]) for r in rows]
    return logs, stats.summary(logs)


GRADIENT_RULE = (f"at initialisation, per init, at lag {CLAIM_LAG}: confirmed if the RNN's ratio interval lies "
                 f"wholly below {VANISHED:g} and the LSTM cell state's (dL/dC) wholly above; refuted if the paired "
                 f"log ratio LSTM/RNN lies wholly below 0 (the LSTM loses its gradient faster) or the RNN's ratio "
                 f"stays wholly above {VANISHED:g} at every lag measured; refined if the pair is decided in the "
                 f"LSTM's favour but a threshold is not; inconclusive otherwise. Headline: the first init listed")


def gradient_init_verdict(res: dict, init: str, rnn_init: str) -> tuple[str, str]:
    lag = CLAIM_LAG
    r_logs, r = gradient_stats(res, "init", rnn_init, "rnn", "h", lag)
    c_logs, c = gradient_stats(res, "init", init, "lstm", "c", lag)
    if not r_logs or not c_logs:
        return "inconclusive", f"no ratios at lag {lag}"
    pair = stats.paired(c_logs, r_logs, stats.difference)
    lags = sorted({int(k) for row in res["rows"] if row["stage"] == "init" for k in row["ratio_at"]})
    rnn_side = {k: stats.side(gradient_stats(res, "init", rnn_init, "rnn", "h", k)[1], math.log10(VANISHED))
                for k in lags}
    vanish = next((k for k in lags if rnn_side[k] == "below"), None)
    text = (f"RNN ratio {stats.fmt(_ratio_stat(r), 2)}, LSTM dC {stats.fmt(_ratio_stat(c), 2)}, "
            f"LSTM/RNN {stats.fmt(_ratio_stat(pair), 2)}; RNN below {VANISHED:g} from lag "
            f"{vanish if vanish is not None else f'> {lags[-1]}'}")
    threshold = math.log10(VANISHED)
    if all(v == "above" for v in rnn_side.values()) or stats.side(pair, 0) == "below":
        return "refuted", text
    if stats.side(r, threshold) == "below" and stats.side(c, threshold) == "above":
        return "confirmed", text
    if stats.side(pair, 0) == "above":
        return "refined", text
    return "inconclusive", text


def gradient_flow_row(res: dict) -> dict:
    inits = list(res["settings"]["inits"])
    default = inits[0]
    lstm_inits = [i for i in inits if any(r["init"] == i and r["family"] == "lstm" for r in res["rows"])]
    # LSTM-only inits (forget bias, chrono) are compared with the RNN at the default init.
    rnn_inits = {i for i in inits if any(r["init"] == i and r["family"] == "rnn" for r in res["rows"])}
    per_init = {i: gradient_init_verdict(res, i, i if i in rnn_inits else default) for i in lstm_inits}
    verdict, why = per_init[default]
    others = {i: v for i, (v, _) in per_init.items() if i != default}
    changes = sorted({v for v in others.values()} - {verdict})
    values = {}
    for f in FAMILIES:
        fam = {}
        for i in inits:
            for state in ("h", "c", "forget"):
                logs, s = gradient_stats(res, "init", i, f, state, CLAIM_LAG)
                if logs:
                    fam[f"ratio d{state} at lag {CLAIM_LAG} ({i})"] = _ratio_stat(s)
        if fam:
            values[f] = fam
    cells = {}
    for f in FAMILIES:
        state = "c" if f == "lstm" else "h"
        _, s = gradient_stats(res, "init", default, f, state, CLAIM_LAG)
        cells[f] = f"{stats.fmt(_ratio_stat(s), 2)} at lag {CLAIM_LAG}" + (" (dC)" if f == "lstm" else "")
        if f == "lstm":
            _, pf = gradient_stats(res, "init", default, "lstm", "forget", CLAIM_LAG)
            cells[f] += f"; prod f {stats.fmt(_ratio_stat(pf), 2)}"
    evidence = (f"At initialisation ({default}), {why}. "
                + ("Other inits: " + "; ".join(f"{i}: {v}" for i, v in others.items()) + ". " if others else "")
                + ("The verdict changes with the initialisation: " + "; ".join(
                    f"{v} under {', '.join(i for i, w in others.items() if w == v)}" for v in changes)
                   + ". A finding, not noise. " if changes else "")
                + sweep_summary(res.get("spectral_sweep") or []))
    return _row("gradient flow", cells, verdict, GRADIENT_RULE, evidence.strip(), values)


def sweep_summary(sweep: list[dict]) -> str:
    """W_hh spectral-radius sweep in one sentence: geometric mean over seeds at the largest lag."""
    if not sweep:
        return ""
    radii = sorted({r["radius"] for r in sweep})
    lag = sweep[0]["max_lag"]
    parts = []
    for rho in radii:
        s = stats.summary(_log10(r["ratio_at_max_lag"]) for r in sweep if r["radius"] == rho)
        mean = _ratio_stat(s)["mean"]
        parts.append(f"{'<1e-300' if mean is not None and mean <= 1e-299 else _g(mean, 2)} (rho {rho:g})")
    return f"W_hh sweep, RNN ratio at lag {lag}: " + ", ".join(parts) + "."


# --- training speed ---------------------------------------------------------------------
SPEED_RULE = (f"cudnn backend, LSTM/RNN training time per batch paired per seed at every grid point: confirmed "
              f"if its interval lies wholly above {SLOWER:g} at every point; refuted if wholly below at every point; "
              f"refined if decided everywhere but on both sides (depends on size); inconclusive if any point is "
              f"undecided. The 4x-parameters expectation is said to hold where the interval lies wholly above {FOUR_X:g}")


def speed_points(res: dict, backend: str, family: str) -> dict[tuple, dict]:
    """{(hidden, seq): summary of family/RNN time per seed}."""
    ok = [r for r in res["rows"] if r["status"] == "ok" and r["backend"] == backend and "train_time_vs_rnn" in r
          and r["family"] == family]
    out = {}
    for key in sorted({(r["hidden"], r["seq"]) for r in ok}):
        out[key] = stats.summary(r["train_time_vs_rnn"] for r in ok if (r["hidden"], r["seq"]) == key)
    return out


def speed_row(res: dict) -> dict:
    backends = {r["backend"] for r in res["rows"] if r["status"] == "ok"}
    backend = "cudnn" if "cudnn" in backends else sorted(backends)[0]
    points = speed_points(res, backend, "lstm")
    sides = {k: stats.side(s, SLOWER) for k, s in points.items()}
    if all(v == "above" for v in sides.values()):
        verdict = "confirmed"
    elif all(v == "below" for v in sides.values()):
        verdict = "refuted"
    elif "undecided" in sides.values():
        verdict = "inconclusive"
    else:
        verdict = "refined"
    means = [s["mean"] for s in points.values()]
    four = [f"h={h}, T={t}" for (h, t), s in points.items() if stats.side(s, FOUR_X) == "above"]
    undecided = [f"h={h}, T={t}" for (h, t), v in sides.items() if v == "undecided"]
    by_h = {}
    for (h, _), s in points.items():
        by_h.setdefault(h, []).append(s["mean"])
    trend = ", ".join(f"h={h}: {min(v):.2f}-{max(v):.2f}x" if len(v) > 1 else f"h={h}: {v[0]:.2f}x"
                      for h, v in sorted(by_h.items()))
    scratch = speed_points(res, "scratch", "lstm") if backend != "scratch" else {}
    evidence = (f"{backend} backend on {res.get('device', '?')}: LSTM/RNN time per batch {min(means):.2f}-"
                f"{max(means):.2f}x over {len(points)} grid points ({trend}); 4x holds at "
                f"{', '.join(four) if four else 'no grid point'}"
                + (f"; undecided at {', '.join(undecided)}" if undecided else "")
                + (f"; scratch cells {min(s['mean'] for s in scratch.values()):.2f}-"
                   f"{max(s['mean'] for s in scratch.values()):.2f}x" if scratch else "")
                + ". Per device: another machine may give other ratios.")
    values, cells = {}, {}
    for f in FAMILIES:
        pts = speed_points(res, backend, f)
        tps = {k: stats.summary(r["train_tokens_per_s"] for r in res["rows"] if r["status"] == "ok"
                                and r["backend"] == backend and r["family"] == f and (r["hidden"], r["seq"]) == k)
               for k in pts}
        values[f] = {**{f"time vs RNN (h={h}, T={t})": s for (h, t), s in pts.items()},
                     **{f"train tokens/s (h={h}, T={t})": s for (h, t), s in tps.items()}}
        ms = [s["mean"] for s in pts.values()]
        cells[f] = f"{min(ms):.2f}-{max(ms):.2f}x RNN time" if ms else "n/a"
    return _row("training speed", cells, verdict, SPEED_RULE, evidence, values)


# --- gradient problem -------------------------------------------------------------------
PROBLEM_RULE = (f"after training on lag recall at train_lag, at the largest judged lag <= train_lag: inconclusive "
                f"if the LSTM did not learn its task (fewer than 2 of 3 seeds at the target: budget too small); "
                f"confirmed if the RNN's ratio lies wholly below {VANISHED:g} and the LSTM's dL/dC wholly above; "
                f"refuted if the paired log ratio LSTM/RNN lies wholly below 0; refined if it lies wholly above 0 "
                f"without both thresholds; inconclusive otherwise")


def gradient_problem_row(res: dict) -> dict:
    trained = [r for r in res["rows"] if r["stage"] == "trained"]
    init = trained[0]["init"]
    lag = max(int(k) for k in trained[0]["ratio_at"])
    r_logs, r = gradient_stats(res, "trained", init, "rnn", "h", lag)
    c_logs, c = gradient_stats(res, "trained", init, "lstm", "c", lag)
    _, g = gradient_stats(res, "trained", init, "gru", "h", lag)
    pair = stats.paired(c_logs, r_logs, stats.difference)
    acc = {f: [r_["test_recall_acc"] for r_ in trained if r_["family"] == f and r_["state"] == "h"] for f in FAMILIES}
    learned = {f: stats.solved_fraction([a is not None and a >= 0.99 for a in acc[f]]) for f in FAMILIES if acc[f]}
    threshold = math.log10(VANISHED)
    text = (f"trained on lag recall at {trained[0]['train_lag']}; ratio {lag} steps back: RNN "
            f"{stats.fmt(_ratio_stat(r), 2)}, LSTM dC {stats.fmt(_ratio_stat(c), 2)}, GRU {stats.fmt(_ratio_stat(g), 2)}; "
            f"LSTM/RNN {stats.fmt(_ratio_stat(pair), 2)}; seeds that learned the task: "
            + ", ".join(f"{f} {v['solved']}/{v['n']}" for f, v in learned.items()))
    if not learned.get("lstm", {}).get("is_solved"):
        verdict, text = "inconclusive", f"budget too small: the LSTM did not learn its task; {text}"
    elif stats.side(r, threshold) == "below" and stats.side(c, threshold) == "above":
        verdict = "confirmed"
    elif stats.side(pair, 0) == "below":
        verdict = "refuted"
    elif stats.side(pair, 0) == "above":
        verdict = "refined"
    else:
        verdict = "inconclusive"
    values = {f: {f"ratio at lag {lag} (trained)": _ratio_stat(s), "task accuracy": stats.summary(acc[f])}
              for f, s in (("rnn", r), ("lstm", c), ("gru", g)) if acc[f]}
    cells = {f: f"{stats.fmt(_ratio_stat(s), 2)} at lag {lag}" + (" (dC)" if f == "lstm" else "")
             for f, s in (("rnn", r), ("lstm", c), ("gru", g))}
    return _row("gradient problem", cells, verdict, PROBLEM_RULE, text + ".", values)


# --- use cases --------------------------------------------------------------------------
USE_RULE = (f"three checks, each decided by a paired interval over seeds: RNN competitive at the shortest lag "
            f"(LSTM-RNN accuracy wholly below {SHORT_TIE}), RNN lower streaming latency (LSTM/RNN latency wholly "
            f"above 1), LSTM better at the longest lag (LSTM-RNN accuracy wholly above 0). confirmed if all hold, "
            f"refuted if all fail, inconclusive if any is undecided, refined otherwise")


def task_results(out_dir) -> dict[str, dict[str, float]]:
    """{task: {model: test accuracy-like metric}} from the other results stores in out_dir: a matrix
    run there, not the cells the measurements trained for themselves (memory span, gradient flow)
    nor those of a papers' reproduction (`reproduce papers`: other protocols, one model a row)."""
    out = {}
    for path in Path(out_dir).rglob("results.jsonl"):
        if set(path.relative_to(out_dir).parts) & set(MEASUREMENTS.values()) or (path.parent / "papers.json").exists():
            continue
        for r in ResultsStore(path.parent).latest().values():
            acc = {k: v for k, v in (r.get("metrics") or {}).items() if k.startswith("test/") and "acc" in k}
            if r.get("status") == "ok" and acc:
                out.setdefault(r["task"], {})[r["model"]] = next(iter(sorted(acc.items())))[1]
    return out


def _check(stat: dict, threshold: float, want: str) -> str:
    side = stats.side(stat, threshold)
    return "undecided" if side == "undecided" else "yes" if side == want else "no"


def use_cases_row(memory: dict, speed: dict, tasks: dict) -> dict:
    task = next(iter(memory["spans"]))  # the first memory task: lag recall
    rows = [r for r in memory["rows"] if r["task"] == task]
    lags = sorted({r["lag"] for r in rows})
    short, long = lags[0], lags[-1]

    def accs(f, lag):
        return [r["value"] for r in sorted(rows, key=lambda r: r["seed"]) if r["model"] == f and r["lag"] == lag]

    # Streaming latency (batch 1, one step) is measured once per seed and hidden size: the
    # smallest size of the grid, the setting of a real-time, low-compute use.
    ok = [r for r in speed["rows"] if r["status"] == "ok" and r["backend"] == "cudnn"]
    small = min(r["hidden"] for r in ok)
    first_seq = min(r["seq"] for r in ok)
    latency = {f: [r["latency_ms"] for r in sorted(ok, key=lambda r: r["seed"])
                   if r["family"] == f and r["hidden"] == small and r["seq"] == first_seq] for f in FAMILIES}
    short_gap = stats.paired(accs("lstm", short), accs("rnn", short), stats.difference)
    long_gap = stats.paired(accs("lstm", long), accs("rnn", long), stats.difference)
    lat = stats.paired(latency["lstm"], latency["rnn"], stats.ratio)
    checks = {f"RNN competitive at lag {short}": (_check(short_gap, SHORT_TIE, "below"), short_gap),
              "RNN lower streaming latency": (_check(lat, 1.0, "above"), lat),
              f"LSTM better at lag {long}": (_check(long_gap, 0.0, "above"), long_gap)}
    outcomes = [v for v, _ in checks.values()]
    if "undecided" in outcomes:
        verdict = "inconclusive"
    elif all(v == "yes" for v in outcomes):
        verdict = "confirmed"
    elif all(v == "no" for v in outcomes):
        verdict = "refuted"
    else:
        verdict = "refined"
    other = [f"{t}: LSTM {'>' if m['lstm'] > m['rnn'] else '<='} RNN (one run each)" for t, m in sorted(tasks.items())
             if "lstm" in m and "rnn" in m]
    evidence = ("; ".join(f"{k}: {v} ({stats.fmt(s)})" for k, (v, s) in checks.items())
                + f" ({task} task; latency in ms per step at batch 1, h={small}, cudnn); other tasks here: "
                + (", ".join(other) if other else "none") + ".")
    values = {f: {f"{task} accuracy at lag {short}": stats.summary(accs(f, short)),
                  f"{task} accuracy at lag {long}": stats.summary(accs(f, long)),
                  f"streaming latency (ms/step, h={small})": stats.summary(latency[f])} for f in FAMILIES if accs(f, short)}
    cells = {f: f"acc lag {short}: {stats.fmt(v[f'{task} accuracy at lag {short}'])}, lag {long}: "
                f"{stats.fmt(v[f'{task} accuracy at lag {long}'])}; {stats.fmt(v[f'streaming latency (ms/step, h={small})'])} ms/step"
             for f, v in values.items()}
    return _row("use cases", cells, verdict, USE_RULE, evidence, values)


def build_table(results: dict, out_dir) -> list[dict]:
    return [parameters_row(results["params"]), memory_row(results["memory-span"]),
            gradient_flow_row(results["gradient-flow"]), speed_row(results["speed"]),
            gradient_problem_row(results["gradient-flow"]),
            use_cases_row(results["memory-span"], results["speed"], task_results(out_dir))]


# --- rendering --------------------------------------------------------------------------
def document(rows: list[dict], title: str, meta: dict | None = None) -> dict:
    return _finite({"schema_version": SCHEMA_VERSION, "title": title, **(meta or {}), "rows": rows})


def _finite(x):
    """JSON has no infinity: an unbounded interval end (one seed) is written as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def frame(rows: list[dict], title: str = "", meta: dict | None = None) -> Table:
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    notes = ["Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".",
             "Values: mean [95% t-interval] over seeds; comparisons pair seed i of one family with seed i of the other."]
    caveat = (meta or {}).get("caveat")
    return Table(pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], columns=list(COLUMNS), dtype=object),
                 title=title, notes=[caveat, *notes] if caveat else notes,  # the caveat first: it qualifies every row
                 classes=[r["verdict"] for r in rows], column_format="l" + "p{3cm}" * (len(COLUMNS) - 1))


def render(rows: list[dict], fmt: str, title: str = "", meta: dict | None = None) -> str:
    if fmt == "json":
        return json.dumps(document(rows, title, meta), indent=2)
    return render_tables([frame(rows, title, meta)], fmt)


def write(rows: list[dict], out_dir, title: str, meta: dict | None = None) -> list[Path]:
    paths = []
    for fmt, ext in (("md", "md"), ("csv", "csv"), ("latex", "tex"), ("json", "json")):
        path = Path(out_dir) / f"rnn_vs_lstm.{ext}"
        path.write_text(render(rows, fmt, title, meta))
        paths.append(path)
    return paths


def meta_of(results: dict, profile: str) -> dict:
    speed = results["speed"]
    seeds = results["memory-span"]["settings"]["seeds"]
    caveat = ("Smoke profile: small models, short grids and budgets; the numbers check the pipeline and are "
              "rough. Use reference-cpu or full for verdicts to quote." if profile == "smoke" else "")
    return {"profile": profile, "seeds": seeds, "device": speed["device"], "versions": speed.get("versions"),
            "caveat": caveat}


def reproduce(profile: str, out_dir, seeds: int | None = None, overrides: dict | None = None) -> int:
    out = Path(out_dir)
    results = {name: measure(name, profile, out, reuse=True, seeds=seeds, overrides=overrides) for name in ORDER}
    for result in results.values():
        plots.draw(result, out / result["name"])
    rows = build_table(results, out)
    meta = meta_of(results, profile)
    write(rows, out, f"RNN vs LSTM: the lecture's claims measured ({profile} profile; {len(meta['seeds'])} seeds; "
                     f"{meta['device']})", meta)
    write_run_note(out, profile)
    print()
    print(render(rows, "md", meta=meta))
    print(f"table: {out / 'rnn_vs_lstm.md'} (+ .csv .tex .json); report: python -m benchmark report {out}")
    return 0


def load(out_dir) -> list[dict] | None:
    """The rows of a reproduced table (schema 2; a schema-1 file, a bare list, is read as rows too)."""
    path = Path(out_dir) / "rnn_vs_lstm.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return data["rows"] if isinstance(data, dict) else data
