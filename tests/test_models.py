"""The model zoo: scratch cells agree with torch's fused ones, parameter counts match the closed form,
and each initialisation policy holds for both backends."""
import math

import pytest
import torch

from benchmark import families
from benchmark.config import BACKENDS, ConfigError
from benchmark.config import VARIANTS, ModelConfig
from benchmark.families.gru import cell as gru_cell
from benchmark.models import Encoder, encoder_param_count
from benchmark.models.scratch import from_torch_state

FUSED = [v for v, (family, _) in VARIANTS.items() if families.get(family).fused]  # scratch vs torch's kernel


def _pair(variant, layers=2, inp=5, hidden=7, dropout=0.0):
    torch.manual_seed(0)
    ref = Encoder(inp, ModelConfig(variant, "cudnn", hidden, layers, dropout)).double()
    ours = Encoder(inp, ModelConfig(variant, "scratch", hidden, layers, dropout)).double()
    ours.rnn.load_state_dict(from_torch_state(ref.rnn.state_dict(), ref.cfg.family))
    return ref, ours


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("variant", FUSED)
@pytest.mark.parametrize("variable_length", [False, True])
def test_scratch_matches_torch_outputs_and_gradients(variant, variable_length):
    ref, ours = _pair(variant)
    x = torch.randn(4, 9, 5, dtype=torch.double)
    lengths = torch.tensor([9, 3, 6, 1]) if variable_length else None
    results = []
    for enc in (ref, ours):
        xi = x.clone().requires_grad_(True)
        out, state = enc(xi, lengths)
        # A loss that reads every output and every final state, so all paths carry gradient.
        loss = (out ** 2).sum() + sum((s * torch.linspace(-1, 1, s.shape[-1], dtype=s.dtype)).sum()
                                      for s in _flat(state))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in enc.rnn.named_parameters()}
        results.append((out, _flat(state), xi.grad, grads))
    (o1, s1, gx1, gp1), (o2, s2, gx2, gp2) = results
    torch.testing.assert_close(o2, o1, atol=1e-5, rtol=0)
    for a, b in zip(s2, s1):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(gx2, gx1, atol=1e-5, rtol=0)
    mapped = from_torch_state(gp1, ref.cfg.family)  # GRU z rows flip sign, and so do their gradients
    for name in gp2:
        torch.testing.assert_close(gp2[name], mapped[name], atol=1e-5, rtol=0, msg=name)


def test_carried_state_continues_the_sequence():
    for variant in (v for v, (_, bidir) in VARIANTS.items() if not bidir):
        ours = Encoder(5, ModelConfig(variant, "scratch", 7, 1)).double()
        x = torch.randn(2, 8, 5, dtype=torch.double)
        whole, _ = ours(x)
        first, state = ours(x[:, :5])
        rest, _ = ours(x[:, 5:], state=state)
        torch.testing.assert_close(torch.cat([first, rest], 1), whole)


def test_gru_follows_the_lecture_convention():
    # z = 1 takes the candidate entirely: h_t = h~_t. Saturate z with a large bias.
    hidden = 3
    w_hh = torch.zeros(3 * hidden, hidden)
    b_hh = torch.zeros(3 * hidden)
    xw = torch.zeros(1, 3 * hidden)
    xw[:, hidden:2 * hidden] = 50.0      # z pre-activation
    xw[:, 2 * hidden:] = 0.3             # candidate pre-activation
    h_prev = torch.full((1, hidden), 0.9)
    (h,) = gru_cell(xw, (h_prev,), w_hh, b_hh)
    torch.testing.assert_close(h, torch.tanh(torch.full((1, hidden), 0.3)))


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("backend", BACKENDS)
def test_parameter_count_matches_closed_form(variant, layers, backend):
    cfg = ModelConfig(variant, backend, hidden=16, num_layers=layers)
    enc = Encoder(11, cfg)
    measured = sum(p.numel() for p in enc.parameters())
    assert measured == encoder_param_count(cfg.family, 11, 16, layers, cfg.bidirectional)


def test_closed_form_ratios_follow_the_gate_count():
    rnn = encoder_param_count("rnn", 64, 64)
    assert encoder_param_count("lstm", 64, 64) == 4 * rnn
    assert encoder_param_count("gru", 64, 64) == 3 * rnn


@pytest.mark.parametrize("backend", BACKENDS)
def test_initialisation_policy(backend):
    torch.manual_seed(1)
    enc = Encoder(6, ModelConfig("lstm", backend, hidden=8, num_layers=2))
    params = dict(enc.rnn.named_parameters())
    forget = slice(8, 16)
    for layer in (0, 1):
        b = params[f"bias_ih_l{layer}"] + params[f"bias_hh_l{layer}"]
        assert torch.all(b[forget] == 1.0) and torch.all(b[:8] == 0) and torch.all(b[16:] == 0)
        for block in params[f"weight_hh_l{layer}"].chunk(4, 0):  # orthogonal per gate
            torch.testing.assert_close(block @ block.T, torch.eye(8), atol=1e-5, rtol=0)


