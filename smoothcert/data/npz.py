"""A user's own data set from a ``.npz`` file, validated before use.

The file holds ``x`` (floats in [0, 1], shape [N, C, H, W] for images or [N, D] for vectors) and ``y``
(integer labels ≥ 0, shape [N]); optionally ``x_test`` and ``y_test`` of the same kind, used as the test
split. Without them the loader makes a seeded stratified split. Pickled objects are never loaded.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from smoothcert.data.base import (
    Dataset,
    from_numpy,
    pool_fingerprint,
    resolve_test_size,
    stratified_split,
)
from smoothcert.errors import DataError, InputError, InvalidArgumentError
from smoothcert.validate import check_fraction, check_seed

_INPUT_NDIMS = (2, 4)
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_MAX_CLASSES = 100_000


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an npz file, loaded without pickle."""
    if not path.is_file():
        raise DataError(f"npz file not found: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if magic not in _ZIP_MAGICS:  # checked first: np.load would try to unpickle anything that is not numpy
        raise DataError(f"{path} is not an npz archive (save one with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc):  # an object array
            raise DataError(f"{path} holds object arrays, which need pickle and are never loaded") from exc
        raise DataError(f"cannot read {path} as an npz archive: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DataError(f"cannot read {path} as an npz archive: {exc}") from exc


def _check_inputs(x: np.ndarray, key: str) -> np.ndarray:
    """Validate one input array: float dtype, [N, C, H, W] or [N, D], N ≥ 1, finite, within [0, 1]."""
    if not np.issubdtype(x.dtype, np.floating):
        hint = " (divide 8-bit images by 255)" if np.issubdtype(x.dtype, np.integer) else ""
        raise InputError(f"{key!r} must hold floats in [0, 1], got dtype {x.dtype}{hint}")
    if x.ndim not in _INPUT_NDIMS:
        raise InputError(f"{key!r} must have shape [N, C, H, W] or [N, D], got shape {x.shape}")
    if len(x) == 0 or x.size == 0:
        raise InputError(f"{key!r} is empty (shape {x.shape})")
    bad = np.count_nonzero(~np.isfinite(x))
    if bad:
        raise InputError(f"{key!r} has {bad} NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        raise InputError(f"{key!r} values must lie in [0, 1], found range [{low:g}, {high:g}]")
    return x


def _check_labels(y: np.ndarray, key: str, n: int) -> np.ndarray:
    """Validate one label array: shape [n], integer values ≥ 0 (integral floats accepted); returns int64."""
    if y.ndim != 1:
        raise InputError(f"{key!r} must have shape [N], got shape {y.shape}")
    if len(y) != n:
        raise InputError(f"{key!r} has {len(y)} labels but the inputs have N = {n}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise InputError(f"{key!r} must hold integer labels, found non-integer values")
    elif not np.issubdtype(y.dtype, np.integer):  # bool is not an integer dtype here
        raise InputError(f"{key!r} must hold integer labels, got dtype {y.dtype}")
    if y.min() < 0:
        raise InputError(f"{key!r} has negative labels (min {y.min():g}); labels must be 0, 1, 2, ...")
    if y.max() >= _MAX_CLASSES:
        raise InputError(f"{key!r} has label {y.max():g}; labels must be 0, 1, 2, ... below {_MAX_CLASSES:,}")
    return y.astype(np.int64)


def load_npz(path: str | os.PathLike[str], seed: int = 0, test_fraction: float = 0.2,
             test_size: int | None = None) -> Dataset:
    """Load a labelled data set from an npz file.

    Args:
        path: ``.npz`` file with arrays ``x`` [N, C, H, W] or [N, D] (floats in [0, 1]) and ``y`` [N]
            (integer labels ≥ 0); optionally ``x_test``/``y_test`` (same input shape), used as the test split.
        seed: random state of the split when there are no test arrays.
        test_fraction: share of the examples held out as test data when there are no test arrays.
        test_size: number of test examples instead (``--test-size``), e.g. when there are few examples per
            class: the split needs at least one example of each class on both sides.

    Returns:
        A :class:`Dataset` named after the file's stem, with ``num_classes`` = largest label + 1 and class
        names ``"0"``, ``"1"``, ...

    Raises:
        DataError: the file is missing, unreadable, not an npz archive, or needs pickle.
        InputError: missing arrays, wrong shapes, mismatched lengths, NaN/inf, values outside [0, 1], or
            labels that are not non-negative integers.
    """
    seed = check_seed(seed)
    test_fraction = check_fraction("test_fraction", test_fraction)
    path = Path(path).expanduser()
    arrays = _read_arrays(path)
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise InputError(f"{path} lacks array(s) {', '.join(missing)}; it has: {', '.join(arrays) or 'none'}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise InputError(f"{path} must hold both x_test and y_test, or neither")

    x = _check_inputs(arrays["x"], "x")
    y = _check_labels(arrays["y"], "y", len(x))
    if "x_test" in arrays:
        x_test = _check_inputs(arrays["x_test"], "x_test")
        y_test = _check_labels(arrays["y_test"], "y_test", len(x_test))
        if x_test.shape[1:] != x.shape[1:]:
            raise InputError(f"x_test inputs have shape {x_test.shape[1:]} but x inputs have {x.shape[1:]}")
        if test_size is not None:
            raise InvalidArgumentError(f"{path} holds its own test split (x_test/y_test); --test-size "
                                       "(test_size) applies only to files without one")
        x_train, y_train = x, y
        note = f"{path.name}: {len(y_train):,} train from x/y, {len(y_test):,} test from x_test/y_test"
        split = {"seed": None, "pool": pool_fingerprint("npz", y, y_test)}
        train_idx = np.arange(len(y), dtype=np.int64)
        test_idx = np.arange(len(y), len(y) + len(y_test), dtype=np.int64)
    else:
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() < 2:
            rare = classes[counts < 2].tolist()
            raise InputError(
                f"class(es) {rare} in 'y' have a single example; a stratified split needs at least 2 per "
                "class (add examples, or supply x_test/y_test)"
            )
        train_idx, test_idx = stratified_split(y, resolve_test_size(len(y), test_size, test_fraction), seed)
        split = {"seed": seed, "pool": pool_fingerprint("npz", y)}
        x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
        note = (
            f"{path.name}: seeded stratified split of {len(y):,} examples into "
            f"{len(train_idx):,} train / {len(test_idx):,} test (seed {seed})"
        )

    num_classes = int(max(y_train.max(), y_test.max())) + 1
    if num_classes < 2:
        raise InputError(f"labels in {path} name only {num_classes} class; a classifier needs at least 2")
    names = tuple(str(i) for i in range(num_classes))
    return from_numpy(path.stem, x_train, y_train, x_test, y_test, num_classes, names, note, split=split,
                      train_indices=train_idx, test_indices=test_idx)
