"""Time-series forecasting: ETTh1 (Zhou et al. 2021, Informer), many-to-one.

The encoder reads a lookback window of `lookback` hourly rows (96) and a linear head maps
its final state to the next `horizon` rows (24) of every feature at once ("features: M",
multivariate in and out). A bidirectional encoder reads only the lookback window, never
the future, so it is allowed here. Other horizons: `--set forecast.horizon=48` (or 96),
one per run.

Data: `<data_dir>/ett/ETTh1.csv` (date, HUFL, HULL, MUFL, MULL, LUFL, LULL, OT), or any CSV
with a time column and numeric columns. The split is Informer's 12/4/4 months (8,640 /
2,880 / 2,880 rows); validation and test windows start `lookback` rows before their
border, so the first predicted row is the border's. z-scores are fit on the training rows
only (no leakage). Metrics: MSE and MAE on the normalised scale (as the papers report) and
on the original scale (`*_raw`). Baselines on the very same test windows: persistence (the
last value repeated) and seasonal naive (the value one season, 24 h, earlier).
"""
from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection
from torchmetrics.wrappers import MetricInputTransformer

from tasks.base import TaskModule, loader
from tasks.sources import DataError, cached, local_file, read_text
from tasks.token_sequences import eval_indices

FEATURE_MODES = ("M", "MS", "S")  # Informer's: multivariate -> all, multivariate -> target, target -> target


@dataclass(frozen=True)
class ForecastSettings:
    file: str = "ett/ETTh1.csv"     # relative to the data dir (or absolute)
    time_column: str = "date"
    feature_columns: tuple = ()     # () = every column but the time column
    target: str = "OT"              # the forecast column for features MS and S
    features: str = "M"             # M, MS or S (see FEATURE_MODES)
    lookback: int = 96
    horizon: int = 24               # 24, 48, 96 in the papers: one per run (--set forecast.horizon=48)
    train_rows: int = 8640          # 12 months of hours (12 * 30 * 24)
    val_rows: int = 2880            # 4 months
    test_rows: int = 2880           # 4 months
    season: int = 24                # period of the seasonal-naive baseline, in rows

    def __post_init__(self):
        from benchmark.config import ConfigError
        if self.features not in FEATURE_MODES:
            raise ConfigError(f"bad forecast.features {self.features!r}: expected one of {', '.join(FEATURE_MODES)}")
        for name in ("lookback", "horizon", "train_rows", "val_rows", "test_rows", "season"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad forecast.{name} {getattr(self, name)!r}: expected an integer >= 1")
        if self.season > self.lookback:
            raise ConfigError(f"bad forecast.season {self.season}: must be <= forecast.lookback ({self.lookback})")
        if self.train_rows < self.lookback + self.horizon:
            raise ConfigError(f"forecast.train_rows {self.train_rows} is shorter than one window "
                              f"(lookback + horizon = {self.lookback + self.horizon})")


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


def load_series(settings: ForecastSettings, data_dir) -> dict:
    """Normalised series and the train-rows statistics; cached, keyed by the file and settings."""
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
    def __init__(self, settings: ForecastSettings, train, seed: int, loaded: dict):
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
        return loader(self.dataset("train"), self.batch_size, shuffle=True, seed=self.seed, drop_last=True)

    def val_dataloader(self):
        return loader(self.dataset("val"), self.batch_size)

    def test_dataloader(self):
        return loader(self.dataset("test"), self.batch_size)


class OriginalScale(MetricInputTransformer):
    """Wraps a metric so it scores predictions and targets on the data's original scale."""

    def __init__(self, metric, mean: torch.Tensor, std: torch.Tensor):
        super().__init__(metric)
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())

    def transform_pred(self, pred):
        return pred * self.std + self.mean

    def transform_target(self, target):
        return target * self.std + self.mean


def naive_forecasts(series, starts, lookback, horizon, season, outputs) -> tuple[torch.Tensor, ...]:
    """(persistence, seasonal naive, target), each (windows, horizon, outputs), normalised."""
    idx = torch.tensor(starts).unsqueeze(1) + lookback  # first target row of each window
    steps = torch.arange(horizon)
    target = series[idx + steps][..., outputs]
    persistence = series[idx - 1][..., outputs].expand_as(target)
    # y^_{T+h} = y_{T+h-s*ceil(h/s)}: the last season of the lookback, repeated (Hyndman & Athanasopoulos).
    back = season * torch.div(steps + season, season, rounding_mode="floor")
    seasonal = series[idx + steps - back][..., outputs]
    return persistence, seasonal, target


class ForecastTask(TaskModule):
    name = "forecast"
    kind = "many-to-one"
    description = ("ETTh1 forecast: lookback window -> next `horizon` hours of every feature; "
                   "bidirectional encoders read only the lookback window")
    Settings = ForecastSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return ForecastData(settings, train, seed, load_series(settings, data_dir))

    def build(self, data):
        self.outputs = len(data.outputs)
        self.make_encoder(len(data.inputs))
        self.head = nn.Linear(self.encoder.output_size, self.settings.horizon * self.outputs)
        self.register_buffer("mean", data.mean.clone(), persistent=False)
        self.register_buffer("std", data.std.clone(), persistent=False)

    def step(self, batch):
        x, y = batch
        _, state = self.encoder(x)
        pred = self.head(self.encoder.final(state)).view(-1, self.settings.horizon, self.outputs)
        return F.mse_loss(pred, y), pred, y

    def make_metrics(self):
        return MetricCollection({
            "mse": MeanSquaredError(), "mae": MeanAbsoluteError(),
            "mse_raw": OriginalScale(MeanSquaredError(), self.mean, self.std),
            "mae_raw": OriginalScale(MeanAbsoluteError(), self.mean, self.std),
        })

    def baselines(self, data):
        s = self.settings
        forecasts = naive_forecasts(data.series, data.starts["test"], s.lookback, s.horizon, s.season, data.outputs)
        *naive, target = forecasts
        raw = lambda v: v * data.std + data.mean  # noqa: E731
        rows = {}
        for name, pred in zip(("persistence (repeat last value)", f"seasonal naive (value {s.season} rows earlier)"),
                              naive):
            rows[name] = {"mse": F.mse_loss(pred, target).item(), "mae": F.l1_loss(pred, target).item(),
                          "mse_raw": F.mse_loss(raw(pred), raw(target)).item(),
                          "mae_raw": F.l1_loss(raw(pred), raw(target)).item()}
        return rows
