"""Training: one loop (:func:`fit`) whose batch loss is a pluggable :class:`Objective` (Gaussian noise
augmentation, PGD adversarial training, the mixing network of adaptive smoothing), resumable per epoch."""

from .base_model import (
    channel_stats,
    new_zoo_model,
    state_stem_for,
    train_base_model,
    train_checkpoint,
    zoo_checkpoint_info,
)
from .loop import OPTIMIZERS, SCHEDULES, FitConfig, TrainLog, cosine_lr, fit
from .objectives import OBJECTIVES, AdversarialObjective, GaussianObjective, MixingObjective, Objective
from .state import load_state, read_meta, save_state
from .train import TrainConfig, accuracy, accuracy_hook, train

__all__ = [
    "OBJECTIVES",
    "OPTIMIZERS",
    "SCHEDULES",
    "AdversarialObjective",
    "FitConfig",
    "GaussianObjective",
    "MixingObjective",
    "Objective",
    "TrainConfig",
    "TrainLog",
    "accuracy",
    "accuracy_hook",
    "channel_stats",
    "cosine_lr",
    "fit",
    "load_state",
    "new_zoo_model",
    "read_meta",
    "save_state",
    "state_stem_for",
    "train",
    "train_base_model",
    "train_checkpoint",
    "zoo_checkpoint_info",
]
