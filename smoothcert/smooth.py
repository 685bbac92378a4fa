"""The smoothed classifier g(x) = argmax_c P(f(x + ε) = c) and Cohen et al.'s PREDICT and CERTIFY.

Formulas: methods.md §0. A :class:`Smooth` is frozen: an engine (how f is evaluated), a noise, the number
of classes, a seed and an outcome map. A σ sweep builds one Smooth per σ around one shared engine
(:meth:`Smooth.with_noise`), so the model is compiled and its batch size measured once. Every certificate
samples through :meth:`Smooth.sample` (select, then estimate on an independent stream) and applies a pure
rule from :mod:`smoothcert.certificates` to the counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import sampling
from .certificates.cohen import ABSTAIN, Certificate, Prediction, certify_counts, predict_counts, select_class
from .certificates.sequential import SequentialCertificate, SequentialConfig, StoppingRule
from .engine import Engine
from .errors import InvalidArgumentError
from .noise import GaussianNoise, Noise
from .sampling import ESTIMATION, PREDICTION, SELECTION, OutcomeMap
from .validate import check_alpha, check_count, check_num_classes

__all__ = ["ABSTAIN", "Certificate", "Counts", "Prediction", "Smooth"]

Progress = Callable[[int], None] | None


@dataclass(frozen=True)
class Counts:
    """Select-then-estimate counts of B inputs.

    Attributes:
        selection: [B, K] outcome counts of the n0 selection samples (stream SELECTION).
        estimation: [B, K] outcome counts of the n estimation samples, on an independent stream.
        indices: the B input indices that seeded the noise.
    """

    selection: np.ndarray
    estimation: np.ndarray
    indices: tuple[int, ...]


class Smooth:
    """A smoothed classifier around any ``nn.Module`` base model (or a shared :class:`~smoothcert.engine.Engine`).

    Args:
        base: the base network (an engine is built around it from the engine options below), or an Engine
            to share (then the engine options must be left at their defaults).
        num_classes: number of classes C.
        sigma: noise level σ of N(0, σ²I), in input units. Ignored when ``noise`` is given.
        noise: another :class:`~smoothcert.noise.Noise` to smooth with.
        seed: run seed; with the input index it fixes every noise sample (see :mod:`smoothcert.sampling`).
        outcome_map: logits → outcome ids; default argmax over the C classes. Outcomes past C (⊥) count
            towards n but are no class.
        batch_size, device, compile, precision, calibration, layout: engine options (see
            :class:`~smoothcert.engine.Engine`).

    The attributes are read-only; build another Smooth (``with_noise``, ``replace``) to change one.
    """

    __slots__ = ("_counter", "engine", "noise", "num_classes", "outcome_map", "seed")

    def __init__(
        self,
        base: nn.Module | Engine,
        num_classes: int,
        sigma: float | None = None,
        *,
        noise: Noise | None = None,
        seed: int = 0,
        outcome_map: OutcomeMap | None = None,
        batch_size: int | str = "auto",
        device: torch.device | str | None = None,
        compile: bool | str = False,
        precision: str = "fp32",
        calibration: torch.Tensor | None = None,
        layout: str = "auto",
    ) -> None:
        num_classes = check_num_classes(num_classes)
        if noise is None:
            if sigma is None:
                raise InvalidArgumentError("give sigma (the noise level) or a noise distribution")
            noise = GaussianNoise(sigma)
        if isinstance(base, Engine):
            if (batch_size, device, compile, precision, layout) != ("auto", None, False, "fp32", "auto") \
                    or calibration is not None:
                raise InvalidArgumentError("engine options (batch_size, device, compile, precision, calibration, "
                                           "layout) belong to the Engine when one is passed")
            engine = base
        else:
            engine = Engine(base, device=device, precision=precision, compile=compile, batch_size=batch_size,
                            calibration=calibration, layout=layout)
        outcome_map = outcome_map or sampling.ArgmaxOutcome(num_classes)
        if outcome_map.num_outcomes < num_classes:
            raise InvalidArgumentError(f"the outcome map has {outcome_map.num_outcomes} outcomes, fewer than the "
                                       f"{num_classes} classes")
        for name, value in (("engine", engine), ("noise", noise), ("num_classes", num_classes),
                            ("seed", int(seed)), ("outcome_map", outcome_map), ("_counter", [0])):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Smooth is frozen: build another one (with_noise, replace) instead of setting {name}")

    def replace(self, *, noise: Noise | None = None, seed: int | None = None,
                outcome_map: OutcomeMap | None = None) -> Smooth:
        """A Smooth on the same engine with some settings changed."""
        return Smooth(self.engine, self.num_classes, noise=noise or self.noise,
                      seed=self.seed if seed is None else seed, outcome_map=outcome_map or self.outcome_map)

    def with_noise(self, noise: Noise | float) -> Smooth:
        """The same classifier smoothed with ``noise`` (a σ for Gaussian noise), sharing the engine."""
        return self.replace(noise=noise if isinstance(noise, Noise) else GaussianNoise(noise))

    # --- what it is -------------------------------------------------------------------------------------

    @property
    def model(self) -> nn.Module:
        return self.engine.model

    @property
    def device(self) -> torch.device:
        return self.engine.device

    @property
    def sigma(self) -> float:
        """σ of Gaussian noise (the noise's scale for other distributions)."""
        return getattr(self.noise, "sigma", self.noise.scale)

    @property
    def batch_size(self) -> int | str:
        return self.engine.batch_size

    def engine_info(self) -> dict:
        """How the samples are drawn, for manifests (the engine's settings)."""
        return self.engine.info()

    def resolve_batch_size(self, input_shape: Sequence[int]) -> int:
        """The engine's batch size for inputs of ``input_shape`` (measured now if "auto")."""
        return self.engine.batch_size_for(input_shape)

    def check_model(self, x: torch.Tensor) -> None:
        """One clean forward pass on ``x[:1]``: raises InputError if inputs or logits do not fit."""
        self.engine.check_model(x, self.outcome_map)

    # --- sampling -------------------------------------------------------------------------------------------

    def generators(self, indices: Sequence[int], stream: int) -> list[torch.Generator]:
        """Fresh noise generators for inputs ``indices`` on one stream (seeded from the run seed)."""
        return sampling.make_generators(self.seed, indices, stream, self.device)

    def count(self, x: torch.Tensor, n: int | Sequence[int], generators: Sequence[torch.Generator],
              progress: Progress = None, names: Sequence[int] | None = None) -> np.ndarray:
        """Outcome counts [B, K] continuing each input's stream in ``generators`` (advanced in place)."""
        x = self.engine.prepare(x)
        if len(x) and self.engine.batch_size == "auto":
            self.check_model(x[:1])  # a misfit model raises its InputError here, not inside the tuning
        return self.engine.count(x, self.noise, n, generators, self.outcome_map, progress, names)

    def sample_counts(self, x: torch.Tensor, n: int | Sequence[int], indices: Sequence[int], stream: int,
                      progress: Progress = None) -> np.ndarray:
        """Outcome counts [B, K] over n noisy copies of each input in ``x`` [B, *input_shape] on one stream.

        ``indices`` (B ints) identify the inputs for seeding; ``stream`` separates independent phases.
        """
        indices = [int(i) for i in indices]
        return self.count(x, n, self.generators(indices, stream), progress, indices)

    def sample(self, x: torch.Tensor, n0: int, n: int, indices: Sequence[int] | None = None, *,
               estimation_stream: int = ESTIMATION, progress: Progress = None) -> Counts:
        """The select-then-estimate sampling of every certificate: n0 selection samples (stream SELECTION)
        and n estimation samples on an independent stream, for each input of ``x`` [B, *input_shape].

        ``indices`` seed each input (default: a counter that continues across calls).
        """
        n0, n = check_count("n0", n0), check_count("n", n)
        ids = self._indices(len(x), indices)
        if estimation_stream == SELECTION:
            raise InvalidArgumentError("the estimation samples must come from another stream than the selection")
        selection = self.sample_counts(x, n0, ids, SELECTION, progress)
        estimation = self.sample_counts(x, n, ids, estimation_stream, progress)
        return Counts(selection, estimation, tuple(ids))

    def _indices(self, count: int, indices: Sequence[int] | None) -> list[int]:
        if indices is None:
            start = self._counter[0]
            self._counter[0] += count  # fresh indices, so repeated calls draw fresh noise
            return list(range(start, start + count))
        indices = [int(i) for i in indices]
        if len(indices) != count:
            raise InvalidArgumentError(f"got {len(indices)} indices for {count} inputs")
        if any(i < 0 for i in indices):
            raise InvalidArgumentError(f"input indices must be >= 0, got {min(indices)}")
        return indices

    # --- PREDICT --------------------------------------------------------------------------------------------

    def predict(self, x: torch.Tensor, n: int, alpha: float, *, index: int | None = None) -> Prediction:
        """PREDICT for one input ``x`` [*input_shape]: the smoothed class, or abstain.

        Returns the top class when the two-sided binomial test of n_A against n_A + n_B at p = ½ has
        p-value ≤ α; the probability of returning a class other than g(x) is then at most α.
        """
        return self.predict_batch(x.unsqueeze(0), n, alpha, indices=None if index is None else [index])[0]

    def predict_batch(self, x: torch.Tensor, n: int, alpha: float, *, indices: Sequence[int] | None = None,
                      progress: Progress = None) -> list[Prediction]:
        """PREDICT for each input of ``x`` [B, *input_shape]; ``indices`` seed each input (default: a counter)."""
        n, alpha = check_count("n", n), check_alpha(alpha)
        ids = self._indices(len(x), indices)
        counts = self.sample_counts(x, n, ids, PREDICTION, progress)
        return predict_counts(counts, alpha, self.num_classes).predictions()

    # --- CERTIFY --------------------------------------------------------------------------------------------

    def certify(self, x: torch.Tensor, n0: int, n: int, alpha: float, *, index: int | None = None) -> Certificate:
        """CERTIFY for one input ``x`` [*input_shape]: class and radius (in the noise's norm), or abstain.

        With probability ≥ 1 − α over the noise, a returned class is g(x) and g is constant on the ball
        of the returned radius around x.
        """
        return self.certify_batch(x.unsqueeze(0), n0, n, alpha, indices=None if index is None else [index])[0]

    def certify_batch(self, x: torch.Tensor, n0: int, n: int, alpha: float, *,
                      indices: Sequence[int] | None = None, progress: Progress = None) -> list[Certificate]:
        """CERTIFY for each input of ``x`` [B, *input_shape]; ``indices`` seed each input (default: a counter).

        Selection (n0 samples) and estimation (n samples) use independent noise streams.
        """
        alpha = check_alpha(alpha)
        counts = self.sample(x, n0, n, indices, progress=progress)
        return certify_counts(counts.selection, counts.estimation, alpha, self.noise,
                              self.num_classes).certificates()

    def certify_sequential(self, x: torch.Tensor, n0: int, alpha: float,
                           config: SequentialConfig | None = None, *, indices: Sequence[int] | None = None,
                           progress: Progress = None) -> list[SequentialCertificate]:
        """Sequential CERTIFY for each input of ``x`` [B, *input_shape] (rules: :mod:`smoothcert.certificates.
        sequential`).

        After Cohen's selection (n0 samples), estimation samples come in rounds shared by every input still
        undecided; the rounds are the same for every input, so results do not depend on batching.
        """
        n0, alpha = check_count("n0", n0), check_alpha(alpha)
        rule = StoppingRule(config or SequentialConfig(), self.noise, alpha)
        x = self.engine.prepare(x)
        ids = self._indices(len(x), indices)
        guess = select_class(self.sample_counts(x, n0, ids, SELECTION, progress), self.num_classes)
        gens = self.generators(ids, ESTIMATION)
        b = len(ids)
        k, n = np.zeros(b, dtype=np.int64), np.zeros(b, dtype=np.int64)
        lower, upper = np.zeros(b), np.ones(b)
        stop = np.full(b, "", dtype=object)
        for size in rule.config.schedule():
            active = np.flatnonzero(stop == "")
            if len(active) == 0:
                break
            counts = self.count(x[active], (size - n[active]).tolist(), [gens[i] for i in active], progress,
                                [ids[i] for i in active])
            k[active] += counts[np.arange(len(active)), guess[active]]
            n[active] = size
            lower[active], upper[active] = rule.bounds(k[active], n[active])
            stop[active] = rule.stops(k[active], n[active], lower[active], upper[active])
        return rule.certificates(guess, k, n, lower, upper, stop, n0)
