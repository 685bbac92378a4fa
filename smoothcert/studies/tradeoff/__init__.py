"""Noise-augmented training against smoothing noise: the α × β trade-off (Pal & Sulam 2023, methods.md §3).

- :mod:`.disks`: the synthetic experiment, Δ_{α,β} of disks on a pixel grid under Gaussian convolution.
- :mod:`.risk`: the smoothed risk of real classifiers, the error of the majority vote over n noisy copies.
- :mod:`.grid`: the real-data α × β grid's cells: models trained (fine-tuned) at noise α, evaluated at noise β;
  models cached per α, one :class:`~smoothcert.runs.CellCache` cell per (α, β).
- :mod:`.job`: the jobs that run both into run folders (the grid's jobs in a backend's job pool, here, in
  local processes or on Ray; manifests, tables, reports as Documents).
- :mod:`.plots`: gain curves, heatmaps, α*(β) curves (imported on first use: matplotlib stays out of the
  grid's worker processes).
- :mod:`.levels`: the noise-level lists (α, β, ζ), checked, and parsed from the command line.
"""

from .disks import (
    DisksConfig,
    DisksResult,
    check_disk_geometry,
    delta_table,
    disk_mask,
    phi,
    run_disks,
    sample_disks,
    single_disk_delta,
    smoothed_disk_radius,
    smoothing_risk,
)
from .grid import (
    PAPER_MNIST_ALPHA_STAR,
    FinetuneConfig,
    GridConfig,
    GridResult,
    collect,
    evaluate_cell,
    finetune_model,
    grid_config,
    grid_preset,
    train_clean,
)
from .job import (
    compare_alpha_star,
    disks_report,
    grid_report,
    load_grid,
    run_disks_experiment,
    run_grid,
    write_grid_report,
)
from .levels import check_levels, parse_levels
from .risk import base_predictions, majority_vote, risk, smoothed_predictions

_PLOTS = ("plot_alpha_star", "plot_disk_gains", "plot_heatmap")


def __getattr__(name: str) -> object:
    if name in _PLOTS:
        from . import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PAPER_MNIST_ALPHA_STAR",
    "DisksConfig",
    "DisksResult",
    "FinetuneConfig",
    "GridConfig",
    "GridResult",
    "base_predictions",
    "check_disk_geometry",
    "check_levels",
    "collect",
    "compare_alpha_star",
    "delta_table",
    "disk_mask",
    "disks_report",
    "evaluate_cell",
    "finetune_model",
    "grid_config",
    "grid_preset",
    "grid_report",
    "load_grid",
    "majority_vote",
    "parse_levels",
    "phi",
    "plot_alpha_star",
    "plot_disk_gains",
    "plot_heatmap",
    "risk",
    "run_disks",
    "run_disks_experiment",
    "run_grid",
    "sample_disks",
    "single_disk_delta",
    "smoothed_disk_radius",
    "smoothed_predictions",
    "smoothing_risk",
    "train_clean",
    "write_grid_report",
]
