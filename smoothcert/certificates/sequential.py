"""Sequential CERTIFY: sample in rounds and stop as soon as the answer is settled, α guarantee intact.

The selection step is Cohen et al.'s (ĉ_A from n0 samples). Estimation then draws rounds of fresh samples
n_1 < n_2 < … (geometric, capped at ``n_max``) and after each round reads the ends of an anytime-valid
confidence sequence for p_A (:mod:`smoothcert.confseq`). Because the sequence holds at every n at once, the
bounds may be read at the data-dependent stopping time. Two modes:

- **preset radius r**: certified at r ⟺ p_A > Φ(r/σ). Stop as soon as the lower end exceeds Φ(r/σ)
  (certified), the upper end falls to or below it (cannot be certified at r), or the cap is reached.
- **full radius**: stop when more samples, up to the cap, cannot raise the radius by more than
  ``tolerance``, judged optimistically (future successes at the rate of the upper end); or when the upper end
  is below ½ (abstain); or at the cap.

Either way the reported radius is σ Φ⁻¹(lower end) at the stop, and with probability ≥ 1 − α the returned
class is g(x) and g is constant within that radius (docs/fast_certification.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm

from .. import sampling
from ..confseq import PRIOR_A, PRIOR_B, confidence_sequence
from ..errors import InvalidArgumentError
from ..noise import GaussianNoise
from ..smooth import ABSTAIN, Smooth, check_count
from ..stats import check_alpha

#: Why an input stopped sampling.
CERTIFIED, BELOW_TARGET, CONVERGED, ABSTAINED, CAP = "certified", "below_target", "converged", "abstain", "cap"


@dataclass(frozen=True)
class SequentialConfig:
    """Settings of sequential CERTIFY.

    Attributes:
        n_max: cap on estimation samples per input.
        radius: preset radius r (input units), or None for the full-radius mode.
        tolerance: full-radius mode: stop when the cap could raise the radius by at most this (input units);
            None means 0.02·σ.
        n_start: samples in the first round; later rounds grow by ``growth`` up to the cap.
        growth: ratio of successive cumulative sample sizes (> 1).
        prior: (a, b) of the Beta mixing prior of the confidence sequence.
    """

    n_max: int = 100_000
    radius: float | None = None
    tolerance: float | None = None
    n_start: int = 256
    growth: float = 1.5
    prior: tuple[float, float] = (PRIOR_A, PRIOR_B)

    def validate(self) -> SequentialConfig:
        check_count("n_max", self.n_max)
        check_count("n_start", self.n_start)
        if not (self.growth > 1 and math.isfinite(self.growth)):
            raise InvalidArgumentError(f"growth must be > 1, got {self.growth}")
        if self.radius is not None and not (math.isfinite(self.radius) and self.radius >= 0):
            raise InvalidArgumentError(f"preset radius must be a finite number >= 0, got {self.radius}")
        if self.tolerance is not None and not (math.isfinite(self.tolerance) and self.tolerance > 0):
            raise InvalidArgumentError(f"tolerance must be > 0, got {self.tolerance}")
        return self

    def schedule(self) -> list[int]:
        """Cumulative sample sizes after each round: n_start, ·growth, …, n_max (the same for every input)."""
        sizes = [min(self.n_start, self.n_max)]
        while sizes[-1] < self.n_max:
            sizes.append(min(self.n_max, max(sizes[-1] + 1, math.ceil(sizes[-1] * self.growth))))
        return sizes


@dataclass(frozen=True)
class SequentialCertificate:
    """Result of sequential CERTIFY for one input.

    Attributes:
        prediction: ĉ_A, or ABSTAIN (−1) when the lower end of the sequence is below ½ at the stop.
        radius: σ Φ⁻¹(p_a_lower) (input units), 0 when abstaining.
        p_a_lower, p_a_upper: ends of the confidence sequence for p_A at the stop.
        count_top: n_A among the n estimation samples used.
        n0, n: selection samples and estimation samples used.
        guess: ĉ_A.
        stop: why sampling stopped (certified, below_target, converged, abstain, cap).
    """

    prediction: int
    radius: float
    p_a_lower: float
    p_a_upper: float
    count_top: int
    n0: int
    n: int
    guess: int
    stop: str


def certify_sequential(
    smooth: Smooth,
    x: torch.Tensor,
    n0: int,
    alpha: float,
    config: SequentialConfig = SequentialConfig(),
    *,
    indices: Sequence[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[SequentialCertificate]:
    """Sequential CERTIFY for each input of ``x`` [B, *input_shape] (Gaussian noise only).

    Inputs are sampled together, round after round, while any is undecided; the rounds are the same for every
    input, so results do not depend on batching. ``indices`` seed each input (default: the smoother's counter).
    """
    n0 = check_count("n0", n0)
    alpha = check_alpha(alpha)
    config = config.validate()
    if not isinstance(smooth.noise, GaussianNoise):
        raise InvalidArgumentError("sequential certification supports Gaussian noise only")
    sigma = smooth.noise.sigma
    ids = smooth._indices(len(x), indices)
    counts0 = smooth.sample_counts(x, n0, ids, sampling.SELECTION, progress)
    guess = counts0[:, : smooth.num_classes].argmax(axis=1)
    gens = smooth.generators(ids, sampling.ESTIMATION)
    a, b = config.prior
    target = norm.cdf(config.radius / sigma) if config.radius is not None else None
    tolerance = config.tolerance if config.tolerance is not None else 0.02 * sigma

    num = len(ids)
    k = np.zeros(num, dtype=np.int64)
    n = np.zeros(num, dtype=np.int64)
    lower, upper = np.zeros(num), np.ones(num)
    stop = np.array([""] * num, dtype=object)
    for size in config.schedule():
        active = np.flatnonzero(stop == "")
        if len(active) == 0:
            break
        counts = smooth.count(x[active], (size - n[active]).tolist(), [gens[i] for i in active], progress)
        k[active] += counts[np.arange(len(active)), guess[active]]
        n[active] = size
        lower[active], upper[active] = confidence_sequence(k[active], n[active], alpha, a, b)
        for i in active:
            stop[i] = _decide(lower[i], upper[i], k[i], n[i], config.n_max, sigma, target, tolerance, alpha, a, b)
    radius = np.where(lower >= 0.5, smooth.noise.certified_radius(lower), 0.0)
    return [
        SequentialCertificate(
            prediction=int(guess[i]) if lower[i] >= 0.5 else ABSTAIN,
            radius=float(radius[i]),
            p_a_lower=float(lower[i]),
            p_a_upper=float(upper[i]),
            count_top=int(k[i]),
            n0=n0,
            n=int(n[i]),
            guess=int(guess[i]),
            stop=str(stop[i]),
        )
        for i in range(num)
    ]


def _decide(lower, upper, k, n, n_max, sigma, target, tolerance, alpha, a, b) -> str:
    """The stop reason for one input after a round, or "" to keep sampling."""
    if target is not None:
        if lower > target:
            return CERTIFIED
        if upper <= target:
            return BELOW_TARGET
    else:
        if upper < 0.5:
            return ABSTAINED
        if n < n_max:
            # Most the cap could give: the remaining samples all succeed at the upper end's rate.
            k_best = min(n_max, k + math.ceil(upper * (n_max - n)))
            best_lower, _ = confidence_sequence(k_best, n_max, alpha, a, b)
            now = sigma * norm.ppf(lower) if lower > 0.5 else 0.0
            best = sigma * norm.ppf(best_lower[()]) if best_lower[()] > 0.5 else 0.0
            if best - now <= tolerance:
                return CONVERGED
    return CAP if n >= n_max else ""
