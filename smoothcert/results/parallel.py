"""Running recipes with several commands at once (``smoothcert results run --jobs N``).

A recipe's steps form chains (:attr:`~smoothcert.results.recipe.Step.chain_id`: one seed's training, then its
certification) that depend only on their own earlier steps; a step with ``after_all`` (the HTML report) waits for
every other step of its recipe, and a recipe that reads another's runs (:attr:`Recipe.requires`) waits for that
recipe's outputs. Up to ``jobs`` commands run at once, each in its own interpreter with an equal share of the CPU
threads, its output in OUT/RECIPE/logs/STEP.log rather than on the terminal (where only one line per start and
end is printed).

Nothing is lost that the sequential runner would keep: finished steps stay finished, a failed step stops only the
steps after it in its chain (the others go on), and an interrupt (Ctrl-C) lets every running command save what it
has before the runner stops; running again continues.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidArgumentError, ResultsError
from ..runs.lock import ResultsLock
from ..signals import GRACE_S, grace_for, stop_children
from ..timefmt import duration
from .recipe import Recipe, Settings, Step
from .runner import (
    SMOOTHCERT,
    check_requires,
    check_settings,
    outputs_line,
    recipe_dir,
    step_failure,
    step_line,
    write_commands,
    write_outputs,
)

Execute = Callable[[Sequence[str], Path], int]
"""Runs one ``smoothcert`` command line (the argv after ``smoothcert``), its output appended to the log file;
returns its exit code. Called from worker threads."""


def cpu_threads() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Commands:
    """The default :data:`Execute`: ``python -m smoothcert.cli ARGV`` in a fresh interpreter, with ``threads``
    intra-op threads (``OMP_NUM_THREADS``, unless the user set it) so that ``jobs`` commands share the cores
    instead of each taking all of them."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._live: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def __call__(self, argv: Sequence[str], log: Path) -> int:
        env = dict(os.environ)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, str(self.threads))
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write(f"\n$ {shlex.join(['smoothcert', *argv])}  # {dt.datetime.now().isoformat(timespec='seconds')}\n")
            f.flush()
            proc = subprocess.Popen([*SMOOTHCERT, *argv], stdout=f,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            with self._lock:
                self._live.add(proc)
            try:
                return proc.wait()
            finally:
                with self._lock:
                    self._live.discard(proc)

    def interrupt(self, grace_s: float = GRACE_S) -> None:
        """Let the running commands stop: after Ctrl-C they got it from the terminal too and have ``grace_s`` to
        end on their own; then (at once after SIGTERM, which came to this process alone) each still running is
        sent SIGTERM, which it handles as Ctrl-C: it saves its rows and exits."""
        with self._lock:
            live = list(self._live)
        stop_children(live, grace_s)


@dataclass(eq=False)
class _Task:
    """A step to run, or (``step`` None) a recipe's outputs to write once its steps are done."""

    recipe: Recipe
    step: Step | None
    label: str
    deps: list[_Task] = field(default_factory=list)
    state: str = "waiting"  # waiting | running | done | failed | blocked


def log_path(out: Path, recipe: Recipe, step: Step) -> Path:
    """OUT/RECIPE/logs/STEP.log, the step's name with "/" written as "__"."""
    return recipe_dir(out, recipe) / "logs" / (step.name.replace("/", "__") + ".log")


def _tasks(recipes: Sequence[Recipe], out: Path, settings: Settings) -> list[_Task]:
    """Every step and outputs task, each with what it waits for, in the sequential runner's order."""
    tasks: list[_Task] = []
    outputs: dict[str, _Task] = {}
    for recipe in recipes:
        steps = recipe.all_steps(recipe_dir(out, recipe), settings)
        before = [outputs[name] for name in recipe.requires if name in outputs]
        chains: dict[str, _Task] = {}
        mine: list[_Task] = []
        for k, step in enumerate(steps, 1):
            deps = list(mine) if step.after_all else [*before, *([chains[step.chain_id]]
                                                                 if step.chain_id in chains else [])]
            task = _Task(recipe, step, step_line(recipe, k, len(steps), step), deps)
            chains[step.chain_id] = task
            mine.append(task)
        outputs[recipe.name] = _Task(recipe, None, f"[{recipe.name}] outputs", list(mine) or list(before))
        tasks += [*mine, outputs[recipe.name]]
    return tasks


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-200:] if lines else ""


