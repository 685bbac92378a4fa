"""Validation at the boundary: the checks every public entry point applies to what a user hands over.

One rule in one place: each check returns the value in its canonical type (``int``, ``float``, a tuple) or
raises :class:`~smoothcert.errors.InvalidArgumentError` with a message naming the parameter and the bad
value, which the CLI prints as one line with exit code 2. NumPy scalars are accepted wherever Python numbers
are; booleans never count as numbers. Domain checks (a measure name, a τ grid) live beside their domain
and build on these.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Collection
from pathlib import Path

import numpy as np

from .errors import InvalidArgumentError

#: Smallest failure probability accepted. Below it SciPy's Beta tail probabilities underflow near the
#: bound, so a bound can no longer be verified; from here up :mod:`smoothcert.stats` verifies each bound
#: in log space (SciPy's quantile alone overstates p̲_A there for small counts).
MIN_ALPHA = 1e-100


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def check_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int if it is a whole number in [minimum, maximum] (either end optional)."""
    if not _is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "" if minimum is None else f" >= {minimum}"
        hi = "" if maximum is None else f"{' and' if lo else ''} <= {maximum}"
        raise InvalidArgumentError(f"{name} must be an integer{lo}{hi}, got {value!r}")
    return int(value)


def check_count(name: str, value: object) -> int:
    """``value`` as an int if it is a whole number ≥ 1 (a sample size, a batch size, a number of epochs)."""
    return check_int(name, value, minimum=1)


def check_real(name: str, value: object, *, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """``value`` as a float if it is a number in the interval [low, high] (ends open when asked)."""
    ok = _is_real(value) and not math.isnan(float(value)) and (math.isfinite(float(value)) or not finite)
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        if math.isfinite(low) and math.isfinite(high):
            where = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif math.isfinite(low):
            where = f" {'>' if low_open else '>='} {low:g}"
        elif math.isfinite(high):
            where = f" {'<' if high_open else '<='} {high:g}"
        else:
            where = ""
        kind = "a finite number" if finite else "a number"
        raise InvalidArgumentError(f"{name} must be {kind}{where}, got {value!r}")
    return float(value)


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """``value`` as a float if it is a finite number > 0 (≥ 0 with ``allow_zero``)."""
    return check_real(name, value, low=0.0, low_open=not allow_zero)


def check_fraction(name: str, value: object) -> float:
    """``value`` as a float if it lies strictly inside (0, 1)."""
    return check_real(name, value, low=0.0, high=1.0, low_open=True, high_open=True)


def check_alpha(alpha: object, name: str = "alpha") -> float:
    """A failure probability α: a number in [MIN_ALPHA, 1) (see :data:`MIN_ALPHA` for the lower end)."""
    if not _is_real(alpha) or not (0.0 < float(alpha) < 1.0):
        raise InvalidArgumentError(f"{name} must be in (0, 1), got {alpha!r}")
    if float(alpha) < MIN_ALPHA:
        raise InvalidArgumentError(f"{name} = {float(alpha):g} is below {MIN_ALPHA:g}, where the binomial tails "
                                   "underflow: no bound can be verified there")
    return float(alpha)


def check_seed(seed: object) -> int:
    """A seed: an integer in [0, 2**32)."""
    return check_int("seed", seed, minimum=0, maximum=2**32 - 1)


def check_choice(name: str, value: object, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise InvalidArgumentError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")
    return str(value)


def check_num_classes(value: object) -> int:
    """A number of classes: an integer ≥ 2."""
    return check_int("num_classes", value, minimum=2)


def _probe_folder(folder: Path) -> None:
    """Create and remove a temporary file in ``folder``: raises OSError when nothing can be written there.
    (A real write, not ``os.access``: permission bits do not stop root, a read-only file system does.)"""
    with tempfile.TemporaryFile(dir=folder):
        pass


def check_output_folder(path: str | Path, what: str = "output folder") -> Path:
    """``path`` as a Path if it is, or can become, a folder this process can write in.

    Checked before any work, so bad output is refused before a long run rather than after it: no part of
    ``path`` may be an existing file, and the nearest existing folder on it must take a new file. Nothing is
    created. Raises InvalidArgumentError naming the problem.
    """
    path = Path(path)
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                where = "is a file" if existing == path else f"lies under the file {existing}"
                raise InvalidArgumentError(f"the {what} {path} {where}; give a folder")
            try:
                _probe_folder(existing)
            except OSError as err:
                raise InvalidArgumentError(
                    f"cannot write in {existing} ({err.strerror or err}), where the {what} {path} goes") from None
            break
    return path


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """``path`` as a Path if it is a file, or a name for one, that this process can write: not a folder, and
    its folder as :func:`check_output_folder` requires. Nothing is created. Raises InvalidArgumentError."""
    path = Path(path)
    if path.is_dir():
        raise InvalidArgumentError(f"the {what} {path} is a folder; give a file name")
    for existing in path.parents:
        if existing.exists() and not existing.is_dir():
            raise InvalidArgumentError(f"the {what} {path} lies under the file {existing}; give a path in a folder")
        if existing.exists():
            break
    check_output_folder(path.parent, f"folder of the {what} {path.name}")
    return path
