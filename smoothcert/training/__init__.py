"""Training loops for base classifiers (standard and Gaussian noise augmentation)."""

from .base_model import channel_stats, train_base_model
from .train import OPTIMIZERS, TrainConfig, TrainLog, accuracy, train

__all__ = ["OPTIMIZERS", "TrainConfig", "TrainLog", "accuracy", "channel_stats", "train", "train_base_model"]
