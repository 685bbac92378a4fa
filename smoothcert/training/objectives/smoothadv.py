"""SmoothAdv (Salman et al. 2019, https://arxiv.org/abs/1906.04584): adversarial training of the smoothed
classifier. For each input, m noise samples δ_i are drawn once; an ℓ2 PGD attack on the soft smoothed
classifier with those samples finds

    x' = argmax_{‖x' − x‖₂ ≤ ε} −log( (1/m) Σ_i softmax(f(x' + δ_i))_y ),

and the loss is the mean cross-entropy of the noisy attacked copies, with the same δ_i:

    L = (1/m) Σ_i CE(f(x' + δ_i), y).

The attack takes ``steps`` normalized-gradient steps of size 2ε/steps from x, each projected back onto the
ε-ball (no random start), on the model in evaluation mode; inputs are not clipped to a range. ε grows linearly
over the first ``warmup`` epochs (ε·epoch/warmup), as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...attacks.norms import ascent_direction, project_ball
from ...noise import Noise
from ...validate import check_count, check_int, check_positive
from .base import Objective
from .noisy import check_copies, check_noise


def smooth_pgd_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, eps: float,
                  steps: int) -> torch.Tensor:
    """ℓ2 PGD on the soft smoothed classifier; x [B, ...], noise [m, B, ...] (fixed samples) → x' [B, ...]."""
    m = noise.shape[0]
    step = 2 * eps / steps
    adv = x.detach().clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        logits = model((adv.unsqueeze(0) + noise).flatten(0, 1)).view(m, len(x), -1)
        soft = F.softmax(logits, 2).mean(0)
        loss = F.nll_loss(soft.clamp_min(1e-10).log(), y)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = project_ball(adv + step * ascent_direction(grad, "l2"), x, eps, "l2")
    return adv.detach()


@dataclass
class SmoothAdvObjective(Objective):
    """Mean CE of the m noisy copies of an ℓ2 PGD example against the soft smoothed classifier.

    Attributes:
        noise: the training noise (a :class:`~smoothcert.noise.Noise`).
        eps: ε, the ℓ2 attack radius in input units (the benchmarks: 1.0 = 256/256 at σ ≤ 0.5, 2.0 at σ = 1).
        steps: PGD steps (``num_steps``; the benchmarks: 10 on CIFAR, 1–10 elsewhere).
        m: noise samples per input (``num_noise_vec``; the benchmarks: 4, 8, 2 at σ = 0.25, 0.5, 1).
        warmup: epochs over which ε grows linearly from ε/warmup to ε (the paper: 10); 0: full ε at once.
    Terms: ``train_accuracy`` (of the noisy attacked copies); per epoch: ``eps``.
    """

    noise: Noise
    eps: float = 1.0
    steps: int = 10
    m: int = 4
    warmup: int = 10

    name = "smoothadv"  # not annotated: a class attribute, not a field

    def __post_init__(self) -> None:
        self.noise = check_noise(self.noise, self.name)
        self.eps = check_positive("eps", self.eps)
        self.steps = check_count("steps", self.steps)
        self.m = check_copies("m (num_noise_vec)", self.m)
        self.warmup = check_int("warmup", self.warmup, minimum=0)

    def eps_at(self, epoch: int) -> float:
        """ε used in epoch ``epoch`` (1-based)."""
        if self.warmup == 0 or epoch > self.warmup:
            return self.eps
        return self.eps * epoch / self.warmup

    def start_epoch(self, epoch: int) -> dict:
        return {"eps": self.eps_at(epoch)}

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        noise = self.noise.sample_(x.new_empty((self.m, *x.shape)), generator)  # [m, B, ...], copy by copy
        model.eval()  # attack the model as it will be used (BatchNorm statistics, no dropout)
        adv = smooth_pgd_l2(model, x, y, noise, self.eps_at(epoch), self.steps)
        model.train()
        logits = model((adv.unsqueeze(0) + noise).flatten(0, 1))
        labels = y.repeat(self.m)
        return F.cross_entropy(logits, labels), {"train_accuracy": float((logits.argmax(1) == labels).float().mean())}

    def to_dict(self) -> dict:
        return {"type": self.name, "noise": self.noise.to_dict(), "eps": self.eps, "steps": self.steps, "m": self.m,
                "warmup": self.warmup}
