"""Plots of uncertainty-aware certification: the three radii's certified-accuracy curves from one results file,
a τ sweep, and OOD ROC curves. PNG + SVG through :class:`matplotlib.figure.Figure` (no pyplot state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ...analysis.results import CertifyResults
from ...analysis.uncertainty import LABELS, certified_accuracy_of, label_radius
from ...errors import InvalidArgumentError
from ...report.plots import X_LABEL, Y_LABEL, new_figure, save_figure

STYLES = {"cohen": ("black", "-"), "i": ("tab:blue", "-"), "ii": ("tab:red", "-"),
          "i_top2": ("tab:blue", ":"), "ii_top2": ("tab:red", ":")}


def _figure(width: float = 6.0, height: float = 4.0, cols: int = 1) -> tuple[Figure, list]:
    fig = new_figure(width, height)
    return fig, [fig.add_subplot(1, cols, k + 1) for k in range(cols)]


def plot_uncertainty_radii(results: CertifyResults, out_path_stem: str | Path, *,
                           certificates: Sequence[str] = ("cohen", "i", "ii"),
                           radii: Sequence[float] | np.ndarray | None = None, title: str | None = None) -> list[Path]:
    """Certified accuracy against radius for R_cohen, R_i, R_ii (and any top-2 radius asked for) of one file.

    Each curve uses its own guess: the fraction of rows whose label the certificate certifies at radius ≥ r.
    Returns [png, svg].
    """
    if not certificates:
        raise InvalidArgumentError("no certificates to plot")
    if radii is None:
        largest = max((np.nanmax(r) for c in certificates if np.isfinite(r := label_radius(results, c)).any()),
                      default=0.0)
        grid = np.linspace(0.0, 1.05 * largest if largest > 0 else 1.0, 801)
    else:
        grid = np.sort(np.asarray(radii, dtype=np.float64))
    fig, (ax,) = _figure()
    for c in certificates:
        color, style = STYLES.get(c, (None, "-"))
        ax.plot(grid, certified_accuracy_of(results, c, grid), drawstyle="steps-post", color=color, linestyle=style,
                label=LABELS.get(c, c))
    ax.set_xlim(float(grid[0]), float(grid[-1]) if grid[-1] > grid[0] else 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL + " (label certified)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")  # curves start high and fall: that corner stays free
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, out_path_stem)


def plot_tau_sweep(rows: Sequence[Mapping[str, float]], out_path_stem: str | Path, *, title: str | None = None
                   ) -> list[Path]:
    """Two panels against the ⊥ share under noise: mean R_i (dashed) and R_ii (solid) on correctly classified
    points, and the share of those points with R_ii > R_cohen. ``rows``: dicts with keys ``frac_uncertain``,
    ``i``, ``ii``, ``share_above`` and optional ``series`` (one colour per series, e.g. model and measure).
    At τ = ∞ (⊥ share 0) both radii equal R_cohen, so each series starts at its plain model's value."""
    from matplotlib.lines import Line2D

    if not rows:
        raise InvalidArgumentError("no sweep rows to plot")
    fig, (left, right) = _figure(9.0, 3.6, cols=2)
    series = list(dict.fromkeys(str(r.get("series", "")) for r in rows))
    colors = [f"C{k % 10}" for k in range(len(series))]
    for name, color in zip(series, colors, strict=True):
        part = sorted((r for r in rows if str(r.get("series", "")) == name), key=lambda r: r["frac_uncertain"])
        x = [r["frac_uncertain"] for r in part]
        left.plot(x, [r["ii"] for r in part], marker="o", markersize=3, color=color, linestyle="-")
        left.plot(x, [r["i"] for r in part], marker="o", markersize=3, color=color, linestyle="--")
        right.plot(x, [r["share_above"] for r in part], marker="o", markersize=3, color=color)
    handles = [Line2D([], [], color=c, label=n or "run") for n, c in zip(series, colors, strict=True)]
    handles += [Line2D([], [], color="grey", linestyle="-", label="R_ii"),
                Line2D([], [], color="grey", linestyle="--", label="R_i")]
    left.set_xlabel("⊥ share of the noisy samples")
    left.set_ylabel("mean radius, correctly classified points")
    left.grid(True, alpha=0.3)
    right.set_xlabel("⊥ share of the noisy samples")
    right.set_ylabel("share with R_ii > R_cohen")
    right.set_ylim(0, 1)
    right.grid(True, alpha=0.3)
    right.legend(handles=handles, fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, out_path_stem)


def plot_ood_roc(in_scores: np.ndarray, ood_scores: Mapping[str, np.ndarray], out_path_stem: str | Path, *,
                 title: str | None = None) -> list[Path]:
    """ROC curves (OOD positive) of one score for each OOD set against the in-distribution scores."""
    from sklearn.metrics import roc_auc_score, roc_curve

    if not ood_scores:
        raise InvalidArgumentError("no OOD sets to plot")
    fig, (ax,) = _figure(4.6, 4.0)
    for name, scores in ood_scores.items():
        y = np.r_[np.zeros(len(in_scores)), np.ones(len(scores))]
        s = np.r_[in_scores, scores]
        s = np.nan_to_num(s, posinf=np.nanmax(s[np.isfinite(s)], initial=0.0) + 1)
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("false positive rate (in-distribution flagged)")
    ax.set_ylabel("true positive rate (OOD flagged)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, out_path_stem)
