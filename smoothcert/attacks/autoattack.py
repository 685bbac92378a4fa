"""AutoAttack's ensemble (Croce & Hein, ICML 2020), built from smoothcert's APGD and Square Attack.

The standard version runs, each on the inputs the earlier ones left correctly classified, and keeps the first
adversarial example found per input (the worst case over the ensemble):

1. APGD-CE, 100 iterations;
2. APGD-T: APGD with the targeted DLR loss, 100 iterations towards each of the 9 classes ranked highest after
   the true one at the clean input;
3. Square Attack, 5,000 queries, p_init = 0.8 (ℓ∞; for ℓ2 its ℓ2 version).

AutoAttack's fourth member, FAB-T, is left out: Croce & Hein report it adds almost nothing after APGD-T, and
the reported text of every result names the members that ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .apgd import apgd
from .norms import check_norm, per_sample_eps
from .pgd import check_batch
from .square import square_attack


@dataclass(frozen=True)
class AutoAttackConfig:
    """Budgets of the ensemble. The defaults are AutoAttack's standard version; smaller values make a cheaper,
    weaker check and must be reported as such (:meth:`describe` names them)."""

    apgd_iter: int = 100
    apgd_restarts: int = 1
    target_classes: int = 9
    square_queries: int = 5000
    square_p_init: float = 0.8

    def __post_init__(self) -> None:
        bad = [f"{k} = {v}" for k, v in (("apgd_iter", self.apgd_iter), ("apgd_restarts", self.apgd_restarts),
                                           ("square_queries", self.square_queries)) if v < 1]
        bad += [f"target_classes = {self.target_classes}"] if self.target_classes < 0 else []
        if bad:
            raise InvalidArgumentError(f"AutoAttack budgets must be >= 1 (target classes >= 0), got {', '.join(bad)}")
        if not 0 < self.square_p_init <= 1:
            raise InvalidArgumentError(f"square_p_init must be in (0, 1], got {self.square_p_init}")

    def describe(self, norm: str = "linf") -> str:
        """The members that run for ``norm`` with their budgets, e.g. for a result's ``attack`` column."""
        parts = [f"APGD-CE ({self.apgd_iter} it × {self.apgd_restarts})"]
        if self.target_classes:
            parts.append(f"APGD-T ({self.target_classes} targets × {self.apgd_iter} it)")
        check_norm(norm)
        parts.append(f"Square ({self.square_queries} queries, p_init {self.square_p_init:g})")
        return " + ".join(parts)


def autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    norm: str = "linf",
    num_classes: int | None = None,
    config: AutoAttackConfig | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Adversarial inputs [N, ...] (detached) from the ensemble at radius ``eps`` (float or [N]) in ``norm``.

    ``model`` maps inputs in [0, 1] to logits (log-probabilities work too); ``num_classes`` caps the target
    classes of APGD-T (default: the model's output width). Deterministic for a given ``seed``.
    """
    norm = check_norm(norm)
    check_batch(x, y)
    config = config or AutoAttackConfig()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    x = x.detach()
    e = per_sample_eps(eps, x)
    with torch.no_grad():
        logits = model(x)
    # The targeted DLR loss needs 4 classes or more.
    targets = min(config.target_classes, (num_classes or logits.shape[1]) - 1) if logits.shape[1] >= 4 else 0
    # Target ranks 2, 3, …: the classes the clean input scores highest after the true one.
    ranked = logits.scatter(1, y[:, None], float("-inf")).argsort(dim=1, descending=True)
    adv = x.clone()
    robust = logits.argmax(dim=1) == y

    def attack_remaining(run) -> None:
        idx = robust.nonzero().squeeze(1)
        if idx.numel() == 0:
            return
        candidate = run(idx)
        with torch.no_grad():
            broken = model(candidate).argmax(dim=1) != y[idx]
        adv[idx[broken]] = candidate[broken]
        robust[idx[broken]] = False

    attack_remaining(lambda i: apgd(model, x[i], y[i], e[i], norm=norm, steps=config.apgd_iter,
                                    restarts=config.apgd_restarts, loss="ce", generator=generator))
    for rank in range(targets):
        attack_remaining(lambda i, r=rank: apgd(model, x[i], y[i], e[i], norm=norm, steps=config.apgd_iter,
                                                restarts=config.apgd_restarts, loss="dlr", targets=ranked[i, r],
                                                generator=generator))
    if x.dim() == 4 and min(x.shape[2:]) >= 5:  # Square moves windows over images
        attack_remaining(lambda i: square_attack(model, x[i], y[i], e[i], norm=norm, queries=config.square_queries,
                                                 p_init=config.square_p_init, generator=generator))
    return adv
