"""Seeded synthetic distributions with known geometry, generated inside the unit cube [0, 1]^d.

Points are drawn directly in input space (no data-dependent rescaling), so an ℓ2 radius in input space means
the same thing as in the generating geometry: the distance between blob centres, the gap between ball and
ring, and the moons' shape are all stated in the same units as a certified radius. Inputs are float32 [N, d].
"""

from __future__ import annotations

import numpy as np

from smoothcert.data.base import (
    Dataset,
    from_numpy,
    pool_fingerprint,
    resolve_test_size,
    stratified_split,
)
from smoothcert.errors import InvalidArgumentError
from smoothcert.validate import check_fraction, check_int, check_positive, check_seed

CENTRE = 0.5
"""Every distribution is centred at the centre of the cube, (0.5, ..., 0.5)."""

BLOB_RING_RADIUS = 0.3
"""Distance of each blob centre from the cube's centre (in the first two coordinates)."""

MOONS_SCALE = 0.25
"""Input-space distances of :func:`two_moons` are scikit-learn's ``make_moons`` distances times this."""

_MOONS_OFFSET = np.array([0.5, 0.25])  # centre of the noiseless moons' bounding box [-1, 2] × [-0.5, 1]
_MAX_ROUNDS = 1000


def _class_sizes(n: int, num_classes: int) -> np.ndarray:
    """Balanced class sizes summing to n (the first ``n % num_classes`` classes get one extra point)."""
    return np.array([n // num_classes + (j < n % num_classes) for j in range(num_classes)])


def _directions(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Uniform unit vectors [n, d]."""
    z = rng.standard_normal((n, d))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def _split(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    class_names: tuple[str, ...],
    description: str,
    seed: int,
    test_fraction: float,
    test_size: int | None = None,
) -> Dataset:
    """Stratified train/test split of generated points; the note describes the distribution and the split.

    The points themselves are drawn with ``seed``, so splits of two seeds share no point."""
    train_idx, test_idx = stratified_split(y, resolve_test_size(len(y), test_size, test_fraction), seed)
    note = (
        f"{description}: seeded stratified split of {len(y):,} points into "
        f"{len(train_idx):,} train / {len(test_idx):,} test (seed {seed})"
    )
    x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    split = {"seed": seed, "pool": pool_fingerprint(name, description, seed, len(y)), "pool_seeded": True}
    return from_numpy(name, x_train, y_train, x_test, y_test, num_classes, class_names, note, split=split,
                      train_indices=train_idx, test_indices=test_idx)


def blob_centres(d: int = 2, num_classes: int = 3) -> np.ndarray:
    """Centres of :func:`gaussian_blobs`, float64 [num_classes, d].

    For d ≥ 2 they lie evenly spaced on a circle of radius 0.3 around (0.5, ..., 0.5) in the first two
    coordinates (all other coordinates 0.5), so neighbouring centres are ``0.6 · sin(π / num_classes)`` apart.
    For d = 1 they are evenly spaced on [0.2, 0.8].
    """
    d = check_int("d", d, minimum=1)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    centres = np.full((num_classes, d), CENTRE)
    if d == 1:
        centres[:, 0] = np.linspace(CENTRE - BLOB_RING_RADIUS, CENTRE + BLOB_RING_RADIUS, num_classes)
    else:
        angles = 2 * np.pi * np.arange(num_classes) / num_classes
        centres[:, 0] += BLOB_RING_RADIUS * np.cos(angles)
        centres[:, 1] += BLOB_RING_RADIUS * np.sin(angles)
    return centres


def gaussian_blobs(
    n: int = 1500,
    d: int = 2,
    num_classes: int = 3,
    spread: float = 0.05,
    seed: int = 0,
    test_fraction: float = 0.25,
    test_size: int | None = None,
) -> Dataset:
    """Isotropic Gaussian blobs, one per class, truncated to the unit cube.

    Class j is N(c_j, spread² I) restricted to [0, 1]^d, with centres c_j from :func:`blob_centres`; points
    falling outside the cube are redrawn (so no mass piles up on its faces). Classes are balanced.

    Args:
        n: total number of points (train + test).
        d: input dimension.
        num_classes: number of blobs (≥ 2).
        spread: standard deviation per coordinate, in input units.
        seed: seed of both the sampling and the split.
        test_fraction: share of points in the test split.
        test_size: number of test points instead (overrides ``test_fraction``).

    Returns:
        A :class:`Dataset` named ``"blobs"`` with inputs float32 [N, d] in [0, 1].
    """
    seed = check_seed(seed)
    n = check_int("n", n, minimum=1)
    spread = check_positive("spread", spread)
    test_fraction = check_fraction("test_fraction", test_fraction)
    centres = blob_centres(d, num_classes)
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(num_classes), _class_sizes(n, num_classes))
    x = centres[y] + spread * rng.standard_normal((n, d))
    for _ in range(_MAX_ROUNDS):
        outside = np.flatnonzero(((x < 0) | (x > 1)).any(axis=1))
        if outside.size == 0:
            break
        x[outside] = centres[y[outside]] + spread * rng.standard_normal((outside.size, d))
    else:
        raise InvalidArgumentError(
            f"spread {spread} is too large for d={d}: too few Gaussian draws land inside [0, 1]^{d}"
        )
    description = f"Gaussian blobs ({num_classes} classes, d={d}, spread {spread:g})"
    names = tuple(f"blob {j}" for j in range(num_classes))
    return _split("blobs", x, y, num_classes, names, description, seed, test_fraction, test_size)


def concentric(
    n: int = 2000,
    d: int = 2,
    inner_radius: float = 0.15,
    ring: tuple[float, float] = (0.25, 0.35),
    seed: int = 0,
    test_fraction: float = 0.25,
    test_size: int | None = None,
) -> Dataset:
    """A ball inside a ring (spherical shell), both uniform in volume and centred at (0.5, ..., 0.5).

    Class 1 ("ball") fills ‖x − c‖ ≤ inner_radius; class 0 ("ring") fills r1 ≤ ‖x − c‖ ≤ r2. Class 1 is
    the bounded class: a classifier for it must enclose a region of radius about inner_radius, and the two
    supports are ``r1 − inner_radius`` apart. Classes are balanced. Requires
    0 < inner_radius < r1 < r2 ≤ 0.5 so the shell stays inside the unit cube.

    Args:
        n: total number of points (train + test).
        d: input dimension.
        inner_radius: radius of the class-1 ball, in input units.
        ring: (r1, r2), inner and outer radius of the class-0 shell.
        seed: seed of both the sampling and the split.
        test_fraction: share of points in the test split.
        test_size: number of test points instead (overrides ``test_fraction``).

    Returns:
        A :class:`Dataset` named ``"concentric"`` with inputs float32 [N, d] in [0, 1].
    """
    seed = check_seed(seed)
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=1)
    inner = check_positive("inner_radius", inner_radius)
    try:
        r1, r2 = (check_positive("ring radius", r) for r in ring)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"ring must be a pair (r1, r2) of radii, got {ring!r}") from exc
    if not inner < r1 < r2 <= CENTRE:
        raise InvalidArgumentError(
            f"need 0 < inner_radius < r1 < r2 ≤ 0.5, got inner_radius={inner}, ring=({r1}, {r2})"
        )
    test_fraction = check_fraction("test_fraction", test_fraction)
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(2), _class_sizes(n, 2))
    u = rng.random(n)
    # Uniform in volume: the radius's CDF is proportional to r^d.
    radius = np.where(y == 1, inner * u ** (1 / d), (r1**d + u * (r2**d - r1**d)) ** (1 / d))
    # The clip only matters for rounding when r2 = 0.5.
    x = np.clip(CENTRE + radius[:, None] * _directions(rng, n, d), 0.0, 1.0)
    description = f"Concentric ball (r ≤ {inner:g}) and ring ({r1:g} ≤ r ≤ {r2:g}), d={d}"
    return _split("concentric", x, y, 2, ("ring", "ball"), description, seed, test_fraction, test_size)


def two_moons(n: int = 1000, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.25,
              test_size: int | None = None) -> Dataset:
    """scikit-learn's two interleaving half-circles, mapped affinely into the unit square.

    ``x = (m − (0.5, 0.25)) · 0.25 + 0.5`` where m is a point of ``make_moons`` (noiseless moons span
    [-1, 2] × [-0.5, 1]), so input-space distances are the moons' distances times 0.25 and the noiseless
    moons lie in [0.125, 0.875] × [0.3125, 0.6875]. Noise is added before the map (in moon units); the rare
    noisy point outside the square is clipped onto it.

    Args:
        n: total number of points (train + test).
        noise: standard deviation of the Gaussian noise, in moon units.
        seed: seed of both the sampling and the split.
        test_fraction: share of points in the test split.
        test_size: number of test points instead (overrides ``test_fraction``).

    Returns:
        A :class:`Dataset` named ``"moons"`` with inputs float32 [N, 2] in [0, 1]; class 0 is the upper moon.
    """
    from sklearn.datasets import make_moons  # deferred: scikit-learn is slow to import

    seed = check_seed(seed)
    n = check_int("n", n, minimum=2)
    noise = check_positive("noise", noise, allow_zero=True)
    test_fraction = check_fraction("test_fraction", test_fraction)
    m, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    x = np.clip((m - _MOONS_OFFSET) * MOONS_SCALE + CENTRE, 0.0, 1.0)
    description = f"Two moons (noise {noise:g}, scaled by {MOONS_SCALE:g} into [0, 1]^2)"
    return _split("moons", x, y, 2, ("upper moon", "lower moon"), description, seed, test_fraction, test_size)
