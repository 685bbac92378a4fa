"""Result files and manifests: flushed rows, refusal to clobber, resume from the file itself, run manifests."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import platform
import shutil
import stat
import subprocess
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
    MANIFEST_FORMAT,
    ResultWriter,
    Run,
    RunOptions,
    check_resumable,
    data_fingerprint,
    environment,
    format_value,
    manifest_path,
    model_fingerprint,
    write_manifest,
)
from smoothcert.runs import run as run_module
from smoothcert.runs.run import CHUNK_SECONDS, next_chunk
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


def certify_points(model: nn.Module, out: Path, resume: bool = False, overwrite: bool = False,
                   shift: float = 0.0) -> dict:
    x = torch.linspace(0.05, 0.95, 8).unsqueeze(1).repeat(1, 2) + shift
    y = (x.sum(dim=1) > 1).long()
    smooth = Smooth(model, 2, 0.25, batch_size=10, seed=3)
    return certify_dataset(smooth, x, y, out, n0=10, n=40, alpha=0.01,
                           options=RunOptions(resume=resume, overwrite=overwrite, record_time=False, progress=False))


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
                 "count_top": c.count_top, "norm": "l2"} for c in certs]
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


# --- manifests never replace other files (issue 12, item 1) ------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
CLI_ARGS = ["--sigma", "0.25", "--n0", "10", "--n", "60", "--batch-size", "100", "--no-timing", "--quiet"]


def cli(*args: object, cwd: Path | None = None):
    """Run the command line in this process (from ``cwd`` when given); returns click's Result."""
    from click.testing import CliRunner

    from smoothcert.cli import main

    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, [str(a) for a in args])
    before = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, [str(a) for a in args])
    finally:
        os.chdir(before)


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smoothcert: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def make_checkpoint(stem: Path, seed: int = 0) -> Path:
    """A LeNet for digits with random weights (``seed``), saved as ``stem``.safetensors + ``stem``.json."""
    from smoothcert.data import load_dataset
    from smoothcert.models.checkpoint import CheckpointInfo, save_checkpoint

    info = CheckpointInfo("lenet", [1, 8, 8], 10, dataset="digits", split=load_dataset("digits").split_record())
    torch.manual_seed(seed)
    save_checkpoint(info.build(), stem, info)
    return stem


def test_write_manifest_refuses_to_replace_a_json_that_is_not_a_manifest(tmp_path):
    for text in ('{"format": "smoothcert-checkpoint", "architecture": "lenet"}\n', '{"a": 1}\n', "[1, 2]\n",
                 "not json at all\n"):
        (tmp_path / "r.json").write_text(text)
        with pytest.raises(ResultsError, match="never replaced"):
            write_manifest(tmp_path / "r.tsv", ARGS, status="running")
        assert (tmp_path / "r.json").read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temporary file left either


def test_write_manifest_names_its_format_and_replaces_its_own_kind(tmp_path):
    path = write_manifest(tmp_path / "r.tsv", ARGS, status="running")
    assert json.loads(path.read_text())["format"] == MANIFEST_FORMAT
    older = {"arguments": ARGS, "environment": {}, "written": "2025-01-01T00:00:00+00:00", "status": "complete"}
    path.write_text(json.dumps(older))  # a manifest from before manifests named their format
    write_manifest(tmp_path / "r.tsv", ARGS, status="complete")
    assert json.loads(path.read_text())["format"] == MANIFEST_FORMAT


def test_a_manifest_path_that_is_a_directory_is_one_line(tmp_path):
    (tmp_path / "r.json").mkdir()
    with pytest.raises(ResultsError, match="is a directory"):
        write_manifest(tmp_path / "r.tsv", ARGS)


def test_certify_into_a_checkpoints_folder_never_replaces_its_sidecar(tmp_path):
    """`certify --checkpoint fg/model.safetensors --out fg/model.tsv` once wrote its manifest over model.json."""
    from smoothcert.models import load_checkpoint

    stem = make_checkpoint(tmp_path / "fg" / "model")
    before = snapshot_folder(tmp_path / "fg")
    for extra in ([], ["--overwrite"], ["--resume"]):
        result = cli("certify", "--checkpoint", f"{stem}.safetensors", *CLI_ARGS, "--max", 2,
                     "--out", tmp_path / "fg" / "model.tsv", *extra)
        one_line_error(result, "model.json", "smoothcert-checkpoint", "never replaced")
        assert snapshot_folder(tmp_path / "fg") == before  # nothing written, not even a lock file
    load_checkpoint(stem)


