"""Empirical decision regions of base and smoothed classifiers on a 2-D grid (methods.md §1).

Every grid point is an input of the sampling engine (``Smooth.sample_counts``), so the smoothed class of
thousands of points is counted in full batches. Grid point i always uses input index i and the prediction
stream; since the noise is σ times a seeded standard normal, all σ share the same standard normals (common
random numbers): areas change with σ, not with the draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from smoothcert import sampling
from smoothcert.engine import Engine
from smoothcert.errors import InvalidArgumentError
from smoothcert.noise import GaussianNoise
from smoothcert.smooth import Smooth
from smoothcert.validate import check_count, check_int, check_positive

from ...progress import progress_bar

__all__ = [
    "BallIndicator",
    "Grid",
    "RegionSweep",
    "base_region",
    "class_areas",
    "make_grid",
    "region_sweep",
    "smoothed_region",
    "vanishing_sigma_empirical",
]


class BallIndicator(nn.Module):
    """f(x) = 1 if ‖x − c‖ ≤ ρ else 0, as two logits: an exact bounded region with no training.

    Args:
        centre: c [d]; radius: ρ > 0 (input units).
    """

    def __init__(self, centre: Sequence[float], radius: float) -> None:
        super().__init__()
        self.register_buffer("centre", torch.tensor(list(centre), dtype=torch.float32))
        self.radius = check_positive("radius", radius)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inside = ((x.flatten(1) - self.centre).norm(dim=1) <= self.radius).float()
        return torch.stack([0.5 - inside, inside - 0.5], dim=1)


@dataclass(frozen=True)
class Grid:
    """A regular grid over a rectangle of ℝ².

    Attributes:
        xs: float64 [W] first-coordinate values; ys: float64 [H] second-coordinate values.
        points: float32 tensor [H·W, 2], row-major (point k = (xs[k % W], ys[k // W])).
        cell_area: area of one grid cell (input units²); a region's area is its point count times this.
    """

    xs: np.ndarray
    ys: np.ndarray
    points: torch.Tensor
    cell_area: float

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ys), len(self.xs)


def make_grid(bounds: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 1.0), (0.0, 1.0)),
              resolution: int = 81) -> Grid:
    """``resolution`` × ``resolution`` points spanning ``bounds`` ((x_lo, x_hi), (y_lo, y_hi)), edges included.

    An odd resolution puts a point on the rectangle's centre.
    """
    resolution = check_int("resolution", resolution, minimum=2)
    (x0, x1), (y0, y1) = bounds
    if not (x1 > x0 and y1 > y0):
        raise InvalidArgumentError(f"bounds must be increasing pairs, got {bounds!r}")
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    points = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))
    cell = (x1 - x0) / (resolution - 1) * (y1 - y0) / (resolution - 1)
    return Grid(xs, ys, points, cell)


def base_region(model: nn.Module, points: torch.Tensor, batch_size: int = 8192) -> np.ndarray:
    """f at each point [G, 2] (int64 [G])."""
    return Engine(model, batch_size=batch_size).logits(points).argmax(1).cpu().numpy()


def smoothed_region(smooth: Smooth, points: torch.Tensor, n: int,
                    progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The plug-in smoothed classifier at each grid point: (argmax of the counts int64 [G], counts [G, C]).

    Counts come from n noisy copies per point (prediction stream, input index = point index). A point is
    given class c when c has the most votes; with two classes that is an estimated P(f(x + ε) = c) > ½.
    """
    n = check_count("n", n)
    counts = smooth.sample_counts(points, n, range(len(points)), sampling.PREDICTION, progress)
    return counts[:, : smooth.num_classes].argmax(axis=1), counts[:, : smooth.num_classes]


def class_areas(labels: np.ndarray, num_classes: int, cell_area: float) -> np.ndarray:
    """Area of each class region on the grid: points of that class × cell area (float64 [C])."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)[:num_classes] * float(cell_area)


@dataclass(frozen=True)
class RegionSweep:
    """Base and smoothed decision regions for a σ grid.

    Attributes:
        grid: the grid.
        sigmas: float64 [S].
        n: noisy copies per grid point.
        base: int64 [G], f on the grid.
        smoothed: int64 [S, G], the smoothed class on the grid for each σ.
        base_areas: float64 [C]; areas: float64 [S, C] (input units², within the grid's rectangle).
    """

    grid: Grid
    sigmas: np.ndarray
    n: int
    base: np.ndarray
    smoothed: np.ndarray
    base_areas: np.ndarray
    areas: np.ndarray


def region_sweep(model: nn.Module, num_classes: int, sigmas: Sequence[float], grid: Grid, n: int = 256, *,
                 seed: int = 0, batch_size: int = 8192, compile: bool = False, progress: bool = True,
                 cache: Callable[[float], np.ndarray | None] | None = None,
                 store: Callable[[float, np.ndarray], None] | None = None) -> RegionSweep:
    """Base and smoothed regions of ``model`` on ``grid`` for each σ in ``sigmas``.

    ``cache(σ)`` may return an earlier smoothed labelling [G] (to resume), ``store(σ, labels)`` saves one.
    """
    sigmas = np.asarray([check_positive("sigma", s) for s in sigmas])
    if sigmas.size == 0:
        raise InvalidArgumentError("give at least one sigma")
    base = base_region(model, grid.points)
    smooth = Smooth(model, num_classes, float(sigmas[0]), batch_size=batch_size, seed=seed, compile=compile)
    rows = []
    bar = progress_bar(sigmas, desc="regions", unit="σ", disable=not progress)
    for sigma in bar:
        labels = cache(float(sigma)) if cache is not None else None
        if labels is None:
            # One engine (one compiled model) for every σ: only the noise changes.
            labels, _ = smoothed_region(smooth.with_noise(GaussianNoise(float(sigma))), grid.points, n)
            if store is not None:
                store(float(sigma), labels)
        rows.append(np.asarray(labels, dtype=np.int64))
        bar.set_postfix(sigma=f"{sigma:g}")
    smoothed = np.stack(rows)
    areas = np.stack([class_areas(s, num_classes, grid.cell_area) for s in smoothed])
    return RegionSweep(grid, sigmas, int(n), base, smoothed, class_areas(base, num_classes, grid.cell_area), areas)


def vanishing_sigma_empirical(model: nn.Module, num_classes: int, cls: int, grid: Grid, n: int = 4096, *,
                              lo: float = 1e-3, hi: float = 1.0, tol: float = 1e-3, seed: int = 0,
                              batch_size: int = 8192, points: np.ndarray | None = None) -> float:
    """The σ at which the smoothed region of class ``cls`` on the grid becomes empty, by bisection on σ.

    Args:
        model, num_classes: the base classifier.
        cls: the (bounded) class.
        grid: where to look; ``points`` (indices into the grid) restricts the search, e.g. to the base region
            of ``cls`` when the smoothed region cannot leave it (true for a ball).
        n: noisy copies per point at each step. Common random numbers make the empirical region shrink
            monotonically with σ for a ball, so bisection is well defined.
        lo, hi: bracket: the region must be non-empty at ``lo`` and empty at ``hi``.
        tol: stop when the bracket is narrower than this (input units).
    Returns:
        the midpoint of the final bracket.
    """
    if not 0 < lo < hi:
        raise InvalidArgumentError(f"need 0 < lo < hi, got lo={lo!r}, hi={hi!r}")
    subset = grid.points if points is None else grid.points[torch.as_tensor(points, dtype=torch.long)]
    smooth = Smooth(model, num_classes, lo, batch_size=batch_size, seed=seed)

    def present(sigma: float) -> bool:
        labels, _ = smoothed_region(smooth.with_noise(GaussianNoise(sigma)), subset, n)
        return bool(np.any(labels == cls))

    if not present(lo):
        raise InvalidArgumentError(f"class {cls} has no smoothed region even at sigma={lo}")
    if present(hi):
        raise InvalidArgumentError(f"class {cls} still has a smoothed region at sigma={hi}; raise hi")
    for _ in range(math.ceil(math.log2((hi - lo) / tol))):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if present(mid) else (lo, mid)
    return 0.5 * (lo + hi)
