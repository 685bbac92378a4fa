"""Stability training (Li, Chen, Wang & Carin 2019, https://arxiv.org/abs/1809.03113), in the form of the
randomized-smoothing benchmarks (Jeong & Shin 2020, appendix): cross-entropy on a noisy copy plus λ times the
KL divergence from the clean prediction to the noisy one.

    L = CE(f(x + δ), y) + λ · KL(F(x) ‖ F(x + δ)),   F = softmax ∘ f,   δ ~ noise,

with gradients through both F(x) and F(x + δ).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...noise import Noise
from ...validate import check_positive
from .base import Objective
from .noisy import check_noise


def kl_rows(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) per row from log-probabilities [B, C]: Σ_c p_c (log p_c − log q_c)."""
    return (p_log.exp() * (p_log - q_log)).sum(1)


@dataclass
class StabilityObjective(Objective):
    """CE on one noisy copy + λ·KL(clean ‖ noisy), batch means.

    Attributes:
        noise: the training noise (a :class:`~smoothcert.noise.Noise`, e.g. ``GaussianNoise(0.25)``).
        lbd: λ, the weight of the stability term (the benchmarks' MNIST/CIFAR setting: 2 at σ ≤ 0.5, 1 at σ = 1).
    Terms: ``ce`` and ``kl`` (unweighted batch means), ``train_accuracy`` (on the noisy copy).
    """

    noise: Noise
    lbd: float = 2.0

    name = "stability"  # not annotated: a class attribute, not a field

    def __post_init__(self) -> None:
        self.noise = check_noise(self.noise, self.name)
        self.lbd = check_positive("lbd", self.lbd, allow_zero=True)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        noisy = x + self.noise.sample_(torch.empty_like(x), generator)
        logits = model(torch.cat([x, noisy]))  # one pass: BatchNorm sees clean and noisy inputs together
        clean, noisy_logits = logits[: len(x)], logits[len(x):]
        ce = F.cross_entropy(noisy_logits, y)
        kl = kl_rows(F.log_softmax(clean, 1), F.log_softmax(noisy_logits, 1)).mean()
        terms = {"ce": float(ce.detach()), "kl": float(kl.detach()),
                 "train_accuracy": float((noisy_logits.argmax(1) == y).float().mean())}
        return ce + self.lbd * kl, terms

    def to_dict(self) -> dict:
        return {"type": self.name, "noise": self.noise.to_dict(), "lbd": self.lbd}
