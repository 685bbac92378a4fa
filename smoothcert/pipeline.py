"""Certify or predict a whole test set into a resumable TSV, with progress and a manifest.

This is the Python API behind ``smoothcert certify`` and ``smoothcert predict``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .certificates.sequential import SequentialConfig, certify_sequential
from .errors import InputError, InvalidArgumentError
from .runs import (
    CERTIFY_COLUMNS,
    PREDICT_COLUMNS,
    SEQUENTIAL_COLUMNS,
    ResultWriter,
    check_resumable,
    earlier_runs,
    write_manifest,
)
from .smooth import Smooth, check_count
from .stats import check_alpha


def select_indices(num_inputs: int, skip: int = 1, max_inputs: int | None = None) -> list[int]:
    """Every ``skip``-th index of range(num_inputs) (Cohen's ``--skip``), at most ``max_inputs`` of them."""
    if skip < 1:
        raise InvalidArgumentError(f"skip must be >= 1, got {skip}")
    if max_inputs is not None and max_inputs < 1:
        raise InvalidArgumentError(f"max must be >= 1, got {max_inputs}")
    return list(range(0, num_inputs, skip))[:max_inputs]


def check_labels(y: torch.Tensor, num_classes: int) -> None:
    """Labels must be integers in [0, num_classes)."""
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise InputError(f"labels must lie in [0, {num_classes}), found {int(y.min())}..{int(y.max())}")


#: compute(x_chunk, ids, progress) → one list of rows per output file, one row per input of the chunk.
Compute = Callable[[torch.Tensor, list[int], Callable[[int], None] | None], list[list[dict]]]


def run_into_files(
    kind: str,
    smooth: Smooth,
    x: torch.Tensor,
    y: torch.Tensor,
    outs: Sequence[str | Path],
    arguments: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    compute: Compute,
    *,
    indices: Sequence[int],
    per_input_samples: int | None,
    fill_samples: int,
    resume: bool = False,
    overwrite: bool = False,
    record_time: bool = True,
    progress: bool = True,
    context: Mapping[str, object] | None = None,
    chunk: int | None = None,
) -> dict:
    """The loop behind every results file: check, then compute chunks of inputs and write one row per input
    to each file in ``outs`` (several files share one sampling pass), flushed, resumable, with manifests.

    Each row gets ``idx`` and ``label``; ``correct`` is (predict == label) where rows have a ``predict``;
    ``time`` is the chunk's seconds shared among its inputs (0 when ``record_time`` is off). An input is
    computed again only if some file lacks it, and is written only where it is missing.
    ``per_input_samples`` (None for sequential runs) sets the progress bar's unit; ``fill_samples`` is the
    smallest sampling step, which sizes the chunks of inputs computed together unless ``chunk`` is given.
    Returns counts and timing of this call.
    """
    outs = [Path(o) for o in outs]
    if len(x) != len(y):
        raise InputError(f"got {len(x)} inputs but {len(y)} labels")
    check_labels(y, smooth.num_classes)
    if not torch.isfinite(x[list(indices)]).all():
        raise InputError("inputs contain NaN or inf")
    if indices:
        smooth.check_model(x[list(indices[:1])])  # fail before any file is touched
    if resume:
        for out, args in zip(outs, arguments, strict=True):
            check_resumable(out, args)
    batch_size = smooth.resolve_batch_size(x.shape[1:])  # "auto" is measured now, before any file is touched
    context = {**(context or {}), "engine": smooth.engine_info()}
    history = [earlier_runs(out) if resume else [] for out in outs]
    writers: list[ResultWriter] = []
    try:
        for out in outs:
            writers.append(ResultWriter(out, columns, resume=resume, overwrite=overwrite))
    except Exception:
        for w in writers:
            w.close()
        raise
    todo = [i for i in indices if any(i not in w.done for w in writers)]
    for out, args, earlier in zip(outs, arguments, history, strict=True):
        write_manifest(out, args, status="running", **context, **({"earlier_runs": earlier} if earlier else {}))
    # Enough inputs per call that the smallest sampling step (CERTIFY's selection) fills a forward batch.
    chunk = chunk or max(1, min(64, math.ceil(batch_size / fill_samples)))
    stats = {"inputs": 0, "correct": 0, "seconds": 0.0, "samples": 0}
    # Sample counts are known in advance except for sequential runs, whose bar counts inputs instead.
    by_input = per_input_samples is None
    bar = tqdm(total=len(todo) * (per_input_samples or 1), unit="input" if by_input else "sample",
               unit_scale=not by_input, disable=not progress,
               desc=f"{kind} σ={smooth.sigma:g}", smoothing=0.1, mininterval=0.5)
    started = time.perf_counter()
    try:
        for first in range(0, len(todo), chunk):
            ids = todo[first : first + chunk]
            t0 = time.perf_counter()
            per_file = compute(x[ids], ids, None if by_input else bar.update)
            seconds = round((time.perf_counter() - t0) / len(ids), 4) if record_time else 0.0
            for k, (writer, rows) in enumerate(zip(writers, per_file, strict=True)):
                for i, row in zip(ids, rows, strict=True):
                    label = int(y[i])
                    row = {**row, "idx": i, "label": label, "time": seconds}
                    if "predict" in row:
                        row["correct"] = int(row["predict"] == label)
                    if k == 0:  # the first file speaks for the progress figures
                        stats["correct"] += row.get("correct", 0)
                        stats["samples"] += int(row.get("n0", 0)) + int(row["n"])
                    if i not in writer.done:
                        writer.write(row)
            if by_input:
                bar.update(len(ids))
            stats["inputs"] += len(ids)
            bar.set_postfix(done=f"{len(indices) - len(todo) + stats['inputs']}/{len(indices)}",
                            acc=f"{stats['correct'] / stats['inputs']:.3f}")
    finally:
        bar.close()
        for w in writers:
            w.close()
        stats["seconds"] = time.perf_counter() - started
        complete = stats["inputs"] == len(todo)
        timing = {**stats, "samples_per_second": stats["samples"] / max(stats["seconds"], 1e-9)}
        if len(outs) > 1:
            timing["files_sharing_the_samples"] = len(outs)
        for out, args, w, earlier in zip(outs, arguments, writers, history, strict=True):
            write_manifest(out, args, status="complete" if complete else "interrupted",
                           timing={**timing, "resumed_rows": len(w.done)}, **context,
                           **({"earlier_runs": earlier} if earlier else {}))
    return stats


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
    resume: bool = False,
    overwrite: bool = False,
    record_time: bool = True,
    progress: bool = True,
    context: Mapping[str, object] | None = None,
    sequential: SequentialConfig | None = None,
) -> dict:
    """CERTIFY every selected input of x [N, *shape] (labels y [N]) and write one TSV row each to ``out``.

    Rows have Cohen's columns ``idx label predict radius correct time`` then ``pA_lower n0 n count_top``;
    ``time`` is seconds per input (the batch's time shared among its inputs; 0 when ``record_time`` is off,
    which makes reruns byte-identical). A manifest ``out.json`` records ``arguments`` and ``context``.
    With ``sequential``, inputs are certified by sequential CERTIFY (n is then the cap): the ``n`` column holds
    the samples each input used, and columns ``pA_upper stop`` are added.
    Returns counts and timing of this call.
    """
    n0, n, alpha = check_count("n0", n0), check_count("n", n), check_alpha(alpha)  # before any file is touched
    indices = list(range(len(x))) if indices is None else list(indices)
    arguments = dict(arguments or {"n0": n0, "n": n, "alpha": alpha, "sigma": smooth.sigma, "seed": smooth.seed})

    def compute(xb: torch.Tensor, ids: list[int], update) -> list[dict]:
        if sequential is not None:
            certs = certify_sequential(smooth, xb, n0, alpha, sequential, indices=ids, progress=update)
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
    return run_into_files("certify", smooth, x, y, [out], [arguments], columns, lambda *a: [compute(*a)],
                          indices=indices, per_input_samples=per_input, fill_samples=n0, resume=resume,
                          overwrite=overwrite, record_time=record_time, progress=progress, context=context)


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
    resume: bool = False,
    overwrite: bool = False,
    record_time: bool = True,
    progress: bool = True,
    context: Mapping[str, object] | None = None,
) -> dict:
    """PREDICT every selected input and write rows ``idx label predict correct time count_top
    count_runner_up n pvalue`` to ``out`` (predict = −1: abstain). Same resume rules as certify_dataset."""
    n, alpha = check_count("n", n), check_alpha(alpha)
    indices = list(range(len(x))) if indices is None else list(indices)
    arguments = dict(arguments or {"n": n, "alpha": alpha, "sigma": smooth.sigma, "seed": smooth.seed})

    def compute(xb: torch.Tensor, ids: list[int], update) -> list[dict]:
        preds = smooth.predict_batch(xb, n, alpha, indices=ids, progress=update)
        return [{"predict": p.prediction, "count_top": p.count_top, "count_runner_up": p.count_runner_up,
                 "n": p.n, "pvalue": p.pvalue} for p in preds]

    return run_into_files("predict", smooth, x, y, [out], [arguments], PREDICT_COLUMNS, lambda *a: [compute(*a)],
                          indices=indices, per_input_samples=n, fill_samples=n, resume=resume,
                          overwrite=overwrite, record_time=record_time, progress=progress, context=context)
