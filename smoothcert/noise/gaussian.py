"""Noise distributions: each carries its sampler and the certified-radius formula that goes with it."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from scipy.stats import norm

from .errors import InvalidArgumentError


class Noise(ABC):
    """An additive noise distribution ε for smoothing g(x) = argmax_c P(f(x + ε) = c)."""

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
            radius (same shape, float64, input-space units); 0 where the bounds certify nothing.
        """

    @abstractmethod
    def to_dict(self) -> dict:
        """JSON-able description for manifests."""


class GaussianNoise(Noise):
    """Isotropic Gaussian noise N(0, σ²I), ℓ2 certificates (Cohen, Rosenfeld & Kolter 2019, Theorem 1).

    Args:
        sigma: standard deviation per input coordinate, in input units (inputs live in [0, 1]).
    """

    def __init__(self, sigma: float) -> None:
        if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
            raise InvalidArgumentError(f"sigma must be a finite number > 0, got {sigma!r}")
        self.sigma = float(sigma)

    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # Draw into the caller's buffer: no allocation on the hot path.
        torch.randn(out.shape, generator=generator, out=out, dtype=out.dtype, device=out.device)
        return out.mul_(self.sigma)

    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        """R = σ/2 · (Φ⁻¹(p̲_A) − Φ⁻¹(p̄_B)); with p̄_B = 1 − p̲_A this is σ Φ⁻¹(p̲_A). Clipped at 0."""
        p_a = np.asarray(p_a_lower, dtype=np.float64)
        if p_b_upper is None:
            radius = self.sigma * norm.ppf(p_a)
        else:
            radius = 0.5 * self.sigma * (norm.ppf(p_a) - norm.ppf(np.asarray(p_b_upper, dtype=np.float64)))
        return np.maximum(np.nan_to_num(radius, nan=0.0, neginf=0.0), 0.0)

    def to_dict(self) -> dict:
        return {"type": "gaussian", "sigma": self.sigma}

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma={self.sigma})"
