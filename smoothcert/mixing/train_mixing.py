"""Training the mixing network α(x) with both base models frozen (methods.md §5).

The one training loop with a :class:`~smoothcert.training.objectives.MixingObjective` (attacked copies of the
composite model, loss c_bce·BCE(γ', s) + c_ce·CE + c_prod·BCE·CE; see that module), optimizing the mixing
network only. Seeded, logged per epoch, resumable per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..attacks import pgd
from ..errors import InvalidArgumentError
from ..models import MIXING_FORMAT, MixedClassifier, MixingNetwork, composite_attack_loss, load_mixing, save_mixing
from ..training import FitConfig, MixingObjective, TrainLog, fit
from ..training.objectives.mixing import ATTACKS

__all__ = ["ATTACKS", "MIXING_FORMAT", "MixingConfig", "attacked_copy", "build_mixed", "load_mixing",
           "mixing_loss", "save_mixing", "train_mixing", "validate"]


@dataclass
class MixingConfig:
    """Mixing-network training.

    Attributes:
        eps: ε₀ of the threat model (input units); norm: "linf" or "l2".
        eps_low, eps_high: per-input radius ε = ε₀·U(eps_low, eps_high) (the paper: 0.4, 1.1).
        steps_low, steps_high: per-input attack iterations, uniform on {steps_low, …, steps_high}.
        attack: "pgd" (per-input iteration counts) or "apgd" (one random count per batch).
        attack_weight_max: w ~ U(0, attack_weight_max) per batch, weight of BCE(γ', 1) in the attack objective.
        c_bce, c_ce, c_prod: loss weights; clean_weight: weight of the clean half relative to the attacked one.
        width, blocks: size of the mixing network; s_g, s_h: temperatures of the base models' logits.
        epochs, batch_size, lr, weight_decay: AdamW with a cosine schedule.
        seed: seeds the network's initialization, shuffling and attacks.
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
    width: int = 32
    blocks: int = 2
    s_g: float = 1.0
    s_h: float = 1.0
    epochs: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def validate(self) -> MixingConfig:
        self.norm = self.objective().norm  # the objective checks (and normalizes) its settings
        self.fit_config().validate()
        if self.width < 1:
            raise InvalidArgumentError(f"width must be >= 1, got {self.width}")
        return self

    def objective(self) -> MixingObjective:
        names = MixingObjective.__dataclass_fields__
        return MixingObjective(**{k: v for k, v in asdict(self).items() if k in names})

    def fit_config(self) -> FitConfig:
        return FitConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                         optimizer="adamw", schedule="cosine", seed=self.seed)


def build_mixed(standard: nn.Module, robust: nn.Module, example: torch.Tensor, config: MixingConfig,
                layers: dict | None = None) -> MixedClassifier:
    """A MixedClassifier with a freshly initialized (seeded) mixing network around the two frozen models."""
    cfg = config.validate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = MixingNetwork(standard, robust, example, width=cfg.width, blocks=cfg.blocks, **(layers or {}))
    return MixedClassifier(standard, robust, mixing=net.to(example.device), s_g=cfg.s_g, s_h=cfg.s_h)


def mixing_loss(out_gamma: torch.Tensor, log_probs: torch.Tensor, y: torch.Tensor, s: torch.Tensor,
                weights: torch.Tensor, cfg: MixingConfig) -> tuple[torch.Tensor, dict]:
    """Weighted mean of c_bce·BCE(γ', s) + c_ce·CE + c_prod·BCE·CE over the batch; also its parts."""
    return cfg.objective().combine(out_gamma, log_probs, y, s, weights)


def attacked_copy(model: MixedClassifier, x: torch.Tensor, y: torch.Tensor, cfg: MixingConfig,
                  gen: torch.Generator) -> torch.Tensor:
    """The randomized attack on the composite model that makes the training's attacked copies."""
    return cfg.objective().attacked_copy(model, x, y, gen)


def train_mixing(
    model: MixedClassifier,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: MixingConfig,
    *,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    state: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainLog:
    """Train ``model.mixing`` in place (the base models stay frozen); returns the per-epoch log.

    Args:
        model: from :func:`build_mixed`.
        x_train [N, ...], y_train [N]: training data.
        x_val, y_val: if given, each epoch logs the mixture's clean accuracy and mean α on them, and mean α on
            PGD copies at ε₀ (10 steps) — whether α(x) separates clean from attacked inputs.
        state: path stem of the per-epoch training state: resumed from when present (same config required),
            rewritten after every epoch.
    """
    cfg = config.validate()
    if model.mixing is None:
        raise InvalidArgumentError("the model has no mixing network to train")
    evaluate = None if x_val is None or y_val is None else (lambda m: validate(m, x_val, y_val, cfg))
    return fit(model, cfg.objective(), x_train, y_train, cfg.fit_config(), trainable=model.mixing,
               evaluate=evaluate, state_stem=state, resume=True, settings=asdict(cfg), progress=progress, log=log)


def validate(model: MixedClassifier, x: torch.Tensor, y: torch.Tensor, cfg: MixingConfig) -> dict:
    """Clean accuracy and mean α (evaluation mode, current α range) on x, and mean α on PGD copies at ε₀."""
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed + 3)
    adv = pgd(model, x, y, cfg.eps, norm=cfg.norm, steps=10, loss=composite_attack_loss(0.0), keep="last",
              generator=gen)
    with torch.no_grad():
        clean, attacked = model.forward_with_gamma(x), model.forward_with_gamma(adv)
    return {"val_clean_accuracy": float((clean.log_probs.argmax(1) == y).float().mean()),
            "val_pgd_accuracy": float((attacked.log_probs.argmax(1) == y).float().mean()),
            "val_alpha_clean": float(clean.alpha.mean()), "val_alpha_pgd": float(attacked.alpha.mean())}
