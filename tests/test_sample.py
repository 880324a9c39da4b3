"""`train.checkpoint` and `sample`: a char_lm cell keeps its weights (read weights-only), its config
and its vocabulary; `sample` rebuilds it from those alone and prints text from its vocabulary;
bad input is one line naming the fix. One tiny cell, trained once, on the shared real data."""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import torch

from benchmark.cli import main
from benchmark.config import ConfigError, TrainConfig
from benchmark.engine import sample
from benchmark.engine.cells import build_cells, current_group
from benchmark.engine.records import upgrade
from benchmark.engine.runner import fit_cell
from benchmark.engine.store import ResultsStore

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "tinyshakespeare").exists(), reason=f"shared data not at {DATA}")
CELL = "char_lm/lstm/cudnn/seed0"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 20-step char_lm LSTM with train.checkpoint=both, its record stored: (folder, record, module)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNBENCH_CACHE", str(tmp_path_factory.mktemp("rnnbench-cache")))
        folder = tmp_path_factory.mktemp("lm")
        (cell,) = build_cells(["char_lm"], ["lstm"], ["cudnn"], 1, "smoke", {
            "train": {"max_steps": 20, "checkpoint": "both", "val_batches": 2, "test_batches": 2},
            "model": {"hidden": 16}, "char_lm": {"max_train_tokens": 20_000}})
        run = fit_cell(cell, folder, DATA)
        assert run.record["status"] == "ok", run.record.get("error")
        ResultsStore(folder).append(run.record)
        yield folder, run.record, run.module


def test_checkpoints_are_weights_only_with_config_and_vocab_beside(trained):
    folder, record, module = trained
    assert set(record["checkpoint"]) == {"best", "last"}
    best = folder / record["checkpoint"]["best"]
    assert best.name == "best.ckpt" and best.parent.name == "checkpoints"
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    about = json.loads((best.parent / "cell.json").read_text())
    assert about["cell"] == CELL and about["config"] == json.loads(json.dumps(record["config"]))
    vocab = json.loads((best.parent / "vocab.json").read_text())
    assert state["decoder.weight"].shape[0] == len(vocab) and "e" in vocab
    loaded = sample.load_cell(folder, CELL, "last")  # validated once, at the end: last = the fitted weights
    for name, value in module.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[name], value.cpu()), name


def test_sample_prints_the_chars_asked_for_from_the_vocabulary_and_a_seed_repeats_them(trained, capsys):
    folder, record, _ = trained
    vocab = set(json.loads((folder / record["checkpoint"]["best"]).parent.joinpath("vocab.json").read_text()))
    args = ["sample", str(folder), "--cell", CELL, "--chars", "300", "--temperature", "0.8", "--seed", "3"]
    assert main(args) == 0
    first = capsys.readouterr().out[:-1]  # print's own newline
    assert len(first) == 300 and set(first) <= vocab
    assert main(args) == 0
    assert capsys.readouterr().out[:-1] == first
    assert main([*args[:-1], "4"]) == 0
    assert capsys.readouterr().out[:-1] != first
    assert main([*args, "--prime", "ROMEO:", "--which", "last"]) == 0
    primed = capsys.readouterr().out[:-1]
    assert primed.startswith("ROMEO:") and len(primed) == 306


def _fake(folder, record, **changes):
    """A copy of the record under another cell name (and task), stored in folder."""
    fake = {**copy.deepcopy(record), **changes}
    fake["key"] = f"{fake['cell']}/{fake['group']}"
    ResultsStore(folder).append(fake)


def test_bad_input_names_the_thing_and_the_fix(trained, tmp_path, capsys):
    folder, record, _ = trained
    mine = tmp_path / "run"
    mine.mkdir()
    (mine / "results.jsonl").write_text((folder / "results.jsonl").read_text())
    record = {**record, "checkpoint": {k: str(folder / v) for k, v in record["checkpoint"].items()}}  # absolute
    _fake(mine, record, cell="char_lm/gru/cudnn/seed0", checkpoint=None)
    _fake(mine, record, cell="char_lm/rnn/cudnn/seed0", checkpoint={"best": record["checkpoint"]["best"]})
    _fake(mine, record, cell="copy/lstm/cudnn/seed0", task="copy")

    def error(*args):
        assert main(["sample", str(mine), *args]) == 2
        return capsys.readouterr().err

    text = error("--cell", "char_lm/lstm/cudnn/seed1")
    assert "unknown cell 'char_lm/lstm/cudnn/seed1'" in text and CELL in text and f"did you mean '{CELL}'" in text
    assert "rerun with --set train.checkpoint=best" in error("--cell", "char_lm/gru/cudnn/seed0")
    assert "not a language model" in error("--cell", "copy/lstm/cudnn/seed0")
    assert "--which best" in error("--cell", "char_lm/rnn/cudnn/seed0", "--which", "last")
    for bad in ("0", "-1", "nan"):
        assert "bad --temperature" in error("--cell", CELL, "--temperature", bad)
    assert main(["sample", str(tmp_path / "nowhere"), "--cell", CELL]) == 2
    assert "holds no results.jsonl" in capsys.readouterr().err


def test_bad_checkpoint_setting_names_the_key_and_the_values():
    with pytest.raises(ConfigError, match=r"bad train.checkpoint 'bset': expected one of none, best, last, both; "
                                          r"did you mean 'best'\?"):
        build_cells(["copy"], ["lstm"], overrides={"train": {"checkpoint": "bset"}})
    assert TrainConfig().checkpoint == "none"


def test_checkpoint_at_its_default_keeps_the_group_hash():
    (cell,) = build_cells(["copy"], ["lstm"])
    cfg = cell.config()
    before = {k: v for k, v in cfg.items() if k != "seed"}  # the config as written before the setting existed
    before["train"] = {k: v for k, v in before["train"].items() if k != "checkpoint"}
    assert cell.group == hashlib.sha1(json.dumps(before, sort_keys=True).encode()).hexdigest()[:10]
    old = {"key": f"{cell.name}/{cell.group}", "cell": cell.name, "group": cell.group, "task": "copy",
           "model": "lstm", "backend": "cudnn", "seed": 0, "profile": "smoke", "status": "ok", "record_version": 2,
           "config": {**cfg, "train": before["train"]}}
    assert upgrade(old)["group"] == cell.group and current_group(old["config"]) == cell.group
    (kept,) = build_cells(["copy"], ["lstm"], overrides={"train": {"checkpoint": "best"}})
    assert kept.group != cell.group  # a rerun with checkpoints trains the cell again
