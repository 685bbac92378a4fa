"""smoothcert: certified robustness of PyTorch classifiers by randomized smoothing.

The public names below load on first use (PEP 562), so that ``import smoothcert`` and the command line's help
do not pay for importing PyTorch and SciPy until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (
    CheckpointError,
    DataError,
    InputError,
    InvalidArgumentError,
    ResultsError,
    SmoothcertError,
)

__version__ = "0.1.0"

#: Public name → the module that defines it.
_LAZY = {**dict.fromkeys(("GaussianNoise", "LaplaceNoise", "Noise", "UniformNoise", "make_noise"), ".noise"),
         **dict.fromkeys(("ABSTAIN", "Certificate", "Prediction", "Smooth"), ".smooth")}

if TYPE_CHECKING:
    from .noise import GaussianNoise, LaplaceNoise, Noise, UniformNoise, make_noise
    from .smooth import ABSTAIN, Certificate, Prediction, Smooth


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
