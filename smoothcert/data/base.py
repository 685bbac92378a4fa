"""The dataset container every loader returns, and the small helpers the loaders share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from smoothcert.errors import InvalidArgumentError


@dataclass(frozen=True)
class Dataset:
    """A labelled train/test split with inputs in [0, 1].

    Attributes:
        name: short name used in outputs and checkpoints (``"digits"``, ``"mnist"``, ...).
        x_train: float32 tensor [N_train, *input_shape], values in [0, 1].
        y_train: int64 tensor [N_train], labels in [0, num_classes).
        x_test: float32 tensor [N_test, *input_shape], values in [0, 1].
        y_test: int64 tensor [N_test].
        num_classes: number of classes.
        class_names: one name per class.
        split_note: one sentence saying how the split was made; stated in every output that uses it.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...]
    split_note: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (1, 8, 8) or (2,)."""
        return tuple(self.x_test.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"input_shape={self.input_shape}, classes={self.num_classes})"
        )


# Helpers shared by the loaders: seed checks, stratified splits, numpy → Dataset.


def check_seed(seed: int) -> int:
    """Return ``seed`` as an int, or raise InvalidArgumentError unless it is an integer in [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise InvalidArgumentError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def check_fraction(value: float, name: str) -> float:
    """Return ``value`` as a float, or raise InvalidArgumentError unless it lies strictly in (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating) or not 0 < value < 1:
        raise InvalidArgumentError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def stratified_split(y: np.ndarray, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(len(y))`` into (train indices, test indices).

    Args:
        y: int array [N] of labels; every class present needs at least 2 members.
        test_size: number of test examples; both sides must hold at least one example per class.
        seed: random state for :func:`sklearn.model_selection.train_test_split`.

    Returns:
        Two int64 index arrays [N - test_size] and [test_size], in shuffled order.
    """
    from sklearn.model_selection import train_test_split  # deferred: scikit-learn is slow to import

    n = len(y)
    num_present = len(np.unique(y))
    if not num_present <= test_size <= n - num_present:
        raise InvalidArgumentError(
            f"a stratified split of {n} examples in {num_present} classes needs a test size between "
            f"{num_present} and {n - num_present}, got {test_size}"
        )
    train_idx, test_idx = train_test_split(
        np.arange(n, dtype=np.int64), test_size=test_size, stratify=y, random_state=check_seed(seed)
    )
    return train_idx, test_idx


def from_numpy(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    class_names: tuple[str, ...],
    split_note: str,
) -> Dataset:
    """Build a :class:`Dataset` from numpy arrays, casting inputs to float32 and labels to int64."""

    def inputs(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))

    return Dataset(
        name=name,
        x_train=inputs(x_train),
        y_train=labels(y_train),
        x_test=inputs(x_test),
        y_test=labels(y_test),
        num_classes=int(num_classes),
        class_names=tuple(class_names),
        split_note=split_note,
    )