def test_certify_api_refuses_a_sidecar_before_touching_anything(tmp_path):
    stem = make_checkpoint(tmp_path / "model")
    before = snapshot_folder(tmp_path)
    x = torch.linspace(0.05, 0.95, 4).unsqueeze(1).repeat(1, 2)
    smooth = Smooth(Linear2(), 2, 0.25, batch_size=10, seed=3)
    with pytest.raises(ResultsError, match="never replaced"):
        certify_dataset(smooth, x, (x.sum(dim=1) > 1).long(), stem.with_suffix(".tsv"), n0=10, n=40,
                        options=RunOptions(overwrite=True, progress=False))
    assert snapshot_folder(tmp_path) == before


def test_a_fresh_run_does_not_replace_an_earlier_runs_manifest(tmp_path):
    out = tmp_path / "r.tsv"
    certify_points(Linear2(), out)
    out.unlink()  # the rows are gone, the record of the run that made them is not
    manifest = manifest_path(out).read_bytes()
    with pytest.raises(ResultsError, match="manifest of an earlier run"):
        certify_points(Linear2(), out)
    assert manifest_path(out).read_bytes() == manifest and not out.exists()
    certify_points(Linear2(), out, overwrite=True)
    assert len(out.read_text().splitlines()) == 9


def test_results_file_must_not_be_named_like_weights(tmp_path):
    with pytest.raises(ResultsError, match="safetensors"):
        ResultWriter(tmp_path / "model.safetensors", COLUMNS)
    assert list(tmp_path.iterdir()) == []


def snapshot_folder(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- resume keyed on content (item 3) ----------------------------------------------------------------------

class StoppableLinear(nn.Linear):
    """The classifier of :class:`Linear2` with weights (``scale`` changes the weights, not the predictions);
    raises KeyboardInterrupt on forward call number ``stop_at``."""

    def __init__(self, scale: float = 1.0, stop_at: int | None = None) -> None:
        super().__init__(2, 2)
        with torch.no_grad():
            self.weight.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]) * scale)
            self.bias.copy_(torch.tensor([1.0, -1.0]) * scale)
        self.calls, self.stop_at = 0, stop_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().forward(x)


def linear_model(scale: float = 1.0) -> nn.Module:
    return StoppableLinear(scale)


def test_model_fingerprint_follows_the_weights_not_the_module():
    a, b = linear_model(), linear_model()
    assert model_fingerprint(a) == model_fingerprint(b)  # two modules, the same weights
    assert model_fingerprint(a) != model_fingerprint(linear_model(2.0))
    before = model_fingerprint(a)
    with torch.no_grad():
        a.bias[0] += 1e-6  # changed in place after it was hashed: hashed again
    assert model_fingerprint(a) != before
    conv = nn.Conv2d(3, 4, 3)
    assert model_fingerprint(conv) == model_fingerprint(copy.deepcopy(conv).to(memory_format=torch.channels_last))
    assert model_fingerprint(nn.Linear(2, 2).to(torch.bfloat16)).startswith("sha256:")
    with torch.inference_mode():
        frozen = nn.Linear(2, 2)  # its tensors keep no version counter
    thawed = nn.Linear(2, 2)
    thawed.load_state_dict(frozen.state_dict())
    assert model_fingerprint(frozen) == model_fingerprint(thawed)
    assert data_fingerprint(torch.zeros(3)) != data_fingerprint(torch.zeros(4))
    assert data_fingerprint(torch.zeros(3)) != data_fingerprint(torch.zeros(3, dtype=torch.float64))


def test_resume_with_other_weights_at_the_same_path_is_refused(tmp_path):
    out = tmp_path / "r.tsv"
    with pytest.raises(KeyboardInterrupt):
        certify_points(StoppableLinear(stop_at=13), out)
    before = snapshot_folder(tmp_path)
    with pytest.raises(ResultsError, match="model's weights differ"):
        certify_points(linear_model(2.0), out, resume=True)  # "retrained": same predictions, other weights
    assert snapshot_folder(tmp_path) == before
    certify_points(linear_model(), out, resume=True)  # the model that made the rows resumes
    whole = tmp_path / "whole.tsv"
    certify_points(linear_model(), whole)
    assert out.read_bytes() == whole.read_bytes()


