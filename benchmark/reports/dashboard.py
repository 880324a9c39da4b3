"""W&B dashboards as code: a saved workspace for a results folder's runs (`wandb dashboard DIR`).

The layout comes from what the folder's cells really logged, so no panel names a metric that
no run has: per task a section with its training loss and validation metrics over steps, lines
grouped by family, and its test metrics and training tokens/s as bars per model. The runs are
the folder's W&B group (kept in DIR/wandb/group), grouped by task and model variant, so the
seeds of a cell collapse into one line with a min-max band. For a folder of `reproduce` a
report comes with it: the answer card as text and the figures the summary run logged.

The spec is plain data first (`spec`, written as DIR/dashboard.json, `sections -> panels ->
keys`), converted to `wandb_workspaces` objects second (`workspace`, `report`); only their
`save()`, which needs a W&B server and a key, is not run by the tests.
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmark.engine.store import ResultsStore
from benchmark.errors import ConfigError
from benchmark.launchers import tracking
from benchmark.reports.plots import read_curve
from benchmark.reports.tables import higher_is_better

FILE = "dashboard.json"
STEP = "Step"  # W&B's own x axis: the logged step, which Lightning sets to the global step
SPEED = "train_tokens_per_s"  # the record's whole-run figure, in each cell run's summary


def curve_keys(folder: Path, records: list[dict]) -> set[str]:
    """The metric columns of the cells' metrics.csv files (what each cell logged over steps)."""
    frames = (read_curve(folder / r["curve"]) for r in records if r.get("curve"))
    return {k for df in frames if df is not None for k in df.columns} - {"epoch", "step"}


def _ordered(keys) -> list[str]:
    # A task's headline metric before its loss: accuracy, F1 and the like first, loss last.
    return sorted(keys, key=lambda k: (not higher_is_better(k), k.endswith("/loss"), k))


def spec(folder, project: str, entity: str | None = None) -> dict:
    """The dashboard of results folder `folder` as plain data (JSON-ready)."""
    folder = Path(folder)
    records = [r for r in ResultsStore(folder).current() if r.get("status") == "ok"]
    if not records:
        raise ConfigError(f"{folder}: no trained cells (results.jsonl has no `ok` record): run cells there first")
    group_file = folder / "wandb" / "group"
    group = group_file.read_text().strip() if group_file.is_file() else None
    sections = []
    for task in dict.fromkeys(r["task"] for r in records):
        mine = [r for r in records if r["task"] == task]
        curves = curve_keys(folder, mine)
        tested = {k for r in mine for k in r.get("metrics", {}) if k.startswith("test/")}
        panels = [{"type": "line", "title": f"{key} by model", "keys": [key], "x": STEP}
                  for key in ["train/loss"] * ("train/loss" in curves)
                  + _ordered(k for k in curves if k.startswith("val/"))]
        panels += [{"type": "bar", "title": f"{key} per model", "keys": [key]}
                   for key in _ordered(tested)]
        if any(r.get(SPEED) for r in mine):
            panels.append({"type": "bar", "title": "training tokens/s per model", "keys": [SPEED]})
        sections.append({"name": task, "panels": panels})
    out = {"project": project, "entity": entity, "name": f"rnnbench: {folder.resolve().name}",
           # Every panel shows the runs so grouped: one line or bar per task and model (its family and
           # direction), the seeds of a cell as its mean with a min-max band.
           "runs": {"group": group, "groupby": ["task", "model.variant"],
                    "aggregate": "mean over seeds, min-max band"},
           "sections": sections}
    card = folder / "rnn_vs_lstm.md"
    if card.is_file():  # a folder of `reproduce rnn-vs-lstm`: its answer card and figures as a report
        out["report"] = {"title": f"rnnbench: the lecture's RNN-vs-LSTM claims ({folder.resolve().name})",
                         "card": card.read_text(encoding="utf-8").split("\n\n## ")[0],
                         "figures": [f"plot/{p.relative_to(folder).with_suffix('').as_posix()}"
                                     for p in sorted(folder.rglob("*.png")) if "wandb" not in p.parts]}
    return out


def workspace(data: dict):
    """`spec`'s workspace as a wandb_workspaces Workspace (built offline; `save()` uploads it)."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    def panel(p):
        if p["type"] == "line":
            return wr.LinePlot(title=p["title"], x=p["x"], y=p["keys"], groupby_aggfunc="mean",
                               groupby_rangefunc="minmax")
        return wr.BarPlot(title=p["title"], metrics=p["keys"], groupby_aggfunc="mean", groupby_rangefunc="minmax")

    runs = data["runs"]
    return ws.Workspace(
        entity=data["entity"] or "", project=data["project"], name=data["name"],
        sections=[ws.Section(name=s["name"], panels=[panel(p) for p in s["panels"]], is_open=True)
                  for s in data["sections"]],
        runset_settings=ws.RunsetSettings(filters=[ws.Metric("Group") == runs["group"]] if runs["group"] else [],
                                          groupby=[ws.Config(k) for k in runs["groupby"]]))


def report(data: dict):
    """`spec`'s report (a folder of `reproduce`) as a wandb_workspaces Report, or None."""
    if "report" not in data:
        return None
    import wandb_workspaces.reports.v2 as wr

    rep = data["report"]
    runset = wr.Runset(entity=data["entity"] or "", project=data["project"], name="summary",
                       filters=f"Group = '{data['runs']['group']}'" if data["runs"]["group"] else "")
    return wr.Report(entity=data["entity"] or "", project=data["project"], title=rep["title"], blocks=[
        wr.MarkdownBlock(text=rep["card"]),
        wr.PanelGrid(runsets=[runset], panels=[wr.MediaBrowser(title="figures", media_keys=rep["figures"])]),
    ])


def build(folder, project: str, entity: str | None = None, stream=None) -> Path:
    """Write DIR/dashboard.json; with a W&B key and a reachable server, save the workspace (and
    report) too and print their URLs. Returns the JSON's path."""
    folder = Path(folder)
    data = spec(folder, project, entity)
    path = folder / FILE
    part = path.with_suffix(".json.part")
    part.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    part.replace(path)
    n = sum(len(s["panels"]) for s in data["sections"])
    print(f"dashboard: {path} ({len(data['sections'])} sections, {n} panels)", file=stream)
    view, rep = workspace(data), report(data)  # built either way: a spec they cannot take fails here
    if not (tracking.api_key_configured() and tracking.server_reachable()):
        print("dashboard: not saved to W&B (no API key or no reachable server); once the runs are synced "
              f"(wandb sync {folder / 'wandb'}/offline-run-*), run this again with a key to save it", file=stream)
        return path
    if not data["entity"]:
        import wandb
        view.entity = wandb.Api().default_entity
        if rep is not None:
            rep.entity = view.entity
    view.save()
    print(f"dashboard: workspace saved: {view.url}", file=stream)
    if rep is not None:
        rep.save()
        print(f"dashboard: report saved: {rep.url}", file=stream)
    return path
