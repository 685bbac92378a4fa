"""Result files: a TSV row per input, flushed as written, resumable from the file itself.

Resuming re-reads the TSV, keeps every complete row and drops a torn last line, so an interrupted run resumed
with the same arguments (checked against its manifest, :mod:`smoothcert.runs.manifest`) ends with the same
rows as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from ..errors import ResultsError

#: Cohen et al.'s columns first, then smoothcert's.
CERTIFY_COLUMNS = ("idx", "label", "predict", "radius", "correct", "time", "pA_lower", "n0", "n", "count_top")
SEQUENTIAL_COLUMNS = ("pA_upper", "stop")  # added by sequential CERTIFY; n then counts the samples used
PREDICT_COLUMNS = ("idx", "label", "predict", "correct", "time", "count_top", "count_runner_up", "n", "pvalue")


def format_value(value: object) -> str:
    """TSV cell text: floats with enough digits to be reproducible, everything else via str()."""
    if isinstance(value, float):
        # 8 significant digits keep p-bounds like 1 − 10⁻⁷ apart from 1.
        return f"{value:.8g}"
    return str(value)


class ResultWriter:
    """Appends rows to a TSV file, one flushed line per row.

    Args:
        path: the TSV file.
        columns: column names, written as the header.
        resume: keep the rows already in ``path`` (they must have the same header); otherwise ``path`` must
            not exist or be empty, unless ``overwrite``.
        overwrite: replace an existing file.
    Attributes:
        done: the ``idx`` values already written (on resume), to be skipped by the caller.
    """

    def __init__(self, path: str | Path, columns: Sequence[str], *, resume: bool = False,
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.done: set[int] = set()
        if self.path.suffix == ".json":
            raise ResultsError(f"results file {self.path} must not end in .json: that name is kept for its manifest")
        if self.path.is_dir():
            raise ResultsError(f"results file {self.path} is a directory")
        exists = self.path.is_file() and self.path.stat().st_size > 0
        try:
            if exists and resume:
                self._recover()
                self._file: IO[str] = self.path.open("a", encoding="utf-8")
            elif exists and not overwrite:
                raise ResultsError(f"{self.path} already exists; pass --resume to continue it or --overwrite")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("w", encoding="utf-8")
                self._file.write("\t".join(self.columns) + "\n")
                self._file.flush()
        except OSError as err:
            raise ResultsError(f"cannot write results file {self.path}: {err.strerror or err}") from err

    def _recover(self) -> None:
        text = self.path.read_text(encoding="utf-8")
        lines = text.split("\n")
        if len(lines) == 1:  # a header whose newline never reached the disk
            if lines[0].split("\t") != list(self.columns):
                raise ResultsError(f"cannot resume {self.path}: its columns {lines[0]!r} differ from {self.columns}")
            with self.path.open("a", encoding="utf-8") as f:
                f.write("\n")
            return
        if lines[0].split("\t") != list(self.columns):
            raise ResultsError(f"cannot resume {self.path}: its columns {lines[0]!r} differ from {self.columns}")
        complete = lines[1:-1]  # the part after the last newline is a torn row (or empty)
        for number, line in enumerate(complete, start=2):
            cells = line.split("\t")
            if len(cells) != len(self.columns) or not cells[0].isdigit():
                raise ResultsError(f"cannot resume {self.path}: line {number} is malformed")
            self.done.add(int(cells[0]))
        if lines[-1]:
            # Drop the torn last row so the file ends with complete rows only.
            with self.path.open("r+", encoding="utf-8") as f:
                f.truncate(len(text.encode("utf-8")) - len(lines[-1].encode("utf-8")))

    def write(self, row: Mapping[str, object]) -> None:
        """Write one row (a value for every column) and flush it to disk."""
        self._file.write("\t".join(format_value(row[c]) for c in self.columns) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
