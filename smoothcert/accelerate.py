"""How the sampling engine runs the base model: memory layout, precision, compilation, batch size, and the
measurements that judge it (FLOPs per sample, the machine's matrix-multiply rate).

The engine's speed on CPU comes from channels-last layout, torch.compile with frozen weights, a batch size
measured for the model and machine, and optionally bf16 autocast or an int8 model (PyTorch's static quantization
for x86); docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import math
import time
import warnings

import torch
from torch import nn

from .errors import InvalidArgumentError

#: Precisions the engine can sample in; "bf16" runs the model under bfloat16 autocast, "int8" runs its statically
#: quantized copy (:func:`quantize_int8`).
PRECISIONS = ("fp32", "bf16", "int8")

#: Noisy copies per calibration input, and the calibration inputs used, for int8 (:func:`calibration_inputs`).
CALIBRATION_COPIES = 4
CALIBRATION_INPUTS = 256

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
                 channels_last: bool = True, quantized: nn.Module | None = None) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise InvalidArgumentError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if (precision == "int8") != (quantized is not None):
            raise InvalidArgumentError("precision int8 runs a quantized model (quantize_int8), and only it")
        self.model = model
        self.precision = precision
        self.compile = bool(compile)
        # Quantized convolutions pick their own layout; channels-last applies to float models.
        self.channels_last = bool(channels_last) and quantized is None
        self._inner: nn.Module = (AutocastModel(model) if precision == "bf16" else
                                  quantized if quantized is not None else model)
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
                 channels_last: bool = True, quantized: nn.Module | None = None) -> EngineModel:
    """The module the sampling engine calls (see :class:`EngineModel`)."""
    return EngineModel(model, precision, compile, channels_last, quantized)


def _own_leaves(model: nn.Module) -> list[type]:
    """Classes of the model's leaf modules defined outside PyTorch (e.g. a normalization layer): kept in float
    and out of tracing, since quantization has no rule for them."""
    return sorted({type(m) for m in model.modules() if m is not model and not any(m.children())
                   and not type(m).__module__.startswith("torch.")}, key=lambda c: c.__qualname__)


def quantize_int8(model: nn.Module, calibration: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """An int8 copy of ``model``: PyTorch's FX static post-training quantization for x86 (per-channel int8
    weights, uint8 activations with observed ranges), calibrated on ``calibration`` [N, *input_shape].

    Convolutions, linear layers and ReLUs run in int8; leaf modules defined outside PyTorch (a normalization
    layer) stay in float32 between a dequantize and a quantize. The result is a different function from
    ``model``, close to it; certificates made with it are certificates of the int8 model. CPU only. Raises
    InvalidArgumentError, in one line, when torch.fx cannot trace the model. Deterministic: the same model and
    calibration give the same int8 model (workers of a cluster rebuild it identically).
    """
    import copy

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    if calibration.device.type != "cpu" or any(p.device.type != "cpu" for p in model.parameters()):
        raise InvalidArgumentError("precision int8 runs on the CPU only (PyTorch's x86 quantized kernels)")
    if len(calibration) == 0:
        raise InvalidArgumentError("precision int8 needs calibration inputs, got none")
    torch.backends.quantized.engine = "x86"
    own = _own_leaves(model)
    mapping = get_default_qconfig_mapping("x86")
    for cls in own:
        mapping = mapping.set_object_type(cls, None)
    float_model = copy.deepcopy(model).eval().float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices, once per call
        try:
            prepared = prepare_fx(float_model, mapping, (calibration[:1],),
                                  prepare_custom_config=PrepareCustomConfig().set_non_traceable_module_classes(own))
        except Exception as err:  # torch.fx raises many types for code it cannot trace
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InvalidArgumentError(f"precision int8 needs a model torch.fx can trace: {first}") from None
        with torch.inference_mode():
            for start in range(0, len(calibration), batch_size):
                prepared(calibration[start : start + batch_size])
        return convert_fx(prepared).eval()


def calibration_inputs(x: torch.Tensor, noise, count: int = CALIBRATION_INPUTS,
                       copies: int = CALIBRATION_COPIES, seed: int = 0) -> torch.Tensor:
    """Inputs to calibrate an int8 model on: ``copies`` noisy copies (``noise``, a
    :class:`~smoothcert.noise.Noise`) of the first ``count`` rows of ``x`` [N, *input_shape] (training inputs:
    the engine only ever sees noisy inputs, so their activation ranges are the ones to cover). Seeded."""
    base = torch.as_tensor(x[:count], dtype=torch.float32)
    repeated = base.repeat(copies, *([1] * (base.dim() - 1)))
    return repeated + noise.sample_(torch.empty_like(repeated), torch.Generator().manual_seed(seed))


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
