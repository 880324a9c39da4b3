"""A run's resolved config: what `run --print-config` prints, `run --config FILE` reads back and
every results folder keeps as config.yaml. It holds the selection (tasks, models, backends,
seeds, profile) and every setting the cells resolved to, per task (its settings, `model`,
`train`: a profile may set `copy.model.hidden` for one task), so the file alone rebuilds cells
with the same keys. No paths, times or launcher choices (--out, --data-dir, --parallel,
--threads, --wandb): they are not settings and no cell's key holds them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from benchmark import config
from benchmark.engine.cells import Cell

FILE = "config.yaml"


def resolved(cells: list[Cell]) -> dict:
    """The config tree of `cells` (built by one `build_cells` call), in the selection's order."""
    def names(values):
        return list(dict.fromkeys(values))

    seeds = sorted({c.seed for c in cells})
    tree = {"run": {"tasks": names(c.task for c in cells), "models": names(c.model.variant for c in cells),
                    "backends": names(c.model.backend for c in cells),
                    # build_cells' seeds are 0..N-1 from `--seeds N`; a list stays a list
                    "seeds": len(seeds) if seeds == list(range(len(seeds))) else seeds,
                    "profile": cells[0].profile}}
    for task in tree["run"]["tasks"]:
        cfg = json.loads(json.dumps(next(c for c in cells if c.task == task).config()))  # tuples as YAML lists
        model = {k: v for k, v in cfg["model"].items() if k not in ("variant", "backend")}  # the selection's
        tree[task] = {**cfg["settings"], "model": model, "train": cfg["train"], **({"eval": cfg["eval"]} if "eval" in cfg else {})}
    return tree


def text(cells: list[Cell]) -> str:
    return config.dump_config(resolved(cells))


def keep(out, content: str) -> Path:
    """Write `content` as OUT/config.yaml. A different one already there (an earlier run in the
    same folder) is kept as config.prevN.yaml, the next free N, as logs/<cell>.prevN are; the
    same one is left alone."""
    out = Path(out)
    path = out / FILE
    if path.is_file():
        if path.read_text(encoding="utf-8") == content:
            return path
        n = 1
        while (out / f"config.prev{n}.yaml").exists():
            n += 1
        os.replace(path, out / f"config.prev{n}.yaml")
    part = out / f"{FILE}.part"
    part.write_text(content, encoding="utf-8")
    os.replace(part, path)  # whole or not at all: a full disk leaves no half file
    return path
