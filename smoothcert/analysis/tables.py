"""Tables of results: generic Markdown / LaTeX / TSV tables, certified accuracy by run and radius, and the
"vary σ" table of Cohen et al. (2019) with its parser, to check our numbers against the published ones."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Literal

import numpy as np

from smoothcert.analysis.metrics import (
    abstain_rate,
    average_certified_radius,
    certified_accuracy,
    validate_radii,
)
from smoothcert.analysis.results import CertifyResults, read_results
from smoothcert.errors import InvalidArgumentError, ResultsError

Cell = str | int | float | None
TableFormat = Literal["markdown", "latex", "tsv"]

COHEN_CIFAR10_RADII = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
"""Radii of the published CIFAR-10 "vary σ" table."""


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


def _cells(header: Sequence[str], rows: Sequence[Sequence[Cell]], decimals: int) -> list[list[str]]:
    if decimals < 0:
        raise InvalidArgumentError(f"decimals must be >= 0, got {decimals!r}")
    if not header:
        raise InvalidArgumentError("a table needs at least one column")
    out = []
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise InvalidArgumentError(f"table row {i} has {len(row)} cells, the header has {len(header)}")
        out.append([format_cell(v, decimals) for v in row])
    return out


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], decimals: int = 3) -> str:
    """A GitHub-style pipe table (one line per row, ending in a newline); ``|`` inside cells is escaped."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", r"\|").replace("\n", " ") for c in cells) + " |"

    body = _cells(header, rows, decimals)
    lines = [line([str(h) for h in header]), "|" + "|".join(["---"] * len(header)) + "|"]
    lines += [line(r) for r in body]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials outside ``$...$`` math; backslash commands and math are left as written."""
    parts = text.split("$")
    for i in range(0, len(parts), 2):  # even parts are outside math
        parts[i] = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in parts[i])
    return "$".join(parts)


def latex_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], caption: str | None = None,
                decimals: int = 3, label: str | None = None) -> str:
    """A booktabs ``tabular`` (first column left-aligned, the others right-aligned).

    With a ``caption`` (or ``label``) it is wrapped in a ``table`` environment.
    Needs ``\\usepackage{booktabs}``.
    """
    body = _cells(header, rows, decimals)
    spec = "l" + "r" * (len(header) - 1)

    def line(cells: Sequence[str]) -> str:
        return " & ".join(latex_escape(c) for c in cells) + r" \\"

    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", line([str(h) for h in header]), r"\midrule"]
    lines += [line(r) for r in body]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption is not None or label is not None:
        inner = [r"\begin{table}[t]", r"\centering"]
        if caption is not None:
            inner.append(rf"\caption{{{latex_escape(caption)}}}")
        if label is not None:
            inner.append(rf"\label{{{label}}}")
        lines = [*inner, *lines, r"\end{table}"]
    return "\n".join(lines) + "\n"


def tsv_table(header: Sequence[str], rows: Sequence[Sequence[Cell]], decimals: int = 3) -> str:
    """Tab-separated values with a header line; tabs and newlines inside cells become spaces."""
    body = _cells(header, rows, decimals)

    def line(cells: Sequence[str]) -> str:
        return "\t".join(c.replace("\t", " ").replace("\n", " ") for c in cells)

    return "\n".join([line([str(h) for h in header]), *(line(r) for r in body)]) + "\n"


def _radius_label(r: float, fmt: str) -> str:
    if fmt == "latex":
        return f"$r = {r:g}$"
    return f"r={r:g}" if fmt == "tsv" else f"r = {r:g}"


def _bold(text: str, fmt: str) -> str:
    return rf"\textbf{{{text}}}" if fmt == "latex" else f"**{text}**"


def certified_accuracy_table(runs: Mapping[str, CertifyResults], radii: Sequence[float] | np.ndarray,
                             fmt: TableFormat = "markdown", decimals: int = 3, mark_best: bool = False,
                             acr: bool = False, abstain: bool = False, radius_column: str = "radius",
                             caption: str | None = None) -> str:
    """Certified accuracy, one row per run and one column per radius.

    Args:
        runs: run label → results (rows in mapping order).
        radii: R ℓ2 radii (input space), finite and ≥ 0.
        fmt: ``"markdown"``, ``"latex"`` or ``"tsv"``.
        decimals: decimals shown for every number.
        mark_best: bold the best run in each accuracy / ACR column (markdown and latex; all runs tied at the
            displayed precision are marked; a column where all runs are equal is not marked).
        acr: add an average-certified-radius column.
        abstain: add an abstain-rate column.
        radius_column: the radius column to use.
        caption: LaTeX caption (latex only).

    Returns:
        The table text, ending in a newline.
    """
    if fmt not in ("markdown", "latex", "tsv"):
        raise InvalidArgumentError(f"fmt must be 'markdown', 'latex' or 'tsv', got {fmt!r}")
    if not runs:
        raise InvalidArgumentError("no runs to tabulate")
    r = validate_radii(radii)
    if r.ndim != 1:
        raise InvalidArgumentError(f"radii must be one-dimensional, got shape {r.shape}")

    header = ["run", *(_radius_label(x, fmt) for x in r)]
    columns = [certified_accuracy(res, r, radius_column) for res in runs.values()]
    values = np.array(columns).reshape(len(runs), len(r))  # [runs, R]
    best_cols = list(range(len(r)))
    if acr:
        header.append("ACR")
        acrs = [average_certified_radius(res, radius_column) for res in runs.values()]
        values = np.column_stack([values, acrs])
        best_cols.append(values.shape[1] - 1)
    if abstain:
        header.append("abstain_rate" if fmt == "tsv" else "abstain rate")
        values = np.column_stack([values, [abstain_rate(res) for res in runs.values()]])

    text = [[f"{v:.{decimals}f}" for v in row] for row in values]
    if mark_best and fmt != "tsv":
        shown = np.round(values, decimals)
        for j in best_cols:
            col = shown[:, j]
            if np.all(col == col[0]):
                continue
            for i in np.flatnonzero(col == col.max()):
                text[i][j] = _bold(text[i][j], fmt)
    rows = [[label, *cells] for label, cells in zip(runs, text, strict=True)]
    if fmt == "latex":
        return latex_table(header, rows, caption=caption, decimals=decimals)
    if fmt == "tsv":
        return tsv_table(header, rows, decimals)
    return markdown_table(header, rows, decimals)


# ---- Cohen et al. (2019), "vary σ" tables --------------------------------------------------------

_PUBLISHED_ROW = re.compile(r"^<b>\s*(.*?)\s*</b>\s*\|(.*)$")
_PUBLISHED_RADIUS = re.compile(r"r = ([0-9.]+)")
_STAR = "<b>*</b>"


def _round2(value: float) -> float:
    """The value as shown with 2 decimals."""
    return float(f"{value:.2f}")


def vary_noise_table(files: Mapping[str, str | Path | CertifyResults],
                     radii: Sequence[float] = COHEN_CIFAR10_RADII, radius_column: str = "radius") -> str:
    """Cohen et al.'s "vary σ" table, in the HTML-flavoured Markdown of their published tables.

    One row per run; each cell is the certified accuracy at that radius with 2 decimals; ``<b>*</b>`` marks
    the best run per radius (the first in ``files`` order on an exact tie).

    Args:
        files: row label (e.g. ``"&sigma; = 0.25"``) → result file or loaded results.
        radii: R ℓ2 radii in input space.
        radius_column: the radius column to use.

    Returns:
        The table text, ending in a newline.
    """
    if not files:
        raise InvalidArgumentError("no result files to tabulate")
    r = validate_radii(radii)
    if r.ndim != 1:
        raise InvalidArgumentError(f"radii must be one-dimensional, got shape {r.shape}")
    runs = {label: src if isinstance(src, CertifyResults) else read_results(src)
            for label, src in files.items()}
    acc = np.array([certified_accuracy(res, r, radius_column) for res in runs.values()])  # [runs, R]
    best = acc.argmax(axis=0)  # argmax returns the first maximum on ties

    lines = ["|  | " + "".join(f"r = {float(x):.3} |" for x in r),
             "| --- | " + " --- |" * len(r)]
    for i, label in enumerate(runs):
        cells = "".join(f"{v:.2f}{_STAR if best[j] == i else ''} |" for j, v in enumerate(acc[i]))
        lines.append(f"<b> {label} </b>| {cells}")
    return "\n".join(lines) + "\n"


def _read_published(path: str | Path) -> tuple[list[float], dict[str, list[float]]]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ResultsError(f"{path}: published table not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read published table: {exc}") from None
    radii: list[float] | None = None
    table: dict[str, list[float]] = {}
    for line_no, line in enumerate(lines, start=1):
        if radii is None and line.startswith("|") and "r = " in line:
            radii = [float(x) for x in _PUBLISHED_RADIUS.findall(line)]
            continue
        m = _PUBLISHED_ROW.match(line.strip())
        if m is None:
            continue
        label, rest = m.groups()
        cells = [c.strip().replace(_STAR, "") for c in rest.split("|")]
        cells = [c for c in cells if c]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            raise ResultsError(f"{path}, line {line_no}: cannot parse the values of row {label!r}") from None
        if radii is None or len(values) != len(radii):
            raise ResultsError(f"{path}, line {line_no}: row {label!r} has {len(values)} values, "
                               f"the header has {0 if radii is None else len(radii)} radii")
        table[label] = values
    if radii is None or not table:
        raise ResultsError(f"{path}: no 'r = ...' header line or no '<b> label </b>|' rows")
    return radii, table


def parse_published_table(path: str | Path) -> dict[str, list[float]]:
    """Rows of a published "vary σ" table: label (e.g. ``"&sigma; = 0.25"``) → R values (stars dropped)."""
    return _read_published(path)[1]


def published_table_radii(path: str | Path) -> list[float]:
    """The R radii of a published "vary σ" table's header, in column order."""
    return _read_published(path)[0]


