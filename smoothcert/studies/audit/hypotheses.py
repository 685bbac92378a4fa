"""Feasible hypotheses under smoothing (methods.md §2, a computable version of Gao et al.'s claim).

A finite hypothesis class whose Gaussian smoothing has a closed form; a hypothesis h is *feasible at σ*
when its smoothed version g_σ(x) = 1[P(h(x + ε) = 1) > ½] errs on at most a share ε of the labelled data.
Counting feasible hypotheses as σ grows shows how smoothing narrows what can still fit the data.

- Intervals on a line, h(x) = 1[a ≤ x ≤ b]: P = Φ((b − x)/σ) − Φ((a − x)/σ).
- Axis-aligned boxes in 2-D, h(x) = 1[x ∈ [a₁, b₁] × [a₂, b₂]]: P is the product of the two interval
  probabilities, because the noise coordinates are independent.
σ = 0 means no smoothing (h itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from smoothcert.errors import InvalidArgumentError
from smoothcert.validate import check_positive

__all__ = ["BoxClass", "FeasibleCounts", "IntervalClass", "feasible_counts", "interval_probability"]


def _endpoints(values: Sequence[float]) -> np.ndarray:
    grid = np.unique(np.asarray(values, dtype=np.float64))
    if grid.size < 2 or np.any(~np.isfinite(grid)):
        raise InvalidArgumentError(f"need at least two finite endpoint values, got {values!r}")
    return grid


def interval_probability(a: np.ndarray, b: np.ndarray, x: np.ndarray, sigma: float) -> np.ndarray:
    """P(a ≤ x + ε ≤ b), ε ~ N(0, σ²), for intervals a, b [H] and points x [M]: float64 [H, M].

    σ = 0 gives the indicator 1[a ≤ x ≤ b].
    """
    a, b, x = (np.asarray(v, dtype=np.float64) for v in (a, b, x))
    sigma = check_positive("sigma", sigma, allow_zero=True)
    if sigma == 0:
        return ((a[:, None] <= x[None, :]) & (x[None, :] <= b[:, None])).astype(np.float64)
    return norm.cdf((b[:, None] - x[None, :]) / sigma) - norm.cdf((a[:, None] - x[None, :]) / sigma)


@dataclass(frozen=True)
class IntervalClass:
    """All intervals [a, b] with a < b taken from an endpoint grid (H = K(K − 1)/2 hypotheses).

    Attributes:
        a, b: float64 [H], left and right endpoints.
    """

    a: np.ndarray
    b: np.ndarray

    @classmethod
    def from_grid(cls, endpoints: Sequence[float]) -> IntervalClass:
        grid = _endpoints(endpoints)
        i, j = np.triu_indices(len(grid), k=1)
        return cls(grid[i], grid[j])

    def __len__(self) -> int:
        return len(self.a)

    def probability(self, x: np.ndarray, sigma: float) -> np.ndarray:
        """P(h(x + ε) = 1) for every hypothesis and point x [M] (or [M, 1]): float64 [H, M]."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 1:
            raise InvalidArgumentError(f"interval hypotheses need 1-D points [M], got shape {x.shape}")
        return interval_probability(self.a, self.b, x, sigma)

    def describe(self, k: int) -> str:
        return f"[{self.a[k]:g}, {self.b[k]:g}]"


