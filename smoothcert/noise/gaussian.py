"""Isotropic Gaussian noise and its ℓ2 certificates (Cohen, Rosenfeld & Kolter 2019, Theorem 1), and the ℓ∞
radius they imply (‖δ‖2 ≤ √d ‖δ‖∞, so the ℓ2 ball of radius R holds the ℓ∞ ball of radius R/√d)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import norm

from ..validate import check_positive
from .base import INSIDE, Noise


class GaussianNoise(Noise):
    """Isotropic Gaussian noise N(0, σ²I), ℓ2 certificates (ℓ∞ ones via ℓ2/√d).

    Args:
        sigma: standard deviation per input coordinate, in input units (inputs live in [0, 1]).
        norm: "l2" (default), or "linf": the ℓ2 radius divided by √d, labelled "ℓ∞ (from ℓ2/√d)".
        dim: the input dimension d (needed for "linf").
    """

    norms = ("l2", "linf")

    def __init__(self, sigma: float, *, norm: str | None = None, dim: int | None = None) -> None:
        self.sigma = check_positive("sigma", sigma)
        self._set_norm(norm, dim)

    @property
    def scale(self) -> float:
        return self.sigma

    @property
    def norm_label(self) -> str:
        return "ℓ∞ (from ℓ2/√d)" if self.norm == "linf" else "ℓ2"

    def _per_l2(self) -> float:
        """ℓ∞ radius per unit ℓ2 radius: 1/√d for "linf", 1 for "l2"."""
        return 1.0 / math.sqrt(self.dim) if self.norm == "linf" else 1.0

    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # Draw into the caller's buffer: no allocation on the hot path.
        torch.randn(out.shape, generator=generator, out=out, dtype=out.dtype, device=out.device)
        return out.mul_(self.sigma)

    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        """R = σ/2 · (Φ⁻¹(p̲_A) − Φ⁻¹(p̄_B)); with p̄_B = 1 − p̲_A this is σ Φ⁻¹(p̲_A). Clipped at 0.

        In ℓ∞ the radius is R/√d. Bounds at 1 (or 0) would give an infinite radius; :mod:`smoothcert.stats`
        never returns them, and a bound handed in from elsewhere is clipped to the nearest float inside (0, 1),
        which only shrinks R.
        """
        p_a = np.clip(np.asarray(p_a_lower, dtype=np.float64), *INSIDE)
        if p_b_upper is None:
            radius = self.sigma * norm.ppf(p_a)
        else:
            p_b = np.clip(np.asarray(p_b_upper, dtype=np.float64), *INSIDE)
            radius = 0.5 * self.sigma * (norm.ppf(p_a) - norm.ppf(p_b))
        return np.maximum(np.nan_to_num(radius, nan=0.0), 0.0) * self._per_l2()

    def probability_for_radius(self, radius: float) -> float:
        """Φ(r/σ) (Φ(r√d/σ) in ℓ∞): certified at r ⟺ p̲_A > that."""
        return float(norm.cdf(radius / self._per_l2() / self.sigma))

    def to_dict(self) -> dict:
        info = {"type": "gaussian", "sigma": self.sigma, "norm": self.norm}
        if self.norm == "linf":
            info.update(dim=self.dim, radius="l2 radius / sqrt(dim)")
        return info

    def __repr__(self) -> str:
        extra = f", norm='linf', dim={self.dim}" if self.norm == "linf" else ""
        return f"GaussianNoise(sigma={self.sigma}{extra})"
