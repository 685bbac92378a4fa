"""Uncertainty-aware certificates: coverage against a classifier with an uncertainty region whose noisy outcome
probabilities are known exactly, the theorem behind each radius checked on exact probabilities, R_ii ≥ R_i,
and equality with Cohen's CERTIFY at τ = ∞.

Coverage: T independent certificates (distinct indices give independent noise); a certificate is wrong when
its radius exceeds the radius the TRUE probabilities give (σ Φ⁻¹(p) or the top-2 form), which is never larger
than the truly certifiable radius, so the count is stricter than the count of truly wrong certificates; it
must stay ≤ the 1 − 10⁻⁶ quantile of Binomial(T, α).
"""

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm
from torch import nn

from smoothcert import ABSTAIN, GaussianNoise, Smooth
from smoothcert.certificates.uncertainty import uncertainty_certificates
from smoothcert.studies.uncertainty.certify import certify_uncertainty
from smoothcert.uncertainty import UncertaintyOutcome

from .known import Buckets

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TRIALS = 2000
TAU = 0.5  # entropy threshold: certain buckets have entropy ≈ 0.001, uncertain ones ≈ log 3


def allowed_failures(trials: int, alpha: float) -> int:
    return int(binom.ppf(1 - 1e-6, trials, alpha))


class UncertainBuckets(nn.Module):
    """Bucket k of the first coordinate (increasing ``thresholds``) → class ``classes[k]``, with confident
    logits (10·one-hot, u ≈ 0) when ``certain[k]`` and nearly flat ones (0.1·one-hot, u ≈ log C) otherwise.

    Under ε ~ N(0, σ²I) the bucket of x₁ + ε₁ has probability Φ((t_k − x₁)/σ) − Φ((t_{k−1} − x₁)/σ).
    """

    def __init__(self, thresholds: list[float], classes: list[int], certain: list[bool], num_classes: int = 3):
        super().__init__()
        self.register_buffer("t", torch.tensor(thresholds, dtype=torch.float32))
        self.classes, self.certain, self.num_classes = list(classes), list(certain), num_classes
        self.register_buffer("cls", torch.tensor(classes))
        self.register_buffer("scale", torch.tensor([10.0 if c else 0.1 for c in certain]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bucket = torch.bucketize(x.flatten(1)[:, 0].contiguous(), self.t)
        return nn.functional.one_hot(self.cls[bucket], self.num_classes).float() * self.scale[bucket, None]

    def outcome_probabilities(self, x1: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
        """(P(o = c) for the certain classes [C], P(o = ⊥ and f = c) [C]) at first coordinate x1."""
        edges = np.concatenate([[-np.inf], self.t.numpy().astype(np.float64), [np.inf]])
        bucket_p = np.diff(norm.cdf((edges - x1) / sigma))
        certain, uncertain = np.zeros(self.num_classes), np.zeros(self.num_classes)
        for p, c, sure in zip(bucket_p, self.classes, self.certain, strict=True):
            (certain if sure else uncertain)[c] += p
        return certain, uncertain


# Class 0 | ⊥ (class 1) | class 1 | ⊥ (class 2) | class 2, along x₁.
MODEL = UncertainBuckets([0.0, 0.4, 0.8, 0.9], [0, 1, 1, 2, 2], [True, False, True, False, True])
SIGMA = 0.25


def true_radii(model: UncertainBuckets, x1: float, guess: int, sigma: float) -> dict[str, float]:
    """The radii each certificate may claim when its bounds are the true probabilities (−inf: may claim none)."""
    cert, unc = model.outcome_probabilities(x1, sigma)
    p_unc = unc.sum()
    plain = cert + unc
    wrong = np.delete(cert, guess)
    p1, p2 = cert[guess], cert[guess] + p_unc
    ppf = norm.ppf
    return {
        "i": sigma * ppf(p1) if p1 > 0.5 else -np.inf,
        "ii": sigma * ppf(p2) if p2 > 0.5 else -np.inf,
        "i_top2": sigma / 2 * (ppf(p1) - ppf(max(wrong.max(), p_unc))),
        "ii_top2": sigma / 2 * (ppf(max(p1, p_unc)) - ppf(wrong.max())),
        "cohen_class": int(np.argmax(plain)),
        "cohen": sigma * ppf(plain.max()) if plain.max() > 0.5 else -np.inf,
    }


def certify_many(model, x1, n0, n, alpha, seed=7):
    x = torch.tensor([x1, 0.0])
    smooth = Smooth(model, 3, SIGMA, batch_size=8192, seed=seed,
                    outcome_map=UncertaintyOutcome(3, "entropy", TAU))
    (certs,) = certify_uncertainty(smooth, x.expand(TRIALS, 2), n0, n, alpha, indices=range(TRIALS))
    return certs


def exceeds(claimed: np.ndarray, allowed: float) -> np.ndarray:
    """Issued (not NaN) and larger than the radius the true probabilities allow (tiny tolerance for rounding)."""
    return ~np.isnan(claimed) & (np.nan_to_num(claimed, nan=0.0) > allowed + 1e-12)


@pytest.mark.parametrize("x1", [-0.2, 0.2, 0.45, 0.6])
def test_coverage_of_every_radius(x1):
    """Each of R_i, R_ii and R_cohen errs with probability ≤ α; the two top-2 radii err together ≤ α."""
    alpha, n0, n = 0.1, 50, 500
    certs = certify_many(MODEL, x1, n0, n, alpha)
    limit = allowed_failures(TRIALS, alpha)
    wrong = {k: np.zeros(TRIALS, dtype=bool) for k in ("i", "ii", "cohen", "top2")}
    for guess in np.unique(certs.guess):
        rows = certs.guess == guess
        truth = true_radii(MODEL, x1, int(guess), SIGMA)
        wrong["i"][rows] = exceeds(certs.radius_i[rows], truth["i"])
        wrong["ii"][rows] = exceeds(certs.radius_ii[rows], truth["ii"])
        wrong["top2"][rows] = (exceeds(certs.radius_i_top2[rows], truth["i_top2"])
                               | exceeds(certs.radius_ii_top2[rows], truth["ii_top2"]))
    for guess in np.unique(certs.guess_cohen):
        rows = certs.guess_cohen == guess
        truth = true_radii(MODEL, x1, int(guess), SIGMA)
        issued = certs.predict_cohen[rows] != ABSTAIN
        wrong["cohen"][rows] = issued & ((guess != truth["cohen_class"])
                                         | (certs.radius_cohen[rows] > truth["cohen"] + 1e-12))
    for name, w in wrong.items():
        assert w.sum() <= limit, (name, int(w.sum()), limit)
    # Not vacuous: where the true probability is well above ½, most certificates are issued.
    cert, unc = MODEL.outcome_probabilities(x1, SIGMA)
    if (cert + unc.sum()).max() > 0.75:
        assert np.mean(~np.isnan(certs.radius_ii)) > 0.5


def test_plug_in_radius_fails_the_harness():
    """Power: σ Φ⁻¹(k₂/n) instead of the Clopper–Pearson bound overshoots the true radius about half the time."""
    alpha, n0, n, x1 = 0.1, 50, 500, 0.2
    certs = certify_many(MODEL, x1, n0, n, alpha)
    guess = int(np.bincount(certs.guess).argmax())
    rows = certs.guess == guess
    plug_in = SIGMA * norm.ppf(np.minimum(certs.count_ii[rows] / n, 1 - 1e-9))
    assert exceeds(plug_in, true_radii(MODEL, x1, guess, SIGMA)["ii"]).sum() > allowed_failures(TRIALS, alpha)


def smoothed_outcomes(model, x1, sigma):
    cert, unc = model.outcome_probabilities(x1, sigma)
    return cert, unc.sum()


@pytest.mark.parametrize("x1", [-0.2, 0.2, 0.45, 0.6, 0.85])
def test_theorem_on_exact_probabilities(x1):
    """With the true probabilities as bounds, each radius's claim holds along the worst direction ±e₁ (the
    model depends on x₁ only, so a shift t·e₁ is the strongest perturbation of norm |t|)."""
    cert0, _ = smoothed_outcomes(MODEL, x1, SIGMA)
    guess = int(np.argmax(cert0))
    radii = true_radii(MODEL, x1, guess, SIGMA)
    for name in ("i", "ii", "i_top2", "ii_top2"):
        r = radii[name]
        if not r > 0:
            continue
        for t in np.linspace(-r, r, 401)[1:-1]:
            cert, p_unc = smoothed_outcomes(MODEL, x1 + t, SIGMA)
            wrong = np.delete(cert, guess)
            if name == "i":  # G(x + δ) = ĉ_A: a certain majority
                assert cert[guess] > 0.5
            elif name == "ii":  # G(x + δ) ∈ {ĉ_A, ⊥}: no wrong certain class has a majority
                assert wrong.max() < 0.5
            elif name == "i_top2":  # G⁺(x + δ) = ĉ_A: ĉ_A beats every other outcome, ⊥ included
                assert cert[guess] > max(wrong.max(), p_unc)
            else:  # G⁺(x + δ) ∈ {ĉ_A, ⊥}
                assert max(cert[guess], p_unc) > wrong.max()


def test_merged_event_top2_form_does_not_certify_the_plurality_classifier():
    """σ/2 (Φ⁻¹(p₂) − Φ⁻¹(p_B)) with p₂ = P(o ∈ {ĉ_A, ⊥}) keeps every wrong class below ½ (G is fine) but
    not below max(p_ĉA, p_⊥): the plurality classifier G⁺ turns wrong inside it. p = (0.4, 0.15, 0.45)."""
    sigma, a, b = 1.0, norm.ppf(0.4), norm.ppf(0.55)
    model = UncertainBuckets([a, b], [0, 1, 1], [True, False, True])
    cert, p_unc = smoothed_outcomes(model, 0.0, sigma)
    assert np.allclose([cert[0], p_unc, cert[1]], [0.4, 0.15, 0.45])
    merged = sigma / 2 * (norm.ppf(cert[1] + p_unc) - norm.ppf(cert[0]))
    t = 0.8 * merged  # inside the merged-event radius, towards class 0
    cert_t, unc_t = smoothed_outcomes(model, -t, sigma)
    assert cert_t[0] > max(cert_t[1], unc_t)  # G⁺ answers the wrong class 0 …
    assert cert_t[0] < 0.5  # … while G still answers ĉ_A or ⊥
    ours = true_radii(model, 0.0, 1, sigma)["ii_top2"]
    assert 0 < ours < t


def test_r_ii_at_least_r_i_on_every_input():
    """From any counts: R_i issued ⇒ R_ii issued and R_ii ≥ R_i; the same for the top-2 pair; and
    R_i ≤ R_cohen ≤ R_ii whenever both guesses agree."""
    rng = np.random.default_rng(0)
    b, c, n0, n = 4000, 4, 30, 300
    probs = rng.dirichlet(np.full(2 * c, 0.3), size=b)
    sel = np.stack([rng.multinomial(n0, p) for p in probs])
    est = np.stack([rng.multinomial(n, p) for p in probs])
    certs = uncertainty_certificates(sel[:, :c], sel[:, c:], est[:, :c], est[:, c:], 0.01, GaussianNoise(0.5))
    for low, high in (("radius_i", "radius_ii"), ("radius_i_top2", "radius_ii_top2")):
        r_low, r_high = getattr(certs, low), getattr(certs, high)
        issued = ~np.isnan(r_low)
        assert issued.sum() > 100
        assert not np.isnan(r_high[issued]).any()
        assert (r_high[issued] >= r_low[issued]).all()
    agree = (certs.guess == certs.guess_cohen) & ~np.isnan(certs.radius_cohen)
    ri = np.nan_to_num(certs.radius_i, nan=0.0)
    assert agree.sum() > 100
    assert (ri[agree] <= certs.radius_cohen[agree]).all()
    assert (certs.radius_cohen[agree] <= certs.radius_ii[agree]).all()
    assert (certs.count_ii >= certs.count_i).all() and (certs.p2_lower >= certs.p1_lower).all()


@pytest.mark.parametrize("measure", ["entropy", "margin"])
def test_tau_infinity_gives_cohens_certify(measure):
    """τ = ∞ rejects nothing: R_i = R_ii = Cohen's radius, equal to Smooth.certify_batch on the same seed."""
    model = Buckets([0.3, 0.5])
    x = torch.tensor([[v, 0.0] for v in np.linspace(-0.2, 1.0, 25)])
    n0, n, alpha = 40, 400, 0.01
    cohen = Smooth(model, 3, 0.2, seed=5).certify_batch(x, n0, n, alpha, indices=range(25))
    smooth = Smooth(model, 3, 0.2, seed=5, outcome_map=UncertaintyOutcome(3, measure, float("inf")))
    (ours,) = certify_uncertainty(smooth, x, n0, n, alpha, indices=range(25))
    expected = np.array([c.radius if c.prediction != ABSTAIN else np.nan for c in cohen])
    assert sum(c.prediction != ABSTAIN for c in cohen) >= 10
    np.testing.assert_array_equal(ours.radius_cohen, expected)
    np.testing.assert_array_equal(ours.radius_i, expected)
    np.testing.assert_array_equal(ours.radius_ii, expected)
    assert ours.guess.tolist() == ours.guess_cohen.tolist() == [c.guess for c in cohen]
    assert ours.predict_cohen.tolist() == [c.prediction for c in cohen]
    assert (ours.count_uncertain == 0).all()


def test_c_plus_one_layout_gives_the_same_uncertainty_radii():
    """The C + 1 outcome map (one ⊥ outcome) yields the same R_i, R_ii and top-2 radii; only Cohen's is lost."""
    x = torch.tensor([[v, 0.0] for v in (-0.2, 0.2, 0.45, 0.6)])
    full = Smooth(MODEL, 3, SIGMA, seed=1, outcome_map=UncertaintyOutcome(3, "entropy", TAU))
    short = Smooth(MODEL, 3, SIGMA, seed=1, outcome_map=UncertaintyOutcome(3, "entropy", TAU, keep_class=False))
    (a,) = certify_uncertainty(full, x, 50, 500, 0.01, indices=range(4))
    (b,) = certify_uncertainty(short, x, 50, 500, 0.01, indices=range(4))
    for name in ("radius_i", "radius_ii", "radius_i_top2", "radius_ii_top2", "count_uncertain"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert np.isnan(b.radius_cohen).all() and (b.predict_cohen == ABSTAIN).all()


def test_several_taus_in_one_pass_equal_separate_runs():
    x = torch.tensor([[v, 0.0] for v in (-0.2, 0.2, 0.45, 0.6)])
    taus = [5e-5, 0.5, float("inf")]
    many = Smooth(MODEL, 3, SIGMA, seed=2, outcome_map=UncertaintyOutcome(3, "max_prob", taus))
    together = certify_uncertainty(many, x, 50, 400, 0.01, indices=range(4))
    for tau, got in zip(taus, together, strict=True):
        one = Smooth(MODEL, 3, SIGMA, seed=2, outcome_map=UncertaintyOutcome(3, "max_prob", tau))
        (alone,) = certify_uncertainty(one, x, 50, 400, 0.01, indices=range(4))
        for name in ("radius_i", "radius_ii", "radius_cohen", "radius_ii_top2", "count_uncertain", "guess"):
            np.testing.assert_array_equal(getattr(got, name), getattr(alone, name))
    assert together[0].count_uncertain.sum() > together[1].count_uncertain.sum() > 0
    assert together[2].count_uncertain.sum() == 0


def test_the_pooled_bound_tightens_the_merged_top2_radius_where_the_mass_is_shared():
    """When ĉ_A and ⊥ share the mass (0.45 each), max(p_A, p_⊥) ≥ L_{A∪⊥}/2 is a tighter lower bound than L₁ or
    L_⊥ alone: R_ii_top2 exceeds what the two separate bounds give at the same level; and where one of them holds
    most of the mass, the separate bound still decides (the pooled one never loosens the radius)."""
    from smoothcert.stats import clopper_pearson_lower, clopper_pearson_upper

    n, c, alpha, sigma = 10_000, 10, 0.001, 0.5
    noise = GaussianNoise(sigma)
    level = alpha / (c + 3)
    for k_a, k_u in ((4500, 4500), (8000, 1000)):
        wrong = n - k_a - k_u
        certain = np.zeros((1, c), dtype=np.int64)
        certain[0, 0] = k_a
        certain[0, 1:] = wrong // (c - 1)
        certain[0, 1] += wrong - certain[0, 1:].sum()
        sel_c, sel_u = certain // 100 + np.eye(c, dtype=np.int64)[:1] * 50, np.array([k_u // 100])
        certs = uncertainty_certificates(sel_c, sel_u, certain, np.array([k_u]), alpha, noise)
        low_1, low_u = (clopper_pearson_lower(k, n, level) for k in (k_a, k_u))
        up_w = min(clopper_pearson_upper(certain[0, 1:], n, level).max(), 1 - low_1 - low_u)
        separate = sigma / 2 * (norm.ppf(max(low_1, low_u)) - norm.ppf(up_w))
        if k_a == k_u:
            assert certs.radius_ii_top2[0] > separate * 1.01  # 0.503 against 0.494 here
        else:
            assert certs.radius_ii_top2[0] == pytest.approx(separate, rel=1e-12)