@dataclass(frozen=True)
class BoxClass:
    """All axis-aligned boxes [a₁, b₁] × [a₂, b₂] with each side an interval of an endpoint grid.

    Hypothesis k = i·I + j pairs interval i of the first axis with interval j of the second (I intervals).
    """

    intervals: IntervalClass

    @classmethod
    def from_grid(cls, endpoints: Sequence[float]) -> BoxClass:
        return cls(IntervalClass.from_grid(endpoints))

    def __len__(self) -> int:
        return len(self.intervals) ** 2

    def probability(self, x: np.ndarray, sigma: float) -> np.ndarray:
        """P(h(x + ε) = 1) for every box and point x [M, 2]: float64 [H, M]."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 2:
            raise InvalidArgumentError(f"box hypotheses need 2-D points [M, 2], got shape {x.shape}")
        p1 = self.intervals.probability(x[:, 0], sigma)  # [I, M]
        p2 = self.intervals.probability(x[:, 1], sigma)
        return (p1[:, None, :] * p2[None, :, :]).reshape(-1, x.shape[0])

    def describe(self, k: int) -> str:
        i, j = divmod(k, len(self.intervals))
        return f"{self.intervals.describe(i)} × {self.intervals.describe(j)}"


@dataclass(frozen=True)
class FeasibleCounts:
    """Result of :func:`feasible_counts`.

    Attributes:
        sigmas: float64 [S]; epsilons: float64 [E].
        counts: int64 [S, E], feasible hypotheses at each (σ, ε).
        best_error: float64 [S], the smallest empirical error of any smoothed hypothesis at each σ.
        best: int64 [S], a hypothesis reaching it (the first).
        size: H, hypotheses in the class.
    """

    sigmas: np.ndarray
    epsilons: np.ndarray
    counts: np.ndarray
    best_error: np.ndarray
    best: np.ndarray
    size: int


def feasible_counts(hypotheses: IntervalClass | BoxClass, x: np.ndarray, y: np.ndarray, sigmas: Sequence[float],
                    epsilons: Sequence[float], chunk: int = 4096) -> FeasibleCounts:
    """Count hypotheses whose smoothed version errs on at most a share ε of (x, y), for each σ and ε.

    Args:
        hypotheses: the class.
        x: points [M] (intervals) or [M, 2] (boxes); y: labels in {0, 1} [M].
        sigmas: noise levels (0 = the base hypotheses).
        epsilons: error budgets in [0, 1]; feasible means error ≤ ε.
        chunk: hypotheses evaluated at once (memory: chunk × M floats).
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0 or not np.isin(y, (0, 1)).all():
        raise InvalidArgumentError("labels y must be a non-empty 1-D array of 0/1")
    eps = np.asarray(epsilons, dtype=np.float64)
    if eps.ndim != 1 or eps.size == 0 or np.any((eps < 0) | (eps > 1)):
        raise InvalidArgumentError(f"epsilons must be numbers in [0, 1], got {epsilons!r}")
    sig = np.asarray([check_positive("sigma", s, allow_zero=True) for s in sigmas])
    if sig.size == 0:
        raise InvalidArgumentError("give at least one sigma")
    positive = y.astype(bool)
    size = len(hypotheses)
    counts = np.zeros((len(sig), len(eps)), dtype=np.int64)
    best_error, best = np.full(len(sig), np.inf), np.zeros(len(sig), dtype=np.int64)
    m = len(y)
    for s, sigma in enumerate(sig):
        for first in range(0, size, chunk):
            ids = np.arange(first, min(first + chunk, size))
            p = _probability_rows(hypotheses, ids, x, sigma)  # [h, M]
            errors = ((p > 0.5) != positive[None, :]).sum(axis=1)  # integer mistakes [h]
            # Compare integer mistakes with ε·M (rounded down): no floating-point tie at the budget.
            budgets = np.floor(eps * m + 1e-9)
            counts[s] += (errors[:, None] <= budgets[None, :]).sum(axis=0)
            k = int(np.argmin(errors))
            if errors[k] / m < best_error[s]:
                best_error[s], best[s] = errors[k] / m, ids[k]
    return FeasibleCounts(sig, eps, counts, best_error, best, size)


def _probability_rows(hypotheses: IntervalClass | BoxClass, ids: np.ndarray, x: np.ndarray,
                      sigma: float) -> np.ndarray:
    if isinstance(hypotheses, IntervalClass):
        return interval_probability(hypotheses.a[ids], hypotheses.b[ids], np.asarray(x, dtype=np.float64).ravel(),
                                    sigma)
    inner = hypotheses.intervals
    x = np.asarray(x, dtype=np.float64)
    p1 = inner.probability(x[:, 0], sigma)  # [I, M], cheap: I ≪ H
    p2 = inner.probability(x[:, 1], sigma)
    i, j = np.divmod(ids, len(inner))
    return p1[i] * p2[j]
