"""``smoothcert audit``: the full audit on a tiny digits setting, resuming, the parts, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import main

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = ["--dataset", "digits", "--sigmas", "0.25,0.5", "--n", "100", "--n0", "20", "--max", "20",
        "--matrix-n", "20", "--epochs", "1", "--no-compile", "--no-synthetic", "--quiet", "--threads", "1",
        "--batch-size", "256"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audit") / "digits"
    ok(invoke("audit", "--out", out, *TINY))  # no subcommand: `run`
    return out


def test_full_audit_writes_its_folder(audit_dir):
    manifest = json.loads((audit_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["arguments"]["n"] == 100
    assert set(manifest["timing"]) >= {"data and models", "disparity", "accuracy loss", "total"}
    for name in ("summary.md", "summary.json", "tables/side_by_side.tsv", "tables/disparity.json",
                 "tables/per_class_standard_sigma_0.25.md", "tables/accuracy_loss.md",
                 "figures/per_class_vs_sigma.png", "figures/class_sigma_heatmap.svg", "figures/accuracy_loss.png",
                 "samples/noise_sigma_0.5.tsv", "models/noise_0p5.safetensors", "models/standard.json"):
        assert (audit_dir / name).is_file(), name
    side = (audit_dir / "tables" / "side_by_side.tsv").read_text().splitlines()
    assert len(side) == 1 + 2 * 2  # standard and noise at two σ
    rows = (audit_dir / "samples" / "standard_sigma_0.25.tsv").read_text().splitlines()
    assert len(rows) == 21
    summary = json.loads((audit_dir / "summary.json").read_text())
    assert len(summary["accuracy_loss"]["vote"]) == 3  # standard, noise_0.25, noise_0.5
    assert "![per-class accuracy against σ](figures/per_class_vs_sigma.png)" in (audit_dir / "summary.md").read_text()


def test_rerun_resumes_and_changes_no_number(audit_dir):
    before = (audit_dir / "tables" / "side_by_side.tsv").read_text()
    result = ok(invoke("audit", "run", "--out", audit_dir, *TINY))
    assert "reusing standard" in result.output
    assert (audit_dir / "tables" / "side_by_side.tsv").read_text() == before


def test_rerun_with_other_settings_is_refused(audit_dir):
    args = [a if a != "100" else "200" for a in TINY]
    result = invoke("audit", "--out", audit_dir, *args)
    assert result.exit_code == 2
    assert "different arguments" in result.output and result.output.count("\n") == 1
    assert json.loads((audit_dir / "manifest.json").read_text())["status"] == "complete"


def test_disparity_of_given_checkpoints(audit_dir, tmp_path):
    out = tmp_path / "given"
    ok(invoke("audit", "disparity", "--out", out, "--checkpoint", f"plain={audit_dir / 'models' / 'standard'}",
              "--dataset", "digits", "--sigmas", "0.5", "--n", "50", "--n0", "10", "--max", "10", "--no-compile",
              "--batch-size", "256", "--quiet"))
    assert (out / "tables" / "per_class_plain_sigma_0.5.tsv").is_file()
    assert not (out / "matrix").exists()


def test_disparity_of_a_misfit_model_is_one_line_and_writes_nothing(audit_dir, tmp_path):
    out = tmp_path / "misfit"
    result = invoke("audit", "disparity", "--out", out, "--checkpoint", f"plain={audit_dir / 'models' / 'standard'}",
                    "--dataset", "concentric", "--sigmas", "0.5", "--n", "50", "--n0", "10", "--max", "10",
                    "--no-compile", "--batch-size", "256", "--quiet")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "expects inputs (1, 8, 8)" in result.output
    assert not out.exists()


def test_a_model_that_does_not_fit_is_refused_by_one_forward_pass():
    from torch import nn

    from smoothcert.data import load_dataset
    from smoothcert.errors import InputError
    from smoothcert.studies.audit import AuditConfig
    from smoothcert.studies.audit.base_models import smooth_models

    data = load_dataset("digits")
    config = AuditConfig(compile=False, batch_size=64).validate()
    wrong_classes = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with pytest.raises(InputError, match="model m: the model returns 3 logits"):
        smooth_models({"m": (wrong_classes, 0.0)}, data, config)
    wrong_shape = nn.Sequential(nn.Flatten(), nn.Linear(5, 10))
    with pytest.raises(InputError, match="do not fit the model"):
        smooth_models({"m": (wrong_shape, 0.0)}, data, config)


@pytest.mark.parametrize("command", [["run", *TINY], ["shrinkage"], ["hypotheses"], ["regions", "--quiet"]])
def test_out_that_is_a_file_is_one_line(tmp_path, command):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "below"):
        result = invoke("audit", command[0], "--out", out, *command[1:])
        assert result.exit_code == 2 and ("is a file" in result.output or "lies under the file" in result.output)
        assert result.output.count("\n") == 1
    assert afile.read_text() == "x"


def test_synthetic_parts(tmp_path):
    result = ok(invoke("audit", "shrinkage", "--out", tmp_path, "--dims", "1,2", "--angles", "45,90",
                       "--cone-dims", "2", "--mc", "5000"))
    assert "σ_van / ρ" in result.output and (tmp_path / "figures" / "shrink_ball.png").is_file()
    result = ok(invoke("audit", "hypotheses", "--out", tmp_path, "--sigmas", "0:0.6:0.3", "--m", "40"))
    assert (tmp_path / "tables" / "feasible_hypotheses.tsv").read_text().count("\n") == 4  # header + 3 σ
    ok(invoke("audit", "regions", "--out", tmp_path, "--sigmas", "0.1,0.3", "--n", "16", "--resolution", "11",
              "--epochs", "3", "--bisection-n", "16", "--quiet"))
    assert (tmp_path / "figures" / "regions.png").is_file()
    assert json.loads((tmp_path / "regions.json").read_text())["status"] == "complete"


def test_a_part_never_replaces_earlier_results_without_a_flag(tmp_path):
    """A standalone part rerun into its folder used to replace its earlier results silently; now, as certify
    does, it refuses in one line unless --resume (same settings) or --overwrite, and changes no file."""
    args = ["audit", "shrinkage", "--out", tmp_path, "--dims", "1,2", "--angles", "45,90", "--cone-dims", "2",
            "--mc", "2000"]
    ok(invoke(*args))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = invoke(*args)
    assert again.exit_code == 2 and "--resume" in again.output and again.output.count("\n") == 1
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    other = invoke(*args[:-1], "3000", "--resume")  # other settings: a resume is refused too
    assert other.exit_code == 2 and "different arguments" in other.output
    ok(invoke(*args, "--resume"))
    ok(invoke(*args[:-1], "3000", "--overwrite"))
    assert json.loads((tmp_path / "shrinkage.json").read_text())["arguments"]["mc"] == 3000


@pytest.mark.parametrize("args, fragment", [
    (["--sigmas", "0.5,x"], "--sigmas"),
    (["--sigmas", "-0.5"], "sigmas"),
    (["--n", "0"], "n must be"),
    (["--failure-prob", "2"], "alpha"),
    (["--batch-size", "x"], "--batch-size"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, fragment):
    result = invoke("audit", "--out", tmp_path / "bad", "--dataset", "digits", *args)
    assert result.exit_code == 2 and fragment in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "bad" / "samples").exists()
