"""The one training loop: seeding, optimizer and learning-rate schedule, epochs, batches, progress, evaluation,
per-epoch resumable state and the log. What is minimized on a batch is the :class:`Objective`'s business.

Randomness comes from three sources, all seeded from ``FitConfig.seed``: a CPU generator for the data order
(seed + 1), a generator on the model's device for the objective's noise and attack starts (seed + 2), and the
global torch RNG (seed; dropout masks), forked so the caller's global state is left alone. All three are saved
in the per-epoch state, so a run interrupted after epoch k and resumed repeats the uninterrupted run exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import CheckpointError, InputError, InvalidArgumentError
from ..progress import progress_bar
from .objectives import Objective
from .state import load_state, read_meta, save_state, to_json

OPTIMIZERS = ("adam", "adamw", "sgd", "adadelta")
SCHEDULES = ("step", "cosine")

#: Called after every epoch with the model; returns entries for that epoch's record (e.g. test accuracy).
Evaluate = Callable[[nn.Module], dict]


@dataclass
class FitConfig:
    """Optimization settings of one run (the objective's own settings live in the objective).

    Attributes:
        epochs, batch_size: passes over the data and inputs per step.
        lr: base learning rate; weight_decay: the optimizer's (decoupled for "adamw").
        optimizer: "adam", "adamw", "sgd" (momentum 0.9) or "adadelta".
        schedule: "step" (lr · lr_gamma^⌊(epoch − 1) / lr_step⌋: the rate is multiplied by lr_gamma every
            lr_step epochs, as PyTorch's StepLR; lr_gamma 1 = constant) or "cosine" (a half cosine from lr
            towards 0 over the epochs); the learning rate is set at the start of every epoch.
        seed: seeds data order, the objective's noise and the global RNG (dropout) during training.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    schedule: str = "step"
    lr_gamma: float = 1.0
    seed: int = 0
    lr_step: int = 1

    def validate(self) -> FitConfig:
        for name in ("epochs", "batch_size", "lr_step"):
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
        if self.schedule not in SCHEDULES:
            raise InvalidArgumentError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        return self

    def lr_at(self, epoch: int) -> float:
        """Learning rate of epoch ``epoch`` (1-based)."""
        if self.schedule == "cosine":
            return cosine_lr(self.lr, epoch, self.epochs)
        return self.lr * self.lr_gamma ** ((epoch - 1) // self.lr_step)


@dataclass
class TrainLog:
    """Per-epoch records (dicts: epoch, the objective's per-epoch settings, loss, its terms, seconds, and what the
    evaluation hook returned), and the objective's settings (``to_dict()``) that produced them."""

    epochs: list[dict] = field(default_factory=list)
    objective: dict = field(default_factory=dict)

    @property
    def final(self) -> dict:
        return self.epochs[-1] if self.epochs else {}


def cosine_lr(base: float, epoch: int, epochs: int) -> float:
    """Learning rate of epoch ``epoch`` (1-based): a half cosine from ``base`` towards 0."""
    return base * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))


