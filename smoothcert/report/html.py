"""HTML rendering of a :class:`~smoothcert.document.Document`: one self-contained page.

The page needs nothing but itself: CSS and a small script are inline, every figure is embedded (the SVG
written beside a figure's PNG is inlined as markup; a figure without an SVG is embedded as a ``data:`` image),
and a Content-Security-Policy forbids the page any network access. It opens from disk in any browser.

Layout: the document title is the one ``<h1>``; each section is a ``<section>`` with a heading one level
deeper than its parent's (``<h2>`` … ``<h6>``, deeper ones stay ``<h6>``); top-level sections are listed in a
table of contents when there are two or more. Tables have ``<th scope="col">`` column headers and their first
column as ``<th scope="row">`` row headers; numeric cells are right-aligned, formatted exactly as in markdown
(:func:`smoothcert.report.tables.format_cell`) and carry their raw value in ``data-value`` (so a reader or a
test can take the numbers without parsing text). Figures are ``<figure>`` elements: an inline SVG has
``role="img"`` and the figure's alt text as its ``<title>``, an image its ``alt``; a caption becomes the
``<figcaption>``. Inline text is escaped; its one convention, ```code``` spans, becomes ``<code>``; a newline
inside a paragraph is a line break.

Hover readout: a plot marked by :func:`smoothcert.report.plots.mark_readout` (its axes' data limits and its
curves' labels, recorded as SVG ids) shows, under the pointer, the x value and every curve's y value there.
"""

from __future__ import annotations

import base64
import html
import math
import mimetypes
import re
from collections.abc import Callable
from numbers import Real
from pathlib import Path
from urllib.parse import unquote

from smoothcert.document import BulletList, Code, Document, Figure, Paragraph, Section, Table
from smoothcert.errors import InvalidArgumentError
from smoothcert.report.markdown import write_markdown
from smoothcert.report.tables import format_cell

Node = Document | Section | Paragraph | Table | Figure | BulletList | Code

#: What the page may load: nothing from any network; only its own inline style and script and data: images.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                           "script-src 'unsafe-inline'")

STYLE = """
:root{--fg:#1d1d1f;--muted:#555;--line:#d4d4d8;--head:#f4f4f5;--accent:#0b57a4}
*{box-sizing:border-box}
body{margin:0 auto;max-width:72rem;padding:1rem 1.25rem 3rem;color:var(--fg);background:#fff;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
h1{font-size:1.75rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.4rem;margin:2.25rem 0 .75rem;padding-top:.5rem;border-top:1px solid var(--line)}
h3{font-size:1.15rem;margin:1.75rem 0 .5rem}
h4,h5,h6{font-size:1rem;margin:1.25rem 0 .5rem}
p,ul{max-width:48rem}
a{color:var(--accent)}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--head);padding:0 .2em;
border-radius:3px}
pre{overflow-x:auto;background:var(--head);padding:.75rem;border-radius:4px}
pre code{background:none;padding:0}
nav ul{padding-left:1.25rem}
.table-wrap{overflow-x:auto;max-width:100%;margin:1rem 0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.95rem}
caption{caption-side:top;text-align:left;color:var(--muted);padding-bottom:.35rem}
th,td{padding:.3rem .65rem;border-bottom:1px solid var(--line);vertical-align:top}
thead th{background:var(--head);border-bottom:2px solid #a1a1aa;text-align:left;white-space:nowrap}
tbody th{text-align:left;font-weight:600}
.num{text-align:right;white-space:nowrap}
figure{margin:1.25rem 0}
figure svg,figure img{display:block;width:100%;height:auto}
figcaption{color:var(--muted);font-size:.95rem;margin-top:.35rem;max-width:48rem}
svg.plot *{stroke-linejoin:round;stroke-linecap:butt}
.readout{min-height:1.5em;margin:.25rem 0 0;font-size:.9rem;font-variant-numeric:tabular-nums;color:var(--muted)}
.missing{color:#a11;font-style:italic}
@media (max-width:640px){body{padding:.75rem .7rem 2rem;font-size:15px}h1{font-size:1.4rem}
h2{font-size:1.2rem}th,td{padding:.25rem .45rem}}
"""

