"""Noise distributions, one file each: a sampler and the certified radius in each norm it certifies.

- :mod:`.base`: the :class:`Noise` interface and norm labels.
- :mod:`.gaussian`: N(0, σ²I), ℓ2 (Cohen et al. 2019) and ℓ∞ via ℓ2/√d.
- :mod:`.laplace`: Laplace(λ), ℓ1 (Teng et al. 2020).
- :mod:`.uniform`: uniform on [−λ, λ]^d, ℓ1 and ℓ∞ (Yang et al. 2020).

To add a distribution, write one file with a :class:`Noise` subclass (``sample_``, ``certified_radius``,
``probability_for_radius``, ``to_dict``) and its test, and name it in :data:`NOISES`; nothing else in the engine
or the certificates changes.
"""

from ..validate import check_choice
from .base import NORM_SYMBOLS, Noise
from .gaussian import GaussianNoise
from .laplace import LaplaceNoise
from .uniform import UniformNoise

#: Noise name → class; each takes its scale first, then ``norm=`` and ``dim=``.
NOISES = {"gaussian": GaussianNoise, "laplace": LaplaceNoise, "uniform": UniformNoise}


def make_noise(kind: str, scale: float, *, norm: str | None = None, dim: int | None = None) -> Noise:
    """The noise named ``kind`` ("gaussian", "laplace", "uniform") with scale σ or λ, certifying ``norm``
    (default: the distribution's first norm); ``dim`` is the input dimension, needed for ℓ∞ radii."""
    return NOISES[check_choice("noise", kind, NOISES)](scale, norm=norm, dim=dim)


def noise_from_dict(info: dict) -> Noise:
    """The noise a manifest's ``noise`` section (:meth:`Noise.to_dict`) describes."""
    kind = info.get("type")
    scale = info.get("sigma") if kind == "gaussian" else info.get("scale")
    return make_noise(str(kind), scale, norm=info.get("norm"), dim=info.get("dim"))


__all__ = ["NOISES", "NORM_SYMBOLS", "GaussianNoise", "LaplaceNoise", "Noise", "UniformNoise", "make_noise",
           "noise_from_dict"]
