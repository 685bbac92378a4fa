"""What every backend shares: the picklable description of a worker's model and smoothed classifier, the
picklable task a chunk of inputs is computed by, and the :class:`Backend` interface that maps chunks to rows.

A backend never writes: :meth:`smoothcert.runs.Run.execute` stays the only writer of a results file and asks
its backend only for the rows of the inputs still missing, chunk by chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import InvalidArgumentError, SmoothcertError
from ..smooth import Smooth

Progress = Callable[[int], None] | None

#: next_size(size, seconds_per_input) → the size of the next chunk (the run's chunking policy).
NextSize = Callable[[int, float], int]


class BackendError(SmoothcertError):
    """A backend cannot start or cannot finish a run (a missing extra, a cluster that cannot be reached, a
    chunk that kept failing)."""


@dataclass(frozen=True)
class ModelSource:
    """Where a worker builds the base model from: a smoothcert checkpoint, or ``module:factory`` with optional
    safetensors weights. Paths must be readable where the workers run (a shared file system on a cluster).
    Never a pickled live model: each worker builds its own, once."""

    checkpoint: str | None = None
    factory: str | None = None
    weights: str | None = None

    def __post_init__(self) -> None:
        if (self.checkpoint is None) == (self.factory is None):
            raise InvalidArgumentError("a model source is a checkpoint or a module:factory, exactly one of them")
        if self.checkpoint is not None and self.weights is not None:
            raise InvalidArgumentError("weights go with a factory; a checkpoint carries its own")
        for name in ("checkpoint", "weights"):  # absolute, so a worker started elsewhere finds the same file
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(Path(value).resolve()))
        if self.factory is not None:  # a factory in a file: its path made absolute as well
            target, _, attr = self.factory.rpartition(":")
            if target.endswith(".py") or "/" in target:
                object.__setattr__(self, "factory", f"{Path(target).resolve()}:{attr}")

    def load(self, device: torch.device | str) -> nn.Module:
        """The model, built and loaded, in eval mode on ``device``."""
        from ..models import load_checkpoint, load_user_model

        if self.checkpoint is not None:
            return load_checkpoint(self.checkpoint, device)[0]
        return load_user_model(self.factory, self.weights).to(device)

    def to_dict(self) -> dict:
        return {k: v for k, v in (("checkpoint", self.checkpoint), ("factory", self.factory),
                                  ("weights", self.weights)) if v is not None}


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to build the same smoothed classifier as the driver: the model's source and
    the Smooth's settings (noise, classes, seed, outcome map) with the engine's (resolved batch size,
    precision, compilation, device, CPU threads). Picklable; built once per worker by :meth:`build`."""

    source: ModelSource
    noise: object  # a Noise (small and picklable: its parameters only)
    num_classes: int
    seed: int
    outcome_map: object
    batch_size: int
    precision: str = "fp32"
    compile: bool = False
    device: str = "cpu"
    threads: int | None = None
    calibration: torch.Tensor | None = None  # int8: the engine's calibration inputs (the same int8 model follows)
    layout: str = "auto"  # the driver's measured layout, so workers run the same kernels

    @classmethod
    def of(cls, source: ModelSource, smooth: Smooth, batch_size: int, *, device: str = "cpu",
           threads: int | None = None) -> WorkerSpec:
        """The spec of ``smooth`` (its model coming from ``source``) with the driver's measured batch size."""
        info = smooth.engine_info()
        return cls(source, smooth.noise, smooth.num_classes, smooth.seed, smooth.outcome_map, int(batch_size),
                   info["precision"], bool(info["compile"]), device, threads, smooth.engine.calibration,
                   info["layout"])

    def build(self) -> Smooth:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        model = self.source.load(self.device)
        return Smooth(model, self.num_classes, noise=self.noise, seed=self.seed, outcome_map=self.outcome_map,
                      batch_size=self.batch_size, device=self.device, compile=self.compile,
                      precision=self.precision, calibration=self.calibration, layout=self.layout)


class Task:
    """What to compute for a chunk of inputs, as a picklable object: ``task(smooth, x, ids, progress)`` →
    one list of rows per results file, one row per input of ``x`` (seeded by ``ids``). Subclasses are
    dataclasses of plain settings, so a task travels to any worker."""

    def __call__(self, smooth: Smooth, x: torch.Tensor, ids: list[int], progress: Progress) -> list[list[dict]]:
        raise NotImplementedError


@dataclass
class Delivery:
    """The rows of one chunk as a backend hands them back: ``ids`` in order, ``rows`` per file (one per id),
    the seconds the chunk took where it was computed, and whether the progress bar already counted its
    samples (the serial backend reports them live)."""

    ids: list[int]
    rows: list[list[dict]]
    seconds: float
    reported: bool = False
    worker: str = field(default="local")


class Backend:
    """Maps chunks of inputs to rows. :meth:`map` yields one :class:`Delivery` per chunk, in the order of
    ``todo`` (so a results file is the same whatever the backend); a chunk may be delivered more than once
    (retries are at-least-once), and the writer keeps the first."""

    name = "backend"
    #: Where workers build the model from (None: rows are computed on the driver's model).
    source: ModelSource | None = None

    def describe(self) -> dict:
        """For the manifest's context: which backend ran and how (never part of the run's arguments)."""
        return {"name": self.name}

    def for_source(self, source: ModelSource) -> Backend:
        """This backend for a run whose workers build their model from ``source`` (a study that audits several
        models, or wraps one in an ensemble, runs each with its own source). The serial backend computes on
        the driver's model and returns itself."""
        return self

    def job_pool(self, workers: int | None = None, threads: int | None = None):
        """A :class:`~smoothcert.backends.jobs.JobPool` for a study's independent jobs (``workers`` at once,
        ``threads`` torch threads each)."""
        raise NotImplementedError

    def map(self, smooth: Smooth, x: torch.Tensor, todo: Sequence[int], compute, *, first_size: int,
            next_size: NextSize, progress: Progress, batch_size: int,
            clock: Callable[[], float] = time.perf_counter) -> Iterator[Delivery]:
        """Yield the rows of every input of ``todo`` (indices into ``x``), chunk by chunk: the first chunk of
        ``first_size`` inputs, each next one of ``next_size(size, seconds_per_input)``; ``progress`` (the bar,
        counting samples) may be called as samples are drawn; ``batch_size`` is the driver's resolved one;
        ``clock`` times chunks computed here."""
        raise NotImplementedError
