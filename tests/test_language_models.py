"""char_lm and word_lm: corpora, batch layout, truncated BPTT, bad input, hub offline, cache,
and one smoke cell per task through the matrix runner. Runs on the shared real data."""
from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from benchmark.config import ConfigError, TrainConfig
from benchmark.launchers import run_matrix
from benchmark.config import parse_set
from benchmark.engine.cells import build_cells
from benchmark.config import ModelConfig
from benchmark.errors import DataError, DataUnavailable
from tasks.char_lm import CharLMTask
from tasks.data import char_text, word_text
from tasks.data.corpus import EOS, UNK, BpttChunks, batchify
from tasks.language_model import unigram_nats
from tasks.word_lm import WordLMTask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "ptb").exists(), reason=f"shared data not at {DATA}")


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("rnnbench-cache")
        mp.setenv("RNNBENCH_CACHE", str(path))
        yield path


def data_for(task, train=TrainConfig(batch_size=20), data_dir=DATA, **settings):
    data = task.datamodule(task.Settings(**settings), train, 0, data_dir)
    data.setup("fit")
    return data


def module_for(task, data, hidden=16, train=TrainConfig(batch_size=20), **settings):
    return task(task.Settings(**settings), ModelConfig(variant="lstm", hidden=hidden), train, data)


# --- loaders ---------------------------------------------------------------------------
def test_ptb_sizes_vocab_and_eos_match_the_published_split():
    corpus = data_for(WordLMTask).corpus
    assert (corpus.train.numel(), corpus.val.numel(), corpus.test.numel()) == (929_589, 73_760, 82_430)
    assert len(corpus.vocab) == 10_000 and EOS in corpus.vocab and UNK in corpus.vocab
    lines = (DATA / "ptb" / "ptb.valid.txt").read_text().count("\n")
    assert int((corpus.val == corpus.vocab.index(EOS)).sum()) == lines
    assert corpus.oov == {"train": 0, "val": 0, "test": 0}


def test_tiny_shakespeare_split_is_90_5_5_and_reassembles_the_file():
    corpus = data_for(CharLMTask).corpus
    text = (DATA / "tinyshakespeare" / "input.txt").read_text()
    assert (corpus.train.numel(), corpus.val.numel(), corpus.test.numel()) == (1_003_854, 55_770, 55_770)
    ids = torch.cat([corpus.train, corpus.val, corpus.test])
    assert "".join(corpus.vocab[i] for i in ids.tolist()) == text


def test_vocabulary_comes_from_train_only(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "train.txt").write_text("the cat sat\nthe dog\n" * 20)
    (folder / "valid.txt").write_text("the zebra sat\n" * 10)
    (folder / "test.txt").write_text("a cat\n" * 10)
    corpus = data_for(WordLMTask, TrainConfig(batch_size=4), tmp_path, folder="toy",
                      files=("train.txt", "valid.txt", "test.txt")).corpus
    assert "zebra" not in corpus.vocab and "a" not in corpus.vocab
    assert corpus.oov == {"train": 0, "val": 10, "test": 10}
    assert corpus.val[1].item() == corpus.vocab.index(UNK)


# --- batches and truncated BPTT --------------------------------------------------------
def test_batches_continue_each_stream_and_targets_are_the_next_token():
    ids = torch.arange(1000)
    streams = batchify(ids, 7)
    chunks = BpttChunks(streams, 9)
    x = torch.cat([chunks[i][0] for i in range(len(chunks))], dim=1)
    y = torch.cat([chunks[i][1] for i in range(len(chunks))], dim=1)
    n = 1000 // 7
    for b in range(7):  # row b is one contiguous slice of the text, read in order across batches
        assert torch.equal(x[b], ids[b * n: (b + 1) * n - 1])
        assert torch.equal(y[b], ids[b * n + 1: (b + 1) * n])
    assert chunks[len(chunks) - 1][0].shape[1] == ((n - 1) % 9 or 9)  # the last chunk is shorter


