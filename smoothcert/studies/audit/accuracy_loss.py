"""Accuracy loss (methods.md §2, Gao et al.): the natural accuracy of every model smoothed at every σ.

Each cell of the matrix is one (model, σ): n noisy copies per input on the prediction stream, the plug-in
majority vote and PREDICT at the same n (:func:`smoothcert.certificates.cohen.predict_counts`), and the
spread of the per-class vote accuracy. Cells are kept in a :class:`~smoothcert.runs.CellCache` and reused
only for the same arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from smoothcert import sampling
from smoothcert.certificates.cohen import predict_counts
from smoothcert.runs import CellCache
from smoothcert.smooth import Smooth
from smoothcert.validate import check_alpha, check_count

from ...progress import progress_bar
from .disparity import per_class_mean
from .folder import sigma_name

__all__ = ["AccuracyMatrix", "accuracy_cell", "accuracy_matrix"]


def accuracy_cell(smooth: Smooth, x: torch.Tensor, y: np.ndarray, n: int, alpha: float,
                  indices: Sequence[int]) -> dict:
    """Natural accuracy of ``smooth`` on inputs x [B, *shape] with labels y [B] (``indices`` seed the noise).

    Returns:
        ``vote_accuracy`` (majority of n copies), ``predict_accuracy`` (PREDICT at level α, abstentions
        wrong), ``per_class_vote`` [C] (NaN for a class without inputs, as None in JSON) and ``vote_spread``
        (max − min of it).
    """
    n, alpha = check_count("n", n), check_alpha(alpha)
    y = np.asarray(y)
    counts = smooth.sample_counts(x, n, [int(i) for i in indices], sampling.PREDICTION)
    prediction = predict_counts(counts, alpha, smooth.num_classes)  # PREDICT's one rule
    top, answered = prediction.top, prediction.prediction
    per_class = per_class_mean(y, top == y, smooth.num_classes)
    return {"vote_accuracy": float(np.mean(top == y)), "predict_accuracy": float(np.mean(answered == y)),
            "per_class_vote": per_class.tolist(), "vote_spread": float(np.nanmax(per_class) - np.nanmin(per_class))}


@dataclass(frozen=True)
class AccuracyMatrix:
    """Result of :func:`accuracy_matrix`: rows are models, columns σ.

    Attributes:
        models: M model keys; sigmas: S smoothing σ.
        vote, predict, spread: float64 [M, S], vote accuracy, PREDICT accuracy, per-class vote spread.
    """

    models: tuple[str, ...]
    sigmas: tuple[float, ...]
    vote: np.ndarray
    predict: np.ndarray
    spread: np.ndarray


def accuracy_matrix(smooths: Mapping[str, Smooth], sigmas: Sequence[float], x: torch.Tensor, y: np.ndarray,
                    indices: Sequence[int], n: int, alpha: float, *, cache: CellCache | None = None,
                    progress: bool = True) -> AccuracyMatrix:
    """:func:`accuracy_cell` of every model (key → Smooth, smoothed at each σ on its own engine) at every σ.

    With ``cache``, cell ``MODEL_sigma_S`` is reused when it was computed with the same model, σ, n, α, seed
    and number of inputs, and written when it is computed.
    """
    sigmas = tuple(float(s) for s in sigmas)
    vote = np.zeros((len(smooths), len(sigmas)))
    predict, spread = np.zeros_like(vote), np.zeros_like(vote)
    bar = progress_bar(total=len(smooths) * len(sigmas), desc="accuracy matrix", unit="cell", disable=not progress)
    for i, (key, smooth) in enumerate(smooths.items()):
        for j, sigma in enumerate(sigmas):
            name = f"{key}_sigma_{sigma_name(sigma)}"
            arguments = {"model": key, "sigma": sigma, "n": n, "alpha": alpha, "seed": smooth.seed,
                         "inputs": len(indices)}
            cell = cache.get(name, arguments) if cache is not None else None
            if cell is None:
                cell = accuracy_cell(smooth.with_noise(sigma), x, y, n, alpha, indices)
                if cache is not None:
                    cache.put(name, cell, arguments)
            vote[i, j], predict[i, j] = cell["vote_accuracy"], cell["predict_accuracy"]
            spread[i, j] = cell["vote_spread"]
            bar.update(1)
    bar.close()
    return AccuracyMatrix(tuple(smooths), sigmas, vote, predict, spread)
