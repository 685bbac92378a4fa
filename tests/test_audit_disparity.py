"""Class-wise audit: metrics on a constructed classifier whose per-class accuracies are known, the soundness of
the shared-sample CERTIFY/PREDICT (coverage), and resumable audit files."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import binom, binomtest, norm

from smoothcert import ABSTAIN, Smooth
from smoothcert.analysis import read_results
from smoothcert.errors import InvalidArgumentError, ResultsError
from smoothcert.noise import GaussianNoise
from smoothcert.runs import RunOptions
from smoothcert.sampling import ArgmaxOutcome
from smoothcert.stats import binomial_test_half
from smoothcert.studies.audit.disparity import (
    AUDIT_COLUMNS,
    audit_counts,
    audit_dataset,
    audit_inputs,
    class_metrics,
    disparity,
    largest_losses,
    per_class_mean,
)

from .known import Buckets, LinearBinary

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TRIALS = 2000


def allowed_failures(trials: int, alpha: float) -> int:
    return int(binom.ppf(1 - 1e-6, trials, alpha))


# --- the disparity figures --------------------------------------------------------------------------------

def test_disparity_figures_by_hand():
    d = disparity([0.8, 0.0, 1.0, np.nan])
    # mean 0.6; deviations 0.2, −0.6, 0.4; population variance (0.04 + 0.36 + 0.16)/3
    assert d.spread == pytest.approx(1.0) and d.mean == pytest.approx(0.6)
    assert d.std == pytest.approx(math.sqrt(0.56 / 3))
    assert (d.worst_class, d.worst, d.best_class, d.best) == (1, 0.0, 2, 1.0)
    assert largest_losses([0.8, 0.75, 1.0], [0.8, 0.0, 0.9], k=2) == [(1, 0.75), (2, pytest.approx(0.1))]
    assert per_class_mean(np.array([0, 0, 2]), np.array([1.0, 0.0, 1.0]), 3).tolist()[::2] == [0.5, 1.0]
    assert math.isnan(per_class_mean(np.array([0, 0, 2]), np.array([1.0, 0.0, 1.0]), 3)[1])
    with pytest.raises(InvalidArgumentError):
        disparity([np.nan, np.nan])


def test_vectorized_binomial_test_equals_scipy():
    pairs = [(k, n) for n in (1, 2, 3, 10, 11, 100, 1000) for k in sorted({0, 1, n // 2, n // 2 + 1, n - 1, n})]
    pairs += [(530, 1000), (531, 1000), (560, 1000), (0, 0)]
    k, n = np.array(pairs).T
    expected = [binomtest(a, b, 0.5).pvalue if b else 1.0 for a, b in pairs]
    assert binomial_test_half(k, n) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_audit_counts_reads_the_counts():
    counts0 = np.array([[10, 80, 10], [50, 0, 50]])
    counts = np.array([[0, 1000, 0], [480, 40, 480]])
    rows = audit_counts(counts0, counts, np.array([1, 2]), np.array([1, 0]), 0.001, GaussianNoise(0.5), 3)
    a, b = rows
    assert a["smoothed"] == 1 and a["vote"] == 1 and a["p_label"] == 1.0 and a["predict"] == 1
    assert a["pA_lower"] == pytest.approx(0.001 ** (1 / 1000)) and a["radius"] == pytest.approx(
        0.5 * norm.ppf(0.001 ** (1 / 1000)))
    # A tie between classes 0 and 2: PREDICT abstains, the vote takes the lower class, CERTIFY abstains.
    assert b["smoothed"] == ABSTAIN and b["vote"] == 0 and b["predict"] == ABSTAIN and b["radius"] == 0.0
    assert b["p_label"] == pytest.approx(0.48) and b["base_clean"] == 0 and b["correct"] == 0


# --- a classifier with known per-class accuracies ---------------------------------------------------------

SIGMA = 0.1
THRESHOLDS = [1.0, 1.05]  # class 1 is the bucket (1.0, 1.05]: far narrower than σ, so smoothing erases it


def constructed():
    """Inputs on the first coordinate, placed so every per-class number is known:

    class 0: four at 0 (right, 10σ from the boundary), one at 3 (wrong: bucket 2);
    class 1: three at 1.025 (right for f, but P(bucket 1) = 2Φ(0.25) − 1 ≈ 0.197 and buckets 0 and 2 tie at
    ≈ 0.401, so PREDICT abstains), one at 0 (wrong);
    class 2: two at 3 (right).
    """
    first = [0, 0, 0, 0, 3, 1.025, 1.025, 1.025, 0, 3, 3]
    labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    x = torch.zeros(len(first), 3)
    x[:, 0] = torch.tensor(first)
    return Buckets(THRESHOLDS), x, torch.tensor(labels)


def test_metrics_on_the_constructed_classifier(tmp_path):
    model, x, y = constructed()
    smooth = Smooth(model, 3, SIGMA, batch_size=4096, seed=5)
    out = tmp_path / "audit.tsv"
    audit_dataset(smooth, x, y, out, n0=100, n=1000, alpha=0.001, options=RunOptions(progress=False))
    m = class_metrics(read_results(out), 3, [0.0, 0.2, 0.3], SIGMA)
    assert m.counts.tolist() == [5, 4, 2]
    assert m.base_clean.tolist() == [0.8, 0.75, 1.0]
    assert m.smoothed.tolist() == [0.8, 0.0, 1.0]
    assert m.abstain.tolist() == [0.0, 0.75, 0.0]
    p_narrow = 2 * norm.cdf(0.25) - 1
    noisy_sd = math.sqrt(p_narrow * (1 - p_narrow) / 3000) * 3 / 4
    assert m.base_noisy == pytest.approx([0.8, 3 * p_narrow / 4, 1.0], abs=5 * noisy_sd + 1e-6)
    # CERTIFY: all n = 1000 samples agree far from the thresholds, so the radius is the ceiling σΦ⁻¹(α^{1/n}).
    ceiling = SIGMA * norm.ppf(0.001 ** (1 / 1000))
    assert 0.2 < ceiling < 0.3
    assert m.certified.tolist() == [[0.8, 0.8, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    d = disparity(m.smoothed)
    assert (d.spread, d.worst_class) == (1.0, 1)
    assert d.std == pytest.approx(math.sqrt(0.56 / 3))
    assert largest_losses(m.base_clean, m.smoothed, 1) == [(1, 0.75)]
    assert m.overall["smoothed"] == pytest.approx(6 / 11) and m.overall["base_clean"] == pytest.approx(9 / 11)


# --- coverage of the shared-sample CERTIFY and of PREDICT -------------------------------------------------

@pytest.mark.parametrize("score", [0.1, 0.5, 1.5])  # p_1 = Φ(score): ≈ 0.54, 0.69, 0.93
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_certify_from_prediction_samples_is_sound(score, alpha):
    """CERTIFY estimating p_A from PREDICT's samples (independent of the selection samples): certificates
    with a wrong class or a radius above σΦ⁻¹(p_A) stay within the Binomial(T, α) 1 − 10⁻⁶ quantile."""
    sigma, d = 0.5, 20
    torch.manual_seed(1)
    w = torch.randn(d)
    model = LinearBinary(w, b=0.0)
    x = score * sigma * w / w.norm()
    p1 = model.p_one(x, sigma)
    smooth = Smooth(model, 2, sigma, batch_size=4096, seed=9)
    rows = audit_inputs(smooth, x.expand(TRIALS, d), torch.ones(TRIALS, dtype=torch.long), 50, 500, alpha,
                        range(TRIALS))
    true_class, true_bound = int(p1 > 0.5), sigma * norm.ppf(max(p1, 1 - p1))
    wrong = sum(r["predict"] != ABSTAIN and (r["predict"] != true_class or r["radius"] > true_bound) for r in rows)
    assert wrong <= allowed_failures(TRIALS, alpha)
    wrong_predict = sum(r["smoothed"] not in (ABSTAIN, true_class) for r in rows)
    assert wrong_predict <= allowed_failures(TRIALS, alpha)
    if p1 > 0.9:  # not vacuous
        assert sum(r["predict"] == true_class and r["radius"] > 0 for r in rows) > TRIALS / 2
    # Power: the plug-in radius σΦ⁻¹(n_A/n) from the same counts overshoots the truth about half the time.
    plug_in = [sigma * norm.ppf(min(r["count_top"] / r["n"], 1 - 1e-9)) for r in rows]
    assert sum(r > true_bound for r in plug_in) > allowed_failures(TRIALS, alpha)


def test_predict_error_rate_near_a_tie():
    """PREDICT from the audit's counts answers a class other than g(x) at rate ≤ α, even at p_1 = 0.52."""
    sigma, alpha = 1.0, 0.1
    model = Buckets([0.0])
    x = torch.tensor([sigma * norm.ppf(0.52), 0.0])
    smooth = Smooth(model, 2, sigma, batch_size=4096, seed=13)
    rows = audit_inputs(smooth, x.expand(TRIALS, 2), torch.ones(TRIALS, dtype=torch.long), 10, 300, alpha,
                        range(TRIALS))
    assert sum(r["smoothed"] not in (ABSTAIN, 1) for r in rows) <= allowed_failures(TRIALS, alpha)
    # Power: the raw majority vote answers class 0 far more often than α allows.
    assert sum(r["vote"] == 0 for r in rows) > allowed_failures(TRIALS, alpha)


