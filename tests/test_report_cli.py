"""`smoothcert report`: one HTML page on runs, study folders and checkpoints; bad input gets one line, exit 2.

The pages are read as markup here; tests/test_report_browser.py opens them in a real browser.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smoothcert.analysis import read_results
from smoothcert.cli import main
from smoothcert.document import Document, Figure, Paragraph, Section, Table, walk
from smoothcert.errors import InvalidArgumentError
from smoothcert.models import CheckpointInfo, save_checkpoint
from smoothcert.models.zoo import build_model
from smoothcert.report.html import write_report
from smoothcert.report.plots import plot_certified_accuracy
from smoothcert.studies.report import runs_document
from smoothcert.workflows import analyze_files
from tests.test_report_html import Page, Tables, data_values

HEADER = "idx\tlabel\tpredict\tradius\tcorrect\ttime\tpA_lower\tn0\tn\tcount_top\n"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smoothcert: error: ") and fragment in lines[0], result.stderr


def write_run(folder: Path, seed: int, sigma: float, rows: int = 40) -> Path:
    """A certify TSV (known rows, drawn from ``seed``) and its manifest, as `smoothcert certify` writes them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for i in range(rows):
        label = int(rng.integers(0, 3))
        pa = float(rng.uniform(0.3, 1.0))
        predict = -1 if pa < 0.5 else (label if rng.random() < 0.8 else (label + 1) % 3)
        radius = 0.0 if predict == -1 else sigma * float(rng.uniform(0.05, 3.0))
        lines.append(f"{i}\t{label}\t{predict}\t{radius:.6f}\t{int(predict == label)}\t0.01\t{pa:.6f}\t20\t200\t150\n")
    tsv = folder / "certify.tsv"
    tsv.write_text("".join(lines))
    manifest = {"arguments": {"checkpoint": "m/model", "sigma": sigma, "n0": 20, "n": 200, "alpha": 0.001, "seed": 0},
                "environment": {"smoothcert": "0.1.0", "python": "3.11", "torch": "2.x", "platform": "Linux"},
                "written": "2026-01-01T00:00:00+00:00", "status": "complete",
                "timing": {"inputs": rows, "seconds": 1.5, "samples_per_second": 5000.0},
                "device": "cpu", "dataset": {"name": "digits", "split_note": "a split", "test_inputs": 360,
                                             "selected": rows},
                "model": {"architecture": "lenet", "dataset": "digits", "class_names": ["zero", "one", "two"],
                          "test_accuracy": 0.9, "training": {"epochs": 3, "objective": {"type": "gaussian"}}},
                "noise": {"type": "gaussian", "sigma": sigma, "norm": "l2"}}
    tsv.with_suffix(".json").write_text(json.dumps(manifest))
    return tsv


@pytest.fixture
def two_runs(tmp_path) -> tuple[Path, Path]:
    return write_run(tmp_path / "sigma_0.25", 1, 0.25).parent, write_run(tmp_path / "sigma_0.5", 2, 0.5).parent


