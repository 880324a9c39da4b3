"""Matplotlib figures of a matrix run (`run`'s results.jsonl): learning curves per task, speed and memory per model.

Cells of one task may differ in more than the model (a second `run` with `--set copy.delay=40`
adds a group beside the first): each line or bar is labelled by the variant plus the settings
that differ within its task, and every label keeps one colour in every figure. Legends sit
outside the axes, so they never hide a line.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import matplotlib.ticker

from benchmark.engine.records import CellRecord
from benchmark.reports.plots import COLOURS, figure_legend, plt, read_curve, save  # pyplot as plots set it up: Agg, files only
from benchmark.reports.render import number
from benchmark.reports.tables import flat_settings, group_of  # the groups and settings the tables show

# Beyond the three families: bidirectional variants and second settings of one variant.
SPARE = ["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:red", "tab:gray",
         "#17becf", "#8c564b", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173"]
IGNORED = {"profile", "model.variant", "model.backend"}  # named by the label itself, or constant


def labels(records: list[CellRecord]) -> dict[str, str]:
    """group (`tables.group_of`) -> "variant[ backend][ key=value ...]". A setting that differs between the groups of a
    task is named where the group leaves the task's usual value, or where its variant has two values
    of it (so "rnn delay=10" and "rnn delay=40" beside a plain "lstm" at delay 10)."""
    by_task = defaultdict(dict)
    for r in records:
        by_task[r["task"]].setdefault(group_of(r), r)
    out = {}
    for firsts in by_task.values():
        flat = {g: flat_settings(r) for g, r in firsts.items()}
        keys = sorted({k for f in flat.values() for k in f} - IGNORED)
        usual = {k: Counter(repr(f.get(k)) for f in flat.values()).most_common(1)[0][0] for k in keys}
        differing = [k for k in keys if len({repr(f.get(k)) for f in flat.values()}) > 1]
        backends = {r["backend"] for r in firsts.values()}
        for g, r in firsts.items():
            kin = [flat[o] for o, other in firsts.items() if other["model"] == r["model"]]
            shown = [k for k in differing
                     if repr(flat[g].get(k)) != usual[k] or len({repr(f.get(k)) for f in kin}) > 1]
            parts = [r["model"]] + ([r["backend"]] if len(backends) > 1 else [])
            out[g] = " ".join(parts + [f"{k.rsplit('.', 1)[-1]}={flat[g].get(k)}" for k in shown])
    return out


def colours(names: dict[str, str], records: list[CellRecord]) -> dict[tuple[str, str], str]:
    """(task, label) -> colour. Within a task, a family's first label gets its colour (benchmark/families)
    and any further label of it (bidirectional, another setting) a spare colour, the same in every figure."""
    variant = {names[group_of(r)]: r.get("family") or r["model"] for r in records}
    by_task = defaultdict(set)
    for r in records:
        by_task[r["task"]].add(names[group_of(r)])
    extra = {}
    out = {}
    for task, task_names in sorted(by_task.items()):
        taken = set()
        for name in sorted(task_names):
            base = COLOURS.get(variant[name])
            if base is None or base in taken:
                base = extra.setdefault(name, SPARE[len(extra) % len(SPARE)])
            taken.add(base)
            out[(task, name)] = base
    return out


def _curve(run_dir: Path, record: CellRecord):
    """The cell's metrics.csv, or None (`read_curve`)."""
    curve = record.get("curve")
    return read_curve(run_dir / curve if isinstance(curve, str) and curve else None)


def _val_metric(columns) -> str | None:
    """The task's validation metric: the first val/ column that is not the loss, else the loss."""
    vals = [c for c in columns if c.startswith("val/")]
    return next((c for c in vals if c != "val/loss"), vals[0] if vals else None)


