"""Adversarial training (Madry et al. 2018) of the robust base model h: PGD-ℓ∞ or PGD-ℓ2 examples, CE loss.

Seeded (shuffling and attack starts come from their own generators), logged per epoch and resumable from a
per-epoch training state. The trained model is saved as an ordinary smoothcert checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..attacks import check_norm, pgd
from ..data import Dataset
from ..errors import InputError, InvalidArgumentError
from ..models import CheckpointInfo, build_model, save_checkpoint
from ..training import TrainLog, accuracy, channel_stats
from .state import load_state, read_meta, save_state


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
        self.norm = check_norm(self.norm)
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise InvalidArgumentError(f"eps must be > 0, got {self.eps}")
        for name in ("steps", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eps_warmup < 0 or not (math.isfinite(self.lr) and self.lr > 0) or self.weight_decay < 0:
            raise InvalidArgumentError(f"need eps_warmup >= 0, lr > 0, weight_decay >= 0; got {self.eps_warmup}, "
                                       f"{self.lr}, {self.weight_decay}")
        return self

    def eps_at(self, epoch: int) -> float:
        """ε used in epoch ``epoch`` (1-based)."""
        if self.eps_warmup == 0 or epoch > self.eps_warmup:
            return self.eps
        return self.eps * epoch / self.eps_warmup


def cosine_lr(base: float, epoch: int, epochs: int) -> float:
    """Learning rate of epoch ``epoch`` (1-based): a half cosine from ``base`` towards 0."""
    return base * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))


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
        progress: a bar over batches; log: receives one line per epoch.
    """
    cfg = config.validate()
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise InputError(f"x_train and y_train must be non-empty and of equal length, got {len(x_train)}, "
                         f"{len(y_train)}")
    device = next(model.parameters()).device
    x_train, y_train = x_train.to(device), y_train.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gens = {"shuffle": torch.Generator().manual_seed(cfg.seed + 1),
            "attack": torch.Generator(device=device).manual_seed(cfg.seed + 2)}
    history, first = TrainLog(), 1
    meta = read_meta(state) if state is not None else None
    if meta is not None:
        if meta.get("config") != asdict(cfg):
            raise InvalidArgumentError(f"cannot resume {state}: it was trained with {meta.get('config')}")
        load_state(state, model, opt, gens)
        history.epochs, first = meta["log"], meta["epoch"] + 1
    for epoch in range(first, cfg.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(cfg.lr, epoch, cfg.epochs)
        eps = cfg.eps_at(epoch)
        started = time.perf_counter()
        order = torch.randperm(len(x_train), generator=gens["shuffle"]).to(device)
        total, correct = 0.0, 0
        bar = tqdm(range(0, len(order), cfg.batch_size), desc=f"adversarial training {epoch}/{cfg.epochs}",
                   unit="batch", disable=not progress, leave=False, mininterval=0.5)
        for start in bar:
            idx = order[start : start + cfg.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            model.eval()  # attack the model as it will be used
            adv = pgd(model, xb, yb, eps, norm=cfg.norm, steps=cfg.steps, keep="last", generator=gens["attack"])
            model.train()
            logits = model(adv)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            bar.set_postfix(loss=f"{total / (start + len(idx)):.3f}")
        bar.close()
        record = {"epoch": epoch, "eps": eps, "loss": total / len(order), "adv_train_accuracy": correct / len(order),
                  "seconds": time.perf_counter() - started}
        if x_test is not None and y_test is not None:
            record["test_accuracy"] = accuracy(model, x_test, y_test)
        history.epochs.append(record)
        if log is not None:
            log("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if state is not None:
            save_state(state, model, opt, gens, {"epoch": epoch, "config": asdict(cfg), "log": history.epochs})
    model.eval()
    return history


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
    mean, std = channel_stats(data.x_train)
    torch.manual_seed(cfg.seed)
    model = build_model(architecture, data.input_shape, data.num_classes, mean, std, **(arch_args or {})).to(device)
    out = Path(out)
    history = adversarial_train(model, data.x_train, data.y_train, cfg, x_test=data.x_test, y_test=data.y_test,
                                state=out.with_name(out.name + ".state"), progress=progress, log=log)
    info = CheckpointInfo(
        architecture=architecture, input_shape=list(data.input_shape), num_classes=data.num_classes, mean=mean,
        std=std, arch_args=arch_args or {}, class_names=list(data.class_names), dataset=data.name,
        split_note=data.split_note, train_sigma=0.0, seed=cfg.seed,
        test_accuracy=accuracy(model, data.x_test, data.y_test),
        training={"adversarial": asdict(cfg), "history": history.epochs},
    )
    save_checkpoint(model, out, info)
    return model, info
