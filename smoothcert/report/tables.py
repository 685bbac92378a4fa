"""Text renderings of a :class:`~smoothcert.document.Table`: GitHub Markdown, booktabs LaTeX and TSV.

Every number is formatted here, by :func:`format_cell`, so a table reads the same in every format; bold cells
are ``**x**`` in Markdown, ``\\textbf{x}`` in LaTeX and plain in TSV (a data file).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from smoothcert.analysis.results import CertifyResults
from smoothcert.analysis.tables import TableFormat, certified_accuracy_data
from smoothcert.document import Cell, Table
from smoothcert.errors import InvalidArgumentError

FORMATS: tuple[TableFormat, ...] = ("markdown", "latex", "tsv")


def format_cell(value: Any, decimals: int = 3) -> str:
    """Text of one cell: floats with ``decimals`` decimals ("–" for NaN), integers as is, None as ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return "–" if math.isnan(value) else f"{float(value):.{decimals}f}"
    return str(value)


def _cells(table: Table) -> list[list[str]]:
    return [[format_cell(v, table.decimals) for v in row] for row in table.rows]


def _markdown(table: Table) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", r"\|").replace("\n", " ") for c in cells) + " |"

    body = _cells(table)
    for i, j in table.bold:
        body[i][j] = f"**{body[i][j]}**"
    lines = [line(table.header), "|" + "|".join(["---"] * len(table.header)) + "|", *(line(r) for r in body)]
    if table.caption is not None:  # pandoc's caption line; elsewhere a plain paragraph above the table
        lines = [f"Table: {table.caption}", "", *lines]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials outside ``$...$`` math; backslash commands and math are left as written."""
    parts = text.split("$")
    for i in range(0, len(parts), 2):  # even parts are outside math
        parts[i] = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in parts[i])
    return "$".join(parts)


def _latex(table: Table, label: str | None = None) -> str:
    body = [[latex_escape(c) for c in row] for row in _cells(table)]
    for i, j in table.bold:
        body[i][j] = rf"\textbf{{{body[i][j]}}}"

    def line(cells: Sequence[str]) -> str:
        return " & ".join(cells) + r" \\"

    spec = "l" + "r" * (len(table.header) - 1)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", line([latex_escape(h) for h in table.header]),
             r"\midrule", *(line(r) for r in body), r"\bottomrule", r"\end{tabular}"]
    if table.caption is not None or label is not None:
        inner = [r"\begin{table}[t]", r"\centering"]
        if table.caption is not None:
            inner.append(rf"\caption{{{latex_escape(table.caption)}}}")
        if label is not None:
            inner.append(rf"\label{{{label}}}")
        lines = [*inner, *lines, r"\end{table}"]
    return "\n".join(lines) + "\n"


def _tsv(table: Table) -> str:
    def line(cells: Sequence[str]) -> str:
        return "\t".join(c.replace("\t", " ").replace("\n", " ") for c in cells)

    return "\n".join([line(table.header), *(line(r) for r in _cells(table))]) + "\n"


def render_table(table: Table, fmt: TableFormat = "markdown", *, label: str | None = None) -> str:
    """``table`` as text, ending in a newline.

    Args:
        table: the table.
        fmt: ``"markdown"`` (a GitHub pipe table; ``|`` in cells is escaped; a caption becomes a ``Table:`` line
            above it), ``"latex"`` (a booktabs ``tabular``, first column left-aligned, the others right-aligned;
            with a caption or ``label`` inside a ``table`` environment; needs ``\\usepackage{booktabs}``) or
            ``"tsv"`` (tab-separated with a header line; tabs and newlines in cells become spaces; no caption).
        label: LaTeX ``\\label`` (latex only).
    """
    if fmt == "markdown":
        return _markdown(table)
    if fmt == "latex":
        return _latex(table, label)
    if fmt == "tsv":
        return _tsv(table)
    raise InvalidArgumentError(f"fmt must be 'markdown', 'latex' or 'tsv', got {fmt!r}")


# --- header + rows conveniences (a Table built on the spot) ---------------------------------------------------

def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], decimals: int = 3) -> str:
    """A GitHub-style pipe table of ``header`` and ``rows`` (see :func:`render_table`)."""
    return render_table(Table(header, rows, decimals=decimals), "markdown")


def latex_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], caption: str | None = None,
                decimals: int = 3, label: str | None = None) -> str:
    """A booktabs ``tabular`` of ``header`` and ``rows`` (see :func:`render_table`)."""
    return render_table(Table(header, rows, caption=caption, decimals=decimals), "latex", label=label)


def tsv_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], decimals: int = 3) -> str:
    """Tab-separated values of ``header`` and ``rows`` (see :func:`render_table`)."""
    return render_table(Table(header, rows, decimals=decimals), "tsv")


def certified_accuracy_table(runs: Mapping[str, CertifyResults], radii: Sequence[float] | np.ndarray,
                             fmt: TableFormat = "markdown", decimals: int = 3, mark_best: bool = False,
                             acr: bool = False, abstain: bool = False, radius_column: str = "radius",
                             caption: str | None = None) -> str:
    """:func:`~smoothcert.analysis.tables.certified_accuracy_data` rendered in ``fmt``, with that format's
    header labels (see there for the arguments); the text ends in a newline."""
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"fmt must be 'markdown', 'latex' or 'tsv', got {fmt!r}")
    table = certified_accuracy_data(runs, radii, decimals=decimals, mark_best=mark_best, acr=acr, abstain=abstain,
                                    radius_column=radius_column, caption=caption, style=fmt)
    return render_table(table, fmt)
