"""Uncertainty-aware certificates R_i, R_ii, their top-2 variants, and Cohen's radius, from one set of samples.

Formulation and proofs: docs/uncertainty.md (methods.md §4, derived there from Cohen et al.'s theorem).
Notation: o(x) = f(x) if u(x) ≤ τ else ⊥ is the base outcome; p_o(x) = P(o(x + ε) = o) over the noise;
p^f_c(x) = P(f(x + ε) = c) the plain classifier's class probabilities. Two smoothed classifiers:

- G (majority): G(x) = c if p_c(x) > ½ for a certain class c, else ⊥ ("uncertain").
- G⁺ (plurality): G⁺(x) = argmax over the C + 1 outcomes {0 … C−1, ⊥} of p_o(x).

From n0 selection samples: ĉ_A = argmax of the certain-class counts (ties: larger plain count, then lower
class) and, for Cohen, ĉ = argmax of the plain counts. From n estimation samples (independent of both):

====================  ==========================================================  ==========================
radius                formula (bounds: one-sided Clopper–Pearson)                 certifies on ‖δ‖₂ < radius
====================  ==========================================================  ==========================
``radius_i``          σ Φ⁻¹(p̲₁), p̲₁ ≤ P(o = ĉ_A) at level α                      G = ĉ_A (and G⁺ = ĉ_A)
``radius_ii``         σ Φ⁻¹(p̲₂), p̲₂ ≤ P(o ∈ {ĉ_A, ⊥}) at level α                  G ∈ {ĉ_A, ⊥}
``radius_cohen``      σ Φ⁻¹(p̲), p̲ ≤ P(f = ĉ) at level α (Cohen's CERTIFY)          g = ĉ (plain classifier)
``radius_i_top2``     σ/2 (Φ⁻¹(L₁) − Φ⁻¹(U_B)), U_B = min(max_{o≠ĉ_A} U_o, 1 − L₁)  G⁺ = ĉ_A
``radius_ii_top2``    σ/2 (Φ⁻¹(max(L₁, L_⊥, L_{A∪⊥}/2)) − Φ⁻¹(U_W)),                 G⁺ ∈ {ĉ_A, ⊥} (so also
                      U_W = min(max_{c≠ĉ_A} U_c, 1 − max(L₁ + L_⊥, L_{A∪⊥}))        G ∈ {ĉ_A, ⊥})
``radius_filtered``   σ/2 (Φ⁻¹(L_A) − Φ⁻¹(U_B)) of :mod:`.filtered` (joint masses,   G_F = ĉ_A (the filtered
                      bounds at α/3, α/3, α/(3(C − 1)))                           classifier, never ⊥)
====================  ==========================================================  ==========================

The first three each hold with probability ≥ 1 − α (individually, not jointly). The two top-2 radii share
one family of C + 3 bounds (L₁, L_⊥ and the pooled L_{A∪⊥} lower; U_⊥ and the C − 1 wrong classes' U_c
upper), each at level α/(C + 3) (Bonferroni), so both hold together with probability ≥ 1 − α. A certificate
that is not issued (its bound ≤ ½, or L ≤ U for the top-2 forms) has radius NaN. On every input R_ii ≥ R_i and
R_ii_top2 ≥ R_i_top2; at τ = ∞ (no ⊥) R_i = R_ii = Cohen's radius. ``radius_filtered`` uses its own family
of bounds, holding together with probability ≥ 1 − α, and certifies the filtered classifier
G_F(x) = argmax_c P(o(x + ε) = c), which never answers ⊥.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..errors import InvalidArgumentError
from ..noise import Noise
from ..stats import bonferroni, clopper_pearson_lower, clopper_pearson_upper
from ..validate import check_alpha
from .cohen import ABSTAIN
from .filtered import filtered_from_counts


@dataclass(frozen=True)
class UncertaintyCertificates:
    """Certificates of B inputs; every field is an array [B] (NaN radius / −1 prediction: not issued).

    Attributes:
        guess: ĉ_A, the uncertainty-aware guess from the selection samples.
        guess_cohen: ĉ, the plain classifier's guess (−1 when the class of ⊥ samples was not kept).
        predict_i, predict_ii, predict_cohen: the guess when that certificate is issued, else −1.
        radius_i, radius_ii, radius_cohen, radius_i_top2, radius_ii_top2, radius_filtered: radii in input space.
        p1_lower, p2_lower, pA_lower: the level-α lower bounds on P(o = ĉ_A), P(o ∈ {ĉ_A, ⊥}), P(f = ĉ).
        count_i, count_ii, count_cohen, count_uncertain: estimation counts of those events and of ⊥.
        frac_uncertain: count_uncertain / n.
        n0, n: selection and estimation sample sizes.
    """

    guess: np.ndarray
    guess_cohen: np.ndarray
    predict_i: np.ndarray
    predict_ii: np.ndarray
    predict_cohen: np.ndarray
    radius_i: np.ndarray
    radius_ii: np.ndarray
    radius_cohen: np.ndarray
    radius_i_top2: np.ndarray
    radius_ii_top2: np.ndarray
    p1_lower: np.ndarray
    p2_lower: np.ndarray
    pA_lower: np.ndarray
    count_i: np.ndarray
    count_ii: np.ndarray
    count_cohen: np.ndarray
    count_uncertain: np.ndarray
    frac_uncertain: np.ndarray
    n0: np.ndarray
    n: np.ndarray
    radius_filtered: np.ndarray

    def __len__(self) -> int:
        return len(self.guess)

    def row(self, i: int) -> dict:
        """Input i's values as plain Python numbers (ints and floats)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)[i]
            out[f.name] = int(value) if np.issubdtype(type(value), np.integer) else float(value)
        return out


