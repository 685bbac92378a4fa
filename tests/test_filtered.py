"""The filtered certificate (joint masses, never ⊥): the known answer of Prop. 5 of "The Geometry of Randomized
Smoothing on Feasible Sets", the theorem on exact masses, and coverage against known smoothed masses."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.stats import norm
from torch import nn

from smoothcert import GaussianNoise, Smooth
from smoothcert.certificates.filtered import filtered_certificate, filtered_from_counts, filtered_radius
from smoothcert.errors import InvalidArgumentError
from smoothcert.studies.uncertainty.certify import certify_uncertainty
from smoothcert.uncertainty import UncertaintyOutcome

from .test_uncertainty_certificates import MODEL, SIGMA, TRIALS, allowed_failures, certify_many, exceeds

pytestmark = pytest.mark.usefixtures("torch_single_thread")

LOG9 = math.log(9.0)


class Prop5(nn.Module):
    """1-D, logits (0, u·log 9): max softmax > 0.9 exactly when |u| > 1 (class 0 below −1, class 1 above 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.flatten(1)[:, 0]
        return torch.stack([torch.zeros_like(u), u * LOG9], dim=1)


def prop5_masses(x: float, sigma: float = 1.0) -> tuple[float, float, float]:
    """(p_0, p_1, p_⊥) at x: the Gaussian N(x, σ²) integrated over the regions where the classifier retains
    class 0, retains class 1, and filters (the region edges found from the softmax itself)."""
    def max_softmax(u: float) -> float:
        p1 = 1.0 / (1.0 + math.exp(-u * LOG9))
        return max(p1, 1.0 - p1)

    low = brentq(lambda u: max_softmax(u) - 0.9, -5.0, 0.0, xtol=1e-15)
    high = brentq(lambda u: max_softmax(u) - 0.9, 0.0, 5.0, xtol=1e-15)
    density = norm(loc=x, scale=sigma).pdf
    p0 = quad(density, -np.inf, low, epsabs=1e-14, epsrel=1e-13)[0]
    p1 = quad(density, high, np.inf, epsabs=1e-14, epsrel=1e-13)[0]
    return p0, p1, quad(density, low, high, epsabs=1e-14, epsrel=1e-13)[0]


def test_prop5_joint_mass_radius_is_the_true_one_and_the_conditional_one_is_not():
    p0, p1, p_bottom = prop5_masses(-0.1)
    assert p0 + p1 + p_bottom == pytest.approx(1.0, abs=1e-12)
    _, radius = filtered_radius(np.array([p0]), np.array([p0 + p_bottom]), np.array([p1]), GaussianNoise(1.0))
    assert radius[0] == pytest.approx(0.1, abs=1e-9)
    # The conditional masses p_y / (1 − p_⊥) would claim 0.190855, which is unsound: at x = −0.1 + 0.11,
    # inside that radius, the filtered classifier already answers class 1.
    q0, q1 = p0 / (p0 + p1), p1 / (p0 + p1)
    conditional = 0.5 * (norm.ppf(q0) - norm.ppf(q1))
    assert conditional == pytest.approx(0.190855, abs=1e-6)
    moved0, moved1, _ = prop5_masses(-0.1 + 0.11)
    assert moved1 > moved0
    # Up to the radius the answer stays class 0.
    for t in np.linspace(0.0, 0.1, 21)[:-1]:
        a, b, _ = prop5_masses(-0.1 + t)
        assert a > b


def test_prop5_through_sampling_stays_below_the_true_radius():
    """The whole path (engine, outcome map with max_prob τ = 0.1, counts, bounds) on the Prop. 5 classifier."""
    smooth = Smooth(Prop5(), 2, 1.0, batch_size=50_000, seed=3, outcome_map=UncertaintyOutcome(2, "max_prob", 0.1))
    (certs,) = certify_uncertainty(smooth, torch.tensor([[-0.1]]), 100, 200_000, 0.001)
    assert certs.guess[0] == 0
    assert 0.05 < certs.radius_filtered[0] <= 0.1


def test_theorem_on_exact_masses():
    """With the true masses as bounds, G_F(x + t·e₁) = ĉ_A for |t| < R (the model depends on x₁ only)."""
    for x1 in (-0.2, 0.2, 0.45, 0.6, 0.85):
        cert, unc = MODEL.outcome_probabilities(x1, SIGMA)
        guess = int(np.argmax(cert))
        _, (r,) = filtered_radius([cert[guess]], [cert[guess] + unc.sum()], [np.delete(cert, guess).max()],
                                  GaussianNoise(SIGMA))
        if not r > 0:
            continue
        for t in np.linspace(-r, r, 401)[1:-1]:
            moved, _ = MODEL.outcome_probabilities(x1 + t, SIGMA)
            assert moved[guess] > np.delete(moved, guess).max()


def true_filtered_radius(x1: float, guess: int) -> float:
    cert, _ = MODEL.outcome_probabilities(x1, SIGMA)
    return SIGMA / 2 * (norm.ppf(cert[guess]) - norm.ppf(np.delete(cert, guess).max()))


@pytest.mark.parametrize("x1", [-0.2, 0.2, 0.45, 0.6])
def test_coverage_through_the_uncertainty_certificates(x1):
    alpha = 0.1
    certs = certify_many(MODEL, x1, 50, 500, alpha)
    wrong = np.zeros(TRIALS, dtype=bool)
    for guess in np.unique(certs.guess):
        rows = certs.guess == guess
        wrong[rows] = exceeds(certs.radius_filtered[rows], true_filtered_radius(x1, int(guess)))
    assert wrong.sum() <= allowed_failures(TRIALS, alpha)
    cert, _ = MODEL.outcome_probabilities(x1, SIGMA)
    if np.sort(cert)[-1] - np.sort(cert)[-2] > 0.5:  # not vacuous where the top mass clearly leads
        assert np.mean(~np.isnan(certs.radius_filtered)) > 0.5


@pytest.mark.parametrize("masses", [(0.5, 0.1, 0.1, 0.3), (0.3, 0.25, 0.05, 0.4), (0.6, 0.0, 0.0, 0.4)])
def test_coverage_from_counts(masses):
    """Multinomial counts with known masses (C = 3 classes, then ⊥): the claimed radius exceeds the one the
    true masses give in at most the Binomial(T, α) 1 − 10⁻⁶ quantile of T trials."""
    rng = np.random.default_rng(11)
    p = np.array(masses)
    alpha, trials = 0.1, 4000
    selection = rng.multinomial(30, p, size=trials)
    estimation = rng.multinomial(300, p, size=trials)
    cert = filtered_certificate(selection, estimation, alpha, GaussianNoise(SIGMA), 3)
    guess = selection[:, :3].argmax(axis=1)
    truth = np.array([SIGMA / 2 * (norm.ppf(p[g]) - norm.ppf(np.delete(p[:3], g).max())) for g in guess])
    assert exceeds(cert.radius, truth).sum() <= allowed_failures(trials, alpha)
    if p[0] - p[1:3].max() > 0.3:
        assert np.mean(~np.isnan(cert.radius)) > 0.5


def test_plug_in_masses_fail_the_harness():
    """Power of the harness: the radius from the empirical masses overshoots the true one far more often."""
    rng = np.random.default_rng(5)
    p = np.array([0.5, 0.1, 0.1, 0.3])
    estimation = rng.multinomial(300, p, size=4000)
    _, plug_in = filtered_radius(estimation[:, 0] / 300, (estimation[:, 0] + estimation[:, 3]) / 300,
                                 estimation[:, 1:3].max(axis=1) / 300, GaussianNoise(SIGMA))
    truth = SIGMA / 2 * (norm.ppf(0.5) - norm.ppf(0.1))
    assert exceeds(plug_in, truth).sum() > allowed_failures(4000, 0.1)


def test_filtered_at_most_the_top2_of_the_same_bounds_when_nothing_is_filtered():
    """With no ⊥ the filtered classifier is the plain one, and its radius never beats the exact-mass radius."""
    est = np.array([[900, 60, 40, 0]])
    cert = filtered_from_counts(np.array([0]), est[:, :3], est[:, 3], 0.01, GaussianNoise(1.0))
    exact = 0.5 * (norm.ppf(0.9) - norm.ppf(0.06))
    assert 0 < cert.radius[0] < exact and cert.prediction[0] == 0


def test_bad_counts_are_refused():
    with pytest.raises(InvalidArgumentError, match="estimation counts"):
        filtered_certificate(np.ones((2, 4), dtype=int), np.ones((2, 3), dtype=int), 0.01, GaussianNoise(1.0), 3)
    with pytest.raises(InvalidArgumentError, match="alpha"):
        filtered_certificate(np.ones((2, 4), dtype=int), np.ones((2, 4), dtype=int), 2.0, GaussianNoise(1.0), 3)
