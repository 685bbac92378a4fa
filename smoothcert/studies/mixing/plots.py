"""Plots of adaptive smoothing: the clean/robust trade-off and certified accuracy of the mixture against α.

Figures are built with :class:`matplotlib.figure.Figure` (Agg canvas), never pyplot; each is written as PNG and
SVG (the SVG without a timestamp, so identical inputs give identical files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ...errors import InvalidArgumentError
from ...report.plots import new_figure, save_figure

_MARKERS = {"standard": ("s", "tab:blue"), "robust": ("D", "tab:red"), "fixed": ("o", "tab:gray"),
            "adaptive": ("*", "tab:green")}


def plot_tradeoff(rows: Sequence[Mapping], eps_values: Sequence[float], out_stem: str | Path, *,
                  title: str | None = None, dpi: int = 110) -> list[Path]:
    """Robust against clean accuracy, one panel per ε: the fixed-α sweep as a curve (labelled with α), the
    base models and the adaptive mixtures as points.

    Args:
        rows: evaluation rows (``kind``, ``setting``, ``eps``, ``clean_accuracy``, ``robust_accuracy``, ``model``),
            e.g. from :func:`smoothcert.studies.mixing.read_eval_rows`.
        eps_values: the ε of each panel.
    Returns:
        [png, svg] paths.
    """
    if not rows or not eps_values:
        raise InvalidArgumentError("nothing to plot: no rows or no eps values")
    fig = new_figure(3.6 * len(eps_values), 3.4)
    axes = fig.subplots(1, len(eps_values), squeeze=False)[0]
    for ax, eps in zip(axes, eps_values, strict=True):
        sel = [r for r in rows if abs(float(r["eps"]) - eps) < 1e-12]
        curve = sorted((r for r in sel if r["kind"] in ("standard", "fixed", "robust")),
                       key=lambda r: _alpha_of(r))
        if curve:
            ax.plot([r["clean_accuracy"] for r in curve], [r["robust_accuracy"] for r in curve], "-",
                    color="tab:gray", lw=1, zorder=1, label="fixed α sweep")
            for r in curve:
                ax.annotate(f"{_alpha_of(r):g}", (r["clean_accuracy"], r["robust_accuracy"]), fontsize=6,
                            textcoords="offset points", xytext=(3, 3), color="0.35")
        for kind, (marker, color) in _MARKERS.items():
            pts = [r for r in sel if r["kind"] == kind]
            if pts:
                ax.scatter([r["clean_accuracy"] for r in pts], [r["robust_accuracy"] for r in pts], marker=marker,
                           color=color, s=60 if kind == "adaptive" else 25, zorder=3,
                           label={"fixed": "fixed α"}.get(kind, kind if kind != "adaptive" else "adaptive α(x)"))
            if kind == "adaptive":
                for r in pts:
                    ax.annotate(str(r["model"]).removeprefix("adaptive "), (r["clean_accuracy"], r["robust_accuracy"]),
                                fontsize=6, textcoords="offset points", xytext=(-4, -9), ha="right",
                                color="tab:green")
        ax.set_title(f"ε = {eps:g}", fontsize=9)
        ax.set_xlabel("clean accuracy")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("robust accuracy")
    axes[-1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, out_stem, dpi)


def _alpha_of(row: Mapping) -> float:
    if row["kind"] == "standard":
        return 0.0
    if row["kind"] == "robust":
        return 1.0
    text = str(row["setting"]).split("=")[-1]
    try:
        return float(text)
    except ValueError:
        return float("nan")


def plot_certified_vs_alpha(alphas: Sequence[float], radii: Sequence[float], certified: Mapping[str, np.ndarray],
                            out_stem: str | Path, *, clean: np.ndarray | None = None, title: str | None = None,
                            dpi: int = 110) -> list[Path]:
    """Certified accuracy of the mixture against α, one line per radius and per version.

    Args:
        alphas: the α grid [A]; radii: [R].
        certified: label → table [A, R] (e.g. "RS, Clopper–Pearson" solid, labels containing "plug-in" dashed).
        clean: optional [A] clean accuracy of the mixture, drawn in black.
    """
    if not certified:
        raise InvalidArgumentError("nothing to plot: no certified-accuracy tables")
    fig = new_figure(6.2, 4.8)
    ax = fig.add_subplot()
    colors = [f"C{i}" for i in range(len(radii))]
    styles = ["-", "--", ":", "-."]
    for k, (label, table) in enumerate(certified.items()):
        table = np.asarray(table)
        for j, r in enumerate(radii):
            ax.plot(alphas, table[:, j], styles[k % len(styles)], color=colors[j], lw=1.2,
                    label=f"{label}, r = {r:g}")
    if clean is not None:
        ax.plot(alphas, clean, "k-", lw=2, label="clean accuracy (plug-in)")
    ax.set_xlabel("mixing weight α (1 = robust smoothed model only)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    fig.legend(fontsize=6, ncol=2, loc="outside lower center")
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, out_stem, dpi)
