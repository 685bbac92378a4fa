"""Result files and manifests: flushed rows, refusal to clobber, resume from the file itself, run manifests."""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from pathlib import Path

import numpy
import pytest
import scipy
import torch
from torch import nn

import smoothcert
from smoothcert.errors import ResultsError
from smoothcert.pipeline import certify_dataset
from smoothcert.runs import (
    CERTIFY_COLUMNS,
    ResultWriter,
    Run,
    RunOptions,
    check_resumable,
    environment,
    format_value,
    manifest_path,
    write_manifest,
)
from smoothcert.smooth import Smooth

pytestmark = pytest.mark.usefixtures("torch_single_thread")

COLUMNS = ("idx", "label", "value")
HEADER = "idx\tlabel\tvalue\n"


def row(i: int, value: float = 0.5) -> dict:
    return {"idx": i, "label": i % 3, "value": value}


def write_rows(path: Path, ids, **kwargs) -> ResultWriter:
    with ResultWriter(path, COLUMNS, **kwargs) as writer:
        for i in ids:
            writer.write(row(i))
    return writer


# --- ResultWriter -----------------------------------------------------------------------------------------

def test_header_is_on_disk_before_any_row(tmp_path):
    path = tmp_path / "sub" / "dir" / "r.tsv"
    with ResultWriter(path, COLUMNS) as writer:
        assert path.read_text() == HEADER
        assert writer.done == set()


def test_rows_are_readable_while_the_writer_is_open(tmp_path):
    path = tmp_path / "r.tsv"
    with ResultWriter(path, COLUMNS) as writer:
        writer.write(row(0, 0.25))
        assert path.read_text() == HEADER + "0\t0\t0.25\n"
        writer.write(row(1, 1.0))
        assert path.read_text().splitlines() == ["idx\tlabel\tvalue", "0\t0\t0.25", "1\t1\t1"]


def test_a_row_needs_every_column(tmp_path):
    with ResultWriter(tmp_path / "r.tsv", COLUMNS) as writer, pytest.raises(KeyError):
        writer.write({"idx": 0, "label": 1})


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (1.0, "1"), (0.5, "0.5"), (-1, "-1"), (7, "7"), (0.123456789, "0.12345679"), (1 - 1e-7, "0.9999999"),
    (2.5e-5, "2.5e-05"), (-2.5e-5, "-2.5e-05"), (123.0, "123"), ("x", "x"),
])
def test_format_value(value, text):
    assert format_value(value) == text


def test_small_floats_keep_six_significant_digits():
    value = 1.234567891e-4
    assert float(format_value(value)) == pytest.approx(value, rel=5e-6)
    assert float(format_value(value)) != 0


def test_existing_file_is_refused_and_unchanged(tmp_path):
    path = tmp_path / "r.tsv"
    write_rows(path, [0, 1])
    before = path.read_bytes()
    with pytest.raises(ResultsError, match="already exists"):
        ResultWriter(path, COLUMNS)
    assert path.read_bytes() == before


def test_existing_empty_file_is_simply_used(tmp_path):
    path = tmp_path / "r.tsv"
    path.touch()
    write_rows(path, [4])
    assert path.read_text() == HEADER + "4\t1\t0.5\n"


def test_overwrite_replaces(tmp_path):
    path = tmp_path / "r.tsv"
    write_rows(path, [0, 1, 2])
    write_rows(path, [9], overwrite=True)
    assert path.read_text() == HEADER + "9\t0\t0.5\n"


def test_resume_of_a_missing_file_starts_one(tmp_path):
    path = tmp_path / "r.tsv"
    writer = write_rows(path, [0], resume=True)
    assert writer.done == set()
    assert path.read_text() == HEADER + "0\t0\t0.5\n"


def test_resume_keeps_rows_and_appends(tmp_path):
    path = tmp_path / "r.tsv"
    write_rows(path, [0, 2, 4])
    before = path.read_text()
    with ResultWriter(path, COLUMNS, resume=True) as writer:
        assert writer.done == {0, 2, 4}
        assert path.read_text() == before
        writer.write(row(6))
    assert path.read_text() == before + "6\t0\t0.5\n"


