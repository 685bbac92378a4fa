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
    p_a_distribution_data,
    read_results,
    reproduce_cohen_table,
    summary,
    vary_noise_data,
)
from .analysis.files import analysis_blocks, read_runs
from .analysis.tables import TableFormat, matched_noise_files, published_table_radii
from .data import load_dataset
from .document import Document, Figure, Paragraph, Section, Table
from .errors import ResultsError
from .models import load_checkpoint, read_info
from .models.checkpoint import asdict_info, checkpoint_paths
from .pipeline import certify_dataset, select_indices
from .report.html import write_report
from .report.markdown import render_markdown
from .report.plots import plot_certified_accuracy, plot_p_a_distribution
from .runs import RunOptions
from .smooth import Smooth
from .training import TrainConfig, train_base_model
from .validate import check_count, check_output_file, check_output_folder

DEMO_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


def analyze_files(
    files: Sequence[Path],
    radii: Sequence[float],
    fmt: TableFormat = "markdown",
    radius_column: str = "radius",
    high_prob_alpha: float | None = None,
    per_class: bool = False,
    plot: str | Path | None = None,
    high_prob_method: str = "binomial",
) -> Document:
    """Report on certify TSVs: certified accuracy at ``radii`` with ACR, abstain rate and N, what the rows
    stand for (N and whether the run finished, from its manifest; what each radius column certifies),
    optionally the high-probability version (``high_prob_method`` "binomial", or "cohen" for Cohen et al.'s
    formula; clipped at 0, as the report says), per-class tables, and a plot (PNG + SVG at ``plot``).

    ``radius_column`` may name several columns, comma-separated (e.g. ``radius_i,radius_ii,radius_cohen``):
    each file then gives one run per column, labelled ``file:column``. ``fmt`` ("markdown", "latex", "tsv")
    picks the header labels of the certified-accuracy table; render the document with
    ``render_markdown(doc, tables=fmt)``. Refuses (ResultsError, one line) a file whose rows of one input
    differ; an unwritable ``plot`` is refused before any file is read.
    """
    if plot is not None:
        stem = Path(plot)
        for path in (stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")):
            check_output_file(path, "plot")
    columns = [c.strip() for c in radius_column.split(",") if c.strip()]
    runs = read_runs(files, columns)
    blocks = analysis_blocks(runs, radii, fmt, high_prob_alpha, high_prob_method, per_class)
    by_file = {run.results.name: run.results for run in runs.values()}  # p̲_A is one per file, whatever the radius
    p_a_table = p_a_distribution_data(by_file)
    if p_a_table.rows:
        blocks += [Paragraph("Distribution of p̲_A, the lower confidence bound on the top class's probability: "
                             "the fraction of all inputs with p̲_A ≥ x (beside ACR, which alone can hide where the "
                             "certificates lie):"), p_a_table]
    if plot is not None:
        curves = {label: replace(run.results, radius=run.results.column(run.column), name=label)
                  for label, run in runs.items()}  # each drawn through its own radius column
        written = plot_certified_accuracy(curves, plot)
        if p_a_table.rows:
            written += plot_p_a_distribution(by_file, Path(str(plot) + "_pA"))
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
                train_seconds: float, p_a_table: Table | None = None, reused: bool = False) -> Document:
    """The demo's ``report.md``; ``p_a_table`` (:func:`~smoothcert.analysis.p_a_distribution_data`) adds the
    distribution of p̲_A with its plot ``p_a_distribution.png``."""
    p_a_section = [] if p_a_table is None else [Section("Distribution of p̲_A (fraction of test digits whose lower "
                                                        "confidence bound on the top class's probability is ≥ x)", [
        p_a_table,
        Figure("p_a_distribution.png", "fraction of test digits with p̲_A ≥ x, against x"),
        Paragraph(f"p̲_A ≥ ½ certifies a radius σΦ⁻¹(p̲_A); with n = {n:,} no p̲_A exceeds α^(1/n) = "
                  f"{alpha ** (1 / n):.6f}, the ceiling of the largest radius. The average certified radius alone "
                  "can hide how the certificates spread between these ends."),
    ])]
    training = "the model trained earlier was reused" if reused else f"training {train_seconds:.1f} s"
    return Document("smoothcert demo: certified robustness on 8×8 digits", [
        Paragraph(f"Base model: LeNet trained {epochs} epochs with Gaussian noise σ = {sigma}; clean test accuracy "
                  f"{test_accuracy:.3f}.\nData: {split_note}\nCertification: CERTIFY (Cohen et al. 2019) with "
                  f"σ = {sigma}, n0 = {n0}, n = {n:,}, α = {alpha}, seed {seed}."),
        Section("Certified accuracy (fraction of test digits correct and certified at radius ≥ r, ℓ2, pixels in "
                "[0,1])", [
                    table,
                    Figure("certified_accuracy.png", f"certified accuracy of the smoothed LeNet against ℓ2 radius on "
                           f"the test digits, σ = {sigma}, n = {n:,}"),
                    Paragraph(f"Device {device}; {samples_per_second:,.0f} noisy samples/s in the last "
                              f"certification session that sampled; this call took {total_seconds:.1f} s "
                              f"({training})."),
                    Paragraph("Files: `certify.tsv` (a row per digit), `certify.json` (manifest), "
                              "`model.safetensors` + `model.json`, this report as `report.md` and `report.html`. "
                              "`smoothcert report` on this folder adds what was certified in full, per-class "
                              "accuracy and its disparity, and compares it with other runs."),
                ]),
        *p_a_section,
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
    epochs: int = 60,
    max_inputs: int | None = None,
    objective: str = "gaussian",
) -> dict:
    """The main job: train a LeNet on digits with σ = 0.25, CERTIFY the 360 test digits (n0 = 100,
    n = 10,000, α = 0.001), write TSV, manifest, plot and the report (``report.md`` and ``report.html``, from
    one document) under ``out``.

    ``objective`` is the training objective (docs/training.md; its paper's default options), Gaussian noise
    augmentation by default. An earlier demo in ``out`` is continued (checkpoint reused, TSV resumed) unless
    ``fresh``; one trained with another objective or epochs is retrained. ``epochs`` and ``max_inputs`` (the
    first test digits only) make a smaller demo, e.g. for a quick look or a test.
    Returns the summary dict (also written to ``out/summary.json``).
    """
    sigma, n0, alpha, seed = 0.25, 100, 0.001, 0
    config = TrainConfig(train_sigma=sigma, epochs=epochs, batch_size=64, lr=2e-3, seed=seed,
                         method=objective).validate()
    started = time.perf_counter()
    check_count("n", n)  # bad input is refused before training, not after it
    check_output_folder(out, "demo folder")
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("digits", seed=seed)
    ckpt, tsv = out / "model", out / "certify.tsv"
    reuse = not fresh and checkpoint_paths(ckpt)[1].is_file()
    if reuse:
        training = read_info(ckpt).training
        reuse = training.get("epochs") == config.epochs and training.get("method", "gaussian") == objective
    if reuse:
        model, info = load_checkpoint(ckpt, device)
        echo(f"reusing the trained model in {ckpt}.safetensors (use --fresh to retrain)")
    else:
        how = "Gaussian noise" if objective == "gaussian" else f"the {objective} objective and Gaussian noise"
        echo(f"training LeNet on digits ({len(data.x_train)} images) with {how} σ = {sigma} …")
        model, info, _ = train_base_model(data, "lenet", config, ckpt, device=device, progress=progress)
        tsv.unlink(missing_ok=True)
    train_seconds = time.perf_counter() - started
    echo(f"clean test accuracy of the base model: {info.test_accuracy:.4f}")

    smooth = Smooth(model, data.num_classes, sigma, batch_size=1024, seed=seed, device=device, compile=compile_model)
    indices = select_indices(len(data.x_test), 1, max_inputs)
    echo(f"certifying {len(indices)} test digits: n0 = {n0}, n = {n:,}, α = {alpha} …")
    arguments = {"dataset": "digits", "sigma": sigma, "n0": n0, "n": n, "alpha": alpha, "seed": seed}
    if max_inputs is not None:  # only then: earlier demos' manifests stay resumable
        arguments["max_inputs"] = max_inputs
    context = {"device": str(device), "dataset": {"name": data.name, "split_note": data.split_note,
                                                  "test_inputs": len(data.x_test), "selected": len(indices)},
               "model": asdict_info(info), "noise": smooth.noise.to_dict()}
    try:
        certify_dataset(smooth, data.x_test, data.y_test, tsv, n0=n0, n=n, alpha=alpha, indices=indices,
                        arguments=arguments,
                        # A retrained model replaces the demo's own earlier run (rows, manifest, counts).
                        options=RunOptions(resume=reuse and tsv.is_file(), overwrite=not reuse, progress=progress),
                        context=context)
    except ResultsError as err:  # e.g. an earlier demo with another --n: say how to start over
        raise ResultsError(f"{err} (the demo in {out} continues an earlier run; pass --fresh to start over)") from err
    total_seconds = time.perf_counter() - started

    trained = "" if objective == "gaussian" else f", {objective}"
    results = read_results(tsv, name=f"digits, LeNet{trained}, σ = {sigma}")
    table = certified_accuracy_data({results.name: results}, DEMO_RADII, acr=True, abstain=True)
    plots = plot_certified_accuracy({results.name: results}, out / "certified_accuracy",
                                    title=f"digits, σ = {sigma}, n = {n:,}")
    p_a_table = p_a_distribution_data({results.name: results})
    plots += plot_p_a_distribution({results.name: results}, out / "p_a_distribution",
                                   title=f"digits, σ = {sigma}, n = {n:,}")
    stats = summary(results, DEMO_RADII)
    manifest = json.loads(tsv.with_suffix(".json").read_text())
    # A call that resumed a finished run sampled nothing: its speed is that of the last session that sampled.
    earlier = [e.get("timing") or {} for e in reversed(manifest.get("earlier_runs", []))]
    sessions = [manifest.get("timing") or {}, *earlier]
    samples_per_second = next((t["samples_per_second"] for t in sessions if t.get("samples")), float("nan"))
    write_report(demo_report(sigma=sigma, n0=n0, n=n, alpha=alpha, seed=seed, epochs=config.epochs,
                               test_accuracy=info.test_accuracy, split_note=data.split_note, table=table,
                               device=str(device), samples_per_second=samples_per_second,
                               total_seconds=total_seconds, train_seconds=train_seconds, p_a_table=p_a_table,
                               reused=reuse),
                 out / "report.md")
    stats.update(total_seconds=total_seconds, train_seconds=train_seconds, test_accuracy=info.test_accuracy,
                 plots=[str(p) for p in plots])
    (out / "summary.json").write_text(json.dumps(stats, indent=2, default=str) + "\n")
    echo("")
    echo(render_markdown(table))
    echo(f"report: {out / 'report.md'} and {out / 'report.html'}   plot: {plots[0]}")
    echo(f"total time: {total_seconds:.1f} s")
    return stats