def _as_counts(name: str, counts: np.ndarray, ndim: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(counts)
    if arr.ndim not in ndim or arr.dtype.kind not in "iu" or (arr.size and arr.min() < 0):
        raise InvalidArgumentError(f"{name} must be non-negative integer counts, got dtype {arr.dtype}, "
                                   f"shape {arr.shape}")
    return arr.astype(np.int64)


def uncertainty_certificates(
    selection_certain: np.ndarray,
    selection_uncertain: np.ndarray,
    certain: np.ndarray,
    uncertain: np.ndarray,
    alpha: float,
    noise: Noise,
) -> UncertaintyCertificates:
    """The certificates from counts (numbers only: no sampling here).

    Args:
        selection_certain: [B, C] counts of o = c among the n0 selection samples.
        selection_uncertain: [B, C] counts of (⊥, f = c) among them, or [B] counts of ⊥ (class not kept).
        certain: [B, C] counts of o = c among the n estimation samples (independent of the selection ones).
        uncertain: [B, C] or [B], the same for ⊥.
        alpha: failure probability of each certificate (and of the top-2 pair together).
        noise: gives the radius formula (σ Φ⁻¹(p̲) and σ/2 (Φ⁻¹(p̲) − Φ⁻¹(p̄)) for Gaussian noise).
    Returns:
        :class:`UncertaintyCertificates` (see the module docstring for what each radius certifies).
    """
    alpha = check_alpha(alpha)
    sel_c = _as_counts("selection_certain", selection_certain, (2,))
    sel_u = _as_counts("selection_uncertain", selection_uncertain, (1, 2))
    est_c = _as_counts("certain", certain, (2,))
    est_u = _as_counts("uncertain", uncertain, (1, 2))
    b, c = est_c.shape
    if sel_c.shape != (b, c) or sel_u.shape[0] != b or est_u.shape[0] != b or c < 2:
        raise InvalidArgumentError(f"count shapes do not agree: {sel_c.shape}, {sel_u.shape}, {est_c.shape}, "
                                   f"{est_u.shape}")
    keep_class = est_u.ndim == 2 and sel_u.ndim == 2
    rows = np.arange(b)
    n0 = sel_c.sum(axis=1) + (sel_u.sum(axis=1) if sel_u.ndim == 2 else sel_u)
    n = est_c.sum(axis=1) + (est_u.sum(axis=1) if est_u.ndim == 2 else est_u)
    if b and (n.min() < 1 or n0.min() < 1):
        raise InvalidArgumentError("every input needs at least one selection and one estimation sample")

    # Selection: only the selection samples decide the guesses, so the estimation counts stay binomial.
    plain_sel = sel_c + sel_u if sel_u.ndim == 2 else sel_c
    guess = np.argmax(sel_c * (int(n0.max(initial=0)) + 1) + plain_sel, axis=1)  # ties: plain count, lower class
    guess_cohen = np.argmax(plain_sel, axis=1) if keep_class else np.full(b, ABSTAIN)

    count_uncertain = est_u.sum(axis=1) if est_u.ndim == 2 else est_u
    count_i = est_c[rows, guess]
    count_ii = count_i + count_uncertain
    p1 = clopper_pearson_lower(count_i, n, alpha)
    p2 = clopper_pearson_lower(count_ii, n, alpha)
    issued_i, issued_ii = p1 > 0.5, p2 > 0.5
    radius_i = np.where(issued_i, noise.certified_radius(p1), np.nan)
    radius_ii = np.where(issued_ii, noise.certified_radius(p2), np.nan)

    if keep_class:  # Cohen's CERTIFY of the plain classifier, with its own guess and abstain rule (p̲ ≥ ½)
        count_cohen = (est_c + est_u)[rows, guess_cohen]
        p_cohen = clopper_pearson_lower(count_cohen, n, alpha)
        issued_cohen = p_cohen >= 0.5
        radius_cohen = np.where(issued_cohen, noise.certified_radius(p_cohen), np.nan)
    else:
        count_cohen = np.full(b, -1)
        p_cohen = radius_cohen = np.full(b, np.nan)
        issued_cohen = np.zeros(b, dtype=bool)

    # Top-2 variants: C + 3 simultaneous bounds (L₁, L_⊥, the pooled L_{A∪⊥} on P(o ∈ {ĉ_A, ⊥}), U_⊥, and U_c
    # for the C − 1 wrong classes).
    level = bonferroni(alpha, c + 3)
    low_1 = clopper_pearson_lower(count_i, n, level)
    low_u = clopper_pearson_lower(count_uncertain, n, level)
    low_pool = clopper_pearson_lower(count_ii, n, level)
    up_u = clopper_pearson_upper(count_uncertain, n, level)
    up_c = clopper_pearson_upper(est_c, n[:, None], level)
    up_c[rows, guess] = 0.0
    up_wrong = up_c.max(axis=1)
    # 1 − L₁ bounds every other outcome on the same event.
    up_b = np.minimum(np.maximum(up_wrong, up_u), 1.0 - low_1)
    radius_i_top2 = np.where(low_1 > up_b, noise.certified_radius(low_1, up_b), np.nan)
    # max(p_A, p_⊥) ≥ (p_A + p_⊥)/2 ≥ L_{A∪⊥}/2, tighter than L₁ or L_⊥ when ĉ_A and ⊥ share the mass; and each
    # wrong class has p_c ≤ 1 − (p_A + p_⊥) ≤ 1 − max(L₁ + L_⊥, L_{A∪⊥}): one pooled bound beats a sum of two.
    low_ii = np.maximum.reduce([low_1, low_u, 0.5 * low_pool])
    up_w = np.minimum(up_wrong, 1.0 - np.maximum(low_1 + low_u, low_pool))
    radius_ii_top2 = np.where(low_ii > up_w, noise.certified_radius(low_ii, up_w), np.nan)
    radius_filtered = filtered_from_counts(guess, est_c, count_uncertain, alpha, noise).radius

    return UncertaintyCertificates(
        guess=guess, guess_cohen=guess_cohen,
        predict_i=np.where(issued_i, guess, ABSTAIN), predict_ii=np.where(issued_ii, guess, ABSTAIN),
        predict_cohen=np.where(issued_cohen, guess_cohen, ABSTAIN),
        radius_i=radius_i, radius_ii=radius_ii, radius_cohen=radius_cohen,
        radius_i_top2=radius_i_top2, radius_ii_top2=radius_ii_top2,
        p1_lower=p1, p2_lower=p2, pA_lower=np.asarray(p_cohen, dtype=np.float64),
        count_i=count_i, count_ii=count_ii, count_cohen=count_cohen, count_uncertain=count_uncertain,
        frac_uncertain=count_uncertain / n, n0=n0, n=n, radius_filtered=radius_filtered,
    )  # fmt: skip
