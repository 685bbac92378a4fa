import numpy as np
import pytest
from scipy.stats import binomtest, norm

from smoothcert import InvalidArgumentError
from smoothcert.stats import (
    binomial_test_pvalue,
    bonferroni,
    clopper_pearson_interval,
    clopper_pearson_lower,
    clopper_pearson_upper,
)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 10), (9, 10), (10, 10), (873, 1000), (99_990, 100_000)])
@pytest.mark.parametrize("alpha", [0.001, 0.05])
def test_one_sided_bounds_match_scipy_exact_interval(k, n, alpha):
    # SciPy's two-sided exact (Clopper–Pearson) interval at level 1 − 2α has our one-sided bounds as its ends.
    ci = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact")
    assert clopper_pearson_lower(k, n, alpha) == pytest.approx(ci.low, abs=1e-12)
    assert clopper_pearson_upper(k, n, alpha) == pytest.approx(ci.high, abs=1e-12)


def test_all_successes_lower_bound_is_alpha_to_one_over_n_and_gives_cohens_ceiling():
    # methods.md §0: with all n correct, p_lower = α^(1/n); R ≤ 3.81σ, 3.20σ, 2.46σ, 1.50σ at α = 0.001.
    for n, ceiling in [(100_000, 3.81), (10_000, 3.20), (1_000, 2.46), (100, 1.50)]:
        p = clopper_pearson_lower(n, n, 0.001)
        assert p == pytest.approx(0.001 ** (1 / n), rel=1e-12)
        assert norm.ppf(p) == pytest.approx(ceiling, abs=0.005)


def test_vectorized_bounds_equal_elementwise():
    k = np.array([0, 3, 50, 99, 100])
    lower = clopper_pearson_lower(k, 100, 0.01)
    assert np.allclose(lower, [clopper_pearson_lower(int(v), 100, 0.01) for v in k])
    low2, high2 = clopper_pearson_interval(k, 100, 0.02)
    assert np.allclose(low2, lower) and np.all(high2 >= k / 100)


def test_bounds_are_monotone_in_k():
    k = np.arange(0, 201)
    lower, upper = clopper_pearson_lower(k, 200, 0.05), clopper_pearson_upper(k, 200, 0.05)
    assert np.all(np.diff(lower) > 0) and np.all(np.diff(upper) > 0)
    assert np.all(lower <= k / 200) and np.all(upper >= k / 200)


def test_binomial_test_pvalue_is_scipys():
    for k, n in [(60, 100), (50, 100), (0, 5), (530, 1000)]:
        assert binomial_test_pvalue(k, n) == binomtest(k, n, 0.5).pvalue


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), "0.1"])
def test_bad_alpha(alpha):
    with pytest.raises(InvalidArgumentError, match="alpha"):
        clopper_pearson_lower(1, 2, alpha)


def test_bad_counts_and_bonferroni():
    with pytest.raises(InvalidArgumentError):
        clopper_pearson_lower(5, 4, 0.1)
    with pytest.raises(InvalidArgumentError):
        clopper_pearson_upper(0, 0, 0.1)
    assert bonferroni(0.01, 4) == 0.0025
    with pytest.raises(InvalidArgumentError):
        bonferroni(0.01, 0)


def test_vectorized_binomial_test_equals_scipy():
    from smoothcert.stats import binomial_test_half

    pairs = [(k, n) for n in (1, 2, 7, 50, 301) for k in range(0, n + 1, max(1, n // 13))] + [(0, 0)]
    k, n = np.array(pairs).T
    expected = [binomtest(int(a), int(b), 0.5).pvalue if b else 1.0 for a, b in pairs]
    assert np.allclose(binomial_test_half(k, n), expected, rtol=1e-10, atol=1e-300)


def test_extreme_alpha_gives_finite_sound_bounds():
    """α just below 1 with every sample correct: the bound stays below 1, so the radius is finite; α as small
    as 1e-100 still gives a bound whose exact binomial tail is α (where SciPy's quantile alone overstates
    p̲_A for small counts); smaller α, where the tails underflow, is refused."""
    from scipy.special import logsumexp
    from scipy.stats import binom

    from smoothcert.noise import GaussianNoise
    from smoothcert.stats import BELOW_ONE, clopper_pearson_lower, clopper_pearson_upper

    lower = clopper_pearson_lower(100_000, 100_000, float(np.nextafter(1.0, 0.0)))
    assert lower <= BELOW_ONE < 1.0
    radius = GaussianNoise(0.5).certified_radius(lower)
    assert np.isfinite(radius) and radius < 5.0
    for alpha in (1e-20, 1e-60, 1e-100):
        for n in (10, 1000):
            k = np.array([1, 2, n // 2, n - 1, n])
            low = clopper_pearson_lower(k, n, alpha)
            assert np.all(np.isfinite(low)) and np.all((low > 0) & (low < k / n))
            # P(Bin(n, p̲) ≥ k), summed exactly in log space, is α: the exact Clopper–Pearson bound, not above.
            tails = [logsumexp(binom.logpmf(np.arange(ki, n + 1), n, p)) for ki, p in zip(k, low, strict=True)]
            assert np.all(np.array(tails) <= np.log(alpha) * (1 - 1e-9))
            np.testing.assert_allclose(tails, np.log(alpha), rtol=1e-6)
        up = clopper_pearson_upper(np.array([0, 10]), 100_000, alpha)
        assert np.all(np.isfinite(up)) and np.all(up > np.array([0, 10]) / 100_000)
    assert clopper_pearson_lower(np.int64(3), np.int64(10), np.float32(0.01)) > 0  # NumPy numbers accepted
    with pytest.raises(InvalidArgumentError, match="underflow"):
        clopper_pearson_lower(5, 10, 1e-110)


def test_bisection_fallback_matches_the_beta_quantile(monkeypatch):
    """Where SciPy's quantile is NaN (or fails its check), bisection on the log tail finds the same bound,
    from the safe side."""
    from smoothcert import stats

    k, n = np.array([1, 40, 99, 100]), 100
    exact_low, exact_up = stats.clopper_pearson_lower(k, n, 1e-4), stats.clopper_pearson_upper(k, n, 1e-4)
    monkeypatch.setattr(stats.beta, "ppf", lambda *a, **kw: np.full(np.broadcast(*a).shape, np.nan))
    monkeypatch.setattr(stats.beta, "isf", lambda *a, **kw: np.full(np.broadcast(*a).shape, np.nan))
    low, up = stats.clopper_pearson_lower(k, n, 1e-4), stats.clopper_pearson_upper(k, n, 1e-4)
    np.testing.assert_allclose(low, exact_low, rtol=1e-9)
    np.testing.assert_allclose(up, exact_up, rtol=1e-9)
    assert np.all(low <= exact_low * (1 + 1e-12)) and np.all(up >= exact_up * (1 - 1e-12))
