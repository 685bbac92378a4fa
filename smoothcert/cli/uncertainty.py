"""Uncertainty-aware certification commands: ``smoothcert uncertainty certify | sweep | ood | plot | experiment``.

Each parses its options and calls one job of :mod:`smoothcert.studies.uncertainty`, printing the document it
returns. ``run_uncertainty_certify`` is also what ``smoothcert certify --uncertainty MEASURE --tau T`` calls.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..errors import InvalidArgumentError
from .common import (
    NOT_RESULT_OPTIONS,
    _load_model_and_data,
    backend_options,
    build_backend,
    compile_setting,
    data_options,
    model_options,
    parse_batch_size,
    parse_floats,
    pick_device,
    set_threads,
    smoothing_options,
)

MEASURE_HELP = "entropy | max_prob | margin | mutual_info (mutual_info needs --member or --mc-dropout)."


def _members_options(f):
    f = click.option("--member", "members", multiple=True, type=click.Path(),
                     help="Another checkpoint of a deep ensemble with --checkpoint (repeat the option).")(f)
    f = click.option("--mc-dropout", "mc_dropout", type=int, default=None, metavar="T",
                     help="MC dropout with T fixed masks (the model needs dropout layers, e.g. --arch cnn).")(f)
    return f


def _tau_options(f):
    f = click.option("--measure", default="entropy", show_default=True, help=MEASURE_HELP)(f)
    f = click.option("--reject-rate", type=float, default=None,
                     help="Calibrate τ so that the base model rejects this share of held-out inputs.")(f)
    f = click.option("--calibrate-clean", is_flag=True,
                     help="Calibrate on clean held-out inputs (default: on noisy copies of them).")(f)
    f = click.option("--calibration-inputs", type=int, default=500, show_default=True,
                     help="Held-out inputs: test inputs that are not certified (the first ones).")(f)
    f = click.option("--calibration-samples", type=int, default=16, show_default=True,
                     help="Noisy copies per held-out input.")(f)
    return f


# --- from options to the study's arguments ----------------------------------------------------------------

def _with_defaults(opts: dict) -> dict:
    defaults = {"measure": "entropy", "tau": None, "reject_rate": None, "calibrate_clean": False,
                "calibration_inputs": 500, "calibration_samples": 16, "members": (), "mc_dropout": None}
    return {**defaults, **opts}


def _loaded(opts: dict) -> dict:
    """The model, data and engine options named by the options, as keyword arguments of the study's jobs."""
    from ..runs import RunOptions
    from ..studies.uncertainty import Calibration

    set_threads(opts.get("threads"))
    device = pick_device(opts["device"])
    model, info, data, num_classes = _load_model_and_data(opts, device)
    return {"model": model, "data": data, "num_classes": num_classes, "device": device,
            "model_info": info or {"spec": opts["model_spec"], "weights": opts["weights"]},
            "members": tuple(opts["members"]), "mc_dropout": opts["mc_dropout"], "seed": opts["seed"],
            "calibration": Calibration(opts["calibration_inputs"], opts["calibration_samples"],
                                       opts["calibrate_clean"]),
            "arguments": _arguments(opts),
            "options": RunOptions(resume=opts["resume"], overwrite=opts["overwrite"],
                                  record_time=not opts.get("no_timing", False), progress=not opts["quiet"])}


