"""Certificates of the mixed classifier from vote counts (Bai et al. 2024; methods.md §5). Numbers only.

The mixture is M(x) = argmax_c (1 − α)·g_c(x) + α·h_c(x), g_c ∈ [0, 1] the standard model's softmax and
h_c(x) = P(f(x + ε) = c), ε ~ N(0, σ²I), the class probabilities of the smoothed hard-vote classifier. With
y the robust model's class, y' its strongest rival and μ = (1 − α)/α, M is constant (= y) on the ℓ2 ball of
radius

    randomized-smoothing version:  r = σ/2 · max(0, Φ⁻¹(h_y/(1+μ)) − Φ⁻¹((h_{y'} + μ)/(1+μ)))
    Lipschitz version:             r = max(0, α·(h_y − h_{y'}) + α − 1) / (2α·L),   L = √(2/π)/σ

(proofs in docs/mixing.md). The paper plugs in vote frequencies; here h_y is replaced by a lower bound p̲_y
and h_{y'} by an upper bound p̄_{y'} that hold together with probability ≥ 1 − α_conf (one-sided
Clopper–Pearson at α_conf/2 each, Bonferroni), which makes the radius a certificate. The plug-in version is
computed beside it to show what the bounds cost.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from ..errors import InvalidArgumentError
from ..stats import bonferroni, clopper_pearson_lower, clopper_pearson_upper
from ..validate import check_alpha

KINDS = ("rs", "lipschitz")
BOUNDS = ("cp", "plugin")


def check_mixing_alpha(alpha: np.ndarray | float) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float64)
    if np.any(~np.isfinite(a)) or np.any(a < 0) or np.any(a > 1):
        raise InvalidArgumentError(f"the mixing weight alpha must lie in [0, 1], got {alpha!r}")
    return a


def mixture_mu(alpha: np.ndarray | float) -> np.ndarray:
    """μ = (1 − α)/α (∞ at α = 0)."""
    a = check_mixing_alpha(alpha)
    with np.errstate(divide="ignore"):
        return np.where(a > 0, (1 - a) / np.where(a > 0, a, 1.0), np.inf)


def rs_radius(p_y: np.ndarray, p_other: np.ndarray, alpha: np.ndarray | float, sigma: float) -> np.ndarray:
    """σ/2 · max(0, Φ⁻¹(p_y/(1+μ)) − Φ⁻¹((p_other + μ)/(1+μ))), broadcast over inputs and α; 0 at α = 0.

    p_y must be a lower bound on h_y(x) and p_other an upper bound on max_{c≠y} h_c(x) for a certificate.
    At α = 1 this is Cohen et al.'s two-sided radius σ/2 (Φ⁻¹(p_y) − Φ⁻¹(p_other)).
    """
    mu = mixture_mu(alpha)
    p_y, p_other = np.asarray(p_y, dtype=np.float64), np.asarray(p_other, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        finite = np.isfinite(mu)
        m = np.where(finite, mu, 0.0)
        r = 0.5 * sigma * (norm.ppf(p_y / (1 + m)) - norm.ppf((p_other + m) / (1 + m)))
    r = np.where(finite, r, 0.0)
    return np.maximum(np.nan_to_num(r, nan=0.0, neginf=0.0), 0.0)


def lipschitz_radius(p_y: np.ndarray, p_other: np.ndarray, alpha: np.ndarray | float, sigma: float) -> np.ndarray:
    """max(0, α(p_y − p_other) + α − 1)/(2α L) with L = √(2/π)/σ, the Lipschitz constant of each h_c; 0 at α = 0."""
    a = check_mixing_alpha(alpha)
    lip = math.sqrt(2 / math.pi) / sigma
    gap = a * (np.asarray(p_y, dtype=np.float64) - np.asarray(p_other, dtype=np.float64)) + a - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(a > 0, np.maximum(gap, 0.0) / (2 * np.where(a > 0, a, 1.0) * lip), 0.0)
    return r


RADII = {"rs": rs_radius, "lipschitz": lipschitz_radius}


def simultaneous_bounds(count_y: np.ndarray, count_other: np.ndarray, n: np.ndarray | int,
                        alpha_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """(p̲_y, p̄_{y'}) holding together with probability ≥ 1 − α_conf.

    p̲_y is the one-sided Clopper–Pearson lower bound of count_y at level α_conf/2; p̄_{y'} is the smaller of the
    upper bound of count_other (the largest count among classes ≠ y) at α_conf/2 and 1 − p̲_y. Both are valid
    bounds on h_y and max_{c≠y} h_c on the same event, provided y was chosen independently of these counts.
    """
    level = bonferroni(check_alpha(alpha_conf), 2)
    lower = clopper_pearson_lower(count_y, n, level)
    upper = np.minimum(clopper_pearson_upper(count_other, n, level), 1.0 - lower)
    return lower, upper


def plugin_estimates(count_y: np.ndarray, count_other: np.ndarray,
                     n: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Raw vote frequencies (n_y/n, n_{y'}/n): what the paper plugs in; not a certificate."""
    n = np.asarray(n, dtype=np.float64)
    return np.asarray(count_y, dtype=np.float64) / n, np.asarray(count_other, dtype=np.float64) / n


def mixture_radius(count_y: np.ndarray, count_other: np.ndarray, n: np.ndarray | int, alpha: np.ndarray | float,
                   sigma: float, *, kind: str = "rs", bounds: str = "cp", alpha_conf: float = 0.001) -> np.ndarray:
    """Radius of the mixture from vote counts: ``kind`` "rs" or "lipschitz", ``bounds`` "cp" (certificate, at
    confidence 1 − α_conf) or "plugin" (raw frequencies). Shapes: counts [B] (or broadcastable with α)."""
    if kind not in KINDS or bounds not in BOUNDS:
        raise InvalidArgumentError(f"kind must be one of {KINDS} and bounds one of {BOUNDS}, got {kind!r}, {bounds!r}")
    if bounds == "cp":
        p_y, p_other = simultaneous_bounds(count_y, count_other, n, alpha_conf)
    else:
        p_y, p_other = plugin_estimates(count_y, count_other, n)
    return RADII[kind](p_y, p_other, alpha, sigma)
