"""Job pools: where a study's independent jobs run (the trade-off grid's fine-tuning and cell jobs), for studies
whose work is a graph of jobs that each write their own file rather than the rows of one results file.

A job is a module-level function with picklable arguments; it writes its own output and returns a small
picklable record. Jobs may run more than once (a Ray task is retried when its worker dies): a job must
write its output whole (atomically) and read it back when it is already there, so a repeated job is the
same job.

- :class:`LocalJobs` (the serial backend's pool): one worker runs the jobs here, one after another; more run
  them in a pool of that many spawned processes on this machine.
- :class:`RayJobs` (the Ray backend's pool): each job a Ray task on the cluster; its output path must be
  on a file system the cluster's nodes share.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

import torch

from ..errors import InvalidArgumentError
from ..validate import check_count


def torch_threads(threads: int | None) -> None:
    """Set torch's intra-op threads (None: leave as is); also the initializer of every worker process."""
    if threads is not None:
        torch.set_num_threads(check_count("threads", threads))


def _threaded(threads: int | None, fn: Callable, args: tuple) -> object:
    """Run ``fn(*args)`` with ``threads`` torch threads (in a Ray worker, which keeps its process between tasks)."""
    torch_threads(threads)
    return fn(*args)


class JobPool:
    """Jobs tagged by the caller; :meth:`next_done` hands back one finished job at a time."""

    def submit(self, tag: object, fn: Callable, *args: object) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def next_done(self) -> tuple[object, object]:
        """(tag, result) of the next finished job; a job's exception is raised here."""
        raise NotImplementedError

    def run(self, fn: Callable, *args: object) -> object:
        """Run one job to completion (on a worker where the pool has them) and return its result."""
        raise NotImplementedError

    def close(self, finished: bool) -> None:
        """Stop the workers (unless ``finished``, jobs not started are cancelled)."""


class LocalJobs(JobPool):
    """With one worker the jobs run here, in submission order, when they are asked for (so progress advances
    job by job); with more, in a pool of ``workers`` spawned processes with ``threads`` torch threads each."""

    def __init__(self, workers: int = 1, threads: int | None = None) -> None:
        self.workers = check_count("workers", workers)
        self._pool: ProcessPoolExecutor | None = None
        self._waiting: list[tuple[object, Callable, tuple]] = []  # inline: jobs not run yet
        self._running: dict[Future, object] = {}  # pool: jobs submitted
        self._threads_before = torch.get_num_threads()
        if self.workers == 1:
            torch_threads(threads)
        else:
            # spawn, not fork: forking a process whose torch thread pools already ran can deadlock the children.
            self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=torch_threads, initargs=(threads,))

    def submit(self, tag: object, fn: Callable, *args: object) -> None:
        if self._pool is None:
            self._waiting.append((tag, fn, args))
        else:
            self._running[self._pool.submit(fn, *args)] = tag

    def __len__(self) -> int:
        return len(self._waiting) + len(self._running)

    def next_done(self) -> tuple[object, object]:
        if self._pool is None:
            tag, fn, args = self._waiting.pop(0)
            return tag, fn(*args)
        done, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        future = next(iter(done))
        return self._running.pop(future), future.result()

    def run(self, fn: Callable, *args: object) -> object:
        if self._pool is None:
            return fn(*args)
        return self._pool.submit(fn, *args).result()

    def close(self, finished: bool) -> None:
        """Shut the pool down; restore torch's threads."""
        torch.set_num_threads(self._threads_before)
        if self._pool is not None:
            self._pool.shutdown(wait=finished, cancel_futures=not finished)


class RayJobs(JobPool):
    """Each job a Ray task holding the backend's ``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs, run
    with ``threads`` torch threads; at most ``workers`` at once (None: as many as the cluster's resources
    allow). A task whose worker dies is retried by Ray (``max_restarts`` times); an exception a job raises is
    raised here, as with :class:`LocalJobs`."""

    def __init__(self, backend, workers: int | None = None, threads: int | None = None) -> None:
        from .ray import import_ray

        if workers is not None:
            check_count("workers", workers)
        self.ray = import_ray()
        self.backend = backend
        self.workers = workers if workers is not None else backend.workers
        self.threads = threads
        self._started = backend._connect(self.ray)
        self._remote = self.ray.remote(_threaded).options(
            num_cpus=backend.cpus_per_worker, num_gpus=backend.gpus_per_worker, max_retries=backend.max_restarts)
        self._waiting: list[tuple[object, Callable, tuple]] = []  # beyond ``workers`` in flight
        self._running: dict = {}  # object ref → tag

    def _fill(self) -> None:
        while self._waiting and (self.workers is None or len(self._running) < self.workers):
            tag, fn, args = self._waiting.pop(0)
            self._running[self._remote.remote(self.threads, fn, args)] = tag

    def submit(self, tag: object, fn: Callable, *args: object) -> None:
        if getattr(fn, "__name__", "<lambda>") == "<lambda>" or "<locals>" in getattr(fn, "__qualname__", ""):
            raise InvalidArgumentError("a job sent to Ray workers must be a module-level function")
        self._waiting.append((tag, fn, args))
        self._fill()

    def __len__(self) -> int:
        return len(self._waiting) + len(self._running)

    def next_done(self) -> tuple[object, object]:
        self._fill()
        done, _ = self.ray.wait(list(self._running), num_returns=1)
        tag = self._running.pop(done[0])
        try:
            result = self.ray.get(done[0])
        except self.ray.exceptions.RayTaskError as err:  # the job itself raised: the same error as a local run
            raise err.as_instanceof_cause() from None
        self._fill()
        return tag, result

    def run(self, fn: Callable, *args: object) -> object:
        ref = self._remote.remote(self.threads, fn, args)
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as err:
            raise err.as_instanceof_cause() from None

    def close(self, finished: bool) -> None:
        if not finished:
            for ref in self._running:
                self.ray.cancel(ref, force=True)
        self._running, self._waiting = {}, []
        if self._started:
            self.ray.shutdown()
