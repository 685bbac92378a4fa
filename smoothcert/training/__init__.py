"""Training: one loop (:func:`fit`) whose batch loss is a pluggable :class:`Objective` (Gaussian noise
augmentation, stability training, consistency regularization, MACER, SmoothAdv, SmoothMix, PGD adversarial
training, the mixing network of adaptive smoothing), resumable per epoch."""

from .base_model import (
    channel_stats,
    new_zoo_model,
    state_stem_for,
    train_base_model,
    train_checkpoint,
    zoo_checkpoint_info,
)
from .loop import OPTIMIZERS, SCHEDULES, FitConfig, TrainLog, cosine_lr, fit
from .objectives import (
    NOISE_OBJECTIVES,
    OBJECTIVES,
    AdversarialObjective,
    CatRsObjective,
    ConsistencyObjective,
    GaussianObjective,
    MacerObjective,
    MixingObjective,
    Objective,
    SmoothAdvObjective,
    SmoothMixObjective,
    StabilityObjective,
    make_objective,
    objective_options,
)
from .state import load_state, read_meta, save_state
from .train import TrainConfig, accuracy, accuracy_hook, top1_correct, train

__all__ = [
    "NOISE_OBJECTIVES",
    "OBJECTIVES",
    "OPTIMIZERS",
    "SCHEDULES",
    "AdversarialObjective",
    "CatRsObjective",
    "ConsistencyObjective",
    "FitConfig",
    "GaussianObjective",
    "MacerObjective",
    "MixingObjective",
    "Objective",
    "SmoothAdvObjective",
    "SmoothMixObjective",
    "StabilityObjective",
    "TrainConfig",
    "TrainLog",
    "accuracy",
    "accuracy_hook",
    "channel_stats",
    "cosine_lr",
    "fit",
    "load_state",
    "make_objective",
    "new_zoo_model",
    "objective_options",
    "read_meta",
    "save_state",
    "state_stem_for",
    "top1_correct",
    "train",
    "train_base_model",
    "train_checkpoint",
    "zoo_checkpoint_info",
]
