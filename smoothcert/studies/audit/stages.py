"""The stages of an audit on its base models, each writing its tables and figures into the audit folder and
returning (summary numbers, report section): 1. class-wise disparity (:func:`run_disparity`) and 4a. the
accuracy-loss matrix (:func:`run_accuracy_loss`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from smoothcert.analysis.results import read_results
from smoothcert.backends import Backend, ModelSource
from smoothcert.document import Block, Paragraph, Section
from smoothcert.runs import CellCache, RunOptions
from smoothcert.smooth import Smooth

from .accuracy_loss import accuracy_matrix
from .config import AuditConfig
from .disparity import ClassMetrics, audit_dataset, class_metrics, disparity, largest_losses
from .folder import Echo, figure, figure_stem, sigma_name, write_table

__all__ = ["disparity_report", "run_accuracy_loss", "run_disparity"]


# --- 1. class-wise disparity ------------------------------------------------------------------------------

def run_disparity(smooths: Mapping[str, Smooth], families: Mapping[str, Sequence[tuple[float, str]]], data,
                  indices: Sequence[int], config: AuditConfig, out: Path, *, progress: bool = True,
                  echo: Echo = print, fingerprint: Mapping[str, object] | None = None,
                  backend: Backend | None = None, sources: Mapping[str, ModelSource] | None = None,
                  ) -> tuple[dict[str, list[ClassMetrics]], Section]:
    """Per-class audit of each (family, σ, model) into ``out/samples``, then tables and figures.

    Args:
        smooths: model key → Smooth (its noise is set to each σ in turn).
        families: family label → [(σ, model key)], e.g. ``standard`` at every σ and ``noise`` matched.
        indices: test inputs to audit.
        fingerprint: extra values every per-σ file's arguments must match on resume (e.g. training settings).
        backend: computes the rows (:mod:`smoothcert.backends`, default serial); a backend with workers builds
            each model from ``sources`` (model key → :class:`~smoothcert.backends.ModelSource`).
    Returns:
        (family → [ClassMetrics per σ], report section).
    """
    results: dict[str, list[ClassMetrics]] = {}
    for family, pairs in families.items():
        results[family] = []
        for sigma, key in pairs:
            tsv = out / "samples" / f"{family}_sigma_{sigma_name(sigma)}.tsv"
            smooth = smooths[key].with_noise(sigma)
            arguments = {"dataset": data.name, "model": key, "sigma": sigma, "n0": config.n0, "n": config.n,
                         "alpha": config.alpha, "seed": config.seed, "inputs": len(indices),
                         **(fingerprint or {})}
            audit_dataset(smooth, data.x_test, data.y_test, tsv, n0=config.n0, n=config.n, alpha=config.alpha,
                          indices=indices, arguments=arguments,
                          options=RunOptions(resume=tsv.is_file(), progress=progress),
                          context={"family": family, "split_note": data.split_note},
                          backend=backend if backend is None or sources is None else backend.for_source(sources[key]))
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
    from .plots import plot_class_heatmap, plot_disparity_vs_sigma, plot_per_class_vs_sigma

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
            name = f"per_class_{family}_sigma_{sigma_name(m.sigma)}"
            header = ["class", "n", "base clean", "base noisy", "smoothed", "abstain", "loss", *radii_header]
            table = write_table(out, name, header, rows, m.to_dict())
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
    full = write_table(out, "disparity", ["family", "σ", "metric", "class mean", "max − min", "std",
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
    side = write_table(out, "side_by_side", ["family", "σ", "base clean acc.", "smoothed acc.", "abstain",
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
    f1 = plot_per_class_vs_sigma(curves, class_names, figure_stem(out, "per_class_vs_sigma"),
                                 title=f"{title}: per-class accuracy of the smoothed classifier (PREDICT)")
    f2 = plot_class_heatmap(heat, class_names, figure_stem(out, "class_sigma_heatmap"), xlabel="smoothing σ",
                            title=f"{title}: accuracy per class, base (clean) and smoothed (PREDICT)")
    f3 = plot_disparity_vs_sigma(series, figure_stem(out, "disparity_vs_sigma"), title=f"{title}: class disparity")
    return Section("1. Class-wise disparity", [
        Paragraph("Side by side (`smoothed` = PREDICT, abstentions wrong; disparity over classes):"), side,
        figure(f1, out, "per-class accuracy against σ"), figure(f2, out, "class × σ heatmap"),
        figure(f3, out, "disparity against σ"),
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
    return [Paragraph(f"Per class, {label}:"), write_table(out, f"per_class_{key}", header, rows)]



# --- 4a. accuracy loss: matched and mismatched training noise ---------------------------------------------

def run_accuracy_loss(smooths: Mapping[str, Smooth], train_sigmas: Mapping[str, float], data,
                      indices: Sequence[int], config: AuditConfig, out: Path, *, progress: bool = True,
                      ) -> tuple[dict, Section]:
    """Natural accuracy of every model smoothed at every σ (majority vote of ``matrix_n`` copies; PREDICT at
    the same n beside it): :func:`~.accuracy_loss.accuracy_matrix`, its cells cached in ``out/matrix``."""
    from .plots import plot_accuracy_loss

    x, y = data.x_test[list(indices)], data.y_test[list(indices)].numpy()
    matrix = accuracy_matrix(smooths, config.sigmas, x, y, indices, config.matrix_n, config.alpha,
                             cache=CellCache(out / "matrix"), progress=progress)
    vote, predict, spread = matrix.vote, matrix.predict, matrix.spread
    labels = [("no noise" if train_sigmas[k] == 0 else f"σ_train = {train_sigmas[k]:g}") for k in smooths]
    header = ["trained with", *(f"σ = {s:g}" for s in config.sigmas)]
    table = write_table(out, "accuracy_loss", header, [[lab, *row] for lab, row in zip(labels, vote, strict=True)],
                       {"models": list(smooths), "train_sigmas": [train_sigmas[k] for k in smooths],
                        "sigmas": list(config.sigmas), "vote_accuracy": vote, "predict_accuracy": predict,
                        "vote_spread": spread, "n": config.matrix_n})
    table_p = write_table(out, "accuracy_loss_predict", header,
                         [[lab, *row] for lab, row in zip(labels, predict, strict=True)])
    table_s = write_table(out, "accuracy_loss_spread", header,
                         [[lab, *row] for lab, row in zip(labels, spread, strict=True)])
    fig = plot_accuracy_loss(config.sigmas, dict(zip(labels, vote, strict=True)), figure_stem(out, "accuracy_loss"),
                             title=f"{data.name}: smoothed accuracy (majority of n = {config.matrix_n})")
    section = Section("4a. Accuracy loss: matched and mismatched training noise", [
        Paragraph(f"Natural accuracy of the smoothed classifier (majority vote of n = {config.matrix_n} noisy "
                  f"copies) on {len(indices)} test inputs; rows: training noise, columns: smoothing σ."), table,
        Paragraph(f"PREDICT at the same n (α = {config.alpha:g}, abstentions wrong):"), table_p,
        Paragraph("Spread (max − min) of the per-class vote accuracy:"), table_s,
        figure(fig, out, "accuracy loss"),
    ])
    return {"models": list(smooths), "sigmas": list(config.sigmas), "vote": vote.tolist(),
            "predict": predict.tolist(), "spread": spread.tolist()}, section
