"""``smoothcert mix train | eval | certify``: adaptive smoothing on a run folder (see docs/mixing.md)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ..errors import InvalidArgumentError
from .common import SmoothcertGroup, backend_options, build_backend, parse_floats, pick_device, renamed_option


def _data_options(f):
    f = click.option("--data-dir", type=click.Path(), default=None,
                     help="Folder of the MNIST IDX files (default: $SMOOTHCERT_DATA_DIR or the user cache).")(f)
    f = click.option("--download", is_flag=True, help="Download MNIST if missing (checks MD5).")(f)
    return f


def _common(f):
    f = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(f)
    f = click.option("--quiet", is_flag=True, help="No progress bars, no per-epoch lines.")(f)
    return f


def _echo(doc, *, title: bool = True) -> None:
    """Print a job's document (its title too, unless it is a one-line summary)."""
    from ..report.markdown import render_markdown

    click.echo(render_markdown(doc, title=title), nl=False)


@click.group(cls=SmoothcertGroup)
def mix() -> None:
    """Adaptive smoothing: mix a standard and a robust classifier (fixed α or a mixing network α(x))."""


@mix.command("train")
@click.option("--dataset", default="digits", show_default=True, help="digits | mnist | FILE.npz")
@_data_options
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the train/test split.")
@click.option("--out", type=click.Path(), required=True, help="Run folder, e.g. runs/mix/mnist.")
@click.option("--arch", type=click.Choice(["mlp", "lenet", "cnn"]), default="lenet", show_default=True)
@click.option("--norm", type=click.Choice(["linf", "l2"]), default="linf", show_default=True)
@click.option("--eps", type=float, default=0.3, show_default=True,
              help="ε₀: adversarial training radius and the mixing network's threat model.")
