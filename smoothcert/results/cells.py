"""A trained-and-certified cell, the unit of the MNIST recipes: ``smoothcert train`` then ``smoothcert certify``
into one folder (model.safetensors + model.json, certify.tsv + certify.json), each resumable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..analysis.results import CertifyResults, read_results
from .recipe import Step


def train_argv(d: Path, data: Sequence[str], sigma: float, flags: Sequence[str]) -> list[str]:
    """``smoothcert train`` (after ``smoothcert``) of the cell in ``d`` at training noise σ."""
    return ["train", *data, "--arch", "lenet", "--train-sigma", f"{sigma:g}", *flags, "--out", str(d / "model")]


def certify_argv(d: Path, data: Sequence[str], sigma: float, flags: Sequence[str]) -> list[str]:
    """``smoothcert certify`` (after ``smoothcert``) of the cell's model at smoothing noise σ."""
    return ["certify", *data, "--checkpoint", str(d / "model"), "--sigma", f"{sigma:g}", *flags,
            "--out", str(d / "certify.tsv")]


def cell_steps(name: str, d: Path, train: Sequence[str], certify: Sequence[str]) -> list[Step]:
    """The cell's two steps: finished when the checkpoint exists / the certification's manifest is complete;
    resumed from the epoch state / the rows written so far."""
    return [Step(f"{name}/train", tuple(train), done=d / "model.safetensors", resume_marker=d / "model.state.json"),
            Step(f"{name}/certify", tuple(certify), done=d / "certify.json", resume_marker=d / "certify.tsv")]


def finished_results(d: Path) -> CertifyResults | None:
    """The cell's certification rows sorted by input index (so cells pair input by input), or None if unfinished."""
    step = Step("", (), done=d / "certify.json")
    if not step.finished():
        return None
    res = read_results(d / "certify.tsv")
    order = np.argsort(res.idx)
    return CertifyResults(res.idx[order], res.label[order], res.predict[order], res.radius[order],
                          res.correct[order], res.time[order], name=res.name, path=res.path)
