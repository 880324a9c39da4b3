"""What every measurement writes: <name>.json (everything) and <name>.csv (its rows), with provenance."""
from __future__ import annotations

import csv
import json
from pathlib import Path


def write(folder: Path, name: str, result: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    rows = result.get("rows", [])
    columns = list(dict.fromkeys(k for r in rows for k in r if not isinstance(r[k], (list, dict))))
    with open(folder / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read(folder: Path, name: str) -> dict | None:
    path = Path(folder) / f"{name}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None
