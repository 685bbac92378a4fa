"""Base classifiers whose smoothed class probabilities are known in closed form.

Used by the coverage tests: a certificate is wrong when its class is not the smoothed class g(x), or when its
radius exceeds σ Φ⁻¹(p_A(x)), the radius the true top-class probability gives (never larger than the true
robust radius, so counting these is stricter than counting truly wrong certificates).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm
from torch import nn


class LinearBinary(nn.Module):
    """f(x) = 1[w·x + b ≥ 0] as two logits; P(f(x + ε) = 1) = Φ((w·x + b) / (σ‖w‖)) for ε ~ N(0, σ²I)."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.register_buffer("w", w.flatten().float())
        self.b = float(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = x.flatten(1) @ self.w + self.b
        return torch.stack([torch.zeros_like(score), score], dim=1)

    def p_one(self, x: torch.Tensor, sigma: float) -> float:
        return float(norm.cdf((float(x.flatten() @ self.w) + self.b) / (sigma * float(self.w.norm()))))

    def true_radius(self, x: torch.Tensor) -> float:
        """Distance to the decision hyperplane: exactly where g changes."""
        return abs(float(x.flatten() @ self.w) + self.b) / float(self.w.norm())


class Buckets(nn.Module):
    """Multi-class: the class is the bucket of the first coordinate among ``thresholds`` (increasing).

    P(f(x + ε) = c) = Φ((t_c − x₁)/σ) − Φ((t_{c−1} − x₁)/σ), with t_{−1} = −∞ and t_C = +∞.
    """

    def __init__(self, thresholds: list[float]) -> None:
        super().__init__()
        self.register_buffer("t", torch.tensor(thresholds, dtype=torch.float32))

    @property
    def num_classes(self) -> int:
        return len(self.t) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bucket = torch.bucketize(x.flatten(1)[:, 0].contiguous(), self.t)
        return nn.functional.one_hot(bucket, self.num_classes).float()

    def probabilities(self, x: torch.Tensor, sigma: float) -> np.ndarray:
        edges = np.concatenate([[-np.inf], self.t.numpy().astype(np.float64), [np.inf]])
        cdf = norm.cdf((edges - float(x.flatten()[0])) / sigma)
        return np.diff(cdf)
