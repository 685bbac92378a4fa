"""Data sets: every loader returns a :class:`Dataset` with inputs in [0, 1] and a stated train/test split.

``load_dataset(name)`` picks a loader by name: ``"digits"`` (scikit-learn 8×8 digits), ``"mnist"`` (official
IDX files), ``"blobs"``, ``"concentric"``, ``"moons"`` (seeded synthetic 2-D/d-D data), or a path to a
``.npz`` file of the user's own data.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from smoothcert.data.base import Dataset, hold_out
from smoothcert.data.digits import load_digits
from smoothcert.data.mnist import MNIST_MD5, MNIST_URL, default_data_dir, download_mnist, load_mnist, read_idx
from smoothcert.data.npz import load_npz
from smoothcert.data.split import SplitCheck, check_split, compare_split
from smoothcert.data.synthetic import blob_centres, concentric, gaussian_blobs, two_moons
from smoothcert.errors import InvalidArgumentError

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "blobs": gaussian_blobs,
    "concentric": concentric,
    "moons": two_moons,
}

DATASETS: tuple[str, ...] = tuple(_LOADERS)
"""Names :func:`load_dataset` accepts (besides a path ending in ``.npz``)."""

# Arguments load_dataset passes itself; the rest of a loader's parameters are its options.
_COMMON = frozenset({"seed", "data_dir", "download", "path"})


def _check_options(name: str, loader: Callable[..., Dataset], options: dict[str, Any]) -> None:
    accepted = [p for p in inspect.signature(loader).parameters if p not in _COMMON]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidArgumentError(
            f"data set {name!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted) or 'none'}"
        )


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    download: bool = False,
    **kwargs: Any,
) -> Dataset:
    """Load a data set by name, or from a ``.npz`` file when ``name`` is a path ending in ``.npz``.

    Args:
        name: one of :data:`DATASETS` (case-insensitive) or a path to an ``.npz`` file.
        data_dir: directory holding the MNIST files (used by ``"mnist"`` only).
        seed: seed of the train/test split, and of the sampling for synthetic data.
        download: let ``"mnist"`` fetch missing files (ignored by the others, which need no files).
        **kwargs: loader-specific options, e.g. ``test_size`` for digits or ``n``, ``d`` for synthetic data.

    Raises:
        InvalidArgumentError: unknown name, or an option the chosen loader does not take.
    """
    if str(name).lower().endswith(".npz"):
        _check_options("npz", load_npz, kwargs)
        return load_npz(name, seed=seed, **kwargs)
    key = str(name).strip().lower()
    loader = _LOADERS.get(key)
    if loader is None:
        raise InvalidArgumentError(
            f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}, or a path to a .npz file"
        )
    _check_options(key, loader, kwargs)
    if key == "mnist":
        return load_mnist(data_dir=data_dir, seed=seed, download=download, **kwargs)
    return loader(seed=seed, **kwargs)


__all__ = [
    "DATASETS",
    "MNIST_MD5",
    "MNIST_URL",
    "Dataset",
    "SplitCheck",
    "blob_centres",
    "check_split",
    "compare_split",
    "concentric",
    "default_data_dir",
    "download_mnist",
    "gaussian_blobs",
    "hold_out",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_npz",
    "read_idx",
    "two_moons",
]
