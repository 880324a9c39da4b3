"""forecast: the ETTh1 split and its borders, train-only normalisation, naive baselines, bad
files, original-scale metrics, and a smoke cell end to end."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from benchmark.config import ConfigError, TrainConfig
from benchmark.launchers import run_matrix
from benchmark.engine.cells import build_cells
from benchmark.errors import DataError
from benchmark.metrics import OriginalScale
from tasks.data.time_series import ForecastData, load_series, read_series
from tasks.forecast import ForecastSettings, naive_forecasts
from torchmetrics import MeanSquaredError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "ett").exists(), reason=f"shared data not at {DATA}")
ETTH1 = DATA / "ett" / "ETTh1.csv"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "rnnbench-cache"))


def etth1(train=TrainConfig(), **settings):
    s = ForecastSettings(**settings)
    return ForecastData(s, train, 0, load_series(s, DATA))


@needs_data
def test_split_sizes_and_informer_borders():
    data = etth1()
    assert data.split_rows == {"train": 8640, "val": 2880, "test": 2880}
    assert {k: len(v) for k, v in data.starts.items()} == {"train": 8521, "val": 2857, "test": 2857}
    assert data.starts["val"][0] + 96 == 8640          # the first val target is the border row
    assert data.starts["test"][0] + 96 == 8640 + 2880
    assert data.starts["test"][-1] + 96 + 24 == 8640 + 2 * 2880  # last target is the last test row
    x, y = data.dataset("test")[0]
    assert x.shape == (96, 7) and y.shape == (24, 7)
    assert torch.equal(y[0], data.series[11520])


@needs_data
def test_normaliser_fit_on_train_rows_only():
    names, raw = read_series(ETTH1, "date", ())
    assert names == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"] and len(raw) == 17420
    loaded = load_series(ForecastSettings(), DATA)
    train = raw[:8640]
    assert torch.allclose(loaded["mean"], train.mean(0).float())
    assert torch.allclose(loaded["std"], train.std(0, unbiased=False).float())
    assert not torch.allclose(loaded["mean"], raw.mean(0).float(), atol=1e-2)  # whole-file stats differ
    series = loaded["series"]
    assert series[:8640].mean(0).abs().max() < 1e-4
    assert series[8640:].mean(0).abs().max() > 0.05  # later rows are not re-centred


def test_naive_forecasts_by_hand():
    series = torch.arange(40.0).unsqueeze(1)  # value = row index
    persistence, seasonal, target = naive_forecasts(series, [0, 3], lookback=10, horizon=6, season=4, outputs=[0])
    assert target[0, :, 0].tolist() == [10, 11, 12, 13, 14, 15]
    assert persistence[0, :, 0].tolist() == [9] * 6
    assert seasonal[0, :, 0].tolist() == [6, 7, 8, 9, 6, 7]  # the last season of the lookback, repeated
    assert seasonal[1, :, 0].tolist() == [9, 10, 11, 12, 9, 10]


def test_original_scale_metric():
    mean, std = torch.tensor([10.0, -1.0]), torch.tensor([2.0, 0.5])
    metric = OriginalScale(MeanSquaredError(), mean, std)
    pred, target = torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 2.0]]])
    metric.update(pred, target)
    assert float(metric.compute()) == pytest.approx(((2.0) ** 2 + (1.0) ** 2) / 2)


def write_csv(tmp_path, text):
    (tmp_path / "ett").mkdir(exist_ok=True)
    (tmp_path / "ett" / "ETTh1.csv").write_text(text)


def small_settings(**kw):
    return ForecastSettings(lookback=4, horizon=2, season=2, train_rows=8, val_rows=4, test_rows=4, **kw)


@pytest.mark.parametrize("text, settings, match", [
    ("time,a,b\n", {}, r"ETTh1.csv:1: no time column 'date'"),
    ("date,a,b\n1,2,3\n", {"feature_columns": ["a", "c"]}, r"ETTh1.csv:1: no column\(s\) \['c'\]"),
    ("date,a,b\n" + "t,1,2\n" * 3 + "t,1,oops\n", {}, r"ETTh1.csv:5: column 'b' is not a number: 'oops'"),
    ("date,a,b\n" + "t,1,2\n" * 3 + "t,1\n", {}, r"ETTh1.csv:5: expected 3 columns"),
    ("date,a,b\n", {}, r"ETTh1.csv: no data rows"),
    ("date,a,b\n" + "t,1,2\n" * 10, {}, r"10 data rows, but the split needs"),
    ("date,a,b\n" + "t,1,2\n" * 16, {"features": "MS", "target": "OT"}, r"target column 'OT' not among"),
])
def test_malformed_csv_names_file_and_line(tmp_path, text, settings, match):
    write_csv(tmp_path, text)
    with pytest.raises(DataError, match=match):
        load_series(small_settings(**settings), tmp_path)


def test_any_csv_with_target_only_forecast(tmp_path):
    rows = "".join(f"t{i},{i % 3},{i * 0.5},{i}\n" for i in range(20))
    write_csv(tmp_path, "date,a,b,load\n" + rows)
    s = small_settings(features="MS", target="load")
    data = ForecastData(s, TrainConfig(batch_size=2), 0, load_series(s, tmp_path))
    x, y = data.dataset("train")[0]
    assert x.shape == (4, 3) and y.shape == (2, 1)


def test_bad_settings_fail_at_config_time():
    with pytest.raises(ConfigError, match="forecast.features"):
        ForecastSettings(features="X")
    with pytest.raises(ConfigError, match="season"):
        ForecastSettings(season=200)


@needs_data
def test_smoke_cell_end_to_end_beats_persistence(tmp_path):
    cells = build_cells(["forecast"], ["lstm"], ["cudnn"], 1, "smoke")
    summary = run_matrix(cells, tmp_path, data_dir=DATA)
    assert summary.failed == [] and summary.ran == 1
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert record["status"] == "ok", record.get("error")
    metrics = record["metrics"]
    for name in ("test/mse", "test/mae", "test/mse_raw", "test/mae_raw"):
        assert math.isfinite(metrics[name]) and metrics[name] > 0
    persistence = record["baselines"]["persistence (repeat last value)"]
    assert metrics["test/mse"] < persistence["mse"]
    assert set(persistence) == {"mse", "mae", "mse_raw", "mae_raw"}
