"""The noise interface: a distribution owns its sampler and the radius formulas that go with it."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch


class Noise(ABC):
    """An additive noise distribution ε for smoothing g(x) = argmax_c P(f(x + ε) = c).

    Attributes:
        norm: the norm its certificates are stated in ("l2", "l1", "linf"), named wherever a radius appears.
    """

    norm: str = "l2"

    @abstractmethod
    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Fill ``out`` (any shape, float) with noise drawn from ``generator``, in place; return it."""

    @abstractmethod
    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        """Radius within which the smoothed prediction cannot change, from probability bounds.

        Args:
            p_a_lower: lower bound(s) on the top class's probability under noise.
            p_b_upper: upper bound(s) on the runner-up's probability; ``None`` means 1 − p_a_lower.
        Returns:
            radius (same shape, float64, input-space units, in :attr:`norm`); 0 where the bounds certify
            nothing; always finite.
        """

    @abstractmethod
    def probability_for_radius(self, radius: float) -> float:
        """The smallest p such that p̲_A > p certifies ``radius`` (with p̄_B = 1 − p̲_A): the inverse of
        :meth:`certified_radius`, used by procedures that decide a preset radius."""

    @abstractmethod
    def to_dict(self) -> dict:
        """JSON-able description for manifests: ``type``, its parameters and ``norm``."""

    @property
    def scale(self) -> float:
        """The distribution's scale parameter, for labels and progress bars (σ for Gaussian noise)."""
        return float("nan")
