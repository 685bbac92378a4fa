"""An exclusive lock on a results file, so two processes never write the same file.

The lock is ``x.tsv.lock`` (an operating-system file lock, released by the system when its process ends, even
by SIGKILL, so a killed run never blocks its own ``--resume``); while it is held, ``x.tsv.lock.pid`` names
the holder, for the error the second process prints.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import ResultsError


def lock_paths(path: str | Path) -> tuple[Path, Path]:
    """(lock file, holder file) of a results file: ``x.tsv`` → ``x.tsv.lock``, ``x.tsv.lock.pid``."""
    path = Path(path)
    return path.with_name(path.name + ".lock"), path.with_name(path.name + ".lock.pid")


def _holder(pid_path: Path) -> str:
    """'process 1234 on host (smoothcert certify …, since …)', or a vaguer phrase when the file is unreadable."""
    try:
        info = json.loads(pid_path.read_text(encoding="utf-8"))
        command = " ".join(info.get("command", []))[:80]
        return f"process {info['pid']} on {info['host']} ({command}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class ResultsLock:
    """An exclusive, non-blocking lock on ``path``: :meth:`acquire` raises a one-line :class:`ResultsError`
    naming the process that holds it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path, self.pid_path = lock_paths(self.path)
        self._lock: FileLock | None = None

    def acquire(self) -> ResultsLock:
        lock = FileLock(self.lock_path, timeout=0)
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise ResultsError(f"{self.path} is being written by {_holder(self.pid_path)}; "
                               f"wait for it to end or stop it (lock {self.lock_path.name})") from None
        except OSError as err:
            raise ResultsError(f"cannot lock {self.path}: {err.strerror or err}") from err
        self._lock = lock
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
                "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        try:
            self.pid_path.write_text(json.dumps(info) + "\n", encoding="utf-8")
        except OSError:
            pass  # the lock holds without it; a contender then says "another process"
        return self

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            self.pid_path.unlink(missing_ok=True)
        except OSError:
            pass
        self._lock.release()
        self._lock = None

    def __enter__(self) -> ResultsLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
