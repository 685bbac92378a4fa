"""How the sampling engine runs the base model: memory layout, precision, compilation, batch size, and the
measurements that judge it (FLOPs per sample, the machine's matrix-multiply rate).

The engine's speed on CPU comes from channels-last layout, torch.compile with frozen weights, a batch size
measured for the model and machine, and optionally bf16 autocast; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import math
import time
import warnings

import torch
from torch import nn

from .errors import InvalidArgumentError

#: Precisions the engine can sample in; "bf16" runs the model under bfloat16 autocast.
PRECISIONS = ("fp32", "bf16")

#: Graphs torch.compile may keep per code object. Its default (8) is reached by a process that compiles a few
#: models at a few batch sizes (a σ grid, batch-size tuning), after which it silently runs eager.
RECOMPILE_LIMIT = 64


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


class EngineModel(nn.Module):
    """The module the sampling engine calls: the base model in the engine's layout, precision and compilation.

    On the first batch, image models (4-D inputs) are switched in place to channels-last memory format where
    it pays: on CPU, where oneDNN's convolutions prefer it (about 1.5–2× for the MNIST CNN), and under bf16
    on any device. Parameters keep their values and identity; only their strides change.
    With ``compile``, the forward pass goes through ``torch.compile(dynamic=False)`` with weight freezing: a
    few seconds once per batch shape, then faster. Frozen weights mean a model changed after the first call
    must be wrapped again. If compilation fails (no C++ compiler, an unsupported layer), the eager model is
    used and a warning says so.
    """

    def __init__(self, model: nn.Module, precision: str = "fp32", compile: bool = False,
                 channels_last: bool = True) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise InvalidArgumentError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model = model
        self.precision = precision
        self.compile = bool(compile)
        self.channels_last = bool(channels_last)
        self._inner: nn.Module = AutocastModel(model) if precision == "bf16" else model
        self._prepared = False
        self._compiled = None
        self._working = False  # set after the first successful compiled call
        self._failed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._prepared:
            self._prepare(x)
        if self._compiled is None:
            return self._inner(x)
        if self._working:
            return self._compiled(x)
        try:
            out = self._compiled(x)
        except Exception as err:  # compilation problems surface at the first call, as many exception types
            warnings.warn(f"torch.compile failed ({type(err).__name__}); using the eager model", stacklevel=2)
            self._compiled = None
            return self._inner(x)  # an input the model cannot take raises its usual error here
        self._working = True
        return out

    def _prepare(self, x: torch.Tensor) -> None:
        # Layout changes happen here, outside any compiled code, once.
        if self.channels_last and x.dim() == 4 and (x.device.type == "cpu" or self.precision == "bf16"):
            # Outside inference mode: parameters made there could never be trained again.
            with torch.inference_mode(False), torch.no_grad():
                self.model.to(memory_format=torch.channels_last)
        if self.compile:
            config = torch._dynamo.config
            name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
            setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
            self._compiled = torch.compile(self._inner, dynamic=False, options={"freezing": True})
        self._prepared = True


def engine_model(model: nn.Module, precision: str = "fp32", compile: bool = False,
                 channels_last: bool = True) -> EngineModel:
    """The module the sampling engine calls (see :class:`EngineModel`)."""
    return EngineModel(model, precision, compile, channels_last)


def flops_per_sample(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> int:
    """Floating-point operations of one forward pass on one input (multiply and add counted apart)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros((1, *input_shape), device=device))
    return int(counter.get_total_flops())


def matmul_rate(dtype: torch.dtype = torch.float32, size: int = 1024, seconds: float = 1.0,
                device: torch.device | str = "cpu") -> float:
    """Measured dense matrix-multiply rate in FLOP/s for ``dtype`` on ``device`` (the roofline's ceiling).

    The best of several timed windows, so a moment of interference from other processes does not lower it.
    """
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b  # warm-up
    best = 0.0
    for _ in range(4):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 4 or reps < 2:
            a @ b
            reps += 1
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * size**3 * reps / (time.perf_counter() - start))
    return best


#: Batch sizes tried by :func:`tune_batch_size`, smallest first. On a CPU the best is often small (the
#: activations of a batch stay in cache); on a GPU, large.
BATCH_CANDIDATES = (32, 64, 128, 256, 512, 1024, 2048, 4096)


@torch.inference_mode()
def tune_batch_size(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu",
                    candidates: tuple[int, ...] = BATCH_CANDIDATES, seconds: float = 0.05,
                    patience: int = 2) -> int:
    """The candidate batch size with the most samples per second for ``model`` on this machine, measured now.

    Pass the module the engine will call (an :class:`EngineModel`), so layout, precision and compilation are
    those of the real run; a compiled model compiles once per candidate. Each candidate is timed for at least
    ``seconds`` and three calls, taking the fastest call. The search stops after ``patience`` candidates in a
    row slower than the best so far (throughput rises with batch size to a peak, then falls).
    """
    best, best_rate, worse = candidates[0], 0.0, 0
    for size in candidates:
        batch = torch.rand((size, *input_shape), device=device)
        try:
            model(batch)  # warm-up: compilation, allocator, oneDNN primitive cache
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            break
        fastest, spent, reps = math.inf, 0.0, 0
        while spent < seconds or reps < 3:
            start = time.perf_counter()
            model(batch)
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            fastest, spent, reps = min(fastest, elapsed), spent + elapsed, reps + 1
        rate = size / fastest
        if rate > best_rate:
            best, best_rate, worse = size, rate, 0
        else:
            worse += 1
            if worse >= patience:
                break
    return best
