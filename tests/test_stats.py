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
