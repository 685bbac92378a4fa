"""OOD sets, AUROC, resumable scoring, and the per-certificate scores of uncertainty-aware results."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from smoothcert import GaussianNoise, InvalidArgumentError
from smoothcert.analysis import CertifyResults, certified_accuracy
from smoothcert.analysis.uncertainty import certified_accuracy_of, label_radius, radius_comparison
from smoothcert.errors import ResultsError
from smoothcert.studies.uncertainty.ood import (
    auroc,
    auroc_rows,
    make_ood_sets,
    photo_patches,
    read_scores,
    render_letters,
    score_sets,
    uniform_noise_images,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 16, 16)])
def test_ood_images_have_the_datas_shape_and_range(shape):
    for make in (render_letters, photo_patches, uniform_noise_images):
        x = make(shape, 6, seed=1)
        assert x.shape == (6, *shape) and x.dtype == torch.float32
        assert x.min() >= 0 and x.max() <= 1
        assert torch.equal(x, make(shape, 6, seed=1)) and not torch.equal(x, make(shape, 6, seed=2))
        assert (x.flatten(1).std(dim=1) > 0.01).all()  # no blank images
    letters = render_letters(shape, 6, seed=1)
    assert torch.allclose(letters.flatten(1).max(dim=1).values, torch.ones(6))  # bright strokes, max 1
    assert (letters.flatten(1).mean(dim=1) < 0.5).all()  # on dark ground, like the digits


def test_ood_set_errors():
    with pytest.raises(InvalidArgumentError, match="'cifar'"):
        make_ood_sets((1, 8, 8), 3, names=["letters", "cifar"])
    with pytest.raises(InvalidArgumentError, match="input shape"):
        make_ood_sets((64,), 3)
    assert set(make_ood_sets((1, 8, 8), 2)) == {"letters", "photos", "uniform"}


def test_auroc():
    assert auroc([0, 1, 2], [3, 4]) == 1.0
    assert auroc([3, 4], [0, 1, 2]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5
    assert auroc([0.1, 0.2], [math.inf, 0.3]) == 1.0
    with pytest.raises(InvalidArgumentError, match="NaN"):
        auroc([0.1, math.nan], [0.3])


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()


def test_scoring_is_resumable_and_feeds_the_auroc_table(tmp_path):
    model = tiny_model()
    sets = {"test": torch.rand(5, 1, 8, 8) * 0.2, **make_ood_sets((1, 8, 8), 4, seed=3)}
    kwargs = dict(noise=GaussianNoise(0.25), num_samples=30, measures=["entropy", "margin"], num_classes=10,
                  taus=[2.0, 0.9], progress=False, chunk=3)
    full = tmp_path / "full.tsv"
    score_sets(model, sets, out=full, **kwargs)
    lines = full.read_text().splitlines(keepends=True)
    assert len(lines) == 1 + 5 + 3 * 4
    partial = tmp_path / "partial.tsv"
    partial.write_text("".join(lines[:7]) + lines[7][:5])
    partial.with_suffix(".json").write_text(full.with_suffix(".json").read_text())
    score_sets(model, sets, out=partial, resume=True, **kwargs)
    assert partial.read_bytes() == full.read_bytes()
    manifest = json.loads(partial.with_suffix(".json").read_text())  # a runs manifest: engine, history kept
    assert manifest["status"] == "complete" and manifest["timing"]["resumed_rows"] == 6
    assert len(manifest["earlier_runs"]) == 1 and manifest["engine"]["batch_size"] == 1024
    # Resume is keyed on content: another model's weights (same arguments, same path) are refused.
    other = tiny_model()
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    with pytest.raises(ResultsError, match="weights"):
        score_sets(other, sets, out=partial, resume=True, **kwargs)
    with pytest.raises(InvalidArgumentError, match="tau must be >= 0"):
        score_sets(model, sets, out=tmp_path / "neg.tsv", **{**kwargs, "taus": [2.0, -0.1]})
    assert not (tmp_path / "neg.tsv").exists()
    scores = read_scores(full)
    assert set(scores) == {"test", "letters", "photos", "uniform"} and len(scores["photos"]["mean_u_entropy"]) == 4
    header, rows = auroc_rows(scores, "test", ["entropy", "margin"])
    assert header == ["measure", "score", "letters", "photos", "uniform", "mean"] and len(rows) == 6
    fractions = scores["test"]["frac_uncertain_entropy"]
    assert ((fractions * 30) % 1 == 0).all()  # a count out of 30 copies


def results_with(label, guess, guess_cohen, radius_i, radius_ii, radius_cohen, frac=None) -> CertifyResults:
    n = len(label)
    nan_to_zero = np.nan_to_num(np.asarray(radius_ii, float), nan=0.0)
    predict = np.where(np.isnan(radius_ii), -1, guess)
    extra = {"guess": guess, "guess_cohen": guess_cohen, "radius_i": radius_i, "radius_ii": radius_ii,
             "radius_cohen": radius_cohen, "radius_i_top2": radius_i, "radius_ii_top2": radius_ii,
             "frac_uncertain": frac if frac is not None else np.zeros(n)}
    return CertifyResults(idx=np.arange(n), label=label, predict=predict, radius=nan_to_zero,
                          correct=predict == np.asarray(label), time=np.zeros(n), extra=extra, name="t")


def test_radius_comparison_by_hand():
    nan = math.nan
    res = results_with(
        label=[0, 1, 2, 3, 4],
        guess=[0, 1, 2, 0, 4],
        guess_cohen=[0, 1, 2, 3, 0],
        radius_i=[0.2, nan, 0.1, 0.5, 0.3],
        radius_ii=[0.5, 0.4, 0.1, 0.6, 0.9],
        radius_cohen=[0.3, 0.5, nan, 0.4, 0.8],
        frac=np.array([0.1, 0.2, 0.0, 0.0, 0.2]),
    )
    c = radius_comparison(res)
    # Correctly classified (plain guess right): rows 0, 1, 2, 3. Row 3: ĉ_A = 0 ≠ label, so R_i = R_ii = 0 there.
    assert c["correct"] == 4 and c["points"] == 5
    assert c["mean_radius"]["cohen"] == pytest.approx((0.3 + 0.5 + 0 + 0.4) / 4)
    assert c["mean_radius"]["i"] == pytest.approx((0.2 + 0 + 0.1 + 0) / 4)
    assert c["mean_radius"]["ii"] == pytest.approx((0.5 + 0.4 + 0.1 + 0) / 4)
    assert c["share_ii_above_cohen"] == pytest.approx(2 / 4)  # rows 0 and 2
    assert c["mean_gain_where_above"] == pytest.approx((0.2 + 0.1) / 2)
    assert c["relative_gain_of_means"] == pytest.approx(1.0 / 1.2 - 1)
    assert c["guesses_differ"] == 2 and c["abstain_i"] == 1 and c["abstain_ii"] == 0
    assert c["mean_frac_uncertain"] == pytest.approx(0.1)
    # Row 4: ĉ_A right but the plain guess wrong: counts for R_ii's ACR, not for Cohen's.
    assert c["acr"]["ii"] == pytest.approx((0.5 + 0.4 + 0.1 + 0 + 0.9) / 5)
    assert c["acr"]["cohen"] == pytest.approx((0.3 + 0.5 + 0.4) / 5)


def test_per_certificate_accuracy_agrees_with_the_generic_analysis_for_r_i_and_r_ii():
    rng = np.random.default_rng(0)
    n = 300
    label = rng.integers(0, 3, n)
    guess = np.where(rng.random(n) < 0.8, label, (label + 1) % 3)
    r_ii = np.where(rng.random(n) < 0.9, rng.random(n), np.nan)
    r_i = np.where(~np.isnan(r_ii) & (rng.random(n) < 0.7), r_ii * rng.random(n), np.nan)
    res = results_with(label, guess, guess, r_i, r_ii, r_ii)
    grid = np.linspace(0, 1, 21)
    for cert, column in (("i", "radius_i"), ("ii", "radius_ii")):
        np.testing.assert_allclose(certified_accuracy_of(res, cert, grid), certified_accuracy(res, grid, column))
    assert np.isnan(label_radius(res, "ii")[guess != label]).all()
