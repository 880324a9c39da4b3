"""Configs in and out (README, 'Config files in and out'): `run --print-config` prints the
selection and every resolved setting, `run --config FILE` takes it (or any profile file) back
and rebuilds the very same cells, and every results folder keeps the config it ran."""
import pytest
import yaml

from benchmark import config
from benchmark.cli import main
from benchmark.engine.cells import build_cells
from tasks import task_names


def printed(capsys, *argv) -> str:
    capsys.readouterr()
    assert main(["run", *map(str, argv), "--print-config"]) == 0
    return capsys.readouterr().out


def cells_of(path):
    """The cells `run --config PATH` trains, as the CLI builds them."""
    selection, profile = config.read_config_file(path, task_names())
    return build_cells(selection["tasks"], selection["models"], selection["backends"], selection["seeds"], profile)


@pytest.mark.parametrize("profile", config.profiles())
def test_print_config_round_trips_every_task_of_every_profile(profile, capsys, tmp_path):
    """Every task's settings (tuples, strings, per-task model/train blocks of the profile) go out
    and come back: the same cell keys (so group hashes), and the same text printed again."""
    first = printed(capsys, "--all", "--profile", profile, "--seeds", 2, "--backend", "cudnn,scratch")
    path = tmp_path / "c1.yaml"
    path.write_text(first)
    original = build_cells(None, None, ["cudnn", "scratch"], 2, profile)
    assert [c.key for c in cells_of(path)] == [c.key for c in original]
    assert printed(capsys, "--config", path) == first


def test_per_task_overrides_survive_and_flags_replace_the_file_selection(capsys, tmp_path):
    first = printed(capsys, "--tasks", "copy,adding", "--models", "lstm,gru", "--set", "copy.model.hidden=16",
                    "--set", "adding.train.lr=0.02", "--set", "copy.delay=7", "--out", tmp_path / "never")
    assert not (tmp_path / "never").exists()  # printing trains and writes nothing
    tree = yaml.safe_load(first)
    assert tree["run"] == {"tasks": ["copy", "adding"], "models": ["lstm", "gru"], "backends": ["cudnn"],
                           "seeds": 1, "profile": "smoke"}
    assert (tree["copy"]["delay"], tree["copy"]["model"]["hidden"], tree["copy"]["train"]["lr"]) == (7, 16, 0.01)
    assert (tree["adding"]["model"]["hidden"], tree["adding"]["train"]["lr"]) != (16, 0.01)
    assert tree["adding"]["train"]["lr"] == 0.02
    path = tmp_path / "c1.yaml"
    path.write_text(first)
    again = yaml.safe_load(printed(capsys, "--config", path, "--models", "gru", "--seeds", 3,
                                   "--set", "copy.delay=9"))
    assert again["run"]["models"] == ["gru"] and again["run"]["seeds"] == 3 and again["copy"]["delay"] == 9
    assert again["copy"]["model"]["hidden"] == 16


def test_a_profile_file_from_anywhere(capsys, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("train: {max_steps: 7}\ncopy: {delay: 3, model: {hidden: 8}}\n")
    tree = yaml.safe_load(printed(capsys, "--config", path, "--tasks", "copy,adding", "--models", "rnn"))
    assert tree["run"]["profile"] == "mine"  # the name its cells record: the file's stem
    assert (tree["copy"]["delay"], tree["copy"]["model"]["hidden"], tree["adding"]["train"]["max_steps"]) == (3, 8, 7)


@pytest.mark.parametrize("text, argv, message", [
    ("run: {taks: [copy]}\n", [], "unknown key 'taks' under `run`; allowed: tasks, models, backends, seeds, profile; "
                                  "did you mean 'tasks'?"),
    ("run: {tasks: copy}\n", [], "bad run.tasks"),
    ("run: {tasks: [copy], seeds: 0}\n", [], "bad run.seeds"),
    ("coppy: {delay: 3}\n", ["--tasks", "copy"], "unknown key 'coppy'"),
    ("train: {lrr: 0.1}\n", ["--tasks", "copy"], "unknown train setting 'lrr'"),
    ("copy: {delay: 3}\n", [], "names no tasks"),
    ("copy: {delay: 3}\n", ["--tasks", "copy", "--profile", "full"], "drop --profile full"),
])
def test_a_bad_config_file_is_one_line_naming_it(text, argv, message, capsys, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["run", "--config", str(path), *argv, "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_profile_given_a_file_points_at_config(capsys, tmp_path):
    assert main(["run", "--tasks", "copy", "--profile", str(tmp_path / "mine.yaml")]) == 2
    assert f"pass a file to `run --config {tmp_path / 'mine.yaml'}`" in capsys.readouterr().err


def test_results_folder_keeps_the_config_it_ran_and_reruns_it(capsys, tmp_path):
    out = tmp_path / "out"
    argv = ["run", "--tasks", "copy", "--models", "lstm", "--set", "train.max_steps=3", "--set",
            "copy.model.hidden=8", "--parallel", "1", "--out", str(out)]
    assert main(argv) == 0
    kept = (out / "config.yaml").read_text()
    assert kept == printed(capsys, *argv[1:])
    # The kept file alone re-runs exactly that: the same cell, so already done.
    capsys.readouterr()
    assert main(["run", "--config", str(out / "config.yaml"), "--parallel", "1", "--out", str(out)]) == 0
    assert "(0 cells run, 1 already done" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("config*")) == ["config.yaml"]
    # Another config in the same folder: the earlier one is kept aside.
    assert main([*argv, "--set", "copy.delay=4"]) == 0
    assert (out / "config.prev1.yaml").read_text() == kept
    assert "delay: 4" in (out / "config.yaml").read_text()


def test_list_shows_each_profile_set_with_its_commands(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()

    def names_after(prefix):
        start = next(i for i, line in enumerate(lines) if line.startswith(prefix)) + 1
        end = next((i for i in range(start, len(lines)) if not lines[i].startswith("  ")), len(lines))
        return [line.strip() for line in lines[start:end]]

    assert names_after("profiles (run") == config.profiles()
    measurement = names_after("measurement profiles (measure, reproduce rnn-vs-lstm")
    assert "reference-cpu" in measurement and "smoke" in measurement
    assert "bai2018" in names_after("paper presets (reproduce papers")
