"""The trade-off's jobs: running both experiments into run folders, with scheduling, parallel workers,
progress, manifests and reports (each report a :class:`~smoothcert.document.Document`).

``tradeoff disks`` is one job (:func:`run_disks_experiment`); it refuses to replace an earlier run's files
unless asked to (``overwrite``).

The α × β grid is a small graph of jobs: the clean model, then one fine-tuning job per α, then one job per
cell (α, β), which can start as soon as α's model exists. The jobs run in the job pool of a backend
(:meth:`smoothcert.backends.Backend.job_pool`): with the serial backend here, one after another, or with
``workers`` > 1 in a pool of spawned processes (each with ``threads`` torch threads); with the Ray backend as
Ray tasks on the cluster (the run folder on a file system its nodes share).
Every job writes its own output (a checkpoint, a cell file) when it is done, so an interrupted grid resumes
where it stopped and a grid extended by new α or β values reuses every model and cell it already has.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ...backends import Backend, SerialBackend
from ...document import Code, Document, Figure, Paragraph, Section, Table
from ...errors import ResultsError
from ...progress import progress_bar
from ...report.html import write_report
from ...report.markdown import render_markdown
from ...report.tables import render_table, tsv_table
from ...runs import write_manifest
from ...validate import check_count, check_output_folder
from . import grid as g
from .disks import DisksConfig, DisksResult, run_disks

Echo = Callable[[str], None]


# --- the synthetic experiment ------------------------------------------------------------------------------------


#: What a disks run writes into its folder: any of them there means an earlier run (refused without overwrite).
DISKS_FILES = ("gains.tsv", "deltas.json", "alpha_star.md", "gains.png", "gains.svg", "report.md", "report.html",
               "disks.json")


def run_disks_experiment(config: DisksConfig, out: str | Path, *, overwrite: bool = False, progress: bool = True,
                         echo: Echo = print) -> DisksResult:
    """Run :func:`~smoothcert.studies.tradeoff.disks.run_disks` and write, under ``out``: ``gains.tsv`` (mean and
    SE of Δ_{α,β} − Δ_{0,β} per ζ, β, α), ``alpha_star.md``, ``gains.png/.svg``, ``deltas.json`` (every draw),
    ``report.md`` (:func:`disks_report`) and the manifest ``disks.json``.

    A folder holding an earlier run's files is refused unless ``overwrite``; the settings are checked first.
    """
    from .plots import plot_disk_gains  # matplotlib only where a job plots (not in every grid worker)

    cfg = config.validate()
    out = check_output_folder(out, "run folder")
    existing = [name for name in DISKS_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise ResultsError(f"{out / existing[0]} already exists; pass --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    bar = progress_bar(total=len(cfg.zetas) * cfg.draws, desc="disks", unit="draw", disable=not progress)
    try:
        result = run_disks(cfg, progress=bar.update)
    finally:
        bar.close()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    gains, se = result.gains, result.gain_se
    rows = [[f"{z:g}", f"{b:g}", f"{a:g}", float(gains[iz, ia, ib]), float(se[iz, ia, ib])]
            for iz, z in enumerate(cfg.zetas) for ib, b in enumerate(cfg.betas) for ia, a in enumerate(cfg.alphas)]
    (out / "gains.tsv").write_text(tsv_table(["zeta", "beta", "alpha", "gain", "se"], rows, decimals=6))
    (out / "deltas.json").write_text(json.dumps(result.to_dict()) + "\n")
    table = render_table(disks_alpha_star_table(result))
    (out / "alpha_star.md").write_text(table)
    plots = plot_disk_gains(result, out / "gains", title=f"{cfg.size}×{cfg.size} grid, disks of radius "
                            f"{cfg.radius:g}, {cfg.draws} draws")
    write_report(disks_report(result, plots[0].name), out / "report.md")
    write_manifest(out / "disks", asdict(cfg), status="complete",
                   timing={"seconds": seconds, "cpu_seconds": cpu_seconds},
                   results={"alpha_star": result.alpha_star().tolist(), "best_gain": result.best_gain().tolist(),
                            "disks_per_draw": result.disks.tolist()})
    echo(table)
    echo(f"plot: {plots[0]}   time: {seconds:.1f} s")
    return result


def disks_alpha_star_table(result: DisksResult) -> Table:
    """Per ζ (rows) and β (columns), α*, the mean gain there ± its SE over draws (negative: augmentation
    helps) and the baseline Δ_{0,β}."""
    cfg = result.config
    star, gains, se, base = result.alpha_star(), result.gains, result.gain_se, result.baseline
    header = ["ζ", "disks per draw", *[f"β = {b:g}: α*, gain ± SE (Δ_0,β)" for b in cfg.betas]]
    rows = []
    for z, zeta in enumerate(cfg.zetas):
        cells = []
        for j in range(len(cfg.betas)):
            k = cfg.alphas.index(float(star[z, j]))
            cells.append(f"{star[z, j]:g}, {gains[z, k, j]:+.4f} ± {se[z, k, j]:.4f} ({base[z, j]:.3f})")
        rows.append([f"{zeta:g}", f"{result.disks[z].mean():.1f}", *cells])
    return Table(header, rows)


def disks_report(result: DisksResult, plot: str | None = None) -> Document:
    """``report.md`` of a disks run: its settings, the α*(β, ζ) table and, when given, the gains plot's file."""
    cfg = result.config
    blocks = [
        Paragraph(f"{cfg.size} × {cfg.size} pixel grid, disks of radius {cfg.radius:g} placed by rejection sampling "
                  f"({cfg.tries:,} candidates per draw), {cfg.draws} draws per ζ, seed {cfg.seed}, boundary mode "
                  f"{cfg.mode}. Gain: Δ_α,β − Δ_0,β, mean over draws (negative: training noise α helps)."),
        Section("Best training noise α*(β, ζ)", [disks_alpha_star_table(result)]),
    ]
    if plot is not None:
        blocks.append(Figure(plot, "Gain against training noise α, one panel per β, one line per ζ"))
    return Document("Synthetic disks: training noise α against smoothing noise β", blocks)


