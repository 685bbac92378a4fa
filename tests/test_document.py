"""The report document model (smoothcert.document) and its text renderers (smoothcert.report)."""

from __future__ import annotations

import math
from pathlib import PurePosixPath

import numpy as np
import pytest

from smoothcert.document import BulletList, Code, Document, Figure, Paragraph, Section, Table, walk
from smoothcert.errors import InvalidArgumentError
from smoothcert.report.markdown import render_markdown, write_markdown
from smoothcert.report.tables import format_cell, latex_escape, render_table

# ---- blocks ----------------------------------------------------------------------------------------------


def test_paragraph_keeps_code_spans_and_soft_breaks() -> None:
    assert render_markdown(Paragraph("see `certify.tsv`\nand more")) == "see `certify.tsv`\nand more\n"


def test_bullet_list() -> None:
    assert render_markdown(BulletList(["one", "two `x`"])) == "- one\n- two `x`\n"
    assert render_markdown(BulletList([])) == "\n"


def test_code_block_is_fenced_with_its_language() -> None:
    assert render_markdown(Code('{"a": 1}\n', "json")) == '```json\n{"a": 1}\n```\n'
    # A fence inside the text does not close the block.
    assert render_markdown(Code("```\nx\n```")).startswith("````\n")


def test_figure_is_an_image_with_alt_text_and_caption() -> None:
    assert render_markdown(Figure("figures/a.png", "accuracy against σ")) == "![accuracy against σ](figures/a.png)\n"
    text = render_markdown(Figure("a.png", "a curve", caption="Certified accuracy"))
    assert text == "![a curve](a.png)\n*Certified accuracy*\n"


@pytest.mark.parametrize("alt", ["", "   ", None])
def test_figure_without_alt_text_is_refused(alt) -> None:
    with pytest.raises(InvalidArgumentError, match="alt text"):
        Figure("a.png", alt)


def test_figure_path_must_be_relative() -> None:
    with pytest.raises(InvalidArgumentError, match="relative"):
        Figure("/tmp/a.png", "a curve")
    with pytest.raises(InvalidArgumentError, match="relative"):
        Figure("C:\\plots\\a.png", "a curve")
    assert Figure(PurePosixPath("figures") / "a.png", "a curve").path == "figures/a.png"


def test_sections_nest_one_level_deeper() -> None:
    section = Section("Outer", [Paragraph("text"), Section("Inner", [Paragraph("deep")])])
    assert render_markdown(section) == "## Outer\n\ntext\n\n### Inner\n\ndeep\n"


def test_a_block_of_another_type_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="not a document block"):
        Section("s", ["a plain string"])  # type: ignore[list-item]


# ---- tables ----------------------------------------------------------------------------------------------


def test_table_keeps_raw_numbers() -> None:
    table = Table(["run", "acc", "n"], [["a", np.float64(0.123456), np.int64(3)], ["b", 0.5, None]])
    assert table.rows == (("a", 0.123456, 3), ("b", 0.5, None))
    assert type(table.rows[0][1]) is float and type(table.rows[0][2]) is int
    assert table.column(1) == [0.123456, 0.5]
    assert hash(table) == hash(Table(["run", "acc", "n"], [["a", 0.123456, 3], ["b", 0.5, None]]))


def test_table_renders_with_its_decimals() -> None:
    table = Table(["run", "acc"], [["a", 0.123456], ["b", 1]], decimals=2)
    assert render_markdown(table) == "| run | acc |\n|---|---|\n| a | 0.12 |\n| b | 1 |\n"
    assert render_table(table, "tsv") == "run\tacc\na\t0.12\nb\t1\n"
    assert table.rows[0][1] == 0.123456  # formatting happens in the renderer only


def test_nan_and_none_cells() -> None:
    table = Table(["x", "y"], [[math.nan, None]])
    assert render_table(table).splitlines()[2] == "| – |  |"
    assert render_table(table, "tsv").splitlines()[1] == "–\t"
    assert format_cell(float("nan")) == "–" and format_cell(True) == "True"


