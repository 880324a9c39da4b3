"""Measurements: gradient flow against an exactly known Jacobian, memory-span logic, timing, parameters."""
import math

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy

from benchmark import families
from benchmark.measurements import gradient_flow, memory_span, parameters, speed
from benchmark.measurements.timing import time_call
from benchmark.config import ModelConfig, parse_stop_at
from benchmark.models import Encoder, encoder_param_count


# --- gradient flow ----------------------------------------------------------------------
def _linear_rnn_ratios(w, steps=12, hidden=3):
    """h_t = W h_{t-1} + x_t, L = v . h_T: dL/dx_{T-k} = (W^T)^k v exactly."""
    torch.manual_seed(0)
    v = torch.randn(hidden)
    xs = [x.requires_grad_() for x in torch.randn(steps, hidden).unbind(0)]
    step = lambda x, state: (x if state is None else w @ state[0] + x,)  # noqa: E731
    ratios = gradient_flow.input_gradient_ratios(step, xs, lambda s: (v * s[0]).sum())
    return ratios, v


@pytest.mark.parametrize("a", [0.5, 0.9, 1.0, 1.3])
def test_linear_rnn_scalar_weight_gives_a_to_the_k(a):
    ratios, _ = _linear_rnn_ratios(a * torch.eye(3))
    assert ratios == pytest.approx([a ** k for k in range(12)], rel=1e-5)


def test_linear_rnn_diagonal_weight_matches_the_jacobian_power():
    d = torch.tensor([0.9, 0.5, 1.1])
    ratios, v = _linear_rnn_ratios(torch.diag(d))
    expected = [float((d ** k * v).norm() / v.norm()) for k in range(12)]
    assert ratios == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("family", ["rnn", "lstm", "gru"])
def test_cell_step_reproduces_the_torch_kernel(family):
    torch.manual_seed(0)
    enc = Encoder(5, ModelConfig(variant=family, hidden=7))
    x = torch.randn(3, 6, 5)
    out, _ = enc(x)
    step, state = gradient_flow.cell_step(enc.rnn, family, 3), None
    for t in range(6):
        state = step(x[:, t].double(), state)
    assert torch.allclose(state[0].float(), out[:, -1], atol=1e-5)


ARMS = {"rnn": {"family": "rnn"}, "lstm": {"family": "lstm"}, "lstm-chrono": {"family": "lstm", "init": "chrono"},
        "gru": {"family": "gru"}}


def _initial(arm, hidden, lag, model=None):
    settings = {"hidden": hidden, "batch": 8, "arms": ARMS}
    cell = gradient_flow.recall_cell(gradient_flow._arms(settings)[arm], settings, "smoke", lag, 0, model)
    return gradient_flow.initial_module(cell)


@pytest.mark.parametrize("arm", ["rnn", "lstm", "gru"])
def test_every_arm_gets_the_same_quantity_the_input_gradient(arm):
    got = gradient_flow.recall_ratios(_initial(arm, 8, 15), lag=15, batch=4, seed=0, forget_at=[5, 10])
    assert len(got["ratios"]) == 16 and got["ratios"][0] == 1.0 and all(0 < r < math.inf for r in got["ratios"])
    assert ("forget" in got) == (arm == "lstm")


def test_forget_product_is_a_distribution_over_units_and_falls_with_the_lag():
    got = gradient_flow.recall_ratios(_initial("lstm", 16, 15), lag=15, batch=4, seed=0, forget_at=[1, 5, 15])
    spread = got["forget"]
    assert all(0 < spread[k]["median"] <= spread[k]["p90"] <= spread[k]["max"] < 1 for k in ("1", "5", "15"))
    assert spread["1"]["median"] > spread["5"]["median"] > spread["15"]["median"]


def test_forget_bias_sets_where_the_highway_starts():
    """With forget bias 0 the gates start near sigmoid(0) = 0.5, with 1 near 0.73, with chrono
    (Tallec & Ollivier 2018) near 1: the product of f over 10 steps orders them so."""
    def prod_f(arm, model=None):
        return gradient_flow.recall_ratios(_initial(arm, 16, 10, model), 10, 8, 0, forget_at=[10])["forget"]["10"]["median"]
    zero, one, chrono = prod_f("lstm", {"forget_bias": 0.0}), prod_f("lstm"), prod_f("lstm-chrono")
    assert zero < one < chrono
    assert one == pytest.approx(1 / (1 + math.exp(-1)) ** 10, rel=0.5)


