"""Pal & Sulam's synthetic experiment: noise-augmented training against smoothing noise on a grid of disks.

A binary classifier h on a size × size pixel grid is 1 on a union of disks and 0 elsewhere. Training with
noise α is idealised as Gaussian convolution, h_α = h ∗ p_α; smoothing with noise β gives
φ(φ(h ∗ p_α) ∗ p_β) with φ(t) = 1[t ≥ ½]. The risk against the clean labels φ(h) is

    Δ_{α,β} = mean over pixels of |φ(h) − φ(φ(h ∗ p_α) ∗ p_β)|,

and training noise α helps smoothing at β iff Δ_{α,β} − Δ_{0,β} < 0 (methods.md §3). Units: pixels.

Disks of radius r are placed by rejection sampling: a uniformly drawn integer centre is kept when it lies at
Euclidean distance ≥ 2r + ζ from every centre kept before (ζ is the gap between disks; ζ ≥ 0 keeps them
disjoint). Convolution is ``scipy.ndimage.gaussian_filter`` with ``mode="constant"`` (zero outside the grid),
as in the authors' notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage, optimize, stats

from ...errors import InvalidArgumentError
from ...validate import check_choice, check_count, check_positive, check_seed
from .levels import check_levels

#: ``scipy.ndimage`` boundary modes accepted for the convolution.
MODES = ("constant", "nearest", "reflect", "mirror", "wrap")


def phi(t: np.ndarray) -> np.ndarray:
    """The threshold φ(t) = 1[t ≥ ½], as float64 (same shape as ``t``)."""
    return (np.asarray(t) >= 0.5).astype(np.float64)


def gaussian(h: np.ndarray, sigma: float, mode: str = "constant") -> np.ndarray:
    """h ∗ p_σ: Gaussian convolution with std ``sigma`` pixels (σ = 0 returns h unchanged), float64."""
    h = np.asarray(h, dtype=np.float64)
    if sigma == 0:
        return h.copy()
    return ndimage.gaussian_filter(h, sigma=float(sigma), mode=mode, cval=0.0)


def delta_table(h: np.ndarray, alphas: Sequence[float], betas: Sequence[float], mode: str = "constant") -> np.ndarray:
    """Δ_{α,β} for every α in ``alphas`` and β in ``betas``.

    Args:
        h: the base function on the grid [H, W], values in [0, 1] (here an indicator of disks).
        alphas: training noise levels (pixels, ≥ 0); ``betas``: smoothing noise levels (pixels, ≥ 0).
        mode: ``scipy.ndimage`` boundary mode of the convolutions.
    Returns:
        float64 [len(alphas), len(betas)]: the fraction of pixels where φ(φ(h ∗ p_α) ∗ p_β) differs from φ(h).
    """
    alphas, betas = check_levels(alphas, "alphas"), check_levels(betas, "betas")
    mode = check_choice("boundary mode", mode, MODES)
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2 or h.size == 0:
        raise InvalidArgumentError(f"h must be a non-empty 2-D grid, got shape {h.shape}")
    labels = phi(h)
    out = np.empty((len(alphas), len(betas)))
    for i, alpha in enumerate(alphas):
        trained = phi(gaussian(h, alpha, mode))  # φ(h ∗ p_α), reused by every β
        for j, beta in enumerate(betas):
            out[i, j] = np.mean(np.abs(labels - phi(gaussian(trained, beta, mode))))
    return out


def smoothing_risk(h: np.ndarray, alpha: float, beta: float, mode: str = "constant") -> float:
    """Δ_{α,β} for one pair (see :func:`delta_table`)."""
    return float(delta_table(h, [alpha], [beta], mode)[0, 0])


# --- the synthetic distribution -------------------------------------------------------------------------------


def disk_mask(size: int, centres: np.ndarray, radius: float) -> np.ndarray:
    """Indicator [size, size] (float64) of the union of disks {(i, j): (i − cᵢ)² + (j − cⱼ)² ≤ r²}, clipped to
    the grid. ``centres`` [K, 2] in pixel coordinates (row, column)."""
    rows, cols = np.mgrid[0:size, 0:size]
    mask = np.zeros((size, size), dtype=bool)
    for ci, cj in np.asarray(centres, dtype=np.float64).reshape(-1, 2):
        mask |= (rows - ci) ** 2 + (cols - cj) ** 2 <= radius**2
    return mask.astype(np.float64)


def sample_disks(
    size: int = 100, radius: float = 10, zeta: float = 0, tries: int = 10_000, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One draw of the distribution: disks placed by rejection sampling.

    Args:
        size: grid side (pixels). radius: disk radius r (pixels). zeta: gap ζ ≥ 0, so centres are ≥ 2r + ζ apart.
        tries: candidate centres drawn (uniform integers in [0, size)²); each is kept if far enough from those
            kept before it.
        rng: NumPy generator (default: a fresh unseeded one).
    Returns:
        (h [size, size] float64 indicator of the disks, centres [K, 2] int64).
    """
    size, tries = check_count("size", size), check_count("tries", tries)
    radius = check_disk_geometry(size, radius)
    zeta = check_positive("zeta", zeta, allow_zero=True)
    rng = rng if rng is not None else np.random.default_rng()
    candidates = rng.integers(0, size, size=(tries, 2))
    separation_sq = (2 * radius + zeta) ** 2
    kept = np.empty((0, 2), dtype=np.int64)
    for c in candidates:
        if kept.shape[0] == 0 or np.min(np.sum((kept - c) ** 2, axis=1)) >= separation_sq:
            kept = np.vstack([kept, c])
    return disk_mask(size, kept, radius), kept


