"""Memory span: over a grid of lags, which lags each arm learns to bridge, over seeds, at a budget
that is enough or says it is not.

A lag is how many steps a model must hold what it saw before it is asked for it:
- `recall` (the copy task with one symbol, `copy.symbols=1`): one symbol, blanks, a
  delimiter, then the symbol is asked for: lag = delay + 1. The cheapest pure memory test.
- `copy` (Arjovsky et al. 2016): ten symbols held delay + 10 steps each.
- `adding` (Hochreiter & Schmidhuber 1997): the first marked value can sit at the first step:
  lag = the sequence length T.
- `selective_copy` (Gu & Dao 2023): the data tokens scattered over `selective_copy.length`
  steps of noise, then asked for in order: lag = that length (the first token can sit at the
  first step), at the token count and vocabulary `memory_span.fixed.selective_copy` holds.
- `mqar` (Arora et al. 2023, zoology's multi-query associative recall): its axis is not time but
  the number of key-value pairs K held at once (`mqar.pairs`), at the vocabulary and sequence
  length `memory_span.fixed.mqar` holds fixed. Its "span" is the most pairs solved, and each
  arm's span also reads as bits recalled from the state: K x log2(vocab/2) bits (K values, each
  one of vocab/2), per state unit (hidden x the family's state tensors: h for RNN and GRU, h and
  c for the LSTM). That is in-context recall; Collins et al. 2017's ~5 bits per parameter is
  capacity stored in the weights, another quantity (context only).
In what follows "lag" is a point of a task's axis: steps for the first three, pairs for mqar.

Arms (`arms` in configs/measurements.yaml): a family at the profile's hidden size, or widened
to the LSTM's parameter count (`match: lstm`), with its initialisation: `rnn`, `rnn-matched`,
`lstm` (forget bias 1), `lstm-chrono` (chrono init, Tallec & Ollivier 2018, with T_max the
cell's lag), `gru`, `gru-matched`. Every (task, arm, lag, seed) is a matrix cell
(`benchmark.engine`), trained by `benchmark.launchers.run_matrix` into the store under
<run>/cells, so a run that stops resumes where it was.

1. Tuning: each arm's learning rate is chosen by the same search: every rate of `tuning.lrs`
   at the task's tuning lag, the same steps (that lag's cap) for every arm, on tuning seeds
   the measurement never uses. Criterion: solved share, then the censored median of steps to
   solve, then the final validation loss. If any arm's best rate is at an edge of the grid,
   every arm's grid grows by a factor of 3 past that edge (once per edge).
2. The grid: each cell trains until its validation metric reaches the target
   (`train.stop_at`) or until the cap for its lag (`caps`); the test set (fresh sequences)
   then decides "solved". A cell at the cap is right-censored, not a failure; it is
   `still_improving` when its validation loss fell over the last fifth of its training
   (Mann-Kendall, one-sided p < 0.05), or when that stretch holds fewer than MIN_TREND_POINTS
   validations (too few to show it has stopped).
3. Budget: recall sits at chance and then jumps, so a flat curve does not prove failure. The
   first lag an arm fails (the one that ends its span) is trained again at RERUN_FACTOR x the
   cap on RERUN_SEEDS of its failed seeds; any solve there, or still-improving cells making up
   STILL_IMPROVING_SHARE of the lag's seeds, makes the lag `budget_limited`: it can neither
   confirm nor refute. A failed lag past a budget-limited one was never given more budget, so it
   is budget-limited too (`beyond_budget`). The same rule applies to every arm.
4. Statistics (`summarise`, pure, recomputed from the rows): per lag and arm, solved k of n with a
   Wilson interval, censored and still-improving counts, steps to solve as a Kaplan-Meier
   estimate; the span, the largest lag solved by >= 80% of seeds (`stats.SOLVED_SHARE`) with
   every shorter lag solved too, and whether its end is a real failure, budget-limited, or the
   end of the grid.

The time of one training step of each arm at each lag is measured alone before anything trains
(`step_times`): the probe behind the printed wall-time bound, and the factor that turns steps
to solve into time to solve.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmark.config import parse_stop_at, profiles
from benchmark.engine.cells import Cell, build_cells
from benchmark.engine.environment import available_cpus, device, provenance
from benchmark.engine.runner import build_module
from benchmark.engine.store import ResultsStore
from benchmark.launchers import run_matrix
from benchmark import families
from benchmark.measurements import stats
from benchmark.measurements.parameters import matched_hidden
from benchmark.measurements.settings import AXIS
from benchmark.measurements.timing import device_sync, time_call
from benchmark.models import encoder_param_count
from tasks.data.synthetic import VOCAB

NAME = "memory_span"
STILL_IMPROVING_SHARE = 0.3  # still-improving cells (of a lag's seeds) that make the lag budget-limited
TREND_TAIL = 0.2             # the stretch of training the trend test reads: its last fifth
TREND_P = 0.05               # one-sided Mann-Kendall level for "still improving"
MIN_TREND_POINTS = 4         # fewer validations in that stretch cannot show it has stopped: still improving
RERUN_SEEDS = 3              # failed seeds of an arm's first failing lag trained again...
RERUN_FACTOR = 2             # ...at this many times the cap
UNITS = {"lag": "time steps a symbol or value is held", "value": "the task's test metric (recall_acc: fraction; "
         "mse: squared error)", "span": "time steps (largest grid lag solved by >= 80% of seeds, every shorter "
         "lag too)", "steps": "training steps (optimizer updates) until validation reached the target, or the "
         "last step of a censored cell", "cap": "training steps allowed per cell at that lag",
         "step_time_s": "seconds per training step (forward, backward, Adam), measured alone",
         "pairs": "mqar: key-value pairs held at once (its axis in place of lag; span in pairs)",
         "bits_per_state_unit": "mqar: span x log2(vocab/2) bits recalled, over hidden x state tensors"}
INPUT_SIZE = {"recall": VOCAB, "copy": VOCAB, "adding": 2}  # mqar: its embedding (input_size)


def fixed(settings: dict, task: str) -> dict:
    """The task settings held fixed while the axis varies (`memory_span.fixed.TASK`)."""
    return dict((settings.get("fixed") or {}).get(task) or {})


def held(settings: dict, task: str, key: str) -> int:
    """A task setting its axis leaves alone: `memory_span.fixed`'s value, else the task's default."""
    from tasks import get_task
    return int(fixed(settings, task).get(key, getattr(get_task(task).Settings, key)))


def input_size(settings: dict, task: str) -> int:
    """What the recurrent layer reads at each step: one-hot symbols, (value, marker), or mqar's embedding."""
    if task == "mqar":
        return held(settings, task, "embedding_dim")
    if task == "selective_copy":  # one-hot over the vocabulary, the noise token and the marker
        return held(settings, task, "vocab") + 2
    return INPUT_SIZE[task]


