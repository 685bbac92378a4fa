"""What a result recipe is: the command lines that make a study's runs, and the tables the docs quote from them.

A recipe never computes anything itself: each :class:`Step` is one ``smoothcert`` command line (so the runs are the
ones a user would make, and ``commands.sh`` replays them), and :attr:`Recipe.tabulate` reads the finished run
folders into named outputs (markdown tables or single numbers) that ``docs/`` quotes by ``RECIPE/OUTPUT``.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Scale = Literal["full", "small"]
SCALES: tuple[Scale, ...] = ("full", "small")


@dataclass(frozen=True)
class Settings:
    """How a recipe runs: ``full`` is the documented measurement, ``small`` the same pipeline in seconds (tests).

    Attributes:
        scale: ``"full"`` or ``"small"``.
        data_dir: the folder of the MNIST IDX files, for recipes that need MNIST (None: they cannot run).
        only: glob patterns over step names (``sigma_0.25/*``): run only the matching steps, with the earlier
            steps of their chains (a certification's training); empty: every step. A run of some steps writes
            the outputs whose runs are finished, and the HTML report only when it finishes the recipe.
    """

    scale: Scale = "full"
    data_dir: Path | None = None
    only: tuple[str, ...] = ()

    @property
    def small(self) -> bool:
        return self.scale == "small"

    def data_options(self, dataset: str = "mnist") -> list[str]:
        """The data set options of a recipe's commands: ``dataset`` at full scale; at small scale always the
        embedded digits, so that the pipeline's test takes seconds and needs no files (MNIST's loading has tests
        of its own)."""
        if self.small or dataset == "digits":
            return ["--dataset", "digits"]
        return ["--dataset", dataset, "--data-dir", str(self.data_dir)]

    def needs_mnist(self, dataset: str = "mnist") -> bool:
        """Whether the commands of :meth:`data_options` read ``data_dir``."""
        return "--data-dir" in self.data_options(dataset)


@dataclass(frozen=True)
class Step:
    """One ``smoothcert`` command of a recipe.

    Attributes:
        name: a short label, unique in the recipe (``seed_0``, ``sigma_1/consistency/train``).
        argv: the command line after ``smoothcert`` (paths absolute or relative to the working directory).
        done: the file whose presence (and, for a ``.json`` manifest, ``"status": "complete"``) means finished.
        resume_marker: a file that an interrupted run leaves behind; when it exists and ``done`` does not, the
            command is run again with ``--resume``. None: the command continues its own output by itself.
        chain: the steps that must run before this one are the earlier steps of the same chain (``--jobs`` runs
            different chains at once). None: the name up to its last "/" (``sigma_1/macer/certify`` follows
            ``sigma_1/macer/train``), or the step alone when the name has none.
        after_all: the step runs after every other step of its recipe (the HTML report of all the runs).
    """

    name: str
    argv: tuple[str, ...]
    done: Path
    resume_marker: Path | None = None
    chain: str | None = None
    after_all: bool = False

    @property
    def chain_id(self) -> str:
        """The chain this step runs in (see :attr:`chain`)."""
        if self.chain is not None:
            return self.chain
        return self.name.rsplit("/", 1)[0] if "/" in self.name else self.name

    def finished(self) -> bool:
        if not self.done.exists():
            return False
        if self.done.suffix != ".json":
            return True
        try:
            return json.loads(self.done.read_text()).get("status") == "complete"
        except (OSError, ValueError):
            return False

    def command(self) -> list[str]:
        """The argv to run now: with ``--resume`` when an interrupted run is there to continue."""
        resume = self.resume_marker is not None and self.resume_marker.exists()
        return [*self.argv, "--resume"] if resume else list(self.argv)


@dataclass(frozen=True)
class Output:
    """A table, a number or a figure the docs quote.

    Attributes:
        text: what the quote's body becomes (a markdown table, a number, an image link).
        sources: the run folders (or files) it was read from.
        files: (file made by a run, path relative to the docs folder) pairs that ``smoothcert results docs``
            copies into the docs with the quote: the figures an image link shows.
    """

    text: str
    sources: tuple[Path, ...]
    files: tuple[tuple[Path, str], ...] = ()


@dataclass(frozen=True)
class Recipe:
    """A study's measurement: its steps, and the outputs read from them.

    Attributes:
        name: the recipe's name in ``smoothcert results`` and in docs' ``<!-- results: NAME/OUTPUT -->`` blocks.
        summary: one line for ``smoothcert results list``.
        outputs: the names :attr:`tabulate` returns once every step is finished.
        steps: ``steps(out, settings)`` → the command lines, in order (out: the recipe's folder).
        tabulate: ``tabulate(out, settings)`` → {output name: Output}, for finished steps only.
        needs_mnist: ``needs_mnist(settings)`` → whether ``settings.data_dir`` must hold MNIST.
        requires: recipes whose finished runs this one reads (beside it in the same folder).
        report: ``report(out, settings)`` → the run folders or results files that ``smoothcert report`` puts on
            one self-contained page, OUT/RECIPE/report.html, after the other steps (None: no page).
        partial: ``tabulate`` makes the outputs whose runs are finished and leaves the others out, so that a run
            of some steps (``Settings.only``) writes those (False: it needs every step finished).
    """

    name: str
    summary: str
    outputs: tuple[str, ...]
    steps: Callable[[Path, Settings], Sequence[Step]]
    tabulate: Callable[[Path, Settings], dict[str, Output]]
    needs_mnist: Callable[[Settings], bool] = lambda settings: False
    requires: tuple[str, ...] = ()
    report: Callable[[Path, Settings], Sequence[Path]] | None = None
    partial: bool = False

    def all_steps(self, out: Path, settings: Settings) -> list[Step]:
        """The recipe's steps, then the HTML report of its runs; only those ``settings.only`` selects (and the
        report when they are all that is left to run)."""
        steps = list(self.steps(out, settings))
        if settings.only:
            selected = select_steps(steps, settings.only)
            if not all(s.finished() for s in steps if s not in selected):
                return selected
            steps = selected
        if self.report is not None:
            page = out / "report.html"
            steps.append(Step("report", ("report", *map(str, self.report(out, settings)), "--out", str(page)),
                              done=page, after_all=True))
        return steps


def select_steps(steps: Sequence[Step], patterns: Sequence[str]) -> list[Step]:
    """The steps whose names match one of the glob ``patterns``, each with the steps before it in its chain
    (what it reads: a certification needs its training), in the recipe's order."""
    picked = [any(fnmatch.fnmatchcase(s.name, p) for p in patterns) for s in steps]
    for k in range(len(steps)):
        if picked[k]:
            for j in range(k):
                picked[j] = picked[j] or steps[j].chain_id == steps[k].chain_id
    return [s for s, keep in zip(steps, picked, strict=True) if keep]
