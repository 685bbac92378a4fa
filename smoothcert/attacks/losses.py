"""Per-sample attack objectives (to be maximized). An objective maps (model, x, y) to (losses [N], outputs [N, C]).

Objectives receive the model rather than its logits so that a composite model can add terms of its own (the
mixing network's BCE, see :func:`smoothcert.models.mixed.composite_attack_loss`); they return the model's
outputs as well, so an attack can tell which inputs are already misclassified without a second forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgumentError

#: (model, x [N, ...], y [N]) → (per-sample loss [N], outputs [N, C]); attacks ascend the loss.
AttackLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def ce_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the model's logits (log-probabilities work too) [N], and the logits."""
    z = model(x)
    return F.cross_entropy(z, y, reduction="none"), z


def margin(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y − max_{i≠y} z_i [N]; negative exactly where the input is misclassified (ties count as robust)."""
    z_y = z.gather(1, y[:, None]).squeeze(1)
    return z_y - z.scatter(1, y[:, None], float("-inf")).amax(dim=1)


def dlr_from_logits(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference-of-logits ratio (Croce & Hein 2020): −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3); needs C ≥ 3.

    Invariant to shifting and scaling the logits, so it also suits log-probability outputs.
    """
    if z.shape[1] < 3:
        raise InvalidArgumentError(f"the DLR loss needs at least 3 classes, the model has {z.shape[1]}")
    top = z.sort(dim=1, descending=True).values
    return -margin(z, y) / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DLR loss of the model's outputs [N], and the outputs."""
    z = model(x)
    return dlr_from_logits(z, y), z


def targeted_dlr_from_logits(z: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Targeted DLR (Croce & Hein 2020, APGD-T): −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2) [N] for target classes
    t [N]; needs C ≥ 4. Ascending it pushes the target class above the true one."""
    if z.shape[1] < 4:
        raise InvalidArgumentError(f"the targeted DLR loss needs at least 4 classes, the model has {z.shape[1]}")
    top = z.sort(dim=1, descending=True).values
    z_y = z.gather(1, y[:, None]).squeeze(1)
    z_t = z.gather(1, t[:, None]).squeeze(1)
    return -(z_y - z_t) / (top[:, 0] - (top[:, 2] + top[:, 3]) / 2 + 1e-12)


def targeted_dlr_loss(targets: torch.Tensor) -> AttackLoss:
    """The targeted DLR objective towards ``targets`` [N], aligned with the batch it is called on."""

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = model(x)
        return targeted_dlr_from_logits(z, y, targets), z

    return loss


LOSSES: dict[str, AttackLoss] = {"ce": ce_loss, "dlr": dlr_loss}


def resolve_loss(loss: str | AttackLoss) -> AttackLoss:
    """A loss by name ("ce", "dlr") or a callable passed through."""
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise InvalidArgumentError(f"unknown attack loss {loss!r}; choose one of {sorted(LOSSES)} or pass a callable")
    return LOSSES[loss]


def loss_and_grad(loss_fn: AttackLoss, model: nn.Module, x: torch.Tensor,
                  y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample loss [N], its gradient with respect to x, and the predicted classes [N].

    Gradients go to x only: parameters' ``.grad`` is never touched, so attacks can run inside training loops.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss, z = loss_fn(model, x, y)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad.detach(), z.detach().argmax(dim=1)
