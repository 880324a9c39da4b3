"""forecast: the ETTh1 split and its borders, splits by fractions for other files, train-only
normalisation, per-window normalisation, naive baselines, bad files (a byte-order mark, missing
values and their fill rules), original-scale metrics, and a smoke cell end to end."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch

from benchmark.config import ConfigError, ModelConfig, TrainConfig
from benchmark.launchers import run_matrix
from benchmark.engine.cells import build_cells
from benchmark.errors import DataError
from benchmark.metrics import OriginalScale
from tasks.data.time_series import ForecastData, fill_missing, load_series, read_series
from tasks.forecast import ForecastSettings, ForecastTask, naive_forecasts, window_stats
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
    read = read_series(ETTH1, "date", ())
    names, raw = read.names, read.values
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
    ("date,a,b\n" + "t,1,2\n" * 3 + "t,inf,2\n", {}, r"ETTh1.csv:5: column 'a' is infinite"),
    ("date,a,b\n" + "t,1,2\n" * 16 + "t,,2\n", {}, r"ETTh1.csv:18: missing value in column 'a'"),
    ("", {}, r"ETTh1.csv: empty file; expected a CSV with a header row"),
    ("\ufeff", {}, r"ETTh1.csv: empty file"),
    ("\n\nt,1,2\n", {}, r"ETTh1.csv:1: no header row"),
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


@pytest.mark.parametrize("settings, match", [
    ({"train_rows": 500}, r"train_rows/val_rows/test_rows 500/0/0: set all three"),
    ({"split": (0.8, 0.2, 0.2)}, r"forecast.split \[0.8, 0.2, 0.2\]: expected three fractions"),
    ({"split": (0.7, 0.3)}, r"forecast.split"),
    ({"fill": "zero"}, r"forecast.fill 'zero': expected one of none, ffill, interpolate"),
    ({"normalise": "instance"}, r"forecast.normalise 'instance': expected one of global, window"),
])
def test_split_fill_and_normalise_settings_are_checked(settings, match):
    with pytest.raises(ConfigError, match=match):
        ForecastSettings(**settings)


# --- files users bring ------------------------------------------------------------------------
def test_byte_order_mark_before_the_header_is_dropped(tmp_path):
    # Excel's "CSV UTF-8" and Windows editors start the file with EF BB BF.
    path = tmp_path / "mine.csv"
    path.write_bytes("\ufeffMonth,sales\n2020-01,3\n2020-02,4\n".encode("utf-8"))
    read = read_series(path, "Month", ())
    assert read.names == ["sales"] and read.values.flatten().tolist() == [3.0, 4.0]


def csv_with_gaps(tmp_path):
    """Column a: gaps at the start and in the middle (three spellings of missing); b: none."""
    path = tmp_path / "gaps.csv"
    path.write_text("date,a,b\nt0,,1\nt1,2,1\nt2,NaN,1\nt3,NA,1\nt4,8,1\n")
    return path, read_series(path, "date", ())


def test_missing_values_are_reported_with_their_lines(tmp_path):
    path, read = csv_with_gaps(tmp_path)
    assert read.lines == [2, 3, 4, 5, 6]
    with pytest.raises(DataError, match=r"gaps.csv:2: missing value in column 'a' \(3 row\(s\) with missing values, "
                                        r"lines 2, 4, 5\); .*forecast.fill=ffill or interpolate"):
        fill_missing(read, "none", path)


@pytest.mark.parametrize("rule, filled", [
    ("ffill", [2, 2, 2, 2, 8]),          # the last value above; a leading gap takes the first value
    ("interpolate", [2, 2, 4, 6, 8]),    # linear between the values around; the ends: the nearest
])
def test_fill_rules(tmp_path, rule, filled):
    path, read = csv_with_gaps(tmp_path)
    values, said = fill_missing(read, rule, path)
    assert values[:, 0].tolist() == filled and values[:, 1].tolist() == [1] * 5
    assert said == f"{path}: 3 missing value(s) in 3 row(s) (lines 2, 4, 5) filled by forecast.fill={rule}"


def test_a_column_without_any_value_cannot_be_filled(tmp_path):
    path = tmp_path / "hole.csv"
    path.write_text("date,a,b\nt0,1,\nt1,2,\n")
    with pytest.raises(DataError, match=r"hole.csv: column\(s\) \['b'\] hold no value at all"):
        fill_missing(read_series(path, "date", ()), "ffill", path)


def rows_csv(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("date,a\n" + "".join(f"t{i},{i % 7}\n" for i in range(rows)))
    return path


def test_files_other_than_ett_are_split_by_fractions(tmp_path):
    s = ForecastSettings(file=str(rows_csv(tmp_path, "mine.csv", 1001)), lookback=8, horizon=4, season=4)
    loaded = load_series(s, None)
    # Autoformer's custom split: train and test rounded down, validation takes the rest.
    assert loaded["rows"] == (700, 101, 200)
    assert "split by forecast.split [0.7, 0.1, 0.2]: 700 / 101 / 200 rows" in loaded["notes"][0]
    data = ForecastData(s, TrainConfig(batch_size=4), 0, loaded)
    assert data.starts["test"][-1] + 8 + 4 == 1001      # the last test target is the file's last row
    fractions = load_series(s.__class__(**{**s.__dict__, "split": (0.5, 0.2, 0.2)}), None)
    assert fractions["rows"] == (500, 200, 200)          # not summing to 1: the rest is left unused
    explicit = load_series(s.__class__(**{**s.__dict__, "train_rows": 600, "val_rows": 100, "test_rows": 100}), None)
    assert explicit["rows"] == (600, 100, 100) and explicit["notes"] == []


def test_a_short_ett_file_falls_back_to_fractions(tmp_path):
    s = ForecastSettings(file=str(rows_csv(tmp_path, "ETTh1.csv", 3000)), lookback=8, horizon=4, season=4)
    loaded = load_series(s, None)
    assert loaded["rows"] == (2100, 300, 600) and "shorter than Informer's 20 months" in loaded["notes"][0]


# --- per-window normalisation (RevIN without the affine) ----------------------------------------
def tiny_module(tmp_path, features="M", normalise="window"):
    path = tmp_path / "w.csv"
    path.write_text("date,a,b,c\n" + "".join(f"t{i},{i % 5},{i % 3 * 2.0},{(i * 7) % 11}\n" for i in range(60)))
    s = ForecastSettings(file=str(path), lookback=8, horizon=4, season=4, features=features, target="b",
                         normalise=normalise)
    data = ForecastData(s, TrainConfig(batch_size=4), 0, load_series(s, None))
    torch.manual_seed(0)
    module = ForecastTask(s, ModelConfig(variant="lstm", hidden=8), TrainConfig(batch_size=4), data)
    return module.eval(), data


def test_window_statistics_normalise_and_restore_exactly():
    x = torch.randn(5, 16, 3, dtype=torch.float64) * 4 + 10
    mean, std = window_stats(x)
    z = (x - mean) / std
    assert torch.allclose(z * std + mean, x)
    assert torch.allclose(z.mean(1), torch.zeros(5, 3, dtype=torch.float64))
    assert torch.allclose(z.std(1, unbiased=False), torch.ones(5, 3, dtype=torch.float64), atol=1e-5)
    flat = torch.full((1, 16, 1), 3.0)
    assert torch.isfinite(window_stats(flat)[1]).all()  # eps: a constant window divides by sqrt(eps), not 0


@pytest.mark.parametrize("features", ["M", "MS"])
def test_window_forecast_follows_a_level_shift_exactly(tmp_path, features):
    """An offset added to a window leaves what the encoder reads unchanged and moves the
    forecast by the same offset, per output column (MS: the target's)."""
    module, data = tiny_module(tmp_path, features)
    seen = []
    module.encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()))
    x = torch.stack([data.dataset("train")[i][0] for i in range(4)])
    offset = torch.tensor([5.0, -3.0, 12.0])
    with torch.no_grad():
        base, shifted = module.forecast(x), module.forecast(x + offset)
    assert torch.allclose(seen[0], seen[1], atol=1e-5)
    assert torch.allclose(shifted - base, offset[data.outputs].expand_as(base), atol=1e-4)


