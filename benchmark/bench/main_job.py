"""The main job's wall time: `run --all --profile smoke` from a fresh process, against its target.

Runs `python -m benchmark run --all --profile smoke --data-dir DIR` (with `--parallel` only if
given: otherwise run's own default, auto) into a temporary folder, so interpreter start,
imports, data loading, every cell and the tables are all counted, as a user waits for them.
Prints the wall seconds, the CPU seconds of the run's processes (less noisy than wall time on a
shared machine), the cells, run's `--parallel auto` line, the machine (CPU model, cores, what
other work used while it ran), the versions and the target with pass or fail; exit 1 on fail.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmark.engine.environment import available_cpus, cpu_model, cpu_set, package_versions
from benchmark.engine.store import ResultsStore
from benchmark.errors import ConfigError
from benchmark.launchers.packing import cpu_sample, others_busy_cores


def command(data_dir, out, parallel=None) -> list[str]:
    cmd = [sys.executable, "-m", "benchmark", "run", "--all", "--profile", "smoke", "--out", str(out),
           "--wandb", "disabled"]
    cmd += ["--data-dir", data_dir] if data_dir else []
    return cmd + (["--parallel", str(parallel)] if parallel is not None else [])


def main(args) -> int:
    if args.data_dir and not os.path.isdir(args.data_dir):
        raise ConfigError(f"--data-dir {args.data_dir} is not a folder")
    versions = package_versions()
    print(f"bench main: run --all --profile smoke{' --parallel ' + str(args.parallel) if args.parallel else ''} "
          f"--data-dir {args.data_dir}")
    print(f"machine: {cpu_model()}, {available_cpus()} cores usable ({os.cpu_count()} online); python "
          f"{versions['python']}, torch {versions['torch']}, lightning {versions['lightning']}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}", flush=True)
    cpus = cpu_set()
    with tempfile.TemporaryDirectory(prefix="rnnbench-main-") as tmp:
        out = Path(tmp) / "smoke"
        before, children = cpu_sample(cpus), resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command(args.data_dir, out, args.parallel), capture_output=True, text=True)
        wall = time.perf_counter() - start
        after, used = cpu_sample(cpus), resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode not in (0, 1):  # 1: some cells failed, still a timed run (reported below)
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
            raise ConfigError(f"bench main: the run failed (exit {proc.returncode}): {last}")
        records = ResultsStore(out).current()
    cpu_s = (used.ru_utime + used.ru_stime) - (children.ru_utime + children.ru_stime)
    choice = next((line for line in proc.stdout.splitlines() if line.startswith("--parallel auto:")),
                  f"--parallel {args.parallel} (given)")
    statuses = Counter(r["status"] for r in records)
    print(choice)
    print(f"cells: {len(records)} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}); "
          f"{sum(r.get('wall_s') or 0 for r in records):.1f} s in cells")
    others = f"{others_busy_cores(before, after):.2f} cores" if before and after else "unknown"
    print(f"wall {wall:.1f} s; CPU {cpu_s:.1f} s in the run's processes; other work used {others} meanwhile")
    ok = wall <= args.target
    print(f"target <= {args.target:.0f} s: {'pass' if ok else 'FAIL'}")
    return 0 if ok else 1
