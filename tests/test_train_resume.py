"""`smoothcert train --resume` continues an interrupted training to the weights of an uninterrupted one, and
Ctrl-C tells the truth: `--resume` only for commands that have it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from safetensors.torch import load_file

import smoothcert.studies.tradeoff as tradeoff_study
import smoothcert.training.loop as loop
from smoothcert.cli import main
from smoothcert.training.state import state_paths

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TRAIN = ["train", "--dataset", "digits", "--arch", "mlp", "--epochs", 3, "--batch-size", 256, "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def interrupt_after_epoch(monkeypatch, epoch: int) -> None:
    """Make training raise KeyboardInterrupt right after the state of ``epoch`` is saved (a Ctrl-C then)."""
    save = loop.save_state

    def save_then_interrupt(stem, module, optimizer, rng, meta):
        save(stem, module, optimizer, rng, meta)
        if meta["epoch"] == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_state", save_then_interrupt)


def test_interrupted_train_resumed_gives_the_same_weights(tmp_path, monkeypatch):
    whole = tmp_path / "whole" / "model"
    result = invoke(*TRAIN, "--out", whole)
    assert result.exit_code == 0, result.output

    stem = tmp_path / "cut" / "model"
    with monkeypatch.context() as patch:
        interrupt_after_epoch(patch, 2)
        cut = invoke(*TRAIN, "--out", stem)
    assert cut.exit_code == 130
    assert "rerun the same command with --resume" in cut.stderr
    assert not stem.with_suffix(".safetensors").exists()
    state = state_paths(stem.with_name("model.state"))
    assert all(p.is_file() for p in state)

    again = invoke(*TRAIN, "--out", stem)  # without --resume: refused, the state is kept
    assert again.exit_code == 2 and "--resume" in again.stderr
    assert all(p.is_file() for p in state)

    resumed = invoke(*TRAIN, "--out", stem, "--resume")
    assert resumed.exit_code == 0, resumed.output
    a, b = load_file(str(whole.with_suffix(".safetensors"))), load_file(str(stem.with_suffix(".safetensors")))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert not any(p.exists() for p in state)  # the state goes once the checkpoint is written


def test_resume_of_a_finished_training_is_refused(tmp_path):
    stem = tmp_path / "model"
    assert invoke(*TRAIN, "--epochs", 1, "--out", stem).exit_code == 0
    before = stem.with_suffix(".safetensors").read_bytes()
    result = invoke(*TRAIN, "--epochs", 1, "--out", stem, "--resume")
    assert result.exit_code == 2 and "nothing to resume" in result.stderr
    assert stem.with_suffix(".safetensors").read_bytes() == before
    both = invoke(*TRAIN, "--epochs", 1, "--out", stem, "--resume", "--overwrite")
    assert both.exit_code == 2 and len(both.stderr.splitlines()) == 1


def test_ctrl_c_in_a_command_without_resume_does_not_suggest_it(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tradeoff_study, "run_disks_experiment", interrupted)
    result = invoke("tradeoff", "disks", "--out", tmp_path / "d")
    assert result.exit_code == 130
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smoothcert: interrupted; ")
    assert "with --resume" not in lines[0] and "has no --resume" in lines[0]


def test_ctrl_c_in_certify_suggests_resume(tmp_path, monkeypatch):
    import smoothcert.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "certify_dataset", interrupted)
    stem = tmp_path / "m"
    assert invoke(*TRAIN, "--epochs", 1, "--out", stem).exit_code == 0
    result = invoke("certify", "--checkpoint", stem, "--sigma", 0.25, "--n", 20, "--max", 1, "--quiet",
                    "--out", Path(tmp_path) / "r.tsv")
    assert result.exit_code == 130 and "with --resume" in result.stderr


def test_ctrl_c_in_a_nested_command_with_resume_suggests_it(tmp_path, monkeypatch):
    import smoothcert.cli.uncertainty as uncertainty_cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(uncertainty_cli, "_loaded", interrupted)
    result = invoke("uncertainty", "certify", "--checkpoint", tmp_path / "m", "--sigma", 0.25, "--tau", 1,
                    "--out", tmp_path / "u.tsv")
    assert result.exit_code == 130 and "with --resume" in result.stderr, result.output
