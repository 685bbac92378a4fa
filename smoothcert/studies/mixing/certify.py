"""Votes of the smoothed robust model and the mixed classifier's certified accuracy from them (methods.md §5).

The mixture is M(x) = argmax_c (1 − α)·g_c(x) + α·h_c(x), g the standard model's softmax and h_c(x) =
P(f(x + ε) = c) the smoothed robust model's class probabilities. One sampling run (:func:`certify_mixture_dataset`)
records the robust model's class y, its strongest rival y' and their vote counts per input; the radii for any α,
confidence and version (randomized smoothing or Lipschitz, simultaneous Clopper–Pearson bounds or plug-in
frequencies) are the pure rules of :mod:`smoothcert.certificates.mixture`, applied to those rows by
:func:`mixture_certified_accuracy`. Proofs in docs/mixing.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...backends import Backend, Task
from ...backends.base import Progress
from ...certificates.cohen import select_class
from ...certificates.mixture import check_mixing_alpha, mixture_radius
from ...errors import ResultsError
from ...runs import Run, RunOptions
from ...smooth import Smooth
from ...validate import check_count

MIXTURE_COLUMNS = ("idx", "label", "guess", "runner_up", "count_guess", "count_runner_up", "n0", "n", "counts",
                   "time")


# --- sampling --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MixtureCounts:
    """Vote counts of the smoothed robust model for a batch of inputs.

    guess [B]: class y from the n0 selection samples; counts [B, C]: class counts of n fresh samples;
    runner_up [B]: argmax of counts over c ≠ y; count_guess, count_runner_up [B].
    """

    guess: np.ndarray
    counts: np.ndarray
    runner_up: np.ndarray
    count_guess: np.ndarray
    count_runner_up: np.ndarray
    n0: int
    n: int


def sample_mixture_counts(smooth: Smooth, x: torch.Tensor, n0: int, n: int, indices: Sequence[int],
                          progress=None) -> MixtureCounts:
    """Selection (n0) and estimation (n) counts from the engine, on independent noise streams."""
    sampled = smooth.sample(x, n0, n, indices, progress=progress)
    guess = select_class(sampled.selection, smooth.num_classes)
    counts = sampled.estimation[:, : smooth.num_classes]
    rows = np.arange(len(guess))
    others = counts.copy()
    others[rows, guess] = -1
    runner = others.argmax(axis=1)
    return MixtureCounts(guess, counts, runner, counts[rows, guess], counts[rows, runner], n0, n)


@dataclass(frozen=True)
class MixtureTask(Task):
    """The vote rows of a chunk (:func:`sample_mixture_counts`) as a picklable task, so any backend computes
    them."""

    n0: int
    n: int

    def __call__(self, smooth: Smooth, x: torch.Tensor, ids: list[int], progress: Progress) -> list[list[dict]]:
        c = sample_mixture_counts(smooth, x, self.n0, self.n, ids, progress)
        return [[{"guess": int(c.guess[k]), "runner_up": int(c.runner_up[k]), "count_guess": int(c.count_guess[k]),
                  "count_runner_up": int(c.count_runner_up[k]), "n0": self.n0, "n": self.n,
                  "counts": ",".join(str(int(v)) for v in c.counts[k])} for k in range(len(ids))]]


def certify_mixture_dataset(
    smooth: Smooth,
    x: torch.Tensor,
    y: torch.Tensor,
    out: str | Path,
    *,
    n0: int = 100,
    n: int = 10_000,
    indices: Sequence[int] | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
    context: Mapping[str, object] | None = None,
    backend: Backend | None = None,
) -> dict:
    """Sample the robust model's votes for every selected input and write one TSV row each (resumable).

    Rows: ``idx label guess runner_up count_guess count_runner_up n0 n counts time`` (``counts``: the n
    estimation votes per class, comma-separated). Radii for any α, confidence and version follow from these
    rows (:func:`mixture_certified_accuracy`), so one sampling run serves the whole α sweep.
    ``options`` (:class:`~smoothcert.runs.RunOptions`, default ``RunOptions()``): resume, overwrite, timing,
    progress. ``backend`` (:mod:`smoothcert.backends`, default serial) computes the rows, here or on Ray
    workers that build the model from the backend's source; the rows are the same. Returns counts and timing
    of this call.
    """
    n0, n = check_count("n0", n0), check_count("n", n)
    indices = list(range(len(x))) if indices is None else [int(i) for i in indices]
    arguments = dict(arguments or {"n0": n0, "n": n, "sigma": smooth.sigma, "seed": smooth.seed})

    return Run("mixture votes", [out], [arguments], MIXTURE_COLUMNS, options, context).execute(
        smooth, x, y, MixtureTask(n0, n), indices=indices, per_input_samples=n0 + n, fill_samples=n0,
        backend=backend)


@dataclass(frozen=True)
class MixtureVotes:
    """The rows of a mixture-votes TSV as arrays (one entry per input)."""

    idx: np.ndarray
    label: np.ndarray
    guess: np.ndarray
    count_guess: np.ndarray
    count_runner_up: np.ndarray
    n: np.ndarray
    counts: np.ndarray  # [B, C]


def read_mixture_votes(path: str | Path) -> MixtureVotes:
    """Read a TSV written by :func:`certify_mixture_dataset`."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"mixture votes file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ResultsError(f"{path} is not a mixture votes file (not UTF-8 text)") from err
    if not lines or lines[0].split("\t") != list(MIXTURE_COLUMNS):
        raise ResultsError(f"{path} is not a mixture votes file (expected columns {MIXTURE_COLUMNS})")
    cols = {k: [] for k in MIXTURE_COLUMNS}
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(MIXTURE_COLUMNS):
            raise ResultsError(f"{path}: line {number} is malformed")
        for k, v in zip(MIXTURE_COLUMNS, cells, strict=True):
            cols[k].append(v)
    if not cols["idx"]:
        raise ResultsError(f"{path} has no rows")
    try:
        as_int = {k: np.array([int(v) for v in cols[k]], dtype=np.int64)
                  for k in ("idx", "label", "guess", "count_guess", "count_runner_up", "n")}
        counts = np.array([[int(v) for v in row.split(",")] for row in cols["counts"]], dtype=np.int64)
    except ValueError as err:  # a non-integer cell, or rows with different numbers of classes
        raise ResultsError(f"{path} has a malformed count: {str(err).splitlines()[0]}") from err
    return MixtureVotes(as_int["idx"], as_int["label"], as_int["guess"], as_int["count_guess"],
                        as_int["count_runner_up"], as_int["n"], counts)