def test_resume_on_other_data_is_refused(tmp_path):
    out = tmp_path / "r.tsv"
    with pytest.raises(KeyboardInterrupt):
        certify_points(StoppableLinear(stop_at=13), out)
    with pytest.raises(ResultsError, match="the data differ"):
        certify_points(linear_model(), out, resume=True, shift=0.01)


def test_a_results_file_without_its_manifest_is_not_resumable(tmp_path):
    out = tmp_path / "r.tsv"
    with pytest.raises(KeyboardInterrupt):
        certify_points(StoppableLinear(stop_at=13), out)
    manifest_path(out).unlink()
    rows = out.read_bytes()
    with pytest.raises(ResultsError, match=r"manifest r\.json is missing"):
        certify_points(linear_model(), out, resume=True)
    assert out.read_bytes() == rows


def test_cli_resume_keys_on_the_checkpoints_content_not_its_path(tmp_path):
    """The same checkpoint under another (relative) path resumes; other weights at the same path do not."""
    make_checkpoint(tmp_path / "a" / "model")
    whole, part = tmp_path / "whole.tsv", tmp_path / "part.tsv"
    for out in (whole, part):
        assert cli("certify", "--checkpoint", "a/model.safetensors", *CLI_ARGS, "--max", 5, "--out", out,
                   cwd=tmp_path).exit_code == 0
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:3]))  # as if killed after two rows
    interrupted = part.read_bytes()
    (tmp_path / "b").mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(tmp_path / "a" / f"model{suffix}", tmp_path / "b" / f"model{suffix}")
    result = cli("certify", "--checkpoint", "../b/model", *CLI_ARGS, "--max", 5, "--out", part, "--resume",
                 cwd=tmp_path / "a")
    assert result.exit_code == 0, (result.output, result.exception)
    assert part.read_bytes() == whole.read_bytes()

    part.write_bytes(interrupted)
    make_checkpoint(tmp_path / "a" / "model", seed=1)  # retrained to the same path
    result = cli("certify", "--checkpoint", "a/model", *CLI_ARGS, "--max", 5, "--out", part, "--resume",
                 cwd=tmp_path)
    one_line_error(result, "cannot resume", "model's weights differ")
    assert part.read_bytes() == interrupted
    doc = json.loads(manifest_path(whole).read_text())
    assert set(doc["fingerprint"]) == {"model", "data", "arguments"}


# --- the work a kill can lose is bounded by time (item 4) --------------------------------------------------

@pytest.mark.parametrize(("size", "seconds", "cap", "expected"), [
    (1, 0.001, 64, 2),    # fast inputs: the chunk doubles up to the cap
    (32, 0.001, 64, 64),
    (64, 0.001, 64, 64),
    (8, 0.5, 64, 4),      # 0.5 s per input: 4 fit in 2 s
    (1, 5.0, 64, 1),      # an input longer than 2 s: one at a time
    (4, 0.0, 3, 3),
])
def test_next_chunk(size, seconds, cap, expected):
    assert next_chunk(size, seconds, cap) == expected


@pytest.mark.parametrize("seconds_per_input", [0.1, 1.5, 3.0])
def test_rows_reach_the_disk_at_least_every_chunk_seconds(tmp_path, monkeypatch, seconds_per_input):
    """A chunk once held up to 64 inputs whatever they cost; now no chunk takes longer than CHUNK_SECONDS
    (measured with a clock the test controls), unless a single input does, and the rows are the same."""
    clock = [0.0]
    monkeypatch.setattr(run_module, "_now", lambda: clock[0])
    x = torch.linspace(0.05, 0.95, 80).unsqueeze(1).repeat(1, 2)
    y = (x.sum(dim=1) > 1).long()
    smooth = Smooth(Linear2(), 2, 0.25, batch_size=1000, seed=3)  # the chunk that fills a batch: 64 inputs
    chunks: list[int] = []

    def compute(xb, ids, update):
        chunks.append(len(ids))
        clock[0] += seconds_per_input * len(ids)
        certs = smooth.certify_batch(xb, 10, 40, 0.01, indices=ids)
        return [[{"predict": c.prediction, "radius": c.radius, "pA_lower": c.p_a_lower, "n0": c.n0, "n": c.n,
                  "count_top": c.count_top, "norm": "l2"} for c in certs]]

    def execute(out, chunk=None):
        return Run("certify", [out], [{"k": 1}], CERTIFY_COLUMNS, RunOptions(record_time=False, progress=False)
                   ).execute(smooth, x, y, compute, indices=list(range(80)), per_input_samples=50, fill_samples=10,
                             chunk=chunk)

    stats = execute(tmp_path / "adaptive.tsv")
    assert sum(chunks) == 80
    assert max(chunks) * seconds_per_input <= max(CHUNK_SECONDS, seconds_per_input)
    assert stats["longest_chunk_seconds"] == pytest.approx(max(chunks) * seconds_per_input)
    if seconds_per_input < CHUNK_SECONDS:
        assert max(chunks) == int(CHUNK_SECONDS / seconds_per_input)  # as many as fit: the engine stays busy
    execute(tmp_path / "fixed.tsv", chunk=64)
    assert (tmp_path / "adaptive.tsv").read_bytes() == (tmp_path / "fixed.tsv").read_bytes()


