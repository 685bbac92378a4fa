"""Class partitioning (CPM; Delattre et al., "Bridging the gap: rethinking randomized smoothing certification
via class partitioning", AISTATS 2025): the top-2 certificate with fewer, merged statements about the other
classes.

From the selection counts alone (so the partition is independent of the estimation samples), the classes other
than ĉ_A are split into groups: the runner-up on its own, then the next most frequent classes one by one while
the rest together outnumber the runner-up in the selection counts, then the rest as one group. A group's
probability bounds each of its classes', so p̄_B = max over groups of their Clopper–Pearson upper bounds bounds
the runner-up; with m groups, 1 + m statements at level α/(1 + m) each (Bonferroni). Few groups mean a smaller
correction than bounding each of the C − 1 classes. Formulas: docs/bounds.md.
"""

from __future__ import annotations

import numpy as np

from ..noise import Noise
from .cohen import select_class
from .top2 import Top2Counts, checked_counts, grouped_certificate


def partition_classes(selection_row: np.ndarray, top: int, num_classes: int) -> list[np.ndarray]:
    """The groups of classes other than ``top`` for one row of selection counts (ties: the lower class first)."""
    counts = np.asarray(selection_row[:num_classes], dtype=np.int64)
    others = [int(c) for c in np.argsort(-counts, kind="stable") if c != top]
    if not others:
        return []
    groups = [np.array([others[0]])]
    runner_up, rest = counts[others[0]], others[1:]
    while rest and counts[rest].sum() > runner_up:
        groups.append(np.array([rest.pop(0)]))
    if rest:
        groups.append(np.array(rest))
    return groups


def cpm_certificate(selection: np.ndarray, estimation: np.ndarray, alpha: float, noise: Noise,
                    num_classes: int) -> Top2Counts:
    """The top-2 certificate with class partitioning: valid with probability ≥ 1 − α like
    :func:`~smoothcert.certificates.top2.top2_bonferroni`, with one statement per group instead of per class."""
    selection, estimation = checked_counts(selection, estimation, num_classes)
    guess = select_class(selection, num_classes)
    groups = [partition_classes(selection[i], int(a), num_classes) for i, a in enumerate(guess)]
    return grouped_certificate(selection, estimation, groups, alpha, noise, num_classes)
