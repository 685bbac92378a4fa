"""End-to-end jobs composed from the layers below: train to a checkpoint, analyze files, the demo.

The CLI calls these; they are equally usable from Python.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from .analysis import (
    certified_accuracy_data,
    high_probability_certified_accuracy,
    per_class_certified_accuracy,
    read_results,
    reproduce_cohen_table,
    summary,
    vary_noise_data,
)
from .analysis.tables import TableFormat, matched_noise_files, published_table_radii
from .data import load_dataset
from .document import Document, Figure, Paragraph, Section, Table
from .models import load_checkpoint, read_info
from .models.checkpoint import checkpoint_paths
from .pipeline import certify_dataset
from .report.markdown import render_markdown, write_markdown
from .report.plots import plot_certified_accuracy
from .runs import RunOptions
from .smooth import Smooth
from .training import TrainConfig, train_base_model

DEMO_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


def analyze_files(
    files: Sequence[Path],
    radii: Sequence[float],
    fmt: TableFormat = "markdown",
    radius_column: str = "radius",
    high_prob_alpha: float | None = None,
    per_class: bool = False,
    plot: str | Path | None = None,
) -> Document:
    """Report on certify TSVs: certified accuracy at ``radii`` with ACR and abstain rate, optionally Cohen's
    high-probability version, per-class tables, and a plot (PNG + SVG at ``plot``).

    ``radius_column`` may name several columns, comma-separated (e.g. ``radius_i,radius_ii,radius_cohen``):
    each file then gives one run per column, labelled ``file:column``. ``fmt`` ("markdown", "latex", "tsv")
    picks the header labels of the certified-accuracy table; render the document with
    ``render_markdown(doc, tables=fmt)``.
    """
    columns = [c.strip() for c in radius_column.split(",") if c.strip()]
    runs = {}
    for path in files:
        label = path.stem if path.stem not in runs else str(path)
        res = read_results(path, name=label)
        if len(columns) == 1:
            runs[label] = res
            continue
        for column in columns:  # one run per radius column, all read through the standard "radius"
            runs[f"{label}:{column}"] = replace(res, radius=res.column(column), name=f"{label}:{column}")
    radius_column = columns[0] if len(columns) == 1 else "radius"
    blocks: list = [certified_accuracy_data(runs, radii, acr=True, abstain=True, radius_column=radius_column,
                                            style=fmt)]
    radius_header = [f"r = {r:g}" for r in radii]
    if high_prob_alpha is not None:
        rows = [[label, *high_probability_certified_accuracy(res, radii, high_prob_alpha, radius_column=radius_column)]
                for label, res in runs.items()]
        blocks += [Paragraph(f"High-probability certified accuracy (α = {high_prob_alpha:g}, ρ = 0.001):"),
                   Table(["run", *radius_header], rows)]
    if per_class:
        for label, res in runs.items():
            table = per_class_certified_accuracy(res, radii, radius_column=radius_column)
            rows = [[f"class {c}", *table[c]] for c in range(table.shape[0])]
            blocks += [Paragraph(f"Per-class certified accuracy, {label}:"), Table(["class", *radius_header], rows)]
    if plot is not None:
        written = plot_certified_accuracy(runs, plot, radius_column=radius_column)
        blocks.append(Paragraph("plot: " + ", ".join(str(p) for p in written)))
    return Document("Certified accuracy", blocks)


def cohen_table_document(reference_dir: str | Path, dataset: str = "cifar10", fmt: TableFormat = "markdown"
                         ) -> Document:
    """Cohen et al.'s vary-noise table recomputed from their raw TSVs, checked against the published values
    when ``published_vary_noise_DATASET.md`` is beside them (markdown only)."""
    files = matched_noise_files(reference_dir, dataset)
    published_path = Path(reference_dir) / f"published_vary_noise_{dataset}.md"
    radii = published_table_radii(published_path) if published_path.is_file() else None
    title = f"Cohen et al. (2019), {dataset}: certified accuracy, varying σ"
    if fmt == "markdown" and radii is not None:
        ours, published = reproduce_cohen_table(reference_dir, dataset)
        agree = all(ours[k] == published[k] for k in published)
        return Document(title, [vary_noise_data(files, radii), Paragraph(
            f"Agreement with {published_path.name}: {'every value equal' if agree else 'DIFFERS'}")])
    runs = {label: read_results(path) for label, path in files.items()}
    return Document(title, [certified_accuracy_data(runs, radii or [0.25, 0.5, 0.75, 1.0], decimals=2,
                                                    mark_best=True, style=fmt)])


def demo_report(*, sigma: float, n0: int, n: int, alpha: float, seed: int, epochs: int, test_accuracy: float,
                split_note: str, table: Table, device: str, samples_per_second: float, total_seconds: float,
                train_seconds: float) -> Document:
    """The demo's ``report.md``."""
    return Document("smoothcert demo: certified robustness on 8×8 digits", [
        Paragraph(f"Base model: LeNet trained {epochs} epochs with Gaussian noise σ = {sigma}; clean test accuracy "
                  f"{test_accuracy:.3f}.\nData: {split_note}\nCertification: CERTIFY (Cohen et al. 2019) with "
                  f"σ = {sigma}, n0 = {n0}, n = {n:,}, α = {alpha}, seed {seed}."),
        Section("Certified accuracy (fraction of test digits correct and certified at radius ≥ r, ℓ2, pixels in "
                "[0,1])", [
                    table,
                    Figure("certified_accuracy.png", "certified accuracy"),
                    Paragraph(f"Device {device}; {samples_per_second:,.0f} noisy samples/s in the last "
                              f"certification run; total {total_seconds:.1f} s (training {train_seconds:.1f} s)."),
                    Paragraph("Files: `certify.tsv` (a row per digit), `certify.json` (manifest), "
                              "`model.safetensors` + `model.json`."),
                ]),
    ])


