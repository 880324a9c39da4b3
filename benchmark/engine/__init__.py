"""The engine: how configured work becomes stored results, the same for every command.

- `cells`: profile + tasks + models + seeds + overrides -> validated Cells (the one way).
- `runner`: one cell trained by a Lightning Trainer, measured, turned into a record.
- `records`: the record schema; `store`: results.jsonl, appended whole, resumable.
- `throughput`, `host_memory`, `environment`: what a record measures and where it ran.
- `lock`, `progress`: one runner per results folder, and the live view of a matrix.
"""
