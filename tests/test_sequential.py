"""Anytime-valid confidence sequence and sequential CERTIFY: coverage at data-dependent stopping times."""

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from smoothcert import ABSTAIN, InvalidArgumentError, Smooth
from smoothcert.certificates.sequential import (
    BELOW_TARGET,
    CERTIFIED,
    SequentialConfig,
)
from smoothcert.confseq import confidence_sequence, log_mixture_martingale
from smoothcert.stats import clopper_pearson_lower

from .known import LinearBinary


def allowed(trials: int, alpha: float) -> int:
    return int(binom.ppf(1 - 1e-6, trials, alpha))


def test_sequence_contains_the_mle_and_its_ends_solve_the_boundary():
    alpha = 0.01
    for k, n in [(3, 10), (97, 100), (500, 500), (0, 20), (4321, 5000)]:
        lower, upper = confidence_sequence(k, n, alpha)
        assert lower <= k / n <= upper
        for end in (lower, upper):
            if 0 < end < 1:  # each inner end is where the mixture martingale reaches 1/α
                assert log_mixture_martingale(float(end), k, n) == pytest.approx(np.log(1 / alpha), abs=1e-6)


def test_all_successes_closed_form():
    # a = 1: lower end = (α · b · B(n + 1, b))^(1/n) exactly.
    from scipy.special import betaln

    alpha, b, n = 0.001, 0.125, 1000
    expected = np.exp((np.log(alpha) + betaln(1 + n, b) - betaln(1, b)) / n)
    assert confidence_sequence(n, n, alpha, 1.0, b)[0] == pytest.approx(expected, rel=1e-10)


def test_sequence_is_wider_than_a_single_clopper_pearson_bound():
    k = np.array([60, 900, 990, 10_000])
    n = np.array([100, 1000, 1000, 10_000])
    assert np.all(confidence_sequence(k, n, 0.001)[0] <= clopper_pearson_lower(k, n, 0.001))


def bernoulli_paths(p, trials, n, seed):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.random((trials, n)) < p, axis=1)


@pytest.mark.parametrize("p", [0.3, 0.9, 0.99])
def test_time_uniform_coverage(p):
    """Looking after each of 25 rounds, the sequence misses p on at most α of the paths."""
    alpha, trials = 0.1, 800
    looks = np.unique(np.geomspace(10, 4000, 25).astype(int))
    paths = bernoulli_paths(p, trials, looks[-1], seed=int(p * 100))
    k = paths[:, looks - 1]  # [trials, looks]
    lower, upper = confidence_sequence(k, np.broadcast_to(looks, k.shape), alpha)
    missed = np.any((lower > p) | (upper < p), axis=1).sum()
    assert missed <= allowed(trials, alpha)
    # Power: Clopper–Pearson re-read after every look misses p far more often than α.
    naive = np.any(clopper_pearson_lower(k, np.broadcast_to(looks, k.shape), alpha / 2) > p, axis=1) | np.any(
        1 - clopper_pearson_lower(np.broadcast_to(looks, k.shape) - k, np.broadcast_to(looks, k.shape), alpha / 2)
        < p,
        axis=1,
    )
    assert naive.sum() > allowed(trials, alpha)


TRIALS = 400


def linear_setup(p_a: float, sigma: float = 0.25):
    torch.manual_seed(3)
    w = torch.randn(10)
    model = LinearBinary(w, 0.0)
    x = norm.ppf(p_a) * sigma * w / w.norm()
    return model, x.expand(TRIALS, 10), sigma


@pytest.mark.parametrize("p_a", [0.975, 0.99, 0.9999])
def test_preset_radius_coverage(p_a):
    """Certified at r while p_A ≤ Φ(r/σ) (or class wrong, or radius beyond σΦ⁻¹(p_A)) at most α of the time."""
    alpha, r = 0.05, 0.5
    model, x, sigma = linear_setup(p_a)
    smooth = Smooth(model, 2, sigma, batch_size=8192, seed=5)
    certs = smooth.certify_sequential(x, 20, alpha, SequentialConfig(n_max=20_000, radius=r, n_start=64),
                               indices=range(TRIALS))
    true_radius = sigma * norm.ppf(p_a)
    wrong = sum(c.prediction not in (ABSTAIN, 1) or c.radius > true_radius for c in certs)
    assert wrong <= allowed(TRIALS, alpha)
    wrongly_certified = sum(c.stop == CERTIFIED for c in certs) if true_radius <= r else 0
    assert wrongly_certified <= allowed(TRIALS, alpha)
    if p_a == 0.9999:  # far above the target: decided early, always certified
        assert all(c.stop == CERTIFIED and c.n < 2000 for c in certs)


