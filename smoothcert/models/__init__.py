"""Architectures, checkpoints and loading of users' own models."""

from .checkpoint import (
    CheckpointInfo,
    asdict_info,
    checkpoint_paths,
    load_checkpoint,
    load_user_model,
    read_info,
    save_checkpoint,
)
from .layers import Normalize
from .zoo import ARCHITECTURES, MLP, ConvNet, LeNet, build_model

__all__ = [
    "ARCHITECTURES",
    "MLP",
    "CheckpointInfo",
    "ConvNet",
    "LeNet",
    "Normalize",
    "asdict_info",
    "build_model",
    "checkpoint_paths",
    "load_checkpoint",
    "load_user_model",
    "read_info",
    "save_checkpoint",
]
