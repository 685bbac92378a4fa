"""Tables of results as data: certified accuracy by run and radius, and the "vary σ" table of Cohen et al. (2019)
with its parser, to check our numbers against the published ones.

Tables are :class:`~smoothcert.document.Table` values (raw numbers); :mod:`smoothcert.report.tables` renders
them as Markdown, LaTeX or TSV. The one text writer here, :func:`vary_noise_table`, writes the published
table's own file format (byte for byte), the counterpart of its parser.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from smoothcert.analysis.metrics import (
    P_A_LEVELS,
    abstain_rate,
    average_certified_radius,
    certified_accuracy,
    p_a_distribution,
    validate_radii,
)
from smoothcert.analysis.results import CertifyResults, read_results
from smoothcert.document import Table
from smoothcert.errors import InvalidArgumentError, ResultsError

TableFormat = Literal["markdown", "latex", "tsv"]
"""Header style of :func:`certified_accuracy_data` (the renderers in :mod:`smoothcert.report.tables`)."""

COHEN_CIFAR10_RADII = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
"""Radii of the published CIFAR-10 "vary σ" table."""


def _radius_label(r: float, style: str) -> str:
    if style == "latex":
        return f"$r = {r:g}$"
    return f"r={r:g}" if style == "tsv" else f"r = {r:g}"


def _best_cells(values: np.ndarray, columns: Sequence[int], decimals: int) -> set[tuple[int, int]]:
    """(row, column) of the largest value of each column as shown with ``decimals`` (every tie); a column
    whose shown values are all equal has none (NaN cells, shown "–", take no part)."""
    shown = np.round(values, decimals)
    best = set()
    for j in columns:
        col = shown[:, j]
        known = col[~np.isnan(col)]
        if known.size == 0 or np.all(known == known[0]):
            continue
        best |= {(int(i), j) for i in np.flatnonzero(col == known.max())}
    return best


def certified_accuracy_data(runs: Mapping[str, CertifyResults], radii: Sequence[float] | np.ndarray, *,
                            decimals: int = 3, mark_best: bool = False, acr: bool = False, abstain: bool = False,
                            radius_column: str | Mapping[str, str] = "radius", caption: str | None = None,
                            style: TableFormat = "markdown", rows: bool = False,
                            acr_withheld: Collection[str] = ()) -> Table:
    """Certified accuracy, one row per run and one column per radius, as a :class:`~smoothcert.document.Table`
    of raw values (render it with :mod:`smoothcert.report`).

    Args:
        runs: run label → results (rows in mapping order).
        radii: R ℓ2 radii (input space), finite and ≥ 0.
        decimals: decimals the table shows (and at which ``mark_best`` compares values).
        mark_best: bold the best run in each accuracy / ACR column (all runs tied at the displayed precision
            are marked; a column where all runs are equal is not marked). TSV renders no bold.
        acr: add an average-certified-radius column.
        abstain: add an abstain-rate column: the share of rows without a certificate in the radius column
            (:func:`~smoothcert.analysis.metrics.abstain_rate`; NaN, shown "–", for a column without values).
        radius_column: the radius column to use, or one per run label (several columns of one file).
        caption: the table's caption.
        style: header labels for this output format: ``r = 0.5`` (markdown), ``$r = 0.5$`` (latex),
            ``r=0.5`` and ``abstain_rate`` (tsv, one token per column).
        rows: add a column ``N``, the number of rows of each run (every fraction is over them).
        acr_withheld: labels of runs whose ACR means nothing (radii of sequential runs at a preset radius):
            their ACR cell is NaN, shown "–".

    Returns:
        header ``run, r = …, [ACR], [abstain rate], [N]``; one row per run.
    """
    if style not in ("markdown", "latex", "tsv"):
        raise InvalidArgumentError(f"fmt must be 'markdown', 'latex' or 'tsv', got {style!r}")
    if not runs:
        raise InvalidArgumentError("no runs to tabulate")
    r = validate_radii(radii)
    if r.ndim != 1:
        raise InvalidArgumentError(f"radii must be one-dimensional, got shape {r.shape}")

    column_of = {label: radius_column if isinstance(radius_column, str) else radius_column[label] for label in runs}
    header = ["run", *(_radius_label(x, style) for x in r)]
    columns = [certified_accuracy(res, r, column_of[label]) for label, res in runs.items()]
    values = np.array(columns).reshape(len(runs), len(r))  # [runs, R]
    best_cols = list(range(len(r)))
    if acr:
        header.append("ACR")
        acrs = [float("nan") if label in acr_withheld else average_certified_radius(res, column_of[label])
                for label, res in runs.items()]
        values = np.column_stack([values, acrs])
        best_cols.append(values.shape[1] - 1)
    if abstain:
        header.append("abstain_rate" if style == "tsv" else "abstain rate")
        values = np.column_stack([values, [abstain_rate(res, column_of[label]) for label, res in runs.items()]])
    # Column 0 holds the labels, so value column j is table column j + 1.
    bold = {(i, j + 1) for i, j in _best_cells(values, best_cols, decimals)} if mark_best else set()
    table_rows = [[label, *(float(v) for v in row)] for label, row in zip(runs, values, strict=True)]
    if rows:
        header.append("N")
        table_rows = [[*row, len(res)] for row, res in zip(table_rows, runs.values(), strict=True)]
    return Table(header, table_rows, caption=caption, decimals=decimals, bold=frozenset(bold))


# ---- Cohen et al. (2019), "vary σ" tables --------------------------------------------------------

_PUBLISHED_ROW = re.compile(r"^<b>\s*(.*?)\s*</b>\s*\|(.*)$")
_PUBLISHED_RADIUS = re.compile(r"r = ([0-9.]+)")
_STAR = "<b>*</b>"


def _round2(value: float) -> float:
    """The value as shown with 2 decimals."""
    return float(f"{value:.2f}")


def _vary_noise(files: Mapping[str, str | Path | CertifyResults], radii: Sequence[float], radius_column: str
                ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(row labels, radii [R], certified accuracy [runs, R], index of the best run per radius [R])."""
    if not files:
        raise InvalidArgumentError("no result files to tabulate")
    r = validate_radii(radii)
    if r.ndim != 1:
        raise InvalidArgumentError(f"radii must be one-dimensional, got shape {r.shape}")
    runs = {label: src if isinstance(src, CertifyResults) else read_results(src)
            for label, src in files.items()}
    acc = np.array([certified_accuracy(res, r, radius_column) for res in runs.values()])  # [runs, R]
    return list(runs), r, acc, acc.argmax(axis=0)  # argmax returns the first maximum on ties


