"""The hidden cost of smoothing (Mohapatra et al. 2021) and accuracy loss (Gao et al. 2020): class-wise
disparity, shrinking decision regions, accuracy loss; methods.md §1 and §2, ``docs/audit.md``.

Methods:

- :mod:`.disparity`: audit rows of each input (PREDICT, CERTIFY, vote, base; :class:`AuditTask` on any backend)
  and per-class metrics;
- :mod:`.accuracy_loss`: natural accuracy of every model smoothed at every σ (cached cells);
- :mod:`.shrinkage`: analytic ball, half-space and cone results;
- :mod:`.regions`: empirical 2-D decision regions through the sampling engine;
- :mod:`.hypotheses`: feasible hypotheses under smoothing.

The job:

- :mod:`.config`: :class:`AuditConfig`, the settings, checked;
- :mod:`.base_models`: the audited models (trained and reused, or given), one engine each;
- :mod:`.stages`: the stages on those models (disparity, accuracy loss);
- :mod:`.synthetic`: the synthetic stages (shrinkage, regions, hypotheses) and :func:`run_part` for one alone;
- :mod:`.job`: :func:`run_audit`, every stage into one resumable folder with a manifest and ``summary.md``;
- :mod:`.folder`: the folder's tables, figures and JSON;
- :mod:`.plots`: the figures (PNG and SVG).
"""

from smoothcert.studies.audit.accuracy_loss import AccuracyMatrix, accuracy_cell, accuracy_matrix
from smoothcert.studies.audit.config import AuditConfig
from smoothcert.studies.audit.disparity import (
    AUDIT_COLUMNS,
    AuditTask,
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
from smoothcert.studies.audit.hypotheses import (
    BoxClass,
    FeasibleCounts,
    IntervalClass,
    feasible_counts,
    interval_probability,
)
from smoothcert.studies.audit.job import run_audit
from smoothcert.studies.audit.regions import (
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
from smoothcert.studies.audit.shrinkage import (
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
from smoothcert.studies.audit.synthetic import run_hypotheses, run_part, run_regions, run_shrinkage

__all__ = [
    "AUDIT_COLUMNS",
    "AccuracyMatrix",
    "AuditConfig",
    "AuditTask",
    "BallIndicator",
    "BoxClass",
    "ClassMetrics",
    "ConeShrink",
    "Disparity",
    "FeasibleCounts",
    "Grid",
    "IntervalClass",
    "RegionSweep",
    "accuracy_cell",
    "accuracy_matrix",
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
    "run_audit",
    "run_hypotheses",
    "run_part",
    "run_regions",
    "run_shrinkage",
    "shrink_curve",
    "smoothed_ball_radius",
    "smoothed_region",
    "vanishing_sigma",
    "vanishing_sigma_empirical",
    "wedge_probability",
]
