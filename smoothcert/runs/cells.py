"""A cache of finished pieces of a study (grid cells, per-σ matrices): one JSON file each, written atomically,
reused only when it was computed with the same arguments."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ResultsError


class CellCache:
    """JSON cells in ``folder``, each ``<key>.json`` holding ``{"arguments": …, **values}``.

    A cell is either complete or absent: it is written to a temporary file and renamed. :meth:`get` returns
    a cell only if its recorded arguments equal the ones asked for (compared as JSON stores them), so a study
    resumed with other settings recomputes instead of mixing results. :meth:`put` replaces only a cell: a file
    at its path that is not one (not a JSON object, or a JSON document that names its ``format``, such as a
    checkpoint's sidecar or a run manifest) is refused.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str, arguments: Mapping[str, object] | None = None) -> dict | None:
        """The cell ``key`` if it exists (and was computed with ``arguments``, when given), else None."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            cell = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ResultsError(f"cannot read cached cell {path}: {err}") from err
        if arguments is not None and cell.get("arguments") != json.loads(json.dumps(dict(arguments))):
            return None
        return cell

    def put(self, key: str, cell: Mapping[str, object], arguments: Mapping[str, object] | None = None) -> dict:
        """Write the cell ``key`` atomically (with ``arguments`` recorded, when given); returns what was written."""
        doc = {**({"arguments": dict(arguments)} if arguments is not None else {}), **cell}
        path = self.path(key)
        self._check_replaceable(path)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
        return doc

    @staticmethod
    def _check_replaceable(path: Path) -> None:
        if path.is_dir():
            raise ResultsError(f"cached cell {path} is a directory")
        if not path.exists():
            return
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            existing = None
        if not isinstance(existing, dict) or "format" in existing:
            raise ResultsError(f"{path} is not a cached cell of this study, so it is never replaced: "
                               f"give the study a folder of its own")
