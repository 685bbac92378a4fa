"""The measurements of docs/uncertainty.md: τ sweeps of R_cohen, R_i, R_ii for several measures, and OOD AUROC.

Run (resumable; every step reuses what an earlier run of the same folder left)::

    python -m smoothcert.uncertainty.experiments digits --out runs/uncertainty/digits
    python -m smoothcert.uncertainty.experiments mnist --out runs/uncertainty/mnist --data-dir ../shared/data/mnist

Per data set: base models trained with Gaussian noise (σ_train = σ); the certified test inputs are every
``skip``-th test image, τ is calibrated on noisy copies of other test images (disjoint from the certified
ones) to target rejection rates; one sampling pass per (model, measure) certifies every τ at once.
Writes ``report.md`` (tables, timings), ``results.json`` and figures in ``out``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..analysis import read_results
from ..analysis.uncertainty import (
    LABELS,
    SWEEP_HEADER,
    certified_accuracy_of,
    radius_comparison,
    sweep_rows,
)
from ..data import load_dataset
from ..document import BulletList, Document, Paragraph, Section, Table
from ..models import load_checkpoint
from ..models.checkpoint import checkpoint_paths
from ..noise import GaussianNoise
from ..pipeline import select_indices
from ..report.markdown import write_markdown
from ..report.uncertainty_plots import plot_ood_roc, plot_tau_sweep, plot_uncertainty_radii
from ..runs import environment
from ..smooth import Smooth
from ..training import TrainConfig, train_base_model
from ..uncertainty.measures import Ensemble, MCDropout
from ..uncertainty.ood import auroc_rows, make_ood_sets, read_scores, score_sets
from ..uncertainty.outcome import UncertaintyOutcome, calibrate_tau
from ..uncertainty.pipeline import sweep_uncertainty_dataset, tau_name


@dataclass
class Setup:
    """One data set's experiment sizes."""

    sigma: float = 0.25
    arch: str = "lenet"
    epochs: int = 60
    lr: float = 2e-3
    batch: int = 64
    skip: int = 2
    max_inputs: int | None = None
    n0: int = 100
    n: int = 10_000
    alpha: float = 0.001
    rates: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3)
    calibration_inputs: int = 180
    calibration_samples: int = 16
    ensemble: int = 3
    mc_dropout: int = 0  # T passes of an extra dropout CNN (0: none)
    measures: tuple[str, ...] = ("entropy", "max_prob", "margin")
    ensemble_measures: tuple[str, ...] = ("entropy", "mutual_info")
    ood_in: int = 180
    ood_count: int = 180
    ood_samples: int = 100
    ood_rate: float = 0.1
    compile: bool = True
    extra: dict = field(default_factory=dict)


SETUPS = {
    "digits": Setup(mc_dropout=8),
    "mnist": Setup(epochs=10, lr=1e-3, batch=128, skip=20, rates=(0.05, 0.1, 0.2), calibration_inputs=500,
                   calibration_samples=8, ensemble=0, measures=("entropy", "max_prob"), ood_in=200, ood_count=200),
}


def _train(data, setup: Setup, out: Path, arch: str, seed: int, log):
    stem = out / f"{arch}_seed{seed}"
    if checkpoint_paths(stem)[1].is_file():
        model, info = load_checkpoint(stem)
        return model, info, 0.0
    t0 = time.perf_counter()
    cfg = TrainConfig(train_sigma=setup.sigma, epochs=setup.epochs, batch_size=setup.batch, lr=setup.lr, seed=seed)
    model, info, _ = train_base_model(data, arch, cfg, stem, progress=False)
    seconds = time.perf_counter() - t0
    log(f"trained {arch} seed {seed}: clean test accuracy {info.test_accuracy:.4f} in {seconds:.1f} s")
    return model.eval(), info, seconds


