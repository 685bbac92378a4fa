"""Uniform noise on the cube [−λ, λ]^d and its ℓ1 and ℓ∞ certificates (Yang et al. 2020, "Randomized smoothing
of all shapes and sizes", Table 1; Lee et al. 2019 for ℓ1).

The density is constant on the cube, so the noise and its shift by δ agree on their overlap and nowhere else:
the smoothed probability of a class moves by at most the mass outside the overlap, 1 − ∏(1 − |δᵢ|/(2λ)). Its
largest value over the ℓ1 ball of radius r is r/(2λ) (one coordinate), over the ℓ∞ ball 1 − (1 − r/(2λ))^d.
Formulas and derivation: docs/noises.md.
"""

from __future__ import annotations

import numpy as np
import torch

from ..validate import check_positive
from .base import INSIDE, Noise


class UniformNoise(Noise):
    """I.i.d. uniform noise on [−λ, λ] per coordinate (standard deviation λ/√3), ℓ1 or ℓ∞ certificates.

    Args:
        scale: λ, the half-width of the cube, in input units.
        norm: "l1" (default) or "linf".
        dim: the input dimension d (needed for "linf").
    """

    norms = ("l1", "linf")

    def __init__(self, scale: float, *, norm: str | None = None, dim: int | None = None) -> None:
        self.lam = check_positive("scale", scale)
        self._set_norm(norm, dim)

    @property
    def scale(self) -> float:
        return self.lam

    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        torch.rand(out.shape, generator=generator, out=out, dtype=out.dtype, device=out.device)
        return out.mul_(2.0 * self.lam).sub_(self.lam)

    def _moved(self, gap: np.ndarray) -> np.ndarray:
        """The largest radius at which the mass outside the overlap stays below ``gap`` (= (p̲_A − p̄_B)/2)."""
        gap = np.clip(gap, 0.0, 1.0)
        if self.norm == "l1":
            return 2.0 * self.lam * gap
        return 2.0 * self.lam * (1.0 - (1.0 - gap) ** (1.0 / self.dim))

    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        """ℓ1: R = 2λ(p̲_A − ½) = λ(p̲_A − p̄_B); ℓ∞: R = 2λ(1 − (3/2 − p̲_A)^{1/d}), with p̄_B
        2λ(1 − (1 − (p̲_A − p̄_B)/2)^{1/d}). 0 where p̲_A ≤ p̄_B; at most 2λ, always finite."""
        p_a = np.clip(np.asarray(p_a_lower, dtype=np.float64), *INSIDE)
        p_b = 1.0 - p_a if p_b_upper is None else np.clip(np.asarray(p_b_upper, dtype=np.float64), *INSIDE)
        return np.maximum(np.nan_to_num(self._moved((p_a - p_b) / 2.0), nan=0.0), 0.0)

    def probability_for_radius(self, radius: float) -> float:
        """ℓ1: ½ + r/(2λ); ℓ∞: 3/2 − (1 − r/(2λ))^d: certified at r ⟺ p̲_A > that (≥ 1: never)."""
        kept = max(0.0, 1.0 - radius / (2.0 * self.lam))
        moved = 1.0 - kept if self.norm == "l1" else 1.0 - kept ** self.dim
        return float(0.5 + moved)

    def to_dict(self) -> dict:
        info = {"type": "uniform", "scale": self.lam, "norm": self.norm}
        if self.dim is not None:
            info["dim"] = self.dim
        return info

    def __repr__(self) -> str:
        extra = f", norm='linf', dim={self.dim}" if self.norm == "linf" else ""
        return f"UniformNoise(scale={self.lam}{extra})"
