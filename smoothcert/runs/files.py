"""Result files and run manifests: a TSV row per input, flushed as written, resumable from the file itself.

A run directory holds ``<name>.tsv`` and ``<name>.json`` (the manifest). Resuming re-reads the TSV, keeps
every complete row, drops a torn last line, and refuses if the manifest's arguments differ from the new ones,
so an interrupted run resumed with the same arguments ends with the same rows as an uninterrupted one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .errors import ResultsError

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


def environment() -> dict:
    """Versions and machine facts for a manifest."""
    import numpy
    import scipy
    import torch

    from . import __version__

    return {
        "smoothcert": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def manifest_path(results_path: str | Path) -> Path:
    """The manifest beside a results file: ``x.tsv`` → ``x.json``."""
    return Path(results_path).with_suffix(".json")


def check_resumable(results_path: str | Path, arguments: Mapping[str, object]) -> None:
    """Refuse to resume when the earlier run's recorded arguments differ from ``arguments``."""
    path = manifest_path(results_path)
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text()).get("arguments", {})
    except json.JSONDecodeError as err:
        raise ResultsError(f"cannot resume: manifest {path} is not valid JSON") from err
    new = json.loads(json.dumps(dict(arguments)))  # compare as JSON would store them
    differing = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differing:
        detail = ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in differing[:4])
        raise ResultsError(f"cannot resume {results_path} with different arguments ({detail})")


def earlier_runs(results_path: str | Path) -> list[dict]:
    """When a run is resumed: what its manifest recorded of every earlier session (written, status, timing),
    oldest first, so the new manifest keeps them instead of overwriting them. Empty when there is none."""
    path = manifest_path(results_path)
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return [*old.get("earlier_runs", []), {k: old.get(k) for k in ("written", "status", "timing", "engine")}]


def write_manifest(results_path: str | Path, arguments: Mapping[str, object], **sections: object) -> Path:
    """Write ``<results>.json``: arguments, environment, time, and any extra sections (timing, device, …)."""
    path = manifest_path(results_path)
    doc = {
        "arguments": dict(arguments),
        "environment": environment(),
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **sections,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path
