"""sentiment: the SST-2 loader, vocabulary, bad files, the offline hub, and a smoke cell end to end."""
from __future__ import annotations

import dataclasses
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
    ("label\tbody", ["1\tgood film"], r"dev.tsv:1: none of the text columns \['sentence', 'content', 'text'\] "
                                         r"\(columns: label, body\); set sentiment.text_columns"),
    ("stars\tcontent", ["1\tgood film"], r"dev.tsv:1: no label column 'label'"),
    ("label\tcontent", [], r"dev.tsv: no examples"),
    ("label\tcontent", ["1\tgood film", "1"], r"dev.tsv:3: no text in column 'content' \(expected 2 columns"),
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
    from benchmark.config import BACKENDS, ModelConfig
    for backend, variant in [(b, v) for b in BACKENDS for v in ("bilstm", "bimingru")]:  # bimingru: its scan
        module = SentimentTask(SentimentSettings(min_freq=1), ModelConfig(variant, backend, hidden=8), TrainConfig(),
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


# --- own data: every form through datasets' loaders ------------------------------------------
GOOD = ["a fine warm film", "great acting", "I loved it", "smart and kind"]
BAD = ["a dull mess", "far too long", "I hated it", "flat and cruel"]


def review_rows(copies=5):
    return [{"review": t, "stars": "positive"} for t in GOOD * copies] + \
           [{"review": t, "stars": "negative"} for t in BAD * copies]


def write_rows(path: Path, rows) -> Path:
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def own(tmp_path, ext, **settings) -> SentimentSettings:
    files = {s: write_rows(tmp_path / f"s_{s}.{ext}", review_rows(n)) for s, n in (("train", 5), ("dev", 1), ("test", 1))}
    return SentimentSettings(train_file=str(files["train"]), val_file=str(files["dev"]), test_file=str(files["test"]),
                             label_column="stars", text_columns=("review",), min_freq=1, **settings)


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_jsonl_and_parquet_with_string_labels(tmp_path, ext):
    loaded = load_sentiment(own(tmp_path, ext), None)
    assert loaded["classes"] == ["negative", "positive"]  # sorted order
    assert loaded["summary"]["label_map"] == {"negative": 0, "positive": 1}
    assert {k: len(v) for k, v in loaded["splits"].items()} == {"train": 40, "val": 8, "test": 8}
    assert loaded["splits"]["val"].labels.tolist() == [1] * 4 + [0] * 4
    assert "columns review, stars; text 'review', label 'stars'" in loaded["summary"]["sources"]["train"]


def test_string_label_mapping_is_in_the_record(tmp_path):
    cells = build_cells(["sentiment"], ["lstm"], ["cudnn"], 1, "smoke", {
        "train": {"max_steps": 2}, "model": {"hidden": 8},
        "sentiment": {k: v for k, v in dataclasses.asdict(own(tmp_path, "jsonl")).items()
                      if k in ("train_file", "val_file", "test_file", "label_column", "text_columns")}})
    summary = run_matrix(cells, tmp_path / "out")
    record = json.loads((tmp_path / "out" / "results.jsonl").read_text().splitlines()[-1])
    assert summary.failed == [] and record["status"] == "ok", record.get("error")
    assert record["data"]["label_map"] == {"negative": 0, "positive": 1}


def test_csv_header_bom_quoted_commas_and_the_word_null(tmp_path):
    rows = ['1,"good, warm film"', "0,null", '1,"NA, but fine"']
    (tmp_path / "t.csv").write_text("\ufefflabel,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    settings = SentimentSettings(train_file=str(tmp_path / "t.csv"), val_file=str(tmp_path / "t.csv"),
                                 test_file=str(tmp_path / "t.csv"), min_freq=1)
    loaded = load_sentiment(settings, None)
    assert loaded["classes"] == ["0", "1"]  # the BOM is not part of the label column's name
    vocab = loaded["vocab"]
    assert [vocab[i] for i in loaded["splits"]["train"].ids.tolist()] == ["good,", "warm", "film", "null", "na,", "but",
                                                                           "fine"]


def test_integer_labels_keep_their_values(tmp_path):
    rows = [{"review": f"review {i}", "stars": s} for i, s in enumerate([1, 2, 3, 3, 1])]
    f = write_rows(tmp_path / "stars.jsonl", rows)
    loaded = load_sentiment(SentimentSettings(train_file=str(f), val_file=str(f), test_file=str(f),
                                              label_column="stars", text_columns=("review",)), None)
    assert loaded["classes"] == ["0", "1", "2", "3"]  # class k is label k (0 unused)
    assert loaded["splits"]["train"].labels.tolist() == [1, 2, 3, 3, 1]


def write_class_files(tmp_path, n=20):
    (tmp_path / "pos.txt").write_text("\ufeff" + "".join(f"good film {i}\n" for i in range(n)) + "\n")
    (tmp_path / "neg.txt").write_text("".join(f"bad film {i}\n" for i in range(n)))
    return {"positive": str(tmp_path / "pos.txt"), "negative": str(tmp_path / "neg.txt")}


def test_class_files_cut_by_a_seeded_stated_split(tmp_path):
    settings = SentimentSettings(class_files=write_class_files(tmp_path), split=[0.8, 0.1, 0.1], min_freq=1)
    first, again = load_sentiment(settings, None), load_sentiment(settings, None)
    assert {k: len(v) for k, v in first["splits"].items()} == {"train": 32, "val": 4, "test": 4}
    assert first["classes"] == ["negative", "positive"]
    vocab = first["vocab"]
    assert "\ufeffgood" not in vocab  # the byte-order mark is dropped
    sentences = {s: {" ".join(vocab[i] for i in seqs.ids[seqs.offsets[k]:seqs.offsets[k + 1]].tolist())
                     for k in range(len(seqs))} for s, seqs in first["splits"].items()}
    assert not (sentences["train"] & sentences["val"]) and not (sentences["val"] & sentences["test"])
    assert all(torch.equal(first["splits"][s].ids, again["splits"][s].ids) for s in first["splits"])
    assert first["summary"]["sources"]["val"] == "cut from train: 0.1 of it (split 0.8/0.1/0.1, seed 0)"
    assert "pos.txt" in first["summary"]["sources"]["train"]
    # Every cell of a matrix cuts the same split: it does not depend on the cell's seed.
    data = SentimentTask.datamodule(settings, TrainConfig(batch_size=4), 7, None)
    assert torch.equal(data.splits["test"].ids, first["splits"]["test"].ids)


def write_imdb_like(root: Path) -> Path:
    for split, n in (("train", 10), ("test", 4)):
        for cls, word in (("pos", "great"), ("neg", "awful"), ("unsup", "meh")):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                (root / split / cls / f"{i}_7.txt").write_text(f"A {word} movie.\nReally {word} {i}.")
    return root


def test_class_folders_one_document_a_file(tmp_path):
    imdb = write_imdb_like(tmp_path / "aclImdb")
    settings = SentimentSettings(train_file=str(imdb / "train"), test_file=str(imdb / "test"), classes=("neg", "pos"),
                                 split=(0.9, 0.1), min_freq=1)
    loaded = load_sentiment(settings, None)
    assert loaded["classes"] == ["neg", "pos"]  # unsup/ is not read
    assert {k: len(v) for k, v in loaded["splits"].items()} == {"train": 18, "val": 2, "test": 8}
    assert loaded["splits"]["test"].lengths.tolist() == [6] * 8  # a document is the whole file, lines and all
    assert "neg/: 4, pos/: 4" in loaded["summary"]["sources"]["test"]
    with pytest.raises(DataError, match=r"no subfolder 'good' \(subfolders: neg, pos, unsup\).*set sentiment.classes"):
        load_sentiment(dataclasses.replace(settings, classes=("good", "neg")), None)


def test_the_cache_is_keyed_by_every_file_and_the_settings(tmp_path, monkeypatch):
    from tasks.data import labeled_text
    imdb = write_imdb_like(tmp_path / "aclImdb")
    builds = []
    real = labeled_text.read_local
    monkeypatch.setattr(labeled_text, "read_local", lambda *a: builds.append(1) or real(*a))
    settings = SentimentSettings(train_file=str(imdb / "train"), classes=("neg", "pos"), split=(0.8, 0.1, 0.1))
    load_sentiment(settings, None)
    load_sentiment(settings, None)
    assert len(builds) == 1
    (imdb / "train" / "pos" / "99_9.txt").write_text("one more great movie")
    load_sentiment(settings, None)
    assert len(builds) == 2  # a new document in a class folder
    load_sentiment(dataclasses.replace(settings, split=(0.6, 0.2, 0.2)), None)
    assert len(builds) == 3  # another split


@pytest.mark.parametrize("ext, text, match", [
    ("jsonl", '{"review": "good", "stars": "positive"}\n', r"s_train.jsonl: no label column 'label' "
                                                           r"\(columns: review, stars\); set sentiment.label_column"),
    ("parquet", "not parquet at all", r"s_train.parquet: cannot read as Parquet"),
    ("jsonl", '{"review": "good", "stars": "positive"}\n{oops\n', r"s_train.jsonl: cannot read as JSON Lines"),
    ("xlsx", "", r"s_train.xlsx: unknown file form '.xlsx'; expected one of .tsv"),
])
def test_bad_own_files_name_the_file_and_the_fix(tmp_path, ext, text, match):
    (tmp_path / f"s_train.{ext}").write_text(text)
    settings = SentimentSettings(train_file=str(tmp_path / f"s_train.{ext}"), split=(0.8, 0.1, 0.1))
    with pytest.raises(DataError, match=match):
        load_sentiment(settings, None)


def test_bad_form_settings_fail_at_config_time():
    with pytest.raises(ConfigError, match=r"sentiment.split \[0.5, 0.1\]: expected \[train, val\]"):
        SentimentSettings(split=(0.5, 0.1))
    with pytest.raises(ConfigError, match="sentiment.class_files"):
        SentimentSettings(class_files={"positive": "pos.txt"})
    with pytest.raises(ConfigError, match=r"sentiment.test_file is empty: .* sentiment.split"):
        SentimentSettings(test_file=None)
    assert SentimentSettings(val_file=None, test_file="", split=(0.8, 0.1, 0.1)).split == (0.8, 0.1, 0.1)


# --- the hub, offline: a data set in the local `datasets` cache (tests/conftest.py hub_cache) --------
def labeled(texts, labels, names=("negative", "positive")):
    from datasets import ClassLabel, Dataset, Features, Value
    return Dataset.from_dict({"idx": list(range(len(texts))), "sentence": texts, "label": labels},
                             features=Features({"idx": Value("int32"), "sentence": Value("string"),
                                                "label": ClassLabel(names=list(names))}))


def test_hub_sst2_class_names_and_its_unlabeled_test_split(hub_cache):
    hub_cache("stanfordnlp/sst2", {"train": labeled(["good", "bad", "fine film"], [1, 0, 1]),
                                   "validation": labeled(["great", "awful"], [1, 0]),
                                   "test": labeled(["who knows", "no label"], [-1, -1])})
    loaded = load_sentiment(SentimentSettings(source="hub", min_freq=1), None)
    assert loaded["classes"] == ["negative", "positive"]  # ClassLabel names, ids kept
    assert loaded["splits"]["test"].labels.tolist() == loaded["splits"]["val"].labels.tolist() == [1, 0]
    sources = loaded["summary"]["sources"]
    assert sources["test"].startswith("stanfordnlp/sst2 split validation") and "unlabeled" in sources["test"]


def test_hub_imdb_like_text_column_and_no_validation_split(hub_cache):
    from datasets import ClassLabel, Dataset, Features, Value
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    rows = lambda n: Dataset.from_dict({"text": [f"movie {i}" for i in range(n)], "label": [i % 2 for i in range(n)]},  # noqa: E731
                                       features=features)
    hub_cache("stanfordnlp/imdb", {"train": rows(20), "test": rows(6), "unsupervised": rows(4)}, config="plain_text")
    loaded = load_sentiment(SentimentSettings(source="hub", hub_repo="stanfordnlp/imdb", hub_config="plain_text"), None)
    assert {k: len(v) for k, v in loaded["splits"].items()} == {"train": 18, "val": 2, "test": 6}  # 90/10 cut
    assert loaded["classes"] == ["neg", "pos"]
    assert loaded["summary"]["sources"]["val"].startswith("cut from train: 0.1")
    with pytest.raises(DataError, match=r"split train: no column 'stars' \(columns: text, label\); "
                                        r"set sentiment.label_column"):
        load_sentiment(SentimentSettings(source="hub", hub_repo="stanfordnlp/imdb", label_column="stars"), None)
