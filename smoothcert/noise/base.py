"""The noise interface: a distribution owns its sampler and the radius formulas that go with it."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from ..errors import InvalidArgumentError
from ..validate import check_choice, check_int

#: How each norm is written in labels, tables and plots.
NORM_SYMBOLS = {"l1": "ℓ1", "l2": "ℓ2", "linf": "ℓ∞"}

#: Keep bounds inside (0, 1) so that no radius formula meets log 0 or Φ⁻¹(1).
INSIDE = (float(np.finfo(np.float64).tiny), float(np.nextafter(1.0, 0.0)))


class Noise(ABC):
    """An additive noise distribution ε for smoothing g(x) = argmax_c P(f(x + ε) = c).

    Attributes:
        norm: the norm its certificates are stated in ("l2", "l1", "linf"), named wherever a radius appears.
        norms: every norm the distribution certifies (the first is its default).
        dim: the input dimension d, where a radius depends on it (ℓ∞ radii); None otherwise.
    """

    norm: str = "l2"
    norms: tuple[str, ...] = ("l2",)
    dim: int | None = None

    def _set_norm(self, norm: str | None, dim: int | None, needs_dim: tuple[str, ...] = ("linf",)) -> None:
        """Check and keep the norm (one of :attr:`norms`) and the input dimension the radius needs."""
        self.norm = check_choice("norm", self.norms[0] if norm is None else norm, self.norms)
        if dim is not None:
            dim = check_int("dim", dim, minimum=1)
        if self.norm in needs_dim and dim is None:
            raise InvalidArgumentError(f"{self.norm} radii of {type(self).__name__} need the input dimension "
                                       "(dim = number of input coordinates)")
        self.dim = dim

    @property
    def norm_label(self) -> str:
        """The norm as written in plots and tables (e.g. "ℓ2"; "ℓ∞ (from ℓ2/√d)" where a radius is derived)."""
        return NORM_SYMBOLS[self.norm]

    @abstractmethod
    def sample_(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Fill ``out`` (any shape, float) with noise drawn from ``generator``, in place; return it."""

    @abstractmethod
    def certified_radius(self, p_a_lower: np.ndarray, p_b_upper: np.ndarray | None = None) -> np.ndarray:
        """Radius within which the smoothed prediction cannot change, from probability bounds.

        Args:
            p_a_lower: lower bound(s) on the top class's probability under noise.
            p_b_upper: upper bound(s) on the runner-up's probability; ``None`` means 1 − p_a_lower.
        Returns:
            radius (same shape, float64, input-space units, in :attr:`norm`); 0 where the bounds certify
            nothing; always finite.
        """

    @abstractmethod
    def probability_for_radius(self, radius: float) -> float:
        """The smallest p such that p̲_A > p certifies ``radius`` (with p̄_B = 1 − p̲_A): the inverse of
        :meth:`certified_radius`, used by procedures that decide a preset radius."""

    @abstractmethod
    def to_dict(self) -> dict:
        """JSON-able description for manifests: ``type``, its parameters and ``norm``."""

    @property
    def scale(self) -> float:
        """The distribution's scale parameter, for labels and progress bars (σ for Gaussian noise)."""
        return float("nan")
