"""How the sampling engine runs the base model: memory layout, precision, compilation, batch size, and the
measurements that judge it (FLOPs per sample, the machine's matrix-multiply rate).

The engine's speed on CPU comes from channels-last layout, torch.compile with frozen weights, a batch size
measured for the model and machine, and optionally bf16 autocast or an int8 model (PyTorch's static quantization
for x86); docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import math
import platform
import time
import warnings
from pathlib import Path

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


_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)


def commuted(module: nn.Module) -> nn.Module:
    """``module`` with every ReLU that directly precedes a max-pooling moved after it, in ``nn.Sequential``
    containers (nested ones too): the same function, bit for bit, with the ReLU on the pooled map (k² times
    fewer elements for a k×k pooling; for the zoo's LeNet in bf16 about a third of the forward time).

    Why it is exact: max-pooling returns one element of each window, and ReLU is monotone, so
    relu(max W) = max relu(W) for every window W (each window holds at least one input element, since PyTorch
    pads by at most half the kernel, so padding never decides). Gradients agree too, up to ties.
    Containers are rebuilt only where something moves; every leaf is the same object (the same parameters), and
    ``module`` itself is never changed. Modules with their own ``forward`` are left as they are.
    """
    if not isinstance(module, nn.Sequential) or type(module).forward is not nn.Sequential.forward:
        return module
    children = [commuted(m) for m in module]
    k = 0
    while k < len(children) - 1:
        pool = children[k + 1]
        if type(children[k]) is nn.ReLU and isinstance(pool, _MAX_POOLS) and not pool.return_indices:
            children[k], children[k + 1] = pool, children[k]
            k += 2
        else:
            k += 1
    if all(a is b for a, b in zip(children, module, strict=True)):
        return module
    return nn.Sequential(*children)


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

    Float models run as :func:`commuted` views of themselves (a ReLU before a max-pooling moved after it: the
    same outputs bit for bit, fewer operations). On the first batch, image models (4-D inputs) are switched in
    place to channels-last memory format where
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
        if quantized is not None and compile:
            # torch 2.13's inductor crashes the process (SIGSEGV) on FX-quantized graphs: refuse, never try.
            raise InvalidArgumentError("precision int8 runs eager: --compile is not available with it")
        self.model = model
        self.precision = precision
        self.compile = bool(compile)
        # Quantized convolutions pick their own layout; channels-last applies to float models.
        self.channels_last = bool(channels_last) and quantized is None
        view = commuted(model)  # the same function, fewer elementwise operations
        self._inner: nn.Module = (AutocastModel(view) if precision == "bf16" else
                                  quantized if quantized is not None else view)
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

    def configure(self, *, channels_last: bool | None = None, compile: bool | None = None) -> None:
        """Change the layout or the compilation (the engine's tuning tries both); applied at the next call."""
        if channels_last is not None:
            self.channels_last = bool(channels_last) and self.precision != "int8"
        if compile is not None:
            if compile and self.precision == "int8":
                raise InvalidArgumentError("precision int8 runs eager: --compile is not available with it")
            self.compile = bool(compile)
        self._prepared, self._compiled, self._working = False, None, False

    @property
    def compiled(self) -> bool:
        """Whether calls go through the compiled model (False before the first call and after a fallback)."""
        return self._compiled is not None

    def _prepare(self, x: torch.Tensor) -> None:
        # Layout changes happen here, outside any compiled code, once per configuration.
        wanted = self.channels_last and x.dim() == 4 and (x.device.type == "cpu" or self.precision == "bf16")
        # Outside inference mode: parameters made there could never be trained again.
        with torch.inference_mode(False), torch.no_grad():
            if wanted:
                self.model.to(memory_format=torch.channels_last)
            elif x.dim() == 4:
                self.model.to(memory_format=torch.contiguous_format)
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


#: CPU features that decide which kernels the engine's precisions get (AVX-512 bf16/VNNI, AMX).
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile")


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; the platform's processor string elsewhere)."""
    for line in _cpuinfo():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_features() -> list[str]:
    """Which of :data:`CPU_FEATURES` this CPU has (empty where /proc/cpuinfo is not readable)."""
    flags = next((set(ln.split(":", 1)[1].split()) for ln in _cpuinfo() if ln.startswith("flags")), set())
    return [f for f in CPU_FEATURES if f in flags]


def bf16_emulated(device: torch.device | str = "cpu") -> bool:
    """Whether bf16 convolutions and matmuls on ``device`` lack the oneDNN kernels PyTorch needs (a CPU without
    AVX-512 or AMX): they then run on a reference path, 7-15x slower than fp32 for the MNIST LeNet on an
    AVX2-only AMD EPYC, so ``precision="bf16"`` costs time instead of saving it. False on other devices."""
    if torch.device(device).type != "cpu":
        return False
    try:
        return not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without the check: go by the instruction sets
        return not {"avx512f", "amx_bf16"} & set(cpu_features())


def flops_per_sample(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> int:
    """Floating-point operations of one forward pass on one input (multiply and add counted apart)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros((1, *input_shape), device=device))
    return int(counter.get_total_flops())


def _best_rate(step, work: float, seconds: float, device: torch.device | str) -> float:
    """``work`` / (seconds per call of ``step``), the best of four timed windows (a moment of interference from
    other processes does not lower it)."""
    step()  # warm-up
    best = 0.0
    for _ in range(4):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 4 or reps < 2:
            step()
            reps += 1
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        best = max(best, work * reps / (time.perf_counter() - start))
    return best


def matmul_rate(dtype: torch.dtype = torch.float32, size: int = 1024, seconds: float = 1.0,
                device: torch.device | str = "cpu") -> float:
    """Measured dense matrix-multiply (``torch.mm``) rate in FLOP/s for ``dtype`` on ``device``."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    return _best_rate(lambda: a @ b, 2 * size**3, seconds, device)


@torch.inference_mode()
def gemm_rate(precision: str = "fp32", seconds: float = 1.0, device: torch.device | str = "cpu",
              channels: int = 512, side: int = 32) -> float:
    """The engine's roofline for ``precision``: the best dense-multiply rate this machine's libraries reach, in
    FLOP/s (int8: operations/s, multiply and add counted apart as for floats).

    Two GEMMs of the same size are timed and the faster kept: ``torch.mm`` (BLAS) and a 1×1 convolution over a
    channels-last image ([1, C, S, S] with C×C weights: an (S²×C)·(C×C) GEMM inside oneDNN, the library that
    runs the engine's convolutions). They differ by 2× on some CPUs: on an AMD EPYC, MKL's fp32 ``torch.mm``
    takes an AVX2 path while oneDNN uses AVX-512 (docs/benchmarks.md). For int8 the convolution is the int8
    model of it (:func:`quantize_int8`) and ``torch._int_mm`` (int8 × int8 → int32) where it exists; bf16 and fp32
    take ``torch.mm`` at 1024².
    """
    if precision not in PRECISIONS:
        raise InvalidArgumentError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    conv = nn.Conv2d(channels, channels, 1, bias=False).to(device).eval()
    x = torch.randn(1, channels, side, side, device=device).contiguous(memory_format=torch.channels_last)
    work = 2 * channels * channels * side * side
    if precision == "int8":
        quantized = quantize_int8(nn.Sequential(conv), torch.randn(4, channels, side, side))
        rate = _best_rate(lambda: quantized(x), work, seconds / 2, device)
        a = torch.randint(-64, 64, (1024, 1024), dtype=torch.int8)
        try:  # int8 × int8 → int32 matmul, where this build has a CPU kernel for it
            return max(rate, _best_rate(lambda: torch._int_mm(a, a), 2 * 1024**3, seconds / 2, device))
        except (RuntimeError, AttributeError):
            return rate
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    conv = conv.to(dtype=dtype, memory_format=torch.channels_last)
    xd = x.to(dtype)
    return max(_best_rate(lambda: conv(xd), work, seconds / 2, device),
               matmul_rate(dtype, 1024, seconds / 2, device))


#: Batch sizes tried by :func:`tune_batch_size`, smallest first. On a CPU the best is often small (the
#: activations of a batch stay in cache); on a GPU, large.
BATCH_CANDIDATES = (32, 64, 128, 256, 512, 1024, 2048, 4096)


@torch.inference_mode()
def batch_rate(model: nn.Module, input_shape: tuple[int, ...], size: int, device: torch.device | str = "cpu",
               seconds: float = 0.05) -> float:
    """Samples per second of ``model`` on batches of ``size`` random inputs, measured now: one warm-up call
    (compilation, allocator, oneDNN primitive cache), then the fastest of calls over at least ``seconds`` and
    three calls. Raises torch.cuda.OutOfMemoryError when the batch does not fit."""
    return _timed_rate(model, input_shape, size, device, seconds)[0]


def _timed_rate(model: nn.Module, input_shape: tuple[int, ...], size: int, device: torch.device | str,
                seconds: float) -> tuple[float, float]:
    """(samples/s as :func:`batch_rate` measures it, seconds spent measuring after the warm-up call)."""
    batch = torch.rand((size, *input_shape), device=device)
    model(batch)
    fastest, spent, reps = math.inf, 0.0, 0
    while spent < seconds or reps < 3:
        start = time.perf_counter()
        model(batch)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        fastest, spent, reps = min(fastest, elapsed), spent + elapsed, reps + 1
    return size / fastest, spent


#: Seconds of measuring after which the batch-size search stops trying larger candidates (it finishes the one it
#: is on). Warm-up calls do not count: a compiled model compiles in each candidate's first call, often for longer
#: than this, and counting that stopped the search at the smallest candidate (batch 32 instead of 256 for a
#: compiled MNIST LeNet, 2.4x slower).
TUNING_BUDGET = 4.0


def tune_batch(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu",
               candidates: tuple[int, ...] = BATCH_CANDIDATES, seconds: float = 0.05,
               patience: int = 2, budget: float | None = TUNING_BUDGET) -> tuple[int, float]:
    """(batch size, samples/s): the candidate with the most samples per second for ``model`` here, measured now.

    Pass the module the engine will call (an :class:`EngineModel`), so layout, precision and compilation are
    those of the real run; a compiled model compiles once per candidate. Each candidate is timed by
    :func:`batch_rate`. The search stops after ``patience`` candidates in a row slower than the best so far
    (throughput rises with batch size to a peak, then falls), or once ``budget`` seconds have been spent measuring
    (None: no bound; warm-up calls, where compilation happens, are not counted).
    """
    best, best_rate, worse = candidates[0], 0.0, 0
    measuring = 0.0
    for size in candidates:
        if budget is not None and best_rate > 0 and measuring > budget:
            break
        try:
            rate, spent = _timed_rate(model, input_shape, size, device, seconds)
            measuring += spent
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            break
        if rate > best_rate:
            best, best_rate, worse = size, rate, 0
        else:
            worse += 1
            if worse >= patience:
                break
    return best, best_rate


def tune_batch_size(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu",
                    candidates: tuple[int, ...] = BATCH_CANDIDATES, seconds: float = 0.05,
                    patience: int = 2) -> int:
    """The batch size of :func:`tune_batch`."""
    return tune_batch(model, input_shape, device, candidates, seconds, patience)[0]
