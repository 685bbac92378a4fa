"""Training the mixing network α(x) of adaptive smoothing with both base models frozen (methods.md §5).

Each batch gets an attacked copy, made by attacking the whole composite model (classifier and α(x)) with a
random per-input radius ε ∈ U(eps_low, eps_high)·ε₀, a random per-input iteration count, and a random weight
w of the composite objective (1 − w)·CE + w·BCE(γ', 1). The loss on the clean and attacked copies is

    c_bce·BCE(γ', s) + c_ce·CE(M(x), y) + c_prod·BCE·CE,   pseudo-label s = 0 for clean, 1 for attacked inputs,

so α(x) learns to prefer the standard model on clean inputs and the robust one on attacked inputs, weighted
by how much that choice matters for the classification.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ...attacks import apgd, check_norm, pgd
from ...errors import InvalidArgumentError
from ...models.mixed import MixedClassifier, composite_attack_loss
from .base import Objective

ATTACKS = ("pgd", "apgd")


@dataclass
class MixingObjective(Objective):
    """The mixing network's loss on a clean and an attacked copy of each batch.

    Attributes:
        eps: ε₀ of the threat model (input units); norm: "linf" or "l2".
        eps_low, eps_high: per-input radius ε = ε₀·U(eps_low, eps_high) (the paper: 0.4, 1.1).
        steps_low, steps_high: per-input attack iterations, uniform on {steps_low, …, steps_high}.
        attack: "pgd" (per-input iteration counts) or "apgd" (one random count per batch).
        attack_weight_max: w ~ U(0, attack_weight_max) per batch, weight of BCE(γ', 1) in the attack objective.
        c_bce, c_ce, c_prod: loss weights; clean_weight: weight of the clean half relative to the attacked one.
    Terms: ``bce``, ``ce`` (unweighted batch means), ``clean_correct``, ``adv_correct`` (fractions correct),
    ``alpha_clean``, ``alpha_adv`` (mean α(x) on each half).
    """

    eps: float = 0.3
    norm: str = "linf"
    eps_low: float = 0.4
    eps_high: float = 1.1
    steps_low: int = 1
    steps_high: int = 6
    attack: str = "pgd"
    attack_weight_max: float = 0.4
    c_bce: float = 1.0
    c_ce: float = 0.5
    c_prod: float = 0.1
    clean_weight: float = 2.0

    name = "mixing"  # not annotated: a class attribute, not a field

    def __post_init__(self) -> None:
        self.norm = check_norm(self.norm)
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise InvalidArgumentError(f"eps must be > 0, got {self.eps}")
        if not 0 <= self.eps_low <= self.eps_high:
            raise InvalidArgumentError(f"need 0 <= eps_low <= eps_high, got {self.eps_low}, {self.eps_high}")
        if not 1 <= self.steps_low <= self.steps_high:
            raise InvalidArgumentError(f"need 1 <= steps_low <= steps_high, got {self.steps_low}, {self.steps_high}")
        if self.attack not in ATTACKS:
            raise InvalidArgumentError(f"attack must be one of {ATTACKS}, got {self.attack!r}")
        if not 0 <= self.attack_weight_max <= 1:
            raise InvalidArgumentError(f"attack_weight_max must be in [0, 1], got {self.attack_weight_max}")
        if min(self.c_bce, self.c_ce, self.c_prod, self.clean_weight) < 0:
            raise InvalidArgumentError("loss weights must be >= 0")

    def combine(self, gamma: torch.Tensor, log_probs: torch.Tensor, y: torch.Tensor, s: torch.Tensor,
                weights: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted mean of c_bce·BCE(γ', s) + c_ce·CE + c_prod·BCE·CE over the batch; also its parts.

        gamma: γ' [B]; log_probs: the mixture's [B, C]; y: labels [B]; s: pseudo-labels [B]; weights [B].
        """
        bce = F.binary_cross_entropy_with_logits(gamma, s, reduction="none")
        ce = F.cross_entropy(log_probs, y, reduction="none")
        per = self.c_bce * bce + self.c_ce * ce + self.c_prod * bce * ce
        loss = (per * weights).sum() / weights.sum()
        return loss, {"bce": float(bce.detach().mean()), "ce": float(ce.detach().mean())}

    def attacked_copy(self, model: MixedClassifier, x: torch.Tensor, y: torch.Tensor,
                      generator: torch.Generator) -> torch.Tensor:
        """The randomized attack on the composite model that makes the attacked copies; x [B, ...] → [B, ...]."""
        n, dev = x.shape[0], x.device
        eps = self.eps * (self.eps_low + (self.eps_high - self.eps_low) * torch.rand(n, generator=generator,
                                                                                     device=dev))
        weight = self.attack_weight_max * float(torch.rand(1, generator=generator, device=dev))
        objective = composite_attack_loss(weight)
        if self.attack == "pgd":
            steps = torch.randint(self.steps_low, self.steps_high + 1, (n,), generator=generator, device=dev)
            return pgd(model, x, y, eps, norm=self.norm, steps=steps, loss=objective, keep="last", generator=generator)
        steps = int(torch.randint(self.steps_low, self.steps_high + 1, (1,), generator=generator, device=dev))
        return apgd(model, x, y, eps, norm=self.norm, steps=steps, loss=objective, keep="last", generator=generator)

    def loss(self, model: MixedClassifier, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        n = x.shape[0]
        model.eval()  # attacks see the model as it is evaluated
        adv = self.attacked_copy(model, x, y, generator)
        model.train()
        out = model.forward_with_gamma(torch.cat([x, adv]))
        s = torch.cat([torch.zeros(n, device=x.device), torch.ones(n, device=x.device)])
        weights = torch.cat([torch.full((n,), self.clean_weight, device=x.device), torch.ones(n, device=x.device)])
        loss, terms = self.combine(out.gamma, out.log_probs, torch.cat([y, y]), s, weights)
        correct, alpha = (out.log_probs.detach().argmax(1) == torch.cat([y, y])).float(), out.alpha.detach()
        terms.update(clean_correct=float(correct[:n].mean()), adv_correct=float(correct[n:].mean()),
                     alpha_clean=float(alpha[:n].mean()), alpha_adv=float(alpha[n:].mean()))
        return loss, terms

    def to_dict(self) -> dict:
        return {"type": self.name, **asdict(self)}
