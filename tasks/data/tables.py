"""Tables and text files read through `datasets`' generic loaders (sentiment's own-data forms).

`load_dataset("csv" | "json" | "parquet" | "text", data_files=...)` puts pandas, pyarrow and a
plain line reader behind one call, so CSV quoting, JSON Lines and Parquet's types are handled
by libraries made for them instead of a parser of ours. The form comes from the suffix:

- `.tsv`, `.txt`: tab-separated with a header row, no quoting (SST-2's files);
- `.csv`: comma-separated with a header row, quoted fields allowed;
- `.jsonl`, `.json`, `.ndjson`: JSON Lines (one object a line) or one JSON array of objects;
- `.parquet`, `.pq`: Parquet.

A UTF-8 byte-order mark is dropped (pandas does it for delimited files; `utf-8-sig` for JSON and
text), and empty cells stay empty strings: pandas would read a sentence such as "null" or "NA"
as a missing value. Each load gets a throwaway `datasets` cache and stays in memory: the
processed tensors are cached by sources.cached, and a second Arrow copy of every user file
would only fill the disk. A file that cannot be read raises DataError naming it; a row is named
by its line where the form has one line a row (TSV, JSON Lines, CSV without multi-line fields),
else by its number.
"""
from __future__ import annotations

import contextlib
import csv
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import DataError
from tasks.data.sources import read_text

FORMS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "json", ".json": "json", ".ndjson": "json",
         ".parquet": "parquet", ".pq": "parquet"}
FORM_NAMES = {"tsv": "tab-separated values with a header row", "csv": "comma-separated values with a header row",
              "json": "JSON Lines (one object a line) or a JSON array of objects", "parquet": "Parquet",
              "text": "plain text"}
_OPTIONS = {  # load_dataset(builder, **options) per form
    "tsv": ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "keep_default_na": False, "na_filter": False}),
    "csv": ("csv", {"keep_default_na": False, "na_filter": False}),
    "json": ("json", {"encoding": "utf-8-sig"}),
    "parquet": ("parquet", {}),
}


@dataclass
class Table:
    """The rows of one file: `columns` in file order, `column(name)` the values of one."""
    path: Path
    form: str
    dataset: object                      # a datasets.Dataset, held in memory
    _lines: list | None = field(default=None, repr=False)

    @property
    def columns(self) -> list[str]:
        return list(self.dataset.column_names)

    def __len__(self) -> int:
        return len(self.dataset)

    def column(self, name: str) -> list:
        return self.dataset[name]

    def header_where(self) -> str:
        """Where a complaint about the columns points: the header line of a delimited file."""
        return f"{self.path}:1" if self.form in ("tsv", "csv") else str(self.path)

    def where(self, row: int) -> str:
        """`file:line` of row `row` (0-based), or `file row N` where lines and rows differ."""
        line = self._line(row)
        return f"{self.path}:{line}" if line else f"{self.path} row {row + 1}"

    def _line(self, row: int) -> int | None:
        if self.form == "parquet":
            return None
        if self._lines is None:  # read again only when a message needs a line number
            numbered = [n for n, text in enumerate(read_text(self.path).split("\n"), 1) if text.strip()]
            if self.form in ("tsv", "csv"):
                numbered = numbered[1:]  # the header
            self._lines = numbered if len(numbered) == len(self) else []  # a CSV field over several lines
        return self._lines[row] if row < len(self._lines) else None


def table_form(path: Path, setting: str) -> str:
    form = FORMS.get(path.suffix.lower())
    if form is None:
        raise DataError(f"{path}: unknown file form {path.suffix!r}; expected one of {', '.join(FORMS)} "
                        f"(rename the file, or point {setting} at a folder with one subfolder per class)")
    return form


def read_table(path: Path, setting: str) -> Table:
    """A table file of any form above; `setting` names the option that points at it, for messages."""
    form = table_form(path, setting)
    builder, options = _OPTIONS[form]
    return Table(path, form, _load(builder, [path], form, **options))


def read_lines(path: Path) -> list[str]:
    """A plain-text file's lines (one example a line), blank ones kept so that index + 1 is the line."""
    return _load("text", [path], "text", encoding="utf-8-sig")["text"]


def read_documents(paths: list[Path]) -> list[str]:
    """One string per file, each file read whole (one document a file, as IMDb's aclImdb)."""
    texts = _load("text", paths, "text", sample_by="document", encoding="utf-8-sig")["text"]
    if len(texts) != len(paths):  # a name datasets read as a glob pattern ([, *, ?) matched other files
        raise DataError(f"{paths[0].parent}: read {len(texts)} documents from {len(paths)} files; "
                        f"rename files whose names hold [, ], * or ?")
    return texts


def _load(builder: str, paths: list[Path], form: str, **options):
    import datasets  # seconds to import: only when a file of these forms is read

    files = [str(p) for p in paths]
    with tempfile.TemporaryDirectory(prefix="rnnbench-datasets-") as tmp, _quiet(datasets):
        try:
            return datasets.load_dataset(builder, data_files={"train": files}, split="train", cache_dir=tmp,
                                         keep_in_memory=True, **options)
        except Exception as e:  # noqa: BLE001 - every reader's failure becomes one message naming the file
            raise _read_error(e, paths, form) from None


def _read_error(error: Exception, paths: list[Path], form: str) -> DataError:
    cause = error.__cause__ or error  # datasets wraps the reader's error in DatasetGenerationError
    bad = next((p for p in paths if str(p) in str(error)), paths[0]) if len(paths) > 1 else paths[0]
    if isinstance(cause, ValueError) and "corresponds to no data" in str(cause):  # datasets' word for no rows
        return DataError(f"{bad}: no examples (a header alone, or nothing); an empty split cannot be trained "
                         f"or evaluated")
    if isinstance(cause, UnicodeDecodeError):
        read_text(bad)  # raises DataError with the line of the first bad byte
    if isinstance(cause, OSError) and not bad.is_file():
        return DataError(f"{bad}: cannot read ({cause.strerror or type(cause).__name__})")
    text = str(cause).strip().replace("\n", " ")
    return DataError(f"{bad}: cannot read as {FORM_NAMES[form]} ({type(cause).__name__}: {text}); fix the file, or "
                     f"give it the suffix of its form ({', '.join(FORMS)})")


@contextlib.contextmanager
def _quiet(datasets):
    """No progress bars or log lines from `datasets` inside a cell's log (a reader's failure is
    reported once, as our DataError); the previous state is restored after."""
    logging = datasets.utils.logging
    bars_off, verbosity = datasets.are_progress_bars_disabled(), logging.get_verbosity()
    datasets.disable_progress_bars()
    logging.set_verbosity(logging.CRITICAL)
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if not bars_off:
            datasets.enable_progress_bars()
