"""A time series CSV cut into windows, for forecast (default ETTh1, Zhou et al. 2021).

Data: `<data_dir>/ett/ETTh1.csv` (date, HUFL, HULL, MUFL, MULL, LUFL, LULL, OT), or any CSV
with a time column and numeric columns. The split is Informer's 12/4/4 months (8,640 /
2,880 / 2,880 rows); validation and test windows start `lookback` rows before their
border, so the first predicted row is the border's. z-scores are fit on the training rows
only (no leakage).
"""
from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import Dataset

from benchmark.errors import DataError
from tasks.data.loader import loader, replica
from tasks.data.sequences import eval_indices
from tasks.data.sources import cached, local_file, read_text


def read_series(path: Path, time_column: str, feature_columns) -> tuple[list[str], torch.Tensor]:
    """The numeric columns of a CSV with a header row: (column names, (rows, columns) float64)."""
    reader = csv.reader(read_text(path).splitlines())
    header = [h.strip() for h in next(reader, [])]
    if time_column not in header:
        raise DataError(f"{path}:1: no time column {time_column!r} in header {header}; set forecast.time_column")
    names = list(feature_columns) or [h for h in header if h != time_column]
    missing = [n for n in names if n not in header]
    if missing or not names:
        raise DataError(f"{path}:1: no column(s) {missing or names} in header {header}; set forecast.feature_columns")
    cols = [header.index(n) for n in names]
    rows = []
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:{reader.line_num}: expected {len(header)} columns, found {len(row)}")
        try:
            values = [float(row[c]) for c in cols]
        except ValueError:
            bad = next(names[k] for k, c in enumerate(cols) if not _is_number(row[c]))
            raise DataError(f"{path}:{reader.line_num}: column {bad!r} is not a number: "
                            f"{row[header.index(bad)]!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise DataError(f"{path}:{reader.line_num}: missing or infinite value; fill or drop the row")
        rows.append(values)
    if not rows:
        raise DataError(f"{path}: no data rows after the header")
    return names, torch.tensor(rows, dtype=torch.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_series(settings, data_dir) -> dict:
    """Normalised series and the train-rows statistics; cached, keyed by the file and the
    settings (a dataclass: forecast's)."""
    path = Path(settings.file).expanduser()
    if not (path.is_absolute() and path.exists()):
        path = local_file(data_dir, settings.file, "forecast")

    def build():
        names, values = read_series(path, settings.time_column, settings.feature_columns)
        need = settings.train_rows + settings.val_rows + settings.test_rows
        if len(values) < need:
            raise DataError(f"{path}: {len(values)} data rows, but the split needs train_rows + val_rows + test_rows "
                            f"= {need}; set forecast.train_rows/val_rows/test_rows")
        if settings.features != "M" and settings.target not in names:
            raise DataError(f"{path}:1: target column {settings.target!r} not among {names}; set forecast.target")
        train = values[: settings.train_rows]  # statistics from the training rows only
        mean, std = train.mean(0), train.std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays as is
        return {"names": names, "series": ((values - mean) / std).float(), "mean": mean.float(), "std": std.float()}

    return cached("forecast", [path], {k: v for k, v in dataclasses.asdict(settings).items()
                                       if k not in ("horizon", "season")}, build)


class Windows(Dataset):
    """(lookback rows of the inputs, the next horizon rows of the outputs) starting at each start."""

    def __init__(self, series, starts, lookback, horizon, inputs, outputs):
        self.series, self.starts, self.lookback, self.horizon = series, starts, lookback, horizon
        self.inputs, self.outputs = inputs, outputs

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, i):
        s, lb = self.starts[i], self.lookback
        return self.series[s:s + lb, self.inputs], self.series[s + lb:s + lb + self.horizon, self.outputs]


class ForecastData(L.LightningDataModule):
    """Windows of each split from `load_series`'s output. settings: forecast's (target,
    features, lookback, horizon, train_rows, val_rows, test_rows); train: batch_size and the
    val/test batch caps, which keep a fixed random sample of windows (`eval_indices`)."""

    def __init__(self, settings, train, seed: int, loaded: dict):
        super().__init__()
        s = settings
        self.batch_size, self.seed = train.batch_size, seed
        self.names, self.series = loaded["names"], loaded["series"]
        target = [self.names.index(s.target)] if s.features != "M" else None
        self.inputs = target if s.features == "S" else list(range(len(self.names)))
        self.outputs = target or list(range(len(self.names)))
        self.mean, self.std = loaded["mean"][self.outputs], loaded["std"][self.outputs]
        # Informer's borders: val/test windows begin `lookback` rows before the border.
        t, v = s.train_rows, s.val_rows
        bounds = {"train": (0, t), "val": (t - s.lookback, t + v), "test": (t + v - s.lookback, t + v + s.test_rows)}
        caps = {"train": 0, "val": train.val_batches, "test": train.test_batches}
        self.split_rows = {"train": t, "val": v, "test": s.test_rows}  # rows whose values are targets
        self.starts = {}
        for split, (lo, hi) in bounds.items():
            starts = list(range(lo, hi - s.lookback - s.horizon + 1))
            if not starts:
                raise DataError(f"forecast: the {split} split ({hi - lo} rows) is shorter than lookback + horizon")
            self.starts[split] = [starts[i] for i in eval_indices(len(starts), caps[split], self.batch_size)]
        self.settings = s

    def dataset(self, split) -> Windows:
        s = self.settings
        return Windows(self.series, self.starts[split], s.lookback, s.horizon, self.inputs, self.outputs)

    def train_dataloader(self):
        return loader(self.dataset("train"), self.batch_size, shuffle=True, seed=self.seed, drop_last=True,
                      replica=replica(self))

    def val_dataloader(self):
        return loader(self.dataset("val"), self.batch_size)

    def test_dataloader(self):
        return loader(self.dataset("test"), self.batch_size)


def forecast_data(settings, train, seed: int, data_dir) -> ForecastData:
    return ForecastData(settings, train, seed, load_series(settings, data_dir))
