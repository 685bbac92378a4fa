"""``smoothcert tradeoff disks`` and ``smoothcert tradeoff grid``: outputs, resume, one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import main

pytestmark = pytest.mark.usefixtures("torch_single_thread")

GRID = ["tradeoff", "grid", "--dataset", "digits", "--train-noise-alphas", "0,0.3", "--betas", "0,0.3",
        "--clean-epochs", "2",
        "--epochs", "1", "--copies", "2", "--votes", "20", "--risk-max", "30", "--n0", "10", "--n", "30",
        "--cert-max", "6", "--radii", "0,0.1", "--no-compile", "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smoothcert: error: ") and fragment in lines[0], result.stderr


def test_disks_writes_tables_plot_and_manifest(tmp_path):
    out = tmp_path / "disks"
    result = ok(invoke("tradeoff", "disks", "--out", out, "--size", 40, "--radius", 4, "--zetas", "0,2",
                       "--train-noise-alphas", "0:6:2", "--betas", "3,5", "--draws", 2, "--tries", 500, "--quiet"))
    assert "α*, gain ± SE" in result.output
    manifest = json.loads((out / "disks.json").read_text())
    assert manifest["arguments"]["alphas"] == [0.0, 2.0, 4.0, 6.0] and manifest["status"] == "complete"
    assert len(manifest["results"]["alpha_star"]) == 2
    rows = (out / "gains.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["zeta", "beta", "alpha", "gain", "se"] and len(rows) == 1 + 2 * 2 * 4
    assert (out / "gains.png").is_file() and (out / "gains.svg").is_file()


@pytest.mark.parametrize(("args", "fragment"), [
    (["--train-noise-alphas", "0:x"], "--train-noise-alphas"), (["--zetas", "-1"], "zetas"),
    (["--draws", "0"], "draws"),
    (["--size", "5", "--radius", "10"], "does not fit"), (["--size", "19", "--radius", "10"], "does not fit")])
def test_disks_bad_arguments_give_one_line(tmp_path, args, fragment):
    one_line_error(invoke("tradeoff", "disks", "--out", tmp_path / "d", "--quiet", *args), fragment)
    assert not (tmp_path / "d").exists()


def test_disks_refuses_to_overwrite_an_earlier_run_without_overwrite(tmp_path):
    out = tmp_path / "disks"
    small = ["tradeoff", "disks", "--out", out, "--size", 20, "--radius", 3, "--zetas", "0",
             "--train-noise-alphas", "0,2", "--betas", "2", "--draws", 1, "--tries", 100, "--quiet"]
    ok(invoke(*small))
    before = (out / "disks.json").read_text()
    one_line_error(invoke(*small, "--seed", 1), "--overwrite")
    assert (out / "disks.json").read_text() == before  # nothing was replaced
    ok(invoke(*small, "--seed", 1, "--overwrite"))
    assert json.loads((out / "disks.json").read_text())["arguments"]["seed"] == 1
    assert (out / "report.md").read_text().startswith("# Synthetic disks")


def test_grid_runs_refuses_to_overwrite_and_resumes(tmp_path):
    out = tmp_path / "grid"
    result = ok(invoke(*GRID, "--out", out))
    assert "cells: 4 of 4" in result.output
    assert (out / "risk.tsv").is_file() and (out / "alpha_star.md").is_file()
    one_line_error(invoke(*GRID, "--out", out), "--resume")
    one_line_error(invoke(*GRID, "--out", out, "--resume", "--votes", "25"), "other settings")
    result = ok(invoke(*GRID, "--out", out, "--resume", "--betas", "0,0.3,0.5"))
    assert "cells: 6 of 6" in result.output
    manifest = json.loads((out / "grid.json").read_text())
    assert manifest["runs"][-1]["timing"]["cells_evaluated"] == 2 and manifest["status"] == "complete"


@pytest.mark.parametrize(("args", "fragment"), [
    (["--train-noise-alphas", "0.1,0.2"], "include 0"), (["--workers", "0"], "workers"),
    (["--threads", "0"], "threads"),
    (["--dataset", "nope"], "nope")])
def test_grid_bad_arguments_give_one_line(tmp_path, args, fragment):
    one_line_error(invoke(*GRID, "--out", tmp_path / "g", *args), fragment)
    assert not (tmp_path / "g").exists()
