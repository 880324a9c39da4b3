"""Bad input from the user, in values and in the YAML files: each is one line naming the setting
(or the file and key) and the fix, exit 2, never a traceback; and it is caught before training."""
import shutil

import pytest
import yaml

from benchmark import cli, config
from benchmark.config import ConfigError
from benchmark.measurements import settings as measurement_settings
from benchmark.reports import references
from conftest import cli as run_cli

pytestmark = pytest.mark.faults


def one_error_line(capsys, args, tmp_path) -> str:
    """`run ARGS` in this process: exit 2, one line on stderr (returned), nothing trained."""
    out = tmp_path / "never"
    assert cli.main(["run", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert not out.exists()
    return lines[0]


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """A copy of configs/ read in place of the shipped one (as RNNBENCH_CONFIG_DIR would)."""
    root = tmp_path / "configs"
    shutil.copytree(config.CONFIG_DIR, root)
    monkeypatch.setattr(config, "CONFIG_DIR", root)
    monkeypatch.setattr(measurement_settings, "FILE", root / "measurements.yaml")
    references.load.cache_clear()
    yield root
    references.load.cache_clear()


# --- --set values -------------------------------------------------------------------------------------
@pytest.mark.parametrize("pair", ["train.lr=[1", "copy.delay={"])
def test_malformed_yaml_in_set_is_one_line_naming_it(capsys, tmp_path, pair):
    line = one_error_line(capsys, ["--tasks", "copy", "--models", "lstm", "--set", pair], tmp_path)
    assert line.startswith(f"error: bad --set {pair!r}: the value is not valid YAML (") and "quote strings" in line


def test_malformed_yaml_in_set_exits_2_from_the_command_line(tmp_path):
    run = run_cli("run", "--tasks", "copy", "--set", "train.lr=[1", "--out", tmp_path / "x")
    assert run.returncode == 2 and "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.stderr.startswith("error: bad --set 'train.lr=[1'")


@pytest.mark.parametrize("task, pair, setting", [
    ("copy", "train.lr=", "train.lr"),                      # no value: None
    ("copy", "train.max_steps=", "train.max_steps"),
    ("copy", "train.lr=.inf", "train.lr"),
    ("copy", "train.lr=1e400", "train.lr"),                 # YAML 1.1 reads it as text; float() gives inf
    ("copy", "train.grad_clip=.inf", "train.grad_clip"),
    ("copy", "train.weight_decay=.nan", "train.weight_decay"),
    ("copy", "train.lr_decay_every=", "train.lr_decay_every"),
    ("copy", "copy.delay=", "copy.delay"),
    ("ner", "ner.dropout=", "ner.dropout"),
    ("forecast", "forecast.feature_columns=[[1]]", "forecast.feature_columns"),
    ("ner", "ner.tag_names=[1, 2]", "ner.tag_names"),
    ("sentiment", "sentiment.classes=[1, 2]", "sentiment.classes"),
    ("sentiment", "sentiment.class_files=5", "sentiment.class_files"),
])
def test_a_bad_value_is_refused_naming_its_setting(capsys, tmp_path, task, pair, setting):
    line = one_error_line(capsys, ["--tasks", task, "--models", "lstm", "--set", pair], tmp_path)
    assert line.startswith(f"error: bad {setting}"), line


def test_a_key_set_as_a_value_and_as_a_section_is_refused():
    with pytest.raises(ConfigError, match="train.lr is set to a value too"):
        config.parse_set(["train.lr=1", "train.lr.x=2"])


@pytest.mark.parametrize("pair, name, near", [
    ("trian.lr=1", "'trian'", "'train'"),
    ("train.lrr=1", "'lrr'", "'lr'"),
    ("copy.model.hiden=8", "'hiden'", "'hidden'"),
    ("copy.dealy=8", "'dealy'", "'delay'"),
])
def test_an_unknown_set_key_names_the_nearest(capsys, tmp_path, pair, name, near):
    line = one_error_line(capsys, ["--tasks", "copy", "--models", "lstm", "--set", pair], tmp_path)
    assert name in line and line.endswith(f"did you mean {near}?"), line


# --- the YAML files -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, words", [
    ("modle:\n  hidden: 8\n", ["unknown key 'modle'", "did you mean 'model'?"]),
    ("trian: {lr: 0.1}\n", ["unknown key 'trian'", "did you mean 'train'?"]),
    ("tasks: {cpoy: {delay: 3}}\n", ["unknown task 'cpoy'", "did you mean 'copy'?"]),
    ("model: {hiden: 8}\n", ["unknown model setting 'hiden'", "did you mean 'hidden'?"]),
    ("copy: {train: {lrr: 1}}\n", ["unknown copy.train setting 'lrr'", "did you mean 'lr'?"]),
    ("train: 5\n", ["`train` must hold settings as KEY: VALUE", "not 5"]),
    ("model: [1]\n", ["`model` must hold settings as KEY: VALUE", "not [1]"]),
    ("copy: {model: 5}\n", ["`copy.model` must hold settings as KEY: VALUE"]),
    ("tasks: [1, 2]\n", ["`tasks` (the old spelling) holds [1, 2]"]),
    ("train: {lr: }\n", ["bad train.lr: no value given"]),
    ("", ["is empty"]),
    (b"\xff\xfemodel: {}\n", ["is not UTF-8 text"]),
])
def test_a_bad_profile_is_one_line_naming_the_file_and_the_key(capsys, tmp_path, config_dir, text, words):
    path = config_dir / "profiles" / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    line = one_error_line(capsys, ["--tasks", "copy", "--models", "lstm", "--profile", "bad"], tmp_path)
    assert all(w in line for w in words), line
    if "no value" not in words[0]:  # a value's error names the setting; a file's, the file
        assert str(path) in line


