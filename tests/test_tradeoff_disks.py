"""Synthetic α × β experiment: Δ_{α,β} on cases with known answers, the disk sampler, α*."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from smoothcert.errors import InvalidArgumentError
from smoothcert.studies.tradeoff.disks import (
    DisksConfig,
    DisksResult,
    delta_table,
    disk_mask,
    phi,
    run_disks,
    sample_disks,
    single_disk_delta,
    smoothed_disk_radius,
    smoothing_risk,
)


def test_phi_thresholds_at_one_half():
    assert phi(np.array([0.0, 0.4999999, 0.5, 0.7, 1.0])).tolist() == [0, 0, 1, 1, 1]


@pytest.mark.parametrize("axis", [0, 1])
def test_half_plane_is_invariant_for_every_alpha_and_beta(axis):
    """φ(1_H ∗ p_σ) = 1_H for a half-plane H: the convolution is ½ + (mass on the boundary line)/2 > ½ just inside
    and < ½ just outside, by the kernel's symmetry. 'nearest' extends the half-plane past the grid's edges."""
    h = np.zeros((60, 80))
    if axis == 0:
        h[25:, :] = 1
    else:
        h[:, 33:] = 1
    alphas, betas = [0, 0.5, 1, 3, 7.5, 20], [0, 0.7, 2, 8, 14, 30]
    assert np.array_equal(delta_table(h, alphas, betas, mode="nearest"), np.zeros((6, 6)))
    # The same half-plane padded with zeros (the paper's boundary) is not invariant: the test can fail.
    assert delta_table(h, [0], [8], mode="constant")[0, 0] > 0


@pytest.mark.parametrize(("alpha", "beta"), [(0, 15), (5, 12), (10, 15), (20, 20), (0, 30), (30, 5)])
def test_single_disk_shrinks_as_the_analytic_disk(alpha, beta):
    """One disk of radius R = 40 inside a 200 × 200 grid: φ(φ(h ∗ p_α) ∗ p_β) is the disk of radius R_{α,β}
    (noncentral χ² formula). On the pixel grid the kept region's equivalent radius √(area/π) is within one pixel
    of R_{α,β}, and Δ is within the area of a one-pixel ring around it."""
    size, radius = 200, 40.0
    h = disk_mask(size, np.array([[100, 100]]), radius)
    delta = smoothing_risk(h, alpha, beta)
    shrunk = smoothed_disk_radius(smoothed_disk_radius(radius, alpha), beta)
    assert radius - shrunk > 1.5  # the shrinkage is visible, so an implementation that ignores it fails
    kept = h.sum() - delta * size**2  # shrunk disk ⊂ disk, so every differing pixel is a lost disk pixel
    assert math.sqrt(kept / math.pi) == pytest.approx(shrunk, abs=1.0)
    ring = 2 * math.pi * (shrunk + 1) / size**2
    assert abs(delta - single_disk_delta(size, radius, alpha, beta)) <= ring


def test_single_disk_vanishes_past_the_analytic_threshold():
    """(1_B ∗ p_σ)(centre) = 1 − exp(−R²/2σ²) < ½ iff σ > R/√(2 ln 2): the whole disk is lost."""
    size, radius = 200, 30.0
    h = disk_mask(size, np.array([[100, 100]]), radius)
    threshold = radius / math.sqrt(2 * math.log(2))
    assert smoothed_disk_radius(radius, threshold * 1.01) == 0.0
    assert smoothed_disk_radius(radius, threshold * 0.95) > 0.0
    assert smoothing_risk(h, 0, threshold * 1.05) == pytest.approx(h.mean())
    assert smoothing_risk(h, 0, threshold * 0.9) < h.mean()


@pytest.mark.parametrize(("radius", "sigma"), [(10.0, 3.0), (10.0, 8.0), (40.0, 20.0)])
def test_smoothed_disk_radius_is_where_the_gaussian_mass_is_one_half(radius, sigma):
    """Monte Carlo check of the noncentral χ² step: at distance ρ* from the centre, P(‖x + ε − c‖ ≤ R) = ½."""
    rho = smoothed_disk_radius(radius, sigma)
    assert 0 < rho < radius
    rng = np.random.default_rng(0)
    m = 400_000
    eps = rng.normal(scale=sigma, size=(m, 2))
    p = np.mean((rho + eps[:, 0]) ** 2 + eps[:, 1] ** 2 <= radius**2)
    assert abs(p - 0.5) <= norm.ppf(1 - 1e-6) * math.sqrt(0.25 / m)


def test_sample_disks_respects_the_separation_and_the_seed():
    h, centres = sample_disks(100, 10, zeta=3, tries=10_000, rng=np.random.default_rng(5))
    assert len(centres) >= 5
    d2 = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    off = d2[~np.eye(len(centres), dtype=bool)]
    assert off.min() >= 23**2
    assert np.array_equal(h, disk_mask(100, centres, 10))
    h2, centres2 = sample_disks(100, 10, zeta=3, tries=10_000, rng=np.random.default_rng(5))
    assert np.array_equal(centres, centres2) and np.array_equal(h, h2)


def test_run_disks_shapes_baseline_and_reproducibility():
    cfg = DisksConfig(size=50, radius=5, zetas=[0, 2], alphas=[1, 2, 4], betas=[3, 6], draws=3, tries=2000, seed=4)
    res = run_disks(cfg)
    assert res.config.alphas == [0.0, 1.0, 2.0, 4.0]  # the α = 0 baseline is added
    assert res.deltas.shape == (2, 3, 4, 2) and res.gains.shape == (2, 4, 2)
    assert np.all(res.gains[:, 0, :] == 0)
    assert np.array_equal(res.deltas, run_disks(cfg).deltas)
    star = res.alpha_star()
    for z in range(2):
        for j in range(2):
            k = res.config.alphas.index(star[z, j])
            assert res.gains[z, k, j] == res.gains[z, :, j].min()


def test_alpha_star_takes_the_smallest_alpha_on_ties():
    cfg = DisksConfig(zetas=[0], alphas=[0, 1, 2, 3], betas=[5, 6], draws=1).validate()
    deltas = np.array([[[[0.2, 0.1], [0.15, 0.1], [0.15, 0.2], [0.3, 0.3]]]])  # [ζ, draw, α, β]
    res = DisksResult(cfg, deltas, np.array([[1]]))
    assert res.alpha_star().tolist() == [[1.0, 0.0]]  # β = 6: no α beats α = 0 (a tie at α = 1 keeps 0)
    assert res.best_gain()[0].tolist() == pytest.approx([-0.05, 0.0])


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"zeta": -1}, "zeta"), ({"radius": 0}, "radius"), ({"size": 0}, "size"), ({"tries": 0}, "tries")])
def test_sample_disks_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(InvalidArgumentError, match=fragment):
        sample_disks(**{"size": 20, "radius": 3, "zeta": 0, "tries": 10, **kwargs})


@pytest.mark.parametrize(("size", "radius"), [(5, 10), (19, 10), (1, 0.6)])
def test_a_disk_that_does_not_fit_the_grid_is_refused(size, radius):
    """2r > size: no disk fits the grid (at size 5, radius 10 one disk covers it all and every gain is 0)."""
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        DisksConfig(size=size, radius=radius).validate()
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        sample_disks(size, radius, tries=10, rng=np.random.default_rng(0))
    DisksConfig(size=2 * math.ceil(radius), radius=radius).validate()  # a disk as wide as the grid fits


def test_bad_levels_and_modes_are_refused():
    with pytest.raises(InvalidArgumentError, match="alphas"):
        delta_table(np.zeros((5, 5)), [-1], [1])
    with pytest.raises(InvalidArgumentError, match="mode"):
        delta_table(np.zeros((5, 5)), [1], [1], mode="edge")
    with pytest.raises(InvalidArgumentError, match="repeated"):
        DisksConfig(betas=[8, 8]).validate()
