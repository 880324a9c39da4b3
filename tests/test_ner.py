"""ner: the CoNLL loader, tag handling, tag schemes (decided from train, applied to every split,
rewrites reported), entity-level span F1 on hand-computed cases, bad files (byte-order marks,
empty files), own files end to end, and a smoke cell end to end."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from benchmark.config import TrainConfig
from benchmark.launchers import run_matrix
from benchmark.engine.cells import build_cells
from benchmark.errors import DataError
from benchmark.metrics import IGNORE, SpanF1, entity_spans
from tasks.data.conll import in_scheme, load_ner, ner_data, read_conll
from tasks.ner import NerSettings, NerTask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "conll2003").exists(), reason=f"shared data not at {DATA}")
TAGS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "rnnbench-cache"))


def ids(*tags):
    return [TAGS.index(t) for t in tags]


def score(pred_rows, gold_rows):
    """Pad rows with IGNORE like the data loader and score them with SpanF1."""
    width = max(len(r) for r in gold_rows)
    pad = lambda rows: torch.tensor([r + [IGNORE] * (width - len(r)) for r in rows])  # noqa: E731
    metric = SpanF1(TAGS, per_type=("precision", "recall", "f1"))
    metric.update(pad(pred_rows).clamp(min=0), pad(gold_rows))
    return {k: float(v) for k, v in metric.compute().items()}


def write_conll(root: Path, name: str, text: str) -> Path:
    (root / "conll2003").mkdir(exist_ok=True)
    path = root / "conll2003" / name
    path.write_text(text)
    return path


IOB2_TRAIN = "-DOCSTART- -X- -X- O\n\nJohn NNP B-NP B-PER\nSmith NNP I-NP I-PER\nin IN O O\nParis NNP B-NP B-LOC\n\n" \
             "Acme NNP B-NP B-ORG\nsaid VBD O O\n"


@pytest.fixture
def tiny(tmp_path):
    for name in ("train.txt", "valid.txt", "test.txt"):
        write_conll(tmp_path, name, IOB2_TRAIN)
    return tmp_path


# --- spans ------------------------------------------------------------------------------------
def test_spans_iob2_and_iob1_read_alike():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == {(0, 2, "PER"), (3, 4, "LOC")}
    # IOB1: an entity starts with I-; B- only separates two adjacent entities of one type.
    assert entity_spans(["I-PER", "I-PER", "B-PER", "O", "I-LOC"]) == {(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC")}
    # A type change inside a run of I- tags ends one entity and starts another.
    assert entity_spans(["B-PER", "I-LOC", "I-LOC"]) == {(0, 1, "PER"), (1, 3, "LOC")}
    assert entity_spans(["O", "O"]) == set()


def test_span_f1_hand_computed():
    gold = [ids("B-PER", "I-PER", "O", "B-LOC"), ids("B-ORG", "I-ORG", "I-ORG")]
    pred = [ids("B-PER", "I-PER", "O", "B-ORG"),   # PER right; LOC predicted as ORG: fp ORG + fn LOC
            ids("B-ORG", "I-ORG", "O")]            # partial overlap: fp ORG + fn ORG
    s = score(pred, gold)
    # tp 1 (PER), fp 2 (ORG, ORG), fn 2 (LOC, ORG)
    assert s["precision"] == pytest.approx(1 / 3) and s["recall"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx(1 / 3)
    assert s["f1_PER"] == 1.0 and s["f1_LOC"] == 0.0 and s["precision_ORG"] == 0.0
    assert s["recall_LOC"] == 0.0


def test_span_f1_iob1_and_padding():
    gold = [ids("I-PER", "I-PER", "B-PER", "O"), ids("I-LOC")]
    pred = [ids("B-PER", "I-PER", "B-PER", "O"), ids("B-LOC")]  # IOB2-style predictions of the same spans
    assert score(pred, gold)["f1"] == 1.0
    # The padded step of the short row holds a predicted entity; it must not count.
    gold_t = torch.tensor([ids("B-PER", "O"), ids("B-LOC") + [IGNORE]])
    pred_t = torch.tensor([ids("B-PER", "O"), ids("B-LOC", "B-ORG")])
    metric = SpanF1(TAGS)
    metric.update(pred_t, gold_t)
    assert float(metric.compute()["precision"]) == 1.0


def test_span_f1_sums_across_batches_and_zero_division():
    metric = SpanF1(TAGS)
    metric.update(torch.tensor([ids("B-PER")]), torch.tensor([ids("B-PER")]))
    metric.update(torch.tensor([ids("O")]), torch.tensor([ids("B-LOC")]))
    out = metric.compute()
    assert float(out["precision"]) == 1.0 and float(out["recall"]) == 0.5
    assert float(out["f1_ORG"]) == 0.0  # no ORG anywhere: 0, not NaN


# --- files ------------------------------------------------------------------------------------
@needs_data
def test_conll2003_entity_counts_and_tags():
    train = read_conll(DATA / "conll2003" / "train.txt")
    assert sum(len(entity_spans(t)) for t in train.tags) == 23499
    assert not any(tok == "-DOCSTART-" for sent in train.tokens for tok in sent)
    loaded = load_ner(NerSettings(), DATA)
    assert loaded["scheme"] == "iob2"
    assert loaded["tag_names"][0] == "O" and len(loaded["tag_names"]) == 9
    assert {k: len(v) for k, v in loaded["splits"].items()} == {"train": 14041, "val": 3250, "test": 3453}


def test_two_column_files_docstart_and_unk(tiny):
    write_conll(tiny, "test.txt", "-DOCSTART- O\n\nJohn B-PER\nDoe I-PER\nvisited O\nParis B-LOC\n")
    loaded = load_ner(NerSettings(min_freq=1), tiny)
    test, vocab = loaded["splits"]["test"], loaded["vocab"]
    assert len(test) == 1
    assert [vocab[i] for i in test.ids.tolist()] == ["John", "<unk>", "<unk>", "Paris"]
    names = loaded["tag_names"]
    assert [names[i] for i in test.labels.tolist()] == ["B-PER", "I-PER", "O", "B-LOC"]


IOB1_TRAIN = "John I-PER\nSmith I-PER\nin O\nParis I-LOC\n\nAcme I-ORG\nsaid O\nLondon B-LOC\n"


def tag_names(loaded, split):
    part = loaded["splits"][split]
    return [loaded["tag_names"][i] for i in part.labels.tolist()]


def test_scheme_detection_and_iob2_on_an_iob1_file(tiny):
    write_conll(tiny, "train.txt", IOB1_TRAIN)
    assert load_ner(NerSettings(), tiny)["scheme"] == "iob1"
    # Named iob2 on IOB1 tags: read as conlleval reads them (I- after O starts a chunk), written B-, reported.
    loaded = load_ner(NerSettings(scheme="iob2"), tiny)
    assert tag_names(loaded, "train") == ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "O", "B-LOC"]
    (said,) = [n for n in loaded["notes"] if "train.txt" in n]
    assert "3 I- tag(s) continuing no chunk (line(s) 1, 4, 6)" in said and "ner.scheme=iob2" in said


@pytest.mark.parametrize("tags", [
    ["B-PER", "I-PER", "O", "B-LOC"], ["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["B-PER", "I-LOC", "I-LOC"],
    ["O", "I-ORG", "B-ORG", "I-ORG", "I-PER", "B-PER"], ["O"], [],
])
def test_schemes_rewrite_tags_never_chunks(tags):
    for scheme in ("iob1", "iob2"):
        assert entity_spans(in_scheme(tags, scheme)) == entity_spans(tags)
    assert in_scheme(["O", "I-PER", "I-PER", "I-PER", "B-PER"], "iob2") == ["O", "B-PER", "I-PER", "I-PER", "B-PER"]
    assert in_scheme(["B-PER", "I-PER", "O", "B-LOC", "B-LOC"], "iob1") == ["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]


def test_stray_inside_in_dev_of_an_iob2_train_is_read_as_a_chunk_and_reported(tiny, capsys):
    # The shared check's case: train IOB2; dev starts with a byte-order-mark line and has one
    # `Anna O / Lind I-PER`. The run must go on, with the tag read as conlleval reads it.
    write_conll(tiny, "valid.txt", "\ufeff\nthe O\nvisit O\nof O\nAnna O\nLind I-PER\nin O\nParis B-LOC\n")
    loaded = load_ner(NerSettings(), tiny)
    assert loaded["scheme"] == "iob2"
    assert tag_names(loaded, "val") == ["O", "O", "O", "O", "B-PER", "O", "B-LOC"]
    (said,) = loaded["notes"]
    assert said.startswith(f"{tiny / 'conll2003' / 'valid.txt'}: 1 I- tag(s) continuing no chunk (line(s) 6)")
    assert "train.txt is IOB2 (ner.scheme=auto)" in said
    ner_data(NerSettings(), TrainConfig(batch_size=2), 0, tiny)
    assert f"note: {said}" in capsys.readouterr().err


def test_auto_scheme_comes_from_the_whole_train_file_and_applies_to_every_split(tiny):
    # The stray I- is in train's second sentence: a one-sentence subset still reads as IOB1.
    write_conll(tiny, "train.txt", "John B-PER\nSmith I-PER\nin O\nParis B-LOC\nAcme B-ORG\n\nParis I-LOC\n")
    loaded = load_ner(NerSettings(max_train_examples=1), tiny)
    assert loaded["scheme"] == "iob1"
    # valid/test are IOB2 (IOB2_TRAIN): their chunk-initial B- become IOB1's I-, the same chunks.
    assert tag_names(loaded, "val") == ["I-PER", "I-PER", "O", "I-LOC", "I-ORG", "O"]
    notes = [n for n in loaded["notes"] if "valid.txt" in n]
    assert len(notes) == 1 and "3 B- tag(s) of chunks that follow no chunk of their type" in notes[0]


def test_byte_order_marks_are_not_tokens(tiny):
    # At the file's start, before the first token; and a line of only U+FEFF inside (files joined by `cat`).
    write_conll(tiny, "test.txt", "\ufeffJohn B-PER\nSmith I-PER\n\ufeff\nParis B-LOC\n")
    part = read_conll(tiny / "conll2003" / "test.txt")
    assert part.tokens == [["John", "Smith"], ["Paris"]] and part.lines == [[1, 2], [4]]


@pytest.mark.parametrize("text, match", [
    ("John\n", r"valid.txt:1: expected a token and a tag"),
    ("John NNP X-PER\n", r"valid.txt:1: bad tag 'X-PER'"),
    ("John NNP B-NP B-PER\nWaltz NNP I-NP B-DANCE\n", r"valid.txt:2: tag 'B-DANCE': entity type never occurs in train"),
    ("-DOCSTART- -X- -X- O\n\n", r"valid.txt: no sentences"),
    ("", r"valid.txt: empty file; expected CoNLL lines"),
    ("\ufeff", r"valid.txt: empty file"),
])
def test_malformed_files_name_file_and_line(tiny, text, match):
    write_conll(tiny, "valid.txt", text)
    with pytest.raises(DataError, match=match):
        load_ner(NerSettings(), tiny)


def test_bad_encoding_names_the_line(tiny):
    (tiny / "conll2003" / "test.txt").write_bytes("John B-PER\n\nCr\u00e8me O\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"test.txt:3: not valid UTF-8"):
        load_ner(NerSettings(), tiny)


def test_own_files_with_a_bom_and_a_stray_tag_train_end_to_end(tiny, tmp_path):
    write_conll(tiny, "valid.txt", "\ufeff\n" + IOB2_TRAIN.replace("John NNP B-NP B-PER", "John NNP B-NP O"))
    files = {f"{s}_file": str(tiny / "conll2003" / n) for s, n in (("train", "train.txt"), ("val", "valid.txt"),
                                                                   ("test", "test.txt"))}
    train = {"max_steps": 3, "batch_size": 2, "val_batches": 1, "test_batches": 1, "log_every": 1}
    cells = build_cells(["ner"], ["lstm"], ["cudnn"], 1, "smoke", {"ner": files, "train": train})
    summary = run_matrix(cells, tmp_path / "run", data_dir=None)
    record = json.loads((tmp_path / "run" / "results.jsonl").read_text().splitlines()[-1])
    assert summary.failed == [] and record["status"] == "ok", record.get("error")
    assert len(record["data_notes"]) == 1 and "valid.txt: 1 I- tag(s)" in record["data_notes"][0]


@needs_data
def test_smoke_cell_end_to_end(tmp_path):
    cells = build_cells(["ner"], ["bilstm"], ["cudnn"], 1, "smoke")
    summary = run_matrix(cells, tmp_path, data_dir=DATA)
    assert summary.failed == [] and summary.ran == 1
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert record["status"] == "ok", record.get("error")
    metrics = record["metrics"]
    for name in ("test/f1", "test/precision", "test/recall", "test/f1_PER", "val/f1"):
        assert math.isfinite(metrics[name]) and 0 <= metrics[name] <= 1
    assert 0 < record["baselines"]["most frequent tag per word (of train)"]["f1"] < 1


# --- the hub, offline: a data set in the local `datasets` cache (tests/conftest.py hub_cache) --------
CONLL_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def conll_rows(tag_feature=None):
    from datasets import ClassLabel, Dataset, Features, List, Value
    tags = tag_feature or ClassLabel(names=CONLL_NAMES)
    rows = {"id": ["0", "1", "2"], "tokens": [["John", "Smith", "in", "Paris"], [], ["Acme", "said"]],
            "ner_tags": [[1, 2, 0, 5], [], [3, 0]]}
    return Dataset.from_dict(rows, features=Features({"id": Value("string"), "tokens": List(Value("string")),
                                                      "ner_tags": List(tags)}))


def test_hub_conll_tags_are_classlabel_names(hub_cache):
    hub_cache("eriktks/conll2003", {s: conll_rows() for s in ("train", "validation", "test")})
    settings = NerSettings(source="hub", min_freq=1)  # revision refs/convert/parquet: offline, the cached copy
    data = NerTask.datamodule(settings, TrainConfig(batch_size=2), 0, None)
    assert data.tag_names == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert data.scheme == "iob2"
    train = data.splits["train"]
    assert len(train) == 2  # the empty row is skipped, as a blank line would be
    assert [data.tag_names[i] for i in train.label(0).tolist()] == ["B-PER", "I-PER", "O", "B-LOC"]
    assert data.summary["sources"]["test"].startswith("eriktks/conll2003@refs/convert/parquet split test")


def test_hub_string_tags_in_other_columns(hub_cache):
    from datasets import Dataset
    rows = Dataset.from_dict({"words": [["Anna", "Lind", "visits", "Oslo"]], "labels": [["I-PER", "I-PER", "O", "I-LOC"]]})
    hub_cache("me/iob1-ner", {"train": rows, "dev": rows, "test": rows})
    settings = NerSettings(source="hub", hub_repo="me/iob1-ner", hub_revision="", tokens_column="words",
                           tags_column="labels", min_freq=1)
    data = NerTask.datamodule(settings, TrainConfig(batch_size=2), 0, None)
    assert data.scheme == "iob1" and data.tag_names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    with pytest.raises(DataError, match=r"me/iob1-ner split train: no column 'tokens' \(columns: words, labels\); "
                                        r"set ner.tokens_column"):
        NerTask.datamodule(dataclasses.replace(settings, tokens_column="tokens"), TrainConfig(), 0, None)


def test_hub_integer_tags_without_names_need_tag_names(hub_cache):
    from datasets import Value
    hub_cache("me/plain-ids", {s: conll_rows(Value("int64")) for s in ("train", "validation", "test")})
    settings = NerSettings(source="hub", hub_repo="me/plain-ids", hub_revision="", min_freq=1)
    with pytest.raises(DataError, match=r"me/plain-ids:train:1: tags are integers without names.*set ner.tag_names"):
        NerTask.datamodule(settings, TrainConfig(), 0, None)
    data = NerTask.datamodule(dataclasses.replace(settings, tag_names=tuple(CONLL_NAMES)), TrainConfig(), 0, None)
    assert "B-PER" in data.tag_names
