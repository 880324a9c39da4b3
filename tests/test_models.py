"""The model zoo: scratch cells agree with torch's fused ones, parameter counts match the closed form,
and one initialisation policy holds for both backends."""
import pytest
import torch

from benchmark.config import ConfigError
from benchmark.config import VARIANTS, ModelConfig
from benchmark.models import Encoder, encoder_param_count
from benchmark.models.scratch import from_torch_state, gru_cell


def _pair(variant, layers=2, inp=5, hidden=7, dropout=0.0):
    torch.manual_seed(0)
    ref = Encoder(inp, ModelConfig(variant, "cudnn", hidden, layers, dropout)).double()
    ours = Encoder(inp, ModelConfig(variant, "scratch", hidden, layers, dropout)).double()
    ours.rnn.load_state_dict(from_torch_state(ref.rnn.state_dict(), ref.cfg.family))
    return ref, ours


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("variant", ["rnn", "lstm", "gru", "birnn", "bilstm", "bigru"])
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
    for variant in ("rnn", "lstm", "gru"):
        ref, ours = _pair(variant, layers=1)
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
@pytest.mark.parametrize("backend", ["cudnn", "scratch"])
def test_parameter_count_matches_closed_form(variant, layers, backend):
    cfg = ModelConfig(variant, backend, hidden=16, num_layers=layers)
    enc = Encoder(11, cfg)
    measured = sum(p.numel() for p in enc.parameters())
    assert measured == encoder_param_count(cfg.family, 11, 16, layers, cfg.bidirectional)


def test_closed_form_ratios_follow_the_gate_count():
    rnn = encoder_param_count("rnn", 64, 64)
    assert encoder_param_count("lstm", 64, 64) == 4 * rnn
    assert encoder_param_count("gru", 64, 64) == 3 * rnn


@pytest.mark.parametrize("backend", ["cudnn", "scratch"])
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


@pytest.mark.parametrize("bad", [dict(variant="transformer"), dict(backend="cuda"), dict(hidden=0),
                                 dict(num_layers=4), dict(dropout=1.0)])
def test_bad_model_config_names_the_value(bad):
    with pytest.raises(ConfigError, match=str(list(bad.values())[0])):
        ModelConfig(**bad)
