"""The core commands: train, certify, predict, analyze, demo."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InvalidArgumentError
from .common import (
    data_options,
    load_data,
    model_options,
    noise_smoothing_options,
    parse_floats,
    pick_device,
    run_smoothed,
)

#: The train command's objective options (the click parameter names), mapped by objective_options.
OBJECTIVE_FLAGS = ("num_noise_vec", "stability_lambda", "consistency_lambda", "consistency_eta", "macer_lambda",
                   "macer_gamma", "macer_beta", "macer_deferred", "smoothadv_eps", "smoothadv_steps",
                   "smoothadv_warmup", "smoothmix_eta", "smoothmix_steps", "smoothmix_alpha", "smoothmix_mix_step",
                   "smoothmix_eps", "smoothmix_warmup", "catrs_eps", "catrs_steps", "catrs_lambda")

#: The objectives `train` and `demo` offer: training.objectives.NOISE_OBJECTIVES, spelled here so that the
#: command line loads without torch (tests/test_objectives.py checks the two agree).
OBJECTIVE_CHOICES = ("gaussian", "stability", "consistency", "macer", "smoothadv", "smoothmix", "catrs")

# --- commands ---------------------------------------------------------------------------------------------

@click.command()
@click.option("--dataset", default="digits", show_default=True, help="Data set name or FILE.npz.")
@data_options
@click.option("--arch", type=click.Choice(["mlp", "lenet", "cnn"]), default="lenet", show_default=True)
@click.option("--train-sigma", type=float, default=0.25, show_default=True,
              help="Gaussian training noise σ (0: standard); the same as --noise gaussian --scale σ.")
@click.option("--noise", "train_noise", type=click.Choice(["gaussian", "laplace", "uniform"]), default="gaussian",
              show_default=True, help="Training noise distribution (docs/noises.md).")
@click.option("--scale", type=float, default=None,
              help="Training noise scale: σ for gaussian, λ for laplace and uniform (replaces --train-sigma).")
@click.option("--objective", type=click.Choice(OBJECTIVE_CHOICES), default="gaussian", show_default=True,
              help="Training objective (docs/training.md); all but gaussian need noise (σ > 0).")
@click.option("--num-noise-vec", type=int, default=None,
              help="m, noise samples per input (consistency: 2, macer: 16, smoothadv: 4, smoothmix: 4, catrs: 4).")
@click.option("--stability-lambda", type=float, default=None, help="λ of stability training [2].")
@click.option("--consistency-lambda", type=float, default=None, help="λ, weight of the consistency KL term [10].")
@click.option("--consistency-eta", type=float, default=None, help="η, weight of the entropy term [0.5].")
@click.option("--macer-lambda", type=float, default=None, help="λ, weight of MACER's radius term [12].")
@click.option("--macer-gamma", type=float, default=None, help="γ, MACER's hinge margin [8].")
@click.option("--macer-beta", type=float, default=None, help="β, MACER's inverse temperature [16].")
@click.option("--macer-deferred", type=int, default=None, help="Epochs trained with λ = 0 before MACER's term [0].")
@click.option("--smoothadv-eps", type=float, default=None, help="ε, SmoothAdv's ℓ2 attack radius [1.0].")
@click.option("--smoothadv-steps", type=int, default=None, help="SmoothAdv's PGD steps [10].")
@click.option("--smoothadv-warmup", type=int, default=None, help="Epochs over which SmoothAdv's ε grows [10].")
@click.option("--smoothmix-eta", type=float, default=None, help="η, weight of SmoothMix's mixup term [5].")
@click.option("--smoothmix-steps", type=int, default=None, help="T, SmoothMix's attack steps [4].")
@click.option("--smoothmix-alpha", type=float, default=None, help="α, SmoothMix's ℓ2 attack step size [1.0].")
@click.option("--smoothmix-mix-step", type=int, default=None,
              help="The attack iterate at the clean end of SmoothMix's mixup (0: the input, 1: one step) [0].")
@click.option("--smoothmix-eps", type=float, default=None,
              help="ε, largest ℓ2 distance of SmoothMix's attack from the input [unbounded].")
@click.option("--smoothmix-warmup", type=int, default=None, help="Epochs over which SmoothMix's term ramps in [10].")
@click.option("--catrs-eps", type=float, default=None,
              help="ε, ℓ2 radius of CAT-RS's worst-noise search around each noise sample [1.0].")
@click.option("--catrs-steps", type=int, default=None, help="T, steps of CAT-RS's worst-noise search [4].")
@click.option("--catrs-lambda", type=float, default=None, help="λ, weight of CAT-RS's worst-noise KL term [1].")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--optimizer", type=click.Choice(["adam", "sgd", "adadelta"]), default="adam", show_default=True,
              help="sgd: momentum 0.9.")
@click.option("--weight-decay", type=float, default=0.0, show_default=True, help="The optimizer's weight decay.")
@click.option("--lr-gamma", type=float, default=1.0, show_default=True,
              help="Multiply the learning rate by this every --lr-step epochs (1: constant).")
@click.option("--lr-step", type=int, default=1, show_default=True,
              help="Epochs between two --lr-gamma decays (Cohen et al.'s MNIST recipe: 30 of 90, γ 0.1).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--out", type=click.Path(), required=True, help="Checkpoint path stem, e.g. runs/x/model.")
@click.option("--overwrite", is_flag=True, help="Replace an existing checkpoint.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted training from the epoch state kept beside the checkpoint "
                   "(OUT.state.*); the same options are needed, and the weights equal an uninterrupted run's.")
@click.option("--quiet", is_flag=True)
def train(**opts) -> None:
    """Train a base classifier with an --objective (default: noise augmentation, Gaussian by default, when the
    noise scale is > 0); each objective's own options are refused with any other (docs/training.md)."""
    from ..training import TrainConfig, objective_options, train_checkpoint

    method_options = objective_options(opts["objective"], {k: opts[k] for k in OBJECTIVE_FLAGS})
    if opts["train_noise"] != "gaussian" and opts["scale"] is None:
        raise InvalidArgumentError(f"--noise {opts['train_noise']} needs --scale (its λ)")
    scale = opts["train_sigma"] if opts["scale"] is None else opts["scale"]
    cfg = TrainConfig(train_sigma=scale, epochs=opts["epochs"], batch_size=opts["batch_size"],
                      lr=opts["lr"], optimizer=opts["optimizer"], weight_decay=opts["weight_decay"],
                      lr_gamma=opts["lr_gamma"], lr_step=opts["lr_step"], seed=opts["seed"],
                      train_noise=opts["train_noise"], method=opts["objective"],
                      method_options=method_options).validate()
    device = pick_device(opts["device"])
    data = load_data(opts, opts["dataset"])
    _, info, paths = train_checkpoint(data, opts["arch"], cfg, opts["out"], resume=opts["resume"],
                                      overwrite=opts["overwrite"], device=device, progress=not opts["quiet"],
                                      log=None if opts["quiet"] else click.echo)
    click.echo(f"test accuracy {info.test_accuracy:.4f} (clean); checkpoint {paths[0]} + {paths[1].name}")
    click.echo(f"data: {data.split_note}")


