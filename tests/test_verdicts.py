"""The statistics and every branch of every verdict rule of `reproduce rnn-vs-lstm`, on
measurement results built by hand (no training): confirmed, refined, refuted and inconclusive;
censored cells, still-improving cells and budget-limited lags; the answer card; the published
reference recomputed from its inputs, its schema, and one of its cells trained again."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmark.measurements import memory_span, results, stats
from benchmark.reports import rnn_vs_lstm as rv

TEN = list(range(10))
LAGS = (5, 10, 20, 50, 100)
ARMS = rv.ARMS


# --- statistics -----------------------------------------------------------------------------
def test_t_interval_matches_the_textbook_formula():
    s = stats.summary([1.0, 2.0, 3.0])
    # mean 2, s = 1, t(0.975, 2) = 4.3027: half-width 4.3027 / sqrt(3) = 2.484
    assert s["mean"] == 2.0 and s["n_seeds"] == 3 and s["method"]
    assert s["ci95"] == pytest.approx([2 - 2.4842, 2 + 2.4842], abs=1e-3)


def test_intervals_never_leave_the_possible_range():
    """An accuracy of 0.49 over three seeds was once given as [-0.644, 1.62]: a bounded mean's
    interval now lies within its values, a positive quantity's stays positive."""
    acc = stats.bounded_summary([0.125, 1.0, 0.345])
    assert 0.125 <= acc["ci95"][0] <= acc["mean"] <= acc["ci95"][1] <= 1.0
    latency = stats.log_summary([0.009, 0.27, 0.05])
    assert 0 < latency["ci95"][0] < latency["mean"] < latency["ci95"][1]
    assert latency["mean"] == pytest.approx((0.009 * 0.27 * 0.05) ** (1 / 3))
    assert stats.bounded_summary([1.0, 1.0, 1.0])["ci95"] == [1.0, 1.0]


def test_wilson_interval_of_k_of_n():
    assert stats.wilson(10, 10) == pytest.approx([0.7225, 1.0], abs=1e-3)
    assert stats.wilson(0, 10) == pytest.approx([0.0, 0.2775], abs=1e-3)
    assert stats.wilson(8, 10) == pytest.approx([0.4902, 0.9433], abs=1e-3)


def test_eight_of_ten_solve_a_lag():
    assert stats.is_solved(8, 10) and not stats.is_solved(7, 10)
    assert stats.is_solved(3, 3) and not stats.is_solved(2, 3)
    assert stats.largest_solved({5: True, 10: True, 20: False, 50: True}) == 10
    assert stats.largest_solved({5: False, 10: True}) == 0


def test_censored_seeds_count_in_the_median_steps_to_solve():
    """No survivorship: five seeds solved at 100-500 steps and five never did (censored at the
    cap of 1000). The seeds that solved average 300; the censored median is 500."""
    km = stats.kaplan_meier([100, 200, 300, 400, 500] + [1000] * 5, [True] * 5 + [False] * 5)
    assert km["median"] == 500 and km["events"] == 5 and km["n"] == 10 and not km["beyond"]
    low, high = km["ci95"]
    assert low is not None and low <= 500 and high is None  # the band never reaches 1/2 before the cap
    assert stats.fmt_steps(km) == "500 [100, 1000+]"


def test_censored_median_past_the_cap_is_beyond_it():
    km = stats.kaplan_meier([300, 1000, 1000, 1000], [True, False, False, False])
    assert km["median"] is None and km["beyond"] and stats.fmt_steps(km) == "> 1000"


def test_censored_times_in_the_logrank_test():
    fast = ([100 + 10 * i for i in range(10)], [True] * 10)
    slow = ([900, 950] + [1000] * 8, [True, True] + [False] * 8)
    got = stats.logrank(fast, slow)
    assert got["p"] < 0.001 and got["faster"] == "a"
    assert stats.logrank(slow, fast)["faster"] == "b"


def test_barnard_and_holm():
    assert stats.barnard(10, 10, 3, 10) == pytest.approx(0.000873, rel=0.01)  # Fisher's exact: 0.0031
    assert stats.barnard(10, 10, 10, 10) == 1.0 and stats.barnard(0, 10, 0, 10) == 1.0
    assert stats.holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})