def learning_curves(records: list[CellRecord], run_dir, task: str, path, names, palette) -> Path | None:
    """Train loss (left) and the validation metric (right) against step, one line per cell.
    Returns None when no cell of the task left a curve (failed, skipped, or written before curves)."""
    run_dir = Path(run_dir)
    curves = [(r, _curve(run_dir, r)) for r in records if r["task"] == task and r["status"] == "ok"]
    curves = [(r, df) for r, df in curves if df is not None and "step" in df]
    if not curves:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained", sharex=True)  # one step axis
    metric = _val_metric(curves[0][1].columns)
    first_seed, val_points = {}, []
    positive = True
    for r, df in curves:
        name = names[group_of(r)]
        label = name if first_seed.setdefault(name, r["seed"]) == r["seed"] else None  # one legend entry per group
        style = dict(color=palette[(task, name)], linewidth=1.2, label=label)
        if "train/loss" in df:
            loss = df[["step", "train/loss"]].dropna()
            left.plot(loss["step"], loss["train/loss"], **style)
            positive = positive and bool((loss["train/loss"] > 0).all())
        if metric in df:
            val = df[["step", metric]].dropna()
            right.plot(val["step"], val[metric], marker="o", markersize=4, **style)  # marker: a run may validate once
            val_points.append(len(val))
    _baselines(right, [r for r, _ in curves], metric)
    losses = [line.get_ydata() for line in left.get_lines() if len(line.get_ydata())]
    spread = max(max(y) for y in losses) / max(min(min(y) for y in losses), 1e-12) if losses else 1
    if positive and spread > 20:  # a loss falling by orders of magnitude reads only on a log axis
        left.set_yscale("log")
    left.set_title("training loss", fontsize=9)
    left.set_ylabel("train/loss" + (" (log scale)" if left.get_yscale() == "log" else ""))
    once = val_points and max(val_points) == 1
    right.set_title(f"validation: {metric}" + (" (validated once, at the end)" if once else ""), fontsize=9)
    right.set_ylabel(metric or "validation metric")
    for ax in (left, right):
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    figure_legend(fig, (left, right), fontsize=8, title="model")  # a cell may have logged only one of the two
    seeds = len({r["seed"] for r, _ in curves})
    fig.suptitle(f"{task}: learning curves ({len(curves)} cells" + (f", one line per seed of {seeds})" if seeds > 1 else ")"),
                 fontsize=10)
    return save(fig, path)


def _baselines(ax, records: list[CellRecord], metric: str | None) -> None:
    """The task's baselines (memoryless, predict the mean, ...) as labelled dotted lines: what chance scores."""
    if not metric:
        return
    seen = {}
    for r in records:
        for name, values in (r.get("baselines") or {}).items():
            value = values.get(metric.partition("/")[2])
            if isinstance(value, (int, float)) and not name.startswith("ref: "):
                seen.setdefault(name, value)
    for (name, value), style in zip(seen.items(), (":", "-.", "--")):
        ax.axhline(value, color="black", linewidth=0.9, linestyle=style, label=f"baseline: {name} ({value:.3g})")


def _bars(records, names, palette, value, xlabel, title, path, mark_busy=False, statistic="mean") -> Path | None:
    """One horizontal bar per task and labelled group (the mean over its seeds, or with
    statistic="max" the largest, as the tables show peak memory), tasks apart."""
    groups, busy = defaultdict(list), set()
    for r in records:
        if r["status"] == "ok" and value(r) is not None:
            groups[(r["task"], names[group_of(r)])].append(value(r))
            if mark_busy and r.get("contended"):
                busy.add((r["task"], names[group_of(r)]))
    if not groups:
        return None
    keys = sorted(groups)
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.38 * len(keys)), layout="constrained")
    if statistic == "max":  # the bar is the largest seed's: no error bar around it
        means, spread = [max(groups[k]) for k in keys], [0] * len(keys)
    else:
        means = [sum(groups[k]) / len(groups[k]) for k in keys]
        spread = [(max(groups[k]) - min(groups[k])) / 2 if len(groups[k]) > 1 else 0 for k in keys]
    ys = list(range(len(keys)))[::-1]
    ax.barh(ys, means, xerr=spread if any(spread) else None, color=[palette[k] for k in keys], capsize=3)
    ax.set_yticks(ys, [f"{task}: {name}" + (" (busy)" if (task, name) in busy else "") for task, name in keys])
    for y, m in zip(ys, means):
        ax.annotate(number(m), (m, y), xytext=(4, 0), textcoords="offset points",  # as the tables print it
                    va="center", fontsize=8)
    ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}" if max(means) >= 1000 else "{x:g}"))
    ax.set_xlim(0, max(means) * 1.15 or 1)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save(fig, path)


