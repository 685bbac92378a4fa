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

from ..backends.base import Backend
from ..backends.serial import SerialBackend
from ..errors import InputError
from ..progress import progress_bar
from ..smooth import Smooth
from .counts import CountsWriter
from .files import ResultWriter, check_header, check_results_path, refuse_existing
from .fingerprint import data_fingerprint, model_fingerprint
from .lock import ResultsLock
from .manifest import check_manifest_target, check_resumable, earlier_runs, write_manifest
from .options import RunOptions

#: compute(x_chunk, ids, progress) → one list of rows per output file, one row per input of the chunk; or a
#: picklable :class:`~smoothcert.backends.Task`, called as task(smooth, x_chunk, ids, progress), which any
#: backend can run (a plain function runs with the serial backend only).
Compute = Callable[[torch.Tensor, list[int], Callable[[int], None] | None], list[list[dict]]]

#: Most inputs computed together in one call (their rows reach the disk together).
MAX_CHUNK = 64

#: Longest a chunk of inputs should take: rows reach the disk at least this often (unless one input takes
#: longer), so a kill loses at most about this much work.
CHUNK_SECONDS = 2.0

#: The clock that times chunks (a test may replace it).
_now = time.perf_counter


def next_chunk(size: int, seconds_per_input: float, cap: int, target: float = CHUNK_SECONDS) -> int:
    """The number of inputs to compute together next, after a chunk of ``size`` took ``seconds_per_input``
    per input: as many as fit in ``target`` seconds, at most twice ``size`` (a timing that included one-off
    work, such as compiling, then only slows the growth) and at most ``cap`` (enough to fill the engine's
    batches), at least 1. Rows are seeded per input, so the chunking never changes a result."""
    fit = int(target / seconds_per_input) if seconds_per_input > 0 else cap
    return max(1, min(cap, 2 * size, fit))


def check_labels(y: torch.Tensor, num_classes: int) -> None:
    """Labels must be integers in [0, num_classes)."""
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise InputError(f"labels must lie in [0, {num_classes}), found {int(y.min())}..{int(y.max())}")


def _noise_label(smooth: Smooth) -> str:
    """σ=0.25 for Gaussian noise, laplace 0.5 for another: the progress bar names the noise it samples."""
    kind = smooth.noise.to_dict().get("type", type(smooth.noise).__name__)
    return f"σ={smooth.sigma:g}" if kind == "gaussian" else f"{kind} {smooth.noise.scale:g}"


