"""Uncertainty-aware randomized smoothing (methods.md §4): measures, the ⊥-outcome base classifier, τ
calibration, smoothed uncertainty scores and OOD detection. Certificates: :mod:`smoothcert.certificates.uncertainty`.
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
