"""The mixed classifier of adaptive smoothing (methods.md §5):

    M(x) = log((1 − α) · softmax(s_g z_g(x)) + α · softmax(s_h z_h(x))),

g the accurate standard model, h the robust one, s_g and s_h fixed temperatures, α a constant or α(x) from a
:class:`~smoothcert.models.mixing_net.MixingNetwork`. The output is a log-probability vector, so the module
can stand wherever a logits model does (attacks, ``Smooth``, accuracy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.losses import AttackLoss
from ..errors import InvalidArgumentError
from .mixing_net import MixingNetwork

#: α is kept this far from 0 and 1 inside the logarithms, so gradients stay finite; the endpoints themselves
#: are handled exactly (M equals the corresponding base model).
_ALPHA_GUARD = 1e-7


def mix_log_probs(log_pg: torch.Tensor, log_ph: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """log((1 − α) e^{log_pg} + α e^{log_ph}) computed stably; log_pg, log_ph [N, C], α scalar or [N].

    Exactly log_pg where α = 0 and log_ph where α = 1.
    """
    a = torch.as_tensor(alpha, dtype=log_pg.dtype, device=log_pg.device)
    if a.dim() == 1:
        a = a[:, None]
    safe = a.clamp(_ALPHA_GUARD, 1 - _ALPHA_GUARD)
    mixed = torch.logaddexp(torch.log1p(-safe) + log_pg, torch.log(safe) + log_ph)
    return torch.where(a <= 0, log_pg, torch.where(a >= 1, log_ph, mixed))


@dataclass
class MixOutput:
    """log_probs [N, C]; gamma: γ'(x) [N] (None for a fixed α); alpha: α used, [N]."""

    log_probs: torch.Tensor
    gamma: torch.Tensor | None
    alpha: torch.Tensor


class MixedClassifier(nn.Module):
    """Mixture of a standard model g and a robust model h with fixed α or α(x).

    Args:
        standard, robust: base networks (inputs in [0, 1] → logits [N, C]); frozen (no gradients to their
            parameters) and always kept in eval mode. A robust model that returns log-probabilities (e.g.
            :class:`~smoothcert.attacks.SoftSmoothed`) enters with s_h = 1 as its probabilities.
        alpha: fixed α ∈ [0, 1]; ignored when ``mixing`` is given.
        mixing: a :class:`MixingNetwork` built around these two models, giving α(x).
        s_g, s_h: temperatures applied to the logits before the softmax (> 0).
    Forward: x [N, ...] → log-probabilities [N, C]; :meth:`forward_with_gamma` also returns γ'(x) and α(x).
    """

    def __init__(
        self,
        standard: nn.Module,
        robust: nn.Module,
        alpha: float | None = None,
        mixing: MixingNetwork | None = None,
        s_g: float = 1.0,
        s_h: float = 1.0,
    ) -> None:
        super().__init__()
        if mixing is None and alpha is None:
            raise InvalidArgumentError("give a fixed alpha or a mixing network")
        for name, s in (("s_g", s_g), ("s_h", s_h)):
            if not (math.isfinite(s) and s > 0):
                raise InvalidArgumentError(f"{name} must be a finite number > 0, got {s!r}")
        self.standard = standard.eval().requires_grad_(False)
        self.robust = robust.eval().requires_grad_(False)
        self.mixing = mixing
        self.alpha = 0.0
        if alpha is not None:
            self.set_alpha(alpha)
        self.s_g, self.s_h = float(s_g), float(s_h)

    def set_alpha(self, alpha: float) -> None:
        """Fix α ∈ [0, 1] (used when there is no mixing network)."""
        if not (isinstance(alpha, int | float) and 0.0 <= float(alpha) <= 1.0):
            raise InvalidArgumentError(f"alpha must be in [0, 1], got {alpha!r}")
        self.alpha = float(alpha)

    def train(self, mode: bool = True) -> MixedClassifier:
        """Only the mixing network changes mode; the base models stay in eval mode."""
        self.training = mode
        if self.mixing is not None:
            self.mixing.train(mode)
        self.standard.eval()
        self.robust.eval()
        return self

    def forward_with_gamma(self, x: torch.Tensor) -> MixOutput:
        n = x.shape[0]
        if self.mixing is None:
            # The single-model ends need one network only.
            if self.alpha == 0.0:
                return MixOutput(F.log_softmax(self.s_g * self.standard(x), dim=1), None, x.new_zeros(n))
            if self.alpha == 1.0:
                return MixOutput(F.log_softmax(self.s_h * self.robust(x), dim=1), None, x.new_ones(n))
            alpha = x.new_full((n,), self.alpha)
            return MixOutput(self._mix(x, alpha), None, alpha)
        self.mixing.capture(True)
        try:
            log_pg = F.log_softmax(self.s_g * self.standard(x), dim=1)
            log_ph = F.log_softmax(self.s_h * self.robust(x), dim=1)
            gamma, alpha = self.mixing.from_features()
        finally:
            self.mixing.capture(False)
        return MixOutput(mix_log_probs(log_pg, log_ph, alpha), gamma, alpha)

    def _mix(self, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        log_pg = F.log_softmax(self.s_g * self.standard(x), dim=1)
        log_ph = F.log_softmax(self.s_h * self.robust(x), dim=1)
        return mix_log_probs(log_pg, log_ph, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_gamma(x).log_probs


def composite_attack_loss(weight: float | torch.Tensor = 0.5) -> AttackLoss:
    """Attack objective on the whole composite: (1 − w)·CE(M(x), y) + w·BCE(γ'(x), 1), per input.

    Raising BCE(γ', 1) = softplus(−γ') drives α(x) down, towards the non-robust model: the attack targets the
    mixing network as well as the classification. For a fixed-α model (no γ) it is the plain CE.
    ``weight`` is one number or one per input [N].
    """

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model.forward_with_gamma(x) if hasattr(model, "forward_with_gamma") else None
        z = out.log_probs if out is not None else model(x)
        ce = F.cross_entropy(z, y, reduction="none")
        if out is None or out.gamma is None:
            return ce, z
        w = torch.as_tensor(weight, dtype=ce.dtype, device=ce.device)
        bce = F.binary_cross_entropy_with_logits(out.gamma, torch.ones_like(out.gamma), reduction="none")
        return (1 - w) * ce + w * bce, z

    return loss
