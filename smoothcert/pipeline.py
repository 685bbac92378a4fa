"""Certify or predict a whole test set into a resumable TSV, with progress and a manifest.

This is the Python API behind ``smoothcert certify`` and ``smoothcert predict``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from .certificates.sequential import SequentialConfig
from .errors import InvalidArgumentError
from .runs import CERTIFY_COLUMNS, PREDICT_COLUMNS, SEQUENTIAL_COLUMNS, Run, RunOptions
from .smooth import Smooth
from .validate import check_alpha, check_count


def select_indices(num_inputs: int, skip: int = 1, max_inputs: int | None = None) -> list[int]:
    """Every ``skip``-th index of range(num_inputs) (Cohen's ``--skip``), at most ``max_inputs`` of them."""
    if skip < 1:
        raise InvalidArgumentError(f"skip must be >= 1, got {skip}")
    if max_inputs is not None and max_inputs < 1:
        raise InvalidArgumentError(f"max must be >= 1, got {max_inputs}")
    return list(range(0, num_inputs, skip))[:max_inputs]


def certify_dataset(
    smooth: Smooth,
    x: torch.Tensor,
    y: torch.Tensor,
    out: str | Path,
    *,
    n0: int = 100,
    n: int = 100_000,
    alpha: float = 0.001,
    indices: Sequence[int] | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
    context: Mapping[str, object] | None = None,
    sequential: SequentialConfig | None = None,
) -> dict:
    """CERTIFY every selected input of x [N, *shape] (labels y [N]) and write one TSV row each to ``out``.

    Rows have Cohen's columns ``idx label predict radius correct time`` then ``pA_lower n0 n count_top``;
    ``time`` is seconds per input (the batch's time shared among its inputs; 0 when ``options.record_time`` is
    off, which makes reruns byte-identical). A manifest ``out.json`` records ``arguments`` and ``context``.
    ``options`` (:class:`~smoothcert.runs.RunOptions`, default ``RunOptions()``): resume the rows already in
    ``out`` (refusing different ``arguments``), overwrite it, timing, progress bar.
    With ``sequential``, inputs are certified by sequential CERTIFY (n is then the cap): the ``n`` column holds
    the samples each input used, and columns ``pA_upper stop`` are added.
    Returns counts and timing of this call.
    """
    n0, n, alpha = check_count("n0", n0), check_count("n", n), check_alpha(alpha)  # before any file is touched
    indices = list(range(len(x))) if indices is None else list(indices)
    arguments = dict(arguments or {"n0": n0, "n": n, "alpha": alpha, "sigma": smooth.sigma, "seed": smooth.seed})

    def compute(xb: torch.Tensor, ids: list[int], update) -> list[dict]:
        if sequential is not None:
            certs = smooth.certify_sequential(xb, n0, alpha, sequential, indices=ids, progress=update)
        else:
            certs = smooth.certify_batch(xb, n0, n, alpha, indices=ids, progress=update)
        rows = [{"predict": c.prediction, "radius": c.radius, "pA_lower": c.p_a_lower, "n0": c.n0, "n": c.n,
                 "count_top": c.count_top} for c in certs]
        if sequential is not None:
            for row, c in zip(rows, certs, strict=True):
                row.update(pA_upper=c.p_a_upper, stop=c.stop)
        return rows

    columns = CERTIFY_COLUMNS + (SEQUENTIAL_COLUMNS if sequential is not None else ())
    if sequential is not None:
        sequential = replace(sequential, n_max=n).validate()
    per_input = None if sequential is not None else n0 + n
    return Run("certify", [out], [arguments], columns, options, context).execute(
        smooth, x, y, lambda *a: [compute(*a)], indices=indices, per_input_samples=per_input, fill_samples=n0)


def predict_dataset(
    smooth: Smooth,
    x: torch.Tensor,
    y: torch.Tensor,
    out: str | Path,
    *,
    n: int = 10_000,
    alpha: float = 0.001,
    indices: Sequence[int] | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
    context: Mapping[str, object] | None = None,
) -> dict:
    """PREDICT every selected input and write rows ``idx label predict correct time count_top
    count_runner_up n pvalue`` to ``out`` (predict = −1: abstain). Same ``options`` as certify_dataset."""
    n, alpha = check_count("n", n), check_alpha(alpha)
    indices = list(range(len(x))) if indices is None else list(indices)
    arguments = dict(arguments or {"n": n, "alpha": alpha, "sigma": smooth.sigma, "seed": smooth.seed})

    def compute(xb: torch.Tensor, ids: list[int], update) -> list[dict]:
        preds = smooth.predict_batch(xb, n, alpha, indices=ids, progress=update)
        return [{"predict": p.prediction, "count_top": p.count_top, "count_runner_up": p.count_runner_up,
                 "n": p.n, "pvalue": p.pvalue} for p in preds]

    return Run("predict", [out], [arguments], PREDICT_COLUMNS, options, context).execute(
        smooth, x, y, lambda *a: [compute(*a)], indices=indices, per_input_samples=n, fill_samples=n)
