"""Plots of the α × β trade-off: synthetic gain curves, heatmaps over the grid, α*(β) curves (PNG + SVG).

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas: no pyplot global state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from ...errors import InvalidArgumentError
from ...report.plots import new_figure, save_figure
from .disks import DisksResult


def plot_disk_gains(result: DisksResult, out_path_stem: str | Path, title: str | None = None,
                    dpi: int = 110) -> list[Path]:
    """Δ_{α,β} − Δ_{0,β} against α, one panel per β, one line per ζ (mean over draws, band ± 1 SE).

    Below zero, training noise α helps smoothing at β; a dot marks α*(β, ζ) where it is > 0.
    """
    cfg = result.config
    alphas = np.asarray(cfg.alphas)
    order = np.argsort(alphas)
    gains, se, star = result.gains, result.gain_se, result.alpha_star()
    fig = new_figure(4.0 * len(cfg.betas), 3.4)
    axes = fig.subplots(1, len(cfg.betas), sharey=True, squeeze=False)[0]
    for j, (ax, beta) in enumerate(zip(axes, cfg.betas, strict=True)):
        for z, zeta in enumerate(cfg.zetas):
            y, band = gains[z, order, j], se[z, order, j]
            (line,) = ax.plot(alphas[order], y, label=f"ζ = {zeta:g}")
            ax.fill_between(alphas[order], y - band, y + band, color=line.get_color(), alpha=0.15, linewidth=0)
            if star[z, j] > 0:
                k = cfg.alphas.index(float(star[z, j]))
                ax.plot([star[z, j]], [gains[z, k, j]], "o", color=line.get_color(), markersize=5)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"β = {beta:g}")
        ax.set_xlabel("training noise α (pixels)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel(r"$\Delta_{\alpha,\beta} - \Delta_{0,\beta}$")
    axes[0].legend(loc="upper left", fontsize="small")
    if title:
        fig.suptitle(title)
    return save_figure(fig, out_path_stem, dpi)


def plot_heatmap(values: np.ndarray, alphas: Sequence[float], betas: Sequence[float], out_path_stem: str | Path,
                 *, title: str | None = None, label: str = "", best: Sequence[float] | None = None,
                 cmap: str = "viridis", decimals: int = 3, dpi: int = 110) -> list[Path]:
    """Annotated heatmap of ``values`` [len(alphas), len(betas)] (rows α, columns β); NaN cells stay blank.

    ``best`` (one α per β, NaN to skip) is outlined in each column, e.g. α*(β).
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(alphas), len(betas)):
        raise InvalidArgumentError(f"values must be [len(alphas), len(betas)] = {(len(alphas), len(betas))}, "
                                   f"got {values.shape}")
    fig = new_figure(1.0 + 0.85 * len(betas), 0.9 + 0.45 * len(alphas))
    ax = fig.add_subplot()
    masked = np.ma.masked_invalid(values)
    image = ax.imshow(masked, cmap=cmap, aspect="auto", origin="lower")
    for i in range(len(alphas)):
        for j in range(len(betas)):
            if np.isfinite(values[i, j]):
                red, green, blue, _ = image.cmap(image.norm(values[i, j]))
                colour = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"  # luma
                ax.text(j, i, f"{values[i, j]:.{decimals}f}", ha="center", va="center", fontsize=7, color=colour)
    if best is not None:
        for j, a in enumerate(best):
            if np.isfinite(a) and float(a) in [float(v) for v in alphas]:
                i = [float(v) for v in alphas].index(float(a))
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
    ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_xlabel("smoothing noise β")
    ax.set_ylabel("training noise α")
    fig.colorbar(image, ax=ax, label=label)
    if title:
        ax.set_title(title, fontsize="medium")
    return save_figure(fig, out_path_stem, dpi)


def plot_alpha_star(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], out_path_stem: str | Path,
                    *, title: str | None = None, intervals: Mapping[str, tuple[Sequence[float], Sequence[float]]]
                    | None = None, dpi: int = 110) -> list[Path]:
    """α*(β) curves, label → (betas, alpha_stars), with the diagonal α = β for reference.

    ``intervals``: label → (lows, highs) at the curve's betas, drawn as error bars (e.g. 95% bootstrap intervals).
    """
    if not curves:
        raise InvalidArgumentError("no α*(β) curves to plot")
    intervals = intervals or {}
    if unknown := set(intervals) - set(curves):
        raise InvalidArgumentError(f"intervals for curves that are not plotted: {sorted(unknown)}")
    fig = new_figure(4.6, 3.8)
    ax = fig.add_subplot()
    top = 0.0
    for label, (betas, stars) in curves.items():
        b, s = np.asarray(betas, dtype=float), np.asarray(stars, dtype=float)
        if label in intervals:
            low, high = (np.asarray(v, dtype=float) for v in intervals[label])
            ax.errorbar(b, s, yerr=np.stack([s - low, high - s]), fmt="o-", capsize=3, label=label)
            top = max(top, float(np.nanmax(high)))
        else:
            ax.plot(b, s, "o-", label=label)
        top = max(top, float(np.nanmax(np.concatenate([b, s]))))
    ax.plot([0, top], [0, top], "k--", linewidth=0.8, label="α = β")
    ax.set_xlabel("smoothing noise β")
    ax.set_ylabel("best training noise α*")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    return save_figure(fig, out_path_stem, dpi)
