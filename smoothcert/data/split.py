"""Whether a data split's test inputs were training inputs of a model: the check behind ``--allow-overlap``.

A checkpoint records the split it was trained on (:meth:`Dataset.split_record`: data set, seed, sizes, a
fingerprint of the pool of examples and a sha256 of the sorted test indices). Certifying it on another split
of the same pool, say ``--data-seed 1`` for a model trained with split seed 0, would count training inputs as
test inputs. :func:`compare_split` finds out: equal records are the same test set; otherwise the recorded
split is drawn again (the loaders are deterministic) and its training indices are intersected with the
test indices at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smoothcert.data.base import Dataset
from smoothcert.errors import SmoothcertError, SplitOverlapError

#: Outcomes of :func:`compare_split`.
SAME, DISJOINT, OVERLAP, OTHER_DATA, UNRECORDED, UNCHECKED = (
    "same", "disjoint", "overlap", "other data", "unrecorded", "unchecked")


@dataclass(frozen=True)
class SplitCheck:
    """What :func:`compare_split` found.

    Attributes:
        status: ``"same"`` (the model's own test set), ``"disjoint"`` (another split, no training input in
            it), ``"overlap"`` (``overlap`` of the ``test_inputs`` were training inputs), ``"other data"``
            (another pool of examples: nothing to compare), ``"unrecorded"`` (the checkpoint records no split)
            or ``"unchecked"`` (the recorded split could not be drawn again).
        overlap: test inputs that were training inputs of the model; test_inputs: size of the test set.
        model_seed, data_seed: split seeds of the model's data and of the data at hand (None: no seed).
        model_test_size: test size of the model's split.
    """

    status: str
    overlap: int = 0
    test_inputs: int = 0
    model_seed: int | None = None
    data_seed: int | None = None
    model_test_size: int | None = None

    def message(self, dataset: str) -> str:
        """One line saying what was found, for warnings and errors."""
        if self.status == OVERLAP:
            same = f"--data-seed {self.model_seed}"
            if self.model_test_size is not None and self.model_test_size != self.test_inputs:
                same += f" --test-size {self.model_test_size}"
            return (f"{self.overlap} of the {self.test_inputs} {dataset} test inputs (split seed {self.data_seed}) "
                    f"are training inputs of the model (trained on split seed {self.model_seed}); certify "
                    f"with {same}, or pass --allow-overlap to certify them anyway")
        if self.status == UNRECORDED:
            return ("the checkpoint does not record the split it was trained on (an older checkpoint): "
                    "whether its test inputs were training inputs cannot be checked")
        if self.status == UNCHECKED:
            return (f"the model's split of {dataset} (seed {self.model_seed}) cannot be drawn again here, so "
                    "whether the test inputs were training inputs cannot be checked")
        return ""

    def to_dict(self) -> dict:
        return {"status": self.status, "overlap": self.overlap, "test_inputs": self.test_inputs,
                "model_split_seed": self.model_seed, "data_split_seed": self.data_seed,
                "model_test_size": self.model_test_size}


def compare_split(recorded: dict | None, data: Dataset,
                  redraw: Callable[[int | None, int], Dataset] | None = None) -> SplitCheck:
    """Compare the split a model was trained on (``recorded``, a :meth:`Dataset.split_record`) with ``data``.

    Args:
        recorded: the checkpoint's split record; empty or None for checkpoints that predate it.
        data: the data set about to be certified.
        redraw: ``redraw(seed, test_size)`` loads ``data``'s source again with the model's split; needed only
            when the two splits differ on one pool.
    """
    current = data.split_record()
    seed = current["seed"]
    if not recorded:
        return SplitCheck(UNRECORDED, test_inputs=current["test_size"], data_seed=seed)
    model_seed = recorded.get("seed")
    base = dict(test_inputs=current["test_size"], model_seed=model_seed, data_seed=seed,
                model_test_size=recorded.get("test_size"))
    if recorded.get("dataset") != current["dataset"]:
        return SplitCheck(OTHER_DATA, **base)
    if recorded.get("pool") != current["pool"]:
        if recorded.get("pool_seeded") and current["pool_seeded"] and model_seed != seed:
            return SplitCheck(DISJOINT, **base)  # fresh draws of a synthetic distribution
        return SplitCheck(OTHER_DATA, **base)
    if recorded.get("test_indices_sha256") == current["test_indices_sha256"]:
        return SplitCheck(SAME, **base)
    if redraw is None:
        return SplitCheck(UNCHECKED, **base)
    try:
        theirs = redraw(model_seed, int(recorded["test_size"]))
    except SmoothcertError:  # e.g. files gone: the split only cannot be checked
        return SplitCheck(UNCHECKED, **base)
    if (theirs.split_record()["test_indices_sha256"] != recorded.get("test_indices_sha256")
            or theirs.train_indices is None or data.test_indices is None):
        return SplitCheck(UNCHECKED, **base)
    overlap = int(np.isin(data.test_indices, theirs.train_indices).sum())
    return SplitCheck(OVERLAP if overlap else DISJOINT, overlap=overlap, **base)


def check_split(check: SplitCheck, dataset: str, *, allow_overlap: bool = False) -> SplitCheck:
    """Raise :class:`~smoothcert.errors.SplitOverlapError` if ``check`` found training inputs among the test
    inputs, unless ``allow_overlap``; returns ``check``."""
    if check.status == OVERLAP and not allow_overlap:
        raise SplitOverlapError(check.message(dataset))
    return check