def vary_noise_data(files: Mapping[str, str | Path | CertifyResults],
                    radii: Sequence[float] = COHEN_CIFAR10_RADII, radius_column: str = "radius") -> Table:
    """Cohen et al.'s "vary σ" table as a :class:`~smoothcert.document.Table`: one row per run, certified
    accuracy per radius (2 decimals shown), the best run per radius in bold (the first on an exact tie, as in
    the published table). Arguments as for :func:`vary_noise_table`."""
    labels, r, acc, best = _vary_noise(files, radii, radius_column)
    rows = [[label, *(float(v) for v in acc[i])] for i, label in enumerate(labels)]
    bold = frozenset((int(best[j]), j + 1) for j in range(len(r)))
    return Table(["", *(f"r = {float(x):.3}" for x in r)], rows, decimals=2, bold=bold)


def vary_noise_table(files: Mapping[str, str | Path | CertifyResults],
                     radii: Sequence[float] = COHEN_CIFAR10_RADII, radius_column: str = "radius") -> str:
    """Cohen et al.'s "vary σ" table, in the HTML-flavoured Markdown of their published tables (the file
    format :func:`parse_published_table` reads; a reproduction equals the published file byte for byte).

    One row per run; each cell is the certified accuracy at that radius with 2 decimals; ``<b>*</b>`` marks
    the best run per radius (the first in ``files`` order on an exact tie).

    Args:
        files: row label (e.g. ``"&sigma; = 0.25"``) → result file or loaded results.
        radii: R ℓ2 radii in input space.
        radius_column: the radius column to use.

    Returns:
        The table text, ending in a newline.
    """
    labels, r, acc, best = _vary_noise(files, radii, radius_column)
    lines = ["|  | " + "".join(f"r = {float(x):.3} |" for x in r),
             "| --- | " + " --- |" * len(r)]
    for i, label in enumerate(labels):
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


def p_a_distribution_data(runs: Mapping[str, CertifyResults], levels: Sequence[float] = P_A_LEVELS, *,
                          decimals: int = 3) -> Table:
    """The distribution of p̲_A per run: one row per run, one column per level x with the fraction of inputs
    whose p̲_A ≥ x (runs without a ``pA_lower`` column are left out)."""
    rows = [[label, *p_a_distribution(res, levels)] for label, res in runs.items() if "pA_lower" in res.extra]
    return Table(["run", *[f"p̲_A ≥ {x:g}" for x in levels]], rows, decimals=decimals)