def test_pytorch_init_makes_the_rnn_gradient_vanish_faster_than_orthogonal():
    def ratio(model=None):
        return gradient_flow.recall_ratios(_initial("rnn", 64, 20, model), 20, 8, 0)["ratios"][20]
    assert ratio({"init": "pytorch"}) < ratio() / 10


def test_chrono_takes_its_time_constant_from_the_lag():
    (chrono,) = [a for a in memory_span.arms({"hidden": 8, "arms": ARMS}) if a.name == "lstm-chrono"]
    assert chrono.model(50)["init"] == "chrono:50" and chrono.model(2)["init"] == "chrono:3"


# --- memory span ------------------------------------------------------------------------
def test_memory_task_lags_map_to_cells():
    assert memory_span.task_cell("recall", 5) == ("copy", {"delay": 4, "symbols": 1})
    assert memory_span.task_cell("copy", 20) == ("copy", {"delay": 10, "symbols": 10})
    assert memory_span.task_cell("adding", 50) == ("adding", {"length": 50})
    with pytest.raises(ValueError):
        memory_span.task_cell("nope", 5)


def test_a_perfect_recaller_solves_every_lag_and_a_memoryless_one_none():
    """The lag-recall data scored as the task scores it: reading the symbol back is perfect,
    a constant guess sits at chance (1/8)."""
    from tasks.data.synthetic import CATEGORIES, make_copy_batch
    for lag in (5, 100, 1000):
        x, y = make_copy_batch(512, lag - 1, torch.Generator().manual_seed(0), "cpu", symbols=1)
        metric = MulticlassAccuracy(CATEGORIES + 1, average="micro")
        assert memory_span.reached(float(metric(x[:, :1], y[:, -1:])), "recall_acc>=0.99")
        chance = float(MulticlassAccuracy(CATEGORIES + 1, average="micro")(torch.ones_like(y[:, -1:]), y[:, -1:]))
        assert abs(chance - 1 / CATEGORIES) < 0.05  # a uniform guess among the symbols
        assert not memory_span.reached(chance, "recall_acc>=0.99")


def test_targets_parse_both_directions():
    assert parse_stop_at("recall_acc>=0.99") == ("recall_acc", ">=", 0.99)
    assert memory_span.reached(0.005, "mse<=0.01") and not memory_span.reached(0.02, "mse<=0.01")
    assert not memory_span.reached(None, "mse<=0.01")
    with pytest.raises(ValueError):
        memory_span.reached(0.95, "acc>0.9")


def test_matched_arms_are_widened_to_the_lstm_count():
    spec = {"rnn": {"family": "rnn"}, "lstm": {"family": "lstm"}, "rnn-matched": {"family": "rnn", "match": "lstm"},
            "gru-matched": {"family": "gru", "match": "lstm"}}
    arms = {a.name: a for a in memory_span.arms({"hidden": 32, "arms": spec})}
    target = encoder_param_count("lstm", 10, 32)
    assert arms["rnn"].hidden == 32 and arms["rnn-matched"].hidden > 32
    for name, family in (("rnn-matched", "rnn"), ("gru-matched", "gru")):
        h = arms[name].hidden
        assert abs(encoder_param_count(family, 10, h) - target) <= min(
            abs(encoder_param_count(family, 10, h + d) - target) for d in (-1, 1))


def test_a_missing_cap_or_overlapping_tuning_seeds_are_refused_before_anything_runs():
    from benchmark.config import ConfigError
    from benchmark.measurements.settings import load
    with pytest.raises(ConfigError, match=r"caps.recall lacks a cap for lag\(s\) \[30\]"):
        load("smoke", "memory_span", overrides={"memory_span": {"tasks": {"recall": [5, 30]}}})
    with pytest.raises(ConfigError, match="apart from the measurement seeds"):
        load("smoke", "memory_span", overrides={"memory_span": {"tuning": {"seeds": [0, 1000]}}})


def test_every_profile_carries_all_six_arms_and_one_hidden_size():
    from benchmark.measurements.settings import load
    from benchmark.reports.rnn_vs_lstm import ARMS as SIX
    for profile in ("smoke", "reference-cpu", "reference-gpu", "full"):
        memory, gradient = load(profile, "memory_span"), load(profile, "gradient_flow")
        assert set(memory["arms"]) == set(SIX) == set(gradient["arms"])
        assert memory["hidden"] == gradient["hidden"]  # the trained models gradient flow reads are these cells
        assert set(memory["tuning"]["seeds"]).isdisjoint(memory["seeds"])


