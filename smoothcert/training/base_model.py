"""Build a zoo model normalized with its training data's statistics, train it, save a checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..data import Dataset
from ..errors import InvalidArgumentError
from ..models import CheckpointInfo, build_model, checkpoint_paths, save_checkpoint
from ..validate import check_output_file
from .train import TrainConfig, accuracy, train


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of x [N, C, ...] (or one pair for vector inputs [N, D])."""
    if x.dim() == 2:
        return [float(x.mean())], [float(x.std().clamp_min(1e-6))]
    dims = [0, *range(2, x.dim())]
    return x.mean(dim=dims).tolist(), x.std(dim=dims).clamp_min(1e-6).tolist()


def new_zoo_model(data: Dataset, architecture: str, seed: int, arch_args: dict | None = None,
                  device: torch.device | str = "cpu") -> tuple[nn.Module, list[float], list[float]]:
    """A freshly initialized (seeded) zoo model normalized with ``data``'s training statistics; (model, mean, std)."""
    mean, std = channel_stats(data.x_train)
    torch.manual_seed(seed)  # weight initialization
    model = build_model(architecture, data.input_shape, data.num_classes, mean, std, **(arch_args or {}))
    return model.to(device), mean, std


def state_stem_for(out: str | Path) -> Path:
    """Path stem of the per-epoch training state kept beside the checkpoint ``out``: ``<stem>.state``."""
    weights, _ = checkpoint_paths(out)
    return weights.with_name(weights.name[: -len(".safetensors")] + ".state")


def zoo_checkpoint_info(data: Dataset, architecture: str, model: nn.Module, mean: list[float], std: list[float],
                        *, arch_args: dict | None, train_sigma: float, seed: int, training: dict) -> CheckpointInfo:
    """The sidecar of a zoo model trained on ``data`` (test accuracy measured on its clean test split; the split
    itself recorded as data, so certifying on another split can be checked for training inputs)."""
    return CheckpointInfo(
        architecture=architecture, input_shape=list(data.input_shape), num_classes=data.num_classes,
        mean=mean, std=std, arch_args=arch_args or {}, class_names=list(data.class_names), dataset=data.name,
        split_note=data.split_note, train_sigma=train_sigma, seed=seed,
        test_accuracy=accuracy(model, data.x_test, data.y_test), training=training, split=data.split_record(),
    )


def train_base_model(
    data: Dataset,
    architecture: str,
    config: TrainConfig,
    out: str | Path,
    *,
    arch_args: dict | None = None,
    device: torch.device | str = "cpu",
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
):
    """Build a zoo model normalized with the training data's statistics, train it, save a checkpoint.

    With ``resume``, a per-epoch state ``out.state`` is kept beside the checkpoint and an interrupted run
    continues from it. The sidecar's ``training`` section records the config, the objective's settings
    (``objective``) and the per-epoch ``history``.
    Returns (model, CheckpointInfo, (weights_path, sidecar_path)).
    """
    config.validate()
    for path in checkpoint_paths(out):  # before training, not after it
        check_output_file(path, "checkpoint file")
    model, mean, std = new_zoo_model(data, architecture, config.seed, arch_args, device)
    history = train(model, data.x_train, data.y_train, config, x_test=data.x_test, y_test=data.y_test,
                    state=state_stem_for(out) if resume else None, progress=progress, log=log)
    info = zoo_checkpoint_info(data, architecture, model, mean, std, arch_args=arch_args,
                               train_sigma=config.train_sigma, seed=config.seed,
                               training={**asdict(config), "objective": history.objective,
                                         "history": history.epochs})
    paths = save_checkpoint(model, out, info)
    return model, info, paths


def train_checkpoint(
    data: Dataset,
    architecture: str,
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    arch_args: dict | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
):
    """``smoothcert train``: :func:`train_base_model` with its per-epoch state always kept beside ``out``, so
    an interrupted run continues with ``resume``; the state is removed once the checkpoint is written.

    Refuses (InvalidArgumentError) before training: an existing checkpoint without ``overwrite``; an
    interrupted run's state without ``resume`` or ``overwrite``; ``resume`` with ``overwrite``.
    Returns what :func:`train_base_model` returns.
    """
    from .state import state_paths

    if resume and overwrite:
        raise InvalidArgumentError("give one of --resume (continue the interrupted training) or --overwrite "
                                   "(start afresh)")
    checkpoint = [p for p in checkpoint_paths(out) if p.exists()]
    state = state_stem_for(out)
    interrupted = [p for p in state_paths(state) if p.exists()]
    if checkpoint and not overwrite:
        done = " (that training finished: nothing to resume)" if resume and not interrupted else ""
        raise InvalidArgumentError(f"{checkpoint[0]} already exists{done}; pass --overwrite to replace it")
    if interrupted and not (resume or overwrite):
        raise InvalidArgumentError(f"an interrupted training left its state in {interrupted[0]}; pass --resume to "
                                   "continue it, or --overwrite to start afresh")
    if overwrite:
        for path in interrupted:
            path.unlink()
    result = train_base_model(data, architecture, config, out, arch_args=arch_args, device=device, resume=True,
                              progress=progress, log=log)
    for path in state_paths(state):
        path.unlink(missing_ok=True)
    return result
