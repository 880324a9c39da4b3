"""Speed benchmarks of the harness itself, apart from the matrix (`python -m benchmark bench ...`)."""
from benchmark.engine.environment import device, provenance


def provenance_line() -> str:
    """What produced the figures a benchmark prints: device, library versions, date."""
    p = provenance(device(), 0)
    v = p["versions"]
    return (f"device: {p['device']}; torch {v['torch']}, lightning {v['lightning']}, CUDA {v['cuda']}, "
            f"cuDNN {v['cudnn']}; {p['date']}")
