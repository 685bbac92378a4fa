"""Certificates of the mixture with a smoothed robust model: the radius formulas against exact worst cases, and
coverage of the sound (simultaneous Clopper–Pearson) version against classifiers with known probabilities.

Coverage harness as in test_coverage.py: T independent certificates (distinct input indices give independent
noise); a certificate is wrong when its radius exceeds the radius the formula gives with the exact smoothed
probabilities of its class (0 unless that class is the top one), which is never larger than the mixture's true
worst-case robust radius; the count of wrong ones may not exceed the 1 − 10⁻⁶ quantile of Binomial(T, α_conf).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from smoothcert import GaussianNoise, Smooth
from smoothcert.certificates.mixture import lipschitz_radius, mixture_mu, mixture_radius, rs_radius, simultaneous_bounds
from smoothcert.errors import InvalidArgumentError
from smoothcert.runs import RunOptions
from smoothcert.stats import clopper_pearson_lower, clopper_pearson_upper
from smoothcert.studies.mixing import (
    MixtureVotes,
    certify_mixture_dataset,
    mixture_certified_accuracy,
    mixture_clean_accuracy,
    read_mixture_votes,
    sample_mixture_counts,
)

from .known import Buckets

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TRIALS = 2000
RADII = {"rs": rs_radius, "lipschitz": lipschitz_radius}


def allowed_failures(trials: int, alpha: float) -> int:
    return int(binom.ppf(1 - 1e-6, trials, alpha))


# --- the formulas -------------------------------------------------------------------------------------------

def test_rs_radius_at_alpha_one_is_cohens_two_sided_radius():
    rng = np.random.default_rng(0)
    p_a = rng.uniform(0.5, 1.0, 200)
    p_b = rng.uniform(0.0, 1.0, 200) * (1 - p_a)
    cohen = GaussianNoise(0.3).certified_radius(p_a, p_b)
    assert np.allclose(rs_radius(p_a, p_b, 1.0, 0.3), cohen)


def test_nothing_is_certified_at_alpha_at_most_one_half():
    # h_y − h_{y'} ≤ 1 ≤ μ = (1 − α)/α when α ≤ ½: the mixture's worst case can always be flipped.
    for alpha in (0.0, 0.2, 0.5):
        assert rs_radius(1.0, 0.0, alpha, 0.5) == 0.0
        assert lipschitz_radius(1.0, 0.0, alpha, 0.5) == 0.0
    assert rs_radius(1.0, 0.0, 0.51, 0.5) > 0
    assert mixture_mu(0.8) == pytest.approx(0.25)
    with pytest.raises(InvalidArgumentError):
        mixture_mu(1.2)


@pytest.mark.parametrize("kind", ["rs", "lipschitz"])
def test_radius_never_exceeds_the_exact_worst_case_radius_binary(kind):
    """f(x) = 1[x₁ ≥ 0], y = 1, t = x₁ > 0: h₁(x+δ) = Φ((t + δ₁)/σ) ≥ Φ((t − ‖δ‖)/σ), and a standard model that
    puts all its mass on class 0 is the worst case, so the mixture is robust exactly for
    2Φ((t − ‖δ‖)/σ) − 1 > μ, i.e. ‖δ‖ < t − σ Φ⁻¹((1 + μ)/2)."""
    sigma = 0.5
    t = np.linspace(0.01, 2.0, 60)[:, None]
    alpha = np.linspace(0.51, 1.0, 50)[None, :]
    p = norm.cdf(t / sigma)
    exact = np.maximum(0.0, t - sigma * norm.ppf((1 + mixture_mu(alpha)) / 2))
    r = RADII[kind](p, 1 - p, alpha, sigma)
    assert np.all(r <= exact + 1e-9)
    assert np.any(r > 0)
    if kind == "rs":  # tight at α = 1, where it is Cohen's radius (tight for linear classifiers)
        assert np.allclose(r[:, -1], exact[:, -1], rtol=1e-6)


@pytest.mark.parametrize("kind", ["rs", "lipschitz"])
@pytest.mark.parametrize(("thresholds", "x1"), [([-0.3, 0.3], 0.0), ([-0.3, 0.3], 0.12), ([0.3, 0.5], -0.1)])
def test_mixture_keeps_its_class_within_the_radius_multiclass(kind, thresholds, x1):
    """Bucket classifier: h depends on x₁ only, so the worst δ of norm ≤ r moves x₁ by ±r. Within the radius
    computed from the exact probabilities, α(h_y − h_c)(x + δ) > 1 − α for every rival c (so no standard model
    can flip the mixture)."""
    sigma = 0.25
    model = Buckets(thresholds)
    x = torch.tensor([x1, 0.0])
    p = model.probabilities(x, sigma)
    y = int(np.argmax(p))
    checked = 0
    for alpha in (0.6, 0.75, 0.9, 1.0):
        r = float(RADII[kind](p[y], np.max(np.delete(p, y)), alpha, sigma))
        if r == 0:
            continue
        checked += 1
        for d in np.linspace(-r, r, 201) * (1 - 1e-7):
            q = model.probabilities(x + torch.tensor([d, 0.0]), sigma)
            assert alpha * (q[y] - np.max(np.delete(q, y))) > (1 - alpha) - 1e-12
    assert checked >= 2  # the check is not vacuous


def test_simultaneous_bounds_are_bonferroni_clopper_pearson():
    count_y, count_other, n, a = np.array([900, 400, 1000]), np.array([80, 350, 0]), 1000, 0.01
    lower, upper = simultaneous_bounds(count_y, count_other, n, a)
    assert np.allclose(lower, clopper_pearson_lower(count_y, n, a / 2))
    assert np.allclose(upper, np.minimum(clopper_pearson_upper(count_other, n, a / 2), 1 - lower))
    assert np.all(upper <= 1 - lower + 1e-15)


# --- coverage -------------------------------------------------------------------------------------------------

def certify_counts(model: Buckets, x: torch.Tensor, sigma: float, n0: int, n: int, seed: int):
    smooth = Smooth(model, model.num_classes, sigma, batch_size=8192, seed=seed)
    return sample_mixture_counts(smooth, x.expand(TRIALS, *x.shape), n0, n, range(TRIALS))


CASES = [
    # (thresholds, x1): probabilities (σ = 0.25)
    ([-0.3, 0.3], 0.0),    # 0.115 / 0.770 / 0.115: two equal rivals, the runner-up is chosen from the data
    ([-0.3, 0.3], 0.1),    # 0.054 / 0.734 / 0.212
    ([0.3, 0.5], 0.45),    # 0.274 / 0.305 / 0.421: class boundaries on both sides, a weak top class
    ([-0.05, 0.05], 0.0),  # 0.42 / 0.16 / 0.42: no majority, only abstentions are sound
]


@pytest.mark.parametrize(("thresholds", "x1"), CASES)
@pytest.mark.parametrize("kind", ["rs", "lipschitz"])
def test_coverage_of_the_mixture_certificate(thresholds, x1, kind):
    sigma, alpha_conf, n0, n = 0.25, 0.1, 20, 500
    model = Buckets(thresholds)
    x = torch.tensor([x1, 0.0, 0.0])
    p = model.probabilities(x, sigma)
    c = certify_counts(model, x, sigma, n0, n, seed=17)
    for alpha in (0.6, 0.8, 0.9, 1.0):
        # The largest radius the formula can give for each input's chosen class, with exact probabilities.
        truth = np.array([float(RADII[kind](p[g], np.max(np.delete(p, g)), alpha, sigma)) for g in range(3)])
        bound = truth[c.guess]
        cert = mixture_radius(c.count_guess, c.count_runner_up, n, alpha, sigma, kind=kind, bounds="cp",
                              alpha_conf=alpha_conf)
        wrong = int(np.sum(cert > bound + 1e-12))
        assert wrong <= allowed_failures(TRIALS, alpha_conf), (alpha, wrong)
        if truth.max() == 0:  # nothing is certifiable: only (rare) wrong certificates may be issued
            assert int(np.sum(cert > 0)) <= allowed_failures(TRIALS, alpha_conf)
        if kind == "rs" and alpha == 1.0 and p.max() > 0.7:  # not vacuous
            assert np.mean(cert > 0) > 0.9


@pytest.mark.parametrize("kind", ["rs", "lipschitz"])
def test_plug_in_frequencies_fail_the_same_harness(kind):
    """Power: with raw frequencies (the paper's plug-in) the radius overshoots the truth about half the time."""
    sigma, alpha_conf, n0, n = 0.25, 0.1, 20, 500
    model = Buckets([-0.3, 0.3])
    x = torch.tensor([0.1, 0.0, 0.0])
    p = model.probabilities(x, sigma)
    c = certify_counts(model, x, sigma, n0, n, seed=17)
    for alpha in (0.8, 1.0):
        truth = np.array([float(RADII[kind](p[g], np.max(np.delete(p, g)), alpha, sigma)) for g in range(3)])
        plug = mixture_radius(c.count_guess, c.count_runner_up, n, alpha, sigma, kind=kind, bounds="plugin")
        assert int(np.sum(plug > truth[c.guess] + 1e-12)) > allowed_failures(TRIALS, alpha_conf)


# --- tables and files -----------------------------------------------------------------------------------------

def test_certified_and_clean_accuracy_tables():
    votes = MixtureVotes(idx=np.arange(3), label=np.array([0, 1, 2]), guess=np.array([0, 1, 0]),
                         count_guess=np.array([990, 600, 700]), count_runner_up=np.array([10, 400, 300]),
                         n=np.array([1000, 1000, 1000]),
                         counts=np.array([[990, 10, 0], [400, 600, 0], [700, 0, 300]]))
    alphas, radii, sigma = [0.5, 0.8, 1.0], [0.0, 0.2], 0.5
    table = mixture_certified_accuracy(votes, alphas, radii, sigma, alpha_conf=0.01)
    for i, a in enumerate(alphas):
        r = mixture_radius(votes.count_guess, votes.count_runner_up, votes.n, a, sigma, alpha_conf=0.01)
        for j, rad in enumerate(radii):
            expected = np.mean((votes.guess == votes.label) & (r > 0) & (r >= rad))
            assert table[i, j] == pytest.approx(expected)
    assert table[0].tolist() == [0.0, 0.0]  # α = ½ certifies nothing
    assert table[2, 0] > 0
    # A standard model that is always right (class = label) wins at α = 0 and loses its say at α = 1.
    probs = np.eye(3)[votes.label] * 0.9 + 0.1 / 3
    clean = mixture_clean_accuracy(votes, probs, [0.0, 1.0])
    assert clean.tolist() == [1.0, 2 / 3]


def test_vote_sampling_resumes_to_the_same_rows(tmp_path):
    model = Buckets([-0.3, 0.3])
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(12, 3, generator=gen) - 0.5
    y = torch.tensor([int(model(x[i : i + 1]).argmax()) for i in range(12)])
    smooth = Smooth(model, 3, 0.25, seed=5)
    full, part = tmp_path / "full.tsv", tmp_path / "part.tsv"
    certify_mixture_dataset(smooth, x, y, full, n0=10, n=200, options=RunOptions(progress=False))
    certify_mixture_dataset(smooth, x, y, part, n0=10, n=200, indices=range(5), options=RunOptions(progress=False))
    certify_mixture_dataset(smooth, x, y, part, n0=10, n=200, options=RunOptions(resume=True, progress=False))

    def strip_time(path):
        return [line.rsplit("\t", 1)[0] for line in path.read_text().splitlines()]

    assert strip_time(full) == strip_time(part)
    votes = read_mixture_votes(full)
    assert votes.counts.shape == (12, 3) and np.all(votes.counts.sum(1) == 200)
    assert np.all(votes.counts[np.arange(12), votes.guess] == votes.count_guess)
