"""``smoothcert recertify``: another bound on a certify run's saved counts, without the model."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run", type=click.Path())
@click.option("--bound", type=click.Choice(["cp", "top2", "cpm"]), default="cp", show_default=True,
              help="cp: Clopper–Pearson (reproduces the run); top2: top-2 radius, Bonferroni over classes; "
                   "cpm: top-2 radius with class partitioning (docs/bounds.md).")
@click.option("--randomized", is_flag=True,
              help="With --bound cp: randomized Clopper–Pearson. The certificates are then randomized: each holds "
                   "over the samples and a uniform variate stored in column u.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the uniform variates (--randomized).")
@click.option("--alpha", type=float, default=None, help="Failure probability (default: the run's).")
@click.option("--out", type=click.Path(), required=True, help="New results TSV (manifest: same name, .json).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
def recertify(run, bound, randomized, seed, alpha, out, overwrite) -> None:
    """Re-apply a bound to the count vectors saved by the certify run RUN (its TSV) and write a new TSV."""
    from ..report.markdown import render_markdown
    from ..studies.bounds import recertify as recertify_run

    doc = recertify_run(Path(run), bound, Path(out), randomized=randomized, seed=seed, alpha=alpha,
                        overwrite=overwrite)
    click.echo(render_markdown(doc, title=False))


COMMANDS = [recertify]
