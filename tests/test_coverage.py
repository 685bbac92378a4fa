"""Coverage: the share of wrong certificates stays within α against classifiers with known smoothed probabilities.

Each check runs T independent certificates (distinct input indices give independent noise) and allows the
failure count up to the 1 − 10⁻⁶ quantile of Binomial(T, α): a sound procedure fails this with probability
≤ 10⁻⁶. Each harness is also run on a deliberately unsound rule (plug-in estimates) to show it can fail.
"""

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from smoothcert import ABSTAIN, Smooth

from .known import Buckets, LinearBinary

TRIALS = 2000


def allowed_failures(trials: int, alpha: float) -> int:
    return int(binom.ppf(1 - 1e-6, trials, alpha))


def certify_many(smooth, x, n0, n, alpha):
    return smooth.certify_batch(x.expand(TRIALS, *x.shape), n0, n, alpha, indices=range(TRIALS))


@pytest.mark.parametrize("score", [0.05, 0.3, 1.0])  # signed distance scale: p_A from ~0.58 to ~0.99
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_certify_linear_binary(score, alpha):
    sigma, d = 0.5, 20
    torch.manual_seed(1)
    w = torch.randn(d)
    model = LinearBinary(w, b=0.0)
    x = score * sigma * w / w.norm()  # w·x/‖w‖ = score·σ, so p_1 = Φ(score)
    p1 = model.p_one(x, sigma)
    smooth = Smooth(model, 2, sigma, batch_size=4096, seed=7)
    certs = certify_many(smooth, x, 50, 500, alpha)
    true_class = int(p1 > 0.5)
    true_bound = sigma * norm.ppf(max(p1, 1 - p1))
    assert true_bound == pytest.approx(model.true_radius(x), rel=1e-5)  # Cohen's radius is tight here
    wrong = sum(c.prediction != ABSTAIN and (c.prediction != true_class or c.radius > true_bound) for c in certs)
    assert wrong <= allowed_failures(TRIALS, alpha)
    if p1 > 0.8:  # not vacuous: most certificates are issued
        assert sum(c.prediction == true_class and c.radius > 0 for c in certs) > TRIALS / 2
    # Power: the plug-in radius σΦ⁻¹(n_A/n) overshoots the truth about half the time.
    plug_in = [sigma * norm.ppf(min(c.count_top / c.n, 1 - 1e-9)) for c in certs]
    if 0.55 < p1 < 0.99:
        assert sum(r > true_bound for r in plug_in) > allowed_failures(TRIALS, alpha)


@pytest.mark.parametrize("x1", [0.0, 0.45, 0.52])
def test_certify_multiclass_buckets(x1):
    """Three classes with p = Φ-differences; wrong = class ≠ argmax p, or radius > σ Φ⁻¹(p_A)."""
    sigma, alpha = 0.25, 0.1
    model = Buckets([0.3, 0.5])
    x = torch.tensor([x1, 0.0, 0.0])
    p = model.probabilities(x, sigma)
    top = int(np.argmax(p))
    smooth = Smooth(model, 3, sigma, batch_size=4096, seed=11)
    certs = certify_many(smooth, x, 30, 400, alpha)
    bound = sigma * norm.ppf(p[top]) if p[top] > 0.5 else 0.0
    wrong = sum(c.prediction != ABSTAIN and (c.prediction != top or c.radius > bound) for c in certs)
    assert wrong <= allowed_failures(TRIALS, alpha)
    if p[top] <= 0.5:  # no class has a majority: CERTIFY may only abstain (up to α)
        assert sum(c.prediction != ABSTAIN for c in certs) <= allowed_failures(TRIALS, alpha)


@pytest.mark.parametrize("p_top", [0.52, 0.6])
def test_predict_error_rate(p_top):
    """PREDICT returns a class other than g(x) with probability ≤ α, even when the top two are close."""
    sigma, alpha, n = 1.0, 0.1, 300
    model = Buckets([0.0])  # class 1 iff x₁ + ε₁ ≥ 0: p_1 = Φ(x₁/σ)
    x = torch.tensor([sigma * norm.ppf(p_top), 0.0])
    smooth = Smooth(model, 2, sigma, batch_size=4096, seed=13)
    preds = smooth.predict_batch(x.expand(TRIALS, 2), n, alpha, indices=range(TRIALS))
    wrong = sum(p.prediction not in (ABSTAIN, 1) for p in preds)
    assert wrong <= allowed_failures(TRIALS, alpha)


def test_predict_raw_majority_would_fail():
    """The harness above can fail: taking the majority class without the test errs ≫ α at p = 0.52."""
    sigma, alpha, n = 1.0, 0.1, 300
    model = Buckets([0.0])
    x = torch.tensor([[sigma * norm.ppf(0.52), 0.0]])
    counts = Smooth(model, 2, sigma, seed=13).sample_counts(x.expand(TRIALS, 2), n, range(TRIALS), 2)
    raw_wrong = int((counts[:, 0] > counts[:, 1]).sum())
    assert raw_wrong > allowed_failures(TRIALS, alpha)