def bits_recalled(settings: dict, task: str, span: int, family: str, hidden: int) -> dict | None:
    """mqar only: a span of K pairs as bits recalled from the state, in all and per state unit."""
    if task != "mqar":
        return None
    vocab = held(settings, task, "vocab")
    units = hidden * len(families.get(family).state)
    bits = span * math.log2(vocab // 2)
    return {"bits": bits, "state_units": units, "per_state_unit": bits / units, "vocab": vocab}


@dataclass(frozen=True)
class Arm:
    name: str
    family: str
    hidden: int
    init: str = "orthogonal"     # "chrono": T_max is set from each cell's lag
    forget_bias: float = 1.0
    match: str | None = None     # widened to this family's parameter count

    @property
    def has_forget_bias(self) -> bool:
        """Whether `forget_bias` means something: a family with a forget gate (the LSTM) under orthogonal."""
        return families.get(self.family).init_biases is not None and self.init == "orthogonal"

    def model(self, lag: int) -> dict:
        init = f"chrono:{max(lag, 3)}" if self.init == "chrono" else self.init
        out = {"hidden": self.hidden, "num_layers": 1, "init": init}
        if self.has_forget_bias:
            out["forget_bias"] = self.forget_bias
        return out

    def describe(self, x: int) -> dict:
        """The arm, its parameter count for a recurrent input of size x."""
        return {"name": self.name, "family": self.family, "hidden": self.hidden, "init": self.init,
                "forget_bias": self.forget_bias if self.has_forget_bias else None,
                "matched_to": self.match, "params": encoder_param_count(self.family, x, self.hidden)}


def arms(settings: dict, task: str = "recall") -> list[Arm]:
    """The arms of a profile at its hidden size, widened ones matched for this task's input size."""
    hidden, x = settings["hidden"], input_size(settings, task)
    out = []
    for name, spec in settings["arms"].items():
        family, match = spec["family"], spec.get("match")
        width = matched_hidden(family, x, encoder_param_count(match, x, hidden)) if match else hidden
        out.append(Arm(name, family, width, spec.get("init", "orthogonal"), float(spec.get("forget_bias", 1.0)), match))
    return out


def task_cell(task: str, lag: int, held: dict | None = None) -> tuple[str, dict]:
    """(matrix task, its settings) for a point of a memory task's axis; `held`: the settings
    `memory_span.fixed` holds for it (the axis' own setting wins)."""
    held = dict(held or {})
    if task == "recall":
        return "copy", {**held, "delay": lag - 1, "symbols": 1}
    if task == "copy":
        return "copy", {**held, "delay": lag - 10, "symbols": 10}
    if task == "adding":
        return "adding", {**held, "length": lag}
    if task == "selective_copy":
        return "selective_copy", {**held, "length": lag}
    if task == "mqar":
        return "mqar", {**held, "pairs": lag}
    raise ValueError(f"unknown memory task {task!r}; choose from {', '.join(AXIS)}")


def horizon(settings: dict, task: str, lag: int) -> int:
    """The steps a cell's memory must reach (chrono's T_max): the lag, or mqar's fixed sequence length."""
    return held(settings, task, "length") if task == "mqar" else lag


def reached(value: float | None, spec: str) -> bool:
    """Whether a test metric meets a target written as the cells' `train.stop_at` ('recall_acc>=0.99')."""
    _, op, threshold = parse_stop_at(spec)
    return value is not None and (value >= threshold if op == ">=" else value <= threshold)


def run_profile(profile: str) -> str | None:
    """The run profile the cells build on (its precision, clipping...): the measurement
    profile's namesake in configs/profiles/ when there is one, else the defaults."""
    return profile if profile in profiles() else None


def cap(settings: dict, task: str, lag: int) -> int:
    caps = {int(k): int(v) for k, v in (settings["caps"].get(task) or {}).items()}
    if lag not in caps:
        raise ValueError(f"memory_span.caps.{task} has no cap for lag {lag}: give one per lag ({sorted(caps)})")
    return caps[lag]


@dataclass
class Planned:
    kind: str        # tuning | grid | rerun
    task: str
    arm: Arm
    lag: int
    seed: int
    lr: float
    steps: int
    cell: Cell = field(repr=False)


def plan(kind, task, arm, lag, seed, lr, steps, settings, profile) -> Planned:
    matrix_task, task_settings = task_cell(task, lag, fixed(settings, task))
    train = {**settings["train"], "lr": lr, "max_steps": steps, "stop_at": settings["solved"][task],
             "save_weights": True}
    overrides = {matrix_task: task_settings, "model": arm.model(horizon(settings, task, lag)), "train": train}
    (cell,) = build_cells([matrix_task], [arm.family], ["cudnn"], [seed], run_profile(profile), overrides)
    return Planned(kind, task, arm, lag, seed, lr, steps, cell)


# --- training ---------------------------------------------------------------------------
TRAINS_CELLS = True  # measurements.measure passes `tracking` (W&B) on to the launchers


def run(settings: dict, out_dir, profile: str, tracking=None) -> dict:
    """`tracking`: a planned W&B Tracking every trained cell logs to (`measure --wandb`), or None."""
    start = time.perf_counter()
    store_dir = Path(out_dir) / "cells"
    tasks = {t: sorted(int(x) for x in lags) for t, lags in settings["tasks"].items() if lags}
    times = {t: step_times(settings, profile, t, sorted(set(lags) | {int(settings["tuning"]["lag"][t])}))
             for t, lags in tasks.items()}
    announce(settings, profile, tasks, times, store_dir)
    rows, tuning, chosen, failed = [], [], {}, 0
    for task, lags in tasks.items():
        table, best, n_failed = tune(settings, profile, task, store_dir, tracking)
        tuning += table
        chosen[task] = best
        failed += n_failed
        grid = [plan("grid", task, arm, lag, seed, best[arm.name], cap(settings, task, lag), settings, profile)
                for lag in lags for arm in arms(settings, task) for seed in settings["seeds"]]
        failed += train(grid, store_dir, settings, f"{task}: {len(grid)} cells of the grid", tracking)
        task_rows = rows_of(grid, store_dir, settings)
        reruns = rerun_plan(task_rows, settings, profile, task, lags)
        if reruns:
            failed += train(reruns, store_dir, settings, f"{task}: {len(reruns)} reruns at {RERUN_FACTOR}x the cap of "
                                                         f"each arm's first failing lag", tracking)
        rows += task_rows + rows_of(reruns, store_dir, settings)
    arm_list = [{**a.describe(input_size(settings, t)), "task": t, "axis": AXIS[t], "lr": chosen[t][a.name],
                 "at_edge": next(r["at_edge"] for r in tuning if r["task"] == t and r["arm"] == a.name and r["chosen"])}
                for t in tasks for a in arms(settings, t)]
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "arms": arm_list,
            "tuning": tuning, "rows": rows, "spans": summarise(rows, settings), "step_time_s": times,
            "failed_cells": failed, "cells_store": str(store_dir / "results.jsonl"),
            "rules": rules(), "wall_s": round(time.perf_counter() - start, 1), **provenance(device(), settings["seed"])}