@click.command()
@model_options
@data_options
@noise_smoothing_options
@click.option("--n0", type=int, default=100, show_default=True, help="Samples to select the class.")
@click.option("--n", type=int, default=100_000, show_default=True, help="Samples to estimate its probability.")
@click.option("--sequential", is_flag=True,
              help="Sample in rounds and stop once settled (anytime-valid); --n is then the cap.")
@click.option("--radius", "preset_radius", type=float, default=None,
              help="With --sequential: only decide whether each input is certified at this radius.")
@click.option("--tolerance", type=float, default=None,
              help="With --sequential, full-radius mode: stop when the cap could add at most this (default 0.02σ).")
@click.option("--uncertainty", "measure", default=None, metavar="MEASURE",
              help="Uncertainty-aware base classifier (entropy, max_prob, margin): adds radius_i, radius_ii, "
                   "radius_cohen, frac_uncertain (docs/uncertainty.md). Needs --tau.")
@click.option("--tau", type=float, default=None, help="With --uncertainty: u > τ → ⊥ ('inf' never rejects).")
def certify(**opts) -> None:
    """CERTIFY each test input: predicted class and certified radius in the noise's norm (Cohen et al. 2019)."""
    measure, tau = opts.pop("measure"), opts.pop("tau")
    if measure is None:
        if tau is not None:
            raise InvalidArgumentError("--tau needs --uncertainty MEASURE")
        run_smoothed("certify", opts)
        return
    if tau is None:
        raise InvalidArgumentError("--uncertainty needs --tau (or use 'smoothcert uncertainty certify --reject-rate')")
    other_noise = [opts.pop(k) for k in ("noise_kind", "scale", "norm")]
    if opts["sigma"] is None or any(v is not None for v in other_noise):
        raise InvalidArgumentError("--uncertainty certifies with Gaussian noise: give --sigma (not --noise, --scale "
                                   "or --norm)")
    if opts["sequential"] or opts["preset_radius"] is not None or opts["tolerance"] is not None:
        raise InvalidArgumentError("--uncertainty does not combine with --sequential, --radius or --tolerance")
    from .uncertainty import run_uncertainty_certify

    run_uncertainty_certify({k: v for k, v in opts.items() if k not in ("sequential", "preset_radius", "tolerance")}
                            | {"measure": measure, "tau": tau})


