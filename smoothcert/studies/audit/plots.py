"""Figures of the smoothing audit (``smoothcert audit``), written as PNG and SVG.

Built on :class:`matplotlib.figure.Figure` with an Agg canvas: no pyplot state, no display needed. Every
function takes an output path stem and returns [png, svg].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap

from smoothcert.errors import InvalidArgumentError
from smoothcert.report.plots import new_figure, save_figure

__all__ = [
    "plot_accuracy_loss",
    "plot_class_heatmap",
    "plot_cone_shrink",
    "plot_disparity_vs_sigma",
    "plot_feasible_counts",
    "plot_per_class_vs_sigma",
    "plot_region_areas",
    "plot_regions",
    "plot_shrink_curves",
]

PNG_DPI = 110
"""Resolution of the PNGs: enough to read, small enough for a repository."""


def _class_colors(num_classes: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if num_classes <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(num_classes)]


def plot_per_class_vs_sigma(curves: Mapping[str, tuple[Sequence[float], np.ndarray, np.ndarray | None]],
                            class_names: Sequence[str], stem: str | Path, *, ylabel: str = "smoothed accuracy",
                            title: str | None = None) -> list[Path]:
    """Per-class accuracy against σ, one panel per family (e.g. trained without / with noise).

    Args:
        curves: family → (σ [S], accuracy [S, C], base clean accuracy [C] or None); a clean accuracy is drawn
            at σ = 0 and joined to the curves.
        class_names: C names for the legend.
    """
    if not curves:
        raise InvalidArgumentError("no curves to plot")
    fig = new_figure(4.2 * len(curves) + 1.2, 3.6)
    axes = fig.subplots(1, len(curves), sharey=True, squeeze=False)[0]
    colors = _class_colors(len(class_names))
    for ax, (family, (sigmas, acc, clean)) in zip(axes, curves.items(), strict=True):
        s = np.asarray(sigmas, dtype=float)
        acc = np.asarray(acc, dtype=float)
        if clean is not None:
            s, acc = np.concatenate([[0.0], s]), np.vstack([np.asarray(clean, dtype=float)[None, :], acc])
        for c, name in enumerate(class_names):
            ax.plot(s, acc[:, c], marker="o", ms=3, color=colors[c], label=name)
        ax.plot(s, np.nanmean(acc, axis=1), color="black", lw=2.2, ls="--", label="mean")
        ax.set_title(family)
        ax.set_xlabel("σ" + (" (σ = 0: base classifier, clean)" if clean is not None else ""))
        ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[0].set_ylim(0, 1.02)
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, title="class")
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem, dpi=PNG_DPI)


def plot_class_heatmap(maps: Mapping[str, tuple[Sequence[str], np.ndarray]], class_names: Sequence[str],
                       stem: str | Path, *, label: str = "accuracy", xlabel: str = "σ",
                       title: str | None = None) -> list[Path]:
    """Class × column heatmaps (columns: e.g. the clean base classifier, then each σ), one per family.

    Args:
        maps: family → (column labels [S], values [S, C]).
    """
    if not maps:
        raise InvalidArgumentError("nothing to plot")
    num_classes = len(class_names)
    fig = new_figure(2.2 + 0.8 * sum(len(s) for s, _ in maps.values()) + 0.9, 0.32 * num_classes + 1.6)
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    image = None
    for ax, (family, (columns, values)) in zip(axes, maps.items(), strict=True):
        v = np.asarray(values, dtype=float).T  # [C, S]
        image = ax.imshow(v, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(columns)), list(columns))
        ax.set_yticks(range(num_classes), list(class_names))
        ax.set_xlabel(xlabel)
        ax.set_title(family, fontsize=10)
        for (i, j), value in np.ndenumerate(v):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value < 0.6 else "black")
    axes[0].set_ylabel("class")
    fig.colorbar(image, ax=list(axes), label=label, shrink=0.9)
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem, dpi=PNG_DPI)


def plot_disparity_vs_sigma(series: Mapping[str, tuple[Sequence[float], np.ndarray, np.ndarray]],
                            stem: str | Path, *, title: str | None = None) -> list[Path]:
    """Spread (max − min over classes) and worst-class accuracy against σ, one line per family.

    Args:
        series: family → (σ [S], spread [S], worst-class accuracy [S]).
    """
    fig = new_figure(8.0, 3.3)
    ax1, ax2 = fig.subplots(1, 2)
    for family, (sigmas, spread, worst) in series.items():
        ax1.plot(sigmas, spread, marker="o", label=family)
        ax2.plot(sigmas, worst, marker="o", label=family)
    ax1.set_ylabel("max − min class accuracy")
    ax2.set_ylabel("worst-class accuracy")
    for ax in (ax1, ax2):
        ax.set_xlabel("σ")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(0, 1)
    ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem, dpi=PNG_DPI)


def plot_shrink_curves(ratios: Mapping[int, tuple[np.ndarray, np.ndarray]], stem: str | Path) -> list[Path]:
    """ρ_σ/ρ against σ/ρ for balls in several dimensions d; σ_van/ρ marked on the axis.

    Args:
        ratios: d → (σ/ρ [S], ρ_σ/ρ [S]).
    """
    fig = new_figure(6.0, 3.8)
    ax = fig.add_subplot()
    for d, (s, r) in ratios.items():
        line, = ax.plot(s, r, label=f"d = {d}")
        gone = np.flatnonzero(r == 0)
        if gone.size:
            ax.axvline(s[gone[0]], color=line.get_color(), ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("σ / ρ")
    ax.set_ylabel("ρ_σ / ρ (smoothed radius / base radius)")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("A ball B(0, ρ) under smoothing: radius of the smoothed region")
    return save_figure(fig, stem, dpi=PNG_DPI)


def plot_cone_shrink(apex: Mapping[int, tuple[np.ndarray, np.ndarray]],
                     shapes: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], stem: str | Path) -> list[Path]:
    """Left: apex shift a(θ, d) (units of σ) against the half-angle. Right: cross-section radius of the base
    cone (dashed) and of the smoothed cone (solid) against the position along the axis (units of σ).

    Args:
        apex: d → (θ in degrees [K], a [K]).
        shapes: label → (axial positions [T], base radius [T], smoothed radius [T]).
    """
    fig = new_figure(9.0, 3.5)
    ax1, ax2 = fig.subplots(1, 2)
    for d, (theta, a) in apex.items():
        ax1.plot(theta, a, marker="o", label=f"d = {d}")
    ax1.set_xlabel("half-angle θ (degrees; 90 = half-space)")
    ax1.set_ylabel("apex shift / σ")
    ax1.legend(fontsize=8)
    ax1.grid(True, alpha=0.3)
    for label, (t, base, smoothed) in shapes.items():
        line, = ax2.plot(t, smoothed, label=label)
        ax2.plot(t, base, ls="--", lw=0.9, color=line.get_color())
    ax2.set_xlabel("position along the axis / σ")
    ax2.set_ylabel("cross-section radius / σ")
    ax2.legend(fontsize=8, title="solid: smoothed, dashed: base", title_fontsize=7)
    ax2.grid(True, alpha=0.3)
    fig.suptitle("Cones and wedges under smoothing (Monte Carlo; S_σ = σ·S₁)")
    return save_figure(fig, stem, dpi=PNG_DPI)


def plot_regions(xs: np.ndarray, ys: np.ndarray, base: np.ndarray, smoothed: Mapping[float, np.ndarray],
                 class_names: Sequence[str], stem: str | Path, *, points: tuple[np.ndarray, np.ndarray] | None = None,
                 title: str | None = None) -> list[Path]:
    """Base region and smoothed regions for several σ, as class maps on a grid.

    Args:
        xs, ys: grid coordinates [W], [H]; base: int [H·W]; smoothed: σ → int [H·W].
        points: optional data (x [M, 2], y [M]) drawn on the base panel.
    """
    panels = [("base classifier", base), *((f"smoothed, σ = {s:g}", lab) for s, lab in smoothed.items())]
    fig = new_figure(2.5 * len(panels) + 0.6, 2.9)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colors = _class_colors(len(class_names))
    cmap = ListedColormap(colors[: len(class_names)])
    extent = (xs[0], xs[-1], ys[0], ys[-1])
    for ax, (name, labels) in zip(axes, panels, strict=True):
        ax.imshow(np.asarray(labels).reshape(len(ys), len(xs)), origin="lower", extent=extent, cmap=cmap,
                  vmin=-0.5, vmax=len(class_names) - 0.5, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if points is not None:
        px, py = points
        axes[0].scatter(px[:, 0], px[:, 1], c=[colors[int(k)] for k in py], s=3, edgecolors="black", linewidths=0.2)
    handles = [axes[0].scatter([], [], color=colors[c], marker="s", label=n) for c, n in enumerate(class_names)]
    axes[-1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem, dpi=PNG_DPI)


def plot_region_areas(sigmas: np.ndarray, measured: np.ndarray, predicted: Mapping[str, np.ndarray],
                      stem: str | Path, *, marks: Mapping[str, float] | None = None,
                      title: str | None = None) -> list[Path]:
    """Area of the bounded class's smoothed region against σ: measured, beside analytic predictions.

    Args:
        sigmas: [S]; measured: areas [S]; predicted: label → areas [S]; marks: label → σ (vertical lines).
    """
    fig = new_figure(6.0, 3.6)
    ax = fig.add_subplot()
    ax.plot(sigmas, measured, marker="o", color="black", label="measured (grid, Monte Carlo)")
    for label, values in predicted.items():
        ax.plot(sigmas, values, ls="--", label=label)
    for (label, value), style in zip((marks or {}).items(), (":", "-.", "--"), strict=False):
        ax.axvline(value, ls=style, lw=1, color="grey", label=label)
    ax.set_xlabel("σ")
    ax.set_ylabel("area of the bounded class")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, stem, dpi=PNG_DPI)


def plot_accuracy_loss(sigmas: Sequence[float], accuracy: Mapping[str, np.ndarray], stem: str | Path, *,
                       ylabel: str = "natural accuracy of the smoothed classifier",
                       title: str | None = None) -> list[Path]:
    """Natural accuracy against the smoothing σ, one line per training noise.

    Args:
        sigmas: smoothing σ [S]; accuracy: label (training noise) → accuracy [S].
    """
    fig = new_figure(6.0, 3.8)
    ax = fig.add_subplot()
    for label, values in accuracy.items():
        ax.plot(sigmas, values, marker="o", label=label)
    ax.set_xlabel("smoothing σ")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, title="trained with")
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, stem, dpi=PNG_DPI)


def plot_feasible_counts(results: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], stem: str | Path,
                         ) -> list[Path]:
    """Feasible hypotheses against σ, one panel per hypothesis class, one line per error budget ε.

    Args:
        results: class label → (σ [S], ε [E], counts [S, E]).
    """
    fig = new_figure(4.4 * len(results), 3.5)
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, (name, (sigmas, eps, counts)) in zip(axes, results.items(), strict=True):
        for e, value in enumerate(eps):
            ax.plot(sigmas, counts[:, e], marker=".", label=f"ε = {value:g}")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_xlabel("σ")
        ax.set_ylabel("feasible hypotheses")
        ax.set_title(name, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, stem, dpi=PNG_DPI)
