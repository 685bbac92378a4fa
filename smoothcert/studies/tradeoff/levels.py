"""Noise levels of the trade-off (α, β, ζ grids): checked lists of numbers ≥ 0, and their command-line text."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ...errors import InvalidArgumentError
from ...validate import check_positive


def check_levels(values: Iterable[float], name: str, *, sort: bool = False) -> list[float]:
    """``values`` as a list of distinct finite floats ≥ 0 (sorted with ``sort``); at least one."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidArgumentError(f"{name} must be a list of numbers, got {values!r}")
    out = [check_positive(name, v, allow_zero=True) for v in values]
    if not out:
        raise InvalidArgumentError(f"{name} must not be empty")
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"{name} has repeated values: {out}")
    return sorted(out) if sort else out


def parse_levels(text: str, what: str) -> list[float]:
    """'0,0.1,0.25' → [0, 0.1, 0.25]; 'a:b' (integers) → a, a+1, …, b; 'a:b:s' → a, a+s, …, ≤ b."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] <= 0):
                raise ValueError
            start, stop, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 1.0
            count = int(np.floor((stop - start) / step + 1e-9)) + 1
            if count < 1:
                raise ValueError
            return [round(start + k * step, 10) for k in range(count)]
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise InvalidArgumentError(
            f"{what} must be comma-separated numbers or START:STOP[:STEP], got {text!r}") from err
