"""rnnbench plug-in example: the IndRNN family (indrnn.py) and the majority task (majority.py).

rnnbench finds both through this distribution's entry points (pyproject.toml), not by
importing this package. Keep this file free of torch: `list` reads the family spec and the
task's declared name, kind and description without loading torch.
"""
