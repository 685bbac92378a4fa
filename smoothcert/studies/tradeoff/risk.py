"""The smoothed risk Pal & Sulam measure: the error of the plain majority vote over n noisy copies.

Unlike PREDICT there is no abstention: the prediction is argmax_c of the vote counts (ties go to the lowest
class, as ``argmax`` does), and the risk is the fraction of test inputs it gets wrong. β = 0 means no smoothing:
the base classifier's prediction on the clean input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ... import sampling
from ...engine import Engine
from ...errors import InputError, InvalidArgumentError
from ...smooth import Smooth
from ...validate import check_count, check_positive


def majority_vote(smooth: Smooth, x: torch.Tensor, n: int, indices: Sequence[int],
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Hard-vote predictions argmax_c #{i ≤ n: f(x + εᵢ) = c} for each input of x [B, *input_shape].

    Noise comes from the engine's PREDICTION stream of each input index, so the votes of an input do not
    depend on batching, and the same seed gives every model the same noise (common random numbers).
    Returns int64 [B].
    """
    n = check_count("n", n)
    counts = smooth.sample_counts(x, n, list(indices), sampling.PREDICTION, progress)
    return counts[:, : smooth.num_classes].argmax(axis=1).astype(np.int64)


def base_predictions(model: nn.Module | Engine, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """argmax of the logits on the clean inputs x [B, *input_shape] (the β = 0 'smoothed' classifier); int64 [B].

    ``model`` may be an :class:`~smoothcert.engine.Engine` (``batch_size`` is then the engine's)."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    engine = model if isinstance(model, Engine) else Engine(model, batch_size=batch_size)
    return engine.logits(x).argmax(1).cpu().numpy().astype(np.int64)


def smoothed_predictions(model: nn.Module | Engine, num_classes: int, x: torch.Tensor, beta: float, n: int,
                         indices: Sequence[int], *, seed: int = 0, batch_size: int = 1024, compile: bool = False,
                         progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Majority-vote predictions under N(0, β²I) noise, or the base classifier's when β = 0. int64 [B].

    ``model`` may be an :class:`~smoothcert.engine.Engine` to share (``batch_size`` and ``compile`` are then
    the engine's)."""
    beta = check_positive("beta", beta, allow_zero=True)
    if len(indices) != len(x):
        raise InvalidArgumentError(f"got {len(indices)} indices for {len(x)} inputs")
    engine = model if isinstance(model, Engine) else Engine(model, batch_size=batch_size, compile=compile)
    if beta == 0:
        preds = base_predictions(engine, x)
        if progress is not None:
            progress(len(x) * n)  # the same work unit as a smoothed cell: n 'samples' per input
        return preds
    smooth = Smooth(engine, num_classes, beta, seed=seed)
    return majority_vote(smooth, x, n, indices, progress)


def risk(predictions: np.ndarray, labels: np.ndarray | torch.Tensor) -> float:
    """Error rate: the fraction of ``predictions`` [B] that differ from ``labels`` [B]."""
    predictions = np.asarray(predictions)
    labels = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if predictions.shape != labels.shape or predictions.size == 0:
        raise InputError(f"need equally many predictions and labels (> 0), got {predictions.shape}, {labels.shape}")
    return float(np.mean(predictions != labels))
