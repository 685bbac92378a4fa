"""The synthetic stages of an audit: 2. shrinking regions, analytic (:func:`run_shrinkage`); 3. shrinking
regions on a 2-D problem (:func:`run_regions`); 4b. feasible hypotheses (:func:`run_hypotheses`). Each writes
its tables and figures into the audit folder and returns (summary numbers, report section);
:func:`run_part` runs one of them alone, with its own manifest and markdown."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch import nn

from smoothcert.document import Document, Paragraph, Section
from smoothcert.errors import InvalidArgumentError, ResultsError
from smoothcert.report.markdown import render_markdown
from smoothcert.runs import CellCache, RunOptions, check_resumable, write_manifest
from smoothcert.validate import check_choice, check_count, check_int, check_positive, check_real, check_seed

from .base_models import reusable_checkpoint, torch_threads
from .folder import Echo, audit_folder, figure, figure_stem, write_table
from .hypotheses import BoxClass, IntervalClass, feasible_counts
from .regions import BallIndicator, make_grid, region_sweep, vanishing_sigma_empirical
from .shrinkage import cone_apex_shift, cone_shrink, shrink_curve, smoothed_ball_radius, vanishing_sigma

__all__ = ["PARTS", "run_hypotheses", "run_part", "run_regions", "run_shrinkage"]

#: Called by a stage with its checked settings, before it writes anything.
Start = Callable[[dict], None]


# --- 2. shrinking regions, analytic -----------------------------------------------------------------------

def run_shrinkage(out: Path, *, rho: float = 1.0, dims: Sequence[int] = (1, 2, 10, 50, 784),
                  angles: Sequence[float] = (15, 30, 45, 60, 75, 90), cone_dims: Sequence[int] = (2, 3, 10),
                  mc: int = 100_000, seed: int = 0, start: Start | None = None) -> tuple[dict, Section]:
    """Ball radius ρ_σ and σ_van in ℝ^d for each d in ``dims`` (ball radius ``rho``), cone apex shifts for the
    half-angles ``angles`` (degrees) in each dimension of ``cone_dims`` (Monte Carlo, ``mc`` samples), and
    boundaries; tables and figures. ``start`` is called with the checked settings before anything is written."""
    from .plots import plot_cone_shrink, plot_shrink_curves

    settings = {"rho": check_positive("rho", rho), "dims": [check_count("dims", d) for d in dims],
                "angles": [check_real("angles (degrees)", a, low=0.0, high=90.0, low_open=True) for a in angles],
                "cone_dims": [check_int("cone_dims", d, minimum=2) for d in cone_dims], "mc": check_count("mc", mc),
                "seed": check_seed(seed)}
    if start is not None:
        start(settings)
    rho, dims, angles, cone_dims, mc = (settings[k] for k in ("rho", "dims", "angles", "cone_dims", "mc"))
    ratios = {}
    for d in dims:
        s = np.geomspace(1e-3, 2.0, 160) * rho
        s = np.sort(np.append(s, vanishing_sigma(rho, d) * np.array([0.999, 1.0])))
        ratios[int(d)] = (s / rho, shrink_curve(rho, s, d))
    probe = (0.01, 0.03, 0.1, 0.3)
    rows = [[d, vanishing_sigma(rho, d) / rho, 1 / math.sqrt(d),
             *(smoothed_ball_radius(rho, p * rho, d) / rho for p in probe)] for d in dims]
    ball = write_table(out, "shrinkage_ball", ["d", "σ_van / ρ", "1/√d", *(f"ρ_σ/ρ at σ = {p:g}ρ" for p in probe)],
                       rows, {"rho": rho, "rows": rows}, decimals=4)
    apex = {int(d): (np.asarray(angles, dtype=float),
                     np.array([cone_apex_shift(math.radians(a), d, mc, seed) for a in angles])) for d in cone_dims}
    axial = np.linspace(0.0, 8.0, 65)
    shapes = {f"d = {d}, θ = {theta}°": cone_shrink(math.radians(theta), d, 1.0, axial, mc, seed)
              for d, theta in ((2, 30), (2, 60), (3, 30), (10, 30))}
    cone_rows = [[a, *(apex[d][1][k] for d in apex)] for k, a in enumerate(angles)]
    cone = write_table(out, "shrinkage_cone", ["half-angle θ (°)", *(f"apex shift/σ, d = {d}" for d in apex)],
                       cone_rows, {"angles": list(angles), "apex_shift": {d: v[1] for d, v in apex.items()},
                                   "axial": axial, "smoothed_radius": {k: v.radius for k, v in shapes.items()},
                                   "mc": mc})
    f1 = plot_shrink_curves(ratios, figure_stem(out, "shrink_ball"))
    f2 = plot_cone_shrink(apex, {k: (v.axial, v.base_radius, v.radius) for k, v in shapes.items()},
                          figure_stem(out, "shrink_cone"))
    section = Section("2. Shrinking regions, analytic", [
        Paragraph(f"Ball B(0, ρ) ⊂ ℝ^d: the smoothed region is B(0, ρ_σ) (noncentral χ², root finding); it "
                  f"vanishes at σ_van = ρ/√median(χ²_d). ρ = {rho:g}."), ball,
        figure(f1, out, "ball shrink curves"),
        Paragraph("Half-space: no shrink (P = ½ on the boundary). Cones of half-angle θ (d = 2: a wedge of angle "
                  f"2θ): the smoothed region is σ·S₁, so the apex moves inward by a(θ, d)·σ (Monte Carlo, {mc:,} "
                  "samples); far from the apex the smoothed boundary approaches the base edge (in the figure: "
                  "cross-section radius against the position along the axis, both in units of σ):"),
        cone, figure(f2, out, "cone shrink"),
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
                shown: Sequence[float] | None = None, n: int = 256, resolution: int = 81, epochs: int = 200,
                seed: int = 0, bisection_n: int = 8192, progress: bool = True, echo: Echo = print,
                start: Start | None = None) -> tuple[dict, Section]:
    """Train an MLP on a ball-inside-a-ring data set (2-D), sweep σ, measure the area of the bounded class
    and the σ at which it vanishes, and compare with the analytic ball of equal area; also the exact ball
    indicator of the data's ball. The MLP, the smoothed regions and the vanishing σ are kept in
    ``out/synthetic`` and reused for the same settings (:class:`~smoothcert.runs.CellCache`).

    ``shown``: the σ drawn as region maps (default: those of 0.06, 0.12, 0.16, 0.2 in ``sigmas``, else the
    first four); they are added to the sweep. ``start`` is called with the checked settings before anything
    is written.
    """
    from smoothcert.data import load_dataset
    from smoothcert.models import load_checkpoint
    from smoothcert.training import TrainConfig, train_base_model

    from .plots import plot_region_areas, plot_regions

    settings = {"sigmas": [check_positive("sigmas", s) for s in sigmas], "n": check_count("n", n),
                "resolution": check_int("resolution", resolution, minimum=2), "epochs": check_count("epochs", epochs),
                "bisection_n": check_count("bisection_n", bisection_n), "seed": check_seed(seed)}
    if not settings["sigmas"]:
        raise InvalidArgumentError("give at least one sigma")
    if shown is None:
        shown = [v for v in (0.06, 0.12, 0.16, 0.2) if v in settings["sigmas"]] or settings["sigmas"][:4]
    shown = [check_positive("shown", s) for s in shown]
    if start is not None:
        start(settings)
    folder = out / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    sigmas = sorted({*settings["sigmas"], *shown})
    data = load_dataset("concentric", seed=seed)
    ball_class, data_radius = 1, 0.15  # concentric(): class 1 is the ball of radius 0.15 around (0.5, 0.5)
    config = TrainConfig(train_sigma=0.0, epochs=epochs, batch_size=128, lr=3e-3, seed=seed)
    ckpt, arch_args = folder / "mlp", {"hidden": [64, 64]}
    if reusable_checkpoint(ckpt, config, "mlp", data.name, arch_args):
        model, info = load_checkpoint(ckpt)
    else:
        model, info, _ = train_base_model(data, "mlp", config, ckpt, arch_args=arch_args, progress=False)
    model.eval()
    echo(f"  2-D MLP on concentric data: clean test accuracy {info.test_accuracy:.4f}")
    grid = make_grid(resolution=resolution)
    cells = CellCache(folder)

    def cache_for(tag: str):
        """Smoothed labels of classifier ``tag`` at each σ, as cells reused for the same settings."""
        def key(sigma: float) -> str:
            return f"{tag}_n{n}_r{resolution}_sigma_{sigma:g}"

        def arguments(sigma: float) -> dict:
            return {"classifier": tag, "sigma": sigma, "n": n, "resolution": resolution, "seed": seed,
                    **({"epochs": epochs} if tag == "mlp" else {})}

        def cache(sigma: float) -> np.ndarray | None:
            cell = cells.get(key(sigma), arguments(sigma))
            return None if cell is None else np.asarray(cell["labels"], dtype=np.int64)

        def store(sigma: float, labels: np.ndarray) -> None:
            cells.put(key(sigma), {"labels": np.asarray(labels).tolist()}, arguments(sigma))
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
    # The bisection starts from the sweep's bracket, so the sweep's settings are part of the cell's arguments.
    vanishing_key = f"vanishing_n{bisection_n}_r{resolution}"
    vanishing_arguments = {"bisection_n": bisection_n, "resolution": resolution, "n": n, "sigmas": sigmas,
                           "seed": seed, "epochs": epochs}
    cell = cells.get(vanishing_key, vanishing_arguments)
    if cell is None:
        measured = {}
        with torch_threads(1):
            for tag, classifier, sw in (("mlp", model, sweep), ("ball", exact, sweep_exact)):
                measured[tag] = _vanishing(classifier, ball_class, grid, sw, bisection_n, seed, echo)
        cells.put(vanishing_key, measured, vanishing_arguments)
    else:
        measured = {tag: cell[tag] for tag in ("mlp", "ball")}
    show = [s for s in shown if s in set(sweep.sigmas.tolist())]
    index = {s: k for k, s in enumerate(sweep.sigmas.tolist())}
    f1 = plot_regions(grid.xs, grid.ys, sweep.base, {s: sweep.smoothed[index[s]] for s in show}, data.class_names,
                      figure_stem(out, "regions"), points=(data.x_train.numpy(), data.y_train.numpy()),
                      title=f"2-D MLP, ball (r ≤ {data_radius}) inside a ring: base and smoothed regions (n = {n})")
    f2 = plot_region_areas(sweep.sigmas, sweep.areas[:, ball_class],
                           {f"analytic, ball of equal base area (ρ = {rho_eq:.3f})": predicted},
                           figure_stem(out, "region_areas"),
                           marks={**({f"measured σ_van {measured['mlp']:.3f}": measured["mlp"]}
                                     if measured["mlp"] is not None else {}),
                                  f"analytic σ_van {van_eq:.3f}": van_eq},
                           title="area of the bounded class (ball) against σ, trained MLP")
    rows = [[s, sweep.areas[k, ball_class], predicted[k], sweep_exact.areas[k, ball_class], predicted_exact[k]]
            for k, s in enumerate(sweep.sigmas)]
    table = write_table(out, "regions_area", ["σ", "MLP: measured area", "MLP: analytic (equal-area ball)",
                                              f"exact ball r={data_radius}: measured", "exact ball: analytic"],
                        rows, {"rows": rows, "base_area": base_area, "rho_equivalent": rho_eq, "n": n,
                               "resolution": resolution}, decimals=4)

    def relative(value: float | None, reference: float) -> float:
        return math.nan if value is None or reference == 0 else value / reference - 1

    van_rows = [["trained MLP", f"{rho_eq:.4f} (equal-area)", measured["mlp"], van_eq,
                 relative(measured["mlp"], van_eq)],
                [f"exact ball indicator r = {data_radius}", f"{data_radius}", measured["ball"], van_data,
                 relative(measured["ball"], van_data)]]
    van = write_table(out, "regions_vanishing", ["classifier", "ρ", "measured σ_van", "analytic ρ/√(2 ln 2)",
                                                 "relative difference"], van_rows, {"rows": van_rows}, decimals=4)
    section = Section("3. Shrinking regions, empirical (2-D)", [
        Paragraph(f"Base MLP (hidden 64-64) trained without noise on {len(data.x_train)} points; clean test "
                  f"accuracy {info.test_accuracy:.3f}. Grid {resolution}×{resolution} on [0,1]², n = {n} noisy "
                  f"copies per point (plug-in majority). Base area of the ball class {base_area:.4f} (equal-area "
                  f"radius {rho_eq:.4f})."),
        figure(f1, out, "regions"), table, figure(f2, out, "areas"),
        Paragraph(f"σ at which the bounded class vanishes (bisection on σ, n = {bisection_n} per point):"), van,
    ])
    return {"base_area": base_area, "rho_equivalent": rho_eq, "vanishing": measured,
            "vanishing_analytic": {"mlp": van_eq, "ball": van_data}, "areas": rows}, section


# --- 4b. feasible hypotheses --------------------------------------------------------------------------------

def run_hypotheses(out: Path, *, sigmas: Sequence[float] = tuple(np.round(np.linspace(0, 0.8, 41), 3)),
                   epsilons: Sequence[float] = (0.0, 0.02, 0.05, 0.1), m: int = 200, seed: int = 0,
                   start: Start | None = None) -> tuple[dict, Section]:
    """Feasible intervals (1-D) and boxes (2-D) against σ, ``m`` points labelled by a target in the class.
    ``start`` is called with the checked settings before anything is written."""
    from .plots import plot_feasible_counts

    settings = {"sigmas": [check_positive("sigmas", s, allow_zero=True) for s in sigmas],
                "epsilons": [check_real("epsilons", e, low=0.0, high=1.0) for e in epsilons], "m": check_count("m", m),
                "seed": check_seed(seed)}
    if start is not None:
        start(settings)
    sigmas, epsilons, m = settings["sigmas"], settings["epsilons"], settings["m"]
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
                               figure_stem(out, "feasible_hypotheses"))
    header = ["σ", *(f"intervals ε={e:g}" for e in epsilons), "intervals best error",
              *(f"boxes ε={e:g}" for e in epsilons), "boxes best error"]
    rows = [[s, *fc1.counts[k], fc1.best_error[k], *fc2.counts[k], fc2.best_error[k]]
            for k, s in enumerate(fc1.sigmas)]
    table = write_table(out, "feasible_hypotheses", header, rows, {
        "sigmas": fc1.sigmas, "epsilons": fc1.epsilons, "intervals": fc1.counts, "boxes": fc2.counts,
        "intervals_best_error": fc1.best_error, "boxes_best_error": fc2.best_error, "m": m,
        "interval_target": [0.35, 0.65], "box_target": [[0.3, 0.7], [0.35, 0.65]]})
    section = Section("4b. Feasible hypotheses under smoothing", [
        Paragraph(f"{m} points uniform in [0, 1] (and [0, 1]²), labelled by the interval [0.35, 0.65] (the box "
                  f"[0.3, 0.7] × [0.35, 0.65]). Hypotheses: intervals with endpoints on a 41-point grid; boxes with "
                  "sides on a 21-point grid. A hypothesis is feasible at σ when its smoothed version errs on at "
                  "most a share ε of the points."),
        table, figure(fig, out, "feasible hypotheses"),
    ])
    return {"intervals": fc1.counts.tolist(), "boxes": fc2.counts.tolist(), "sigmas": fc1.sigmas.tolist(),
            "epsilons": list(epsilons)}, section


# --- one part alone ---------------------------------------------------------------------------------------

#: The parts that run alone (``smoothcert audit shrinkage|regions|hypotheses``).
PARTS = {"shrinkage": run_shrinkage, "regions": run_regions, "hypotheses": run_hypotheses}


def run_part(part: str, out: str | Path, *, progress: bool = True, echo: Echo = print,
             options: RunOptions | None = None, **settings) -> Document:
    """Run one synthetic part (a key of :data:`PARTS`) alone into the folder ``out``: its tables and figures,
    ``PART.md`` and the manifest ``PART.json`` (its checked settings, status and time). ``settings`` are that
    part's keyword arguments; ``progress`` and ``echo`` go to the regions part. Echoes the markdown and the time.

    A folder that already holds this part's results is refused, as certify refuses an existing results file,
    unless ``options.resume`` (the recorded settings must be these; cached cells are reused) or
    ``options.overwrite``. The check runs once the settings are valid, before anything is written.

    Returns:
        the part's document.
    """
    job = PARTS[check_choice("part", part, PARTS)]
    folder = audit_folder(out)
    if part == "regions":
        settings = {**settings, "progress": progress, "echo": echo}
    arguments: dict = {}

    options = options or RunOptions()

    def start(checked: dict) -> None:  # the settings are valid: from here on the folder is written
        arguments.update(checked)
        earlier = [p for p in (folder / f"{part}.json", folder / f"{part}.md") if p.exists()]
        if earlier and options.resume:
            check_resumable(folder / part, arguments)
        elif earlier and not options.overwrite:
            raise ResultsError(f"{earlier[0]} holds an earlier {part} run; pass --resume to continue it with the "
                               f"same settings, --overwrite to replace it, or another --out")
        folder.mkdir(parents=True, exist_ok=True)
        write_manifest(folder / part, arguments, status="running")

    started = time.perf_counter()
    _, section = job(folder, start=start, **settings)
    document = Document(section.title, section.blocks)
    text = render_markdown(document)
    seconds = time.perf_counter() - started
    write_manifest(folder / part, arguments, status="complete", timing={"seconds": round(seconds, 2)})
    (folder / f"{part}.md").write_text(text)
    echo(text.rstrip("\n"))
    echo(f"{part}: {seconds:.1f} s → {folder / (part + '.md')}")
    return document
