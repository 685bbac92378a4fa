"""The smoothed classifier g(x) = argmax_c P(f(x + ε) = c) and Cohen et al.'s PREDICT and CERTIFY.

Formulas: methods.md §0. Each public method is one of the paper's algorithms; the statistics live in
:mod:`smoothcert.stats`, the sampling in :mod:`smoothcert.sampling`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import sampling
from .accelerate import engine_model, tune_batch_size
from .errors import InputError, InvalidArgumentError
from .noise import GaussianNoise, Noise
from .stats import binomial_test_half, check_alpha, clopper_pearson_lower

ABSTAIN = -1


@dataclass(frozen=True)
class Prediction:
    """Result of PREDICT for one input.

    Attributes:
        prediction: class id, or ABSTAIN (−1) when the top two classes are not separated at level α.
        count_top, count_runner_up: counts n_A and n_B of the two most frequent classes.
        n: number of noise samples.
        pvalue: two-sided binomial test p-value of n_A out of n_A + n_B at p = ½.
    """

    prediction: int
    count_top: int
    count_runner_up: int
    n: int
    pvalue: float


@dataclass(frozen=True)
class Certificate:
    """Result of CERTIFY for one input.

    Attributes:
        prediction: class ĉ_A chosen from the n0 selection samples, or ABSTAIN (−1).
        radius: certified ℓ2 radius in input space, σ Φ⁻¹(p̲_A); 0 when abstaining.
        p_a_lower: one-sided (1 − α) Clopper–Pearson lower bound on P(f(x + ε) = ĉ_A).
        count_top: n_A, the count of ĉ_A among the n estimation samples.
        n0, n: selection and estimation sample sizes.
        guess: ĉ_A even when abstaining (useful for analysis).
    """

    prediction: int
    radius: float
    p_a_lower: float
    count_top: int
    n0: int
    n: int
    guess: int


def check_count(name: str, value: int) -> int:
    """Return ``value`` as an int if it is a whole number ≥ 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidArgumentError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


