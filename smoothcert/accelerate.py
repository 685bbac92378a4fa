"""Optional model compilation for the sampling engine (torch.compile with weight freezing).

Compiling pays a few seconds once and then runs each noisy forward pass 1.5–3× faster on CPU for the small
CNNs measured in docs/benchmarks.md. Weights are frozen into the compiled graph, so a model changed after
compilation must be compiled again. Shapes are static: the engine always feeds full batches.
If compilation fails (no C++ compiler, an unsupported layer), the eager model is used and a warning says so.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


class CompiledModel(nn.Module):
    """Wraps ``model`` with ``torch.compile(dynamic=False, freezing)``, falling back to eager on failure.

    The wrapped model is switched to channels-last memory format when its inputs are images, which oneDNN's
    convolutions prefer.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._compiled = None
        self._working = False  # set after the first successful compiled call
        self._failed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._failed:
            return self.model(x)
        if self._compiled is None:
            if x.dim() == 4:
                self.model.to(memory_format=torch.channels_last)
            self._compiled = torch.compile(self.model, dynamic=False, options={"freezing": True})
        if self._working:
            return self._compiled(x)
        try:
            out = self._compiled(x)
        except Exception as err:  # compilation problems surface at the first call, as many exception types
            warnings.warn(f"torch.compile failed ({type(err).__name__}); using the eager model", stacklevel=2)
            self._failed = True
            return self.model(x)  # an input the model cannot take raises its usual error here
        self._working = True
        return out
