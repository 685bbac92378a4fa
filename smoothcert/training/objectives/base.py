"""The protocol every training objective follows, so one loop (:func:`~smoothcert.training.loop.fit`) runs them all."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class Objective(ABC):
    """What is minimized on one batch; the loop owns everything else (data order, optimizer, epochs, state).

    Subclasses set :attr:`name` (the registry key) and implement :meth:`loss` and :meth:`to_dict`. An objective
    must be stateless across batches (all randomness from the generator it is handed), so that a resumed run
    repeats an uninterrupted one; settings that change with the epoch derive from ``epoch`` alone.
    """

    name: str = ""

    @abstractmethod
    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
             epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss to minimize on one batch, and the terms to log.

        Args:
            model: the model being trained, in training mode (an objective that attacks it may switch modes
                but must leave it in training mode).
            x: inputs [B, ...] in input space, on the model's device; y: int64 labels [B].
            generator: the run's noise generator, on the model's device (noise, attack starts, …).
            epoch: the current epoch, 1-based.
        Returns:
            (scalar loss tensor with gradients, {term: batch mean as a float}); the loop logs the loss itself
            as ``loss`` and each term's mean over the epoch (weighted by batch size).
        """

    @abstractmethod
    def to_dict(self) -> dict:
        """JSON-able settings, with ``"type"`` the registry key, for training states and checkpoint sidecars."""

    def start_epoch(self, epoch: int) -> dict:
        """Called before each epoch (1-based); returns per-epoch settings to log (e.g. a scheduled ε)."""
        return {}
