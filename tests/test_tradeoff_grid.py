"""Real-data α × β grid: the majority-vote risk against known probabilities, model cache, resume, parallel runs."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from smoothcert import Smooth
from smoothcert.errors import InvalidArgumentError, ResultsError
from smoothcert.studies.tradeoff import grid as g
from smoothcert.studies.tradeoff.job import compare_alpha_star, load_grid, run_grid
from smoothcert.studies.tradeoff.levels import parse_levels
from smoothcert.studies.tradeoff.risk import base_predictions, majority_vote, risk, smoothed_predictions
from smoothcert.training import TrainConfig

from .known import LinearBinary

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TRIALS = 2000


def bounds(trials: int, p: float) -> tuple[int, int]:
    """Count range a Binomial(trials, p) leaves with probability ≤ 2·10⁻⁶."""
    return int(binom.ppf(1e-6, trials, p)), int(binom.ppf(1 - 1e-6, trials, p))


@pytest.mark.parametrize("score", [0.0, 0.1, -0.2])
def test_majority_vote_matches_the_binomial_law(score):
    """f(x) = 1[w·x ≥ 0] with P(f(x + ε) = 1) = p = Φ(score). Over n = 100 votes the majority is class 1 iff
    n₁ ≥ 51 (a 50–50 tie goes to class 0, the lowest, as argmax does): probability P(Bin(100, p) ≥ 51)."""
    sigma, d, n = 0.5, 10, 100
    torch.manual_seed(0)
    w = torch.randn(d)
    model = LinearBinary(w, 0.0)
    x = score * sigma * w / w.norm()
    p = model.p_one(x, sigma)
    assert p == pytest.approx(norm.cdf(score), abs=1e-6)
    smooth = Smooth(model, 2, sigma, batch_size=8192, seed=3)
    votes = majority_vote(smooth, x.expand(TRIALS, d), n, range(TRIALS))
    expected = binom.sf(50, n, p)
    low, high = bounds(TRIALS, expected)
    assert low <= int(votes.sum()) <= high
    if score == 0:  # power: ties going to class 1 would give P(Bin ≥ 50) = 0.54 instead of 0.46
        low_wrong, high_wrong = bounds(TRIALS, binom.sf(49, n, p))
        assert not low_wrong <= int(votes.sum()) <= high_wrong


def test_beta_zero_is_the_base_classifier_and_risk_counts_errors():
    w = torch.tensor([1.0, -1.0])
    model = LinearBinary(w, 0.0)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    assert base_predictions(model, x).tolist() == [1, 0, 1]
    assert smoothed_predictions(model, 2, x, 0.0, 100, [0, 1, 2]).tolist() == [1, 0, 1]
    assert risk(np.array([1, 0, 1]), torch.tensor([1, 1, 1])) == pytest.approx(1 / 3)
    with pytest.raises(InvalidArgumentError, match="beta"):
        smoothed_predictions(model, 2, x, -0.1, 100, [0, 1, 2])


def tiny_config(**changes) -> g.GridConfig:
    cfg = g.grid_preset("digits")
    cfg = replace(cfg, alphas=[0.0, 0.3], betas=[0.0, 0.3], clean=TrainConfig(epochs=2, batch_size=64, lr=2e-3),
                  finetune=g.FinetuneConfig(epochs=1, copies=2, images_per_step=32), votes=20, risk_max=40,
                  n0=10, n=40, cert_max=8, radii=[0.0, 0.1], compile=False, batch_size=512)
    return replace(cfg, **changes)


def cells_without_timing(run: Path) -> dict[str, dict]:
    out = {}
    for path in sorted((run / "cells").glob("*.json")):
        cell = json.loads(path.read_text())
        cell.pop("seconds")
        out[path.name] = cell
    return out


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("grid") / "run"
    run_grid(tiny_config(), run, progress=False, echo=lambda _: None)
    return run


def test_grid_writes_models_cells_tables_and_manifest(grid_run):
    names = {p.name for p in (grid_run / "models").iterdir()}
    assert {"clean.safetensors", "alpha_0.safetensors", "alpha_0p3.safetensors", "alpha_0p3.json"} <= names
    assert len(list((grid_run / "cells").glob("*.json"))) == 4
    manifest = json.loads((grid_run / "grid.json").read_text())
    assert manifest["status"] == "complete" and manifest["arguments"]["alphas"] == [0.0, 0.3]
    assert manifest["timing"]["cells_evaluated"] == 4 and manifest["timing"]["models_trained"] == 3
    res = load_grid(grid_run)
    assert res.complete and res.risk.shape == (2, 2) and np.all(np.isfinite(res.risk))
    assert np.all(np.isnan(res.certified[0.1][:, 0]))  # no certificate without smoothing noise
    assert np.all(np.isfinite(res.certified[0.1][:, 1]))
    for j in range(2):  # α* is the α of the column's lowest risk, the smallest on ties
        col = res.risk[:, j]
        assert res.alpha_star()[j] == res.alphas[int(np.argmin(col))]
    cell = json.loads((grid_run / "cells" / "a0.3_b0.3.json").read_text())
    assert cell["errors"] == round(cell["risk"] * cell["risk_inputs"]) and cell["risk_inputs"] == 40
    info = json.loads((grid_run / "models" / "alpha_0p3.json").read_text())
    assert info["train_sigma"] == 0.3 and info["training"]["copies"] == 2
    for name in ("risk.tsv", "alpha_star.md", "certified_r0.1.tsv", "risk_heatmap.png", "alpha_star.svg",
                 "report.md"):
        assert (grid_run / name).is_file(), name


def test_alpha_star_plot_of_several_runs(grid_run, tmp_path):
    paths = compare_alpha_star({"tiny": grid_run}, tmp_path / "stars")
    assert [p.name for p in paths] == ["stars.png", "stars.svg"] and all(p.stat().st_size > 0 for p in paths)


def test_alpha_star_plot_draws_intervals_only_for_plotted_curves(tmp_path):
    from smoothcert.studies.tradeoff.plots import plot_alpha_star

    curves = {"seeds": ([0.1, 0.5], [0.2, 0.4]), "paper": ([0.1, 0.5], [0.25, 0.41])}
    plot_alpha_star(curves, tmp_path / "plain")
    paths = plot_alpha_star(curves, tmp_path / "stars", intervals={"seeds": ([0.1, 0.3], [0.3, 0.55])})
    assert all(p.stat().st_size > 0 for p in paths)
    bars = '<g id="LineCollection'  # matplotlib draws error bars (and their legend key) as line collections
    assert bars not in (tmp_path / "plain.svg").read_text() and bars in (tmp_path / "stars.svg").read_text()
    with pytest.raises(InvalidArgumentError, match="not plotted"):
        plot_alpha_star(curves, tmp_path / "other", intervals={"nope": ([0.1], [0.2])})


def test_paired_difference_is_the_mean_of_per_input_error_differences(grid_run):
    res = load_grid(grid_run)
    diff, se = res.paired_difference(0.3, 0.0, 0.3)
    assert diff == pytest.approx(res.risk[1, 1] - res.risk[0, 1])
    assert se >= 0 and math.isfinite(se)
    for j, beta in enumerate(res.betas):
        near = res.near_best(beta)
        assert res.alpha_star()[j] in near
        for alpha in res.alphas:  # an α with a strictly lower risk than α* cannot exist; equal risk is "near"
            if res.risk[res.alphas.index(alpha), j] == res.risk[res.alphas.index(res.alpha_star()[j]), j]:
                assert alpha in near


def test_resume_reuses_models_and_cells_and_extends_the_grid(grid_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(grid_run, run)
    before = cells_without_timing(run)
    weights = run / "models" / "alpha_0p3.safetensors"
    stamp = weights.stat().st_mtime_ns
    with pytest.raises(ResultsError, match="--resume"):
        run_grid(tiny_config(), run, progress=False, echo=lambda _: None)
    with pytest.raises(ResultsError, match="other settings"):
        run_grid(tiny_config(votes=30), run, resume=True, progress=False, echo=lambda _: None)
    res = run_grid(tiny_config(betas=[0.0, 0.3, 0.6]), run, resume=True, progress=False, echo=lambda _: None)
    assert weights.stat().st_mtime_ns == stamp  # the cached model was not retrained
    after = cells_without_timing(run)
    assert {k: after[k] for k in before} == before and len(after) == 6
    assert res.complete and res.risk.shape == (2, 3)
    manifest = json.loads((run / "grid.json").read_text())
    assert [r["timing"]["cells_evaluated"] for r in manifest["runs"]] == [4, 2]  # each invocation recorded
    assert manifest["runs"][-1]["timing"]["models_trained"] == 0 and manifest["timing"]["cells_evaluated"] == 6


def test_an_interrupted_cell_resumes_to_the_same_result(grid_run, tmp_path):
    """Drop a cell file and tear its CERTIFY file after one row: the resumed cell equals the uninterrupted one."""
    run = tmp_path / "run"
    shutil.copytree(grid_run, run)
    before = cells_without_timing(run)
    (run / "cells" / "a0.3_b0.3.json").unlink()
    tsv = run / "certify" / "a0.3_b0.3.tsv"
    lines = tsv.read_text().split("\n")
    tsv.write_text("\n".join(lines[:2]) + "\n" + lines[2][:5])  # header, one row, a torn row
    run_grid(tiny_config(), run, resume=True, progress=False, echo=lambda _: None)
    assert cells_without_timing(run) == before


def test_cells_are_reused_only_for_the_arguments_they_record(grid_run, tmp_path):
    """A cell records its α, β and recipe (runs.CellCache); one recorded with others is computed again, one from
    before cells recorded them is kept (the folder's manifest holds its recipe)."""
    run = tmp_path / "run"
    shutil.copytree(grid_run, run)
    before = cells_without_timing(run)
    assert before["a0.3_b0.3.json"]["arguments"] == g.cell_arguments(tiny_config().validate(), 0.3, 0.3)
    legacy, other = run / "cells" / "a0_b0.3.json", run / "cells" / "a0.3_b0.json"
    doc = json.loads(legacy.read_text())
    doc.pop("arguments")
    legacy.write_text(json.dumps(doc))
    doc = json.loads(other.read_text())
    doc["arguments"]["recipe"]["votes"] = 99
    doc["risk"] = -1.0
    other.write_text(json.dumps(doc))
    run_grid(tiny_config(), run, resume=True, progress=False, echo=lambda _: None)
    assert "arguments" not in json.loads(legacy.read_text())  # kept, not recomputed
    assert cells_without_timing(run)["a0.3_b0.json"] == before["a0.3_b0.json"]  # recomputed: the same again


def test_two_workers_give_the_same_cells(grid_run, tmp_path):
    """The cells, evaluated again by a pool of two processes from the cached models, are the same."""
    run = tmp_path / "run"
    shutil.copytree(grid_run, run)
    for folder in ("cells", "certify"):
        shutil.rmtree(run / folder)  # results, manifests and saved count folders alike
    run_grid(tiny_config(), run, workers=2, resume=True, progress=False, echo=lambda _: None)
    assert cells_without_timing(run) == cells_without_timing(grid_run)


def test_a_sequential_grid_leaves_torch_threads_as_they_were(grid_run, tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run = tmp_path / "run"
        shutil.copytree(grid_run, run)
        run_grid(tiny_config(), run, resume=True, threads=1, progress=False, echo=lambda _: None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_alpha_zero_can_be_the_clean_model(tmp_path):
    cfg = tiny_config(finetune=g.FinetuneConfig(epochs=1, copies=2, images_per_step=32, finetune_zero=False))
    assert g.model_path(tmp_path, 0.0, cfg) == g.clean_path(tmp_path)
    assert g.model_path(tmp_path, 0.25, cfg).name == "alpha_0p25"


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"alphas": [0.1, 0.2]}, "include 0"), ({"betas": [-0.1]}, "betas"), ({"votes": 0}, "votes"),
    ({"cert_alpha": 1.5}, "alpha"), ({"radii": [-1.0]}, "radi")])
def test_bad_grid_settings_are_refused_before_anything_is_written(changes, fragment, tmp_path):
    with pytest.raises(InvalidArgumentError, match=fragment):
        run_grid(tiny_config(**changes), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_parse_levels():
    assert parse_levels("0:3", "x") == [0, 1, 2, 3]
    assert parse_levels("0:0.5:0.25", "x") == [0, 0.25, 0.5]
    assert parse_levels("0, 0.1,0.25", "x") == [0, 0.1, 0.25]
    with pytest.raises(InvalidArgumentError, match="--alphas"):
        parse_levels("1:0", "--alphas")
