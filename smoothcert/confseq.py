"""Anytime-valid confidence sequences for a Bernoulli success probability. Numbers only.

Beta-mixture (Robbins) confidence sequence: with k successes in n trials and a Beta(a, b) mixing prior,

    M_n(p) = B(a + k, b + n − k) / B(a, b) / (p^k (1 − p)^(n − k))

is a nonnegative martingale with M_0 = 1 under success probability p. Ville's inequality gives
P(∃ n: M_n(p) ≥ 1/α) ≤ α, so the sets C_n = {p : M_n(p) < 1/α} contain the true p at every n simultaneously
with probability ≥ 1 − α. Their ends may therefore be read at any data-dependent stopping time, unlike a
Clopper–Pearson bound recomputed after each look. C_n is an interval around k/n, because log M_n(p) is
convex in p with its minimum (≤ 0) at p = k/n. The proof is in docs/fast_certification.md.

The prior sets where the sequence is tight: ``b`` small puts mass near p = 1, where certification happens.
With all n trials successes and a = 1, the lower end is (α · Γ(1+b) · Γ(n+1) / Γ(n+1+b))^(1/n) ≈ (α n^(−b))^(1/n).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import betaln

from .errors import InvalidArgumentError
from .validate import check_alpha

#: Default mixing prior Beta(1, 1/8): close to Clopper–Pearson for p near 1, valid for every p.
PRIOR_A, PRIOR_B = 1.0, 0.125


def log_mixture_martingale(p: float, k: int, n: int, a: float = PRIOR_A, b: float = PRIOR_B) -> float:
    """log M_n(p) for k successes in n trials (p in (0, 1))."""
    log_lik = (k * math.log(p) if k else 0.0) + ((n - k) * math.log1p(-p) if n - k else 0.0)
    return float(betaln(a + k, b + n - k) - betaln(a, b) - log_lik)


def _end(k: int, n: int, alpha: float, a: float, b: float, lower: bool) -> float:
    threshold = -math.log(alpha)
    p_hat = k / n
    if (lower and k == 0) or (not lower and k == n):
        return 0.0 if lower else 1.0
    f = lambda p: log_mixture_martingale(p, k, n, a, b) - threshold  # noqa: E731
    if lower:
        lo, hi = 1e-300, p_hat
        if f(lo) <= 0:  # the whole of (0, p̂] is inside the sequence
            return 0.0
    else:
        lo, hi = p_hat, 1.0 - 1e-16
        if f(hi) <= 0:
            return 1.0
    return float(brentq(f, lo, hi, xtol=1e-14, rtol=1e-13))


def confidence_sequence(
    k: np.ndarray | int, n: np.ndarray | int, alpha: float, a: float = PRIOR_A, b: float = PRIOR_B
) -> tuple[np.ndarray, np.ndarray]:
    """Ends (lower, upper) of the (1 − α) Beta-mixture confidence sequence after k successes in n trials.

    Valid simultaneously over all n: P(∃ n: p ∉ [lower_n, upper_n]) ≤ α. Shapes: k, n broadcast; float64 out.
    """
    alpha = check_alpha(alpha)
    if not (a > 0 and b > 0):
        raise InvalidArgumentError(f"prior parameters must be > 0, got a={a}, b={b}")
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64))
    if np.any(n_arr < 1) or np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise InvalidArgumentError("confidence sequence needs 0 <= k <= n and n >= 1")
    lower = np.empty(k_arr.shape)
    upper = np.empty(k_arr.shape)
    for i in np.ndindex(k_arr.shape):  # one root per input per look, never per sample
        lower[i] = _end(int(k_arr[i]), int(n_arr[i]), alpha, a, b, lower=True)
        upper[i] = _end(int(k_arr[i]), int(n_arr[i]), alpha, a, b, lower=False)
    return lower, upper
