"""The report command: one self-contained HTML page on run folders, study folders or results TSVs."""

from __future__ import annotations

import click

from .common import parse_floats


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(), metavar="RUN_DIR [RUN_DIR ...]")
@click.option("--out", type=click.Path(), required=True, help="The HTML file to write, e.g. report.html.")
@click.option("--radii", default="0,0.25,0.5,0.75,1.0", show_default=True,
              help="Comma-separated radii of the tables (ℓ2, input space).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def report(paths, out, radii, overwrite) -> None:
    """One HTML page (figures inline, no network) comparing runs: settings, certified accuracy against radius,
    the table with ACR and abstain rate, per-class accuracy and disparity, the p̲_A distribution, and each
    study folder's own report."""
    from ..studies.report import write_runs_report

    written = write_runs_report(list(paths), out, radii=parse_floats(radii, "--radii"), overwrite=overwrite)
    click.echo(f"report: {written}")


COMMANDS = [report]
