"""Noise distributions, one file each: a sampler and the certified radius in each norm it certifies.

To add a distribution, write one file with a :class:`Noise` subclass (``sample_``, ``certified_radius``,
``probability_for_radius``, ``to_dict``) and its test; nothing else in the engine or the certificates changes.
"""

from .base import Noise
from .gaussian import GaussianNoise

__all__ = ["GaussianNoise", "Noise"]
