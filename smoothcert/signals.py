"""A stop request from outside (SIGTERM from ``kill``, a batch scheduler or a container's stop; SIGHUP from a
closed terminal) handled like Ctrl-C, and child commands stopped so that each keeps what it has.

Python's default for SIGTERM ends the process at once: no ``finally``, no saved rows, and any child command it
started goes on running as an orphan that still holds its results file's lock. Under
:func:`stop_requests_as_interrupt` the signal raises :class:`Terminated`, a :class:`KeyboardInterrupt`, so every
command's Ctrl-C path (write what is finished, say how to continue) runs for it too.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

#: Seconds a child is given to stop on a Ctrl-C that reached it from the terminal before it is sent SIGINT.
GRACE_S = 20.0


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP) rather than by Ctrl-C at its terminal, so its
    children did not get the request: they must be sent it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextmanager
def stop_requests_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (and SIGHUP, unless ignored, as under ``nohup``) raise :class:`Terminated` in the
    main thread; the previous handlers come back after it. Outside the main thread (where Python cannot set
    handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {}
    for signum in names:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup asked for the process to outlive its terminal
        previous[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def grace_for(interrupt: BaseException) -> float:
    """How long to let children stop on their own: none when the stop came by signal to this process alone (they
    never got it), :data:`GRACE_S` after Ctrl-C (the terminal sent it to them as well)."""
    return 0.0 if isinstance(interrupt, Terminated) else GRACE_S


def stop_children(procs: Iterable[subprocess.Popen], grace_s: float) -> None:
    """Let ``procs`` (smoothcert commands) end on their own for ``grace_s``, then send SIGTERM to each still
    running (under :func:`stop_requests_as_interrupt` it stops as on Ctrl-C: saves its rows and exits), and wait
    for all. A second interrupt while waiting kills them.

    SIGTERM rather than SIGINT: a process started in the background (``nohup … &``) inherits SIGINT ignored, and
    so do its children; they would never stop."""
    procs = list(procs)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    try:
        for proc in procs:
            proc.wait()
    except KeyboardInterrupt:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        raise
