"""The lecture's RNN-vs-LSTM table, reproduced: each claim beside measured numbers and a verdict.

`reproduce(profile, out)` runs (or reuses) the four measurements in `out`, then every row's
verdict is computed from the numbers by a rule written next to it (`*_row` functions, pure):
confirmed (the numbers show the claim), refined (the direction holds but the size or the
conditions differ, or the budget could not reach the claim's range: the evidence says what
was reached) or refuted (the numbers show the opposite).
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path

from benchmark.engine.store import ResultsStore
from benchmark.measurements import MEASUREMENTS, measure
from benchmark.reports import plots
from benchmark.reports.run_note import write_run_note

ORDER = ("params", "speed", "gradient-flow", "memory-span")  # cheapest first
COLUMNS = ("aspect", "claim (RNN / LSTM)", "measured RNN", "measured LSTM", "measured GRU", "verdict", "evidence")
VERDICTS = ("confirmed", "refined", "refuted")
CLAIMS = {
    "parameters": "O(h^2) / O(4h^2); GRU 3x",
    "memory": "short, 5-10 steps / long, 100+ steps",
    "gradient flow": "multiplicative, vanishes after 10-20 steps, O(lambda^T); vanishes if ||W_h||<1, explodes if >1 "
                     "/ additive cell-state highway, constant error flow",
    "training speed": "fast / slower (4x params)",
    "gradient problem": "severe / largely solved",
    "use cases": "short sequences, real-time, limited compute / long dependencies, most applications",
}
RNN_SHORT_SPAN, LSTM_LONG_SPAN = 20, 100   # "5-10 steps" (with slack) and "100+ steps"
RNN_VANISH_LAG = 30                          # "vanishes after 10-20 steps" (with slack)
SEVERE = 1e-2                                # gradient ratio counted as lost at the problem lag


def _row(aspect, rnn, lstm, gru, verdict, evidence) -> dict:
    assert verdict in VERDICTS
    return dict(zip(COLUMNS, (aspect, CLAIMS[aspect], rnn, lstm, gru, verdict, evidence)))


def _g(x, digits=3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


# --- parameters -------------------------------------------------------------------------
def parameters_row(res: dict) -> dict:
    rows = res["rows"]
    exact = all(r["measured_cudnn"] == r["closed_form"] == r["measured_scratch"] for r in rows)
    ratio = {f: [r["ratio_to_rnn"] for r in rows if r["family"] == f] for f in ("rnn", "lstm", "gru")}
    dev = max(abs(x - want) for f, want in (("lstm", 4), ("gru", 3)) for x in ratio[f])
    verdict = "confirmed" if exact and dev < 0.05 else "refined" if dev < 0.5 else "refuted"
    hs = sorted({r["hidden"] for r in rows})
    h = 128 if 128 in hs else hs[len(hs) // 2]
    at = {r["family"]: r for r in rows if r["hidden"] == h}
    cell = lambda f: f"{at[f]['measured_cudnn']:,} at h={h} ({at[f]['ratio_to_rnn']:.2f}x RNN)"  # noqa: E731
    evidence = (f"Measured counts {'equal' if exact else 'differ from'} the closed form G(h(h+x)+2h) at every "
                f"h in {hs[0]}..{hs[-1]}; LSTM/RNN {min(ratio['lstm']):.3g}-{max(ratio['lstm']):.3g}x, "
                f"GRU/RNN {min(ratio['gru']):.3g}-{max(ratio['gru']):.3g}x.")
    return _row("parameters", cell("rnn"), cell("lstm"), cell("gru"), verdict, evidence)


# --- memory -----------------------------------------------------------------------------
def memory_row(res: dict) -> dict:
    spans, s = res["spans"], res["settings"]
    rnn, lstm = spans["rnn"]["span"], spans["lstm"]["span"]
    top, budget = max(s["delays"]), s["train"]["max_steps"]

    def cell(f):
        if f not in spans:
            return "not measured"
        text = f"span {spans[f]['span']} (best acc {_g(spans[f]['best_acc'])})"
        if f"{f}-matched" in spans:
            text += f"; param-matched: span {spans[f + '-matched']['span']}"
        return text

    if lstm >= LSTM_LONG_SPAN and rnn <= RNN_SHORT_SPAN:
        verdict, why = "confirmed", f"the LSTM solved T={lstm} while the RNN's span was {rnn}"
    elif lstm > rnn:
        verdict = "refined"
        why = (f"the LSTM outlasts the RNN (span {lstm} vs {rnn}) but reached only T={lstm}"
               f"{f' (grid stops at {top})' if top < LSTM_LONG_SPAN else ''} in {budget} steps")
    elif lstm == rnn == 0:
        above = {f: spans[f]["above_chance_span"] for f in spans}
        verdict = "refined"
        why = (f"no model reached {s['solved_acc']:.0%} recall at any T in {s['delays']} within {budget} steps; "
               f"largest T above chance: " + ", ".join(f"{f} {t}" for f, t in above.items()))
    else:
        verdict, why = "refuted", f"the RNN's span ({rnn}) is at least the LSTM's ({lstm})"
    return _row("memory", cell("rnn"), cell("lstm"), cell("gru"), verdict, f"Copy task: {why}.")


# --- gradient flow ----------------------------------------------------------------------
def _gf(res, family, stage, state="h") -> dict | None:
    return next((r for r in res["rows"] if r["family"] == family and r["stage"] == stage and r["state"] == state), None)


def _lag(row) -> str:
    lag = row["lag_below_0.01"]
    return f"<1e-2 at lag {lag}" if lag is not None else f">=1e-2 up to lag {row['max_lag']}"


def sweep_summary(sweep: list[dict]) -> tuple[bool, str]:
    """(vanish below 1 and explode above 1 as claimed?, sentence)."""
    grows = lambda r: r["ratio_at_max_lag"] > 1  # noqa: E731
    below = [r for r in sweep if r["radius"] < 1]
    above = [r for r in sweep if r["radius"] > 1]
    vanish = all(not grows(r) for r in below)
    exploding = [r["radius"] for r in above if grows(r)]
    text = (f"W_hh sweep: ratio at lag {sweep[0]['max_lag']} "
            + ", ".join(f"{_g(r['ratio_at_max_lag'], 2)} (rho {r['radius']:g})" for r in sweep))
    return vanish and len(exploding) == len(above) > 0, text


def _extrapolated_lag(decay, threshold=1e-2) -> float | None:
    return math.log(threshold) / math.log(decay) if decay and 0 < decay < 1 else None


def gradient_flow_row(res: dict) -> dict:
    """Judged at initialisation: the claim is about the architecture's recurrence (lambda^T),
    before training has shaped the weights; the trained numbers go in the evidence (and the
    gradient-problem row)."""
    rnn, lstm_c, lstm_h = _gf(res, "rnn", "init"), _gf(res, "lstm", "init", "c"), _gf(res, "lstm", "init")
    gru, rnn_t, lstm_t = _gf(res, "gru", "init"), _gf(res, "rnn", "trained"), _gf(res, "lstm", "trained", "c")
    sweep_ok, sweep_text = sweep_summary(res["spectral_sweep"])
    r_lag, c_lag = rnn["lag_below_0.01"], lstm_c["lag_below_0.01"]
    r_decay, c_decay = rnn["decay_per_step"], lstm_c["decay_per_step"]
    if r_lag is None and not (r_decay and r_decay < 1):
        verdict, why = "refuted", f"the RNN's gradient did not decay over {rnn['max_lag']} lags"
    elif c_lag is not None and r_lag is not None and c_lag <= r_lag:
        verdict, why = "refuted", f"the LSTM's cell-state gradient fell below 1e-2 by lag {c_lag}, the RNN's at {r_lag}"
    elif r_lag is not None and (c_lag is None or c_lag >= 3 * r_lag) and r_lag <= RNN_VANISH_LAG and sweep_ok:
        verdict, why = "confirmed", f"the RNN's gradient fell below 1e-2 at lag {r_lag}, the LSTM's cell state {_lag(lstm_c)}"
    else:
        verdict = "refined"
        reach = r_lag if r_lag is not None else f"~{_g(_extrapolated_lag(r_decay))} (extrapolated)"
        why = (f"the RNN's gradient decays x{_g(r_decay)}/step and falls below 1e-2 at lag {reach}, "
               f"{'later than 10-20 steps' if (r_lag or math.inf) > RNN_VANISH_LAG else 'as claimed'}; the LSTM's cell "
               f"state decays x{_g(c_decay)}/step ({_lag(lstm_c)}): {'slower' if (c_decay or 0) > (r_decay or 0) else 'not slower'}, "
               f"not constant" + ("" if sweep_ok else "; explosion needs rho well above 1 (tanh saturates)"))
    cell = lambda r, extra="": f"{_lag(r)}, x{_g(r['decay_per_step'])}/step{extra}"  # noqa: E731
    trained = (f"after training on copy: RNN x{_g(rnn_t['decay_per_step'])}/step, "
               f"LSTM dC x{_g(lstm_t['decay_per_step'])}/step")
    return _row("gradient flow", cell(rnn), cell(lstm_c, f" (dC); dh {_lag(lstm_h)}"), cell(gru), verdict,
                f"At initialisation, {why}; {trained}; {sweep_text}.")


# --- training speed ---------------------------------------------------------------------
def speed_row(res: dict) -> dict:
    ok = [r for r in res["rows"] if r["status"] == "ok" and "train_time_vs_rnn" in r]
    backend = "cudnn" if any(r["backend"] == "cudnn" for r in ok) else ok[0]["backend"]
    ratio = {f: statistics.median(r["train_time_vs_rnn"] for r in ok if r["family"] == f and r["backend"] == backend)
             for f in ("rnn", "lstm", "gru")}
    tps = {f: statistics.median(r["train_tokens_per_s"] for r in ok if r["family"] == f and r["backend"] == backend)
           for f in ("rnn", "lstm", "gru")}
    scratch = [r["train_time_vs_rnn"] for r in ok if r["family"] == "lstm" and r["backend"] == "scratch"]
    r = ratio["lstm"]
    verdict = "refuted" if r < 1.1 else "refined" if r < 2 else "confirmed"
    what = {"refuted": "the LSTM trained about as fast or faster than the RNN",
            "refined": "the LSTM is slower, but far less than its 4x parameters suggest",
            "confirmed": "the LSTM trained markedly slower"}[verdict]
    evidence = (f"{backend} backend, median over the grid ({len(ok) // 3 // len({x['backend'] for x in ok})} points): "
                f"{what} ({r:.2f}x the RNN's time per batch)"
                + (f"; scratch cells: {statistics.median(scratch):.2f}x" if scratch and backend != "scratch" else "") + ".")
    cell = lambda f: f"{_g(tps[f])} tok/s ({ratio[f]:.2f}x RNN time)"  # noqa: E731
    return _row("training speed", cell("rnn"), cell("lstm"), cell("gru"), verdict, evidence)


# --- gradient problem -------------------------------------------------------------------
def gradient_problem_row(res: dict) -> dict:
    lag = res["settings"]["problem_lag"]
    key = f"ratio_at_{lag}"
    rnn, lstm, gru = _gf(res, "rnn", "trained")[key], _gf(res, "lstm", "trained", "c")[key], _gf(res, "gru", "trained")[key]
    severe, solved = rnn < SEVERE, lstm >= SEVERE and lstm >= 10 * rnn
    if severe and solved:
        verdict = "confirmed"
    elif lstm <= rnn:
        verdict = "refuted"
    else:
        verdict = "refined"
    evidence = (f"Gradient ratio {lag} steps back after training: RNN {_g(rnn, 2)} "
                f"({'lost' if severe else 'not lost'}, threshold {SEVERE:g}), LSTM cell state {_g(lstm, 2)} "
                f"({'kept' if solved else 'not kept'}), GRU {_g(gru, 2)}.")
    return _row("gradient problem", f"{_g(rnn, 2)} at lag {lag}", f"{_g(lstm, 2)} (dC) at lag {lag}",
                f"{_g(gru, 2)} at lag {lag}", verdict, evidence)


# --- use cases --------------------------------------------------------------------------
def task_results(out_dir) -> dict[str, dict[str, float]]:
    """{task: {model: test accuracy-like metric}} from the other results stores in out_dir: a matrix
    run there, not the cells the measurements trained for themselves (memory span, gradient flow)."""
    out = {}
    for path in Path(out_dir).rglob("results.jsonl"):
        if set(path.relative_to(out_dir).parts) & set(MEASUREMENTS.values()):
            continue
        for r in ResultsStore(path.parent).latest().values():
            acc = {k: v for k, v in (r.get("metrics") or {}).items() if k.startswith("test/") and "acc" in k}
            if r.get("status") == "ok" and acc:
                out.setdefault(r["task"], {})[r["model"]] = next(iter(sorted(acc.items())))[1]
    return out


def use_cases_row(memory: dict, speed: dict, tasks: dict) -> dict:
    rows = memory["rows"]
    short, long = min(memory["settings"]["delays"]), max(memory["settings"]["delays"])
    acc = {(r["model"], r["delay"]): r["recall_acc"] or 0.0 for r in rows}
    lat = {f: statistics.median(r["latency_ms"] for r in speed["rows"] if r["status"] == "ok" and r["family"] == f
                                and r["backend"] == "cudnn") for f in ("rnn", "lstm", "gru")}
    checks = {
        f"RNN competitive at short T={short}": acc[("rnn", short)] >= acc[("lstm", short)] - 0.05,
        "RNN lower streaming latency": lat["rnn"] <= lat["lstm"],
        f"LSTM better at long T={long}": acc[("lstm", long)] > acc[("rnn", long)],
    }
    held = sum(checks.values())
    verdict = "confirmed" if held == len(checks) else "refuted" if held == 0 else "refined"
    other = [f"{t}: LSTM {'>' if m['lstm'] > m['rnn'] else '<='} RNN" for t, m in sorted(tasks.items())
             if "lstm" in m and "rnn" in m]
    evidence = ("; ".join(f"{k}: {'yes' if v else 'no'}" for k, v in checks.items())
                + f"; other tasks here: {', '.join(other) if other else 'none'}.")
    cell = lambda f: f"acc T={short}: {_g(acc[(f, short)])}, T={long}: {_g(acc[(f, long)])}; {_g(lat[f])} ms/step"  # noqa: E731
    return _row("use cases", cell("rnn"), cell("lstm"), cell("gru"), verdict, evidence)


def build_table(results: dict, out_dir) -> list[dict]:
    return [parameters_row(results["params"]), memory_row(results["memory-span"]),
            gradient_flow_row(results["gradient-flow"]), speed_row(results["speed"]),
            gradient_problem_row(results["gradient-flow"]),
            use_cases_row(results["memory-span"], results["speed"], task_results(out_dir))]


# --- rendering --------------------------------------------------------------------------
def render(rows: list[dict], fmt: str, title: str = "") -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    if fmt == "md":
        lines = [f"### {title}", ""] if title else []
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(str(r[c]).replace("|", "/") for c in COLUMNS) + " |" for r in rows]
        counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
        lines += ["", "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + "."]
        return "\n".join(lines) + "\n"
    esc = lambda s: (str(s).replace("\\", "/").replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")  # noqa: E731
                     .replace("^", r"\^{}").replace("#", r"\#").replace("<", "$<$").replace(">", "$>$"))
    lines = [f"% {esc(title)}", r"\begin{tabular}{l" + "p{3cm}" * (len(COLUMNS) - 1) + "}", r"\toprule",
             " & ".join(esc(c) for c in COLUMNS) + r" \\", r"\midrule"]
    lines += [" & ".join(esc(r[c]) for c in COLUMNS) + r" \\" for r in rows]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}", ""])


def write(rows: list[dict], out_dir, title: str) -> list[Path]:
    paths = []
    for fmt, ext in (("md", "md"), ("csv", "csv"), ("latex", "tex"), ("json", "json")):
        path = Path(out_dir) / f"rnn_vs_lstm.{ext}"
        path.write_text(render(rows, fmt, title))
        paths.append(path)
    return paths


def reproduce(profile: str, out_dir) -> int:
    out = Path(out_dir)
    results = {name: measure(name, profile, out, reuse=True) for name in ORDER}
    for result in results.values():
        plots.draw(result, out / result["name"])
    rows = build_table(results, out)
    device = results["speed"]["device"]
    write(rows, out, f"RNN vs LSTM: the lecture's claims measured ({profile} profile; {device})")
    write_run_note(out, profile)
    print()
    print(render(rows, "md"))
    print(f"table: {out / 'rnn_vs_lstm.md'} (+ .csv .tex .json); report: python -m benchmark report {out}")
    return 0


def load(out_dir) -> list[dict] | None:
    path = Path(out_dir) / "rnn_vs_lstm.json"
    return json.loads(path.read_text()) if path.exists() else None


