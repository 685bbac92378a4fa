"""Uncertainty-aware randomized smoothing (methods.md §4), the engine-level parts: base-classifier outcomes the
engine evaluates inside its passes.

- :mod:`.measures`: uncertainty measures on a model's outputs; ensembles and MC dropout as several members.
- :mod:`.outcome`: the ⊥-outcome base classifier as an outcome map, and τ calibration.
- :mod:`.scores`: smoothed uncertainty scores (mean u, ⊥ fraction) from the engine's noisy passes.

Certificates: :mod:`smoothcert.certificates.uncertainty`. Certifying, τ sweeps, OOD detection and the
experiment: the study :mod:`smoothcert.studies.uncertainty`.
"""

from .measures import (
    MEASURES,
    Ensemble,
    MCDropout,
    clean_uncertainty,
    entropy,
    max_uncertainty,
    member_probabilities,
    mutual_information,
    num_members,
    one_minus_max_probability,
    predictive_entropy,
    softmax_entropy,
    top2_margin_uncertainty,
)
from .outcome import CALIBRATION, UncertaintyOutcome, calibrate_tau, rejection_rate, threshold_for_rate
from .scores import SCORES, NoisyUncertainty, noisy_uncertainty

__all__ = [
    "CALIBRATION",
    "MEASURES",
    "SCORES",
    "Ensemble",
    "MCDropout",
    "NoisyUncertainty",
    "UncertaintyOutcome",
    "calibrate_tau",
    "clean_uncertainty",
    "entropy",
    "max_uncertainty",
    "member_probabilities",
    "mutual_information",
    "noisy_uncertainty",
    "num_members",
    "one_minus_max_probability",
    "predictive_entropy",
    "rejection_rate",
    "softmax_entropy",
    "threshold_for_rate",
    "top2_margin_uncertainty",
]
