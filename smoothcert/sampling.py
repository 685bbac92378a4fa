"""Seeded noise in fixed blocks, and batches of noisy copies for the engine (:class:`smoothcert.engine.Engine`).

One forward pass carries the noisy copies of several inputs, so batches stay full even when each input needs
only n0 = 100 samples; the engine counts outcomes with one ``bincount`` per batch, never a Python loop over
samples.

Reproducibility: each (input, stream) pair has its own generator, seeded from (seed, input index, stream),
and its noise is always drawn in blocks of :data:`BLOCK_SIZE` samples (the last block of a request may be
shorter). The values an input sees therefore depend on the seed, its index and how many samples it asks for,
never on batch size or on which other inputs share its batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from .errors import InputError, InvalidArgumentError
from .noise import Noise

#: Noise is drawn per input in blocks of this many samples; changing it changes the noise a seed gives.
BLOCK_SIZE = 256

#: Stream ids: independent noise for the selection, estimation and prediction steps of one input.
SELECTION, ESTIMATION, PREDICTION = 0, 1, 2


class OutcomeMap(Protocol):
    """Maps a batch of logits [N, C] to outcome ids [N] (int64) in [0, num_outcomes)."""

    num_outcomes: int

    def __call__(self, logits: torch.Tensor) -> torch.Tensor: ...


class ArgmaxOutcome:
    """The plain base classifier f(x) = argmax_c logits_c (ties go to the lowest class, as torch.argmax)."""

    def __init__(self, num_classes: int) -> None:
        self.num_outcomes = int(num_classes)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[1] != self.num_outcomes:
            raise InputError(f"the model returns {logits.shape[1]} logits, but num_classes is {self.num_outcomes}")
        return logits.argmax(dim=1)


def derive_seed(seed: int, index: int, stream: int) -> int:
    """A 63-bit generator seed from (run seed, input index, stream), well mixed by NumPy's SeedSequence."""
    if index < 0:
        raise InvalidArgumentError(f"input index must be >= 0, got {index}")
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(index), int(stream)]).generate_state(
        2, np.uint32
    )
    return (int(state[0]) << 31) ^ int(state[1])


def make_generators(
    seed: int, indices: Sequence[int], stream: int, device: torch.device | str
) -> list[torch.Generator]:
    """One fresh generator per input index, on ``device``."""
    gens = []
    for index in indices:
        g = torch.Generator(device=device)
        g.manual_seed(derive_seed(seed, index, stream))
        gens.append(g)
    return gens


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free module)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@dataclass(frozen=True)
class NoisyBatch:
    """One forward pass of noisy copies, as :func:`noisy_batches` yields it.

    Attributes:
        rows: noisy inputs [R, *input_shape]; R = ``size``, or the full batch size with static shapes (rows
            past ``size`` are padding, to be ignored).
        owner: [size] int64, the position in ``x`` of the input each real row is a copy of.
        position: [size] int64, the sample number of each real row within its input's request.
        size: the number of real rows.
    """

    rows: torch.Tensor
    owner: torch.Tensor
    position: torch.Tensor
    size: int


def noisy_batches(
    x: torch.Tensor,
    noise: Noise,
    num_samples: int | Sequence[int],
    generators: Sequence[torch.Generator],
    batch_size: int,
    static_shapes: bool = False,
) -> Iterator[NoisyBatch]:
    """Batches of noisy copies of the inputs ``x`` [B, *input_shape], filled with whole noise blocks.

    Each input's noise is drawn from its own generator in blocks of :data:`BLOCK_SIZE`, input after input,
    into one preallocated buffer (no allocation per batch). The yielded tensors are views of that buffer:
    use each batch before asking for the next.
    """
    num_inputs = x.shape[0]
    remaining = [int(num_samples)] * num_inputs if isinstance(num_samples, int) else [int(m) for m in num_samples]
    if len(remaining) != num_inputs or len(generators) != num_inputs:
        raise InvalidArgumentError("num_samples and generators need one entry per input")
    if min(remaining, default=0) < 0 or batch_size < 1:
        raise InvalidArgumentError(f"need num_samples >= 0 and batch_size >= 1, got {num_samples}, {batch_size}")
    requested = list(remaining)
    capacity = max(batch_size, BLOCK_SIZE)
    # Zeroed once: rows past the filled part are forwarded (full batches keep shapes static) but not counted.
    buffer = torch.zeros((capacity, *x.shape[1:]), dtype=x.dtype, device=x.device)
    owner = torch.empty(capacity, dtype=torch.long, device=x.device)
    position = torch.empty(capacity, dtype=torch.long, device=x.device)
    current = 0
    while current < num_inputs:
        filled = 0
        # Fill one batch with whole blocks, input after input.
        while current < num_inputs:
            if remaining[current] == 0:
                current += 1
                continue
            m = min(BLOCK_SIZE, remaining[current])
            if filled > 0 and filled + m > batch_size:
                break
            noise.sample_(buffer[filled : filled + m], generators[current]).add_(x[current])
            owner[filled : filled + m] = current
            done = requested[current] - remaining[current]
            torch.arange(done, done + m, out=position[filled : filled + m])
            remaining[current] -= m
            filled += m
        if filled == 0:
            break
        for start in range(0, filled, batch_size):
            stop = min(start + batch_size, filled)
            rows = buffer[start : start + batch_size] if static_shapes else buffer[start:stop]
            yield NoisyBatch(rows, owner[start:stop], position[start:stop], stop - start)


def forward(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """``model(batch)`` as logits [N, C]; a misfit input or output raises InputError naming the shapes."""
    try:
        logits = model(batch)
    except RuntimeError as err:  # shape mismatches surface here as RuntimeError
        first = str(err).splitlines()[0]
        raise InputError(f"inputs of shape {tuple(batch.shape[1:])} do not fit the model: {first}") from err
    if logits.dim() != 2:
        raise InputError(f"the model must return logits [N, C], got shape {tuple(logits.shape)}")
    return logits
