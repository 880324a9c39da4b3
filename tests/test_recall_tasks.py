"""The recall and Chomsky-hierarchy tasks: their data is what the papers describe, bad settings
are named, and a gated model learns each beyond chance on the smoke profile where a memoryless
one cannot."""
from __future__ import annotations

import json

import pytest
import torch

from benchmark.engine.cells import build_cells, unseen_lengths
from benchmark.errors import ConfigError
from benchmark.launchers import run_matrix
from tasks.data.formal import parity_check, reverse_string, up_to
from tasks.data.recall import IGNORE, NOISE, make_mqar_batch, make_selective_copy_batch
from tasks.mqar import MqarSettings
from tasks.selective_copy import SelectiveCopySettings


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mqar_asks_for_context_keys_and_labels_them_with_their_values():
    vocab, pairs, length, queries = 64, 6, 48, 4
    x, y = make_mqar_batch(200, gen(), "cpu", vocab=vocab, pairs=pairs, length=length, queries=queries, power_a=0.01)
    assert x.shape == y.shape == (200, length)
    for row_x, row_y in zip(x, y):
        keys, values = row_x[0:2 * pairs:2], row_x[1:2 * pairs:2]
        assert len(set(keys.tolist())) == pairs and len(set(values.tolist())) == pairs
        assert (keys >= 1).all() and (keys < vocab // 2).all() and (values >= vocab // 2).all()
        asked = (row_y != IGNORE).nonzero().flatten()
        assert len(asked) == queries and (asked >= 2 * pairs).all() and ((asked - 2 * pairs) % 2 == 0).all()
        binding = dict(zip(keys.tolist(), values.tolist()))
        assert len({row_x[i].item() for i in asked}) == queries  # distinct keys asked for
        for i in asked:
            assert row_y[i].item() == binding[row_x[i].item()]


def test_mqar_queries_come_mostly_soon_after_the_context():
    # zoology's power law: P(gap g) ~ g^(a-1), a = 0.01, so short gaps outnumber long ones
    x, y = make_mqar_batch(2000, gen(1), "cpu", vocab=256, pairs=4, length=128, queries=1, power_a=0.01)
    steps = (y != IGNORE).nonzero()[:, 1]
    early = (steps < 8 + 2 * 15).float().mean()  # the first quarter of the 60 query slots
    assert early > 0.5


def test_mqar_is_seeded():
    a = make_mqar_batch(4, gen(3), "cpu", vocab=64, pairs=4, length=32, queries=4, power_a=0.01)
    b = make_mqar_batch(4, gen(3), "cpu", vocab=64, pairs=4, length=32, queries=4, power_a=0.01)
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_selective_copy_targets_are_the_scattered_data_tokens_in_order():
    vocab, tokens, length = 8, 5, 30
    x, y = make_selective_copy_batch(100, gen(), "cpu", vocab=vocab, tokens=tokens, length=length)
    assert x.shape == y.shape == (100, length + 1 + tokens)
    assert (x[:, length] == vocab + 1).all() and (x[:, length + 1:] == NOISE).all()
    for row_x, row_y in zip(x, y):
        data = row_x[:length][row_x[:length] != NOISE]
        assert row_y[-tokens:].tolist() == data.tolist()
        assert (row_y[:-tokens] == IGNORE).all()
    # the data tokens sit at different steps from one sequence to the next
    assert len({tuple((row[:length] != NOISE).nonzero().flatten().tolist()) for row in x}) > 90


def test_chomsky_strings_have_one_length_a_batch_within_the_training_range():
    g = gen()
    lengths = set()
    for _ in range(200):
        x, y = up_to(16, g, "cpu", make=parity_check, max_length=7)
        lengths.add(x.shape[1])
        assert y.tolist() == [int(s % 2 == 0) for s in x.sum(1).tolist()]
        x, y = up_to(16, g, "cpu", make=reverse_string, max_length=7)
        assert torch.equal(y, x.flip(1)) and set(x.unique().tolist()) <= {0, 1}
    assert lengths == set(range(1, 8))


@pytest.mark.parametrize("cls, values, message", [
    (MqarSettings, {"pairs": 8, "vocab": 16}, "bad mqar.vocab 16: 8 distinct keys need vocab >= 18"),
    (MqarSettings, {"pairs": 8, "length": 20}, "bad mqar.length 20: 8 pairs and 8 queries need length >= 32"),
    (MqarSettings, {"pairs": 4, "queries": 5}, "bad mqar.queries 5: expected 0 (every key) up to mqar.pairs (4)"),
    (SelectiveCopySettings, {"tokens": 9, "length": 8}, "bad selective_copy.length 8: the 9 data tokens need length >= 9"),
])
def test_impossible_settings_are_named(cls, values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls(**values)


def test_a_bad_training_length_names_its_task():
    with pytest.raises(ConfigError, match="bad reverse_string.max_train_length 0"):
        build_cells(["reverse_string"], ["lstm"], ["cudnn"], 1, "smoke", {"reverse_string": {"max_train_length": 0}})


def test_gated_models_beat_chance_where_the_vanilla_rnn_does_not(tmp_path):
    """The smoke cells, as `run --all` trains them: an LSTM well above each task's chance, and on
    MQAR the tanh RNN at chance (one seed: the margins, not the exact figures, are the claim)."""
    tasks = ["mqar", "selective_copy", "parity_check", "reverse_string"]
    cells = build_cells(tasks, ["rnn", "lstm"], ["cudnn"], 1, "smoke")
    summary = run_matrix(cells, tmp_path, parallel=1)
    assert summary.failed == [] and summary.ran == len(cells)
    records = {(r["task"], r["model"]): r for r in map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())}
    for task, metric, margin in (("mqar", "recall_acc", 4), ("selective_copy", "recall_acc", 3),
                                 ("parity_check", "acc", 1.6), ("reverse_string", "acc", 1.6)):
        lstm = records[task, "lstm"]
        (chance,) = lstm["baselines"].values()
        assert lstm["metrics"][f"test/{metric}"] > margin * chance[metric], (task, lstm["metrics"], chance)
    rnn = records["mqar", "rnn"]["metrics"]["test/recall_acc"]
    assert rnn < 3 * records["mqar", "rnn"]["baselines"]["chance (uniform value)"]["recall_acc"]


# --- length generalisation -------------------------------------------------------------------
def test_length_generalisation_scores_every_unseen_length_and_their_mean(tmp_path):
    overrides = {"parity_check": {"max_train_length": 10}, "eval": {"max_length": 30, "per_length": 64},
                 "train": {"max_steps": 30}}
    cells = build_cells(["parity_check"], ["lstm"], ["cudnn"], 1, "smoke", overrides)
    assert list(unseen_lengths(cells[0])) == list(range(11, 31))
    run_matrix(cells, tmp_path, parallel=1)
    (record,) = map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())
    scores = record["length_generalisation"]
    assert sorted(map(int, scores)) == list(range(11, 31))
    assert all(0 <= v <= 1 for v in scores.values())
    assert record["metrics"]["test/unseen_acc"] == pytest.approx(sum(scores.values()) / 20)
    assert record["config"]["eval"] == {"max_length": 30, "per_length": 64}
    from benchmark.reports import matrix_plots
    figures = matrix_plots.draw([record], tmp_path, tmp_path / "plots")
    assert [p.name for p in figures["lengths"]] == ["lengths-parity_check.png"] and figures["lengths"][0].stat().st_size


