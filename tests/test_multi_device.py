"""`--devices 2`: one cell of every task trained by two processes through DDP (two CPU processes
here), its record complete: the meter's figures come back from rank 0, the metrics are reduced
across ranks, and the training data is sharded between them."""
import math
from types import SimpleNamespace

import pytest
import torch

from benchmark.engine.cells import build_cells
from benchmark.engine.runner import build_module
from benchmark.engine.store import ResultsStore
from benchmark.launchers import run_matrix
from tasks import all_tasks

pytestmark = pytest.mark.skipif(torch.cuda.device_count() == 1, reason="needs two devices: CPU processes or 2 GPUs")
SMALL = {"train": {"max_steps": 4, "batch_size": 8, "val_batches": 2, "test_batches": 2, "log_every": 2},
         "model": {"hidden": 8}, "copy": {"delay": 4}, "adding": {"length": 8},
         "char_lm": {"max_train_tokens": 20000, "bptt": 10}, "word_lm": {"max_train_tokens": 20000, "bptt": 10},
         "sentiment": {"max_train_examples": 400}, "ner": {"max_train_examples": 300},
         "smnist": {"max_train_examples": 200, "val_examples": 50}}
# Data sets the shared data may lack (a task reads it only when its folder is there): their cells are skipped.
OPTIONAL_DATA = {"smnist": "mnist"}


@pytest.mark.slow
def test_two_processes_train_a_cell_of_every_task(tmp_path, data_dir):
    cells = build_cells(None, ["lstm"], ["cudnn"], 1, "smoke", SMALL)
    summary = run_matrix(cells, tmp_path, data_dir=data_dir, devices=2)
    records = {r["task"]: r for r in ResultsStore(tmp_path).current()}
    assert not summary.failed, [(r["cell"], r.get("error")) for r in summary.failed]
    assert set(records) == set(all_tasks())
    for task, r in records.items():
        if task in OPTIONAL_DATA and not (data_dir / OPTIONAL_DATA[task]).is_dir():
            assert r["status"] == "skipped", (task, r.get("error"))
            continue
        assert r["status"] == "ok" and r["devices"] == 2, task
        assert r["train_steps"] == 4 and r["train_tokens"] > 0 and r["train_tokens_per_s"] > 0, task
        assert r["peak_mem_bytes"] is not None and math.isfinite(r["grad_norm"]), task
        assert r["metrics"] and all(math.isfinite(v) for v in r["metrics"].values()), task


class _Trainer:  # what a data module asks of its trainer: which rank of how many, on which device
    def __init__(self, rank, world):
        self.global_rank, self.world_size = rank, world
        self.strategy = SimpleNamespace(root_device=torch.device("cpu"))


@pytest.mark.parametrize("task", ["copy", "sentiment", "forecast", "word_lm"])
def test_each_rank_trains_on_its_own_batches_and_scores_the_whole_split(task, data_dir):
    (cell,) = build_cells([task], ["lstm"], ["cudnn"], 1, "smoke", SMALL)
    firsts, lengths = [], []
    for rank in (0, 1):
        data, _ = build_module(cell, data_dir)
        data.trainer = _Trainer(rank, 2)
        firsts.append(next(iter(data.train_dataloader()))[0])
        lengths.append(sum(1 for _ in data.val_dataloader()))
    assert not torch.equal(firsts[0], firsts[1])  # a shard each
    assert lengths[0] == lengths[1]  # evaluation: every rank the same whole split
