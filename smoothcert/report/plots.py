"""Certified-accuracy curves, written as PNG and SVG.

Figures are built with :class:`matplotlib.figure.Figure` directly (Agg canvas), so nothing touches pyplot's
global state or needs a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from smoothcert.analysis.metrics import certified_accuracy, radius_of, validate_radii
from smoothcert.analysis.results import CertifyResults
from smoothcert.errors import InvalidArgumentError

GRID_POINTS = 1001
"""Points of the radius grid when none is given."""

NORM_LABELS = {"l1": "ℓ1", "l2": "ℓ2", "linf": "ℓ∞"}


def x_label(norm: str | None = "l2") -> str:
    """The radius axis label in ``norm`` ("l1", "l2", "linf"; None: norms differ between the runs)."""
    return "radius (input space; runs in different norms)" if norm is None else \
        f"radius ({NORM_LABELS.get(norm, norm)}, input space)"


def norm_of(runs: Mapping[str, CertifyResults]) -> str | None:
    """The one norm the runs' radii are stated in (their ``norm`` column; ℓ2 where there is none), or None."""
    norms = set()
    for res in runs.values():
        values = res.extra.get("norm")
        norms |= {"l2"} if values is None or len(values) == 0 else {str(v) for v in values}
    return norms.pop() if len(norms) == 1 else None


