"""Confidence bounds and tests on binomial counts. Numbers only: no torch, no models.

All bounds are exact (Clopper–Pearson) and vectorized over numpy arrays of counts. Each bound is verified in
log space after SciPy's Beta quantile and, where the quantile is NaN or fails the check, found again by
bisection on the log tail probability, so it errs only on the safe side: a lower bound is never above the
exact Clopper–Pearson value by more than float rounding, an upper bound never below it. A lower bound is
also kept strictly below 1 (and an upper bound above 0), so a radius Φ⁻¹(p̲) is always finite.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.stats import beta, binom, binomtest

from .errors import InvalidArgumentError
from .validate import check_alpha

ArrayLike = int | np.ndarray

#: Largest float below 1 and smallest above 0: where a bound is clipped so that Φ⁻¹ of it stays finite.
BELOW_ONE, ABOVE_ZERO = float(np.nextafter(1.0, 0.0)), float(np.finfo(np.float64).tiny)

#: Bisection steps of the fallback: halving [0, 1] this often reaches float64 resolution near 0 and near 1.
_BISECTION_STEPS = 1100

__all__ = ["ABOVE_ZERO", "BELOW_ONE", "binomial_quantile", "binomial_test_half", "binomial_test_pvalue",
           "bonferroni", "check_alpha", "clopper_pearson_interval", "clopper_pearson_lower", "clopper_pearson_upper"]


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
    kf, nf = np.broadcast_arrays(kf, nf)
    log_alpha = math.log(alpha)
    bound = np.zeros(kf.shape)
    positive = kf > 0
    if positive.any():
        a, b = kf[positive], nf[positive] - kf[positive] + 1
        # P(Bin(n, p) ≥ k) = I_p(k, n − k + 1) = Beta(k, n − k + 1).cdf(p) rises with p; p̲ solves it = α.
        bound[positive] = _verified_quantile(lambda p: beta.logcdf(p, a, b), _quiet(beta.ppf, alpha, a, b),
                                             log_alpha, side="lower")
    return np.minimum(bound, BELOW_ONE)


def clopper_pearson_upper(k: ArrayLike, n: ArrayLike, alpha: float) -> np.ndarray:
    """One-sided (1 − α) Clopper–Pearson upper bound: the 1 − α quantile of Beta(k + 1, n − k); 1 when k = n."""
    alpha = check_alpha(alpha)
    kf, nf = _check_counts(k, n)
    kf, nf = np.broadcast_arrays(kf, nf)
    log_alpha = math.log(alpha)
    bound = np.ones(kf.shape)
    below = kf < nf
    if below.any():
        a, b = kf[below] + 1, nf[below] - kf[below]
        # P(Bin(n, p) ≤ k) = 1 − I_p(k + 1, n − k) = Beta(k + 1, n − k).sf(p) falls with p; p̄ solves it = α.
        bound[below] = _verified_quantile(lambda p: beta.logsf(p, a, b), _quiet(beta.isf, alpha, a, b),
                                          log_alpha, side="upper")
    return np.maximum(bound, ABOVE_ZERO)


def _quiet(quantile, *args) -> np.ndarray:
    """SciPy's quantile without its warning when Boost's root finder gives up: the result is checked anyway."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", over="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(quantile(*args), dtype=np.float64)


def _verified_quantile(log_tail, guess: np.ndarray, log_alpha: float, side: str) -> np.ndarray:
    """The Clopper–Pearson end p where ``log_tail(p)`` = log α, on the safe side of it.

    ``log_tail`` is the log of the tail probability as a function of p (vectorized over the counts): rising
    for a lower bound, falling for an upper bound. ``guess`` (SciPy's quantile) is kept where the tail there
    is at most α (it is then on the safe side, to rounding); elsewhere, or where it is NaN, bisection on the
    log tail finds the end, keeping the safe end of the bracket.
    """
    tolerance = 1e-9  # relative slack on α in the check: SciPy's own rounding, not a loosening of the bound
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        tail = log_tail(np.clip(np.nan_to_num(guess), 0, 1))
        ok = np.isfinite(guess) & np.isfinite(tail) & (tail <= log_alpha + tolerance)
    if ok.all():
        return guess
    # Bisection over all inputs at once: for a lower bound the safe end is the low one (tail ≤ α there).
    lo, hi = np.zeros(guess.shape), np.ones(guess.shape)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            inside = log_tail(mid) <= log_alpha
            if side == "lower":
                lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
            else:
                lo, hi = np.where(inside, lo, mid), np.where(inside, mid, hi)
            if np.all(hi - lo <= np.spacing(hi)):
                break
    return np.where(ok, guess, lo if side == "lower" else hi)


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


def binomial_quantile(n: int, p: float, level: float) -> int:
    """The ``level`` quantile of Binomial(n, p): the smallest q with P(X ≤ q) ≥ level."""
    if n < 1 or not 0 <= p <= 1 or not 0 < level < 1:
        raise InvalidArgumentError(f"binomial quantile needs n >= 1, p in [0, 1], level in (0, 1); got {n}, {p}, "
                                   f"{level}")
    return int(binom.ppf(level, n, p))


def bonferroni(alpha: float, m: int) -> float:
    """Per-statement level so that m simultaneous statements hold together with probability ≥ 1 − α."""
    check_alpha(alpha)
    if m < 1:
        raise InvalidArgumentError(f"number of simultaneous bounds must be >= 1, got {m}")
    return alpha / m
