"""The top-2 certificate from counts: a lower bound on the top class and an upper bound on the runner-up,
R = noise.certified_radius(p̲_A, p̄_B) (σ/2 (Φ⁻¹ p̲_A − Φ⁻¹ p̄_B) for Gaussian noise; Cohen et al. 2019, Theorem 1).

The runner-up is not known in advance, so p̄_B must bound every other class at once: with K classes, each of
the K statements (p_A ≥ p̲_A, and p_c ≤ p̄_c for each c ≠ ĉ_A) is a one-sided Clopper–Pearson bound at level α/K
(Bonferroni), and p̄_B = min(max_c p̄_c, 1 − p̲_A). Every statement holds together with probability ≥ 1 − α.
Certified when p̲_A > p̄_B. Formulas: docs/bounds.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError
from ..noise import Noise
from ..stats import clopper_pearson_lower, clopper_pearson_upper
from ..validate import check_alpha, check_num_classes
from .cohen import ABSTAIN, CertifyCounts, _counts, select_class


@dataclass(frozen=True)
class Top2Counts(CertifyCounts):
    """A top-2 certificate of B inputs: :class:`~smoothcert.certificates.cohen.CertifyCounts` plus ``p_b_upper``
    [B], the upper bound on the largest other class's probability, and ``groups`` [B], the number of bounded
    groups of other classes (K − 1 for Bonferroni, fewer with class partitioning)."""

    p_b_upper: np.ndarray = None  # type: ignore[assignment]
    groups: np.ndarray = None  # type: ignore[assignment]


def checked_counts(selection: np.ndarray, estimation: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Selection and estimation counts [B, K ≥ C], checked: same shape, at least one sample of each per row."""
    num_classes = check_num_classes(num_classes)
    selection = _counts("selection counts", selection, num_classes)
    estimation = _counts("estimation counts", estimation, num_classes)
    if selection.shape != estimation.shape:
        raise InvalidArgumentError(f"selection counts {selection.shape} and estimation counts {estimation.shape} "
                                   "must have the same shape")
    if len(selection) and (selection.sum(axis=1).min() < 1 or estimation.sum(axis=1).min() < 1):
        raise InvalidArgumentError("every input needs at least one selection and one estimation sample")
    return selection, estimation


def grouped_certificate(selection: np.ndarray, estimation: np.ndarray, groups: list[list[np.ndarray]],
                        alpha: float, noise: Noise, num_classes: int) -> Top2Counts:
    """The top-2 certificate where the other classes of row i are bounded in the groups ``groups[i]`` (lists of
    class ids, chosen from the selection counts only): 1 + len(groups[i]) statements at level α/(1 + len(groups[i]))."""
    alpha = check_alpha(alpha)
    n0, n = selection.sum(axis=1), estimation.sum(axis=1)
    guess = select_class(selection, num_classes)
    rows = np.arange(len(guess))
    count_top = estimation[rows, guess]
    statements = np.array([1 + len(g) for g in groups], dtype=np.int64)
    p_a, p_b = np.zeros(len(n)), np.zeros(len(n))
    for m in np.unique(statements):  # rows with as many statements share their level α/m
        rows_m = np.flatnonzero(statements == m)
        p_a[rows_m] = clopper_pearson_lower(count_top[rows_m], n[rows_m], alpha / m)
        if m == 1:
            continue
        masses = np.array([[estimation[i, g].sum() for g in groups[i]] for i in rows_m])  # [rows, m − 1]
        p_b[rows_m] = clopper_pearson_upper(masses, n[rows_m, None], alpha / m).max(axis=1)
    p_b = np.minimum(p_b, 1.0 - p_a)
    certified = p_a > p_b
    radius = np.where(certified, noise.certified_radius(p_a, p_b), 0.0)
    certified &= radius > 0
    radius = np.where(certified, radius, 0.0)
    return Top2Counts(np.where(certified, guess, ABSTAIN), radius, p_a, count_top, n0, n, guess, certified,
                      p_b_upper=p_b, groups=statements - 1)


def top2_bonferroni(selection: np.ndarray, estimation: np.ndarray, alpha: float, noise: Noise,
                    num_classes: int) -> Top2Counts:
    """The top-2 certificate with a Bonferroni bound on each of the other C − 1 classes (level α/C each).

    With probability ≥ 1 − α over the estimation samples, a certified ĉ_A has p_A ≥ p̲_A and every other class
    p_c ≤ p̄_B, so the smoothed classifier is ĉ_A on the ball of the returned radius.
    """
    selection, estimation = checked_counts(selection, estimation, num_classes)
    guess = select_class(selection, num_classes)
    groups = [[np.array([c]) for c in range(num_classes) if c != a] for a in guess]
    return grouped_certificate(selection, estimation, groups, alpha, noise, num_classes)