# --- files ------------------------------------------------------------------------------------------------

def test_resume_gives_the_rows_of_an_uninterrupted_run(tmp_path):
    model, x, y = constructed()
    smooth = Smooth(model, 3, SIGMA, batch_size=1024, seed=3)
    whole, part = tmp_path / "whole.tsv", tmp_path / "part.tsv"
    audit_dataset(smooth, x, y, whole, n0=20, n=200, options=RunOptions(progress=False), chunk=4)
    audit_dataset(smooth, x, y, part, n0=20, n=200, options=RunOptions(progress=False), indices=range(5), chunk=2)
    text = part.read_text()
    part.write_text(text[: len(text) - 7])  # a torn last row
    audit_dataset(smooth, x, y, part, n0=20, n=200, options=RunOptions(resume=True, progress=False), chunk=3)

    def rows(path):
        lines = path.read_text().splitlines()
        assert lines[0].split("\t") == list(AUDIT_COLUMNS)
        keep = [i for i, c in enumerate(AUDIT_COLUMNS) if c != "time"]
        return sorted(tuple(line.split("\t")[i] for i in keep) for line in lines[1:])

    assert rows(part) == rows(whole)
    with pytest.raises(ResultsError):  # other arguments: refused, file kept
        audit_dataset(smooth, x, y, part, n0=20, n=300, options=RunOptions(resume=True, progress=False))
    with pytest.raises(ResultsError):  # no silent overwrite
        audit_dataset(smooth, x, y, whole, n0=20, n=200, options=RunOptions(progress=False))
    assert rows(part) == rows(whole)


