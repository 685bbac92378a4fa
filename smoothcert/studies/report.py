"""One HTML page on certification runs and study folders, compared on shared axes: ``smoothcert report``.

Each argument is a run folder, a study folder or a results TSV. What a folder holds, directly in it:

- **certification results**: every TSV with Cohen's columns (``idx label predict radius correct time``), read
  with the manifest beside it (``x.tsv`` → ``x.json``) for what was certified;
- **reports**: every markdown report a command wrote there from its document (``report.md``, ``summary.md``,
  …: the audit, trade-off, uncertainty and mixing studies and the demo), read back into its document;
- **checkpoints**: every ``model.json`` sidecar of a trained model (the training history).

The page (:func:`runs_document`) shows, for all runs together: their settings side by side, certified
accuracy against radius on one figure, the table at the standard radii with ACR, abstain rate and N (and
the notes on what the rows stand for) exactly as ``smoothcert analyze`` computes them, the disparity of
per-class certified accuracy, and the distribution of p̲_A (the fraction of inputs whose ``pA_lower`` is at
least x) on one figure with its table; then, per run, what was certified (model, data, noise, n0, n, α,
seed, versions, device, time, from the manifest) and its per-class certified accuracy; then each folder's own
reports and each training history. :func:`write_runs_report` writes it as one self-contained HTML file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from smoothcert.analysis import (
    REQUIRED_COLUMNS,
    CertifyResults,
    class_counts,
    p_a_distribution_data,
    per_class_certified_accuracy,
    read_results,
    validate_radii,
)
from smoothcert.analysis.files import analysis_blocks, read_runs
from smoothcert.document import Block, Document, Figure, Paragraph, Section, Table
from smoothcert.errors import InvalidArgumentError, ResultsError, SmoothcertError
from smoothcert.models import read_info
from smoothcert.report.html import render_html
from smoothcert.report.markdown import parse_markdown
from smoothcert.report.plots import new_figure, plot_certified_accuracy, plot_p_a_distribution, save_figure
from smoothcert.studies.audit.disparity import disparity

__all__ = [
    "STANDARD_RADII",
    "Folder",
    "Run",
    "read_folder",
    "runs_document",
    "write_runs_report",
]

STANDARD_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Radii of the report's tables when none are given (ℓ2, input space)."""

CHECKPOINT_FORMAT = "smoothcert-checkpoint"


@dataclass(frozen=True)
class Run:
    """One results file: its label on the page, its rows and its manifest (None when there is none)."""

    label: str
    path: Path
    results: CertifyResults
    manifest: Mapping | None


@dataclass
class Folder:
    """What :func:`read_folder` found in one argument."""

    path: Path
    runs: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)


# --- finding what to show -------------------------------------------------------------------------------------

def _is_results(path: Path) -> bool:
    """A TSV whose header has Cohen's six columns (a certify file, not a predict or evaluation file)."""
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    return all(c in line.rstrip("\n").split("\t") for c in REQUIRED_COLUMNS)
    except (OSError, UnicodeDecodeError):
        return False
    return False


