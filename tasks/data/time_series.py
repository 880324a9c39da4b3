"""A time series CSV cut into windows, for forecast (default ETTh1, Zhou et al. 2021).

Data: `<data_dir>/ett/ETTh1.csv` (date, HUFL, HULL, MUFL, MULL, LUFL, LULL, OT), or any CSV
with a time column and numeric columns (a byte-order mark is dropped). Missing values (an
empty cell, NA, NaN, null) are an error naming the line unless `fill` says how to fill them.
The split, in time order: `train_rows`/`val_rows`/`test_rows` when set; else, for an ETT
file, Informer's 12/4/4 months (ETTh1: 8,640 / 2,880 / 2,880 rows); else the fractions
`split` (0.7 / 0.1 / 0.2, Autoformer's for custom data). Validation and test windows start
`lookback` rows before their border, so the first predicted row is the border's. z-scores
are fit on the training rows only (no leakage).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import re
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from benchmark.errors import DataError
from tasks.data.loader import loader, replica
from tasks.data.sequences import eval_indices
from tasks.data import hub
from tasks.data.sources import cache_root, cached, local_file, note, read_text


MISSING = {"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "<na>"}  # as pandas reads them, lowercased
ETT = re.compile(r"ETT([hm])[12]\.csv")  # Zhou et al.'s files: hourly (h) or 15-minute (m) rows
ETT_ROWS_PER_MONTH = {"h": 30 * 24, "m": 30 * 24 * 4}  # Informer's months: 30 days


@dataclasses.dataclass
class Series:
    names: list[str]        # the numeric columns read
    values: torch.Tensor    # (rows, columns) float64; NaN where a value is missing
    lines: list[int]        # file line of each row, for messages


def read_series(path: Path, time_column: str, feature_columns) -> Series:
    """The numeric columns of a CSV with a header row; missing values (an empty cell, NA, NaN,
    null, ...) are NaN here, for `fill_missing` to report or fill."""
    reader = csv.reader(read_text(path, "a CSV with a header row, a time column and numeric columns").splitlines())
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise DataError(f"{path}:1: no header row; expected column names, e.g. {time_column},a,b")
    if time_column not in header:
        raise DataError(f"{path}:1: no time column {time_column!r} in header {header}; set forecast.time_column")
    names = list(feature_columns) or [h for h in header if h != time_column]
    missing = [n for n in names if n not in header]
    if missing or not names:
        raise DataError(f"{path}:1: no column(s) {missing or names} in header {header}; set forecast.feature_columns")
    cols = [header.index(n) for n in names]
    rows, lines = [], []
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:{reader.line_num}: expected {len(header)} columns, found {len(row)}")
        rows.append([_value(row[c], path, reader.line_num, name) for c, name in zip(cols, names)])
        lines.append(reader.line_num)
    if not rows:
        raise DataError(f"{path}: no data rows after the header")
    return Series(names, torch.tensor(rows, dtype=torch.float64), lines)


def _value(text: str, path, line: int, column: str) -> float:
    if text.strip().lower() in MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}:{line}: column {column!r} is not a number: {text!r}") from None
    if math.isinf(value):
        raise DataError(f"{path}:{line}: column {column!r} is infinite: {text!r}; fix or drop the row")
    return value


def fill_missing(series: Series, rule: str, path) -> tuple[torch.Tensor, str | None]:
    """The values with their gaps filled by `rule` (forecast.fill), and a note saying what was
    filled; `none`, or a column with no value at all, is a DataError naming the lines."""
    gaps = torch.isnan(series.values)
    if not gaps.any():
        return series.values, None
    rows = gaps.any(1).nonzero().flatten().tolist()
    where = ", ".join(str(series.lines[r]) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    first = rows[0]
    column = series.names[int(gaps[first].nonzero()[0])]
    if rule == "none":
        raise DataError(f"{path}:{series.lines[first]}: missing value in column {column!r} ({len(rows)} row(s) with "
                        f"missing values, lines {where}); fill or drop them, or set forecast.fill=ffill or interpolate")
    empty = [n for n, all_gone in zip(series.names, gaps.all(0).tolist()) if all_gone]
    if empty:
        raise DataError(f"{path}: column(s) {empty} hold no value at all; drop them (forecast.feature_columns)")
    values = series.values.numpy().copy()
    index = np.arange(len(values))
    for c in range(values.shape[1]):
        have = ~np.isnan(values[:, c])
        if rule == "ffill":
            # The last present row at or above each row; rows above the first present value take it.
            last = np.maximum.accumulate(np.where(have, index, -1))
            values[:, c] = values[np.where(last >= 0, last, index[have][0]), c]
        else:  # interpolate: linear in the row number; np.interp holds the ends at the nearest value
            values[:, c] = np.interp(index, index[have], values[have, c])
    return torch.from_numpy(values), (f"{path}: {int(gaps.sum())} missing value(s) in {len(rows)} row(s) "
                                      f"(lines {where}) filled by forecast.fill={rule}")


def split_rows(path: Path, rows: int, settings) -> tuple[tuple[int, int, int], str | None]:
    """(train, val, test) rows, and a note when they were chosen from the file:
    - all three of forecast.train_rows/val_rows/test_rows set: those;
    - an ETT file long enough: Informer's 12/4/4 months (ETTh1: 8,640 / 2,880 / 2,880 rows);
    - any other file: the fractions forecast.split, in order, each rounded down; when they sum
      to 1 validation takes the rounding's rest, as Autoformer's custom data sets do, so the
      borders match the literature's on the same file."""
    s = settings
    if s.train_rows:
        return (s.train_rows, s.val_rows, s.test_rows), None
    ett = ETT.fullmatch(path.name)
    if ett:
        month = ETT_ROWS_PER_MONTH[ett.group(1)]
        months = (12 * month, 4 * month, 4 * month)
        if rows >= sum(months):
            return months, None
    train, val, test = (int(rows * f) for f in s.split)
    if math.isclose(sum(s.split), 1.0):
        val = rows - train - test
    why = f"an ETT file shorter than Informer's 20 months ({rows} rows), so " if ett else ""
    return (train, val, test), (f"{path}: {why}split by forecast.split {list(s.split)}: {train} / {val} / {test} "
                                f"rows (train / val / test); set forecast.train_rows/val_rows/test_rows to choose")


