"""Named attack configurations and worst-case robust accuracy over several attacks.

Every robust accuracy smoothcert reports comes with the :meth:`AttackConfig.describe` text of the attacks that
produced it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .apgd import apgd
from .autoattack import AutoAttackConfig, autoattack
from .losses import AttackLoss
from .norms import check_norm
from .pgd import STEP_FACTOR, pgd

METHODS = ("pgd", "apgd-ce", "apgd-dlr", "autoattack")
_NORM_TEXT = {"linf": "ℓ∞", "l2": "ℓ2"}


@dataclass(frozen=True)
class AttackConfig:
    """One attack, fully specified except for ε.

    Attributes:
        method: "pgd" (CE loss, step 2.5ε/steps, random start), "apgd-ce", "apgd-dlr" or "autoattack" (the
            ensemble of :mod:`smoothcert.attacks.autoattack`).
        norm: "linf" or "l2".
        steps: iterations (ignored by "autoattack", which uses ``autoattack_config``).
        restarts: random starts.
        autoattack_config: budgets of that ensemble.
    """

    method: str = "pgd"
    norm: str = "linf"
    steps: int = 20
    restarts: int = 1
    autoattack_config: AutoAttackConfig = field(default_factory=AutoAttackConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidArgumentError(f"unknown attack {self.method!r}; choose one of {METHODS}")
        object.__setattr__(self, "norm", check_norm(self.norm))
        if self.steps < 1 or self.restarts < 1:
            raise InvalidArgumentError(f"steps and restarts must be >= 1, got {self.steps}, {self.restarts}")

    def describe(self, objective: str = "") -> str:
        """E.g. 'PGD-ℓ∞, 20 steps of 2.5ε/20, 1 restart, CE loss'."""
        n = _NORM_TEXT[self.norm]
        if self.method == "autoattack":
            return f"AutoAttack-{n} ({self.autoattack_config.describe(self.norm)})"
        loss = objective or ("DLR" if self.method == "apgd-dlr" else "CE")
        if self.method == "pgd":
            return (f"PGD-{n}, {self.steps} steps of {STEP_FACTOR:g}ε/{self.steps}, {self.restarts} restart(s), "
                    f"{loss} loss")
        return f"APGD-{n}, {self.steps} steps, {self.restarts} restart(s), {loss} loss"

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
            loss: AttackLoss | None = None, generator: torch.Generator | None = None, seed: int = 0) -> torch.Tensor:
        """Adversarial inputs for x [N, ...], y [N] at radius ``eps``; ``loss`` overrides the objective (e.g. the
        composite objective of a mixed model)."""
        if self.method == "pgd":
            return pgd(model, x, y, eps, norm=self.norm, steps=self.steps, restarts=self.restarts,
                       loss=loss or "ce", generator=generator)
        if self.method in ("apgd-ce", "apgd-dlr"):
            default = "dlr" if self.method == "apgd-dlr" else "ce"
            return apgd(model, x, y, eps, norm=self.norm, steps=self.steps, restarts=self.restarts,
                        loss=loss or default, generator=generator)
        return autoattack(model, x, y, eps, norm=self.norm, config=self.autoattack_config, seed=seed)


#: (model, x, y) → adversarial x; one member of an ensemble.
AttackFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """argmax of the model's outputs [N] (int64)."""
    return torch.cat([model(part).argmax(dim=1) for part in x.split(batch_size)])


def worst_case_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attacks: Sequence[AttackFn],
                       batch_size: int = 500, progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """Per input [N] (bool): correct on x and on the output of every attack (run on the inputs still correct).

    Attacks run in batches of ``batch_size``; ``progress`` gets the number of inputs finished after each batch.
    """
    correct = predictions(model, x) == y
    for start in range(0, len(x), batch_size):
        sl = slice(start, start + batch_size)
        ok = correct[sl].clone()
        for attack in attacks:
            idx = ok.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xb, yb = x[sl][idx], y[sl][idx]
            adv = attack(model, xb, yb)
            ok[idx] = predictions(model, adv) == yb
        correct[sl] = ok
        if progress is not None:
            progress(min(batch_size, len(x) - start))
    return correct
