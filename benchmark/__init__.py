"""rnnbench: how vanilla RNN, LSTM and GRU really compare, measured."""
__version__ = "0.1.0"

import os

# OpenMP worker threads spin while they wait for work. Beside another busy process that
# spinning steals its cores: six smoke cells with 2 threads took 5.4x their idle time beside a
# twin run, 1.15x with passive waiting (README, "Threads"). Set before torch loads its OpenMP
# runtime, which reads it once; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
