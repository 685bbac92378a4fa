"""Runs: results files, manifests with their history, cached cells, and the loop that fills them.

- :mod:`.files`: TSV results files, a row per input, flushed, resumable (:class:`ResultWriter`).
- :mod:`.manifest`: the JSON manifest beside each file or study folder, with the history of resumed sessions;
  it never replaces a JSON file that is not a run manifest.
- :mod:`.fingerprint`: SHA-256 of the model's weights, the data and the arguments, which key a resume.
- :mod:`.lock`: the exclusive lock on a results file (:class:`ResultsLock`), naming its holder to a second process.
- :mod:`.cells`: atomic JSON cells of a study, reused only for the same arguments (:class:`CellCache`).
- :mod:`.options`: :class:`RunOptions` (resume, overwrite, timing, progress), shared by every run.
- :mod:`.run`: :class:`Run`, the one loop behind every results file.
"""

from .cells import CellCache
from .files import CERTIFY_COLUMNS, PREDICT_COLUMNS, SEQUENTIAL_COLUMNS, ResultWriter, format_value
from .fingerprint import data_fingerprint, model_fingerprint
from .lock import ResultsLock
from .manifest import (
    MANIFEST_FORMAT,
    check_manifest_target,
    check_resumable,
    earlier_runs,
    environment,
    manifest_path,
    read_manifest,
    write_manifest,
)
from .options import RunOptions
from .run import Run, check_labels

__all__ = [
    "CERTIFY_COLUMNS",
    "MANIFEST_FORMAT",
    "PREDICT_COLUMNS",
    "SEQUENTIAL_COLUMNS",
    "CellCache",
    "ResultWriter",
    "ResultsLock",
    "Run",
    "RunOptions",
    "check_labels",
    "check_manifest_target",
    "check_resumable",
    "data_fingerprint",
    "earlier_runs",
    "environment",
    "format_value",
    "manifest_path",
    "model_fingerprint",
    "read_manifest",
    "write_manifest",
]
