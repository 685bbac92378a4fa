"""Certify or predict a whole test set into a resumable TSV, with progress and a manifest.

This is the Python API behind ``smoothcert certify`` and ``smoothcert predict``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from .backends import Backend, CertifyTask, PredictTask
from .certificates.sequential import SequentialConfig
from .errors import InvalidArgumentError
from .runs import CERTIFY_COLUMNS, PREDICT_COLUMNS, SEQUENTIAL_COLUMNS, Run, RunOptions
from .smooth import Smooth
from .validate import check_alpha, check_count


def int8_calibration(precision: str, data, noise) -> torch.Tensor | None:
    """With precision "int8", the engine's calibration inputs: noisy copies (``noise``, the smoothing noise) of
    the first training inputs of ``data`` (a :class:`~smoothcert.data.Dataset`); None for other precisions.
    Raises InvalidArgumentError when the data set has no training inputs to calibrate on."""
    if precision != "int8":
        return None
    from .accelerate import calibration_inputs

    if data.x_train is None or len(data.x_train) == 0:
        raise InvalidArgumentError(f"--precision int8 calibrates on training inputs, and {data.name} has none here")
    return calibration_inputs(data.x_train, noise)


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
    chunk: int | None = None,
    backend: Backend | None = None,
) -> dict:
    """CERTIFY every selected input of x [N, *shape] (labels y [N]) and write one TSV row each to ``out``.

    Rows have Cohen's columns ``idx label predict radius correct time`` then ``pA_lower n0 n count_top norm``
    (``norm``: the norm the radius is stated in, the noise's). The selection and estimation count vectors of
    every input are kept in ``out.counts/`` (:mod:`smoothcert.runs.counts`; not for sequential runs), for
    ``smoothcert recertify``;
    ``time`` is seconds per input (the batch's time shared among its inputs; 0 when ``options.record_time`` is
    off, which makes reruns byte-identical). A manifest ``out.json`` records ``arguments`` and ``context``.
    ``options`` (:class:`~smoothcert.runs.RunOptions`, default ``RunOptions()``): resume the rows already in
    ``out`` (refusing different ``arguments``), overwrite it, timing, progress bar.
    With ``sequential``, inputs are certified by sequential CERTIFY (n is then the cap): the ``n`` column holds
    the samples each input used, and columns ``pA_upper stop`` are added.
    ``chunk`` fixes the number of inputs computed together (default: adapted so that rows reach the disk at
    least every :data:`~smoothcert.runs.run.CHUNK_SECONDS`; results never depend on it). ``backend``
    (:mod:`smoothcert.backends`, default serial) computes the rows, here or on Ray workers; the rows are the same.
    Returns counts and timing of this call.
    """
    n0, n, alpha = check_count("n0", n0), check_count("n", n), check_alpha(alpha)  # before any file is touched
    indices = list(range(len(x))) if indices is None else list(indices)
    arguments = dict(arguments or {"n0": n0, "n": n, "alpha": alpha, "sigma": smooth.sigma, "seed": smooth.seed})

    columns = CERTIFY_COLUMNS + (SEQUENTIAL_COLUMNS if sequential is not None else ())
    if sequential is not None:
        sequential = replace(sequential, n_max=n).validate()
    per_input = None if sequential is not None else n0 + n
    kept = () if sequential is not None else ("selection", "estimation")
    return Run("certify", [out], [arguments], columns, options, context, counts=kept).execute(
        smooth, x, y, CertifyTask(n0, n, alpha, sequential), indices=indices, per_input_samples=per_input,
        fill_samples=n0, chunk=chunk, backend=backend)


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
    chunk: int | None = None,
    backend: Backend | None = None,
) -> dict:
    """PREDICT every selected input and write rows ``idx label predict correct time count_top
    count_runner_up n pvalue`` to ``out`` (predict = −1: abstain). Same ``options``, ``chunk`` and ``backend`` as
    certify_dataset."""
    n, alpha = check_count("n", n), check_alpha(alpha)
    indices = list(range(len(x))) if indices is None else list(indices)
    arguments = dict(arguments or {"n": n, "alpha": alpha, "sigma": smooth.sigma, "seed": smooth.seed})

    return Run("predict", [out], [arguments], PREDICT_COLUMNS, options, context, counts=("counts",)).execute(
        smooth, x, y, PredictTask(n, alpha), indices=indices, per_input_samples=n, fill_samples=n, chunk=chunk,
        backend=backend)