#: The hover readout: for every SVG holding a frame marked ``readout-frame_X0_X1_Y0_Y1_NAME`` and curves marked
#: ``readout-line_LABEL`` (see :func:`smoothcert.report.plots.mark_readout`), show x and each curve's y under the
#: pointer. Numbers are read from the curves' own paths, so the readout is what the figure draws.
SCRIPT = r"""
(function () {
  "use strict";
  function points(d) {
    var nums = (d.match(/-?\d*\.?\d+(?:e[-+]?\d+)?/gi) || []).map(Number), pts = [];
    for (var i = 0; i + 1 < nums.length; i += 2) pts.push([nums[i], nums[i + 1]]);
    return pts;
  }
  function yAt(pts, x) {
    for (var i = 0; i + 1 < pts.length; i++) {
      var a = pts[i], b = pts[i + 1];
      if (b[0] === a[0]) continue;
      var lo = Math.min(a[0], b[0]), hi = Math.max(a[0], b[0]);
      if (x >= lo && x <= hi) return a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0]);
    }
    return null;
  }
  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3); }
  document.querySelectorAll("figure[data-readout]").forEach(function (fig) {
    var svg = fig.querySelector("svg"), out = fig.querySelector(".readout");
    var frame = svg && svg.querySelector("[id*='readout-frame_']");
    if (!frame || !out) return;
    var lim = frame.id.slice(frame.id.indexOf("readout-frame_") + 14).split("_").map(Number);
    var box = (frame.querySelector("path") || frame).getBBox();
    var curves = [];
    svg.querySelectorAll("[id*='readout-line_']").forEach(function (g) {
      var path = g.querySelector("path");
      if (!path) return;
      curves.push({label: decodeURIComponent(g.id.slice(g.id.indexOf("readout-line_") + 13)),
                   pts: points(path.getAttribute("d") || "")});
    });
    var guide = document.createElementNS("http://www.w3.org/2000/svg", "line");
    guide.setAttribute("y1", box.y); guide.setAttribute("y2", box.y + box.height);
    guide.setAttribute("stroke", "#555"); guide.setAttribute("stroke-dasharray", "3 3");
    guide.setAttribute("pointer-events", "none"); guide.style.display = "none";
    svg.appendChild(guide);
    var xname = fig.getAttribute("data-readout") || "x";
    svg.addEventListener("pointermove", function (e) {
      var ctm = svg.getScreenCTM();
      if (!ctm) return;
      var p = new DOMPoint(e.clientX, e.clientY).matrixTransform(ctm.inverse());
      if (p.x < box.x || p.x > box.x + box.width) { guide.style.display = "none"; return; }
      guide.setAttribute("x1", p.x); guide.setAttribute("x2", p.x); guide.style.display = "";
      var x = lim[0] + (p.x - box.x) / box.width * (lim[1] - lim[0]);
      var parts = curves.map(function (c) {
        var py = yAt(c.pts, p.x);
        if (py === null) return null;
        return c.label + " " + fmt(lim[2] + (box.y + box.height - py) / box.height * (lim[3] - lim[2]));
      }).filter(function (s) { return s !== null; });
      out.textContent = xname + " = " + fmt(x) + (parts.length ? ": " + parts.join(" · ") : "");
    });
    svg.addEventListener("pointerleave", function () { guide.style.display = "none"; });
  });
})();
"""

_CODE_SPAN = re.compile(r"`([^`]+)`")
_SLUG = re.compile(r"[^a-z0-9]+")
_NUMBER = re.compile(r"^[-+−]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?%?$", re.IGNORECASE)


def render_html(doc: Document, *, base: str | Path = ".", figure: Callable[[Figure], Path] | None = None) -> str:
    """The page of ``doc``: one self-contained HTML5 document (see the module docstring).

    Args:
        doc: the document.
        base: the folder the figures' relative paths start from (the report's own folder).
        figure: where a figure's file is, if not ``base / figure.path``.
    """
    if not isinstance(doc, Document):
        raise InvalidArgumentError(f"render_html takes a Document, got {type(doc).__name__}")
    renderer = _Renderer(Path(base), figure)
    body = renderer.blocks(doc.blocks, depth=2)
    toc = ""
    sections = [b for b in doc.blocks if isinstance(b, Section)]
    if len(sections) >= 2:
        items = "".join(f'<li><a href="#{renderer.anchors[id(s)]}">{_inline(s.title)}</a></li>' for s in sections)
        toc = f'<nav aria-label="Contents"><ul>{items}</ul></nav>\n'
    script = f"<script>{SCRIPT}</script>\n" if renderer.readouts else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n"
            f"<title>{html.escape(_one_line(doc.title))}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<main>\n<h1>{_inline(_one_line(doc.title))}</h1>\n{toc}{body}</main>\n{script}</body>\n</html>\n")