def test_the_probe_times_one_training_step_per_arm_and_lag():
    settings = {"hidden": 8, "arms": {"rnn": {"family": "rnn"}}, "seeds": [0], "solved": {"recall": "recall_acc>=0.99"},
                "train": {"batch_size": 4, "val_every": 5, "val_batches": 1, "test_batches": 1}}
    times = memory_span.step_times(settings, "smoke", "recall", [5, 20], repeats=3)
    assert set(times) == {"rnn"} and set(times["rnn"]) == {"5", "20"} and all(t > 0 for t in times["rnn"].values())


# --- timing -----------------------------------------------------------------------------
def test_timing_harness_warms_up_syncs_and_takes_the_median():
    events, ticks = [], iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # timed calls take 3, 1, 2 s

    def clock():
        events.append("clock")
        return next(ticks)

    timing = time_call(lambda: events.append("call"), warmup=2, repeats=3, sync=lambda: events.append("sync"),
                       clock=clock)
    assert events[:2] == ["call", "call"]  # warm-up, untimed
    assert events[2:] == ["sync", "clock", "call", "sync", "clock"] * 3
    assert timing.times_s == (3.0, 1.0, 2.0) and timing.median_s == 2.0 and timing.repeats == 3


def test_timing_rejects_zero_repeats():
    with pytest.raises(ValueError):
        time_call(lambda: None, repeats=0)


def test_speed_point_measures_throughput_and_memory():
    settings = {"seed": 0, "seeds": [0], "batch": 2, "warmup": 1, "repeats": 2, "latency_repeats": 3, "compile": False,
                "backends": ["cudnn", "scratch", "compile"], "families": ["rnn", "lstm"], "hidden": [8], "seq": [4]}
    result = speed.run(settings, None, "test")
    ok = [r for r in result["rows"] if r["status"] == "ok"]
    assert len(ok) == 4 and all(r["train_tokens_per_s"] > 0 and r["latency_ms"] > 0 for r in ok)
    kind = "cuda_max_allocated" if torch.cuda.is_available() else "cpu_saved_for_backward"  # GPU machines too
    assert all(r["peak_mem_kind"] == kind and r["peak_mem_bytes"] > 0 for r in ok)
    assert {r["status"] for r in result["rows"] if r["backend"] == "compile"} == {
        "skipped: compile disabled in this profile"}
    assert next(r for r in ok if r["family"] == "rnn")["train_time_vs_rnn"] == 1.0
    assert result["versions"]["torch"] and result["device"]


def test_flop_formula():
    assert speed.forward_flops_per_token("lstm", 10, 20) == 2 * 4 * 20 * 30
    assert speed.train_flops_per_token("rnn", 8, 8) == 3 * 2 * 8 * 16


# --- parameters -------------------------------------------------------------------------
def test_closed_form_by_hand():
    assert encoder_param_count("rnn", 10, 32) == 32 * (32 + 10) + 2 * 32 == 1408
    assert encoder_param_count("lstm", 10, 32) == 4 * 1408
    assert encoder_param_count("gru", 10, 32) == 3 * 1408


def test_measured_counts_match_the_closed_form_and_ratios():
    result = parameters.run({"seed": 0, "hidden": [4, 16], "input_size": 3}, None, "test")
    assert {r["family"] for r in result["rows"]} == set(families.families())  # every registered family
    for r in result["rows"]:
        assert r["measured_cudnn"] == r["measured_scratch"] == r["closed_form"]
        if families.get(r["family"]).recurrent:  # the lecture's claim: G times the RNN's
            assert r["ratio_to_rnn"] == r["claimed_ratio"]
        else:  # no W_hh: O(h), so below the RNN's O(h^2) at h = 16 already
            assert r["claimed_ratio"] is None and (r["ratio_to_rnn"] < 1 or r["hidden"] < 16)


def test_measurements_return_results_and_the_reports_draw_them(tmp_path, monkeypatch):
    import yaml

    from benchmark.measurements import measure
    from benchmark.measurements import settings as measurement_settings
    from benchmark.reports import plots
    sizes = tmp_path / "measurements.yaml"
    sizes.write_text(yaml.safe_dump({"smoke": {"seed": 0, "parameters": {"hidden": [4, 8], "input_size": 10}}}))
    monkeypatch.setattr(measurement_settings, "FILE", sizes)
    result = measure("params", "smoke", tmp_path / "run")
    folder = tmp_path / "run" / "parameters"
    assert sorted(p.name for p in folder.iterdir()) == ["parameters.csv", "parameters.json"]  # no figure
    assert [p.name for p in plots.draw(result, folder)] == ["parameters.png"]
