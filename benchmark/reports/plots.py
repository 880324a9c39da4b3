"""Matplotlib figures of the measurements (Agg backend: files only, no display needed).

Each function takes a measurement's result dict (as written to its JSON) and a PNG path,
draws one figure with labelled axes, units and a legend, saves it and returns the path.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"rnn": "tab:blue", "lstm": "tab:orange", "gru": "tab:green"}


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _subtitle(result) -> str:
    return f"{result['profile']} profile; {result['device']}"


def memory_span(result: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    rows = result["rows"]
    for label in dict.fromkeys(r["model"] for r in rows):
        pts = [(r["delay"], r["recall_acc"]) for r in rows if r["model"] == label and r["recall_acc"] is not None]
        if not pts:
            continue
        family = next(r["family"] for r in rows if r["model"] == label)
        hidden = next(r["hidden"] for r in rows if r["model"] == label)
        ax.plot(*zip(*pts), marker="o", color=COLOURS.get(family), linestyle="--" if "matched" in label else "-",
                label=f"{label} (h={hidden})")
    delays = sorted({r["delay"] for r in rows})
    ax.axhline(rows[0]["memoryless_acc"], color="grey", linestyle=":", label="memoryless baseline (1/8)")
    ax.axhline(result["settings"]["solved_acc"], color="black", linewidth=0.8, label="solved threshold")
    ax.set_xscale("log")
    ax.set_xticks(delays, [str(d) for d in delays])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("copy delay T (time steps, log scale)")
    ax.set_ylabel("recall accuracy (fraction of symbols)")
    ax.set_title(f"Memory span on the copy task\n{_subtitle(result)}", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def gradient_flow(result: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    styles = {("init", "h"): "-", ("trained", "h"): "--", ("init", "c"): "-.", ("trained", "c"): ":"}
    for curve in result["curves"]:
        ratios = [(k, r) for k, r in enumerate(curve["ratios"]) if r > 0]
        if ratios:
            name = "C" if curve["state"] == "c" else "h"
            ax.plot(*zip(*ratios), color=COLOURS.get(curve["family"]), linestyle=styles[(curve["stage"], curve["state"])],
                    label=f"{curve['family']} dL/d{name}, {curve['stage']}")
    for t in (1e-2, 1e-4):
        ax.axhline(t, color="grey", linewidth=0.6, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("lag k (time steps back from T)")
    ax.set_ylabel("||dL/ds_{T-k}|| / ||dL/ds_T||  (log scale)")
    ax.set_title(f"Gradient flow through time (copy task)\n{_subtitle(result)}", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def spectral_sweep(result: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sweep = result["spectral_sweep"]
    cmap = plt.get_cmap("coolwarm")
    radii = [r["radius"] for r in sweep]
    lo, hi = min(radii), max(radii)
    for row in sweep:
        pts = [(k, r) for k, r in enumerate(row["ratios"]) if r > 0]
        if pts:
            ax.plot(*zip(*pts), color=cmap((row["radius"] - lo) / ((hi - lo) or 1)),
                    label=f"rho={row['radius']:g} (x{row['decay_per_step']:.3g}/step)" if row["decay_per_step"]
                    else f"rho={row['radius']:g}")
    ax.set_yscale("log")
    ax.set_xlabel("lag k (time steps)")
    ax.set_ylabel("||dL/dh_{T-k}|| / ||dL/dh_T||  (log scale)")
    ax.set_title(f"Vanilla RNN at init, W_hh spectral radius rho\n{_subtitle(result)}", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def speed(result: dict, path) -> Path:
    rows = [r for r in result["rows"] if r["status"] == "ok"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    seq_max = max(r["seq"] for r in rows)
    hidden_max = max(r["hidden"] for r in rows)
    dashes = {"cudnn": "-", "scratch": "--", "compile": ":"}
    for (family, backend) in dict.fromkeys((r["family"], r["backend"]) for r in rows):
        mine = [r for r in rows if r["family"] == family and r["backend"] == backend]
        by_h = sorted((r["hidden"], r["train_tokens_per_s"]) for r in mine if r["seq"] == seq_max)
        by_t = sorted((r["seq"], r["train_tokens_per_s"]) for r in mine if r["hidden"] == hidden_max)
        kw = dict(color=COLOURS.get(family), linestyle=dashes.get(backend, "-"), marker="o", label=f"{family} {backend}")
        if by_h:
            left.plot(*zip(*by_h), **kw)
        if by_t:
            right.plot(*zip(*by_t), **kw)
    for ax, what, ticks in ((left, f"hidden size (units), seq {seq_max}", sorted({r["hidden"] for r in rows})),
                            (right, f"sequence length (steps), hidden {hidden_max}", sorted({r["seq"] for r in rows}))):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_yscale("log")
        ax.set_xlabel(what)
        ax.set_ylabel("training throughput (tokens/s, fwd+bwd)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Training throughput, batch {rows[0]['batch']}\n{_subtitle(result)}", fontsize=9)
    return _save(fig, path)


def parameters(result: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for family in dict.fromkeys(r["family"] for r in result["rows"]):
        rows = [r for r in result["rows"] if r["family"] == family]
        ax.plot([r["hidden"] for r in rows], [r["measured_cudnn"] for r in rows], marker="o",
                color=COLOURS.get(family), label=f"{family} measured")
        ax.plot([r["hidden"] for r in rows], [r["closed_form"] for r in rows], linestyle=":", color="black",
                linewidth=0.8, label="closed form G(h(h+x)+2h)" if family == "rnn" else None)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("hidden size h (units)")
    ax.set_ylabel("parameters (count, one layer)")
    ax.set_title(f"Parameters vs hidden size (input x={result['rows'][0]['input_size']})\n{_subtitle(result)}", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


# measurement NAME -> its figures: (function, file name) in the measurement's folder
FIGURES = {
    "parameters": ((parameters, "parameters.png"),),
    "memory_span": ((memory_span, "memory_span.png"),),
    "gradient_flow": ((gradient_flow, "gradient_flow.png"), (spectral_sweep, "spectral_radius.png")),
    "speed": ((speed, "speed.png"),),
}


def draw(result: dict, folder) -> list[Path]:
    """Every figure of one measurement's result, saved in `folder`."""
    return [figure(result, Path(folder) / name) for figure, name in FIGURES[result["name"]]]