# --- the real-data grid ------------------------------------------------------------------------------------------


MANIFEST = "grid"  # the manifest is <run>/grid.json


def check_grid_folder(config: g.GridConfig, out: Path, resume: bool) -> None:
    """Refuse to write into a folder holding another grid, or to resume one made with a different recipe."""
    path = out / f"{MANIFEST}.json"
    if not path.is_file():
        if (out / "cells").is_dir() or (out / "models").is_dir():
            if not resume:
                raise ResultsError(f"{out} already holds grid outputs; pass --resume to continue it")
        return
    if not resume:
        raise ResultsError(f"{out} already holds a grid; pass --resume to continue it (or choose another --out)")
    try:
        old = json.loads(path.read_text()).get("arguments", {}).get("recipe", {})
    except json.JSONDecodeError as err:
        raise ResultsError(f"cannot resume: manifest {path} is not valid JSON") from err
    new = config.recipe()
    differing = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differing:
        detail = ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in differing[:3])
        raise ResultsError(f"cannot resume {out}: its grid was made with other settings ({detail})")


def run_grid(config: g.GridConfig, out: str | Path, *, workers: int | None = None, threads: int | None = None,
             resume: bool = False, progress: bool = True, echo: Echo = print,
             backend: Backend | None = None) -> g.GridResult:
    """Train, fine-tune and evaluate every cell of ``config``'s α × β grid into ``out``; write tables and plots.

    Args:
        config: the grid (see :class:`~smoothcert.studies.tradeoff.grid.GridConfig`).
        out: run folder. An existing grid there is continued only with ``resume`` (and the same recipe); its
            models and cells are reused, so resuming also extends a grid by new α or β values.
        workers: jobs that run at once: with the serial backend processes (default 1: here, sequentially), with
            Ray tasks (default: as many as the cluster's resources allow).
        threads: torch threads per worker (default 1: on a CPU shared with other processes, one thread per
            worker was several times faster than torch's default of one per core, docs/tradeoff.md).
        progress: a progress bar over cells (done, rate, ETA).
        backend: where the jobs run (:mod:`smoothcert.backends`; default serial); the cells are the same.
    Returns:
        the collected results.
    """
    cfg = config.validate()
    workers = None if workers is None else check_count("workers", workers)
    threads = 1 if threads is None else check_count("threads", threads)
    out = check_output_folder(out, "run folder")
    check_grid_folder(cfg, out, resume)
    g.grid_data(cfg)  # a missing or bad data set fails here, before anything is written
    arguments = {"recipe": cfg.recipe(), "alphas": cfg.alphas, "betas": cfg.betas}
    backend = backend or SerialBackend()
    if workers is None and isinstance(backend, SerialBackend):
        workers = 1
    context = {"workers": workers, "threads": threads,
               **({} if isinstance(backend, SerialBackend) else {"backend": backend.describe()})}
    earlier = _earlier_runs(out) if resume else []  # a resumed grid keeps the record of every invocation
    queue = backend.job_pool(workers, threads)  # a cluster that cannot be reached fails before anything is written
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_manifest(out / MANIFEST, arguments, status="running", timing=_total(earlier), runs=earlier, **context)
    except BaseException:
        queue.close(finished=False)
        raise

    started = time.perf_counter()
    pending = {a: [b for b in cfg.betas if g.read_cell(cfg, out, a, b) is None] for a in cfg.alphas}
    total = sum(len(v) for v in pending.values())
    need_model = [a for a in cfg.alphas if pending[a] and not g.has_model(g.model_path(out, a, cfg))]
    jobs: list[dict] = []
    clean_needed = bool(need_model) and not g.has_model(g.clean_path(out))
    model_bar = progress_bar(total=len(need_model) + clean_needed, desc="models", unit="model", position=0,
                             disable=not progress or not need_model)
    # The cell bar's clock starts with the first cell, so its rate and ETA are those of cells alone.
    cell_bar = progress_bar(total=total, desc=f"cells {cfg.dataset}", unit="cell", position=1 if need_model else 0,
                            disable=not progress, smoothing=0.2)
    cells_started = False
    status = "interrupted"

    def submit_cells(alpha: float) -> None:
        nonlocal cells_started
        if pending[alpha] and not cells_started:
            cells_started = True
            cell_bar.reset(total=total)
        for beta in pending[alpha]:
            queue.submit(("cell", alpha, beta), g.evaluate_cell, cfg, out, alpha, beta)

    try:
        if clean_needed:
            model_bar.set_postfix_str("clean")
            jobs.append(queue.run(g.train_clean, cfg, out))
            model_bar.update(1)
        for alpha in cfg.alphas:  # fine-tuning first: every cell of that α waits for it
            if alpha in need_model:
                queue.submit(("model", alpha, None), g.finetune_model, cfg, out, alpha)
        for alpha in cfg.alphas:
            if alpha not in need_model:
                submit_cells(alpha)
        while len(queue):
            (kind, alpha, beta), record = queue.next_done()
            if kind == "model":
                jobs.append(record)
                model_bar.set_postfix_str(f"α = {alpha:g}")
                model_bar.update(1)
                submit_cells(alpha)
            else:
                jobs.append({"cell": g.cell_key(alpha, beta), "seconds": record.get("seconds", {})})
                cell_bar.update(1)
        status = "complete"
    finally:
        model_bar.close()
        cell_bar.close()
        queue.close(finished=status == "complete")
        seconds = time.perf_counter() - started
        runs = [*earlier, {"status": status, **context, "timing": _timing(jobs, seconds), "jobs": jobs}]
        timing = _total(runs)
        write_manifest(out / MANIFEST, arguments, status=status, timing=timing, runs=runs, **context)
    result = g.collect(cfg, out)
    write_grid_report(result, out, timing=timing, echo=echo)
    return result


