"""The statistics and every branch of every verdict rule of `reproduce rnn-vs-lstm`, on
measurement results built by hand (no training): confirmed, refined, refuted and inconclusive."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmark.measurements import memory_span, results, stats
from benchmark.reports import rnn_vs_lstm as rv

SEEDS = [0, 1, 2]


# --- statistics -----------------------------------------------------------------------------
def test_t_interval_matches_the_textbook_formula():
    s = stats.summary([1.0, 2.0, 3.0])
    # mean 2, s = 1, t(0.975, 2) = 4.3027: half-width 4.3027 / sqrt(3) = 2.484
    assert s["mean"] == 2.0 and s["n_seeds"] == 3
    assert s["ci95"] == pytest.approx([2 - 2.4842, 2 + 2.4842], abs=1e-3)


def test_one_seed_has_no_interval_and_decides_nothing():
    s = stats.summary([0.5])
    assert s["ci95"] == [-math.inf, math.inf]
    assert stats.side(s, 0.0) == "undecided"
    assert "no interval" in stats.fmt(s)


def test_identical_seeds_give_a_zero_width_interval():
    s = stats.summary([2.0, 2.0, 2.0])
    assert s["ci95"] == [2.0, 2.0]
    assert stats.side(s, 1.0) == "above" and stats.side(s, 3.0) == "below" and stats.side(s, 2.0) == "undecided"


def test_pairing_removes_the_variation_the_seeds_share():
    a, b = [1.0, 5.0, 9.0], [0.5, 4.5, 8.5]  # far apart seeds, a constant gap
    assert stats.side(stats.summary(a), 4.0) == "undecided"
    diff = stats.paired(a, b, stats.difference)
    assert diff["ci95"] == [0.5, 0.5] and stats.side(diff, 0) == "above"


def test_paired_values_skip_missing_seeds_and_need_equal_lengths():
    assert stats.paired([1.0, None, 3.0], [1.0, 2.0, 1.0], stats.difference)["n_seeds"] == 2
    with pytest.raises(ValueError):
        stats.paired([1.0], [1.0, 2.0], stats.difference)


def test_wilson_interval_and_the_two_of_three_rule():
    all3 = stats.solved_fraction([True, True, True])
    assert all3["fraction"] == 1 and all3["is_solved"]
    assert all3["wilson95"][0] == pytest.approx(0.4385, abs=1e-3) and all3["wilson95"][1] == pytest.approx(1.0)
    assert stats.solved_fraction([True, True, False])["is_solved"]
    assert not stats.solved_fraction([True, False, False])["is_solved"]
    none = stats.solved_fraction([False, False, False])
    assert none["wilson95"][0] == pytest.approx(0.0, abs=1e-12) and none["wilson95"][1] == pytest.approx(0.5615, abs=1e-3)


def test_largest_lag_solved_needs_every_shorter_lag():
    assert stats.largest_solved({5: True, 10: True, 20: False, 50: True}) == 10
    assert stats.largest_solved({5: False, 10: True}) == 0


# --- memory ---------------------------------------------------------------------------------
MEM_SETTINGS = {"models": ["rnn", "lstm", "gru"], "param_matched": [], "hidden": 8, "seeds": SEEDS,
                "solved": {"recall": "recall_acc>=0.99"}}


def memory_result(solved: dict, lags=(5, 10, 20, 50, 100), calibrated=True):
    """solved: {model: largest lag each seed solves (list per seed), or the set of lags every seed solves}."""
    rows = []
    for model, per_seed in solved.items():
        for seed, span in zip(SEEDS, per_seed if isinstance(per_seed, list) else [per_seed] * 3):
            for lag in lags:
                ok = lag in span if isinstance(span, set) else lag <= span
                rows.append({"task": "recall", "model": model, "family": model, "lag": lag, "seed": seed,
                             "value": 1.0 if ok else 0.125, "solved": ok, "steps_to_solve": 100 if ok else None})
    cal = {"recall": {"lag": lags[0], "budget": 600, "tried": [600], "calibrated": calibrated,
                      "unsolved": [] if calibrated else ["rnn"]}}
    return {"spans": memory_span.spans(rows, MEM_SETTINGS), "calibration": cal, "rows": rows, "settings": MEM_SETTINGS}


@pytest.mark.parametrize("spans, verdict", [
    ({"rnn": [10, 10, 10], "lstm": [100, 100, 100], "gru": [100, 100, 50]}, "confirmed"),
    ({"rnn": [10, 10, 10], "lstm": [50, 50, 50], "gru": [50, 50, 50]}, "refined"),     # longer, not 100+
    ({"rnn": [50, 50, 50], "lstm": [10, 10, 10], "gru": [10, 10, 10]}, "refuted"),
    ({"rnn": [10, 50, 5], "lstm": [20, 10, 50], "gru": [10, 10, 10]}, "inconclusive"),  # seeds disagree
    ({"rnn": [100, 100, 100], "lstm": [100, 100, 100], "gru": [100, 100, 100]}, "inconclusive"),  # grid too short
])
def test_memory_rule(spans, verdict):
    assert rv.memory_row(memory_result(spans))["verdict"] == verdict


def test_memory_is_inconclusive_when_calibration_shows_the_budget_too_small():
    row = rv.memory_row(memory_result({"rnn": [0, 0, 0], "lstm": [0, 0, 0], "gru": [0, 0, 0]}, calibrated=False))
    assert row["verdict"] == "inconclusive" and "budget too small" in row["evidence"]
    assert "600" in row["evidence"]  # the budget tried is stated


def test_memory_spans_keep_the_two_of_three_rule_and_per_seed_spans():
    res = memory_result({"rnn": [10, 10, 5], "lstm": [100, 50, 100], "gru": [5, 5, 5]})
    assert res["spans"]["recall"]["rnn"]["largest_lag_solved"] == 10
    assert res["spans"]["recall"]["lstm"]["largest_lag_solved"] == 100
    assert res["spans"]["recall"]["lstm"]["span"]["mean"] == pytest.approx(250 / 3)


# --- gradient flow --------------------------------------------------------------------------
INITS = {"orthogonal": {}, "pytorch": {"init": "pytorch"}, "chrono": {"init": "chrono"}}


def gradient_result(init_ratios: dict, trained: dict | None = None, acc=(1.0, 1.0, 1.0)):
    """init_ratios: {(init, family, state): ratio at every lag per seed (list of 3)}, a
    ratio falling as ratio**(lag/20) so the lag-20 value is the one given."""
    rows = []
    for (init, family, state), per_seed in init_ratios.items():
        for seed, r20 in zip(SEEDS, per_seed):
            rows.append({"stage": "init", "init": init, "family": family, "seed": seed, "state": state,
                         "ratio_at": {str(k): r20 ** (k / 20) for k in (10, 20, 50)}})
    for (family, state), per_seed in (trained or {}).items():
        for seed, r in zip(SEEDS, per_seed):
            rows.append({"stage": "trained", "init": "orthogonal", "family": family, "seed": seed, "state": state,
                         "ratio_at": {"10": r ** 0.5, "20": r}, "train_lag": 20,
                         "test_recall_acc": acc[seed] if family == "lstm" else 1.0})
    return {"rows": rows, "settings": {"inits": INITS, "problem_lag": 20}, "spectral_sweep": []}


def _init(rnn, lstm_c, init="orthogonal", gru=(0.1, 0.1, 0.1)):
    return {(init, "rnn", "h"): rnn, (init, "lstm", "c"): lstm_c, (init, "lstm", "h"): rnn,
            (init, "lstm", "forget"): lstm_c, (init, "gru", "h"): gru}


@pytest.mark.parametrize("rnn, lstm, verdict", [
    ((1e-4, 2e-4, 5e-5), (0.5, 0.4, 0.6), "confirmed"),
    ((0.2, 0.3, 0.25), (0.5, 0.6, 0.55), "refined"),            # LSTM keeps more, but the RNN has not lost it at 20
    ((1e-4, 2e-4, 5e-5), (1e-6, 1.5e-6, 0.6e-6), "refuted"),    # the LSTM loses it faster
    ((0.5, 0.6, 0.55), (0.3, 0.2, 0.25), "refuted"),
    ((1e-4, 0.5, 1e-3), (1e-3, 1e-5, 0.9), "inconclusive"),     # seeds disagree
])
def test_gradient_flow_rule(rnn, lstm, verdict):
    assert rv.gradient_flow_row(gradient_result(_init(rnn, lstm), _trained()))["verdict"] == verdict


def test_gradient_flow_says_when_the_verdict_changes_with_the_initialisation():
    ratios = {**_init((1e-4, 2e-4, 5e-5), (0.5, 0.4, 0.6)),
              **_init((1e-6, 1e-7, 1e-6), (1e-9, 1e-10, 1e-9), init="pytorch")}
    row = rv.gradient_flow_row(gradient_result(ratios, _trained()))
    assert row["verdict"] == "confirmed"
    assert "changes with the initialisation" in row["evidence"] and "pytorch: refuted" in row["evidence"]
    assert set(row["values"]) == {"rnn", "lstm", "gru"}
    assert all({"mean", "ci95", "n_seeds"} <= set(v) for fam in row["values"].values() for v in fam.values())


def _trained(rnn=(1e-5, 1e-6, 1e-5), lstm=(0.3, 0.2, 0.4)):
    return {("rnn", "h"): rnn, ("lstm", "c"): lstm, ("lstm", "h"): rnn, ("gru", "h"): (0.1, 0.2, 0.1)}


@pytest.mark.parametrize("trained, acc, verdict", [
    (_trained(), (1.0, 1.0, 1.0), "confirmed"),
    (_trained(rnn=(0.05, 0.04, 0.06), lstm=(0.3, 0.2, 0.4)), (1.0, 1.0, 1.0), "refined"),
    (_trained(rnn=(0.3, 0.2, 0.4), lstm=(1e-5, 1e-6, 1e-5)), (1.0, 1.0, 1.0), "refuted"),
    (_trained(rnn=(1e-5, 0.5, 1e-3), lstm=(1e-3, 1e-6, 0.9)), (1.0, 1.0, 1.0), "inconclusive"),
    (_trained(), (0.2, 0.3, 1.0), "inconclusive"),  # the LSTM did not learn its task
])
def test_gradient_problem_rule(trained, acc, verdict):
    row = rv.gradient_problem_row(gradient_result(_init((1e-4,) * 3, (0.5,) * 3), trained, acc))
    assert row["verdict"] == verdict
    if acc[0] < 0.99:
        assert "budget too small" in row["evidence"]


# --- speed ----------------------------------------------------------------------------------
def speed_result(ratio_by_hidden: dict, latency=(1.0, 2.0)):
    rows = []
    for hidden, per_seed in ratio_by_hidden.items():
        for seed, ratio in zip(SEEDS, per_seed):
            for family, r in (("rnn", 1.0), ("lstm", ratio), ("gru", ratio * 0.8)):
                rows.append({"status": "ok", "backend": "cudnn", "family": family, "hidden": hidden, "seq": 50,
                             "seed": seed, "batch": 16, "train_time_vs_rnn": r, "train_tokens_per_s": 1e5 / r,
                             "latency_ms": latency[0] if family == "rnn" else latency[1] + 0.01 * seed})
    return {"rows": rows, "device": "cpu"}


@pytest.mark.parametrize("ratios, verdict", [
    ({64: (1.8, 1.9, 2.0), 256: (3.5, 3.6, 3.4)}, "confirmed"),
    ({64: (0.8, 0.85, 0.9), 256: (0.7, 0.75, 0.8)}, "refuted"),
    ({64: (0.8, 0.85, 0.9), 256: (2.0, 2.1, 2.2)}, "refined"),
    ({64: (0.6, 1.5, 1.1), 256: (2.0, 2.1, 2.2)}, "inconclusive"),
])
def test_speed_rule(ratios, verdict):
    row = rv.speed_row(speed_result(ratios))
    assert row["verdict"] == verdict
    if verdict == "confirmed":
        assert "4x holds at h=256, T=50" in row["evidence"]


# --- use cases ------------------------------------------------------------------------------
@pytest.mark.parametrize("spans, latency, verdict", [
    ({"rnn": [10, 10, 10], "lstm": [100, 100, 100], "gru": [50, 50, 50]}, (1.0, 2.0), "confirmed"),
    ({"rnn": [10, 10, 10], "lstm": [100, 100, 100], "gru": [50, 50, 50]}, (2.0, 1.0), "refined"),
    ({"rnn": {100}, "lstm": {5}, "gru": [50, 50, 50]}, (2.0, 1.0), "refuted"),
    ({"rnn": [10, 10, 10], "lstm": [100, 5, 100], "gru": [50, 50, 50]}, (1.0, 2.0), "inconclusive"),
])
def test_use_cases_rule(spans, latency, verdict):
    row = rv.use_cases_row(memory_result(spans), speed_result({64: (2.0, 2.0, 2.0)}, latency), {})
    assert row["verdict"] == verdict


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


# --- the published table --------------------------------------------------------------------
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


def test_published_table_follows_from_its_published_measurements():
    """Recompute every row of results/reference/rnn_vs_lstm.json from the measurement JSON
    files published beside it: the table is what the rules make of those numbers."""
    published = json.loads((REFERENCE / "rnn_vs_lstm.json").read_text())
    assert published["schema_version"] == rv.SCHEMA_VERSION
    measured = {name: results.read(REFERENCE / folder, folder)
                for name, folder in (("params", "parameters"), ("memory-span", "memory_span"),
                                     ("gradient-flow", "gradient_flow"), ("speed", "speed"))}
    rows = rv._finite(rv.build_table(measured, REFERENCE))
    assert [(r["aspect"], r["verdict"], r["evidence"]) for r in rows] == \
        [(r["aspect"], r["verdict"], r["evidence"]) for r in published["rows"]]
    assert all(v["n_seeds"] >= 3 for r in published["rows"] if r["aspect"] != "parameters"
               for fam in r["values"].values() for v in fam.values())
