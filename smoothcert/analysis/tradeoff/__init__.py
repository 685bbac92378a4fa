"""Noise-augmented training against smoothing noise: the α × β trade-off (Pal & Sulam 2023, methods.md §3).

- :mod:`.disks`: the synthetic experiment, Δ_{α,β} of disks on a pixel grid under Gaussian convolution.
- :mod:`.risk`: the smoothed risk of real classifiers, the error of the majority vote over n noisy copies.
- :mod:`.grid`: models trained (fine-tuned) at noise α, evaluated at noise β; cached per α, one file per cell.

The job runner that puts both into run folders, in parallel, with tables and plots, is
:mod:`smoothcert.experiments.tradeoff`.
"""

from .disks import (
    DisksConfig,
    DisksResult,
    delta_table,
    disk_mask,
    phi,
    run_disks,
    sample_disks,
    single_disk_delta,
    smoothed_disk_radius,
    smoothing_risk,
)
from .grid import PAPER_MNIST_ALPHA_STAR, FinetuneConfig, GridConfig, GridResult, collect, grid_preset
from .risk import base_predictions, majority_vote, risk, smoothed_predictions

__all__ = [
    "PAPER_MNIST_ALPHA_STAR",
    "DisksConfig",
    "DisksResult",
    "FinetuneConfig",
    "GridConfig",
    "GridResult",
    "base_predictions",
    "collect",
    "delta_table",
    "disk_mask",
    "grid_preset",
    "majority_vote",
    "phi",
    "risk",
    "run_disks",
    "sample_disks",
    "single_disk_delta",
    "smoothed_disk_radius",
    "smoothed_predictions",
    "smoothing_risk",
]