def _earlier_runs(out: Path) -> list[dict]:
    """The invocations recorded in a grid's manifest (none if there is no manifest)."""
    path = out / f"{MANIFEST}.json"
    if not path.is_file():
        return []
    doc = json.loads(path.read_text())
    if "runs" in doc:
        return list(doc["runs"])
    if "timing" in doc:  # a manifest that records a single invocation
        return [{"status": doc.get("status"), "workers": doc.get("workers"), "threads": doc.get("threads"),
                 "timing": doc["timing"], "jobs": doc.get("jobs", [])}]
    return []


def _total(runs: list[dict]) -> dict:
    """Timing summed over invocations."""
    total: dict = {}
    for run in runs:
        for key, value in run.get("timing", {}).items():
            total[key] = total.get(key, 0) + value
    return total


def _timing(jobs: list[dict], seconds: float) -> dict:
    models = [j for j in jobs if "model" in j and not j.get("cached")]
    cells = [j for j in jobs if "cell" in j]
    return {
        "wall_seconds": seconds,
        "model_cpu_seconds": sum(j.get("cpu_seconds", 0.0) for j in models),
        "model_wall_seconds": sum(j.get("seconds", 0.0) for j in models),
        "cell_cpu_seconds": sum(j["seconds"].get("cpu", 0.0) for j in cells),
        "cell_wall_seconds": sum(j["seconds"].get("total", 0.0) for j in cells),
        "models_trained": len(models),
        "cells_evaluated": len(cells),
    }


