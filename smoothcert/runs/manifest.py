"""Run manifests: the JSON beside a results file or in a study's folder, with the run's arguments, machine,
status, timing and the history of every earlier session of the same run.
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

#: What a manifest keeps of each earlier session when a run is resumed.
HISTORY_KEYS = ("written", "status", "timing", "engine")


def environment() -> dict:
    """Versions and machine facts for a manifest."""
    import numpy
    import scipy
    import torch

    from .. import __version__

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


def earlier_runs(results_path: str | Path, keys: tuple[str, ...] = HISTORY_KEYS) -> list[dict]:
    """When a run is resumed: what its manifest recorded of every earlier session (``keys``: written,
    status, timing, …), oldest first, so the new manifest keeps them instead of overwriting them. Empty when
    there is none. The one place the history of a resumed run is kept, for files and study folders alike."""
    path = manifest_path(results_path)
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return [*old.get("earlier_runs", []), {k: old.get(k) for k in keys}]


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
