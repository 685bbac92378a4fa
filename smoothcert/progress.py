"""Progress bars: tqdm, with one rule for how often they redraw.

On a terminal a bar redraws every half second. Where standard error is not a terminal (a ``--jobs`` log under
OUT/RECIPE/logs, ``nohup``, a cluster's job log) every redraw stays in the file, so there it redraws every 30 s:
an hour's run leaves about a hundred status lines rather than thousands, and the last one still says how far
the run is.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

#: Seconds between redraws on a terminal, and in a file.
TERMINAL_S, FILE_S = 0.5, 30.0


def interactive() -> bool:
    """Whether standard error (where the bars go) is a terminal."""
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def progress_bar(*args: Any, **kwargs: Any) -> tqdm:
    """``tqdm(*args, **kwargs)`` redrawing every :data:`TERMINAL_S` on a terminal, :data:`FILE_S` in a file
    (unless ``mininterval`` is given)."""
    kwargs.setdefault("mininterval", TERMINAL_S if interactive() else FILE_S)
    return tqdm(*args, **kwargs)
