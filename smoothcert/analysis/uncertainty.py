"""Scores of uncertainty-aware results files: each radius judged with its own guess.

A certificate X certifies the true label at radius r when its guess equals the label, it was issued (radius
not NaN) and its radius is ≥ r. Guesses: ``guess`` (ĉ_A) for R_i, R_ii and the top-2 radii; ``guess_cohen``
for Cohen's radius. "Correctly classified points" are those whose plain smoothed guess is right
(``guess_cohen == label``): the set on which radii are compared, with a radius counting 0 where its
certificate does not certify the label.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ResultsError
from .metrics import validate_radii
from .results import CertifyResults

#: Certificate name → (radius column, guess column).
CERTIFICATES: dict[str, tuple[str, str]] = {
    "cohen": ("radius_cohen", "guess_cohen"),
    "i": ("radius_i", "guess"),
    "ii": ("radius_ii", "guess"),
    "i_top2": ("radius_i_top2", "guess"),
    "ii_top2": ("radius_ii_top2", "guess"),
}

LABELS = {"cohen": "R_cohen (plain)", "i": "R_i", "ii": "R_ii", "i_top2": "R_i top-2", "ii_top2": "R_ii top-2"}


def label_radius(results: CertifyResults, certificate: str) -> np.ndarray:
    """float64 [N]: the radius at which ``certificate`` certifies the true label, NaN where it does not."""
    if certificate not in CERTIFICATES:
        raise ResultsError(f"unknown certificate {certificate!r}; choose one of {', '.join(CERTIFICATES)}")
    radius_col, guess_col = CERTIFICATES[certificate]
    for col in (radius_col, guess_col):
        if col not in results.extra:
            raise ResultsError(f"results {results.name!r} have no column {col!r}: not an uncertainty-aware run")
    radius = np.asarray(results.extra[radius_col], dtype=np.float64)
    right = np.asarray(results.extra[guess_col]) == results.label
    return np.where(right, radius, np.nan)


def certified_accuracy_of(results: CertifyResults, certificate: str, radii: ArrayLike) -> np.ndarray:
    """Fraction of all rows whose label ``certificate`` certifies at radius ≥ r, for each r (shape of radii)."""
    r = validate_radii(radii)
    radius = label_radius(results, certificate)
    certified = np.sort(radius[~np.isnan(radius)])
    return (len(certified) - np.searchsorted(certified, r, side="left")) / max(len(results), 1)


def radius_comparison(results: CertifyResults) -> dict:
    """Radii on correctly classified points (``guess_cohen == label``) and how R_ii compares with R_cohen.

    Returns a JSON-ready dict: ``points``, ``correct`` (size of the set), ``mean_radius`` per certificate over
    the set (0 where it does not certify the label), ``acr`` per certificate (mean over all rows),
    ``share_ii_above_cohen`` and ``share_ii_below_cohen`` (fractions of the set), ``mean_gain_where_above``
    (mean R_ii − R_cohen where positive), ``relative_gain_of_means`` (mean R_ii / mean R_cohen − 1),
    ``share_i_below_cohen``, ``mean_frac_uncertain`` (⊥ share of the estimation samples, over all rows),
    ``guesses_differ`` (rows where ĉ_A ≠ the plain guess), ``abstain_i`` / ``abstain_ii`` (rows, all).
    """
    n = len(results)
    correct = np.asarray(results.extra["guess_cohen"]) == results.label
    radius = {name: np.nan_to_num(label_radius(results, name), nan=0.0) for name in CERTIFICATES}
    on_set = {name: r[correct] for name, r in radius.items()}
    cohen, ii, i = on_set["cohen"], on_set["ii"], on_set["i"]
    above = ii > cohen
    mean = {name: float(r.mean()) if len(r) else float("nan") for name, r in on_set.items()}
    return {
        "points": n,
        "correct": int(correct.sum()),
        "mean_radius": mean,
        "acr": {name: float(r.sum() / max(n, 1)) for name, r in radius.items()},
        "share_ii_above_cohen": float(above.mean()) if len(ii) else float("nan"),
        "share_ii_below_cohen": float((ii < cohen).mean()) if len(ii) else float("nan"),
        "mean_gain_where_above": float((ii - cohen)[above].mean()) if above.any() else 0.0,
        "relative_gain_of_means": mean["ii"] / mean["cohen"] - 1 if mean["cohen"] > 0 else float("nan"),
        "share_i_below_cohen": float((i < cohen).mean()) if len(i) else float("nan"),
        "mean_frac_uncertain": float(np.mean(results.extra["frac_uncertain"])) if n else float("nan"),
        "guesses_differ": int((np.asarray(results.extra["guess"]) != np.asarray(results.extra["guess_cohen"])).sum()),
        "abstain_i": int(np.isnan(np.asarray(results.extra["radius_i"], dtype=float)).sum()),
        "abstain_ii": int(np.isnan(np.asarray(results.extra["radius_ii"], dtype=float)).sum()),
    }


SWEEP_HEADER = ["τ", "⊥ share (noise)", "correct", "mean R_cohen", "mean R_i", "mean R_ii", "R_ii > R_cohen",
                "mean gain where >", "mean R_ii / mean R_cohen − 1", "R_i top-2", "R_ii top-2", "abstain (ii)"]


def sweep_rows(runs: Mapping[str, CertifyResults]) -> list[list]:
    """One table row per results file (label → results), columns :data:`SWEEP_HEADER`."""
    rows = []
    for label, res in runs.items():
        c = radius_comparison(res)
        m = c["mean_radius"]
        rows.append([label, c["mean_frac_uncertain"], c["correct"], m["cohen"], m["i"], m["ii"],
                     c["share_ii_above_cohen"], c["mean_gain_where_above"], c["relative_gain_of_means"],
                     m["i_top2"], m["ii_top2"], c["abstain_ii"]])
    return rows