def run(dataset: str, out: Path, data_dir: str | None = None, log=print) -> dict:
    """Train, sweep and score one data set; returns the results dict (also written to ``out/results.json``)."""
    setup = SETUPS[dataset]
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(dataset, data_dir=data_dir)
    noise = GaussianNoise(setup.sigma)
    results: dict = {"dataset": dataset, "split_note": data.split_note, "setup": setup.__dict__,
                     "environment": environment(), "machine": platform.processor() or platform.machine(),
                     "models": {}, "sweeps": {}, "ood": {}, "timing": {}}

    # Models: a LeNet (seed 0), an ensemble of LeNets (seeds 0 … M−1), a dropout CNN for MC dropout.
    base, info, seconds = _train(data, setup, out, setup.arch, 0, log)
    results["models"]["single"] = {"test_accuracy": info.test_accuracy, "train_seconds": seconds}
    models = {"single": (base, 1, setup.measures)}
    if setup.ensemble >= 2:
        members = [base]
        for s in range(1, setup.ensemble):
            member, minfo, seconds = _train(data, setup, out, setup.arch, s, log)
            members.append(member)
            results["models"][f"member{s}"] = {"test_accuracy": minfo.test_accuracy, "train_seconds": seconds}
        models[f"ensemble{setup.ensemble}"] = (Ensemble(members), setup.ensemble, setup.ensemble_measures)
    if setup.mc_dropout:
        cnn, cinfo, seconds = _train(data, setup, out, "cnn", 0, log)
        results["models"]["cnn"] = {"test_accuracy": cinfo.test_accuracy, "train_seconds": seconds}
        models[f"mcdropout{setup.mc_dropout}"] = (MCDropout(cnn, setup.mc_dropout), setup.mc_dropout,
                                                  ("entropy", "mutual_info"))

    certified = select_indices(len(data.x_test), setup.skip, setup.max_inputs)
    chosen = set(certified)
    heldout = [i for i in range(len(data.x_test)) if i not in chosen][: setup.calibration_inputs]
    results["certified_inputs"], results["calibration_inputs"] = len(certified), len(heldout)

    # τ sweeps: one sampling pass per (model, measure); the MC-dropout model only enters the OOD table.
    for name, (model, members, measures) in models.items():
        if name.startswith("mcdropout"):
            continue
        for measure in measures:
            key = f"{name}_{measure}"
            t0 = time.perf_counter()
            calibrated = [calibrate_tau(model, data.x_test[heldout], measure, r, data.num_classes,
                                        members=members, noise=noise, samples_per_input=setup.calibration_samples,
                                        indices=heldout) for r in setup.rates]
            taus = sorted({*calibrated, math.inf})
            rate_of: dict[str, float | None] = {tau_name(t): None for t in taus}
            rate_of.update({tau_name(t): r for r, t in zip(setup.rates, calibrated, strict=True)})
            calibration_seconds = time.perf_counter() - t0
            om = UncertaintyOutcome(data.num_classes, measure, taus, members=members)
            smooth = Smooth(model, data.num_classes, noise=noise, batch_size=1024, outcome_map=om,
                            compile=setup.compile)
            folder = out / key
            resume = folder.is_dir()
            t0 = time.perf_counter()
            paths = sweep_uncertainty_dataset(smooth, data.x_test, data.y_test, folder, n0=setup.n0, n=setup.n,
                                              alpha=setup.alpha, indices=certified, resume=resume,
                                              progress=False, context={"experiment": key})
            seconds = time.perf_counter() - t0
            manifest = json.loads(paths[0].with_suffix(".json").read_text())
            runs = {tau_name(t): read_results(p) for t, p in zip(taus, paths, strict=True)}
            results["sweeps"][key] = {
                "taus": [tau_name(t) for t in taus], "target_rates": rate_of,
                "rows": sweep_rows(runs), "comparison": {k: radius_comparison(v) for k, v in runs.items()},
                "calibration_seconds": calibration_seconds, "seconds_this_call": seconds,
                "timing": manifest.get("timing", {}),
            }
            log(f"{key}: τ = {', '.join(tau_name(t) for t in taus)}; {seconds:.1f} s "
                f"({manifest.get('timing', {}).get('samples_per_second', float('nan')):,.0f} samples/s)")

    # OOD: clean u, mean u and ⊥ fraction under noise; in-distribution = the first certified test images.
    ood_sets = make_ood_sets(data.input_shape, setup.ood_count, seed=0)
    in_ids = certified[: setup.ood_in]
    for name, (model, members, measures) in models.items():
        measures = tuple(dict.fromkeys(("entropy", "max_prob", "margin", *measures)))
        taus = [calibrate_tau(model, data.x_test[heldout], m, setup.ood_rate, data.num_classes, members=members,
                              noise=noise, samples_per_input=setup.calibration_samples, indices=heldout)
                for m in measures]
        path = out / f"ood_{name}" / "scores.tsv"
        t0 = time.perf_counter()
        score_sets(model, {"test": data.x_test[in_ids], **ood_sets}, noise, setup.ood_samples, measures,
                   data.num_classes, taus, path, members=members, resume=path.is_file(), progress=False,
                   context={"experiment": f"ood_{name}"})
        scores = read_scores(path)
        header, rows = auroc_rows(scores, "test", measures)
        results["ood"][name] = {"header": header, "rows": rows, "taus": dict(zip(measures, taus, strict=True)),
                                "seconds_this_call": time.perf_counter() - t0}
        for kind in ("clean", "mean_u", "frac_uncertain"):
            key = f"{kind}_entropy"
            plot_ood_roc(scores["test"][key], {s: v[key] for s, v in scores.items() if s != "test"},
                         out / f"ood_{name}" / f"roc_{key}", title=f"{dataset} {name}: {kind} of entropy")
        log(f"ood {name}: done")

    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    refresh(out)
    return results