def _lstm(backend, init, hidden=8, **kw):
    torch.manual_seed(2)
    enc = Encoder(6, ModelConfig("lstm", backend, hidden=hidden, num_layers=2, init=init, **kw))
    return dict(enc.rnn.named_parameters())


@pytest.mark.parametrize("backend", BACKENDS)
def test_forget_bias_sets_the_effective_forget_bias(backend):
    params = _lstm(backend, "orthogonal", forget_bias=0.0)
    assert all(torch.all(p == 0) for n, p in params.items() if n.startswith("bias"))
    params = _lstm(backend, "orthogonal", forget_bias=2.5)
    assert torch.all((params["bias_ih_l1"] + params["bias_hh_l1"])[8:16] == 2.5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("init, bound", [("pytorch", 1 / 128 ** 0.5), ("uniform:0.05", 0.05)])
def test_uniform_inits_draw_every_weight_and_bias_within_their_bound(backend, init, bound):
    params = _lstm(backend, init, hidden=128)
    values = torch.cat([p.detach().flatten() for p in params.values()])
    assert values.abs().max() <= bound and values.abs().max() > 0.99 * bound
    assert abs(values.mean()) < 0.01 * bound and values.std() == pytest.approx(bound / 3 ** 0.5, rel=0.02)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pytorch_init_gives_a_contracting_rnn(backend):
    # Uniform ±1/sqrt(h) has variance 1/(3h): by the circular law the eigenvalues of W_hh fill
    # a disc of radius 1/sqrt(3) = 0.58; at h = 128 the largest measured 0.59-0.67 (seeds 0-4).
    torch.manual_seed(0)
    w_hh = Encoder(4, ModelConfig("rnn", backend, hidden=128, init="pytorch")).rnn.weight_hh_l0.detach()
    radius = torch.linalg.eigvals(w_hh).abs().max()
    assert 0.5 < radius < 0.75
    torch.manual_seed(0)
    w_hh = Encoder(4, ModelConfig("rnn", backend, hidden=128)).rnn.weight_hh_l0.detach()
    assert torch.linalg.eigvals(w_hh).abs().max() == pytest.approx(1.0, abs=1e-4)  # orthogonal


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("init, tmax", [("chrono", 100), ("chrono:10", 10)])
def test_chrono_spreads_forget_biases_and_mirrors_them_in_the_input_gate(backend, init, tmax):
    params = _lstm(backend, init, hidden=64)
    for layer in (0, 1):
        b = params[f"bias_ih_l{layer}"] + params[f"bias_hh_l{layer}"]
        b_i, b_f, rest = b[:64], b[64:128], b[128:]
        assert torch.all((b_f >= 0) & (b_f <= math.log(tmax - 1))) and b_f.std() > 0.1
        assert torch.equal(b_i, -b_f) and torch.all(rest == 0)
        for block in params[f"weight_hh_l{layer}"].chunk(4, 0):  # weights as orthogonal
            torch.testing.assert_close(block @ block.T, torch.eye(64), atol=1e-5, rtol=0)


@pytest.mark.parametrize("bad", [dict(init="foo"), dict(init="uniform:-1"), dict(init="uniform:x"),
                                 dict(init="uniform"), dict(init="chrono:1"), dict(init="pytorch:2"),
                                 dict(variant="gru", init="chrono"), dict(init="pytorch", forget_bias=0.0)])
def test_bad_init_names_model_init(bad):
    with pytest.raises(ConfigError, match="model.init") as e:
        ModelConfig(**bad)
    assert "gru" in str(e.value) or bad.get("variant") != "gru"


def test_init_set_on_the_command_line_reaches_the_cells():
    from benchmark.config import parse_set
    from benchmark.engine.cells import build_cells
    cells = build_cells(["copy"], ["lstm"], overrides=parse_set(["model.init=uniform:0.05"]))
    assert cells[0].model.init == "uniform:0.05" and cells[0].config()["model"]["init"] == "uniform:0.05"
    with pytest.raises(ConfigError, match="model.forget_bias"):  # forget_bias is orthogonal's only
        build_cells(["copy"], ["lstm"], overrides=parse_set(["model.init=pytorch", "model.forget_bias=0"]))
    default, pytorch = (build_cells(["copy"], ["lstm"], overrides=parse_set(o)) for o in ([], ["model.init=pytorch"]))
    assert pytorch[0].model.init == "pytorch" and pytorch[0].group != default[0].group


@pytest.mark.parametrize("bad", [dict(variant="transformer"), dict(backend="cuda"), dict(hidden=0),
                                 dict(num_layers=4), dict(dropout=1.0)])
def test_bad_model_config_names_the_value(bad):
    with pytest.raises(ConfigError, match=str(list(bad.values())[0])):
        ModelConfig(**bad)
