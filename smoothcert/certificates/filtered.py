"""The filtered certificate: a smoothed classifier that never answers ⊥, certified from joint masses.

The base outcome is o(x) = f(x) if u(x) ≤ τ, else ⊥ (a filter that drops uncertain samples). The filtered
smoothed classifier is G_F(x) = argmax over the classes y of the joint mass p_y(x) = P(f(x + ε) = y, u ≤ τ):
⊥ is not a competitor, so G_F always answers a class. The certificate is Algorithm 1 of "The Geometry of
Randomized Smoothing on Feasible Sets" (2026). With ĉ_A chosen from the selection samples and from n
estimation samples the counts C_A of {o = ĉ_A}, C_⊥ of {o = ⊥} and C_y of {o = y}:

    L_A     = CP_lower(C_A, n, α/3)
    L_{A∪⊥} = CP_lower(C_A + C_⊥, n, α/3)
    U_y     = CP_upper(C_y, n, α/(3(C − 1)))      for each class y ≠ ĉ_A
    U_B     = min(max_y U_y, 1 − L_{A∪⊥})
    R       = σ/2 (Φ⁻¹(L_A) − Φ⁻¹(U_B))           (noise.certified_radius(L_A, U_B)); abstain if L_A ≤ U_B.

All 2 + (C − 1) bounds hold together with probability ≥ 1 − α (Bonferroni over α/3 + α/3 + α/3). Then
p_A ≥ L_A and every p_y ≤ U_B (p_y ≤ 1 − p_A − p_⊥ since the masses of the C + 1 outcomes sum to 1), and the
top-2 argument of Cohen et al. (2019) on the events {o = ĉ_A} and {o = y} gives G_F(x + δ) = ĉ_A for
‖δ‖ < R. Normalising the masses by the retained mass 1 − p_⊥ (the "conditional" radius) is NOT sound: the
retained mass itself changes with x (docs/uncertainty.md, "The filtered classifier").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError
from ..noise import Noise
from ..stats import clopper_pearson_lower, clopper_pearson_upper
from ..validate import check_alpha, check_num_classes
from .cohen import ABSTAIN


@dataclass(frozen=True)
class FilteredCertificate:
    """Filtered certificates of B inputs, every field an array [B].

    Attributes:
        prediction: ĉ_A where certified, else −1 (:data:`~smoothcert.certificates.cohen.ABSTAIN`).
        radius: R where certified, NaN where not (L_A ≤ U_B, or a zero radius).
        low_a, low_a_bottom, up_b: L_A, L_{A∪⊥} and U_B.
    """

    prediction: np.ndarray
    radius: np.ndarray
    low_a: np.ndarray
    low_a_bottom: np.ndarray
    up_b: np.ndarray


def filtered_radius(low_a: np.ndarray, low_a_bottom: np.ndarray, up_wrong: np.ndarray,
                    noise: Noise) -> tuple[np.ndarray, np.ndarray]:
    """(U_B, R) from the bounds: U_B = min(up_wrong, 1 − low_a_bottom), R = noise.certified_radius(low_a, U_B)
    where low_a > U_B and that radius is positive, NaN elsewhere.

    With the true masses as bounds (low_a = p_A, low_a_bottom = p_A + p_⊥, up_wrong = max_{y≠A} p_y) this is
    the radius the masses themselves certify.
    """
    low_a = np.asarray(low_a, dtype=np.float64)
    up_b = np.minimum(np.asarray(up_wrong, dtype=np.float64), 1.0 - np.asarray(low_a_bottom, dtype=np.float64))
    up_b = np.clip(up_b, 0.0, 1.0)
    radius = noise.certified_radius(np.clip(low_a, 0.0, 1.0), up_b)
    return up_b, np.where((low_a > up_b) & (radius > 0), radius, np.nan)


def filtered_from_counts(guess: np.ndarray, certain: np.ndarray, uncertain: np.ndarray, alpha: float,
                         noise: Noise) -> FilteredCertificate:
    """The filtered certificate from estimation counts: ``certain`` [B, C] counts of {o = y}, ``uncertain`` [B]
    counts of {o = ⊥}, and ``guess`` [B] = ĉ_A chosen from independent selection samples."""
    alpha = check_alpha(alpha)
    certain = np.asarray(certain, dtype=np.int64)
    uncertain = np.asarray(uncertain, dtype=np.int64)
    guess = np.asarray(guess, dtype=np.int64)
    b, c = certain.shape
    if c < 2 or uncertain.shape != (b,) or guess.shape != (b,):
        raise InvalidArgumentError(f"count shapes do not agree: certain {certain.shape}, uncertain "
                                   f"{uncertain.shape}, guess {guess.shape} (need [B, C >= 2], [B], [B])")
    rows = np.arange(b)
    n = certain.sum(axis=1) + uncertain
    if b and n.min() < 1:
        raise InvalidArgumentError("every input needs at least one estimation sample")
    count_a = certain[rows, guess]
    low_a = clopper_pearson_lower(count_a, n, alpha / 3)
    low_a_bottom = clopper_pearson_lower(count_a + uncertain, n, alpha / 3)
    up = clopper_pearson_upper(certain, n[:, None], alpha / (3 * (c - 1)))
    up[rows, guess] = 0.0
    up_b, radius = filtered_radius(low_a, low_a_bottom, up.max(axis=1), noise)
    prediction = np.where(np.isnan(radius), ABSTAIN, guess)
    return FilteredCertificate(prediction, radius, low_a, low_a_bottom, up_b)


def filtered_certificate(selection: np.ndarray, estimation: np.ndarray, alpha: float, noise: Noise,
                         num_classes: int) -> FilteredCertificate:
    """The filtered certificate from C + 1 outcome counts [B, C + 1] (the last column ⊥), selection and
    estimation from independent samples; ĉ_A is the most frequent class (not ⊥) of the selection counts
    (ties: the lower class)."""
    num_classes = check_num_classes(num_classes)
    sel, est = np.asarray(selection), np.asarray(estimation)
    for name, arr in (("selection", sel), ("estimation", est)):
        if arr.ndim != 2 or arr.shape[1] != num_classes + 1 or arr.dtype.kind not in "iu" or (arr.size
                                                                                                and arr.min() < 0):
            raise InvalidArgumentError(f"{name} counts must be non-negative integers [B, {num_classes + 1}] "
                                       f"(C classes, then ⊥), got dtype {arr.dtype}, shape {arr.shape}")
    if sel.shape != est.shape:
        raise InvalidArgumentError(f"selection counts {sel.shape} and estimation counts {est.shape} differ")
    guess = sel[:, :num_classes].argmax(axis=1)
    return filtered_from_counts(guess, est[:, :num_classes], est[:, num_classes], alpha, noise)
