"""What a results file's rows stand for: how complete the run was, what made them, what each radius guarantees.

A table of certified accuracy says nothing of this by itself: a run interrupted after 5 of 360 inputs, a
column that certifies "the answer is ĉ_A or no answer", and the radius of a sequential run that stopped as
soon as each input was decided at a preset radius all give tables that look like complete CERTIFY runs.
:func:`provenance` reads the manifest beside a file (when there is one) and the file's own columns;
:func:`radius_guarantee` and :func:`provenance_notes` turn that into one line each for a report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smoothcert.analysis.results import CertifyResults
from smoothcert.certificates.sequential import BELOW_TARGET, CERTIFIED
from smoothcert.runs import manifest_path

#: How a norm is written in a guarantee.
NORM_SYMBOLS = {"l2": "‖δ‖₂", "l1": "‖δ‖₁", "linf": "‖δ‖∞"}

#: What each radius column of an uncertainty-aware results file certifies on ‖δ‖ < radius
#: (docs/uncertainty.md, "Certificates"); G answers ĉ_A or ⊥ ("no answer"), G⁺ is its stricter variant.
UNCERTAINTY_GUARANTEES = {
    "radius_i": "G(x+δ) = ĉ_A and p_⊥(x+δ) < ½: the answer stays ĉ_A",
    "radius_ii": "G(x+δ) ∈ {ĉ_A, ⊥}: the answer is ĉ_A or no answer (⊥), so a classifier that never answers "
                 "is certified too; read it with radius_i and the ⊥ share",
    "radius_cohen": "g(x+δ) = ĉ for the plain smoothed classifier g (Cohen's CERTIFY on the same samples); "
                    "analyze judges it by ĉ_A's correctness, exact only where the two guesses agree",
    "radius_i_top2": "G⁺(x+δ) = ĉ_A (top-2 bounds, holding jointly with radius_ii_top2)",
    "radius_ii_top2": "G⁺(x+δ) ∈ {ĉ_A, ⊥}, hence G(x+δ) ∈ {ĉ_A, ⊥} (top-2 bounds)",
    "radius_filtered": "G_F(x+δ) = ĉ_A for the filtered classifier G_F (argmax of the joint masses "
                       "P(o = c); it never answers ⊥)",
}


@dataclass(frozen=True)
class Provenance:
    """What the manifest and the columns of one results file say about its rows.

    Attributes:
        rows: rows read (each input once).
        duplicates: rows left out as repeats of an earlier row of the same input.
        manifest: the manifest read, None when there is none (files of other tools) or it is unreadable.
        status: the manifest's status: "complete", "interrupted", "running" (a run still going, or killed).
        selected: the number of inputs the run was to cover, when the manifest records it.
        norm: the norm of the radii ("l2", "l1", "linf"), from the manifest's noise; None when unknown.
        alpha: the failure probability of each certificate, when the manifest records it.
        sequential: rows of sequential CERTIFY (anytime-valid confidence sequences, the samples vary per row).
        preset: sequential CERTIFY at a preset radius: each input stopped once decided at that radius.
        preset_radius: that radius, when the manifest records it.
        uncertainty: rows of uncertainty-aware CERTIFY (radius is R_ii; radius_i, radius_ii, … beside it).
        problem: why the manifest beside the file could not be read, if it could not.
    """

    rows: int
    duplicates: int = 0
    manifest: Path | None = None
    status: str | None = None
    selected: int | None = None
    norm: str | None = None
    alpha: float | None = None
    sequential: bool = False
    preset: bool = False
    preset_radius: float | None = None
    uncertainty: bool = False
    problem: str | None = None

    @property
    def interrupted(self) -> bool:
        """The manifest says the run did not finish, or it covers fewer inputs than the run selected."""
        if self.status is not None and self.status != "complete":
            return True
        return self.selected is not None and self.rows < self.selected


def _read_manifest(path: Path) -> tuple[dict | None, str | None]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"manifest {path} unreadable ({getattr(err, 'strerror', None) or err})"
    if not isinstance(doc, dict) or "arguments" not in doc:
        return None, None  # some other JSON of the same name (a checkpoint's sidecar, say): not this file's
    return doc, None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def provenance(results: CertifyResults) -> Provenance:
    """What the manifest beside ``results.path`` and the file's columns say about its rows (see
    :class:`Provenance`). Results built in memory, or files without a manifest, get what the columns say."""
    doc, problem = (None, None) if results.path is None else _read_manifest(manifest_path(results.path))
    doc = doc or {}
    arguments = doc.get("arguments") if isinstance(doc.get("arguments"), dict) else {}
    dataset = doc.get("dataset") if isinstance(doc.get("dataset"), dict) else {}
    noise = doc.get("noise") if isinstance(doc.get("noise"), dict) else {}
    stops = set(np.asarray(results.extra["stop"]).astype(str)) if "stop" in results.extra else set()
    sequential = bool(arguments.get("sequential")) or {"stop", "pA_upper"} <= set(results.extra)
    preset_radius = _number(arguments.get("preset_radius"))
    preset = sequential and (preset_radius is not None or bool(stops & {CERTIFIED, BELOW_TARGET}))
    selected = _number(dataset.get("selected"))
    return Provenance(
        rows=len(results), duplicates=results.duplicates,
        manifest=manifest_path(results.path) if doc else None,
        status=doc.get("status") if isinstance(doc.get("status"), str) else None,
        selected=int(selected) if selected is not None else None,
        norm=noise.get("norm") if isinstance(noise.get("norm"), str) else ("l2" if noise else None),
        alpha=_number(arguments.get("alpha")),
        sequential=sequential, preset=preset, preset_radius=preset_radius,
        uncertainty={"radius_i", "radius_ii"} <= set(results.extra),
        problem=problem,
    )


def radius_guarantee(column: str, prov: Provenance) -> str:
    """What a row of ``column`` certifies, with probability ≥ 1 − α for each row on its own, as one phrase."""
    on = f"on {NORM_SYMBOLS.get(prov.norm or 'l2', prov.norm)} < {column}"
    if prov.norm is None:
        on += " (ℓ2 unless the run used other noise)"
    if column in UNCERTAINTY_GUARANTEES:
        return f"{on}: {UNCERTAINTY_GUARANTEES[column]}"
    if column != "radius":
        return f"{column} is not a radius column analyze knows: no guarantee is stated for it"
    if prov.uncertainty:
        return f"{on}: {UNCERTAINTY_GUARANTEES['radius_ii']} (radius is R_ii in these files)"
    if prov.preset:
        r = f"{prov.preset_radius:g}" if prov.preset_radius is not None else "the preset radius"
        return (f"{on}: g(x+δ) = predict (sequential CERTIFY at the preset radius {r}): each input stopped "
                f"sampling as soon as it was decided at {r}, so its radius is pushed no further than needed for "
                f"{r}: accuracy at radii above {r} and the ACR understate what the model certifies (ACR not "
                "shown; certify without --radius for full radii)")
    if prov.sequential:
        return (f"{on}: g(x+δ) = predict for the smoothed classifier g (sequential CERTIFY, an anytime-valid "
                "confidence sequence read at each input's stop)")
    return f"{on}: g(x+δ) = predict for the smoothed classifier g (CERTIFY, Cohen et al. 2019)"


def completeness_line(label: str, prov: Provenance) -> str:
    """'run: N = 12 rows, complete' or '…, interrupted: 5 of 12 inputs …', from the manifest."""
    line = f"{label}: N = {prov.rows:,} rows"
    if prov.duplicates:
        line += f" ({prov.duplicates:,} repeated rows of the same inputs, identical apart from time, counted once)"
    if prov.problem is not None:
        return f"{line}; {prov.problem}: whether the run finished is unknown"
    if prov.manifest is None:
        return f"{line}; no manifest beside the file: whether the run finished is unknown"
    if prov.interrupted:
        of = f"{prov.rows:,} of {prov.selected:,} inputs" if prov.selected is not None else f"{prov.rows:,} inputs"
        state = "still running or killed" if prov.status == "running" else "interrupted"
        return (f"{line}, {state}: {of} (manifest status {prov.status!r}); every fraction is over these rows "
                "only: resume the run to complete it")
    return f"{line}, complete" + (f" ({prov.selected:,} inputs selected)" if prov.selected is not None else "")


def mean_abstain_share(results: CertifyResults) -> float:
    """Mean share of ⊥ (no answer) among each row's noisy samples (``frac_uncertain``), NaN without it."""
    if "frac_uncertain" not in results.extra or len(results) == 0:
        return math.nan
    return float(np.nanmean(np.asarray(results.extra["frac_uncertain"], dtype=np.float64)))
