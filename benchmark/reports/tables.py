"""Comparison tables from a results store: one per task and settings, mean ± std over seeds.

Formats: Markdown (md), CSV, LaTeX, HTML and JSON, all through reports/render.py.

- Rows: one per (task, model, backend, settings) group, seeds aggregated; models in the
  order rnn, lstm, gru, birnn, bilstm, bigru. Variants that do not apply (n/a) are one note.
- Runs do not mix: cells of one task trained with different task or train settings (copy at
  delay 10 and at delay 40 in one folder) form separate sections, each titled by the settings
  that differ and shown beside its own baselines. Model settings that differ within a section
  (hidden 64 vs 256) are a "settings" column.
- The main table holds the test metrics; validation and per-type metrics (NER's f1_LOC, ...)
  are a detail table below it. The best value of each metric among the models is bold.
- Baselines a task reports, and published numbers on the same data (by the rule of
  reports/references.py: same protocol, or context with the difference named), are rows beside
  the models, under the same metric columns, in every format (CSV's `kind` says which).
- `--format json` keeps its keys (one object per group, as `summarise` returns); `section`
  and `differs` name a row's distinguishing settings.

Everything comes from the records themselves (their group, settings and task defaults; see
engine/records.py), read through `records.upgrade`: a folder of this version's records renders
without the task modules, and so without torch (`bench table` times it).
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict

import pandas as pd

from benchmark.config import BACKENDS, VARIANTS
from benchmark.engine.records import CellRecord, upgrade
from benchmark.reports import references
from benchmark.reports.render import Table, render as render_tables

FORMATS = ("md", "csv", "latex", "html", "json")
BUSY_MARK = " (busy)"
BUSY_NOTE = ("(busy): tokens/s measured while other work took this cell's CPU time (record field "
             "cpu_wait_share > 0.1): not this machine's speed; run again on an idle machine to compare speeds.")
SMOKE_NOTE = ("smoke profile: small models trained for few steps; these numbers check the pipeline and are rough. "
              "Run --profile full for numbers to quote.")
HIGHER_IS_BETTER = ("acc", "recall_acc", "unseen_acc", "f1", "precision", "recall")  # every other metric: lower is better
PEAK_COLUMN = "peak MiB (max over seeds)"  # the largest seed's peak, as the memory chart draws it
IDENTITY = ("model.variant", "model.backend")  # what tells the rows of one section apart anyway


def summarise(records: list[CellRecord]) -> list[dict]:
    """One row per (task, model, backend, config) group, seeds aggregated.

    Groups are the records' own, as `records.upgrade` reads them: a record written before a
    setting existed counts as trained with that setting's default, so it joins the rows of the
    same settings."""
    groups = defaultdict(list)
    for r in map(upgrade, records):
        groups[r["group"]].append(r)
    rows = [_row(rs) for rs in groups.values()]
    _mark_sections(rows, [rs[0] for rs in groups.values()])
    return sorted(rows, key=_order)


def _order(row):
    variant = list(VARIANTS).index(row["model"]) if row["model"] in VARIANTS else len(VARIANTS)
    backend = list(BACKENDS).index(row["backend"]) if row["backend"] in BACKENDS else len(BACKENDS)
    return row["task"], json.dumps(row.get("section", {}), sort_keys=True), variant, backend, \
        json.dumps(row.get("differs", {}), sort_keys=True)


def _row(records: list[CellRecord]) -> dict:
    first = records[0]
    ok = [r for r in records if r["status"] == "ok"]  # the store keeps only records (records.not_a_record)
    statuses = {r["status"] for r in records}
    status = "n/a" if statuses == {"n/a"} else "skipped" if statuses == {"skipped"} else "ok" if statuses == {"ok"} else \
        "diverged" if statuses == {"diverged"} else "failed" if not ok else "partial"
    if status == "diverged":  # every seed blew up: its metrics are shown (never bold), as measured
        ok = [r for r in records if r.get("metrics")]
    names = sorted({k for r in ok for k in r.get("metrics") or {}})
    values = {k: [r["metrics"][k] for r in ok if k in (r.get("metrics") or {})] for k in names}
    row = {
        "task": first["task"], "model": first["model"], "backend": first["backend"], "profile": first["profile"],
        "group": first["group"], "status": status, "seeds": len(ok),
        "params": ok[0].get("params") if ok else None,
        "metrics": {k: statistics.fmean(v) for k, v in values.items()},
        "metrics_std": {k: statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in values.items()},
        "train_tokens_per_s": _mean(r.get("train_tokens_per_s") for r in ok),
        "contended": any(r.get("contended") for r in ok),  # a seed's throughput measured on a busy CPU
        "peak_mem_bytes": max((r["peak_mem_bytes"] for r in ok if r.get("peak_mem_bytes") is not None), default=None),
        "wall_s": _mean(r.get("wall_s") for r in ok),
        "baselines": ok[0].get("baselines") or {} if ok else {},
        "device": ok[0].get("device") if ok else None,
        "references": references.beside(first["config"], first.get("settings_defaults")) if first.get("config") else [],
    }
    if status in ("n/a", "skipped"):
        row["reason"] = first.get("reason")
        row["cells"] = len(records)
    errors = [r.get("error") or "(no error recorded)" if r["status"] == "failed" else r.get("reason") or "diverged"
              for r in records if r["status"] in ("failed", "diverged")]
    if errors:
        row["error"] = errors[-1]
    return row


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def group_of(record) -> str:
    """The record's group (its settings but the seed) as this version reads it (records.upgrade):
    a record from before a setting existed joins the group of that setting's default."""
    return upgrade(record)["group"]