def test_three_seeds_can_never_decide_ten_can():
    assert stats.sign_test([1.0, 2.0, 3.0])["p"] == 0.25
    assert stats.detectable_signs(3) is None and stats.detectable_signs(10) == 9
    assert stats.detectable_share(3, 3, 0.05 / 10) is None
    assert stats.detectable_share(10, 10, 0.05 / 20) >= 2


def test_mann_kendall_sees_a_falling_curve_not_noise():
    steps = list(range(100, 900, 100))
    assert stats.falling(steps, [0.5 - 0.01 * i for i in range(8)]) < 0.001
    assert stats.falling(steps, [0.40, 0.39, 0.41, 0.40, 0.395, 0.40, 0.41, 0.39]) > 0.05
    assert stats.falling(steps[:2], [0.5, 0.4]) == 1.0  # two points decide nothing


# --- memory: hand-made cells ----------------------------------------------------------------
SETTINGS = {"seeds": TEN, "hidden": 8, "arms": {a: {"family": a.split("-")[0]} for a in ARMS},
            "solved": {"recall": "recall_acc>=0.99"}}


def cells(arm, lag, outcomes, cap=1000, kind="grid", first_seed=0):
    """One row per seed: 's' solved, 'c' censored at the cap with a flat curve, 'i' censored
    and still improving, 'f' failed (NaN loss)."""
    rows = []
    for i, o in enumerate(outcomes):
        solved = o == "s"
        rows.append({"kind": kind, "task": "recall", "arm": arm, "family": arm.split("-")[0], "lag": lag,
                     "seed": first_seed + i, "lr": 0.01, "cap": cap, "value": 1.0 if solved else 0.125 if o != "f" else None,
                     "solved": solved, "steps": 100 * lag ** 0.5 + 7 * i if solved else (cap if o != "f" else None),
                     "at_cap": o in "ci", "still_improving": o == "i", "trend_p": 0.01 if o == "i" else 0.6,
                     "status": "failed" if o == "f" else "ok", "curve": None})
    return rows


def memory_result(spans: dict, lags=LAGS, extra=(), step=None) -> dict:
    """spans: {arm: largest lag every seed solves}; every seed fails (flat) beyond it."""
    rows = [r for arm, span in spans.items() for lag in lags for r in cells(arm, lag, "s" * 10 if lag <= span else "c" * 10)]
    rows = [r for r in rows if (r["arm"], r["lag"]) not in {(a, lag) for a, lag, _ in extra}]
    for arm, lag, outcomes in extra:
        rows += cells(arm, lag, outcomes[:10]) + cells(arm, lag, outcomes[10:], cap=2000, kind="rerun")
    step = step or {a: {str(lag): 0.001 * (4 if "lstm" in a else 1) for lag in lags} for a in spans}
    return {"spans": memory_span.summarise(rows, SETTINGS), "rows": rows, "settings": SETTINGS,
            "step_time_s": {"recall": step}}


def _spans(rnn=20, lstm=100, chrono=None, matched=None, gru=100):
    chrono = lstm if chrono is None else chrono
    return {"rnn": rnn, "rnn-matched": rnn if matched is None else matched, "lstm": lstm, "lstm-chrono": chrono,
            "gru": gru, "gru-matched": gru}


def test_a_censored_cell_is_neither_solved_nor_failed():
    res = memory_result(_spans(), extra=[("lstm", 100, "sssssssscc")])
    lag = res["spans"]["recall"]["lstm"]["lags"]["100"]
    assert (lag["solved"], lag["censored"], lag["n"], lag["failed"]) == (8, 2, 10, 0)
    assert lag["wilson"] == pytest.approx(stats.wilson(8, 10))
    assert lag["steps_to_solve"]["n"] == 10 and lag["steps_to_solve"]["events"] == 8  # the censored two stay in