@pytest.mark.parametrize("torn", ["6", "6\t0", "6\t0\t0.", "6\t0\t0.5"])
def test_resume_drops_a_torn_last_line(tmp_path, torn):
    path = tmp_path / "r.tsv"
    write_rows(path, [0, 2, 4])
    complete = path.read_text()
    path.write_text(complete + torn)
    with ResultWriter(path, COLUMNS, resume=True) as writer:
        assert writer.done == {0, 2, 4}
        assert path.read_text() == complete
        writer.write(row(6))
    assert path.read_text() == complete + "6\t0\t0.5\n"


def test_resume_with_another_header_is_refused_and_unchanged(tmp_path):
    path = tmp_path / "r.tsv"
    write_rows(path, [0, 1])
    path.write_text(path.read_text() + "2\t2")  # a torn line too: it must not be dropped either
    before = path.read_bytes()
    with pytest.raises(ResultsError, match="columns"):
        ResultWriter(path, ("idx", "label", "other"), resume=True)
    assert path.read_bytes() == before


def test_resume_with_a_malformed_row_is_refused_and_unchanged(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text(HEADER + "0\t0\t0.5\nnot a row\n1\t1\t0.5\n")
    before = path.read_bytes()
    with pytest.raises(ResultsError, match="line 3"):
        ResultWriter(path, COLUMNS, resume=True)
    assert path.read_bytes() == before


def test_resume_of_a_header_without_newline_keeps_the_header(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text(HEADER.rstrip("\n"))
    write_rows(path, [0], resume=True)
    assert path.read_text() == HEADER + "0\t0\t0.5\n"


# --- check_resumable and manifests ------------------------------------------------------------------------

ARGS = {"sigma": 0.25, "n0": 100, "n": 1000, "alpha": 0.001, "seed": 0, "dataset": "digits", "radii": (0.0, 0.5)}


def test_resumable_without_a_manifest(tmp_path):
    check_resumable(tmp_path / "r.tsv", ARGS)


def test_resumable_with_the_same_arguments(tmp_path):
    write_manifest(tmp_path / "r.tsv", ARGS, status="interrupted")
    check_resumable(tmp_path / "r.tsv", dict(ARGS))  # the tuple was stored as a list: still the same


@pytest.mark.parametrize("changes", [{"sigma": 0.5}, {"n": 999}, {"seed": 1}, {"dataset": "mnist"},
                                     {"extra": 1}, {"radii": (0.0, 0.25)}])
def test_not_resumable_with_other_arguments(tmp_path, changes):
    write_manifest(tmp_path / "r.tsv", ARGS, status="interrupted")
    with pytest.raises(ResultsError, match=next(iter(changes))):
        check_resumable(tmp_path / "r.tsv", {**ARGS, **changes})


def test_not_resumable_with_a_missing_argument(tmp_path):
    write_manifest(tmp_path / "r.tsv", ARGS, status="interrupted")
    with pytest.raises(ResultsError, match="seed"):
        check_resumable(tmp_path / "r.tsv", {k: v for k, v in ARGS.items() if k != "seed"})


def test_not_resumable_with_a_corrupt_manifest(tmp_path):
    manifest_path(tmp_path / "r.tsv").write_text("{oops")
    with pytest.raises(ResultsError, match="not valid JSON"):
        check_resumable(tmp_path / "r.tsv", ARGS)


def test_manifest_path():
    assert manifest_path("runs/a/certify.tsv") == Path("runs/a/certify.json")
    assert manifest_path("results") == Path("results.json")


def test_manifest_contents(tmp_path):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    path = write_manifest(tmp_path / "r.tsv", ARGS, status="running", device="cpu", timing={"inputs": 3})
    assert path == tmp_path / "r.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temporary file left behind
    doc = json.loads(path.read_text())
    assert doc["arguments"] == json.loads(json.dumps(ARGS))
    assert doc["status"] == "running" and doc["device"] == "cpu" and doc["timing"] == {"inputs": 3}
    env = doc["environment"]
    assert env["smoothcert"] == smoothcert.__version__
    assert env["torch"] == torch.__version__
    assert env["numpy"] == numpy.__version__
    assert env["scipy"] == scipy.__version__
    assert env["python"] == platform.python_version() == sys.version.split()[0]
    assert env["torch_threads"] == torch.get_num_threads()
    assert env == json.loads(json.dumps(environment()))
    written = dt.datetime.fromisoformat(doc["written"])
    assert before <= written <= dt.datetime.now(dt.UTC)


def test_manifest_is_replaced_not_appended(tmp_path):
    write_manifest(tmp_path / "r.tsv", ARGS, status="running")
    write_manifest(tmp_path / "r.tsv", ARGS, status="complete")
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "complete"


# --- an interrupted certification, resumed ----------------------------------------------------------------

class Linear2(nn.Module):
    """Two classes split by x0 + x1 = 1; raises KeyboardInterrupt on forward call number ``stop_at``."""

    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__()
        self.calls, self.stop_at = 0, stop_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        score = x.sum(dim=1) - 1.0
        return torch.stack([-score, score], dim=1)


def certify_points(model: nn.Module, out: Path, resume: bool = False) -> dict:
    x = torch.linspace(0.05, 0.95, 8).unsqueeze(1).repeat(1, 2)
    y = (x.sum(dim=1) > 1).long()
    smooth = Smooth(model, 2, 0.25, batch_size=10, seed=3)
    return certify_dataset(smooth, x, y, out, n0=10, n=40, alpha=0.01,
                           options=RunOptions(resume=resume, record_time=False, progress=False))


def test_interrupted_run_keeps_rows_and_resumes_to_the_same_file(tmp_path):
    whole, part = tmp_path / "whole.tsv", tmp_path / "part.tsv"
    certify_points(Linear2(), whole)
    assert json.loads(manifest_path(whole).read_text())["status"] == "complete"
    assert whole.read_text().splitlines()[0].split("\t") == list(CERTIFY_COLUMNS)
    assert len(whole.read_text().splitlines()) == 1 + 8

    # chunks hold one input (batch 10 / n0 10); each input takes 1 + 4 forward passes: stop inside input 3
    with pytest.raises(KeyboardInterrupt):
        certify_points(Linear2(stop_at=13), part)
    lines = part.read_text().splitlines()
    assert lines == whole.read_text().splitlines()[: len(lines)]
    assert 1 < len(lines) < 9
    manifest = json.loads(manifest_path(part).read_text())
    assert manifest["status"] == "interrupted"

    stats = certify_points(Linear2(), part, resume=True)
    assert stats["inputs"] == 9 - len(lines)
    assert part.read_bytes() == whole.read_bytes()
    manifest = json.loads(manifest_path(part).read_text())
    assert manifest["status"] == "complete"
    assert manifest["timing"]["resumed_rows"] == len(lines) - 1
    # The interrupted session's record is kept, not overwritten.
    (earlier,) = manifest["earlier_runs"]
    assert earlier["status"] == "interrupted" and earlier["timing"]["inputs"] == len(lines) - 1
    assert manifest["engine"]["batch_size"] == 10


def test_one_sampling_pass_fills_several_files_and_resumes_each(tmp_path):
    """A Run with two files: rows go to both; a file missing rows gets only those on resume."""
    x = torch.linspace(0.05, 0.95, 6).unsqueeze(1).repeat(1, 2)
    y = (x.sum(dim=1) > 1).long()
    smooth = Smooth(Linear2(), 2, 0.25, batch_size=10, seed=3)
    calls = []

    def compute(xb, ids, update):
        calls.append(list(ids))
        certs = smooth.certify_batch(xb, 10, 40, 0.01, indices=ids)
        rows = [{"predict": c.prediction, "radius": c.radius, "pA_lower": c.p_a_lower, "n0": c.n0, "n": c.n,
                 "count_top": c.count_top} for c in certs]
        return [rows, [{**r, "radius": 2 * r["radius"]} for r in rows]]

    outs = [tmp_path / "a.tsv", tmp_path / "b.tsv"]
    run = dict(indices=list(range(6)), per_input_samples=50, fill_samples=10)

    def execute(resume: bool) -> dict:
        options = RunOptions(resume=resume, record_time=False, progress=False)
        return Run("certify", outs, [{"k": 1}, {"k": 2}], CERTIFY_COLUMNS, options).execute(smooth, x, y, compute,
                                                                                             **run)

    execute(resume=False)
    a, b = (o.read_text().splitlines() for o in outs)
    assert len(a) == len(b) == 7 and a[1:] != b[1:]
    whole_b = outs[1].read_text()
    outs[1].write_text("\n".join(b[:3]) + "\n")  # b lost its last four rows
    calls.clear()
    execute(resume=True)
    assert sorted(i for c in calls for i in c) == [2, 3, 4, 5]
    assert outs[1].read_text() == whole_b and outs[0].read_text().splitlines() == a
