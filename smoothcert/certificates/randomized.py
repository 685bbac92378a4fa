"""Randomized Clopper–Pearson CERTIFY (Voráček, NeurIPS 2024): Cohen's rule with the exact-size randomized
lower bound on p_A. THESE CERTIFICATES ARE RANDOMIZED: besides the noise samples, each one depends on a uniform
variate U drawn for the input, and a certificate is guaranteed only over both.

The deterministic Clopper–Pearson bound holds with probability ≥ 1 − α, strictly more for most p, because the
binomial count is discrete. The randomized bound spends exactly α: p̲(k, U) solves

    P_p(X > k) + U · P_p(X = k) = α,   X ~ Binomial(n, p), U ~ Uniform(0, 1) independent of X,

so P(p̲ > p) = α for every p (the randomized p-value is exactly uniform). With U = 1 it is Clopper–Pearson's
bound; a smaller U gives a larger bound. In particular with k = n it is (α/U)^{1/n}, above the α^{1/n} that caps
every deterministic procedure, and 1 (kept just below 1 here) when U ≤ α. Formulas: docs/bounds.md.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from ..errors import InvalidArgumentError
from ..noise import Noise
from ..stats import BELOW_ONE
from ..validate import check_alpha, check_seed
from .cohen import ABSTAIN, CertifyCounts, select_class
from .top2 import checked_counts

#: Bisection steps: halving [0, 1] this often reaches float64 resolution near 0 and near 1.
_STEPS = 1100


def uniform_variates(seed: int, indices: np.ndarray) -> np.ndarray:
    """U [B] in (0, 1): one uniform variate per input index, fixed by (seed, index) alone."""
    seed = check_seed(seed)
    return np.array([np.random.default_rng([seed, int(i), 0x52435000]).random() for i in indices], dtype=np.float64)


def randomized_lower(k: np.ndarray, n: np.ndarray, alpha: float, u: np.ndarray) -> np.ndarray:
    """The randomized (1 − α) lower bound on p from k successes in n trials and uniform variates u [B].

    The largest p with P_p(X > k) + u P_p(X = k) ≤ α (the left side rises with p), found by bisection and kept
    on the safe (low) end; 0 when even p = 0 exceeds α, at most the largest float below 1.
    """
    alpha = check_alpha(alpha)
    k, n, u = np.broadcast_arrays(np.asarray(k, np.int64), np.asarray(n, np.int64), np.asarray(u, np.float64))
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n) or np.any((u <= 0) | (u >= 1)):
        raise InvalidArgumentError("randomized bounds need 0 <= k <= n, n >= 1 and variates u in (0, 1)")

    def level(p: np.ndarray) -> np.ndarray:
        # P(X > k) + u P(X = k) = u P(X ≥ k) + (1 − u) P(X > k): tails only, which stay accurate at any p.
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            return u * np.where(k > 0, binom.sf(k - 1, n, p), 1.0) + (1.0 - u) * binom.sf(k, n, p)

    lo, hi = np.zeros(k.shape), np.ones(k.shape)
    done = level(hi) <= alpha  # even p = 1 keeps the level: the bound is 1 (U ≤ α with k = n)
    for _ in range(_STEPS):
        mid = 0.5 * (lo + hi)
        inside = level(mid) <= alpha
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
        if np.all(hi - lo <= np.spacing(hi)):
            break
    return np.minimum(np.where(done, 1.0, lo), BELOW_ONE)


def randomized_certify_counts(selection: np.ndarray, estimation: np.ndarray, alpha: float, noise: Noise,
                              num_classes: int, u: np.ndarray) -> CertifyCounts:
    """Cohen's CERTIFY with the randomized lower bound: ĉ_A from the selection counts, p̲_A = randomized lower
    bound of its estimation count with the input's variate ``u`` [B]; certified with radius
    noise.certified_radius(p̲_A) when p̲_A ≥ ½. Valid with probability ≥ 1 − α over the samples and U."""
    selection, estimation = checked_counts(selection, estimation, num_classes)
    n0, n = selection.sum(axis=1), estimation.sum(axis=1)
    guess = select_class(selection, num_classes)
    count_top = estimation[np.arange(len(guess)), guess]
    p_a = randomized_lower(count_top, n, alpha, u) if len(n) else np.zeros(0)
    certified = p_a >= 0.5
    radius = np.where(certified, noise.certified_radius(p_a), 0.0)
    return CertifyCounts(np.where(certified, guess, ABSTAIN), radius, p_a, count_top, n0, n, guess, certified)
