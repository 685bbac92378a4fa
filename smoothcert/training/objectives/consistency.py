"""Consistency regularization (Jeong & Shin 2020, https://arxiv.org/abs/2006.04062): m noisy copies of each
input, cross-entropy on each, the KL divergence of each copy's prediction from their mean, and the entropy of
the mean:

    L = (1/m) Σ_i CE(f(x + δ_i), y) + λ · (1/m) Σ_i KL(F̂ ‖ F(x + δ_i)) + η · H(F̂),
    F̂ = (1/m) Σ_i F(x + δ_i),   F = softmax ∘ f,   δ_i ~ noise i.i.d.,

with gradients through F̂ as well (it is not a fixed target).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...noise import Noise
from ...validate import check_positive
from .base import Objective
from .noisy import check_copies, check_noise, noisy_copies

#: Floor of probabilities inside logarithms (the mean prediction can underflow in a class).
TINY = 1e-20


@dataclass
class ConsistencyObjective(Objective):
    """Mean CE over m noisy copies + λ·(mean KL to the mean prediction) + η·(its entropy), batch means.

    Attributes:
        noise: the training noise (a :class:`~smoothcert.noise.Noise`).
        m: noisy copies per input (``num_noise_vec``; the paper: 2), at least 2.
        lbd: λ, weight of the consistency (KL) term (the paper's MNIST setting: 10, at σ = 0.25 also 20 works).
        eta: η, weight of the entropy term (the paper: 0.5).
    Terms: ``ce``, ``kl``, ``entropy`` (unweighted batch means), ``train_accuracy`` (over all copies).
    """

    noise: Noise
    m: int = 2
    lbd: float = 10.0
    eta: float = 0.5

    name = "consistency"  # not annotated: a class attribute, not a field

    def __post_init__(self) -> None:
        self.noise = check_noise(self.noise, self.name)
        self.m = check_copies("m (num_noise_vec)", self.m, minimum=2)
        self.lbd = check_positive("lbd", self.lbd, allow_zero=True)
        self.eta = check_positive("eta", self.eta, allow_zero=True)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        b = len(x)
        logits = model(noisy_copies(self.noise, x, self.m, generator))  # [m·B, C], copy by copy
        ce = F.cross_entropy(logits, y.repeat(self.m))  # = the mean over copies of each copy's batch mean
        log_p = F.log_softmax(logits, 1).view(self.m, b, -1)
        mean = log_p.exp().mean(0)  # F̂ [B, C]
        log_mean = mean.clamp_min(TINY).log()
        kl = (mean * (log_mean - log_p)).sum(2).mean()  # mean over copies and inputs of KL(F̂ ‖ F_i)
        entropy = -(mean * log_mean).sum(1).mean()
        terms = {"ce": float(ce.detach()), "kl": float(kl.detach()), "entropy": float(entropy.detach()),
                 "train_accuracy": float((logits.argmax(1) == y.repeat(self.m)).float().mean())}
        return ce + self.lbd * kl + self.eta * entropy, terms

    def to_dict(self) -> dict:
        return {"type": self.name, "noise": self.noise.to_dict(), "m": self.m, "lbd": self.lbd, "eta": self.eta}
