"""Durations as people read them, for progress and log lines."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """'4.2 s', '42 s', '17 min', '2 h 5 min': one decimal under 10 s, whole minutes up to 90 min."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
