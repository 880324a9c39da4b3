"""Kept for existing imports: the launchers live in `benchmark.launchers`."""
from benchmark.launchers import Summary, run_matrix  # noqa: F401