class Run:
    """The results files of one run, their manifests and their history.

    Args:
        kind: what the run does ("certify", "predict", "audit", …), for the progress bar.
        outs: the results files (TSV); each gets a manifest beside it (``x.tsv`` → ``x.json``).
        arguments: per file, the arguments that determine its rows (recorded; a resume must match them).
        columns: the files' columns (``idx``, ``label``, ``time`` and ``correct`` are filled in here).
        options: resume, overwrite, timing and progress (:class:`RunOptions`).
        context: further manifest sections (data, model, noise); the engine's settings are added.
        counts: names of count vectors the rows carry (e.g. ``("selection", "estimation")``): kept for the first
            file in ``x.counts/`` (:mod:`smoothcert.runs.counts`), written before its rows, listed in its manifest.
    """

    def __init__(self, kind: str, outs: Sequence[str | Path], arguments: Sequence[Mapping[str, object]],
                 columns: Sequence[str], options: RunOptions | None = None,
                 context: Mapping[str, object] | None = None, counts: Sequence[str] = ()) -> None:
        self.kind = kind
        self.counts = tuple(counts)
        self.outs = [Path(o) for o in outs]
        self.arguments = [dict(a) for a in arguments]
        if len(self.outs) != len(self.arguments):
            raise ValueError("give one set of arguments per results file")
        self.columns = tuple(columns)
        self.options = options or RunOptions()
        self.context = dict(context or {})

    def execute(self, smooth: Smooth, x: torch.Tensor, y: torch.Tensor, compute: Compute, *,
                indices: Sequence[int], per_input_samples: int | None, fill_samples: int,
                chunk: int | None = None, backend: Backend | None = None) -> dict:
        """Check, then compute chunks of inputs and write one row per input to each file, flushed.

        Each row gets ``idx`` and ``label``; ``correct`` is (predict == label) where rows have a ``predict``;
        ``time`` is the chunk's seconds shared among its inputs (0 when timing is off). An input is computed
        again only if some file lacks it, and is written only where it is missing.
        ``per_input_samples`` (None for sequential runs) sets the progress bar's unit; ``fill_samples`` is
        the smallest sampling step: chunks of inputs computed together grow to at most the number that fills
        a forward batch and shrink to what takes at most :data:`CHUNK_SECONDS` (:func:`next_chunk`), unless
        ``chunk`` fixes their size. Before any file is touched: the files may be written (no earlier output
        without resume or overwrite; no JSON that is not a run manifest where a manifest goes) and, on resume,
        each manifest records the same arguments and the same fingerprints of model, data and arguments
        (:mod:`~smoothcert.runs.fingerprint`). ``backend`` (:mod:`smoothcert.backends`; default serial) computes
        the chunks, here or on workers; rows come back in order, and a chunk delivered twice is written once.
        Each file is locked (:mod:`~smoothcert.runs.lock`) from before it is opened until its manifest is final.
        Returns counts and timing of this call.
        """
        if len(x) != len(y):
            raise InputError(f"got {len(x)} inputs but {len(y)} labels")
        check_labels(y, smooth.num_classes)
        if not torch.isfinite(x[list(indices)]).all():
            raise InputError("inputs contain NaN or inf")
        if indices:
            smooth.check_model(x[list(indices[:1])])  # fail before any file is touched
        fingerprint = {"model": model_fingerprint(smooth.model), "data": data_fingerprint(x, y)}
        self._check(fingerprint)
        batch_size = smooth.resolve_batch_size(x.shape[1:])  # "auto" is measured now, before any file is touched
        locks = [ResultsLock(out) for out in self.outs]
        try:
            for lock in locks:
                lock.acquire()
            self._check(fingerprint)  # again, now that no other process can change the files
            return self._fill(smooth, x, y, compute, indices=indices, per_input_samples=per_input_samples,
                              fill_samples=fill_samples, chunk=chunk, batch_size=batch_size, fingerprint=fingerprint,
                              backend=backend or SerialBackend())
        finally:
            for lock in locks:
                lock.release()

    def _check(self, fingerprint: Mapping[str, str]) -> None:
        """Refuse, touching nothing, what this run may not write or resume."""
        opts = self.options
        for out, args in zip(self.outs, self.arguments, strict=True):
            check_results_path(out)
            if not (opts.resume or opts.overwrite):
                refuse_existing(out)
            check_manifest_target(out, replace=opts.resume or opts.overwrite)
            if opts.resume:
                check_header(out, self.columns)
                check_resumable(out, args, fingerprint)

    def _fill(self, smooth: Smooth, x: torch.Tensor, y: torch.Tensor, compute: Compute, *,
              indices: Sequence[int], per_input_samples: int | None, fill_samples: int, chunk: int | None,
              batch_size: int, fingerprint: Mapping[str, str], backend: Backend) -> dict:
        """The run itself, its files locked: open them, compute the chunks, write rows and manifests."""
        opts = self.options
        context = {**self.context, "engine": smooth.engine_info(), "fingerprint": dict(fingerprint)}
        if not isinstance(backend, SerialBackend):
            context["backend"] = backend.describe()
        history = [earlier_runs(out) if opts.resume else [] for out in self.outs]
        kept = CountsWriter(self.outs[0], self.counts, resume=opts.resume, overwrite=opts.overwrite) \
            if self.counts else None
        writers = self._open_writers()
        todo = [i for i in indices if any(i not in w.done for w in writers)]  # counts follow the rows computed
        contexts = [{**context, **({"counts": {**kept.describe(), "num_classes": smooth.num_classes}}
                                   if kept and k == 0 else {})} for k in range(len(self.outs))]
        for out, args, earlier, ctx in zip(self.outs, self.arguments, history, contexts, strict=True):
            write_manifest(out, args, status="running", **ctx, **({"earlier_runs": earlier} if earlier else {}))
        # Enough inputs per call that the smallest sampling step (CERTIFY's selection) fills a forward batch.
        cap = chunk or max(1, min(MAX_CHUNK, math.ceil(batch_size / fill_samples)))
        size = chunk or 1  # unless fixed, the chunk starts at one input and adapts to its time (next_chunk)
        stats = {"inputs": 0, "correct": 0, "seconds": 0.0, "samples": 0, "longest_chunk_seconds": 0.0}
        # Sample counts are known in advance except for sequential runs, whose bar counts inputs instead.
        by_input = per_input_samples is None
        bar = progress_bar(total=len(todo) * (per_input_samples or 1), unit="input" if by_input else "sample",
                           unit_scale=not by_input, disable=not opts.progress,
                           desc=f"{self.kind} {_noise_label(smooth)}", smoothing=0.1)
        started = time.perf_counter()
        written: set[int] = set()  # inputs written by this call: a chunk delivered twice is written once

        def next_size(size: int, seconds_per_input: float) -> int:
            return chunk if chunk is not None else next_chunk(size, seconds_per_input, cap)

        deliveries = backend.map(smooth, x, todo, compute, first_size=size, next_size=next_size,
                                 progress=None if by_input else bar.update, batch_size=batch_size, clock=_now)
        try:
            for delivery in deliveries:
                fresh = [j for j, i in enumerate(delivery.ids) if i not in written]
                if not fresh:
                    continue
                ids = [delivery.ids[j] for j in fresh]
                per_file = [[rows[j] for j in fresh] for rows in delivery.rows]
                written.update(ids)
                elapsed = delivery.seconds
                seconds = round(elapsed / len(delivery.ids), 4) if opts.record_time else 0.0
                stats["longest_chunk_seconds"] = max(stats["longest_chunk_seconds"], round(elapsed, 3))
                if kept is not None:  # the counts reach the disk before their rows
                    kept.write(ids, {kind: [row[kind] for row in per_file[0]] for kind in self.counts})
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
                elif not delivery.reported:  # computed elsewhere: counted as it arrives
                    bar.update(len(ids) * per_input_samples)
                stats["inputs"] += len(ids)
                bar.set_postfix(done=f"{len(indices) - len(todo) + stats['inputs']}/{len(indices)}",
                                acc=f"{stats['correct'] / stats['inputs']:.3f}")
        finally:
            deliveries.close()  # a backend stops its workers
            bar.close()
            for w in writers:
                w.close()
            stats["seconds"] = time.perf_counter() - started
            complete = stats["inputs"] == len(todo)
            timing = {**stats, "samples_per_second": stats["samples"] / max(stats["seconds"], 1e-9)}
            if len(self.outs) > 1:
                timing["files_sharing_the_samples"] = len(self.outs)
            for out, args, w, earlier, ctx in zip(self.outs, self.arguments, writers, history, contexts, strict=True):
                write_manifest(out, args, status="complete" if complete else "interrupted",
                               timing={**timing, "resumed_rows": len(w.done)}, **ctx,
                               **({"earlier_runs": earlier} if earlier else {}))
        return stats

    def _open_writers(self) -> list[ResultWriter]:
        writers: list[ResultWriter] = []
        try:
            for out in self.outs:
                writers.append(ResultWriter(out, self.columns, resume=self.options.resume,
                                            overwrite=self.options.overwrite, lock=False))  # execute holds it
        except Exception:
            for w in writers:
                w.close()
            raise
        return writers
