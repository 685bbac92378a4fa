"""The cost of smoothing: class-wise disparity, shrinking decision regions and accuracy loss.

Methods: methods.md §1 (Mohapatra et al., hidden cost of randomized smoothing) and §2 (Gao et al., accuracy
loss). Modules: :mod:`.disparity` (per-class metrics), :mod:`.shrinkage` (analytic ball, half-space and
cone results), :mod:`.regions` (empirical 2-D decision regions) and :mod:`.hypotheses` (feasible
hypotheses). The resumable audit job, with its tables and figures, is :mod:`smoothcert.experiments.audit`.
"""

from smoothcert.analysis.audit.disparity import (
    AUDIT_COLUMNS,
    ClassMetrics,
    Disparity,
    audit_counts,
    audit_dataset,
    audit_inputs,
    class_metrics,
    disparity,
    largest_losses,
    per_class_mean,
)
from smoothcert.analysis.audit.hypotheses import (
    BoxClass,
    FeasibleCounts,
    IntervalClass,
    feasible_counts,
    interval_probability,
)
from smoothcert.analysis.audit.regions import (
    BallIndicator,
    Grid,
    RegionSweep,
    base_region,
    class_areas,
    make_grid,
    region_sweep,
    smoothed_region,
    vanishing_sigma_empirical,
)
from smoothcert.analysis.audit.shrinkage import (
    ConeShrink,
    ball_probability,
    cone_apex_shift,
    cone_boundary,
    cone_probability,
    cone_shrink,
    halfspace_probability,
    shrink_curve,
    smoothed_ball_radius,
    vanishing_sigma,
    wedge_probability,
)

__all__ = [
    "AUDIT_COLUMNS",
    "BallIndicator",
    "BoxClass",
    "ClassMetrics",
    "ConeShrink",
    "Disparity",
    "FeasibleCounts",
    "Grid",
    "IntervalClass",
    "RegionSweep",
    "audit_counts",
    "audit_dataset",
    "audit_inputs",
    "ball_probability",
    "base_region",
    "class_areas",
    "class_metrics",
    "cone_apex_shift",
    "cone_boundary",
    "cone_probability",
    "cone_shrink",
    "disparity",
    "feasible_counts",
    "halfspace_probability",
    "interval_probability",
    "largest_losses",
    "make_grid",
    "per_class_mean",
    "region_sweep",
    "shrink_curve",
    "smoothed_ball_radius",
    "smoothed_region",
    "vanishing_sigma",
    "vanishing_sigma_empirical",
    "wedge_probability",
]
