"""PGD adversarial training (Madry et al. 2018): cross-entropy on PGD-ℓ∞ or PGD-ℓ2 examples of each batch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...attacks import check_norm, pgd
from ...errors import InvalidArgumentError
from .base import Objective


@dataclass
class AdversarialObjective(Objective):
    """CE(f(x'), y), x' the last iterate of a random-start PGD attack on the model in evaluation mode.

    Attributes:
        eps: radius ε (input units); norm: "linf" or "l2".
        steps: PGD iterations per batch, step 2.5ε/steps.
        eps_warmup: epochs over which ε grows linearly from ε/eps_warmup to ε (0: full ε from the start);
            small networks train more stably this way.
    Terms: ``adv_train_accuracy``, the fraction of attacked inputs classified correctly; per epoch: ``eps``.
    """

    eps: float = 0.3
    norm: str = "linf"
    steps: int = 5
    eps_warmup: int = 0

    name = "adversarial"  # not annotated: a class attribute, not a field

    def __post_init__(self) -> None:
        self.norm = check_norm(self.norm)
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise InvalidArgumentError(f"eps must be > 0, got {self.eps}")
        if self.steps < 1 or self.eps_warmup < 0:
            raise InvalidArgumentError(f"need steps >= 1 and eps_warmup >= 0, got {self.steps}, {self.eps_warmup}")

    def eps_at(self, epoch: int) -> float:
        """ε used in epoch ``epoch`` (1-based)."""
        if self.eps_warmup == 0 or epoch > self.eps_warmup:
            return self.eps
        return self.eps * epoch / self.eps_warmup

    def start_epoch(self, epoch: int) -> dict:
        return {"eps": self.eps_at(epoch)}

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        model.eval()  # attack the model as it will be used (BatchNorm statistics, no dropout)
        adv = pgd(model, x, y, self.eps_at(epoch), norm=self.norm, steps=self.steps, keep="last", generator=generator)
        model.train()
        logits = model(adv)
        return F.cross_entropy(logits, y), {"adv_train_accuracy": float((logits.argmax(1) == y).float().mean())}

    def to_dict(self) -> dict:
        return {"type": self.name, **asdict(self)}
