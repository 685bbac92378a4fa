"""Noise augmentation (Cohen, Rosenfeld & Kolter 2019): cross-entropy on inputs with fresh additive noise.

Training noise is independent of the certification noise: train with one :class:`~smoothcert.noise.Noise`,
smooth with another. Without noise this is standard training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...noise import Noise
from .base import Objective


class GaussianObjective(Objective):
    """CE(f(x + ε), y), ε drawn from ``noise`` for every batch (none: CE(f(x), y)).

    Args:
        noise: any :class:`~smoothcert.noise.Noise` (e.g. ``GaussianNoise(0.25)``), or None for no noise.
    Terms: ``train_accuracy``, the fraction of the (noisy) batch classified correctly.
    """

    name = "gaussian"

    def __init__(self, noise: Noise | None = None) -> None:
        self.noise = noise

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        if self.noise is not None:
            x = x + self.noise.sample_(torch.empty_like(x), generator)
        logits = model(x)
        return F.cross_entropy(logits, y), {"train_accuracy": float((logits.argmax(1) == y).float().mean())}

    def to_dict(self) -> dict:
        return {"type": self.name, "noise": self.noise.to_dict() if self.noise is not None else None}
