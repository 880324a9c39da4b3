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
  (the modules of this package, tasks/data/). An entry holds plain containers and tensors
  only, read with `torch.load(weights_only=True)` after a sha256 check: nothing in the cache
  can run code, and an entry that is broken, altered or of the wrong shape is rebuilt.
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import functools
import hashlib
import io
import json
import os
import socket
import sys
import tempfile
import types
import typing
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
            _broken_link(given, task)
            raise DataUnavailable(f"{task}: {given} not found; put the file there or give another path")
        return given
    root = data_root(data_dir)
    if root is None:
        raise DataUnavailable(f"{task}: no data directory set; put the data at DIR/{relative} and pass "
                              f"--data-dir DIR (or set RNNBENCH_DATA_DIR)")
    path = root / relative
    if not path.exists():
        _broken_link(path, task)
        raise DataUnavailable(f"{task}: {path} not found; put the file there (layout: see the README, "
                              f"'Data') or point --data-dir elsewhere")
    return path


def link_problem(path: Path) -> str | None:
    """Why `path` cannot be opened when the reason is a symbolic link (a loop, a link to nothing,
    a folder on the way that cannot be searched), as "<path> is ..."; None otherwise."""
    try:
        os.stat(path)
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"{path} is a symbolic link loop; point the link at a real file, or give the file's own path"
        if e.errno not in (errno.ENOENT, errno.ENOTDIR):
            return f"{path} cannot be reached ({e.strerror})"
    if os.path.islink(path):
        return f"{path} is a symbolic link to {os.readlink(path)}, which does not exist; fix the link or the path"
    return None