def _is_report(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith("# ")


def _is_checkpoint(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("format") == CHECKPOINT_FORMAT


def read_folder(path: str | Path) -> Folder:
    """The results TSVs, markdown reports and checkpoint sidecars directly in ``path`` (sorted by name), or
    ``path`` alone when it is a results TSV.

    Raises:
        InvalidArgumentError: ``path`` does not exist, or is a file that is not a results TSV.
        ResultsError: a folder holding none of the three.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidArgumentError(f"{path}: no such run folder or results file")
    if path.is_file():
        if not _is_results(path):
            raise InvalidArgumentError(f"{path} is not a certification results TSV (columns "
                                       f"{' '.join(REQUIRED_COLUMNS)}); give the run's folder or its TSV")
        return Folder(path.parent, runs=[path])
    files = sorted(p for p in path.iterdir() if p.is_file())
    found = Folder(path,
                   runs=[p for p in files if p.suffix == ".tsv" and _is_results(p)],
                   reports=[p for p in files if p.suffix == ".md" and _is_report(p)],
                   checkpoints=[p for p in files if p.suffix == ".json" and p.with_suffix(".safetensors").is_file()
                                and _is_checkpoint(p)])
    if not (found.runs or found.reports or found.checkpoints):
        raise ResultsError(f"{path} holds no certification results (a TSV with columns {' '.join(REQUIRED_COLUMNS)}), "
                           "report (.md) or checkpoint (model.json); give a run's or a study's folder")
    return found


def _labels(paths: Sequence[Path], single: Mapping[Path, bool]) -> list[str]:
    """Short distinct labels that name what differs between the runs.

    A folder's only TSV is named by its folders, a TSV beside others by its folders and its stem; the folders all
    paths share at the start are dropped (``runs/study/``), and so is a folder every label has at the same place
    (``sweep`` in ``seed_0/noise/sweep/tau_0.1``): ``seed_0/noise/tau_0.1``. One run keeps its last part.
    """
    parts = [(p.parent.parts if single[p] else (*p.parent.parts, p.stem)) for p in paths]
    parts = [tuple(x for x in ps if x not in ("/", "")) or (p.stem,) for ps, p in zip(parts, paths, strict=True)]
    common = 0
    while all(len(ps) > common + 1 for ps in parts) and len({ps[common] for ps in parts}) == 1:
        common += 1
    parts = [ps[common:] for ps in parts]
    if len(parts) > 1 and len({len(ps) for ps in parts}) == 1:
        differ = [i for i in range(len(parts[0])) if len({ps[i] for ps in parts}) > 1]
        parts = [tuple(ps[i] for i in differ or [-1]) for ps in parts]
    labels, seen = [], set()
    for ps in parts:
        label = base = "/".join(ps)
        n = 2
        while label in seen:  # only for paths that agree in every part
            label, n = f"{base} ({n})", n + 1
        seen.add(label)
        labels.append(label)
    return labels


def _manifest(tsv: Path) -> Mapping | None:
    try:
        doc = json.loads(tsv.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def plot_training(history: Sequence[Mapping], out_path_stem: str | Path, title: str | None = None) -> list[Path]:
    """Loss and accuracies per epoch of one training history; PNG and SVG."""
    fig = new_figure(8.0, 3.2)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    loss_ax.plot(epochs, [h.get("loss", math.nan) for h in history], marker="o", markersize=3)
    loss_ax.set_xlabel("epoch")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.set_ylabel("training loss")
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        if any(key in h for h in history):
            acc_ax.plot(epochs, [h.get(key, math.nan) for h in history], marker="o", markersize=3, label=label)
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy (clean)")
    acc_ax.set_ylim(0.0, 1.0)
    acc_ax.legend(loc="lower right")
    for ax in (loss_ax, acc_ax):
        ax.grid(True, alpha=0.3)
    if title is not None:
        fig.suptitle(title)
    return save_figure(fig, out_path_stem)


# --- what was certified ---------------------------------------------------------------------------------------

def _number(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _alpha(arguments: Mapping) -> str | None:
    """α of the certificates as recorded (``alpha``, or ``failure_prob``)."""
    value = arguments.get("alpha", arguments.get("failure_prob"))
    return None if value is None else _number(value)


def _noise(manifest: Mapping) -> str | None:
    noise = manifest.get("noise")
    if isinstance(noise, Mapping) and noise:
        rest = ", ".join(f"{k} = {_number(v)}" for k, v in noise.items() if k != "type")
        return f"{noise.get('type', 'noise')}" + (f" ({rest})" if rest else "")
    sigma = (manifest.get("arguments") or {}).get("sigma")
    return None if sigma is None else f"gaussian (sigma = {_number(sigma)})"


def _objective(objective: Mapping, train_sigma: object = None) -> str | None:
    """"gaussian (noise gaussian, sigma = 0.25, norm = l2)" from a recorded objective."""
    if not objective:
        return None if train_sigma is None else f"training noise σ = {_number(train_sigma)}"
    parts = []
    for key, value in objective.items():
        if key == "type":
            continue
        if isinstance(value, Mapping):
            inner = ", ".join(f"{k} = {_number(v)}" for k, v in value.items() if k != "type")
            parts.append(f"{key} {value.get('type', '')}" + (f", {inner}" if inner else ""))
        else:
            parts.append(f"{key} = {_number(value)}")
    return f"{objective.get('type', 'objective')}" + (f" ({'; '.join(parts)})" if parts else "")


def _model(manifest: Mapping) -> str | None:
    model = manifest.get("model")
    arguments = manifest.get("arguments") or {}
    if isinstance(model, Mapping) and model.get("architecture"):
        training = model.get("training") or {}
        objective = training.get("objective") or {}
        parts = [f"{model['architecture']}"]
        if model.get("dataset"):
            parts.append(f"trained on {model['dataset']}")
        if training.get("epochs") is not None:
            parts.append(f"{training['epochs']} epochs")
        trained = _objective(objective, model.get("train_sigma"))
        if trained:
            parts.append(f"objective {trained}" if objective else trained)
        text = ", ".join(parts)
        if model.get("test_accuracy") is not None:
            text += f"; clean test accuracy {model['test_accuracy']:.3f}"
        return text
    if isinstance(model, Mapping) and model.get("spec"):
        return f"{model['spec']}" + (f" (weights {model['weights']})" if model.get("weights") else "")
    return arguments.get("checkpoint") or arguments.get("model_spec")


def settings_rows(run: Run) -> list[list[str]]:
    """(field, value) rows of what was certified, from the manifest; fields it lacks are left out."""
    m, res = run.manifest or {}, run.results
    arguments = m.get("arguments") or {}
    dataset = m.get("dataset") if isinstance(m.get("dataset"), Mapping) else {}
    engine = m.get("engine") if isinstance(m.get("engine"), Mapping) else {}
    env = m.get("environment") if isinstance(m.get("environment"), Mapping) else {}
    timing = m.get("timing") if isinstance(m.get("timing"), Mapping) else {}
    rows: list[list[str | None]] = [["results file", str(run.path)]]
    if arguments.get("checkpoint"):
        rows.append(["checkpoint", str(arguments["checkpoint"])])
    rows.append(["model", _model(m)])
    data = dataset.get("name") or arguments.get("dataset")
    if data:
        chosen = dataset.get("selected")
        total = dataset.get("test_inputs")
        extra = f"; {chosen:,} of {total:,} test inputs" if chosen is not None and total is not None else ""
        rows.append(["data", f"{data}{extra}"])
    if dataset.get("split_note"):
        rows.append(["data split", dataset["split_note"]])
    rows.append(["inputs in the file", f"{len(res):,}"])
    rows.append(["noise", _noise(m)])
    method = "sequential CERTIFY (anytime-valid)" if arguments.get("sequential") else "CERTIFY (Cohen et al. 2019)"
    rows.append(["certification", method])
    for name, value in (("n0 (selection samples)", arguments.get("n0")), ("n (estimation samples)", arguments.get("n")),
                        ("α (failure probability of each certificate)", _alpha(arguments)),
                        ("seed", arguments.get("seed"))):
        if value is not None:
            rows.append([name, _number(value)])
    device = m.get("device") or engine.get("device")
    if device:
        rows.append(["device", str(device)])
    if engine:
        rows.append(["engine", ", ".join(f"{k} {_number(v)}" for k, v in engine.items() if k != "device")])
    versions = [f"{k} {env[k]}" for k in ("smoothcert", "python", "torch", "numpy", "scipy") if env.get(k)]
    if versions:
        rows.append(["versions", ", ".join(versions)])
    if env.get("platform"):
        cuda = f"; GPU {env['cuda']}" if env.get("cuda") else ""
        rows.append(["machine", f"{env['platform']}, {env.get('cpu_count', '?')} CPUs{cuda}"])
    if m.get("written"):
        rows.append(["written", f"{m['written']} ({m.get('status', 'status unknown')})"])
    if timing:
        speed = timing.get("samples_per_second")
        text = f"{timing.get('seconds', math.nan):.1f} s for {timing.get('inputs', '?')} inputs in the last session"
        if speed:
            text += f", {speed:,.0f} samples/s"
        earlier = m.get("earlier_runs") or []
        if earlier:
            text += f"; {len(earlier)} earlier session{'s' if len(earlier) > 1 else ''} (resumed)"
        rows.append(["time", text])
    elif res.time.size:
        rows.append(["time", f"{res.time.sum():.1f} s in all (the file's time column)"])
    return [[k, v] for k, v in rows if v]


# --- the document -------------------------------------------------------------------------------------------

def _rebase(block: Block, folder: Path, base: Path) -> Block:
    """``block`` with every figure path made relative to ``base`` instead of ``folder``."""
    if isinstance(block, Figure):
        return Figure(os.path.relpath(folder / block.path, base), block.alt, block.caption)
    if isinstance(block, Section):
        return Section(block.title, [_rebase(b, folder, base) for b in block.blocks])
    return block


def _radius_header(radii: np.ndarray) -> list[str]:
    return [f"r = {r:g}" for r in radii]


def _overview(runs: Sequence[Run]) -> Table:
    rows = []
    for run in runs:
        m = run.manifest or {}
        args, data = m.get("arguments") or {}, m.get("dataset") if isinstance(m.get("dataset"), Mapping) else {}
        rows.append([run.label, _model(m) or "–", data.get("name") or args.get("dataset") or "–", _noise(m) or "–",
                     args.get("n0"), args.get("n"), _alpha(args),
                     len(run.results), args.get("seed")])
    return Table(["run", "model", "data", "noise", "n0", "n", "α", "inputs", "seed"], rows, decimals=4,
                 caption="What was certified (details per run below)")


def _per_class(run: Run, radii: np.ndarray) -> tuple[Table, list[list]]:
    """The per-class table of one run and its disparity row (spread at each radius)."""
    res = run.results
    values = per_class_certified_accuracy(res, radii)
    counts = class_counts(res)
    names = ((run.manifest or {}).get("model") or {}).get("class_names") if run.manifest else None
    rows = [[f"class {names[c] if names and c < len(names) else c}", int(counts[c]), *values[c]]
            for c in range(len(counts))]
    spread = []
    for j in range(len(radii)):
        column = values[:, j]
        spread.append(disparity(column).spread if np.any(~np.isnan(column)) else math.nan)
    table = Table(["class", "inputs", *_radius_header(radii)], rows,
                  caption=f"Per-class certified accuracy of {run.label}")
    return table, spread


def _training_section(sidecar: Path, folder_label: str, figures: Path, k: int) -> Section:
    info = read_info(sidecar.with_suffix(""))
    training = info.training or {}
    objective = training.get("objective") or {}
    rows = [["checkpoint", str(sidecar.with_suffix(".safetensors"))],
            ["architecture", f"{info.architecture}, input {tuple(info.input_shape)}, {info.num_classes} classes"],
            ["data", info.dataset or "–"], ["data split", info.split_note or "–"],
            ["objective", _objective(objective, info.train_sigma)]]
    for key in ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "seed"):
        if training.get(key) is not None:
            rows.append([key.replace("_", " "), _number(training[key])])
    if info.test_accuracy is not None:
        rows.append(["clean test accuracy", f"{info.test_accuracy:.4f}"])
    blocks: list[Block] = [Table(["field", "value"], [[a, b] for a, b in rows])]
    history = [h for h in training.get("history") or [] if isinstance(h, Mapping)]
    if history:
        keys = [key for key in ("epoch", "loss", "train_accuracy", "test_accuracy", "seconds")
                if any(key in h for h in history)]
        blocks.append(Table([key.replace("_", " ") for key in keys], [[h.get(key) for key in keys] for h in history],
                            caption="Training history, one row per epoch"))
        plot_training(history, figures / f"training_{k}", title=f"{folder_label}: {sidecar.stem}")
        blocks.append(Figure(f"training_{k}.png", f"training loss and clean accuracy per epoch of {sidecar.stem} "
                                                  f"in {folder_label}"))
    return Section(f"Training: {folder_label}/{sidecar.stem}", blocks)


def runs_document(paths: Sequence[str | Path], figures: str | Path, *,
                  radii: Sequence[float] = STANDARD_RADII) -> Document:
    """The report on ``paths`` (run folders, study folders or results TSVs), its own figures written into
    ``figures`` (the folder the document's figure paths are relative to).

    Raises:
        InvalidArgumentError: no paths, a missing path, bad radii.
        ResultsError: a folder with nothing to show, an unreadable results file.
    """
    if not paths:
        raise InvalidArgumentError("give at least one run folder, study folder or results TSV")
    r = validate_radii(radii)
    if r.ndim != 1:
        raise InvalidArgumentError(f"radii must be a list of numbers, got {radii!r}")
    figures = Path(figures)
    folders = [read_folder(p) for p in paths]
    tsvs = list(dict.fromkeys(p.resolve() for f in folders for p in f.runs))
    single = {p: sum(1 for q in tsvs if q.parent == p.parent) == 1 for p in tsvs}
    runs, empty, analyzed = [], [], {}
    for label, tsv in zip(_labels(tsvs, single), tsvs, strict=True):
        res = read_results(tsv, name=label)
        if not len(res):
            empty.append(Run(label, tsv, res, _manifest(tsv)))
            continue
        # Read as `smoothcert analyze` reads it (rows, manifest, what the radius certifies), labelled here.
        run = next(iter(read_runs([tsv], ["radius"]).values()))
        run = replace(run, results=replace(run.results, name=label), file_label=label)
        analyzed[label] = run
        runs.append(Run(label, tsv, run.results, _manifest(tsv)))

    blocks: list[Block] = []
    sources = ", ".join(f"`{p}`" for p in paths)
    blocks.append(Paragraph(f"From {sources}. Certified accuracy at radius r: the fraction of all inputs that the "
                            "smoothed classifier classifies correctly with a certified ℓ2 radius ≥ r (input space); "
                            "abstentions count as not certified."))
    for run in empty:
        blocks.append(Paragraph(f"`{run.path}` holds no rows yet: left out."))
    if runs:
        results = {run.label: run.results for run in runs}
        plot_certified_accuracy(results, figures / "certified_accuracy")
        compared = [
            _overview(runs),
            Figure("certified_accuracy.png", "certified accuracy against ℓ2 radius, one curve per run: "
                   + ", ".join(results), caption="Certified accuracy against radius (hover for values)."),
            Paragraph("Certified accuracy at the standard radii, average certified radius (ACR), abstain rate and "
                      "the number N of rows, as `smoothcert analyze` computes them:"),
            *analysis_blocks(analyzed, r),
        ]
        per_class = {run.label: _per_class(run, r) for run in runs}
        compared.append(Table(["run", *_radius_header(r)], [[label, *spread] for label, (_, spread)
                                                            in per_class.items()],
                              caption="Disparity across classes: max − min of per-class certified accuracy"))
        with_pa = {run.label: run.results for run in runs if "pA_lower" in run.results.extra}
        if with_pa:
            plot_p_a_distribution(with_pa, figures / "p_a_distribution")
            compared += [Figure("p_a_distribution.png", "fraction of inputs whose lower bound p̲_A is at least x, "
                                "against x, one curve per run", caption="Distribution of p̲_A, the lower confidence "
                                "bound on the top class's probability: an input is certified when p̲_A > ½, with a "
                                "radius that grows with p̲_A (hover for values)."),
                         p_a_distribution_data(with_pa)]
        missing = [run.label for run in runs if "pA_lower" not in run.results.extra]
        if missing:
            compared.append(Paragraph(f"No pA_lower column (no p̲_A distribution): {', '.join(missing)}."))
        blocks.append(Section("Runs compared" if len(runs) > 1 else "Certified accuracy", compared))
        for run in runs:
            table = per_class[run.label][0]
            values = per_class_certified_accuracy(run.results, r[:1])[:, 0]
            run_blocks: list[Block] = []
            if run.manifest is None:
                run_blocks.append(Paragraph(f"No manifest beside `{run.path}` (`{run.path.with_suffix('.json').name}`"
                                            "): the settings are not known."))
            run_blocks += [Section("What was certified", [Table(["field", "value"], settings_rows(run))]),
                           Section("Per-class certified accuracy", [table, Paragraph(_disparity_text(values, r[0]))])]
            blocks.append(Section(f"Run: {run.label}", run_blocks))

    for folder in folders:
        for md in folder.reports:
            try:
                doc = parse_markdown(md.read_text(encoding="utf-8"))
                doc_blocks = [_rebase(b, md.parent, figures) for b in doc.blocks]
            except (OSError, UnicodeDecodeError, SmoothcertError) as err:
                blocks.append(Section(f"Report {md}", [Paragraph(f"Could not read it: {err}")]))
                continue
            blocks.append(Section(f"Report in {md.parent.name or md.parent}: {doc.title}", [
                Paragraph(f"As written in `{md}` (its figures from that folder)."), *doc_blocks]))
    k = 0
    for folder in folders:
        for sidecar in folder.checkpoints:
            k += 1
            blocks.append(_training_section(sidecar, folder.path.name or str(folder.path), figures, k))

    labels = [run.label for run in runs] or [f.path.name or str(f.path) for f in folders]
    title = ("Certification report: " if runs else "Report: ") + ", ".join(labels[:4]) + (
        f" and {len(labels) - 4} more" if len(labels) > 4 else "")
    return Document(title, blocks)


def _disparity_text(values: np.ndarray, radius: float) -> str:
    if not np.any(~np.isnan(values)):
        return "No class has inputs."
    d = disparity(values)
    return (f"At r = {radius:g}: worst class {d.worst_class} ({d.worst:.3f}), best class {d.best_class} "
            f"({d.best:.3f}); spread (max − min) {d.spread:.3f}, standard deviation across classes {d.std:.3f}.")


def write_runs_report(paths: Sequence[str | Path], out: str | Path, *, radii: Sequence[float] = STANDARD_RADII,
                      overwrite: bool = False) -> Path:
    """Write the report on ``paths`` (see :func:`runs_document`) as one self-contained HTML file ``out``.

    ``out`` must end in ``.html``; an existing file is replaced only with ``overwrite`` (after the new page is
    complete: a failure leaves it as it was). Returns ``out``.
    """
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InvalidArgumentError(f"--out must name an .html file, got {out}")
    if out.is_dir():
        raise InvalidArgumentError(f"{out} is a folder; --out names the HTML file to write")
    if out.exists() and not overwrite:
        raise InvalidArgumentError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise InvalidArgumentError(f"{out.parent}: no such folder for --out")
    with tempfile.TemporaryDirectory(prefix="smoothcert-report-") as tmp:
        doc = runs_document(paths, tmp, radii=radii)
        page = render_html(doc, base=tmp)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(out)
    return out

