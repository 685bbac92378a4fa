"""Certificates of the mixed classifier when the robust model is a smoothed classifier (methods.md §5).

The mixture is M(x) = argmax_c (1 − α)·g_c(x) + α·h_c(x), g_c ∈ [0, 1] the standard model's softmax and
h_c(x) = P(f(x + ε) = c), ε ~ N(0, σ²I), the class probabilities of the smoothed hard-vote classifier. With
y the robust model's class, y' its strongest rival and μ = (1 − α)/α, M is constant (= y) on the ℓ2 ball of
radius

    randomized-smoothing version:  r = σ/2 · max(0, Φ⁻¹(h_y/(1+μ)) − Φ⁻¹((h_{y'} + μ)/(1+μ)))
    Lipschitz version:             r = max(0, α·(h_y − h_{y'}) + α − 1) / (2α·L),   L = √(2/π)/σ

(proofs in docs/mixing.md). The paper plugs in vote frequencies; here h_y is replaced by a lower bound p̲_y
and h_{y'} by an upper bound p̄_{y'} that hold together with probability ≥ 1 − α_conf (one-sided
Clopper–Pearson at α_conf/2 each, Bonferroni), which makes the radius a certificate. The plug-in version is
computed beside it to show what the bounds cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import norm

from .. import sampling
from ..errors import InvalidArgumentError, ResultsError
from ..pipeline import run_into_files
from ..smooth import Smooth, check_count
from ..stats import bonferroni, check_alpha, clopper_pearson_lower, clopper_pearson_upper

KINDS = ("rs", "lipschitz")
BOUNDS = ("cp", "plugin")
MIXTURE_COLUMNS = ("idx", "label", "guess", "runner_up", "count_guess", "count_runner_up", "n0", "n", "counts",
                   "time")


def check_mixing_alpha(alpha: np.ndarray | float) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float64)
    if np.any(~np.isfinite(a)) or np.any(a < 0) or np.any(a > 1):
        raise InvalidArgumentError(f"the mixing weight alpha must lie in [0, 1], got {alpha!r}")
    return a


def mixture_mu(alpha: np.ndarray | float) -> np.ndarray:
    """μ = (1 − α)/α (∞ at α = 0)."""
    a = check_mixing_alpha(alpha)
    with np.errstate(divide="ignore"):
        return np.where(a > 0, (1 - a) / np.where(a > 0, a, 1.0), np.inf)


def rs_radius(p_y: np.ndarray, p_other: np.ndarray, alpha: np.ndarray | float, sigma: float) -> np.ndarray:
    """σ/2 · max(0, Φ⁻¹(p_y/(1+μ)) − Φ⁻¹((p_other + μ)/(1+μ))), broadcast over inputs and α; 0 at α = 0.

    p_y must be a lower bound on h_y(x) and p_other an upper bound on max_{c≠y} h_c(x) for a certificate.
    At α = 1 this is Cohen et al.'s two-sided radius σ/2 (Φ⁻¹(p_y) − Φ⁻¹(p_other)).
    """
    mu = mixture_mu(alpha)
    p_y, p_other = np.asarray(p_y, dtype=np.float64), np.asarray(p_other, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        finite = np.isfinite(mu)
        m = np.where(finite, mu, 0.0)
        r = 0.5 * sigma * (norm.ppf(p_y / (1 + m)) - norm.ppf((p_other + m) / (1 + m)))
    r = np.where(finite, r, 0.0)
    return np.maximum(np.nan_to_num(r, nan=0.0, neginf=0.0), 0.0)


def lipschitz_radius(p_y: np.ndarray, p_other: np.ndarray, alpha: np.ndarray | float, sigma: float) -> np.ndarray:
    """max(0, α(p_y − p_other) + α − 1)/(2α L) with L = √(2/π)/σ, the Lipschitz constant of each h_c; 0 at α = 0."""
    a = check_mixing_alpha(alpha)
    lip = math.sqrt(2 / math.pi) / sigma
    gap = a * (np.asarray(p_y, dtype=np.float64) - np.asarray(p_other, dtype=np.float64)) + a - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(a > 0, np.maximum(gap, 0.0) / (2 * np.where(a > 0, a, 1.0) * lip), 0.0)
    return r


RADII = {"rs": rs_radius, "lipschitz": lipschitz_radius}


def simultaneous_bounds(count_y: np.ndarray, count_other: np.ndarray, n: np.ndarray | int,
                        alpha_conf: float) -> tuple[np.ndarray, np.ndarray]:
    """(p̲_y, p̄_{y'}) holding together with probability ≥ 1 − α_conf.

    p̲_y is the one-sided Clopper–Pearson lower bound of count_y at level α_conf/2; p̄_{y'} is the smaller of the
    upper bound of count_other (the largest count among classes ≠ y) at α_conf/2 and 1 − p̲_y. Both are valid
    bounds on h_y and max_{c≠y} h_c on the same event, provided y was chosen independently of these counts.
    """
    level = bonferroni(check_alpha(alpha_conf), 2)
    lower = clopper_pearson_lower(count_y, n, level)
    upper = np.minimum(clopper_pearson_upper(count_other, n, level), 1.0 - lower)
    return lower, upper


def plugin_estimates(count_y: np.ndarray, count_other: np.ndarray,
                     n: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Raw vote frequencies (n_y/n, n_{y'}/n): what the paper plugs in; not a certificate."""
    n = np.asarray(n, dtype=np.float64)
    return np.asarray(count_y, dtype=np.float64) / n, np.asarray(count_other, dtype=np.float64) / n


def mixture_radius(count_y: np.ndarray, count_other: np.ndarray, n: np.ndarray | int, alpha: np.ndarray | float,
                   sigma: float, *, kind: str = "rs", bounds: str = "cp", alpha_conf: float = 0.001) -> np.ndarray:
    """Radius of the mixture from vote counts: ``kind`` "rs" or "lipschitz", ``bounds`` "cp" (certificate, at
    confidence 1 − α_conf) or "plugin" (raw frequencies). Shapes: counts [B] (or broadcastable with α)."""
    if kind not in KINDS or bounds not in BOUNDS:
        raise InvalidArgumentError(f"kind must be one of {KINDS} and bounds one of {BOUNDS}, got {kind!r}, {bounds!r}")
    if bounds == "cp":
        p_y, p_other = simultaneous_bounds(count_y, count_other, n, alpha_conf)
    else:
        p_y, p_other = plugin_estimates(count_y, count_other, n)
    return RADII[kind](p_y, p_other, alpha, sigma)


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
    n0, n = check_count("n0", n0), check_count("n", n)
    ids = [int(i) for i in indices]
    counts0 = smooth.sample_counts(x, n0, ids, sampling.SELECTION, progress)[:, : smooth.num_classes]
    guess = counts0.argmax(axis=1)
    counts = smooth.sample_counts(x, n, ids, sampling.ESTIMATION, progress)[:, : smooth.num_classes]
    rows = np.arange(len(ids))
    others = counts.copy()
    others[rows, guess] = -1
    runner = others.argmax(axis=1)
    return MixtureCounts(guess, counts, runner, counts[rows, guess], counts[rows, runner], n0, n)


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
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    context: Mapping[str, object] | None = None,
) -> dict:
    """Sample the robust model's votes for every selected input and write one TSV row each (resumable).

    Rows: ``idx label guess runner_up count_guess count_runner_up n0 n counts time`` (``counts``: the n
    estimation votes per class, comma-separated). Radii for any α, confidence and version follow from these
    rows (:func:`mixture_certified_accuracy`), so one sampling run serves the whole α sweep.
    """
    n0, n = check_count("n0", n0), check_count("n", n)
    indices = list(range(len(x))) if indices is None else [int(i) for i in indices]
    arguments = dict(arguments or {"n0": n0, "n": n, "sigma": smooth.sigma, "seed": smooth.seed})

    def compute(xb: torch.Tensor, ids: list[int], update) -> list[list[dict]]:
        c = sample_mixture_counts(smooth, xb, n0, n, ids, update)
        return [[{"guess": int(c.guess[k]), "runner_up": int(c.runner_up[k]), "count_guess": int(c.count_guess[k]),
                  "count_runner_up": int(c.count_runner_up[k]), "n0": n0, "n": n,
                  "counts": ",".join(str(int(v)) for v in c.counts[k])} for k in range(len(ids))]]

    return run_into_files("mixture votes", smooth, x, y, [out], [arguments], MIXTURE_COLUMNS, compute,
                          indices=indices, per_input_samples=n0 + n, fill_samples=n0, resume=resume,
                          overwrite=overwrite, progress=progress, context=context)


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
    lines = path.read_text().splitlines()
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
    as_int = {k: np.array([int(v) for v in cols[k]], dtype=np.int64)
              for k in ("idx", "label", "guess", "count_guess", "count_runner_up", "n")}
    counts = np.array([[int(v) for v in row.split(",")] for row in cols["counts"]], dtype=np.int64)
    return MixtureVotes(as_int["idx"], as_int["label"], as_int["guess"], as_int["count_guess"],
                        as_int["count_runner_up"], as_int["n"], counts)


def mixture_certified_accuracy(votes: MixtureVotes, alphas: Sequence[float], radii: Sequence[float], sigma: float,
                               *, kind: str = "rs", bounds: str = "cp", alpha_conf: float = 0.001) -> np.ndarray:
    """Certified accuracy [len(alphas), len(radii)]: share of inputs whose certified class is the label and whose
    radius (> 0) is at least r. At α ≤ ½ nothing is certified (it needs h_y − h_{y'} > μ ≥ 1)."""
    a = check_mixing_alpha(np.asarray(alphas, dtype=np.float64))[:, None]
    r = mixture_radius(votes.count_guess[None, :], votes.count_runner_up[None, :], votes.n[None, :], a, sigma,
                       kind=kind, bounds=bounds, alpha_conf=alpha_conf)  # [A, B]
    correct = (votes.guess == votes.label)[None, :] & (r > 0)
    return np.stack([(correct & (r >= rad)).mean(axis=1) for rad in radii], axis=1)


def mixture_clean_accuracy(votes: MixtureVotes, standard_probs: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """Accuracy [len(alphas)] of argmax((1 − α)·softmax(g) + α·ĥ), ĥ the vote frequencies (a plug-in estimate of
    the mixture's clean accuracy). standard_probs: the standard model's softmax [B, C] on the same inputs."""
    h = votes.counts / votes.n[:, None]
    out = []
    for a in check_mixing_alpha(np.asarray(alphas, dtype=np.float64)):
        pred = ((1 - a) * standard_probs + a * h).argmax(axis=1)
        out.append(float((pred == votes.label).mean()))
    return np.array(out)
