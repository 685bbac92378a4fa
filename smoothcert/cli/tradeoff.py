"""``smoothcert tradeoff``: training noise α against smoothing noise β (Pal & Sulam 2023).

``disks`` runs the synthetic experiment; ``grid`` trains or fine-tunes models at each α of a grid and evaluates
them smoothed at each β (risk of the majority vote, certified accuracy), with cached models and resumable cells.
"""

from __future__ import annotations

import click

from .common import SmoothcertGroup, backend_options, build_backend, parse_floats, renamed_option


@click.group(cls=SmoothcertGroup)
def tradeoff() -> None:
    """Which training noise α suits smoothing noise β, and does noise augmentation help at all."""


@tradeoff.command()
@click.option("--out", type=click.Path(), required=True, help="Run folder (tables, plots, manifest disks.json).")
@click.option("--size", type=int, default=100, show_default=True, help="Grid side, pixels.")
@click.option("--radius", type=float, default=10.0, show_default=True, help="Disk radius r, pixels.")
@click.option("--zetas", default="0,1,2,3", show_default=True, help="Gaps ζ: centres are ≥ 2r + ζ apart.")
@renamed_option("--train-noise-alphas", "--alphas", "alphas", default="0:20", show_default=True,
                help="Training noise levels α (pixels): list or START:STOP[:STEP] (former name: --alphas).")
@click.option("--betas", default="8,11,14", show_default=True, help="Smoothing noise β (pixels).")
@click.option("--draws", type=int, default=10, show_default=True, help="Random draws of the disks per ζ.")
@click.option("--tries", type=int, default=10_000, show_default=True, help="Rejection-sampling candidates per draw.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--mode", type=click.Choice(["constant", "nearest", "reflect", "mirror", "wrap"]), default="constant",
              show_default=True, help="Boundary mode of the Gaussian convolution (scipy.ndimage).")
@click.option("--overwrite", is_flag=True, help="Replace the results of an earlier run in --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def disks(**opts) -> None:
    """Synthetic disks: Δ_{α,β} − Δ_{0,β} against α for each β and ζ, and α*(β, ζ)."""
    from ..studies.tradeoff import DisksConfig, parse_levels, run_disks_experiment

    config = DisksConfig(size=opts["size"], radius=opts["radius"], zetas=parse_levels(opts["zetas"], "--zetas"),
                         alphas=parse_levels(opts["alphas"], "--train-noise-alphas"),
                         betas=parse_levels(opts["betas"], "--betas"),
                         draws=opts["draws"], tries=opts["tries"], seed=opts["seed"], mode=opts["mode"])
    run_disks_experiment(config, opts["out"], overwrite=opts["overwrite"], progress=not opts["quiet"],
                         echo=click.echo)


def _optional(name: str, kind=float, help: str = ""):
    return click.option(name, type=kind, default=None, help=help + " [default: the data set's preset]")


@tradeoff.command()
@click.option("--dataset", default="digits", show_default=True, help="digits | mnist | other data set names.")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder of the MNIST IDX files.")
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the train/test split.")
@click.option("--arch", type=click.Choice(["mlp", "lenet", "cnn"]), default=None,
              help="Architecture [default: the preset's].")
@renamed_option("--train-noise-alphas", "--alphas", "alphas", default=None,
                help="Training noise levels α (must include 0; former name: --alphas) [default: the preset's].")
@click.option("--betas", default=None, help="Smoothing noise levels (0 allowed) [default: the preset's].")
@_optional("--clean-epochs", int, "Epochs of the clean model.")
@_optional("--epochs", int, "Fine-tuning epochs per α.")
@_optional("--copies", int, "Noisy copies of each training image per fine-tuning epoch.")
@_optional("--images-per-step", int, "Training images per fine-tuning step.")
@click.option("--no-finetune-zero", is_flag=True, help="Use the clean model itself for α = 0 (as the authors do).")
@_optional("--votes", int, "Noisy copies in the majority vote (the paper: 100).")
@_optional("--risk-skip", int, "Risk on every RISK_SKIP-th test input.")
@_optional("--risk-max", int, "Risk on at most RISK_MAX test inputs.")
@_optional("--n0", int, "CERTIFY selection samples.")
@_optional("--n", int, "CERTIFY estimation samples.")
@renamed_option("--failure-prob", "--cert-alpha", "cert_alpha", type=float, default=None,
                help="CERTIFY failure probability (former name: --cert-alpha) [default: the data set's preset]")
@_optional("--cert-skip", int, "CERTIFY every CERT_SKIP-th test input.")
@_optional("--cert-max", int, "CERTIFY at most CERT_MAX test inputs.")
@click.option("--radii", default=None, help="Radii of the certified-accuracy tables [default: the preset's].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds training and every noise sample.")
@click.option("--compile/--no-compile", "compile_model", default=None,
              help="torch.compile the models for sampling [default: the preset's].")
@click.option("--workers", type=int, default=None,
              help="Jobs run at once: each in its own process (default 1: here, one after another), or with "
                   "--backend ray as Ray tasks (default: as many as the cluster allows).")
@backend_options(workers=False)
@click.option("--threads", type=int, default=1, show_default=True, help="Torch threads per worker.")
@click.option("--out", type=click.Path(), required=True, help="Run folder (models, cells, tables, grid.json).")
@click.option("--resume", is_flag=True, help="Continue (or extend) the grid in --out, reusing its models and cells.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def grid(**opts) -> None:
    """Real data: models trained at each α, smoothed at each β; risk, certified accuracy, α*(β)."""
    from ..studies.tradeoff import grid_config, parse_levels, run_grid

    levels = {k: None if opts[k] is None else parse_levels(opts[k], {"alphas": "--train-noise-alphas"}.get(k, f"--{k}"))
              for k in ("alphas", "betas")}
    radii = None if opts["radii"] is None else parse_floats(opts["radii"], "--radii")
    settings = {k: opts[k] for k in ("data_dir", "data_seed", "seed", "arch", "votes", "risk_skip", "risk_max", "n0",
                                     "n", "cert_alpha", "cert_skip", "cert_max", "clean_epochs", "epochs", "copies",
                                     "images_per_step")}
    cfg = grid_config(opts["dataset"], **settings, **levels, radii=radii, compile=opts["compile_model"],
                      finetune_zero=False if opts["no_finetune_zero"] else None)
    backend = build_backend({**opts, "workers": None}, per_model=True)  # the grid's --workers serve both backends
    result = run_grid(cfg, opts["out"], workers=opts["workers"], threads=opts["threads"], resume=opts["resume"],
                      progress=not opts["quiet"], echo=click.echo, backend=backend)
    click.echo(f"cells: {len(result.cells)} of {len(result.alphas) * len(result.betas)} → {opts['out']}")


COMMANDS = [tradeoff]
