"""The uncertainty-aware base classifier as an outcome map for the sampling engine, and calibration of τ.

Base outcome (methods.md §4): o(x) = f(x) if u(x) ≤ τ, else ⊥. :class:`UncertaintyOutcome` computes it for
every noisy copy inside the engine, in one of two layouts:

- ``keep_class=False`` (one τ): outcomes 0 … C−1 are the certain classes and C is ⊥ (C + 1 outcomes).
- ``keep_class=True`` (default, one or several thresholds τ_1 < … < τ_K): outcome c + C·b, where c is the
  class f and b = #{k : τ_k < u} ∈ {0 … K} the uncertainty bin. For one τ: 0 … C−1 certain, C + c = ⊥ with
  f = c. Summing the uncertain ids gives the C + 1 counts exactly; keeping the class of ⊥ samples gives the
  plain classifier's counts too (for Cohen's radius from the same samples), and K thresholds give the counts
  of K uncertainty-aware classifiers from one pass (a τ sweep at the cost of one certification).

u ≤ τ is decided in float64 on the float32 value of u, so a τ read off computed values of u (calibration)
classifies those values exactly as they were counted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InvalidArgumentError
from ..noise import Noise
from .measures import check_measure, check_members, class_and_uncertainty, clean_uncertainty

#: Noise stream of the noisy calibration pass (the engine uses 0, 1, 2).
CALIBRATION = 3


def check_taus(taus: float | Sequence[float]) -> tuple[float, ...]:
    """Thresholds as a strictly increasing tuple of floats (NaN refused, ``inf`` allowed)."""
    values = (taus,) if isinstance(taus, int | float | np.floating) else tuple(taus)
    try:
        out = tuple(float(t) for t in values)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"tau must be numbers, got {taus!r}") from None
    if not out or any(math.isnan(t) for t in out):
        raise InvalidArgumentError(f"tau must be one or more numbers (not NaN), got {taus!r}")
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise InvalidArgumentError(f"several tau values must be strictly increasing, got {taus!r}")
    return out


class UncertaintyOutcome:
    """Outcome map logits [N, M·C] → ids [N]: class if u ≤ τ, else ⊥ (layouts in the module docstring).

    Args:
        num_classes: C.
        measure: one of :data:`~smoothcert.uncertainty.measures.MEASURES`.
        taus: τ, or several increasing thresholds (``keep_class`` only); ``inf`` never rejects.
        members: M, the members in the logits (1 for a plain network).
        keep_class: keep the class of ⊥ samples (C·(K + 1) outcomes) instead of one ⊥ outcome (C + 1).
    """

    def __init__(self, num_classes: int, measure: str, taus: float | Sequence[float], members: int = 1,
                 keep_class: bool = True) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise InvalidArgumentError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        self.num_classes = num_classes
        self.members = check_members(members)
        self.measure = check_measure(measure, self.members)
        self.taus = check_taus(taus)
        self.keep_class = bool(keep_class)
        if not self.keep_class and len(self.taus) != 1:
            raise InvalidArgumentError("the C + 1 layout (keep_class=False) takes exactly one tau")
        self.num_outcomes = num_classes * (len(self.taus) + 1) if self.keep_class else num_classes + 1
        self._boundaries: dict[torch.device, torch.Tensor] = {}

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        cls, u = class_and_uncertainty(logits, (self.measure,), self.members, self.num_classes)
        u = u[:, 0].double()
        if not self.keep_class:
            return torch.where(u <= self.taus[0], cls, torch.full_like(cls, self.num_classes))
        boundaries = self._boundaries.get(u.device)
        if boundaries is None:
            boundaries = self._boundaries[u.device] = torch.tensor(self.taus, dtype=torch.float64, device=u.device)
        bins = torch.bucketize(u, boundaries)  # #{k : τ_k < u}
        return cls + self.num_classes * bins

    def split(self, counts: np.ndarray, tau_index: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """Counts [B, num_outcomes] → (certain [B, C], uncertain [B, C] by class, or None in the C + 1 layout).

        ``tau_index`` picks τ_k among several thresholds. In the C + 1 layout the ⊥ count is
        ``counts[:, C]`` and the class of ⊥ samples is unknown.
        """
        counts = np.asarray(counts)
        if counts.ndim != 2 or counts.shape[1] != self.num_outcomes:
            raise InvalidArgumentError(f"counts must have shape [B, {self.num_outcomes}], got {counts.shape}")
        if not 0 <= tau_index < len(self.taus):
            raise InvalidArgumentError(f"tau_index must be in [0, {len(self.taus)}), got {tau_index}")
        c = self.num_classes
        if not self.keep_class:
            return counts[:, :c], None
        binned = counts.reshape(len(counts), len(self.taus) + 1, c)
        return binned[:, : tau_index + 1].sum(axis=1), binned[:, tau_index + 1 :].sum(axis=1)

    def describe(self) -> dict:
        """JSON-able description for manifests."""
        return {"measure": self.measure, "taus": list(self.taus), "members": self.members,
                "keep_class": self.keep_class}


def threshold_for_rate(u: np.ndarray, rejection_rate: float) -> float:
    """The smallest τ among the values of ``u`` (or ``inf``) with #{u > τ} ≤ rejection_rate · len(u).

    ``rejection_rate`` = 0 gives ``inf``. Ties can make the achieved rate lower than asked, never higher.
    """
    u = np.sort(np.asarray(u, dtype=np.float64).ravel())
    if not 0 <= rejection_rate < 1:
        raise InvalidArgumentError(f"rejection rate must be in [0, 1), got {rejection_rate!r}")
    if len(u) == 0:
        raise InvalidArgumentError("cannot calibrate tau on zero inputs")
    allowed = math.floor(rejection_rate * len(u) + 1e-9)
    if allowed == 0:
        return math.inf
    return float(u[len(u) - allowed - 1])


def uncertainty_samples(
    model: nn.Module,
    x: torch.Tensor,
    measure: str,
    num_classes: int,
    members: int = 1,
    noise: Noise | None = None,
    samples_per_input: int = 16,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """u on clean inputs x [N, *shape] ([N]), or on ``samples_per_input`` noisy copies of each ([N·m]).

    Noisy copies come from the calibration stream (:data:`CALIBRATION`) of each input's generator, seeded by
    (seed, index), so they are independent of any certification noise of the same inputs.
    """
    check_measure(measure, members)
    if noise is None:
        return clean_uncertainty(model, x, (measure,), num_classes, members, batch_size)[1][:, 0]
    from .scores import noisy_uncertainty  # the engine-style noisy pass

    ids = list(range(len(x))) if indices is None else [int(i) for i in indices]
    stats = noisy_uncertainty(model, x, noise, samples_per_input, (measure,), num_classes, members=members,
                              seed=seed, indices=ids, stream=CALIBRATION, batch_size=batch_size, keep_samples=True)
    return stats.samples[:, :, 0].ravel()


def calibrate_tau(
    model: nn.Module,
    x_heldout: torch.Tensor,
    measure: str,
    rejection_rate: float,
    num_classes: int,
    *,
    members: int = 1,
    noise: Noise | None = None,
    samples_per_input: int = 16,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    batch_size: int = 1024,
) -> float:
    """τ such that the base classifier rejects (u > τ) at most ``rejection_rate`` of the held-out inputs.

    On clean inputs when ``noise`` is None, else on ``samples_per_input`` noisy copies of each held-out input.
    The held-out inputs must not be the ones to be certified: τ then depends on none of their noise samples,
    so certificates computed with it stay valid.
    """
    u = uncertainty_samples(model, x_heldout, measure, num_classes, members, noise, samples_per_input, seed,
                            indices, batch_size)
    return threshold_for_rate(u, rejection_rate)


def rejection_rate(u: np.ndarray, tau: float) -> float:
    """Fraction of ``u`` above τ."""
    u = np.asarray(u, dtype=np.float64)
    return float((u > tau).mean()) if u.size else math.nan