def test_censored_and_failed_cells_count_apart():
    res = memory_result(_spans(), extra=[("gru", 50, "ssssssscff")])
    lag = res["spans"]["recall"]["gru"]["lags"]["50"]
    assert (lag["solved"], lag["censored"], lag["failed"], lag["n"]) == (7, 1, 2, 10)
    assert lag["steps_to_solve"]["n"] == 8  # a failed cell has no last step to censor at


def test_budget_limited_when_a_rerun_at_twice_the_cap_solves():
    res = memory_result(_spans(rnn=20), extra=[("rnn", 50, "c" * 10 + "csc")])
    rnn = res["spans"]["recall"]["rnn"]
    assert rnn["lags"]["50"]["budget_limited"] and "reruns" in rnn["lags"]["50"]["budget_limited_why"]
    assert (rnn["span"], rnn["end"], rnn["bound"]) == (20, "budget", None)  # a lower bound, no upper one


def test_budget_limited_when_a_share_of_cells_still_improve():
    res = memory_result(_spans(), extra=[("lstm", 100, "sssssssiii" + "ccc")])
    lag = res["spans"]["recall"]["lstm"]["lags"]["100"]
    assert lag["still_improving"] == 3 and lag["budget_limited"] and "still improving" in lag["budget_limited_why"]


def test_not_budget_limited_below_the_share_and_without_a_solving_rerun():
    res = memory_result(_spans(rnn=20), extra=[("rnn", 50, "iicccccccc" + "ccc")])
    rnn = res["spans"]["recall"]["rnn"]
    assert not rnn["lags"]["50"]["budget_limited"]
    assert (rnn["span"], rnn["end"], rnn["bound"], rnn["first_failure"]) == (20, "failure", 50, 50)


def test_a_span_that_reaches_the_end_of_the_grid_is_a_lower_bound():
    s = memory_result(_spans())["spans"]["recall"]["gru"]
    assert (s["span"], s["end"], s["first_failure"]) == (100, "grid", None)


@pytest.mark.parametrize("spans, extra, verdict", [
    (_spans(rnn=20, lstm=100), [], "confirmed"),
    (_spans(rnn=20, lstm=50), [], "refined"),                       # longer, not 100+
    (_spans(rnn=50, lstm=100), [], "refined"),                      # the RNN holds more than 20
    (_spans(rnn=20, lstm=100, matched=100), [], "inconclusive"),    # the matched RNN keeps up to the grid's end
    (_spans(rnn=50, lstm=10), [], "refuted"),                       # the LSTM remembers less
    (_spans(rnn=20, lstm=20), [], "refuted"),                       # the same span, both real failures
    (_spans(rnn=100, lstm=100), [], "inconclusive"),                # the grid stops where both still solve
    (_spans(rnn=20, lstm=50), [("lstm", 100, "c" * 10 + "scc")], "inconclusive"),  # lstm's end budget-limited
    (_spans(rnn=20, lstm=100), [("rnn", 50, "c" * 10 + "ccs")], "inconclusive"),   # rnn's end budget-limited
    (_spans(rnn=20, lstm=20), [("lstm", 50, "sssssssscc"), ("rnn", 50, "sssssccccc")], "inconclusive"),  # too close
])
def test_memory_rule(spans, extra, verdict):
    row = rv.memory_row(memory_result(spans, extra=extra))
    assert row["verdict"] == verdict, row["evidence"]
    assert len(row["summary"]) <= rv.CARD_MAX
    if verdict == "inconclusive":
        assert row["would_decide"] and "smallest detectable gap" in row["evidence"]


def test_memory_inconclusive_because_of_the_budget_says_what_would_decide_it():
    row = rv.memory_row(memory_result(_spans(rnn=20, lstm=50), extra=[("lstm", 100, "c" * 10 + "scc")]))
    assert "a larger cap at lag 100" in row["would_decide"]


def test_memory_says_when_lstm_and_lstm_chrono_disagree():
    row = rv.memory_row(memory_result(_spans(rnn=20, lstm=50, chrono=100)))
    assert row["arm_verdicts"] == {"lstm": "refined", "lstm-chrono": "confirmed"}
    assert "disagree" in row["evidence"] and "a finding" in row["evidence"]


