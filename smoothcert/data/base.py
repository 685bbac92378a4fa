"""The dataset container every loader returns, and the small helpers the loaders share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from smoothcert.errors import InvalidArgumentError
from smoothcert.validate import check_count, check_seed


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
        split: how the split was drawn, as data: ``seed`` (None when the split does not depend on it),
            ``pool`` (a fingerprint of the examples the split was drawn from), ``pool_size`` and
            ``pool_seeded`` (True when the examples themselves are drawn with the seed, as for synthetic data).
        train_indices, test_indices: positions of the train and test examples in that pool (int64), so two
            splits of one pool can be compared; :meth:`split_record` is what a checkpoint stores of them.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...]
    split_note: str
    split: dict = field(default_factory=dict, compare=False)
    train_indices: np.ndarray | None = field(default=None, compare=False, repr=False)
    test_indices: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (1, 8, 8) or (2,)."""
        return tuple(self.x_test.shape[1:])

    def split_record(self) -> dict:
        """The split as data, for a checkpoint's sidecar: data set, seed, sizes, pool, and a sha256 of the
        sorted test indices (equal records mean equal test sets of one pool)."""
        test = self.test_indices
        return {
            "dataset": self.name,
            "seed": self.split.get("seed"),
            "train_size": len(self.y_train),
            "test_size": len(self.y_test),
            "pool": self.split.get("pool", ""),
            "pool_size": self.split.get("pool_size", len(self.y_train) + len(self.y_test)),
            "pool_seeded": bool(self.split.get("pool_seeded", False)),
            "test_indices_sha256": indices_sha256(test) if test is not None else "",
        }

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"input_shape={self.input_shape}, classes={self.num_classes})"
        )


# Helpers shared by the loaders: fingerprints, test sizes, stratified splits, numpy → Dataset.


def indices_sha256(indices: np.ndarray) -> str:
    """sha256 of the sorted indices as little-endian int64: a fingerprint of a set of examples of one pool."""
    return hashlib.sha256(np.sort(np.asarray(indices, dtype="<i8")).tobytes()).hexdigest()


def pool_fingerprint(*parts: object) -> str:
    """A short sha256 fingerprint of what identifies a pool of examples (arrays are hashed by content)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()[:16]


def resolve_test_size(n: int, test_size: int | None, test_fraction: float) -> int:
    """The number of test examples: ``test_size`` when given (an integer ≥ 1), else ``round(n · test_fraction)``."""
    if test_size is None:
        return round(n * test_fraction)
    return check_count("test_size", test_size)


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
            f"{num_present} and {n - num_present}, got {test_size} (set it with --test-size, or test_size=)"
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
    *,
    split: dict | None = None,
    train_indices: np.ndarray | None = None,
    test_indices: np.ndarray | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from numpy arrays, casting inputs to float32 and labels to int64.

    ``split``, ``train_indices`` and ``test_indices`` say how the split was drawn (see :class:`Dataset`);
    without indices, the pool is taken to be the train examples followed by the test examples."""
    if train_indices is None or test_indices is None:
        train_indices = np.arange(len(y_train), dtype=np.int64)
        test_indices = np.arange(len(y_train), len(y_train) + len(y_test), dtype=np.int64)

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
        split={"seed": None, "pool": "", "pool_size": len(y_train) + len(y_test), "pool_seeded": False,
               **(split or {})},
        train_indices=np.asarray(train_indices, dtype=np.int64),
        test_indices=np.asarray(test_indices, dtype=np.int64),
    )


def hold_out(data: Dataset, size: int, seed: int) -> tuple[Dataset, Dataset]:
    """Split a validation set off ``data``'s training examples: (``data`` trained on the rest, the validation set).

    The first is ``data`` with ``size`` fewer training examples and the same test set; the second has those
    ``size`` held-out examples as its test set (and the rest as its training set), so anything that evaluates
    ``x_test`` evaluates it on the validation set. The draw is stratified and seeded, so the same ``data``,
    ``size`` and ``seed`` give the same split (a run records the two numbers and draws it again).

    Args:
        data: a loaded split; size: examples to hold out (each class keeps one on both sides); seed: the draw.
    """
    size = check_count("validation size", size)
    keep, held = stratified_split(data.y_train.numpy(), size, seed)
    keep, held = np.sort(keep), np.sort(held)  # the training order stays the loader's
    pool = data.train_indices if data.train_indices is not None else np.arange(len(data.y_train), dtype=np.int64)
    note = f"{size:,} of its {len(data.y_train):,} training examples held out for validation (stratified, seed {seed})"
    train = Dataset(data.name, data.x_train[keep], data.y_train[keep], data.x_test, data.y_test, data.num_classes,
                    data.class_names, f"{data.split_note}; {note}", {**data.split, "validation": [size, seed]},
                    pool[keep], data.test_indices)
    validation = Dataset(data.name, data.x_train[keep], data.y_train[keep], data.x_train[held], data.y_train[held],
                         data.num_classes, data.class_names,
                         f"validation: {note} of {data.name} ({data.split_note.rstrip('.')})",
                         {**data.split, "validation": [size, seed]}, pool[keep], pool[held])
    return train, validation
