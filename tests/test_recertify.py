"""Saved count vectors and ``smoothcert recertify``: certify keeps every input's counts; Clopper–Pearson from
them reproduces the run's TSV byte for byte; other bounds and noises; resume; one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import main
from smoothcert.runs.counts import counts_path, read_counts

pytestmark = pytest.mark.usefixtures("torch_single_thread")

ARGS = ["--failure-prob", "0.01", "--n0", "20", "--n", "300", "--max", "10", "--no-timing", "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smoothcert: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, torch_single_thread) -> Path:
    stem = tmp_path_factory.mktemp("ckpt") / "model"
    ok(invoke("train", "--dataset", "digits", "--arch", "lenet", "--epochs", 3, "--out", stem, "--quiet"))
    return stem


@pytest.fixture(scope="module")
def run(tmp_path_factory, checkpoint) -> Path:
    out = tmp_path_factory.mktemp("run") / "certify.tsv"
    ok(invoke("certify", "--checkpoint", checkpoint, "--sigma", 0.25, *ARGS, "--out", out))
    return out


def test_certify_keeps_the_count_vectors(run):
    manifest = json.loads(run.with_suffix(".json").read_text())
    assert manifest["counts"]["path"] == "certify.counts" and manifest["counts"]["num_classes"] == 10
    saved = read_counts(run)
    table = rows(run)
    assert table[0][-1] == "norm" and {r[-1] for r in table[1:]} == {"l2"}
    assert saved["idx"].tolist() == sorted(int(r[0]) for r in table[1:])
    assert saved["selection"].shape == saved["estimation"].shape == (10, 10)
    assert np.all(saved["selection"].sum(axis=1) == 20) and np.all(saved["estimation"].sum(axis=1) == 300)
    by_idx = dict(zip(saved["idx"].tolist(), saved["estimation"], strict=True))
    for r in table[1:]:
        count_top, predict = int(r[table[0].index("count_top")]), int(r[2])
        assert count_top in by_idx[int(r[0])]
        if predict >= 0:
            assert by_idx[int(r[0])][predict] == count_top


def test_recertify_with_clopper_pearson_reproduces_the_run(run, tmp_path):
    out = tmp_path / "cp.tsv"
    ok(invoke("recertify", run, "--bound", "cp", "--out", out))
    assert out.read_bytes() == run.read_bytes()
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["arguments"]["bound"] == "cp" and manifest["status"] == "complete"


@pytest.mark.parametrize("bound", ["top2", "cpm"])
def test_recertify_top2_and_cpm(run, tmp_path, bound):
    out = tmp_path / f"{bound}.tsv"
    result = ok(invoke("recertify", run, "--bound", bound, "--out", out))
    assert "certified accuracy" in result.stdout.lower() or "r = 0" in result.stdout
    table, original = rows(out), rows(run)
    assert table[0] == original[0] + ["pB_upper", "groups"]
    for new, old in zip(table[1:], original[1:], strict=True):
        assert new[:2] == old[:2]  # idx, label
        p_a, p_b = float(new[table[0].index("pA_lower")]), float(new[table[0].index("pB_upper")])
        assert p_b <= 1 - p_a + 1e-7  # the TSV keeps 8 significant digits
        if int(new[2]) >= 0:
            assert p_a > p_b and float(new[3]) > 0
    groups = [int(r[-1]) for r in table[1:]]
    assert all(1 <= g <= 9 for g in groups)
    if bound == "top2":
        assert set(groups) == {9}


def test_recertify_randomized_is_seeded_and_labelled(run, tmp_path):
    a, b, c = tmp_path / "a.tsv", tmp_path / "b.tsv", tmp_path / "c.tsv"
    result = ok(invoke("recertify", run, "--randomized", "--seed", 1, "--out", a))
    assert "randomized" in result.stdout
    ok(invoke("recertify", run, "--randomized", "--seed", 1, "--out", b))
    ok(invoke("recertify", run, "--randomized", "--seed", 2, "--out", c))
    assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()
    table, original = rows(a), rows(run)
    assert table[0] == original[0] + ["u"]
    col = table[0].index("pA_lower")
    # The randomized bound is never below Clopper–Pearson's (U < 1).
    assert all(float(n[col]) >= float(o[col]) * (1 - 1e-9) for n, o in zip(table[1:], original[1:], strict=True))
    assert json.loads(a.with_suffix(".json").read_text())["arguments"]["randomized"] is True


def test_resume_after_a_crash_between_counts_and_rows(run, tmp_path, checkpoint):
    copy = tmp_path / "copy.tsv"
    lines = run.read_text().splitlines(keepends=True)
    copy.write_text("".join(lines[:6]))  # 5 rows reached the TSV, every count vector its folder
    shutil.copy(run.with_suffix(".json"), copy.with_suffix(".json"))
    shutil.copytree(counts_path(run), counts_path(copy))
    chunks = sorted(counts_path(copy).iterdir())
    ok(invoke("certify", "--checkpoint", checkpoint, "--sigma", 0.25, *ARGS, "--out", copy, "--resume"))
    assert copy.read_bytes() == run.read_bytes()
    assert sorted(counts_path(copy).iterdir()) == chunks  # nothing kept twice
    ok(invoke("recertify", copy, "--out", tmp_path / "again.tsv"))
    assert (tmp_path / "again.tsv").read_bytes() == run.read_bytes()


def test_rows_without_counts_are_refused(run, tmp_path):
    copy = tmp_path / "old.tsv"
    shutil.copy(run, copy)
    shutil.copy(run.with_suffix(".json"), copy.with_suffix(".json"))
    one_line_error(invoke("recertify", copy, "--out", tmp_path / "x.tsv"), "no saved counts")
    assert not (tmp_path / "x.tsv").exists()


def test_recertify_refuses_to_replace_and_bad_combinations(run, tmp_path):
    out = tmp_path / "taken.tsv"
    out.write_text("mine\n")
    one_line_error(invoke("recertify", run, "--out", out), "already exists")
    assert out.read_text() == "mine\n"
    ok(invoke("recertify", run, "--out", out, "--overwrite"))
    one_line_error(invoke("recertify", run, "--bound", "top2", "--randomized", "--out", tmp_path / "r.tsv"),
                   "--randomized")
    one_line_error(invoke("recertify", run, "--out", run), "another file")


def test_predict_keeps_its_counts(checkpoint, tmp_path):
    out = tmp_path / "predict.tsv"
    ok(invoke("predict", "--checkpoint", checkpoint, "--sigma", 0.25, "--n", 200, "--max", 4, "--no-timing",
              "--quiet", "--out", out))
    saved = read_counts(out)
    assert saved["counts"].shape == (4, 10) and np.all(saved["counts"].sum(axis=1) == 200)


@pytest.mark.parametrize("noise, norm", [("laplace", "l1"), ("uniform", "l1"), ("uniform", "linf")])
def test_certify_with_other_noises_names_the_norm(checkpoint, tmp_path, noise, norm):
    out = tmp_path / f"{noise}.tsv"
    ok(invoke("certify", "--checkpoint", checkpoint, "--noise", noise, "--scale", 0.3, "--norm", norm, *ARGS,
              "--out", out))
    table = rows(out)
    assert {r[table[0].index("norm")] for r in table[1:]} == {norm}
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["noise"]["type"] == noise and manifest["noise"]["norm"] == norm
    assert manifest["arguments"]["noise"] == noise and manifest["arguments"]["scale"] == 0.3
    again = tmp_path / "again.tsv"
    ok(invoke("recertify", out, "--out", again))
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("extra, fragment", [
    (["--sigma", "0.25", "--noise", "laplace"], "--sigma"),
    (["--noise", "laplace"], "noise level"),
    (["--noise", "uniform", "--scale", "0.3", "--norm", "l2"], "norm"),
    (["--noise", "laplace", "--scale", "-1"], "scale"),
])
def test_bad_noise_options(checkpoint, tmp_path, extra, fragment):
    out = tmp_path / "bad.tsv"
    one_line_error(invoke("certify", "--checkpoint", checkpoint, *extra, *ARGS, "--out", out), fragment)
    assert not out.exists()


def test_train_with_laplace_noise(tmp_path):
    stem = tmp_path / "lap"
    ok(invoke("train", "--dataset", "digits", "--arch", "mlp", "--epochs", 1, "--noise", "laplace", "--scale", 0.2,
              "--out", stem, "--quiet"))
    info = json.loads(stem.with_suffix(".json").read_text())
    assert "laplace" in json.dumps(info)
    one_line_error(invoke("train", "--dataset", "digits", "--noise", "uniform", "--out", tmp_path / "u", "--quiet"),
                   "--scale")
