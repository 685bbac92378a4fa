"""Training loops for base classifiers (standard and Gaussian noise augmentation)."""

from .train import OPTIMIZERS, TrainConfig, TrainLog, accuracy, train

__all__ = ["OPTIMIZERS", "TrainConfig", "TrainLog", "accuracy", "train"]