# --- an exclusive lock on each results file (item 5) -------------------------------------------------------

HOLDER = """
import sys
from smoothcert.runs import ResultsLock
lock = ResultsLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.readline()
lock.release()
"""


@pytest.fixture
def holder():
    """Start another process that holds the lock of a results file until told to stop (or killed)."""
    started: list[subprocess.Popen] = []

    def start(path: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        started.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_second_writer_of_a_locked_file_is_refused_naming_the_holder(tmp_path, holder):
    path = tmp_path / "r.tsv"
    write_rows(path, [0, 1])
    before = path.read_bytes()
    proc = holder(path)
    with pytest.raises(ResultsError, match=f"being written by process {proc.pid} on "):
        ResultWriter(path, COLUMNS, resume=True)
    assert path.read_bytes() == before
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait() == 0
    write_rows(path, [2], resume=True)  # the lock is free again
    assert path.read_text() == before.decode() + "2\t2\t0.5\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.tsv", "r.tsv.lock"]  # the holder's note is gone


def test_two_concurrent_resumes_of_one_file_write_each_row_once(tmp_path, holder):
    """Two `certify --resume` on one TSV once both exited 0 and every row appeared twice."""
    stem = make_checkpoint(tmp_path / "model")
    whole, part = tmp_path / "whole.tsv", tmp_path / "part.tsv"
    for out in (whole, part):
        assert cli("certify", "--checkpoint", stem, *CLI_ARGS, "--max", 4, "--out", out).exit_code == 0
    part.write_text("".join(part.read_text().splitlines(keepends=True)[:2]))
    before = snapshot_folder(tmp_path)
    proc = holder(part)  # the other run, still going
    line = one_line_error(cli("certify", "--checkpoint", stem, *CLI_ARGS, "--max", 4, "--out", part, "--resume"),
                          f"process {proc.pid}", "part.tsv")
    assert "Traceback" not in line
    assert snapshot_folder(tmp_path) == {**before, "part.tsv.lock.pid": (tmp_path / "part.tsv.lock.pid").read_bytes()}
    proc.kill()  # a killed holder never blocks a resume: the system frees its lock
    proc.wait()
    assert cli("certify", "--checkpoint", stem, *CLI_ARGS, "--max", 4, "--out", part, "--resume").exit_code == 0
    assert part.read_bytes() == whole.read_bytes()


# --- files honour the umask (item 12) ----------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_every_file_written_honours_the_umask(tmp_path, umask):
    """.safetensors files were written 0600 while sidecars got 0644."""
    from smoothcert.models.checkpoint import checkpoint_paths

    old = os.umask(umask)
    try:
        make_checkpoint(tmp_path / "model")
        certify_points(Linear2(), tmp_path / "r.tsv")
    finally:
        os.umask(old)
    files = [*checkpoint_paths(tmp_path / "model"), tmp_path / "r.tsv", tmp_path / "r.json", tmp_path / "r.tsv.lock"]
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == \
        {p.name: oct(0o666 & ~umask) for p in files}


# --- cached cells replace only cells ----------------------------------------------------------------------

def test_cell_cache_replaces_its_cells_but_no_other_file(tmp_path):
    from smoothcert.runs import CellCache

    cache = CellCache(tmp_path)
    cache.put("a", {"value": 1}, {"k": 1})
    cache.put("a", {"value": 2}, {"k": 2})  # recomputed with other arguments: replaced
    assert cache.get("a", {"k": 2})["value"] == 2
    for text in ('{"format": "smoothcert-checkpoint"}\n', "[1]\n", "not json\n"):
        cache.path("b").write_text(text)
        with pytest.raises(ResultsError, match="never replaced"):
            cache.put("b", {"value": 3})
        assert cache.path("b").read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]
