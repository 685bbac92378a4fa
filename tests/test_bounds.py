"""Bounds on saved counts: top-2 with Bonferroni, class partitioning (CPM), randomized Clopper–Pearson.

Coverage is computed exactly for small n: every selection and estimation count vector is enumerated with its
multinomial probability, and the probability of a wrong certificate (another class than the smoothed one, or a
radius beyond the one the true probabilities give) must stay ≤ α.
"""

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binom, multinomial, norm

from smoothcert import GaussianNoise, InvalidArgumentError, LaplaceNoise
from smoothcert.certificates.cohen import ABSTAIN, certify_counts, largest_radius
from smoothcert.certificates.cpm import cpm_certificate, partition_classes
from smoothcert.certificates.randomized import randomized_certify_counts, randomized_lower, uniform_variates
from smoothcert.certificates.top2 import top2_bonferroni
from smoothcert.stats import clopper_pearson_lower, clopper_pearson_upper


def vectors(n: int, k: int) -> np.ndarray:
    """Every count vector of n samples over k outcomes [M, k]."""
    return np.array([c for c in itertools.product(range(n + 1), repeat=k) if sum(c) == n], dtype=np.int64)


def exact_failure(rule, p: np.ndarray, n0: int, n: int, alpha: float, noise) -> tuple[float, float]:
    """P(wrong certificate) and P(certified) of ``rule`` under multinomial(p), over every (selection, estimation)."""
    k = len(p)
    sel, est = vectors(n0, k), vectors(n, k)
    w_sel, w_est = multinomial.pmf(sel, n0, p), multinomial.pmf(est, n, p)
    s_idx, e_idx = np.meshgrid(np.arange(len(sel)), np.arange(len(est)), indexing="ij")
    s_idx, e_idx = s_idx.ravel(), e_idx.ravel()
    result = rule(sel[s_idx], est[e_idx], alpha, noise, k)
    weight = w_sel[s_idx] * w_est[e_idx]
    order = np.argsort(-p, kind="stable")
    top, runner_up = order[0], order[1]
    true_radius = float(noise.certified_radius(np.array([p[top]]), np.array([p[runner_up]]))[0])
    issued = result.prediction != ABSTAIN
    wrong = issued & ((result.prediction != top) | (result.radius > true_radius * (1 + 1e-12)))
    return float(weight[wrong].sum()), float(weight[issued].sum())


CASES = [np.array([0.7, 0.2, 0.1]), np.array([0.55, 0.3, 0.15]), np.array([0.45, 0.44, 0.11]),
         np.array([0.6, 0.1, 0.1, 0.1, 0.1]), np.array([0.9, 0.04, 0.03, 0.03])]


@pytest.mark.parametrize("rule", [top2_bonferroni, cpm_certificate, certify_counts], ids=["top2", "cpm", "cp"])
@pytest.mark.parametrize("p", CASES, ids=lambda p: "-".join(f"{v:g}" for v in p))
@pytest.mark.parametrize("noise", [GaussianNoise(0.5), LaplaceNoise(0.5)], ids=["gaussian", "laplace"])
def test_exact_coverage_small_n(rule, p, noise):
    alpha = 0.2  # large, so the bounds are active at small n
    n0, n = (4, 12) if len(p) <= 3 else (3, 8)
    failure, issued = exact_failure(rule, p, n0, n, alpha, noise)
    assert failure <= alpha
    if p.max() >= 0.7:
        assert issued > 0.3  # not vacuous


def test_the_enumeration_can_fail():
    """The harness catches an unsound rule: plug-in probabilities in the top-2 radius."""
    def plug_in(selection, estimation, alpha, noise, k):
        result = top2_bonferroni(selection, estimation, 0.9999, noise, k)
        freq = np.sort(estimation / estimation.sum(axis=1, keepdims=True), axis=1)
        radius = noise.certified_radius(freq[:, -1], freq[:, -2])
        guess = np.argmax(selection, axis=1)
        return type(result)(np.where(radius > 0, guess, ABSTAIN), radius, *[getattr(result, f) for f in (
            "p_a_lower", "count_top", "n0", "n", "guess", "certified")], p_b_upper=result.p_b_upper,
            groups=result.groups)
    failure, _ = exact_failure(plug_in, np.array([0.7, 0.2, 0.1]), 4, 12, 0.2, GaussianNoise(0.5))
    assert failure > 0.2


def test_top2_known_answer():
    sel = np.array([[90, 8, 2]])
    est = np.array([[900, 80, 20]])
    alpha = 0.003
    result = top2_bonferroni(sel, est, alpha, GaussianNoise(0.5), 3)
    p_a = clopper_pearson_lower(900, 1000, alpha / 3)
    p_b = max(clopper_pearson_upper(80, 1000, alpha / 3), clopper_pearson_upper(20, 1000, alpha / 3))
    assert result.p_a_lower[0] == pytest.approx(p_a) and result.p_b_upper[0] == pytest.approx(p_b)
    assert result.radius[0] == pytest.approx(0.25 * (norm.ppf(p_a) - norm.ppf(p_b)))
    assert result.prediction[0] == 0 and result.groups[0] == 2
    # The top-2 radius beats Cohen's σΦ⁻¹(p̲_A) here, where the mass is spread over several classes.
    assert result.radius[0] > certify_counts(sel, est, alpha, GaussianNoise(0.5), 3).radius[0]


