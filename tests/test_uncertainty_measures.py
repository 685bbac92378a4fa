"""Uncertainty measures, ensembles and MC dropout, the ⊥ outcome map, τ calibration and the noisy scoring pass."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from smoothcert import GaussianNoise, InputError, InvalidArgumentError, Smooth
from smoothcert.engine import Engine
from smoothcert.sampling import ESTIMATION
from smoothcert.uncertainty import (
    Ensemble,
    MCDropout,
    UncertaintyOutcome,
    calibrate_tau,
    clean_uncertainty,
    max_uncertainty,
    member_probabilities,
    mutual_information,
    noisy_uncertainty,
    one_minus_max_probability,
    softmax_entropy,
    threshold_for_rate,
    top2_margin_uncertainty,
)
from smoothcert.uncertainty.measures import class_and_uncertainty
from smoothcert.uncertainty.outcome import CALIBRATION, uncertainty_samples

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def small_cnn(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(4 * 64, 10)).eval()


def test_measures_on_known_distributions():
    c = 4
    uniform = torch.full((1, c), 1.0 / c)
    onehot = torch.eye(c)[:1]
    assert softmax_entropy(torch.zeros(1, c)).item() == pytest.approx(math.log(c))
    assert softmax_entropy(torch.tensor([[1e4, 0.0, 0.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)
    assert one_minus_max_probability(uniform).item() == pytest.approx(1 - 1 / c)
    assert one_minus_max_probability(onehot).item() == 0.0
    assert top2_margin_uncertainty(torch.tensor([[0.5, 0.3, 0.2, 0.0]])).item() == pytest.approx(0.8)
    assert top2_margin_uncertainty(onehot).item() == 0.0 and top2_margin_uncertainty(uniform).item() == 1.0
    # Two members certain of different classes: predictive entropy log 2, all of it mutual information.
    members = torch.stack([torch.eye(c)[0], torch.eye(c)[1]]).unsqueeze(0)
    assert mutual_information(members).item() == pytest.approx(math.log(2))
    assert mutual_information(torch.stack([uniform[0], uniform[0]]).unsqueeze(0)).item() == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("measure", ["entropy", "max_prob", "margin", "mutual_info"])
def test_measures_stay_in_their_range(measure):
    torch.manual_seed(0)
    logits = torch.randn(500, 3 * 5) * 4
    cls, u = class_and_uncertainty(logits, [measure], 3, 5)
    assert (u >= 0).all() and (u <= max_uncertainty(measure, 5) + 1e-5).all()
    assert torch.equal(cls, member_probabilities(logits, 3, 5).mean(1).argmax(1))


def test_single_member_class_is_the_logits_argmax():
    logits = torch.tensor([[1.0, 1.0 + 1e-7, 0.0], [3.0, -1.0, 2.0]])
    cls, _ = class_and_uncertainty(logits, ["entropy"], 1, 3)
    assert torch.equal(cls, logits.argmax(1))


def test_bad_measure_and_members_raise():
    with pytest.raises(InvalidArgumentError, match="'variance'"):
        UncertaintyOutcome(10, "variance", 0.5)
    with pytest.raises(InvalidArgumentError, match="mutual_info"):
        UncertaintyOutcome(10, "mutual_info", 0.5)
    with pytest.raises(InvalidArgumentError, match="increasing"):
        UncertaintyOutcome(10, "entropy", [0.5, 0.2])
    with pytest.raises(InvalidArgumentError, match="NaN"):
        UncertaintyOutcome(10, "entropy", float("nan"))
    with pytest.raises(InvalidArgumentError, match="exactly one tau"):
        UncertaintyOutcome(10, "entropy", [0.1, 0.2], keep_class=False)
    with pytest.raises(InputError, match="30 are expected"):
        UncertaintyOutcome(10, "entropy", 0.5, members=3)(torch.zeros(2, 10))


def test_outcome_ids_in_both_layouts():
    # Rows: confident class 2; flat (uncertain) with argmax 1; confident class 0.
    logits = torch.tensor([[0.0, 0.0, 20.0], [0.0, 0.01, 0.0], [20.0, 0.0, 0.0]])
    assert UncertaintyOutcome(3, "entropy", 0.5)(logits).tolist() == [2, 3 + 1, 0]
    assert UncertaintyOutcome(3, "entropy", 0.5, keep_class=False)(logits).tolist() == [2, 3, 0]
    assert UncertaintyOutcome(3, "entropy", float("inf"))(logits).tolist() == [2, 1, 0]
    # Two thresholds: bins 0 (u ≤ 1e-6), 1 (≤ 0.5), 2 (> 0.5).
    u = softmax_entropy(logits)
    om = UncertaintyOutcome(3, "entropy", [float(u[0]), 0.5])
    assert om.num_outcomes == 9 and om(logits).tolist() == [2, 3 * 2 + 1, 0]
    counts = np.bincount(om(logits).numpy(), minlength=9)[None]
    certain, uncertain = om.split(counts, 0)
    assert certain.tolist() == [[1, 0, 1]] and uncertain.tolist() == [[0, 1, 0]]


def test_ensemble_and_mc_dropout_layouts():
    a, b = small_cnn(0), small_cnn(1)
    x = torch.rand(5, 1, 8, 8)
    out = Ensemble([a, b])(x)
    assert out.shape == (5, 20) and torch.equal(out[:, :10], a(x)) and torch.equal(out[:, 10:], b(x))
    with pytest.raises(InvalidArgumentError, match="at least 2"):
        Ensemble([a])
    net = small_cnn(2, dropout=0.5)
    mc = MCDropout(net, passes=4, seed=3)
    y = mc(x)
    assert y.shape == (5, 40)
    assert torch.equal(y, mc(x))  # fixed masks: a deterministic function
    assert torch.allclose(torch.cat([mc(x[i : i + 1]) for i in range(5)]), y, atol=1e-6)  # batch-independent
    assert not torch.allclose(y[:, :10], y[:, 10:20])  # passes differ
    assert torch.equal(net(x), small_cnn(2, dropout=0.5)(x))  # the given model is untouched
    _, u = class_and_uncertainty(y, ["mutual_info"], 4, 10)
    assert (u > 0).all()
    with pytest.raises(InvalidArgumentError, match="dropout layers"):
        MCDropout(small_cnn(0), passes=4)


def test_threshold_for_rate_rejects_at_most_the_rate_and_is_smallest():
    rng = np.random.default_rng(0)
    u = rng.exponential(size=1000)
    for rate in (0.01, 0.1, 0.37):
        tau = threshold_for_rate(u, rate)
        assert (u > tau).mean() <= rate
        assert (u >= tau).mean() > rate  # any smaller τ among the values would reject more than the rate
    assert threshold_for_rate(u, 0.0) == math.inf
    with pytest.raises(InvalidArgumentError, match="rejection rate"):
        threshold_for_rate(u, 1.0)


def test_noisy_pass_sees_the_engines_noise():
    """The scoring pass, on the same stream and engine, counts exactly the ⊥ the engine counts: both reduce
    the same forward passes (Engine.batches), so the equality below compares one computation with itself."""
    model, x = small_cnn(0), torch.rand(6, 1, 8, 8)
    noise = GaussianNoise(0.5)
    engine = Engine(model, batch_size=700)
    kwargs = dict(seed=4, indices=range(6), stream=ESTIMATION)
    first = noisy_uncertainty(engine, x, noise, 900, ["entropy", "margin"], 10, keep_samples=True, **kwargs)
    tau = float(np.median(first.samples[:, :, 0]))
    om = UncertaintyOutcome(10, "entropy", tau, keep_class=False)
    counts = Smooth(engine, 10, 0.5, seed=4, outcome_map=om).sample_counts(x, 900, range(6), ESTIMATION)
    assert 0 < counts[:, 10].sum() < 6 * 900
    np.testing.assert_array_equal((first.samples[:, :, 0] > tau).sum(axis=1), counts[:, 10])
    second = noisy_uncertainty(engine, x, noise, 900, ["entropy", "margin"], 10, taus=[tau, 0.9], **kwargs)
    np.testing.assert_array_equal(np.round(second.rejected[:, 0] * 900).astype(int), counts[:, 10])
    np.testing.assert_allclose(second.mean, first.samples.mean(axis=1))
    assert np.isnan(first.rejected).all()


def test_calibrated_tau_meets_the_rate_on_its_held_out_data():
    model, x = small_cnn(0), torch.rand(40, 1, 8, 8)
    noise = GaussianNoise(0.3)
    for rate in (0.05, 0.2):
        tau = calibrate_tau(model, x, "entropy", rate, 10, noise=noise, samples_per_input=8, seed=1,
                            indices=range(100, 140))
        u = uncertainty_samples(model, x, "entropy", 10, noise=noise, samples_per_input=8, seed=1,
                                indices=range(100, 140))
        assert u.shape == (320,) and (u > tau).mean() <= rate
        # The same values through the outcome map: the same decisions.
        clean_tau = calibrate_tau(model, x, "entropy", rate, 10)
        _, clean = clean_uncertainty(model, x, ["entropy"], 10)
        assert (clean[:, 0] > clean_tau).mean() <= rate
    assert CALIBRATION not in (0, 1, 2)
