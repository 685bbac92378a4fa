"""Markdown rendering of a :class:`~smoothcert.document.Document` (or of any one block).

Layout: the document title is the one ``#`` heading, top-level sections are ``##`` and each nested section one
level deeper; blocks are separated by one blank line and the text ends in a newline. Inline text is written
as is (its only convention, ```code``` spans, is Markdown already).
"""

from __future__ import annotations

from pathlib import Path

from smoothcert.analysis.tables import TableFormat
from smoothcert.document import BulletList, Code, Document, Figure, Paragraph, Section, Table
from smoothcert.errors import InvalidArgumentError
from smoothcert.report.tables import render_table

Node = Document | Section | Paragraph | Table | Figure | BulletList | Code


def render_markdown(node: Node, *, tables: TableFormat = "markdown", title: bool = True) -> str:
    """Markdown text of a document or of one block, ending in a newline.

    Args:
        node: a :class:`Document`, or a block (a :class:`Section` alone is rendered as a top-level one, ``##``).
        tables: how :class:`Table` blocks are written: ``"markdown"`` pipe tables, or ``"latex"`` / ``"tsv"``
            for console text meant to be pasted elsewhere (headings and paragraphs stay as they are).
        title: write a document's title heading (False: its body only, e.g. for a command's console output).
    """
    pieces = _blocks(node, depth=2, tables=tables)
    if isinstance(node, Document) and not title:
        pieces = pieces[1:]
    return "\n\n".join(pieces) + "\n"


def write_markdown(doc: Document | Section, path: str | Path) -> Path:
    """Render ``doc`` into ``path`` (UTF-8; parent folders are created); returns the path.

    Figure paths are relative, so ``path`` should be in the folder the figures are relative to.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(doc), encoding="utf-8")
    return path


def _blocks(node: Node, depth: int, tables: TableFormat) -> list[str]:
    """The rendered pieces of ``node`` (without trailing newlines), one per block; ``depth`` is the heading
    level of a section found here."""
    if isinstance(node, Document):
        return [f"# {_one_line(node.title)}", *(p for b in node.blocks for p in _blocks(b, 2, tables))]
    if isinstance(node, Section):
        heading = f"{'#' * depth} {_one_line(node.title)}"
        return [heading, *(p for b in node.blocks for p in _blocks(b, depth + 1, tables))]
    if isinstance(node, Paragraph):
        return [node.text.strip("\n")] if node.text.strip() else []
    if isinstance(node, Table):
        return [render_table(node, tables).rstrip("\n")]
    if isinstance(node, Figure):
        image = f"![{_one_line(node.alt)}]({node.path})"
        return [image if node.caption is None else f"{image}\n*{_one_line(node.caption)}*"]
    if isinstance(node, BulletList):
        return ["\n".join(f"- {_one_line(item)}" for item in node.items)] if node.items else []
    if isinstance(node, Code):
        fence = "````" if "```" in node.text else "```"  # a longer fence keeps a fence inside the text literal
        return [f"{fence}{node.language}\n{node.text.rstrip(chr(10))}\n{fence}"]
    raise InvalidArgumentError(f"cannot render {type(node).__name__} as markdown")


def _one_line(text: str) -> str:
    """Headings, list items, alt text and captions are one line in markdown."""
    return " ".join(text.split("\n"))
