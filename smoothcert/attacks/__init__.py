"""Adversarial attacks on base, mixed and smoothed classifiers: PGD, APGD(-T), SmoothAdv, Square Attack and
AutoAttack's ensemble.

All attacks take a model mapping inputs in [0, 1] to logits (log-probabilities work too), inputs x [N, ...]
and labels y [N], a radius ε (float or per input) and a norm ("linf" or "l2"); they return adversarial inputs
within the ε-ball and [0, 1]. Gradients reach the input through everything the model computes, including a
mixing network's α(x), and never accumulate into the model's parameters.
"""

from .apgd import apgd, checkpoints
from .autoattack import AutoAttackConfig, autoattack
from .losses import (
    AttackLoss,
    ce_loss,
    dlr_from_logits,
    dlr_loss,
    loss_and_grad,
    margin,
    resolve_loss,
    targeted_dlr_from_logits,
    targeted_dlr_loss,
)
from .norms import NORMS, ascent_direction, check_norm, flat_norm, per_sample_eps, project, project_ball, random_start
from .pgd import pgd
from .smoothed import SoftSmoothed, smoothadv
from .square import square_attack, square_fraction
from .suite import METHODS, AttackConfig, AttackFn, predictions, worst_case_correct

__all__ = [
    "METHODS",
    "NORMS",
    "AttackConfig",
    "AttackFn",
    "AttackLoss",
    "AutoAttackConfig",
    "SoftSmoothed",
    "apgd",
    "ascent_direction",
    "autoattack",
    "ce_loss",
    "check_norm",
    "checkpoints",
    "dlr_from_logits",
    "dlr_loss",
    "flat_norm",
    "loss_and_grad",
    "margin",
    "per_sample_eps",
    "pgd",
    "predictions",
    "project",
    "project_ball",
    "random_start",
    "resolve_loss",
    "smoothadv",
    "square_attack",
    "square_fraction",
    "targeted_dlr_from_logits",
    "targeted_dlr_loss",
    "worst_case_correct",
]
