"""``smoothcert audit``: what smoothing costs a model, and which classes pay (methods.md §1, §2).

``smoothcert audit [run] ...`` runs the whole audit into one folder; the subcommands run one part each.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InvalidArgumentError
from .common import (
    SmoothcertGroup,
    backend_options,
    build_backend,
    parse_batch_size,
    parse_floats,
    pick_device,
    renamed_option,
)


class AuditGroup(SmoothcertGroup):
    """A group whose default subcommand is ``run``: ``smoothcert audit --dataset mnist ...`` runs the audit."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=AuditGroup)
def audit() -> None:
    """The hidden cost of smoothing: class-wise disparity, shrinking regions, accuracy loss.

    Without a subcommand, `run` (the full audit) is meant.
    """


def _checkpoints(values: tuple[str, ...]) -> dict[str, Path]:
    """--checkpoint [LABEL=]PATH, repeated → {label: path}; the label defaults to the file's stem."""
    out: dict[str, Path] = {}
    for value in values:
        label, sep, path = value.partition("=")
        label, path = (label, path) if sep else (Path(value).with_suffix("").name, value)
        if not label or label in out:
            raise InvalidArgumentError(f"--checkpoint labels must be distinct and non-empty, got {value!r}")
        out[label] = Path(path)
    return out


