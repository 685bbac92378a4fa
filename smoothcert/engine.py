"""The engine: a base model run on noisy copies of inputs, fast, on any device and precision.

An :class:`Engine` holds how the base classifier is evaluated (the model, device, precision, compilation and
batch size) and nothing about smoothing: the noise, the number of samples and the outcome map are arguments
of each call, so one engine (one compiled model, one measured batch size) serves any number of smoothed
classifiers, e.g. a σ sweep. Every noisy forward pass of the package goes through :meth:`Engine.batches`:
counting outcomes for certificates and scoring uncertainty are the same computation on the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from . import sampling
from .accelerate import EngineModel, quantize_int8, tune_batch_size
from .errors import InputError, InvalidArgumentError
from .noise import Noise
from .sampling import NoisyBatch, OutcomeMap
from .validate import check_count

__all__ = ["BASE_CLASSIFIERS", "Engine"]

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
            function up to float rounding).
        batch_size: noisy copies per forward pass (several inputs share a pass), or "auto": measured once per
            input shape for this model, precision and machine. Results do not depend on it: each input's
            noise is drawn in fixed blocks (:mod:`smoothcert.sampling`).
        calibration: with int8, the inputs [N, *input_shape] its activation ranges are observed on (noisy
            training inputs: :func:`~smoothcert.accelerate.calibration_inputs`); required then, refused otherwise.
    """

    def __init__(self, model: nn.Module, *, device: torch.device | str | None = None, precision: str = "fp32",
                 compile: bool = False, batch_size: int | str = "auto",
                 calibration: torch.Tensor | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(f"the base model must be a torch.nn.Module, got {type(model).__name__}")
        self._batch_size: int | str = "auto" if batch_size == "auto" else check_count("batch_size", batch_size)
        self.model = model.eval()
        self.device = torch.device(device) if device is not None else sampling.model_device(model)
        self.precision = precision
        self.compile = bool(compile)
        if (precision == "int8") != (calibration is not None):
            raise InvalidArgumentError("precision int8 needs calibration inputs (noisy training inputs: "
                                       "smoothcert.accelerate.calibration_inputs), and only it takes them")
        self.calibration = None if calibration is None else torch.as_tensor(calibration, dtype=torch.float32)
        quantized = None if self.calibration is None else quantize_int8(self.model, self.calibration)
        self._module = EngineModel(self.model, precision, self.compile, quantized=quantized)  # checks the precision
        self._tuned: dict[tuple[int, ...], int] = {}

    # --- settings ---------------------------------------------------------------------------------------

    @property
    def batch_size(self) -> int | str:
        """The batch size asked for: an int, or "auto" until :meth:`batch_size_for` has measured one."""
        if self._batch_size == "auto" and len(self._tuned) == 1:
            return next(iter(self._tuned.values()))
        return self._batch_size

    def batch_size_for(self, input_shape: Sequence[int]) -> int:
        """The batch size used for inputs of ``input_shape``: the fixed one, or measured now (once) if "auto"."""
        if self._batch_size != "auto":
            return int(self._batch_size)
        shape = tuple(int(s) for s in input_shape)
        if shape not in self._tuned:
            self._tuned[shape] = tune_batch_size(self._module, shape, self.device)
        return self._tuned[shape]

    def info(self) -> dict:
        """How the samples are drawn, for manifests: batch size, compilation, precision, the base classifier."""
        info = {"batch_size": self.batch_size, "compile": self.compile, "precision": self.precision,
                "base_classifier": BASE_CLASSIFIERS[self.precision], "device": str(self.device)}
        if self.calibration is not None:
            info["calibration_inputs"] = len(self.calibration)
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
