"""Certified-accuracy metrics of one run (:class:`~smoothcert.analysis.results.CertifyResults`).

Every fraction is over ALL rows: an abstained or wrong row counts as not certified. A row is certified at
radius r when it is correct and its radius is ≥ r (a tie counts), exactly as in Cohen et al.'s analysis.
A NaN radius (a certificate that was not computed) never certifies and contributes 0 to the average certified
radius.
``radius_column`` picks which radius to use (``"radius"``, or an extra column such as ``"radius_i"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from smoothcert.analysis.results import CertifyResults
from smoothcert.errors import InvalidArgumentError
from smoothcert.stats import binomial_quantile


def validate_radii(radii: ArrayLike) -> np.ndarray:
    """``radii`` as float64 (any shape, scalar included), after checking every value is finite and ≥ 0."""
    try:
        r = np.asarray(radii, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"radii must be numbers, got {radii!r}") from None
    if r.size == 0:
        raise InvalidArgumentError("radii must not be empty")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise InvalidArgumentError(f"radii must be finite and >= 0, got {radii!r}")
    return r


def _nonempty(results: CertifyResults) -> int:
    if len(results) == 0:
        raise InvalidArgumentError(f"results {results.name!r} hold no rows")
    return len(results)


def radius_of(results: CertifyResults, radius_column: str = "radius") -> np.ndarray:
    """float64 [N]: the radius column ``radius_column`` (NaN allowed in extra columns)."""
    values = results.column(radius_column)
    if values.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"column {radius_column!r} of {results.name!r} is not numeric")
    return values.astype(np.float64)


def certified_accuracy(results: CertifyResults, radii: ArrayLike,
                       radius_column: str = "radius") -> np.ndarray:
    """Fraction of all rows that are correct with radius ≥ r, for each r in ``radii``.

    Equal to ``(correct & (radius >= r)).mean()`` for each r.

    Args:
        results: N ≥ 1 rows.
        radii: ℓ2 radii in input space, finite and ≥ 0, any shape.
        radius_column: the radius column to use.

    Returns:
        float64 array of the shape of ``radii``, values in [0, 1].
    """
    r = validate_radii(radii)
    n = _nonempty(results)
    radius = radius_of(results, radius_column)
    certified = np.sort(radius[results.correct & ~np.isnan(radius)])
    # Rows with radius >= r are those at or after the first sorted position not below r.
    counts = len(certified) - np.searchsorted(certified, r, side="left")
    return counts / n


#: How :func:`high_probability_certified_accuracy` lowers the approximate value.
HIGH_PROBABILITY_METHODS = ("binomial", "cohen")


def high_probability_certified_accuracy(results: CertifyResults, radii: ArrayLike, alpha: float,
                                        rho: float = 0.001, radius_column: str = "radius",
                                        method: str = "binomial") -> np.ndarray:
    """Certified accuracy corrected so it holds with probability ≥ 1 − ρ over the certifier's randomness.

    Each of the N certificates is wrong with probability ≤ α, independently across inputs (each has its own
    noise), so the number W of wrong ones is stochastically below Binomial(N, α), and with probability
    ≥ 1 − ρ, W ≤ q, the (1 − ρ) quantile of Binomial(N, α). The true certified accuracy at r is at least the
    approximate one minus W/N, hence at least approx − q/N on that event (docs/certification.md). This
    ``"binomial"`` correction is exact for the worst case p_i = α and tighter than any Bernstein bound.

    ``method="cohen"`` applies Cohen et al.'s analyze.py formula α + √(α(1 − α) log(1/ρ)/N) + log(1/ρ)/(3N)
    instead, only to reproduce their figures: it lacks Bernstein's factor 2 under the root and uses too
    small a last term, so it does not hold at 1 − ρ. Either result is clipped at 0.

    Args:
        results: N ≥ 1 rows.
        radii: radii, finite and ≥ 0, any shape.
        alpha: failure probability of one certificate, in (0, 1).
        rho: failure probability of the whole statement, in (0, 1).
        radius_column: the radius column to use.
        method: "binomial" (valid) or "cohen" (their published formula).

    Returns:
        float64 array of the shape of ``radii``.
    """
    correction = high_probability_correction(_nonempty(results), alpha, rho, method)
    return np.maximum(certified_accuracy(results, radii, radius_column) - correction, 0.0)


def high_probability_correction(n: int, alpha: float, rho: float = 0.001, method: str = "binomial") -> float:
    """What :func:`high_probability_certified_accuracy` subtracts from the certified accuracy of N = ``n``
    rows: q/N with q the (1 − ρ) quantile of Binomial(N, α) (``"binomial"``), or Cohen et al.'s
    α + √(α(1 − α) log(1/ρ)/N) + log(1/ρ)/(3N) (``"cohen"``). Where it exceeds the certified accuracy, the
    corrected value is clipped at 0."""
    for label, value in (("alpha", alpha), ("rho", rho)):
        if not 0 < value < 1:
            raise InvalidArgumentError(f"{label} must be in (0, 1), got {value!r}")
    if method not in HIGH_PROBABILITY_METHODS:
        raise InvalidArgumentError(f"unknown method {method!r}; choose one of {', '.join(HIGH_PROBABILITY_METHODS)}")
    if n < 1:
        raise InvalidArgumentError(f"no rows to correct (n = {n})")
    if method == "binomial":
        return binomial_quantile(n, alpha, 1 - rho) / n
    log_term = math.log(1 / rho)
    return alpha + math.sqrt(alpha * (1 - alpha) * log_term / n) + log_term / (3 * n)


def average_certified_radius(results: CertifyResults, radius_column: str = "radius") -> float:
    """ACR: mean over all rows of radius · correct (ℓ2, input space); wrong and abstained rows count 0."""
    n = _nonempty(results)
    radius = radius_of(results, radius_column)
    return float(np.where(results.correct & ~np.isnan(radius), radius, 0.0).sum() / n)


def abstain_rate(results: CertifyResults, radius_column: str = "radius") -> float:
    """Fraction of rows without a certificate: for ``"radius"``, where the smoothed classifier abstained
    (``predict == -1``); for another radius column, where that column is NaN (its certificate not issued).

    NaN when the column holds no value at all: a column that is NaN in every row was never issued or never
    computed, and the file cannot tell which, so 1.0 or 0.0 would both claim too much.
    """
    n = _nonempty(results)
    if radius_column == "radius":
        return float(results.abstained.sum() / n)
    missing = np.isnan(radius_of(results, radius_column))
    return float("nan") if missing.all() else float(missing.sum() / n)


def clean_accuracy(results: CertifyResults) -> float:
    """Fraction of rows where the smoothed classifier answered (no abstain) and was right.

    This is the certified accuracy at r = 0 without requiring a radius.
    """
    return float((results.correct & ~results.abstained).sum() / _nonempty(results))


def _num_classes(results: CertifyResults, num_classes: int | None) -> int:
    observed = int(max(results.label.max(initial=-1), results.predict.max(initial=-1))) + 1
    if num_classes is None:
        return observed
    if num_classes < 1 or num_classes < observed:
        raise InvalidArgumentError(
            f"num_classes={num_classes!r} but results {results.name!r} hold class {observed - 1}")
    return num_classes


def class_counts(results: CertifyResults, num_classes: int | None = None) -> np.ndarray:
    """int64 [C]: number of rows of each true class (C = ``num_classes``, or the largest class seen + 1)."""
    _nonempty(results)
    c = _num_classes(results, num_classes)
    if results.label.min() < 0:
        raise InvalidArgumentError(f"results {results.name!r} hold negative labels")
    return np.bincount(results.label, minlength=c).astype(np.int64)


def per_class_certified_accuracy(results: CertifyResults, radii: ArrayLike, num_classes: int | None = None,
                                 radius_column: str = "radius") -> np.ndarray:
    """Certified accuracy within each true class.

    Args:
        results: N ≥ 1 rows.
        radii: R radii (1-D, or a scalar for R = 1), finite and ≥ 0.
        num_classes: C; the largest class seen + 1 by default.
        radius_column: the radius column to use.

    Returns:
        float64 [C, R]: row c is the certified accuracy over the rows of class c; NaN for a class without rows
        (see :func:`class_counts` for the row counts).
    """
    r = np.atleast_1d(validate_radii(radii))
    if r.ndim != 1:
        raise InvalidArgumentError(f"radii must be one-dimensional, got shape {r.shape}")
    counts = class_counts(results, num_classes)
    radius = radius_of(results, radius_column)
    certified = (results.correct & ~np.isnan(radius))[:, None] & (radius[:, None] >= r[None, :])  # [N, R]
    per_class = np.zeros((len(counts), len(r)))
    np.add.at(per_class, results.label, certified.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[:, None] > 0, per_class / counts[:, None], np.nan)


def summary(results: CertifyResults, radii: ArrayLike, radius_column: str = "radius") -> dict[str, Any]:
    """Headline numbers of one run, as plain Python values (JSON-ready).

    Returns:
        dict with ``name``, ``radius_column``, ``num_examples``, ``num_abstained``, ``clean_accuracy``,
        ``abstain_rate``, ``average_certified_radius``, ``radii`` (list of R floats), ``certified_accuracy``
        (list of R floats, one per radius), ``mean_time_s`` and ``total_time_s`` (seconds per input / in all).
    """
    r = np.atleast_1d(validate_radii(radii)).ravel()
    return {
        "name": results.name,
        "radius_column": radius_column,
        "num_examples": len(results),
        "num_abstained": int(results.abstained.sum()),
        "clean_accuracy": clean_accuracy(results),
        "abstain_rate": abstain_rate(results),
        "average_certified_radius": average_certified_radius(results, radius_column),
        "radii": [float(x) for x in r],
        "certified_accuracy": [float(x) for x in certified_accuracy(results, r, radius_column)],
        "mean_time_s": float(results.time.mean()),
        "total_time_s": float(results.time.sum()),
    }


#: Levels x at which the distribution of p̲_A is reported: P(p̲_A ≥ x).
P_A_LEVELS = (0.5, 0.9, 0.99, 0.999)


def p_a_distribution(results: CertifyResults, levels: ArrayLike = P_A_LEVELS, column: str = "pA_lower") -> np.ndarray:
    """Fraction of all rows whose lower bound p̲_A (column ``column``) is ≥ x, for each x in ``levels``.

    The empirical survival function of p̲_A over the inputs, abstained and wrong ones included: it shows how much
    of the certified accuracy sits near p̲_A = ½ (small radii) and how much near the α^{1/n} ceiling, which the
    average certified radius alone hides (Sun et al. 2024, arXiv 2410.06895).
    """
    n = _nonempty(results)
    x = np.atleast_1d(np.asarray(levels, dtype=np.float64)).ravel()
    if not np.all((x >= 0) & (x <= 1)):
        raise InvalidArgumentError(f"p_A levels must lie in [0, 1], got {levels!r}")
    p = results.column(column)
    if p.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"column {column!r} of {results.name!r} is not numeric")
    p = np.nan_to_num(p.astype(np.float64), nan=-1.0)
    return (p[:, None] >= x[None, :]).sum(axis=0) / n
