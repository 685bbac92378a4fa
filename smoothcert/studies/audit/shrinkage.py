"""Shrinking decision regions under Gaussian smoothing, analytically (methods.md §1).

The smoothed region of a base region S ⊂ ℝ^d is S_σ = {x : P(x + ε ∈ S) > ½}, ε ~ N(0, σ²I): the region a
smoothed classifier gives the class of S when S is played against the rest of the space.

- Ball S = B(0, ρ): P(‖x + ε‖ ≤ ρ) = F_{χ²'_d(λ)}(ρ²/σ²) with λ = ‖x‖²/σ², decreasing in ‖x‖, so S_σ is the
  open ball of radius ρ_σ < ρ where that probability is ½, and it is empty once σ ≥ σ_van = ρ/√median(χ²_d).
- Half-space: P = Φ(signed distance/σ), so S_σ = S (no shrinking).
- Cone of half-angle θ (a wedge of angle 2θ when d = 2): scale invariance gives S_σ = σ·S_1, so every shrink
  is σ times a number that depends on (θ, d) only; those numbers come from Monte Carlo (and, for the wedge,
  from the bivariate normal CDF, which checks the Monte Carlo).

All lengths are in input units (the units of ρ and σ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.stats import chi2, multivariate_normal, ncx2, norm

from smoothcert.errors import InvalidArgumentError
from smoothcert.validate import check_count, check_int, check_positive, check_real

__all__ = [
    "ConeShrink",
    "ball_probability",
    "cone_apex_shift",
    "cone_boundary",
    "cone_probability",
    "cone_shrink",
    "halfspace_probability",
    "shrink_curve",
    "smoothed_ball_radius",
    "vanishing_sigma",
    "wedge_probability",
]


# --- balls ------------------------------------------------------------------------------------------------

def ball_probability(r: ArrayLike, rho: float, sigma: float, d: int) -> np.ndarray:
    """P(‖x + ε‖ ≤ ρ) for ‖x‖ = r, ε ~ N(0, σ²I_d): the noncentral χ² CDF F_{χ²'_d(r²/σ²)}(ρ²/σ²).

    Args:
        r: distance(s) of x from the ball's centre, ≥ 0, any shape.
        rho: ball radius ρ > 0.
        sigma: noise level σ > 0.
        d: dimension.
    Returns:
        float64 array of the shape of ``r``.
    """
    rho, sigma, d = check_positive("rho", rho), check_positive("sigma", sigma), check_count("dimension d", d)
    r = np.asarray(r, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(r < 0):
        raise InvalidArgumentError(f"distances r must be finite and >= 0, got {r!r}")
    lam = (r / sigma) ** 2
    central = chi2.cdf(rho**2 / sigma**2, d)
    # ncx2 with λ = 0 is the central χ²; SciPy's ncx2 wants λ > 0 for full accuracy.
    noncentral = ncx2.cdf(rho**2 / sigma**2, d, np.maximum(lam, 1e-300))
    return np.where(lam > 0, noncentral, central)


def vanishing_sigma(rho: float, d: int) -> float:
    """σ_van = ρ/√median(χ²_d): the smoothed region of B(0, ρ) ⊂ ℝ^d is empty for every σ ≥ σ_van."""
    return check_positive("rho", rho) / math.sqrt(chi2.ppf(0.5, check_count("dimension d", d)))


def smoothed_ball_radius(rho: float, sigma: float, d: int) -> float:
    """ρ_σ: the smoothed region of B(0, ρ) ⊂ ℝ^d is the open ball B(0, ρ_σ); 0 when it is empty.

    Solves P(‖x + ε‖ ≤ ρ) = ½ in ‖x‖ ∈ (0, ρ) by Brent's method (relative tolerance 1e-12); σ = 0 gives ρ.
    """
    rho, sigma = check_positive("rho", rho), check_positive("sigma", sigma, allow_zero=True)
    d = check_count("dimension d", d)
    if sigma == 0:
        return rho
    if sigma >= vanishing_sigma(rho, d):
        return 0.0
    # P > ½ at r = 0 and < ½ at r = ρ (the ball lies strictly inside a half-space of mass ½) ...
    def excess(r: float) -> float:
        return float(ball_probability(r, rho, sigma, d)) - 0.5

    if excess(rho) >= 0:  # ... unless the gap is below the CDF's rounding (d = 1 and σ ≪ ρ): no visible shrink
        return rho
    return float(brentq(excess, 0.0, rho, xtol=1e-12 * rho, rtol=1e-12))


def shrink_curve(rho: float, sigmas: Sequence[float], d: int) -> np.ndarray:
    """ρ_σ/ρ for each σ in ``sigmas`` (float64 [S]); depends on σ/ρ and d only."""
    return np.array([smoothed_ball_radius(rho, s, d) / rho for s in sigmas])


# --- half-spaces ------------------------------------------------------------------------------------------

def halfspace_probability(signed_distance: ArrayLike, sigma: float) -> np.ndarray:
    """P(x + ε ∈ H) = Φ(t/σ) for H = {y : w·y ≤ b} and t = (b − w·x)/‖w‖: ½ exactly on the boundary, so the
    smoothed half-space is the open half-space itself."""
    return norm.cdf(np.asarray(signed_distance, dtype=np.float64) / check_positive("sigma", sigma))


# --- cones and wedges -------------------------------------------------------------------------------------

def _angle(theta: float) -> float:
    return check_real("cone half-angle theta (radians)", theta, low=0.0, high=math.pi / 2, low_open=True)


def cone_probability(axial: ArrayLike, radial: ArrayLike, theta: float, z: np.ndarray) -> np.ndarray:
    """Monte Carlo P(x + Z ∈ C) at σ = 1 for the cone C = {y : angle(y, e₁) ≤ θ} ⊂ ℝ^d.

    Args:
        axial, radial: x = axial·e₁ + radial·e₂ (broadcast together to shape P).
        theta: half-angle in radians, (0, π/2] (π/2 is the half-space y₁ ≥ 0).
        z: standard normal samples [N, d], d ≥ 2 (reuse one sample for common random numbers).
    Returns:
        float64 [*P]: the fraction of samples with x + z in C.
    """
    theta = _angle(theta)
    axial, radial = np.broadcast_arrays(np.asarray(axial, np.float64), np.asarray(radial, np.float64))
    if z.ndim != 2 or z.shape[1] < 2:
        raise InvalidArgumentError(f"z must be standard normal samples [N, d] with d >= 2, got {z.shape}")
    rest = np.sum(z[:, 2:] ** 2, axis=1)  # [N]
    out = np.empty(axial.shape)
    cos_t = math.cos(theta)
    for i, (t, r) in enumerate(zip(axial.ravel(), radial.ravel(), strict=True)):
        y1 = t + z[:, 0]
        norm_y = np.sqrt(y1**2 + (r + z[:, 1]) ** 2 + rest)
        out.flat[i] = np.mean(y1 >= norm_y * cos_t)
    return out


def wedge_probability(axial: ArrayLike, radial: ArrayLike, theta: float, sigma: float = 1.0) -> np.ndarray:
    """Exact P(x + ε ∈ W) for the 2-D wedge W = {y : angle(y, e₁) ≤ θ}, θ ∈ (0, π/2], x = (axial, radial).

    W is the intersection of the half-planes n_u·y ≥ 0 and n_l·y ≥ 0 with n_u = (sin θ, −cos θ),
    n_l = (sin θ, cos θ); so P = Φ₂(n_u·x/σ, n_l·x/σ; correlation n_u·n_l = −cos 2θ).
    """
    theta, sigma = _angle(theta), check_positive("sigma", sigma)
    axial, radial = np.broadcast_arrays(np.asarray(axial, np.float64), np.asarray(radial, np.float64))
    s, c = math.sin(theta), math.cos(theta)
    upper = (s * axial - c * radial) / sigma
    lower = (s * axial + c * radial) / sigma
    if math.isclose(theta, math.pi / 2):
        return norm.cdf(upper)  # the two half-planes coincide: y₁ ≥ 0
    mvn = multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, -math.cos(2 * theta)], [-math.cos(2 * theta), 1.0]])
    points = np.stack([upper.ravel(), lower.ravel()], axis=1)
    return np.atleast_1d(mvn.cdf(points)).reshape(axial.shape)


def _standard_normal(n: int, d: int, seed: int) -> np.ndarray:
    n = check_count("Monte Carlo sample size n", n)
    d = check_int("cone dimension d", d, minimum=2)
    return np.random.default_rng(seed).standard_normal((n, d))


def _bisect(f, lo: float, hi: float, iterations: int = 50) -> float:
    """A root of the (Monte Carlo, hence step-shaped) function f − ½ on [lo, hi], with f(lo) and f(hi) on
    opposite sides of ½; bisection needs no smoothness."""
    f_lo = f(lo) - 0.5
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if (f(mid) - 0.5) * f_lo > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def cone_apex_shift(theta: float, d: int, n: int = 200_000, seed: int = 0) -> float:
    """a(θ, d): the smoothed cone's apex lies at a·σ·e₁ (a ≥ 0: the tip moves inward), by Monte Carlo.

    Solves P(a·e₁ + Z ∈ C) = ½ at σ = 1 with n common normal samples; exact 0 for the half-space θ = π/2.
    The standard error of a is about 0.5/(√n · ∂P/∂a).
    """
    theta = _angle(theta)
    if math.isclose(theta, math.pi / 2):
        return 0.0
    z = _standard_normal(n, d, seed)
    hi = 1.0
    while cone_probability(hi, 0.0, theta, z)[()] <= 0.5:  # P → 1 as the point moves deep into the cone
        hi *= 2.0
    return _bisect(lambda t: float(cone_probability(t, 0.0, theta, z)), 0.0, hi)


def cone_boundary(theta: float, d: int, axial: Sequence[float], n: int = 200_000, seed: int = 0) -> np.ndarray:
    """r₁(t): radial distance from the axis of the smoothed cone's boundary at axial positions t (σ = 1).

    For θ ≤ π/2 each cross-section of C is a ball around the axis, so P(x + Z ∈ C) decreases with the radial
    distance (Anderson's theorem, conditionally on the axial noise) and the smoothed cross-section is a ball
    of radius r₁(t) (0 where the smoothed cone has not begun, t ≤ a). Monte Carlo with n common samples.

    Returns:
        float64 [T]; the base cone's radius there is t·tan θ.
    """
    theta = _angle(theta)
    if math.isclose(theta, math.pi / 2):  # the half-space y₁ ≥ 0: every cross-section at t > 0 is whole
        return np.where(np.asarray(axial, dtype=np.float64) > 0, np.inf, 0.0)
    z = _standard_normal(n, d, seed)
    out = []
    for t in axial:
        t = float(t)
        if cone_probability(t, 0.0, theta, z)[()] <= 0.5:
            out.append(0.0)
            continue
        hi = t * math.tan(theta) + 1.0
        while cone_probability(t, hi, theta, z)[()] > 0.5:
            hi *= 2.0
        out.append(_bisect(lambda r, t=t: float(cone_probability(t, r, theta, z)), 0.0, hi))
    return np.array(out)


@dataclass(frozen=True)
class ConeShrink:
    """How a cone of half-angle θ in ℝ^d shrinks under smoothing at noise σ (lengths in input units).

    Attributes:
        theta, d, sigma: the cone and the noise.
        apex_shift: a·σ, distance the smoothed apex moves into the cone along its axis.
        axial: positions t [T] along the axis (from the base apex).
        base_radius: t·tan θ [T], the base cone's cross-section radius there.
        radius: r_σ(t) [T], the smoothed cone's cross-section radius (0 before its apex).
        offset: (t·tan θ − r_σ(t))·cos θ [T], the gap between the two boundaries measured perpendicular to
            the base edge; NaN where the smoothed cone has not begun.
    """

    theta: float
    d: int
    sigma: float
    apex_shift: float
    axial: np.ndarray
    base_radius: np.ndarray
    radius: np.ndarray
    offset: np.ndarray


def cone_shrink(theta: float, d: int, sigma: float, axial: Sequence[float], n: int = 200_000,
                seed: int = 0) -> ConeShrink:
    """Apex shift and boundary of a cone at noise σ, at axial positions ``axial`` (input units).

    S_σ = σ·S₁, so both are σ times the σ = 1 values (:func:`cone_apex_shift`, :func:`cone_boundary`).
    """
    sigma = check_positive("sigma", sigma)
    theta = _angle(theta)
    axial = np.asarray(axial, dtype=np.float64)
    apex = cone_apex_shift(theta, d, n, seed) * sigma
    radius = cone_boundary(theta, d, axial / sigma, n, seed) * sigma
    base = axial * math.tan(theta)
    offset = np.where(radius > 0, (base - radius) * math.cos(theta), np.nan)
    return ConeShrink(theta, int(d), sigma, apex, axial, base, radius, offset)
