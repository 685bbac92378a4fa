"""``smoothcert analyze``'s report on results files, as a Document: the tables, and beside them what the numbers
stand for (how many rows, whether the run finished, what each radius column certifies, how the
high-probability values were lowered). The plot is drawn by the caller (:mod:`smoothcert.report.plots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smoothcert.analysis.metrics import (
    certified_accuracy,
    high_probability_correction,
    per_class_certified_accuracy,
    radius_of,
)
from smoothcert.analysis.provenance import (
    Provenance,
    completeness_line,
    mean_abstain_share,
    provenance,
    radius_guarantee,
)
from smoothcert.analysis.results import CertifyResults, read_results
from smoothcert.analysis.tables import TableFormat, certified_accuracy_data
from smoothcert.document import BulletList, Paragraph, Table
from smoothcert.errors import InvalidArgumentError
from smoothcert.validate import check_alpha, check_choice

#: ρ of the high-probability certified accuracy: the statement over all rows fails with probability ≤ ρ.
HIGH_PROBABILITY_RHO = 0.001

#: How each method of the high-probability correction is described in the report.
HIGH_PROBABILITY_TEXT = {
    "binomial": "minus q/N, q the (1 − ρ) quantile of Binomial(N, α): holds with probability ≥ 1 − ρ "
                "(docs/certification.md); `--high-prob-method cohen` gives Cohen et al.'s formula instead",
    "cohen": "minus Cohen et al.'s α + √(α(1 − α) log(1/ρ)/N) + log(1/ρ)/(3N), only to reproduce their "
             "figures: it does not hold at 1 − ρ (docs/certification.md); the default method is the binomial "
             "quantile",
}


@dataclass(frozen=True)
class AnalyzedRun:
    """One row of the tables: a results file read through one radius column."""

    results: CertifyResults
    column: str
    file_label: str
    provenance: Provenance


def read_runs(files: Sequence[str | Path], radius_columns: Sequence[str]) -> dict[str, AnalyzedRun]:
    """Table label → run, for each file and radius column (labels ``file`` for one column, ``file:column``
    for several). Every column named must exist in every file (a one-line error otherwise)."""
    if not radius_columns:
        raise InvalidArgumentError("give at least one radius column (--radius-column)")
    runs: dict[str, AnalyzedRun] = {}
    labels: set[str] = set()
    for path in map(Path, files):
        label = path.stem if path.stem not in labels else str(path)
        labels.add(label)
        res = read_results(path, name=label)
        prov = provenance(res)
        for column in radius_columns:
            radius_of(res, column)  # exists and is numeric
            run_label = label if len(radius_columns) == 1 else f"{label}:{column}"
            runs[run_label] = AnalyzedRun(res, column, label, prov)
    return runs


def _grouped(items: Sequence[tuple[str, str]]) -> list[str]:
    """'text (label, label)' lines for (label, text) pairs, one line per distinct text, in first-seen order."""
    order: dict[str, list[str]] = {}
    for label, text in items:
        order.setdefault(text, []).append(label)
    return [f"{text} ({', '.join(labels)})" for text, labels in order.items()]


def notes(runs: dict[str, AnalyzedRun]) -> list:
    """The blocks that say what the certified-accuracy table stands for."""
    files: dict[str, AnalyzedRun] = {}
    for run in runs.values():
        files.setdefault(run.file_label, run)
    blocks: list = [Paragraph("Rows (every fraction above is over the N rows of its run):"),
                    BulletList([completeness_line(label, run.provenance) for label, run in files.items()])]
    guarantees = _grouped([(run.file_label, f"{run.column}: {radius_guarantee(run.column, run.provenance)}")
                           for run in runs.values()])
    blocks += [Paragraph("What a row certified at radius ≥ r guarantees, each row on its own with probability "
                         "≥ 1 − α over its noise:"), BulletList(guarantees)]
    remarks = []
    for label, run in runs.items():
        values = radius_of(run.results, run.column)
        if len(values) and np.isnan(values).all():
            remarks.append(f"{label}: {run.column} holds no value in any row (never issued, or not computed): "
                           "it certifies nothing, and its abstain rate is shown as –")
    for label, file_run in files.items():
        counting = [run.column for run in runs.values() if run.file_label == label and run.provenance.uncertainty
                    and run.column in ("radius", "radius_ii", "radius_ii_top2")]
        share = mean_abstain_share(file_run.results)
        if counting and not np.isnan(share):
            verb = "counts" if len(counting) == 1 else "count"
            remarks.append(f"{label}: ⊥ (no answer) is {share:.3f} of the noisy samples on average "
                           f"(frac_uncertain); {', '.join(counting)} {verb} ⊥ as certified")
    if remarks:
        blocks.append(BulletList(remarks))
    return blocks


def high_probability_blocks(runs: dict[str, AnalyzedRun], radii: Sequence[float], alpha: float,
                            method: str = "binomial", rho: float = HIGH_PROBABILITY_RHO) -> list:
    """The high-probability certified accuracy of every run, with its method and the cells clipped at 0."""
    alpha = check_alpha(alpha, "--high-prob-alpha")
    method = check_choice("high-probability method", method, tuple(HIGH_PROBABILITY_TEXT))
    rows, clipped = [], []
    for label, run in runs.items():
        acc = certified_accuracy(run.results, radii, run.column)
        lowered = acc - high_probability_correction(len(run.results), alpha, rho, method)
        rows.append([label, *np.maximum(lowered, 0.0)])
        clipped += [f"{label} at r = {r:g}" for r, v in zip(radii, lowered, strict=True) if v < 0]
    text = (f"High-probability certified accuracy (α = {alpha:g} per certificate, ρ = {rho:g}): the certified "
            f"accuracy {HIGH_PROBABILITY_TEXT[method]}. A value that would fall below 0 is shown as 0 (clipped).")
    blocks: list = [Paragraph(text), Table(["run", *(f"r = {r:g}" for r in radii)], rows)]
    if clipped:
        shown = ", ".join(clipped[:8]) + (f" and {len(clipped) - 8} more" if len(clipped) > 8 else "")
        blocks.append(Paragraph(f"Clipped at 0 ({len(clipped)} of {len(rows) * len(radii)} cells): {shown}."))
    return blocks


def per_class_blocks(runs: dict[str, AnalyzedRun], radii: Sequence[float]) -> list:
    """Certified accuracy within each true class, one table per run."""
    blocks: list = []
    for label, run in runs.items():
        table = per_class_certified_accuracy(run.results, radii, radius_column=run.column)
        rows = [[f"class {c}", *table[c]] for c in range(table.shape[0])]
        blocks += [Paragraph(f"Per-class certified accuracy, {label}:"),
                   Table(["class", *(f"r = {r:g}" for r in radii)], rows)]
    return blocks


def analysis_blocks(runs: dict[str, AnalyzedRun], radii: Sequence[float], fmt: TableFormat = "markdown",
                    high_prob_alpha: float | None = None, high_prob_method: str = "binomial",
                    per_class: bool = False) -> list:
    """The certified-accuracy table (ACR, abstain rate, N), the notes, and the optional tables."""
    if high_prob_alpha is None and high_prob_method != "binomial":
        raise InvalidArgumentError("--high-prob-method needs --high-prob-alpha")
    withheld = [label for label, run in runs.items() if run.column == "radius" and run.provenance.preset]
    blocks: list = [certified_accuracy_data({label: run.results for label, run in runs.items()}, radii, acr=True,
                                            abstain=True, rows=True, acr_withheld=withheld, style=fmt,
                                            radius_column={label: run.column for label, run in runs.items()})]
    blocks += notes(runs)
    if high_prob_alpha is not None:
        blocks += high_probability_blocks(runs, radii, high_prob_alpha, high_prob_method)
    if per_class:
        blocks += per_class_blocks(runs, radii)
    return blocks