def rules() -> dict:
    """The thresholds of this measurement's rules, as they were when it ran."""
    return {"solved_share": stats.SOLVED_SHARE, "still_improving_share": STILL_IMPROVING_SHARE,
            "trend_tail": TREND_TAIL, "trend_p": TREND_P, "min_trend_points": MIN_TREND_POINTS, "rerun_seeds": RERUN_SEEDS, "rerun_factor": RERUN_FACTOR}


def train(planned: list[Planned], store_dir, settings, what: str, tracking=None) -> int:
    print(f"memory-span: {what}")
    return len(run_matrix([p.cell for p in planned], store_dir, parallel=settings.get("parallel", 1),
                          wandb=tracking or "disabled").failed)


def tune(settings, profile, task, store_dir, tracking=None) -> tuple[list[dict], dict, int]:
    """(the tuning table: one row per arm and rate, each arm's chosen rate, failed cells)."""
    spec = settings["tuning"]
    lag, seeds = int(spec["lag"][task]), list(spec["seeds"])
    steps = cap(settings, task, lag)
    grid, extended, failed = sorted(float(x) for x in spec["lrs"]), set(), 0
    while True:
        planned = [plan("tuning", task, arm, lag, seed, lr, steps, settings, profile)
                   for arm in arms(settings, task) for lr in grid for seed in seeds]
        failed += train(planned, store_dir, settings, f"{task}: tuning, {len(grid)} rates x {len(arms(settings, task))} "
                                                      f"arms x {len(seeds)} seeds at lag {lag}, {steps} steps each",
                        tracking)
        table, best = tuning_table(rows_of(planned, store_dir, settings), grid)
        low = any(lr == grid[0] for lr in best.values()) and "low" not in extended
        high = any(lr == grid[-1] for lr in best.values()) and "high" not in extended
        if not (low or high):
            break
        if low:
            grid.insert(0, _three(grid[0] / 3))
            extended.add("low")
        if high:
            grid.append(_three(grid[-1] * 3))
            extended.add("high")
        print(f"memory-span: {task}: a best rate is at the edge of the grid; every arm's grid is now "
              f"{', '.join(f'{x:g}' for x in grid)}")
    for name, lr in best.items():
        print(f"memory-span: {task}: {name} trains at lr {lr:g}")
    return table, best, failed