def test_a_profile_that_cannot_be_read_names_it(capsys, tmp_path, config_dir):
    (config_dir / "profiles" / "folder.yaml").mkdir()
    line = one_error_line(capsys, ["--tasks", "copy", "--models", "lstm", "--profile", "folder"], tmp_path)
    assert "folder.yaml cannot be read" in line


def test_a_misspelled_profile_key_exits_2_from_the_command_line(tmp_path):
    root = tmp_path / "cfg"
    shutil.copytree(config.CONFIG_DIR, root)
    (root / "profiles" / "typo.yaml").write_text("modle:\n  hidden: 8\n")
    run = run_cli("run", "--tasks", "copy", "--models", "lstm", "--profile", "typo", "--out", tmp_path / "ty",
                  env={"RNNBENCH_CONFIG_DIR": str(root)})
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "'modle'" in run.stderr and "did you mean 'model'?" in run.stderr


@pytest.mark.parametrize("file, text, words", [
    ("tasks/copy.yaml", "cpy: {delay: 5}\n", ["tasks/copy.yaml", "unknown key 'cpy'", "did you mean 'copy'?"]),
    ("tasks/copy.yaml", "train: {lrr: 1}\n", ["tasks/copy.yaml", "unknown train setting 'lrr'", "'lr'?"]),
    ("defaults.yaml", "trian: {lr: 1}\n", ["defaults.yaml", "unknown key 'trian'", "did you mean 'train'?"]),
])
def test_an_unknown_key_in_a_task_file_or_the_defaults_names_the_nearest(capsys, tmp_path, config_dir, file, text,
                                                                         words):
    (config_dir / file).write_text(text)
    line = one_error_line(capsys, ["--tasks", "copy", "--models", "lstm"], tmp_path)
    assert all(w in line for w in words), line


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["smoke"].update(memory_spn={}), ["unknown key 'memory_spn'", "did you mean 'memory_span'?"]),
    (lambda d: d["smoke"]["memory_span"].update(hiden=16), ["unknown setting memory_span.hiden", "'hidden'?"]),
    (lambda d: d["smoke"]["memory_span"]["tuning"].update(lr=[1]), ["tuning: unknown key 'lr'", "'lrs'?"]),
])
def test_an_unknown_key_in_the_measurement_sizes_names_the_nearest(config_dir, edit, words):
    path = config_dir / "measurements.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as e:
        measurement_settings.load("smoke", "memory_span")
    assert all(w in str(e.value) for w in words), e.value