def load_series(settings, data_dir) -> dict:
    """Normalised series, the rows of each split, the train-rows statistics and notes about
    the data; cached, keyed by the file and the settings (a dataclass: forecast's)."""
    if settings.source == "hub":
        path = hub_csv(settings)
    else:
        path = Path(settings.file).expanduser()
        if not (path.is_absolute() and path.exists()):
            path = local_file(data_dir, settings.file, "forecast")

    def build():
        series = read_series(path, settings.time_column, settings.feature_columns)
        values, filled = fill_missing(series, settings.fill, path)
        (t, v, te), chosen = split_rows(path, len(values), settings)
        names = series.names
        if len(values) < t + v + te:
            raise DataError(f"{path}: {len(values)} data rows, but the split needs train_rows + val_rows + test_rows "
                            f"= {t + v + te}; set forecast.train_rows/val_rows/test_rows")
        if settings.features != "M" and settings.target not in names:
            raise DataError(f"{path}:1: target column {settings.target!r} not among {names}; set forecast.target")
        train = values[:t]  # statistics from the training rows only
        mean, std = train.mean(0), train.std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays as is
        return {"names": names, "series": ((values - mean) / std).float(), "mean": mean.float(), "std": std.float(),
                "rows": (t, v, te), "notes": [n for n in (filled, chosen) if n]}

    # horizon and season pick windows, normalise is the model's: none of them shape the series.
    return cached("forecast", [path], {k: v for k, v in dataclasses.asdict(settings).items()
                                       if k not in ("horizon", "season", "normalise")}, build, SERIES)


# What load_series returns, as the cache checks an entry (sources.cached).
SERIES = {"names": list[str], "series": torch.Tensor, "mean": torch.Tensor, "std": torch.Tensor,
          "rows": tuple[int, int, int], "notes": list[str]}


def hub_csv(settings) -> Path:
    """A hub data set's train split (any CSV-like table: one row per time step) written once as a
    CSV under the cache, so it is read, checked and split exactly as a local file is."""
    where = hub.hub_name(settings.hub_repo, settings.hub_config, settings.hub_revision)
    ds = hub.load(settings, "forecast", "forecast.file=PATH.csv")
    split = ds[hub.pick_splits(ds, where)["train"]]
    key = hashlib.sha1(f"{where}:{split._fingerprint}".encode()).hexdigest()[:16]
    path = cache_root() / f"forecast-hub-{key}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        split.to_csv(str(partial), index=False)
        partial.replace(path)  # atomic: a concurrent cell never reads half a file
    return path


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
    """Windows of each split from `load_series`'s output (its `rows` say where the splits
    are). settings: forecast's (target, features, lookback, horizon); train: batch_size and
    the val/test batch caps, which keep a fixed random sample of windows (`eval_indices`)."""

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
        t, v, te = loaded["rows"]
        bounds = {"train": (0, t), "val": (t - s.lookback, t + v), "test": (t + v - s.lookback, t + v + te)}
        caps = {"train": 0, "val": train.val_batches, "test": train.test_batches}
        self.split_rows = {"train": t, "val": v, "test": te}  # rows whose values are targets
        self.notes = loaded["notes"]
        self.starts = {}
        for split, (lo, hi) in bounds.items():
            starts = list(range(lo, hi - s.lookback - s.horizon + 1))
            if not starts:
                raise DataError(f"forecast: the {split} split ({hi - lo} rows with the lookback before it) is shorter "
                                f"than lookback + horizon ({s.lookback + s.horizon}); give it more rows "
                                f"(forecast.split or forecast.{split}_rows) or shorten forecast.lookback")
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
    data = ForecastData(settings, train, seed, load_series(settings, data_dir))
    for message in data.notes:  # after the cache: a cached series still says how it was made
        note(message)
    return data
