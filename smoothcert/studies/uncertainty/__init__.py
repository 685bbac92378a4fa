"""Uncertainty-aware certification (Däubener et al. 2024; docs/uncertainty.md), end to end.

The base-classifier outcomes it certifies (measures, the ⊥ outcome map, τ calibration, smoothed scores) sit in
the engine layer, :mod:`smoothcert.uncertainty`; the certificate rules in :mod:`smoothcert.certificates.uncertainty`.

- :mod:`.certify`: uncertainty-aware CERTIFY of a batch, every τ from one select-then-estimate pass; τ checks.
- :mod:`.pipeline`: a test set into resumable results files, one per τ (:data:`UNCERTAINTY_COLUMNS`), computed by
  :class:`UncertaintyTask` on any backend (:mod:`smoothcert.backends`).
- :mod:`.ood`: OOD sets made offline, smoothed uncertainty scores into a results file, AUROC.
- :mod:`.job`: the jobs behind ``smoothcert uncertainty certify | sweep | ood | plot | experiment``, each
  writing its files and returning a :class:`~smoothcert.document.Document`.
- :mod:`.plots`: certified accuracy of the three radii, the τ sweep, OOD ROC curves.
"""

from .certify import certify_uncertainty, check_tau, outcome_map_of
from .job import (
    RADII,
    SETUPS,
    Calibration,
    MembersSource,
    Setup,
    calibrate_taus,
    certify_job,
    choose_taus,
    comparison_paragraph,
    experiment_job,
    experiment_report,
    for_members,
    heldout_indices,
    ood_job,
    plot_job,
    refresh_report,
    score_ood,
    sweep_job,
    sweep_summary,
    with_members,
)
from .ood import (
    OOD_SETS,
    SCORE_KINDS,
    auroc,
    auroc_rows,
    auroc_table,
    make_ood_sets,
    photo_patches,
    read_scores,
    render_letters,
    score_columns,
    score_sets,
    uniform_noise_images,
)
from .pipeline import (
    UNCERTAINTY_COLUMNS,
    UncertaintyTask,
    certify_uncertainty_dataset,
    sweep_paths,
    sweep_uncertainty_dataset,
    tau_name,
)
from .plots import plot_ood_roc, plot_tau_sweep, plot_uncertainty_radii

__all__ = [
    "OOD_SETS",
    "RADII",
    "SCORE_KINDS",
    "SETUPS",
    "UNCERTAINTY_COLUMNS",
    "Calibration",
    "MembersSource",
    "Setup",
    "UncertaintyTask",
    "auroc",
    "auroc_rows",
    "auroc_table",
    "calibrate_taus",
    "certify_job",
    "certify_uncertainty",
    "certify_uncertainty_dataset",
    "check_tau",
    "choose_taus",
    "comparison_paragraph",
    "experiment_job",
    "experiment_report",
    "for_members",
    "heldout_indices",
    "make_ood_sets",
    "ood_job",
    "outcome_map_of",
    "photo_patches",
    "plot_job",
    "plot_ood_roc",
    "plot_tau_sweep",
    "plot_uncertainty_radii",
    "read_scores",
    "refresh_report",
    "render_letters",
    "score_columns",
    "score_ood",
    "score_sets",
    "sweep_job",
    "sweep_paths",
    "sweep_summary",
    "sweep_uncertainty_dataset",
    "tau_name",
    "uniform_noise_images",
    "with_members",
]