def test_state_is_carried_across_chunks_and_detached():
    data = data_for(CharLMTask, max_train_tokens=20_000)
    module = module_for(CharLMTask, data)
    module.eval()  # no dropout anyway; compare exact values
    (x0, y0), (x1, y1) = data.chunks("train")[0], data.chunks("train")[1]
    loss0, _, _ = module.step((x0, y0))
    carried = module._carried["train"]
    assert all(s.grad_fn is None and not s.requires_grad for s in carried)
    module.step((x1, y1))
    # Two chunks with the carried state = one pass over both chunks from a zero state.
    _, whole = module.encoder(module.embedding(torch.cat([x0, x1], 1)))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(module._carried["train"], whole))
    # Gradients of chunk 1's loss stop at the boundary: characters seen only in chunk 0 get none.
    module.zero_grad()
    module._carried["train"] = carried
    loss1, _, _ = module.step((x1, y1))
    loss1.backward()
    only_first = sorted(set(x0.flatten().tolist()) - set(x1.flatten().tolist()))
    assert only_first, "the chunks share every character; pick other chunks"
    assert module.embedding.weight.grad[only_first].abs().sum() == 0
    assert module.embedding.weight.grad[x1.flatten()].abs().sum() > 0
    module.on_train_epoch_start()
    assert "train" not in module._carried


def test_eval_epochs_start_from_a_zero_state():
    data = data_for(CharLMTask, max_train_tokens=20_000)
    module = module_for(CharLMTask, data)
    module._carried.update(val=(torch.ones(1),), test=(torch.ones(1),))
    module.on_validation_epoch_start()
    module.on_test_epoch_start()
    assert module._carried == {}


