"""Matplotlib figures of the measurements (Agg backend: files only, no display needed).

Each function takes a measurement's result dict (as written to its JSON) and a PNG path,
draws one figure with labelled axes, units and a legend, saves it and returns the path.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmark import families  # noqa: E402
from benchmark.config import parse_stop_at  # noqa: E402
from benchmark.measurements.settings import AXIS  # noqa: E402

COLOURS = {name: spec.colour for name, spec in families.families().items() if spec.colour}  # each family's own
# An arm widened to the LSTM's parameter count, or initialised otherwise, is another model: a colour of its own.
ARM_COLOURS = {**COLOURS, "rnn-matched": "tab:purple", "lstm-chrono": "tab:red", "gru-matched": "tab:olive",
               "lstm-matched": "tab:brown"}
RATIO = r"$\Vert\partial L/\partial x_{T-k}\Vert \,/\, \Vert\partial L/\partial x_T\Vert$"  # mathtext, not TeX source


def colour(label: str) -> str | None:
    """A model's colour from its label ("rnn", "lstm-chrono", "rnn-matched", ...)."""
    return ARM_COLOURS.get(label) or COLOURS.get(label.split("-")[0])


def style(label: str) -> str:
    return "--" if "matched" in label else ":" if "chrono" in label else "-"