# --- tables and plots of a grid ----------------------------------------------------------------------------------


def grid_tables(result: g.GridResult) -> dict[str, tuple[list[str], list[list]]]:
    """Tables name → (header, rows): ``risk``, ``certified_r<r>`` per radius, ``alpha_star``."""
    betas = [f"β = {b:g}" for b in result.betas]
    tables = {"risk": (["α \\ β", *betas], [[f"{a:g}", *result.risk[i]] for i, a in enumerate(result.alphas)])}
    for r, values in result.certified.items():
        tables[f"certified_r{g.level_label(r)}"] = (
            ["α \\ β", *betas], [[f"{a:g}", *values[i]] for i, a in enumerate(result.alphas)])
    tables["alpha_star"] = alpha_star_rows(result)
    return tables


def alpha_star_rows(result: g.GridResult) -> tuple[list[str], list[list]]:
    """α*(β) with the α it cannot be told apart from (within 2 paired SE), its risk, the risk at α = 0 and at
    α = β (when on the grid), the paired difference α* − 0, the
    best α for certified accuracy at each radius > 0, and, on MNIST, the paper's α* and risks."""
    stars = result.alpha_star()
    radii = [r for r in result.config.radii if r > 0]
    cert_stars = {r: result.alpha_star(result.certified[r], minimize=False) for r in radii}
    paper = result.config.dataset == "mnist"
    header = ["β", "α*", "α within 2 SE of α*", "risk at α*", "risk at α = 0", "risk at α = β",
              "risk(α*) − risk(0) ± SE",
              *[f"best α, cert. acc. r = {r:g}" for r in radii]]
    if paper:
        header += ["paper α*", "paper risk at α*", "paper risk at α = 0"]
    zero = result.alphas.index(0.0)
    rows = []
    for j, beta in enumerate(result.betas):
        star = stars[j]
        if np.isnan(star):
            continue
        i = result.alphas.index(float(star))
        at_beta = result.risk[result.alphas.index(beta), j] if beta in result.alphas else None
        if (star, beta) in result.cells and (0.0, beta) in result.cells and star != 0:
            diff, se = result.paired_difference(float(star), 0.0, beta)
            paired = f"{diff:+.4f} ± {se:.4f}"
        else:
            paired = "0"
        near = ", ".join(f"{a:g}" for a in result.near_best(beta))
        row = [f"{beta:g}", f"{star:g}", near, float(result.risk[i, j]), float(result.risk[zero, j]),
               "–" if at_beta is None else float(at_beta), paired,
               *[_best_certified(result, r, j, cert_stars[r][j]) for r in radii]]
        if paper:
            ref = g.PAPER_MNIST_ALPHA_STAR.get(round(beta, 6))
            row += [f"{ref[0]:g}", ref[1], ref[2]] if ref else ["–", "–", "–"]
        rows.append(row)
    return header, rows


def _best_certified(result: g.GridResult, radius: float, column: int, star: float) -> str:
    """The best α for certified accuracy at ``radius``, or '–' when no α certifies anything there."""
    values = result.certified[radius][:, column]
    if np.isnan(star) or not np.nanmax(values) > 0:
        return "–"
    return f"{star:g}"


def _certified_stars(result: g.GridResult, radius: float) -> np.ndarray:
    """Best α for certified accuracy at ``radius`` per β; NaN where no α certifies anything."""
    values = result.certified[radius]
    stars = result.alpha_star(values, minimize=False)
    with np.errstate(invalid="ignore"):
        empty = ~(np.nanmax(np.where(np.isnan(values), -1.0, values), axis=0) > 0)
    stars[empty] = np.nan
    return stars


def _inputs(skip: int, most: int | None) -> str:
    text = "all test inputs" if skip == 1 else f"every {skip}{'nd' if skip == 2 else 'th'} test input"
    return text if most is None else f"{text} (at most {most})"


