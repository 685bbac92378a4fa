"""Analytic shrinking of smoothed regions against independent computations.

The ball radius ρ_σ and σ_van come from the noncentral χ² CDF and root finding; here they are checked
against the d = 1 closed form (solved by plain bisection, not SciPy's root finder or ncx2) and against Monte
Carlo in d = 2 and d = 50. Cones are checked against the exact bivariate-normal probability of a 2-D wedge.
"""

import math

import numpy as np
import pytest
from scipy.stats import norm

from smoothcert.errors import InvalidArgumentError
from smoothcert.studies.audit.shrinkage import (
    ball_probability,
    cone_apex_shift,
    cone_boundary,
    cone_probability,
    cone_shrink,
    halfspace_probability,
    shrink_curve,
    smoothed_ball_radius,
    vanishing_sigma,
    wedge_probability,
)

MC = 400_000
TOL = 5 * 0.5 / math.sqrt(MC)  # five standard deviations of a Monte Carlo probability near ½


def bisect(f, lo, hi, steps=200):
    """Root of an increasing or decreasing f on [lo, hi], by bisection (independent of SciPy)."""
    sign_lo = f(lo) > 0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if (f(mid) > 0) == sign_lo:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def mc_ball_probability(r, rho, sigma, d, seed=0):
    """P(‖x + ε‖ ≤ ρ) for ‖x‖ = r from MC samples; ‖x + ε‖² = (r + ε₁)² + χ²_{d−1}·σ², drawn in that form."""
    rng = np.random.default_rng(seed)
    first = r / sigma + rng.standard_normal(MC)
    rest = rng.chisquare(d - 1, MC) if d > 1 else 0.0
    return float(np.mean(first**2 + rest <= (rho / sigma) ** 2))


@pytest.mark.parametrize("rho, sigma", [(1.0, 0.3), (1.0, 1.0), (0.5, 0.6), (2.0, 2.5)])
def test_ball_in_one_dimension_matches_the_closed_form(rho, sigma):
    # d = 1: P(|x + ε| ≤ ρ) = Φ((ρ − x)/σ) − Φ((−ρ − x)/σ)
    def closed(x):
        return norm.cdf((rho - x) / sigma) - norm.cdf((-rho - x) / sigma)

    xs = np.linspace(0, 2 * rho, 7)
    assert np.allclose(ball_probability(xs, rho, sigma, 1), closed(xs), atol=1e-12)
    expected = bisect(lambda x: closed(x) - 0.5, 0.0, rho) if closed(0.0) > 0.5 else 0.0
    assert smoothed_ball_radius(rho, sigma, 1) == pytest.approx(expected, abs=1e-9)


def test_vanishing_sigma_closed_forms():
    # d = 1: 2Φ(ρ/σ) − 1 = ½ ⇔ σ = ρ/Φ⁻¹(3/4); d = 2: ‖ε‖²/σ² ~ Exp(½), median 2 ln 2.
    assert vanishing_sigma(1.0, 1) == pytest.approx(1 / norm.ppf(0.75), rel=1e-10)
    assert vanishing_sigma(0.3, 2) == pytest.approx(0.3 / math.sqrt(2 * math.log(2)), rel=1e-10)
    # methods.md §1: in d = 784 a ball of radius 1 vanishes at σ ≈ 0.036, about ρ/√d.
    assert vanishing_sigma(1.0, 784) == pytest.approx(0.036, abs=5e-4)
    assert vanishing_sigma(1.0, 784) == pytest.approx(1 / math.sqrt(784), rel=0.01)


@pytest.mark.parametrize("d", [1, 2, 50])
def test_region_is_empty_exactly_from_the_vanishing_sigma(d):
    s = vanishing_sigma(1.0, d)
    assert smoothed_ball_radius(1.0, s * 0.999, d) > 0
    assert smoothed_ball_radius(1.0, s, d) == 0.0
    assert smoothed_ball_radius(1.0, s * 1.5, d) == 0.0
    # At σ_van the centre has probability exactly ½.
    assert float(ball_probability(0.0, 1.0, s, d)) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("d, rho, sigma", [(2, 1.0, 0.3), (2, 1.0, 0.7), (50, 1.0, 0.05), (50, 1.0, 0.12)])
def test_ball_radius_against_monte_carlo(d, rho, sigma):
    r = smoothed_ball_radius(rho, sigma, d)
    assert 0 < r < rho
    assert mc_ball_probability(r, rho, sigma, d) == pytest.approx(0.5, abs=TOL)
    # Not vacuous: a radius 3% off is visibly off the ½ level.
    assert abs(mc_ball_probability(0.97 * r, rho, sigma, d) - 0.5) > TOL
    assert abs(mc_ball_probability(min(1.03 * r, rho), rho, sigma, d) - 0.5) > TOL


