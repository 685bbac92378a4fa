"""Projected gradient descent (Madry et al. 2018), ℓ∞ and ℓ2, on any differentiable model.

Per-sample ε, step sizes and iteration counts are allowed (the mixing-network training draws them at random).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError, InvalidArgumentError
from .losses import AttackLoss, loss_and_grad, resolve_loss
from .norms import ascent_direction, check_norm, per_sample_eps, project, random_start, view_as_batch

KEEP = ("best", "last")

#: Default step size is STEP_FACTOR · ε / steps (Madry et al. use 2.5 ε / steps).
STEP_FACTOR = 2.5


def check_batch(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape[0] != y.shape[0]:
        raise InputError(f"got {x.shape[0]} inputs but {y.shape[0]} labels")
    if not bool(torch.isfinite(x).all()):
        raise InputError("inputs contain NaN or inf")


def per_sample_steps(steps: int | torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
    """Iteration counts as an int64 tensor [N], each ≥ 0."""
    s = torch.as_tensor(steps, device=device).flatten().long()
    if s.numel() == 1:
        s = s.expand(n)
    if s.numel() != n or bool((s < 0).any()):
        raise InvalidArgumentError(f"steps must be >= 0, one value or one per input; got {steps!r}")
    return s.clone()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    norm: str = "linf",
    steps: int | torch.Tensor = 10,
    step_size: float | torch.Tensor | None = None,
    random_init: bool = True,
    loss: str | AttackLoss = "ce",
    restarts: int = 1,
    keep: str = "best",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD: x_{k+1} = Π(x_k + η · dir(∇ loss(x_k))), Π the projection onto the ε-ball around x and [0, 1].

    Args:
        model: maps inputs [N, ...] in [0, 1] to logits [N, C]; used in its current mode (call ``eval()`` first).
        x: clean inputs [N, ...]; y: labels [N] (int64).
        eps: radius, one float or one per input [N] (input units).
        norm: "linf" or "l2".
        steps: iterations, one int or one per input [N] (an input stops moving after its own count).
        step_size: η, float or [N]; default ``STEP_FACTOR · ε / steps`` per input.
        random_init: start from a uniform random point of the ball (else from x).
        loss: "ce", "dlr" or an :data:`~smoothcert.attacks.losses.AttackLoss`.
        restarts: independent random starts; with ``keep="best"`` the best over all of them is returned.
        keep: "best" returns, per input, the first iterate the model misclassifies, else the iterate of largest
            loss (for evaluation: an input counts as broken if any point the attack visited breaks it; inputs
            already broken are not attacked further). "last" returns the final iterate (for training).
        generator: randomness of the starts.
    Returns:
        adversarial inputs [N, ...], detached, within the ball and in [0, 1].
    """
    norm = check_norm(norm)
    check_batch(x, y)
    if keep not in KEEP:
        raise InvalidArgumentError(f"keep must be one of {KEEP}, got {keep!r}")
    if restarts < 1:
        raise InvalidArgumentError(f"restarts must be >= 1, got {restarts}")
    loss_fn = resolve_loss(loss)
    x = x.detach()
    n = x.shape[0]
    e = per_sample_eps(eps, x)
    s = per_sample_steps(steps, n, x.device)
    if step_size is None:
        eta = STEP_FACTOR * e / s.clamp_min(1).to(e.dtype)
    else:
        eta = per_sample_eps(step_size, x)

    best = x.clone()
    best_loss = torch.full((n,), float("-inf"), dtype=x.dtype, device=x.device)
    fooled = torch.zeros(n, dtype=torch.bool, device=x.device)
    last = x.clone()
    for _ in range(restarts):
        cur = random_start(x, e, norm, generator) if random_init else x.clone()
        todo = s.clone()
        while True:
            # Inputs still moving; with keep="best", broken inputs are finished.
            active = todo > 0
            if keep == "best":
                active &= ~fooled
            idx = active.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xa = cur[idx]
            value, grad, pred = loss_and_grad(loss_fn, model, xa, y[idx])
            if keep == "best":
                _record(best, best_loss, fooled, idx, xa, value, pred != y[idx])
            step = view_as_batch(eta[idx], xa) * ascent_direction(grad, norm)
            cur[idx] = project(xa + step, x[idx], e[idx], norm)
            todo[idx] -= 1
        if keep == "last":
            last = cur
            continue
        # The final iterate has not been evaluated yet.
        idx = (~fooled).nonzero().squeeze(1)
        if idx.numel():
            with torch.no_grad():
                value, z = loss_fn(model, cur[idx], y[idx])
            _record(best, best_loss, fooled, idx, cur[idx], value, z.argmax(1) != y[idx])
    return (last if keep == "last" else best).detach()


def _record(best: torch.Tensor, best_loss: torch.Tensor, fooled: torch.Tensor, idx: torch.Tensor,
            xa: torch.Tensor, value: torch.Tensor, wrong: torch.Tensor) -> None:
    """Keep, per input, the first misclassified point, else the largest-loss one (in place)."""
    better = wrong | (value > best_loss[idx])
    take = idx[better]
    best[take] = xa[better]
    best_loss[take] = value[better]
    fooled[idx[wrong]] = True
