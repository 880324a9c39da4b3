"""sentiment: the SST-2 loader, vocabulary, bad files, the offline hub, and a smoke cell end to end."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch

from benchmark.config import ConfigError, TrainConfig
from benchmark.launchers import run_matrix
from benchmark.engine.cells import build_cells
from benchmark.errors import DataError, DataUnavailable
from tasks.data.labeled_text import load_sentiment
from tasks.data.sequences import UNK, BucketBatchSampler, eval_indices
from tasks.sentiment import SentimentSettings, SentimentTask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "sst2").exists(), reason=f"shared data not at {DATA}")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "rnnbench-cache"))


def write_split(root: Path, name: str, header: str, rows: list[str], encoding="utf-8") -> None:
    (root / "sst2").mkdir(exist_ok=True)
    (root / "sst2" / name).write_bytes("\n".join([header, *rows, ""]).encode(encoding))


@pytest.fixture
def tiny(tmp_path):
    write_split(tmp_path, "train.tsv", "label\tsentence", ["1\tgood film", "0\tbad film", "1\tgood fun"])
    write_split(tmp_path, "dev.tsv", "label\tcontent", ["1\tgreat film"])
    write_split(tmp_path, "test.tsv", "label\tcontent", ["0\tbad , bad"])
    return tmp_path


@needs_data
def test_sst2_split_sizes_and_vocabulary_from_train():
    loaded = load_sentiment(SentimentSettings(min_freq=1), DATA)
    assert {k: len(v) for k, v in loaded["splits"].items()} == {"train": 67349, "val": 872, "test": 1821}
    assert loaded["classes"] == ["0", "1"]
    train_words = {w for line in (DATA / "sst2" / "train.tsv").read_text().splitlines()[1:]
                   for w in line.split("\t")[1].lower().split()}
    assert set(loaded["vocab"][2:]) == train_words  # every train word, nothing from dev or test


def test_vocab_min_freq_and_unseen_words_map_to_unk(tiny):
    loaded = load_sentiment(SentimentSettings(min_freq=2), tiny)
    vocab = loaded["vocab"]
    assert vocab[:2] == ["<pad>", UNK]
    assert set(vocab[2:]) == {"good", "film"}  # "bad", "fun" occur once in train
    unk = vocab.index(UNK)
    dev = loaded["splits"]["val"]
    assert dev.ids.tolist() == [unk, vocab.index("film")]  # "great" never occurs in train
    assert dev.labels.tolist() == [1]


@pytest.mark.parametrize("header, rows, match", [
    ("label\ttext", ["1\tgood film"], r"dev.tsv:1: none of the text columns"),
    ("stars\tcontent", ["1\tgood film"], r"dev.tsv:1: no label column 'label'"),
    ("label\tcontent", [], r"dev.tsv: no examples"),
    ("label\tcontent", ["1\tgood film", "1"], r"dev.tsv:3: expected 2 columns"),
    ("label\tcontent", ["7\tgood film"], r"dev.tsv:2: label '7' never occurs in train"),
])
def test_malformed_files_name_file_and_line(tiny, header, rows, match):
    write_split(tiny, "dev.tsv", header, rows)
    with pytest.raises(DataError, match=match):
        load_sentiment(SentimentSettings(), tiny)


def test_bad_encoding_names_the_line(tiny):
    write_split(tiny, "test.tsv", "label\tcontent", ["1\tfine", "0\tcr\u00e8me"], encoding="latin-1")
    with pytest.raises(DataError, match=r"test.tsv:3: not valid UTF-8"):
        load_sentiment(SentimentSettings(), tiny)


def test_missing_files_are_unavailable_not_errors(tmp_path):
    with pytest.raises(DataUnavailable, match="sst2/train.tsv"):
        load_sentiment(SentimentSettings(), tmp_path)


def test_offline_hub_is_unavailable_within_seconds(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(DataUnavailable, match="stanfordnlp/sst2"):
        load_sentiment(SentimentSettings(source="hub"), None)
    assert time.perf_counter() - start < 10


def test_bad_settings_fail_at_config_time():
    with pytest.raises(ConfigError, match="sentiment.source"):
        SentimentSettings(source="web")
    with pytest.raises(ConfigError, match="min_freq"):
        SentimentSettings(min_freq=0)


def test_buckets_keep_padding_small_and_cover_every_example():
    lengths = torch.randint(1, 60, (1000,))
    sampler = BucketBatchSampler(lengths, 32, shuffle=True, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = sum(len(b) * max(lengths[b].tolist()) for b in batches)
    random_padded = sum(32 * int(lengths[i:i + 32].max()) for i in range(0, 1000, 32))
    assert padded < 0.6 * random_padded
    sampler.set_epoch(1)
    assert list(sampler) != batches  # a fresh order each epoch


def test_capped_evaluation_is_a_fixed_random_sample():
    picked = eval_indices(1000, 4, 32)
    assert len(picked) == 128 and picked == eval_indices(1000, 4, 32)
    assert max(picked) > 500  # not just the start of the split
    assert eval_indices(100, 0, 32) == list(range(100))


def test_final_state_ignores_padding(tiny):
    """The logit of a sentence must not change when it is batched with a longer one."""
    data = SentimentTask.datamodule(SentimentSettings(min_freq=1), TrainConfig(batch_size=2), 0, tiny)
    from benchmark.config import ModelConfig
    for backend in ("cudnn", "scratch"):
        module = SentimentTask(SentimentSettings(min_freq=1), ModelConfig("bilstm", backend, hidden=8), TrainConfig(),
                               data).eval()
        short, long = torch.tensor([[2, 3]]), torch.tensor([[2, 3, 4, 3, 2]])
        alone = module.step((short, torch.tensor([2]), torch.tensor([0])))[1]
        x = torch.zeros(2, 5, dtype=torch.long)
        x[0, :2], x[1] = short[0], long[0]
        _, state = module.encoder(module.embed(x), lengths=torch.tensor([2, 5]))
        _, state_alone = module.encoder(module.embed(short), lengths=torch.tensor([2]))
        assert torch.allclose(module.encoder.final(state)[0], module.encoder.final(state_alone)[0], atol=1e-5), backend
        assert alone.shape == (1,)


@needs_data
def test_smoke_cell_end_to_end(tmp_path):
    cells = build_cells(["sentiment"], ["bilstm"], ["cudnn"], 1, "smoke")
    summary = run_matrix(cells, tmp_path, data_dir=DATA)
    assert summary.failed == [] and summary.ran == 1
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert record["status"] == "ok", record.get("error")
    acc = record["metrics"]["test/acc"]
    assert math.isfinite(acc) and 0 <= acc <= 1
    assert set(record["baselines"]) == {"majority class (of train)"}  # published numbers: configs/references.yaml
