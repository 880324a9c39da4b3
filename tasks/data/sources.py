"""Where real data comes from: local files under a data directory, or the Hugging Face hub.

- The data directory comes from `--data-dir` or the RNNBENCH_DATA_DIR environment variable
  and is laid out like the project's shared/data (tinyshakespeare/, ptb/, sst2/, ...).
  Nothing here knows a machine-specific path.
- Hub loads go through `datasets.load_dataset` (script-free repositories only). Without
  network the hub is probed once, with a short timeout, and the cell is reported as skipped
  with a message saying which files to put where, instead of retrying for minutes.
- Problems with a file (missing column, bad value, empty split, bad encoding, an empty
  file) raise DataError naming the file and line. A UTF-8 byte-order mark (Windows editors
  and Excel's "CSV UTF-8" write one) is not data: `read_text` drops it for every reader.
- `data_files`/`missing_own_file` tell a user's own file from a default data set: a default
  one missing means the cell is skipped (CI without data), a user's own one missing is a
  mistyped path, reported before anything trains (benchmark/engine/cells.py).
- Processed tensors are cached under RNNBENCH_CACHE (default ~/.cache/rnnbench), keyed by
  the source files (path, size, mtime), the settings that shaped them and the loaders' code
  (the modules of this package, tasks/data/).
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import hashlib
import json
import os
import socket
import sys
from pathlib import Path
from typing import Callable

import torch

from benchmark.errors import DataError, DataUnavailable

HUB_HOST = "huggingface.co"


def data_root(data_dir=None) -> Path | None:
    root = data_dir or os.environ.get("RNNBENCH_DATA_DIR")
    return Path(root).expanduser() if root else None


def local_file(data_dir, relative: str, task: str) -> Path:
    """A file under the data directory (or an absolute path), or DataUnavailable saying where to put it."""
    given = Path(relative).expanduser()
    if given.is_absolute():
        if not given.exists():
            raise DataUnavailable(f"{task}: {given} not found; put the file there or give another path")
        return given
    root = data_root(data_dir)
    if root is None:
        raise DataUnavailable(f"{task}: no data directory set; put the data at DIR/{relative} and pass "
                              f"--data-dir DIR (or set RNNBENCH_DATA_DIR)")
    path = root / relative
    if not path.exists():
        raise DataUnavailable(f"{task}: {path} not found; put the file there (layout: see the README, "
                              f"'Data') or point --data-dir elsewhere")
    return path


BOM = "\ufeff"  # U+FEFF, the UTF-8 byte-order mark: EF BB BF at the start of a file


def read_text(path: Path, expected: str = "text") -> str:
    """The file's text without a leading byte-order mark; DataError for bad UTF-8 or an empty
    file (`expected` says what should be in it)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = Path(path).read_bytes()[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 ({e.reason} at byte {e.start}); re-encode the file as UTF-8") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    text = text.removeprefix(BOM)  # else the first header name or token would carry it
    if not text:
        raise DataError(f"{path}: empty file; expected {expected}")
    return text


def data_files(settings) -> dict[str, str]:
    """{setting: path} of the local files or folders a task's settings read, by the settings'
    names: `file`, `files` (a list), `folder`, `*_file`; none when `source` is not local (the
    hub). A task whose paths combine otherwise overrides TaskModule.data_files."""
    if getattr(settings, "source", "local") != "local":
        return {}
    out = {}
    for field in dataclasses.fields(settings):
        name, value = field.name, getattr(settings, field.name)
        if name == "files":
            out.update({f"{name}[{i}]": v for i, v in enumerate(value)})
        elif name in ("file", "folder") or name.endswith("_file"):
            out[name] = value
    return out


def missing_own_file(data_dir, path: str) -> str | None:
    """Why `path` (absolute, or relative to the data directory) cannot be read, naming the path
    tried and the closest name in its folder when there is one; None when it exists."""
    given = Path(path).expanduser()
    root = data_root(data_dir)
    if not given.is_absolute() and root is None:
        return f"{path!r} is relative to the data directory, and none is set (--data-dir or RNNBENCH_DATA_DIR)"
    full = given if given.is_absolute() else root / given
    if full.exists():
        return None
    near = difflib.get_close_matches(full.name, os.listdir(full.parent), n=1) if full.parent.is_dir() else []
    under = "" if given.is_absolute() else f" ({path!r} under the data directory)"
    return f"no such file or folder {full}{under}" + (f" (the closest name there: {near[0]})" if near else "")


_NOTED: set[str] = set()


def note(message: str) -> None:
    """Say something the user should know about their data (a repair, a fill, the split
    chosen) on stderr, once per process: a matrix loads one file for many cells."""
    if message not in _NOTED:
        _NOTED.add(message)
        print(f"note: {message}", file=sys.stderr, flush=True)


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_hub(repo: str, config: str | None, task: str, local_hint: str, revision: str | None = None):
    """`datasets.load_dataset(repo, config, revision=revision)`, or DataUnavailable at once when offline.

    A dataset already in the local `datasets` cache still loads offline (whatever the revision:
    offline, `datasets` serves the latest cached copy of the repository and config)."""
    import datasets  # seconds to import, and only hub sources need it: imported when one is asked for

    config, revision = config or None, revision or None  # "" in a settings file means "none"
    if not hub_reachable():
        try:
            with _offline(datasets):
                return datasets.load_dataset(repo, config, revision=revision)
        except Exception:  # noqa: BLE001 - not cached either: say what to do instead
            raise DataUnavailable(f"{task}: the hub ({HUB_HOST}) is unreachable and {repo} is not cached; "
                                  f"use local files instead: {local_hint}") from None
    try:
        return datasets.load_dataset(repo, config, revision=revision)
    except Exception as e:  # noqa: BLE001
        raise DataUnavailable(f"{task}: loading {repo} from the hub failed ({type(e).__name__}: {e}); "
                              f"use local files instead: {local_hint}") from None


@functools.cache
def _loader_code() -> str:
    """Hash of the loaders' source, every module of tasks/data/ (this file's folder): changing
    a loader must not serve stale tensors. Read once per process: the source does not change
    under a running matrix."""
    digest = hashlib.sha1()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _offline(datasets):
    """Offline mode for a load that may only use the local cache. The libraries read
    HF_HUB_OFFLINE once, at import: setting the variable now would be ignored and the load
    would retry the network for ~20 s, so flip the flags they consult instead."""
    import huggingface_hub.constants as hub  # comes with `datasets`: imported with it, for hub loads only
    saved = hub.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE
    hub.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE = saved


def cache_root() -> Path:
    return Path(os.environ.get("RNNBENCH_CACHE", Path.home() / ".cache" / "rnnbench"))


def cached(name: str, files: list[Path], settings: dict, build: Callable[[], object]):
    """Load a processed object from the cache, or build and store it (atomically)."""
    stamp = [(str(Path(f).resolve()), Path(f).stat().st_size, Path(f).stat().st_mtime_ns) for f in files]
    key = hashlib.sha1(json.dumps([name, stamp, settings, _loader_code()], sort_keys=True,
                                  default=str).encode()).hexdigest()[:16]
    path = cache_root() / f"{name}-{key}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=False)
        except Exception:  # noqa: BLE001 - a broken cache entry is rebuilt, never fatal
            pass
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(value, tmp)
    os.replace(tmp, path)
    return value
