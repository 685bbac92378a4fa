"""Lower layers never import higher ones (the architecture of the package, checked on every module's imports)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "smoothcert"

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def read_ranks(text: str) -> dict[str, int]:
    """Module prefix → rank, from the rows of the layer table (``| rank | layer | `a`, `b` | … |``)."""
    ranks = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            for module in re.findall(r"`([\w.]+)`", cells[2]):
                ranks[module] = int(cells[0])
    return ranks


#: Rank of each module, by longest dotted prefix: a module may import modules of its own rank or lower.
RANKS = read_ranks(ARCHITECTURE.read_text(encoding="utf-8"))


def rank(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in RANKS:
            return RANKS[".".join(parts[:end])]
    raise KeyError(f"no layer for smoothcert.{module}: add it to RANKS")


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue  # the package root re-exports the public API
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def imported(module: str, path: Path) -> set[str]:
    """smoothcert modules imported anywhere in the file (top level or inside functions), without the prefix."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            elif (node.module or "").startswith("smoothcert"):
                target = node.module[len("smoothcert.") :] if node.module != "smoothcert" else ""
            else:
                continue
            # "from smoothcert import sampling" names a module; "from .x import f" names x.
            for alias in node.names:
                candidate = f"{target}.{alias.name}" if target else alias.name
                names.add(candidate if _is_module(candidate) else target)
        elif isinstance(node, ast.Import):
            names |= {a.name[len("smoothcert.") :] for a in node.names if a.name.startswith("smoothcert.")}
    return {n for n in names if n and n != "__version__"}


def _is_module(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@pytest.mark.parametrize("module,path", modules(), ids=[m for m, _ in modules()])
def test_no_upward_import(module, path):
    upward = sorted(t for t in imported(module, path) if rank(t) > rank(module))
    assert not upward, f"smoothcert.{module} (layer {rank(module)}) imports higher layers: {upward}"


def test_the_table_is_read():
    """The table in docs/architecture.md names the layers in order, each module once."""
    assert RANKS["errors"] == 0 and RANKS["stats"] < RANKS["engine"] < RANKS["certificates"] < RANKS["smooth"]
    assert RANKS["analysis"] < RANKS["report"] < RANKS["cli"]
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert len(re.findall(r"`([\w.]+)`", text.split("<!-- layers")[1].split("\n\n")[0])) == len(RANKS)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The check itself can fail: a lazy import of the report layer inside a function is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from smoothcert.report.plots import X_LABEL\n    return X_LABEL\n")
    assert {t for t in imported("stats", bad) if rank(t) > rank("stats")} == {"report.plots"}