def _audit_options(f):
    options = [
        click.option("--out", type=click.Path(), required=True, help="Audit folder (resumed if it exists)."),
        click.option("--dataset", default="digits", show_default=True, help="digits | mnist | FILE.npz | ..."),
        click.option("--data-dir", type=click.Path(), default=None, help="Folder of the MNIST IDX files."),
        click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the train/test split."),
        click.option("--sigmas", default="0.12,0.25,0.5,1.0", show_default=True, help="Smoothing noise levels σ."),
        click.option("--n", type=int, default=1000, show_default=True,
                     help="Noisy copies per input for PREDICT (and CERTIFY's estimate)."),
        click.option("--n0", type=int, default=100, show_default=True, help="CERTIFY's selection copies."),
        renamed_option("--failure-prob", "--alpha", "alpha", type=float, default=0.001, show_default=True,
                       help="Failure probability α of PREDICT and CERTIFY (former name: --alpha)."),
        click.option("--max", "max_inputs", type=int, default=None, help="Audit the first MAX test inputs."),
        click.option("--radii", default="0,0.25,0.5,0.75,1.0", show_default=True,
                     help="Radii of the per-class certified accuracy."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of training and noise."),
        click.option("--batch-size", default="auto", show_default=True,
                     help="Noisy copies per forward pass, or 'auto' (the fastest of 256 … 2048 on this machine)."),
        click.option("--no-compile", is_flag=True, help="Sample with the eager model (no torch.compile)."),
        click.option("--threads", type=int, default=None,
                     help="torch threads while sampling (default: one per core; 1 can be faster on busy cores)."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        f = option(f)
    return backend_options(f)  # the disparity stage's rows: here or on Ray workers


def _config(opts: dict, **overrides):
    from ..studies.audit import AuditConfig

    return AuditConfig(
        dataset=opts["dataset"], data_dir=opts["data_dir"], data_seed=opts["data_seed"],
        arch=opts.get("arch") or "lenet", sigmas=tuple(parse_floats(opts["sigmas"], "--sigmas")),
        epochs=opts.get("epochs"), n0=opts["n0"], n=opts["n"], alpha=opts["alpha"],
        max_inputs=opts["max_inputs"], radii=tuple(parse_floats(opts["radii"], "--radii")),
        matrix_n=opts.get("matrix_n") or 100, seed=opts["seed"], batch_size=parse_batch_size(opts["batch_size"]),
        compile=not opts["no_compile"], threads=opts["threads"], device=str(pick_device(opts["device"])),
        **overrides,
    )


@audit.command()
@_audit_options
@click.option("--arch", type=click.Choice(["mlp", "lenet", "cnn"]), default="lenet", show_default=True,
              help="Architecture of the base models to train.")
@click.option("--epochs", type=int, default=None, help="Training epochs [default: the data set's preset].")
@click.option("--checkpoint", "checkpoints", multiple=True, metavar="[LABEL=]PATH",
              help="Audit these checkpoints at every σ instead of training a standard and a noise-trained model.")
@click.option("--matrix-n", type=int, default=100, show_default=True,
              help="Noisy copies per input in the accuracy-loss matrix (every model at every σ).")
@click.option("--no-matrix", is_flag=True, help="Skip the accuracy-loss matrix.")
@click.option("--no-synthetic", is_flag=True, help="Skip the analytic, 2-D region and hypothesis experiments.")
def run(**opts) -> None:
    """The full audit: per-class disparity of models trained without and with noise, the accuracy-loss matrix,
    shrinking regions (analytic and 2-D) and feasible hypotheses, into one folder with summary.md."""
    from ..studies.audit import run_audit

    backend = build_backend(opts, per_model=True)
    config = _config(opts, matrix=not opts["no_matrix"], synthetic=not opts["no_synthetic"])
    run_audit(config, opts["out"], checkpoints=_checkpoints(opts["checkpoints"]) or None,
              progress=not opts["quiet"], echo=click.echo, backend=backend)


@audit.command()
@_audit_options
@click.option("--checkpoint", "checkpoints", multiple=True, required=True, metavar="[LABEL=]PATH",
              help="Model(s) to audit (repeat to compare, e.g. std=a.safetensors noise=b.safetensors).")
def disparity(**opts) -> None:
    """Per-class accuracy (base clean, base noisy, smoothed, certified) of given models at every σ."""
    from ..studies.audit import run_audit

    backend = build_backend(opts, per_model=True)
    run_audit(_config(opts, matrix=False, synthetic=False), opts["out"],
              checkpoints=_checkpoints(opts["checkpoints"]), progress=not opts["quiet"], echo=click.echo,
              backend=backend)


@audit.command()
@click.option("--out", type=click.Path(), required=True, help="Output folder.")
@click.option("--rho", type=float, default=1.0, show_default=True, help="Ball radius ρ (input units).")
@click.option("--dims", default="1,2,10,50,784", show_default=True, help="Dimensions d of the ball.")
@click.option("--angles", default="15,30,45,60,75,90", show_default=True, help="Cone half-angles θ (degrees).")
@click.option("--cone-dims", default="2,3,10", show_default=True, help="Dimensions of the cones.")
@click.option("--mc", type=int, default=100_000, show_default=True, help="Monte Carlo samples for cones.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue this part's run in --out (same settings; caches reused).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier run of this part in --out.")
def shrinkage(out, rho, dims, angles, cone_dims, mc, seed, resume, overwrite) -> None:
    """Analytic shrinking: ball radius ρ_σ and σ_van in ℝ^d; half-space; cone apex shift and boundary offset."""
    from ..runs import RunOptions
    from ..studies.audit import run_part

    run_part("shrinkage", out, echo=click.echo, options=RunOptions(resume=resume, overwrite=overwrite), rho=rho,
             dims=_integers(dims, "--dims"),
             angles=parse_floats(angles, "--angles"), cone_dims=_integers(cone_dims, "--cone-dims"), mc=mc, seed=seed)


@audit.command()
@click.option("--out", type=click.Path(), required=True, help="Output folder (smoothed regions are cached there).")
@click.option("--sigmas", default="0.02,0.04,0.06,0.08,0.1,0.12,0.14,0.16,0.18,0.2,0.22,0.24,0.26",
              show_default=True, help="Noise levels of the area curve.")
@click.option("--n", type=int, default=256, show_default=True, help="Noisy copies per grid point.")
@click.option("--resolution", type=int, default=81, show_default=True, help="Grid points per side.")
@click.option("--epochs", type=int, default=200, show_default=True, help="Training epochs of the 2-D MLP.")
@click.option("--bisection-n", type=int, default=8192, show_default=True,
              help="Noisy copies per point when bisecting for the vanishing σ.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True)
@click.option("--resume", is_flag=True, help="Continue this part's run in --out (same settings; caches reused).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier run of this part in --out.")
def regions(out, sigmas, n, resolution, epochs, bisection_n, seed, quiet, resume, overwrite) -> None:
    """2-D decision regions (ball inside a ring) of a base and its smoothed classifier; area and vanishing σ."""
    from ..runs import RunOptions
    from ..studies.audit import run_part

    run_part("regions", out, progress=not quiet, echo=click.echo,
             options=RunOptions(resume=resume, overwrite=overwrite), sigmas=parse_floats(sigmas, "--sigmas"), n=n,
             resolution=resolution, epochs=epochs, seed=seed, bisection_n=bisection_n)


@audit.command()
@click.option("--out", type=click.Path(), required=True, help="Output folder.")
@click.option("--sigmas", default="0:0.8:0.02", show_default=True, help="σ values: list or START:STOP:STEP.")
@click.option("--epsilons", default="0,0.02,0.05,0.1", show_default=True, help="Error budgets ε.")
@click.option("--m", type=int, default=200, show_default=True, help="Labelled points.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue this part's run in --out (same settings; caches reused).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier run of this part in --out.")
def hypotheses(out, sigmas, epsilons, m, seed, resume, overwrite) -> None:
    """Feasible intervals and boxes against σ: how many smoothed hypotheses still fit the data within ε."""
    from ..runs import RunOptions
    from ..studies.audit import run_part

    run_part("hypotheses", out, echo=click.echo, options=RunOptions(resume=resume, overwrite=overwrite),
             sigmas=_levels(sigmas), epsilons=parse_floats(epsilons, "--epsilons"),
             m=m, seed=seed)


def _integers(text: str, what: str) -> list[int]:
    """'1,2,10' → [1, 2, 10]; a number that is not whole is refused."""
    values = parse_floats(text, what)
    if not all(float(v).is_integer() for v in values):
        raise InvalidArgumentError(f"{what} must be comma-separated integers, got {text!r}")
    return [int(v) for v in values]


def _levels(text: str) -> list[float]:
    """'0:0.8:0.02' → [0, 0.02, ..., 0.8]; otherwise a comma list."""
    if ":" not in text:
        return parse_floats(text, "--sigmas")
    parts = parse_floats(text.replace(":", ","), "--sigmas")
    if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
        raise InvalidArgumentError(f"--sigmas range must be START:STOP:STEP with STEP > 0, got {text!r}")
    start, stop, step = parts
    count = round((stop - start) / step) + 1
    return [round(start + k * step, 10) for k in range(count)]


COMMANDS = [audit]
