"""scikit-learn's bundled 8×8 handwritten digits: small, offline, and quick to train on."""

from __future__ import annotations

import numpy as np

from smoothcert.data.base import Dataset, from_numpy, pool_fingerprint, stratified_split
from smoothcert.errors import InvalidArgumentError
from smoothcert.validate import check_seed

DIGITS_SIZE = 1797
"""Number of images in the bundled data set."""

_MAX_PIXEL = 16.0  # the bundled pixel values are counts 0..16 of a 4×4 block of the original bitmap


def load_digits(seed: int = 0, test_size: int = 360) -> Dataset:
    """Load the 1,797 8×8 digit images with a seeded stratified train/test split.

    Args:
        seed: random state of the split.
        test_size: number of test images (360 by default, 20 %); the rest are training images.

    Returns:
        A :class:`Dataset` named ``"digits"``: inputs float32 [N, 1, 8, 8] with pixel values 0..16 divided by
        16 into [0, 1], labels int64 in 0..9, class names ``"0"``..``"9"``.
    """
    from sklearn import datasets  # deferred: scikit-learn is slow to import

    seed = check_seed(seed)
    if isinstance(test_size, bool) or not isinstance(test_size, int | np.integer):
        raise InvalidArgumentError(f"test_size must be an integer, got {test_size!r}")
    bunch = datasets.load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / _MAX_PIXEL).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = stratified_split(y, int(test_size), seed)
    note = (
        f"scikit-learn digits: seeded stratified split of the {len(y):,} images into "
        f"{len(train_idx):,} train / {len(test_idx):,} test (seed {seed})"
    )
    return from_numpy(
        "digits",
        x[train_idx],
        y[train_idx],
        x[test_idx],
        y[test_idx],
        num_classes=10,
        class_names=tuple(str(i) for i in range(10)),
        split_note=note,
        split={"seed": seed, "pool": pool_fingerprint("digits", y), "pool_size": len(y)},
        train_indices=train_idx,
        test_indices=test_idx,
    )
