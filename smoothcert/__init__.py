"""smoothcert: certified robustness of PyTorch classifiers by randomized smoothing."""

from .errors import (
    CheckpointError,
    DataError,
    InputError,
    InvalidArgumentError,
    ResultsError,
    SmoothcertError,
)
from .noise import GaussianNoise, LaplaceNoise, Noise, UniformNoise, make_noise
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
    "LaplaceNoise",
    "Noise",
    "Prediction",
    "ResultsError",
    "Smooth",
    "SmoothcertError",
    "UniformNoise",
    "__version__",
    "make_noise",
]
