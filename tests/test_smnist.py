"""smnist: the IDX and Parquet readers, the fixed permutation, bad and missing files, and a
smoke cell end to end, all on a generated fixture (no network, no real MNIST): 28 x 28
images whose label is the row of their one bright stripe."""
from __future__ import annotations

import gzip
import io
import json
import math
import struct
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmark.config import ConfigError, TrainConfig
from benchmark.engine.cells import build_cells
from benchmark.errors import DataError, DataUnavailable
from benchmark.launchers import run_matrix
from tasks.data.mnist import IDX_FILES, MnistData, load_mnist, pixel_permutation
from tasks.smnist import SmnistSettings, SmnistTask

SIZES = {"train": 64, "test": 16}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "rnnbench-cache"))


def digits(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 28, 28) uint8, label i % 10 (shifted by offset): a stripe on row 2 * label + 3."""
    labels = (np.arange(n) + offset) % 10
    images = np.zeros((n, 28, 28), np.uint8)
    images[np.arange(n), 2 * labels + 3] = 255
    images[:, 0, 0] = np.arange(n)  # tells the images apart
    return images, labels


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    data = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.fixture
def idx_dir(tmp_path):
    (tmp_path / "mnist").mkdir()
    for split, (images_file, labels_file) in IDX_FILES.items():
        images, labels = digits(SIZES[split], offset=3 if split == "test" else 0)
        write_idx(tmp_path / "mnist" / images_file, images)
        write_idx(tmp_path / "mnist" / labels_file, labels)
    return tmp_path


def png(image: np.ndarray) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(image, mode="L").save(out, format="PNG")
    return out.getvalue()


def write_parquet(root: Path, as_png: bool = True) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for split, n in SIZES.items():
        images, labels = digits(n, offset=3 if split == "test" else 0)
        column = ([{"bytes": png(im), "path": None} for im in images] if as_png
                  else [im.reshape(-1).tolist() for im in images])
        table = pa.table({"image": column, "label": labels.astype(np.int64)})
        pq.write_table(table, root / "mnist" / f"{split}.parquet")


def load(data_dir, source="local"):
    return load_mnist(source, "mnist", "ylecun/mnist", data_dir)


def check_official(loaded):
    for split, n in SIZES.items():
        images, labels = loaded[split]
        assert images.shape == (n, 784) and images.dtype == torch.uint8
        assert labels.dtype == torch.int64 and labels.tolist() == [(i + (3 if split == "test" else 0)) % 10
                                                                   for i in range(n)]
        rows = images.view(n, 28, 28)
        assert torch.all(rows[torch.arange(n), 2 * labels + 3] == 255)  # the stripe, read back row-major


def test_idx_files_plain_and_gzipped(idx_dir):
    check_official(load(idx_dir))
    for path in list((idx_dir / "mnist").iterdir()):
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    check_official(load(idx_dir))


@pytest.mark.parametrize("as_png", [True, False], ids=["png", "pixel-lists"])
def test_parquet_reads_like_idx(tmp_path, idx_dir, as_png):
    other = tmp_path / "parquet"
    write_parquet(other, as_png)
    check_official(load(other))
    for split in SIZES:
        assert all(torch.equal(a, b) for a, b in zip(load(other)[split], load(idx_dir)[split]))


def data(data_dir, seed=0, **settings) -> MnistData:
    train = TrainConfig(batch_size=8)
    return SmnistTask.datamodule(SmnistSettings(val_examples=8, **settings), train, seed, data_dir)


def test_validation_is_the_end_of_train_and_inputs_are_scaled_pixels(idx_dir):
    dm = data(idx_dir, max_train_examples=20)
    train, val, test = (dm.splits[s][1] for s in ("train", "val", "test"))
    assert len(val) == 8 and val.tolist() == [i % 10 for i in range(56, 64)]
    assert len(train) == 20 and torch.equal(train, data(idx_dir, seed=5, max_train_examples=20).splits["train"][1])
    assert len(test) == 16
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (8, 784, 1) and x.dtype == torch.float32 and 0 <= x.min() and x.max() == 1
    assert torch.all(x.view(8, 28, 28)[torch.arange(8), 2 * y + 3] == 1)


def test_permutation_is_fixed_for_every_cell_and_seed(idx_dir):
    perm = pixel_permutation(0)
    assert torch.equal(perm, pixel_permutation(0)) and not torch.equal(perm, pixel_permutation(1))
    assert torch.equal(perm.sort().values, torch.arange(784)) and not torch.equal(perm, torch.arange(784))
    plain = next(iter(data(idx_dir).val_dataloader()))[0]
    permuted = [next(iter(data(idx_dir, seed=s, permute=True).val_dataloader()))[0] for s in (0, 1)]
    assert torch.equal(permuted[0], permuted[1])  # the cell's seed does not move it
    assert torch.equal(permuted[0], plain[:, perm]) and not torch.equal(permuted[0], plain)
    other = next(iter(data(idx_dir, permute=True, permutation_seed=7).val_dataloader()))[0]
    assert torch.equal(other, plain[:, pixel_permutation(7)])


def test_each_rank_trains_on_its_own_batches_and_scores_the_whole_split(idx_dir):
    firsts, lengths = [], []
    for rank in (0, 1):
        dm = data(idx_dir)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)  # what `replica` asks of a trainer
        firsts.append(next(iter(dm.train_dataloader()))[0])
        lengths.append(sum(len(y) for _, y in dm.val_dataloader()))
    assert not torch.equal(firsts[0], firsts[1])  # a shard each
    assert lengths == [8, 8]  # evaluation: every rank the whole split


@pytest.mark.parametrize("damage, match", [
    (lambda p: write_idx(p, digits(64)[0], magic=2049),
     r"train-images-idx3-ubyte: IDX magic number 2049, expected 2051"),
    (lambda p: p.write_bytes(p.read_bytes()[:-5]), r"train-images-idx3-ubyte: the header says 64 x 28 x 28"),
    (lambda p: p.write_bytes(b"\x00\x00"), r"train-images-idx3-ubyte: 2 bytes, too short"),
    (lambda p: write_idx(p, np.zeros((64, 27, 27), np.uint8)), r"train-images-idx3-ubyte: images of 27 x 27"),
])
def test_bad_idx_files_name_the_file_and_what_was_expected(idx_dir, damage, match):
    damage(idx_dir / "mnist" / "train-images-idx3-ubyte")
    with pytest.raises(DataError, match=match):
        load(idx_dir)


def test_bad_labels_and_too_large_validation_are_data_errors(idx_dir):
    write_idx(idx_dir / "mnist" / "t10k-labels-idx1-ubyte", np.full(16, 12))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: labels 12..12, expected digits 0-9"):
        load(idx_dir)
    write_idx(idx_dir / "mnist" / "t10k-labels-idx1-ubyte", np.arange(16) % 10)
    with pytest.raises(DataError, match="smnist.val_examples = 64"):
        SmnistTask.datamodule(SmnistSettings(val_examples=64), TrainConfig(), 0, idx_dir)


def test_bad_parquet_names_the_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    write_parquet(tmp_path)
    pq.write_table(pa.table({"pixels": [[0] * 784], "label": [1]}), tmp_path / "mnist" / "test.parquet")
    with pytest.raises(DataError, match=r"test.parquet: no column\(s\) \['image'\]"):
        load(tmp_path)
    pq.write_table(pa.table({"image": [{"bytes": b"not a png", "path": None}], "label": [1]}),
                   tmp_path / "mnist" / "test.parquet")
    with pytest.raises(DataError, match=r"test.parquet: row 0 \(from 0\): not a readable image"):
        load(tmp_path)


def test_missing_data_is_unavailable_and_the_cell_skipped(tmp_path):
    with pytest.raises(DataUnavailable, match="--data-dir DIR"):
        load(None)
    with pytest.raises(DataUnavailable, match=r"mnist not found; put MNIST there \(the four IDX files"):
        load(tmp_path)
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(DataUnavailable, match=r"missing train-labels-idx1-ubyte, t10k-images"):
        load(tmp_path)
    start = time.perf_counter()
    summary = run_matrix(build_cells(["smnist"], ["lstm"], profile="smoke"), tmp_path / "out", data_dir=tmp_path,
                         wandb="disabled")
    record = json.loads((tmp_path / "out" / "results.jsonl").read_text().splitlines()[-1])
    assert summary.failed == [] and record["status"] == "skipped" and "train-labels-idx1-ubyte" in record["reason"]
    assert time.perf_counter() - start < 10


def test_offline_hub_is_unavailable_within_seconds(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(DataUnavailable, match="ylecun/mnist"):
        load(None, source="hub")
    assert time.perf_counter() - start < 10


def test_bad_settings_fail_at_config_time():
    for bad, match in (({"source": "web"}, "smnist.source"), ({"val_examples": 0}, "smnist.val_examples"),
                       ({"max_train_examples": -1}, "smnist.max_train_examples"), ({"folder": ""}, "smnist.folder")):
        with pytest.raises(ConfigError, match=match):
            SmnistSettings(**bad)
    with pytest.raises(ConfigError, match="smnist.permute"):
        build_cells(["smnist"], ["lstm"], profile="smoke", overrides={"smnist": {"permute": "yes"}})


@pytest.mark.parametrize("permute", [False, True])
def test_smoke_cell_end_to_end(idx_dir, permute):
    overrides = {"smnist": {"val_examples": 8, "permute": permute}, "model": {"hidden": 8},
                 "train": {"max_steps": 3, "batch_size": 8, "log_every": 1}}
    cells = build_cells(["smnist"], ["lstm"], profile="smoke", overrides=overrides)
    summary = run_matrix(cells, idx_dir / "out", data_dir=idx_dir, wandb="disabled")
    assert summary.failed == [] and summary.ran == 1
    record = json.loads((idx_dir / "out" / "results.jsonl").read_text().splitlines()[-1])
    assert record["status"] == "ok", record.get("error")
    acc = record["metrics"]["test/acc"]
    assert math.isfinite(acc) and 0 <= acc <= 1
    assert record["train_tokens"] == 3 * 8 * 784  # a step is a batch of 784-pixel sequences
    assert set(record["baselines"]) == {"majority class (of train)"}
