"""Parameter counts: measured on built encoders vs the closed form, and the ratio to the RNN.

The lecture's claim: RNN O(h^2), LSTM 4x that, GRU 3x. Per layer a family with G gate blocks
has G * (h*(h + x) + 2h) parameters (`benchmark.models.params`), so the ratio to the RNN is
exactly G at every size, input size included: the measured counts check the zoo builds what
the formula says, on both backends.
"""
from __future__ import annotations

import math

from benchmark.config import ModelConfig
from benchmark.engine.environment import device, provenance
from benchmark.models import FAMILIES, Encoder, encoder_param_count
from benchmark.models.params import GATES

NAME = "parameters"
UNITS = {"measured_cudnn": "parameters", "measured_scratch": "parameters", "closed_form": "parameters",
         "ratio_to_rnn": "x (measured / RNN's at the same hidden size)"}


def measured(family: str, input_size: int, hidden: int, backend: str) -> int:
    encoder = Encoder(input_size, ModelConfig(variant=family, backend=backend, hidden=hidden))
    return sum(p.numel() for p in encoder.parameters())


def matched_hidden(family: str, input_size: int, target: int) -> int:
    """Hidden size whose one-layer `family` count is closest to `target` parameters.

    Solves G*(h^2 + (x + 2) h) = target for h: h = (-(x+2) + sqrt((x+2)^2 + 4 target / G)) / 2,
    then takes whichever neighbouring integer lands nearer.
    """
    g, b = GATES[family], input_size + 2
    root = (-b + math.sqrt(b * b + 4 * target / g)) / 2
    candidates = [max(1, math.floor(root)), math.ceil(root)]
    return min(candidates, key=lambda h: abs(encoder_param_count(family, input_size, h) - target))


def run(settings: dict, out_dir, profile: str) -> dict:
    x = settings["input_size"]
    rows = []
    for hidden in settings["hidden"]:
        rnn = measured("rnn", x, hidden, "cudnn")
        for family in FAMILIES:
            cudnn, scratch = measured(family, x, hidden, "cudnn"), measured(family, x, hidden, "scratch")
            rows.append({"family": family, "hidden": hidden, "input_size": x, "measured_cudnn": cudnn,
                         "measured_scratch": scratch, "closed_form": encoder_param_count(family, x, hidden),
                         "ratio_to_rnn": cudnn / rnn, "claimed_ratio": GATES[family]})
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "rows": rows,
            **provenance(device(), settings["seed"])}
