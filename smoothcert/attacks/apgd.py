"""APGD: PGD with momentum and an adaptive step size (Croce & Hein, ICML 2020, Algorithm 1), ℓ∞ and ℓ2.

The step size η starts at 2ε and is halved at checkpoints w_j when the loss rose in fewer than a fraction ρ of
the steps since the last checkpoint, or when neither η nor the best loss changed since then; after a halving
the search restarts from the best point found. No step size to tune.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .losses import AttackLoss, loss_and_grad, resolve_loss, targeted_dlr_loss
from .norms import ascent_direction, check_norm, per_sample_eps, project, random_start, view_as_batch
from .pgd import check_batch

#: Momentum weight of the update x_{k+1} = Π(x_k + a(z − x_k) + (1 − a)(x_k − x_{k−1})).
MOMENTUM = 0.75


def checkpoints(n_iter: int) -> list[int]:
    """Iterations w_j at which the step size may be halved: w_j = ⌈p_j N⌉ with p_0 = 0, p_1 = 0.22,
    p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({math.ceil(round(q * n_iter, 9)) for q in p if q <= 1})  # round: 0.41·100 is 41


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    norm: str = "linf",
    steps: int = 100,
    loss: str | AttackLoss = "ce",
    rho: float = 0.75,
    restarts: int = 1,
    keep: str = "best",
    generator: torch.Generator | None = None,
    targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """APGD with the loss ``loss`` ("ce" → APGD-CE, "dlr" → APGD-DLR, or any AttackLoss); with ``targets``
    [N] (target classes ≠ y), APGD-T: the targeted DLR loss towards them (``loss`` must then be "dlr").

    Args:
        model: logits model, used in its current mode; x: inputs [N, ...] in [0, 1]; y: labels [N].
        eps: radius, float or one per input [N]; norm: "linf" or "l2".
        steps: iterations N (one forward and backward pass each); rho: the checkpoint success fraction ρ.
        restarts: random starts; keep: "best" (first misclassified iterate, else the largest-loss one; broken
            inputs stop early) or "last" (the best-loss point of the run, as APGD returns, for training).
        generator: randomness of the starts.
    Returns:
        adversarial inputs [N, ...], detached.
    """
    norm = check_norm(norm)
    check_batch(x, y)
    if steps < 1 or restarts < 1 or not 0 < rho < 1:
        raise InvalidArgumentError(f"need steps >= 1, restarts >= 1, 0 < rho < 1; got {steps}, {restarts}, {rho}")
    if keep not in ("best", "last"):
        raise InvalidArgumentError(f"keep must be 'best' or 'last', got {keep!r}")
    if targets is not None:
        if loss != "dlr" or targets.shape != y.shape or bool((targets == y).any()):
            raise InvalidArgumentError("targets need loss='dlr' and one target class per input, different from y")
        loss_for = lambda rows: targeted_dlr_loss(targets[rows])  # noqa: E731 -- the targets of a sub-batch
    else:
        fixed = resolve_loss(loss)
        loss_for = lambda rows: fixed  # noqa: E731
    x = x.detach()
    n = x.shape[0]
    e = per_sample_eps(eps, x)
    marks = set(checkpoints(steps))
    best = x.clone()
    best_loss = torch.full((n,), float("-inf"), dtype=x.dtype, device=x.device)
    fooled = torch.zeros(n, dtype=torch.bool, device=x.device)
    for _ in range(restarts):
        idx = (~fooled).nonzero().squeeze(1) if keep == "best" else torch.arange(n, device=x.device)
        if idx.numel() == 0:
            break
        xs, ys = _run(model, lambda rows, i=idx: loss_for(i[rows]), x[idx], y[idx], e[idx], norm, steps, rho, marks,
                      keep, generator)
        better = (ys.wrong | (ys.loss > best_loss[idx])) & ~fooled[idx]
        best[idx[better]] = xs[better]
        best_loss[idx[better]] = ys.loss[better]
        fooled[idx[ys.wrong]] = True
    return best.detach()


class _Best:
    """Per-input best point of one run: loss [N] and whether it is misclassified [N]."""

    def __init__(self, loss: torch.Tensor, wrong: torch.Tensor) -> None:
        self.loss, self.wrong = loss, wrong


def _run(model, loss_for, x, y, e, norm, steps, rho, marks, keep, generator):
    """One APGD run on all of x; ``loss_for(rows)`` is the objective of the rows [M] of x. Returns
    (best points [N, ...], _Best)."""
    n = x.shape[0]
    eta = 2.0 * e
    cur = random_start(x, e, norm, generator)
    f_cur, g_cur, pred = loss_and_grad(loss_for(torch.arange(n, device=x.device)), model, cur, y)
    x_max, f_max, g_max = cur.clone(), f_cur.clone(), g_cur.clone()
    wrong = pred != y
    first_wrong = cur.clone()  # the first misclassified point, where there is one
    prev = cur.clone()
    rises = torch.zeros(n, dtype=torch.long, device=x.device)
    last_mark, eta_at_mark, fmax_at_mark = 0, eta.clone(), f_max.clone()
    done = wrong.clone() if keep == "best" else torch.zeros(n, dtype=torch.bool, device=x.device)
    for k in range(steps):
        idx = (~done).nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        xa, ea = cur[idx], e[idx]
        z = project(xa + view_as_batch(eta[idx], xa) * ascent_direction(g_cur[idx], norm), x[idx], ea, norm)
        a = 1.0 if k == 0 else MOMENTUM  # the first step has no momentum
        nxt = project(xa + a * (z - xa) + (1 - a) * (xa - prev[idx]), x[idx], ea, norm)
        f_new, g_new, pred = loss_and_grad(loss_for(idx), model, nxt, y[idx])
        rises[idx] += (f_new > f_cur[idx]).long()
        prev[idx], cur[idx], f_cur[idx], g_cur[idx] = xa, nxt, f_new, g_new
        up = f_new > f_max[idx]
        x_max[idx[up]], f_max[idx[up]], g_max[idx[up]] = nxt[up], f_new[up], g_new[up]
        newly = (pred != y[idx]) & ~wrong[idx]
        first_wrong[idx[newly]] = nxt[newly]
        wrong[idx[newly]] = True
        if keep == "best":
            done |= wrong
        if k + 1 in marks and k + 1 > last_mark:
            few_rises = rises < rho * (k + 1 - last_mark)
            stalled = (eta == eta_at_mark) & (f_max == fmax_at_mark)
            halve = (few_rises | stalled) & ~done
            eta_at_mark, fmax_at_mark = eta.clone(), f_max.clone()
            eta[halve] /= 2
            # Restart from the best point, without momentum.
            cur[halve], prev[halve], f_cur[halve], g_cur[halve] = x_max[halve], x_max[halve], f_max[halve], g_max[halve]
            rises.zero_()
            last_mark = k + 1
    out = torch.where(view_as_batch(wrong, x), first_wrong, x_max)
    return out, _Best(torch.where(wrong, torch.full_like(f_max, float("inf")), f_max), wrong)
