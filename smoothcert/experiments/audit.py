"""The audit job behind ``smoothcert audit``: every experiment of the audit, written into one folder.

Layout of an audit folder::

    manifest.json            arguments, environment, status, time of each stage
    summary.md, summary.json the report: tables, figures, headline numbers
    models/                  trained base models (safetensors + JSON), reused when the folder is resumed
    samples/FAMILY_sigma_S.tsv (+ .json)   a row per test input and σ (resumable, Cohen-compatible)
    matrix/MODEL_sigma_S.json              accuracy-loss cells
    synthetic/               the 2-D model and cached smoothed regions
    tables/, figures/        markdown/TSV/JSON tables; PNG + SVG figures

Every stage resumes: rows already in a TSV, cells and regions already cached and models already trained are
kept; a folder is only resumed with the arguments it was started with. This module composes the analysis
functions with training (:mod:`smoothcert.training`) and figures (:mod:`smoothcert.report.audit_plots`),
as a job would.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from smoothcert import sampling
from smoothcert.analysis.audit.disparity import (
    ClassMetrics,
    audit_dataset,
    class_metrics,
    disparity,
    largest_losses,
    per_class_mean,
)
from smoothcert.analysis.audit.hypotheses import BoxClass, IntervalClass, feasible_counts
from smoothcert.analysis.audit.regions import (
    BallIndicator,
    make_grid,
    region_sweep,
    vanishing_sigma_empirical,
)
from smoothcert.analysis.audit.shrinkage import (
    cone_apex_shift,
    cone_shrink,
    shrink_curve,
    smoothed_ball_radius,
    vanishing_sigma,
)
from smoothcert.analysis.results import read_results
from smoothcert.certificates.cohen import predict_counts
from smoothcert.document import Block, Document, Figure, Paragraph, Section, Table
from smoothcert.engine import Engine
from smoothcert.errors import InvalidArgumentError
from smoothcert.noise import GaussianNoise
from smoothcert.report.markdown import write_markdown
from smoothcert.report.tables import render_table
from smoothcert.runs import check_resumable, earlier_runs, write_manifest
from smoothcert.smooth import Smooth
from smoothcert.validate import check_alpha

__all__ = [
    "AuditConfig",
    "run_accuracy_loss",
    "run_audit",
    "run_disparity",
    "run_hypotheses",
    "run_regions",
    "run_shrinkage",
    "train_models",
]

#: Training settings per data set when the configuration leaves them open: (epochs, batch size, learning rate).
TRAINING_DEFAULTS = {"digits": (60, 64, 2e-3), "mnist": (10, 128, 1e-3)}
OTHER_TRAINING = (30, 128, 3e-3)

STANDARD = "standard"
NOISE = "noise"

Echo = Callable[[str], None]


@dataclass
class AuditConfig:
    """Settings of a full audit (lengths and σ in input units; inputs in [0, 1]).

    Attributes:
        dataset, data_dir, data_seed: the data (see :func:`smoothcert.data.load_dataset`).
        arch: zoo architecture of the base models it trains.
        sigmas: smoothing noise levels σ.
        epochs, train_batch_size, lr: training (None: per-data-set defaults, :data:`TRAINING_DEFAULTS`).
        n0, n, alpha: CERTIFY's selection samples, PREDICT's (and CERTIFY's estimation) samples, level.
        max_inputs: audit the first this many test inputs (None: all).
        radii: radii of the per-class certified accuracy.
        matrix_n: noisy copies per input for the accuracy-loss matrix (majority vote).
        seed: seed of training and of the noise.
        batch_size: noisy copies per forward pass, or "auto": the fastest of 256 … 2048 for the first model on
            this machine (small images favour small batches on CPU caches, e.g. 256 for MNIST LeNet).
        compile: sample through torch.compile (one compile per model).
        matrix: run the accuracy-loss matrix (every model at every σ).
        synthetic: run the analytic, 2-D region and hypothesis experiments too.
        device: torch device.
        threads: torch threads while sampling (None: torch's default, one per core). On shared cores one
            thread can be faster; the 2-D experiments always use one (their model is tiny).
    """

    dataset: str = "digits"
    data_dir: str | None = None
    data_seed: int = 0
    arch: str = "lenet"
    sigmas: tuple[float, ...] = (0.12, 0.25, 0.5, 1.0)
    epochs: int | None = None
    train_batch_size: int | None = None
    lr: float | None = None
    n0: int = 100
    n: int = 1000
    alpha: float = 0.001
    max_inputs: int | None = None
    radii: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    matrix_n: int = 100
    seed: int = 0
    batch_size: int | str = "auto"
    compile: bool = True
    matrix: bool = True
    synthetic: bool = True
    device: str = "cpu"
    threads: int | None = None

    def validate(self) -> AuditConfig:
        sig = [float(s) for s in self.sigmas]
        if not sig or any(not (math.isfinite(s) and s > 0) for s in sig) or len(set(sig)) != len(sig):
            raise InvalidArgumentError(f"sigmas must be distinct finite numbers > 0, got {list(self.sigmas)}")
        self.sigmas = tuple(sorted(sig))
        if self.batch_size != "auto" and (isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int)
                                          or self.batch_size < 1):
            raise InvalidArgumentError(f"batch_size must be an integer >= 1 or 'auto', got {self.batch_size!r}")
        for name in ("n0", "n", "matrix_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be an integer >= 1, got {value!r}")
        if self.threads is not None and self.threads < 1:
            raise InvalidArgumentError(f"threads must be >= 1, got {self.threads}")
        if self.max_inputs is not None and self.max_inputs < 1:
            raise InvalidArgumentError(f"max_inputs must be >= 1, got {self.max_inputs}")
        check_alpha(self.alpha)
        if not self.radii or any(not (math.isfinite(r) and r >= 0) for r in self.radii):
            raise InvalidArgumentError(f"radii must be finite numbers >= 0, got {list(self.radii)}")
        return self

    def training(self) -> tuple[int, int, float]:
        epochs, batch, lr = TRAINING_DEFAULTS.get(self.dataset, OTHER_TRAINING)
        return self.epochs or epochs, self.train_batch_size or batch, self.lr or lr


# --- small helpers ----------------------------------------------------------------------------------------

def _write_table(out: Path, name: str, header: Sequence[str], rows: Sequence[Sequence], data: object | None = None,
                 decimals: int = 3) -> Table:
    """tables/NAME.md and .tsv (and .json when ``data`` is given); returns the table, for the report."""
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    table = Table(header, rows, decimals=decimals)
    (folder / f"{name}.md").write_text(render_table(table, "markdown"))
    (folder / f"{name}.tsv").write_text(render_table(table, "tsv"))
    if data is not None:
        (folder / f"{name}.json").write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    return table


def _json_default(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def _fig(out: Path, name: str) -> Path:
    return out / "figures" / name


def _figure(paths: Sequence[Path], out: Path, alt: str) -> Figure:
    """The report's figure of a plot written as ``paths`` (PNG first), relative to the audit folder."""
    return Figure(paths[0].relative_to(out).as_posix(), alt)


def _sigma_name(sigma: float) -> str:
    return f"{sigma:g}"


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``threads`` torch threads (None: leave the setting alone), restoring it after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- models -----------------------------------------------------------------------------------------------

def train_models(config: AuditConfig, data, out: Path, *, progress: bool = True,
                 echo: Echo = print) -> dict[str, tuple[nn.Module, float]]:
    """The base models of a full audit: ``standard`` (no noise) and ``noise_S`` (Gaussian augmentation at each
    σ = S), saved under ``out/models`` and reused there when their training settings match.

    Returns:
        key → (model in eval mode, training σ).
    """
    from smoothcert.models import load_checkpoint, read_info
    from smoothcert.models.checkpoint import checkpoint_paths
    from smoothcert.training import TrainConfig, train_base_model

    epochs, batch, lr = config.training()
    models = {}
    for train_sigma in (0.0, *config.sigmas):
        key = STANDARD if train_sigma == 0 else f"noise_{_sigma_name(train_sigma)}"
        path = out / "models" / key.replace(".", "p")  # a dot would be taken for a file suffix
        train_config = TrainConfig(train_sigma=train_sigma, epochs=epochs, batch_size=batch, lr=lr, seed=config.seed)
        if checkpoint_paths(path)[1].is_file():
            info = read_info(path)
            wanted = {k: v for k, v in asdict(train_config).items()}
            recorded = {k: info.training.get(k) for k in wanted}
            if recorded == wanted and info.architecture == config.arch and info.dataset == data.name:
                model, _ = load_checkpoint(path, config.device)
                models[key] = (model, train_sigma)
                echo(f"  reusing {key} (clean test accuracy {info.test_accuracy:.4f})")
                continue
            raise InvalidArgumentError(f"{checkpoint_paths(path)[0]} was trained with other settings; "
                                       "audit into a new folder")
        t0 = time.perf_counter()
        model, info, _ = train_base_model(data, config.arch, train_config, path, device=config.device,
                                          progress=progress)
        echo(f"  trained {key}: {epochs} epochs in {time.perf_counter() - t0:.1f} s, clean test accuracy "
             f"{info.test_accuracy:.4f}")
        models[key] = (model.eval(), train_sigma)
    return models


def _smooths(models: Mapping[str, tuple[nn.Module, float]], num_classes: int, input_shape: tuple[int, ...],
             config: AuditConfig) -> tuple[dict, int]:
    """One Smooth per model, each around its own engine (its compiled forward pass is shared by every σ:
    :func:`_at_sigma` changes only the noise), and the batch size used."""
    batch_size = config.batch_size
    smooths = {}
    for key, (model, _) in models.items():
        engine = Engine(model, device=config.device, compile=config.compile, batch_size=batch_size)
        # "auto" is measured once, on the first model: the audit's models share an architecture.
        batch_size = engine.batch_size_for(input_shape)
        smooths[key] = Smooth(engine, num_classes, config.sigmas[0], seed=config.seed)
    return smooths, batch_size


def _at_sigma(smooth: Smooth, sigma: float) -> Smooth:
    """The same classifier and engine smoothed at σ."""
    return smooth.with_noise(GaussianNoise(sigma))


# --- 1. class-wise disparity ------------------------------------------------------------------------------

def run_disparity(smooths: Mapping[str, Smooth], families: Mapping[str, Sequence[tuple[float, str]]], data,
                  indices: Sequence[int], config: AuditConfig, out: Path, *, progress: bool = True,
                  echo: Echo = print, fingerprint: Mapping[str, object] | None = None,
                  ) -> tuple[dict[str, list[ClassMetrics]], Section]:
    """Per-class audit of each (family, σ, model) into ``out/samples``, then tables and figures.

    Args:
        smooths: model key → Smooth (its noise is set to each σ in turn).
        families: family label → [(σ, model key)], e.g. ``standard`` at every σ and ``noise`` matched.
        indices: test inputs to audit.
        fingerprint: extra values every per-σ file's arguments must match on resume (e.g. training settings).
    Returns:
        (family → [ClassMetrics per σ], report section).
    """
    results: dict[str, list[ClassMetrics]] = {}
    for family, pairs in families.items():
        results[family] = []
        for sigma, key in pairs:
            tsv = out / "samples" / f"{family}_sigma_{_sigma_name(sigma)}.tsv"
            smooth = _at_sigma(smooths[key], sigma)
            arguments = {"dataset": data.name, "model": key, "sigma": sigma, "n0": config.n0, "n": config.n,
                         "alpha": config.alpha, "seed": config.seed, "inputs": len(indices),
                         **(fingerprint or {})}
            audit_dataset(smooth, data.x_test, data.y_test, tsv, n0=config.n0, n=config.n, alpha=config.alpha,
                          indices=indices, arguments=arguments, resume=tsv.is_file(), progress=progress,
                          context={"family": family, "split_note": data.split_note})
            rows = read_results(tsv, name=f"{family} σ={sigma:g}")
            results[family].append(class_metrics(rows, data.num_classes, config.radii, sigma, key))
            m = results[family][-1]
            echo(f"  {family:>8} σ = {sigma:<5g} smoothed accuracy {m.overall['smoothed']:.3f} "
                 f"(abstain {m.overall['abstain']:.3f}), worst class {disparity(m.smoothed).worst_class} "
                 f"at {disparity(m.smoothed).worst:.3f}")
    return results, disparity_report(results, data.class_names, out, title=data.name)


def disparity_report(results: Mapping[str, Sequence[ClassMetrics]], class_names: Sequence[str], out: Path,
                     title: str = "") -> Section:
    """Tables (per class, disparity, side by side) and figures of the disparity audit; returns its section."""
    from smoothcert.report.audit_plots import plot_class_heatmap, plot_disparity_vs_sigma, plot_per_class_vs_sigma

    per_class: list[Section] = []
    metric_names = {"base_clean": "base, clean", "base_noisy": "base, noisy", "smoothed": "smoothed (PREDICT)",
                    "vote": "smoothed (vote)"}
    disparity_rows, json_rows = [], []
    for family, metrics in results.items():
        for m in metrics:
            radii_header = [f"cert r={r:g}" for r in m.radii]
            rows = [[class_names[c], int(m.counts[c]), m.base_clean[c], m.base_noisy[c], m.smoothed[c], m.abstain[c],
                     m.loss[c], *m.certified[c]] for c in range(m.num_classes)]
            rows.append(["all", int(m.counts.sum()), m.overall["base_clean"], m.overall["base_noisy"],
                         m.overall["smoothed"], m.overall["abstain"],
                         m.overall["base_clean"] - m.overall["smoothed"], *m.overall["certified"]])
            name = f"per_class_{family}_sigma_{_sigma_name(m.sigma)}"
            header = ["class", "n", "base clean", "base noisy", "smoothed", "abstain", "loss", *radii_header]
            table = _write_table(out, name, header, rows, m.to_dict())
            per_class.append(Section(f"{family}, σ = {m.sigma:g}: per class", [
                Paragraph("`smoothed` is PREDICT with abstentions counted wrong; `abstain` its abstention rate; "
                          "`loss` = base clean − smoothed; `cert r` = certified accuracy (CERTIFY)."), table]))
            for key, label in metric_names.items():
                d = disparity(getattr(m, key))
                disparity_rows.append([family, m.sigma, label, d.mean, d.spread, d.std,
                                       f"{class_names[d.worst_class]} ({d.worst:.3f})"])
                json_rows.append({"family": family, "sigma": m.sigma, "metric": key, **d.to_dict()})
            for j, r in enumerate(m.radii):
                d = disparity(m.certified[:, j])
                disparity_rows.append([family, m.sigma, f"certified r={r:g}", d.mean, d.spread, d.std,
                                       f"{class_names[d.worst_class]} ({d.worst:.3f})"])
                json_rows.append({"family": family, "sigma": m.sigma, "metric": f"certified_r={r:g}", **d.to_dict()})
    full = _write_table(out, "disparity", ["family", "σ", "metric", "class mean", "max − min", "std",
                                            "worst class (acc.)"], disparity_rows, json_rows)

    class_tables = [block for key, label in (("smoothed", "smoothed accuracy (PREDICT, abstentions wrong)"),
                                             ("base_noisy", "base accuracy under noise"))
                    for block in _class_by_sigma(out, results, class_names, key, label)]

    side_rows, side_json = [], []
    for family, metrics in results.items():
        for m in metrics:
            d, d0 = disparity(m.smoothed), disparity(m.base_clean)
            losses = largest_losses(m.base_clean, m.smoothed)
            losers = ", ".join(f"{class_names[c]} ({loss:+.3f})" for c, loss in losses)
            side_rows.append([family, m.sigma, m.overall["base_clean"], m.overall["smoothed"], m.overall["abstain"],
                              d0.spread, d.spread, d.std, f"{class_names[d.worst_class]} ({d.worst:.3f})", losers])
            side_json.append({"family": family, "sigma": m.sigma, "base_clean": m.overall["base_clean"],
                              "smoothed": m.overall["smoothed"], "abstain": m.overall["abstain"],
                              "base_clean_disparity": d0.to_dict(), "smoothed_disparity": d.to_dict(),
                              "largest_losses": largest_losses(m.base_clean, m.smoothed)})
    side = _write_table(out, "side_by_side", ["family", "σ", "base clean acc.", "smoothed acc.", "abstain",
                                              "base max − min", "smoothed max − min", "smoothed std",
                                              "worst class (acc.)", "largest losses (base − smoothed)"],
                        side_rows, side_json)

    # A family of one model starts its curves at that model's clean accuracy (σ = 0); a family with a model
    # per σ has no single clean baseline, so its curves start at the first σ.
    single = {f: len({m.model for m in ms}) == 1 for f, ms in results.items()}
    curves = {f: ([m.sigma for m in ms], np.array([m.smoothed for m in ms]), ms[0].base_clean if single[f] else None)
              for f, ms in results.items()}
    heat = {f: ([*(["base\nclean"] if single[f] else []), *(f"{m.sigma:g}" for m in ms)],
                np.array([*([ms[0].base_clean] if single[f] else []), *(m.smoothed for m in ms)]))
            for f, ms in results.items()}
    series = {f: ([m.sigma for m in ms], np.array([disparity(m.smoothed).spread for m in ms]),
                  np.array([disparity(m.smoothed).worst for m in ms])) for f, ms in results.items()}
    f1 = plot_per_class_vs_sigma(curves, class_names, _fig(out, "per_class_vs_sigma"),
                                 title=f"{title}: per-class accuracy of the smoothed classifier (PREDICT)")
    f2 = plot_class_heatmap(heat, class_names, _fig(out, "class_sigma_heatmap"), xlabel="smoothing σ",
                            title=f"{title}: accuracy per class, base (clean) and smoothed (PREDICT)")
    f3 = plot_disparity_vs_sigma(series, _fig(out, "disparity_vs_sigma"), title=f"{title}: class disparity")
    return Section("1. Class-wise disparity", [
        Paragraph("Side by side (`smoothed` = PREDICT, abstentions wrong; disparity over classes):"), side,
        _figure(f1, out, "per-class accuracy against σ"), _figure(f2, out, "class × σ heatmap"),
        _figure(f3, out, "disparity against σ"),
        *class_tables, Paragraph("Disparity of every metric (`tables/disparity.md`):"), full,
        *per_class,  # sub-sections last: in markdown, blocks after them would read as theirs
    ])


def _class_by_sigma(out: Path, results: Mapping[str, Sequence[ClassMetrics]], class_names: Sequence[str],
                    key: str, label: str) -> list[Block]:
    """One class × (family, σ) table of metric ``key``, with the clean base accuracy of single-model families
    first and rows for all inputs and the spread; returns it with its heading line."""
    header, columns = ["class"], []
    for family, ms in results.items():
        if len({m.model for m in ms}) == 1:
            header.append(f"{family}: base clean")
            columns.append((ms[0].base_clean, ms[0].overall["base_clean"]))
        for m in ms:
            header.append(f"{family}: σ = {m.sigma:g}")
            columns.append((getattr(m, key), m.overall[key]))
    rows = [[name, *(col[c] for col, _ in columns)] for c, name in enumerate(class_names)]
    rows.append(["all", *(overall for _, overall in columns)])
    rows.append(["max − min", *(disparity(col).spread for col, _ in columns)])
    return [Paragraph(f"Per class, {label}:"), _write_table(out, f"per_class_{key}", header, rows)]


# --- 4a. accuracy loss: matched and mismatched training noise ---------------------------------------------

def run_accuracy_loss(smooths: Mapping[str, Smooth], train_sigmas: Mapping[str, float], data,
                      indices: Sequence[int], config: AuditConfig, out: Path, *, progress: bool = True,
                      ) -> tuple[dict, Section]:
    """Natural accuracy of every model smoothed at every σ (majority vote of ``matrix_n`` copies; PREDICT at
    the same n beside it). Cells are cached in ``out/matrix`` and reused."""
    from smoothcert.report.audit_plots import plot_accuracy_loss

    folder = out / "matrix"
    folder.mkdir(parents=True, exist_ok=True)
    x, y = data.x_test[list(indices)], data.y_test[list(indices)].numpy()
    vote = np.zeros((len(smooths), len(config.sigmas)))
    predict = np.zeros_like(vote)
    spread = np.zeros_like(vote)
    bar = tqdm(total=len(smooths) * len(config.sigmas), desc="accuracy matrix", unit="cell", disable=not progress)
    for i, (key, smooth) in enumerate(smooths.items()):
        for j, sigma in enumerate(config.sigmas):
            path = folder / f"{key}_sigma_{_sigma_name(sigma)}.json"
            arguments = {"model": key, "sigma": sigma, "n": config.matrix_n, "alpha": config.alpha,
                         "seed": config.seed, "inputs": len(indices)}
            cell = json.loads(path.read_text()) if path.is_file() else None
            if cell is None or cell.get("arguments") != json.loads(json.dumps(arguments)):
                counts = _at_sigma(smooth, sigma).sample_counts(x, config.matrix_n, list(indices),
                                                               sampling.PREDICTION)
                prediction = predict_counts(counts, config.alpha, data.num_classes)  # PREDICT's one rule
                top, answered = prediction.top, prediction.prediction
                per_class = per_class_mean(y, top == y, data.num_classes)
                cell = {"arguments": arguments, "vote_accuracy": float(np.mean(top == y)),
                        "predict_accuracy": float(np.mean(answered == y)),
                        "per_class_vote": per_class.tolist(), "vote_spread": float(np.nanmax(per_class)
                                                                                  - np.nanmin(per_class))}
                path.write_text(json.dumps(cell, indent=1) + "\n")
            vote[i, j], predict[i, j] = cell["vote_accuracy"], cell["predict_accuracy"]
            spread[i, j] = cell["vote_spread"]
            bar.update(1)
    bar.close()
    labels = [("no noise" if train_sigmas[k] == 0 else f"σ_train = {train_sigmas[k]:g}") for k in smooths]
    header = ["trained with", *(f"σ = {s:g}" for s in config.sigmas)]
    table = _write_table(out, "accuracy_loss", header, [[lab, *row] for lab, row in zip(labels, vote, strict=True)],
                        {"models": list(smooths), "train_sigmas": [train_sigmas[k] for k in smooths],
                         "sigmas": list(config.sigmas), "vote_accuracy": vote, "predict_accuracy": predict,
                         "vote_spread": spread, "n": config.matrix_n})
    table_p = _write_table(out, "accuracy_loss_predict", header,
                          [[lab, *row] for lab, row in zip(labels, predict, strict=True)])
    table_s = _write_table(out, "accuracy_loss_spread", header,
                          [[lab, *row] for lab, row in zip(labels, spread, strict=True)])
    fig = plot_accuracy_loss(config.sigmas, dict(zip(labels, vote, strict=True)), _fig(out, "accuracy_loss"),
                             title=f"{data.name}: smoothed accuracy (majority of n = {config.matrix_n})")
    section = Section("4a. Accuracy loss: matched and mismatched training noise", [
        Paragraph(f"Natural accuracy of the smoothed classifier (majority vote of n = {config.matrix_n} noisy "
                  f"copies) on {len(indices)} test inputs; rows: training noise, columns: smoothing σ."), table,
        Paragraph(f"PREDICT at the same n (α = {config.alpha:g}, abstentions wrong):"), table_p,
        Paragraph("Spread (max − min) of the per-class vote accuracy:"), table_s,
        _figure(fig, out, "accuracy loss"),
    ])
    return {"models": list(smooths), "sigmas": list(config.sigmas), "vote": vote.tolist(),
            "predict": predict.tolist(), "spread": spread.tolist()}, section


# --- 2. shrinking regions, analytic -----------------------------------------------------------------------

def run_shrinkage(out: Path, *, rho: float = 1.0, dims: Sequence[int] = (1, 2, 10, 50, 784),
                  angles: Sequence[float] = (15, 30, 45, 60, 75, 90), cone_dims: Sequence[int] = (2, 3, 10),
                  mc: int = 100_000, seed: int = 0) -> tuple[dict, Section]:
    """Ball radius ρ_σ and σ_van for ``dims``, cone apex shifts and boundary offsets; tables and figures."""
    from smoothcert.report.audit_plots import plot_cone_shrink, plot_shrink_curves

    ratios = {}
    for d in dims:
        s = np.geomspace(1e-3, 2.0, 160) * rho
        s = np.sort(np.append(s, vanishing_sigma(rho, d) * np.array([0.999, 1.0])))
        ratios[int(d)] = (s / rho, shrink_curve(rho, s, d))
    probe = (0.01, 0.03, 0.1, 0.3)
    rows = [[d, vanishing_sigma(rho, d) / rho, 1 / math.sqrt(d),
             *(smoothed_ball_radius(rho, p * rho, d) / rho for p in probe)] for d in dims]
    ball = _write_table(out, "shrinkage_ball", ["d", "σ_van / ρ", "1/√d", *(f"ρ_σ/ρ at σ = {p:g}ρ" for p in probe)],
                        rows, {"rho": rho, "rows": rows}, decimals=4)
    apex = {int(d): (np.asarray(angles, dtype=float),
                     np.array([cone_apex_shift(math.radians(a), d, mc, seed) for a in angles])) for d in cone_dims}
    axial = np.linspace(0.0, 8.0, 65)
    shapes = {f"d = {d}, θ = {theta}°": cone_shrink(math.radians(theta), d, 1.0, axial, mc, seed)
              for d, theta in ((2, 30), (2, 60), (3, 30), (10, 30))}
    cone_rows = [[a, *(apex[d][1][k] for d in apex)] for k, a in enumerate(angles)]
    cone = _write_table(out, "shrinkage_cone", ["half-angle θ (°)", *(f"apex shift/σ, d = {d}" for d in apex)],
                        cone_rows, {"angles": list(angles), "apex_shift": {d: v[1] for d, v in apex.items()},
                                    "axial": axial, "smoothed_radius": {k: v.radius for k, v in shapes.items()},
                                    "mc": mc})
    f1 = plot_shrink_curves(ratios, _fig(out, "shrink_ball"))
    f2 = plot_cone_shrink(apex, {k: (v.axial, v.base_radius, v.radius) for k, v in shapes.items()},
                          _fig(out, "shrink_cone"))
    section = Section("2. Shrinking regions, analytic", [
        Paragraph(f"Ball B(0, ρ) ⊂ ℝ^d: the smoothed region is B(0, ρ_σ) (noncentral χ², root finding); it "
                  f"vanishes at σ_van = ρ/√median(χ²_d). ρ = {rho:g}."), ball,
        _figure(f1, out, "ball shrink curves"),
        Paragraph("Half-space: no shrink (P = ½ on the boundary). Cones of half-angle θ (d = 2: a wedge of angle "
                  f"2θ): the smoothed region is σ·S₁, so the apex moves inward by a(θ, d)·σ (Monte Carlo, {mc:,} "
                  "samples); far from the apex the smoothed boundary approaches the base edge (in the figure: "
                  "cross-section radius against the position along the axis, both in units of σ):"),
        cone, _figure(f2, out, "cone shrink"),
    ])
    return {"ball": rows, "cone": cone_rows}, section


# --- 3. shrinking regions, empirical (2-D) ----------------------------------------------------------------

def _vanishing(model: nn.Module, cls: int, grid, sweep, n: int, seed: int, echo: Echo) -> float | None:
    """σ at which class ``cls`` leaves the grid, by bisection between the sweep's last σ with the class present
    and the next one. Regions shrink nested, so the search keeps to the points of the class at that last σ,
    widened by two grid cells; ``None`` when the class never appears."""
    from scipy.ndimage import binary_dilation

    present = np.flatnonzero(sweep.areas[:, cls] > 0)
    if present.size == 0:
        echo(f"  class {cls} has no smoothed region at any σ of the sweep: no vanishing σ")
        return None
    k = int(present[-1])
    near = binary_dilation((sweep.smoothed[k] == cls).reshape(grid.shape), iterations=2).ravel()
    lo = float(sweep.sigmas[k - 1]) if k > 0 else float(sweep.sigmas[k]) / 2
    hi = float(sweep.sigmas[k + 1]) * 1.5 if k + 1 < len(sweep.sigmas) else float(sweep.sigmas[k]) * 3
    try:
        return vanishing_sigma_empirical(model, 2, cls, grid, n, lo=lo, hi=hi, tol=2e-4, seed=seed,
                                         points=np.flatnonzero(near))
    except InvalidArgumentError as err:  # the bracket from the coarser sweep did not hold at this n
        echo(f"  no vanishing σ for class {cls}: {err}")
        return None


def run_regions(out: Path, *, sigmas: Sequence[float] = tuple(np.round(np.arange(0.02, 0.261, 0.02), 3)),
                shown: Sequence[float] = (0.06, 0.12, 0.16, 0.2), n: int = 256, resolution: int = 81,
                epochs: int = 200, seed: int = 0, bisection_n: int = 8192, progress: bool = True,
                echo: Echo = print) -> tuple[dict, Section]:
    """Train an MLP on a ball-inside-a-ring data set (2-D), sweep σ, measure the area of the bounded class
    and the σ at which it vanishes, and compare with the analytic ball of equal area; also the exact ball
    indicator of the data's ball. Smoothed regions are cached in ``out/synthetic`` (resumable)."""
    from smoothcert.data import load_dataset
    from smoothcert.models import load_checkpoint, read_info
    from smoothcert.models.checkpoint import checkpoint_paths
    from smoothcert.report.audit_plots import plot_region_areas, plot_regions
    from smoothcert.training import TrainConfig, train_base_model

    folder = out / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    sigmas = sorted({float(s) for s in (*sigmas, *shown)})
    data = load_dataset("concentric", seed=seed)
    ball_class, data_radius = 1, 0.15  # concentric(): class 1 is the ball of radius 0.15 around (0.5, 0.5)
    config = TrainConfig(train_sigma=0.0, epochs=epochs, batch_size=128, lr=3e-3, seed=seed)
    ckpt = folder / "mlp"
    if checkpoint_paths(ckpt)[1].is_file() and read_info(ckpt).training.get("epochs") == epochs:
        model, info = load_checkpoint(ckpt)
    else:
        model, info, _ = train_base_model(data, "mlp", config, ckpt, arch_args={"hidden": [64, 64]}, progress=False)
    model.eval()
    echo(f"  2-D MLP on concentric data: clean test accuracy {info.test_accuracy:.4f}")
    grid = make_grid(resolution=resolution)

    def cache_for(tag: str):
        def cache(sigma: float):
            path = folder / f"{tag}_n{n}_r{resolution}_sigma_{sigma:g}.npy"
            return np.load(path) if path.is_file() else None

        def store(sigma: float, labels: np.ndarray) -> None:
            np.save(folder / f"{tag}_n{n}_r{resolution}_sigma_{sigma:g}.npy", labels)
        return cache, store

    cache, store = cache_for("mlp")
    exact = BallIndicator([0.5, 0.5], data_radius)
    cache_e, store_e = cache_for("ball")
    with torch_threads(1):  # a 2-64-64-2 MLP: thread start-up costs more than it saves
        sweep = region_sweep(model, 2, sigmas, grid, n, seed=seed, progress=progress, cache=cache, store=store)
        sweep_exact = region_sweep(exact, 2, sigmas, grid, n, seed=seed, progress=progress, cache=cache_e,
                                   store=store_e)

    base_area = float(sweep.base_areas[ball_class])
    rho_eq = math.sqrt(base_area / math.pi)
    predicted = np.array([math.pi * smoothed_ball_radius(rho_eq, s, 2) ** 2 if rho_eq > 0 else 0.0
                          for s in sweep.sigmas])
    predicted_exact = np.array([math.pi * smoothed_ball_radius(data_radius, s, 2) ** 2 for s in sweep.sigmas])
    van_eq, van_data = vanishing_sigma(rho_eq, 2) if rho_eq > 0 else 0.0, vanishing_sigma(data_radius, 2)
    cached = folder / f"vanishing_n{bisection_n}_r{resolution}.json"
    if cached.is_file():
        measured = json.loads(cached.read_text())
    else:
        measured = {}
        with torch_threads(1):
            for tag, classifier, sw in (("mlp", model, sweep), ("ball", exact, sweep_exact)):
                measured[tag] = _vanishing(classifier, ball_class, grid, sw, bisection_n, seed, echo)
        cached.write_text(json.dumps(measured) + "\n")
    show = [s for s in shown if s in set(sweep.sigmas.tolist())]
    index = {s: k for k, s in enumerate(sweep.sigmas.tolist())}
    f1 = plot_regions(grid.xs, grid.ys, sweep.base, {s: sweep.smoothed[index[s]] for s in show}, data.class_names,
                      _fig(out, "regions"), points=(data.x_train.numpy(), data.y_train.numpy()),
                      title=f"2-D MLP, ball (r ≤ {data_radius}) inside a ring: base and smoothed regions (n = {n})")
    f2 = plot_region_areas(sweep.sigmas, sweep.areas[:, ball_class],
                           {f"analytic, ball of equal base area (ρ = {rho_eq:.3f})": predicted},
                           _fig(out, "region_areas"),
                           marks={**({f"measured σ_van {measured['mlp']:.3f}": measured["mlp"]}
                                     if measured["mlp"] is not None else {}),
                                  f"analytic σ_van {van_eq:.3f}": van_eq},
                           title="area of the bounded class (ball) against σ, trained MLP")
    rows = [[s, sweep.areas[k, ball_class], predicted[k], sweep_exact.areas[k, ball_class], predicted_exact[k]]
            for k, s in enumerate(sweep.sigmas)]
    table = _write_table(out, "regions_area", ["σ", "MLP: measured area", "MLP: analytic (equal-area ball)",
                                               f"exact ball r={data_radius}: measured", "exact ball: analytic"],
                         rows, {"rows": rows, "base_area": base_area, "rho_equivalent": rho_eq, "n": n,
                                "resolution": resolution}, decimals=4)
    def relative(value: float | None, reference: float) -> float:
        return math.nan if value is None or reference == 0 else value / reference - 1

    van_rows = [["trained MLP", f"{rho_eq:.4f} (equal-area)", measured["mlp"], van_eq,
                 relative(measured["mlp"], van_eq)],
                [f"exact ball indicator r = {data_radius}", f"{data_radius}", measured["ball"], van_data,
                 relative(measured["ball"], van_data)]]
    van = _write_table(out, "regions_vanishing", ["classifier", "ρ", "measured σ_van", "analytic ρ/√(2 ln 2)",
                                                  "relative difference"], van_rows, {"rows": van_rows}, decimals=4)
    section = Section("3. Shrinking regions, empirical (2-D)", [
        Paragraph(f"Base MLP (hidden 64-64) trained without noise on {len(data.x_train)} points; clean test "
                  f"accuracy {info.test_accuracy:.3f}. Grid {resolution}×{resolution} on [0,1]², n = {n} noisy "
                  f"copies per point (plug-in majority). Base area of the ball class {base_area:.4f} (equal-area "
                  f"radius {rho_eq:.4f})."),
        _figure(f1, out, "regions"), table, _figure(f2, out, "areas"),
        Paragraph(f"σ at which the bounded class vanishes (bisection on σ, n = {bisection_n} per point):"), van,
    ])
    return {"base_area": base_area, "rho_equivalent": rho_eq, "vanishing": measured,
            "vanishing_analytic": {"mlp": van_eq, "ball": van_data}, "areas": rows}, section


# --- 4b. feasible hypotheses --------------------------------------------------------------------------------

def run_hypotheses(out: Path, *, sigmas: Sequence[float] = tuple(np.round(np.linspace(0, 0.8, 41), 3)),
                   epsilons: Sequence[float] = (0.0, 0.02, 0.05, 0.1), m: int = 200, seed: int = 0
                   ) -> tuple[dict, Section]:
    """Feasible intervals (1-D) and boxes (2-D) against σ, data labelled by a target in the class."""
    from smoothcert.report.audit_plots import plot_feasible_counts

    rng = np.random.default_rng(seed)
    x1 = rng.random(m)
    y1 = ((x1 >= 0.35) & (x1 <= 0.65)).astype(int)
    intervals = IntervalClass.from_grid(np.linspace(0, 1, 41))
    fc1 = feasible_counts(intervals, x1, y1, sigmas, epsilons)
    x2 = rng.random((m, 2))
    y2 = ((x2[:, 0] >= 0.3) & (x2[:, 0] <= 0.7) & (x2[:, 1] >= 0.35) & (x2[:, 1] <= 0.65)).astype(int)
    boxes = BoxClass.from_grid(np.linspace(0, 1, 21))
    fc2 = feasible_counts(boxes, x2, y2, sigmas, epsilons)
    fig = plot_feasible_counts({f"intervals on [0, 1] ({fc1.size} hypotheses)": (fc1.sigmas, fc1.epsilons, fc1.counts),
                                f"boxes in [0, 1]² ({fc2.size:,} hypotheses)": (fc2.sigmas, fc2.epsilons, fc2.counts)},
                               _fig(out, "feasible_hypotheses"))
    header = ["σ", *(f"intervals ε={e:g}" for e in epsilons), "intervals best error",
              *(f"boxes ε={e:g}" for e in epsilons), "boxes best error"]
    rows = [[s, *fc1.counts[k], fc1.best_error[k], *fc2.counts[k], fc2.best_error[k]]
            for k, s in enumerate(fc1.sigmas)]
    table = _write_table(out, "feasible_hypotheses", header, rows, {
        "sigmas": fc1.sigmas, "epsilons": fc1.epsilons, "intervals": fc1.counts, "boxes": fc2.counts,
        "intervals_best_error": fc1.best_error, "boxes_best_error": fc2.best_error, "m": m,
        "interval_target": [0.35, 0.65], "box_target": [[0.3, 0.7], [0.35, 0.65]]})
    section = Section("4b. Feasible hypotheses under smoothing", [
        Paragraph(f"{m} points uniform in [0, 1] (and [0, 1]²), labelled by the interval [0.35, 0.65] (the box "
                  f"[0.3, 0.7] × [0.35, 0.65]). Hypotheses: intervals with endpoints on a 41-point grid; boxes with "
                  "sides on a 21-point grid. A hypothesis is feasible at σ when its smoothed version errs on at "
                  "most a share ε of the points."),
        table, _figure(fig, out, "feasible hypotheses"),
    ])
    return {"intervals": fc1.counts.tolist(), "boxes": fc2.counts.tolist(), "sigmas": fc1.sigmas.tolist(),
            "epsilons": list(epsilons)}, section


# --- the whole audit --------------------------------------------------------------------------------------

def run_audit(config: AuditConfig, out: str | Path, *, checkpoints: Mapping[str, str | Path] | None = None,
              progress: bool = True, echo: Echo = print) -> dict:
    """Run every audit stage into ``out`` (resuming what is there) and write ``summary.md``.

    Args:
        config: the settings.
        out: the audit folder.
        checkpoints: audit these models (label → checkpoint) at every σ instead of training the
            ``standard``/``noise`` pair; the accuracy-loss matrix then covers them.
    Returns:
        the summary dict (also ``out/summary.json``).
    """
    from smoothcert.data import load_dataset
    from smoothcert.models import load_checkpoint
    from smoothcert.pipeline import select_indices

    config.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Settings that do not change any number are left out, so a resumed run may change them.
    arguments = {k: v for k, v in asdict(config).items() if k not in ("device", "threads", "batch_size", "compile")}
    arguments["checkpoints"] = {k: str(v) for k, v in (checkpoints or {}).items()}
    check_resumable(out / "manifest", arguments)
    # The timing of every earlier (resumed or interrupted) run of this folder.
    earlier = earlier_runs(out / "manifest", keys=("written", "status", "timing", "load_average", "threads",
                                                   "batch_size"))
    write_manifest(out / "manifest", arguments, status="running", earlier_runs=earlier)
    timing: dict[str, float] = {}
    load = {"start": list(os.getloadavg())}  # other work on the machine slows every timing
    started = time.perf_counter()
    sections: list[Section] = []
    summary: dict = {"config": arguments}

    @contextlib.contextmanager
    def stage(name: str) -> Iterator[None]:
        echo(f"[{name}]")
        t0 = time.perf_counter()
        yield
        timing[name] = round(time.perf_counter() - t0, 2)
        echo(f"[{name}] {timing[name]:.1f} s")

    status, batch_size = "interrupted", None
    try:
        with torch_threads(config.threads):
            with stage("data and models"):
                data = load_dataset(config.dataset, data_dir=config.data_dir, seed=config.data_seed)
                indices = select_indices(len(data.x_test), 1, config.max_inputs)
                if checkpoints:
                    models = {}
                    for label, path in checkpoints.items():
                        model, info = load_checkpoint(path, config.device)
                        models[label] = (model, float(info.train_sigma))
                    families = {label: [(s, label) for s in config.sigmas] for label in models}
                else:
                    models = train_models(config, data, out, progress=progress, echo=echo)
                    families = {STANDARD: [(s, STANDARD) for s in config.sigmas],
                                NOISE: [(s, f"noise_{_sigma_name(s)}") for s in config.sigmas]}
                smooths, batch_size = _smooths(models, data.num_classes, data.input_shape, config)
                echo(f"  sampling: batch size {batch_size}, torch threads {torch.get_num_threads()}, "
                     f"{'compiled' if config.compile else 'eager'} model")
                fingerprint = {"training": list(config.training()), "arch": config.arch,
                               "data_seed": config.data_seed}
            with stage("disparity"):
                results, section = run_disparity(smooths, families, data, indices, config, out, progress=progress,
                                                 echo=echo, fingerprint=fingerprint)
                sections.append(section)
                summary["disparity"] = {f: [m.to_dict() for m in ms] for f, ms in results.items()}
            if config.matrix:
                with stage("accuracy loss"):
                    summary["accuracy_loss"], section = run_accuracy_loss(
                        smooths, {k: s for k, (_, s) in models.items()}, data, indices, config, out,
                        progress=progress)
                    sections.append(section)
            if config.synthetic:
                with stage("shrinkage"):
                    summary["shrinkage"], section = run_shrinkage(out, seed=config.seed)
                    sections.append(section)
                with stage("regions"):
                    summary["regions"], section = run_regions(out, seed=config.seed, progress=progress, echo=echo)
                    sections.append(section)
                with stage("hypotheses"):
                    summary["hypotheses"], section = run_hypotheses(out, seed=config.seed)
                    sections.append(section)
        status = "complete"
    finally:
        timing["total"] = round(time.perf_counter() - started, 2)
        load["end"] = list(os.getloadavg())
        write_manifest(out / "manifest", arguments, status=status, timing=timing, load_average=load,
                       threads=config.threads or torch.get_num_threads(), device=config.device,
                       batch_size=batch_size, earlier_runs=earlier)
    runs = ["Time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()) + ".",
            *(f"Earlier run of this folder ({e.get('written')}, {e.get('status')}): "
              f"{(e.get('timing') or {}).get('total', math.nan):.1f} s in all." for e in earlier)]
    write_markdown(Document(f"Smoothing audit: {data.name}, {config.arch}", [
        Paragraph(f"Data: {data.split_note}. Audited test inputs: {len(indices)}. σ ∈ "
                  f"{{{', '.join(f'{s:g}' for s in config.sigmas)}}}; PREDICT and CERTIFY with n = {config.n:,} "
                  f"(CERTIFY selects with n0 = {config.n0}), α = {config.alpha:g}.\n"
                  f"Models: {', '.join(f'{k} (trained with σ = {s:g})' for k, (_, s) in models.items())}."),
        Paragraph("\n".join(runs)),
        *sections,
    ]), out / "summary.md")
    summary["timing"], summary["load_average"] = timing, load
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default) + "\n")
    return summary
