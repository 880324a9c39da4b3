"""The family registry: every family is one spec that the zoo, configs and `list` read; minGRU and
minLSTM's parallel scan agrees with their sequential step; a family without a fused kernel runs
its scan under `--backend cudnn` and says so."""
import json
import subprocess
import sys

import pytest
import torch

from benchmark import families
from benchmark.config import VARIANTS, ConfigError, ModelConfig
from benchmark.models import Encoder, encoder_param_count
from benchmark.models.init import initialise
from benchmark.models.scratch import ScratchRNN

SCANNED = [name for name, spec in families.families().items() if spec.scan is not None]


def test_builtin_families_are_registered_in_the_lectures_order():
    names = list(families.families())
    assert names[:5] == ["rnn", "lstm", "gru", "mingru", "minlstm"]
    assert SCANNED == ["mingru", "minlstm"]
    for name in names:  # every family is a model and has its bidirectional twin
        assert VARIANTS[name] == (name, False) and VARIANTS[f"bi{name}"] == (name, True)


def test_family_metadata_imports_without_torch():
    code = ("import sys, benchmark.families as f, benchmark.config as c; "
            "specs = f.families(); print(sorted(specs)); "
            "print([m for m in sys.modules if m == 'torch' or m.startswith('torch.') or m == 'lightning'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "mingru" in out[0] and out[1] == "[]"


def _pair(family, dtype, layers=2, bidirectional=True, inp=5, hidden=6):
    torch.manual_seed(0)
    scan = ScratchRNN(family, inp, hidden, layers, 0.0, bidirectional, mode="scan").to(dtype)
    initialise(scan, family)
    with torch.no_grad():  # biases off zero, so every term of the recurrence matters
        for name, p in scan.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-1, 1)
    step = ScratchRNN(family, inp, hidden, layers, 0.0, bidirectional, mode="step").to(dtype)
    step.load_state_dict(scan.state_dict())
    return scan, step


def _outputs_and_grads(rnn, x, h0, lengths=None):
    x = x.clone().requires_grad_(True)
    out, state = rnn(x, h0, lengths) if lengths is not None else rnn(x, h0)
    weights = torch.linspace(-1, 1, out.shape[-1], dtype=x.dtype)
    loss = (out * weights).sum() + (state ** 2).sum()
    grads = torch.autograd.grad(loss, [x, *rnn.parameters()])
    return [out, state, *grads]


def _relative(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("family", SCANNED)
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-5), (torch.float32, 1e-4)])
def test_scan_and_sequential_step_agree_at_T_512(family, dtype, tolerance):
    scan, step = _pair(family, dtype)
    torch.manual_seed(1)
    x = torch.randn(3, 512, 5, dtype=dtype)
    h0 = torch.randn(4, 3, 6, dtype=dtype)  # a carried state of any sign
    for a, b in zip(_outputs_and_grads(scan, x, h0), _outputs_and_grads(step, x, h0)):
        assert _relative(a, b) < tolerance


@pytest.mark.parametrize("family", SCANNED)
def test_scan_keeps_padding_out_of_outputs_final_state_and_the_backward_direction(family):
    scan, step = _pair(family, torch.float64)
    x = torch.randn(4, 9, 5, dtype=torch.float64)
    h0 = torch.zeros(4, 4, 6, dtype=torch.float64)
    lengths = torch.tensor([9, 3, 6, 1])
    for a, b in zip(_outputs_and_grads(scan, x, h0, lengths), _outputs_and_grads(step, x, h0, lengths)):
        torch.testing.assert_close(a, b)
    # the valid part of a short sequence is what it would be alone
    alone, _ = scan(x[1:2, :3], h0[:, 1:2])
    padded, _ = scan(x, h0, lengths)
    torch.testing.assert_close(padded[1:2, :3], alone)
    assert torch.all(padded[1, 3:] == 0)