def test_memory_values_keep_per_lag_results_for_every_arm():
    row = rv.memory_row(memory_result(_spans()))
    assert set(row["values"]) == set(ARMS)
    for arm in ARMS:
        lag = row["values"][arm]["lags"]["50"]
        assert {"solved", "n", "wilson", "censored", "still_improving", "budget_limited", "steps_to_solve"} <= set(lag)
        assert {"mean", "ci95", "n_seeds"} <= set(row["values"][arm]["span"])
    tests = row["tests"]
    assert len(tests) == 4 * len(LAGS) and all(t["p_holm"] >= t["p"] for t in tests)  # lstm, chrono x rnn, matched x lags


# --- tuning ---------------------------------------------------------------------------------
def tuned(arm, lr, outcomes, loss=0.1):
    rows = cells(arm, 20, outcomes, cap=3000, kind="tuning", first_seed=1000)
    for r in rows:
        r.update(lr=lr, final_val_loss=loss)
    return rows


def test_tuning_chooses_by_solved_share_then_censored_median_then_loss():
    rows = (tuned("rnn", 0.001, "scc") + tuned("rnn", 0.003, "ssc") + tuned("rnn", 0.01, "ccc")
            + tuned("lstm", 0.001, "ccc", 0.3) + tuned("lstm", 0.003, "ccc", 0.2) + tuned("lstm", 0.01, "ccc", 0.25))
    # rnn: 0.003 solves most; lstm: nothing solves, 0.003 has the lowest final loss
    table, best = memory_span.tuning_table(rows, [0.001, 0.003, 0.01])
    assert best == {"rnn": 0.003, "lstm": 0.003}
    chosen = [r for r in table if r["chosen"]]
    assert len(chosen) == 2 and all(r["seeds"] == [1000, 1001, 1002] and r["steps"] == 3000 for r in table)


def test_tuning_grows_every_arms_grid_past_an_edge_once(monkeypatch):
    """The LSTM's best rate is the grid's largest: every arm's grid grows by 3x there, once."""
    grids = []

    def fake_rows(planned, store_dir, settings):
        grid = sorted({p.lr for p in planned})
        grids.append(grid)
        out = []
        for arm in ("rnn", "lstm"):
            best = 0.003 if arm == "rnn" else max(grid)
            for lr in grid:
                out += tuned(arm, lr, "sss" if lr == best else "ccc")
        return out
    monkeypatch.setattr(memory_span, "train", lambda *a, **k: 0)
    monkeypatch.setattr(memory_span, "rows_of", fake_rows)
    settings = {"seeds": [0], "hidden": 4, "arms": {"rnn": {"family": "rnn"}, "lstm": {"family": "lstm"}},
                "tuning": {"lag": {"recall": 20}, "lrs": [0.001, 0.003, 0.01], "seeds": [1000, 1001, 1002]},
                "caps": {"recall": {"20": 10}}, "solved": {"recall": "recall_acc>=0.99"},
                "train": {"batch_size": 4, "val_every": 5, "val_batches": 1, "test_batches": 1}}
    table, best, _ = memory_span.tune(settings, None, "recall", None)
    assert grids == [[0.001, 0.003, 0.01], [0.001, 0.003, 0.01, 0.03]]
    assert best == {"rnn": 0.003, "lstm": 0.03}
    assert {r["lr"] for r in table if r["arm"] == "rnn"} == {r["lr"] for r in table if r["arm"] == "lstm"}
    assert next(r for r in table if r["chosen"] and r["arm"] == "lstm")["at_edge"]


