"""The HTML reports in a real browser: headless Chromium (Debian's package) driven by Playwright.

A small real demo (a LeNet trained one epoch on digits, 30 test digits certified with n = 200) writes its
``report.html``; a second run at another σ and ``smoothcert report`` comparing both give the other page. Each
page must load with no console error and no request leaving the file, draw every figure with a non-zero
size, fit a phone's width, and show the certified-accuracy table with the numbers ``smoothcert analyze``
computes from the same TSVs. Screenshots are saved under pytest's temporary folder.

`make test` installs the browser (apt-get) and Playwright (the ``report`` extra); without them this test
fails, saying what is missing; it is never skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from smoothcert.cli import main
from smoothcert.workflows import DEMO_RADII, run_demo
from tests.test_report_html import Tables, data_values

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CHROMIUM = os.environ.get("SMOOTHCERT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE, DESKTOP = 390, 1280


def invoke(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: `make test` installs it (pip install -e '.[dev,report]')")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's (apt-get install chromium); "
                    "or set SMOOTHCERT_CHROMIUM to a Chromium binary")
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as err:
            pytest.fail(f"Chromium at {CHROMIUM} did not start: {err}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """The demo's report.html (a small demo) and `smoothcert report` of it and a second run at σ = 0.5."""
    root = tmp_path_factory.mktemp("reports")
    demo = root / "demo"
    for _ in range(2):  # the second call reuses the model and the finished TSV, and rewrites the report
        run_demo(demo, n=200, epochs=1, max_inputs=30, device="cpu", progress=False, compile_model=False,
                 echo=lambda _: None)
    other = root / "sigma_0.5"
    invoke("certify", "--checkpoint", demo / "model", "--sigma", 0.5, "--n0", 20, "--n", 200, "--max", 30,
           "--batch-size", 200, "--no-timing", "--quiet", "--out", other / "certify.tsv")
    invoke("report", demo, other, "--out", root / "compare.html")
    return {"demo": demo / "report.html", "compare": root / "compare.html",
            "demo_tsv": demo / "certify.tsv", "other_tsv": other / "certify.tsv"}


def analyze_numbers(*tsvs: Path) -> list[list[float]]:
    """The numbers of `smoothcert analyze`'s certified-accuracy table, one list per run (its first column, the
    run's label, left out): certified accuracy at the radii, ACR, abstain rate, N."""
    text = invoke("analyze", *tsvs, "--radii", ",".join(f"{r:g}" for r in DEMO_RADII))
    rows = [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")][1:]
    return [[float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", line.split("|", 2)[2])] for line in rows[: len(tsvs)]]


def open_page(browser, path: Path, width: int, shot: Path):
    """Open ``path`` at ``width``; return (page, problems): console errors, page errors and requests that
    leave the file. Saves a full-page screenshot to ``shot``."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(f"request {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    return page, problems


def check_page(page, problems: list[str], width: int, figures: int) -> None:
    """No console error or outside request; every figure drawn (at least ``figures`` of them), with a non-zero
    size; nothing wider than the screen; figures and header cells accessible."""
    assert problems == []
    sizes = page.eval_on_selector_all("figure", """figs => figs.map(f => {
        const e = f.querySelector('svg, img');
        if (!e) return [0, 0];
        const r = e.getBoundingClientRect();
        return [r.width, r.height]; })""")
    assert len(sizes) >= figures and all(w > 0 and h > 0 for w, h in sizes), sizes
    # Nothing wider than the screen: wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # Accessibility: every figure has a text alternative, every header cell a scope.
    assert page.eval_on_selector_all("figure svg", "els => els.every(e => e.getAttribute('role') === 'img' && "
                                                   "e.querySelector('title').textContent.trim().length > 0)")
    assert page.eval_on_selector_all("th", "els => els.every(e => e.hasAttribute('scope'))")


def assert_table_is_analyze(page, *tsvs: Path) -> None:
    """The page's certified-accuracy table shows, run by run, the numbers `smoothcert analyze` prints (radii, ACR,
    abstain rate, and N where the page has it)."""
    shown = [data_values(row) for row in Tables(page.content()).find("run", "r = 0")]
    expected = analyze_numbers(*tsvs)
    assert len(shown) == len(expected)
    for got, want in zip(shown, expected, strict=True):
        assert len(got) >= len(DEMO_RADII) + 2
        assert got == pytest.approx(want[: len(got)], abs=5e-4)  # analyze prints 3 decimals


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_demo_report_in_a_browser(browser, pages, tmp_path, width) -> None:
    page, problems = open_page(browser, pages["demo"], width, tmp_path / f"demo_{width}.png")
    check_page(page, problems, width, figures=2)  # certified accuracy, p̲_A distribution
    assert_table_is_analyze(page, pages["demo_tsv"])
    page.close()


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_comparison_report_in_a_browser(browser, pages, tmp_path, width) -> None:
    page, problems = open_page(browser, pages["compare"], width, tmp_path / f"compare_{width}.png")
    # Certified accuracy of both runs on one figure, the p̲_A distribution, the demo model's training curves and
    # the figures of the demo's own report.
    check_page(page, problems, width, figures=5)
    assert_table_is_analyze(page, pages["demo_tsv"], pages["other_tsv"])
    # The hover readout names both runs with their values under the pointer.
    figure = page.query_selector("figure[data-readout] svg")
    figure.scroll_into_view_if_needed()
    box = figure.bounding_box()
    figure.hover(position={"x": box["width"] * 0.3, "y": box["height"] * 0.5})
    readout = page.inner_text("figure[data-readout] .readout")
    assert readout.startswith("r = ") and "demo" in readout and "sigma_0.5" in readout
    page.close()


def test_rerun_demo_reports_the_speed_of_the_session_that_sampled(pages) -> None:
    """A demo rerun over a finished TSV samples nothing; its report still gives the sampling speed."""
    text = pages["demo"].with_suffix(".md").read_text()
    speed = re.search(r"([\d,]+) noisy samples/s", text)
    assert speed and int(speed.group(1).replace(",", "")) > 0, text
    assert "the model trained earlier was reused" in text