def write_html(doc: Document, path: str | Path, *, base: str | Path | None = None) -> Path:
    """Render ``doc`` into ``path`` (UTF-8; parent folders are created); returns the path. Figures are found
    relative to ``base``, by default ``path``'s folder."""
    path = Path(path)
    text = render_html(doc, base=path.parent if base is None else base)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_report(doc: Document, path: str | Path) -> tuple[Path, Path]:
    """Write ``doc`` as markdown at ``path`` (e.g. ``report.md``) and as HTML beside it, with the same name and
    ``.html`` (``report.html``); figures are relative to that folder. Returns (markdown, html)."""
    path = Path(path)
    return write_markdown(doc, path), write_html(doc, path.with_suffix(".html"))


# --- blocks -----------------------------------------------------------------------------------------------

class _Renderer:
    def __init__(self, base: Path, figure: Callable[[Figure], Path] | None) -> None:
        self.base = base
        self.locate = figure or (lambda f: base / f.path)
        self.anchors: dict[int, str] = {}
        self.used: set[str] = set()
        self.figures = 0
        self.readouts = 0

    def blocks(self, blocks, depth: int) -> str:
        return "".join(self.block(b, depth) for b in blocks)

    def block(self, node, depth: int) -> str:
        if isinstance(node, Section):
            anchor = self.anchor(node.title)
            self.anchors[id(node)] = anchor
            level = min(depth, 6)
            return (f'<section aria-labelledby="{anchor}">\n<h{level} id="{anchor}">{_inline(_one_line(node.title))}'
                    f"</h{level}>\n{self.blocks(node.blocks, depth + 1)}</section>\n")
        if isinstance(node, Paragraph):
            text = node.text.strip("\n")
            return f"<p>{'<br>'.join(_inline(line) for line in text.split(chr(10)))}</p>\n" if text.strip() else ""
        if isinstance(node, Table):
            return _table(node)
        if isinstance(node, Figure):
            return self.figure(node)
        if isinstance(node, BulletList):
            items = "".join(f"<li>{_inline(_one_line(item))}</li>" for item in node.items)
            return f"<ul>{items}</ul>\n" if node.items else ""
        if isinstance(node, Code):
            language = f' class="language-{html.escape(node.language)}"' if node.language else ""
            return f"<pre><code{language}>{html.escape(node.text.rstrip(chr(10)))}</code></pre>\n"
        raise InvalidArgumentError(f"cannot render {type(node).__name__} as HTML")

    def anchor(self, title: str) -> str:
        stem = _SLUG.sub("-", title.lower()).strip("-")[:60] or "section"
        anchor, k = stem, 2
        while anchor in self.used:
            anchor, k = f"{stem}-{k}", k + 1
        self.used.add(anchor)
        return anchor

    def figure(self, fig: Figure) -> str:
        self.figures += 1
        prefix = f"fig{self.figures}-"
        path = Path(self.locate(fig))
        svg = path if path.suffix.lower() == ".svg" else path.with_suffix(".svg")
        caption = f"<figcaption>{_inline(_one_line(fig.caption))}</figcaption>" if fig.caption else ""
        alt = _one_line(fig.alt)
        markup = readout = None
        if svg.is_file():
            try:
                markup, readout = inline_svg(svg.read_text(encoding="utf-8"), prefix, alt)
            except (OSError, UnicodeDecodeError, InvalidArgumentError):
                markup = None  # an unreadable SVG: the image itself, below
        if markup is not None and readout:
            self.readouts += 1
            return (f'<figure data-readout="{html.escape(readout)}">\n{markup}\n'
                    f'<p class="readout" aria-hidden="true"></p>{caption}</figure>\n')
        if markup is not None:
            return f"<figure>\n{markup}\n{caption}</figure>\n"
        if path.is_file() and path.suffix.lower() != ".svg":
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return (f'<figure>\n<img src="data:{kind};base64,{data}" alt="{html.escape(alt)}">\n'
                    f"{caption}</figure>\n")
        return (f'<figure>\n<p class="missing" role="img" aria-label="{html.escape(alt)}">Figure file '
                f"{html.escape(str(fig.path))} not found ({html.escape(alt)}).</p>\n{caption}</figure>\n")


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _looks_numeric(value: object) -> bool:
    """A number, or text showing one (a table read back from markdown), or empty."""
    if value is None or _is_number(value):
        return True
    text = str(value).strip().strip("*")
    return not text or text == "–" or bool(_NUMBER.match(text))


