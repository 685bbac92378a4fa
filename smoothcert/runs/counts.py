"""Count vectors kept beside a results file: every certify and predict run also writes, for each input, the full
outcome counts it was certified from, so another bound can be applied later without the model
(``smoothcert recertify``).

``x.tsv`` gets a folder ``x.counts/`` of chunk files ``chunk-000000.npz``, one per flush of rows, each written
atomically (a temporary file, then a rename) before the rows reach the TSV, with arrays ``idx`` [B] and one
[B, K] int64 array per kind of counts (CERTIFY: ``selection`` and ``estimation``; PREDICT: ``counts``). Resuming
reads every complete chunk and skips indices already kept (a chunk written before an interruption of its rows
is reused, never duplicated); :func:`read_counts` de-duplicates by ``idx`` as well.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ResultsError

#: Describes the folder in manifests.
FORMAT = "npz chunks: idx [B] and per kind of counts an int64 array [B, K] (K outcomes, classes first)"


def counts_path(results_path: str | Path) -> Path:
    """The counts folder beside a results file: ``x.tsv`` → ``x.counts``."""
    return Path(results_path).with_suffix(".counts")


def _chunks(folder: Path) -> list[Path]:
    return sorted(folder.glob("chunk-*.npz"))


class CountsWriter:
    """Writes count vectors of one results file, a chunk per flush.

    Args:
        results_path: the TSV the counts belong to (the folder is ``counts_path(results_path)``).
        kinds: the names of the count arrays of each row (e.g. ``("selection", "estimation")``).
        resume: keep the chunks already there; otherwise the folder must hold no chunk, unless ``overwrite``
            (which removes the chunks this writer's format names, nothing else).
    Attributes:
        done: the indices whose counts are already kept.
    """

    def __init__(self, results_path: str | Path, kinds: Sequence[str], *, resume: bool = False,
                 overwrite: bool = False) -> None:
        self.folder = counts_path(results_path)
        self.kinds = tuple(kinds)
        self.done: set[int] = set()
        existing = _chunks(self.folder) if self.folder.is_dir() else []
        if self.folder.exists() and not self.folder.is_dir():
            raise ResultsError(f"counts folder {self.folder} is a file")
        if existing and not resume:
            if not overwrite:
                raise ResultsError(f"{self.folder} already holds counts; pass --resume to continue it or --overwrite")
            for chunk in existing:
                chunk.unlink()
            existing = []
        for chunk in existing:
            self.done.update(int(i) for i in _load(chunk, self.kinds)["idx"])
        self._next = 1 + max((int(c.stem.split("-")[1]) for c in existing), default=-1)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ResultsError(f"cannot write counts folder {self.folder}: {err.strerror or err}") from err

    def write(self, indices: Sequence[int], arrays: Mapping[str, Sequence[np.ndarray]]) -> None:
        """Keep the counts of ``indices`` not kept yet (``arrays``: kind → one [K] vector per index), atomically."""
        keep = [j for j, i in enumerate(indices) if int(i) not in self.done]
        if not keep:
            return
        data = {"idx": np.array([int(indices[j]) for j in keep], dtype=np.int64)}
        for kind in self.kinds:
            data[kind] = np.stack([np.asarray(arrays[kind][j], dtype=np.int64) for j in keep])
        path = self.folder / f"chunk-{self._next:06d}.npz"
        tmp = path.with_suffix(".npz.tmp")
        with tmp.open("wb") as f:
            np.savez(f, **data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        self._next += 1
        self.done.update(int(i) for i in data["idx"])

    def describe(self) -> dict:
        """The manifest's entry for the folder."""
        return {"path": self.folder.name, "kinds": list(self.kinds), "format": FORMAT}


def _load(chunk: Path, kinds: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    try:
        with np.load(chunk) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise ResultsError(f"counts chunk {chunk} cannot be read: {err}") from err
    if "idx" not in arrays or any(k not in arrays for k in kinds or ()):
        raise ResultsError(f"counts chunk {chunk} lacks idx or one of {', '.join(kinds or ())}")
    return arrays


def read_counts(results_path: str | Path) -> dict[str, np.ndarray]:
    """Every kept count vector of a results file, de-duplicated by index, sorted by it: ``idx`` [N] and each
    kind [N, K]. Raises ResultsError when there is no counts folder."""
    folder = counts_path(results_path)
    chunks = _chunks(folder) if folder.is_dir() else []
    if not chunks:
        raise ResultsError(f"{results_path} has no saved counts ({folder} is missing or empty): it was written "
                           "before count vectors were kept, or by a run that keeps none")
    loaded = [_load(c) for c in chunks]
    kinds = [k for k in loaded[0] if k != "idx"]
    idx = np.concatenate([c["idx"] for c in loaded])
    _, first = np.unique(idx, return_index=True)
    out = {"idx": idx[first]}
    for kind in kinds:
        out[kind] = np.concatenate([c[kind] for c in loaded])[first]
    return out
