"""Class-wise cost of smoothing (methods.md §1): per-class accuracy of the base and the smoothed classifier.

For every test input one pass of sampling gives all the numbers:

- ``base_clean``: f(x), the base classifier on the clean input;
- ``p_label``: the share of n noisy copies that f classifies correctly, an unbiased estimate of
  P(f(x + ε) = y): its mean over a class is the base classifier's accuracy under noise;
- ``smoothed``: Cohen et al.'s PREDICT from those n counts (two-sided binomial test at level α; −1 abstains);
- ``vote``: the majority vote of the n copies (the plug-in smoothed classifier, never abstains);
- ``predict``/``radius``: CERTIFY, selecting ĉ_A from n0 samples of the selection stream and estimating its
  probability from the same n counts PREDICT uses. Those come from the prediction stream, independent of
  the selection stream, which is all the CERTIFY guarantee needs (P(p̲_A > p_{ĉ_A}) ≤ α), so each certificate
  is as sound as Cohen's; PREDICT and CERTIFY of one input share samples, so their errors are correlated,
  which no per-input statement depends on.

Rows are written Cohen-compatible (``idx label predict radius correct time`` first: ``smoothcert analyze``
reads them) and resumable, one TSV per (model, σ).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smoothcert.analysis.metrics import per_class_certified_accuracy, validate_radii
from smoothcert.analysis.results import CertifyResults
from smoothcert.backends import Backend, Task
from smoothcert.backends.base import Progress
from smoothcert.certificates.cohen import certify_counts, predict_counts
from smoothcert.errors import InvalidArgumentError
from smoothcert.noise import Noise
from smoothcert.runs import Run, RunOptions
from smoothcert.sampling import PREDICTION
from smoothcert.smooth import ABSTAIN, Smooth
from smoothcert.validate import check_alpha, check_count

__all__ = [
    "AUDIT_COLUMNS",
    "AuditTask",
    "ClassMetrics",
    "Disparity",
    "audit_counts",
    "audit_dataset",
    "audit_inputs",
    "class_metrics",
    "disparity",
    "largest_losses",
    "per_class_mean",
]

#: Columns of an audit TSV: Cohen's (CERTIFY) first, then PREDICT, the vote and the base classifier.
AUDIT_COLUMNS = ("idx", "label", "predict", "radius", "correct", "time", "pA_lower", "n0", "n", "count_top",
                 "smoothed", "count_a", "count_b", "pvalue", "vote", "p_label", "base_clean")


# --- one input's numbers from its counts --------------------------------------------------------------------

def audit_counts(counts0: np.ndarray, counts: np.ndarray, labels: np.ndarray, base_clean: np.ndarray,
                 alpha: float, noise: Noise, num_classes: int) -> list[dict]:
    """Audit rows from sample counts (no sampling here): Cohen's CERTIFY and PREDICT rules
    (:mod:`smoothcert.certificates.cohen`) on the same counts, the plug-in vote and P(f(x + ε) = y).

    Args:
        counts0: selection counts [B, K] (n0 samples each), K ≥ num_classes outcomes (outcomes ≥ C are ⊥,
            an abstaining base classifier's: they count towards n0 and n but are no class).
        counts: prediction counts [B, K] (n samples each), independent of ``counts0``.
        labels: true classes [B]; base_clean: f(x) on the clean inputs [B].
        alpha: level of PREDICT's test and of CERTIFY's bound.
        noise: gives the radius.
        num_classes: C.
    Returns:
        B dicts with every column of :data:`AUDIT_COLUMNS` except ``idx`` and ``time``.
    """
    cert = certify_counts(counts0, counts, alpha, noise, num_classes)
    pred = predict_counts(counts, alpha, num_classes)
    labels = np.asarray(labels, dtype=np.int64)
    p_label = np.asarray(counts)[np.arange(len(labels)), labels] / np.maximum(cert.n, 1)
    return [{"label": int(labels[i]), "predict": c.prediction, "radius": c.radius,
             "correct": int(c.prediction == labels[i]), "pA_lower": c.p_a_lower, "n0": c.n0, "n": c.n,
             "count_top": c.count_top, "smoothed": int(pred.prediction[i]),
             "count_a": int(pred.count_top[i]), "count_b": int(pred.count_runner_up[i]),
             "pvalue": float(pred.pvalue[i]), "vote": int(pred.top[i]), "p_label": float(p_label[i]),
             "base_clean": int(base_clean[i])}
            for i, c in enumerate(cert.certificates())]


def audit_inputs(smooth: Smooth, x: torch.Tensor, y: torch.Tensor, n0: int, n: int, alpha: float,
                 indices: Sequence[int], progress: Callable[[int], None] | None = None) -> list[dict]:
    """Audit rows for inputs x [B, *shape] with labels y [B]; ``indices`` seed each input's noise.

    CERTIFY estimates on the prediction stream, so PREDICT and CERTIFY of an input share their n samples.
    """
    clean = smooth.engine.logits(x).argmax(dim=1).cpu().numpy()
    counts = smooth.sample(x, n0, n, indices, estimation_stream=PREDICTION, progress=progress)
    return audit_counts(counts.selection, counts.estimation, y.numpy(), clean, alpha, smooth.noise,
                        smooth.num_classes)


@dataclass(frozen=True)
class AuditTask(Task):
    """The audit rows of a chunk (:func:`audit_inputs`) as a picklable task, so any backend computes them;
    ``labels`` are the true classes of every input the run may give it (indexed by input index)."""

    n0: int
    n: int
    alpha: float
    labels: tuple[int, ...]

    def __call__(self, smooth: Smooth, x: torch.Tensor, ids: list[int], progress: Progress) -> list[list[dict]]:
        y = torch.tensor([self.labels[i] for i in ids], dtype=torch.int64)
        return [audit_inputs(smooth, x, y, self.n0, self.n, self.alpha, ids, progress)]


def audit_dataset(
    smooth: Smooth,
    x: torch.Tensor,
    y: torch.Tensor,
    out: str | Path,
    *,
    n0: int = 100,
    n: int = 1000,
    alpha: float = 0.001,
    indices: Sequence[int] | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
    context: Mapping[str, object] | None = None,
    chunk: int = 50,
    backend: Backend | None = None,
) -> dict:
    """Audit every selected input of x [N, *shape] (labels y [N]) into the TSV ``out`` with a manifest.

    Rows are flushed as written; ``options`` (:class:`~smoothcert.runs.RunOptions`, default ``RunOptions()``)
    sets resume, overwrite, timing and progress. A resume keeps the rows already in ``out`` (refusing different
    ``arguments``) and computes the rest, giving the same file an uninterrupted run writes (noise is seeded
    by (seed, idx)). ``backend`` (:mod:`smoothcert.backends`, default serial) computes the rows, here or on Ray
    workers that build the model from the backend's source; the rows are the same. Returns counts and timing
    of this call.
    """
    n0, n, alpha = check_count("n0", n0), check_count("n", n), check_alpha(alpha)
    indices = list(range(len(x))) if indices is None else [int(i) for i in indices]
    if indices and (min(indices) < 0 or max(indices) >= len(x)):
        raise InvalidArgumentError(f"indices must lie in [0, {len(x)}), got {min(indices)}..{max(indices)}")
    arguments = dict(arguments or {"n0": n0, "n": n, "alpha": alpha, "sigma": smooth.sigma, "seed": smooth.seed})

    task = AuditTask(n0, n, alpha, tuple(int(label) for label in y.tolist()))
    return Run("audit", [out], [arguments], AUDIT_COLUMNS, options, context).execute(
        smooth, x, y, task, indices=indices, per_input_samples=n0 + n, fill_samples=n0, chunk=chunk,
        backend=backend)


# --- per-class metrics ------------------------------------------------------------------------------------

def per_class_mean(labels: np.ndarray, values: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean of ``values`` [N] within each class of ``labels`` [N]: float64 [C], NaN for an empty class."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise InvalidArgumentError(f"labels must lie in [0, {num_classes}), found {labels.min()}..{labels.max()}")
    counts = np.bincount(labels, minlength=num_classes)
    sums = np.bincount(labels, weights=np.asarray(values, dtype=np.float64), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class ClassMetrics:
    """Per-class accuracies of one (model, σ) audit; every array is float64 [C] unless stated.

    Attributes:
        sigma: smoothing noise σ.
        counts: int64 [C], test inputs per class.
        base_clean: accuracy of f on clean inputs.
        base_noisy: accuracy of f under noise, P(f(x + ε) = y) averaged over the class (estimated from n
            copies per input).
        smoothed: accuracy of PREDICT, abstentions counted wrong.
        abstain: share of PREDICT abstentions.
        vote: accuracy of the majority vote of the n copies.
        radii: float64 [R] radii of the certified-accuracy columns.
        certified: float64 [C, R], certified accuracy (CERTIFY) within each class.
        overall: the same numbers over all inputs (dict of floats and lists).
        model: label of the base model.
    """

    sigma: float
    counts: np.ndarray
    base_clean: np.ndarray
    base_noisy: np.ndarray
    smoothed: np.ndarray
    abstain: np.ndarray
    vote: np.ndarray
    radii: np.ndarray
    certified: np.ndarray
    overall: dict
    model: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.counts)

    @property
    def loss(self) -> np.ndarray:
        """base_clean − smoothed [C]: what smoothing costs each class."""
        return self.base_clean - self.smoothed

    def to_dict(self) -> dict:
        """JSON-ready lists."""
        return {"sigma": self.sigma, "model": self.model, "counts": self.counts.tolist(),
                **{k: [None if math.isnan(v) else float(v) for v in getattr(self, k)]
                   for k in ("base_clean", "base_noisy", "smoothed", "abstain", "vote", "loss")},
                "radii": self.radii.tolist(), "certified": self.certified.tolist(), "overall": self.overall}


def class_metrics(results: CertifyResults, num_classes: int, radii: Sequence[float], sigma: float,
                  model: str = "") -> ClassMetrics:
    """Per-class metrics of an audit TSV read with :func:`~smoothcert.analysis.read_results`."""
    missing = [c for c in ("smoothed", "vote", "p_label", "base_clean") if c not in results.extra]
    if missing:
        raise InvalidArgumentError(f"results {results.name!r} are not an audit file (no column {missing[0]!r})")
    if len(results) == 0:
        raise InvalidArgumentError(f"results {results.name!r} hold no rows")
    r = np.atleast_1d(validate_radii(radii)).astype(np.float64)
    label = results.label
    columns = {
        "base_clean": results.extra["base_clean"] == label,
        "base_noisy": results.extra["p_label"],
        "smoothed": results.extra["smoothed"] == label,
        "abstain": results.extra["smoothed"] == ABSTAIN,
        "vote": results.extra["vote"] == label,
    }
    per_class = {k: per_class_mean(label, v, num_classes) for k, v in columns.items()}
    certified = per_class_certified_accuracy(results, r, num_classes)
    overall = {k: float(np.mean(v)) for k, v in columns.items()}
    overall["certified"] = [float(np.mean(results.correct & (results.radius >= x))) for x in r]
    return ClassMetrics(sigma=float(sigma), counts=np.bincount(label, minlength=num_classes).astype(np.int64),
                        radii=r, certified=certified, overall=overall, model=model, **per_class)


# --- disparity figures ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Disparity:
    """How unequal per-class accuracies are (classes without inputs, NaN, are left out).

    Attributes:
        spread: max − min over classes.
        std: standard deviation over classes (population, ddof = 0).
        mean: unweighted mean over classes.
        worst_class, worst: the class with the lowest accuracy (the lowest id on a tie) and that accuracy.
        best_class, best: the highest.
    """

    spread: float
    std: float
    mean: float
    worst_class: int
    worst: float
    best_class: int
    best: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def disparity(per_class: Sequence[float] | np.ndarray) -> Disparity:
    """Disparity figures of per-class accuracies [C]."""
    acc = np.asarray(per_class, dtype=np.float64)
    if acc.ndim != 1 or not np.any(~np.isnan(acc)):
        raise InvalidArgumentError(f"need a 1-D array of per-class values with one non-NaN entry, got {acc!r}")
    valid = np.flatnonzero(~np.isnan(acc))
    values = acc[valid]
    worst, best = int(valid[np.argmin(values)]), int(valid[np.argmax(values)])
    return Disparity(spread=float(values.max() - values.min()), std=float(values.std()), mean=float(values.mean()),
                     worst_class=worst, worst=float(acc[worst]), best_class=best, best=float(acc[best]))


def largest_losses(before: Sequence[float] | np.ndarray, after: Sequence[float] | np.ndarray,
                   k: int = 3) -> list[tuple[int, float]]:
    """The k classes losing most from ``before`` to ``after`` (per-class [C] each): [(class, loss)], largest
    loss first (lower class id on a tie); classes with NaN are left out."""
    loss = np.asarray(before, dtype=np.float64) - np.asarray(after, dtype=np.float64)
    order = [int(c) for c in np.argsort(-np.nan_to_num(loss, nan=-np.inf), kind="stable") if not np.isnan(loss[c])]
    return [(c, float(loss[c])) for c in order[:k]]
