"""Attacks on smoothed classifiers by expectation over noise (SmoothAdv, Salman et al., NeurIPS 2019).

The hard smoothed classifier g(x) = argmax_c P(f(x + ε) = c) has no useful gradient; SmoothAdv attacks the
*soft* smoothed classifier G(x) = E_ε[softmax(F(x + ε))] instead, estimating it (and its gradient) with m noise
draws per step: loss = −log((1/m) Σ_i softmax(F(x' + ε_i))_y). :class:`SoftSmoothed` is that estimate as an
``nn.Module`` (log-probabilities out), so every attack here, and the mixed classifier, can use it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .pgd import pgd


class SoftSmoothed(nn.Module):
    """log((1/m) Σ_i softmax(F(x + ε_i))) with ε_i ~ N(0, σ²I): a Monte Carlo soft smoothed classifier.

    Args:
        base: the base network F (inputs in [0, 1] → logits [N, C]).
        sigma: noise level σ (input units).
        num_noise: draws m per input and call; fresh draws every call (expectation over transformation).
        seed: seeds the module's own generator, so a run is reproducible.
        chunk: most noisy copies per forward pass of ``base``.
    Forward: x [N, ...] → log-probabilities [N, C].
    """

    def __init__(self, base: nn.Module, sigma: float, num_noise: int = 16, seed: int = 0, chunk: int = 4096) -> None:
        super().__init__()
        if not (math.isfinite(sigma) and sigma > 0) or num_noise < 1 or chunk < 1:
            raise InvalidArgumentError(f"need sigma > 0, num_noise >= 1, chunk >= 1; got {sigma}, {num_noise}, {chunk}")
        self.base = base
        self.sigma = float(sigma)
        self.num_noise = int(num_noise)
        self.chunk = int(chunk)
        self.seed = int(seed)
        self._generator: torch.Generator | None = None

    def reset(self) -> None:
        """Restart the noise stream from the seed."""
        self._generator = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._generator is None or self._generator.device != x.device:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        m = self.num_noise
        noise = torch.randn((x.shape[0] * m, *x.shape[1:]), generator=self._generator, dtype=x.dtype,
                            device=x.device)
        noisy = x.repeat_interleave(m, dim=0) + self.sigma * noise
        probs = torch.cat([self.base(part).softmax(dim=1) for part in noisy.split(self.chunk)])
        mean = probs.view(x.shape[0], m, -1).mean(dim=1)
        return mean.clamp_min(1e-12).log()


def smoothadv(
    base: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    sigma: float,
    norm: str = "l2",
    steps: int = 10,
    num_noise: int = 16,
    step_size: float | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SmoothAdv-PGD: PGD on the soft smoothed classifier of ``base`` with ``num_noise`` fresh draws per step.

    Returns adversarial inputs [N, ...]. Judge them with the smoothed classifier itself (e.g. ``Smooth.predict``),
    not with the Monte Carlo estimate the attack used.
    """
    soft = SoftSmoothed(base, sigma, num_noise, seed=seed)
    return pgd(soft, x, y, eps, norm=norm, steps=steps, step_size=step_size, keep="last", generator=generator)