def test_audit_with_an_abstaining_outcome_map_is_sound():
    """An outcome past the classes (⊥) counts towards n: with P(class 0) = 0.42, P(⊥) = 0.38, P(class 1) = 0.2,
    no certificate may name class 0 (its probability is below ½), in the audit and in CERTIFY alike. Counting
    n over the classes only (0.42 / 0.62 = 0.68) would certify it almost always."""
    sigma, alpha = 1.0, 0.05
    model = Buckets([float(norm.ppf(0.42)), float(norm.ppf(0.62))])  # buckets 0, 1, 2 of the first coordinate
    x = torch.zeros(2)
    np.testing.assert_allclose(model.probabilities(x, sigma), [0.42, 0.2, 0.38], atol=1e-6)
    smooth = Smooth(model, 2, sigma, batch_size=4096, seed=5, outcome_map=ArgmaxOutcome(3))  # bucket 2 is ⊥
    rows = audit_inputs(smooth, x.expand(TRIALS, 2), torch.zeros(TRIALS, dtype=torch.long), 50, 400, alpha,
                        range(TRIALS))
    assert all(r["n"] == 400 and r["n0"] == 50 for r in rows)
    assert sum(r["predict"] != ABSTAIN for r in rows) <= allowed_failures(TRIALS, alpha)
    certs = smooth.certify_batch(x.expand(TRIALS, 2), 50, 400, alpha, indices=range(TRIALS))
    assert sum(c.prediction != ABSTAIN for c in certs) <= allowed_failures(TRIALS, alpha)
    # Not vacuous: among the class samples alone, class 0 holds about 0.68, so a rule that left ⊥ out of n
    # would certify it in most trials.
    assert np.mean([r["count_a"] / (r["count_a"] + r["count_b"]) for r in rows]) > 0.6
