"""Adaptive smoothing (Bai, Anderson, Kim & Sojoudi 2024): mixing a standard and a robust classifier.

The mixed classifier log((1 − α)·softmax(s_g z_g) + α·softmax(s_h z_h)) with α fixed or α(x), and its
mixing network, are models (:mod:`smoothcert.models.mixed`, :mod:`smoothcert.models.mixing_net`, saved by
:mod:`smoothcert.models.mixing_checkpoint`); the radii of the mixture from vote counts are certificate rules
(:mod:`smoothcert.certificates.mixture`). This package is the study built on them:

- :mod:`.train`: PGD adversarial training of the robust base model and training of the mixing network on
  attacked copies of the composite model (the one training loop with the adversarial and the mixing objective
  of :mod:`smoothcert.training.objectives`).
- :mod:`.evaluate`: clean and worst-case robust accuracy of base models, the fixed-α sweep and adaptive mixtures.
- :mod:`.certify`: votes of the smoothed robust model (:class:`MixtureTask` on any backend), and the mixture's
  certified and clean accuracy from them.
- :mod:`.select`: the rule that chooses the fixed α and the adaptive settings on the validation split.
- :mod:`.plots`: the clean/robust trade-off and certified accuracy against α.
- :mod:`.job`: the ``smoothcert mix train | eval | select | certify | plot`` jobs on a run folder, each returning its
  document.
"""

from .certify import (
    MixtureCounts,
    MixtureTask,
    MixtureVotes,
    certify_mixture_dataset,
    mixture_certified,
    mixture_certified_accuracy,
    mixture_clean_accuracy,
    read_mixture_votes,
    sample_mixture_counts,
)
from .evaluate import ModelEntry, evaluate_robustness, read_eval_rows
from .job import (
    CertifyPlan,
    EvalPlan,
    TrainPlan,
    adaptive_name,
    all_eval_rows,
    apply_selection,
    certify_run,
    eval_run,
    plot_run,
    read_selection,
    run_dataset,
    select_run,
    train_run,
)
from .plots import plot_certified_vs_alpha, plot_tradeoff
from .train import (
    AdversarialConfig,
    MixingConfig,
    adversarial_train,
    build_mixed,
    mixing_validation,
    train_mixing,
    train_robust_model,
)

__all__ = [
    "AdversarialConfig",
    "CertifyPlan",
    "EvalPlan",
    "MixingConfig",
    "MixtureCounts",
    "MixtureTask",
    "MixtureVotes",
    "ModelEntry",
    "TrainPlan",
    "adaptive_name",
    "adversarial_train",
    "all_eval_rows",
    "apply_selection",
    "build_mixed",
    "certify_mixture_dataset",
    "certify_run",
    "eval_run",
    "evaluate_robustness",
    "mixing_validation",
    "mixture_certified",
    "mixture_certified_accuracy",
    "mixture_clean_accuracy",
    "plot_certified_vs_alpha",
    "plot_run",
    "plot_tradeoff",
    "read_eval_rows",
    "read_mixture_votes",
    "read_selection",
    "run_dataset",
    "sample_mixture_counts",
    "select_run",
    "train_mixing",
    "train_robust_model",
    "train_run",
]
