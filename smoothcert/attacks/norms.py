"""Threat-model geometry shared by the attacks: ℓ∞ and ℓ2 balls intersected with the input box [0, 1].

Every function works per sample: ε may differ between the inputs of a batch (a tensor [N]), which the
mixing-network training needs (random per-sample ε).
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError, InvalidArgumentError

NORMS = ("linf", "l2")


def check_norm(norm: str) -> str:
    """Return ``norm`` ("linf" or "l2", a few spellings accepted) or raise."""
    key = str(norm).lower().replace("_", "").replace("ℓ", "l").replace("∞", "inf")
    key = {"inf": "linf", "linfty": "linf", "2": "l2"}.get(key, key)
    if key not in NORMS:
        raise InvalidArgumentError(f"norm must be one of {NORMS}, got {norm!r}")
    return key


def per_sample_eps(eps: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """ε as a float tensor [N] on x's device (one value broadcast, or one per input); checked finite and ≥ 0."""
    e = torch.as_tensor(eps, dtype=x.dtype, device=x.device).flatten()
    if e.numel() == 1:
        e = e.expand(x.shape[0])
    if e.numel() != x.shape[0]:
        raise InputError(f"got {e.numel()} eps values for {x.shape[0]} inputs")
    if not bool(torch.isfinite(e).all()) or bool((e < 0).any()):
        raise InvalidArgumentError(f"eps must be finite and >= 0, got {eps!r}")
    return e.clone()


def view_as_batch(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-sample tensor [N] reshaped to broadcast over x [N, ...]."""
    return v.view(-1, *([1] * (x.dim() - 1)))


def flat_norm(v: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample norm [N] of v [N, ...]."""
    flat = v.flatten(1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent unit step for the norm: sign(g) for ℓ∞, g/‖g‖₂ for ℓ2 (0 where g = 0)."""
    if norm == "linf":
        return grad.sign()
    length = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return grad / view_as_batch(length, grad)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """Project x_adv onto {x + δ : ‖δ‖ ≤ ε} and then into [0, 1].

    For ℓ∞ the result is the exact projection onto the intersection (both are boxes). For ℓ2, clipping to the
    box after the ball can only shorten δ, so the result stays in the ball (the usual PGD practice).
    """
    return project_ball(x_adv, x, eps, norm).clamp(0.0, 1.0)


def project_ball(v: torch.Tensor, center: torch.Tensor, eps: float | torch.Tensor, norm: str) -> torch.Tensor:
    """Project v [N, ...] onto {center + δ : ‖δ‖ ≤ ε}, sample by sample, with no box: points inside stay.

    ε: a float or one per sample [N]. For inputs, :func:`project` adds the [0, 1] box; the training objectives
    that move noise or unclipped inputs (SmoothAdv, SmoothMix, CAT-RS) use this alone.
    """
    delta = v - center
    e = torch.as_tensor(eps, dtype=v.dtype, device=v.device).expand(v.shape[0])
    if norm == "linf":
        e = view_as_batch(e, v)
        delta = torch.maximum(torch.minimum(delta, e), -e)
    else:
        length = delta.flatten(1).norm(dim=1)
        scale = torch.where(length > e, e / length.clamp_min(1e-12), torch.ones_like(length))
        delta = delta * view_as_batch(scale, v)
    return center + delta


def random_start(x: torch.Tensor, eps: torch.Tensor, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    """A random point of the threat ball around x: uniform in the ℓ∞ box, or uniform in the ℓ2 ball."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) * 2 - 1
        return project(x + u * view_as_batch(eps, x), x, eps, norm)
    direction = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    direction = direction / view_as_batch(direction.flatten(1).norm(dim=1).clamp_min(1e-12), x)
    d = math.prod(x.shape[1:])
    r = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device) ** (1.0 / d)
    return project(x + direction * view_as_batch(r * eps, x), x, eps, norm)
