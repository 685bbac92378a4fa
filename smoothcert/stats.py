"""Confidence bounds and tests on binomial counts. Numbers only: no torch, no models.

All bounds are exact (Clopper–Pearson) and vectorized over numpy arrays of counts.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import beta, binom, binomtest

from .errors import InvalidArgumentError

ArrayLike = int | np.ndarray


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` as a float, or raise if it is not in the open interval (0, 1)."""
    if not (isinstance(alpha, int | float) and 0.0 < float(alpha) < 1.0):
        raise InvalidArgumentError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


def _check_counts(k: ArrayLike, n: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    k_arr, n_arr = np.asarray(k), np.asarray(n)
    if np.any(n_arr < 1) or np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise InvalidArgumentError(f"binomial counts need 0 <= k <= n and n >= 1, got k={k!r}, n={n!r}")
    return k_arr.astype(np.float64), n_arr.astype(np.float64)


def clopper_pearson_lower(k: ArrayLike, n: ArrayLike, alpha: float) -> np.ndarray:
    """One-sided (1 − α) Clopper–Pearson lower bound on p from k successes in n trials.

    Equals the α quantile of Beta(k, n − k + 1), and 0 when k = 0. With k = n it is α^(1/n).
    Shapes: k and n broadcast; the result has their broadcast shape (float64).
    """
    alpha = check_alpha(alpha)
    kf, nf = _check_counts(k, n)
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(alpha, kf, nf - kf + 1)
    return np.where(kf == 0, 0.0, bound)


def clopper_pearson_upper(k: ArrayLike, n: ArrayLike, alpha: float) -> np.ndarray:
    """One-sided (1 − α) Clopper–Pearson upper bound: the 1 − α quantile of Beta(k + 1, n − k); 1 when k = n."""
    alpha = check_alpha(alpha)
    kf, nf = _check_counts(k, n)
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(1.0 - alpha, kf + 1, nf - kf)
    return np.where(kf == nf, 1.0, bound)


def clopper_pearson_interval(k: ArrayLike, n: ArrayLike, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided (1 − α) Clopper–Pearson interval: each side at level α/2."""
    return clopper_pearson_lower(k, n, alpha / 2), clopper_pearson_upper(k, n, alpha / 2)


def binomial_test_pvalue(k: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test p-value of k successes in n trials against success probability p."""
    return float(binomtest(int(k), int(n), p).pvalue)


def binomial_test_half(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided exact binomial test p-values of k successes in n trials at p = ½, vectorized (float64).

    Binomial(n, ½) is symmetric, so the outcomes at most as likely as k are the two tails beyond
    min(k, n − k) and max(k, n − k): p = min(1, 2 P(X ≥ max(k, n − k))), and 1 when k = n/2. This is the
    p-value of ``scipy.stats.binomtest(k, n, 0.5)`` for many counts at once; n = 0 gives 1.
    """
    k, n = np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64)
    upper = np.maximum(k, n - k)
    tails = 2.0 * binom.sf(upper - 1, n, 0.5)
    return np.where((2 * k == n) | (n == 0), 1.0, np.minimum(1.0, tails))


def bonferroni(alpha: float, m: int) -> float:
    """Per-statement level so that m simultaneous statements hold together with probability ≥ 1 − α."""
    check_alpha(alpha)
    if m < 1:
        raise InvalidArgumentError(f"number of simultaneous bounds must be >= 1, got {m}")
    return alpha / m
