"""Certify a test set with an uncertainty-aware base classifier into resumable TSVs (one per τ).

Row format (one per input): Cohen's ``idx label predict radius correct time``, then ``radius_i radius_ii
radius_cohen frac_uncertain`` and the rest of :data:`UNCERTAINTY_COLUMNS`. ``predict`` is ĉ_A when R_ii is
issued (the uncertainty-aware smoothed classifier answers ĉ_A or ⊥ near x), else −1; ``radius`` is R_ii
(0 when not issued); ``correct`` = (predict == label). A radius column is NaN where its certificate is not
issued, so ``correct & radius_X ≥ r`` is exactly certified accuracy for X ∈ {i, ii} (both use ĉ_A), and
smoothcert.analysis (``analyze --radius-column radius_i``) reads these files as they are; so is X = filtered
(``radius_filtered``: the filtered classifier, which never answers ⊥, certified from joint masses). Cohen's radius
belongs to the plain classifier's own guess (``guess_cohen``, ``predict_cohen``);
:mod:`smoothcert.analysis.uncertainty` scores every radius with its own guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ...backends import Backend, Task
from ...backends.base import Progress
from ...errors import InvalidArgumentError
from ...runs import Run, RunOptions
from ...smooth import Smooth
from ...validate import check_alpha, check_count
from .certify import certify_uncertainty, outcome_map_of

UNCERTAINTY_COLUMNS = (
    "idx", "label", "predict", "radius", "correct", "time",
    "radius_i", "radius_ii", "radius_cohen", "frac_uncertain", "radius_i_top2", "radius_ii_top2",
    "guess", "guess_cohen", "predict_cohen", "p1_lower", "p2_lower", "pA_lower",
    "count_i", "count_ii", "count_cohen", "count_uncertain", "n0", "n", "radius_filtered",
)  # fmt: skip


def tau_name(tau: float) -> str:
    """File-name form of τ: ``0.25`` → ``"0.25"``, ``inf`` → ``"inf"``."""
    return "inf" if math.isinf(tau) else f"{tau:.6g}"


def _row(cert: dict) -> dict:
    radius_ii = cert["radius_ii"]
    return {**cert, "predict": cert["predict_ii"], "radius": 0.0 if math.isnan(radius_ii) else radius_ii}


@dataclass(frozen=True)
class UncertaintyTask(Task):
    """Uncertainty-aware CERTIFY of a chunk as a picklable task (any backend runs it): one sampling pass per
    input, one list of rows per τ of the smoothed classifier's outcome map."""

    n0: int
    n: int
    alpha: float

    def __call__(self, smooth: Smooth, x: torch.Tensor, ids: list[int], progress: Progress) -> list[list[dict]]:
        per_tau = certify_uncertainty(smooth, x, self.n0, self.n, self.alpha, indices=ids, progress=progress)
        return [[_row(certs.row(j)) for j in range(len(ids))] for certs in per_tau]


def _certify_into(
    smooth: Smooth,
    x: torch.Tensor,
    y: torch.Tensor,
    outs: Sequence[Path],
    arguments: Sequence[Mapping[str, object]],
    indices: Sequence[int],
    n0: int,
    n: int,
    alpha: float,
    options: RunOptions | None,
    context: Mapping[str, object],
    backend: Backend | None,
) -> dict:
    """One sampling pass per input, one row per τ written to ``outs[k]``."""
    return Run("certify-uncertainty", outs, arguments, UNCERTAINTY_COLUMNS, options, context).execute(
        smooth, x, y, UncertaintyTask(n0, n, alpha), indices=indices, per_input_samples=n0 + n, fill_samples=n0,
        backend=backend)


def _base_arguments(smooth: Smooth, n0: int, n: int, alpha: float) -> dict:
    om = outcome_map_of(smooth)
    return {"n0": n0, "n": n, "alpha": alpha, "sigma": smooth.sigma, "seed": smooth.seed,
            "measure": om.measure, "members": om.members}


def certify_uncertainty_dataset(
    smooth: Smooth,
    x: torch.Tensor,
    y: torch.Tensor,
    out: str | Path,
    *,
    n0: int = 100,
    n: int = 100_000,
    alpha: float = 0.001,
    indices: Sequence[int] | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
    context: Mapping[str, object] | None = None,
    backend: Backend | None = None,
) -> dict:
    """Certify every selected input of x [N, *shape] (labels y [N]) with one τ; one TSV row each in ``out``.

    ``smooth.outcome_map`` must be an ``UncertaintyOutcome`` with one τ. Rows: :data:`UNCERTAINTY_COLUMNS`;
    manifest ``out.json`` with ``arguments`` (default: n0, n, α, σ, seed, measure, τ) and ``context``.
    ``options`` (:class:`~smoothcert.runs.RunOptions`) and ``backend`` (:mod:`smoothcert.backends`: here, or on
    Ray workers, with the same rows) as in :func:`smoothcert.pipeline.certify_dataset`. Returns counts and
    timing of this call.
    """
    n0, n, alpha = check_count("n0", n0), check_count("n", n), check_alpha(alpha)
    om = outcome_map_of(smooth)
    if len(om.taus) != 1:
        raise InvalidArgumentError(f"one tau per results file; the outcome map has {len(om.taus)} "
                                   "(use sweep_uncertainty_dataset)")
    indices = list(range(len(x))) if indices is None else list(indices)
    args = dict(arguments or {**_base_arguments(smooth, n0, n, alpha), "tau": tau_name(om.taus[0])})
    return _certify_into(smooth, x, y, [Path(out)], [args], indices, n0, n, alpha, options,
                         {"outcome": om.describe(), **(context or {})}, backend)


def sweep_paths(out_dir: str | Path, taus: Sequence[float]) -> list[Path]:
    """``out_dir/tau_<τ>.tsv`` for each τ."""
    return [Path(out_dir) / f"tau_{tau_name(t)}.tsv" for t in taus]


def sweep_uncertainty_dataset(
    smooth: Smooth,
    x: torch.Tensor,
    y: torch.Tensor,
    out_dir: str | Path,
    *,
    n0: int = 100,
    n: int = 100_000,
    alpha: float = 0.001,
    indices: Sequence[int] | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
    context: Mapping[str, object] | None = None,
    backend: Backend | None = None,
) -> list[Path]:
    """A τ sweep from one sampling pass: ``smooth.outcome_map`` holds K thresholds; writes one results file
    per τ (``out_dir/tau_<τ>.tsv``, same rows as :func:`certify_uncertainty_dataset` would write for that τ).

    Each file's certificates hold with probability ≥ 1 − α on their own; the K files share their noise
    samples, so no statement is made jointly across τ. ``options`` (:class:`~smoothcert.runs.RunOptions`) applies
    to every file; ``backend`` computes the rows (default serial). Returns the K paths.
    """
    n0, n, alpha = check_count("n0", n0), check_count("n", n), check_alpha(alpha)
    om = outcome_map_of(smooth)
    indices = list(range(len(x))) if indices is None else list(indices)
    base = dict(arguments or _base_arguments(smooth, n0, n, alpha))
    paths = sweep_paths(out_dir, om.taus)
    args = [{**base, "tau": tau_name(t)} for t in om.taus]
    _certify_into(smooth, x, y, paths, args, indices, n0, n, alpha, options,
                  {"outcome": om.describe(), **(context or {})}, backend)
    return paths
