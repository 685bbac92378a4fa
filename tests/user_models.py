"""Small user-side model factories for ``load_user_model`` and ``smoothcert --model MODULE:FACTORY``."""

from __future__ import annotations

import pickle
from pathlib import Path

from torch import nn

DIGITS_SHAPE = (1, 8, 8)


def factory() -> nn.Module:
    """A tiny classifier of 8×8 digits (inputs [N, 1, 8, 8] in [0, 1]) into 10 classes."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def three_classes() -> nn.Module:
    """Like :func:`factory`, but with 3 output classes."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))


def not_a_module() -> str:
    return "not a model"


def _touch(path: str) -> None:
    Path(path).write_text("unpickled")


class PickleBomb:
    """Unpickling an instance writes ``marker``: proof that a file was (wrongly) unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (_touch, (self.marker,))


def write_pickle_bomb(path: Path, marker: Path) -> Path:
    """Save a pickle file at ``path`` whose unpickling would create ``marker``."""
    path.write_bytes(pickle.dumps({"weight": PickleBomb(marker)}))
    return path
