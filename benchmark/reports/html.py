"""A self-contained static HTML report of a run folder: readable offline, nothing loaded over a network.

A matrix run (`run`: results.jsonl, logs/*/metrics.csv) gets its comparison tables, learning
curves per task, speed and memory per model, and every cell's status; a measurement folder
(`measure`, `reproduce`) gets RUN.md, the reproduced table and each measurement's figures,
units and numbers. A folder holding both gets both. Plots are redrawn from the data (the
measurements' JSON, the records and their curves), so the PNGs on disk match it, then
embedded as base64 data URIs; tables are inline HTML; the stylesheet is inline.
"""
from __future__ import annotations

import base64
import html
import os
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

from benchmark.engine.store import ResultsStore
from benchmark.measurements import MEASUREMENTS, results
from benchmark.reports import matrix_plots, papers, plots, rnn_vs_lstm, tables
from benchmark.reports.render import Table, render
from benchmark.reports.spans import spans_table

# A printed page (A4, a PDF) is narrower than the screen's 1100 px: the print rules shrink the tables' type so
# that a results table's last column (status) stays on the page.
STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}th,td{border:1px solid #bbb;padding:4px 6px;
vertical-align:top}th{background:#eee}.facts th{text-align:left}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.confirmed,.reproduced{background:#dfd}.not-reproduced{background:#fdd}.not-run{background:#eee}.refined{background:#ffd}.refuted{background:#fdd}.inconclusive{background:#eef}
.failed{background:#fdd}.diverged{background:#fed}.skipped,.n-a{background:#eee}
.caveat{background:#fff3cd;border:1px solid #d9b44a;border-radius:4px;padding:0.6em 1em;margin:1em 0}
.note{background:#f7f7f7;border-left:4px solid #ccc;padding:0.2em 1em}.note h1{font-size:1.2em}
details{margin:0.5em 0}summary{cursor:pointer}.table-note{font-size:0.85em;color:#555;margin:0.2em 0}
table.results td{text-align:left}
@page{margin:1.5cm 1.2cm}
@media print{body{max-width:none;margin:0;padding:0}table{font-size:0.7em}th,td{padding:2px 3px}}"""
TITLES = {"parameters": "Parameters", "memory_span": "Memory span (lag recall, copy, adding, selective copy; MQAR pairs): solved share, steps to "
          "solve (Kaplan-Meier), learning curves, tuning", "gradient_flow": "Gradient flow",
          "speed": "Speed and memory"}
ROUGH = ("<div class=\"caveat\"><strong>Rough numbers: smoke profile.</strong> Smoke runs train small models for few "
         "steps to check the pipeline in minutes; their metrics, speeds and any verdict drawn from them are rough. "
         "Run again with <code>--profile full</code> for numbers to defend.</div>")
# Markdown as written by us (RUN.md): no raw HTML passes through, it is escaped like any other text.
MARKDOWN = MarkdownIt("js-default", {"html": False})


def redraw_plots(run_dir: Path) -> list[Path]:
    pngs = []
    for name in MEASUREMENTS.values():  # a measurement's module, folder and file names are one name
        result = results.read(run_dir / name, name)
        if result is not None:
            pngs += plots.draw(result, run_dir / name)
    return pngs


def table_html(frame: pd.DataFrame, classes: list[str] | None = None) -> str:
    """A table through the one renderer (reports/render.py): 4 significant figures, CSS classes per row."""
    return render([Table(frame, classes=classes)], "html")


def facts_html(pairs: list[list[str]]) -> str:
    """A name-value table: each name a row header, no column headers."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)
    return f'<table class="facts">{rows}</table>'


def image_html(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(path.name)}</figcaption></figure>'


def csv_html(path: Path) -> str:
    frame = pd.read_csv(path, dtype=object, keep_default_na=False)  # as written; numbers parsed below
    return table_html(frame.apply(lambda column: column.map(_number)))


def _number(text: str):
    """A CSV cell as its number, so that it is formatted like one; other text unchanged."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def matrix_html(run_dir: Path, records: list) -> tuple[list[str], set[Path]]:
    """The sections of a matrix run, and the PNGs they show."""
    counts = Counter(r["status"] for r in records)
    versions = {", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items() if v) for r in records}
    facts = [["profile", ", ".join(sorted({str(r.get("profile")) for r in records}))],
             ["device", "; ".join(sorted({r["device"] for r in records if r.get("device")}))],
             ["versions", "; ".join(sorted(versions - {""}))],  # a skipped cell records none
             ["cells", f"{len(records)}: " + ", ".join(f"{counts[s]} {s}" for s in ("ok", "diverged", "failed", "skipped", "n/a")
                                                 if s != "diverged" or counts[s])]]
    parts = ["<h2>Run</h2>" + facts_html(facts),
             "<h2>Results</h2><p>Metrics: mean ± std over seeds; tokens/s in the steady state of training; "
             "peak memory in MiB, the maximum over seeds.</p>" + tables.render(tables.summarise(records), "html")]
    figures = matrix_plots.draw(records, run_dir, run_dir / "plots")
    names = matrix_plots.labels(records)
    tasks = sorted({r["task"] for r in records})
    curves = {p.stem.removeprefix("curves-"): p for p in figures["curves"]}
    parts.append("<h2>Learning curves</h2>")
    for task in tasks:
        parts.append(image_html(curves[task]) if task in curves else
                     f"<p>{html.escape(task)}: no learning curve recorded (no cell finished, or none kept a curve).</p>")
    if figures["lengths"]:
        parts.append("<h2>Length generalisation</h2><p>Accuracy at lengths beyond every training length "
                     "(<code>eval.max_length</code>); their mean is <code>test/unseen_acc</code> in the tables.</p>")
        parts.append(render(tables.length_tables(records), "html"))
        parts += [image_html(p) for p in figures["lengths"]]
    parts.append("<h2>Speed and memory</h2>")
    parts += [image_html(p) for p in figures["speed"] + figures["memory"]] or ["<p>No cell finished: nothing to show.</p>"]
    cells = pd.DataFrame([{"cell": r["cell"], "label": names.get(tables.group_of(r), ""), "status": r["status"],
                           "seconds": r.get("wall_s"), "device": r.get("device"), "reason or error": _why(r)}
                          for r in records], dtype=object)
    parts.append(f"<details><summary>Cells ({len(records)})</summary>"
                 + table_html(cells, [r["status"].replace("/", "-") if r["status"] != "ok" else "" for r in records])
                 + "</details>")
    return parts, {p for ps in figures.values() for p in ps}


def _why(record) -> str:
    """A skipped cell's reason, or a failed one's message (the last line of its error)."""
    text = (record.get("reason") or record.get("error") or "").strip()
    return text.splitlines()[-1] if text else ""


def measurement_html(run_dir: Path) -> tuple[list[str], set[Path]]:
    """The sections of a measurement folder (RUN.md, published rows, the reproduced table, each measurement)."""
    parts, shown = [], set()
    note = run_dir / "RUN.md"
    if note.exists():
        text = note.read_text()
        heading = "" if text.startswith("# ") else "<h2>How this was produced</h2>"  # ours opens with its own
        parts.append(f'{heading}<div class="note">{MARKDOWN.render(text)}</div>')
    published = papers.load(run_dir)
    if published:
        parts.append("<h2>Published results under their own protocols</h2><p>Ours: mean and 95% t-interval over "
                     "seeds of the runs in this folder (results.jsonl) under each paper's preset; rule: "
                     "configs/references.yaml and benchmark/reports/papers.py.</p>"
                     + render([papers.frame(published, detail=True)], "html"))
    doc = rnn_vs_lstm.load(run_dir)
    if doc and doc.get("schema_version", 0) >= rnn_vs_lstm.SCHEMA_VERSION:
        parts.append("<h2>The lecture's table, reproduced</h2><p>The answer card first; then each row's values per "
                     "arm, its rule and its full evidence; the arms with their tuned rates; the tuning table "
                     "(its curves are in the memory-span section).</p>"
                     + render(rnn_vs_lstm.tables(doc["rows"], doc.get("title", ""), doc), "html"))
    elif doc:
        parts.append(f"<p>rnn_vs_lstm.json has schema {html.escape(str(doc.get('schema_version', 1)))}, from an "
                     f"older version: run <code>reproduce rnn-vs-lstm</code> again to rebuild it.</p>")
    for name in MEASUREMENTS.values():
        folder = run_dir / name
        if not folder.is_dir():
            continue
        parts.append(f"<h2>{TITLES.get(name, name)}</h2>")
        for png in sorted(folder.glob("*.png")):
            parts.append(image_html(png))
            shown.add(png)
        result = results.read(folder, name)
        found = spans_table(result) if result is not None and name == "memory_span" else None
        if found is not None:
            parts.append(render([found], "html"))
        if result is not None:
            seeds = (result.get("settings") or {}).get("seeds", [result.get("seed")])
            parts.append(f"<p>Device: {html.escape(str(result.get('device')))}; seeds "
                         f"{html.escape(', '.join(map(str, seeds)))}</p>"
                         + table_html(pd.DataFrame(list((result.get("units") or {}).items()), columns=["quantity", "unit"])))
        csv_path = folder / f"{name}.csv"
        if csv_path.exists():
            parts.append(f"<details><summary>{csv_path.name}: every row</summary>{csv_html(csv_path)}</details>")
    return parts, shown


def _profiles(run_dir: Path, records: list) -> set[str]:
    found = {r.get("profile") for r in records}
    for name in MEASUREMENTS.values():
        result = results.read(run_dir / name, name)
        found.add(result.get("profile") if result else None)
    return found - {None}


def writable(folder: Path) -> None:
    """Raise the OSError (EACCES, EROFS, ENOSPC...) that writing into `folder` would meet, naming it,
    before any plot is drawn: a file made and gone at once tells what permission bits do not (root, a
    read-only mount)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".report-"):
            pass
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(folder)) from e


def write_report(run_dir) -> Path:
    run_dir = Path(run_dir)
    writable(run_dir)  # a read-only folder: one line naming it (cli), not a traceback from deep in matplotlib
    redraw_plots(run_dir)  # from the JSON results, so a report always matches them
    records = ResultsStore(run_dir).current()
    measured, shown = measurement_html(run_dir)
    title = ("rnnbench: RNN vs LSTM vs GRU measurements" if measured or not records
             else "rnnbench: a matrix run, tables and curves")
    parts = [f"<h1>{title}</h1><p>Run folder: {html.escape(str(run_dir))}</p>"]
    if "smoke" in _profiles(run_dir, records):
        parts.append(ROUGH)
    if records:
        matrix, drawn = matrix_html(run_dir, records)
        parts += matrix
        shown |= drawn
    parts += measured
    extra = [p for p in sorted(run_dir.rglob("*.png")) if p not in shown]
    if extra:
        parts.append("<h2>Other plots</h2>" + "".join(image_html(p) for p in extra))
    if len(parts) == 1:
        parts.append("<p>Nothing to report here: no results.jsonl (from <code>run</code>) and no measurement "
                     "(from <code>measure</code> or <code>reproduce</code>).</p>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    out = run_dir / "report.html"
    part = run_dir / ".report.html.part"  # written whole, then renamed: a full disk leaves the old report as it was
    part.unlink(missing_ok=True)  # a leftover of a report cut short (or a link): "x" below makes a fresh file
    try:
        with open(part, "x") as f:
            f.write(page)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return out
