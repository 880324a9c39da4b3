"""Comparison tables from a results store: one per task, mean ± std over seeds.

Formats: Markdown (md), CSV, LaTeX and JSON. Baselines a task reports, and published numbers
on the same data (by the rule of reports/references.py: same protocol, or context with the
difference named), are rows beside the models, under the same metric columns.
"""
from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict

from benchmark.engine.records import CellRecord
from benchmark.reports import references

FORMATS = ("md", "csv", "latex", "json")
BUSY_MARK = " (busy)"
BUSY_NOTE = ("(busy): tokens/s measured while other work took this cell's CPU time (record field "
             "cpu_wait_share > 0.1): not this machine's speed; run again on an idle machine to compare speeds.")


def summarise(records: list[CellRecord]) -> list[dict]:
    """One row per (task, model, backend, config) group, seeds aggregated."""
    groups = defaultdict(list)
    for r in records:
        groups[r["group"]].append(r)
    return [_row(rs) for rs in groups.values()]


def _row(records: list[CellRecord]) -> dict:
    first = records[0]
    ok = [r for r in records if r["status"] == "ok"]
    statuses = {r["status"] for r in records}
    status = "n/a" if statuses == {"n/a"} else "skipped" if statuses == {"skipped"} else "ok" if statuses == {"ok"} else "failed" if not ok else "partial"
    names = sorted({k for r in ok for k in r["metrics"]})
    values = {k: [r["metrics"][k] for r in ok if k in r["metrics"]] for k in names}
    row = {
        "task": first["task"], "model": first["model"], "backend": first["backend"], "profile": first["profile"],
        "group": first["group"], "status": status, "seeds": len(ok),
        "params": ok[0]["params"] if ok else None,
        "metrics": {k: statistics.fmean(v) for k, v in values.items()},
        "metrics_std": {k: statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in values.items()},
        "train_tokens_per_s": _mean(r.get("train_tokens_per_s") for r in ok),
        "contended": any(r.get("contended") for r in ok),  # a seed's throughput measured on a busy CPU
        "peak_mem_bytes": max((r["peak_mem_bytes"] for r in ok if r.get("peak_mem_bytes") is not None), default=None),
        "wall_s": _mean(r.get("wall_s") for r in ok),
        "baselines": ok[0].get("baselines", {}) if ok else {},
        "device": ok[0].get("device") if ok else None,
        "references": references.beside(first["config"]) if first.get("config") else [],
    }
    if status in ("n/a", "skipped"):
        row["reason"] = first.get("reason")
    errors = [r["error"] for r in records if r["status"] == "failed"]
    if errors:
        row["error"] = errors[-1]
    return row


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        return _csv(rows)
    if fmt == "html":  # temporary, until the pandas renderer lands: one escaped <table> per task
        import pandas as pd
        out = []
        for task, task_rows in _by_task(rows).items():
            metrics = _metric_columns(task_rows)
            header = ["model", "backend", "params", *metrics, "tokens/s", "peak MiB", "wall s", "status"]
            body = [_cells(r, metrics) for r in task_rows] + _baseline_rows(task_rows, metrics)
            out.append(f"<h3>{task}</h3>" + pd.DataFrame(body, columns=header).to_html(index=False))
        return "\n".join(out)
    return "\n".join(_task_table(task, task_rows, fmt) for task, task_rows in _by_task(rows).items())


def _by_task(rows):
    out = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["task"], r["backend"], r["model"])):
        out[row["task"]].append(row)
    return out


def _metric_columns(rows) -> list[str]:
    names = sorted({k for r in rows for k in r["metrics"]})
    return [k for k in names if k.startswith("test/")] + [k for k in names if not k.startswith("test/")]


def _fmt(value, std=None, seeds=1) -> str:
    if value is None:
        return ""
    text = f"{value:.4g}"
    return f"{text} ± {std:.2g}" if seeds > 1 and std is not None else text


