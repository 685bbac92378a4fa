"""The serial backend: every chunk computed here, one after the other, on the driver's own engine (what every
run did before backends existed, and what runs without ``--backend``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import torch

from ..smooth import Smooth
from .base import Backend, Delivery, NextSize, Progress, Task


def call(compute, smooth: Smooth, x: torch.Tensor, ids: list[int], progress: Progress) -> list[list[dict]]:
    """Run ``compute`` on one chunk: a :class:`Task` gets the smoothed classifier, a plain function of the
    older form ``compute(x, ids, progress)`` does not."""
    if isinstance(compute, Task):
        return compute(smooth, x, ids, progress)
    return compute(x, ids, progress)


class SerialBackend(Backend):
    """Chunks computed in this process, in order; chunk sizes follow ``next_size`` after each chunk."""

    name = "serial"

    def job_pool(self, workers: int | None = None, threads: int | None = None):
        """Jobs here (one worker), or in a pool of ``workers`` processes on this machine: independent jobs
        need no cluster to run side by side, and their outputs do not depend on where they ran."""
        from .jobs import LocalJobs

        return LocalJobs(1 if workers is None else workers, threads)

    def map(self, smooth: Smooth, x: torch.Tensor, todo: Sequence[int], compute, *, first_size: int,
            next_size: NextSize, progress: Progress, batch_size: int,
            clock: Callable[[], float] = time.perf_counter) -> Iterator[Delivery]:
        size, first = first_size, 0
        while first < len(todo):
            ids = list(todo[first : first + size])
            first += len(ids)
            t0 = clock()
            rows = call(compute, smooth, x[ids], ids, progress)
            elapsed = clock() - t0
            size = next_size(size, elapsed / len(ids))
            yield Delivery(ids, rows, elapsed, reported=progress is not None)
