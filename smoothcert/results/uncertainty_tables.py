"""What the uncertainty recipes read from their runs: per-input values of a τ sweep at a calibrated τ, and the
OOD AUROC table with intervals over inputs and seeds."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..analysis.intervals import auroc, seed_input_bootstrap
from ..analysis.results import read_results
from ..analysis.uncertainty import CERTIFICATES, label_radius
from ..studies.uncertainty.ood import OOD_SETS, SCORE_KINDS, read_scores


def tau_of(sweep: Path, rate: float) -> float:
    """The τ that the sweep folder ``sweep`` calibrated to rejection rate ``rate``."""
    calibration = json.loads(next(sweep.glob("tau_*.json")).read_text())["tau_calibration"]
    return calibration["taus"][calibration["reject_rates"].index(rate)]


def per_input(sweep: Path, rate: float, columns: tuple[str, ...] = ("cohen", "ii"), *,
              missing: float = 0.0) -> np.ndarray:
    """[N, len(columns)] per input, inputs by index, at the τ that ``sweep`` calibrated to rejection rate ``rate``:
    for a certificate (``cohen``, ``i``, ``ii``, ``i_top2``, ``ii_top2``) the radius at which it certifies the true
    label (``missing`` where it does not), for another column of the results file (``frac_uncertain``) its value."""
    res = read_results(sweep / f"tau_{tau_of(sweep, rate):g}.tsv")
    order = np.argsort(res.idx)
    return np.stack([(np.nan_to_num(label_radius(res, c), nan=missing) if c in CERTIFICATES
                      else np.asarray(res.extra[c], dtype=np.float64))[order] for c in columns], axis=1)


def seeds_note(seeds: Sequence[int], what: str = "Each number") -> str:
    return (f"{what}: mean over seeds {', '.join(map(str, seeds))} [95% interval] by bootstrap over inputs and "
            "seeds.")


def _ood_values(folders: Sequence[Path], key: str) -> list[np.ndarray]:
    """Per seed (one OOD folder each) [N, 1 + sets]: the score ``key`` of the N in-distribution images and of the
    N images of each OOD set."""
    values = []
    for folder in folders:
        scores = read_scores(folder / "scores.tsv")
        values.append(np.stack([scores["test"][key], *(scores[name][key] for name in OOD_SETS)], axis=1))
    return values


def _auroc_of(j: int) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic: the AUROC of OOD set ``j`` (column j ≥ 1) against the in-distribution column 0."""
    return lambda values: auroc(values[..., [0, j]])


def _mean_auroc(values: np.ndarray) -> np.ndarray:
    return np.mean([auroc(values[..., [0, j]]) for j in range(1, values.shape[-1])], axis=0)


def ood_table(models: Mapping[str, tuple[str, Sequence[str]]], folders: Callable[[str], Sequence[Path]],
              seeds: Sequence[int], *, data: str, sigma: float, rate: float) -> str:
    """AUROC (OOD positive) per (model, measure, score) and OOD set, and their mean.

    Args:
        models: model → (its row label, the measures it was scored with).
        folders: model → its ``smoothcert uncertainty ood`` folder per seed.
        seeds: the seeds, in the order of ``folders``.
        data: the in-distribution images' name (caption).
        sigma, rate: the scoring's noise level and the rejection rate of its τ (caption).
    """
    lines = ["| model | measure | score | " + " | ".join(OOD_SETS) + " | mean |",
             "|---|---|---|" + "---|" * (len(OOD_SETS) + 1)]
    n = 0
    for model, (label, measures) in models.items():
        for measure in measures:
            for kind in SCORE_KINDS:
                values = _ood_values(folders(model), f"{kind}_{measure}")
                n = len(values[0])
                cells = [seed_input_bootstrap(values, _auroc_of(j)) for j in range(1, len(OOD_SETS) + 1)]
                cells.append(seed_input_bootstrap(values, _mean_auroc))
                lines.append(f"| {label} | {measure} | {kind} | " + " | ".join(f"{e:.3f}" for e in cells) + " |")
    lines += ["", f"AUROC of telling {n:,} images of each OOD set from {n:,} {data} by a larger score (ties half). "
              "clean: the base model's uncertainty u on the clean image; mean_u: the mean u over noisy copies "
              f"(σ = {sigma:g}); frac_uncertain: the share of those copies with u > τ, τ rejecting {rate:.0%} of noisy "
              f"held-out {data}. The OOD images are drawn anew with each seed. " + seeds_note(seeds)]
    return "\n".join(lines)
