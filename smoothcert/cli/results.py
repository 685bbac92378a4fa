"""The results commands: every number the docs quote, regenerated (``smoothcert results run|docs|check|list``)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError, ResultsError
from .common import SmoothcertGroup

OUT_HELP = "Folder of the recipes' runs (one subfolder per recipe)."
RUNS = "runs/results"


def runs_option(f):
    return click.option("--runs", "runs_dir", type=click.Path(), default=RUNS, show_default=True,
                        help="Folder of the recipes' runs, as `smoothcert results run --out` made it.")(f)


def _recipes(names: tuple[str, ...]):
    from ..results import RECIPES

    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise InputError(f"no recipe {', '.join(map(repr, unknown))} (known: {', '.join(RECIPES)})")
    return [RECIPES[n] for n in (names or tuple(RECIPES))]


@click.group(cls=SmoothcertGroup)
def results() -> None:
    """Every figure and table the docs quote, regenerated from its runs and checked against them.

    `run` makes the runs (resumable: run it again after any stop), `docs` rewrites the docs' quotes from them,
    `check` compares every quoted number with its run.
    """


@results.command("list")
@click.argument("names", nargs=-1, metavar="[RECIPE ...]")
@runs_option
@click.option("--with-steps", "steps", is_flag=True,
              help="Each recipe's steps too: their names (what `run --only` matches) and how far each has run.")
def list_recipes(names, runs_dir, steps) -> None:
    """The recipes (all by default), and how far each has run."""
    from ..results import Settings, read_outputs
    from ..results.runner import recipe_dir

    for recipe in _recipes(names):
        record = read_outputs(runs_dir, recipe)
        state = "not finished" if record is None else (
            f"outputs of {record['written']} ({record['scale']})" if not record.get("missing") else
            f"{len(recipe.outputs) - len(record['missing'])} of {len(recipe.outputs)} outputs of {record['written']}")
        click.echo(f"{recipe.name:17s} {state:40s} {recipe.summary}")
        if steps:
            for step in recipe.all_steps(recipe_dir(runs_dir, recipe), Settings()):
                resumes = step.resume_marker is not None and step.resume_marker.exists()
                click.echo(f"  {step.name:40s} "
                           + ("finished" if step.finished() else "started, not finished" if resumes else "to run"))


@results.command("run")
@click.argument("names", nargs=-1, metavar="[RECIPE ...]")
@click.option("--out", type=click.Path(), default=RUNS, show_default=True, help=OUT_HELP)
@click.option("--data-dir", type=click.Path(), default=None,
              help="Folder of the MNIST IDX files (default: $SMOOTHCERT_DATA_DIR or the user cache).")
@click.option("--scale", type=click.Choice(["full", "small"]), default="full", show_default=True,
              help="full: the documented measurement; small: the same pipeline in seconds (never quoted).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Commands to run at once: independent seeds, models and recipes in parallel, each with an "
                   "equal share of the CPU threads and its output in OUT/RECIPE/logs/. 1: one after another, "
                   "output on the terminal. The results are the same either way.")
@click.option("--only", "only", multiple=True, metavar="PATTERN",
              help="Run only the steps whose names match this glob (repeatable; the names `smoothcert results "
                   "list --with-steps` shows, e.g. 'sigma_0.25/*'), with the earlier steps of their chains. The "
                   "outputs whose runs are finished are written; the report waits for the last step.")
def run(names, out, data_dir, scale, jobs, only) -> None:
    """Run the recipes (all by default), skipping finished steps and resuming interrupted ones."""
    from ..data.mnist import default_data_dir
    from ..results import Settings, run_parallel, run_recipe
    from ..results.runner import check_settings, outputs_line, selected_recipes
    from ..validate import check_output_folder

    recipes = _recipes(names)
    check_output_folder(out, "--out folder")
    settings = Settings(scale=scale, data_dir=Path(data_dir) if data_dir else default_data_dir(), only=only)
    recipes = selected_recipes(recipes, out, settings)
    for recipe in recipes:  # refuse before anything runs
        check_settings(recipe, settings)
    if jobs > 1:
        run_parallel(recipes, out, settings, jobs, echo=click.echo)
        return
    for recipe in recipes:
        written = run_recipe(recipe, out, settings, echo=click.echo)
        click.echo(f"[{recipe.name}] outputs: {outputs_line(written)}")


run.continues_on_rerun = True  # what Ctrl-C's message tells the user (cli.common.interrupt_hint)


@results.command("docs")
@runs_option
@click.option("--docs", "docs_dir", type=click.Path(file_okay=False), default="docs", show_default=True,
              help="The docs folder whose quotes are rewritten.")
def docs(runs_dir, docs_dir) -> None:
    """Rewrite every quote whose recipe has finished, and docs/results.json (what each quote came from)."""
    from ..results import RECIPES, regenerate_docs

    if not Path(docs_dir).is_dir():
        raise InputError(f"--docs {docs_dir} is not a folder")
    updated, pending = regenerate_docs(docs_dir, runs_dir, RECIPES)
    click.echo(f"{len(updated)} quotes regenerated, {len(pending)} waiting for their recipe"
               + "".join(f"\n  waiting: {q.where} {q.id}" for q in pending))


@results.command("check")
@click.option("--runs", "runs_dir", type=click.Path(), default=None,
              help=f"Also compare every quoted number with these runs' outputs (default: {RUNS} if present).")
@click.option("--docs", "docs_dir", type=click.Path(file_okay=False), default="docs", show_default=True,
              help="The docs folder to check.")
def check(runs_dir, docs_dir) -> None:
    """Every quote names a recipe output, is what `docs` wrote, and (with the runs) quotes their numbers."""
    from ..results import RECIPES, check_docs

    if runs_dir is None and Path(RUNS).is_dir():
        runs_dir = RUNS
    elif runs_dir is not None and not Path(runs_dir).is_dir():
        raise InputError(f"--runs {runs_dir} is not a folder")
    problems = check_docs(docs_dir, RECIPES, runs_dir)
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise ResultsError(f"{len(problems)} quoted results do not match their runs (listed above)")
    click.echo("every quoted result matches its run" + ("" if runs_dir else " record (no runs here to compare)"))


COMMANDS = [results]
