"""The training split is recorded in the checkpoint, and certifying on another split that holds training inputs
is refused (or, with --allow-overlap, warned about and recorded); old checkpoints are warned about once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import common as cli_common
from smoothcert.cli import main
from smoothcert.data import compare_split, load_dataset
from smoothcert.data.split import DISJOINT, OTHER_DATA, OVERLAP, SAME, UNRECORDED, check_split
from smoothcert.errors import SplitOverlapError
from smoothcert.models import read_info
from smoothcert.training import TrainConfig, train_base_model

pytestmark = pytest.mark.usefixtures("torch_single_thread")

FAST = ["--sigma", "0.25", "--n0", "10", "--n", "50", "--max", "3", "--no-timing", "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def redraw_digits(seed, test_size):
    return load_dataset("digits", seed=seed, test_size=test_size)


@pytest.fixture(scope="module")
def stem(tmp_path_factory) -> Path:
    """A small MLP trained one epoch on digits with split seed 0."""
    stem = tmp_path_factory.mktemp("split") / "model"
    train_base_model(load_dataset("digits"), "mlp", TrainConfig(epochs=1, seed=0), stem, progress=False)
    return stem


def test_the_sidecar_records_the_split_as_data(stem):
    split = read_info(stem).split
    data = load_dataset("digits", seed=0)
    assert split == data.split_record()
    assert split["dataset"] == "digits" and split["seed"] == 0
    assert (split["train_size"], split["test_size"], split["pool_size"]) == (1437, 360, 1797)
    assert len(split["test_indices_sha256"]) == 64


def test_datasets_expose_disjoint_indices_of_one_pool():
    for data in (load_dataset("digits", seed=3), load_dataset("blobs", seed=2), load_dataset("moons")):
        assert len(data.train_indices) == len(data.x_train) and len(data.test_indices) == len(data.x_test)
        assert not np.isin(data.test_indices, data.train_indices).any()
        assert data.split["pool_size"] == len(data.train_indices) + len(data.test_indices)


def test_another_seed_of_digits_overlaps_the_training_data():
    recorded = load_dataset("digits", seed=0).split_record()
    other = load_dataset("digits", seed=1)
    check = compare_split(recorded, other, redraw_digits)
    theirs = load_dataset("digits", seed=0)
    expected = int(np.isin(other.test_indices, theirs.train_indices).sum())
    assert check.status == OVERLAP and check.overlap == expected == 292
    with pytest.raises(SplitOverlapError, match=r"seed 1.*seed 0"):
        check_split(check, "digits")
    assert check_split(check, "digits", allow_overlap=True) is check


def test_the_same_split_and_fresh_synthetic_draws_pass():
    data = load_dataset("digits", seed=0)
    assert compare_split(data.split_record(), load_dataset("digits", seed=0), redraw_digits).status == SAME
    blobs = load_dataset("blobs", seed=0).split_record()
    assert compare_split(blobs, load_dataset("blobs", seed=1)).status == DISJOINT  # new points altogether
    assert compare_split(data.split_record(), load_dataset("moons")).status == OTHER_DATA
    assert compare_split({}, data).status == UNRECORDED


def test_a_larger_test_size_of_the_same_seed_overlaps():
    recorded = load_dataset("digits", seed=0).split_record()
    check = compare_split(recorded, load_dataset("digits", seed=0, test_size=720), redraw_digits)
    assert check.status == OVERLAP and check.overlap > 0
    assert "--data-seed 0 --test-size 360" in check.message("digits")


def test_certify_with_another_data_seed_is_refused_in_one_line(stem, tmp_path):
    out = tmp_path / "r.tsv"
    result = invoke("certify", "--checkpoint", stem, "--data-seed", 1, *FAST, "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smoothcert: error: ")
    assert "292 of the 360" in lines[0] and "split seed 1" in lines[0] and "split seed 0" in lines[0]
    assert "--allow-overlap" in lines[0]
    assert not out.exists()


def test_predict_and_uncertainty_certify_refuse_too(stem, tmp_path):
    predict = invoke("predict", "--checkpoint", stem, "--data-seed", 1, "--sigma", 0.25, "--n", 50, "--max", 3,
                     "--quiet", "--out", tmp_path / "p.tsv")
    assert predict.exit_code == 2 and "training inputs" in predict.stderr
    unc = invoke("uncertainty", "certify", "--checkpoint", stem, "--data-seed", 1, *FAST, "--tau", "inf",
                 "--out", tmp_path / "u.tsv")
    assert unc.exit_code == 2 and "training inputs" in unc.stderr, unc.output


def test_allow_overlap_warns_and_records_it_in_the_manifest(stem, tmp_path):
    out = tmp_path / "r.tsv"
    result = invoke("certify", "--checkpoint", stem, "--data-seed", 1, *FAST, "--out", out, "--allow-overlap")
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr and "292" in result.stderr and "--allow-overlap" in result.stderr
    manifest = json.loads(out.with_suffix(".json").read_text())
    check = manifest["dataset"]["split_check"]
    assert check["status"] == "overlap" and check["overlap"] == 292 and check["allow_overlap"] is True
    assert "allow_overlap" not in manifest["arguments"]  # a permission, not a result: a resume may drop it


def test_the_checkpoints_own_split_passes_silently(stem, tmp_path):
    result = invoke("certify", "--checkpoint", stem, *FAST, "--out", tmp_path / "r.tsv")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_an_old_checkpoint_without_split_is_warned_about_once(stem, tmp_path, monkeypatch):
    old = tmp_path / "old"
    for suffix in (".safetensors", ".json"):
        old.with_suffix(suffix).write_bytes(stem.with_suffix(suffix).read_bytes())
    doc = json.loads(old.with_suffix(".json").read_text())
    del doc["split"]
    old.with_suffix(".json").write_text(json.dumps(doc))
    monkeypatch.setattr(cli_common, "_WARNED", set())
    first = invoke("certify", "--checkpoint", old, *FAST, "--out", tmp_path / "a.tsv")
    assert first.exit_code == 0, first.output
    assert first.stderr.count("does not record the split") == 1
    second = invoke("certify", "--checkpoint", old, *FAST, "--out", tmp_path / "b.tsv")
    assert second.exit_code == 0 and second.stderr == ""


def test_the_audit_refuses_a_checkpoint_whose_training_inputs_it_would_audit(stem, tmp_path):
    """The audit loads its checkpoints in its own study code; it checks the split as certify does: a split
    whose test inputs were the model's training inputs is refused in one line, before the folder exists."""
    out = tmp_path / "audit"
    args = ["audit", "disparity", "--checkpoint", f"m={stem}.safetensors", "--dataset", "digits", "--sigmas",
            "0.25", "--n0", "10", "--n", "20", "--max", "3", "--quiet", "--no-compile", "--batch-size", "64"]
    refused = invoke(*args, "--data-seed", 1, "--out", out)
    assert refused.exit_code == 2, refused.output
    assert len(refused.stderr.splitlines()) == 1 and "training inputs" in refused.stderr
    assert "--data-seed 0" in refused.stderr and not out.exists()
    assert invoke(*args, "--out", out).exit_code == 0  # the model's own split passes
