"""Square Attack, ℓ∞ and ℓ2 (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020, Algorithms 1–3): a score-based
random search that needs no gradient, so it sees through gradient masking.

Each query proposes, for every input still correctly classified, a square window of side s at a random place
whose pixels are moved to a vertex of the ℓ∞ ball (±ε per channel, one random sign per channel, so that the
window changes), and keeps the proposal when it lowers the margin loss z_y − max_{i≠y} z_i. The window's area
follows the paper's schedule p (the fraction of pixels, halved at fixed fractions of the budget). Windows are
drawn per input, as in the paper's algorithm; one forward pass per query runs on the inputs not yet broken,
which leave the search.

ℓ2 (Algorithm 3): the start is a grid of tiles, each a signed pseudo-Gaussian pattern, scaled to ‖δ‖₂ = ε. Each
query draws two windows of side s per input: the second's perturbation is removed and its mass moved into the
first, which gets the old pattern plus a new signed pseudo-Gaussian one, so that ‖δ‖₂ stays ε (before the
[0, 1] clip, which can only shorten it).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .losses import margin
from .norms import check_norm, flat_norm, per_sample_eps, view_as_batch
from .pgd import check_batch

#: (fraction of a 10,000-query budget after which p is halved once more): the paper's schedule of p.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_fraction(p_init: float, query: int, queries: int) -> float:
    """The fraction p of pixels the window covers at query ``query`` (1-based) of ``queries``: p_init halved
    at queries 10, 50, 200, 500, 1,000, 2,000, 4,000, 6,000 and 8,000 of a 10,000 budget, rescaled to ``queries``."""
    it = int(query / queries * 10_000)
    return p_init / 2 ** sum(it > h for h in _HALVINGS)


def _signs(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Independent random ±1 of ``shape``, in ``like``'s dtype and device."""
    bits = torch.randint(0, 2, shape, generator=generator, device=like.device)
    return (2 * bits - 1).to(like.dtype)


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
        x: images [N, C, H, W] in [0, 1]; y: labels [N]; eps: radius, float or one per input [N]; norm: "linf"
            or "l2".
        queries: the budget per input, the initial stripes included; p_init: the first window fraction p.
        generator: randomness of stripes, windows and signs.
    Returns the first misclassified point found per input, else the point of lowest margin.
    """
    norm = check_norm(norm)
    check_batch(x, y)
    if x.dim() != 4:
        raise InvalidArgumentError(f"the Square Attack needs images [N, C, H, W], got shape {tuple(x.shape)}")
    if queries < 1 or not 0 < p_init <= 1:
        raise InvalidArgumentError(f"need queries >= 1 and 0 < p_init <= 1, got {queries}, {p_init}")
    x = x.detach()
    n, c, h, w = x.shape
    if norm == "l2":
        if min(h, w) < 5:
            raise InvalidArgumentError(f"the ℓ2 Square Attack needs images of at least 5×5 pixels, got {h}×{w}")
        return _square_l2(model, x, y, per_sample_eps(eps, x), queries, p_init, generator)
    e = view_as_batch(per_sample_eps(eps, x), x)
    lo, hi = (x - e).clamp(0.0, 1.0), (x + e).clamp(0.0, 1.0)

    # Start at vertical stripes: one random sign per (input, channel, column).
    best = torch.clamp(x + e * _signs((n, c, 1, w), x, generator), lo, hi)
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
        signs, current = _signs((m, c, 1, 1), x, generator), best[idx]
        proposal = torch.where(window, torch.clamp(x[idx] + e[idx] * signs, lo[idx], hi[idx]), current)
        same = view_as_batch((proposal == current).flatten(1).all(dim=1), proposal)
        flipped = torch.where(window, torch.clamp(x[idx] - e[idx] * signs, lo[idx], hi[idx]), current)
        proposal = torch.where(same, flipped, proposal)
        new = margin(model(proposal), y[idx])
        better = new < loss[idx]
        best[idx[better]] = proposal[better]
        loss[idx[better]] = new[better]
    return best


def pseudo_gaussian(s: int) -> torch.Tensor:
    """The ℓ2 attack's s × s window pattern [s, s], unit Frobenius norm: the upper half (⌊s/2⌋ rows) positive, the
    lower half negative, each a stack of concentric rectangles of weight 1/(k+1)² around its centre, so each
    half peaks in its middle and decays like a Gaussian."""

    def half(rows: int) -> torch.Tensor:
        i = torch.arange(rows).view(-1, 1) - rows // 2
        j = torch.arange(s).view(1, -1) - s // 2
        ring = torch.maximum(i.abs(), j.abs())  # the rectangles of rings ≥ k cover the points of ring k
        k = torch.arange(max(rows, s)).view(-1, 1, 1)
        pattern = ((k >= ring) / (k + 1.0) ** 2).sum(0)
        return pattern / pattern.norm()

    out = torch.cat([half(s // 2), -half(s - s // 2)])
    return out / out.norm()


def _place(pattern: torch.Tensor, top: torch.Tensor, left: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Per-input patterns [M, s, s] written at (top, left) [M] into zero images [M, 1, h, w]."""
    s = pattern.shape[-1]
    rows = torch.arange(h, device=top.device).view(1, h, 1) - top.view(-1, 1, 1)
    cols = torch.arange(w, device=top.device).view(1, 1, w) - left.view(-1, 1, 1)
    inside = (rows >= 0) & (rows < s) & (cols >= 0) & (cols < s)
    picked = pattern[torch.arange(len(top), device=top.device).view(-1, 1, 1), rows.clamp(0, s - 1),
                     cols.clamp(0, s - 1)]
    return (picked * inside)[:, None]


