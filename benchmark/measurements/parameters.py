"""Parameter counts: measured on built encoders vs the closed form, and the ratio to the RNN.

The lecture's claim: RNN O(h^2), LSTM 4x that, GRU 3x. Per layer a family with G gate blocks
has G * (h*(h + x) + 2h) parameters (`benchmark.models.params`), so the ratio to the RNN is
exactly G at every size, input size included: the measured counts check the zoo builds what
the formula says, on both backends. Every registered family is measured (`families`: a
profile may name some); minGRU and minLSTM, without a recurrent matrix, have G(hx + h), O(h).
"""
from __future__ import annotations


from benchmark import families
from benchmark.config import ModelConfig
from benchmark.engine.environment import device, provenance
from benchmark.models import Encoder, encoder_param_count

NAME = "parameters"
UNITS = {"measured_cudnn": "parameters", "measured_scratch": "parameters", "closed_form": "parameters",
         "ratio_to_rnn": "x (measured / RNN's at the same hidden size)"}


def measured(family: str, input_size: int, hidden: int, backend: str) -> int:
    encoder = Encoder(input_size, ModelConfig(variant=family, backend=backend, hidden=hidden))
    return sum(p.numel() for p in encoder.parameters())


def matched_hidden(family: str, input_size: int, target: int) -> int:
    """Hidden size whose one-layer `family` count is closest to `target` parameters.

    Counts grow with h, so a bisection finds the last h at or below the target; whichever of
    it and the next lands nearer wins (for G*(h^2 + (x + 2) h) that is the rounded root)."""
    def count(h):
        return encoder_param_count(family, input_size, h)
    low, high = 1, 2
    while count(high) < target:
        high *= 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if count(mid) <= target else (low, mid)
    return min((low, high), key=lambda h: abs(count(h) - target))


def run(settings: dict, out_dir, profile: str) -> dict:
    x = settings["input_size"]
    names = settings.get("families") or list(families.families())
    rows = []
    for hidden in settings["hidden"]:
        rnn = measured("rnn", x, hidden, "cudnn")
        for family in names:
            spec = families.get(family)
            cudnn, scratch = measured(family, x, hidden, "cudnn"), measured(family, x, hidden, "scratch")
            rows.append({"family": family, "hidden": hidden, "input_size": x, "measured_cudnn": cudnn,
                         "measured_scratch": scratch, "closed_form": encoder_param_count(family, x, hidden),
                         "formula": spec.closed_form(), "ratio_to_rnn": cudnn / rnn,
                         "claimed_ratio": spec.blocks if spec.recurrent else None})  # the lecture claims G
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "rows": rows,
            **provenance(device(), settings["seed"])}