@pytest.mark.parametrize("p_a", [0.8, 0.995])
def test_full_radius_coverage(p_a):
    alpha = 0.05
    model, x, sigma = linear_setup(p_a)
    smooth = Smooth(model, 2, sigma, batch_size=8192, seed=6)
    certs = smooth.certify_sequential(x, 20, alpha, SequentialConfig(n_max=5000, n_start=64),
                               indices=range(TRIALS))
    true_radius = sigma * norm.ppf(p_a)
    wrong = sum(c.prediction not in (ABSTAIN, 1) or c.radius > true_radius for c in certs)
    assert wrong <= allowed(TRIALS, alpha)
    assert np.mean([c.radius for c in certs]) > 0.5 * true_radius  # not vacuous


@pytest.mark.parametrize("tolerance", [None, 0.05, 0.3])
def test_all_correct_inputs_stay_under_the_ceiling_of_every_valid_procedure(tolerance):
    """Claim 4 of docs/fast_certification.md: after m all-correct samples no valid bound exceeds α^{1/m}.
    The tighter the tolerance, the longer an all-correct input samples; the default runs to the cap."""
    model, x, sigma = linear_setup(1.0 - 1e-12)  # p_A = 1 up to float: every sample is class 1
    alpha, cap = 0.001, 20_000
    smooth = Smooth(model, 2, sigma, seed=2)
    cert = smooth.certify_sequential(x[:1], 20, alpha, SequentialConfig(n_max=cap, tolerance=tolerance),
                              indices=[0])[0]
    assert cert.count_top == cert.n
    ceiling = sigma * norm.ppf(alpha ** (1 / cert.n))
    assert 0.9 * ceiling < cert.radius <= ceiling
    if tolerance is None:
        assert cert.n == cap and cert.stop == "cap"
    else:
        assert cert.n < cap and cert.stop == "converged"


def test_stops_early_below_target_and_matches_batched_vs_single():
    model, x, sigma = linear_setup(0.6)
    smooth = Smooth(model, 2, sigma, seed=1)
    cfg = SequentialConfig(n_max=50_000, radius=0.5)
    certs = smooth.certify_sequential(x[:3], 20, 0.01, cfg, indices=[10, 11, 12])
    assert all(c.stop == BELOW_TARGET and c.n < 5000 for c in certs)
    single = [Smooth(model, 2, sigma, seed=1, batch_size=77).certify_sequential(x[:1], 20, 0.01, cfg,
                                 indices=[10 + i])[0] for i in range(3)]
    assert single == certs


@pytest.mark.parametrize(
    "kwargs", [{"n_max": 0}, {"growth": 1.0}, {"radius": -1.0}, {"tolerance": 0.0}, {"n_start": 0},
               {"radius": 0.5, "tolerance": 0.01}]
)
def test_bad_config(kwargs):
    model, x, sigma = linear_setup(0.9)
    with pytest.raises(InvalidArgumentError):
        Smooth(model, 2, sigma).certify_sequential(x[:1], 10, 0.01, SequentialConfig(**kwargs))


def test_cli_sequential_columns(tmp_path):
    from click.testing import CliRunner

    from smoothcert.analysis import read_results
    from smoothcert.cli import main

    runner = CliRunner()
    model = tmp_path / "model"
    assert runner.invoke(main, ["train", "--epochs", "2", "--out", str(model), "--quiet"]).exit_code == 0
    out = tmp_path / "seq.tsv"
    args = ["certify", "--checkpoint", f"{model}.safetensors", "--sigma", "0.25", "--n", "5000", "--max", "8",
            "--sequential", "--radius", "0.25", "--out", str(out), "--quiet", "--no-timing"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    res = read_results(out)
    assert set(res.extra["stop"]) <= {"certified", "below_target", "cap"}
    assert np.all(res.extra["n"] <= 5000) and np.all(res.extra["pA_upper"] >= res.extra["pA_lower"])
    certified = res.extra["stop"] == "certified"
    assert np.all(res.radius[certified] > 0.25)
    bad = runner.invoke(main, [*args[:-4], "--out", str(tmp_path / "x.tsv"), "--tolerance", "-1"])
    assert bad.exit_code == 2 and "tolerance" in bad.stderr
