"""Architectures (the zoo, the mixed classifier and its mixing network), checkpoints, users' own models."""

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
from .mixed import MixedClassifier, MixOutput, composite_attack_loss, mix_log_probs
from .mixing_checkpoint import MIXING_FORMAT, load_mixing, save_mixing
from .mixing_net import MixingNetwork, default_feature_layers
from .zoo import ARCHITECTURES, MLP, ConvNet, LeNet, build_model

__all__ = [
    "ARCHITECTURES",
    "MIXING_FORMAT",
    "MLP",
    "CheckpointInfo",
    "ConvNet",
    "LeNet",
    "MixOutput",
    "MixedClassifier",
    "MixingNetwork",
    "Normalize",
    "asdict_info",
    "build_model",
    "checkpoint_paths",
    "composite_attack_loss",
    "default_feature_layers",
    "load_checkpoint",
    "load_mixing",
    "load_user_model",
    "mix_log_probs",
    "read_info",
    "save_checkpoint",
    "save_mixing",
]