def build_optimizer(params: list[nn.Parameter], cfg: FitConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def fit(
    model: nn.Module,
    objective: Objective,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    config: FitConfig,
    *,
    trainable: nn.Module | None = None,
    evaluate: Evaluate | None = None,
    state_stem: str | Path | None = None,
    resume: bool = False,
    settings: dict | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainLog:
    """Train ``model`` in place, minimizing ``objective`` on shuffled mini-batches; the model ends in eval mode.

    Args:
        model: what the objective is evaluated on, on its device (the data are moved there).
        objective: the batch loss; see :class:`~smoothcert.training.objectives.Objective`.
        x_train: inputs [N, ...] in input space; y_train: int64 labels [N].
        config: optimization settings; see :class:`FitConfig`.
        trainable: the part of ``model`` whose parameters (those requiring gradients) are optimized and whose
            state is saved (default: the model; the mixing network of a mixed classifier, say).
        evaluate: called after every epoch; its dict joins the epoch's record.
        state_stem: path stem of the per-epoch state (``stem.safetensors`` + ``stem.json``), rewritten after
            every epoch; None: no state.
        resume: continue from the state at ``state_stem`` if there is one (the config, the objective's
            settings and ``settings`` must be those it was made with); otherwise start afresh.
        settings: the caller's further settings (JSON-able) that a resume must match, e.g. a network's size.
        progress: one bar over all batches (epoch, running loss and terms, rate, ETA).
        log: receives one line per epoch.
    Returns:
        the per-epoch log (including the epochs of a resumed state).
    """
    cfg = config.validate()
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise InputError(f"x_train and y_train must be non-empty and of equal length, got {len(x_train)}, "
                         f"{len(y_train)}")
    trainable = model if trainable is None else trainable
    device = next(model.parameters()).device
    x_train, y_train = x_train.to(device), y_train.to(device)
    run_config = to_json({"fit": asdict(cfg), "objective": objective.to_dict(), "settings": settings})
    history = TrainLog(objective=objective.to_dict())
    batches = math.ceil(len(x_train) / cfg.batch_size)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)  # dropout masks
        gens = {"shuffle": torch.Generator().manual_seed(cfg.seed + 1),
                "noise": torch.Generator(device=device).manual_seed(cfg.seed + 2)}
        opt = build_optimizer([p for p in trainable.parameters() if p.requires_grad], cfg)
        first = 1
        if state_stem is not None and resume:
            first = _resume(state_stem, trainable, opt, gens, device, run_config, history)
        bar = progress_bar(total=cfg.epochs * batches, initial=(first - 1) * batches, unit="batch",
                           disable=not progress, dynamic_ncols=True)
        try:
            for epoch in range(first, cfg.epochs + 1):
                bar.set_description(f"{objective.name} epoch {epoch}/{cfg.epochs}")
                record = _epoch(model, objective, x_train, y_train, cfg, opt, gens, epoch, bar)
                if evaluate is not None:
                    record.update(evaluate(model))
                history.epochs.append(record)
                if log is not None:
                    with tqdm.external_write_mode():  # keeps the bar intact
                        log(_line(record))
                if state_stem is not None:  # after the log: an interrupted epoch leaves the previous state
                    save_state(state_stem, trainable, opt, _rng_states(gens, device),
                               {"epoch": epoch, "config": run_config, "log": history.epochs})
        finally:
            bar.close()
    model.eval()
    return history


def _epoch(model: nn.Module, objective: Objective, x: torch.Tensor, y: torch.Tensor, cfg: FitConfig,
           opt: torch.optim.Optimizer, gens: dict[str, torch.Generator], epoch: int, bar: tqdm) -> dict:
    """One pass over shuffled batches; returns the epoch's record (terms averaged per input)."""
    for group in opt.param_groups:
        group["lr"] = cfg.lr_at(epoch)
    record = {"epoch": epoch, **objective.start_epoch(epoch)}
    model.train()
    started = time.perf_counter()
    order = torch.randperm(len(x), generator=gens["shuffle"]).to(x.device)
    sums: dict[str, float] = {}
    seen = 0
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        loss, terms = objective.loss(model, x[idx], y[idx], gens["noise"], epoch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(idx)
        for key, value in {"loss": loss.item(), **terms}.items():
            sums[key] = sums.get(key, 0.0) + value * len(idx)
        bar.set_postfix({k: f"{v / seen:.3f}" for k, v in sums.items()}, refresh=False)
        bar.update(1)
    record.update({k: v / seen for k, v in sums.items()})
    record["seconds"] = time.perf_counter() - started
    return record


def _line(record: dict) -> str:
    return "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())


def _rng_states(gens: dict[str, torch.Generator], device: torch.device) -> dict[str, torch.Tensor]:
    states = {name: gen.get_state() for name, gen in gens.items()}
    states["torch"] = torch.get_rng_state()
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _resume(stem: str | Path, trainable: nn.Module, opt: torch.optim.Optimizer, gens: dict[str, torch.Generator],
            device: torch.device, run_config: object, history: TrainLog) -> int:
    """Restore a saved state into the run, if there is one; returns the first epoch still to train."""
    meta = read_meta(stem)
    if meta is None:
        return 1
    if meta.get("config") != run_config:
        raise InvalidArgumentError(f"cannot resume {stem}: it was trained with {meta.get('config')}, "
                                   f"not {run_config}")
    meta, rng = load_state(stem, trainable, opt)
    wanted = [*gens, "torch", *(["cuda"] if device.type == "cuda" else [])]
    missing = [name for name in wanted if name not in rng]
    if missing:
        raise CheckpointError(f"training state {stem} lacks the random generator states {missing}")
    for name, gen in gens.items():
        gen.set_state(rng[name])
    torch.set_rng_state(rng["torch"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)
    history.epochs = list(meta["log"])
    return int(meta["epoch"]) + 1