def _three(x: float) -> float:
    return float(f"{x:.3g}")


def tuning_table(rows: list[dict], grid: list[float]) -> tuple[list[dict], dict]:
    """Per arm and rate: solved share, censored median steps, final validation loss; the best
    rate per arm by that order (more solved, then sooner, then lower loss)."""
    table = []
    for arm in dict.fromkeys(r["arm"] for r in rows):
        for lr in grid:
            mine = [r for r in rows if r["arm"] == arm and r["lr"] == lr]
            km = stats.kaplan_meier([r["steps"] for r in mine], [r["solved"] for r in mine])
            losses = [r["final_val_loss"] for r in mine if r["final_val_loss"] is not None]
            table.append({"arm": arm, "task": mine[0]["task"], "lag": mine[0]["lag"], "lr": lr,
                          "seeds": [r["seed"] for r in mine], "steps": mine[0]["cap"],
                          "solved": sum(r["solved"] for r in mine), "n": len(mine),
                          "median_steps": km["median"], "steps_to_solve": _without_curve(km),
                          "final_val_loss": sum(losses) / len(losses) if losses else None,
                          "curves": [r.get("curve") for r in mine]})
    best = {}
    for arm in dict.fromkeys(r["arm"] for r in table):
        mine = [r for r in table if r["arm"] == arm]
        top = min(mine, key=_criterion)
        best[arm] = top["lr"]
        for r in mine:
            r["chosen"] = r is top
            r["at_edge"] = r is top and top["lr"] in (grid[0], grid[-1])
    return table, best