def _table(table: Table) -> str:
    head = "".join(f'<th scope="col">{_inline(h)}</th>' for h in table.header)
    # Text cells are right-aligned as numbers only where their whole column shows numbers.
    numeric = [all(_looks_numeric(v) for v in table.column(j)) for j in range(len(table.header))]
    rows = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, value in enumerate(row):
            text = html.escape(format_cell(value, table.decimals))
            if (i, j) in table.bold:
                text = f"<strong>{text}</strong>"
            attrs = ' class="num"' if numeric[j] else ""
            if _is_number(value):
                attrs += f' data-value="{_raw_number(value)}"'
            tag = "th" if j == 0 and len(row) > 1 else "td"
            scope = ' scope="row"' if tag == "th" else ""
            cells.append(f"<{tag}{scope}{attrs}>{text}</{tag}>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{_inline(_one_line(table.caption))}</caption>" if table.caption else ""
    return (f'<div class="table-wrap"><table>{caption}\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody></table></div>\n")


def _raw_number(value: Real) -> str:
    """A number at full precision for ``data-value`` (integers as integers, NaN as "NaN")."""
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")


# --- SVG ----------------------------------------------------------------------------------------------------

_XML_DECL = re.compile(r"<\?xml.*?\?>", re.DOTALL)
_DOCTYPE = re.compile(r"<!DOCTYPE[^>\[]*(\[.*?\])?\s*>", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_DROP = re.compile(r"<(metadata|script|style)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_EVENT = re.compile(r"\s+on[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*')", re.IGNORECASE)
_ID = re.compile(r"\bid=\"([^\"]+)\"")
_HREF = re.compile(r"((?:xlink:)?href)=\"#([^\"]+)\"")
_URL = re.compile(r"url\(#([^)]+)\)")
_ROOT = re.compile(r"<svg\b[^>]*>", re.DOTALL)
_SIZE = re.compile(r"\s(width|height)=\"([\d.]+)(pt|px)?\"")
_READOUT_FRAME = re.compile(r"readout-frame_([^\"]*)\"")


def inline_svg(text: str, prefix: str, alt: str) -> tuple[str, str | None]:
    """An SVG file's markup made fit to sit inside an HTML page: prolog, metadata, scripts, event attributes
    and style sheets dropped (the page's CSS covers matplotlib's one rule), every id and reference to it
    prefixed with ``prefix`` (so figures never share an id), the fixed size replaced by a responsive one (its
    natural width is the most it takes), ``role="img"`` with ``alt`` as its ``<title>``.

    Returns (markup, the readout's x name, or None when the plot has no readout frame).
    """
    root = _ROOT.search(text)
    if root is None:
        raise InvalidArgumentError("not an SVG image (no <svg> element)")
    text = text[root.start():]
    for pattern in (_COMMENT, _DROP):
        text = pattern.sub("", text)
    text = _EVENT.sub("", text)
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = _HREF.sub(lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"', text)
    text = _URL.sub(lambda m: f"url(#{prefix}{m.group(1)})", text)
    root = _ROOT.search(text)
    opening = root.group(0)
    sizes = {m.group(1): (float(m.group(2)), m.group(3) or "px") for m in _SIZE.finditer(opening)}
    opening = _SIZE.sub("", opening)
    style = ""
    if "width" in sizes:
        width, unit = sizes["width"]
        px = width * (4 / 3 if unit == "pt" else 1)
        style = f' style="max-width:{px * 1.25:.0f}px"'
    title_id = f"{prefix}title"
    opening = (opening[:-1].rstrip("/").rstrip() + f' class="plot" role="img" aria-labelledby="{title_id}"{style}>'
               f'<title id="{title_id}">{html.escape(alt)}</title>')
    text = text[: root.start()] + opening + text[root.end():]
    readout = None
    frame = _READOUT_FRAME.search(text)
    if frame:  # readout-frame_X0_X1_Y0_Y1_NAME (see smoothcert.report.plots.mark_readout)
        parts = frame.group(1).split("_")
        readout = unquote(parts[4]) if len(parts) > 4 and parts[4] else "x"
    return text.strip(), readout


# --- inline text --------------------------------------------------------------------------------------------

def _inline(text: str) -> str:
    """Escaped text with ```code``` spans as ``<code>``."""
    pieces, last = [], 0
    for m in _CODE_SPAN.finditer(text):
        pieces += [html.escape(text[last:m.start()]), f"<code>{html.escape(m.group(1))}</code>"]
        last = m.end()
    pieces.append(html.escape(text[last:]))
    return "".join(pieces)


def _one_line(text: str) -> str:
    return " ".join(text.split("\n"))
