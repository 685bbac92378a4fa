"""Optional model compilation for the sampling engine (torch.compile with weight freezing).

Compiling pays a few seconds once and then runs each noisy forward pass 1.5–3× faster on CPU for the small
CNNs measured in docs/benchmarks.md. Weights are frozen into the compiled graph, so a model changed after
compilation must be compiled again. Shapes are static: the engine always feeds full batches.
If compilation fails (no C++ compiler, an unsupported layer), the eager model is used and a warning says so.
"""

from __future__ import annotations

import time
import warnings

import torch
from torch import nn

from .errors import InvalidArgumentError


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


#: Precisions the engine can sample in; "bf16" runs the model under bfloat16 autocast.
PRECISIONS = ("fp32", "bf16")


class AutocastModel(nn.Module):
    """Runs ``model`` under bfloat16 autocast and returns float32 logits.

    The base classifier is then the bf16 model: a different function from the fp32 one, close to it but not
    equal, and certificates are certificates of that function. Manifests record the precision.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, dtype=self.dtype):
            return self.model(x).float()


def engine_model(model: nn.Module, precision: str = "fp32", compile: bool = False) -> nn.Module:
    """The module the sampling engine calls: ``model``, optionally under bf16 autocast, optionally compiled."""
    if precision not in PRECISIONS:
        raise InvalidArgumentError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    wrapped = AutocastModel(model) if precision == "bf16" else model
    return CompiledModel(wrapped) if compile else wrapped


def flops_per_sample(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> int:
    """Floating-point operations of one forward pass on one input (multiply and add counted apart)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros((1, *input_shape), device=device))
    return int(counter.get_total_flops())


def matmul_rate(dtype: torch.dtype = torch.float32, size: int = 2048, seconds: float = 1.0,
                device: torch.device | str = "cpu") -> float:
    """Measured dense matrix-multiply rate in FLOP/s for ``dtype`` on ``device`` (the roofline's ceiling)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b  # warm-up
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or reps < 2:
        a @ b
        reps += 1
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * reps / (time.perf_counter() - start)


def tune_batch_size(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu",
                    candidates: tuple[int, ...] = (256, 512, 1024, 2048, 4096), seconds: float = 0.3) -> int:
    """The candidate batch size with the most samples per second for ``model`` on this machine (eager)."""
    best, best_rate = candidates[0], 0.0
    with torch.inference_mode():
        for size in candidates:
            batch = torch.rand((size, *input_shape), device=device)
            model(batch)
            reps, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds or reps < 2:
                model(batch)
                reps += 1
            rate = size * reps / (time.perf_counter() - start)
            if rate > best_rate:
                best, best_rate = size, rate
    return best