def _criterion(row) -> tuple:
    inf = math.inf
    return (-row["solved"] / row["n"], row["median_steps"] if row["median_steps"] is not None else inf,
            row["final_val_loss"] if row["final_val_loss"] is not None else inf)


def rerun_plan(rows, settings, profile, task, lags) -> list[Planned]:
    """RERUN_SEEDS failed seeds of each arm's first failing lag, at RERUN_FACTOR x its cap."""
    out = []
    summary = summarise(rows, settings)[task]
    for arm in arms(settings, task):
        first = summary[arm.name]["first_failure"]
        if first is None:
            continue
        failed = [r for r in rows if r["arm"] == arm.name and r["lag"] == first and not r["solved"]][:RERUN_SEEDS]
        out += [plan("rerun", task, arm, first, r["seed"], r["lr"], RERUN_FACTOR * cap(settings, task, first),
                     settings, profile) for r in failed]
    return out


def rows_of(planned: list[Planned], store_dir, settings) -> list[dict]:
    latest = ResultsStore(store_dir).latest()
    return [row_of(p, latest.get(p.cell.key), store_dir, settings) for p in planned]


def row_of(p: Planned, record: dict | None, store_dir, settings) -> dict:
    """One cell's outcome as the rules read it, from its record and its validation curve."""
    spec = settings["solved"][p.task]
    metric = parse_stop_at(spec)[0]
    ok = bool(record) and record.get("status") == "ok"
    value = (record.get("metrics") or {}).get(f"test/{metric}") if ok else None
    solved = reached(value, spec)
    steps = record.get("train_steps") if ok else None
    val = validation_curve(Path(store_dir) / record["curve"], metric) if ok and record.get("curve") else None
    at_cap = ok and not solved and steps is not None and steps >= p.steps
    tail = _tail(val, steps) if val else None
    trend = stats.falling(tail["steps"], tail["loss"]) if at_cap and tail else None
    too_few = at_cap and (tail is None or len(tail["steps"]) < MIN_TREND_POINTS)
    return {"kind": p.kind, "task": p.task, "arm": p.arm.name, "family": p.arm.family, "hidden": p.arm.hidden,
            "lag": p.lag, "seed": p.seed, "lr": p.lr, "cap": p.steps, "key": p.cell.key, "metric": metric,
            "value": value, "target": spec, "solved": solved, "steps": steps, "at_cap": at_cap,
            "trend_p": trend, "still_improving": too_few or (trend is not None and trend < TREND_P),
            "final_val_loss": val["loss"][-1] if val and val["loss"] else None, "val_tail": tail,
            "params": record.get("encoder_params") if ok else None, "curve": record.get("curve") if record else None,
            "weights": record.get("weights") if ok else None,
            "status": "ok" if ok else (record.get("error") or record.get("reason") or record.get("status"))
            if record else "missing"}


def validation_curve(path: Path, metric: str) -> dict | None:
    """{"steps", "loss", "metric"} of a cell's validations (its metrics.csv)."""
    import pandas as pd

    if not path.exists():
        return None
    df = pd.read_csv(path)
    if "val/loss" not in df:
        return None
    df = df[["step", "val/loss", *([f"val/{metric}"] if f"val/{metric}" in df else [])]].dropna(subset=["val/loss"])
    return {"steps": [int(s) + 1 for s in df["step"]], "loss": [float(v) for v in df["val/loss"]],
            "metric": [float(v) for v in df.get(f"val/{metric}", [])]}


def _tail(val: dict, steps: int) -> dict:
    """The validations of the last TREND_TAIL of training."""
    start = (1 - TREND_TAIL) * steps
    keep = [i for i, s in enumerate(val["steps"]) if s > start]
    return {"steps": [val["steps"][i] for i in keep], "loss": [val["loss"][i] for i in keep]}


