"""The HTML renderer (smoothcert.report.html) and reading a markdown report back (parse_markdown).

These tests read the page's markup; tests/test_report_browser.py opens real pages in Chromium.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from smoothcert.analysis import CertifyResults
from smoothcert.document import BulletList, Code, Document, Figure, Paragraph, Section, Table
from smoothcert.errors import InvalidArgumentError
from smoothcert.report.html import CONTENT_SECURITY_POLICY, inline_svg, render_html, write_report
from smoothcert.report.markdown import parse_markdown, render_markdown
from smoothcert.report.plots import plot_certified_accuracy


class Page(HTMLParser):
    """Every start tag with its attributes, in order, and the text inside each tag name."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[str] = []
        self.text: dict[str, list[str]] = {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if self.stack and data.strip():
            self.text.setdefault(self.stack[-1], []).append(data.strip())

    def all(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]


class Tables(HTMLParser):
    """Every table of a page: its header texts and, per row, (text, attributes) of each cell."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.cell: tuple[list[str], dict] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"header": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("th", "td") and self.tables:
            self.cell = ([], dict(attrs))

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self.cell is not None:
            text, attrs = "".join(self.cell[0]).strip(), self.cell[1]
            self.tables[-1]["rows"][-1].append((text, attrs))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0].append(data)

    def find(self, *header: str) -> list[list[tuple[str, dict]]]:
        """The body rows of the first table whose header starts with ``header``."""
        for table in self.tables:
            head = [text for text, _ in table["rows"][0]]
            if head[: len(header)] == list(header):
                return table["rows"][1:]
        raise AssertionError(f"no table headed {header}")


def data_values(row: list[tuple[str, dict]]) -> list[float]:
    """The raw numbers of a row's cells (their data-value)."""
    return [float(attrs["data-value"]) for _, attrs in row if "data-value" in attrs]


def results(radius, correct, pa=None) -> CertifyResults:
    n = len(radius)
    extra = {} if pa is None else {"pA_lower": pa}
    return CertifyResults(idx=np.arange(n), label=np.zeros(n, int), predict=np.where(correct, 0, 1),
                          radius=radius, correct=correct, time=np.zeros(n), extra=extra, name="r")


@pytest.fixture(scope="module")
def plot_dir(tmp_path_factory) -> Path:
    """A real certified-accuracy plot (PNG + SVG) and a PNG without SVG."""
    folder = tmp_path_factory.mktemp("plots")
    runs = {"run a": results(np.array([0.1, 0.5, 0.9]), np.array([True, True, False])),
            "run_b": results(np.array([0.2, 0.3, 0.0]), np.array([True, False, True]))}
    plot_certified_accuracy(runs, folder / "curve")
    (folder / "raster.png").write_bytes((folder / "curve.png").read_bytes())
    return folder


def test_page_is_self_contained_and_structured(plot_dir) -> None:
    doc = Document("Title with `code` & <tags>", [
        Paragraph("first line\nsecond `x < y`"),
        Section("One", [Table(["run", "r = 0", "ACR"], [["a", 0.5, 0.25], ["b", float("nan"), 1]],
                              caption="cap", bold={(0, 1)}),
                        Section("Deeper", [BulletList(["item `i`"]), Code("a < b\n", "json")])]),
        Section("Two", [Figure("curve.png", "certified accuracy against radius", caption="Curves.")]),
    ])
    text = render_html(doc, base=plot_dir)
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>")
    assert page.all("html")[0]["lang"] == "en"
    assert any(m.get("http-equiv") == "Content-Security-Policy" and m["content"] == CONTENT_SECURITY_POLICY
               for m in page.all("meta"))
    assert any(m.get("name") == "viewport" for m in page.all("meta"))
    # Nothing is loaded from anywhere: no src/href to a network address (SVG namespaces are names, not loads).
    for _, attrs in page.tags:
        for key in ("src", "href", "xlink:href"):
            value = attrs.get(key) or ""
            assert not value.startswith(("http:", "https:", "//")), (key, value)
    assert "<link" not in text and "@import" not in text
    # Headings: one h1, sections one level deeper each; escaped text, code spans.
    assert len(page.all("h1")) == 1 and "<h1>Title with <code>code</code> &amp; &lt;tags&gt;</h1>" in text
    assert len(page.all("h2")) == 2 and len(page.all("h3")) == 1
    assert "<code>x &lt; y</code>" in text and "first line<br>second" in text
    assert '<nav aria-label="Contents">' in text
    # Tables: column headers, row headers, raw values, formatted text, bold, NaN.
    assert [a["scope"] for a in page.all("th")] == ["col"] * 3 + ["row"] * 2
    values = [a["data-value"] for a in page.all("td") if "data-value" in a]
    assert values == ["0.5", "0.25", "NaN", "1"]
    assert "<strong>0.500</strong>" in text and ">–<" in text and "<caption>cap</caption>" in text
    # The figure is the inline SVG, with its alt text as title, and a readout (the plot is marked for one).
    svg = page.all("svg")
    assert len(svg) == 1 and svg[0]["role"] == "img" and "width" not in svg[0]
    assert "certified accuracy against radius" in page.text["title"]
    assert "<figcaption>Curves.</figcaption>" in text
    assert 'data-readout="r"' in text and "<script>" in text
    assert "<?xml" not in text and "<metadata" not in text.lower()


def test_figure_ids_are_unique_and_references_follow_them(plot_dir) -> None:
    doc = Document("Two copies", [Figure("curve.png", "one"), Figure("curve.svg", "two")])
    text = render_html(doc, base=plot_dir)
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids)) > 2
    for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', text):
        assert ref in ids, ref