def run_parallel(recipes: Sequence[Recipe], out: str | Path, settings: Settings, jobs: int, *,
                 echo: Callable[[str], None] = print, execute: Execute | None = None) -> dict[str, Path | None]:
    """Run every unfinished step of ``recipes`` under OUT, up to ``jobs`` commands at a time, and write each
    recipe's outputs once its steps are done; returns {recipe name: outputs.json, or None where a run of some
    steps left a recipe that tabulates only whole unfinished}.

    Raises:
        InvalidArgumentError: ``jobs`` < 1.
        InputError: a recipe cannot run with these settings, or reads a recipe that is neither finished nor given.
        ResultsError: another process runs one of the recipe folders, or steps failed (each named with its exit
            code and log; every other step ran, and finished steps are kept: run again to continue).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidArgumentError(f"--jobs must be an integer >= 1, got {jobs!r}")
    out = Path(out)
    names = [r.name for r in recipes]
    for recipe in recipes:
        check_settings(recipe, settings)
        check_requires(recipe, out, running=names[:names.index(recipe.name)])
    if execute is None:
        execute = Commands(threads=max(1, cpu_threads() // jobs))
    written: dict[str, Path | None] = {}
    failures: list[str] = []
    with ExitStack() as locks, ThreadPoolExecutor(max_workers=jobs) as pool:
        for recipe in recipes:
            recipe_dir(out, recipe).mkdir(parents=True, exist_ok=True)
            locks.enter_context(ResultsLock(recipe_dir(out, recipe) / "recipe"))
            write_commands(out, recipe, settings)
        tasks = _tasks(recipes, out, settings)
        running: dict[Future, tuple[_Task, list[str], Path, float]] = {}

        def start() -> None:
            """Start every task that can start, until nothing more changes (a finished step or a tabulation
            frees the next ones at once, without waiting for a running command)."""
            changed = True
            while changed:
                changed = False
                for task in tasks:
                    if task.state == "waiting" and any(d.state in ("failed", "blocked") for d in task.deps):
                        task.state = "blocked"
                for task in tasks:
                    if task.state != "waiting" or not all(d.state == "done" for d in task.deps):
                        continue
                    if task.step is None:  # tabulation: quick, and in this thread
                        try:
                            written[task.recipe.name] = write_outputs(task.recipe, out, settings)
                        except ResultsError as err:
                            task.state = "failed"
                            failures.append(str(err))
                            echo(f"{task.label}: FAILED, {err}")
                        else:
                            task.state = "done"
                            echo(f"{task.label}: {outputs_line(written[task.recipe.name])}")
                    elif task.step.finished():
                        task.state = "done"
                        echo(f"{task.label}: finished")
                    elif len(running) < jobs:
                        argv, log = task.step.command(), log_path(out, task.recipe, task.step)
                        running[pool.submit(execute, argv, log)] = (task, argv, log, time.monotonic())
                        task.state = "running"
                        echo(f"{task.label}: + {shlex.join(['smoothcert', *argv])}  (log: {log})")
                    else:
                        continue
                    changed = True

        try:
            while True:
                start()
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task, argv, log, began = running.pop(future)
                    try:
                        failure = step_failure(task.recipe, task.step, argv, future.result())
                    except Exception as err:  # the command could not be started (its log unwritable, say)
                        failure = f"recipe {task.recipe.name!r}, step {task.step.name}: could not run: {err}"
                    if failure is None:
                        task.state = "done"
                        echo(f"{task.label}: done in {duration(time.monotonic() - began)}")
                    else:
                        task.state = "failed"
                        last = _last_line(log)
                        failures.append(f"{failure} (log {log}{': ' + last if last else ''})")
                        echo(f"{task.label}: FAILED, {failure}; log {log}")
        except KeyboardInterrupt as err:
            echo(f"interrupted: letting {len(running)} running command(s) save their work")
            stop = getattr(execute, "interrupt", None)
            if stop is not None:
                stop(grace_for(err))
            wait(running)
            raise
    if failures:
        blocked = sum(t.state == "blocked" and t.step is not None for t in tasks)
        raise ResultsError(f"{len(failures)} step(s) failed, {blocked} step(s) after them not run: "
                           + "; ".join(failures) + "; every finished step is kept: run again to continue")
    return written