def test_global_normalisation_does_not_follow_a_level_shift(tmp_path):
    module, data = tiny_module(tmp_path, normalise="global")
    x = torch.stack([data.dataset("train")[i][0] for i in range(4)])
    with torch.no_grad():
        moved = module.forecast(x + 5.0) - module.forecast(x)
    assert not torch.allclose(moved, torch.full_like(moved, 5.0), atol=0.5)


def test_window_normalisation_keeps_the_loss_and_metrics_on_the_global_scale(tmp_path):
    module, data = tiny_module(tmp_path)
    x, y = next(iter(data.val_dataloader()))
    with torch.no_grad():
        loss, pred, target = module.step((x, y))
    assert torch.equal(target, y) and pred.shape == y.shape
    assert float(loss) == pytest.approx(float(((pred - y) ** 2).mean()))


def test_window_normalisation_beats_persistence_on_a_rising_level_where_global_does_not(tmp_path):
    """Sine (period 24) + noise + a trend: the test rows sit far above anything in training. A
    tiny LSTM on global z-scores extrapolates badly; normalised per window it does not."""
    rng = torch.Generator().manual_seed(0)
    i = torch.arange(3000.0)
    y = torch.sin(2 * math.pi * i / 24) + 0.1 * torch.randn(3000, generator=rng) + i / 300
    (tmp_path / "levels.csv").write_text("t,y\n" + "".join(f"{int(a)},{b:.5f}\n" for a, b in zip(i, y.tolist())))
    task = {"file": str(tmp_path / "levels.csv"), "time_column": "t", "lookback": 48}
    train = {"max_steps": 150, "log_every": 50}
    cells = [c for n in ("global", "window")
             for c in build_cells(["forecast"], ["lstm"], ["cudnn"], 1, "smoke",
                                  {"forecast": {**task, "normalise": n}, "train": train})]
    run_matrix(cells, tmp_path / "run", stream=io.StringIO())
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    mse = {r["config"]["settings"]["normalise"]: r["metrics"]["test/mse"] for r in records}
    persistence = records[0]["baselines"]["persistence (repeat last value)"]["mse"]
    assert mse["window"] < persistence / 10 and mse["global"] > persistence, (mse, persistence)


@needs_data
def test_etth1_keeps_informer_rows_whatever_the_fractions():
    assert load_series(ForecastSettings(split=(0.5, 0.25, 0.25)), DATA)["rows"] == (8640, 2880, 2880)


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


# --- the hub, offline: a CSV-like data set in the local `datasets` cache (tests/conftest.py hub_cache) ---
def test_a_hub_csv_is_read_split_and_checked_as_a_local_file(hub_cache, tmp_path):
    from datasets import Dataset

    rows = 300
    t = torch.arange(rows, dtype=torch.float64)
    table = Dataset.from_dict({"day": [f"d{i}" for i in range(rows)], "visits": (t / 7).sin().tolist(),
                               "sales": (t / 5).cos().tolist()})
    hub_cache("me/sales", {"train": table})
    settings = ForecastSettings(source="hub", hub_repo="me/sales", time_column="day", target="sales",
                                lookback=24, horizon=6, season=7)
    loaded = load_series(settings, None)
    assert loaded["names"] == ["visits", "sales"]
    assert loaded["rows"] == (210, 30, 60)  # no ETT file: split by fractions 0.7 / 0.1 / 0.2
    with pytest.raises(ConfigError, match="forecast.hub_repo"):
        ForecastSettings(source="hub")
