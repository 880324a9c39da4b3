"""Which cuDNN RNN algorithm torch runs for a shape, dtype and GPU: a pure function, so a CPU can say it.

torch's `get_algo` (aten/src/ATen/native/cudnn/RNN.cpp; pytorch PRs #43165, #48070, #62143)
picks CUDNN_RNN_ALGO_PERSIST_STATIC (the recurrent weights stay in the SMs' registers for the
whole sequence) only when all of these hold, and the standard algorithm otherwise:
- fp16 input (never bf16 or float32), not a PackedSequence;
- one unidirectional layer, hidden <= 1024, hidden and input sizes multiples of 128;
- the GPU: Volta (sm_70/72) with batch 8 or a multiple of 16 (not 80 or 112) and a long
  enough sequence for the batch; Ampere or later (not sm_86) with >= 98 SMs, batch a
  multiple of 8 and <= 128, never GRU, and for RNN_TANH not batch >= 96 with hidden >= 896.
Turing (sm_75), sm_86 and small Ampere parts (A30) never get it.
"""
from __future__ import annotations

PERSISTENT = "persistent (CUDNN_RNN_ALGO_PERSIST_STATIC)"
STANDARD = "standard (CUDNN_RNN_ALGO_STANDARD)"
H100 = (9, 0, 132)  # (major, minor, SMs) of an H100 SXM: the GPU a CPU names when it has none


def cudnn_algorithm(family: str, precision: str, input_size: int, hidden: int, batch: int, seq: int,
                    num_layers: int = 1, bidirectional: bool = False, packed: bool = False,
                    gpu: tuple[int, int, int] = H100) -> str:
    """PERSISTENT or STANDARD, as torch chooses; `precision` is fp32, bf16 or fp16."""
    if precision != "fp16" or packed:
        return STANDARD
    common = (num_layers == 1 and not bidirectional and hidden <= 1024
              and hidden % 128 == 0 and input_size % 128 == 0)
    return PERSISTENT if common and _device_allows(family, hidden, batch, seq, gpu) else STANDARD


def _device_allows(family, hidden, batch, seq, gpu) -> bool:
    major, minor, sms = gpu
    if major == 7:
        if minor == 5:  # Turing
            return False
        # Volta: many multiples of 8 were slow in torch's sweep; it keeps these.
        return (((batch % 16 == 0 and batch not in (80, 112)) or batch == 8)
                and ((seq >= 40 and batch <= 128) or (seq >= 20 and batch <= 96) or (seq >= 10 and batch <= 32)))
    if major >= 8 and sms >= 98 and minor != 6:
        if family == "gru":  # persistent GRU performance was too uneven to enable
            return False
        if family == "lstm":
            return batch % 8 == 0 and batch <= 128
        return batch % 8 == 0 and batch <= 128 and (batch < 96 or hidden < 896)
    return False


def gpu_of(device) -> tuple[int, int, int] | None:
    """(major, minor, SMs) of a CUDA device; None for any other device."""
    if device.type != "cuda":
        return None
    import torch  # only the CUDA path needs it; the rule above is torch-free

    p = torch.cuda.get_device_properties(device)
    return p.major, p.minor, p.multi_processor_count
