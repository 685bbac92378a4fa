"""Certification result files: one TSV row per input, read into numpy arrays.

The format is the one of Cohen et al.'s reference code: a header line, then tab-separated rows with the
columns ``idx label predict radius correct time`` (``predict == -1`` means the smoothed classifier abstained).
Any other column (``pA_lower``, ``n0``, ``n``, ``count_top``, ``radius_i``, ...) is kept in
:attr:`CertifyResults.extra`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smoothcert.errors import InvalidArgumentError, ResultsError

ABSTAIN = -1
"""Value of ``predict`` when the smoothed classifier abstains."""

REQUIRED_COLUMNS = ("idx", "label", "predict", "radius", "correct", "time")

# str(datetime.timedelta): "H:MM:SS[.ffffff]", with "D day(s), " in front past 24 hours.
_TIMEDELTA = re.compile(r"^(?:(-?\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")
_TRUE = {"1", "true", "True", "TRUE"}
_FALSE = {"0", "false", "False", "FALSE"}


@dataclass(frozen=True, eq=False)
class CertifyResults:
    """The rows of one certification run, column by column (N rows; every array has shape [N]).

    Attributes:
        idx: int64, index of the input in its dataset split.
        label: int64, true class.
        predict: int64, class returned by the smoothed classifier, ``-1`` (:data:`ABSTAIN`) for abstain.
        radius: float64, certified ℓ2 radius in input space (0 when abstained).
        correct: bool, ``predict == label`` (as written by the certifier).
        time: float64, seconds spent on the input.
        extra: every other column by name: int64 or float64 when all its values parse as such, else str.
        name: short label used in tables and plots (the file's stem by default).
        path: the file the rows were read from, ``None`` for results built in memory.
        duplicates: rows of the file left out because they repeated an earlier row of the same input,
            identical apart from ``time`` (see :func:`read_results`); 0 for results built in memory.

    Arrays are copied on construction and made read-only.
    """

    idx: np.ndarray
    label: np.ndarray
    predict: np.ndarray
    radius: np.ndarray
    correct: np.ndarray
    time: np.ndarray
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    name: str = ""
    path: Path | None = None
    duplicates: int = 0

    def __post_init__(self) -> None:
        dtypes = {"idx": np.int64, "label": np.int64, "predict": np.int64, "radius": np.float64,
                  "correct": np.bool_, "time": np.float64}
        n = None
        for col, dtype in dtypes.items():
            arr = _frozen(np.array(getattr(self, col), dtype=dtype), col)
            n = len(arr) if n is None else n
            if len(arr) != n:
                raise InvalidArgumentError(f"column {col!r} has {len(arr)} rows, 'idx' has {n}")
            object.__setattr__(self, col, arr)
        extra = {}
        for col, values in self.extra.items():
            if col in dtypes:
                raise InvalidArgumentError(f"extra column {col!r} duplicates a required column")
            arr = _frozen(np.array(values), col)
            if len(arr) != n:
                raise InvalidArgumentError(f"extra column {col!r} has {len(arr)} rows, 'idx' has {n}")
            extra[col] = arr
        object.__setattr__(self, "extra", extra)
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))

    def __len__(self) -> int:
        return len(self.idx)

    def __repr__(self) -> str:
        return f"CertifyResults({self.name!r}, rows={len(self)}, extra={list(self.extra)})"

    @property
    def columns(self) -> list[str]:
        """All column names: the required ones first, then the extra ones in file order."""
        return [*REQUIRED_COLUMNS, *self.extra]

    @property
    def abstained(self) -> np.ndarray:
        """bool [N]: the smoothed classifier abstained on the row."""
        return self.predict == ABSTAIN

    def column(self, name: str) -> np.ndarray:
        """The array of column ``name`` (required or extra), shape [N]."""
        if name in REQUIRED_COLUMNS:
            return getattr(self, name)
        if name in self.extra:
            return self.extra[name]
        raise InvalidArgumentError(
            f"results {self.name!r} have no column {name!r}; columns: {', '.join(self.columns)}")


def _frozen(arr: np.ndarray, col: str) -> np.ndarray:
    if arr.ndim != 1:
        raise InvalidArgumentError(f"column {col!r} must be one-dimensional, got shape {arr.shape}")
    arr.flags.writeable = False
    return arr


def parse_time(text: str) -> float:
    """Seconds from ``"15.4"`` or a ``str(datetime.timedelta)`` such as ``"0:00:13.736080"``.

    Raises:
        ValueError: the text is neither.
    """
    m = _TIMEDELTA.match(text)
    if m is None:
        return float(text)
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _parse_bool(text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean (0/1/True/False): {text!r}")


def _parse_float(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


_PARSERS = {"idx": int, "label": int, "predict": int, "radius": _parse_float, "correct": _parse_bool,
            "time": parse_time}


def _extra_array(values: list[str]) -> np.ndarray:
    """int64 if every value is an integer, float64 if every value is a number (empty cell = NaN), else str."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.array([float(v) if v != "" else np.nan for v in values], dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)


def read_results(path: str | Path, name: str | None = None) -> CertifyResults:
    """Read a certification TSV (Cohen's six columns, plus any others).

    Blank lines and lines starting with ``#`` are skipped. A file with a header and no rows gives empty
    arrays.

    Args:
        path: the TSV file.
        name: label for tables and plots; the file name without ``.tsv`` by default.

    Raises:
        ResultsError: the file is missing or unreadable, a required column is missing, a column name
            repeats, a row has the wrong number of fields, a value does not parse, or two rows of the same
            input (``idx``) differ; the message names the file, the line and the column.

    Rows of an input that repeat an earlier row of it exactly, apart from ``time`` (two sessions that both
    wrote the input), are read once: :attr:`CertifyResults.duplicates` counts the rows left out. Rows of one
    input that differ (results of two different runs mixed in one file) are refused: no row can be chosen.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: results file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read results file: {exc}") from None

    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.startswith("#")]
    if not lines:
        raise ResultsError(f"{path}: empty results file (no header line)")
    header_no, header_line = lines[0]
    header = [h.strip() for h in header_line.split("\t")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ResultsError(f"{path}, line {header_no}: missing column(s) {', '.join(missing)} "
                           f"(header: {' '.join(header)})")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ResultsError(f"{path}, line {header_no}: repeated column(s) {', '.join(repeated)}")

    cells: list[list[str]] = [[] for _ in header]
    for line_no, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ResultsError(f"{path}, line {line_no}: {len(fields)} fields, the header has {len(header)}")
        for j, value in enumerate(fields):
            cells[j].append(value.strip())

    lines, cells, duplicates = _drop_repeated_rows(path, header, lines, cells)
    required: dict[str, list] = {}
    extra: dict[str, np.ndarray] = {}
    for j, col in enumerate(header):
        parser = _PARSERS.get(col)
        if parser is None:
            extra[col] = _extra_array(cells[j])
            continue
        parsed = []
        for (line_no, _), value in zip(lines[1:], cells[j], strict=True):
            try:
                parsed.append(parser(value))
            except ValueError:
                raise ResultsError(
                    f"{path}, line {line_no}, column {col!r}: cannot parse {value!r}") from None
        required[col] = parsed
    stem = path.name.removesuffix(".tsv")
    return CertifyResults(**required, extra=extra, name=stem if name is None else name, path=path,
                          duplicates=duplicates)


def _drop_repeated_rows(path: Path, header: list[str], lines: list[tuple[int, str]], cells: list[list[str]]
                        ) -> tuple[list[tuple[int, str]], list[list[str]], int]:
    """(header line and rows, cells, rows dropped): each input's first row only, where its other rows repeat
    it apart from ``time``; a ResultsError naming the input, both lines and a column where they differ."""
    idx_col, compared = header.index("idx"), [j for j, col in enumerate(header) if col != "time"]
    first: dict[str, int] = {}
    keep: list[int] = []
    for k, value in enumerate(cells[idx_col]):
        if value not in first:
            first[value] = k
            keep.append(k)
            continue
        j0 = first[value]
        differing = [header[j] for j in compared if cells[j][k] != cells[j][j0]]
        if differing:
            raise ResultsError(
                f"{path}: input idx {value} has rows that differ (lines {lines[j0 + 1][0]} and {lines[k + 1][0]}, "
                f"column {differing[0]!r}), as when two runs wrote one file; its certified accuracy would "
                f"depend on which row counts, so it is not analyzed")
    if len(keep) == len(cells[idx_col]):
        return lines, cells, 0
    return ([lines[0], *(lines[k + 1] for k in keep)], [[column[k] for k in keep] for column in cells],
            len(cells[idx_col]) - len(keep))