def _broken_link(path: Path, task: str) -> None:
    """DataError when `path` is a broken link (not absent: a download into it would not help)."""
    why = link_problem(path)
    if why:
        raise DataError(f"{task}: {why}")


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
    names: `file`, `files` (a list), `folder`, `*_file`, and `*_files` ({name: path}, as
    (name, path) pairs or a list: sentiment.class_files -> `class_files.pos`); none when
    `source` is not local (the hub). A task whose paths combine otherwise, or that reads only
    some of them, overrides TaskModule.data_files."""
    if getattr(settings, "source", "local") != "local":
        return {}
    out = {}
    for field in dataclasses.fields(settings):
        name, value = field.name, getattr(settings, field.name)
        if name == "files":
            out.update({f"{name}[{i}]": v for i, v in enumerate(value)})
        elif name in ("file", "folder") or name.endswith("_file"):
            out[name] = value
        elif name.endswith("_files") and value:
            out.update({f"{name}{part}": path for part, path in _named_paths(value)})
    return out


def _named_paths(value) -> list[tuple[str, str]]:
    """(".name" or "[i]", path) of a `*_files` setting: a mapping, (name, path) pairs, or paths."""
    if isinstance(value, dict):
        return [(f".{k}", v) for k, v in value.items()]
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if all(isinstance(p, (list, tuple)) and len(p) == 2 for p in items):
        return [(f".{k}", v) for k, v in items]
    return [(f"[{i}]", p) for i, p in enumerate(items)]


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
    under = "" if given.is_absolute() else f" ({path!r} under the data directory)"
    linked = link_problem(full)
    if linked:
        return linked.replace(str(full), f"{full}{under}", 1)
    others = [n for n in os.listdir(full.parent) if n != full.name] if full.parent.is_dir() else []
    near = difflib.get_close_matches(full.name, others, n=1)
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


# A cache entry: this header, the sha256 of the payload (hex) and a newline, then the payload,
# `torch.save` of plain containers (dict, list, tuple, str, int, float, bool, None) and tensors,
# read back with `torch.load(weights_only=True)`: nothing read from the cache can run code.
# Format 1 (before) was a full pickle; CACHE_FORMAT is part of the key, so none is ever read again.
CACHE_FORMAT = 2
_MAGIC = b"rnnbench-cache 2\n"


class BadEntry(Exception):
    """Why a cache entry cannot be used (it is rebuilt)."""


def cached(name: str, files: list[Path], settings: dict, build: Callable[[], object], expect=object):
    """Load a processed object from the cache, or build and store it (atomically).

    `expect` describes the value (see `_fit`: a type, a dataclass, list[str], {"key": ...}); an
    entry that is unreadable, fails its checksum, or does not fit `expect` is rebuilt, never
    fatal, with a note saying why. Dataclasses are stored as their fields and rebuilt from them,
    so a dataclass in the value must be named in `expect`."""
    stamp = [(str(Path(f).resolve()), Path(f).stat().st_size, Path(f).stat().st_mtime_ns) for f in files]
    key = hashlib.sha1(json.dumps([name, CACHE_FORMAT, stamp, settings, _loader_code()], sort_keys=True,
                                  default=str).encode()).hexdigest()[:16]
    path = cache_root() / f"{name}-{key}.pt"  # .pt as before; the key (CACHE_FORMAT) is new
    if os.path.lexists(path):
        try:
            return _read_entry(path, expect)
        except BadEntry as e:
            note(f"rebuilt the cache entry {path}: {e}")
    value = build()
    _write_entry(path, value, expect)
    return value


def _read_entry(path: Path, expect):
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BadEntry(f"cannot read it ({e.strerror or type(e).__name__})") from None
    head, digest, payload = raw[:len(_MAGIC)], raw[len(_MAGIC):len(_MAGIC) + 65], raw[len(_MAGIC) + 65:]
    if head != _MAGIC:
        raise BadEntry(f"not a cache entry of format {CACHE_FORMAT}")
    if digest != hashlib.sha256(payload).hexdigest().encode() + b"\n":
        raise BadEntry("checksum mismatch (truncated or altered)")
    try:
        stored = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever the payload holds, it is only ever rebuilt
        raise BadEntry(f"unreadable payload ({type(e).__name__})") from None
    return _fit(stored, expect, "the entry")


def _write_entry(path: Path, value, expect) -> None:
    stored = _plain(value)
    try:
        _fit(stored, expect, "the value")  # what a later load checks: a value that cannot pass is not stored
    except BadEntry as e:
        note(f"not cached ({path.name}): {e}")
        return
    buffer = io.BytesIO()
    torch.save(stored, buffer)
    payload = buffer.getvalue()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # never a planted link
        with os.fdopen(fd, "wb") as out:
            out.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(tmp, path)  # atomic; replaces a link at `path` itself, never its target
    except OSError as e:
        note(f"could not write the cache entry {path} ({e.strerror or type(e).__name__}); the data is not cached")
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _plain(value):
    """`value` as plain containers and tensors: a dataclass becomes a dict of its fields."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _fit(value, expect, where: str):
    """`value` (plain, as stored) as `expect` describes it, or BadEntry saying where it differs.
    `expect`: `object` (anything); a class (isinstance; bool is no int); a dataclass (a dict of
    exactly its fields, each as its annotation says, made into the dataclass); list[X],
    dict[K, V], tuple[X, Y] / tuple[X, ...], X | None; a dict {"key": expect} (exactly these keys)."""
    origin, args = typing.get_origin(expect), typing.get_args(expect)
    if expect is object:
        return value
    if isinstance(expect, dict):
        if not isinstance(value, dict) or set(value) != set(expect):
            raise BadEntry(f"{where} is not a dict with keys {sorted(expect)}")
        return {k: _fit(value[k], e, f"{where}[{k!r}]") for k, e in expect.items()}
    if origin in (typing.Union, types.UnionType):
        for option in args:
            with contextlib.suppress(BadEntry):
                return _fit(value, option, where)
        raise BadEntry(f"{where} is a {type(value).__name__}, expected {expect}")
    if origin is list:
        if not isinstance(value, list):
            raise BadEntry(f"{where} is a {type(value).__name__}, expected a list")
        return [_fit(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is tuple:
        if not isinstance(value, tuple):
            raise BadEntry(f"{where} is a {type(value).__name__}, expected a tuple")
        kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(kinds) != len(value):
            raise BadEntry(f"{where} has {len(value)} items, expected {len(kinds)}")
        return tuple(_fit(v, k, f"{where}[{i}]") for i, (v, k) in enumerate(zip(value, kinds)))
    if origin is dict:
        if not isinstance(value, dict):
            raise BadEntry(f"{where} is a {type(value).__name__}, expected a dict")
        k_type, v_type = args or (object, object)
        return {_fit(k, k_type, f"{where} key"): _fit(v, v_type, f"{where}[{k!r}]") for k, v in value.items()}
    if dataclasses.is_dataclass(expect):
        hints = typing.get_type_hints(expect)
        fields = {f.name: hints[f.name] for f in dataclasses.fields(expect)}
        return expect(**_fit(value, fields, f"{where} ({expect.__name__})"))
    if isinstance(expect, type):
        if not isinstance(value, expect) or (isinstance(value, bool) and expect in (int, float)):
            raise BadEntry(f"{where} is a {type(value).__name__}, expected a {expect.__name__}")
        return value
    raise TypeError(f"cannot describe a cached value by {expect!r}")