def write_grid_report(result: g.GridResult, out: Path, *, timing: dict | None = None, echo: Echo = print) -> Path:
    """Write every table (TSV + markdown), the heatmaps and the α*(β) plot, and ``report.md`` beside them."""
    from .plots import plot_alpha_star, plot_heatmap

    out = Path(out)
    tables = grid_tables(result)
    for name, (header, rows) in tables.items():
        table = Table(header, rows, decimals=4)
        (out / f"{name}.tsv").write_text(render_table(table, "tsv"))
        (out / f"{name}.md").write_text(render_table(table, "markdown"))
    cfg = result.config
    plots = [plot_heatmap(result.risk, result.alphas, result.betas, out / "risk_heatmap", best=result.alpha_star(),
                          title=f"{cfg.dataset}: smoothed risk (majority of {cfg.votes} votes)",
                          label="test error", cmap="viridis_r")[0]]
    for r, values in result.certified.items():
        if r > 0:
            plots.append(plot_heatmap(values, result.alphas, result.betas,
                                      out / f"certified_r{g.level_label(r)}_heatmap",
                                      best=_certified_stars(result, r), label="certified accuracy",
                                      title=f"{cfg.dataset}: certified accuracy at r = {r:g} (n = {cfg.n:,})")[0])
    curves = {f"{cfg.dataset} (this run)": (result.betas, result.alpha_star())}
    if cfg.dataset == "mnist":
        ref = g.PAPER_MNIST_ALPHA_STAR
        curves["MNIST, Pal & Sulam"] = (list(ref), [v[0] for v in ref.values()])
    plots.append(plot_alpha_star(curves, out / "alpha_star", title="best training noise per smoothing noise")[0])
    report, _ = write_report(grid_report(result, g.model_summary(cfg, out), tables, timing), out / "report.md")
    echo(render_markdown(Table(*tables["alpha_star"], decimals=4)))
    echo(f"report: {report}   plots: {', '.join(str(p) for p in plots)}")
    return report


def grid_report(result: g.GridResult, models: list[dict], tables: Mapping[str, tuple[list[str], list[list]]],
                timing: dict | None = None) -> Document:
    """``report.md`` of a grid: its tables (from :func:`grid_tables`), the base models and the timing."""
    cfg = result.config
    model_rows = [[f"{m['alpha']:g}", m["test_accuracy"], m["noisy_test_accuracy"]] for m in models]
    sections = [
        Section("Smoothed risk (rows: training noise α, columns: smoothing noise β)",
                [Table(*tables["risk"], decimals=4)]),
        Section("Best training noise α*(β)", [Table(*tables["alpha_star"], decimals=4)]),
        Section("Base models", [Table(["α", "test accuracy (clean)", "test accuracy, one noisy copy at α"],
                                      model_rows, decimals=4)]),
        *(Section(f"Certified accuracy at r = {r:g}", [Table(*tables[f"certified_r{g.level_label(r)}"], decimals=3)])
          for r in cfg.radii),
    ]
    if timing:
        sections.append(Section("Timing", [Code(json.dumps(timing, indent=2))]))
    return Document(f"α × β grid: {cfg.dataset}, {cfg.arch}", [
        Paragraph(f"Cells: {len(result.cells)} of {len(result.alphas) * len(result.betas)}. Risk: majority vote over "
                  f"{cfg.votes} noisy copies, {_inputs(cfg.risk_skip, cfg.risk_max)}. Certified accuracy: CERTIFY "
                  f"with n0 = {cfg.n0}, n = {cfg.n:,}, α = {cfg.cert_alpha}, {_inputs(cfg.cert_skip, cfg.cert_max)}."),
        *sections,
    ])


def load_grid(out: str | Path) -> g.GridResult:
    """The results of the grid in run folder ``out`` (as far as it got), from its manifest and cell files."""
    path = Path(out) / f"{MANIFEST}.json"
    if not path.is_file():
        raise ResultsError(f"no grid manifest in {out}")
    try:
        arguments = json.loads(path.read_text())["arguments"]
        config = g.GridConfig.from_dict({**arguments["recipe"], "alphas": arguments["alphas"],
                                         "betas": arguments["betas"]})
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ResultsError(f"grid manifest {path} is malformed: {err}") from err
    return g.collect(config.validate(), Path(out))


def compare_alpha_star(runs: Mapping[str, str | Path], out_path_stem: str | Path, *, paper: bool = True,
                       title: str | None = None) -> list[Path]:
    """One α*(β) plot for several grids (label → run folder), with Pal & Sulam's MNIST curve if ``paper``."""
    from .plots import plot_alpha_star

    curves = {}
    for label, run in runs.items():
        result = load_grid(run)
        curves[label] = (result.betas, result.alpha_star())
    if paper:
        ref = g.PAPER_MNIST_ALPHA_STAR
        curves["MNIST 60k, Pal & Sulam"] = (list(ref), [v[0] for v in ref.values()])
    return plot_alpha_star(curves, out_path_stem, title=title)
