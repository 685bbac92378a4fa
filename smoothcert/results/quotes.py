"""The numbers ``docs/`` quotes from recipes: found, regenerated, and checked against the runs that made them.

A doc quotes a recipe's output between two HTML comments, which markdown renders as nothing::

    <!-- results: audit-digits/seeds -->
    | family | σ | ... |
    <!-- /results -->

or inline, for one number: ``disparity <!-- results: audit-digits/spread_noise_1 -->0.257<!-- /results -->``.
``regenerate_docs`` replaces each quote with the output's current text and records, in ``docs/results.json``,
each quote's sha256 and the run folders (with their manifests' sha256) it came from. ``check_docs`` finds a quote
that names no recipe output, one edited by hand since it was regenerated, and, given the outputs, every number
that differs from the run's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ResultsError
from .recipe import Recipe
from .runner import read_outputs

QUOTE = re.compile(r"<!-- results: (?P<id>[\w.-]+/[\w.-]+) -->(?P<body>.*?)<!-- /results -->", re.S)
# A number as written in the docs: 0.257, −0.019, 1,281, 96.7%, 1e-3; the thousands comma and the sign normalized.
NUMBER = re.compile(r"(?<![\w.])[-−]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
MANIFEST = "results.json"
MANIFEST_FORMAT = "smoothcert-doc-results"


@dataclass(frozen=True)
class Quote:
    """One quote: the doc (relative to the docs folder), its 1-based line, ``RECIPE/OUTPUT`` and its body."""

    doc: str
    line: int
    id: str
    body: str

    @property
    def recipe(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def output(self) -> str:
        return self.id.split("/", 1)[1]

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def numbers(text: str) -> list[str]:
    """The numbers of ``text`` in order, as written, with thousands commas dropped and '−' read as '-'."""
    return [m.group().replace(",", "").replace("−", "-") for m in NUMBER.finditer(text)]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _quotes_in(text: str) -> list[re.Match]:
    """The quotes of a page, leaving out those shown as code (in ``` fences or `inline code`): examples."""
    masked = CODE.sub(lambda m: " " * len(m.group()), text)
    return [m for m in QUOTE.finditer(text) if masked[m.start()] != " "]


def find_quotes(docs: str | Path) -> list[Quote]:
    """Every quote in docs/**/*.md, in file and line order (examples shown as code are not quotes)."""
    docs = Path(docs)
    quotes = []
    for path in sorted(docs.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for m in _quotes_in(text):
            quotes.append(Quote(str(path.relative_to(docs)), text.count("\n", 0, m.start()) + 1, m.group("id"),
                                m.group("body")))
    return quotes


def render(text: str) -> str:
    """The body a quote gets: a block (own lines) for multi-line output, the bare text for a single value."""
    return "\n" + text.strip("\n") + "\n" if "\n" in text.strip("\n") else text.strip()


def _known(quote: Quote, recipes: Mapping[str, Recipe]) -> str | None:
    recipe = recipes.get(quote.recipe)
    if recipe is None:
        return f"{quote.where}: {quote.id} names no recipe (known: {', '.join(sorted(recipes))})"
    if quote.output not in recipe.outputs:
        return f"{quote.where}: recipe {quote.recipe!r} has no output {quote.output!r}"
    return None


def _made(record: dict | None, output: str) -> dict | None:
    """The output as a recipe's outputs.json records it, or None before it is made (no run yet, or a run of some
    steps that left its runs unfinished)."""
    return None if record is None else record["outputs"].get(output)


def regenerate_docs(docs: str | Path, out: str | Path, recipes: Mapping[str, Recipe], *,
                    allow_small: bool = False) -> tuple[list[Quote], list[Quote]]:
    """Rewrite every quote whose recipe has outputs in OUT, and docs/results.json; (updated, pending) quotes.

    Raises:
        ResultsError: a quote names no recipe output, or OUT holds small-scale outputs (``allow_small`` is for
            tests on a copy of the docs: small runs must never reach the published docs).
    """
    docs = Path(docs)
    quotes = find_quotes(docs)
    if not quotes:  # nothing to regenerate: write no record into a folder that quotes nothing
        raise ResultsError(f"{docs} quotes no recipe output (<!-- results: RECIPE/OUTPUT --> … <!-- /results -->)")
    problems = [p for q in quotes if (p := _known(q, recipes))]
    if problems:
        raise ResultsError("; ".join(problems))
    records = {q.recipe: read_outputs(out, recipes[q.recipe]) for q in quotes}
    for q in quotes:
        record = records[q.recipe]
        if record is not None and q.output not in record["outputs"] and q.output not in record.get("missing", ()):
            raise ResultsError(f"{q.where}: {Path(out) / q.recipe}/outputs.json has no {q.output!r} (written by an "
                               f"older smoothcert): smoothcert results run {q.recipe} rewrites it")
    for name, record in records.items():
        if record is not None and record["scale"] != "full" and not allow_small:
            raise ResultsError(f"{Path(out) / name}/outputs.json is a {record['scale']} run: the docs quote "
                               "full runs only (smoothcert results run without --scale small)")
    old = _read_manifest(docs)
    entries, updated, pending = [], [], []
    for path in sorted({q.doc for q in quotes}):
        text = (docs / path).read_text(encoding="utf-8")

        def replace(m: re.Match, path: str = path) -> str:
            quote_id = m.group("id")
            output = _made(records[quote_id.split("/", 1)[0]], quote_id.split("/", 1)[1])
            if output is None:
                return m.group()
            return f"<!-- results: {quote_id} -->{render(output['text'])}<!-- /results -->"

        new, end = [], 0
        for m in _quotes_in(text):
            new += [text[end:m.start()], replace(m)]
            end = m.end()
        new = "".join([*new, text[end:]])
        if new != text:
            (docs / path).write_text(new, encoding="utf-8")
    for q in quotes:
        output = _made(records[q.recipe], q.output)
        for f in [] if output is None else output.get("files", []):
            dest = docs / f["to"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f["from"], dest)
    for q in find_quotes(docs):
        record, output = records[q.recipe], _made(records[q.recipe], q.output)
        if output is None:
            pending.append(q)
            entries.extend(e for e in old if e["doc"] == q.doc and e["id"] == q.id and e["sha256"] == sha256(q.body))
            continue
        updated.append(q)
        entries.append({"doc": q.doc, "id": q.id, "sha256": sha256(q.body), "scale": record["scale"],
                        "written": record["written"], "cpu": record["cpu"], "commands": record["commands"],
                        "sources": output["sources"], "files": [{"to": f["to"], "sha256": f["sha256"]}
                                                                 for f in output.get("files", [])]})
    manifest = {"format": MANIFEST_FORMAT, "version": 1,
                "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "quotes": _unique(entries)}
    (docs / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return updated, pending


def _unique(entries: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for e in entries:
        key = (e["doc"], e["id"], e["sha256"])
        if key not in seen:
            seen.add(key)
            kept.append(e)
    return kept


def _read_manifest(docs: Path) -> list[dict]:
    path = docs / MANIFEST
    if not path.is_file():
        return []
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("format") != MANIFEST_FORMAT:
        raise ResultsError(f"{path} is not smoothcert's record of quoted results")
    return record["quotes"]


def check_docs(docs: str | Path, recipes: Mapping[str, Recipe], out: str | Path | None = None) -> list[str]:
    """Problems with the docs' quotes, one line each (none: every quoted number is traced to its run).

    Without ``out``: each quote names a recipe output and is, byte for byte, what ``regenerate_docs`` wrote
    (docs/results.json). With ``out``: also, for each recipe that has outputs there, every number of the quote
    equals the output's, in order.
    """
    docs = Path(docs)
    quotes = find_quotes(docs)
    entries = {(e["doc"], e["id"], e["sha256"]): e for e in _read_manifest(docs)}
    problems = []
    for q in quotes:
        if (p := _known(q, recipes)) is not None:
            problems.append(p)
            continue
        entry = entries.get((q.doc, q.id, sha256(q.body)))
        if entry is None:
            problems.append(f"{q.where}: the quote of {q.id} is not the one regenerated from its runs "
                            f"(edited by hand, or never regenerated: smoothcert results docs)")
        for f in [] if entry is None else entry.get("files", []):
            dest = docs / f["to"]
            if not dest.is_file() or hashlib.sha256(dest.read_bytes()).hexdigest() != f["sha256"]:
                problems.append(f"{q.where}: {f['to']} is not the figure {q.id} made (smoothcert results docs)")
        output = _made(read_outputs(out, recipes[q.recipe]), q.output) if out is not None else None
        if output is not None:
            quoted, made = numbers(q.body), numbers(output["text"])
            if quoted != made:
                diff = next(((a, b) for a, b in zip(quoted, made, strict=False) if a != b),
                            (f"{len(quoted)} numbers", f"{len(made)}"))
                problems.append(f"{q.where}: {q.id} quotes {diff[0]} where its run gives {diff[1]}")
    return problems