# --- the trend test on a real cell's curve --------------------------------------------------
def _curve(tmp_path, losses, every=50):
    path = tmp_path / "metrics.csv"
    lines = ["epoch,step,val/loss,val/recall_acc"] + [f"0,{every * (i + 1) - 1},{v},0.125" for i, v in enumerate(losses)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("losses, still", [
    ([0.5] * 30 + [0.40 - 0.005 * i for i in range(10)], True),       # falling over the last fifth
    ([0.40, 0.39, 0.41, 0.40, 0.395, 0.40, 0.41, 0.39, 0.40, 0.405] * 4, False),  # flat: at chance
])
def test_censored_cell_still_improving_by_its_last_fifth(tmp_path, losses, still):
    p = memory_span.plan("grid", "recall", memory_span.Arm("rnn", "rnn", 4), 5, 0, 0.01, 2000,
                         {**SETTINGS, "train": {"batch_size": 4, "val_every": 50}}, None)
    record = {"status": "ok", "metrics": {"test/recall_acc": 0.125}, "train_steps": 2000,
              "curve": _curve(tmp_path, losses).name}
    row = memory_span.row_of(p, record, tmp_path, SETTINGS)
    assert row["at_cap"] and not row["solved"] and row["still_improving"] is still
    assert len(row["val_tail"]["steps"]) == 8  # the validations after step 1600


def test_censored_cell_with_too_few_validations_counts_as_still_improving(tmp_path):
    p = memory_span.plan("grid", "recall", memory_span.Arm("rnn", "rnn", 4), 5, 0, 0.01, 100,
                         {**SETTINGS, "train": {"batch_size": 4, "val_every": 50}}, None)
    record = {"status": "ok", "metrics": {"test/recall_acc": 0.125}, "train_steps": 100,
              "curve": _curve(tmp_path, [0.5, 0.5]).name}
    assert memory_span.row_of(p, record, tmp_path, SETTINGS)["still_improving"]


# --- gradient flow --------------------------------------------------------------------------
def gradient_result(init: dict, trained: dict | None = None, lags=(10, 20, 50), seeds=TEN) -> dict:
    """init: {(init label, arm): ratio at lag 20 per seed (a number: every seed; a list: per
    seed)}, falling as ratio**(k/20)."""
    rows = []
    for (label, arm), r20 in init.items():
        for seed in seeds:
            r = r20[seed] if isinstance(r20, list) else r20 * (1 + 0.01 * seed)
            rows.append({"stage": "init", "init": label, "arm": arm, "family": arm.split("-")[0], "seed": seed,
                         "ratio_at": {str(k): r ** (k / 20) for k in lags}, "forget_at": None})
    for (arm, solved), r in (trained or {}).items():
        for seed in seeds:
            rows.append({"stage": "trained", "init": "own", "arm": arm, "family": arm.split("-")[0], "seed": seed,
                         "k": 20, "lag": 20, "ratio": r * (1 + 0.01 * seed), "solved": solved, "test_acc": 1.0})
    return {"rows": rows, "settings": {"lags": list(lags)}, "spectral_sweep": []}


def _init(rnn, lstm, matched=None, chrono=None, label="own"):
    return {(label, "rnn"): rnn, (label, "rnn-matched"): rnn if matched is None else matched, (label, "lstm"): lstm,
            (label, "lstm-chrono"): lstm if chrono is None else chrono, (label, "gru"): 0.1, (label, "gru-matched"): 0.1}


@pytest.mark.parametrize("ratios, verdict", [
    (_init(1e-4, 0.5), "confirmed"),
    (_init(0.2, 0.5), "refined"),               # the LSTM keeps more, but the RNN has not lost it by lag 20
    (_init(1e-4, 1e-6), "refuted"),             # the LSTM loses it faster
    (_init(0.5, 0.2), "refuted"),
    (_init(1e-4, [1e-3, 1e-5] * 5), "inconclusive"),   # seeds disagree on the LSTM's side of 1e-2
])
def test_gradient_flow_rule(ratios, verdict):
    row = rv.gradient_flow_row(gradient_result(ratios))
    assert row["verdict"] == verdict, row["evidence"]
    assert all({"mean", "ci95", "n_seeds", "method"} <= set(v) for fam in row["values"].values() for v in fam.values())


def test_gradient_flow_cannot_decide_at_three_seeds():
    row = rv.gradient_flow_row(gradient_result(_init(1e-4, 0.5), seeds=[0, 1, 2]))
    assert row["verdict"] == "inconclusive" and "no sign test can reach" in row["evidence"]


def test_gradient_flow_says_when_the_verdict_changes_with_the_initialisation():
    row = rv.gradient_flow_row(gradient_result({**_init(1e-4, 0.5), **_init(1e-6, 1e-9, label="pytorch")}))
    assert row["verdict"] == "confirmed" and row["beside"]["init pytorch"] == "refuted"
    assert "changes under" in row["evidence"] and "a finding" in row["evidence"]


def test_gradient_flow_compares_trained_models_that_solved_alike():
    trained = {("rnn", True): 0.5, ("rnn-matched", True): 0.4, ("lstm", True): 2.0, ("rnn", False): 1e-9}
    row = rv.gradient_flow_row(gradient_result(_init(1e-4, 0.5), trained))
    assert row["trained"]["rnn"]["n_seeds"] == 10  # the unsolved models are kept out...
    assert row["trained"]["rnn"]["mean"] == pytest.approx(0.5, rel=0.05)
    assert row["beside"]["trained"] == "refined"  # ...so no RNN has lost its gradient: only "more than"


# --- speed ----------------------------------------------------------------------------------
def speed_result(ratio_by_hidden: dict, latency=(1.0, 2.0), seeds=TEN) -> dict:
    rows = []
    for hidden, ratio in ratio_by_hidden.items():
        for seed in seeds:
            r = ratio[seed] if isinstance(ratio, list) else ratio * (1 + 0.01 * seed)
            for family, x in (("rnn", 1.0), ("lstm", r), ("gru", r * 0.8)):
                rows.append({"status": "ok", "backend": "cudnn", "family": family, "hidden": hidden, "seq": 50,
                             "seed": seed, "batch": 16, "train_time_vs_rnn": x, "train_tokens_per_s": 1e5 / x,
                             "latency_ms": (latency[0] if family == "rnn" else latency[1]) * (1 + 0.01 * seed)})
    return {"rows": rows, "device": "cpu", "accelerator": "cpu"}


@pytest.mark.parametrize("ratios, verdict", [
    ({64: 1.8, 256: 3.5}, "confirmed"),
    ({64: 0.8, 256: 0.7}, "refuted"),
    ({64: 0.8, 256: 2.0}, "refined"),
    ({64: [0.6, 1.5] * 5, 256: 2.1}, "inconclusive"),
])
def test_speed_rule(ratios, verdict):
    row = rv.speed_row(speed_result(ratios), memory_result(_spans()))
    assert row["verdict"] == verdict
    if verdict == "confirmed":
        assert "at: h=256" in row["evidence"]  # significantly >= 3x: the 4x-parameters expectation


def test_speed_reports_time_to_solve_from_censored_steps_and_step_times():
    row = rv.speed_row(speed_result({64: 1.8}), memory_result(_spans(rnn=20)))
    solve = row["time_to_solve"]
    assert solve["lag"] == 20
    km = stats.kaplan_meier([100 * 20 ** 0.5 + 7 * i for i in range(10)], [True] * 10)
    assert solve["rnn"]["median_s"] == pytest.approx(km["median"] * 0.001)
    assert solve["lstm"]["median_s"] == pytest.approx(km["median"] * 0.004)  # 4x the step time, the same steps
    assert solve["logrank"]["faster"] == "b" and solve["logrank"]["p"] < 0.05
    assert "Time to solve lag 20" in row["evidence"]


# --- gradient problem -----------------------------------------------------------------------
@pytest.mark.parametrize("spans, extra, verdict", [
    (_spans(rnn=20, lstm=100), [], "confirmed"),
    (_spans(rnn=20, lstm=50), [], "refined"),                      # helped, not solved
    (_spans(rnn=100, lstm=100), [], "refuted"),                    # the RNN learns every lag the LSTM does
    (_spans(rnn=20, lstm=100), [("rnn", 50, "c" * 10 + "sc")], "inconclusive"),  # the RNN's failure is budget's
    (_spans(rnn=0, lstm=0), [], "inconclusive"),                   # nothing learned: no evidence either way
])
def test_gradient_problem_rule(spans, extra, verdict):
    row = rv.gradient_problem_row(memory_result(spans, extra=extra))
    assert row["verdict"] == verdict, row["evidence"]


# --- use cases ------------------------------------------------------------------------------
def test_use_cases_confirmed_with_ten_seeds():
    row = rv.use_cases_row(memory_result(_spans(rnn=20, lstm=100)), speed_result({64: 2.0}), {})
    assert row["verdict"] == "confirmed", row["evidence"]
    assert all(c["decided"] == "yes" for c in row["checks"].values())


def test_use_cases_refined_when_the_rnn_is_slower_to_step():
    row = rv.use_cases_row(memory_result(_spans(rnn=20, lstm=100)), speed_result({64: 2.0}, latency=(2.0, 1.0)), {})
    assert row["verdict"] == "refined"


def test_use_cases_refuted_when_the_rnn_is_as_good_at_the_longest_lag():
    row = rv.use_cases_row(memory_result(_spans(rnn=100, lstm=100)), speed_result({64: 2.0}, latency=(2.0, 1.0)), {})
    assert row["checks"]["LSTM better at lag 100"]["decided"] == "no"


def test_use_cases_drop_the_checks_three_seeds_cannot_decide():
    spans = _spans()
    rows = [r for r in memory_result(spans)["rows"] if r["seed"] < 3]
    memory = {"spans": memory_span.summarise(rows, {**SETTINGS, "seeds": [0, 1, 2]}), "rows": rows}
    row = rv.use_cases_row(memory, speed_result({64: 2.0}, seeds=[0, 1, 2]), {})
    assert row["verdict"] == "inconclusive"
    assert all("cannot decide at 3 seeds" in c["dropped"] for c in row["checks"].values())


# --- parameters -----------------------------------------------------------------------------
def _params(lstm_ratio):
    rows = []
    for h in (32, 128):
        for family, g in (("rnn", 1), ("lstm", lstm_ratio), ("gru", 3)):
            n = round(g * (h * (h + 10) + 2 * h))
            rows.append({"family": family, "hidden": h, "measured_cudnn": n, "measured_scratch": n, "closed_form": n,
                         "ratio_to_rnn": n / (h * (h + 10) + 2 * h)})
    return {"rows": rows}


@pytest.mark.parametrize("lstm_ratio, verdict", [(4, "confirmed"), (4.3, "refined"), (2, "refuted")])
def test_parameters_rule(lstm_ratio, verdict):
    row = rv.parameters_row(_params(lstm_ratio))
    assert row["verdict"] == verdict
    assert row["values"]["lstm"]["params (h=128)"]["n_seeds"] == 1


# --- the answer card ------------------------------------------------------------------------
def test_answer_card_opens_the_markdown_one_short_line_per_aspect(tmp_path):
    memory = memory_result(_spans())
    rows = [rv.parameters_row(_params(4)), rv.memory_row(memory), rv.gradient_flow_row(gradient_result(_init(1e-4, 0.5))),
            rv.speed_row(speed_result({64: 1.8}), memory), rv.gradient_problem_row(memory),
            rv.use_cases_row(memory, speed_result({64: 2.0}), {})]
    rv.write(rows, tmp_path, "Answer card", {"profile": "test", "rules_commit": "abc", "wall_s": 60.0})
    lines = (tmp_path / "rnn_vs_lstm.md").read_text().splitlines()
    table = [line for line in lines[:12] if line.startswith("|")]
    assert table[0] == "| " + " | ".join(rv.CARD_COLUMNS) + " |" and len(table) == 2 + 6
    assert all(len(c.strip()) <= rv.CARD_MAX for line in table[2:] for c in line.strip("|").split("|"))
    assert [line.split("|")[3].strip() for line in table[2:]] == ["confirmed"] * 6
    doc = json.loads((tmp_path / "rnn_vs_lstm.json").read_text())
    assert doc["schema_version"] == rv.SCHEMA_VERSION >= 3
    assert all(r["summary"] and r["rule"] and r["evidence"] for r in doc["rows"])


def test_a_long_sentence_is_shortened_for_the_card():
    row = rv._row("memory", "confirmed", "x " * 200, "rule", "evidence", {})
    assert len(row["summary"]) <= rv.CARD_MAX


def test_decidable_says_what_each_size_can_decide():
    three, ten = rv.decidable(3, 3, 3), rv.decidable(10, 5, 4)
    assert three["memory"].startswith("cannot") and three["gradient flow"].startswith("cannot")
    assert all(v.startswith("can decide") for k, v in ten.items())


# --- the published reference ----------------------------------------------------------------
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"
MEASURED = (("params", "parameters"), ("memory-span", "memory_span"), ("gradient-flow", "gradient_flow"),
            ("speed", "speed"))


def _published():
    return json.loads((REFERENCE / "rnn_vs_lstm.json").read_text())


def test_published_table_follows_from_its_published_measurements():
    """Recompute every row of results/reference/rnn_vs_lstm.json from the measurement JSON
    files published beside it, the memory spans from the cells' rows: the table is what the
    rules make of those numbers."""
    measured = {name: results.read(REFERENCE / folder, folder) for name, folder in MEASURED}
    memory = measured["memory-span"]
    assert rv._finite(memory_span.summarise(memory["rows"], memory["settings"])) == memory["spans"]
    rows = rv._finite(rv.build_table(measured, REFERENCE))
    published = _published()
    assert [(r["aspect"], r["verdict"], r["summary"], r["evidence"]) for r in rows] == \
        [(r["aspect"], r["verdict"], r["summary"], r["evidence"]) for r in published["rows"]]


def test_published_reference_follows_the_schema():
    doc = _published()
    assert doc["schema_version"] == rv.SCHEMA_VERSION and doc["profile"] == "reference-cpu"
    assert len(doc["seeds"]) >= 10 and doc["wall_s"] > 0 and doc["rules_commit"]
    assert {a["name"] for a in doc["arms"]} == set(ARMS)
    grids = {}
    for r in doc["tuning"]:
        grids.setdefault(r["arm"], set()).add(r["lr"])
        assert not set(r["seeds"]) & set(doc["seeds"])
    assert len({frozenset(g) for g in grids.values()}) == 1  # every arm tried the same rates
    assert all(a["lr"] in grids[a["name"]] for a in doc["arms"])
    memory = next(r for r in doc["rows"] if r["aspect"] == "memory")
    for arm in ARMS:
        for lag, v in memory["values"][arm]["lags"].items():
            assert v["n"] >= 10 and v["solved"] + v["censored"] <= v["n"] and v["still_improving"] <= v["censored"]
            assert v["wilson"] == pytest.approx(stats.wilson(v["solved"], v["n"]))


def test_rerunning_a_published_cell_reproduces_its_record(tmp_path):
    """Determinism: the published lag-5 rnn cell of seed 0, built again from the published
    settings and trained again, gives its record back (to the last digit on the same CPU
    kind; elsewhere floating-point kernels differ, so within one validation of the same result)."""
    from benchmark.engine.runner import fit_cell
    from benchmark.engine.store import ResultsStore

    memory = results.read(REFERENCE / "memory_span", "memory_span")
    row = min((r for r in memory["rows"] if r["kind"] == "grid" and r["arm"] == "rnn" and r["seed"] == 0),
              key=lambda r: r["lag"])
    arm = next(a for a in memory_span.arms(memory["settings"]) if a.name == "rnn")
    p = memory_span.plan("grid", "recall", arm, row["lag"], 0, row["lr"], row["cap"], memory["settings"], memory["profile"])
    assert p.cell.key == row["key"]
    published = ResultsStore(REFERENCE / "memory_span" / "cells").latest()[row["key"]]
    again = fit_cell(p.cell, tmp_path).record
    assert again["status"] == "ok" and again["reached_target"] == published["reached_target"]
    if again["device"] == published["device"]:
        assert again["metrics"] == published["metrics"] and again["train_steps"] == published["train_steps"]
    else:
        every = p.cell.train.val_every
        assert abs(again["train_steps"] - published["train_steps"]) <= every
        assert math.isclose(again["metrics"]["test/recall_acc"], published["metrics"]["test/recall_acc"], abs_tol=0.01)
