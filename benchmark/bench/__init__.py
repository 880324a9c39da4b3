"""Speed benchmarks of the harness itself, apart from the matrix (`python -m benchmark bench ...`)."""


def provenance_line() -> str:
    """What produced the figures a benchmark prints: device, library versions, date."""
    from benchmark.measurements.records import device, provenance
    p = provenance(device(), 0)
    v = p["versions"]
    return (f"device: {p['device']}; torch {v['torch']}, lightning {v['lightning']}, CUDA {v['cuda']}, "
            f"cuDNN {v['cudnn']}; {p['date']}")
