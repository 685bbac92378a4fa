"""Smoothed uncertainty scores: per-input statistics of u over noisy copies (mean u, fraction of ⊥).

The engine's :meth:`~smoothcert.engine.Engine.count` counts discrete outcomes; a mean of the continuous u
needs per-input sums instead. This module reduces the same passes differently: it walks
:meth:`~smoothcert.engine.Engine.batches` (the same per-(seed, index, stream) generators, blocks, batches,
layout and model), so on a given stream and engine it computes exactly what the engine's count computes,
and its fraction of ⊥ equals the engine's ⊥ count / n. One pass yields every measure's mean u and ⊥
fraction at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import sampling
from ..engine import Engine
from ..errors import InvalidArgumentError
from ..noise import Noise
from .measures import check_measure, check_members, class_and_uncertainty

#: Noise stream of the scoring pass (the engine uses 0, 1, 2; calibration 3).
SCORES = 4


@dataclass(frozen=True)
class NoisyUncertainty:
    """Statistics of u over m noisy copies of each of B inputs, for S measures.

    Attributes:
        measures: the S measure names.
        mean: float64 [B, S], mean u over the copies.
        rejected: float64 [B, S], fraction of copies with u > τ_s (NaN where no τ was given).
        num_samples: m.
        samples: float64 [B, m, S], every u, when asked for (else None).
    """

    measures: tuple[str, ...]
    mean: np.ndarray
    rejected: np.ndarray
    num_samples: int
    samples: np.ndarray | None = None


@torch.inference_mode()
def noisy_uncertainty(
    model: nn.Module | Engine,
    x: torch.Tensor,
    noise: Noise,
    num_samples: int,
    measures: Sequence[str],
    num_classes: int,
    *,
    members: int = 1,
    taus: Sequence[float] | None = None,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    stream: int = SCORES,
    batch_size: int = 1024,
    keep_samples: bool = False,
    progress: Callable[[int], None] | None = None,
) -> NoisyUncertainty:
    """Mean u and fraction of u > τ over ``num_samples`` noisy copies of each input of x [B, *input_shape].

    Args:
        model: logits [N, M·C] (M = ``members``), or the :class:`~smoothcert.engine.Engine` that runs it (pass
            the engine a certification uses to score exactly its passes; ``batch_size`` is then the engine's).
        x: inputs [B, *input_shape].
        noise: the smoothing noise.
        num_samples: m ≥ 1 copies per input.
        measures: S measure names.
        num_classes: C.
        members: M.
        taus: one τ per measure for the ⊥ fraction (None: no ⊥ fraction).
        seed, indices, stream: the generator of input i is seeded by (seed, indices[i], stream).
        batch_size: most copies per forward pass, when ``model`` is a module.
        keep_samples: also return every u.
        progress: called with the number of copies done after each forward pass.
    """
    members = check_members(members)
    measures = tuple(measures)
    for m in measures:
        check_measure(m, members)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise InvalidArgumentError(f"samples per input must be an integer >= 1, got {num_samples!r}")
    if taus is not None and len(taus) != len(measures):
        raise InvalidArgumentError(f"give one tau per measure: {len(measures)} measures, {len(taus)} taus")
    b = len(x)
    ids = list(range(b)) if indices is None else [int(i) for i in indices]
    if len(ids) != b:
        raise InvalidArgumentError(f"got {len(ids)} indices for {b} inputs")
    engine = model if isinstance(model, Engine) else Engine(model, batch_size=batch_size)
    x = engine.prepare(x)
    device = engine.device
    gens = sampling.make_generators(seed, ids, stream, device)
    s = len(measures)
    sums = torch.zeros((b, s), dtype=torch.float64, device=device)
    above = torch.zeros((b, s), dtype=torch.float64, device=device)
    tau_t = torch.tensor([np.inf if taus is None else float(t) for t in (taus or [0] * s)], dtype=torch.float64,
                         device=device)
    samples = np.zeros((b, num_samples, s)) if keep_samples else None
    for batch, logits in engine.batches(x, noise, num_samples, gens, progress):
        _, u = class_and_uncertainty(logits, measures, members, num_classes)
        u = u.double()
        sums.index_add_(0, batch.owner, u)
        above.index_add_(0, batch.owner, (u > tau_t).double())
        if samples is not None:
            samples[batch.owner.cpu().numpy(), batch.position.cpu().numpy()] = u.cpu().numpy()
    rejected = (above / num_samples).cpu().numpy()
    if taus is None:
        rejected[:] = np.nan
    return NoisyUncertainty(measures, (sums / num_samples).cpu().numpy(), rejected, num_samples, samples)