def test_validation_loss_is_one_pass_over_each_stream_weighted_by_token(tmp_path):
    # 3,000 chars -> 300 validation chars in 10 streams of 30: chunks of 20 and 9 steps.
    (tmp_path / "t.txt").write_text("".join(chr(97 + (i * i) % 26) for i in range(3000)))
    data = data_for(CharLMTask, data_dir=tmp_path, file="t.txt", train_fraction=0.8, bptt=20)
    module = module_for(CharLMTask, data)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.validate(module, datamodule=data, verbose=False)
    streams = data.streams("val")
    with torch.no_grad():  # the whole of every stream at once from a zero state
        logits, _ = module(streams[:, :-1])
        expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), streams[:, 1:].flatten())
    assert trainer.callback_metrics["val/loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_manual_optimisation_clips_and_logs_the_unclipped_norm(tmp_path):
    train = TrainConfig(batch_size=8, max_steps=4, grad_clip=1e-3, log_every=1, val_batches=1, test_batches=1)
    data = data_for(CharLMTask, train, max_train_tokens=5_000, bptt=20)
    module = module_for(CharLMTask, data, hidden=8, train=train, bptt=20)
    seen = []
    make_opt = module.configure_optimizers

    def configure_optimizers():
        opt = make_opt()
        opt.register_step_post_hook(lambda o, *_: seen.append(float(torch.nn.utils.get_total_norm(
            [p.grad for p in module.parameters() if p.grad is not None]))))
        return opt

    module.configure_optimizers = configure_optimizers
    trainer = L.Trainer(max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 4 and len(seen) == 4
    assert max(seen) <= 1e-3 * 1.01          # the optimiser saw clipped gradients
    assert module.last_grad_norm > 1e-2      # the logged norm is the one before clipping


def test_weight_tying_shares_the_matrix_and_projects_when_sizes_differ():
    data = data_for(WordLMTask, max_train_tokens=5_000)
    tied = module_for(WordLMTask, data, tie_weights=True)
    assert tied.decoder.weight is tied.embedding.weight
    untied = module_for(WordLMTask, data)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(untied) - count(tied) == 10_000 * 16
    projected = module_for(WordLMTask, data, tie_weights=True, embedding=24)
    logits, _ = projected(data.chunks("train")[0][0])
    assert logits.shape[-1] == 10_000 and isinstance(projected.project, torch.nn.Linear)


def test_unigram_baseline():
    train, test = torch.tensor([0, 0, 1]), torch.tensor([1, 2])
    # add-one counts 3, 2, 1 over 6
    assert unigram_nats(train, test, 3) == pytest.approx(-(math.log(2 / 6) + math.log(1 / 6)) / 2)
    data = data_for(WordLMTask)
    whole = module_for(WordLMTask, data).baselines(data)
    assert 500 < whole["unigram (train counts)"]["ppl"] < 1000
    # Published perplexities are the reports' business now (tests/test_papers.py)
    assert list(whole) == ["unigram (train counts)"]


# --- bad input -------------------------------------------------------------------------
def ptb_like(tmp_path, train="a b\n" * 50, valid="a\n" * 50, test="b\n" * 50):
    folder = tmp_path / "bad"
    folder.mkdir(exist_ok=True)
    for name, text in (("train", train), ("valid", valid), ("test", test)):
        path = folder / f"{name}.txt"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return dict(data_dir=tmp_path, folder="bad", files=("train.txt", "valid.txt", "test.txt"),
                train=TrainConfig(batch_size=4))


def test_empty_split_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"bad/valid\.txt: no tokens"):
        data_for(WordLMTask, **ptb_like(tmp_path, valid="\n\n  \n"))


def test_bad_encoding_names_file_and_line(tmp_path):
    with pytest.raises(DataError, match=r"bad/test\.txt:3: not valid UTF-8"):
        data_for(WordLMTask, **ptb_like(tmp_path, test=b"a\nb\n\xff\xfe b\n"))


def test_empty_text_file_for_chars(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match=r"empty\.txt: empty file"):
        data_for(CharLMTask, data_dir=tmp_path, file="empty.txt")


def test_byte_order_mark_is_not_a_character_or_a_word(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + b"to be or not to be\n" * 60)
    chars = data_for(CharLMTask, data_dir=tmp_path, file="bom.txt", bptt=5, eval_batch_size=2,
                     train=TrainConfig(batch_size=2)).corpus
    assert "\ufeff" not in chars.vocab and chars.vocab[0] == "t"
    words = data_for(WordLMTask, **ptb_like(tmp_path, train=b"\xef\xbb\xbfa b\n" * 50)).corpus
    assert words.vocab[:2] == ["a", "b"]  # not "\ufeffa"


def test_data_files_are_the_files_read():
    assert WordLMTask.data_files(WordLMTask.Settings()) == {
        f"folder/files[{i}]": f"ptb/ptb.{s}.txt" for i, s in enumerate(("train", "valid", "test"))}
    assert WordLMTask.data_files(WordLMTask.Settings(source="hub")) == {}
    assert CharLMTask.data_files(CharLMTask.Settings()) == {"file": "tinyshakespeare/input.txt"}
    assert CharLMTask.data_files(CharLMTask.Settings(files=("a", "b", "c"))) == {
        "files[0]": "a", "files[1]": "b", "files[2]": "c"}  # `file` is not read then


def test_split_too_short_for_the_batch(tmp_path):
    with pytest.raises(DataError, match=r"bad/test\.txt: test split has 2 tokens"):
        data_for(WordLMTask, **ptb_like(tmp_path, test="b\n"))


def test_missing_file_is_unavailable_and_named(tmp_path):
    with pytest.raises(DataUnavailable, match=r"ptb\.valid\.txt not found"):
        (tmp_path / "ptb").mkdir()
        (tmp_path / "ptb" / "ptb.train.txt").write_text("a b\n" * 50)
        data_for(WordLMTask, data_dir=tmp_path)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="word_lm.source"):
        WordLMTask.Settings(source="web")
    with pytest.raises(ConfigError, match="bptt"):
        CharLMTask.Settings(bptt=0)


def test_hub_offline_skips_the_cell_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cells = build_cells(["word_lm"], ["lstm"], ["cudnn"], 1, "smoke", parse_set(["word_lm.source=hub"]))
    start = time.perf_counter()
    run_matrix(cells, tmp_path, data_dir=DATA, stream=io.StringIO())
    assert time.perf_counter() - start < 15
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert record["status"] == "skipped" and "Salesforce/wikitext" in record["reason"]


# --- cache -----------------------------------------------------------------------------
def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path))
    calls = {"words": 0, "chars": 0}
    real_words, real_chars = word_text.load_local_words, char_text.load_chars

    def count(key, real):
        def wrapped(*a, **kw):
            calls[key] += 1
            return real(*a, **kw)
        return wrapped

    monkeypatch.setattr(word_text, "load_local_words", count("words", real_words))
    monkeypatch.setattr(char_text, "load_chars", count("chars", real_chars))
    first = data_for(WordLMTask).corpus
    second = data_for(WordLMTask).corpus
    data_for(CharLMTask), data_for(CharLMTask)
    assert calls == {"words": 1, "chars": 1}
    assert torch.equal(first.test, second.test) and first.vocab == second.vocab
    assert len(list(tmp_path.glob("*.pt"))) == 2
    data_for(CharLMTask, train_fraction=0.8)  # other settings: another entry
    assert calls["chars"] == 2


