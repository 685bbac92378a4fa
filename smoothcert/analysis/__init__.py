"""Result files of certification runs → metrics and tables (as data: :mod:`smoothcert.report` renders them)."""

from smoothcert.analysis.metrics import (
    abstain_rate,
    average_certified_radius,
    certified_accuracy,
    class_counts,
    clean_accuracy,
    high_probability_certified_accuracy,
    per_class_certified_accuracy,
    radius_of,
    summary,
    validate_radii,
)
from smoothcert.analysis.results import ABSTAIN, REQUIRED_COLUMNS, CertifyResults, parse_time, read_results
from smoothcert.analysis.tables import (
    certified_accuracy_data,
    matched_noise_files,
    parse_published_table,
    published_table_radii,
    reproduce_cohen_table,
    vary_noise_data,
    vary_noise_table,
)

__all__ = [
    "ABSTAIN",
    "REQUIRED_COLUMNS",
    "CertifyResults",
    "abstain_rate",
    "average_certified_radius",
    "certified_accuracy",
    "certified_accuracy_data",
    "class_counts",
    "clean_accuracy",
    "high_probability_certified_accuracy",
    "matched_noise_files",
    "parse_published_table",
    "parse_time",
    "per_class_certified_accuracy",
    "published_table_radii",
    "radius_of",
    "read_results",
    "reproduce_cohen_table",
    "summary",
    "validate_radii",
    "vary_noise_data",
    "vary_noise_table",
]