class Smooth:
    """A smoothed classifier around any ``nn.Module`` base model.

    Args:
        model: base network mapping [N, *input_shape] floats in input space to logits [N, num_classes].
            It is switched to eval mode. Normalization belongs inside it, so σ and radii are in input space.
        num_classes: number of classes C.
        sigma: noise level σ of N(0, σ²I), in input units. Ignored when ``noise`` is given.
        noise: another :class:`~smoothcert.noise.Noise` to smooth with.
        batch_size: noisy copies per forward pass (several inputs share a pass), or "auto": measured on the
            first inputs for this model, precision and machine (:func:`~smoothcert.accelerate.tune_batch_size`).
            Counts do not depend on it: each input's noise is drawn in fixed blocks.
        seed: run seed; with the input index it fixes every noise sample (see :mod:`smoothcert.sampling`).
        outcome_map: logits → outcome ids; default argmax over the C classes.
        device: where to sample; default the model's device.
        compile: run the noisy forward passes through ``torch.compile`` (see :mod:`smoothcert.accelerate`):
            a few seconds once, then faster; the base classifier is the same function up to float rounding.
        precision: "fp32", or "bf16" to sample under bfloat16 autocast; the base classifier is then the bf16
            model, and its certificates are certificates of that model.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        sigma: float | None = None,
        *,
        noise: Noise | None = None,
        batch_size: int | str = "auto",
        seed: int = 0,
        outcome_map: sampling.OutcomeMap | None = None,
        device: torch.device | str | None = None,
        compile: bool = False,
        precision: str = "fp32",
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise InvalidArgumentError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        if noise is None:
            if sigma is None:
                raise InvalidArgumentError("give sigma (the noise level) or a noise distribution")
            noise = GaussianNoise(sigma)
        self.model = model.eval()
        self.num_classes = num_classes
        self.noise = noise
        self.batch_size: int | str = "auto" if batch_size == "auto" else check_count("batch_size", batch_size)
        self.seed = int(seed)
        self.outcome_map = outcome_map or sampling.ArgmaxOutcome(num_classes)
        self.device = torch.device(device) if device is not None else sampling.model_device(model)
        self.compile = bool(compile)
        self.precision = precision
        self._engine_model: nn.Module = engine_model(self.model, precision, self.compile)
        self._next_index = 0

    def engine_info(self) -> dict:
        """How the samples are drawn, for manifests: batch size, compilation, precision, the base classifier."""
        return {"batch_size": self.batch_size, "compile": self.compile, "precision": self.precision,
                "base_classifier": "the model under bfloat16 autocast" if self.precision == "bf16"
                else "the model in float32", "device": str(self.device)}

    def resolve_batch_size(self, input_shape: Sequence[int]) -> int:
        """The batch size in use: measured now for inputs of ``input_shape`` if it was "auto", then fixed."""
        if self.batch_size == "auto":
            self.batch_size = tune_batch_size(self._engine_model, tuple(input_shape), self.device)
        return int(self.batch_size)

    @property
    def sigma(self) -> float:
        """σ of the Gaussian noise (NaN for other distributions)."""
        return getattr(self.noise, "sigma", math.nan)

    # --- sampling -------------------------------------------------------------------------------------------

    def sample_counts(
        self,
        x: torch.Tensor,
        n: int | Sequence[int],
        indices: Sequence[int],
        stream: int,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Outcome counts [B, K] over n noisy copies of each input in ``x`` [B, *input_shape].

        ``indices`` (B ints) identify the inputs for seeding; ``stream`` separates independent phases.
        """
        return self.count(x, n, self.generators(indices, stream), progress)

    def generators(self, indices: Sequence[int], stream: int) -> list[torch.Generator]:
        """Fresh noise generators for inputs ``indices`` on one stream (seeded from the run seed)."""
        return sampling.make_generators(self.seed, indices, stream, self.device)

    def count(
        self,
        x: torch.Tensor,
        n: int | Sequence[int],
        generators: Sequence[torch.Generator],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Outcome counts [B, K] continuing each input's stream in ``generators`` (advanced in place).

        Sequential procedures call this round after round on the same generators.
        """
        x = self._check_inputs(x)
        if self.batch_size == "auto" and len(x):
            self.check_model(x[:1])  # a misfit model raises its InputError here, not inside the tuning
        batch_size = self.resolve_batch_size(x.shape[1:])
        return sampling.count_outcomes(
            self._engine_model, x, self.noise, n, generators, self.outcome_map, batch_size, progress,
            static_shapes=self.compile,
        )

    @torch.inference_mode()
    def check_model(self, x: torch.Tensor) -> None:
        """One clean forward pass on ``x[:1]``: raises InputError if inputs or logits do not fit."""
        x = self._check_inputs(x[:1])
        self.outcome_map(sampling.forward(self.model, x))  # eager first: its errors are the clearest

    def _check_inputs(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        if not torch.is_floating_point(x):
            x = x.float()
        if x.dim() < 2:
            raise InputError(f"expected a batch of inputs [B, *input_shape], got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise InputError("inputs contain NaN or inf")
        return x.to(self.device)

    def _indices(self, count: int, indices: Sequence[int] | None) -> list[int]:
        if indices is None:
            start = self._next_index
            self._next_index += count
            return list(range(start, start + count))
        indices = [int(i) for i in indices]
        if len(indices) != count:
            raise InvalidArgumentError(f"got {len(indices)} indices for {count} inputs")
        return indices

    # --- PREDICT --------------------------------------------------------------------------------------------

    def predict(self, x: torch.Tensor, n: int, alpha: float, *, index: int | None = None) -> Prediction:
        """PREDICT for one input ``x`` [*input_shape]: the smoothed class, or abstain.

        Returns the top class when the two-sided binomial test of n_A against n_A + n_B at p = ½ has
        p-value ≤ α; the probability of returning a class other than g(x) is then at most α.
        """
        return self.predict_batch(x.unsqueeze(0), n, alpha, indices=None if index is None else [index])[0]

    def predict_batch(
        self,
        x: torch.Tensor,
        n: int,
        alpha: float,
        *,
        indices: Sequence[int] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Prediction]:
        """PREDICT for each input of ``x`` [B, *input_shape]; ``indices`` seed each input (default: a counter)."""
        n = check_count("n", n)
        alpha = check_alpha(alpha)
        ids = self._indices(len(x), indices)
        counts = self.sample_counts(x, n, ids, sampling.PREDICTION, progress)
        counts = counts[:, : self.num_classes]
        top2 = np.argsort(-counts, axis=1, kind="stable")[:, :2]  # ties go to the lower class
        n_a, n_b = np.take_along_axis(counts, top2, axis=1).T
        pvalue = binomial_test_half(n_a, n_a + n_b)  # equals scipy.stats.binomtest(n_a, n_a + n_b, ½).pvalue
        return [
            Prediction(int(top2[i, 0]) if pvalue[i] <= alpha else ABSTAIN, int(n_a[i]), int(n_b[i]), n,
                       float(pvalue[i]))
            for i in range(len(counts))
        ]

    # --- CERTIFY --------------------------------------------------------------------------------------------

    def certify(self, x: torch.Tensor, n0: int, n: int, alpha: float, *, index: int | None = None) -> Certificate:
        """CERTIFY for one input ``x`` [*input_shape]: class and ℓ2 radius, or abstain.

        With probability ≥ 1 − α over the noise, a returned class is g(x) and g is constant on the ℓ2 ball
        of the returned radius around x.
        """
        return self.certify_batch(x.unsqueeze(0), n0, n, alpha, indices=None if index is None else [index])[0]

    def certify_batch(
        self,
        x: torch.Tensor,
        n0: int,
        n: int,
        alpha: float,
        *,
        indices: Sequence[int] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Certificate]:
        """CERTIFY for each input of ``x`` [B, *input_shape]; ``indices`` seed each input (default: a counter).

        Selection (n0 samples) and estimation (n samples) use independent noise streams.
        """
        n0 = check_count("n0", n0)
        n = check_count("n", n)
        alpha = check_alpha(alpha)
        ids = self._indices(len(x), indices)
        counts0 = self.sample_counts(x, n0, ids, sampling.SELECTION, progress)
        guess = counts0[:, : self.num_classes].argmax(axis=1)
        counts = self.sample_counts(x, n, ids, sampling.ESTIMATION, progress)
        count_top = counts[np.arange(len(ids)), guess]
        p_a_lower = clopper_pearson_lower(count_top, n, alpha)
        radius = self.noise.certified_radius(p_a_lower)
        certified = p_a_lower >= 0.5
        return [
            Certificate(
                prediction=int(guess[i]) if certified[i] else ABSTAIN,
                radius=float(radius[i]) if certified[i] else 0.0,
                p_a_lower=float(p_a_lower[i]),
                count_top=int(count_top[i]),
                n0=n0,
                n=n,
                guess=int(guess[i]),
            )
            for i in range(len(ids))
        ]
