"""Empirical decision regions through the sampling engine, checked on an exact ball indicator (no training)."""

import math

import numpy as np
import pytest
import torch

from smoothcert import Smooth
from smoothcert.errors import InvalidArgumentError
from smoothcert.studies.audit.regions import (
    BallIndicator,
    base_region,
    class_areas,
    make_grid,
    region_sweep,
    smoothed_region,
    vanishing_sigma_empirical,
)
from smoothcert.studies.audit.shrinkage import smoothed_ball_radius, vanishing_sigma

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CENTRE, RHO = (0.5, 0.5), 0.15


def test_grid_layout_and_base_region_of_the_ball():
    grid = make_grid(((0.0, 1.0), (0.0, 2.0)), resolution=5)
    assert grid.shape == (5, 5) and grid.points.shape == (25, 2)
    assert torch.equal(grid.points[7], torch.tensor([0.5, 0.5]))  # point k = (xs[k % W], ys[k // W])
    assert grid.cell_area == pytest.approx(0.25 * 0.5)
    ball = BallIndicator(CENTRE, RHO)
    labels = base_region(ball, grid.points)
    assert labels.tolist() == [int(np.hypot(px - 0.5, py - 0.5) <= RHO) for px, py in grid.points.tolist()]
    assert class_areas(labels, 2, grid.cell_area).tolist() == [24 * grid.cell_area, grid.cell_area]


def test_smoothed_ball_area_matches_the_analytic_radius():
    """A disk of radius ρ_σ: the grid's area (resolution 0.005) is within 3% of π ρ_σ²."""
    sigma, n = 0.08, 512
    grid = make_grid(((0.3, 0.7), (0.3, 0.7)), resolution=81)
    smooth = Smooth(BallIndicator(CENTRE, RHO), 2, sigma, batch_size=8192, seed=1)
    labels, counts = smoothed_region(smooth, grid.points, n)
    assert counts.sum(axis=1).tolist() == [n] * len(grid.points)
    area = class_areas(labels, 2, grid.cell_area)[1]
    expected = math.pi * smoothed_ball_radius(RHO, sigma, 2) ** 2
    assert area == pytest.approx(expected, rel=0.03)
    assert area < 0.9 * math.pi * RHO**2  # not vacuous: the region did shrink


def test_measured_vanishing_sigma_matches_the_analytic_one():
    """Bisection on σ with n copies per point: the centre's estimated P(‖x + ε − c‖ ≤ ρ) crosses ½ at
    ρ / (sample median of ‖Z‖), whose relative standard deviation is about 0.72/√n (d = 2). Six of those is
    the tolerance; the rule of thumb ρ/√d, 17% lower, lies far outside it."""
    n = 8192
    analytic = vanishing_sigma(RHO, 2)
    grid = make_grid(((0.3, 0.7), (0.3, 0.7)), resolution=33)  # has the centre; spacing 0.0125
    near = np.flatnonzero(np.linalg.norm(grid.points.numpy() - np.array(CENTRE), axis=1) <= 0.03)
    measured = vanishing_sigma_empirical(BallIndicator(CENTRE, RHO), 2, 1, grid, n, lo=0.05, hi=0.3, tol=1e-4,
                                         seed=2, points=near)
    tolerance = 6 * 0.72 / math.sqrt(n)
    assert measured == pytest.approx(analytic, rel=tolerance)
    assert abs(RHO / math.sqrt(2) / analytic - 1) > 2 * tolerance


def test_sweep_areas_shrink_with_sigma_and_vanish():
    grid = make_grid(((0.25, 0.75), (0.25, 0.75)), resolution=41)
    sigmas = [0.04, 0.08, 0.12, 0.16]
    stored = {}
    sweep = region_sweep(BallIndicator(CENTRE, RHO), 2, sigmas, grid, 256, progress=False,
                         store=lambda s, lab: stored.__setitem__(s, lab))
    ball = sweep.areas[:, 1]
    assert np.all(np.diff(ball) <= 0) and ball[0] > 0 and ball[-1] == 0  # σ_van ≈ 0.127
    assert np.allclose(sweep.areas.sum(axis=1), sweep.base_areas.sum())  # two classes share the rectangle
    assert sorted(stored) == sigmas
    # A cache returning the stored labels gives the same sweep without sampling.
    again = region_sweep(BallIndicator(CENTRE, RHO), 2, sigmas, grid, 256, progress=False, cache=stored.get)
    assert np.array_equal(again.smoothed, sweep.smoothed)


def test_bad_arguments():
    grid = make_grid(resolution=5)
    with pytest.raises(InvalidArgumentError):
        make_grid(resolution=1)
    with pytest.raises(InvalidArgumentError):
        region_sweep(BallIndicator(CENTRE, RHO), 2, [0.0], grid, progress=False)
    with pytest.raises(InvalidArgumentError):  # the ball is still there at hi
        vanishing_sigma_empirical(BallIndicator(CENTRE, RHO), 2, 1, make_grid(resolution=11), 64, lo=0.01, hi=0.02)