RADII = (0.0, 0.25, 0.5, 0.75)


def refresh(out: Path) -> None:
    """Rewrite ``report.md`` and the figures of a finished run from ``results.json`` and its result files."""
    results = json.loads((out / "results.json").read_text())
    _figures(results, out, results["dataset"])
    write_markdown(report(results, out), out / "report.md")


def _target_tau(sweep: dict, rate: float = 0.1) -> str | None:
    rate_of = sweep["target_rates"]
    return min((t for t, r in rate_of.items() if r is not None), key=lambda t: abs(rate_of[t] - rate), default=None)


def _figures(results: dict, out: Path, dataset: str) -> None:
    points = []
    for key, sweep in results["sweeps"].items():
        for comp in sweep["comparison"].values():
            points.append({"series": key, "frac_uncertain": comp["mean_frac_uncertain"],
                           "share_above": comp["share_ii_above_cohen"], **comp["mean_radius"]})
    if points:
        plot_tau_sweep(points, out / "sweep", title=f"{dataset}: τ sweep (one pass per model and measure)")
    for key, sweep in results["sweeps"].items():
        rate_of = sweep["target_rates"]
        target = _target_tau(sweep)
        if target is not None:
            res = read_results(out / key / f"tau_{target}.tsv")
            plot_uncertainty_radii(res, out / f"radii_{key}",
                                   title=f"{dataset}, {key}, τ = {target} (target rejection {rate_of[target]:g})")


def accuracy_rows(out: Path, key: str, tau: str) -> list[list]:
    """Certified accuracy at :data:`RADII` of every certificate, from ``out/key/tau_<τ>.tsv``."""
    res = read_results(out / key / f"tau_{tau}.tsv")
    return [[LABELS[c], *certified_accuracy_of(res, c, RADII), radius_comparison(res)["acr"][c]]
            for c in ("cohen", "i", "ii", "i_top2", "ii_top2")]


def report(results: dict, out: Path) -> Document:
    """One data set's results: models, a section per τ sweep and per OOD score table."""
    models = [f"model {name}: clean test accuracy {m['test_accuracy']:.4f}; training {m['train_seconds']:.1f} s"
              for name, m in results["models"].items()]
    blocks: list = [
        Paragraph(f"Data: {results['split_note']}. Certified: {results['certified_inputs']} test images; τ "
                  f"calibrated on noisy copies of {results['calibration_inputs']} other test images."),
        BulletList(models),
    ]
    for key, sweep in results["sweeps"].items():
        rows = [[f"{r[0]} ({sweep['target_rates'].get(r[0]) or '—'})", *r[1:]] for r in sweep["rows"]]
        t = sweep["timing"]
        section = [Table(["τ (target rate)", *SWEEP_HEADER[1:]], rows),
                   Paragraph(f"One pass: {t.get('inputs', 0)} inputs × "
                             f"{t.get('samples', 0) // max(t.get('inputs', 1), 1):,} samples in "
                             f"{t.get('seconds', float('nan')):.1f} s "
                             f"({t.get('samples_per_second', float('nan')):,.0f} samples/s); calibration "
                             f"{sweep['calibration_seconds']:.1f} s.")]
        target = _target_tau(sweep)
        if target is not None:
            section += [Paragraph(f"Certified accuracy (label certified) at τ = {target} (target rejection "
                                  f"{sweep['target_rates'][target]:g}):"),
                        Table(["radius", *(f"r = {r:g}" for r in RADII), "ACR"], accuracy_rows(out, key, target))]
        blocks.append(Section(key, section))
    for name, ood in results["ood"].items():
        blocks.append(Section(f"OOD AUROC, {name} (τ for the ⊥ fraction: 10 % of noisy held-out inputs rejected)",
                              [Table(ood["header"], ood["rows"]),
                               Paragraph(f"Scoring time {ood['seconds_this_call']:.1f} s.")]))
    return Document(f"Uncertainty-aware certification: {results['dataset']}", blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(SETUPS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--report-only", action="store_true",
                        help="Only rewrite report.md and the figures of a finished run.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.report_only:
        refresh(args.out)
        return
    started = time.perf_counter()
    run(args.dataset, args.out, args.data_dir)
    print(f"total {time.perf_counter() - started:.1f} s; report {args.out / 'report.md'}")


if __name__ == "__main__":
    main()
