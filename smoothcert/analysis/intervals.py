"""Confidence intervals of headline numbers over test inputs and training seeds (percentile bootstrap).

A number such as "smoothed accuracy of the σ = 0.5 noise-trained model" varies with the test inputs drawn and
with the seed that trained the model (and drew the noise). With S seeds evaluated on the same N test inputs,
each bootstrap replicate draws N input indices with replacement (one draw shared by all seeds, since the
inputs are one population) and S seeds with replacement, and averages the statistic over the drawn seeds; the
95% interval is the 2.5% and 97.5% percentiles of the replicates (Efron & Tibshirani 1993, ch. 13; the two-way
resampling of crossed factors, Owen 2007, "The pigeonhole bootstrap"). With one seed it is the ordinary
bootstrap over inputs. The point estimate is the mean over seeds of the statistic on all inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError

#: statistic(values [B, N, ...]) -> [B]: one number per replicate of the N inputs.
Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval, and the per-seed values it averages."""

    value: float
    low: float
    high: float
    per_seed: tuple[float, ...]

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def seed_input_bootstrap(values: Sequence[np.ndarray], statistic: Statistic, *, n_resamples: int = 2000,
                         confidence: float = 0.95, seed: int = 0, chunk: int = 250) -> Estimate:
    """The mean over seeds of ``statistic`` with its two-way (inputs × seeds) percentile-bootstrap interval.

    Args:
        values: one array per seed, each [N, ...] with row i the same test input under every seed.
        statistic: maps a batch of replicates [B, N, ...] to [B] (vectorized; it is called on chunks of B).
        n_resamples: bootstrap replicates.
        confidence: the interval's coverage, in (0, 1).
        seed: seed of the resampling (the interval is reproducible).
        chunk: replicates per call of ``statistic`` (bounds memory at chunk × N × ...).
    """
    if not values:
        raise InvalidArgumentError("seed_input_bootstrap needs at least one seed's values")
    arrays = [np.asarray(v) for v in values]
    n = len(arrays[0])
    if n == 0 or any(a.shape != arrays[0].shape for a in arrays):
        raise InvalidArgumentError(f"every seed needs the same non-empty inputs; shapes {[a.shape for a in arrays]}")
    if not 0 < confidence < 1:
        raise InvalidArgumentError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    per_seed = np.array([float(statistic(a[None])[0]) for a in arrays])
    rows = rng.integers(0, n, size=(n_resamples, n))
    picks = rng.integers(0, len(arrays), size=(n_resamples, len(arrays)))
    stats = np.empty((len(arrays), n_resamples))  # stats[s, b]: seed s on replicate b's inputs
    for start in range(0, n_resamples, chunk):
        block = rows[start:start + chunk]
        for s, a in enumerate(arrays):
            stats[s, start:start + chunk] = statistic(a[block])
    replicates = np.take_along_axis(stats.T, picks, axis=1).mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Estimate(float(per_seed.mean()), float(low), float(high), tuple(float(v) for v in per_seed))


def accuracy(correct: np.ndarray) -> np.ndarray:
    """Statistic: the share of true entries; correct [B, N] bool → [B]."""
    return correct.mean(axis=-1)


def class_spread(num_classes: int) -> Statistic:
    """Statistic: max − min over classes of the per-class accuracy; values [B, N, 2] of (label, correct) → [B].

    A class absent from a replicate is left out of its max and min (it has no accuracy there)."""

    def spread(values: np.ndarray) -> np.ndarray:
        labels, correct = values[..., 0].astype(np.int64), values[..., 1].astype(np.float64)
        onehot = labels[..., None] == np.arange(num_classes)
        count = onehot.sum(axis=-2)
        hits = (onehot * correct[..., None]).sum(axis=-2)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = hits / count
        return np.nanmax(acc, axis=-1) - np.nanmin(acc, axis=-1)

    return spread


def auroc(values: np.ndarray) -> np.ndarray:
    """Statistic: the AUROC of separating positives (larger scores) from negatives; values [B, N, 2] of
    (negative score, positive score) → [B].

    The Mann–Whitney form P(X⁺ > X⁻) + ½ P(X⁺ = X⁻) over all N² (negative, positive) pairs of a replicate,
    which is the area under the empirical ROC curve with ties counted half (Hanley & McNeil 1982). Row i pairs
    the i-th negative with the i-th positive only so that one index draw resamples both sets; the two sets
    are independent samples of equal size, so each is resampled as in the ordinary bootstrap."""
    negative, positive = values[..., 0][..., :, None], values[..., 1][..., None, :]
    return ((positive > negative) + 0.5 * (positive == negative)).mean(axis=(-2, -1))