def _cells(row, metrics) -> list[str]:
    if row["status"] in ("n/a", "skipped"):
        note = f"{row['status']}: {row.get('reason', '')}"
        return [row["model"], row["backend"], "", *([""] * len(metrics)), "", "", "", note]
    mem = row["peak_mem_bytes"]
    status = row["status"] if row["status"] == "ok" else f"{row['status']}: {row.get('error', '')[:80]}"
    busy = BUSY_MARK if row.get("contended") else ""
    return [row["model"], row["backend"], f"{row['params']:,}" if row["params"] else "",
            *[_fmt(row["metrics"].get(m), row["metrics_std"].get(m), row["seeds"]) for m in metrics],
            _fmt(row["train_tokens_per_s"]) + busy, f"{mem / 2**20:.1f}" if mem is not None else "",
            _fmt(row["wall_s"]), status]


def _baseline_rows(rows, metrics) -> list[list[str]]:
    """Baselines and references: {name: {metric: value}} matched to test/ (or val/) columns."""
    seen, out = set(), []
    for row in rows:
        for name, values in row["baselines"].items():
            if name in seen or name.startswith("ref: "):  # records before references.yaml held published numbers
                continue
            seen.add(name)
            cells = []
            for m in metrics:
                stage, _, metric = m.partition("/")
                cells.append(_fmt(values.get(metric)) if stage == "test" else "")
            out.append([name, "", "", *cells, "", "", "", "baseline"])
    # Published numbers: one row each, "same protocol" where any run of the table matches it.
    refs = {}
    for row in rows:
        for ref in row.get("references", []):
            key = (ref["name"], ref["metric"])  # one paper's model may publish val and test
            if key not in refs or ref["protocol"] == references.SAME:
                refs[key] = ref
    for ref in refs.values():
        cells = [_fmt(ref["value"]) if m == ref["metric"] else "" for m in metrics]
        out.append([ref["name"], "", "", *cells, "", "", "", f"published ({ref['split']}); {ref['note']}"])
    return out


def _task_table(task, rows, fmt) -> str:
    metrics = _metric_columns(rows)
    header = ["model", "backend", "params", *metrics, "tokens/s", "peak MiB", "wall s", "status"]
    body = [_cells(r, metrics) for r in rows] + _baseline_rows(rows, metrics)
    profile = rows[0]["profile"]
    device = next((r["device"] for r in rows if r.get("device")), "")
    title = f"{task} (profile {profile}; {device}; metrics mean ± std over seeds)"
    note = [BUSY_NOTE] if any(r.get("contended") for r in rows) else []
    if fmt == "md":
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |" for cells in body]
        return "\n".join(lines + ["", *note] if note else lines) + "\n"
    esc = lambda s: s.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&").replace("±", r"$\pm$")  # noqa: E731
    lines = [f"% {esc(title)}", r"\begin{tabular}{" + "l" * 2 + "r" * (len(header) - 3) + "l}", r"\toprule",
             " & ".join(esc(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(esc(c) for c in cells) + r" \\" for cells in body]
    lines += [r"\bottomrule", r"\end{tabular}", *[f"% {esc(n)}" for n in note], ""]
    return "\n".join(lines)


def _csv(rows) -> str:
    metrics = _metric_columns(rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["task", "model", "backend", "profile", "status", "seeds", "params", *metrics,
                     *[f"{m} std" for m in metrics], "train_tokens_per_s", "contended", "peak_mem_bytes", "wall_s", "note"])
    for r in sorted(rows, key=lambda r: (r["task"], r["backend"], r["model"])):
        writer.writerow([r["task"], r["model"], r["backend"], r["profile"], r["status"], r["seeds"], r["params"],
                         *[r["metrics"].get(m, "") for m in metrics], *[r["metrics_std"].get(m, "") for m in metrics],
                         r["train_tokens_per_s"], r.get("contended", False), r["peak_mem_bytes"], r["wall_s"],
                         r.get("reason") or r.get("error") or ""])
    return out.getvalue()
