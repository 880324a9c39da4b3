"""A busy CPU: the same cells alone, then beside an identical run, and what the records say.

Runs `python -m benchmark run` (six smoke cells by default: forecast, sentiment, ner x lstm,
gru) in a fresh process into a temporary folder, alone; then twice at once, one as the
"hog", the other timed. Prints both wall times, their ratio (a fair share of the machine
beside one twin is about 1x on two or more cores per run), and the records' mean
`cpu_wait_share` alone and beside the twin, the figure behind each record's `contended` flag.
Whatever `--threads` says is passed to every run; OMP_WAIT_POLICY is inherited.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark.bench import provenance_line
from benchmark.engine.store import ResultsStore
from benchmark.errors import ConfigError


def _command(args, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "benchmark", "run", "--tasks", args.tasks, "--models", args.models,
           "--profile", args.profile, "--out", str(out), "--wandb", "disabled"]
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    return cmd + (["--threads", str(args.threads)] if args.threads is not None else [])


def _run(cmd) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, what: str) -> None:
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise ConfigError(f"bench busy: the {what} run failed (exit {proc.returncode}): "
                          f"{err.strip().splitlines()[-1] if err.strip() else ''}")


def _wait_share(out: Path) -> str:
    records = ResultsStore(out).current()
    shares = [r["cpu_wait_share"] for r in records if r.get("cpu_wait_share") is not None]
    contended = sum(bool(r.get("contended")) for r in records)
    threads = sorted({r.get("threads") for r in records})
    return (f"threads {threads}, cpu_wait_share mean {statistics.fmean(shares):.3f} (max {max(shares):.3f}), "
            f"{contended}/{len(records)} contended" if shares else "no cpu_wait_share recorded")


def main(args) -> int:
    print(f"bench busy: run --tasks {args.tasks} --models {args.models} --profile {args.profile} "
          f"--threads {args.threads if args.threads is not None else '(default)'}; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; {os.cpu_count()} CPUs")
    print(provenance_line().replace("device:", "this process's device:"))
    with tempfile.TemporaryDirectory(prefix="rnnbench-busy-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        _finish(_run(_command(args, tmp / "idle")), "idle")
        idle = time.perf_counter() - start
        print(f"alone:         {idle:7.1f} s  ({_wait_share(tmp / 'idle')})", flush=True)
        hog = _run(_command(args, tmp / "hog"))
        time.sleep(2)  # the twin is past its imports and training
        start = time.perf_counter()
        _finish(_run(_command(args, tmp / "busy")), "busy")
        busy = time.perf_counter() - start
        _finish(hog, "twin")
        print(f"beside a twin: {busy:7.1f} s  ({_wait_share(tmp / 'busy')})")
    print(f"busy/idle {busy / idle:.2f}x")
    return 0
