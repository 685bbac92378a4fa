"""The tasks of ``smoothcert certify`` and ``smoothcert predict`` (:func:`smoothcert.pipeline.certify_dataset`,
:func:`~smoothcert.pipeline.predict_dataset`) as picklable objects, so any backend can compute their rows."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..certificates.cohen import certify_counts, predict_counts
from ..certificates.sequential import SequentialConfig
from ..sampling import PREDICTION
from ..smooth import Smooth
from .base import Progress, Task


@dataclass(frozen=True)
class CertifyTask(Task):
    """CERTIFY (Cohen et al.; sequential CERTIFY with ``sequential``): a row per input with the prediction,
    the radius in the noise's norm and the count vectors (kept for ``smoothcert recertify``)."""

    n0: int
    n: int
    alpha: float
    sequential: SequentialConfig | None = None

    def __call__(self, smooth: Smooth, x: torch.Tensor, ids: list[int], progress: Progress) -> list[list[dict]]:
        kept: list[dict] = [{} for _ in ids]
        if self.sequential is not None:
            certs = smooth.certify_sequential(x, self.n0, self.alpha, self.sequential, indices=ids, progress=progress)
        else:  # Smooth.certify_batch, keeping the count vectors for recertify
            counts = smooth.sample(x, self.n0, self.n, ids, progress=progress)
            certs = certify_counts(counts.selection, counts.estimation, self.alpha, smooth.noise,
                                   smooth.num_classes).certificates()
            kept = [{"selection": s, "estimation": e} for s, e in zip(counts.selection, counts.estimation,
                                                                       strict=True)]
        rows = [{"predict": c.prediction, "radius": c.radius, "pA_lower": c.p_a_lower, "n0": c.n0, "n": c.n,
                 "count_top": c.count_top, "norm": smooth.noise.norm, **k} for c, k in zip(certs, kept, strict=True)]
        if self.sequential is not None:
            for row, c in zip(rows, certs, strict=True):
                row.update(pA_upper=c.p_a_upper, stop=c.stop)
        return [rows]


@dataclass(frozen=True)
class PredictTask(Task):
    """PREDICT: a row per input with the prediction (−1: abstain), the top two counts, n, the p-value and
    the count vector."""

    n: int
    alpha: float

    def __call__(self, smooth: Smooth, x: torch.Tensor, ids: list[int], progress: Progress) -> list[list[dict]]:
        counts = smooth.sample_counts(x, self.n, ids, PREDICTION, progress)  # Smooth.predict_batch, keeping counts
        preds = predict_counts(counts, self.alpha, smooth.num_classes).predictions()
        return [[{"predict": p.prediction, "count_top": p.count_top, "count_runner_up": p.count_runner_up,
                  "n": p.n, "pvalue": p.pvalue, "counts": c} for p, c in zip(preds, counts, strict=True)]]
