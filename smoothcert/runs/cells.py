"""A cache of finished pieces of a study (grid cells, per-σ matrices): one JSON file each, written atomically,
reused only when it was computed with the same arguments."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import ResultsError


class CellCache:
    """JSON cells in ``folder``, each ``<key>.json`` holding ``{"arguments": …, **values}``.

    A cell is either complete or absent: it is written to a temporary file and renamed. :meth:`get` returns
    a cell only if its recorded arguments equal the ones asked for (compared as JSON stores them), so a study
    resumed with other settings recomputes instead of mixing results.
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
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path(key).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, default=str) + "\n", encoding="utf-8")
        tmp.replace(self.path(key))
        return doc
