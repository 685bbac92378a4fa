"""What the noise-based objectives share: m noisy copies of a batch, and the check of their common settings."""

from __future__ import annotations

import torch

from ...errors import InvalidArgumentError
from ...noise import Noise
from ...validate import check_count


def check_noise(noise: object, method: str) -> Noise:
    """``noise`` if it is a :class:`~smoothcert.noise.Noise` (these objectives need one)."""
    if not isinstance(noise, Noise):
        raise InvalidArgumentError(f"{method} training needs a training noise (a Noise), got {noise!r}")
    return noise


def check_copies(name: str, m: object, minimum: int = 1) -> int:
    """A number of noise samples per input (``num_noise_vec``), at least ``minimum``."""
    m = check_count(name, m)
    if m < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {m}")
    return m


def noisy_copies(noise: Noise, x: torch.Tensor, m: int, generator: torch.Generator) -> torch.Tensor:
    """m noisy copies of x [B, ...] stacked copy by copy: [m·B, ...], rows k·B … (k+1)·B − 1 the k-th copy.

    The noise is drawn in one call into one buffer of that shape, so the draw is the same on every run with
    the same generator state.
    """
    repeated = x.repeat(m, *([1] * (x.dim() - 1)))
    return repeated + noise.sample_(torch.empty_like(repeated), generator)