def run_demo(
    out: Path,
    *,
    n: int = 10_000,
    fresh: bool = False,
    device: torch.device | str = "cpu",
    progress: bool = True,
    compile_model: bool = True,
    echo: Callable[[str], None] = print,
) -> dict:
    """The main job: train a LeNet on digits with σ = 0.25, CERTIFY the 360 test digits (n0 = 100,
    n = 10,000, α = 0.001), write TSV, manifest, plot and a markdown report under ``out``.

    An earlier demo in ``out`` is continued (checkpoint reused, TSV resumed) unless ``fresh``.
    Returns the summary dict (also written to ``out/summary.json``).
    """
    sigma, n0, alpha, seed = 0.25, 100, 0.001, 0
    config = TrainConfig(train_sigma=sigma, epochs=60, batch_size=64, lr=2e-3, seed=seed)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("digits", seed=seed)
    ckpt, tsv = out / "model", out / "certify.tsv"
    reuse = not fresh and checkpoint_paths(ckpt)[1].is_file()
    reuse = reuse and read_info(ckpt).training.get("epochs") == config.epochs
    if reuse:
        model, info = load_checkpoint(ckpt, device)
        echo(f"reusing the trained model in {ckpt}.safetensors (use --fresh to retrain)")
    else:
        echo(f"training LeNet on digits ({len(data.x_train)} images) with Gaussian noise σ = {sigma} …")
        model, info, _ = train_base_model(data, "lenet", config, ckpt, device=device, progress=progress)
        tsv.unlink(missing_ok=True)
    train_seconds = time.perf_counter() - started
    echo(f"clean test accuracy of the base model: {info.test_accuracy:.4f}")

    smooth = Smooth(model, data.num_classes, sigma, batch_size=1024, seed=seed, device=device, compile=compile_model)
    echo(f"certifying {len(data.x_test)} test digits: n0 = {n0}, n = {n:,}, α = {alpha} …")
    arguments = {"dataset": "digits", "sigma": sigma, "n0": n0, "n": n, "alpha": alpha, "seed": seed}
    context = {"device": str(device), "dataset": {"name": data.name, "split_note": data.split_note}}
    certify_dataset(smooth, data.x_test, data.y_test, tsv, n0=n0, n=n, alpha=alpha, arguments=arguments,
                    options=RunOptions(resume=tsv.is_file(), progress=progress), context=context)
    total_seconds = time.perf_counter() - started

    results = read_results(tsv, name=f"digits, LeNet, σ = {sigma}")
    table = certified_accuracy_data({results.name: results}, DEMO_RADII, acr=True, abstain=True)
    plots = plot_certified_accuracy({results.name: results}, out / "certified_accuracy",
                                    title=f"digits, σ = {sigma}, n = {n:,}")
    stats = summary(results, DEMO_RADII)
    manifest = json.loads(tsv.with_suffix(".json").read_text())
    samples_per_second = manifest.get("timing", {}).get("samples_per_second", float("nan"))
    write_markdown(demo_report(sigma=sigma, n0=n0, n=n, alpha=alpha, seed=seed, epochs=config.epochs,
                               test_accuracy=info.test_accuracy, split_note=data.split_note, table=table,
                               device=str(device), samples_per_second=samples_per_second,
                               total_seconds=total_seconds, train_seconds=train_seconds), out / "report.md")
    stats.update(total_seconds=total_seconds, train_seconds=train_seconds, test_accuracy=info.test_accuracy,
                 plots=[str(p) for p in plots])
    (out / "summary.json").write_text(json.dumps(stats, indent=2, default=str) + "\n")
    echo("")
    echo(render_markdown(table))
    echo(f"report: {out / 'report.md'}   plot: {plots[0]}")
    echo(f"total time: {total_seconds:.1f} s")
    return stats
