"""The options every run shares: how it treats earlier output, what it records, whether it shows progress."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgumentError


@dataclass(frozen=True)
class RunOptions:
    """How a run treats earlier output and what it shows; none of these changes a result.

    Attributes:
        resume: continue the rows already written (the run's arguments must be the recorded ones).
        overwrite: replace output that exists (never together with ``resume``).
        record_time: write seconds per input in the ``time`` column (off: 0, so reruns are byte-identical).
        progress: show a progress bar (rate, ETA).
    """

    resume: bool = False
    overwrite: bool = False
    record_time: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.resume and self.overwrite:
            raise InvalidArgumentError("--resume continues earlier output and --overwrite replaces it: give one")
