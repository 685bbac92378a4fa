"""Uncertainty-aware certification commands: ``smoothcert uncertainty certify | sweep | ood | plot``.

``run_uncertainty_certify`` is also what ``smoothcert certify --uncertainty MEASURE --tau T`` calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import InvalidArgumentError
from .common import (
    NOT_RESULT_OPTIONS,
    _load_model_and_data,
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


# --- shared steps ----------------------------------------------------------------------------------------

def _with_defaults(opts: dict) -> dict:
    defaults = {"measure": "entropy", "tau": None, "reject_rate": None, "calibrate_clean": False,
                "calibration_inputs": 500, "calibration_samples": 16, "members": (), "mc_dropout": None}
    return {**defaults, **opts}


def _load(opts: dict, device):
    """Model (wrapped for ensembles / MC dropout), M, checkpoint info, data, number of classes."""
    from ..models import load_checkpoint
    from ..uncertainty import Ensemble, MCDropout

    model, info, data, num_classes = _load_model_and_data(opts, device)
    if opts["members"] and opts["mc_dropout"]:
        raise InvalidArgumentError("give --member or --mc-dropout, not both")
    if opts["members"]:
        models = [model]
        for path in opts["members"]:
            member, member_info = load_checkpoint(path, device)
            if member_info.num_classes != num_classes or (info and member_info.input_shape != info.input_shape):
                raise InvalidArgumentError(f"ensemble member {path} does not match the first model's "
                                           "classes or input shape")
            models.append(member)
        model = Ensemble(models)
    elif opts["mc_dropout"] is not None:
        model = MCDropout(model, opts["mc_dropout"], seed=opts["seed"])
    return model, getattr(model, "num_members", 1), info, data, num_classes


def _heldout(num_test: int, selected: list[int], count: int) -> list[int]:
    if count < 1:
        raise InvalidArgumentError(f"--calibration-inputs must be >= 1, got {count}")
    chosen = set(selected)
    rest = [i for i in range(num_test) if i not in chosen][:count]
    if not rest:
        raise InvalidArgumentError("no held-out test inputs left to calibrate tau: certify fewer (--max/--skip) "
                                   "or give --tau")
    return rest


def resolve_taus(opts: dict, model, members: int, data, num_classes: int, selected: list[int], noise,
                 rates: list[float] | None = None, taus: list[float] | None = None) -> tuple[list[float], dict]:
    """τ values given directly or calibrated on held-out test inputs; also a JSON-able record of how."""
    from ..uncertainty import calibrate_tau
    from ..uncertainty.measures import check_measure

    check_measure(opts["measure"], members)
    if (rates is None) == (taus is None):
        raise InvalidArgumentError("give tau (--tau / --taus) or a rejection rate (--reject-rate / --reject-rates)")
    if taus is not None:
        return list(taus), {"taus": list(taus)}
    held = _heldout(len(data.x_test), selected, opts["calibration_inputs"])
    x_held = data.x_test[held].to(next((p.device for p in model.parameters()), "cpu"))
    values = []
    for rate in rates:
        values.append(calibrate_tau(model, x_held, opts["measure"], rate, num_classes, members=members,
                                    noise=None if opts["calibrate_clean"] else noise,
                                    samples_per_input=opts["calibration_samples"], seed=opts["seed"],
                                    indices=held, batch_size=opts["batch_size"]))
    record = {"reject_rates": list(rates), "taus": values, "calibration_inputs": len(held),
              "calibration": "clean" if opts["calibrate_clean"] else f"noisy x{opts['calibration_samples']}"}
    # Distinct rates can give the same τ (ties); the outcome map needs distinct increasing values.
    return sorted(set(values)), record


def _context(opts, device, data, selected, info, smooth, calibration) -> dict:
    from ..models.checkpoint import asdict_info

    return {"device": str(device),
            "dataset": {"name": data.name, "split_note": data.split_note, "test_inputs": len(data.x_test),
                        "selected": len(selected)},
            "model": asdict_info(info) if info else {"spec": opts["model_spec"], "weights": opts["weights"]},
            "members": list(opts["members"]), "mc_dropout": opts["mc_dropout"],
            "noise": smooth.noise.to_dict(), "tau_calibration": calibration}


IGNORED = NOT_RESULT_OPTIONS


def _build(opts: dict, taus_given: list[float] | None, rates: list[float] | None):
    from ..engine import Engine
    from ..noise import GaussianNoise
    from ..pipeline import select_indices
    from ..smooth import Smooth
    from ..uncertainty import UncertaintyOutcome

    set_threads(opts.get("threads"))
    device = pick_device(opts["device"])
    model, members, info, data, num_classes = _load(opts, device)
    engine = Engine(model, device=device, compile=opts["compile_model"], precision=opts.get("precision", "fp32"),
                    batch_size=parse_batch_size(str(opts["batch_size"])))
    # Calibration passes run before the certification: the engine measures its batch size once, for both.
    opts["batch_size"] = engine.batch_size_for(data.input_shape)
    selected = select_indices(len(data.x_test), opts["skip"], opts["max_inputs"])
    noise = GaussianNoise(opts["sigma"])
    taus, calibration = resolve_taus(opts, model, members, data, num_classes, selected, noise, rates, taus_given)
    outcome = UncertaintyOutcome(num_classes, opts["measure"], taus, members=members)
    smooth = Smooth(engine, num_classes, noise=noise, seed=opts["seed"], outcome_map=outcome)
    context = _context(opts, device, data, selected, info, smooth, calibration)
    arguments = {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items() if k not in IGNORED}
    return smooth, data, selected, context, arguments, taus


def _echo_comparison(path: Path) -> None:
    from ..analysis import read_results
    from ..analysis.uncertainty import radius_comparison

    c = radius_comparison(read_results(path))
    m = c["mean_radius"]
    click.echo(f"{path.name}: {c['correct']}/{c['points']} correctly classified; mean radius there: "
               f"R_cohen {m['cohen']:.3f}, R_i {m['i']:.3f}, R_ii {m['ii']:.3f}; R_ii > R_cohen on "
               f"{100 * c['share_ii_above_cohen']:.1f}%; ⊥ share {c['mean_frac_uncertain']:.3f}")


def run_uncertainty_certify(opts: dict) -> Path:
    """Certify with the uncertainty-aware base classifier (one τ) into ``opts['out']``; returns the path."""
    from ..uncertainty.pipeline import certify_uncertainty_dataset, tau_name

    opts = _with_defaults(opts)
    tau, rate = opts["tau"], opts["reject_rate"]
    smooth, data, selected, context, arguments, taus = _build(
        opts, None if tau is None else [tau], None if rate is None else [rate])
    arguments["tau"] = tau_name(taus[0])
    stats = certify_uncertainty_dataset(
        smooth, data.x_test, data.y_test, opts["out"], n0=opts["n0"], n=opts["n"], alpha=opts["alpha"],
        indices=selected, arguments=arguments, resume=opts["resume"], overwrite=opts["overwrite"],
        record_time=not opts["no_timing"], progress=not opts["quiet"], context=context)
    click.echo(f"certify (uncertainty {opts['measure']}, τ = {taus[0]:.6g}): {stats['inputs']} inputs in "
               f"{stats['seconds']:.1f} s ({stats['samples'] / max(stats['seconds'], 1e-9):,.0f} samples/s) "
               f"→ {opts['out']}")
    _echo_comparison(Path(opts["out"]))
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
@_tau_options
@click.option("--tau", type=float, default=None, help="Uncertainty threshold (u > τ → ⊥); 'inf' never rejects.")
@click.option("--n0", type=int, default=100, show_default=True, help="Samples to select the class.")
@click.option("--n", type=int, default=100_000, show_default=True, help="Samples to estimate probabilities.")
def certify_command(**opts) -> None:
    """CERTIFY with an uncertainty-aware base classifier: radius_i, radius_ii, radius_cohen per input."""
    run_uncertainty_certify(opts)


def _summarize_sweep(paths: list[Path], out_dir: Path, title: str) -> Path:
    from ..analysis import read_results
    from ..analysis.uncertainty import SWEEP_HEADER, radius_comparison, sweep_rows
    from ..document import Table
    from ..report.tables import render_table
    from ..report.uncertainty_plots import plot_tau_sweep, plot_uncertainty_radii

    runs = {p.stem.removeprefix("tau_"): read_results(p) for p in paths}
    rows = sweep_rows(runs)
    table = Table(SWEEP_HEADER, rows)
    (out_dir / "summary.md").write_text(render_table(table, "markdown"))
    (out_dir / "summary.tsv").write_text(render_table(table, "tsv"))
    points = []
    for label, res in runs.items():
        c = radius_comparison(res)
        points.append({"frac_uncertain": c["mean_frac_uncertain"], "share_above": c["share_ii_above_cohen"],
                       **c["mean_radius"]})
        plot_uncertainty_radii(res, out_dir / f"radii_tau_{label}", title=f"{title}, τ = {label}")
    plot_tau_sweep(points, out_dir / "sweep", title=title)
    return out_dir / "summary.md"


@uncertainty.command("sweep")
@model_options
@_members_options
@data_options
@smoothing_options
@_tau_options
@click.option("--taus", default=None, help="Comma-separated τ values (e.g. 0.1,0.5,inf).")
@click.option("--reject-rates", default=None, help="Comma-separated rejection rates to calibrate τ for.")
@click.option("--n0", type=int, default=100, show_default=True)
@click.option("--n", type=int, default=10_000, show_default=True)
def sweep_command(**opts) -> None:
    """τ sweep from ONE sampling pass: --out is a folder; one results file per τ (tau_<τ>.tsv), a summary
    table (summary.md / .tsv) and plots. Each file's certificates hold on their own at level α."""
    from ..uncertainty.pipeline import sweep_uncertainty_dataset

    opts = _with_defaults(opts)
    if opts["reject_rate"] is not None:
        raise InvalidArgumentError("use --reject-rates (plural) with sweep")
    taus = parse_floats(opts["taus"], "--taus") if opts["taus"] else None
    rates = parse_floats(opts["reject_rates"], "--reject-rates") if opts["reject_rates"] else None
    smooth, data, selected, context, arguments, taus = _build(opts, taus, rates)
    out_dir = Path(opts["out"])
    arguments.pop("taus", None)
    arguments.pop("reject_rates", None)
    paths = sweep_uncertainty_dataset(
        smooth, data.x_test, data.y_test, out_dir, n0=opts["n0"], n=opts["n"], alpha=opts["alpha"],
        indices=selected, arguments=arguments, resume=opts["resume"], overwrite=opts["overwrite"],
        record_time=not opts["no_timing"], progress=not opts["quiet"], context=context)
    summary = _summarize_sweep(paths, out_dir, f"{data.name}, {opts['measure']}, σ = {opts['sigma']:g}")
    click.echo(summary.read_text())
    click.echo(f"files: {', '.join(p.name for p in paths)}; summary {summary}")


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
    from ..document import Table
    from ..noise import GaussianNoise
    from ..report.tables import render_table
    from ..report.uncertainty_plots import plot_ood_roc
    from ..uncertainty import calibrate_tau
    from ..uncertainty.ood import auroc_rows, make_ood_sets, read_scores, score_sets

    arguments = {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items() if k not in IGNORED}
    opts = _with_defaults({**opts, "skip": 1, "max_inputs": None, "compile_model": False})
    device = pick_device(opts["device"])
    model, members, info, data, num_classes = _load(opts, device)
    measures = [m.strip() for m in opts["measures"].split(",") if m.strip()]
    noise = GaussianNoise(opts["sigma"])
    if opts["in_count"] < 1 or opts["in_count"] >= len(data.x_test):
        raise InvalidArgumentError(f"--in-count must be in [1, {len(data.x_test) - 1}], got {opts['in_count']}")
    selected = list(range(opts["in_count"]))
    held = _heldout(len(data.x_test), selected, opts["calibration_inputs"])
    taus = [calibrate_tau(model, data.x_test[held].to(device), m, opts["reject_rate"], num_classes,
                          members=members, noise=noise, samples_per_input=opts["calibration_samples"],
                          seed=opts["seed"], indices=held, batch_size=opts["batch_size"]) for m in measures]
    sets = {"test": data.x_test[selected],
            **make_ood_sets(data.input_shape, opts["ood_count"], opts["seed"],
                            [s.strip() for s in opts["sets"].split(",") if s.strip()])}
    out_dir = Path(opts["out"])
    scores_path = out_dir / "scores.tsv"
    arguments["taus"] = taus
    from ..models.checkpoint import asdict_info

    context = {"device": str(device), "dataset": {"name": data.name, "split_note": data.split_note},
               "model": asdict_info(info) if info else {"spec": opts["model_spec"]},
               "calibration_inputs": len(held), "noise": noise.to_dict()}
    stats = score_sets(model, sets, noise, opts["samples"], measures, num_classes, taus, scores_path,
                       members=members, seed=opts["seed"], batch_size=opts["batch_size"], arguments=arguments,
                       resume=opts["resume"], overwrite=opts["overwrite"], progress=not opts["quiet"],
                       context=context)
    scores = read_scores(scores_path)
    header, rows = auroc_rows(scores, "test", measures)
    table = Table(header, rows)
    (out_dir / "auroc.md").write_text(render_table(table, "markdown"))
    (out_dir / "auroc.tsv").write_text(render_table(table, "tsv"))
    (out_dir / "taus.json").write_text(json.dumps(dict(zip(measures, taus, strict=True)), indent=2) + "\n")
    for m in measures:
        for kind in ("clean", "mean_u", "frac_uncertain"):
            key = f"{kind}_{m}"
            plot_ood_roc(scores["test"][key], {s: v[key] for s, v in scores.items() if s != "test"},
                         out_dir / f"roc_{key}", title=f"{data.name}: {kind} of {m}, σ = {opts['sigma']:g}")
    click.echo((out_dir / "auroc.md").read_text())
    click.echo(f"scored {stats['inputs']} images in {stats['seconds']:.1f} s; τ per measure: "
               + ", ".join(f"{m} {t:.4g}" for m, t in zip(measures, taus, strict=True)) + f" → {out_dir}")


@uncertainty.command("plot")
@click.argument("file", type=click.Path())
@click.option("--out", type=click.Path(), default=None, help="Plot path stem (default: beside FILE).")
@click.option("--top2", is_flag=True, help="Also draw the top-2 variants.")
@click.option("--title", default=None)
def plot_command(file, out, top2, title) -> None:
    """Certified-accuracy curves of R_cohen, R_i and R_ii from one uncertainty-aware results file."""
    from ..analysis import read_results
    from ..report.uncertainty_plots import plot_uncertainty_radii

    path = Path(file)
    results = read_results(path)
    certs = ("cohen", "i", "ii", "i_top2", "ii_top2") if top2 else ("cohen", "i", "ii")
    stem = Path(out) if out else path.with_name(path.stem + "_radii")
    written = plot_uncertainty_radii(results, stem, certificates=certs, title=title or path.stem)
    _echo_comparison(path)
    click.echo("plot: " + ", ".join(str(p) for p in written))


COMMANDS = [uncertainty]
