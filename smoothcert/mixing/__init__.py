"""Adaptive smoothing (Bai, Anderson, Kim & Sojoudi 2024): mixing a standard and a robust classifier.

- :mod:`smoothcert.models.mixed`: the mixed classifier log((1 − α)·softmax(s_g z_g) + α·softmax(s_h z_h)), α fixed
  or α(x); :mod:`smoothcert.models.mixing_net`: the mixing network α(x) reading both base models' features
  (re-exported here).
- :mod:`.adversarial`: PGD adversarial training of the robust base model (the training loop with
  :class:`~smoothcert.training.objectives.AdversarialObjective`).
- :mod:`.train_mixing`: training of the mixing network on attacked copies of the composite model (the training
  loop with :class:`~smoothcert.training.objectives.MixingObjective`).
- :mod:`.evaluate`: clean and robust accuracy of base models, fixed-α sweep and adaptive mixture.
- :mod:`.certify`: certificates of the mixture when the robust model is a smoothed classifier.
"""

from ..models import (
    MixedClassifier,
    MixingNetwork,
    MixOutput,
    composite_attack_loss,
    default_feature_layers,
    load_mixing,
    mix_log_probs,
    save_mixing,
)
from .adversarial import AdversarialConfig, adversarial_train, train_robust_model
from .certify import (
    MixtureCounts,
    MixtureVotes,
    certify_mixture_dataset,
    lipschitz_radius,
    mixture_certified_accuracy,
    mixture_clean_accuracy,
    mixture_mu,
    mixture_radius,
    plugin_estimates,
    read_mixture_votes,
    rs_radius,
    sample_mixture_counts,
    simultaneous_bounds,
)
from .evaluate import ModelEntry, evaluate_robustness, read_eval_rows
from .train_mixing import MixingConfig, build_mixed, train_mixing

__all__ = [
    "AdversarialConfig",
    "MixOutput",
    "MixedClassifier",
    "MixingConfig",
    "MixingNetwork",
    "MixtureCounts",
    "MixtureVotes",
    "ModelEntry",
    "adversarial_train",
    "build_mixed",
    "certify_mixture_dataset",
    "composite_attack_loss",
    "default_feature_layers",
    "evaluate_robustness",
    "lipschitz_radius",
    "load_mixing",
    "mix_log_probs",
    "mixture_certified_accuracy",
    "mixture_clean_accuracy",
    "mixture_mu",
    "mixture_radius",
    "plugin_estimates",
    "read_eval_rows",
    "read_mixture_votes",
    "rs_radius",
    "sample_mixture_counts",
    "save_mixing",
    "simultaneous_bounds",
    "train_mixing",
    "train_robust_model",
]