def test_report_compares_runs_on_one_page(two_runs, tmp_path) -> None:
    out = tmp_path / "report.html"
    result = invoke("report", *two_runs, "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    page = Page(text)
    # One certified-accuracy figure with both runs, one p̲_A figure with both runs.
    figures = [t for t in text.split("<figure")[1:]]
    assert len(figures) == 2 and all("readout-line_sigma%5F0.25" in f and "readout-line_sigma%5F0.5" in f
                                     for f in figures)
    # The shared table: certified accuracy at the standard radii, ACR, abstain rate and N, as analyze has them.
    runs = {p.name: read_results(p / "certify.tsv") for p in two_runs}
    expected = analyze_files([p / "certify.tsv" for p in two_runs], [0, 0.25, 0.5, 0.75, 1.0]).tables()[0]
    tables = Tables(text)
    rows = tables.find("run", "r = 0")
    assert [r[0][0] for r in rows] == ["sigma_0.25", "sigma_0.5"]
    for row, want in zip(rows, expected.rows, strict=True):
        assert data_values(row) == pytest.approx(want[1:], rel=1e-12)
    # The p̲_A table: the fraction at least each level.
    pa_rows = tables.find("run", "p̲_A ≥ 0.5")
    for row, res in zip(pa_rows, runs.values(), strict=True):
        bound = res.extra["pA_lower"]
        assert data_values(row) == pytest.approx([np.mean(bound >= x) for x in (0.5, 0.9, 0.99, 0.999)])
    # Per run: what was certified, per-class accuracy with the model's class names.
    for name in ("sigma_0.25", "sigma_0.5"):
        assert f"Run: {name}" in page.text["h2"]
    assert "class zero" in text and "n0 (selection samples)" in text and "smoothcert 0.1.0" in text
    assert "Disparity across classes" in text
    assert "Training" not in " ".join(page.text["h2"])


def test_report_shows_study_reports_and_training(tmp_path) -> None:
    study = tmp_path / "study"
    res = read_results(write_run(tmp_path / "x", 3, 0.25))
    plot_certified_accuracy({"x": res}, study / "curve")
    write_report(Document("My study", [Paragraph("what it found"), Section("Numbers", [
        Table(["α", "value"], [["0.25", 0.125]]), Figure("curve.png", "the study's curve")])]), study / "report.md")
    history = [{"epoch": 1, "loss": 2.0, "train_accuracy": 0.4, "test_accuracy": 0.5},
               {"epoch": 2, "loss": 1.0, "train_accuracy": 0.7, "test_accuracy": 0.8}]
    objective = {"type": "gaussian", "noise": {"type": "gaussian", "sigma": 0.25}}
    info = CheckpointInfo(architecture="mlp", input_shape=[1, 8, 8], num_classes=10, dataset="digits",
                          training={"epochs": 2, "objective": objective, "history": history})
    save_checkpoint(build_model("mlp", [1, 8, 8], 10, [0.0], [1.0]), study / "model", info)
    out = tmp_path / "page.html"
    assert invoke("report", study, "--out", out).exit_code == 0
    text = out.read_text()
    h2 = Page(text).text["h2"]
    assert "Report in study: My study" in h2 and "Training: study/model" in h2
    assert "what it found" in text and "the study&#x27;s curve" in text and "0.125" in text
    assert text.count("<svg") == 2  # the study's figure (from its own folder) and the training curves
    assert "gaussian (noise gaussian, sigma = 0.25)" in text


def test_report_labels_many_runs_apart_and_fits_their_legend(tmp_path) -> None:
    """Sweeps of the same file names in several seeds' folders: each curve is labelled by the folders that tell it
    apart (not one ambiguous ``sweep/tau_…`` per seed), and 24 curves lay out without collapsing the axes."""
    import warnings

    import matplotlib.image

    sweeps = []
    for seed in range(3):
        for model in ("noise", "standard"):
            sweep = tmp_path / f"seed_{seed}" / model / "sweep"
            for k, tau in enumerate((0.1, 0.2, 0.3, 0.4)):
                tsv = write_run(sweep, 10 * seed + k, 0.25)
                tsv.rename(sweep / f"tau_{tau}.tsv")
                tsv.with_suffix(".json").rename(sweep / f"tau_{tau}.json")
            sweeps.append(sweep)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when constrained layout collapses the axes
        document = runs_document(sweeps, tmp_path / "figures")
    figure = next(b for b in walk(document) if isinstance(b, Figure) and str(b.path) == "certified_accuracy.png")
    labels = figure.alt.split(": ", 1)[1].split(", ")
    assert len(labels) == len(set(labels)) == 24
    assert "seed_0/noise/tau_0.1" in labels and "seed_2/standard/tau_0.4" in labels
    height = matplotlib.image.imread(tmp_path / "figures" / "certified_accuracy.png").shape[0]
    assert height > 4.0 * 150  # grown below the axes for the legend's rows (6 × 4 in at 150 dpi otherwise)


def test_labels_name_what_differs_between_the_runs(tmp_path) -> None:
    from smoothcert.studies.report import _labels

    paths = [tmp_path / "a" / "x" / "certify.tsv", tmp_path / "b" / "x" / "certify.tsv", tmp_path / "c" / "certify.tsv",
             tmp_path / "d" / "sweep" / "tau_1.tsv", tmp_path / "d" / "sweep" / "tau_2.tsv"]
    single = {p: "sweep" not in p.parts for p in paths}
    assert _labels(paths, single) == ["a/x", "b/x", "c", "d/sweep/tau_1", "d/sweep/tau_2"]
    # Same depth everywhere: a folder all of them share at one place is dropped too.
    sweeps = [tmp_path / f"seed_{s}" / m / "sweep" / f"tau_{t}.tsv" for s in (0, 1) for m in ("noise", "std")
              for t in (s + 0.1, s + 0.2)]
    labels = _labels(sweeps, dict.fromkeys(sweeps, False))
    assert labels[0] == "seed_0/noise/tau_0.1" and labels[-1] == "seed_1/std/tau_1.2" and len(set(labels)) == 8
    one = tmp_path / "sigma_0.25" / "certify.tsv"
    assert _labels([one], {one: True}) == ["sigma_0.25"]


def test_report_refuses_to_replace_a_file_without_overwrite(two_runs, tmp_path) -> None:
    out = tmp_path / "report.html"
    out.write_text("mine")
    assert_one_line_error(invoke("report", two_runs[0], "--out", out), "--overwrite")
    assert out.read_text() == "mine"
    assert invoke("report", two_runs[0], "--out", out, "--overwrite").exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(("args", "fragment"), [
    ([], "at least one"),
    (["{tmp}/absent"], "no such run folder"),
    (["{tmp}/empty"], "holds no certification results"),
    (["{tmp}/predict.tsv"], "not a certification results TSV"),
    (["{tmp}/broken"], "broken/certify.tsv"),
    (["{run}", "--radii", "a,b"], "--radii"),
    (["{run}", "--radii", "-1"], "radii"),
])
def test_report_bad_input(two_runs, tmp_path, args, fragment) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "predict.tsv").write_text("idx\tlabel\tpredict\tcorrect\ttime\n0\t1\t1\t1\t0\n")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "certify.tsv").write_text(HEADER + "0\t1\t1\tnot-a-number\t1\t0\t0.9\t20\t200\t150\n")
    out = tmp_path / "out.html"
    filled = [a.format(tmp=tmp_path, run=two_runs[0]) for a in args]
    assert_one_line_error(invoke("report", *filled, "--out", out), fragment)
    assert not out.exists()


@pytest.mark.parametrize(("out", "fragment"), [("report.txt", ".html"), ("missing/report.html", "no such folder")])
def test_report_bad_out(two_runs, tmp_path, out, fragment) -> None:
    assert_one_line_error(invoke("report", two_runs[0], "--out", tmp_path / out), fragment)


def test_report_api_raises_typed_errors(tmp_path) -> None:
    with pytest.raises(InvalidArgumentError, match="at least one"):
        runs_document([], tmp_path)


def test_forty_curves_have_forty_styles() -> None:
    from smoothcert.report.plots import curve_style

    assert len({tuple(curve_style(i).values()) for i in range(40)}) == 40