@click.option("--standard-epochs", type=int, default=10, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Learning rate of the base models.")
@click.option("--robust-epochs", type=int, default=10, show_default=True)
@click.option("--adv-steps", type=int, default=5, show_default=True, help="PGD steps in adversarial training.")
@click.option("--eps-warmup", type=int, default=2, show_default=True, help="Epochs of linearly growing ε.")
@click.option("--noise-sigma", type=float, default=0.25, show_default=True,
              help="Training noise of the model to smooth for certificates (0: skip it).")
@click.option("--noise-epochs", type=int, default=10, show_default=True)
@click.option("--mixing-epochs", type=int, default=5, show_default=True)
@click.option("--mixing-attack", type=click.Choice(["pgd", "apgd"]), default="pgd", show_default=True)
@click.option("--mixing-steps", default="1,6", show_default=True, help="Random attack iterations: LOW,HIGH.")
@click.option("--mixing-lr", type=float, default=1e-3, show_default=True)
@click.option("--mixing-max", type=int, default=None, help="Train the mixing network on at most this many images.")
@click.option("--validation-size", type=int, default=0, show_default=True,
              help="Hold out this many training examples from every model, for `mix eval --split validation`.")
@click.option("--seed", type=int, default=0, show_default=True)
@_common
def train_cmd(**o) -> None:
    """Train the standard, robust (PGD), noise-trained and mixing models; resumes where it stopped."""
    from ..studies.mixing import AdversarialConfig, MixingConfig, TrainPlan, train_run

    steps = [int(v) for v in parse_floats(o["mixing_steps"], "--mixing-steps")]
    if len(steps) != 2:
        raise InvalidArgumentError(f"--mixing-steps needs LOW,HIGH, got {o['mixing_steps']!r}")
    plan = TrainPlan(
        arch=o["arch"], standard_epochs=o["standard_epochs"], standard_lr=o["lr"],
        robust=AdversarialConfig(eps=o["eps"], norm=o["norm"], steps=o["adv_steps"], eps_warmup=o["eps_warmup"],
                                 epochs=o["robust_epochs"], lr=o["lr"], seed=o["seed"]),
        noise_sigma=o["noise_sigma"], noise_epochs=o["noise_epochs"],
        mixing=MixingConfig(eps=o["eps"], norm=o["norm"], steps_low=steps[0], steps_high=steps[1],
                            attack=o["mixing_attack"], epochs=o["mixing_epochs"], lr=o["mixing_lr"], seed=o["seed"]),
        mixing_max=o["mixing_max"], seed=o["seed"], data_seed=o["data_seed"], validation_size=o["validation_size"])
    _echo(train_run(o["out"], plan, data=o["dataset"], data_dir=o["data_dir"], download=o["download"],
                    device=pick_device(o["device"]), progress=not o["quiet"], echo=click.echo), title=False)


@mix.command("eval")
@click.option("--run", "run_dir", type=click.Path(), required=True, help="Run folder of `mix train`.")
@_data_options
@click.option("--eps", default="0.1,0.2,0.3", show_default=True, help="Radii of the attacks.")
@renamed_option("--mixing-alphas", "--alphas", "alphas", default="0.3,0.5,0.6,0.7,0.8,0.9", show_default=True,
                help="Fixed mixing weights α of the sweep (former name: --alphas).")
@click.option("--gamma-scale", type=float, default=2.0, show_default=True, help="γ′ = scale·BN(γ) + bias.")
@click.option("--gamma-biases", default="-1,0,1", show_default=True, help="One adaptive mixture per bias.")
@renamed_option("--mixing-alpha-range", "--alpha-range", "alpha_range", default="0,1", show_default=True,
                help="Range of the adaptive mixing weight α(x): LOW,HIGH, or several as LOW,HIGH;LOW,HIGH (one "
                     "adaptive mixture per bias and range; former name: --alpha-range).")
@click.option("--split", type=click.Choice(["test", "validation"]), default="test", show_default=True,
              help="Evaluate on the test inputs or on the examples `mix train --validation-size` held out.")
@click.option("--selection", type=click.Path(dir_okay=False), default=None,
              help="selection.json of `mix select`: evaluate its adaptive mixture (and its fixed α).")
@click.option("--attacks", default="pgd,apgd-ce", show_default=True, help="Sequence: pgd, apgd-ce, apgd-dlr.")
@click.option("--norm", type=click.Choice(["linf", "l2"]), default="linf", show_default=True)
@click.option("--steps", type=int, default=20, show_default=True, help="Iterations of each attack.")
@click.option("--max", "max_inputs", type=int, default=500, show_default=True, help="First MAX test inputs.")
@click.option("--autoattack-max", type=int, default=0, show_default=True,
              help="Also run AutoAttack's ensemble on this many inputs at the largest ε.")
@click.option("--autoattack-alphas", default=None,
              help="The fixed α AutoAttack attacks (default: all of --mixing-alphas): a list, or 'selection' for "
                   "the fixed α of --selection. The base models and the adaptive mixture are always attacked.")
@click.option("--autoattack-iter", type=int, default=100, show_default=True,
              help="Iterations of APGD-CE and of APGD-T per target class (fewer: a weaker check, so reported).")
@click.option("--autoattack-queries", type=int, default=5000, show_default=True,
              help="Queries of the Square Attack per input.")
@click.option("--batch-size", type=int, default=250, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--name", default="eval", show_default=True,
              help="Results NAME.tsv / NAME.md in the run folder (the trade-off plot shows all of them).")
@click.option("--resume", is_flag=True, help="Continue an interrupted evaluation.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier evaluation.")
@_common
def eval_cmd(**o) -> None:
    """Clean and robust accuracy of standard, robust, fixed-α and adaptive mixtures; table and plot."""
    from ..attacks import METHODS, AutoAttackConfig
    from ..studies.mixing import EvalPlan, apply_selection, eval_run, read_selection

    attacks = [a.strip() for a in o["attacks"].split(",") if a.strip()]
    bad = [a for a in attacks if a not in METHODS or a == "autoattack"]
    if bad or not attacks:
        raise InvalidArgumentError(f"--attacks takes pgd, apgd-ce, apgd-dlr; got {o['attacks']!r}")
    alpha_ranges = []
    for part in o["alpha_range"].split(";"):
        bounds = parse_floats(part, "--mixing-alpha-range")
        if len(bounds) != 2:
            raise InvalidArgumentError(f"--mixing-alpha-range needs LOW,HIGH[;LOW,HIGH…], got {o['alpha_range']!r}")
        alpha_ranges.append((bounds[0], bounds[1]))
    alphas = parse_floats(o["alphas"], "--mixing-alphas")
    if any(not 0 <= a <= 1 for a in alphas):
        raise InvalidArgumentError(f"--mixing-alphas must lie in [0, 1], got {o['alphas']!r}")
    plan = EvalPlan(eps=parse_floats(o["eps"], "--eps"), alphas=alphas,
                    gamma_scale=o["gamma_scale"], gamma_biases=parse_floats(o["gamma_biases"], "--gamma-biases"),
                    alpha_ranges=alpha_ranges, attacks=attacks, norm=o["norm"],
                    steps=o["steps"], max_inputs=o["max_inputs"], autoattack_inputs=o["autoattack_max"],
                    autoattack=AutoAttackConfig(apgd_iter=o["autoattack_iter"],
                                                square_queries=o["autoattack_queries"]),
                    batch_size=o["batch_size"], seed=o["seed"], name=o["name"], split=o["split"])
    if o["selection"]:
        ctx = click.get_current_context()
        given = [f"--{k.replace('_', '-')}" for k in ("gamma_scale", "gamma_biases", "alpha_range")
                 if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT]
        if given:
            raise InvalidArgumentError(f"--selection sets the adaptive mixture; do not also give {', '.join(given)}")
        selection = read_selection(o["selection"])
        plan = apply_selection(plan, selection)
    if o["autoattack_alphas"] == "selection":
        if not o["selection"]:
            raise InvalidArgumentError("--autoattack-alphas selection needs --selection")
        plan = replace(plan, autoattack_alphas=[selection["fixed"]["alpha"]])
    elif o["autoattack_alphas"] is not None:
        plan = replace(plan, autoattack_alphas=parse_floats(o["autoattack_alphas"], "--autoattack-alphas"))
    run = Path(o["run_dir"])
    _echo(eval_run(run, plan, data_dir=o["data_dir"], download=o["download"], device=pick_device(o["device"]),
                   resume=o["resume"], overwrite=o["overwrite"], progress=not o["quiet"], echo=click.echo))
    click.echo(f"table {run / (plan.name + '.md')}; plot {run / 'tradeoff.png'}")


@mix.command("select")
@click.option("--run", "run_dir", type=click.Path(), required=True, help="Run folder of `mix train`.")
@click.option("--from", "source", default="validation", show_default=True,
              help="The validation evaluation NAME.tsv to choose from (`mix eval --split validation --name NAME`).")
@click.option("--keep", type=float, default=0.5, show_default=True,
              help="Share of the clean accuracy the robust model gives up that a chosen mixture must keep.")
@click.option("--eps", type=float, default=None, help="Robust accuracy read at this ε (default: the largest).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier selection.json.")
def select_cmd(run_dir, source, keep, eps, overwrite) -> None:
    """Choose the fixed α and the adaptive mixture's γ bias and α range on the validation split."""
    from ..studies.mixing import select_run

    run = Path(run_dir)
    _echo(select_run(run, source=source, keep=keep, eps=eps, overwrite=overwrite))
    click.echo(f"selection {run / 'selection.json'}; evaluate it with `smoothcert mix eval --run {run} "
               f"--selection {run / 'selection.json'}`")


@mix.command("certify")
@click.option("--run", "run_dir", type=click.Path(), required=True, help="Run folder of `mix train`.")
@_data_options
@click.option("--sigma", type=float, default=0.25, show_default=True, help="Smoothing noise σ.")
@click.option("--n0", type=int, default=100, show_default=True)
@click.option("--n", type=int, default=10_000, show_default=True)
@renamed_option("--failure-prob", "--alpha", "alpha_conf", type=float, default=0.001, show_default=True,
                help="Failure probability of the simultaneous bounds (former name: --alpha).")
@click.option("--max", "max_inputs", type=int, default=500, show_default=True, help="First MAX test inputs.")
@renamed_option("--mixing-alphas", "--alphas", "alphas", default="0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9,0.95,1",
                show_default=True, help="Mixing weights α to report (former name: --alphas).")
@click.option("--radii", default="0,0.1,0.25,0.5,0.75,1", show_default=True)
@click.option("--batch-size", type=int, default=1024, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the noise-trained model.")
@click.option("--resume", is_flag=True, help="Continue an interrupted vote sampling.")
@click.option("--overwrite", is_flag=True, help="Replace earlier votes.")
@backend_options
@_common
def certify_cmd(**o) -> None:
    """Certified accuracy of the mixture with the smoothed noise-trained model, against α (sound and plug-in)."""
    from ..studies.mixing import CertifyPlan, certify_run

    backend = build_backend(o, per_model=True)
    plan = CertifyPlan(sigma=o["sigma"], n0=o["n0"], n=o["n"], alpha_conf=o["alpha_conf"],
                       max_inputs=o["max_inputs"], alphas=parse_floats(o["alphas"], "--mixing-alphas"),
                       radii=parse_floats(o["radii"], "--radii"), batch_size=o["batch_size"], seed=o["seed"],
                       compile=o["compile_model"])
    run = Path(o["run_dir"])
    _echo(certify_run(run, plan, data_dir=o["data_dir"], download=o["download"], device=pick_device(o["device"]),
                      resume=o["resume"], overwrite=o["overwrite"], progress=not o["quiet"], echo=click.echo,
                      backend=backend))
    click.echo(f"table {run / 'certify.md'}; plot {run / 'certified_vs_alpha.png'}")


@mix.command("plot")
@click.option("--run", "run_dir", type=click.Path(), required=True, help="Run folder with evaluation TSVs.")
@click.option("--eps", default=None, help="Panels (default: every ε in the evaluations).")
def plot_cmd(run_dir, eps) -> None:
    """Redraw the trade-off plot from every evaluation in a run folder (no attacks are run)."""
    from ..studies.mixing import plot_run

    _echo(plot_run(Path(run_dir), parse_floats(eps, "--eps") if eps else None), title=False)


COMMANDS = [mix]
