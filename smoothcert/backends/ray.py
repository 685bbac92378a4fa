"""The Ray backend: chunks of the missing inputs computed by a pool of Ray actors, one per worker, each of
which builds the model and engine once from a picklable :class:`~smoothcert.backends.base.WorkerSpec`.

The driver (the process that runs :meth:`smoothcert.runs.Run.execute`) stays the only writer: it sends each
chunk's indices and inputs with the :class:`~smoothcert.backends.base.Task` to compute, and receives rows.
Deliveries are handed back in the order of the inputs, so the results file is the one a serial run writes.

Faults: an actor whose process dies is restarted by Ray (``max_restarts``) and its chunk re-run
(``max_task_retries``); a chunk whose actor is gone for good is re-submitted to another worker, up to
``max_attempts`` times, after which the run stops with a :class:`~smoothcert.backends.base.BackendError`
(rows already written are kept, and ``--resume`` continues). Ray itself is imported only when a run starts:
without the ``ray`` extra the error is one line.
"""

from __future__ import annotations

import copy
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence

import torch

from ..errors import InvalidArgumentError
from ..smooth import Smooth
from .base import Backend, BackendError, Delivery, ModelSource, NextSize, Progress, Task, WorkerSpec

#: Chunks in flight per worker: one computing, one waiting, so a worker never idles on the round trip.
IN_FLIGHT = 2

#: The device of a worker given GPUs: Ray makes the GPUs it assigns the only ones the worker sees, so the
#: worker's first CUDA device is its own (never another worker's).
WORKER_GPU = "cuda"


def import_ray():
    """The ``ray`` module, or a one-line BackendError naming the extra to install."""
    try:
        import ray
    except ImportError as err:
        raise BackendError("--backend ray needs Ray: pip install 'smoothcert[ray]'") from err
    return ray


