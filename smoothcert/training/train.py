"""Standard and Gaussian noise-augmented training of base classifiers: :func:`train` runs the one loop with a
:class:`~smoothcert.training.objectives.GaussianObjective`.

Training noise (``train_sigma``) is independent of the certification noise: train at α, smooth at β.
Fresh noise is drawn for every batch from a generator seeded by ``seed``, so a run is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InvalidArgumentError
from ..noise import NOISES, make_noise
from ..validate import check_choice
from .loop import OPTIMIZERS, Evaluate, FitConfig, TrainLog, fit
from .objectives import NOISE_OBJECTIVES, Objective, make_objective

__all__ = ["OPTIMIZERS", "TrainConfig", "TrainLog", "accuracy", "accuracy_hook", "train"]


@dataclass
class TrainConfig:
    """Hyper-parameters of one noise-augmented training run.

    Attributes:
        train_sigma: scale of the noise added to every training input (input units): σ of Gaussian noise,
            λ of Laplace or uniform noise; 0 = standard. A convenience for ``GaussianObjective(noise)``; any other
            :class:`~smoothcert.noise.Noise` goes through :func:`~smoothcert.training.loop.fit` with that objective.
        train_noise: the training noise's distribution, "gaussian" (default), "laplace" or "uniform".
        epochs, batch_size, lr, weight_decay: the usual.
        optimizer: "adam", "adamw", "sgd" (momentum 0.9) or "adadelta".
        lr_gamma, lr_step: multiply the learning rate by lr_gamma every lr_step epochs (PyTorch's StepLR);
            lr_gamma 1 = constant. Cohen et al.'s and Jeong & Shin's MNIST recipe: SGD, lr 0.01, weight decay
            1e-4, lr_gamma 0.1 every 30 of 90 epochs.
        seed: seeds shuffling, noise and dropout.
        method: the objective, one of :data:`~smoothcert.training.objectives.NOISE_OBJECTIVES` ("gaussian":
            noise augmentation; "stability", "consistency", "macer", "smoothadv", "smoothmix", "catrs":
            docs/training.md); all but "gaussian" need ``train_sigma`` > 0.
        method_options: the method's own settings (keyword arguments of its objective class, e.g.
            ``{"lbd": 10.0, "eta": 0.5, "m": 2}`` for consistency); its defaults otherwise.
    """

    train_sigma: float = 0.0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    lr_gamma: float = 1.0
    seed: int = 0
    train_noise: str = "gaussian"
    lr_step: int = 1
    method: str = "gaussian"
    method_options: dict = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        if not (math.isfinite(self.train_sigma) and self.train_sigma >= 0):
            raise InvalidArgumentError(f"train_sigma must be >= 0, got {self.train_sigma}")
        check_choice("train_noise", self.train_noise, NOISES)
        check_choice("objective", self.method, NOISE_OBJECTIVES)
        if self.method != "gaussian" and self.train_sigma == 0:
            raise InvalidArgumentError(f"the {self.method} objective needs training noise (train_sigma > 0)")
        self.objective()  # checks the method's options
        self.fit_config().validate()
        return self

    def fit_config(self) -> FitConfig:
        return FitConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                         optimizer=self.optimizer, schedule="step", lr_gamma=self.lr_gamma, seed=self.seed,
                         lr_step=self.lr_step)

    def objective(self) -> Objective:
        """The ``method``'s objective with ``train_noise`` noise of scale ``train_sigma`` (none at 0); for
        "gaussian", cross-entropy on the noisy inputs."""
        noise = make_noise(self.train_noise, self.train_sigma) if self.train_sigma > 0 else None
        return make_objective(self.method, noise, self.method_options)


@torch.inference_mode()
def top1_correct(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float = 0.0, seed: int = 0, batch_size: int = 1024
) -> np.ndarray:
    """[N] bool: whether ``model``'s top-1 class on x [N, *shape] is y [N]; with ``sigma`` > 0, on one noisy copy
    of each input (N(0, σ²I) noise drawn from ``seed``)."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    hits = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device)
        if sigma > 0:
            xb = xb + sigma * torch.randn(xb.shape, generator=gen, device=device)
        hits.append((model(xb).argmax(1) == y[start : start + batch_size].to(device)).cpu().numpy())
    return np.concatenate(hits) if hits else np.zeros(0, dtype=bool)


def accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float = 0.0, seed: int = 0, batch_size: int = 1024
) -> float:
    """Top-1 accuracy of ``model`` on x [N, *shape], y [N]; with ``sigma`` > 0, on one noisy copy each."""
    correct = top1_correct(model, x, y, sigma, seed, batch_size)
    return float(correct.mean()) if len(correct) else 0.0


def accuracy_hook(x: torch.Tensor | None, y: torch.Tensor | None, key: str = "test_accuracy") -> Evaluate | None:
    """An evaluation hook for :func:`~smoothcert.training.loop.fit` logging clean accuracy on (x, y) as ``key``;
    None when there are no data."""
    if x is None or y is None:
        return None
    return lambda model: {key: accuracy(model, x, y)}


def train(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: TrainConfig,
    *,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    state: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainLog:
    """Train ``model`` in place with ``config``'s objective (default: cross-entropy on optionally noisy inputs).

    Args:
        model: any classifier; trained on its current device.
        x_train: float inputs [N, *input_shape] in input space; y_train: int64 labels [N].
        config: hyper-parameters; see :class:`TrainConfig`.
        x_test, y_test: if given, clean test accuracy is logged after every epoch.
        state: path stem of a per-epoch training state: resumed from when present (same config required),
            rewritten after every epoch.
        progress: show a progress bar.
        log: receives one line per epoch (e.g. ``print``).
    Returns:
        the per-epoch log.
    """
    cfg = config.validate()
    return fit(model, cfg.objective(), x_train, y_train, cfg.fit_config(), evaluate=accuracy_hook(x_test, y_test),
               state_stem=state, resume=True, progress=progress, log=log)