def test_bold_cells_per_format() -> None:
    table = Table(["run", "acc"], [["a", 0.5], ["b", 0.25]], bold={(0, 1)})
    assert "| a | **0.500** |" in render_table(table, "markdown")
    assert r"a & \textbf{0.500} \\" in render_table(table, "latex")
    assert "**" not in render_table(table, "tsv")
    with pytest.raises(InvalidArgumentError, match="bold"):
        Table(["a"], [[1]], bold={(1, 0)})


def test_latex_escaping() -> None:
    table = Table(["run", "$r = 0.5$"], [["σ_0.25 & 50% #1", 0.5]], caption="a_b ~ c")
    text = render_table(table, "latex")
    assert r"σ\_0.25 \& 50\% \#1 & 0.500 \\" in text
    assert r"run & $r = 0.5$ \\" in text  # math is left alone
    assert r"\caption{a\_b \textasciitilde{} c}" in text and r"\begin{table}" in text
    assert latex_escape(r"$\sigma_0$ x^2") == r"$\sigma_0$ x\textasciicircum{}2"
    assert r"\label{tab:x}" in render_table(Table(["a"], [[1]]), "latex", label="tab:x")


def test_markdown_escapes_pipes_and_shows_the_caption() -> None:
    text = render_table(Table(["a"], [["x|y"]], caption="Numbers"))
    assert text == "Table: Numbers\n\n| a |\n|---|\n| x\\|y |\n"


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"header": []}, "at least one column"),
    ({"header": ["a", "b"], "rows": [[1]]}, "cells"),
    ({"header": ["a"], "decimals": -1}, "decimals"),
])
def test_bad_tables_are_refused(kwargs, fragment) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        Table(**kwargs)


def test_unknown_table_format() -> None:
    with pytest.raises(InvalidArgumentError, match="fmt"):
        render_table(Table(["a"]), "html")  # type: ignore[arg-type]


# ---- whole documents -------------------------------------------------------------------------------------

def _doc() -> Document:
    return Document("Report", [
        Paragraph("Intro with `code`."),
        BulletList(["model a", "model b"]),
        Section("Results", [
            Table(["run", "r = 0"], [["a", 0.75], ["b", math.nan]], bold={(0, 1)}),
            Figure("figures/curve.png", "certified accuracy curve"),
            Section("Timing", [Code('{"total": 1.5}', "json")]),
        ]),
    ])


EXPECTED = """# Report

Intro with `code`.

- model a
- model b

## Results

| run | r = 0 |
|---|---|
| a | **0.750** |
| b | – |

![certified accuracy curve](figures/curve.png)

### Timing

```json
{"total": 1.5}
```
"""


def test_full_document_to_markdown(tmp_path) -> None:
    doc = _doc()
    assert render_markdown(doc) == EXPECTED
    path = write_markdown(doc, tmp_path / "out" / "report.md")
    assert path.read_text(encoding="utf-8") == EXPECTED
    assert render_markdown(doc, title=False) == EXPECTED.split("\n\n", 1)[1]


def test_document_lists_its_tables_and_figures() -> None:
    doc = _doc()
    assert [t.header for t in doc.tables()] == [("run", "r = 0")]
    assert doc.tables()[0].rows[0][1] == 0.75  # the number a later HTML test compares with the analysis
    assert [f.path for f in doc.figures()] == ["figures/curve.png"]
    assert [type(b).__name__ for b in walk(doc)] == ["Paragraph", "BulletList", "Section", "Table", "Figure",
                                                    "Section", "Code"]


def test_document_tables_in_another_format() -> None:
    text = render_markdown(_doc(), tables="latex")
    assert r"a & \textbf{0.750} \\" in text and "## Results" in text and "| run |" not in text


def test_documents_are_frozen() -> None:
    doc = _doc()
    with pytest.raises(AttributeError):
        doc.title = "other"  # type: ignore[misc]
    assert isinstance(doc.blocks, tuple)
