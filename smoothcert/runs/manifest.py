"""Run manifests: the JSON beside a results file or in a study's folder, with the run's arguments, machine,
status, timing, the fingerprints of its model and data, and the history of every earlier session of the run.

A manifest says what it is (``"format": "smoothcert-run-manifest"``), and no JSON that is not one, such as a
checkpoint's sidecar, is ever replaced by one: :func:`write_manifest` refuses, whatever the flags.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import ResultsError
from .fingerprint import arguments_fingerprint

#: The ``format`` of every manifest; other JSON files are never replaced by a manifest.
MANIFEST_FORMAT = "smoothcert-run-manifest"
MANIFEST_VERSION = 1

#: What each fingerprint of a run covers, for the error when a resume finds another one.
FINGERPRINT_NAMES = {"model": "the model's weights", "data": "the data", "arguments": "the arguments"}

#: Arguments that name files. A resume keyed on content (with fingerprints) compares what they hold, through
#: the fingerprints of the model and the data, not their paths: the same checkpoint under another path resumes.
PATH_ARGUMENTS = frozenset({"checkpoint", "weights", "data_dir"})

#: What a manifest keeps of each earlier session when a run is resumed.
HISTORY_KEYS = ("written", "status", "timing", "engine")


def environment() -> dict:
    """Versions and machine facts for a manifest."""
    import numpy
    import scipy
    import torch

    from .. import __version__
    from ..accelerate import cpu_features, cpu_name

    return {
        "smoothcert": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu": cpu_name(),
        "cpu_features": cpu_features(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def manifest_path(results_path: str | Path) -> Path:
    """The manifest beside a results file: ``x.tsv`` → ``x.json``."""
    return Path(results_path).with_suffix(".json")


def comparable_arguments(arguments: Mapping[str, object]) -> dict:
    """``arguments`` as a content-keyed resume compares them: as JSON stores them, without the paths of
    :data:`PATH_ARGUMENTS`, and a data file (``dataset`` ending in .npz) by its file name only."""
    doc = json.loads(json.dumps(dict(arguments), default=str))
    doc = {k: v for k, v in doc.items() if k not in PATH_ARGUMENTS}
    if isinstance(doc.get("dataset"), str) and doc["dataset"].endswith(".npz"):
        doc["dataset"] = Path(doc["dataset"]).name
    return doc


def _is_older_manifest(doc: dict) -> bool:
    """A manifest written before manifests named their format: it has their three first sections."""
    return "format" not in doc and {"arguments", "environment", "written"} <= set(doc)


def read_manifest(results_path: str | Path) -> dict | None:
    """The manifest beside ``results_path``, or None when there is none. Raises a one-line ResultsError when
    the path holds something else: a folder, bytes that are not JSON, or JSON that is not a run manifest
    (a checkpoint's sidecar, say)."""
    path = manifest_path(results_path)
    if path.is_dir():
        raise ResultsError(f"manifest path {path} is a directory")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsError(f"cannot read manifest {path}: {getattr(err, 'strerror', None) or err}") from err
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path} is not valid JSON, so it is not a smoothcert run manifest; "
                           f"it is never replaced: choose another results file name") from err
    if not isinstance(doc, dict) or not (doc.get("format") == MANIFEST_FORMAT or _is_older_manifest(doc)):
        what = f"a {doc['format']} file" if isinstance(doc, dict) and isinstance(doc.get("format"), str) \
            else "not a smoothcert run manifest"
        raise ResultsError(f"{path} is {what}, so it is never replaced by this run's manifest: "
                           f"choose another results file name")
    return doc


def check_manifest_target(results_path: str | Path, *, replace: bool) -> None:
    """Before any file is touched: the manifest of ``results_path`` may be written. A JSON file there that is
    not a run manifest is refused always; an earlier run's manifest is refused unless ``replace`` (the run
    was started with --resume or --overwrite)."""
    if read_manifest(results_path) is not None and not replace:
        raise ResultsError(f"{manifest_path(results_path)} is the manifest of an earlier run; "
                           f"pass --resume to continue it or --overwrite to start again")


def check_resumable(results_path: str | Path, arguments: Mapping[str, object],
                    fingerprint: Mapping[str, str] | None = None) -> None:
    """Refuse to resume ``results_path`` unless its manifest records the same ``arguments`` and, when
    ``fingerprint`` is given ({"model": …, "data": …}: SHA-256 of the model's weights and of the data,
    :mod:`smoothcert.runs.fingerprint`), the same fingerprints, that of the arguments included; the paths of
    :data:`PATH_ARGUMENTS` are then not compared, only what they hold. A results file with rows but no
    manifest is not resumable: nothing then says what made its rows."""
    results_path = Path(results_path)
    doc = read_manifest(results_path)
    if doc is None:
        if results_path.is_file() and results_path.stat().st_size > 0:
            raise ResultsError(f"cannot resume {results_path}: its manifest {manifest_path(results_path).name} is "
                               f"missing, so nothing says what made its rows; pass --overwrite to start again")
        return
    old = doc.get("arguments", {})
    new = json.loads(json.dumps(dict(arguments), default=str))  # compare as JSON would store them
    if fingerprint:
        old, new = comparable_arguments(old), comparable_arguments(new)
        fingerprint = {**fingerprint, "arguments": arguments_fingerprint(new)}
    differing = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differing:
        detail = ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in differing[:4])
        raise ResultsError(f"cannot resume {results_path} with different arguments ({detail})")
    if fingerprint:
        recorded = doc.get("fingerprint")
        if not isinstance(recorded, dict):
            raise ResultsError(f"cannot resume {results_path}: its manifest records no fingerprint of the model "
                               f"and data (an older smoothcert wrote it); pass --overwrite to start again")
        for key, value in fingerprint.items():
            if recorded.get(key) != value:
                raise ResultsError(
                    f"cannot resume {results_path}: {FINGERPRINT_NAMES.get(key, key)} differ from those its rows "
                    f"were made with ({_short(recorded.get(key))} → {_short(value)})")


def _short(value: object) -> str:
    return f"{value[:15]}…" if isinstance(value, str) else repr(value)


def earlier_runs(results_path: str | Path, keys: tuple[str, ...] = HISTORY_KEYS) -> list[dict]:
    """When a run is resumed: what its manifest recorded of every earlier session (``keys``: written,
    status, timing, …), oldest first, so the new manifest keeps them instead of overwriting them. Empty when
    there is none. The one place the history of a resumed run is kept, for files and study folders alike."""
    try:
        old = read_manifest(results_path)
    except ResultsError:
        return []
    if old is None:
        return []
    return [*old.get("earlier_runs", []), {k: old.get(k) for k in keys}]


def write_manifest(results_path: str | Path, arguments: Mapping[str, object], **sections: object) -> Path:
    """Write ``<results>.json``: format, arguments, environment, time, and any extra sections (timing, device,
    fingerprint, …; the fingerprint of the arguments is added here), atomically (a temporary file renamed),
    with the umask's permissions. Refuses (one-line ResultsError, nothing written) to replace a file that is
    not a run manifest."""
    path = manifest_path(results_path)
    read_manifest(results_path)  # raises unless absent or a manifest
    fingerprint = sections.pop("fingerprint", None) or {}
    sections["fingerprint"] = {**fingerprint, "arguments": arguments_fingerprint(comparable_arguments(arguments))}
    doc = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "arguments": dict(arguments),
        "environment": environment(),
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **sections,
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # one per process: concurrent writers never share it
    try:
        tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ResultsError(f"cannot write manifest {path}: {err.strerror or err}") from err
    return path
