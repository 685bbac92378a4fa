"""Running recipes: each step's command line in order, skipping finished ones, resuming interrupted ones.

Stopping at any point (Ctrl-C, a killed job, a closed laptop) loses at most what the running command itself
would lose; running again continues. Each recipe folder is locked while it runs, so two ``make results`` never
write the same runs. The outputs of a recipe are written to ``OUT/RECIPE/outputs.json`` with what they were
read from, for ``smoothcert results docs``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import hashlib
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import InputError, ResultsError
from ..runs.lock import ResultsLock
from ..signals import grace_for, stop_children
from .recipe import Output, Recipe, Settings, Step, select_steps

OUTPUTS_FORMAT = "smoothcert-results-outputs"


def recipe_dir(out: str | Path, recipe: Recipe) -> Path:
    return Path(out) / recipe.name


def check_settings(recipe: Recipe, settings: Settings) -> None:
    """A recipe that needs MNIST without a folder holding it is refused before anything runs."""
    if recipe.needs_mnist(settings) and (settings.data_dir is None or not Path(settings.data_dir).is_dir()):
        raise InputError(f"recipe {recipe.name!r} needs MNIST: --data-dir {settings.data_dir} is not a folder"
                         if settings.data_dir is not None else
                         f"recipe {recipe.name!r} needs MNIST: pass --data-dir (the folder of its IDX files)")


def selected_recipes(recipes: Sequence[Recipe], out: str | Path, settings: Settings) -> list[Recipe]:
    """The recipes with a step that ``settings.only`` selects (all of them when it selects everything).

    Raises:
        InputError: a pattern of ``settings.only`` matches no step of any of the recipes (the first steps named).
    """
    if not settings.only:
        return list(recipes)
    names = {r.name: [s.name for s in r.steps(recipe_dir(out, r), settings)] for r in recipes}
    for pattern in settings.only:
        if not any(fnmatch.fnmatchcase(n, pattern) for steps in names.values() for n in steps):
            example = next((n for steps in names.values() for n in steps), "")
            raise InputError(f"--only {pattern!r} matches no step of {', '.join(names)} (step names look like "
                             f"{example!r}; `smoothcert results list --with-steps` lists them)")
    return [r for r in recipes if select_steps(r.steps(recipe_dir(out, r), settings), settings.only)]


def write_commands(out: Path, recipe: Recipe, settings: Settings) -> Path:
    """OUT/RECIPE/commands.sh: every step's command line, as a user would type it."""
    path = recipe_dir(out, recipe) / "commands.sh"
    whole = dataclasses.replace(settings, only=())  # every step, also in a run of some (--only)
    lines = ["# " + recipe.summary, *(shlex.join(["smoothcert", *s.argv]) for s in recipe.all_steps(
        recipe_dir(out, recipe), whole))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


#: How a step's command runs: ``smoothcert ARGV`` in a fresh interpreter of this Python.
SMOOTHCERT = (sys.executable, "-m", "smoothcert.cli")


def _smoothcert(argv: Sequence[str]) -> int:
    """``smoothcert ARGV`` with its output on the terminal; on an interrupt, waits for it to save its work."""
    proc = subprocess.Popen([*SMOOTHCERT, *argv])
    try:
        return proc.wait()
    except KeyboardInterrupt as err:  # subprocess.run would kill it 0.25 s after Ctrl-C, mid-save
        stop_children([proc], grace_for(err))
        raise


def _complete(outputs: Path) -> bool:
    """Whether an outputs.json is there with every output (not the part of one run of some steps)."""
    try:
        return not json.loads(outputs.read_text(encoding="utf-8")).get("missing")
    except (OSError, ValueError):
        return False


def check_requires(recipe: Recipe, out: str | Path, running: Sequence[str] = ()) -> None:
    """A recipe that reads another's runs is refused unless that one has finished, all its outputs made (or runs
    now, before it)."""
    for name in recipe.requires:
        if name not in running and not _complete(Path(out) / name / "outputs.json"):
            raise InputError(f"recipe {recipe.name!r} reads the runs of {name!r}: run `smoothcert results run {name}` "
                             "first (or both, in that order)")


def step_line(recipe: Recipe, k: int, total: int, step: Step) -> str:
    """'[zoo 3/43] sigma_1/stability/train': which step a progress line speaks of."""
    return f"[{recipe.name} {k}/{total}] {step.name}"


def step_failure(recipe: Recipe, step: Step, argv: Sequence[str], code: int) -> str | None:
    """Why a step that ran is not finished (its exit code, or no finished output), or None when it is."""
    if code == 0 and step.finished():
        return None
    return (f"recipe {recipe.name!r}, step {step.name}: `smoothcert {argv[0]}` "
            f"{'exited with ' + str(code) if code else 'left no finished output'}")


def run_recipe(recipe: Recipe, out: str | Path, settings: Settings, *,
               echo: Callable[[str], None] = print, execute: Callable[[Sequence[str]], int] = _smoothcert,
               ) -> Path | None:
    """Run every unfinished step of ``recipe`` under OUT/RECIPE (those ``settings.only`` selects), one after
    another with their output on the terminal, then write its outputs; returns outputs.json (None: see
    :func:`write_outputs`). (:func:`~smoothcert.results.parallel.run_parallel`
    runs independent steps at once.)

    Raises:
        InputError: the recipe cannot run with these settings (no MNIST folder).
        ResultsError: another process runs this recipe folder, or a step's command failed (its exit code named;
            the steps before it stay finished).
    """
    check_settings(recipe, settings)
    check_requires(recipe, out)
    folder = recipe_dir(out, recipe)
    folder.mkdir(parents=True, exist_ok=True)
    with ResultsLock(folder / "recipe"):
        write_commands(out, recipe, settings)
        steps = recipe.all_steps(folder, settings)
        for k, step in enumerate(steps, 1):
            if step.finished():
                echo(f"{step_line(recipe, k, len(steps), step)}: finished")
                continue
            argv = step.command()
            echo(f"{step_line(recipe, k, len(steps), step)}: + {shlex.join(['smoothcert', *argv])}")
            failure = step_failure(recipe, step, argv, execute(argv))
            if failure:
                raise ResultsError(f"{failure}; the steps before it are kept: run again to continue")
        return write_outputs(recipe, out, settings)


def _manifests(path: Path) -> dict[str, str]:
    """{file name: sha256} of a run's manifests: the ``.json`` beside a results file; in a run folder its
    manifest.json, or else every ``.json`` in it (a trained model's sidecar, a certification's manifest: the
    arguments, environment, CPU and seeds of each command that wrote into the folder)."""
    if path.is_dir():
        found = [path / "manifest.json"] if (path / "manifest.json").is_file() else sorted(path.glob("*.json"))
    else:
        found = [m for m in (path.with_suffix(".json"),) if m.is_file()]  # a .json source is its own manifest
    return {m.name: hashlib.sha256(m.read_bytes()).hexdigest() for m in found}


def _sha256_file(path: Path) -> str:
    if not path.is_file():
        raise ResultsError(f"{path} is not there: the run that should have made it did not finish")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_outputs(recipe: Recipe, out: str | Path, settings: Settings) -> Path | None:
    """Tabulate a finished recipe into OUT/RECIPE/outputs.json (its outputs' text, sources, scale, machine).

    After a run of some steps (``settings.only``) while others are unfinished: a recipe that tabulates partially
    writes the outputs it can make and lists the others as ``missing``; any other writes nothing (None).
    """
    from ..accelerate import cpu_name

    folder = recipe_dir(out, recipe)
    whole = dataclasses.replace(settings, only=())
    complete = all(s.finished() for s in recipe.steps(folder, whole))
    if not complete and not recipe.partial:
        return None
    outputs: dict[str, Output] = recipe.tabulate(folder, whole)
    missing = sorted(set(recipe.outputs) - set(outputs))
    if missing and complete:
        raise ResultsError(f"recipe {recipe.name!r} did not make the outputs {', '.join(missing)}")
    record = {
        "format": OUTPUTS_FORMAT, "version": 1, "recipe": recipe.name, "scale": settings.scale,
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpu": cpu_name(),
        "commands": str(folder / "commands.sh"),
        "outputs": {name: {"text": o.text,
                           "sources": [{"path": str(p), "manifests": _manifests(p)} for p in o.sources],
                           "files": [{"from": str(src), "to": dest, "sha256": _sha256_file(src)}
                                     for src, dest in o.files]}
                    for name, o in outputs.items()},
        "missing": missing,
    }
    path = folder / "outputs.json"
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def outputs_line(path: Path | None) -> str:
    """What a run's tabulation wrote, for the terminal: the outputs file, and which outputs wait for steps that
    a run of some steps (``--only``) left unfinished."""
    if path is None:
        return "not written: they wait for the recipe's other steps"
    missing = json.loads(path.read_text(encoding="utf-8")).get("missing", [])
    return f"{path}" + (f" (waiting for their steps: {', '.join(missing)})" if missing else "")


def read_outputs(out: str | Path, recipe: Recipe) -> dict | None:
    """OUT/RECIPE/outputs.json, or None before the recipe has finished once."""
    path = recipe_dir(out, recipe) / "outputs.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("format") != OUTPUTS_FORMAT:
        raise ResultsError(f"{path} is not a smoothcert results outputs file")
    return record