def _legend_below(ax, ncol=2) -> None:
    """The axes' legend under it, where it hides no line (the figure's constrained layout makes room)."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, frameon=False)


def save(fig, path) -> Path:
    path = Path(path)
    try:  # an OSError (read-only, no space, a file where the folder goes) propagates naming its path
        path.parent.mkdir(parents=True, exist_ok=True)
        if fig.get_layout_engine() is None:  # a figure with constrained layout (a legend outside) lays itself out
            fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


def _subtitle(result) -> str:
    return f"{result['profile']} profile; {result['device']}"


def _geo(values) -> float | None:
    """Geometric mean of positive ratios (the mean of their logs, as the verdicts use)."""
    logs = [math.log10(max(v, 1e-300)) for v in values if v is not None and math.isfinite(v)]
    return 10 ** (sum(logs) / len(logs)) if logs else None


def memory_span(result: dict, path) -> Path:
    """Per task, the share of seeds that solved each lag (Wilson 95% interval), per arm; a lag
    marked x is budget-limited (it can neither confirm nor refute)."""
    tasks = list(result["spans"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.0 * len(tasks), 5.0), squeeze=False, layout="constrained")
    share = result.get("rules", {}).get("solved_share", 0.8)
    for ax, task in zip(axes[0], tasks):
        arms = result["spans"][task]
        for i, (arm, spans) in enumerate(arms.items()):
            lags = sorted(int(k) for k in spans["lags"])
            pts = [spans["lags"][str(k)] for k in lags]
            frac = [p["solved"] / p["n"] if p["n"] else 0 for p in pts]
            err = [[f - p["wilson"][0] for f, p in zip(frac, pts)], [p["wilson"][1] - f for f, p in zip(frac, pts)]]
            offset = [k * (1 + 0.03 * (i - len(arms) / 2)) for k in lags]  # keep error bars apart
            ax.errorbar(offset, frac, yerr=err, marker="o", capsize=3, color=colour(arm), linestyle=style(arm),
                        label=f"{arm}: span {spans['span']}" + {"budget": "+ (budget-limited)", "grid": "+"}.get(spans["end"], ""))
            limited = [(o, f) for o, f, p in zip(offset, frac, pts) if p["budget_limited"]]
            if limited:
                ax.scatter(*zip(*limited), marker="x", s=80, color=colour(arm), zorder=3)
        ax.axhline(share, color="black", linewidth=0.8, linestyle=":", label=f"solved: {share:.0%} of seeds")
        ax.set_xscale("log")
        ticks = sorted({int(k) for spans in arms.values() for k in spans["lags"]})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylim(-0.05, 1.05)
        what = "key-value pairs held at once" if AXIS.get(task) == "pairs" else "lag (time steps held)"
        ax.set_xlabel(f"{what}, log scale; x: budget-limited")
        ax.set_ylabel(f"share of seeds at {result['settings']['solved'][task]} (Wilson 95%)")
        caps = result["settings"]["caps"].get(task, {})
        ax.set_title(f"{task}: caps " + ", ".join(f"{k}: {v}" for k, v in caps.items()) + " steps", fontsize=8)
        _legend_below(ax, ncol=2)
    fig.suptitle(f"Memory span per arm (each at its tuned learning rate)\n{_subtitle(result)}", fontsize=9)
    return save(fig, path)


def steps_to_solve(result: dict, path) -> Path:
    """Kaplan-Meier: the share of seeds solved by each training step, one panel per task and lag,
    one line per arm; a seed that never solved is censored at its last step (a tick)."""
    from benchmark.measurements import stats

    panels = [(t, int(lag)) for t, arms in result["spans"].items() for lag in next(iter(arms.values()))["lags"]]
    cols = min(5, len(panels))
    rows_n = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.2 * cols + 1.8, 2.7 * rows_n + 0.5), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (task, lag) in zip(axes.flat, panels):
        for arm in result["spans"][task]:
            mine = [r for r in result["rows"] if r["kind"] == "grid" and r["task"] == task and r["arm"] == arm
                    and r["lag"] == lag and r["status"] == "ok"]
            km = stats.kaplan_meier([r["steps"] for r in mine], [r["solved"] for r in mine])
            steps, frac = km["curve"]
            if not steps:
                continue
            ax.step([0, *steps], [0, *frac], where="post", color=colour(arm), linestyle=style(arm), linewidth=1.1,
                    label=arm)
            censored = [r["steps"] for r in mine if not r["solved"]]
            if censored:
                at = [next((f for s, f in zip(reversed(steps), reversed(frac)) if s <= c), 0) for c in censored]
                ax.plot(censored, at, "|", color=colour(arm), markersize=8)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"{task}, {AXIS.get(task, 'lag')} {lag}", fontsize=8)
        ax.set_xlabel("training step", fontsize=7)
        ax.set_ylabel("share of seeds solved", fontsize=7)
        ax.tick_params(labelsize=6)
    figure_legend(fig, axes.flat, fontsize=7)
    fig.suptitle(f"Steps to solve (Kaplan-Meier; |: censored at the cap)\n{_subtitle(result)}", fontsize=9)
    return save(fig, path)


def read_curve(file: Path | None):
    """A cell's metrics.csv (what it logged over steps) as a frame, or None: none recorded, gone,
    or unreadable, which is said on stderr (a curve cut short by a kill): the report goes on."""
    import pandas as pd

    if file is None or not file.is_file():
        return None
    try:
        return pd.read_csv(file)
    except (OSError, ValueError) as e:
        print(f"warning: {file}: {getattr(e, 'strerror', None) or e}; its learning curve is left out", file=sys.stderr)
        return None


def _curve(file: Path, metric: str):
    df = read_curve(file)
    return df[["step", metric]].dropna() if df is not None and metric in df else None


def learning_curves(result: dict, path) -> Path:
    """Validation metric against training step for every memory cell: one panel per task and
    lag, one colour per arm, one line per seed; cells stop once they reach the target."""
    store = Path(path).parent / "cells"  # the measurement folder's cells (as run() writes them), wherever it moved
    grid = [r for r in result["rows"] if r["kind"] == "grid"]
    order = list(result["spans"])
    panels = sorted({(r["task"], r["lag"]) for r in grid}, key=lambda p: (order.index(p[0]), p[1]))
    cols = min(5, len(panels))
    rows_n = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.2 * cols + 1.8, 2.6 * rows_n + 0.4), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    first_seed = min(r["seed"] for r in grid) if grid else 0
    for ax, (task, lag) in zip(axes.flat, panels):
        metric = None
        for r in (r for r in grid if r["task"] == task and r["lag"] == lag and r.get("curve")):
            metric = f"val/{r['metric']}"
            df = _curve(store / r["curve"], metric)
            if df is None:
                continue
            ax.plot(df["step"], df[metric], color=colour(r["arm"]), linewidth=0.7, linestyle=style(r["arm"]),
                    label=r["arm"] if r["seed"] == first_seed else None)
        target = parse_stop_at(result["settings"]["solved"].get(task, ""))  # ("recall_acc", ">=", 0.99)
        if target is not None:
            ax.axhline(target[2], color="black", linewidth=0.8, linestyle=":",
                       label=f"target {result['settings']['solved'][task]}")
        ax.set_title(f"{task}, {AXIS.get(task, 'lag')} {lag}", fontsize=8)
        ax.set_xlabel("training step", fontsize=7)
        ax.set_ylabel(metric or "validation metric", fontsize=7)
        ax.tick_params(labelsize=6)
    figure_legend(fig, axes.flat, fontsize=7)
    fig.suptitle(f"Learning curves of the memory cells (one line per seed)\n{_subtitle(result)}", fontsize=9)
    return save(fig, path)


def tuning_curves(result: dict, path) -> Path:
    """The tuning cells: validation metric against step, one panel per arm, one colour per rate."""
    store = Path(path).parent / "cells"
    table = result.get("tuning") or []
    arms = list(dict.fromkeys((r["task"], r["arm"]) for r in table))
    cols = min(3, max(1, len(arms)))
    rows_n = max(1, math.ceil(len(arms) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.6 * cols + 1.8, 2.7 * rows_n + 0.5), squeeze=False,
                             layout="constrained", sharey=True)
    for ax in axes.flat[len(arms):]:
        ax.axis("off")
    rates = sorted({r["lr"] for r in table})
    cmap = plt.get_cmap("viridis")
    for ax, (task, arm) in zip(axes.flat, arms):
        metric = f"val/{parse_stop_at(result['settings']['solved'][task])[0]}"
        for r in (r for r in table if r["task"] == task and r["arm"] == arm):
            c = cmap(0.9 * rates.index(r["lr"]) / max(1, len(rates) - 1))
            for i, curve in enumerate(c_ for c_ in r["curves"] if c_):
                df = _curve(store / curve, metric)
                if df is not None:
                    ax.plot(df["step"], df[metric], color=c, linewidth=1.6 if r["chosen"] else 0.7,
                            label=f"lr {r['lr']:g}" + (" (chosen)" if r["chosen"] else "") if i == 0 else None)
        ax.set_title(f"{arm} ({task}, lag {table[0]['lag']})", fontsize=8)
        ax.set_xlabel("training step", fontsize=7)
        ax.set_ylabel(metric, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
    fig.suptitle(f"Learning-rate tuning: every arm, every rate, the same steps (thick: chosen)\n{_subtitle(result)}",
                 fontsize=9)
    return save(fig, path)


def figure_legend(fig, axes, **kw) -> None:
    """One legend for the figure, outside the axes on the right (it hides no line), each label once
    (panels repeat them; a panel may lack some)."""
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside right upper", **kw)


STAGE_NAME = {"init": "at initialisation", "trained": "trained, solved (memory-span cells)"}


def gradient_flow(result: dict, path) -> Path:
    """Input-gradient ratios against lag, one panel per init (and one for the trained models that
    solved their lag): geometric mean over seeds, the band spanning them."""
    panels = list(dict.fromkeys((c["stage"], c["init"]) for c in result["curves"]))
    cols = min(3, len(panels))  # rows of three: a row of six shrinks every panel to a stamp in the report
    rows_n = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.8 * cols + 1.8, 3.2 * rows_n + 0.6), squeeze=False, sharey=True,
                             layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (stage, init) in zip(axes.flat, panels):
        mine = [c for c in result["curves"] if c["stage"] == stage and c["init"] == init and c.get("solved", True)]
        for arm in dict.fromkeys(c["arm"] for c in mine):
            seeds = [c["ratios"] for c in mine if c["arm"] == arm]
            n = min(len(r) for r in seeds)
            lags = list(range(1, n))
            per_lag = [[max(r[k], 1e-300) for r in seeds if math.isfinite(r[k])] for k in lags]
            ax.plot(lags, [_geo(v) for v in per_lag], color=colour(arm), linestyle=style(arm), label=arm)
            if len(seeds) > 1:
                ax.fill_between(lags, [min(v) for v in per_lag], [max(v) for v in per_lag], color=colour(arm),
                                alpha=0.12, linewidth=0)
        ax.axhline(1e-2, color="grey", linewidth=0.8, linestyle=":", label="ratio 1e-2: gradient lost")
        ax.set_yscale("log")
        ax.set_ylim(1e-12, 1e3)
        ax.set_xlabel("lag k (steps back from the recall step)")
        ax.set_title(f"{STAGE_NAME.get(stage, stage)}" + ("" if init == "own" else f", init {init}"), fontsize=9)
    for row in axes:
        row[0].set_ylabel("input-gradient ratio " + RATIO)
    figure_legend(fig, axes.flat, fontsize=8)  # one legend for every panel: a panel's own legend hid its lines
    fig.suptitle(f"Gradient flow through time per arm (lag recall; band: seeds' range)\n{_subtitle(result)}", fontsize=9)
    return save(fig, path)


def spectral_sweep(result: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    sweep = result["spectral_sweep"]
    cmap = plt.get_cmap("viridis")  # no near-white middle (coolwarm's hid rho=1 on the white background)
    radii = sorted({r["radius"] for r in sweep})
    lo, hi = min(radii), max(radii)
    for rho in radii:
        rows = [r for r in sweep if r["radius"] == rho]
        lags = sorted(int(k) for k in rows[0]["ratio_at"])
        ax.plot(lags, [_geo([r["ratio_at"][str(k)] for r in rows]) for k in lags], marker="o",
                color=cmap(0.9 * (rho - lo) / ((hi - lo) or 1)), label=rf"$\rho$={rho:g}")  # 0.9: yellow is unreadable
    ax.axhline(1e-2, color="grey", linewidth=0.8, linestyle=":", label="ratio 1e-2: gradient lost")
    ax.set_yscale("log")
    ax.set_xlabel("lag k (time steps)")
    ax.set_ylabel(RATIO + " (geometric mean over seeds)")
    ax.set_title("Vanilla RNN at init, " + r"$W_{hh}$ spectral radius $\rho$" + f"\n{_subtitle(result)}", fontsize=9)
    fig.legend(fontsize=7, loc="outside right upper")
    return save(fig, path)


def speed(result: dict, path) -> Path:
    """Left: training throughput against hidden size (mean over seeds). Right: time per batch
    relative to the RNN with its paired 95% interval, the thresholds of the verdict drawn in."""
    from benchmark.measurements import stats

    rows = [r for r in result["rows"] if r["status"] == "ok"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 5.0), layout="constrained")
    seq_max = max(r["seq"] for r in rows)
    dashes = {"cudnn": "-", "scratch": "--", "compile": ":"}
    hiddens = sorted({r["hidden"] for r in rows})
    for (family, backend) in dict.fromkeys((r["family"], r["backend"]) for r in rows):
        mine = [r for r in rows if r["family"] == family and r["backend"] == backend and r["seq"] == seq_max]
        kw = dict(color=colour(family), linestyle=dashes.get(backend, "-"), marker="o", label=f"{family} {backend}")
        tps = [stats.summary(r["train_tokens_per_s"] for r in mine if r["hidden"] == h)["mean"] for h in hiddens]
        left.plot(*zip(*[(h, t) for h, t in zip(hiddens, tps) if t]), **kw)
        if family != "rnn" and all("train_time_vs_rnn" in r for r in mine):
            pts = [(h, stats.summary(r["train_time_vs_rnn"] for r in mine if r["hidden"] == h)) for h in hiddens]
            pts = [(h, s) for h, s in pts if s["mean"] is not None]
            lo = [s["mean"] - (s["ci95"][0] if math.isfinite(s["ci95"][0]) else s["mean"]) for _, s in pts]
            hi = [(s["ci95"][1] if math.isfinite(s["ci95"][1]) else s["mean"]) - s["mean"] for _, s in pts]
            right.errorbar([h for h, _ in pts], [s["mean"] for _, s in pts], yerr=[lo, hi], capsize=3, **kw)
    right.axhline(1.0, color="black", linewidth=0.8, label="1x (as fast as the RNN)")
    right.axhline(4.0, color="grey", linewidth=0.8, linestyle=":", label="4x (the parameter ratio)")
    for ax, ylabel in ((left, "training throughput (tokens/s, fwd+bwd)"),
                       (right, "time per batch / RNN's (paired 95% CI)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(hiddens, [str(t) for t in hiddens])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel(f"hidden size (units), sequence {seq_max}")
        ax.set_ylabel(ylabel)
        _legend_below(ax, ncol=2)
    left.set_yscale("log")
    fig.suptitle(f"Training speed, batch {rows[0]['batch']}, {len({r['seed'] for r in rows})} seeds\n{_subtitle(result)}",
                 fontsize=9)
    return save(fig, path)


def parameters(result: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for family in dict.fromkeys(r["family"] for r in result["rows"]):
        rows = [r for r in result["rows"] if r["family"] == family]
        ax.plot([r["hidden"] for r in rows], [r["measured_cudnn"] for r in rows], marker="o",
                color=colour(family), label=f"{family} measured")
        ax.plot([r["hidden"] for r in rows], [r["closed_form"] for r in rows], linestyle=":", color="black",
                linewidth=0.8, label="closed forms (G(h(h+x)+2h); G(hx+h) without W_hh)" if family == "rnn" else None)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("hidden size h (units)")
    ax.set_ylabel("parameters (count, one layer)")
    ax.set_title(f"Parameters vs hidden size (input x={result['rows'][0]['input_size']})\n{_subtitle(result)}", fontsize=9)
    ax.legend(fontsize=7)
    return save(fig, path)


# measurement NAME -> its figures: (function, file name) in the measurement's folder
FIGURES = {
    "parameters": ((parameters, "parameters.png"),),
    "memory_span": ((memory_span, "memory_span.png"), (steps_to_solve, "steps_to_solve.png"),
                    (learning_curves, "learning_curves.png"), (tuning_curves, "tuning_curves.png")),
    "gradient_flow": ((gradient_flow, "gradient_flow.png"), (spectral_sweep, "spectral_radius.png")),
    "speed": ((speed, "speed.png"),),
}


def draw(result: dict, folder) -> list[Path]:
    """Every figure of one measurement's result, saved in `folder`."""
    return [figure(result, Path(folder) / name) for figure, name in FIGURES[result["name"]]]