def _without_curve(km: dict) -> dict:
    return {k: v for k, v in km.items() if k != "curve"}


# --- statistics (pure: from the rows alone) -------------------------------------------------
def summarise(rows: list[dict], settings: dict) -> dict:
    """{task: {arm: {"lags": {lag: per-lag summary}, "span", "first_failure", "bound", "end",
    "per_seed", "span_per_seed"}}} of the grid rows (and their reruns)."""
    out = {}
    grid_rows = [r for r in rows if r["kind"] == "grid"]
    for task in dict.fromkeys(r["task"] for r in grid_rows):
        out[task] = {}
        for arm in dict.fromkeys(r["arm"] for r in grid_rows if r["task"] == task):
            mine = [r for r in grid_rows if r["task"] == task and r["arm"] == arm]
            again = [r for r in rows if r["kind"] == "rerun" and r["task"] == task and r["arm"] == arm]
            lags = sorted({r["lag"] for r in mine})
            per_lag = {lag: lag_summary([r for r in mine if r["lag"] == lag], [r for r in again if r["lag"] == lag])
                       for lag in lags}
            beyond_budget(per_lag)
            out[task][arm] = {"lags": {str(lag): v for lag, v in per_lag.items()}, **span(per_lag),
                              **seed_spans(mine, lags)}
            if AXIS.get(task) == "pairs":
                out[task][arm]["bits_recalled"] = bits_recalled(settings, task, out[task][arm]["span"],
                                                                mine[0]["family"], mine[0]["hidden"])
    return out


def lag_summary(rows: list[dict], reruns: list[dict]) -> dict:
    """Solved k of n (Wilson), censored, still improving, budget-limited and why, steps to solve."""
    ok = [r for r in rows if r["status"] == "ok"]
    k, n = sum(r["solved"] for r in rows), len(rows)
    censored = sum(not r["solved"] for r in ok)
    still = sum(r["still_improving"] for r in rows)
    km = stats.kaplan_meier([r["steps"] for r in ok], [r["solved"] for r in ok])
    rerun_solved = sum(r["solved"] for r in reruns)
    why = []
    if rerun_solved:
        why.append(f"{rerun_solved} of {len(reruns)} reruns at {reruns[0]['cap']} steps solved it")
    if n and still >= STILL_IMPROVING_SHARE * n:
        why.append(f"{still} of {n} cells still improving at the cap")
    return {"solved": k, "n": n, "wilson": stats.wilson(k, n), "is_solved": stats.is_solved(k, n),
            "censored": censored, "still_improving": still, "failed": n - len(ok),
            "budget_limited": bool(why), "budget_limited_why": "; ".join(why), "cap": rows[0]["cap"] if rows else None,
            "steps_to_solve": km, "value": stats.bounded_summary(r["value"] for r in rows),
            "rerun": {"seeds": [r["seed"] for r in reruns], "steps": reruns[0]["cap"] if reruns else None,
                      "solved": rerun_solved, "still_improving": sum(r["still_improving"] for r in reruns)}}


def beyond_budget(per_lag: dict[int, dict]) -> None:
    """A lag past an arm's first failing lag was not trained again at a larger budget: if more
    budget may rescue the shorter lag (it is budget-limited), a failure at a longer one is no
    evidence either, and is budget-limited too."""
    lags = sorted(per_lag)
    value = stats.largest_solved({lag: per_lag[lag]["is_solved"] for lag in lags})
    first = next((lag for lag in lags if lag > value), None)
    if first is None or not per_lag[first]["budget_limited"]:
        return
    for lag in lags:
        v = per_lag[lag]
        if lag > first and not v["is_solved"] and not v["budget_limited"]:
            v.update(budget_limited=True, budget_limited_why=f"beyond lag {first}, itself budget-limited")


def span(per_lag: dict[int, dict]) -> dict:
    """The span and what ends it: `end` is "failure" (the next lag is failed at a budget that does
    not limit it: the span is exact, below `bound`), "budget" (the next lag is budget-limited: the
    span is a lower bound) or "grid" (every lag solved: the span is at least the grid's last)."""
    lags = sorted(per_lag)
    value = stats.largest_solved({lag: per_lag[lag]["is_solved"] for lag in lags})
    first = next((lag for lag in lags if lag > value), None)
    if first is None:
        end = "grid"
    else:
        end = "budget" if per_lag[first]["budget_limited"] else "failure"
    return {"span": value, "first_failure": first, "bound": first if end == "failure" else None, "end": end}


