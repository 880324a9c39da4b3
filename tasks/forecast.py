"""Time-series forecasting: ETTh1 (Zhou et al. 2021, Informer), many-to-one.

The encoder reads a lookback window of `lookback` hourly rows (96) and a linear head maps
its final state to the next `horizon` rows (24) of every feature at once ("features: M",
multivariate in and out). A bidirectional encoder reads only the lookback window, never
the future, so it is allowed here. Other horizons: `--set forecast.horizon=48` (or 96),
one per run.

Data: a CSV with a time column and numeric columns, split by Informer's 12/4/4 months and
z-scored with the training rows' statistics (tasks/data/time_series.py). Metrics: MSE and
MAE on the normalised scale (as the papers report) and on the original scale (`*_raw`).
Baselines on the very same test windows: persistence (the last value repeated) and
seasonal naive (the value one season, 24 h, earlier).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from benchmark.errors import ConfigError
from benchmark.metrics import OriginalScale
from tasks.base import TaskModule
from tasks.data.time_series import forecast_data

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
