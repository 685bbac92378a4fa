"""smoothcert: certified robustness of PyTorch classifiers by randomized smoothing."""

from .errors import (
    CheckpointError,
    DataError,
    InputError,
    InvalidArgumentError,
    ResultsError,
    SmoothcertError,
)
from .noise import GaussianNoise, Noise
from .smooth import ABSTAIN, Certificate, Prediction, Smooth

__version__ = "0.1.0"

__all__ = [
    "ABSTAIN",
    "Certificate",
    "CheckpointError",
    "DataError",
    "GaussianNoise",
    "InputError",
    "InvalidArgumentError",
    "Noise",
    "Prediction",
    "ResultsError",
    "Smooth",
    "SmoothcertError",
    "__version__",
]
