"""`--parallel auto` is the default and counts the cores idle now: other work's CPU use from
/proc/stat less this process tree's own, not the lagging load average; a pool starts the cells
of the longest tasks first. Pure parts are fed fake numbers; nothing here is timed."""
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from benchmark.cli import _parser, default_parallel
from benchmark.errors import ConfigError
from benchmark.launchers import packing
from benchmark.launchers.local import next_job
from benchmark.launchers.packing import CpuSample, others_busy_cores


def test_other_work_is_the_cpus_busy_ticks_less_this_process_trees_own():
    # 2 CPUs for 100 ticks (1 s): 150 busy ticks, 100 of them ours -> others kept half a core busy
    before, after = CpuSample(busy=1000, total=5000, own=40, cpus=2), CpuSample(busy=1150, total=5200, own=140, cpus=2)
    assert others_busy_cores(before, after) == pytest.approx(0.5)
    # our own two workers on both cores: nobody else is busy, so both cores count as ours to use
    assert others_busy_cores(before, CpuSample(busy=1200, total=5200, own=240, cpus=2)) == 0.0
    assert others_busy_cores(before, before) == 0.0  # no time passed: nothing measured, nothing busy


def test_this_process_tree_counts_a_live_childs_cpu_time():
    before = packing._tree_ticks(os.getpid())
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\nprint('done', flush=True)\n" \
           "time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "done"
        assert packing._tree_ticks(os.getpid()) - before >= 40  # 0.5 s of CPU = 50 ticks (100 a second)
    finally:
        child.kill()
        child.wait()


def test_a_real_sample_sees_this_machines_cpus():
    sample = packing.cpu_sample(set(os.sched_getaffinity(0)))
    assert sample.cpus == len(os.sched_getaffinity(0)) and 0 < sample.busy <= sample.total and sample.own > 0


@pytest.mark.parametrize("busy, expected", [(0.0, 2), (0.3, 2), (1.2, 1), (None, 2)])
def test_auto_takes_every_core_that_other_work_leaves_idle_and_says_why_in_one_line(monkeypatch, busy, expected):
    monkeypatch.setattr(packing, "others_busy_now", lambda cpus: busy)
    monkeypatch.setattr(packing, "machine_gpus", lambda: ())
    said = []
    assert packing.resolve("auto", 10, 1, [], cpus=2, say=said.append) == expected
    assert len(said) == 1 and said[0].startswith(f"--parallel auto: {expected} cell(s) at once: ")
    assert f"{2 - round(busy or 0)} idle core(s) of 2" in said[0]


@pytest.mark.parametrize("argv, expected", [
    (["run", "--all"], "auto"), (["run", "--all", "--parallel", "3"], 3),
    (["run", "--all", "--launcher", "slurm"], 1),   # auto would count this machine's cores, not the cluster's
    (["run", "--all", "--devices", "2"], 1),        # one cell on two devices
    (["reproduce", "papers"], "auto"), (["reproduce", "papers", "--parallel", "1"], 1),
])
def test_run_and_reproduce_papers_use_the_idle_cores_by_default(argv, expected):
    assert default_parallel(_parser().parse_args(argv)) == expected


def test_the_memory_span_measurement_trains_at_auto_on_the_cpu_profiles():
    from benchmark.measurements.settings import load
    assert load("smoke", "memory_span")["parallel"] == "auto"
    assert load("smoke", "memory_span", overrides={"memory_span": {"parallel": 3}})["parallel"] == 3
    with pytest.raises(ConfigError, match=r"bad memory_span.parallel 'many' .*expected auto or an integer >= 1"):
        load("smoke", "memory_span", overrides={"memory_span": {"parallel": "many"}})


def _jobs(*tasks):
    return [SimpleNamespace(cell=SimpleNamespace(task=t)) for t in tasks]


def test_a_pool_starts_unseen_tasks_then_the_task_with_the_longest_cells():
    pending = _jobs("copy", "copy", "word_lm", "forecast")
    assert next_job(pending, {}) == 0                                    # nothing known: the matrix's order
    assert next_job(pending, {"copy": [2.0]}) == 2                       # a task not seen yet may be long
    assert next_job(pending, {"copy": [2.0], "word_lm": [7.0], "forecast": [3.0, 19.0]}) == 3   # mean 11 s
    assert next_job(_jobs("sentiment", "word_lm"), {"sentiment": [1.5], "word_lm": [7.0]}) == 1