def test_partition_merges_the_tail():
    counts = np.array([50, 30, 5, 4, 3, 2, 1, 0, 0, 0])
    groups = partition_classes(counts, 0, 10)
    assert [g.tolist() for g in groups] == [[1], [2, 3, 4, 5, 6, 7, 8, 9]]
    counts = np.array([40, 10, 9, 8, 1, 1, 1])  # the rest (9+8+3, then 8+3) outnumber the runner-up: split 2, 3
    assert [g.tolist() for g in partition_classes(counts, 0, 7)] == [[1], [2], [3], [4, 5, 6]]
    result = cpm_certificate(np.array([[50, 30, 5, 4, 3, 2, 1, 0, 0, 0]]), np.array([[500, 300, 50, 40, 30, 20, 10,
                                                                                       0, 0, 50]]),
                             0.001, GaussianNoise(0.25), 10)
    assert result.groups[0] == 2
    assert result.p_a_lower[0] == pytest.approx(clopper_pearson_lower(500, 1000, 0.001 / 3))


def test_randomized_lower_exact_size():
    """P(p̲(X, U) > p) = α exactly: averaged over every k and a fine grid of U, at several p."""
    alpha, n = 0.1, 20
    u = (np.arange(4000) + 0.5) / 4000
    for p in (0.3, 0.5, 0.83, 0.97):
        failure, deterministic = 0.0, 0.0
        for k in range(n + 1):
            bounds = randomized_lower(np.full_like(u, k, dtype=np.int64), np.full_like(u, n, dtype=np.int64), alpha,
                                      u)
            failure += binom.pmf(k, n, p) * float(np.mean(bounds > p))
            deterministic += binom.pmf(k, n, p) * float(clopper_pearson_lower(k, n, alpha) > p)
        assert failure == pytest.approx(alpha, abs=2e-3)
        assert deterministic <= failure + 1e-12  # Clopper–Pearson spends at most α, the randomized bound all of it


def test_randomized_lower_known_answers():
    alpha, n = 0.001, 10
    assert randomized_lower(np.array([n]), np.array([n]), alpha, np.array([0.5]))[0] == pytest.approx(
        (alpha / 0.5) ** (1 / n))  # (α/U)^{1/n}: past the deterministic ceiling α^{1/n}
    assert randomized_lower(np.array([n]), np.array([n]), alpha, np.array([alpha / 2]))[0] > 1 - 1e-15
    u_one = randomized_lower(np.array([3, 7]), np.array([n, n]), alpha, np.array([1 - 1e-12, 1 - 1e-12]))
    assert np.allclose(u_one, clopper_pearson_lower(np.array([3, 7]), n, alpha), rtol=1e-6)
    assert randomized_lower(np.array([0]), np.array([n]), alpha, np.array([0.3]))[0] == 0
    with pytest.raises(InvalidArgumentError, match="variates"):
        randomized_lower(np.array([1]), np.array([2]), alpha, np.array([1.0]))


def test_randomized_certify_coverage_exact():
    """CERTIFY with randomized Clopper–Pearson: P(wrong) ≤ α over counts and U (two classes, all counts)."""
    alpha, n0, n, sigma = 0.1, 4, 16, 0.5
    u = (np.arange(500) + 0.5) / 500
    for p1 in (0.6, 0.8, 0.95):
        p = np.array([p1, 1 - p1])
        sel, est = vectors(n0, 2), vectors(n, 2)
        w = multinomial.pmf(sel, n0, p)[:, None] * multinomial.pmf(est, n, p)[None, :]
        failure = 0.0
        for i, j in itertools.product(range(len(sel)), range(len(est))):
            res = randomized_certify_counts(np.repeat(sel[i : i + 1], len(u), 0), np.repeat(est[j : j + 1], len(u), 0),
                                            alpha, GaussianNoise(sigma), 2, u)
            wrong = (res.prediction != ABSTAIN) & ((res.prediction != 0) | (res.radius > sigma * norm.ppf(p1)))
            failure += w[i, j] * float(wrong.mean())
        assert failure <= alpha + 2e-3


def test_uniform_variates_are_seeded_per_index():
    a = uniform_variates(3, np.array([0, 1, 2, 7]))
    assert np.array_equal(a, uniform_variates(3, np.array([0, 1, 2, 7])))
    assert np.array_equal(a[[3]], uniform_variates(3, np.array([7])))  # the batch does not matter
    assert not np.array_equal(a, uniform_variates(4, np.array([0, 1, 2, 7])))
    assert np.all((a > 0) & (a < 1)) and math.isfinite(float(a.sum()))


@pytest.mark.parametrize(("n", "sigma"), [(100, 0.25), (10_000, 1.0), (100_000, 0.5)])
def test_largest_radius_is_the_certificate_of_n_votes_out_of_n(n, sigma):
    noise = GaussianNoise(sigma)
    cap = largest_radius(n, 0.001, noise)
    assert cap == pytest.approx(sigma * norm.ppf(0.001 ** (1 / n)), rel=1e-9)  # p̲ = α^{1/n} for k = n
    full = certify_counts(np.array([[5, 0]]), np.array([[n, 0]]), 0.001, noise, 2).radius[0]
    short = certify_counts(np.array([[5, 0]]), np.array([[n - 1, 1]]), 0.001, noise, 2).radius[0]
    assert full == pytest.approx(cap, rel=1e-12) and short < cap