def mixture_certified(votes: MixtureVotes, alphas: Sequence[float], radii: Sequence[float], sigma: float,
                      *, kind: str = "rs", bounds: str = "cp", alpha_conf: float = 0.001) -> np.ndarray:
    """Per-input outcomes [len(alphas), len(radii), B] (bool): the certified class is the label and its radius
    (> 0) is at least r. At α ≤ ½ nothing is certified (it needs h_y − h_{y'} > μ ≥ 1)."""
    a = check_mixing_alpha(np.asarray(alphas, dtype=np.float64))[:, None]
    r = mixture_radius(votes.count_guess[None, :], votes.count_runner_up[None, :], votes.n[None, :], a, sigma,
                       kind=kind, bounds=bounds, alpha_conf=alpha_conf)  # [A, B]
    correct = (votes.guess == votes.label)[None, :] & (r > 0)
    return np.stack([correct & (r >= rad) for rad in radii], axis=1)


def mixture_certified_accuracy(votes: MixtureVotes, alphas: Sequence[float], radii: Sequence[float], sigma: float,
                               *, kind: str = "rs", bounds: str = "cp", alpha_conf: float = 0.001) -> np.ndarray:
    """Certified accuracy [len(alphas), len(radii)]: the share of inputs :func:`mixture_certified` counts."""
    return mixture_certified(votes, alphas, radii, sigma, kind=kind, bounds=bounds,
                             alpha_conf=alpha_conf).mean(axis=-1)


def mixture_clean_accuracy(votes: MixtureVotes, standard_probs: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """Accuracy [len(alphas)] of argmax((1 − α)·softmax(g) + α·ĥ), ĥ the vote frequencies (a plug-in estimate of
    the mixture's clean accuracy). standard_probs: the standard model's softmax [B, C] on the same inputs."""
    h = votes.counts / votes.n[:, None]
    out = []
    for a in check_mixing_alpha(np.asarray(alphas, dtype=np.float64)):
        pred = ((1 - a) * standard_probs + a * h).argmax(axis=1)
        out.append(float((pred == votes.label).mean()))
    return np.array(out)
