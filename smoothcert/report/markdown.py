"""Markdown rendering of a :class:`~smoothcert.document.Document` (or of any one block).

Layout: the document title is the one ``#`` heading, top-level sections are ``##`` and each nested section one
level deeper; blocks are separated by one blank line and the text ends in a newline. Inline text is written
as is (its only convention, ```code``` spans, is Markdown already). :func:`parse_markdown` reads such a report
back into a :class:`Document` (so a folder's ``report.md`` can be rendered again, e.g. as HTML).
"""

from __future__ import annotations

import re
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


# --- reading a report back ------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_IMAGE = re.compile(r"^!\[(.*)\]\((.+)\)$")
_FENCE = re.compile(r"^(`{3,})(.*)$")
_TABLE_RULE = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|)+$")


def parse_markdown(text: str) -> Document:
    """The :class:`Document` of a report that :func:`render_markdown` wrote: headings, paragraphs, pipe tables
    (with a ``Table:`` caption line; bold cells), figures with their caption line, lists and fenced code.

    Table cells come back as the text shown (numbers as formatted), so the document renders as it read. Text
    that is not in that form is kept as paragraphs. Raises :class:`InvalidArgumentError` when the text does not
    start with the title heading (``# …``).
    """
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or not lines[0].startswith("# "):
        raise InvalidArgumentError("not a smoothcert report: it does not start with a '# title' line")
    title = lines.pop(0)[2:].strip()
    root: list = []
    stack: list[tuple[int, str, list]] = []  # (level, title, blocks) of the open sections

    def close_to(level: int) -> None:
        while stack and stack[-1][0] >= level:
            _, heading, blocks = stack.pop()
            (stack[-1][2] if stack else root).append(Section(heading, blocks))

    def here() -> list:
        return stack[-1][2] if stack else root

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        heading = _HEADING.match(line)
        fence = _FENCE.match(line)
        if heading and len(heading.group(1)) >= 2:
            level = len(heading.group(1))
            close_to(level)
            stack.append((level, heading.group(2).strip(), []))
            i += 1
        elif fence:
            end = next((k for k in range(i + 1, len(lines)) if lines[k] == fence.group(1)), len(lines))
            here().append(Code("\n".join(lines[i + 1:end]), fence.group(2).strip()))
            i = end + 1
        else:
            end = i
            while end < len(lines) and lines[end].strip() and not _FENCE.match(lines[end]) and not (
                    _HEADING.match(lines[end]) and end > i):
                end += 1
            here().extend(_chunk(lines[i:end], here()))
            i = end
    close_to(0)
    return Document(title, root)


def _chunk(chunk: list[str], before: list) -> list:
    """The blocks of one run of non-blank lines."""
    image = _IMAGE.match(chunk[0])
    if image and len(chunk) <= 2:
        caption = chunk[1].strip() if len(chunk) == 2 else ""
        if not caption or (caption.startswith("*") and caption.endswith("*")):
            return [Figure(image.group(2), image.group(1) or image.group(2), caption.strip("*") or None)]
    if all(line.startswith("- ") for line in chunk):
        return [BulletList([line[2:] for line in chunk])]
    if len(chunk) >= 2 and chunk[0].startswith("|") and _TABLE_RULE.match(chunk[1].replace(" ", "")) and all(
            line.startswith("|") for line in chunk):
        header = _cells(chunk[0])
        rows, bold = [], set()
        for r, line in enumerate(chunk[2:]):
            cells = _cells(line)
            cells = (cells + [""] * len(header))[: len(header)]
            for j, cell in enumerate(cells):
                if len(cell) > 4 and cell.startswith("**") and cell.endswith("**"):
                    cells[j] = cell[2:-2]
                    bold.add((r, j))
            rows.append(cells)
        caption = None
        if before and isinstance(before[-1], Paragraph) and before[-1].text.startswith("Table: ") \
                and "\n" not in before[-1].text:
            caption = before.pop().text[len("Table: "):]
        return [Table(header, rows, caption=caption, bold=frozenset(bold))]
    return [Paragraph("\n".join(chunk))]


def _cells(line: str) -> list[str]:
    """The cells of a pipe-table line (``\\|`` is a literal bar)."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]
