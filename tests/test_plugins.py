"""Plug-ins from outside the repository: examples/plugin's family (indrnn) and task (majority),
found through entry points on a temporary path laid out as `pip install --target` leaves it
(the package beside its dist-info), without pip and offline."""
import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest
import torch
from torch import nn

from benchmark import families
from benchmark.config import ModelConfig
from benchmark.models import Encoder, encoder_param_count
from benchmark.models.init import initialise
from benchmark.models.scratch import ScratchRNN
from conftest import ROOT, cli

PLUGIN = ROOT / "examples" / "plugin"
PACKAGE = "rnnbench_plugin_example"


def plugin_site(tmp_path, entry_points: dict | None = None, extra: dict | None = None):
    """A folder holding the example package and a dist-info with its pyproject's entry points (or
    `entry_points`), plus `extra` {file name: source} modules in the package."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    info = site / f"{PACKAGE}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project["entry-points"] if entry_points is None else entry_points
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()) + "\n"
        for group, entries in groups.items()))
    shutil.copytree(PLUGIN / "src" / PACKAGE, site / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in (extra or {}).items():
        (site / PACKAGE / name).write_text(source)
    return site


def on_path(site) -> dict:
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)}


def test_pyproject_registers_the_family_and_the_task():
    groups = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["entry-points"]
    assert groups == {"rnnbench.families": {"indrnn": f"{PACKAGE}.indrnn:FAMILY"},
                      "rnnbench.tasks": {"majority": f"{PACKAGE}.majority"}}


def test_list_shows_the_plugins_family_and_task_only_when_installed(tmp_path):
    listed = cli("list", env=on_path(plugin_site(tmp_path)))
    assert listed.returncode == 0, listed.stderr
    words = listed.stdout.split()
    assert {"indrnn", "biindrnn", "majority"} <= set(words)
    assert "from entry point majority = rnnbench_plugin_example.majority" in listed.stdout
    assert "params hx+2h/layer" in listed.stdout and "warning" not in listed.stderr
    plain = cli("list").stdout.split()
    assert "indrnn" not in plain and "majority" not in plain


def test_a_plugin_cell_trains_and_records_ok(tmp_path):
    out = tmp_path / "run"
    run = cli("run", "--tasks", "majority", "--models", "indrnn", "--profile", "smoke", "--set", "train.max_steps=3",
              "--set", "majority.length=5", "--out", out, env={**on_path(plugin_site(tmp_path)), "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert (record["task"], record["model"], record["status"]) == ("majority", "indrnn", "ok")
    assert record["implementation"] == "step" and record["config"]["settings"] == {"length": 5, "train_size": 0}
    hidden = record["config"]["model"]["hidden"]
    assert record["encoder_params"] == hidden * 1 + 2 * hidden  # hx + 2h, x = 1
    assert 0 <= record["metrics"]["test/acc"] <= 1


def test_the_registries_read_the_plugin_without_importing_torch(tmp_path):
    code = ("import sys, benchmark.config as c, tasks; "
            "print(list(c.VARIANTS)); print(tasks.catalog()['majority']); print(tasks.task_names()); "
            "print([m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning') "
            "or m == 'rnnbench_plugin_example.majority'])")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, **on_path(plugin_site(tmp_path))})
    assert run.returncode == 0, run.stderr
    variants, majority, names, loaded = run.stdout.splitlines()
    assert "'indrnn'" in variants and "'biindrnn'" in variants and "'majority'" in names
    assert majority == "{'kind': 'many-to-one', 'description': 'majority bit of L random bits (plug-in example)'}"
    assert loaded == "[]"


BOOM = '''from tasks.base import TaskModule
raise ImportError("boom needs the package frobnicate")


class BoomTask(TaskModule):
    name = "boom"
    kind = "many-to-one"
'''


def test_a_broken_plugin_is_left_out_with_a_one_line_warning(tmp_path):
    site = plugin_site(tmp_path, {"rnnbench.tasks": {"boom": f"{PACKAGE}.boom", "gone": "no_such_module"},
                                  "rnnbench.families": {"bad": "no_such_module:FAMILY"}}, {"boom.py": BOOM})
    listed = cli("list", env=on_path(site))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    warnings = listed.stderr.splitlines()
    assert any("'gone'" in w and "not on the path" in w and "fix or uninstall" in w for w in warnings)
    assert any("'bad'" in w and "ModuleNotFoundError" in w and "fix or uninstall" in w for w in warnings)
    assert "boom" in listed.stdout.split() and "gone" not in listed.stdout.split()
    run = cli("run", "--tasks", "boom", "--models", "rnn", "--out", tmp_path / "run", env=on_path(site))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "task 'boom' comes from a plug-in that did not load (ImportError: boom needs the package frobnicate)" \
        in run.stderr


@pytest.fixture
def indrnn(monkeypatch):
    """The example's family, registered in this process for one test."""
    monkeypatch.syspath_prepend(str(PLUGIN / "src"))
    from rnnbench_plugin_example.indrnn import FAMILY
    monkeypatch.setitem(families.families(), "indrnn", FAMILY)
    return FAMILY


@pytest.mark.parametrize("variant", ["indrnn", "biindrnn"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("backend", ["cudnn", "scratch"])
def test_indrnn_counts_its_closed_form(indrnn, variant, layers, backend):
    cfg = ModelConfig(variant, backend, hidden=16, num_layers=layers)
    enc = Encoder(11, cfg)
    assert cfg.implementation == "step" and isinstance(enc.rnn, ScratchRNN)
    count = sum(p.numel() for p in enc.parameters())
    assert count == encoder_param_count("indrnn", 11, 16, layers, cfg.bidirectional)
    directions = 2 if cfg.bidirectional else 1
    by_hand = directions * (16 * 11 + 2 * 16) + (layers - 1) * directions * (16 * 16 * directions + 2 * 16)
    assert count == by_hand and indrnn.closed_form() == "hx+2h"


def test_indrnn_is_relu_of_input_plus_u_times_h_with_u_a_vector(indrnn):
    rnn = ScratchRNN("indrnn", 3, 5)
    assert [(n, tuple(p.shape)) for n, p in rnn.named_parameters()] == [
        ("weight_ih_l0", (5, 3)), ("weight_hh_l0", (5,)), ("bias_ih_l0", (5,))]
    initialise(rnn, "indrnn")  # orthogonal: W Xavier, b zero, u uniform in [0, 1)
    assert torch.all((rnn.weight_hh_l0 >= 0) & (rnn.weight_hh_l0 < 1)) and torch.all(rnn.bias_ih_l0 == 0)
    with torch.no_grad():
        rnn.bias_ih_l0.uniform_(-1, 1)
    x = torch.randn(2, 4, 3)
    out, last = rnn(x)
    h = torch.zeros(2, 5)
    for t in range(4):
        h = torch.relu(x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + rnn.weight_hh_l0 * h)
        torch.testing.assert_close(out[:, t], h)
    torch.testing.assert_close(last[0], h)
    initialise(rnn, "indrnn", "pytorch")
    assert rnn.weight_hh_l0.abs().max() <= 1 / 5 ** 0.5


@pytest.mark.parametrize("family, fused", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_the_stack_keeps_torchs_parameter_names_shapes_and_order(family, fused):
    ours = ScratchRNN(family, 3, 4, num_layers=2, bidirectional=True)
    theirs = fused(3, 4, num_layers=2, bidirectional=True)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in theirs.named_parameters()]
