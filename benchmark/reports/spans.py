"""The memory-span measurement as one table: per task and arm, its span on the task's axis
(time steps, or key-value pairs for mqar), what ends it, the span per seed, solved k/n at each
point, and for mqar the bits recalled (in all and per state unit). Read from the result alone."""
from __future__ import annotations

import pandas as pd

from benchmark.measurements.settings import AXIS
from benchmark.reports.render import Table

END = {"failure": "exact (next point failed)", "budget": "lower bound (next point budget-limited)",
       "grid": "lower bound (every point solved)"}


def spans_table(result: dict) -> Table | None:
    spans = result.get("spans") or {}
    lrs = {(a["task"], a["name"]): a.get("lr") for a in result.get("arms") or []}
    rows = []
    for task, arms in spans.items():
        axis = AXIS.get(task, "lag")
        for arm, s in arms.items():
            lr = lrs.get((task, arm))
            row = {"task": task, "arm": arm, "lr": f"{lr:g}" if lr is not None else "", "span": f"{s['span']} {_unit(axis)}",
                   "end": END.get(s["end"], s["end"]), "per seed": ", ".join(map(str, s.get("per_seed") or [])),
                   "solved k/n": "; ".join(f"{k}: {v['solved']}/{v['n']}" + ("*" if v["budget_limited"] else "")
                                           for k, v in sorted(s["lags"].items(), key=lambda kv: int(kv[0]))),
                   "test metric (mean)": "; ".join(f"{k}: {v['value']['mean']:.3g}" for k, v in
                                                   sorted(s["lags"].items(), key=lambda kv: int(kv[0]))
                                                   if (v.get("value") or {}).get("mean") is not None)}
            bits = s.get("bits_recalled")
            if bits:
                row["bits recalled"] = f"{bits['bits']:.3g} ({s['span']} x log2 {bits['vocab'] // 2})"
                row["bits / state unit"] = f"{bits['per_state_unit']:.3g} (of {bits['state_units']} units)"
            rows.append(row)
    if not rows:
        return None
    notes = ["span: the largest point solved by >= 80% of seeds with every smaller point solved; * marks a "
             "budget-limited point (more steps might solve it: it neither confirms nor refutes)."]
    if any("bits recalled" in r for r in rows):
        notes.append("mqar: bits recalled = pairs x log2(vocab/2), each value one of vocab/2; per state unit: over "
                     "hidden x the family's state tensors (h; the LSTM's h and c). In-context recall, not the "
                     "~5 bits per parameter Collins et al. 2017 measure stored in the weights.")
    return Table(pd.DataFrame(rows, dtype=object), title="Memory span per arm", notes=notes)


def _unit(axis: str) -> str:
    return "pairs" if axis == "pairs" else "steps"