def speed(records, names, palette, path) -> Path | None:
    busy = any(r.get("contended") for r in records if r["status"] == "ok")
    return _bars(records, names, palette, lambda r: r.get("train_tokens_per_s"),
                 "training throughput (tokens/s, steady state, validation excluded; mean over seeds)",
                 "Training speed per model" + ("\n(busy): measured while other work took the CPU, not this "
                                               "machine's speed" if busy else ""), path, mark_busy=True)


def memory(records, names, palette, path) -> Path | None:
    kinds = {r.get("peak_mem_kind") for r in records if r["status"] == "ok" and r.get("peak_mem_bytes") is not None}
    what = {"cuda_max_allocated": "torch max allocated on the GPU", "cpu_rss_peak": "the process's peak resident set",
            "cpu_rss_growth": "growth of the process's resident set"}
    return _bars(records, names, palette,
                 lambda r: r["peak_mem_bytes"] / 2**20 if r.get("peak_mem_bytes") is not None else None,
                 "peak memory (MiB, max over seeds; " + ", ".join(what.get(k, str(k)) for k in sorted(kinds, key=str))
                 + ")", "Peak memory per model", path, statistic="max")


def length_curves(records: list[CellRecord], task: str, path, names, palette) -> Path | None:
    """Accuracy at each unseen length (the records' length_generalisation), one line per model:
    the mean over its seeds, their range shaded; the training lengths' end and chance marked.
    None when no cell of the task scored lengths."""
    groups = defaultdict(list)
    for r in records:
        if r["task"] == task and r["status"] == "ok" and r.get("length_generalisation"):
            groups[group_of(r)].append({int(k): v for k, v in r["length_generalisation"].items()})
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    for group, runs in sorted(groups.items(), key=lambda g: names[g[0]]):
        lengths = sorted(set.intersection(*(set(run) for run in runs)))
        values = [[run[n] for run in runs] for n in lengths]
        colour = palette[(task, names[group])]
        ax.plot(lengths, [sum(v) / len(v) for v in values], color=colour, linewidth=1.2,
                label=f"{names[group]} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
        if len(runs) > 1:
            ax.fill_between(lengths, [min(v) for v in values], [max(v) for v in values], color=colour, alpha=0.2)
    trained = [r for r in records if r["task"] == task and r.get("length_generalisation")]
    edge = (trained[0].get("config", {}).get("settings") or {}).get("max_train_length")
    if edge:
        ax.axvline(edge, color="grey", linewidth=0.8, linestyle="--", label=f"longest training length ({edge})")
    _baselines(ax, trained, "test/acc")
    ax.set_xlabel("sequence length (every one longer than any seen in training)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    figure_legend(fig, [ax], fontsize=8, title="model")
    ax.set_title(f"{task}: length generalisation (mean over seeds, range shaded)", fontsize=10)
    return save(fig, path)


def draw(records: list[CellRecord], run_dir, folder) -> dict[str, list[Path]]:
    """Every figure of a matrix run, saved in `folder`: {"curves": [...per task], "lengths": [...per
    task that scored unseen lengths], "speed": [...], "memory": [...]}."""
    folder = Path(folder)
    names = labels(records)
    palette = colours(names, records)
    tasks = sorted({r["task"] for r in records})
    curves = [learning_curves(records, run_dir, t, folder / f"curves-{t}.png", names, palette) for t in tasks]
    lengths = [length_curves(records, t, folder / f"lengths-{t}.png", names, palette) for t in tasks]
    out = {"curves": [p for p in curves if p is not None], "lengths": [p for p in lengths if p is not None],
           "speed": [p for p in [speed(records, names, palette, folder / "speed.png")] if p],
           "memory": [p for p in [memory(records, names, palette, folder / "memory.png")] if p]}
    return out
