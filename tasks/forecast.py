"""Time-series forecasting: ETTh1 (Zhou et al. 2021, Informer), many-to-one.

The encoder reads a lookback window of `lookback` hourly rows (96) and a linear head maps
its final state to the next `horizon` rows (24) of every feature at once ("features: M",
multivariate in and out). A bidirectional encoder reads only the lookback window, never
the future, so it is allowed here. Other horizons: `--set forecast.horizon=48` (or 96),
one per run.

Data: a CSV with a time column and numeric columns, split by Informer's 12/4/4 months (ETT
files) or by fractions (any other file), z-scored with the training rows' statistics
(tasks/data/time_series.py). Metrics: MSE and MAE on that normalised scale (as the papers
report) and on the original scale (`*_raw`). Baselines on the very same test windows:
persistence (the last value repeated) and seasonal naive (the value one season, 24 h, earlier).

`normalise: window` (RevIN, Kim et al. 2022, without its learnable affine): inside
`forecast`, each lookback window is normalised again by its own mean and std per feature
before the encoder reads it, and the forecast is restored with the same statistics. A level
shift between training and test rows then does not move the encoder's inputs; losses,
metrics and baselines stay on the global scale, so the two settings compare.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from benchmark.config import show
from benchmark.errors import ConfigError
from benchmark.metrics import OriginalScale
from tasks.base import TaskModule
from tasks.data.time_series import forecast_data

FEATURE_MODES = ("M", "MS", "S")  # Informer's: multivariate -> all, multivariate -> target, target -> target
FILLS = ("none", "ffill", "interpolate")    # missing values: an error, last value carried, linear
NORMALISE = ("global", "window")            # z-scores from train rows; plus per window (RevIN)
WINDOW_EPS = 1e-5                           # RevIN's: a flat window's std is sqrt(eps), not 0


@dataclass(frozen=True)
class ForecastSettings:
    source: str = "local"           # local (file) or hub: a CSV data set on the hub, its train split the series
    file: str = "ett/ETTh1.csv"     # relative to the data dir (or absolute)
    hub_repo: str = ""              # source hub: the data set's id, e.g. owner/sales
    hub_config: str = ""
    hub_revision: str = ""
    time_column: str = "date"
    feature_columns: tuple = ()     # () = every column but the time column
    target: str = "OT"              # the forecast column for features MS and S
    features: str = "M"             # M, MS or S (see FEATURE_MODES)
    lookback: int = 96
    horizon: int = 24               # 24, 48, 96 in the papers: one per run (--set forecast.horizon=48)
    train_rows: int = 0             # all three or none (0): ETT files 12/4/4 months (ETTh1 8640/2880/2880),
    val_rows: int = 0               # other files by `split`
    test_rows: int = 0
    split: tuple = (0.7, 0.1, 0.2)  # train, val, test fractions of a file that is not ETT, in time order
    fill: str = "none"              # missing values: none (an error naming the line), ffill or interpolate
    normalise: str = "global"       # global, or window: each input window by its own statistics too (RevIN)
    season: int = 24                # period of the seasonal-naive baseline, in rows

    def __post_init__(self):
        if self.source not in ("local", "hub"):
            raise ConfigError(f"bad forecast.source {show(self.source)}: expected local or hub")
        if self.source == "hub" and not self.hub_repo:
            raise ConfigError("forecast.source hub needs forecast.hub_repo (a data set id, e.g. owner/sales)")
        if self.features not in FEATURE_MODES:
            raise ConfigError(f"bad forecast.features {show(self.features)}: expected one of "
                              f"{', '.join(FEATURE_MODES)}")
        for name, allowed in (("fill", FILLS), ("normalise", NORMALISE)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"bad forecast.{name} {show(getattr(self, name))}: expected one of "
                                  f"{', '.join(allowed)}")
        if not all(isinstance(c, str) and c for c in self.feature_columns):
            raise ConfigError(f"bad forecast.feature_columns {show(list(self.feature_columns))}: expected column "
                              f"names, or [] for every column but forecast.time_column")
        for name in ("lookback", "horizon", "season"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad forecast.{name} {show(getattr(self, name))}: expected an integer >= 1")
        if self.season > self.lookback:
            raise ConfigError(f"bad forecast.season {self.season}: must be <= forecast.lookback ({self.lookback})")
        self._check_rows()

    def _check_rows(self):
        rows = (self.train_rows, self.val_rows, self.test_rows)
        if any(r < 0 for r in rows) or (any(rows) and not all(rows)):
            raise ConfigError(f"bad forecast.train_rows/val_rows/test_rows {'/'.join(map(str, rows))}: set all three "
                              f"(integers >= 1), or none (ETT files: Informer's months; others: forecast.split)")
        if any(rows) and self.train_rows < self.lookback + self.horizon:
            raise ConfigError(f"forecast.train_rows {self.train_rows} is shorter than one window "
                              f"(lookback + horizon = {self.lookback + self.horizon})")
        split = self.split
        if (len(split) != 3 or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0 for f in split)
                or sum(split) > 1 + 1e-9):
            raise ConfigError(f"bad forecast.split {show(list(split))}: expected three fractions > 0 (train, val, "
                              f"test) summing to at most 1, e.g. [0.7, 0.1, 0.2]")


def window_stats(x: torch.Tensor, eps: float = WINDOW_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over time of each window and feature, (batch, 1, features) each: RevIN's
    instance statistics, std = sqrt(biased variance + eps)."""
    return x.mean(1, keepdim=True), torch.sqrt(x.var(1, keepdim=True, unbiased=False) + eps)


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
        return forecast_data(settings, train, seed, data_dir)

    def build(self, data):
        self.outputs = len(data.outputs)
        # Where each output column sits among the inputs (M: all; MS: the target; S: the only one),
        # to restore a forecast with its own column's window statistics.
        self.output_inputs = [data.inputs.index(o) for o in data.outputs]
        self.make_encoder(len(data.inputs))
        self.head = nn.Linear(self.encoder.output_size, self.settings.horizon * self.outputs)
        self.register_buffer("mean", data.mean.clone(), persistent=False)
        self.register_buffer("std", data.std.clone(), persistent=False)

    def forecast(self, x: torch.Tensor) -> torch.Tensor:
        """The next `horizon` rows of the outputs, (batch, horizon, outputs), on the global
        z-score scale the targets, metrics and baselines use, whatever `normalise` says."""
        window = self.settings.normalise == "window"
        if window:
            mean, std = window_stats(x)
            x = (x - mean) / std
        _, state = self.encoder(x)
        pred = self.head(self.encoder.final(state)).view(-1, self.settings.horizon, self.outputs)
        if window:
            pred = pred * std[..., self.output_inputs] + mean[..., self.output_inputs]
        return pred

    def step(self, batch):
        x, y = batch
        pred = self.forecast(x)
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
