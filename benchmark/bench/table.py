"""`bench table`: how long `python -m benchmark table DIR` takes on a folder of N records.

The folder is synthesised, nothing trains: the published records (results/reference/matrix and
papers: seven tasks x six variants, and Zaremba's small LSTM) read as this version reads them
(records.upgrade), then copied over seeds 0-9 and, past ten copies of one, over hidden sizes
(each size a group of its own), their metrics varied a little per copy. Each timed run is a
fresh process, interpreter start and imports included, as a user waits for it; the figure is
the median of the runs. A run of `table` as a user types it, then the same in-process, checks
that nothing heavy (torch, Lightning, a task module) was imported.
"""
from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark.engine.cells import cell_name, group_hash
from benchmark.engine.environment import cpu_model, package_version
from benchmark.engine.records import upgrade
from benchmark.errors import ConfigError

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "reference"
TEMPLATES = ("matrix", "papers")
SEEDS = 10
TARGET_S = 1.0  # issue 23: `table` on 1,000 records within a second on the 2-core machine
HEAVY = "[m for m in sys.modules if m in ('torch', 'lightning', 'pytorch_lightning') or m.startswith('tasks.')]"


def templates() -> list[dict]:
    """The published records, as this version reads them."""
    paths = [PUBLISHED / name / "results.jsonl" for name in TEMPLATES]
    if not all(p.exists() for p in paths):
        raise ConfigError(f"bench table copies the published records in {PUBLISHED}: run it from a checkout")
    return [upgrade(json.loads(line)) for p in paths for line in p.read_text().splitlines() if line.strip()]


def synthesise(folder, n: int) -> dict:
    """Write `n` records to folder/results.jsonl; what they hold ({records, groups, tasks})."""
    base = templates()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    groups = set()
    with open(folder / "results.jsonl", "w") as f:
        for k in range(n):
            record = vary(base[k % len(base)], k // len(base))
            groups.add(record["group"])
            f.write(json.dumps(record) + "\n")
    return {"records": n, "groups": len(groups), "tasks": len({r["task"] for r in base[:n]})}


def vary(template: dict, copy_index: int) -> dict:
    """Copy `copy_index` of a record: seed copy_index % 10, hidden size times 1 + copy_index // 10."""
    record = copy.deepcopy(template)
    seed, widen = copy_index % SEEDS, 1 + copy_index // SEEDS
    cfg = record["config"]
    cfg["seed"] = record["seed"] = seed
    cfg["model"]["hidden"] *= widen
    record["cell"] = cell_name(record["task"], record["model"], record["backend"], seed)
    record["group"] = group_hash(cfg)
    record["key"] = f"{record['cell']}/{record['group']}"
    factor = 1 + 0.01 * ((7 * seed + widen) % 5 - 2)
    record["metrics"] = {k: v * factor for k, v in (record.get("metrics") or {}).items()}
    return record


def time_runs(command: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return times


def heavy_imports(folder, fmt: str) -> list[str]:
    """The heavy modules `table` imports in-process (runpy, as `python -m benchmark` runs it)."""
    code = ("import json, runpy, sys\n"
            f"sys.argv = ['benchmark', 'table', {str(folder)!r}, '--format', {fmt!r}]\n"
            "try:\n    runpy.run_module('benchmark', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', json.dumps({HEAVY}), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    line = next((x for x in done.stderr.splitlines() if x.startswith("HEAVY ")), 'HEAVY ["(no answer)"]')
    return json.loads(line.removeprefix("HEAVY "))


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    libs = ", ".join(f"{p} {package_version(p) or '?'}" for p in ("pandas", "PyYAML", "rnnbench"))
    return (f"machine: {cpu_model()}, {os.cpu_count()} cores, load {load:.2f} at the start; Python "
            f"{platform.python_version()}, {libs}")


def main(args) -> int:
    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rnnbench-bench-table-"))
    try:
        made = synthesise(folder, args.records)
        print(machine())
        command = [sys.executable, "-m", "benchmark", "table", str(folder), "--format", args.format]
        startup = time_runs([sys.executable, "-m", "benchmark", "--help"], args.repeats)
        times = time_runs(command, args.repeats)
        heavy = heavy_imports(folder, args.format)
        median = statistics.median(times)
        print(f"bench table: {made['records']:,} records ({made['groups']} groups, {made['tasks']} tasks; copies of "
              f"the published records) in {folder}")
        print(f"  `python -m benchmark table DIR --format {args.format}`, a fresh process per run (interpreter start "
              f"and imports included), {args.repeats} runs")
        print(f"  median {median:.3f} s (min {min(times):.3f} s, max {max(times):.3f} s); target <= {TARGET_S:g} s: "
              f"{'met' if median <= TARGET_S else 'MISSED'}")
        print(f"  of which start-up (`python -m benchmark --help`): median {statistics.median(startup):.3f} s")
        print(f"  heavy imports (torch, lightning, tasks.*): {', '.join(heavy) if heavy else 'none'}")
    finally:
        if not args.out:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if not heavy else 1
