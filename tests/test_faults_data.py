"""Faults in data and data paths (issue 24): a data cache that runs no code and rebuilds a bad
entry, numeric labels that are no class ids, a user's class files missing, a symbolic link loop."""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import cli
from benchmark.config import ConfigError
from benchmark.engine.cells import build_cells, check_own_files
from benchmark.errors import DataError
from tasks.data import sources
from tasks.data.corpus import Corpus
from tasks.data.sequences import Sequences
from tasks.data.sources import cached, local_file, missing_own_file
from tasks.sentiment import SentimentSettings, SentimentTask

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[1]
ETT = ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def entry(value) -> bytes:
    """A well-formed cache entry (header, checksum) holding the torch.save of `value`."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    payload = buffer.getvalue()
    return sources._MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def one_entry(cache: Path) -> Path:
    files = [p for p in cache.iterdir() if p.is_file()]
    assert len(files) == 1, files
    return files[0]


# --- the cache ----------------------------------------------------------------------------------
@pytest.mark.skipif(not ETT.exists(), reason=f"shared data not at {ETT}")
def test_a_pickle_planted_in_the_cache_runs_no_code_and_the_entry_is_rebuilt(tmp_path, cache):
    # As ../shared/checks/faults does it: a first `data check`, every cache file replaced by a
    # pickle that runs a shell command when unpickled, the same `data check` again.
    small = tmp_path / "f.csv"
    small.write_text("".join(ETT.read_text().splitlines(keepends=True)[:3000]))
    argv = [sys.executable, "-m", "benchmark", "data", "check", "--tasks", "forecast",
            "--set", f"forecast.file={small}", "--set", "forecast.train_rows=2000",
            "--set", "forecast.val_rows=400", "--set", "forecast.test_rows=500"]
    env = {**os.environ, "RNNBENCH_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    first = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    marker = tmp_path / "PWNED"
    planted = [Path(root) / f for root, _, files in os.walk(cache) for f in files]
    assert planted
    for path in planted:
        path.write_bytes(pickle.dumps(Evil(marker)))
    again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert not marker.exists(), "a pickle planted in the data cache ran code"
    assert again.returncode == 0, again.stderr
    assert f"note: rebuilt the cache entry {planted[0]}: not a cache entry of format" in again.stderr
    assert again.stdout == first.stdout


def test_an_entry_that_unpickles_code_is_rebuilt_even_with_a_good_checksum(cache, tmp_path, capsys):
    assert cached("t", [], {}, lambda: {"n": 1}, {"n": int}) == {"n": 1}
    path = one_entry(cache)
    marker = tmp_path / "PWNED"
    path.write_bytes(entry({"n": Evil(marker)}))  # a valid header and checksum: only weights_only stops it
    assert cached("t", [], {}, lambda: {"n": 2}, {"n": int}) == {"n": 2}
    assert not marker.exists()
    assert f"note: rebuilt the cache entry {path}: unreadable payload" in capsys.readouterr().err
    assert cached("t", [], {}, lambda: {"n": 3}, {"n": int}) == {"n": 2}  # the rebuilt entry is good


@pytest.mark.parametrize("planted, why", [
    ([1, 2, 3], "the entry is not a dict with keys ['n', 'names']"),
    ({"n": "1", "names": ["a"]}, "the entry['n'] is a str, expected a int"),
    ({"n": 1, "names": ["a", 2]}, "the entry['names'][1] is a int, expected a str"),
    ({"n": True, "names": []}, "the entry['n'] is a bool, expected a int"),
])
def test_an_entry_of_the_wrong_type_is_rebuilt(cache, capsys, planted, why):
    expect = {"n": int, "names": list[str]}
    assert cached("t", [], {}, lambda: {"n": 1, "names": ["a"]}, expect) == {"n": 1, "names": ["a"]}
    path = one_entry(cache)
    path.write_bytes(entry(planted))
    assert cached("t", [], {}, lambda: {"n": 2, "names": ["b"]}, expect) == {"n": 2, "names": ["b"]}
    assert f"note: rebuilt the cache entry {path}: {why}" in capsys.readouterr().err


@pytest.mark.parametrize("damage, why", [
    (lambda raw: raw[: len(raw) // 2], "checksum mismatch (truncated or altered)"),
    (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), "checksum mismatch (truncated or altered)"),
    (lambda raw: b"", "not a cache entry of format 2"),
    (lambda raw: raw[:10], "not a cache entry of format 2"),
])
def test_a_truncated_or_altered_entry_is_rebuilt(cache, capsys, damage, why):
    value = {"x": torch.arange(1000)}
    cached("t", [], {}, lambda: value, {"x": torch.Tensor})
    path = one_entry(cache)
    path.write_bytes(damage(path.read_bytes()))
    got = cached("t", [], {}, lambda: {"x": torch.zeros(3)}, {"x": torch.Tensor})
    assert torch.equal(got["x"], torch.zeros(3))
    assert f"note: rebuilt the cache entry {path}: {why}" in capsys.readouterr().err


def test_an_unreadable_entry_is_rebuilt(cache, capsys):
    cached("t", [], {}, lambda: {"n": 1}, {"n": int})
    path = one_entry(cache)
    path.unlink()
    os.symlink(path.name, path)  # a link to itself: reading it fails (ELOOP), as a permission error would
    assert cached("t", [], {}, lambda: {"n": 2}, {"n": int}) == {"n": 2}
    assert f"note: rebuilt the cache entry {path}: cannot read it" in capsys.readouterr().err
    assert not path.is_symlink()  # replaced by a real entry, the link's target untouched


def test_dataclasses_travel_as_plain_fields_and_come_back(cache, capsys):
    corpus = Corpus(["a", "<unk>"], torch.tensor([0, 1]), torch.tensor([1]), torch.tensor([0]), {"train": "f"},
                    {"val": 0})
    seqs = Sequences.from_lists([[2, 3], [4]], [0, 1])
    value = {"corpus": corpus, "splits": {"train": seqs}, "rows": (1, 2, 3)}
    expect = {"corpus": Corpus, "splits": dict[str, Sequences], "rows": tuple[int, int, int]}
    cached("t", [], {}, lambda: value, expect)
    raw = one_entry(cache).read_bytes()
    payload = raw[len(sources._MAGIC) + 65:]
    plain = torch.load(io.BytesIO(payload), weights_only=True)  # plain containers only
    assert plain["corpus"]["vocab"] == ["a", "<unk>"] and plain["splits"]["train"]["per_token"] is False
    got = cached("t", [], {}, lambda: pytest.fail("rebuilt a good entry"), expect)
    assert isinstance(got["corpus"], Corpus) and got["corpus"].vocab == corpus.vocab
    assert torch.equal(got["corpus"].train, corpus.train) and got["corpus"].origin == {"train": "f"}
    assert isinstance(got["splits"]["train"], Sequences) and got["splits"]["train"].labels.tolist() == [0, 1]
    assert got["rows"] == (1, 2, 3)
    assert "note:" not in capsys.readouterr().err


def test_old_pickled_entries_are_never_read(cache, tmp_path):
    # Format 1 wrote NAME-KEY.pt as a full pickle; format 2 keys its entries anew (CACHE_FORMAT is in the key).
    cache.mkdir()
    marker = tmp_path / "PWNED"
    old_key = hashlib.sha1(json.dumps(["t", [], {}, sources._loader_code()], sort_keys=True).encode()).hexdigest()[:16]
    (cache / f"t-{old_key}.pt").write_bytes(pickle.dumps(Evil(marker)))  # where format 1 looked
    assert cached("t", [], {}, lambda: {"n": 1}) == {"n": 1}
    assert not marker.exists()
    assert len(list(cache.glob("t-*.pt"))) == 2  # a new entry beside it


# Every loader that caches: its value fits the description its entry is checked against, so
# the second load is a hit (no rebuild note, no "not cached" note).
def _forecast(root):
    from tasks.data.time_series import load_series
    from tasks.forecast import ForecastSettings
    rows = [f"2016-07-{1 + h // 24:02d} {h % 24:02d}:00:00,{h % 5},{h * 2 % 7},{h % 3}" for h in range(48)]
    (root / "s.csv").write_text("date,a,b,OT\n" + "\n".join(rows) + "\n")
    return lambda: load_series(ForecastSettings(file=str(root / "s.csv"), lookback=4, horizon=2, season=2,
                                                train_rows=30, val_rows=8, test_rows=8), root)


def _sentiment(root):
    from tasks.data.labeled_text import load_sentiment
    for name, rows in (("train.tsv", ["1\tgood film", "0\tbad film"]), ("dev.tsv", ["1\tgood"]),
                       ("test.tsv", ["0\tbad"])):
        (root / name).write_text("label\tsentence\n" + "\n".join(rows) + "\n")
    return lambda: load_sentiment(SentimentSettings(train_file="train.tsv", val_file="dev.tsv",
                                                    test_file="test.tsv", min_freq=1), root)


def _ner(root):
    from tasks.data.conll import load_ner
    from tasks.ner import NerSettings
    for name in ("train.txt", "valid.txt", "test.txt"):
        (root / name).write_text("John NNP B-NP B-PER\nin IN O O\nParis NNP B-NP B-LOC\n")
    return lambda: load_ner(NerSettings(train_file="train.txt", val_file="valid.txt", test_file="test.txt"), root)


def _chars(root):
    from tasks.data.char_text import _cached_chars
    (root / "t.txt").write_text("hello world, " * 20)
    return lambda: _cached_chars(root, "t.txt", 0.9)


def _words(root):
    from tasks.data.word_text import _cached_words
    from tasks.word_lm import WordLMSettings
    (root / "w").mkdir()
    for name in ("a", "b", "c"):
        (root / "w" / name).write_text("the cat sat\non the mat\n")
    return lambda: _cached_words(WordLMSettings(folder="w", files=("a", "b", "c")), root)


def _mnist(root):
    from tasks.data.mnist import IDX_FILES, load_mnist
    (root / "mnist").mkdir()
    for images_file, labels_file in IDX_FILES.values():
        images, labels = np.zeros((4, 28, 28), np.uint8), np.arange(4)
        (root / "mnist" / images_file).write_bytes(struct.pack(">IIII", 2051, 4, 28, 28) + images.tobytes())
        (root / "mnist" / labels_file).write_bytes(struct.pack(">II", 2049, 4) + labels.astype(np.uint8).tobytes())
    return lambda: load_mnist("local", "mnist", "", root)


@pytest.mark.parametrize("loader", [_forecast, _sentiment, _ner, _chars, _words, _mnist],
                         ids=lambda f: f.__name__.strip("_"))
def test_every_cached_loader_value_fits_its_entry_description(tmp_path, cache, capsys, loader):
    load = loader(tmp_path)
    first = load()
    entries = list(cache.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".pt"
    again = load()
    err = capsys.readouterr().err
    assert "rebuilt the cache entry" not in err and "not cached" not in err
    assert type(again) is type(first)
    assert list(cache.iterdir()) == entries


# --- labels that are numbers but no class ids -------------------------------------------------------
def write_rows(path: Path, rows: list[tuple]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"label": label, "sentence": text}) + "\n" for label, text in rows))
    else:
        path.write_text("label,sentence\n" + "".join(f"{label},{text}\n" for label, text in rows))


@pytest.mark.parametrize("ext, bad, shown, what", [
    (".csv", "0.5", "0.5", "not a whole number"),
    (".csv", "NaN", "NaN", r"not a number \(NaN\)"),
    (".csv", "inf", "inf", "infinite"),
    (".jsonl", 0.5, "0.5", "not a whole number"),
    (".jsonl", "nan", "nan", r"not a number \(NaN\)"),
])
def test_a_fractional_or_nan_label_is_an_error_naming_file_line_and_value(tmp_path, ext, bad, shown, what):
    from tasks.data.labeled_text import load_sentiment
    train = tmp_path / f"train{ext}"
    write_rows(train, [(1, "good film"), (0, "bad film"), (bad, "so so film"), (1, "good fun")])
    write_rows(tmp_path / f"dev{ext}", [(1, "good"), (0, "bad")])
    settings = SentimentSettings(train_file=str(train), val_file=str(tmp_path / f"dev{ext}"),
                                 test_file=str(tmp_path / f"dev{ext}"), min_freq=1)
    line = 4 if ext == ".csv" else 3  # the header is line 1 of a CSV
    with pytest.raises(DataError, match=rf"^{train}:{line}: label '{shown}' is {what}; numeric labels are class ids "
                                        r"\(0, 1, 2, \.\.\.\): fix the value, or write every label"):
        load_sentiment(settings, tmp_path)


def test_whole_numbers_written_as_floats_stay_class_ids(tmp_path):
    from tasks.data.labeled_text import load_sentiment
    write_rows(tmp_path / "t.csv", [("1.0", "good film"), ("0", "bad film"), ("2", "fine")])
    write_rows(tmp_path / "d.csv", [(1, "good"), ("2.0", "fine")])
    loaded = load_sentiment(SentimentSettings(train_file=str(tmp_path / "t.csv"), val_file=str(tmp_path / "d.csv"),
                                              test_file=str(tmp_path / "d.csv"), min_freq=1), tmp_path)
    assert loaded["classes"] == ["0", "1", "2"]
    assert loaded["splits"]["val"].labels.tolist() == [1, 2]


def test_a_number_named_in_class_files_is_that_class(tmp_path):
    from tasks.data.labeled_text import load_sentiment
    (tmp_path / "half.txt").write_text("so so\nmeh film\nokay i guess\n")
    (tmp_path / "one.txt").write_text("good film\ngreat fun\nloved it\n")
    write_rows(tmp_path / "d.csv", [("0.5", "meh"), (1, "good")])
    loaded = load_sentiment(SentimentSettings(class_files={0.5: str(tmp_path / "half.txt"),
                                                           1: str(tmp_path / "one.txt")},
                                              val_file=str(tmp_path / "d.csv"), test_file=str(tmp_path / "d.csv"),
                                              min_freq=1), tmp_path)
    assert loaded["classes"] == ["0.5", "1"]
    assert loaded["splits"]["val"].labels.tolist() == [0, 1]


# --- a user's own paths, checked before anything trains ------------------------------------------
def test_missing_class_files_exit_2_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "--tasks", "sentiment", "--models", "lstm", "--set",
                     "sentiment.class_files={pos: /nonexistent/a.pos, neg: /nonexistent/a.neg}", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "sentiment.class_files.pos: no such file or folder /nonexistent/a.pos" in err
    assert "sentiment.class_files.neg: no such file or folder /nonexistent/a.neg" in err
    assert not (out / "results.jsonl").exists()


def test_sentiment_data_files_are_the_files_read():
    assert SentimentTask.data_files(SentimentSettings(class_files={"pos": "p.txt", "neg": "n.txt"})) == {
        "val_file": "sst2/dev.tsv", "test_file": "sst2/test.tsv", "class_files.neg": "n.txt",
        "class_files.pos": "p.txt"}
    assert SentimentTask.data_files(SentimentSettings(train_file="mine.csv", split=(0.8, 0.1, 0.1))) == {
        "train_file": "mine.csv"}
    assert SentimentTask.data_files(SentimentSettings(source="hub")) == {}


def test_a_symbolic_link_loop_is_named_as_one(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    loop = tmp_path / "a"
    assert missing_own_file(None, str(loop)) == \
        f"{loop} is a symbolic link loop; point the link at a real file, or give the file's own path"
    assert missing_own_file(tmp_path, "a").startswith(f"{loop} ('a' under the data directory) is a symbolic link loop")
    cells = build_cells(["forecast"], ["lstm"], ["cudnn"], 1, "smoke", {"forecast": {"file": str(loop)}})
    with pytest.raises(ConfigError, match=rf"forecast.file: {loop} is a symbolic link loop"):
        check_own_files(cells, None)
    with pytest.raises(DataError, match=rf"forecast: {loop} is a symbolic link loop"):  # data check reads it so
        local_file(None, str(loop), "forecast")
    with pytest.raises(DataError, match=rf"{loop} is a symbolic link loop"):
        local_file(tmp_path, "a", "forecast")


def test_a_dangling_link_is_named_as_one_not_as_its_own_closest_name(tmp_path):
    os.symlink(tmp_path / "gone.csv", tmp_path / "data.csv")
    why = missing_own_file(None, str(tmp_path / "data.csv"))
    assert why == f"{tmp_path / 'data.csv'} is a symbolic link to {tmp_path / 'gone.csv'}, which does not exist; " \
                  f"fix the link or the path"
    (tmp_path / "dat.csv").unlink(missing_ok=True)
    assert "closest name there: data.csv" not in missing_own_file(None, str(tmp_path / "data.csv"))