def _arguments(opts: dict) -> dict:
    """The options that change results, for the manifest (a resume must give the same ones)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items() if k not in NOT_RESULT_OPTIONS}


def _sampling(opts: dict) -> dict:
    return {"sigma": opts["sigma"], "n0": opts["n0"], "n": opts["n"], "alpha": opts["alpha"], "skip": opts["skip"],
            "max_inputs": opts["max_inputs"], "batch_size": parse_batch_size(str(opts["batch_size"])),
            "compile": compile_setting(opts["compile_model"]), "precision": opts.get("precision", "fp32"),
            "measure": opts["measure"]}


def _echo(doc) -> None:
    from ..report.markdown import render_markdown

    click.echo(render_markdown(doc, title=False), nl=False)


def run_uncertainty_certify(opts: dict) -> Path:
    """Certify with the uncertainty-aware base classifier (one τ) into ``opts['out']``; returns the path."""
    from ..studies.uncertainty import certify_job

    opts = _with_defaults(opts)
    backend = build_backend(opts)
    _echo(certify_job(out=opts["out"], tau=opts["tau"], reject_rate=opts["reject_rate"], **_loaded(opts),
                      **_sampling(opts), backend=backend))
    return Path(opts["out"])


# --- commands ----------------------------------------------------------------------------------------------

@click.group()
def uncertainty() -> None:
    """Uncertainty-aware certification (R_i, R_ii, Cohen's radius from one set of samples), τ sweeps, OOD."""


@uncertainty.command("certify")
@model_options
@_members_options
@data_options
@smoothing_options
@backend_options
@_tau_options
@click.option("--tau", type=float, default=None, help="Uncertainty threshold (u > τ → ⊥); 'inf' never rejects.")
@click.option("--n0", type=int, default=100, show_default=True, help="Samples to select the class.")
@click.option("--n", type=int, default=100_000, show_default=True, help="Samples to estimate probabilities.")
def certify_command(**opts) -> None:
    """CERTIFY with an uncertainty-aware base classifier: radius_i, radius_ii, radius_cohen per input."""
    run_uncertainty_certify(opts)


@uncertainty.command("sweep")
@model_options
@_members_options
@data_options
@smoothing_options
@backend_options
@_tau_options
@click.option("--taus", default=None, help="Comma-separated τ values (e.g. 0.1,0.5,inf).")
@click.option("--reject-rates", default=None, help="Comma-separated rejection rates to calibrate τ for.")
@click.option("--n0", type=int, default=100, show_default=True)
@click.option("--n", type=int, default=10_000, show_default=True)
def sweep_command(**opts) -> None:
    """τ sweep from ONE sampling pass: --out is a folder; one results file per τ (tau_<τ>.tsv), a summary
    table (summary.md / .tsv) and plots. Each file's certificates hold on their own at level α."""
    from ..studies.uncertainty import sweep_job

    opts = _with_defaults(opts)
    if opts["reject_rate"] is not None:
        raise InvalidArgumentError("use --reject-rates (plural) with sweep")
    taus = parse_floats(opts["taus"], "--taus") if opts["taus"] else None
    rates = parse_floats(opts["reject_rates"], "--reject-rates") if opts["reject_rates"] else None
    backend = build_backend(opts)
    _echo(sweep_job(out_dir=opts["out"], taus=taus, reject_rates=rates, **_loaded(opts), **_sampling(opts),
                    backend=backend))
    click.echo(f"summary: {Path(opts['out']) / 'summary.md'}")


@uncertainty.command("ood")
@model_options
@_members_options
@data_options
@click.option("--sigma", type=float, required=True, help="Noise level σ of the smoothed scores.")
@click.option("--measures", default="entropy,max_prob", show_default=True, help="Comma-separated measures.")
@click.option("--reject-rate", type=float, default=0.1, show_default=True,
              help="τ of each measure: this share of noisy held-out inputs is rejected (for the ⊥ fraction).")
@click.option("--samples", type=int, default=100, show_default=True, help="Noisy copies per image.")
@click.option("--in-count", type=int, default=200, show_default=True, help="In-distribution test images.")
@click.option("--ood-count", type=int, default=200, show_default=True, help="Images per OOD set.")
@click.option("--sets", default="letters,photos,uniform", show_default=True, help="OOD sets.")
@click.option("--calibration-inputs", type=int, default=500, show_default=True)
@click.option("--calibration-samples", type=int, default=16, show_default=True)
@click.option("--batch-size", type=int, default=1024, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--out", type=click.Path(), required=True, help="Output folder.")
@click.option("--resume", is_flag=True)
@click.option("--overwrite", is_flag=True)
@click.option("--quiet", is_flag=True)
def ood_command(**opts) -> None:
    """OOD detection: AUROC of clean u, mean u under noise and ⊥ fraction under noise, test data vs OOD sets."""
    from ..studies.uncertainty import ood_job

    arguments = _arguments(opts)  # the options given, as an earlier run of this command recorded them
    loaded = {**_loaded(_with_defaults(opts)), "arguments": arguments}
    _echo(ood_job(out_dir=opts["out"], sigma=opts["sigma"], measures=_names(opts["measures"]),
                  reject_rate=opts["reject_rate"], samples=opts["samples"], in_count=opts["in_count"],
                  ood_count=opts["ood_count"], sets=_names(opts["sets"]), batch_size=opts["batch_size"], **loaded))
    click.echo(f"report: {Path(opts['out']) / 'auroc.md'}")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@uncertainty.command("plot")
@click.argument("file", type=click.Path())
@click.option("--out", type=click.Path(), default=None, help="Plot path stem (default: beside FILE).")
@click.option("--top2", is_flag=True, help="Also draw the top-2 variants.")
@click.option("--title", default=None)
def plot_command(file, out, top2, title) -> None:
    """Certified-accuracy curves of R_cohen, R_i and R_ii from one uncertainty-aware results file."""
    from ..studies.uncertainty import plot_job

    _echo(plot_job(file, out, top2=top2, title=title))


@uncertainty.command("experiment")
@click.argument("dataset")
@click.option("--out", type=click.Path(), required=True, help="Experiment folder (resumed if it exists).")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder of the MNIST IDX files.")
@click.option("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
@click.option("--report-only", is_flag=True, help="Only rewrite report.md and the figures of a finished run.")
def experiment_command(dataset, out, data_dir, threads, report_only) -> None:
    """The measurements of docs/uncertainty.md on DATASET (digits or mnist): trains the base models, sweeps τ for
    each model and measure, scores OOD sets; writes report.md, results.json and figures into --out."""
    from ..studies.uncertainty import experiment_job

    set_threads(threads)
    started = time.perf_counter()
    experiment_job(dataset, out, data_dir=data_dir, report_only=report_only, echo=click.echo)
    click.echo(f"total {time.perf_counter() - started:.1f} s; report {Path(out) / 'report.md'}")


COMMANDS = [uncertainty]