@pytest.mark.parametrize("pair, words", [
    ("memory_span.hidden=.nan", ["memory_span.hidden nan", "an integer >= 1"]),
    ("memory_span.train.max_steps=1.5", ["memory_span.train.max_steps 1.5"]),
    ("memory_span.train.lr=.inf", ["memory_span.train.lr inf", "finite"]),
    ("memory_span.tuning.seeds=[[1]]", ["memory_span.tuning.seeds [[1]]"]),
    ("memory_span.tasks.recall=[5, 1.5]", ["memory_span.tasks.recall"]),
    ("memory_span.solved.recall=oops", ["memory_span.solved.recall 'oops'"]),
])
def test_a_bad_measurement_value_is_refused_naming_it(pair, words):
    with pytest.raises(ConfigError) as e:
        measurement_settings.load("smoke", "memory_span", overrides=config.parse_set([pair]))
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value), e.value


@pytest.mark.parametrize("name, pair, words", [
    ("gradient_flow", "gradient_flow.radii=[.nan]", ["gradient_flow.radii [nan]"]),
    ("gradient_flow", "gradient_flow.inits.pytorch.init=bogus", ["gradient_flow.inits.pytorch", "model.init 'bogus'"]),
    ("speed", "speed.warmup=-1", ["speed.warmup -1"]),
    ("speed", "speed.batch=", ["speed.batch None"]),
])
def test_a_bad_value_in_other_measurements_is_refused_naming_it(name, pair, words):
    with pytest.raises(ConfigError) as e:
        measurement_settings.load("smoke", name, overrides=config.parse_set([pair]))
    assert all(w in str(e.value) for w in words), e.value


@pytest.mark.parametrize("edit, words", [
    (lambda r: r.update(valu=r.pop("value")), ["unknown key 'valu'", "did you mean 'value'?"]),
    (lambda r: r.update(value=float("nan")), ["bad value nan", "finite"]),
    (lambda r: r.update(preset="bai2019"), ["unknown preset 'bai2019'", "did you mean 'bai2018'?"]),
    (lambda r: r.update(settings={"model.hiden": 3}), ["unknown model setting 'hiden'", "'hidden'?"]),
])
def test_a_bad_reference_names_its_key(config_dir, edit, words):
    path = config_dir / "references.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data["references"][0])
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as e:
        references.load()
    assert str(e.value).startswith(f"{path}: reference 1") and all(w in str(e.value) for w in words), e.value


# --- huge values: every value a message shows is cut short -----------------------------------------------
def laughs(levels: int) -> str:
    """A YAML flow list of `levels` aliased lists, 10**levels leaves: cheap to load, huge to print."""
    items = ["&l0 [x, x, x, x, x, x, x, x, x, x]"]
    items += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return f"[{', '.join(items)}]"


@pytest.mark.parametrize("pair", [f"train.lr={laughs(6)}", f"copy.encoding={laughs(6)}",
                                  "train.lr=[" + ", ".join(["1"] * 20000) + "]"])
def test_a_huge_value_is_shown_short(capsys, tmp_path, pair):
    line = one_error_line(capsys, ["--tasks", "copy", "--models", "lstm", "--set", pair], tmp_path)
    assert len(line) < 300, line[:300]


def test_a_huge_value_in_a_profile_is_shown_short(capsys, tmp_path, config_dir):
    (config_dir / "profiles" / "laughs.yaml").write_text(f"copy:\n  encoding: {laughs(6)}\n")
    line = one_error_line(capsys, ["--tasks", "copy", "--models", "lstm", "--profile", "laughs"], tmp_path)
    assert line.startswith("error: bad copy.encoding [[") and len(line) < 300, line[:300]
