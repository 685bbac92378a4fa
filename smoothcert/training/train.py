"""Standard and Gaussian noise-augmented training of base classifiers.

Training noise (``train_sigma``) is independent of the certification noise: train at α, smooth at β.
Fresh noise is drawn for every batch from a generator seeded by ``seed``, so a run is reproducible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import InputError, InvalidArgumentError

OPTIMIZERS = ("adam", "sgd", "adadelta")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run.

    Attributes:
        train_sigma: std of the Gaussian noise added to every training input (input units); 0 = standard.
        epochs, batch_size, lr, weight_decay: the usual.
        optimizer: "adam", "sgd" (momentum 0.9) or "adadelta".
        lr_gamma: multiply the learning rate by this after every epoch (StepLR, step 1); 1 = constant.
        seed: seeds shuffling, noise and dropout.
    """

    train_sigma: float = 0.0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    lr_gamma: float = 1.0
    seed: int = 0

    def validate(self) -> TrainConfig:
        if not (math.isfinite(self.train_sigma) and self.train_sigma >= 0):
            raise InvalidArgumentError(f"train_sigma must be >= 0, got {self.train_sigma}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InvalidArgumentError(f"lr must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise InvalidArgumentError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not (math.isfinite(self.lr_gamma) and 0 < self.lr_gamma <= 1):
            raise InvalidArgumentError(f"lr_gamma must be in (0, 1], got {self.lr_gamma}")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidArgumentError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        return self


@dataclass
class TrainLog:
    """Per-epoch records: dicts with epoch, loss, train_accuracy, test_accuracy (if evaluated), seconds."""

    epochs: list[dict] = field(default_factory=list)

    @property
    def final(self) -> dict:
        return self.epochs[-1] if self.epochs else {}


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@torch.inference_mode()
def accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float = 0.0, seed: int = 0, batch_size: int = 1024
) -> float:
    """Top-1 accuracy of ``model`` on x [N, *shape], y [N]; with ``sigma`` > 0, on one noisy copy each."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    correct = 0
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device)
        if sigma > 0:
            xb = xb + sigma * torch.randn(xb.shape, generator=gen, device=device)
        correct += int((model(xb).argmax(1) == y[start : start + batch_size].to(device)).sum())
    return correct / max(len(x), 1)


def train(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: TrainConfig,
    *,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainLog:
    """Train ``model`` in place with cross-entropy on (optionally noisy) inputs.

    Args:
        model: any classifier; trained on its current device.
        x_train: float inputs [N, *input_shape] in input space; y_train: int64 labels [N].
        config: hyper-parameters; see :class:`TrainConfig`.
        x_test, y_test: if given, clean test accuracy is logged after every epoch.
        progress: show a progress bar per epoch.
        log: receives one line per epoch (e.g. ``print``).
    Returns:
        the per-epoch log.
    """
    cfg = config.validate()
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise InputError(f"x_train and y_train must be non-empty and of equal length, got {len(x_train)}, "
                         f"{len(y_train)}")
    device = next(model.parameters()).device
    x_train, y_train = x_train.to(device), y_train.to(device)
    history = TrainLog()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)  # weights' dropout masks
        shuffle_gen = torch.Generator().manual_seed(cfg.seed + 1)
        noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 2)
        opt = _optimizer(model, cfg)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=cfg.lr_gamma)
        loss_fn = nn.CrossEntropyLoss()
        bar = tqdm(range(1, cfg.epochs + 1), desc="training", unit="epoch", disable=not progress, mininterval=0.5)
        for epoch in bar:
            model.train()
            start = time.perf_counter()
            order = torch.randperm(len(x_train), generator=shuffle_gen).to(device)
            total_loss, correct = 0.0, 0
            for first in range(0, len(order), cfg.batch_size):
                idx = order[first : first + cfg.batch_size]
                xb, yb = x_train[idx], y_train[idx]
                if cfg.train_sigma > 0:
                    xb = xb + cfg.train_sigma * torch.randn(xb.shape, generator=noise_gen, device=device)
                logits = model(xb)
                loss = loss_fn(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total_loss += loss.item() * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
            sched.step()
            record = {"epoch": epoch, "loss": total_loss / len(order), "train_accuracy": correct / len(order),
                      "seconds": time.perf_counter() - start}
            if x_test is not None and y_test is not None:
                record["test_accuracy"] = accuracy(model, x_test, y_test)
            history.epochs.append(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['train_accuracy']:.3f}")
            if log is not None:
                line = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
                if progress:
                    bar.write(line)  # keeps the progress bar intact
                else:
                    log(line)
    model.eval()
    return history
