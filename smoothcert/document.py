"""A small document model for reports: pure, frozen data, rendered by :mod:`smoothcert.report.markdown`.

A report is a :class:`Document` (a title and blocks); blocks are :class:`Section` (a heading and blocks,
nested to any depth), :class:`Paragraph`, :class:`Table`, :class:`Figure`, :class:`BulletList` and
:class:`Code`. Nothing here formats numbers or writes files: a :class:`Table` keeps its raw cell values, so
every renderer (markdown, LaTeX, TSV, later HTML) formats them the same way and a test can compare the
numbers of a rendered report with the analysis that produced them.

The model sits in the lowest layer (it imports only :mod:`smoothcert.errors`) so that ``analysis`` can return
tables as data while ``report``, above it, renders them.

Inline text (paragraphs, list items, titles, captions) is plain text with one convention: ```code``` spans
in backticks. Markdown writes the text as is, so other markup (``*``, ``_``, HTML) should not be relied on;
newlines inside a paragraph are soft breaks (a renderer may show them as spaces).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath, PureWindowsPath

from smoothcert.errors import InvalidArgumentError

Cell = str | int | float | None
"""A table cell: text, a number (formatted by the renderer) or None (an empty cell)."""


def _raw(value: object) -> object:
    """A cell as a plain Python value: numpy scalars become int / float / bool, so tables compare and serialize
    like the analysis' numbers (without importing numpy here)."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of inline text (see the module docstring for the inline convention)."""

    text: str

    def __post_init__(self) -> None:
        _text(self.text, "Paragraph text")


@dataclass(frozen=True)
class Table:
    """A table of raw values.

    Attributes:
        header: column titles (at least one).
        rows: rows of cells, each as long as ``header``; numbers stay numbers (numpy scalars are converted to
            Python ones).
        caption: an optional caption (a LaTeX ``\\caption``; a line above the table in markdown).
        decimals: decimals shown for every float cell (NaN is shown as "–").
        bold: (row, column) positions of emphasized cells, e.g. the best run per column; 0-based, rows exclude
            the header.
    """

    header: Sequence[str]
    rows: Sequence[Sequence[Cell]] = ()
    caption: str | None = None
    decimals: int = 3
    bold: frozenset[tuple[int, int]] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        header = tuple(str(h) for h in self.header)
        if not header:
            raise InvalidArgumentError("a table needs at least one column")
        rows = tuple(tuple(_raw(v) for v in row) for row in self.rows)
        for i, row in enumerate(rows):
            if len(row) != len(header):
                raise InvalidArgumentError(f"table row {i} has {len(row)} cells, the header has {len(header)}")
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, int) or self.decimals < 0:
            raise InvalidArgumentError(f"decimals must be an integer >= 0, got {self.decimals!r}")
        bold = frozenset((int(i), int(j)) for i, j in self.bold)
        outside = sorted((i, j) for i, j in bold if not (0 <= i < len(rows) and 0 <= j < len(header)))
        if outside:
            raise InvalidArgumentError(f"bold cells outside the {len(rows)} × {len(header)} table: {outside}")
        if self.caption is not None:
            _text(self.caption, "Table caption")
        # Frozen: store the normalized copies (tuples, so a Table is immutable and hashable).
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "bold", bold)

    def column(self, j: int) -> list[Cell]:
        """The raw values of column ``j``."""
        return [row[j] for row in self.rows]


@dataclass(frozen=True)
class Figure:
    """An image, referenced by a path relative to the document's folder (so the folder can be moved).

    ``alt`` (what the figure shows, for readers who cannot see it) is required; ``caption`` is optional.
    """

    path: str | PurePath
    alt: str
    caption: str | None = None

    def __post_init__(self) -> None:
        raw = str(self.path)
        if not raw.strip():
            raise InvalidArgumentError("a Figure needs a path")
        if PurePosixPath(raw).is_absolute() or PureWindowsPath(raw).is_absolute():
            raise InvalidArgumentError(f"Figure path must be relative to the document's folder, got {raw!r}")
        if not isinstance(self.alt, str) or not self.alt.strip():
            raise InvalidArgumentError(f"Figure {raw!r} needs alt text (what it shows, for accessibility)")
        if self.caption is not None:
            _text(self.caption, "Figure caption")
        object.__setattr__(self, "path", PurePath(raw).as_posix())


@dataclass(frozen=True)
class BulletList:
    """An unordered list of inline-text items."""

    items: Sequence[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(_text(item, "BulletList item") for item in self.items))


@dataclass(frozen=True)
class Code:
    """Preformatted text (a fenced block in markdown), e.g. JSON timings; ``language`` is a hint for
    highlighting."""

    text: str
    language: str = ""

    def __post_init__(self) -> None:
        _text(self.text, "Code text")


@dataclass(frozen=True)
class Section:
    """A heading and its blocks; sections nest (a section inside a section is one level deeper).

    Markdown has no end of section: blocks that follow a section in its parent read as part of it there, so
    put a parent's own blocks before its sub-sections.
    """

    title: str
    blocks: Sequence[Block] = ()

    def __post_init__(self) -> None:
        _text(self.title, "Section title")
        object.__setattr__(self, "blocks", _blocks(self.blocks))


Block = Paragraph | Table | Figure | BulletList | Code | Section
"""Anything a Document or Section holds."""

BLOCK_TYPES = (Paragraph, Table, Figure, BulletList, Code, Section)


@dataclass(frozen=True)
class Document:
    """A whole report: a title (the one top-level heading) and its blocks."""

    title: str
    blocks: Sequence[Block] = ()

    def __post_init__(self) -> None:
        _text(self.title, "Document title")
        object.__setattr__(self, "blocks", _blocks(self.blocks))

    def tables(self) -> list[Table]:
        """Every table, in reading order (sections included)."""
        return [b for b in walk(self) if isinstance(b, Table)]

    def figures(self) -> list[Figure]:
        """Every figure, in reading order (sections included)."""
        return [b for b in walk(self) if isinstance(b, Figure)]


def _blocks(blocks: Iterable[object]) -> tuple:
    blocks = tuple(blocks)
    for b in blocks:
        if not isinstance(b, BLOCK_TYPES):
            raise InvalidArgumentError(f"not a document block: {type(b).__name__} (expected one of "
                                       f"{', '.join(t.__name__ for t in BLOCK_TYPES)})")
    return blocks


def walk(node: Document | Block) -> list[Block]:
    """Every block under ``node`` (depth first, in reading order), sections included, ``node`` excluded."""
    found: list[Block] = []
    for b in getattr(node, "blocks", ()):
        found.append(b)
        if isinstance(b, Section):
            found += walk(b)
    return found