X_LABEL = x_label("l2")
Y_LABEL = "certified accuracy"


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A figure on its own Agg canvas (no pyplot state, no display), with constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_path_stem: str | Path, dpi: int = 110) -> list[Path]:
    """Write ``stem.png`` (at ``dpi``) and ``stem.svg``, then clear ``fig``; returns both paths.

    The SVG carries no timestamp, so identical figures give identical files. Every figure of the package is
    written here.
    """
    stem = Path(out_path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    fig.savefig(paths[0], dpi=dpi)
    fig.savefig(paths[1], metadata={"Date": None})
    fig.clear()
    return paths


LINE_STYLES = ("-", "--", ":", "-.")


def curve_style(i: int) -> dict:
    """Colour and line style of the ``i``-th curve of a figure: the ten default colours, then the same colours
    dashed, dotted, dash-dotted, so that up to 40 curves stay told apart in the legend."""
    return {"color": f"C{i % 10}", "linestyle": LINE_STYLES[i // 10 % len(LINE_STYLES)]}


LEGEND_INSIDE = 8
"""The most legend entries drawn inside the axes; more go in columns below them."""


def add_legend(fig: Figure, ax, loc: str) -> None:
    """The legend of ``ax``'s labelled lines: inside at ``loc`` for up to :data:`LEGEND_INSIDE` entries, else below
    the axes in as many columns as the longest label leaves room for, the figure growing by the rows it needs (so
    the axes keep their size however many runs are compared)."""
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) <= LEGEND_INSIDE:
        ax.legend(loc=loc)
        return
    # At the small font a character is about 0.06 in wide; a handle and its padding about 0.6 in.
    columns = max(1, min(4, int(fig.get_figwidth() // (0.6 + 0.06 * max(map(len, labels))))))
    rows = -(-len(labels) // columns)
    fig.set_figheight(fig.get_figheight() + 0.2 + 0.19 * rows)
    fig.legend(handles, labels, loc="outside lower center", ncol=columns, fontsize="small")


def mark_readout(ax, x_name: str = "x") -> None:
    """Mark ``ax`` for the hover readout of the HTML report (:mod:`smoothcert.report.html`): the axes frame's
    SVG id records the data limits and the x quantity's name (``readout-frame_X0_X1_Y0_Y1_NAME``), each labelled
    line's id its legend label (``readout-line_LABEL``). Call it after the limits are set; linear axes only.
    """
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()

    def token(text: str) -> str:  # no spaces or underscores: the id is split at "_"
        return quote(text, safe="").replace("_", "%5F")

    ax.patch.set_gid(f"readout-frame_{float(x0)!r}_{float(x1)!r}_{float(y0)!r}_{float(y1)!r}_{token(x_name)}")
    for line in ax.get_lines():
        label = line.get_label()
        if label and not label.startswith("_"):
            line.set_gid(f"readout-line_{token(label)}")


def _default_grid(runs: Mapping[str, CertifyResults], radius_column: str) -> np.ndarray:
    """[GRID_POINTS] radii from 0 to a little past the largest certified radius of any run."""
    largest = 0.0
    for res in runs.values():
        radius = radius_of(res, radius_column)[res.correct]
        radius = radius[np.isfinite(radius)]
        if radius.size:
            largest = max(largest, float(radius.max()))
    # Past the largest radius every curve is 0; a 5% margin shows the last drop.
    return np.linspace(0.0, 1.05 * largest if largest > 0 else 1.0, GRID_POINTS)


def plot_certified_accuracy(runs: Mapping[str, CertifyResults], out_path_stem: str | Path,
                            radii: Sequence[float] | np.ndarray | None = None, radius_column: str = "radius",
                            title: str | None = None) -> list[Path]:
    """Plot certified accuracy against radius, one step curve per run, and save ``stem.png`` and ``stem.svg``.

    Args:
        runs: legend label → results; all on one figure.
        out_path_stem: output path without extension (parent folders are created). Any dots in it are kept:
            ``"out/sigma_0.25"`` gives ``out/sigma_0.25.png``.
        radii: ℓ2 radii (input space) to evaluate at, sorted here; by default a fine grid from 0 to just past
            the largest certified radius.
        radius_column: the radius column to use.
        title: figure title.

    Returns:
        [png_path, svg_path].
    """
    if not runs:
        raise InvalidArgumentError("no runs to plot")
    grid = _default_grid(runs, radius_column) if radii is None else np.sort(validate_radii(radii).ravel())

    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    for i, (label, res) in enumerate(runs.items()):
        # The value at grid[k] holds up to grid[k + 1]: certified accuracy only drops just past a radius.
        ax.plot(grid, certified_accuracy(res, grid, radius_column), drawstyle="steps-post", label=label,
                **curve_style(i))
    ax.set_xlim(float(grid[0]), float(grid[-1]) if grid[-1] > grid[0] else float(grid[0]) + 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(x_label(norm_of(runs)))
    ax.set_ylabel(Y_LABEL)
    ax.grid(True, alpha=0.3)
    add_legend(fig, ax, "upper right")
    if title is not None:
        ax.set_title(title)
    mark_readout(ax, "r")

    return save_figure(fig, out_path_stem, dpi=150)


def plot_p_a_distribution(runs: Mapping[str, CertifyResults], out_path_stem: str | Path,
                          title: str | None = None) -> list[Path]:
    """Plot the empirical survival function of p̲_A, P(p̲_A ≥ x) against x ∈ [½, 1], one step curve per run
    (runs without a ``pA_lower`` column are left out); save ``stem.png`` and ``stem.svg``."""
    from smoothcert.analysis.metrics import p_a_distribution

    runs = {label: res for label, res in runs.items() if "pA_lower" in res.extra}
    if not runs:
        raise InvalidArgumentError("no run has a pA_lower column to plot")
    grid = np.linspace(0.5, 1.0, GRID_POINTS)
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    for i, (label, res) in enumerate(runs.items()):
        ax.plot(grid, p_a_distribution(res, grid), drawstyle="steps-post", label=label, **curve_style(i))
    ax.set_xlim(0.5, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("x (lower confidence bound on the top class's probability)")
    ax.set_ylabel("fraction of inputs with p̲_A ≥ x")
    ax.grid(True, alpha=0.3)
    add_legend(fig, ax, "lower left")
    if title is not None:
        ax.set_title(title)
    mark_readout(ax, "x")
    return save_figure(fig, out_path_stem, dpi=150)