def check_disk_geometry(size: int, radius: float) -> float:
    """``radius`` as a float if a disk of that radius (pixels) fits the size × size grid: 0 < 2r ≤ size.

    A wider disk is clipped by the grid wherever it is placed; far too wide (size 5, radius 10) it covers the
    whole grid, and every Δ_{α,β} and gain comes out 0 without meaning anything.
    """
    radius = check_positive("radius", radius)
    if 2 * radius > size:
        raise InvalidArgumentError(f"a disk of radius {radius:g} pixels does not fit the {size} × {size} grid: "
                                   f"need 2 × radius <= size")
    return radius


# --- the analytic case: one disk in the plane -----------------------------------------------------------------


def smoothed_disk_radius(radius: float, sigma: float) -> float:
    """Radius of φ(1_B ∗ p_σ) for a disk B of radius R in ℝ²: the shrunken disk, or 0 if it vanishes.

    (1_B ∗ p_σ)(x) = P(‖x − c + ε‖ ≤ R) = F(R²/σ²; 2, ρ²/σ²) with ρ = ‖x − c‖ and F the noncentral χ²₂ CDF;
    it decreases in ρ, so its ½-superlevel set is the disk of the radius ρ* solving F = ½. At ρ = 0 it equals
    1 − exp(−R²/(2σ²)), so the disk vanishes when R < σ √(2 ln 2). σ = 0 leaves R unchanged.
    """
    if sigma == 0 or radius == 0:
        return float(radius)
    level = (radius / sigma) ** 2
    if 1 - math.exp(-level / 2) < 0.5:
        return 0.0

    def excess(rho: float) -> float:
        return float(stats.ncx2.cdf(level, 2, (rho / sigma) ** 2)) - 0.5

    if excess(0.0) <= 0:  # exactly at the vanishing point
        return 0.0
    return float(optimize.brentq(excess, 0.0, radius, xtol=1e-10))


def single_disk_delta(size: int, radius: float, alpha: float, beta: float) -> float:
    """Analytic Δ_{α,β} of one disk of radius R well inside a size × size grid (no border effects):
    (πR² − πR_{α,β}²)/size², where R_{α,β} shrinks R at α, then at β (:func:`smoothed_disk_radius`)."""
    shrunk = smoothed_disk_radius(smoothed_disk_radius(radius, alpha), beta)
    return math.pi * (radius**2 - shrunk**2) / size**2


# --- the experiment --------------------------------------------------------------------------------------------


