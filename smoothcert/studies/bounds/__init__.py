"""Bounds on the same samples: re-certification of saved count vectors with other confidence bounds, and the
comparison of bounds and noises.

- :mod:`.recertify`: :func:`recertify`, apply Clopper–Pearson (reproducing the run), the top-2 bound with
  Bonferroni, class partitioning (CPM) or randomized Clopper–Pearson to a certify run's saved counts.
"""

from .recertify import BOUNDS, recertify, recertify_report

__all__ = ["BOUNDS", "recertify", "recertify_report"]
