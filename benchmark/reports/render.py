"""The one table renderer: every table the suite shows a person goes through here.

A `Table` is a pandas DataFrame of raw values (numbers stay numbers) plus what people need
to read it: a title, notes, which columns they see, and which rows compete for "best". The
matrix tables (`run`, `table`), the reproduced tables (`reproduce rnn-vs-lstm`, `reproduce
papers`), the W&B summary and the HTML report all build `Table`s and call `render`, so a
number looks the same everywhere:

- 4 significant figures, no exponent between 1e-6 and 1e15 (`1.955e+04` becomes `19,550`);
  a column "X std" folds into "X" as `mean ± std` (2 significant figures);
- the best value of a column among the competing rows is bold (`**x**`, `\\textbf`, <b>);
- CSV and JSON keep the raw frame: every row, every column, full precision.

Markdown is written here (a few lines) rather than through `DataFrame.to_markdown`, which
needs tabulate; LaTeX and HTML go through pandas' Styler (jinja2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

FORMATS = ("md", "csv", "latex", "html", "json")
STD = " std"  # "X std" is the spread of column "X"


@dataclass
class Table:
    frame: pd.DataFrame
    title: str = ""
    notes: list[str] = field(default_factory=list)
    show: list[str] | None = None          # columns people see; None = every column but the "X std" ones
    best: dict[str, str] = field(default_factory=dict)  # column -> "max" or "min"
    contenders: list[bool] | None = None    # rows that may be marked best (models, not baselines); None = all
    classes: list[str] | None = None        # a CSS class per row, for the HTML report (verdict colours)
    column_format: str | None = None        # LaTeX's; None = every column left-aligned on one line


def number(value, digits: int = 4) -> str:
    """`digits` significant figures, thousands separated, an exponent only outside [1e-6, 1e15)."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):  # an interval
        return "[" + ", ".join(number(v, digits) for v in value) + "]"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(value):
        return ""
    if math.isinf(value) or value == 0:
        return "0" if value == 0 else ("∞" if value > 0 else "-∞")
    magnitude = math.floor(math.log10(abs(value)))
    if not -6 <= magnitude < 15:
        return f"{value:.{digits - 1}e}"
    decimals = digits - 1 - magnitude
    if decimals <= 0:
        return f"{round(value, decimals):,.0f}"
    return f"{value:.{decimals}f}"


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, dicts
        return False


def cell_text(value, spread=None) -> str:
    if _missing(value):
        return ""
    text = number(value)
    if not _missing(spread) and isinstance(spread, (int, float)) and spread > 0:
        text += f" ± {number(spread, 2)}"
    return text


def shown_columns(table: Table) -> list[str]:
    if table.show is not None:
        return [c for c in table.show if c in table.frame.columns]
    return [c for c in table.frame.columns if not str(c).endswith(STD)]


def display(table: Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(text frame people see, boolean frame of best cells)."""
    frame = table.frame.reset_index(drop=True)
    columns = shown_columns(table)
    text = pd.DataFrame({c: [cell_text(v, frame.at[i, c + STD] if c + STD in frame.columns else None)
                             for i, v in enumerate(frame[c])] for c in columns}, columns=columns)
    marks = pd.DataFrame(False, index=text.index, columns=columns)
    contenders = table.contenders if table.contenders is not None else [True] * len(frame)
    for column, way in table.best.items():
        if column not in columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").where(pd.Series(contenders, index=frame.index))
        if values.notna().sum() < 2:  # a lone value is not "best" of anything
            continue
        target = values.max() if way == "max" else values.min()
        marks[column] = values == target
    return text, marks


def render(tables: list[Table], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose from: {', '.join(FORMATS)}")
    if fmt == "csv":
        frames = [t.frame for t in tables if len(t.frame)]
        return pd.concat(frames, ignore_index=True).to_csv(index=False) if frames else ""
    if fmt == "json":
        frames = [t.frame for t in tables]
        return pd.concat(frames, ignore_index=True).to_json(orient="records", indent=2) if frames else "[]"
    return "\n".join({"md": _markdown, "latex": _latex, "html": _html}[fmt](t) for t in tables)


def _markdown(table: Table) -> str:
    text, marks = display(table)
    if not len(text.columns) and table.title and table.notes:  # nothing to tabulate (no cell trained): one line
        return f"{table.title}: {'; '.join(table.notes)}\n"
    lines = [f"### {table.title}", ""] if table.title else []
    if len(text.columns):  # none: a section with nothing trained is its title and notes
        lines += ["| " + " | ".join(map(str, text.columns)) + " |", "|" + "---|" * len(text.columns)]
    for i in text.index:
        cells = [f"**{v}**" if marks.at[i, c] and v else v for c, v in text.loc[i].items()]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    if table.notes:
        lines += ["", *table.notes] if len(text.columns) else table.notes
    return "\n".join(lines) + "\n"


def _styler(table: Table, escape: str):
    text, marks = display(table)
    styler = text.style.hide(axis="index").format(escape=escape).format_index(escape=escape, axis=1)
    styler = styler.apply(lambda _: marks.map(lambda m: "font-weight: bold" if m else ""), axis=None)
    if table.classes:
        styler = styler.set_td_classes(pd.DataFrame([[c or ""] * len(text.columns) for c in table.classes],
                                                    index=text.index, columns=text.columns))
    return styler


def _latex(table: Table) -> str:
    body = _styler(table, "latex").to_latex(hrules=True, convert_css=True,
                                            column_format=table.column_format or "l" * len(shown_columns(table))) \
        if shown_columns(table) else ""
    esc = lambda s: s.replace("\\", "/").replace("%", r"\%").replace("&", r"\&").replace("_", r"\_")  # noqa: E731
    head = [f"% {esc(table.title)}"] if table.title else []
    return "\n".join([*head, *([body.rstrip()] if body else []), *[f"% {esc(n)}" for n in table.notes], ""])


def _html(table: Table) -> str:
    import html

    title = f"<h3>{html.escape(table.title)}</h3>" if table.title else ""
    body = _styler(table, "html").set_table_attributes('class="results"').to_html() if shown_columns(table) else ""
    notes = "".join(f'<p class="table-note">{html.escape(n)}</p>' for n in table.notes)
    return f"{title}{body}{notes}"