@click.command()
@model_options
@data_options
@noise_smoothing_options
@click.option("--n", type=int, default=10_000, show_default=True, help="Noise samples per input.")
def predict(**opts) -> None:
    """PREDICT each test input with the smoothed classifier (abstains when not significant)."""
    run_smoothed("predict", opts)


@click.command()
@click.argument("files", nargs=-1, type=click.Path())
@click.option("--radii", default="0,0.25,0.5,0.75,1.0", show_default=True, help="Comma-separated radii.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "tsv"]), default="markdown",
              show_default=True)
@click.option("--radius-column", default="radius", show_default=True,
              help="Radius column; several, comma-separated, compare radii of one file (radius_i,radius_ii).")
@click.option("--high-prob-alpha", type=float, default=None,
              help="Also report the certified accuracy that holds with probability ≥ 1 − ρ (ρ = 0.001) when each "
                   "certificate fails with probability ≤ this α; values below 0 are clipped at 0.")
@click.option("--high-prob-method", type=click.Choice(["binomial", "cohen"]), default="binomial", show_default=True,
              help="How --high-prob-alpha lowers the certified accuracy: the binomial quantile (holds at 1 − ρ), "
                   "or Cohen et al.'s published formula (only to reproduce their figures; it does not).")
@click.option("--per-class", is_flag=True, help="Also print per-class certified accuracy.")
@click.option("--plot", type=click.Path(), default=None, help="Write a certified-accuracy plot (PNG + SVG).")
@click.option("--cohen-table", type=click.Path(), default=None, metavar="DIR",
              help="Reproduce Cohen et al.'s published vary-noise table from the raw TSVs in DIR.")
@click.option("--cohen-dataset", type=click.Choice(["cifar10", "imagenet"]), default="cifar10", show_default=True)
def analyze(files, radii, fmt, radius_column, high_prob_alpha, high_prob_method, per_class, plot, cohen_table,
            cohen_dataset) -> None:
    """Certified accuracy, ACR, abstain rate and N from certify TSVs (smoothcert's or Cohen's), with what the rows
    stand for: whether each run finished (its manifest) and what each radius column certifies."""
    from ..report.markdown import render_markdown
    from ..workflows import analyze_files, cohen_table_document

    if cohen_table:
        click.echo(render_markdown(cohen_table_document(cohen_table, cohen_dataset, fmt), tables=fmt, title=False))
        if not files:
            return
    if not files:
        raise InvalidArgumentError("give at least one results TSV (or --cohen-table DIR)")
    doc = analyze_files([Path(f) for f in files], parse_floats(radii, "--radii"), fmt, radius_column,
                        high_prob_alpha, per_class, plot, high_prob_method)
    click.echo(render_markdown(doc, tables=fmt, title=False))


@click.command()
@click.option("--out", type=click.Path(), default="runs/demo", show_default=True)
@click.option("--fresh", is_flag=True, help="Start over instead of reusing an earlier demo's results.")
@click.option("--n", type=int, default=10_000, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--quiet", is_flag=True)
@click.option("--no-compile", is_flag=True, help="Sample with the eager model (no torch.compile).")
@click.option("--objective", type=click.Choice(OBJECTIVE_CHOICES), default="gaussian", show_default=True,
              help="Training objective of the base model, with its paper's options (docs/training.md).")
def demo(out, fresh, n, device, quiet, no_compile, objective) -> None:
    """Train a CNN on digits with σ = 0.25, certify the 360 test digits, write a table, plot and report."""
    from ..workflows import run_demo

    run_demo(Path(out), n=n, fresh=fresh, device=pick_device(device), progress=not quiet,
             compile_model=not no_compile, echo=click.echo, objective=objective)


COMMANDS = [train, certify, predict, analyze, demo]
