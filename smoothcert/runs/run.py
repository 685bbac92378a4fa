"""A run: one pass over selected inputs that writes a row per input to one or more results files, with their
manifests and the history of earlier sessions, resumable, with one progress bar.

Every results file of the package is written by :meth:`Run.execute`: certify, predict and sequential runs,
uncertainty τ sweeps (several files from one sampling pass), mixture votes and the audit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..smooth import Smooth
from .files import ResultWriter
from .manifest import check_resumable, earlier_runs, write_manifest
from .options import RunOptions

#: compute(x_chunk, ids, progress) → one list of rows per output file, one row per input of the chunk.
Compute = Callable[[torch.Tensor, list[int], Callable[[int], None] | None], list[list[dict]]]

#: Most inputs computed together in one call (their rows reach the disk together).
MAX_CHUNK = 64


def check_labels(y: torch.Tensor, num_classes: int) -> None:
    """Labels must be integers in [0, num_classes)."""
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise InputError(f"labels must lie in [0, {num_classes}), found {int(y.min())}..{int(y.max())}")


class Run:
    """The results files of one run, their manifests and their history.

    Args:
        kind: what the run does ("certify", "predict", "audit", …), for the progress bar.
        outs: the results files (TSV); each gets a manifest beside it (``x.tsv`` → ``x.json``).
        arguments: per file, the arguments that determine its rows (recorded; a resume must match them).
        columns: the files' columns (``idx``, ``label``, ``time`` and ``correct`` are filled in here).
        options: resume, overwrite, timing and progress (:class:`RunOptions`).
        context: further manifest sections (data, model, noise); the engine's settings are added.
    """

    def __init__(self, kind: str, outs: Sequence[str | Path], arguments: Sequence[Mapping[str, object]],
                 columns: Sequence[str], options: RunOptions | None = None,
                 context: Mapping[str, object] | None = None) -> None:
        self.kind = kind
        self.outs = [Path(o) for o in outs]
        self.arguments = [dict(a) for a in arguments]
        if len(self.outs) != len(self.arguments):
            raise ValueError("give one set of arguments per results file")
        self.columns = tuple(columns)
        self.options = options or RunOptions()
        self.context = dict(context or {})

    def execute(self, smooth: Smooth, x: torch.Tensor, y: torch.Tensor, compute: Compute, *,
                indices: Sequence[int], per_input_samples: int | None, fill_samples: int,
                chunk: int | None = None) -> dict:
        """Check, then compute chunks of inputs and write one row per input to each file, flushed.

        Each row gets ``idx`` and ``label``; ``correct`` is (predict == label) where rows have a ``predict``;
        ``time`` is the chunk's seconds shared among its inputs (0 when timing is off). An input is computed
        again only if some file lacks it, and is written only where it is missing.
        ``per_input_samples`` (None for sequential runs) sets the progress bar's unit; ``fill_samples`` is
        the smallest sampling step, which sizes the chunks of inputs computed together unless ``chunk`` is
        given. Returns counts and timing of this call.
        """
        opts = self.options
        if len(x) != len(y):
            raise InputError(f"got {len(x)} inputs but {len(y)} labels")
        check_labels(y, smooth.num_classes)
        if not torch.isfinite(x[list(indices)]).all():
            raise InputError("inputs contain NaN or inf")
        if indices:
            smooth.check_model(x[list(indices[:1])])  # fail before any file is touched
        if opts.resume:
            for out, args in zip(self.outs, self.arguments, strict=True):
                check_resumable(out, args)
        batch_size = smooth.resolve_batch_size(x.shape[1:])  # "auto" is measured now, before any file is touched
        context = {**self.context, "engine": smooth.engine_info()}
        history = [earlier_runs(out) if opts.resume else [] for out in self.outs]
        writers = self._open_writers()
        todo = [i for i in indices if any(i not in w.done for w in writers)]
        for out, args, earlier in zip(self.outs, self.arguments, history, strict=True):
            write_manifest(out, args, status="running", **context, **({"earlier_runs": earlier} if earlier else {}))
        # Enough inputs per call that the smallest sampling step (CERTIFY's selection) fills a forward batch.
        chunk = chunk or max(1, min(MAX_CHUNK, math.ceil(batch_size / fill_samples)))
        stats = {"inputs": 0, "correct": 0, "seconds": 0.0, "samples": 0}
        # Sample counts are known in advance except for sequential runs, whose bar counts inputs instead.
        by_input = per_input_samples is None
        bar = tqdm(total=len(todo) * (per_input_samples or 1), unit="input" if by_input else "sample",
                   unit_scale=not by_input, disable=not opts.progress,
                   desc=f"{self.kind} σ={smooth.sigma:g}", smoothing=0.1, mininterval=0.5)
        started = time.perf_counter()
        try:
            for first in range(0, len(todo), chunk):
                ids = todo[first : first + chunk]
                t0 = time.perf_counter()
                per_file = compute(x[ids], ids, None if by_input else bar.update)
                seconds = round((time.perf_counter() - t0) / len(ids), 4) if opts.record_time else 0.0
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
            if len(self.outs) > 1:
                timing["files_sharing_the_samples"] = len(self.outs)
            for out, args, w, earlier in zip(self.outs, self.arguments, writers, history, strict=True):
                write_manifest(out, args, status="complete" if complete else "interrupted",
                               timing={**timing, "resumed_rows": len(w.done)}, **context,
                               **({"earlier_runs": earlier} if earlier else {}))
        return stats

    def _open_writers(self) -> list[ResultWriter]:
        writers: list[ResultWriter] = []
        try:
            for out in self.outs:
                writers.append(ResultWriter(out, self.columns, resume=self.options.resume,
                                            overwrite=self.options.overwrite))
        except Exception:
            for w in writers:
                w.close()
            raise
        return writers
