"""The jobs of the uncertainty-aware certification study (docs/uncertainty.md), each writing files and
returning the :class:`~smoothcert.document.Document` that reports them.

- :func:`certify_job`: one results file at one τ, given or calibrated (``smoothcert uncertainty certify``
  and ``smoothcert certify --uncertainty``);
- :func:`sweep_job`: a τ sweep from one sampling pass into a folder: one results file per τ, ``summary.md``
  / ``.tsv`` and plots (``smoothcert uncertainty sweep``);
- :func:`ood_job`: OOD scores, the AUROC table (``auroc.md`` / ``.tsv``) and ROC curves into a folder
  (``smoothcert uncertainty ood``);
- :func:`plot_job`: the certified-accuracy curves of one results file (``smoothcert uncertainty plot``);
- :func:`experiment_job`: the measurements of docs/uncertainty.md for one data set (``smoothcert
  uncertainty experiment digits|mnist``): trains the base models, then one sweep pass per (model, measure)
  and the OOD tables, into one resumable folder with ``report.md``, ``results.json`` and figures.

All of them calibrate τ, sweep and score OOD sets with the same steps (:func:`calibrate_taus`,
:func:`sweep_summary`, :func:`score_ood`). Held-out inputs for calibrating τ are test inputs that are not
certified, so τ depends on none of the certification's noise.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ...analysis import read_results
from ...analysis.uncertainty import LABELS, SWEEP_HEADER, certified_accuracy_of, radius_comparison, sweep_rows
from ...backends import Backend, ModelSource
from ...data import Dataset, load_dataset
from ...document import BulletList, Document, Figure, Paragraph, Section, Table
from ...engine import Engine
from ...errors import InvalidArgumentError
from ...models import load_checkpoint
from ...models.checkpoint import CheckpointInfo, asdict_info, checkpoint_paths
from ...noise import GaussianNoise, Noise
from ...pipeline import int8_calibration, select_indices
from ...report.html import write_report
from ...report.tables import render_table
from ...runs import RunOptions, environment
from ...smooth import Smooth
from ...training import TrainConfig, train_base_model
from ...uncertainty.measures import Ensemble, MCDropout, check_measure
from ...uncertainty.outcome import UncertaintyOutcome, calibrate_tau
from ...validate import check_count, check_num_classes, check_output_folder
from .certify import check_tau
from .ood import OOD_SETS, SCORE_KINDS, auroc_table, make_ood_sets, read_scores, score_sets
from .pipeline import certify_uncertainty_dataset, sweep_uncertainty_dataset, tau_name
from .plots import plot_ood_roc, plot_tau_sweep, plot_uncertainty_radii

Echo = Callable[[str], None]


# --- steps shared by the jobs -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """How τ is calibrated to a rejection rate: on ``samples`` noisy copies (``clean``: on the clean inputs)
    of the first ``inputs`` test inputs that are not certified."""

    inputs: int = 500
    samples: int = 16
    clean: bool = False

    def __post_init__(self) -> None:
        check_count("--calibration-inputs", self.inputs)
        check_count("--calibration-samples", self.samples)


def with_members(model: nn.Module, num_classes: int, input_shape: Sequence[int], *,
                 members: Sequence[str | Path] = (), mc_dropout: int | None = None, seed: int = 0,
                 device: torch.device | str | None = None) -> tuple[nn.Module, int]:
    """The base model the study evaluates, with its number of members M: ``model`` alone (M = 1), a deep
    ensemble of ``model`` and the checkpoints ``members``, or ``model`` under MC dropout with ``mc_dropout``
    fixed masks (M = T)."""
    if members and mc_dropout is not None:
        raise InvalidArgumentError("give --member or --mc-dropout, not both")
    if members:
        models = [model]
        for path in members:
            member, info = load_checkpoint(path, device)
            if info.num_classes != num_classes or tuple(info.input_shape) != tuple(input_shape):
                raise InvalidArgumentError(f"ensemble member {path} does not match the first model's "
                                           "classes or input shape")
            models.append(member)
        model = Ensemble(models)
    elif mc_dropout is not None:
        model = MCDropout(model, mc_dropout, seed=seed)
    return model, getattr(model, "num_members", 1)


@dataclass(frozen=True)
class MembersSource(ModelSource):
    """Where a backend's worker builds the study's base model: the first network from its checkpoint or
    factory, then the deep ensemble with the checkpoints ``members`` or MC dropout with ``mc_dropout`` masks
    of ``seed``, exactly as :func:`with_members` builds it on the driver."""

    members: tuple[str, ...] = ()
    mc_dropout: int | None = None
    seed: int = 0
    num_classes: int = 2
    input_shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "members", tuple(str(Path(p).resolve()) for p in self.members))

    def load(self, device: torch.device | str) -> nn.Module:
        model = super().load(device)
        return with_members(model, self.num_classes, self.input_shape, members=self.members,
                            mc_dropout=self.mc_dropout, seed=self.seed, device=device)[0]

    def to_dict(self) -> dict:
        return {**super().to_dict(), "members": list(self.members), "mc_dropout": self.mc_dropout}


def for_members(backend: Backend | None, members: Sequence[str | Path], mc_dropout: int | None, seed: int,
                num_classes: int, input_shape: Sequence[int]) -> Backend | None:
    """``backend`` with workers that build the ensemble or MC-dropout model of :func:`with_members` (a
    backend without a model source, the serial one, is returned as it is)."""
    if backend is None or backend.source is None or (not members and mc_dropout is None):
        return backend
    source = backend.source
    return backend.for_source(MembersSource(checkpoint=source.checkpoint, factory=source.factory,
                                            weights=source.weights, members=tuple(str(p) for p in members),
                                            mc_dropout=mc_dropout, seed=seed, num_classes=num_classes,
                                            input_shape=tuple(input_shape)))


def heldout_indices(num_test: int, certified: Sequence[int], count: int) -> list[int]:
    """The first ``count`` test indices outside ``certified``: the inputs τ is calibrated on."""
    count = check_count("--calibration-inputs", count)
    chosen = set(certified)
    rest = [i for i in range(num_test) if i not in chosen][:count]
    if not rest:
        raise InvalidArgumentError("no held-out test inputs left to calibrate tau: certify fewer (--max/--skip) "
                                   "or give --tau")
    return rest


def calibrate_taus(model: nn.Module, x_heldout: torch.Tensor, heldout: Sequence[int], measure: str,
                   rates: Sequence[float], num_classes: int, *, members: int = 1, noise: Noise | None = None,
                   samples: int = 16, seed: int = 0, batch_size: int = 1024) -> list[float]:
    """One calibrated τ per rejection rate (in the order of ``rates``), on the held-out inputs ``x_heldout``
    (test indices ``heldout``, which seed their noise); on their clean values when ``noise`` is None."""
    return [calibrate_tau(model, x_heldout, measure, rate, num_classes, members=members, noise=noise,
                          samples_per_input=samples, seed=seed, indices=heldout, batch_size=batch_size)
            for rate in rates]


def choose_taus(model: nn.Module, members: int, data: Dataset, measure: str, num_classes: int,
                certified: Sequence[int], noise: Noise, *, taus: Sequence[float] | None = None,
                rates: Sequence[float] | None = None, calibration: Calibration | None = None, seed: int = 0,
                batch_size: int = 1024, option: str = "--tau") -> tuple[list[float], dict]:
    """τ values given (each checked by :func:`~.certify.check_tau`, ``option`` naming them) or calibrated on
    held-out test inputs to the rejection ``rates``; also a JSON-able record of how they were chosen."""
    check_measure(measure, members)
    calibration = calibration or Calibration()
    if (rates is None) == (taus is None):
        raise InvalidArgumentError("give tau (--tau / --taus) or a rejection rate (--reject-rate / --reject-rates)")
    if taus is not None:
        values = [check_tau(t, measure, option) for t in taus]
        return values, {"taus": values}
    held = heldout_indices(len(data.x_test), certified, calibration.inputs)
    x_held = data.x_test[held].to(next((p.device for p in model.parameters()), "cpu"))
    values = calibrate_taus(model, x_held, held, measure, rates, num_classes, members=members,
                            noise=None if calibration.clean else noise, samples=calibration.samples, seed=seed,
                            batch_size=batch_size)
    record = {"reject_rates": list(rates), "taus": values, "calibration_inputs": len(held),
              "calibration": "clean" if calibration.clean else f"noisy x{calibration.samples}"}
    # Distinct rates can give the same τ (ties); the outcome map needs distinct increasing values.
    return sorted(set(values)), record


def _model_section(model_info: CheckpointInfo | Mapping | None) -> dict:
    if isinstance(model_info, CheckpointInfo):
        return asdict_info(model_info)
    return dict(model_info or {})


@dataclass(frozen=True)
class _Prepared:
    smooth: Smooth
    certified: list[int]
    taus: list[float]
    context: dict


def _prepare(model: nn.Module, data: Dataset, *, num_classes: int, sigma: float, measure: str,
             taus: Sequence[float] | None, rates: Sequence[float] | None, calibration: Calibration | None,
             members: Sequence[str | Path], mc_dropout: int | None, seed: int, skip: int, max_inputs: int | None,
             device: torch.device | str | None, batch_size: int | str, compile: bool, precision: str,
             model_info: CheckpointInfo | Mapping | None, option: str) -> _Prepared:
    """Members, engine, certified inputs, τ and the Smooth of certify_job and sweep_job, before any file."""
    num_classes = check_num_classes(num_classes)
    check_measure(measure, 2)  # a known name before anything is loaded; members are checked below
    for t in taus or ():
        check_tau(t, measure, option)
    model, m = with_members(model, num_classes, data.input_shape, members=members, mc_dropout=mc_dropout,
                            seed=seed, device=device)
    engine = Engine(model, device=device, compile=compile, precision=precision, batch_size=batch_size,
                    calibration=int8_calibration(precision, data, GaussianNoise(sigma)))
    # Calibration passes run before the certification: the engine measures its batch size once, for both.
    measured = engine.batch_size_for(data.input_shape)
    certified = select_indices(len(data.x_test), skip, max_inputs)
    noise = GaussianNoise(sigma)
    taus, record = choose_taus(model, m, data, measure, num_classes, certified, noise, taus=taus, rates=rates,
                               calibration=calibration, seed=seed, batch_size=measured, option=option)
    outcome = UncertaintyOutcome(num_classes, measure, taus, members=m)
    smooth = Smooth(engine, num_classes, noise=noise, seed=seed, outcome_map=outcome)
    context = {"device": str(engine.device),
               "dataset": {"name": data.name, "split_note": data.split_note, "test_inputs": len(data.x_test),
                           "selected": len(certified)},
               "model": _model_section(model_info), "members": [str(p) for p in members], "mc_dropout": mc_dropout,
               "noise": noise.to_dict(), "tau_calibration": record}
    return _Prepared(smooth, certified, taus, context)


def comparison_paragraph(path: str | Path) -> Paragraph:
    """One paragraph on an uncertainty-aware results file: radii on correctly classified points, R_ii against
    R_cohen, the ⊥ share (:func:`~smoothcert.analysis.uncertainty.radius_comparison`)."""
    path = Path(path)
    c = radius_comparison(read_results(path))
    m = c["mean_radius"]
    return Paragraph(f"{path.name}: {c['correct']}/{c['points']} correctly classified; mean radius there: "
                     f"R_cohen {m['cohen']:.3f}, R_i {m['i']:.3f}, R_ii {m['ii']:.3f}; R_ii > R_cohen on "
                     f"{100 * c['share_ii_above_cohen']:.1f}%; ⊥ share {c['mean_frac_uncertain']:.3f}")


def sweep_summary(paths: Sequence[Path], out_dir: str | Path, title: str) -> Document:
    """The summary of a τ sweep's results files (``tau_<τ>.tsv``): the sweep table, the τ-sweep plot and the
    radii plot of each τ, written to ``out_dir`` (``summary.md``, ``summary.tsv``, PNG + SVG)."""
    out_dir = Path(out_dir)
    runs = {Path(p).stem.removeprefix("tau_"): read_results(p) for p in paths}
    table = Table(SWEEP_HEADER, sweep_rows(runs))
    points, figures = [], []
    for label, res in runs.items():
        c = radius_comparison(res)
        points.append({"frac_uncertain": c["mean_frac_uncertain"], "share_above": c["share_ii_above_cohen"],
                       **c["mean_radius"]})
        plot_uncertainty_radii(res, out_dir / f"radii_tau_{label}", title=f"{title}, τ = {label}")
        figures.append(Figure(f"radii_tau_{label}.png", f"certified accuracy of R_cohen, R_i and R_ii against "
                                                        f"radius at τ = {label}"))
    plot_tau_sweep(points, out_dir / "sweep", title=title)
    doc = Document(title, [table, Figure("sweep.png", "mean R_i and R_ii on correctly classified points and the "
                                                      "share with R_ii > R_cohen against the ⊥ share"), *figures])
    write_report(doc, out_dir / "summary.md")
    (out_dir / "summary.tsv").write_text(render_table(table, "tsv"), encoding="utf-8")
    return doc


def score_ood(model: nn.Module, members: int, data: Dataset, in_ids: Sequence[int], heldout: Sequence[int],
              measures: Sequence[str], rate: float, noise: Noise, out_dir: str | Path, *, num_classes: int,
              samples: int, ood_count: int, sets: Sequence[str] = OOD_SETS, calibration_samples: int = 16,
              seed: int = 0, batch_size: int = 1024, arguments: Mapping[str, object] | None = None,
              options: RunOptions | None = None, context: Mapping[str, object] | None = None,
              title: str = "OOD detection") -> tuple[Document, dict]:
    """OOD scores of the test inputs ``in_ids`` against the OOD ``sets`` (``ood_count`` images each), with one
    τ per measure calibrated to reject ``rate`` of noisy copies of the ``heldout`` inputs.

    Writes ``out_dir/scores.tsv`` (resumable, with its manifest), ``auroc.md`` / ``auroc.tsv`` and a ROC plot
    per (measure, score kind). Returns the AUROC document and a JSON-able record (header, rows, τ, seconds).
    ``arguments`` (recorded in the manifest; default: the scoring's own) gets the calibrated τ.
    """
    out_dir = Path(out_dir)
    options = options or RunOptions()
    measures = list(dict.fromkeys(measures))
    x_held = data.x_test[list(heldout)].to(next((p.device for p in model.parameters()), "cpu"))
    taus = [calibrate_taus(model, x_held, heldout, m, [rate], num_classes, members=members, noise=noise,
                           samples=calibration_samples, seed=seed, batch_size=batch_size)[0] for m in measures]
    ood_sets = {"test": data.x_test[list(in_ids)], **make_ood_sets(data.input_shape, ood_count, seed, sets)}
    t0 = time.perf_counter()
    path = out_dir / "scores.tsv"
    score_sets(model, ood_sets, noise, samples, measures, num_classes, taus, path, members=members, seed=seed,
               batch_size=batch_size, arguments=None if arguments is None else {**arguments, "taus": taus},
               resume=options.resume, overwrite=options.overwrite, progress=options.progress, context=context)
    seconds = time.perf_counter() - t0
    scores = read_scores(path)
    table = auroc_table(scores, "test", measures)
    figures = []
    sigma = getattr(noise, "sigma", noise.scale)
    for m in measures:
        for kind in SCORE_KINDS:
            key = f"{kind}_{m}"
            plot_ood_roc(scores["test"][key], {s: v[key] for s, v in scores.items() if s != "test"},
                         out_dir / f"roc_{key}", title=f"{title}: {kind} of {m}, σ = {sigma:g}")
            figures.append(Figure(f"roc_{key}.png", f"ROC curves of {kind} of {m}, one per OOD set"))
    doc = Document(title, [
        Paragraph(f"AUROC (OOD positive) of {len(in_ids)} test images against each OOD set "
                  f"({ood_count} images each); τ of the ⊥ fraction rejects {rate:g} of noisy held-out inputs."),
        table,
        Table(["measure", "τ"], [[m, t] for m, t in zip(measures, taus, strict=True)], decimals=4),
        Paragraph(f"Scoring time {seconds:.1f} s."),
        *figures,
    ])
    write_report(doc, out_dir / "auroc.md")
    (out_dir / "auroc.tsv").write_text(render_table(table, "tsv"), encoding="utf-8")
    record = {"header": list(table.header), "rows": [list(r) for r in table.rows],
              "taus": dict(zip(measures, taus, strict=True)), "seconds_this_call": seconds}
    return doc, record


# --- the command jobs ---------------------------------------------------------------------------------------

def certify_job(
    model: nn.Module,
    data: Dataset,
    out: str | Path,
    *,
    num_classes: int,
    sigma: float,
    measure: str = "entropy",
    tau: float | None = None,
    reject_rate: float | None = None,
    calibration: Calibration | None = None,
    members: Sequence[str | Path] = (),
    mc_dropout: int | None = None,
    n0: int = 100,
    n: int = 100_000,
    alpha: float = 0.001,
    seed: int = 0,
    skip: int = 1,
    max_inputs: int | None = None,
    device: torch.device | str | None = None,
    batch_size: int | str = "auto",
    compile: bool = False,
    precision: str = "fp32",
    model_info: CheckpointInfo | Mapping | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
    backend: Backend | None = None,
) -> Document:
    """Certify every ``skip``-th test input (at most ``max_inputs``) with the uncertainty-aware base classifier
    at one τ (``tau``, or calibrated to ``reject_rate``) into the results file ``out`` (columns:
    :data:`~.pipeline.UNCERTAINTY_COLUMNS`; manifest beside it, resumable).

    ``model`` is one network ([N, *shape] → [N, C]); ``members`` (further checkpoints) make it a deep ensemble,
    ``mc_dropout`` = T runs it under T dropout masks. ``arguments`` are recorded in the manifest (default: the
    sampling's own); ``model_info`` describes the model there. ``backend`` (:mod:`smoothcert.backends`, default
    serial) computes the rows, here or on Ray workers (which build ``members`` or ``mc_dropout`` too); the rows
    are the same. Returns a two-paragraph document: the run and the comparison of the radii.
    """
    options = options or RunOptions()
    prep = _prepare(model, data, num_classes=num_classes, sigma=sigma, measure=measure,
                    taus=None if tau is None else [tau], rates=None if reject_rate is None else [reject_rate],
                    calibration=calibration, members=members, mc_dropout=mc_dropout, seed=seed, skip=skip,
                    max_inputs=max_inputs, device=device, batch_size=batch_size, compile=compile,
                    precision=precision, model_info=model_info, option="--tau")
    args = None if arguments is None else {**arguments, "tau": tau_name(prep.taus[0])}
    stats = certify_uncertainty_dataset(
        prep.smooth, data.x_test, data.y_test, out, n0=n0, n=n, alpha=alpha, indices=prep.certified,
        arguments=args, options=options, context=prep.context,
        backend=for_members(backend, members, mc_dropout, seed, num_classes, data.input_shape))
    run = Paragraph(f"certify (uncertainty {measure}, τ = {prep.taus[0]:.6g}): {stats['inputs']} inputs in "
                    f"{stats['seconds']:.1f} s ({stats['samples'] / max(stats['seconds'], 1e-9):,.0f} samples/s) "
                    f"→ {out}")
    return Document(f"Uncertainty-aware CERTIFY: {Path(out).name}", [run, comparison_paragraph(out)])


def sweep_job(
    model: nn.Module,
    data: Dataset,
    out_dir: str | Path,
    *,
    num_classes: int,
    sigma: float,
    measure: str = "entropy",
    taus: Sequence[float] | None = None,
    reject_rates: Sequence[float] | None = None,
    calibration: Calibration | None = None,
    members: Sequence[str | Path] = (),
    mc_dropout: int | None = None,
    n0: int = 100,
    n: int = 10_000,
    alpha: float = 0.001,
    seed: int = 0,
    skip: int = 1,
    max_inputs: int | None = None,
    device: torch.device | str | None = None,
    batch_size: int | str = "auto",
    compile: bool = False,
    precision: str = "fp32",
    model_info: CheckpointInfo | Mapping | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
    backend: Backend | None = None,
) -> Document:
    """A τ sweep from ONE sampling pass: ``out_dir/tau_<τ>.tsv`` per τ (given, or calibrated to each of
    ``reject_rates``), each exactly the file :func:`certify_job` writes at that τ, and their summary
    (:func:`sweep_summary`). Each file's certificates hold on their own at level α. Arguments as in
    :func:`certify_job`; returns the summary document."""
    options = options or RunOptions()
    prep = _prepare(model, data, num_classes=num_classes, sigma=sigma, measure=measure, taus=taus,
                    rates=reject_rates, calibration=calibration, members=members, mc_dropout=mc_dropout, seed=seed,
                    skip=skip, max_inputs=max_inputs, device=device, batch_size=batch_size, compile=compile,
                    precision=precision, model_info=model_info, option="--taus")
    args = None if arguments is None else {k: v for k, v in arguments.items() if k not in ("taus", "reject_rates")}
    paths = sweep_uncertainty_dataset(
        prep.smooth, data.x_test, data.y_test, out_dir, n0=n0, n=n, alpha=alpha, indices=prep.certified,
        arguments=args, options=options, context=prep.context,
        backend=for_members(backend, members, mc_dropout, seed, num_classes, data.input_shape))
    return sweep_summary(paths, out_dir, f"{data.name}, {measure}, σ = {sigma:g}")


def ood_job(
    model: nn.Module,
    data: Dataset,
    out_dir: str | Path,
    *,
    num_classes: int,
    sigma: float,
    measures: Sequence[str] = ("entropy", "max_prob"),
    reject_rate: float = 0.1,
    samples: int = 100,
    in_count: int = 200,
    ood_count: int = 200,
    sets: Sequence[str] = OOD_SETS,
    calibration: Calibration | None = None,
    members: Sequence[str | Path] = (),
    mc_dropout: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    batch_size: int = 1024,
    model_info: CheckpointInfo | Mapping | None = None,
    arguments: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
) -> Document:
    """OOD detection with smoothed uncertainty: the first ``in_count`` test images against the OOD ``sets``,
    scored by clean u, mean u under noise and the ⊥ fraction under noise for each measure (:func:`score_ood`;
    τ calibrated on the next ``calibration.inputs`` test images). Returns the AUROC document."""
    num_classes = check_num_classes(num_classes)
    calibration = calibration or Calibration()
    for m in measures:
        check_measure(m, 2)
    in_count = check_count("--in-count", in_count)
    if in_count >= len(data.x_test):
        raise InvalidArgumentError(f"--in-count must be in [1, {len(data.x_test) - 1}], got {in_count}")
    model, m = with_members(model, num_classes, data.input_shape, members=members, mc_dropout=mc_dropout,
                            seed=seed, device=device)
    in_ids = list(range(in_count))
    held = heldout_indices(len(data.x_test), in_ids, calibration.inputs)
    noise = GaussianNoise(sigma)
    context = {"device": str(device if device is not None else next((p.device for p in model.parameters()), "cpu")),
               "dataset": {"name": data.name, "split_note": data.split_note},
               "model": _model_section(model_info), "calibration_inputs": len(held), "noise": noise.to_dict()}
    doc, _ = score_ood(model, m, data, in_ids, held, measures, reject_rate, noise, out_dir, num_classes=num_classes,
                       samples=samples, ood_count=ood_count, sets=sets, calibration_samples=calibration.samples,
                       seed=seed, batch_size=batch_size, arguments=arguments, options=options, context=context,
                       title=f"OOD detection: {data.name}")
    return doc


def plot_job(file: str | Path, out: str | Path | None = None, *, top2: bool = False,
             title: str | None = None) -> Document:
    """Certified-accuracy curves of R_cohen, R_i and R_ii (``top2``: and the top-2 radii) from one results
    file, at ``out`` (a path stem; default beside the file) as PNG + SVG. Returns the comparison of the radii
    and the plot's paths."""
    path = Path(file)
    results = read_results(path)
    certs = ("cohen", "i", "ii", "i_top2", "ii_top2") if top2 else ("cohen", "i", "ii")
    stem = Path(out) if out else path.with_name(path.stem + "_radii")
    written = plot_uncertainty_radii(results, stem, certificates=certs, title=title or path.stem)
    return Document(f"Uncertainty-aware radii: {path.name}",
                    [comparison_paragraph(path), Paragraph("plot: " + ", ".join(str(p) for p in written))])


# --- the experiment of docs/uncertainty.md -------------------------------------------------------------------

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

#: Radii of the certified-accuracy tables of the report.
RADII = (0.0, 0.25, 0.5, 0.75)


def _train(data, setup: Setup, out: Path, arch: str, seed: int, echo: Echo):
    stem = out / f"{arch}_seed{seed}"
    if checkpoint_paths(stem)[1].is_file():
        model, info = load_checkpoint(stem)
        return model, info, 0.0
    t0 = time.perf_counter()
    cfg = TrainConfig(train_sigma=setup.sigma, epochs=setup.epochs, batch_size=setup.batch, lr=setup.lr, seed=seed)
    model, info, _ = train_base_model(data, arch, cfg, stem, progress=False)
    seconds = time.perf_counter() - t0
    echo(f"trained {arch} seed {seed}: clean test accuracy {info.test_accuracy:.4f} in {seconds:.1f} s")
    return model.eval(), info, seconds


def experiment_job(dataset: str, out: str | Path, *, data_dir: str | Path | None = None, report_only: bool = False,
                   echo: Echo = print) -> Document:
    """The measurements of docs/uncertainty.md for ``dataset`` (a key of :data:`SETUPS`), into ``out``.

    Base models are trained with Gaussian noise (σ_train = σ): a LeNet, an ensemble of LeNets and, where the
    setup asks, a dropout CNN for MC dropout. The certified test inputs are every ``skip``-th test image; τ is
    calibrated on noisy copies of other test images to the target rejection rates; one sampling pass per
    (model, measure) certifies every τ at once (one engine per model). Resumable: every step reuses what an
    earlier run of the same folder left. ``report_only``: only rewrite ``report.md`` and the figures of a
    finished run. Returns the report (``out/report.md``; also ``results.json`` and figures).
    """
    out = Path(out)
    if report_only:
        return refresh_report(out)
    if dataset not in SETUPS:
        raise InvalidArgumentError(f"unknown experiment {dataset!r}; choose one of {', '.join(SETUPS)}")
    setup = SETUPS[dataset]
    check_output_folder(out, "experiment folder")
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(dataset, data_dir=data_dir)
    noise = GaussianNoise(setup.sigma)
    results: dict = {"dataset": dataset, "split_note": data.split_note, "setup": setup.__dict__,
                     "environment": environment(), "machine": platform.processor() or platform.machine(),
                     "models": {}, "sweeps": {}, "ood": {}, "timing": {}}

    # Models: a LeNet (seed 0), an ensemble of LeNets (seeds 0 … M−1), a dropout CNN for MC dropout.
    base, info, seconds = _train(data, setup, out, setup.arch, 0, echo)
    results["models"]["single"] = {"test_accuracy": info.test_accuracy, "train_seconds": seconds}
    models = {"single": (base, 1, setup.measures)}
    if setup.ensemble >= 2:
        members = [base]
        for s in range(1, setup.ensemble):
            member, minfo, seconds = _train(data, setup, out, setup.arch, s, echo)
            members.append(member)
            results["models"][f"member{s}"] = {"test_accuracy": minfo.test_accuracy, "train_seconds": seconds}
        models[f"ensemble{setup.ensemble}"] = (Ensemble(members), setup.ensemble, setup.ensemble_measures)
    if setup.mc_dropout:
        cnn, cinfo, seconds = _train(data, setup, out, "cnn", 0, echo)
        results["models"]["cnn"] = {"test_accuracy": cinfo.test_accuracy, "train_seconds": seconds}
        models[f"mcdropout{setup.mc_dropout}"] = (MCDropout(cnn, setup.mc_dropout), setup.mc_dropout,
                                                  ("entropy", "mutual_info"))

    certified = select_indices(len(data.x_test), setup.skip, setup.max_inputs)
    heldout = heldout_indices(len(data.x_test), certified, setup.calibration_inputs)
    results["certified_inputs"], results["calibration_inputs"] = len(certified), len(heldout)
    x_held = data.x_test[heldout]

    # τ sweeps: one sampling pass per (model, measure), one engine per model; MC dropout only enters the OOD table.
    for name, (model, members, measures) in models.items():
        if name.startswith("mcdropout"):
            continue
        engine = Engine(model, batch_size=1024, compile=setup.compile)
        for measure in measures:
            key = f"{name}_{measure}"
            t0 = time.perf_counter()
            calibrated = calibrate_taus(model, x_held, heldout, measure, setup.rates, data.num_classes,
                                        members=members, noise=noise, samples=setup.calibration_samples)
            taus = sorted({*calibrated, math.inf})
            rate_of: dict[str, float | None] = {tau_name(t): None for t in taus}
            rate_of.update({tau_name(t): r for r, t in zip(setup.rates, calibrated, strict=True)})
            calibration_seconds = time.perf_counter() - t0
            om = UncertaintyOutcome(data.num_classes, measure, taus, members=members)
            smooth = Smooth(engine, data.num_classes, noise=noise, outcome_map=om)
            folder = out / key
            t0 = time.perf_counter()
            paths = sweep_uncertainty_dataset(smooth, data.x_test, data.y_test, folder, n0=setup.n0, n=setup.n,
                                              alpha=setup.alpha, indices=certified,
                                              options=RunOptions(resume=folder.is_dir(), progress=False),
                                              context={"experiment": key})
            seconds = time.perf_counter() - t0
            manifest = json.loads(paths[0].with_suffix(".json").read_text())
            runs = {tau_name(t): read_results(p) for t, p in zip(taus, paths, strict=True)}
            results["sweeps"][key] = {
                "taus": [tau_name(t) for t in taus], "target_rates": rate_of,
                "rows": sweep_rows(runs), "comparison": {k: radius_comparison(v) for k, v in runs.items()},
                "calibration_seconds": calibration_seconds, "seconds_this_call": seconds,
                "timing": manifest.get("timing", {}),
            }
            echo(f"{key}: τ = {', '.join(tau_name(t) for t in taus)}; {seconds:.1f} s "
                 f"({manifest.get('timing', {}).get('samples_per_second', float('nan')):,.0f} samples/s)")

    # OOD: clean u, mean u and ⊥ fraction under noise; in-distribution = the first certified test images.
    in_ids = certified[: setup.ood_in]
    for name, (model, members, measures) in models.items():
        folder = out / f"ood_{name}"
        _, record = score_ood(model, members, data, in_ids, heldout, ("entropy", "max_prob", "margin", *measures),
                              setup.ood_rate, noise, folder, num_classes=data.num_classes, samples=setup.ood_samples,
                              ood_count=setup.ood_count, calibration_samples=setup.calibration_samples,
                              options=RunOptions(resume=(folder / "scores.tsv").is_file(), progress=False),
                              context={"experiment": f"ood_{name}"}, title=f"{dataset} {name}")
        results["ood"][name] = record
        echo(f"ood {name}: done")

    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return refresh_report(out)


def refresh_report(out: str | Path) -> Document:
    """Rewrite ``report.md`` and the figures of a finished experiment from ``results.json`` and its result
    files; returns the report."""
    out = Path(out)
    try:
        results = json.loads((out / "results.json").read_text())
    except FileNotFoundError:
        raise InvalidArgumentError(f"{out} holds no finished experiment (no results.json)") from None
    _figures(results, out, results["dataset"])
    doc = experiment_report(results, out)
    write_report(doc, out / "report.md")
    return doc


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


def experiment_report(results: dict, out: Path) -> Document:
    """One data set's results: models, a section per τ sweep and per OOD score table."""
    models = [f"model {name}: clean test accuracy {m['test_accuracy']:.4f}; training {m['train_seconds']:.1f} s"
              for name, m in results["models"].items()]
    blocks: list = [
        Paragraph(f"Data: {results['split_note']}. Certified: {results['certified_inputs']} test images; τ "
                  f"calibrated on noisy copies of {results['calibration_inputs']} other test images."),
        BulletList(models),
    ]
    if results["sweeps"]:
        blocks.append(Figure("sweep.png", "mean R_i and R_ii and the share with R_ii > R_cohen against the ⊥ "
                                          "share, one colour per model and measure"))
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
                        Table(["radius", *(f"r = {r:g}" for r in RADII), "ACR"], accuracy_rows(out, key, target)),
                        Figure(f"radii_{key}.png",
                               f"certified accuracy of R_cohen, R_i and R_ii of {key} at τ = {target}")]
        blocks.append(Section(key, section))
    rate = results["setup"].get("ood_rate", 0.1)
    for name, ood in results["ood"].items():
        blocks.append(Section(f"OOD AUROC, {name} (τ for the ⊥ fraction: {100 * rate:g} % of noisy held-out inputs "
                              "rejected)",
                              [Table(ood["header"], ood["rows"]),
                               Paragraph(f"Scoring time {ood['seconds_this_call']:.1f} s.")]))
    return Document(f"Uncertainty-aware certification: {results['dataset']}", blocks)
