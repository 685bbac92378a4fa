"""Square Attack, ℓ∞ (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020, Algorithm 1): a score-based random
search that needs no gradient, so it sees through gradient masking.

Each query proposes, for every input still correctly classified, a square window of side s at a random place
whose pixels are moved to a vertex of the ℓ∞ ball (±ε per channel, one random sign per channel, so that the
window changes), and keeps the proposal when it lowers the margin loss z_y − max_{i≠y} z_i. The window's area
follows the paper's schedule p (the fraction of pixels, halved at fixed fractions of the budget). Windows are
drawn per input, as in the paper's algorithm; one forward pass per query runs on the inputs not yet broken,
which leave the search.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .norms import check_norm, per_sample_eps, view_as_batch
from .pgd import check_batch

#: (fraction of a 10,000-query budget after which p is halved once more): the paper's schedule of p.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_fraction(p_init: float, query: int, queries: int) -> float:
    """The fraction p of pixels the window covers at query ``query`` (1-based) of ``queries``: p_init halved
    at queries 10, 50, 200, 500, 1,000, 2,000, 4,000, 6,000 and 8,000 of a 10,000 budget, rescaled to ``queries``."""
    it = int(query / queries * 10_000)
    return p_init / 2 ** sum(it > h for h in _HALVINGS)


def margin(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y − max_{i≠y} z_i [N]; negative exactly where the input is misclassified (ties count as robust)."""
    z_y = z.gather(1, y[:, None]).squeeze(1)
    return z_y - z.scatter(1, y[:, None], float("-inf")).amax(dim=1)


@torch.no_grad()
def square_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    norm: str = "linf",
    queries: int = 5000,
    p_init: float = 0.8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Adversarial inputs [N, C, H, W] (detached, in the ε-ball and [0, 1]) after at most ``queries`` model
    calls per input.

    Args:
        model: logits model (log-probabilities work too), used in its current mode.
        x: images [N, C, H, W] in [0, 1]; y: labels [N]; eps: ℓ∞ radius, float or one per input [N].
        queries: the budget per input, the initial stripes included; p_init: the first window fraction p.
        generator: randomness of stripes, windows and signs.
    Returns the first misclassified point found per input, else the point of lowest margin.
    """
    if check_norm(norm) != "linf":
        raise InvalidArgumentError("the Square Attack here is the ℓ∞ version; use APGD for ℓ2")
    check_batch(x, y)
    if x.dim() != 4:
        raise InvalidArgumentError(f"the Square Attack needs images [N, C, H, W], got shape {tuple(x.shape)}")
    if queries < 1 or not 0 < p_init <= 1:
        raise InvalidArgumentError(f"need queries >= 1 and 0 < p_init <= 1, got {queries}, {p_init}")
    x = x.detach()
    n, c, h, w = x.shape
    e = view_as_batch(per_sample_eps(eps, x), x)
    lo, hi = (x - e).clamp(0.0, 1.0), (x + e).clamp(0.0, 1.0)

    def sign(*shape: int) -> torch.Tensor:
        bits = torch.randint(0, 2, shape, generator=generator, device=x.device)
        return (2 * bits - 1).to(x.dtype)

    # Start at vertical stripes: one random sign per (input, channel, column).
    best = torch.clamp(x + e * sign(n, c, 1, w), lo, hi)
    loss = margin(model(best), y)
    rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, 1, w)
    for q in range(1, queries):
        idx = (loss >= 0).nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        m = idx.numel()
        s = min(max(round(math.sqrt(square_fraction(p_init, q, queries) * h * w)), 1), h - 1, w - 1)
        top = torch.randint(0, h - s + 1, (m, 1, 1, 1), generator=generator, device=x.device)
        left = torch.randint(0, w - s + 1, (m, 1, 1, 1), generator=generator, device=x.device)
        window = (rows >= top) & (rows < top + s) & (cols >= left) & (cols < left + s)
        # Inside the window every channel goes to one vertex of the ball (±ε around x), clipped to [0, 1]. A
        # proposal equal to the current point would waste its query: the paper draws again, here the signs flip
        # (for one channel, the same as drawing again until something changes).
        signs, current = sign(m, c, 1, 1), best[idx]
        proposal = torch.where(window, torch.clamp(x[idx] + e[idx] * signs, lo[idx], hi[idx]), current)
        same = view_as_batch((proposal == current).flatten(1).all(dim=1), proposal)
        flipped = torch.where(window, torch.clamp(x[idx] - e[idx] * signs, lo[idx], hi[idx]), current)
        proposal = torch.where(same, flipped, proposal)
        new = margin(model(proposal), y[idx])
        better = new < loss[idx]
        best[idx[better]] = proposal[better]
        loss[idx[better]] = new[better]
    return best