class Worker:
    """The body of one Ray actor: a smoothed classifier built once, then chunks computed on it."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.smooth = spec.build()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def pid(self) -> int:
        return os.getpid()

    def compute(self, task: Task, x: torch.Tensor, ids: list[int]) -> tuple[list[list[dict]], float, str]:
        t0 = time.perf_counter()
        rows = task(self.smooth, x, ids, None)
        return rows, time.perf_counter() - t0, self.name


class RayBackend(Backend):
    """Chunks computed by ``workers`` Ray actors, each holding ``cpus_per_worker`` CPUs and
    ``gpus_per_worker`` GPUs (a GPU worker samples on its GPU: rows then match a serial run on a GPU, not
    on a CPU).

    Args:
        source: where each worker builds the model (:class:`ModelSource`); None for a study that runs several
            models, each with its own (:meth:`for_source`).
        address: the Ray cluster to join ("auto": the one ``ray start`` set up on this machine, or
            HOST:PORT); None starts a local one for this run (stopped after it) unless Ray is already
            initialised in this process.
        workers: actors to start (default: as many as the cluster's CPUs, or GPUs, allow).
        cpus_per_worker, gpus_per_worker: resources each actor holds; a CPU worker samples on that many
            torch threads.
        max_restarts: times Ray restarts a dead actor (each restart builds the model again).
        max_attempts: times one chunk is tried before the run stops.
    """

    name = "ray"

    def __init__(self, source: ModelSource | None, *, address: str | None = None, workers: int | None = None,
                 cpus_per_worker: float = 1, gpus_per_worker: float = 0, max_restarts: int = 3,
                 max_attempts: int = 4) -> None:
        if workers is not None and workers < 1:
            raise InvalidArgumentError(f"--workers must be >= 1, got {workers}")
        if cpus_per_worker <= 0:
            raise InvalidArgumentError(f"--cpus-per-worker must be > 0, got {cpus_per_worker}")
        if gpus_per_worker < 0:
            raise InvalidArgumentError(f"--gpus-per-worker must be >= 0, got {gpus_per_worker}")
        self.source = source
        self.address = address
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.gpus_per_worker = gpus_per_worker
        self.max_restarts = max_restarts
        self.max_attempts = max_attempts
        self.actors: list = []  # the live actors of the run in progress (a test may kill one)

    def describe(self) -> dict:
        return {"name": self.name, "address": self.address or "local", "workers": self.workers,
                "cpus_per_worker": self.cpus_per_worker, "gpus_per_worker": self.gpus_per_worker,
                "model_source": None if self.source is None else self.source.to_dict()}

    def for_source(self, source: ModelSource) -> RayBackend:
        """The same cluster and workers, building their model from ``source``."""
        other = copy.copy(self)
        other.source, other.actors = source, []
        return other

    def job_pool(self, workers: int | None = None, threads: int | None = None):
        """Jobs as Ray tasks on the cluster (:class:`~smoothcert.backends.jobs.RayJobs`), ``workers`` at once
        (default: this backend's ``workers``, else as many as the cluster's resources allow)."""
        from .jobs import RayJobs

        return RayJobs(self, workers, threads)

    # --- the cluster ------------------------------------------------------------------------------------

    def _connect(self, ray) -> bool:
        """Join (or start) the cluster; True when this call started Ray and must stop it."""
        if ray.is_initialized():
            return False
        try:
            if self.address is None:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise BackendError(f"cannot reach the Ray cluster at {self.address or 'a new local one'}: "
                               f"{' '.join(str(err).split())[:200]}") from err
        return True

    def _count(self, ray) -> int:
        if self.workers is not None:
            return self.workers
        resources = ray.cluster_resources()
        if self.gpus_per_worker > 0:
            return max(1, int(resources.get("GPU", 0) // self.gpus_per_worker))
        return max(1, int(resources.get("CPU", 1) // self.cpus_per_worker))

    def _start(self, ray, spec: WorkerSpec, count: int) -> list:
        actor = ray.remote(Worker).options(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker,
                                           max_restarts=self.max_restarts, max_task_retries=self.max_restarts)
        return [actor.remote(spec) for _ in range(count)]

    # --- the run ----------------------------------------------------------------------------------------

    def map(self, smooth: Smooth, x: torch.Tensor, todo: Sequence[int], compute, *, first_size: int,
            next_size: NextSize, progress: Progress, batch_size: int,
            clock: Callable[[], float] = time.perf_counter) -> Iterator[Delivery]:
        if not isinstance(compute, Task):
            raise InvalidArgumentError("this run computes its rows with a local function, which cannot be sent to "
                                       "Ray workers: run it with the serial backend")
        if self.source is None:
            raise BackendError("this run names no model the Ray workers can build (RayBackend.for_source)")
        ray = import_ray()
        started = self._connect(ray)
        device = WORKER_GPU if self.gpus_per_worker > 0 else "cpu"
        threads = max(1, int(self.cpus_per_worker)) if device == "cpu" else None
        spec = WorkerSpec.of(self.source, smooth, batch_size, device=device, threads=threads)
        try:
            self.actors = self._start(ray, spec, self._count(ray))
            yield from self._stream(ray, x, list(todo), compute, first_size, next_size)
        finally:
            for actor in self.actors:
                ray.kill(actor, no_restart=True)
            self.actors = []
            if started:
                ray.shutdown()

    def _stream(self, ray, x: torch.Tensor, todo: list[int], task: Task, size: int,
                next_size: NextSize) -> Iterator[Delivery]:
        """Keep every actor :data:`IN_FLIGHT` chunks busy; yield the deliveries in the order of ``todo``."""
        pending: dict = {}  # object ref → (chunk number, ids, attempts, actor)
        chunks: list[list[int]] = []  # chunk number → its ids
        ready: dict[int, Delivery] = {}  # delivered out of order, waiting for their turn
        load = {k: 0 for k in range(len(self.actors))}
        first, turn = 0, 0
        x = x.cpu()

        def submit(number: int, attempts: int, avoid: int | None = None) -> None:
            ids = chunks[number]
            free = [k for k in load if k != avoid] or list(load)
            k = min(free, key=lambda a: load[a])
            ref = self.actors[k].compute.remote(task, x[ids].clone(), ids)
            pending[ref] = (number, attempts, k)
            load[k] += 1

        while turn < len(chunks) or first < len(todo):
            while first < len(todo) and len(pending) < IN_FLIGHT * len(self.actors):
                chunks.append(todo[first : first + size])
                first += len(chunks[-1])
                submit(len(chunks) - 1, 1)
            done, _ = ray.wait(list(pending), num_returns=1)
            number, attempts, k = pending.pop(done[0])
            load[k] -= 1
            try:
                rows, seconds, worker = ray.get(done[0])
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as err:
                if attempts >= self.max_attempts:
                    raise BackendError(f"inputs {chunks[number][0]}..{chunks[number][-1]} failed on "
                                       f"{attempts} workers, the last with: {type(err).__name__}") from err
                submit(number, attempts + 1, avoid=k)  # at least once: the writer keeps the first delivery
                continue
            except ray.exceptions.RayTaskError as err:  # the task itself raised: the same error as a serial run
                raise err.as_instanceof_cause() from None
            ids = chunks[number]
            size = next_size(size, seconds / len(ids))
            ready[number] = Delivery(ids, rows, seconds, reported=False, worker=worker)
            while turn in ready:
                yield ready.pop(turn)
                turn += 1
