"""Laplace noise and its ℓ1 certificates (Teng, Lee & Yuan 2020; Yang et al. 2020, Table 1).

Density ∏ exp(−|εᵢ|/λ)/(2λ). Shifting it by δ changes the log-density by at most ‖δ‖1/λ, and the worst shift of
a given ℓ1 length is along one coordinate, where the Neyman–Pearson set is a half-line: with p̲_A > ½,
R = −λ log(2(1 − p̲_A)). Formulas and derivation: docs/noises.md.
"""

from __future__ import annotations

import numpy as np
import torch

from ..validate import check_positive
from .base import INSIDE, Noise


class LaplaceNoise(Noise):
    """I.i.d. Laplace noise with scale λ per coordinate (standard deviation λ√2), ℓ1 certificates.

    Args:
        scale: λ, in input units.
    """

    norms = ("l1",)

    def __init__(self, scale: float, *, norm: str | None = None, dim: int | None = None) -> None:
        self.lam = check_positive("scale", scale)
        self._set_norm(norm, dim)

    @property
    def scale(self) -> float:
        return self.lam

    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # Inverse CDF of u − ½ ∈ [−½, ½): ε = −λ sign(v) log(1 − 2|v|); u = 0 (|v| = ½) is clamped, not ∞.
        torch.rand(out.shape, generator=generator, out=out, dtype=out.dtype, device=out.device)
        out.sub_(0.5)
        sign = torch.sign(out)
        tiny = torch.finfo(out.dtype).tiny
        return out.abs_().mul_(-2.0).add_(1.0).clamp_(min=tiny).log_().mul_(sign).mul_(-self.lam)

    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        """R = −λ log(2(1 − p̲_A)) (Teng et al. 2020); 0 for p̲_A ≤ ½.

        With a separate runner-up bound p̄_B (Teng et al. 2020, Theorem 1):
        R = max(λ/2 · log(p̲_A / p̄_B), −λ log(1 − p̲_A + p̄_B)), never below the one-class radius. The first
        term from the likelihood ratio of the shifted density lying in [e^{−R/λ}, e^{R/λ}]; the second from the
        1-D worst case, A a left and B a right tail: Q(A) = 1 − (1 − p̲_A) e^{R/λ} > p̄_B e^{R/λ} = Q(B). With
        p̄_B = 1 − p̲_A the second is the one-class radius. Always finite.
        """
        p_a = np.clip(np.asarray(p_a_lower, dtype=np.float64), *INSIDE)
        radius = -self.lam * np.log(2.0 * (1.0 - p_a))
        if p_b_upper is not None:
            p_b = np.clip(np.asarray(p_b_upper, dtype=np.float64), *INSIDE)
            spare = np.clip(1.0 - p_a + p_b, *INSIDE)
            # The one-class radius needs only p̲_A, so it stays valid whatever p̄_B is; keep the largest.
            radius = np.maximum.reduce([radius, 0.5 * self.lam * np.log(p_a / p_b), -self.lam * np.log(spare)])
        return np.maximum(np.nan_to_num(radius, nan=0.0), 0.0)

    def probability_for_radius(self, radius: float) -> float:
        """1 − e^{−r/λ}/2: certified at r ⟺ p̲_A > that."""
        return float(1.0 - 0.5 * np.exp(-radius / self.lam))

    def to_dict(self) -> dict:
        return {"type": "laplace", "scale": self.lam, "norm": self.norm}

    def __repr__(self) -> str:
        return f"LaplaceNoise(scale={self.lam})"
