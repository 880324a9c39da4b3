"""The Python API (benchmark.api, README 'Python API'): records as a DataFrame, resume, bad input."""
import io

import pytest

from benchmark import api
from benchmark.errors import ConfigError

FAST = {"train.max_steps": 8, "copy": {"delay": 5}}


def test_run_returns_one_row_per_cell_with_metrics_and_resumes(tmp_path):
    log = io.StringIO()
    df = api.run(["copy"], ["rnn", "lstm"], settings=FAST, seeds=2, out=tmp_path, stream=log)
    assert sorted(df["cell"]) == ["copy/lstm/cudnn/seed0", "copy/lstm/cudnn/seed1",
                                  "copy/rnn/cudnn/seed0", "copy/rnn/cudnn/seed1"]
    assert set(df["status"]) == {"ok"}
    assert list(df.columns[:6]) == ["cell", "task", "model", "backend", "seed", "status"]
    assert (df["test/loss"] > 0).all() and (df["train_tokens_per_s"] > 0).all()
    assert (df["config"].map(lambda c: c["settings"]["delay"]) == 5).all()
    # the same call again trains nothing: the folder's cells are kept, and returned
    again = api.run(["copy"], ["rnn", "lstm"], settings={"copy.delay": 5, "train": {"max_steps": 8}}, seeds=2,
                    out=tmp_path, stream=io.StringIO())
    assert sorted(again["key"]) == sorted(df["key"])
    assert list(again["wall_s"].sort_index()) == list(df["wall_s"].sort_index())
    assert sorted(api.load(tmp_path)["key"]) == sorted(df["key"])


def test_other_settings_are_other_cells_and_only_the_selection_returns(tmp_path):
    api.run("copy", "rnn", settings=FAST, out=tmp_path, stream=io.StringIO())
    df = api.run("copy", "rnn", settings={**FAST, "copy": {"delay": 6}}, out=tmp_path, stream=io.StringIO())
    assert len(df) == 1 and df["config"][0]["settings"]["delay"] == 6
    assert len(api.load(tmp_path)) == 2


@pytest.mark.parametrize("kwargs, says", [
    ({"tasks": ["cpoy"]}, "unknown task"),
    ({"tasks": ["copy"], "settings": {"train.lr": -1}}, "train.lr"),
    ({"tasks": ["copy"], "settings": {"lr": 1e-3}}, "SECTION.KEY"),
])
def test_bad_input_is_a_config_error_before_training(tmp_path, kwargs, says):
    with pytest.raises(ConfigError, match=says):
        api.run(out=tmp_path, **kwargs)
    assert not (tmp_path / "results.jsonl").exists()


def test_load_names_a_folder_without_results(tmp_path):
    with pytest.raises(ConfigError, match="no results.jsonl"):
        api.load(tmp_path)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("\n```", section.index("```python"))]
    assert len(code.splitlines()) <= 5
    monkeypatch.chdir(tmp_path)  # its out="results/mine" lands here
    exec(compile(code, "README.md (Python API)", "exec"), {})
    printed = capsys.readouterr().out
    assert "lstm" in printed and "rnn" in printed and "test/recall_acc" in printed
    assert len(api.load(tmp_path / "results" / "mine")) == 6
