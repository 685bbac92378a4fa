"""The uncertainty-aware CLI: `certify --uncertainty`, `uncertainty certify | sweep | ood | plot`, the extra TSV
columns, resume, one-line errors, and the agreement between the entry points."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import main
from smoothcert.studies.uncertainty.pipeline import UNCERTAINTY_COLUMNS

pytestmark = pytest.mark.usefixtures("torch_single_thread")

ARGS = ["--sigma", "0.25", "--failure-prob", "0.001", "--n0", "20", "--n", "200", "--max", "8", "--skip", "2",
        "--no-timing", "--quiet"]


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


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(text: str) -> float:
    return float(text)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, torch_single_thread) -> tuple[Path, Path]:
    """Two LeNets trained 3 epochs on digits (seeds 0 and 1)."""
    folder = tmp_path_factory.mktemp("ckpt")
    for seed in (0, 1):
        ok(invoke("train", "--dataset", "digits", "--epochs", 3, "--seed", seed, "--out", folder / f"m{seed}",
                  "--quiet"))
    return folder / "m0", folder / "m1"


@pytest.fixture(scope="module")
def run_tau(tmp_path_factory, checkpoints) -> Path:
    out = tmp_path_factory.mktemp("unc") / "entropy.tsv"
    result = ok(invoke("uncertainty", "certify", "--checkpoint", checkpoints[0], *ARGS, "--measure", "entropy",
                       "--tau", 0.5, "--out", out))
    assert "R_ii > R_cohen" in result.stdout
    return out


def test_columns_and_row_semantics(run_tau):
    assert run_tau.read_text().splitlines()[0].split("\t") == list(UNCERTAINTY_COLUMNS)
    table = rows(run_tau)
    assert [int(r["idx"]) for r in table] == [0, 2, 4, 6, 8, 10, 12, 14]
    for r in table:
        ri, rii, rc = num(r["radius_i"]), num(r["radius_ii"]), num(r["radius_cohen"])
        assert int(r["predict"]) == (int(r["guess"]) if not math.isnan(rii) else -1)
        assert int(r["correct"]) == int(int(r["predict"]) == int(r["label"]))
        assert num(r["radius"]) == (0.0 if math.isnan(rii) else rii)
        assert math.isnan(ri) or rii >= ri
        assert num(r["frac_uncertain"]) == pytest.approx(int(r["count_uncertain"]) / 200)
        assert int(r["count_ii"]) == int(r["count_i"]) + int(r["count_uncertain"])
        assert (int(r["predict_cohen"]) == -1) == math.isnan(rc)
    manifest = json.loads(run_tau.with_suffix(".json").read_text())
    assert manifest["arguments"]["tau"] == "0.5" and manifest["arguments"]["measure"] == "entropy"
    assert manifest["outcome"]["taus"] == [0.5] and manifest["status"] == "complete"


def test_certify_uncertainty_flag_writes_the_same_file(checkpoints, run_tau, tmp_path):
    out = tmp_path / "core.tsv"
    ok(invoke("certify", "--checkpoint", checkpoints[0], *ARGS, "--uncertainty", "entropy", "--tau", 0.5,
              "--out", out))
    assert out.read_bytes() == run_tau.read_bytes()
    assert json.loads(out.with_suffix(".json").read_text())["arguments"] == \
        json.loads(run_tau.with_suffix(".json").read_text())["arguments"]


def test_tau_infinity_matches_plain_certify(checkpoints, tmp_path):
    plain, unc = tmp_path / "plain.tsv", tmp_path / "inf.tsv"
    ok(invoke("certify", "--checkpoint", checkpoints[0], *ARGS, "--out", plain))
    ok(invoke("certify", "--checkpoint", checkpoints[0], *ARGS, "--uncertainty", "max_prob", "--tau", "inf",
              "--out", unc))
    for p, u in zip(rows(plain), rows(unc), strict=True):
        assert p["predict"] == u["predict_cohen"]
        expected = num(p["radius"]) if int(p["predict"]) != -1 else math.nan
        for col in ("radius_cohen", "radius_i", "radius_ii"):
            assert num(u[col]) == pytest.approx(expected, abs=1e-7, nan_ok=True)
        assert int(u["count_uncertain"]) == 0


def test_resume_after_a_crash_gives_the_same_file(checkpoints, run_tau, tmp_path):
    out = tmp_path / "partial.tsv"
    lines = run_tau.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:4]) + lines[4][:10])
    shutil.copy(run_tau.with_suffix(".json"), out.with_suffix(".json"))
    ok(invoke("uncertainty", "certify", "--checkpoint", checkpoints[0], *ARGS, "--measure", "entropy",
              "--tau", 0.5, "--out", out, "--resume"))
    assert out.read_bytes() == run_tau.read_bytes()


def test_sweep_files_equal_single_tau_runs(checkpoints, run_tau, tmp_path):
    out = tmp_path / "sweep"
    result = ok(invoke("uncertainty", "sweep", "--checkpoint", checkpoints[0], *ARGS, "--measure", "entropy",
                       "--taus", "0.5,inf", "--out", out))
    assert "mean R_ii" in result.stdout
    assert (out / "tau_0.5.tsv").read_bytes() == run_tau.read_bytes()
    assert (out / "tau_inf.tsv").is_file() and (out / "summary.md").is_file() and (out / "sweep.png").is_file()
    assert (out / "radii_tau_0.5.png").is_file()


def test_calibrated_tau_is_recorded(checkpoints, tmp_path):
    out = tmp_path / "cal.tsv"
    ok(invoke("uncertainty", "certify", "--checkpoint", checkpoints[0], *ARGS, "--measure", "margin",
              "--reject-rate", 0.2, "--calibration-inputs", 50, "--calibration-samples", 4, "--out", out))
    manifest = json.loads(out.with_suffix(".json").read_text())
    record = manifest["tau_calibration"]
    assert record["reject_rates"] == [0.2] and record["calibration_inputs"] == 50
    assert float(manifest["arguments"]["tau"]) == pytest.approx(record["taus"][0], rel=1e-5)
    assert 0 < record["taus"][0] < 1


def test_analyze_and_plot_read_the_file(run_tau, tmp_path):
    for column in ("radius_i", "radius_ii", "radius_cohen"):
        assert "| run |" in ok(invoke("analyze", run_tau, "--radius-column", column)).stdout
    result = ok(invoke("uncertainty", "plot", run_tau, "--out", tmp_path / "radii", "--top2"))
    assert (tmp_path / "radii.png").is_file() and (tmp_path / "radii.svg").is_file()
    assert "correctly classified" in result.stdout


@pytest.mark.parametrize(("extra", "fragments"), [
    (["certify", "--tau", 0.5], ["--tau needs --uncertainty"]),
    (["certify", "--uncertainty", "entropy"], ["--uncertainty needs --tau"]),
    (["certify", "--uncertainty", "variance", "--tau", 1], ["'variance'"]),
    (["uncertainty", "certify", "--tau", 0.5, "--reject-rate", 0.1], ["tau", "rejection rate"]),
    (["uncertainty", "certify", "--measure", "mutual_info", "--tau", 0.1], ["mutual_info"]),
    (["uncertainty", "certify", "--mc-dropout", 4, "--tau", 0.1], ["dropout layers"]),
    (["uncertainty", "certify", "--tau", -1], ["--tau", ">= 0", "every sample"]),  # u >= 0: all would be ⊥
    (["certify", "--uncertainty", "max_prob", "--tau", -0.5], ["--tau", ">= 0"]),
    (["uncertainty", "certify", "--tau", "nan"], ["--tau"]),
    (["uncertainty", "sweep", "--taus", "-1,0.5"], ["--taus", ">= 0"]),
    (["uncertainty", "certify", "--tau", 0.5, "--num-classes", 0], ["num_classes", "0"]),
    (["uncertainty", "certify", "--tau", 0.5, "--calibration-inputs", 0], ["--calibration-inputs"]),
])
def test_bad_input_is_one_line_and_writes_nothing(checkpoints, tmp_path, extra, fragments):
    out = tmp_path / "x" / "bad.tsv"
    one_line_error(invoke(*extra, "--checkpoint", checkpoints[0], *ARGS, "--out", out), *fragments)
    assert not out.parent.exists()


def test_ood_with_an_ensemble(checkpoints, tmp_path):
    out = tmp_path / "ood"
    result = ok(invoke("uncertainty", "ood", "--checkpoint", checkpoints[0], "--member", checkpoints[1],
                       "--sigma", 0.25, "--measures", "entropy,mutual_info", "--samples", 16, "--in-count", 12,
                       "--ood-count", 6, "--calibration-inputs", 30, "--calibration-samples", 2, "--out", out,
                       "--quiet"))
    assert "letters" in result.stdout
    table = (out / "auroc.tsv").read_text().splitlines()
    assert table[0].split("\t") == ["measure", "score", "letters", "photos", "uniform", "mean"]
    assert len(table) == 1 + 2 * 3
    aurocs = np.array([[float(v) for v in line.split("\t")[2:]] for line in table[1:]])
    assert ((aurocs >= 0) & (aurocs <= 1)).all()
    scores = rows(out / "scores.tsv")
    assert len(scores) == 12 + 3 * 6 and {r["set"] for r in scores} == {"test", "letters", "photos", "uniform"}
    assert (out / "roc_mean_u_entropy.png").is_file()


def test_ood_refuses_an_empty_in_distribution_set_and_writes_nothing(checkpoints, tmp_path):
    out = tmp_path / "ood"
    one_line_error(invoke("uncertainty", "ood", "--checkpoint", checkpoints[0], "--sigma", 0.25, "--in-count", 0,
                          "--out", out, "--quiet"), "--in-count")
    assert not out.exists()


def test_experiment_end_to_end_resumes_and_redraws(tmp_path, monkeypatch):
    """The experiment of docs/uncertainty.md at toy sizes: every model kind, sweeps, OOD, report; a second run
    reuses every file, and --report-only only redraws."""
    from smoothcert.studies.uncertainty import SETUPS, Setup

    monkeypatch.setitem(SETUPS, "digits", Setup(
        epochs=1, skip=90, max_inputs=4, n0=10, n=60, rates=(0.2,), calibration_inputs=20, calibration_samples=2,
        ensemble=2, mc_dropout=2, measures=("entropy",), ensemble_measures=("mutual_info",), ood_in=4,
        ood_count=3, ood_samples=6, compile=False))
    out = tmp_path / "exp"
    one_line_error(invoke("uncertainty", "experiment", "digits", "--out", out, "--report-only"), "results.json")
    one_line_error(invoke("uncertainty", "experiment", "cifar", "--out", out), "'cifar'", "digits")
    result = ok(invoke("uncertainty", "experiment", "digits", "--out", out))
    assert "report" in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert set(results["sweeps"]) == {"single_entropy", "ensemble2_mutual_info"}
    assert set(results["ood"]) == {"single", "ensemble2", "mcdropout2"}
    assert results["sweeps"]["single_entropy"]["taus"][-1] == "inf"
    report = (out / "report.md").read_text()
    assert "## single_entropy" in report and "OOD AUROC, mcdropout2" in report
    for name in ("sweep.png", "radii_single_entropy.png", "ood_single/auroc.md", "ood_single/roc_mean_u_entropy.png"):
        assert (out / name).is_file(), name
    sweep_file = next((out / "single_entropy").glob("tau_*.tsv"))
    before = sweep_file.read_bytes()
    ok(invoke("uncertainty", "experiment", "digits", "--out", out))  # resumed: nothing recomputed
    assert sweep_file.read_bytes() == before
    assert json.loads((out / "results.json").read_text())["sweeps"]["single_entropy"]["rows"] == \
        results["sweeps"]["single_entropy"]["rows"]
    manifest = json.loads(sweep_file.with_suffix(".json").read_text())
    assert len(manifest["earlier_runs"]) == 1
    report = (out / "report.md").read_text()
    (out / "report.md").unlink()
    ok(invoke("uncertainty", "experiment", "digits", "--out", out, "--report-only"))
    assert (out / "report.md").read_text() == report


def test_uncertainty_certify_with_an_int8_base_model_records_it(checkpoints, tmp_path):
    out = tmp_path / "int8.tsv"
    ok(invoke("uncertainty", "certify", "--checkpoint", checkpoints[0], *ARGS, "--measure", "entropy", "--tau", 0.5,
              "--precision", "int8", "--out", out))
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["engine"]["precision"] == "int8" and manifest["engine"]["calibration_inputs"] == 1024
    table = rows(out)
    assert len(table) == 8 and {"radius_i", "radius_ii", "radius_cohen"} <= set(table[0])
