"""Isotropic Gaussian noise and its ℓ2 certificates (Cohen, Rosenfeld & Kolter 2019, Theorem 1)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm

from ..validate import check_positive
from .base import Noise


class GaussianNoise(Noise):
    """Isotropic Gaussian noise N(0, σ²I), ℓ2 certificates.

    Args:
        sigma: standard deviation per input coordinate, in input units (inputs live in [0, 1]).
    """

    norm = "l2"

    def __init__(self, sigma: float) -> None:
        self.sigma = check_positive("sigma", sigma)

    @property
    def scale(self) -> float:
        return self.sigma

    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # Draw into the caller's buffer: no allocation on the hot path.
        torch.randn(out.shape, generator=generator, out=out, dtype=out.dtype, device=out.device)
        return out.mul_(self.sigma)

    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        """R = σ/2 · (Φ⁻¹(p̲_A) − Φ⁻¹(p̄_B)); with p̄_B = 1 − p̲_A this is σ Φ⁻¹(p̲_A). Clipped at 0.

        Bounds at 1 (or 0) would give an infinite radius; :mod:`smoothcert.stats` never returns them, and a
        bound handed in from elsewhere is clipped to the nearest float inside (0, 1), which only shrinks R.
        """
        inside = (np.finfo(np.float64).tiny, np.nextafter(1.0, 0.0))
        p_a = np.clip(np.asarray(p_a_lower, dtype=np.float64), *inside)
        if p_b_upper is None:
            radius = self.sigma * norm.ppf(p_a)
        else:
            p_b = np.clip(np.asarray(p_b_upper, dtype=np.float64), *inside)
            radius = 0.5 * self.sigma * (norm.ppf(p_a) - norm.ppf(p_b))
        return np.maximum(np.nan_to_num(radius, nan=0.0), 0.0)

    def probability_for_radius(self, radius: float) -> float:
        """Φ(r/σ): certified at r ⟺ p̲_A > Φ(r/σ)."""
        return float(norm.cdf(radius / self.sigma))

    def to_dict(self) -> dict:
        return {"type": "gaussian", "sigma": self.sigma, "norm": self.norm}

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma={self.sigma})"
