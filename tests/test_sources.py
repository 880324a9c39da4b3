"""Data sources: where files are looked for, what the user is told, reading text (byte-order
marks, empty files), which paths are the user's own, and the processed-data cache."""
from dataclasses import dataclass

import pytest

from benchmark.errors import DataError, DataUnavailable
from tasks.data import sources
from tasks.data.sources import cached, data_files, local_file, missing_own_file, read_text


def test_relative_paths_resolve_under_the_data_dir(tmp_path):
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "a.txt").write_text("x")
    assert local_file(tmp_path, "ptb/a.txt", "word_lm") == tmp_path / "ptb" / "a.txt"


def test_absolute_paths_need_no_data_dir(tmp_path):
    f = tmp_path / "mine.tsv"
    f.write_text("label\tsentence\n")
    assert local_file(None, str(f), "sentiment") == f
    with pytest.raises(DataUnavailable, match="nope.tsv"):
        local_file(None, str(tmp_path / "nope.tsv"), "sentiment")


def test_missing_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNBENCH_DATA_DIR", raising=False)
    with pytest.raises(DataUnavailable, match="--data-dir"):
        local_file(None, "sst2/train.tsv", "sentiment")
    with pytest.raises(DataUnavailable, match=str(tmp_path / "sst2" / "train.tsv")):
        local_file(tmp_path, "sst2/train.tsv", "sentiment")


def test_cache_builds_once_per_files_and_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "data.txt"
    f.write_text("abc")
    builds = []

    def build():
        builds.append(1)
        return {"n": len(builds)}

    assert cached("t", [f], {"k": 1}, build) == {"n": 1}
    assert cached("t", [f], {"k": 1}, build) == {"n": 1}          # hit
    assert cached("t", [f], {"k": 2}, build) == {"n": 2}          # other settings
    f.write_text("abcd")
    assert cached("t", [f], {"k": 1}, build) == {"n": 3}          # the file changed
    monkeypatch.setattr(sources, "_loader_code", lambda: "edited")
    assert cached("t", [f], {"k": 1}, build) == {"n": 4}          # the loader changed


def test_unreachable_hub_skips_fast_without_offline_variables():
    # As a user runs it: no HF_*_OFFLINE set before `datasets` is imported. Without network
    # the load must give up at once (datasets alone retries for ~20 s).
    import os
    import subprocess
    import sys
    import time

    from tasks.data.sources import hub_reachable
    if hub_reachable():
        pytest.skip("the hub is reachable here")
    code = ("from benchmark.errors import DataUnavailable\nfrom tasks.data.sources import load_hub\n"
            "try:\n    load_hub('Salesforce/wikitext', 'wikitext-2-v1', 'word_lm', 'use local files')\n"
            "except DataUnavailable as e:\n    print('skipped:', e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "skipped:" in out.stdout and "use local files" in out.stdout, out.stderr
    assert time.perf_counter() - start < 10


def test_read_text_drops_a_byte_order_mark(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes(b"\xef\xbb\xbfword\n\xef\xbb\xbfkept inside\n")
    assert read_text(f) == "word\n\ufeffkept inside\n"  # only the leading one is a file's mark


@pytest.mark.parametrize("raw", [b"", b"\xef\xbb\xbf"])
def test_an_empty_file_says_so(tmp_path, raw):
    f = tmp_path / "nothing.tsv"
    f.write_bytes(raw)
    with pytest.raises(DataError, match=r"nothing.tsv: empty file; expected a header row"):
        read_text(f, "a header row")


@dataclass(frozen=True)
class Paths:
    source: str = "local"
    file: str = "a/b.csv"
    train_file: str = "t.txt"
    files: tuple = ("x", "y")
    folder: str = "dir"
    lowercase: bool = True


def test_data_files_are_found_by_the_settings_names():
    assert data_files(Paths()) == {"file": "a/b.csv", "train_file": "t.txt", "files[0]": "x", "files[1]": "y",
                                   "folder": "dir"}
    assert data_files(Paths(source="hub")) == {}  # nothing local to check


def test_missing_own_file_names_the_path_tried(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNBENCH_DATA_DIR", raising=False)
    (tmp_path / "sales.csv").write_text("x")
    assert missing_own_file(None, str(tmp_path / "sales.csv")) is None
    assert missing_own_file(tmp_path, "sales.csv") is None
    assert missing_own_file(None, str(tmp_path / "sale.csv")) == \
        f"no such file or folder {tmp_path / 'sale.csv'} (the closest name there: sales.csv)"
    assert missing_own_file(tmp_path, "mine/x.csv") == \
        f"no such file or folder {tmp_path / 'mine' / 'x.csv'} ('mine/x.csv' under the data directory)"
    assert "relative to the data directory, and none is set" in missing_own_file(None, "mine/x.csv")
