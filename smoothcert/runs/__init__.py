"""Runs: results files, manifests with their history, cached cells, and the loop that fills them.

- :mod:`.files`: TSV results files, a row per input, flushed, resumable (:class:`ResultWriter`).
- :mod:`.manifest`: the JSON manifest beside each file or study folder, with the history of resumed sessions.
- :mod:`.cells`: atomic JSON cells of a study, reused only for the same arguments (:class:`CellCache`).
- :mod:`.options`: :class:`RunOptions` (resume, overwrite, timing, progress), shared by every run.
- :mod:`.run`: :class:`Run`, the one loop behind every results file.
"""

from .cells import CellCache
from .files import CERTIFY_COLUMNS, PREDICT_COLUMNS, SEQUENTIAL_COLUMNS, ResultWriter, format_value
from .manifest import check_resumable, earlier_runs, environment, manifest_path, write_manifest
from .options import RunOptions
from .run import Run, check_labels

__all__ = [
    "CERTIFY_COLUMNS",
    "PREDICT_COLUMNS",
    "SEQUENTIAL_COLUMNS",
    "CellCache",
    "ResultWriter",
    "Run",
    "RunOptions",
    "check_labels",
    "check_resumable",
    "earlier_runs",
    "environment",
    "format_value",
    "manifest_path",
    "write_manifest",
]
