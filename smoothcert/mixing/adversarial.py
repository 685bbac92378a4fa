"""Adversarial training (Madry et al. 2018) of the robust base model h: PGD-ℓ∞ or PGD-ℓ2 examples, CE loss.

The one training loop with an :class:`~smoothcert.training.objectives.AdversarialObjective`: seeded, logged
per epoch and resumable from a per-epoch training state. The trained model is saved as an ordinary smoothcert
checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..data import Dataset
from ..models import CheckpointInfo, save_checkpoint
from ..training import (
    AdversarialObjective,
    FitConfig,
    TrainLog,
    accuracy_hook,
    cosine_lr,
    fit,
    new_zoo_model,
    state_stem_for,
    zoo_checkpoint_info,
)

__all__ = ["AdversarialConfig", "adversarial_train", "cosine_lr", "train_robust_model"]


@dataclass
class AdversarialConfig:
    """PGD adversarial training.

    Attributes:
        eps: radius ε (input units); norm: "linf" or "l2".
        steps: PGD iterations per batch, step 2.5ε/steps, random start.
        eps_warmup: epochs over which ε grows linearly from ε/eps_warmup to ε (0: full ε from the start);
            small networks train more stably this way.
        epochs, batch_size, lr, weight_decay: Adam training; the learning rate follows a cosine schedule.
        seed: seeds weights (via the caller), shuffling and attack starts.
    """

    eps: float = 0.3
    norm: str = "linf"
    steps: int = 5
    eps_warmup: int = 2
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0

    def validate(self) -> AdversarialConfig:
        self.norm = self.objective().norm  # the objective checks (and normalizes) its settings
        self.fit_config().validate()
        return self

    def objective(self) -> AdversarialObjective:
        return AdversarialObjective(eps=self.eps, norm=self.norm, steps=self.steps, eps_warmup=self.eps_warmup)

    def fit_config(self) -> FitConfig:
        return FitConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                         optimizer="adam", schedule="cosine", seed=self.seed)

    def eps_at(self, epoch: int) -> float:
        """ε used in epoch ``epoch`` (1-based)."""
        return self.objective().eps_at(epoch)


def adversarial_train(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: AdversarialConfig,
    *,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    state: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainLog:
    """Train ``model`` in place on PGD examples; returns the per-epoch log.

    Args:
        model: classifier (inputs in [0, 1] → logits), on its device.
        x_train [N, ...], y_train [N]: training data; x_test, y_test: if given, clean test accuracy per epoch.
        config: see :class:`AdversarialConfig`.
        state: path stem of the per-epoch training state; an existing state is resumed from (its config must
            match), and it is rewritten after every epoch.
        progress: a progress bar; log: receives one line per epoch.
    """
    cfg = config.validate()
    return fit(model, cfg.objective(), x_train, y_train, cfg.fit_config(), evaluate=accuracy_hook(x_test, y_test),
               state_stem=state, resume=True, progress=progress, log=log)


def train_robust_model(
    data: Dataset,
    architecture: str,
    config: AdversarialConfig,
    out: str | Path,
    *,
    arch_args: dict | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[nn.Module, CheckpointInfo]:
    """Adversarially train a zoo model on ``data`` and save it as the checkpoint ``out`` (+ sidecar).

    The per-epoch state ``out.state`` makes an interrupted run resumable; it is kept beside the checkpoint.
    """
    cfg = config.validate()
    model, mean, std = new_zoo_model(data, architecture, cfg.seed, arch_args, device)
    history = adversarial_train(model, data.x_train, data.y_train, cfg, x_test=data.x_test, y_test=data.y_test,
                                state=state_stem_for(out), progress=progress, log=log)
    info = zoo_checkpoint_info(data, architecture, model, mean, std, arch_args=arch_args, train_sigma=0.0,
                               seed=cfg.seed, training={"adversarial": asdict(cfg), "objective": history.objective,
                                                        "history": history.epochs})
    save_checkpoint(model, out, info)
    return model, info
