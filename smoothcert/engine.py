"""The engine: a base model run on noisy copies of inputs, fast, on any device and precision.

An :class:`Engine` holds how the base classifier is evaluated (the model, device, precision, compilation and
batch size) and nothing about smoothing: the noise, the number of samples and the outcome map are arguments
of each call, so one engine (one compiled model, one measured batch size) serves any number of smoothed
classifiers, e.g. a σ sweep. Every noisy forward pass of the package goes through :meth:`Engine.batches`:
counting outcomes for certificates and scoring uncertainty are the same computation on the same batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from . import sampling
from .accelerate import BATCH_CANDIDATES, TUNING_BUDGET, EngineModel, batch_rate, quantize_int8, tune_batch
from .errors import InputError, InvalidArgumentError
from .noise import Noise
from .sampling import NoisyBatch, OutcomeMap
from .validate import check_count

__all__ = ["BASE_CLASSIFIERS", "Engine"]

#: Memory formats an engine can run image models in ("auto": measured).
LAYOUTS = ("auto", "channels_last", "contiguous")


def _label(channels_last: bool, compiled: bool, size: int) -> str:
    return f"{'channels_last' if channels_last else 'contiguous'}/{'compiled' if compiled else 'eager'}/{size}"


#: What the base classifier is at each precision, as manifests record it.
BASE_CLASSIFIERS = {"fp32": "the model in float32", "bf16": "the model under bfloat16 autocast",
                    "int8": "the model quantized to int8 (PyTorch x86 static quantization, calibrated on noisy "
                            "training inputs)"}


class Engine:
    """Evaluates one base model on batches of noisy copies: the hot path of every certificate.

    Args:
        model: network mapping [N, *input_shape] floats in input space to logits [N, C]; switched to eval
            mode. Normalization belongs inside it, so noise scales and radii are in input space.
        device: where to sample; default the model's device.
        precision: "fp32"; "bf16" to run under bfloat16 autocast; or "int8" to run a statically quantized copy
            of the model (:func:`~smoothcert.accelerate.quantize_int8`, CPU only). With bf16 or int8 the base
            classifier is that model, and certificates are certificates of it.
        compile: run the forward passes through ``torch.compile`` (a few seconds once, then faster; the same
            function up to float rounding); "auto": compile once at the measured batch size and keep whichever of
            the compiled and the eager model is faster (not with int8).
        batch_size: noisy copies per forward pass (several inputs share a pass), or "auto": measured once per
            input shape for this model, precision and machine. Results do not depend on it: each input's
            noise is drawn in fixed blocks (:mod:`smoothcert.sampling`).
        layout: memory format of image models (4-D inputs): "channels_last", "contiguous", or "auto": both
            measured with the batch size when that is "auto" (else channels-last on CPU, where oneDNN's
            convolutions usually prefer it). The tuning (batch size, layout, compilation), its time and the
            rates it measured are in :meth:`info`.
        calibration: with int8, the inputs [N, *input_shape] its activation ranges are observed on (noisy
            training inputs: :func:`~smoothcert.accelerate.calibration_inputs`); required then, refused otherwise.
    """

    def __init__(self, model: nn.Module, *, device: torch.device | str | None = None, precision: str = "fp32",
                 compile: bool | str = False, batch_size: int | str = "auto",
                 calibration: torch.Tensor | None = None, layout: str = "auto") -> None:
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(f"the base model must be a torch.nn.Module, got {type(model).__name__}")
        self._batch_size: int | str = "auto" if batch_size == "auto" else check_count("batch_size", batch_size)
        if layout not in LAYOUTS:
            raise InvalidArgumentError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if compile != "auto" and not isinstance(compile, bool | int):
            raise InvalidArgumentError(f"compile must be True, False or 'auto', got {compile!r}")
        self.model = model.eval()
        self.device = torch.device(device) if device is not None else sampling.model_device(model)
        self.precision = precision
        self._compile_asked: bool | str = "auto" if compile == "auto" else bool(compile)
        self._layout_asked = layout
        self.compile = self._compile_asked is True  # resolved by the tuning when "auto"
        self._tuning: dict[tuple[int, ...], dict] = {}
        if (precision == "int8") != (calibration is not None):
            raise InvalidArgumentError("precision int8 needs calibration inputs (noisy training inputs: "
                                       "smoothcert.accelerate.calibration_inputs), and only it takes them")
        self.calibration = None if calibration is None else torch.as_tensor(calibration, dtype=torch.float32)
        quantized = None if self.calibration is None else quantize_int8(self.model, self.calibration)
        self._module = EngineModel(self.model, precision, self.compile, channels_last=layout != "contiguous",
                                   quantized=quantized)  # checks the precision
        if quantized is not None and compile == "auto":
            raise InvalidArgumentError("precision int8 runs eager: --compile is not available with it")

    # --- settings ---------------------------------------------------------------------------------------

    @property
    def batch_size(self) -> int | str:
        """The batch size asked for: an int, or "auto" until :meth:`batch_size_for` has measured one."""
        if self._batch_size == "auto" and len(self._tuning) == 1:
            return next(iter(self._tuning.values()))["batch_size"]
        return self._batch_size

    @property
    def layout(self) -> str:
        """The memory format image models run in: "channels_last" or "contiguous" (the tuning's choice)."""
        return "channels_last" if self._module.channels_last else "contiguous"

    def batch_size_for(self, input_shape: Sequence[int]) -> int:
        """The batch size used for inputs of ``input_shape``: the fixed one, or measured now (once per shape)
        when anything is "auto" and measured (the batch size, or the compilation)."""
        if self._batch_size != "auto" and self._compile_asked != "auto":
            return int(self._batch_size)
        shape = tuple(int(s) for s in input_shape)
        if shape not in self._tuning:
            self._tuning[shape] = self._tune(shape)
        return self._tuning[shape]["batch_size"]

    def _tune(self, shape: tuple[int, ...]) -> dict:
        """Measure the batch size, layout and compilation asked to be "auto" for inputs of ``shape``; apply
        the fastest. The batch-size search is bounded (:data:`~smoothcert.accelerate.TUNING_BUDGET`); the
        second layout is tried at the first one's best size and its neighbours only. With the batch size
        "auto", compiled candidates (``compile=True``) compile once per size tried; ``compile="auto"``
        compiles once, at the batch size measured eager."""
        start = time.perf_counter()
        image = len(shape) == 3 and self.precision != "int8"
        # Both layouts are measured eager (cheap); a compiled model (compile=True) compiles per size tried, so
        # it keeps the default layout and the tuning stays bounded by one compilation per candidate size.
        both = image and self._layout_asked == "auto" and self._batch_size == "auto" and self._compile_asked is not True
        layouts = [True, False] if both else [self._module.channels_last]
        rates: dict[str, float] = {}
        best: tuple[float, int, bool, bool] | None = None  # (rate, batch, channels-last, compiled)
        for channels_last in layouts:
            self._module.configure(channels_last=channels_last, compile=self._compile_asked is True)
            if self._batch_size == "auto" and best is not None:  # the second layout: near the first's best only,
                near = (best[1], *(c for c in BATCH_CANDIDATES if best[1] // 2 <= c <= best[1] * 2 and c != best[1]))
                left = max(0.0, TUNING_BUDGET - (time.perf_counter() - start))  # in what is left of the budget
                size, rate = tune_batch(self._module, shape, self.device, candidates=near, budget=left)
            elif self._batch_size == "auto":
                size, rate = tune_batch(self._module, shape, self.device)
            else:
                size = int(self._batch_size)
                rate = batch_rate(self._module, shape, size, self.device)
            compiled = self._module.compiled
            rates[_label(channels_last, compiled, size)] = rate
            if best is None or rate > best[0]:
                best = (rate, size, channels_last, compiled)
        rate, size, channels_last, compiled = best
        current = (layouts[-1], compiled if len(layouts) == 1 else self._module.compiled)
        if self._compile_asked == "auto":
            self._module.configure(channels_last=channels_last, compile=True)
            compiled_rate = batch_rate(self._module, shape, size, self.device)
            current = (channels_last, self._module.compiled)
            if self._module.compiled:
                rates[_label(channels_last, True, size)] = compiled_rate
                compiled = compiled_rate > rate
        if current != (channels_last, compiled):  # a kept compiled model is not compiled again
            self._module.configure(channels_last=channels_last, compile=compiled)
        self.compile = compiled
        return {"batch_size": size, "layout": "channels_last" if channels_last else "contiguous",
                "compile": compiled, "seconds": round(time.perf_counter() - start, 3),
                "samples_per_second": {k: round(v, 1) for k, v in rates.items()}}

    def tuning(self) -> dict | None:
        """What the last tuning measured and chose (batch size, layout, compile, seconds, samples/s tried),
        or None before any."""
        return next(reversed(self._tuning.values())) if self._tuning else None

    def info(self) -> dict:
        """How the samples are drawn, for manifests: batch size, layout, compilation, precision, the base
        classifier, and the tuning that chose them."""
        info = {"batch_size": self.batch_size, "compile": self.compile, "precision": self.precision,
                "base_classifier": BASE_CLASSIFIERS[self.precision], "device": str(self.device),
                "layout": self.layout}
        if self.calibration is not None:
            info["calibration_inputs"] = len(self.calibration)
        if self._tuning:
            info["tuning"] = self.tuning()
        return info

    # --- inputs and the model -----------------------------------------------------------------------------

    def prepare(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``x`` as a float tensor [B, *input_shape] on the engine's device; raises InputError if it is not one."""
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        if not torch.is_floating_point(x):
            x = x.float()
        if x.dim() < 2:
            raise InputError(f"expected a batch of inputs [B, *input_shape], got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise InputError("inputs contain NaN or inf")
        return x.to(self.device)

    @torch.inference_mode()
    def check_model(self, x: torch.Tensor, outcome_map: OutcomeMap) -> None:
        """One clean forward pass of the plain model on ``x[:1]``: raises InputError if inputs or logits do
        not fit (eager, so its errors are the clearest)."""
        outcome_map(sampling.forward(self.model, self.prepare(x[:1])))

    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The base model's logits [B, C] on clean inputs ``x`` [B, *input_shape], as the engine runs it."""
        x = self.prepare(x)
        size = self.batch_size_for(x.shape[1:])
        return torch.cat([sampling.forward(self._module, x[i : i + size]) for i in range(0, len(x), size)])

    # --- noisy passes ---------------------------------------------------------------------------------------

    def batches(self, x: torch.Tensor, noise: Noise, n: int | Sequence[int], generators: Sequence[torch.Generator],
                progress: Callable[[int], None] | None = None) -> Iterator[tuple[NoisyBatch, torch.Tensor]]:
        """Each forward pass over noisy copies of ``x`` [B, *input_shape]: (batch, logits of its real rows).

        ``n`` samples per input (an int, or B ints), drawn from ``generators`` (one per input, advanced in
        place, so a later call continues each stream). Runs under inference mode; ``progress`` is called with
        the rows done after each pass. Use each batch before asking for the next (its tensors are reused).
        """
        x = self.prepare(x)
        if len(generators) != len(x):
            raise InvalidArgumentError(f"got {len(generators)} generators for {len(x)} inputs")
        size = self.batch_size_for(x.shape[1:]) if len(x) else 1
        for batch in sampling.noisy_batches(x, noise, n, generators, size, static_shapes=self.compile):
            # Inference mode around the pass alone: a suspended generator must not leave it on for the caller.
            with torch.inference_mode():
                logits = sampling.forward(self._module, batch.rows)[: batch.size]
            yield batch, logits
            if progress is not None:
                progress(batch.size)

    @torch.inference_mode()
    def count(self, x: torch.Tensor, noise: Noise, n: int | Sequence[int], generators: Sequence[torch.Generator],
              outcome_map: OutcomeMap, progress: Callable[[int], None] | None = None,
              names: Sequence[int] | None = None) -> np.ndarray:
        """Outcome counts [B, K] (int64) over ``n`` noisy copies of each input of ``x`` [B, *input_shape].

        ``outcome_map`` turns logits [N, C] into outcome ids in [0, K). A copy whose logits are NaN or inf
        raises InputError naming its input (``names[i]``, default its position): a broken model must not
        be certified. The check is one comparison per pass, counted on the device without a sync.
        """
        b, k = len(x), outcome_map.num_outcomes
        counts = torch.zeros(b * (k + 1), dtype=torch.long, device=self.device)
        for batch, logits in self.batches(x, noise, n, generators, progress):
            outcomes = outcome_map(logits)
            # Non-finite logits go to an extra outcome k, checked once at the end.
            outcomes = torch.where(torch.isfinite(logits).all(dim=1), outcomes, k)
            counts += torch.bincount(batch.owner * (k + 1) + outcomes, minlength=b * (k + 1))
        counts = counts.view(b, k + 1).cpu().numpy()
        broken = np.flatnonzero(counts[:, k])
        if len(broken):
            name = broken[0] if names is None else list(names)[broken[0]]
            raise InputError(f"the model returned NaN or inf logits on noisy copies of input {name} "
                             f"({int(counts[broken[0], k])} of them); no certificate is issued for a broken model")
        return counts[:, :k]
