"""Result files of certification runs → metrics and tables (as data: :mod:`smoothcert.report` renders them).

- :mod:`.results`: reading results TSVs (:class:`CertifyResults`; repeated rows of one input read once, differing
  ones refused).
- :mod:`.metrics`: certified accuracy, ACR, abstain rate, the high-probability correction, per-class values.
- :mod:`.tables`: those as tables; Cohen et al.'s "vary σ" table and its reproduction.
- :mod:`.provenance`: what a file's rows stand for (its manifest's status and selection, what each radius column
  certifies).
- :mod:`.files`: ``smoothcert analyze``'s report on files, tables and notes as document blocks.
- :mod:`.uncertainty`: scores of uncertainty-aware results files, each radius with its own guess.
"""

from smoothcert.analysis.metrics import (
    P_A_LEVELS,
    abstain_rate,
    average_certified_radius,
    certified_accuracy,
    class_counts,
    clean_accuracy,
    high_probability_certified_accuracy,
    high_probability_correction,
    p_a_distribution,
    per_class_certified_accuracy,
    radius_of,
    summary,
    validate_radii,
)
from smoothcert.analysis.provenance import Provenance, provenance, radius_guarantee
from smoothcert.analysis.results import ABSTAIN, REQUIRED_COLUMNS, CertifyResults, parse_time, read_results
from smoothcert.analysis.tables import (
    certified_accuracy_data,
    matched_noise_files,
    p_a_distribution_data,
    parse_published_table,
    published_table_radii,
    reproduce_cohen_table,
    vary_noise_data,
    vary_noise_table,
)

__all__ = [
    "ABSTAIN",
    "P_A_LEVELS",
    "REQUIRED_COLUMNS",
    "CertifyResults",
    "Provenance",
    "abstain_rate",
    "average_certified_radius",
    "certified_accuracy",
    "certified_accuracy_data",
    "class_counts",
    "clean_accuracy",
    "high_probability_certified_accuracy",
    "high_probability_correction",
    "matched_noise_files",
    "p_a_distribution",
    "p_a_distribution_data",
    "parse_published_table",
    "parse_time",
    "per_class_certified_accuracy",
    "provenance",
    "published_table_radii",
    "radius_guarantee",
    "radius_of",
    "read_results",
    "reproduce_cohen_table",
    "summary",
    "validate_radii",
    "vary_noise_data",
    "vary_noise_table",
]