@pytest.mark.parametrize("family", SCANNED)
def test_streaming_one_step_at_a_time_continues_the_scan(family):
    scan, _ = _pair(family, torch.float64, layers=1, bidirectional=False)
    x = torch.randn(2, 20, 5, dtype=torch.float64)
    whole, final = scan(x)
    state, outs = None, []
    for t in range(20):  # one step per call: the sequential step, state carried
        out, state = scan(x[:, t:t + 1], state)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), whole)
    torch.testing.assert_close(state, final)


@pytest.mark.parametrize("variant", [v for v, (f, _) in VARIANTS.items() if f in SCANNED])
@pytest.mark.parametrize("layers", [1, 3])
def test_min_families_have_no_recurrent_matrix_and_count_their_closed_form(variant, layers):
    cfg = ModelConfig(variant, "scratch", hidden=16, num_layers=layers)
    enc = Encoder(11, cfg)
    assert not any("weight_hh" in n or "bias_hh" in n for n, _ in enc.named_parameters())
    count = sum(p.numel() for p in enc.parameters())
    assert count == encoder_param_count(cfg.family, 11, 16, layers, cfg.bidirectional)
    g = families.get(cfg.family).blocks
    if layers == 1 and not cfg.bidirectional:
        assert count == g * (16 * 11 + 16)  # minGRU 2(hx + h), minLSTM 3(hx + h): O(h), not O(h^2)


def test_a_family_without_a_fused_kernel_runs_its_scan_under_cudnn_and_says_so():
    cfg = ModelConfig("mingru", "cudnn", hidden=8)
    assert cfg.implementation == "scan" and "no fused torch kernel" in cfg.fallback_note
    assert isinstance(Encoder(3, cfg).rnn, ScratchRNN)
    assert ModelConfig("lstm", "cudnn").implementation == "fused" and ModelConfig("lstm", "cudnn").fallback_note is None
    assert ModelConfig("lstm", "scratch").implementation == "step"


def test_inits_a_family_does_not_support_are_refused_before_training():
    with pytest.raises(ConfigError, match="model.init.*mingru"):
        ModelConfig("mingru", init="chrono")
    ModelConfig("mingru", init="uniform:0.05")


def test_min_families_train_a_copy_cell_with_cudnn_and_record_their_implementation(tmp_path):
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "benchmark", "run", "--tasks", "copy", "--models", "mingru,biminlstm",
                          "--profile", "smoke", "--set", "train.max_steps=4", "--set", "copy.delay=3",
                          "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "mingru has no fused torch kernel" in run.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    by_model = {r["model"]: r for r in records}
    assert by_model["mingru"]["status"] == "ok" and by_model["mingru"]["implementation"] == "scan"
    assert by_model["mingru"]["backend"] == "cudnn"  # the name asked for: cell names and groups unchanged
    assert by_model["biminlstm"]["status"] == "n/a"  # copy is causal


def test_registering_a_family_twice_is_an_error():
    spec = families.get("rnn")
    found = {"rnn": spec}
    with pytest.raises(ConfigError, match="registered twice"):
        families._add(found, spec, "a test")


def test_a_memory_span_arm_of_any_family_is_configured_by_name():
    from benchmark.measurements import memory_span, settings

    arms = settings.check_arms({"mingru": {"family": "mingru", "match": "lstm"}, "lstm": {"family": "lstm"}}, "test")
    built = {a.name: a for a in memory_span.arms({"hidden": 64, "arms": arms})}
    lstm = encoder_param_count("lstm", memory_span.INPUT_SIZE["recall"], 64)
    mine = encoder_param_count("mingru", memory_span.INPUT_SIZE["recall"], built["mingru"].hidden)
    assert abs(mine - lstm) / lstm < 0.01 and built["mingru"].model(20) == {"hidden": built["mingru"].hidden,
                                                                            "num_layers": 1, "init": "orthogonal"}
    with pytest.raises(ConfigError, match="family: one of .*mingru"):
        settings.check_arms({"x": {"family": "transformer"}}, "test")
    with pytest.raises(ConfigError, match="chrono.*mingru"):
        settings.check_arms({"x": {"family": "mingru", "init": "chrono"}}, "test")
