"""Sequential CERTIFY's rules: when to stop sampling, and the certificate at the stop. Numbers only.

The sampling rounds themselves are :meth:`smoothcert.smooth.Smooth.certify_sequential`; this module decides,
from the counts so far, which inputs are settled.

The selection step is Cohen et al.'s (ĉ_A from n0 samples). Estimation then draws rounds of fresh samples
n_1 < n_2 < … (geometric, capped at ``n_max``) and after each round reads the ends of an anytime-valid
confidence sequence for p_A (:mod:`smoothcert.confseq`). Because the sequence holds at every n at once, the
bounds may be read at the data-dependent stopping time. Two modes:

- **preset radius r**: certified at r ⟺ p_A > p_r = ``noise.probability_for_radius(r)`` (Φ(r/σ) for
  Gaussian noise). Stop as soon as the lower end exceeds p_r
  (certified), the upper end falls to or below it (cannot be certified at r), or the cap is reached.
- **full radius**: stop when more samples, up to the cap, cannot raise the radius by more than
  ``tolerance``, judged optimistically (future successes at the rate of the upper end); or when the upper end
  is below ½ (abstain); or at the cap.

Either way the reported radius is ``noise.certified_radius(lower end)`` at the stop, and with probability
≥ 1 − α the returned class is g(x) and g is constant within that radius (docs/fast_certification.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..confseq import PRIOR_A, PRIOR_B, confidence_sequence
from ..errors import InvalidArgumentError
from ..noise import Noise
from ..validate import check_count
from .cohen import ABSTAIN

#: Why an input stopped sampling.
CERTIFIED, BELOW_TARGET, CONVERGED, ABSTAINED, CAP = "certified", "below_target", "converged", "abstain", "cap"


@dataclass(frozen=True)
class SequentialConfig:
    """Settings of sequential CERTIFY.

    Attributes:
        n_max: cap on estimation samples per input.
        radius: preset radius r (input units, the noise's norm), or None for the full-radius mode.
        tolerance: full-radius mode: stop when the cap could raise the radius by at most this (input units);
            None means 0.02 × the noise's scale (0.02·σ).
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
        if self.radius is not None and self.tolerance is not None:
            raise InvalidArgumentError("a tolerance applies to the full-radius mode only, not with a preset radius")
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
        radius: noise.certified_radius(p_a_lower) (input units), 0 when abstaining.
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


class StoppingRule:
    """The decision after each round, for one (config, noise, α): bounds and stop reasons from counts.

    Args:
        config: the validated :class:`SequentialConfig`.
        noise: gives the radius of a bound and the bound a preset radius needs.
        alpha: failure probability of the confidence sequence (anytime-valid, so read at any stop).
    """

    def __init__(self, config: SequentialConfig, noise: Noise, alpha: float) -> None:
        self.config = config.validate()
        self.noise = noise
        self.alpha = alpha
        self.target = noise.probability_for_radius(config.radius) if config.radius is not None else None
        self.tolerance = config.tolerance if config.tolerance is not None else 0.02 * noise.scale
        if self.target is None and not math.isfinite(self.tolerance):
            raise InvalidArgumentError(f"{type(noise).__name__} has no scale: give the tolerance explicitly")

    def bounds(self, k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ends (lower, upper) of the confidence sequence for p_A after k successes in n samples [B]."""
        return confidence_sequence(k, n, self.alpha, *self.config.prior)

    def radius(self, lower: np.ndarray) -> np.ndarray:
        """The radius a lower end certifies [B]: 0 below ½."""
        lower = np.asarray(lower, dtype=np.float64)
        return np.where(lower > 0.5, self.noise.certified_radius(lower), 0.0)

    def stops(self, k: np.ndarray, n: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Stop reason of each input [B] (object array of str), "" where sampling goes on."""
        k, n = np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64)
        out = np.full(len(k), "", dtype=object)
        n_max = self.config.n_max
        if self.target is not None:
            out[lower > self.target] = CERTIFIED
            out[(out == "") & (upper <= self.target)] = BELOW_TARGET
        else:
            out[upper < 0.5] = ABSTAINED
            open_ = np.flatnonzero((out == "") & (n < n_max))
            if len(open_):
                # Most the cap could give: the remaining samples all succeed at the upper end's rate.
                k_best = np.minimum(n_max, k[open_] + np.ceil(upper[open_] * (n_max - n[open_])).astype(np.int64))
                best_lower, _ = confidence_sequence(k_best, np.full(len(open_), n_max), self.alpha,
                                                    *self.config.prior)
                gain = self.radius(best_lower) - self.radius(lower[open_])
                out[open_[gain <= self.tolerance]] = CONVERGED
        out[(out == "") & (n >= n_max)] = CAP
        return out

    def certificates(self, guess: np.ndarray, k: np.ndarray, n: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     stop: np.ndarray, n0: int) -> list[SequentialCertificate]:
        """The certificates at the stops: ĉ_A with radius(lower) where lower ≥ ½, else abstain."""
        radius = self.radius(lower)
        certified = np.asarray(lower) >= 0.5
        return [SequentialCertificate(prediction=int(guess[i]) if certified[i] else ABSTAIN,
                                      radius=float(radius[i]) if certified[i] else 0.0,
                                      p_a_lower=float(lower[i]), p_a_upper=float(upper[i]), count_top=int(k[i]),
                                      n0=int(n0), n=int(n[i]), guess=int(guess[i]), stop=str(stop[i]))
                for i in range(len(guess))]