def test_raster_figure_is_a_data_image_and_a_missing_one_is_said(plot_dir) -> None:
    page = Page(render_html(Document("t", [Figure("raster.png", "a raster"), Figure("nope.png", "gone")]),
                            base=plot_dir))
    img = page.all("img")
    assert len(img) == 1 and img[0]["src"].startswith("data:image/png;base64,") and img[0]["alt"] == "a raster"
    assert any("nope.png" in t and "not found" in t for t in page.text["p"])
    assert "script" not in page.text  # no readout, no script


def test_an_unreadable_svg_falls_back_to_the_image(plot_dir, tmp_path) -> None:
    (tmp_path / "plot.png").write_bytes((plot_dir / "curve.png").read_bytes())
    (tmp_path / "plot.svg").write_bytes(b"\xff\xfe not an svg")
    page = Page(render_html(Document("t", [Figure("plot.png", "a plot")]), base=tmp_path))
    assert len(page.all("img")) == 1 and not page.all("svg")


def test_inline_svg_drops_scripts_and_handlers() -> None:
    svg = ('<?xml version="1.0"?><!DOCTYPE svg PUBLIC "x" "y"><svg width="100pt" height="50pt" viewBox="0 0 100 50">'
           '<script>alert(1)</script><g id="a" onclick="evil()"><use xlink:href="#a"/></g>'
           '<path clip-path="url(#a)"/></svg>')
    markup, readout = inline_svg(svg, "p-", "alt")
    assert readout is None
    assert "script" not in markup and "onclick" not in markup and "DOCTYPE" not in markup
    assert 'id="p-a"' in markup and 'xlink:href="#p-a"' in markup and "url(#p-a)" in markup
    assert 'style="max-width:167px"' in markup and "<title" in markup
    with pytest.raises(InvalidArgumentError, match="not an SVG"):
        inline_svg("<html></html>", "p-", "alt")


def test_render_html_takes_a_document_only() -> None:
    with pytest.raises(InvalidArgumentError, match="Document"):
        render_html(Paragraph("x"))


def test_write_report_writes_markdown_and_html_beside_it(plot_dir, tmp_path) -> None:
    (tmp_path / "curve.svg").write_text((plot_dir / "curve.svg").read_text())
    doc = Document("R", [Table(["a", "b"], [["x", 1.5]]), Figure("curve.png", "a curve")])
    md, page = write_report(doc, tmp_path / "report.md")
    assert md.read_text() == render_markdown(doc)
    assert page == tmp_path / "report.html" and "<svg" in page.read_text()


# --- reading a markdown report back ----------------------------------------------------------------------------

def test_parse_markdown_reads_back_what_render_markdown_wrote() -> None:
    doc = Document("T `x`", [
        Paragraph("a\nb `c`"),
        Table(["run", "r = 0"], [["a|b", 0.5], ["c", math.nan]], caption="cap", bold={(0, 1)}),
        Section("S1", [Paragraph("p"), Figure("f.png", "alt", "cap"), Figure("g.png", "alt2"),
                       BulletList(["x", "y"]), Code("a\n\n```\nb", "json"), Section("S2", [Paragraph("deep")])]),
        Section("S3", [Table(["a"], [])]),
    ])
    text = render_markdown(doc)
    back = parse_markdown(text)
    assert render_markdown(back) == text
    assert back.tables()[0].rows == (("a|b", "0.500"), ("c", "–")) and back.tables()[0].bold == {(0, 1)}
    assert [f.path for f in back.figures()] == ["f.png", "g.png"]


def test_parse_markdown_refuses_text_without_a_title() -> None:
    with pytest.raises(InvalidArgumentError, match="title"):
        parse_markdown("| a |\n|---|\n")