def seed_spans(rows: list[dict], lags: list[int]) -> dict:
    flag = {(r["lag"], r["seed"]): r["solved"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    per_seed = [stats.largest_solved({lag: flag.get((lag, s), False) for lag in lags}) for s in seeds]
    return {"per_seed": per_seed, "span_per_seed": stats.bounded_summary(per_seed)}


# --- the probe: one training step of each arm at each lag, alone --------------------------
def step_times(settings: dict, profile: str, task: str, lags: list[int], repeats: int = 10) -> dict:
    """{arm: {lag: median seconds of one training step}} at the cells' batch size."""
    dev = device()
    out = {}
    for arm in arms(settings, task):
        out[arm.name] = {}
        for lag in lags:
            p = plan("probe", task, arm, lag, settings["seeds"][0], 1e-3, 1, settings, profile)
            out[arm.name][str(lag)] = one_step_time(p.cell, dev, repeats)
    return out


def one_step_time(cell: Cell, dev, repeats: int = 10) -> float:
    data, module = build_module(cell)
    module = module.to(dev).train()
    optimizer = torch.optim.Adam(module.parameters(), lr=cell.train.lr)
    batch = tuple(t.to(dev) for t in next(iter(data.train_dataloader())))

    def step():
        optimizer.zero_grad(set_to_none=True)
        module.step(batch)[0].backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), cell.train.grad_clip)
        optimizer.step()
    return time_call(step, 3, repeats, device_sync(dev)).median_s


def announce(settings, profile, tasks, times, store_dir) -> float:
    """Print the cells to train and a bound on their wall time from the probe (every cell to its
    cap; cells that solve stop sooner; reruns add at most RERUN_FACTOR x a lag's cap for
    RERUN_SEEDS seeds per arm). Returns the bound in seconds."""
    done = ResultsStore(store_dir).latest()
    parallel = settings.get("parallel", 1)
    parallel = available_cpus() if parallel == "auto" else max(1, int(parallel))  # auto's choice on an idle CPU
    total, bound, rerun_bound = 0, 0.0, 0.0
    for task, lags in tasks.items():
        spec = settings["tuning"]
        tl = int(spec["lag"][task])
        for arm in arms(settings, task):
            t = times[task][arm.name]
            n_tune = len(spec["lrs"]) * len(spec["seeds"])
            cells = [(tl, n_tune)] + [(lag, len(settings["seeds"])) for lag in lags]
            total += sum(n for _, n in cells)
            bound += sum(n * (cap(settings, task, lag) * _per_step(t[str(lag)], settings) + CELL_START_S)
                         for lag, n in cells)
            rerun_bound += max(RERUN_SEEDS * RERUN_FACTOR * cap(settings, task, lag) * _per_step(t[str(lag)], settings)
                               for lag in lags)
    n_done = sum(1 for r in done.values() if r.get("status") == "ok")
    rates = ", ".join(f"{min(v.values()) * 1e3:.2g}-{max(v.values()) * 1e3:.2g} ms ({a})"
                      for t in times.values() for a, v in t.items())
    minutes = bound / parallel / 60
    print(f"memory-span: probe, one training step: {rates}")
    print(f"memory-span: {total} cells to plan (tuning and grid; {n_done} records already in {store_dir}); "
          f"at most ~{minutes:.0f} min at {parallel} at a time if every cell ran to its cap, plus at most "
          f"~{rerun_bound / parallel / 60:.0f} min of reruns; cells that solve stop sooner")
    return bound / parallel


LOOP_OVERHEAD_S = 1e-3  # the Trainer's own cost per step on a 2-core CPU (smoke cells: 2.5 ms a step against a 1 ms probe)
CELL_START_S = 0.5      # building a cell's data, module and Trainer


def _per_step(probe: float, settings: dict) -> float:
    """A training step inside the Trainer, validation included: the probe's step, the loop's own
    cost, and val_batches forward passes (about a third of a step each) every val_every steps."""
    train = settings["train"]
    val = train.get("val_batches", 0) / max(1, train.get("val_every", 1)) / 3
    return (probe + LOOP_OVERHEAD_S) * (1 + val)