@pytest.mark.parametrize("d", [2, 50])
def test_vanishing_sigma_against_monte_carlo(d):
    s = vanishing_sigma(1.0, d)
    assert mc_ball_probability(0.0, 1.0, s, d, seed=1) == pytest.approx(0.5, abs=TOL)
    # The rule of thumb ρ/√d is visibly wrong in d = 2, so the test could tell them apart.
    if d == 2:
        assert abs(mc_ball_probability(0.0, 1.0, 1 / math.sqrt(2), d, seed=1) - 0.5) > TOL


def test_shrink_depends_on_sigma_over_rho_only_and_decreases():
    sigmas = np.linspace(0.01, 0.5, 15)
    a = shrink_curve(1.0, sigmas, 10)
    b = shrink_curve(3.0, 3 * sigmas, 10)
    assert np.allclose(a, b, atol=1e-9)
    assert np.all(np.diff(a) <= 1e-12) and a[0] < 1
    assert smoothed_ball_radius(1.0, 0.0, 10) == 1.0


def test_halfspace_does_not_shrink():
    assert float(halfspace_probability(0.0, 0.7)) == 0.5
    assert float(halfspace_probability(1e-6, 0.7)) > 0.5 > float(halfspace_probability(-1e-6, 0.7))


@pytest.mark.parametrize("theta_deg", [20, 45, 70])
def test_wedge_monte_carlo_matches_the_bivariate_normal(theta_deg):
    theta = math.radians(theta_deg)
    z = np.random.default_rng(2).standard_normal((MC, 2))
    axial, radial = np.array([0.5, 1.0, 2.0, 1.0]), np.array([0.0, 0.3, 1.5, -0.4])
    mc = cone_probability(axial, radial, theta, z)
    exact = wedge_probability(axial, radial, theta)
    assert np.allclose(mc, exact, atol=5 * 0.5 / math.sqrt(MC))


def test_wedge_apex_shift_against_the_exact_probability():
    theta = math.radians(30)
    a = cone_apex_shift(theta, 2, n=MC, seed=3)
    # The exact probability at the Monte Carlo apex is ½ within Monte Carlo error.
    assert float(wedge_probability(a, 0.0, theta)) == pytest.approx(0.5, abs=TOL)
    exact = bisect(lambda t: float(wedge_probability(t, 0.0, theta)) - 0.5, 0.0, 10.0)
    assert a == pytest.approx(exact, abs=0.02)
    assert a > 0.5  # the tip of a 60° wedge moves visibly inward
    assert cone_apex_shift(math.pi / 2, 3) == 0.0  # half-space


def test_cone_scales_with_sigma_and_its_boundary_approaches_the_edge():
    theta = math.radians(45)
    one = cone_shrink(theta, 2, 1.0, [0.5, 1.0, 6.0], n=50_000, seed=4)
    two = cone_shrink(theta, 2, 2.0, [1.0, 2.0, 12.0], n=50_000, seed=4)
    assert two.apex_shift == pytest.approx(2 * one.apex_shift, rel=1e-9)
    assert np.allclose(two.radius, 2 * one.radius, atol=1e-9)
    assert one.radius[0] == 0 and math.isnan(one.offset[0])  # before the smoothed apex (a ≈ 0.77)
    assert one.offset[1] > 0.1  # near the apex the boundary moves in by a visible share of σ ...
    assert abs(one.offset[2]) < 0.02  # ... far from it the edge is a half-plane: offset → 0
    r = cone_boundary(theta, 2, [6.0], n=50_000, seed=4)[0]
    assert float(wedge_probability(6.0, r, theta)) == pytest.approx(0.5, abs=5 * 0.5 / math.sqrt(50_000))


@pytest.mark.parametrize("call", [
    lambda: smoothed_ball_radius(-1.0, 0.1, 2),
    lambda: smoothed_ball_radius(1.0, -0.1, 2),
    lambda: smoothed_ball_radius(1.0, 0.1, 0),
    lambda: ball_probability([-1.0], 1.0, 0.1, 2),
    lambda: vanishing_sigma(1.0, 2.5),
    lambda: cone_apex_shift(2.0, 2),
    lambda: cone_apex_shift(0.5, 1),
])
def test_bad_arguments_raise(call):
    with pytest.raises(InvalidArgumentError):
        call()
