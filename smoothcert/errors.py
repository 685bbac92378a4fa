"""The one exception family a user can cause.

Every error that bad input can trigger derives from :class:`SmoothcertError`, so callers can catch one type;
the CLI turns any of them into one line on stderr and exit code 2. Messages name the bad value.
"""

from __future__ import annotations


class SmoothcertError(Exception):
    """Base class of every error a user can cause (bad argument, data, checkpoint or file)."""


class InvalidArgumentError(SmoothcertError, ValueError):
    """A parameter is outside its domain (σ ≤ 0, α ∉ (0, 1), n < 1, unknown name, ...)."""


class InputError(SmoothcertError, ValueError):
    """Inputs or labels do not fit: wrong shape, NaN/inf values, labels out of range."""


class DataError(SmoothcertError):
    """A data file or directory is missing, corrupt or of the wrong format."""


class CheckpointError(SmoothcertError):
    """A checkpoint is missing, corrupt, or its sidecar does not match its weights."""


class ResultsError(SmoothcertError):
    """A results file cannot be read, or cannot be resumed with the given arguments."""


class SplitOverlapError(DataError):
    """Inputs to certify were training inputs of the model (another split of the data it was trained on)."""