# --- end to end ------------------------------------------------------------------------
def test_smoke_cells_run_through_the_matrix(tmp_path):
    cells = build_cells(["char_lm", "word_lm"], ["lstm", "bilstm"], ["cudnn"], 1, "smoke",
                        parse_set(["train.max_steps=12", "train.val_batches=2", "train.test_batches=2", "model.hidden=16"]))
    summary = run_matrix(cells, tmp_path, data_dir=DATA, stream=io.StringIO())
    assert summary.failed == []
    records = {(r["task"], r["model"]): r for r in map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())}
    assert records[("char_lm", "bilstm")]["status"] == records[("word_lm", "bilstm")]["status"] == "n/a"
    char, word = records[("char_lm", "lstm")], records[("word_lm", "lstm")]
    assert char["status"] == word["status"] == "ok"
    assert char["train_steps"] == word["train_steps"] == 12
    assert math.isfinite(char["metrics"]["test/bpc"]) and math.isfinite(word["metrics"]["test/ppl"])
    assert char["metrics"]["test/bpc"] == pytest.approx(char["metrics"]["test/loss"] / math.log(2), rel=1e-5)
    assert word["metrics"]["test/ppl"] == pytest.approx(math.exp(word["metrics"]["test/loss"]), rel=1e-5)
    assert "unigram (train counts)" in char["baselines"] and "unigram (train counts)" in word["baselines"]


# --- the hub, offline: a data set in the local `datasets` cache (tests/conftest.py hub_cache) --------
def text_rows(column, lines):
    from datasets import Dataset
    return Dataset.from_dict({column: lines})


def test_word_lm_hub_default_is_still_wikitext_2(hub_cache):
    lines = [" = Title = \n", " the cat sat on the mat \n", "", " the dog sat \n"]
    hub_cache("Salesforce/wikitext", {s: text_rows("text", lines) for s in ("train", "validation", "test")},
              config="wikitext-2-v1")
    corpus = data_for(WordLMTask, train=TrainConfig(batch_size=2), eval_batch_size=2, source="hub").corpus
    assert corpus.origin["val"] == "Salesforce/wikitext/wikitext-2-v1 split validation"
    assert corpus.train.numel() == (3 + 1) + (6 + 1) + 1 + (3 + 1)  # words and an <eos> a row; an empty row: <eos>
    assert corpus.vocab[:3] == ["=", "Title", EOS]


def test_any_text_data_set_by_id_and_column(hub_cache):
    hub_cache("me/stories", {"train": text_rows("story", [f"story number {i} ends" for i in range(40)])})
    corpus = data_for(WordLMTask, train=TrainConfig(batch_size=2), eval_batch_size=1, source="hub",
                      hub_repo="me/stories", hub_config="", text_column="story").corpus
    # Only a train split: cut by lines, the first 90% train and the rest halved.
    assert [corpus.origin[s] for s in ("train", "val", "test")] == [
        "me/stories split train lines [0:36]", "me/stories split train lines [36:38]", "me/stories split train lines [38:40]"]
    assert corpus.test.numel() == 2 * 5
    with pytest.raises(DataError, match=r"me/stories split train: no column 'text' \(columns: story\); "
                                        r"set word_lm.text_column"):
        data_for(WordLMTask, source="hub", hub_repo="me/stories", hub_config="")


def test_char_lm_from_the_hub(hub_cache):
    text = {"train": "First Citizen:\nBefore we proceed", "validation": "All:\nSpeak.", "test": "Second:\nAy."}
    hub_cache("karpathy/tiny_shakespeare", {s: text_rows("text", [t]) for s, t in text.items()})
    corpus = data_for(CharLMTask, train=TrainConfig(batch_size=2), eval_batch_size=2, source="hub").corpus
    assert corpus.train.numel() == len(text["train"]) and corpus.test.numel() == len(text["test"])
    assert corpus.origin["test"] == "karpathy/tiny_shakespeare split test"
    assert corpus.oov["val"] == sum(c not in text["train"] for c in text["validation"])