def _square_l2(model, x, y, eps, queries, p_init, generator):
    """Algorithm 3 of the paper, vectorized over inputs with windows drawn per input; ``eps`` [N]."""
    n, c, h, w = x.shape
    dev, e = x.device, view_as_batch(eps, x)

    def patterns(s: int, m: int) -> torch.Tensor:
        """One pattern per input [m, s, s], transposed for a random half of them."""
        base = pseudo_gaussian(s).to(device=dev, dtype=x.dtype)
        flip = torch.randint(0, 2, (m, 1, 1), generator=generator, device=dev).bool()
        return torch.where(flip, base.T, base).expand(m, s, s)

    def to_sphere(delta: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
        return delta * radius / view_as_batch(flat_norm(delta, "l2"), delta).clamp_min(1e-12)

    # Start: a centred grid of tiles of side ⌊min(h, w)/5⌋, each with its own signs per channel.
    tile = min(h, w) // 5
    delta = torch.zeros_like(x)
    for a in range(h // tile):
        for b in range(w // tile):
            top = torch.full((n,), (h - h // tile * tile) // 2 + a * tile, device=dev)
            left = torch.full((n,), (w - w // tile * tile) // 2 + b * tile, device=dev)
            delta = delta + _place(patterns(tile, n), top, left, h, w) * _signs((n, c, 1, 1), x, generator)
    best = (x + to_sphere(delta, e)).clamp(0.0, 1.0)
    loss = margin(model(best), y)
    for q in range(1, queries):
        idx = (loss >= 0).nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        m = idx.numel()
        s = max(round(math.sqrt(square_fraction(p_init, q, queries) * h * w)), 3)
        s += 1 - s % 2  # odd, so that the pattern has a centre
        cap = min(h, w) - 1
        s = min(s, cap - (1 - cap % 2))  # the largest odd side that still leaves the window room to move
        corners = [torch.randint(0, size - s + 1, (m,), generator=generator, device=dev)
                   for size in (h, w, h, w)]
        ones = torch.ones((m, s, s), dtype=x.dtype, device=dev)
        first, second = _place(ones, corners[0], corners[1], h, w), _place(ones, corners[2], corners[3], h, w)
        d, ei = best[idx] - x[idx], e[idx]
        union = torch.maximum(first, second)
        old = d * first
        old_norm = old.pow(2).sum(dim=(2, 3), keepdim=True).sqrt()
        union_norm = (d * union).pow(2).sum(dim=(2, 3), keepdim=True).sqrt()
        # The mass left below ε, shared by the channels.
        spare = (ei.pow(2) - view_as_batch(flat_norm(d, "l2"), d).pow(2)).clamp_min(0) / c
        # The first window: a new signed pattern plus the old one (unit norm each), scaled per channel to the mass
        # of both windows plus the spare, which the second window gives up.
        pattern = _place(patterns(s, m), corners[0], corners[1], h, w) * _signs((m, c, 1, 1), x, generator)
        new = pattern + old / (old_norm + 1e-12)
        scale = (spare + union_norm**2).sqrt() / new.pow(2).sum(dim=(2, 3), keepdim=True).sqrt().clamp_min(1e-12)
        new = new * scale
        proposal = (x[idx] + to_sphere(d * (1 - union) + new, ei)).clamp(0.0, 1.0)
        value = margin(model(proposal), y[idx])
        better = value < loss[idx]
        best[idx[better]] = proposal[better]
        loss[idx[better]] = value[better]
    return best