@dataclass
class DisksConfig:
    """Settings of the synthetic experiment (defaults: the authors' notebook, methods.md §3). Units: pixels.

    Attributes:
        size: grid side. radius: disk radius r (2r ≤ size). zetas: gaps ζ between disks. alphas, betas: noise grids.
        draws: random draws of the disks averaged per ζ (the same draws serve every α and β).
        tries: rejection-sampling candidates per draw. seed: seeds every draw. mode: convolution boundary mode.
    """

    size: int = 100
    radius: float = 10.0
    zetas: list[float] = field(default_factory=lambda: [0.0, 1.0, 2.0, 3.0])
    alphas: list[float] = field(default_factory=lambda: [float(a) for a in range(21)])
    betas: list[float] = field(default_factory=lambda: [8.0, 11.0, 14.0])
    draws: int = 10
    tries: int = 10_000
    seed: int = 0
    mode: str = "constant"

    def validate(self) -> DisksConfig:
        for name in ("size", "draws", "tries"):
            check_count(name, getattr(self, name))
        self.radius = check_disk_geometry(self.size, self.radius)
        self.zetas = check_levels(self.zetas, "zetas")
        self.alphas = check_levels(self.alphas, "alphas")
        self.betas = check_levels(self.betas, "betas")
        if 0.0 not in self.alphas:  # Δ_{0,β} is the baseline every gain is measured against
            self.alphas = [0.0, *self.alphas]
        check_seed(self.seed)
        self.mode = check_choice("boundary mode", self.mode, MODES)
        return self


@dataclass
class DisksResult:
    """Outcome of :func:`run_disks`.

    Attributes:
        config: the settings used.
        deltas: Δ_{α,β} per draw, float64 [len(zetas), draws, len(alphas), len(betas)].
        disks: number of disks per draw, int [len(zetas), draws].
    """

    config: DisksConfig
    deltas: np.ndarray
    disks: np.ndarray

    @property
    def gains(self) -> np.ndarray:
        """Δ_{α,β} − Δ_{0,β}, mean over draws: [len(zetas), len(alphas), len(betas)] (negative: α helps)."""
        zero = self.config.alphas.index(0.0)
        return (self.deltas - self.deltas[:, :, zero : zero + 1, :]).mean(axis=1)

    @property
    def gain_se(self) -> np.ndarray:
        """Standard error over draws of the gain (same shape as :attr:`gains`; 0 with one draw)."""
        zero = self.config.alphas.index(0.0)
        diff = self.deltas - self.deltas[:, :, zero : zero + 1, :]
        draws = diff.shape[1]
        return diff.std(axis=1, ddof=1) / math.sqrt(draws) if draws > 1 else np.zeros_like(self.gains)

    @property
    def baseline(self) -> np.ndarray:
        """Δ_{0,β}, mean over draws: [len(zetas), len(betas)]."""
        return self.deltas[:, :, self.config.alphas.index(0.0), :].mean(axis=1)

    def alpha_star(self) -> np.ndarray:
        """α*(β, ζ) = argmin_α of the mean gain, [len(zetas), len(betas)]; ties go to the smallest α, so
        α* = 0 exactly when no α > 0 lowers the mean risk."""
        alphas = np.asarray(self.config.alphas)
        order = np.argsort(alphas, kind="stable")
        best = np.argmin(self.gains[:, order, :], axis=1)  # first minimum in increasing α
        return alphas[order][best]

    def best_gain(self) -> np.ndarray:
        """min_α of the mean gain, [len(zetas), len(betas)] (0 when augmentation never helps)."""
        return self.gains.min(axis=1)

    def to_dict(self) -> dict:
        return {"config": asdict(self.config), "deltas": self.deltas.tolist(), "disks": self.disks.tolist()}


def draw_rng(seed: int, zeta: float, draw: int) -> np.random.Generator:
    """The generator of one draw: fixed by (seed, ζ, draw index), independent of the other settings."""
    return np.random.default_rng([int(seed), round(float(zeta) * 1000), int(draw)])


def run_disks(config: DisksConfig | None = None, progress: Callable[[int], None] | None = None) -> DisksResult:
    """Δ_{α,β} on ``config.draws`` seeded draws of disks for every ζ, α, β.

    ``progress`` is called with 1 after each draw (len(zetas) × draws calls in all).
    """
    cfg = (config or DisksConfig()).validate()
    deltas = np.empty((len(cfg.zetas), cfg.draws, len(cfg.alphas), len(cfg.betas)))
    disks = np.zeros((len(cfg.zetas), cfg.draws), dtype=np.int64)
    for z, zeta in enumerate(cfg.zetas):
        for d in range(cfg.draws):
            h, centres = sample_disks(cfg.size, cfg.radius, zeta, cfg.tries, draw_rng(cfg.seed, zeta, d))
            disks[z, d] = len(centres)
            deltas[z, d] = delta_table(h, cfg.alphas, cfg.betas, cfg.mode)
            if progress is not None:
                progress(1)
    return DisksResult(cfg, deltas, disks)