def flat_settings(record) -> dict:
    """A record's settings as {"copy.delay": 10, "train.lr": 0.001, "model.hidden": 64, "profile": ...},
    with the defaults of settings added since it was written (records.upgrade)."""
    cfg = upgrade(record).get("config") or {}
    flat = {"profile": record.get("profile")}
    for section, prefix in (("model", "model"), ("train", "train"), ("settings", record["task"])):
        for key, value in (cfg.get(section) or {}).items():
            flat[f"{prefix}.{key}"] = json.dumps(value) if isinstance(value, (list, dict)) else value
    return flat


def _mark_sections(rows, firsts) -> None:
    """Set each row's `section` (task and train settings that differ between the task's rows)
    and `differs` (model settings that differ within its section, beyond the variant)."""
    by_task = defaultdict(list)
    for row, first in zip(rows, firsts):
        by_task[row["task"]].append((row, flat_settings(first)))
    for pairs in by_task.values():
        keys = sorted({k for _, f in pairs for k in f})
        varying = [k for k in keys if len({json.dumps(f.get(k), default=str) for _, f in pairs}) > 1]
        outer = [k for k in varying if not k.startswith("model.")]
        for row, flat in pairs:
            row["section"] = {k: flat.get(k) for k in outer}
        sections = defaultdict(list)
        for row, flat in pairs:
            sections[json.dumps(row["section"], sort_keys=True, default=str)].append((row, flat))
        for members in sections.values():
            inner = [k for k in varying if k.startswith("model.") and k not in IDENTITY
                     and len({json.dumps(f.get(k), default=str) for _, f in members}) > 1]
            for row, flat in members:
                row["differs"] = {k: flat.get(k) for k in inner}


def higher_is_better(metric: str) -> bool:
    name = metric.partition("/")[2] or metric
    return name in HIGHER_IS_BETTER or name.startswith("f1_") or name.startswith("acc_")


def _per_type(metric: str) -> bool:
    """NER's per-entity-type metrics (f1_LOC): detail, not headline."""
    base, _, kind = metric.partition("/")[2].partition("_")
    return bool(kind) and kind.isupper()


