"""MACER (Zhai et al. 2020, https://arxiv.org/abs/2001.02378): maximize the certified radius of the soft smoothed
classifier directly. With m noisy copies δ_i of each input,

    L = −log ĝ_y(x) + λ · (σ/2) · Σ_{x ∈ S} (γ − ξ(x)) / B,
    ĝ(x) = (1/m) Σ_i softmax(f(x + δ_i)),         the soft smoothed classifier (for the classification term),
    ĝ^β(x) = (1/m) Σ_i softmax(β · f(x + δ_i)),   the same at inverse temperature β (for the radius term),
    ξ(x) = Φ⁻¹(ĝ^β_y(x)) − Φ⁻¹(max_{c≠y} ĝ^β_c(x)),   σ/2 · ξ the soft certified radius,

S the inputs whose top class of ĝ^β is y and whose ξ lies in [0, γ] (γ the margin: larger radii are not pushed
further, a hinge), B the batch size. Probabilities are kept in (0, 1) before Φ⁻¹ (the paper drops inputs where
Φ⁻¹ is infinite; here they are clamped at 1e-6 from either end, which only ever leaves such an input out of S or
gives it a finite ξ). The radius uses σ of Gaussian noise, so the noise must have one (``noise.sigma``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InvalidArgumentError
from ...noise import Noise
from ...validate import check_int, check_positive
from .base import Objective
from .noisy import check_copies, check_noise, noisy_copies

#: Distance of probabilities from 0 and 1 before Φ⁻¹.
CLAMP = 1e-6


@dataclass
class MacerObjective(Objective):
    """Soft-smoothed cross-entropy + λ·(σ/2)·hinge on the soft radius.

    Attributes:
        noise: Gaussian training noise (anything with ``sigma``); σ scales the radius term.
        m: noisy copies per input (``num_noise_vec``; the paper: 16).
        lbd: λ, weight of the radius term (the paper's MNIST/CIFAR setting: 12 at σ = 0.25 and 1, 4–6 at σ = 0.5).
        gamma: γ, the hinge margin on ξ (the paper: 8).
        beta: β, the inverse temperature of the radius term's soft smoothed classifier (the paper: 16).
        deferred: train with λ = 0 for the first ``deferred`` epochs (the paper does so at σ = 1, until the first
            learning-rate drop); 0: from the start.
    Terms: ``ce`` (the classification term's batch mean), ``radius_loss`` (the hinge sum over S, divided by B,
    times σ/2), ``hinged`` (the fraction of the batch in S), ``train_accuracy`` (of ĝ); per epoch: ``lbd``.
    """

    noise: Noise
    m: int = 16
    lbd: float = 12.0
    gamma: float = 8.0
    beta: float = 16.0
    deferred: int = 0

    name = "macer"  # not annotated: a class attribute, not a field

    def __post_init__(self) -> None:
        self.noise = check_noise(self.noise, self.name)
        if not isinstance(getattr(self.noise, "sigma", None), float):
            raise InvalidArgumentError(f"macer training needs Gaussian noise (with a σ), got {self.noise.to_dict()}")
        self.m = check_copies("m (num_noise_vec)", self.m)
        self.lbd = check_positive("lbd", self.lbd, allow_zero=True)
        self.gamma = check_positive("gamma", self.gamma)
        self.beta = check_positive("beta", self.beta)
        self.deferred = check_int("deferred", self.deferred, minimum=0)

    def lbd_at(self, epoch: int) -> float:
        """λ of epoch ``epoch`` (1-based): 0 during the first ``deferred`` epochs."""
        return 0.0 if epoch <= self.deferred else self.lbd

    def start_epoch(self, epoch: int) -> dict:
        return {"lbd": self.lbd_at(epoch)}

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        b = len(x)
        logits = model(noisy_copies(self.noise, x, self.m, generator)).view(self.m, b, -1)
        soft = F.softmax(logits, 2).mean(0)  # ĝ [B, C]
        ce = F.nll_loss(soft.clamp_min(1e-10).log(), y)
        terms = {"ce": float(ce.detach()), "train_accuracy": float((soft.argmax(1) == y).float().mean())}
        lbd = self.lbd_at(epoch)
        if lbd == 0:
            return ce, {**terms, "radius_loss": 0.0, "hinged": 0.0}
        soft_beta = F.softmax(self.beta * logits, 2).mean(0).clamp(CLAMP, 1 - CLAMP)  # ĝ^β [B, C]
        top2, idx = soft_beta.topk(2, dim=1)
        xi = torch.special.ndtri(top2[:, 0]) - torch.special.ndtri(top2[:, 1])
        inside = (idx[:, 0] == y) & (xi <= self.gamma)
        radius_loss = self.noise.sigma / 2 * (self.gamma - xi[inside]).sum() / b
        terms.update(radius_loss=float(radius_loss.detach()), hinged=float(inside.float().mean()))
        return ce + lbd * radius_loss, terms

    def to_dict(self) -> dict:
        return {"type": self.name, "noise": self.noise.to_dict(), "m": self.m, "lbd": self.lbd, "gamma": self.gamma,
                "beta": self.beta, "deferred": self.deferred}
