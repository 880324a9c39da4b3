"""Measurements: gradient flow against an exactly known Jacobian, memory-span logic, timing, parameters."""
import math

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy

from benchmark.measurements import gradient_flow, memory_span, parameters, speed
from benchmark.measurements.timing import time_call
from benchmark.config import ModelConfig
from benchmark.models import Encoder, encoder_param_count


# --- gradient flow ----------------------------------------------------------------------
def _linear_rnn_ratios(w, steps=12, hidden=3):
    """h_t = W h_{t-1} + U x_t, L = v . h_T: dL/dh_{T-k} = (W^T)^k v exactly."""
    torch.manual_seed(0)
    u, v = torch.randn(hidden, 2), torch.randn(hidden)
    xs = torch.randn(steps, 2).unbind(0)
    h0 = torch.zeros(hidden, requires_grad=True)
    step = lambda x, state: (w @ state[0] + u @ x,)  # noqa: E731
    ratios = gradient_flow.state_gradient_ratios(step, (h0,), xs, lambda s: (v * s[0]).sum())["h"]
    return ratios, v


@pytest.mark.parametrize("a", [0.5, 0.9, 1.0, 1.3])
def test_linear_rnn_scalar_weight_gives_a_to_the_k(a):
    ratios, _ = _linear_rnn_ratios(a * torch.eye(3))
    assert ratios == pytest.approx([a ** k for k in range(12)], rel=1e-5)
    assert gradient_flow.summarise(ratios)["decay_per_step"] == pytest.approx(a, rel=1e-5)


def test_linear_rnn_diagonal_weight_matches_the_jacobian_power():
    d = torch.tensor([0.9, 0.5, 1.1])
    ratios, v = _linear_rnn_ratios(torch.diag(d))
    expected = [float((d ** k * v).norm() / v.norm()) for k in range(12)]
    assert ratios == pytest.approx(expected, rel=1e-5)


def test_summary_finds_threshold_lags_and_decay():
    s = gradient_flow.summarise([0.5 ** k for k in range(20)])
    assert s["decay_per_step"] == pytest.approx(0.5)
    assert s["lag_below_0.01"] == 7        # 0.5^7 = 0.0078 < 1e-2 <= 0.5^6
    assert s["lag_below_0.0001"] == 14     # 0.5^14 = 6.1e-5 < 1e-4 <= 0.5^13
    assert gradient_flow.summarise([1.0] * 5)["lag_below_0.01"] is None


def test_a_dip_that_recovers_does_not_count_as_vanished():
    assert gradient_flow.lag_staying_below([1, 1e-3, 0.1, 1e-3, 1e-4], 1e-2) == 3


@pytest.mark.parametrize("family", ["rnn", "lstm", "gru"])
def test_cell_step_reproduces_the_torch_kernel(family):
    torch.manual_seed(0)
    enc = Encoder(5, ModelConfig(variant=family, hidden=7))
    x = torch.randn(3, 6, 5)
    out, _ = enc(x)
    step, state = gradient_flow.cell_step(enc.rnn, family, 3), None
    for t in range(6):
        state = step(x[:, t], state)
    assert torch.allclose(state[0], out[:, -1], atol=1e-5)


def test_lstm_cell_state_gets_a_gradient_at_every_lag():
    cell = gradient_flow.copy_cell("lstm", {"hidden": 8, "train_delay": 5, "train": {}, "seed": 0}, "smoke")
    module = gradient_flow.initial_module(cell)
    ratios = gradient_flow.copy_ratios(module, lags=15, batch=4, seed=0)
    assert set(ratios) == {"h", "c"} and len(ratios["c"]) == 16
    assert ratios["c"][0] == 1.0 and all(0 < r < math.inf for r in ratios["c"])


# --- memory span ------------------------------------------------------------------------
def _recall_accuracy(predict, delay, seed=0):
    """Accuracy of predict(x) -> (B, 10) symbols, scored like the copy task's test metric."""
    from tasks.data.synthetic import CATEGORIES, RECALL, make_copy_batch
    x, y = make_copy_batch(256, delay, torch.Generator().manual_seed(seed), "cpu")
    metric = MulticlassAccuracy(CATEGORIES + 1, average="micro")
    return float(metric(predict(x), y[:, -RECALL:]))


def test_memory_span_of_a_perfect_and_a_memoryless_model():
    from tasks.data.synthetic import RECALL
    delays = [5, 10, 100, 1000]
    perfect = lambda x: x[:, :RECALL]  # noqa: E731 - reads the symbols back
    memoryless = lambda x: torch.ones(x.size(0), RECALL, dtype=torch.long)  # noqa: E731 - always symbol 1
    perfect_acc = {t: _recall_accuracy(perfect, t) for t in delays}
    chance_acc = {t: _recall_accuracy(memoryless, t) for t in delays}
    assert memory_span.memory_span(perfect_acc, 0.99) == 1000
    assert memory_span.memory_span(chance_acc, 0.99) == 0
    assert all(abs(a - memory_span.CHANCE) < 0.05 for a in chance_acc.values())


def test_memory_span_is_the_largest_solved_delay():
    assert memory_span.memory_span({5: 1.0, 10: 0.995, 20: 0.6, 50: None}, 0.99) == 10
    assert memory_span.memory_span({}, 0.99) == 0


def test_param_matched_variants_are_widened_to_the_lstm_count():
    out = memory_span.variants({"hidden": 32, "models": ["rnn", "lstm"], "param_matched": ["rnn", "gru"]})
    target = encoder_param_count("lstm", 10, 32)
    labels = {label: (variant, hidden) for label, variant, hidden in out}
    assert labels["rnn"] == ("rnn", 32) and labels["rnn-matched"][1] > 32
    for family in ("rnn", "gru"):
        h = labels[f"{family}-matched"][1]
        assert abs(encoder_param_count(family, 10, h) - target) <= min(
            abs(encoder_param_count(family, 10, h + d) - target) for d in (-1, 1))


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
    settings = {"seed": 0, "batch": 2, "warmup": 1, "repeats": 2, "latency_repeats": 3, "compile": False,
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
    for r in result["rows"]:
        assert r["measured_cudnn"] == r["measured_scratch"] == r["closed_form"]
        assert r["ratio_to_rnn"] == r["claimed_ratio"]


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