def test_by_default_lengths_up_to_ten_times_the_training_length_are_scored_and_groups_stay():
    (cell,) = build_cells(["reverse_string"], ["lstm"], ["cudnn"], 1, None)  # no profile: the task's defaults
    assert list(unseen_lengths(cell)) == list(range(41, 401))  # Delétang et al.'s 1..40, then 41..10 x 40
    assert "eval" not in cell.config()  # at its defaults the eval section joins no group hash
    (smoke,) = build_cells(["reverse_string"], ["lstm"], ["cudnn"], 1, "smoke")  # the profile's eval: block
    assert list(unseen_lengths(smoke)) == list(range(11, 41)) and smoke.config()["eval"]["max_length"] == 40
    (copy,) = build_cells(["copy"], ["lstm"], ["cudnn"], 1, "smoke")
    assert unseen_lengths(copy) is None


def test_length_generalisation_of_a_trained_model_reads_its_own_sequences():
    """Scores come from the module's own step at each length: a model that always answers `even`
    scores the share of even strings, about 1/2, at every length."""
    (cell,) = build_cells(["parity_check"], ["lstm"], ["cudnn"], 1, "smoke")
    from benchmark.engine.runner import build_module
    data, module = build_module(cell)
    with torch.no_grad():
        module.head.weight.zero_()
        module.head.bias.copy_(torch.tensor([0.0, 1.0]))  # class 1: even
    scores = module.length_generalisation(range(11, 15), 2000, seed=0)
    assert set(scores) == {11, 12, 13, 14} and all(abs(v - 0.5) < 0.05 for v in scores.values())


@pytest.mark.parametrize("overrides, message", [
    ({"eval": {"max_length": 30}}, "eval.max_length applies to tasks trained on lengths up to TASK.max_train_length "
                                   "(parity_check, reverse_string), not copy"),
    ({"eval": {"max_length": 8}, "parity_check": {"max_train_length": 10}}, "bad eval.max_length 8: parity_check "
                                                                               "trains on lengths up to"),
    ({"eval": {"max_lenght": 8}}, "did you mean 'max_length'?"),
])
def test_bad_length_generalisation_settings_are_named(overrides, message):
    task = "copy" if "parity_check" not in overrides and "max_lenght" not in overrides["eval"] else "parity_check"
    with pytest.raises(ConfigError) as e:
        build_cells([task], ["lstm"], ["cudnn"], 1, "smoke", overrides)
    assert message in str(e.value)