def _settings_text(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


# --- tables ---------------------------------------------------------------------------------
def build(rows: list[dict]) -> list[Table]:
    """The Tables people read: per task and section, the main table and its detail table."""
    return [table for (task, _), section in _sections(rows).items() for table in _section_tables(task, section)]


def _sections(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(task, its section's settings as JSON) -> the rows of that section, in order."""
    sections = defaultdict(list)
    for row in rows:
        sections[(row["task"], json.dumps(row.get("section", {}), sort_keys=True, default=str))].append(row)
    return sections


def _section_tables(task, rows) -> list[Table]:
    trained = [r for r in rows if r["status"] not in ("n/a", "skipped")]
    if not trained:  # nothing trained: one line, no empty table
        return [_untrained_line(task, rows)]
    names = sorted({k for r in trained for k in r["metrics"]})
    main = [m for m in names if m.startswith("test/") and not _per_type(m)]
    detail = [m for m in names if m not in main]
    if not main:  # a task that scored no test split: its validation metrics are the headline
        main, detail = detail, []
    differs = any(r.get("differs") for r in rows)
    profile = rows[0]["profile"]
    device = next((r["device"] for r in rows if r.get("device")), "")
    seeds = sorted({r["seeds"] for r in trained if r["seeds"]})  # a row whose every seed failed counts none
    where = _settings_text(rows[0].get("section") or {})
    spread = ("1 seed, no spread" if seeds == [1] else "metrics mean ± std over " + "/".join(map(str, seeds)) + " seeds"
              if seeds else "every cell failed: each row's status says why" if trained else "nothing trained")
    title = f"{task}{' · ' + where if where else ''} ({'; '.join(x for x in (f'profile {profile}', device, spread) if x)})"
    notes = []
    na = [r for r in rows if r["status"] in ("n/a", "skipped")]
    for status in ("n/a", "skipped"):
        reasons = defaultdict(list)
        for r in na:
            if r["status"] == status:
                reasons[r.get("reason") or ""].append(f"{r['model']}/{r['backend']}")
        notes += [f"{status}: {', '.join(cells)} ({reason})" for reason, cells in reasons.items()]
    if any(r.get("contended") for r in trained):
        notes.append(BUSY_NOTE)
    if any(r["status"] == "diverged" for r in trained):
        notes.append("diverged: the loss blew up (non-finite, or above 1e6); its numbers are shown as measured "
                     "and never bold; `run --retry-failed` trains it again")
    if main and sum(bool(r["seeds"]) and r["status"] != "diverged" for r in trained) > 1:  # two rows to compare
        notes.append("bold: the best model per metric (" + ", ".join(
            f"{m.partition('/')[2]} {'higher' if higher_is_better(m) else 'lower'}" for m in main) + " is better)")
    if profile == "smoke":
        notes.append(SMOKE_NOTE)
    tables = [_table(task, trained, main, differs, title, notes, speed=True)]
    if detail:
        what = "validation and per-type metrics" if any(_per_type(m) for m in detail) else "validation metrics"
        tables.append(_table(task, trained, detail, differs, f"{task}{' · ' + where if where else ''}: {what}", [],
                             speed=False))
    return tables


def _untrained_line(task, rows) -> Table:
    """A section none of whose cells trained, as one line: "sentiment: 6 cells skipped: <why>", each
    reason once ("; " between statuses and reasons)."""
    where = _settings_text(rows[0].get("section") or {})
    parts = []
    for status in ("skipped", "n/a"):
        reasons = defaultdict(int)
        for r in rows:
            if r["status"] == status:
                reasons[r.get("reason") or "no reason recorded"] += r.get("cells") or 1
        parts += [f"{n} cell{'s' if n != 1 else ''} {status}: {reason}" for reason, n in reasons.items()]
    return Table(pd.DataFrame(), f"{task}{' · ' + where if where else ''}", ["; ".join(parts)])


def _table(task, rows, metrics, differs, title, notes, speed) -> Table:
    records = []
    for r in rows:
        line = {"model": r["model"], "backend": r["backend"]}
        if differs:
            line["settings"] = _settings_text(r.get("differs") or {})
        if speed:  # the main table; the detail table repeats neither
            line.update({"seeds": r["seeds"], "params": r["params"]})
        for m in metrics:
            line[m] = r["metrics"].get(m)
            line[m + " std"] = r["metrics_std"].get(m) if r["seeds"] > 1 else None
        if speed:
            mem = r["peak_mem_bytes"]
            line.update({"tokens/s": r["train_tokens_per_s"], PEAK_COLUMN: mem / 2**20 if mem is not None else None,
                         "wall s": r["wall_s"]})
        if speed:
            line["status"] = r["status"] if r["status"] == "ok" else f"{r['status']}: {(r.get('error') or '')[:80]}"
            line["status"] += BUSY_MARK if r.get("contended") else ""
        records.append(line)
    extra = [b for b in _baseline_lines(rows, metrics) if any(m in b for m in metrics)]
    if not speed:
        extra = [{k: v for k, v in b.items() if k != "status"} for b in extra]
    frame = pd.DataFrame(records + extra, dtype=object)  # object: ints (params) stay exact
    return Table(frame, title, notes, best={m: "max" if higher_is_better(m) else "min" for m in metrics},
                 contenders=[r["status"] != "diverged" for r in rows] + [False] * len(extra))  # diverged: never best


def _baseline_lines(rows, metrics) -> list[dict]:
    """Baselines and references: {name: {metric: value}} matched to test/ columns."""
    seen, out = set(), []
    for row in rows:
        for name, values in row["baselines"].items():
            if name in seen or name.startswith("ref: "):  # records before references.yaml held published numbers
                continue
            seen.add(name)
            line = {"model": name, "status": "baseline"}
            for m in metrics:
                stage, _, metric = m.partition("/")
                if stage == "test" and metric in values:
                    line[m] = values[metric]
            out.append(line)
    refs = {}  # published numbers: one row each, "same protocol" where any run of the table matches it
    for row in rows:
        for ref in row.get("references", []):
            key = (ref["name"], ref["metric"])  # one paper's model may publish val and test
            if key not in refs or ref["protocol"] == references.SAME:
                refs[key] = ref
    for ref in refs.values():
        if ref["metric"] in metrics:
            out.append({"model": ref["name"], ref["metric"]: ref["value"],
                        "status": f"published ({ref['split']}); {ref['note']}"})
    return out


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str)
    if fmt == "csv":
        return _csv(rows)
    return render_tables(build(rows), fmt)


def _csv(rows) -> str:
    """One machine-readable table: every group and every baseline, raw values, a `kind` column."""
    metrics = sorted({k for r in rows for k in r["metrics"]})
    lines = []
    for r in rows:
        section = _settings_text({**(r.get("section") or {}), **(r.get("differs") or {})})
        lines.append({"task": r["task"], "model": r["model"], "backend": r["backend"], "profile": r["profile"],
                      "settings": section, "kind": "model", "status": r["status"], "seeds": r["seeds"],
                      "params": r["params"], **{m: r["metrics"].get(m) for m in metrics},
                      **{f"{m} std": r["metrics_std"].get(m) for m in metrics},
                      "train_tokens_per_s": r["train_tokens_per_s"], "contended": r.get("contended", False),
                      "peak_mem_bytes": r["peak_mem_bytes"], "wall_s": r["wall_s"],
                      "note": r.get("reason") or r.get("error") or ""})
    for (task, _), members in _sections(rows).items():
        trained = [r for r in members if r["status"] not in ("n/a", "skipped")]
        for line in _baseline_lines(trained, metrics):
            kind = "baseline" if line["status"] == "baseline" else "published"
            lines.append({"task": task, "model": line["model"], "profile": members[0]["profile"],
                          "settings": _settings_text(members[0].get("section") or {}), "kind": kind,
                          **{m: line.get(m) for m in metrics}, "note": "" if kind == "baseline" else line["status"]})
    columns = ["task", "model", "backend", "profile", "settings", "kind", "status", "seeds", "params", *metrics,
               *[f"{m} std" for m in metrics], "train_tokens_per_s", "contended", "peak_mem_bytes", "wall_s", "note"]
    return pd.DataFrame(lines, columns=columns, dtype=object).to_csv(index=False)  # object: integers stay integers


# --- length generalisation ------------------------------------------------------------------
def length_bands(n: int, m: int) -> list[tuple[int, int]]:
    """The unseen lengths N+1..M cut at 2N, 5N and 10N (where below M): near, mid and far."""
    edges = [n] + [e for e in (2 * n, 5 * n, 10 * n) if n < e < m] + [m]
    return [(a + 1, b) for a, b in zip(edges, edges[1:])]


def length_tables(records: list[CellRecord]) -> list[Table]:
    """Per task whose cells scored unseen lengths (records' `length_generalisation`): per model,
    the accuracy over bands of unseen lengths and over all of them (test/unseen_acc), each the
    mean over seeds with a 95% percentile-bootstrap interval, which stays within [0, 1] (a seed's
    band value: its mean over the band)."""
    from benchmark.measurements import stats

    scored = [r for r in records if r["status"] == "ok" and r.get("length_generalisation")]
    out = []
    for task in sorted({r["task"] for r in scored}):
        mine_all = [r for r in scored if r["task"] == task]
        groups = defaultdict(list)
        for r in mine_all:
            groups[group_of(r)].append(r)
        edge = ((mine_all[0].get("config") or {}).get("settings") or {}).get("max_train_length")
        lengths = sorted({int(k) for r in mine_all for k in r["length_generalisation"]})
        if not edge or not lengths:
            continue
        bands = length_bands(int(edge), lengths[-1])
        rows = []
        for group, mine in groups.items():
            first = mine[0]
            row = {"model": first["cell"].rsplit("/", 1)[0].partition("/")[2], "seeds": len(mine)}
            for lo, hi in bands:
                s = stats.bounded_summary(_mean(v for k, v in r["length_generalisation"].items()
                                                if lo <= int(k) <= hi) for r in mine)
                row[f"{lo}-{hi}"] = _with_interval(s)
            row["all unseen (unseen_acc)"] = _with_interval(stats.bounded_summary(
                (r.get("metrics") or {}).get("test/unseen_acc") for r in mine))
            row["in distribution (acc)"] = _with_interval(stats.bounded_summary(
                (r.get("metrics") or {}).get("test/acc") for r in mine))
            rows.append(row)
        rows.sort(key=lambda r: r["model"])
        chance = ((mine_all[0].get("baselines") or {}).get("chance") or {}).get("acc")
        notes = [f"Accuracy at lengths never trained on (training lengths 1-{edge}): mean over seeds [95% percentile "
                 f"bootstrap, within the seeds' range: few seeds understate the spread]; a seed's value for a band "
                 f"is its mean over the band's lengths."
                 + (f" Chance: {chance:g}." if chance is not None else "")]
        out.append(Table(pd.DataFrame(rows, dtype=object), title=f"{task}: length generalisation", notes=notes))
    return out


def _with_interval(s: dict) -> str:
    if s["mean"] is None:
        return ""
    low, high = s["ci95"]
    return f"{s['mean']:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")
