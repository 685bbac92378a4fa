"""Build a zoo model normalized with its training data's statistics, train it, save a checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..data import Dataset
from ..models import CheckpointInfo, build_model, save_checkpoint
from .train import TrainConfig, accuracy, train


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of x [N, C, ...] (or one pair for vector inputs [N, D])."""
    if x.dim() == 2:
        return [float(x.mean())], [float(x.std().clamp_min(1e-6))]
    dims = [0, *range(2, x.dim())]
    return x.mean(dim=dims).tolist(), x.std(dim=dims).clamp_min(1e-6).tolist()


def train_base_model(
    data: Dataset,
    architecture: str,
    config: TrainConfig,
    out: str | Path,
    *,
    arch_args: dict | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
):
    """Build a zoo model normalized with the training data's statistics, train it, save a checkpoint.

    Returns (model, CheckpointInfo, (weights_path, sidecar_path)).
    """
    config.validate()
    mean, std = channel_stats(data.x_train)
    torch.manual_seed(config.seed)  # weight initialization
    model = build_model(architecture, data.input_shape, data.num_classes, mean, std, **(arch_args or {}))
    model.to(device)
    history = train(model, data.x_train, data.y_train, config, x_test=data.x_test, y_test=data.y_test,
                    progress=progress, log=log)
    info = CheckpointInfo(
        architecture=architecture, input_shape=list(data.input_shape), num_classes=data.num_classes,
        mean=mean, std=std, arch_args=arch_args or {}, class_names=list(data.class_names), dataset=data.name,
        split_note=data.split_note, train_sigma=config.train_sigma, seed=config.seed,
        test_accuracy=accuracy(model, data.x_test, data.y_test),
        training={**config.__dict__, "history": history.epochs},
    )
    paths = save_checkpoint(model, out, info)
    return model, info, paths
