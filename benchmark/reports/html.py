"""A self-contained static HTML report of a run folder: readable offline, nothing loaded over a network.

Plots are redrawn from each measurement's JSON (so the PNGs on disk match the data), then
embedded as base64 data URIs; tables are inline HTML; the stylesheet is inline.
"""
from __future__ import annotations

import base64
import csv
import html
from pathlib import Path

from benchmark.measurements import MEASUREMENTS, results
from benchmark.reports import papers, plots, rnn_vs_lstm

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}th,td{border:1px solid #bbb;padding:4px 6px;
vertical-align:top}th{background:#eee}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
.confirmed,.reproduced{background:#dfd}.not-reproduced{background:#fdd}.not-run{background:#eee}.refined{background:#ffd}.refuted{background:#fdd}.inconclusive{background:#eef}
details{margin:0.5em 0}"""
TITLES = {"parameters": "Parameters", "memory_span": "Memory span (lag recall, copy, adding)", "gradient_flow": "Gradient flow",
          "speed": "Speed and memory"}


def redraw_plots(run_dir: Path) -> list[Path]:
    pngs = []
    for name in MEASUREMENTS.values():  # a measurement's module, folder and file names are one name
        result = results.read(run_dir / name, name)
        if result is not None:
            pngs += plots.draw(result, run_dir / name)
    return pngs


def table_html(header: list[str], rows: list[list], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def image_html(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(path.name)}</figcaption></figure>'


def csv_html(path: Path) -> str:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return table_html(rows[0], rows[1:]) if rows else ""


def write_report(run_dir) -> Path:
    run_dir = Path(run_dir)
    redraw_plots(run_dir)  # from the JSON results, so a report always matches them
    parts = [f"<h1>rnnbench: RNN vs LSTM vs GRU measurements</h1><p>Run folder: {html.escape(str(run_dir))}</p>"]
    note = run_dir / "RUN.md"
    if note.exists():
        parts.append(f"<h2>How this was produced</h2><pre>{html.escape(note.read_text())}</pre>")
    published = papers.load(run_dir)
    if published:
        header = ["paper", "task", "model", "metric", "split", "published", "ours", "ci95", "seeds", "rel_diff",
                  "verdict", "evidence", "settings", "device"]
        parts.append("<h2>Published results under their own protocols</h2><p>Ours: mean and 95% t-interval over "
                     "seeds of the runs in this folder (results.jsonl) under each paper's preset; rule: "
                     "configs/references.yaml and benchmark/reports/papers.py.</p>"
                     + table_html(header, [[r.get(h) for h in header] for r in published],
                                  [r["verdict"].replace(" ", "-") for r in published]))
    rows = rnn_vs_lstm.load(run_dir)
    if rows:
        header = list(rnn_vs_lstm.COLUMNS)
        parts.append("<h2>The lecture's table, reproduced</h2><p>Values: mean [95% t-interval] over seeds; "
                     "comparisons pair seed i of one family with seed i of the other.</p>"
                     + table_html(header, [[r.get(h) for h in header] for r in rows], [r["verdict"] for r in rows]))
    shown = set()
    for name in MEASUREMENTS.values():
        folder = run_dir / name
        if not folder.is_dir():
            continue
        parts.append(f"<h2>{TITLES.get(name, name)}</h2>")
        for png in sorted(folder.glob("*.png")):
            parts.append(image_html(png))
            shown.add(png)
        result = results.read(folder, name)
        if result is not None:
            seeds = (result.get("settings") or {}).get("seeds", [result.get("seed")])
            parts.append(f"<p>Device: {html.escape(str(result.get('device')))}; seeds {html.escape(str(seeds))}</p>"
                         + table_html(["quantity", "unit"], list((result.get("units") or {}).items())))
        csv_path = folder / f"{name}.csv"
        if csv_path.exists():
            parts.append(f"<details open><summary>{csv_path.name}</summary>{csv_html(csv_path)}</details>")
    extra = [p for p in sorted(run_dir.rglob("*.png")) if p not in shown]
    if extra:
        parts.append("<h2>Other plots</h2>" + "".join(image_html(p) for p in extra))
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>rnnbench report</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    out = run_dir / "report.html"
    out.write_text(page)
    return out
