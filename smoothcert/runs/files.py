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
from .lock import ResultsLock

#: Cohen et al.'s columns first, then smoothcert's.
CERTIFY_COLUMNS = ("idx", "label", "predict", "radius", "correct", "time", "pA_lower", "n0", "n", "count_top",
                   "norm")  # norm: the norm the radius is stated in (l2, l1, linf)
SEQUENTIAL_COLUMNS = ("pA_upper", "stop")  # added by sequential CERTIFY; n then counts the samples used
PREDICT_COLUMNS = ("idx", "label", "predict", "correct", "time", "count_top", "count_runner_up", "n", "pvalue")


def format_value(value: object) -> str:
    """TSV cell text: floats with enough digits to be reproducible, everything else via str()."""
    if isinstance(value, float):
        # 8 significant digits keep p-bounds like 1 − 10⁻⁷ apart from 1.
        return f"{value:.8g}"
    return str(value)


def check_results_path(path: Path) -> None:
    """A results file's name must leave room for its manifest and must not be a checkpoint or a folder."""
    if path.suffix == ".json":
        raise ResultsError(f"results file {path} must not end in .json: that name is kept for its manifest")
    if path.suffix == ".safetensors":
        raise ResultsError(f"results file {path} must not end in .safetensors: that name is kept for weights")
    if path.is_dir():
        raise ResultsError(f"results file {path} is a directory")


def refuse_existing(path: Path) -> None:
    """A results file with content is replaced only with --overwrite and continued only with --resume."""
    if path.is_file() and path.stat().st_size > 0:
        raise ResultsError(f"{path} already exists; pass --resume to continue it or --overwrite")


def check_header(path: Path, columns: Sequence[str], first_line: str | None = None) -> None:
    """Refuse to resume ``path`` when its header (``first_line``, read from the file when None) is not
    ``columns``; a missing or empty file passes. Reads only."""
    if first_line is None:
        try:
            with path.open(encoding="utf-8", newline="") as f:
                first_line = f.readline().rstrip("\n")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as err:
            raise ResultsError(f"cannot resume {path}: {getattr(err, 'strerror', None) or err}") from err
        if not first_line:
            return
    if first_line.split("\t") != list(columns):
        raise ResultsError(f"cannot resume {path}: its columns {first_line!r} differ from {tuple(columns)}")


class ResultWriter:
    """Appends rows to a TSV file, one flushed line per row.

    Args:
        path: the TSV file.
        columns: column names, written as the header.
        resume: keep the rows already in ``path`` (they must have the same header); otherwise ``path`` must
            not exist or be empty, unless ``overwrite``.
        overwrite: replace an existing file.
        lock: hold an exclusive lock on ``path`` (:class:`~smoothcert.runs.lock.ResultsLock`) until
            :meth:`close`, so a second process writing the same file fails at once, naming this one. False
            when the caller holds the lock itself (:class:`~smoothcert.runs.Run` keeps it until its manifest
            is final).
    Attributes:
        done: the ``idx`` values already written (on resume), to be skipped by the caller.
    """

    def __init__(self, path: str | Path, columns: Sequence[str], *, resume: bool = False,
                 overwrite: bool = False, lock: bool = True) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.done: set[int] = set()
        check_results_path(self.path)
        self._lock = ResultsLock(self.path).acquire() if lock else None
        try:
            self._open(resume, overwrite)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    def _open(self, resume: bool, overwrite: bool) -> None:
        exists = self.path.is_file() and self.path.stat().st_size > 0
        try:
            if exists and resume:
                self._recover()
                self._file: IO[str] = self.path.open("a", encoding="utf-8")
            elif exists and not overwrite:
                refuse_existing(self.path)
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
        check_header(self.path, self.columns, lines[0])
        if len(lines) == 1:  # a header whose newline never reached the disk
            with self.path.open("a", encoding="utf-8") as f:
                f.write("\n")
            return
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
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
