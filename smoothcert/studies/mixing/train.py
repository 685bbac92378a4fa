"""Training for adaptive smoothing: the robust base model and the mixing network, both thin over the one loop.

- :func:`adversarial_train` / :func:`train_robust_model`: PGD adversarial training (Madry et al. 2018) of the
  robust base model h, PGD-ℓ∞ or PGD-ℓ2 examples, CE loss: :func:`~smoothcert.training.fit` with an
  :class:`~smoothcert.training.objectives.AdversarialObjective`. The trained model is an ordinary smoothcert
  checkpoint.
- :func:`build_mixed` / :func:`train_mixing`: the mixing network α(x) with both base models frozen (methods.md §5):
  :func:`~smoothcert.training.fit` with a :class:`~smoothcert.training.objectives.MixingObjective` (attacked
  copies of the composite model, loss c_bce·BCE(γ', s) + c_ce·CE + c_prod·BCE·CE; see that module), optimizing
  the mixing network only.

Both are seeded, logged per epoch and resumable from a per-epoch training state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ...attacks import pgd
from ...data import Dataset
from ...errors import InvalidArgumentError
from ...models import CheckpointInfo, MixedClassifier, MixingNetwork, composite_attack_loss, save_checkpoint
from ...training import (
    AdversarialObjective,
    FitConfig,
    MixingObjective,
    TrainLog,
    fit,
    new_zoo_model,
    state_stem_for,
    train,
    zoo_checkpoint_info,
)
from ...validate import check_count

__all__ = ["AdversarialConfig", "MixingConfig", "adversarial_train", "build_mixed", "mixing_validation",
           "train_mixing", "train_robust_model"]


# --- the robust base model ----------------------------------------------------------------------------------

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
    # The same run as any objective's: training.train takes any config with validate/objective/fit_config.
    return train(model, x_train, y_train, config, x_test=x_test, y_test=y_test, state=state, progress=progress,
                 log=log)


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


# --- the mixing network ---------------------------------------------------------------------------------------

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
        check_count("width", self.width)
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
        x_val, y_val: if given, each epoch logs :func:`mixing_validation` on them — whether α(x) separates clean
            from attacked inputs.
        state: path stem of the per-epoch training state: resumed from when present (same config required),
            rewritten after every epoch.
        progress: a progress bar; log: receives one line per epoch.
    """
    cfg = config.validate()
    if model.mixing is None:
        raise InvalidArgumentError("the model has no mixing network to train")
    evaluate = None if x_val is None or y_val is None else (lambda m: mixing_validation(m, x_val, y_val, cfg))
    return fit(model, cfg.objective(), x_train, y_train, cfg.fit_config(), trainable=model.mixing,
               evaluate=evaluate, state_stem=state, resume=True, settings=asdict(cfg), progress=progress, log=log)


def mixing_validation(model: MixedClassifier, x: torch.Tensor, y: torch.Tensor, cfg: MixingConfig) -> dict:
    """Clean accuracy and mean α (evaluation mode, current α range) on x; accuracy and mean α on PGD copies at
    ε₀ (10 steps, the objective BCE(γ′, 1) at weight 0, i.e. CE)."""
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(cfg.seed + 3)
    adv = pgd(model, x, y, cfg.eps, norm=cfg.norm, steps=10, loss=composite_attack_loss(0.0), keep="last",
              generator=gen)
    with torch.no_grad():
        clean, attacked = model.forward_with_gamma(x), model.forward_with_gamma(adv)
    return {"val_clean_accuracy": float((clean.log_probs.argmax(1) == y).float().mean()),
            "val_pgd_accuracy": float((attacked.log_probs.argmax(1) == y).float().mean()),
            "val_alpha_clean": float(clean.alpha.mean()), "val_alpha_pgd": float(attacked.alpha.mean())}
