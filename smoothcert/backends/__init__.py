"""Backends: where the rows of a run are computed, while :class:`smoothcert.runs.Run` stays the only writer.

- :mod:`.base`: :class:`ModelSource` and :class:`WorkerSpec` (how a worker rebuilds the model and the smoothed
  classifier, picklable), :class:`Task` (what a chunk computes, picklable), :class:`Backend` and
  :class:`Delivery`, :class:`BackendError`.
- :mod:`.serial`: :class:`SerialBackend`, every chunk in this process (the default).
- :mod:`.ray`: :class:`RayBackend`, chunks on a pool of Ray actors (the ``ray`` extra; docs/scale-out.md).
- :mod:`.tasks`: the certify and predict tasks.
- :mod:`.jobs`: job pools for studies made of independent jobs (:meth:`Backend.job_pool`): :class:`LocalJobs`
  here or in local processes, :class:`RayJobs` as Ray tasks.

Every backend gives the same rows: each row is a function of (seed, input index) only.
"""

from .base import Backend, BackendError, Delivery, ModelSource, Task, WorkerSpec
from .jobs import JobPool, LocalJobs, RayJobs
from .ray import RayBackend
from .serial import SerialBackend
from .tasks import CertifyTask, PredictTask

#: Backend names the CLI offers.
BACKENDS = ("serial", "ray")


def make_backend(name: str, source: ModelSource | None = None, *, per_model: bool = False, **options) -> Backend:
    """The backend ``name`` ("serial" or "ray"); the Ray backend needs the model's ``source`` (unless
    ``per_model``: a study that runs several models gives each its own with :meth:`Backend.for_source`) and
    takes the options of :class:`RayBackend` (address, workers, cpus_per_worker, gpus_per_worker)."""
    from ..validate import check_choice

    name = check_choice("backend", name, BACKENDS)
    if name == "serial":
        return SerialBackend()
    if source is None and not per_model:
        raise BackendError("--backend ray needs a model the workers can build: --checkpoint, or --model "
                           "(with --weights)")
    return RayBackend(source, **options)


__all__ = ["BACKENDS", "Backend", "BackendError", "CertifyTask", "Delivery", "JobPool", "LocalJobs", "ModelSource",
           "PredictTask", "RayBackend", "RayJobs", "SerialBackend", "Task", "WorkerSpec", "make_backend"]