def matched_noise_files(reference_dir: str | Path, dataset: str = "cifar10") -> dict[str, Path]:
    """Cohen's result files certified at their training noise, by row label, in increasing σ.

    Files are named ``DATASET_ARCH_noise_S_test_sigma_S.tsv``; the label is ``"&sigma; = S"``.

    Raises:
        ResultsError: no such file in ``reference_dir``.
    """
    reference_dir = Path(reference_dir)
    pattern = re.compile(rf"^{re.escape(dataset)}_.+_noise_([0-9.]+)_test_sigma_([0-9.]+)\.tsv$")
    found = []
    for path in reference_dir.glob(f"{dataset}_*_test_sigma_*.tsv"):
        m = pattern.match(path.name)
        if m is not None and m.group(1) == m.group(2):
            found.append((float(m.group(1)), m.group(1), path))
    if not found:
        raise ResultsError(f"{reference_dir}: no {dataset}_*_noise_S_test_sigma_S.tsv files")
    return {f"&sigma; = {text}": path for _, text, path in sorted(found)}


def reproduce_cohen_table(reference_dir: str | Path, dataset: str = "cifar10"
                          ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Recompute ``published_vary_noise_DATASET.md`` from the raw result files beside it.

    Returns:
        (ours, published): label → values at the published table's radii; ours are rounded to 2 decimals as
        printed, so the two agree exactly when the reproduction holds.
    """
    reference_dir = Path(reference_dir)
    radii, published = _read_published(reference_dir / f"published_vary_noise_{dataset}.md")
    ours = {label: [_round2(v) for v in certified_accuracy(read_results(path), radii)]
            for label, path in matched_noise_files(reference_dir, dataset).items()}
    return ours, published
