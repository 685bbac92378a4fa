"""The audit folder: where a stage writes its tables (markdown, TSV, JSON) and figures, and the check that
``out`` can be one."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from smoothcert.document import Figure, Table
from smoothcert.report.tables import render_table
from smoothcert.validate import check_output_folder

__all__ = ["Echo", "audit_folder", "figure", "figure_stem", "json_default", "sigma_name", "write_json", "write_table"]

#: Where progress lines go (``print``, ``click.echo``).
Echo = Callable[[str], None]


def audit_folder(out: str | Path) -> Path:
    """``out`` as a Path if it is, or can become, a folder this process can write in: raises
    InvalidArgumentError (before anything is written) when it or one of its parents is an existing file, or
    the folder it goes in takes no new file (:func:`smoothcert.validate.check_output_folder`)."""
    return check_output_folder(out)


def json_default(value: object) -> object:
    """JSON for NumPy arrays and scalars and paths (``json.dumps(..., default=json_default)``)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1, default=json_default) + "\n")


def write_table(out: Path, name: str, header: Sequence[str], rows: Sequence[Sequence], data: object | None = None,
                decimals: int = 3) -> Table:
    """tables/NAME.md and .tsv (and .json when ``data`` is given); returns the table, for the report."""
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    table = Table(header, rows, decimals=decimals)
    (folder / f"{name}.md").write_text(render_table(table, "markdown"))
    (folder / f"{name}.tsv").write_text(render_table(table, "tsv"))
    if data is not None:
        write_json(folder / f"{name}.json", data)
    return table


def figure_stem(out: Path, name: str) -> Path:
    """Where a plot named ``name`` is written (the plots add .png and .svg)."""
    return out / "figures" / name


def figure(paths: Sequence[Path], out: Path, alt: str) -> Figure:
    """The report's figure of a plot written as ``paths`` (PNG first), relative to the audit folder."""
    return Figure(paths[0].relative_to(out).as_posix(), alt)


def sigma_name(sigma: float) -> str:
    """σ as it appears in file names: ``0.25``, ``1``."""
    return f"{sigma:g}"
