"""`sample`: text from a trained language-model cell, without its data.

A cell trained with `train.checkpoint` (best, last or both) keeps, in
`logs/<cell>-<group>/checkpoints/`, its weights (best.ckpt, last.ckpt: state dicts read with
torch.load(weights_only=True), so loading runs no code from the file), its config (cell.json)
and its vocabulary (vocab.json, id -> token). `load_cell` finds the cell's record in
DIR/results.jsonl, rebuilds the module from those files alone and loads the weights;
`generate` draws tokens from it one at a time, carrying the hidden state, at a temperature.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from benchmark import config
from benchmark.config import ConfigError, ModelConfig, TrainConfig
from benchmark.engine.store import ResultsStore

WHICH = ("best", "last")
FIX = "rerun with --set train.checkpoint=best"


@dataclass
class Loaded:
    module: object      # the task's LightningModule, weights loaded, in eval mode, on the CPU
    vocab: list         # id -> token
    task: str
    checkpoint: Path    # the weights read
    char_level: bool    # tokens are characters (char_lm): joined without spaces


def check_temperature(temperature) -> float:
    if not (config.finite(temperature) and temperature > 0):
        raise ConfigError(f"bad --temperature {config.show(temperature)}: expected a number > 0 (1 samples the "
                          f"model's own distribution, lower is more conservative, e.g. 0.8)")
    return float(temperature)


def find_record(folder, cell: str) -> dict:
    """The newest record of `cell` (task/model/backend/seedN, as `run` prints it) in folder's
    results.jsonl that has checkpoints; ConfigError naming what is missing and the fix."""
    store = ResultsStore(folder)
    if not os.path.lexists(store.path):
        raise ConfigError(f"{folder} holds no results.jsonl: point `sample` at a folder written by `run --out`")
    records = store.current()
    names = list(dict.fromkeys(r["cell"] for r in records))
    mine = [r for r in records if r["cell"] == cell]
    if not mine:
        shown = ", ".join(names) if names else "none"
        raise ConfigError(f"unknown cell {cell!r} in {folder}; available: {shown}{config.closest(cell, names)} "
                          f"(a cell is task/model/backend/seedN)")
    from tasks import get_task  # torch and Lightning load here
    from tasks.language_model import LanguageModelTask

    task = mine[-1]["task"]
    if not issubclass(get_task(task), LanguageModelTask):
        raise ConfigError(f"cell {cell!r} is task {task}, not a language model: `sample` generates text from "
                          f"char_lm or word_lm cells")
    kept = [r for r in mine if r.get("status") == "ok" and r.get("checkpoint")]
    if not kept:
        status = mine[-1].get("status")
        raise ConfigError(f"cell {cell!r} in {folder} has no checkpoint (status {status}, train.checkpoint "
                          f"{(mine[-1]['config'].get('train') or {}).get('checkpoint', 'none')}): {FIX}")
    if len(kept) > 1:
        print(f"note: {folder} holds {len(kept)} checkpointed runs of {cell} (other settings); sampling the newest, "
              f"group {kept[-1]['group']}", file=sys.stderr)
    return kept[-1]


def load_cell(folder, cell: str, which: str | None = None) -> Loaded:
    """The trained module of `cell` in `folder`, rebuilt from its checkpoint folder alone:
    `which` checkpoint (best or last; None = best when kept, else last)."""
    import torch

    from tasks import get_task

    record = find_record(folder, cell)
    saved = record["checkpoint"]
    if which is None:
        which = "best" if "best" in saved else "last"
    if which not in WHICH:
        raise ConfigError(f"bad --which {config.show(which)}: expected one of {', '.join(WHICH)}")
    if which not in saved:
        raise ConfigError(f"cell {cell!r} kept no {which} checkpoint (it kept {', '.join(saved)}): use "
                          f"--which {next(iter(saved))}, or rerun with --set train.checkpoint={which}")
    path = Path(folder) / saved[which]
    about = _read_json(path.parent / "cell.json")
    vocab_file = about.get("vocab")
    if not vocab_file:
        raise ConfigError(f"{path.parent / 'cell.json'} names no vocabulary: {FIX}")
    vocab = _read_json(path.parent / vocab_file)
    cfg = about["config"]
    task_cls = get_task(cfg["task"])
    model = config.build(ModelConfig, _declared(ModelConfig, cfg.get("model")), "model")
    train = config.build(TrainConfig, _declared(TrainConfig, cfg.get("train")), "train")
    settings = config.build(task_cls.Settings, _declared(task_cls.Settings, cfg.get("settings")), cfg["task"])
    module = task_cls(settings, model, train, SimpleNamespace(vocab_size=len(vocab)))  # build() needs only its size
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} is missing (moved or deleted?): {FIX}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    module.load_state_dict(state.get("state_dict", state))
    module.eval()
    return Loaded(module, vocab, cfg["task"], path, char_level=cfg["task"] == "char_lm")


def generate(loaded: Loaded, count: int, temperature: float = 1.0, seed: int | None = None,
             prime: str = "") -> list[str]:
    """`count` tokens drawn one at a time from the model at `temperature`, after `prime` (tokens
    the model reads first; none: from the start of a line). Only tokens of the vocabulary, never
    <unk> of a character model (no single character)."""
    import torch

    from tasks.data.corpus import EOS, UNK

    temperature = check_temperature(temperature)
    vocab = loaded.vocab
    index = {tok: i for i, tok in enumerate(vocab)}
    if prime:
        tokens = list(prime) if loaded.char_level else prime.split()
        unknown = sorted({t for t in tokens if t not in index})
        if unknown and UNK not in index:
            raise ConfigError(f"--prime holds tokens the vocabulary lacks: {', '.join(map(repr, unknown[:10]))}")
        ids = [index.get(t, index.get(UNK)) for t in tokens]
    else:
        start = "\n" if loaded.char_level else EOS
        ids = [index.get(start, 0)]
    banned = [i for i, tok in enumerate(vocab) if loaded.char_level and len(tok) != 1]
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    module, out, state = loaded.module, [], None
    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long)
        for _ in range(count):
            logits, state = module(x, state)
            last = logits[0, -1].double() / temperature
            if banned:
                last[banned] = -math.inf
            nxt = int(torch.multinomial(torch.softmax(last, -1), 1, generator=generator))
            out.append(vocab[nxt])
            x = torch.tensor([[nxt]], dtype=torch.long)
    return out


def render(loaded: Loaded, tokens: list[str], prime: str = "") -> str:
    """The text: characters as they are; words with spaces, <eos> as a line break."""
    from tasks.data.corpus import EOS

    if loaded.char_level:
        return prime + "".join(tokens)
    text = " ".join(tokens).replace(f" {EOS} ", "\n").replace(EOS, "\n")
    return f"{prime} {text}" if prime else text


def _declared(cls, values) -> dict:
    """The keys of `values` that `cls` declares (a config written by another version may hold others)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in (values or {}).items() if k in names}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing (the checkpoint folder is incomplete): {FIX}") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} cannot be read ({e}): {FIX}") from None
