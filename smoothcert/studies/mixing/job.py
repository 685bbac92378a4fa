"""The ``smoothcert mix`` jobs on a run folder: train the models, evaluate the trade-off, certify the mixture.

A run folder holds ``standard``, ``robust`` (adversarially trained) and ``noise`` (Gaussian-noise trained,
for certification) checkpoints, the mixing network ``mixing``, and the results of ``eval`` and ``certify``
with their manifests, tables and plots. Every stage is skipped when its output exists with the same
settings, and the long ones resume per epoch (training) or per row (evaluation, certification).

Each job (:func:`train_run`, :func:`eval_run`, :func:`certify_run`, :func:`plot_run`) validates its plan,
loads the data set (the run's own for everything after training), writes into the run folder and returns the
:class:`~smoothcert.document.Document` it reports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...attacks import AttackConfig, AutoAttackConfig
from ...backends import Backend, ModelSource
from ...certificates.mixture import check_mixing_alpha
from ...data import Dataset, hold_out, load_dataset
from ...document import BulletList, Document, Paragraph, Section, Table
from ...engine import Engine
from ...errors import CheckpointError, InvalidArgumentError
from ...models import MixedClassifier, load_checkpoint, load_mixing, read_info, save_mixing
from ...models.checkpoint import checkpoint_paths
from ...report.html import write_report
from ...runs import RunOptions, read_manifest, write_manifest
from ...smooth import Smooth
from ...training import TrainConfig, train_base_model
from ...validate import (
    check_alpha,
    check_choice,
    check_count,
    check_int,
    check_output_folder,
    check_positive,
    check_real,
    check_seed,
)
from .certify import certify_mixture_dataset, mixture_certified_accuracy, mixture_clean_accuracy, read_mixture_votes
from .evaluate import ModelEntry, evaluate_robustness, is_eval_file, read_eval_rows
from .plots import plot_certified_vs_alpha, plot_tradeoff
from .select import base_clean, choose, clean_budget
from .train import AdversarialConfig, MixingConfig, build_mixed, train_mixing, train_robust_model

Echo = Callable[[str], None]


# --- the run folder -------------------------------------------------------------------------------------

def _existing(stem: Path) -> bool:
    return all(p.is_file() for p in checkpoint_paths(stem))


def _read_json(path: Path) -> dict:
    """A JSON object file of the run folder; an unreadable one is a CheckpointError (one line)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} cannot be read: {str(err).splitlines()[0]}") from err
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return doc


def _dataset(data: Dataset | str, *, seed: int, data_dir: str | Path | None, download: bool) -> Dataset:
    return data if isinstance(data, Dataset) else load_dataset(data, data_dir=data_dir, seed=seed,
                                                                 download=download)


#: The splits ``mix eval`` evaluates on: the test inputs, or the training examples ``mix train`` held out.
SPLITS = ("test", "validation")


def run_dataset(run: str | Path, *, data_dir: str | Path | None = None, download: bool = False,
                split: str = "test") -> Dataset:
    """The data set a run was trained on: its name from the standard checkpoint, the split seed and the held-out
    validation size from the train manifest (``data_seed``, ``validation_size``; 0 when there is none).

    ``split="validation"`` returns the held-out examples as the test set (:func:`smoothcert.data.hold_out`);
    a run trained without them cannot give one (InvalidArgumentError).
    """
    check_choice("split", split, SPLITS)
    run = Path(run)
    manifest = run / "train.json"
    arguments = _read_json(manifest).get("arguments", {}) if manifest.is_file() else {}
    seed, size = int(arguments.get("data_seed", 0)), int(arguments.get("validation_size", 0))
    data = load_dataset(read_info(run / "standard").dataset, data_dir=data_dir, seed=seed, download=download)
    if size == 0:
        if split == "validation":
            raise InvalidArgumentError(f"{run} has no validation split: train it with --validation-size N")
        return data
    train, validation = hold_out(data, size, seed)
    return validation if split == "validation" else train


def _require(run: Path, *names: str) -> None:
    for name in names:
        if not _existing(run / name):
            raise CheckpointError(f"{run / name}.safetensors not found: run `smoothcert mix train` first")


# --- training -------------------------------------------------------------------------------------------

@dataclass
class TrainPlan:
    """What ``mix train`` builds. ``noise_sigma`` 0 skips the noise-trained model; ``mixing_max`` limits the
    training images of the mixing network (None: all); ``data_seed`` is the split the data is loaded with
    (recorded so that eval and certify load the same split); ``validation_size`` training examples are held
    out from every model (stratified, drawn with ``data_seed``) for ``mix eval --split validation``, where
    settings such as the α range are chosen without looking at the test inputs."""

    arch: str = "lenet"
    standard_epochs: int = 10
    standard_lr: float = 3e-3
    robust: AdversarialConfig = field(default_factory=AdversarialConfig)
    noise_sigma: float = 0.25
    noise_epochs: int = 10
    mixing: MixingConfig = field(default_factory=MixingConfig)
    mixing_max: int | None = None
    seed: int = 0
    data_seed: int = 0
    validation_size: int = 0

    def validate(self) -> TrainPlan:
        check_count("standard_epochs", self.standard_epochs)
        check_positive("standard_lr", self.standard_lr)
        check_positive("noise_sigma", self.noise_sigma, allow_zero=True)
        check_count("noise_epochs", self.noise_epochs)
        if self.mixing_max is not None:
            check_count("mixing_max", self.mixing_max)
        check_seed(self.seed)
        check_seed(self.data_seed)
        check_int("validation_size", self.validation_size, minimum=0)
        self.robust.validate()
        self.mixing.validate()
        return self


def _check_same(stem: Path, wanted: dict) -> None:
    """Refuse to reuse a checkpoint whose recorded training settings differ from ``wanted``."""
    training = read_info(stem).training
    differing = {k: training.get(k) for k, v in wanted.items() if training.get(k) != v}
    if differing:
        raise InvalidArgumentError(f"{stem}.safetensors exists with other settings ({differing}); "
                                   f"use another --out folder or remove it")


def train_run(run: str | Path, plan: TrainPlan, *, data: Dataset | str = "digits",
              data_dir: str | Path | None = None, download: bool = False, device: torch.device | str = "cpu",
              progress: bool = True, echo: Echo = print) -> Document:
    """Train (or reuse) the standard, robust, noise and mixing models in ``run``.

    Args:
        data: a loaded data set, or the name to load (with ``data_dir``, ``download`` and the plan's split seed).
        progress: progress bars and one line per epoch (through ``echo``); False: neither, only a line per stage.
    Returns:
        what was done (seconds per trained stage) and the data split.
    """
    plan = plan.validate()
    run = check_output_folder(run, "run folder")
    device = torch.device(device)
    data = _dataset(data, seed=plan.data_seed, data_dir=data_dir, download=download)
    arguments = {"dataset": data.name, **json.loads(json.dumps(asdict(plan)))}
    if (run / "train.json").is_file():
        held = int(_read_json(run / "train.json").get("arguments", {}).get("validation_size", 0))
        if held != plan.validation_size:  # models trained on other examples must not be reused
            raise InvalidArgumentError(f"{run} was trained with validation size {held}, not "
                                       f"{plan.validation_size}; use another --out folder")
    validation = None
    if plan.validation_size:
        data, validation = hold_out(data, plan.validation_size, plan.data_seed)
    run.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    log = echo if progress else None

    def stage(name: str, fn: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        fn()
        times[name] = round(time.perf_counter() - t0, 2)
        write_manifest(run / "train", arguments, status="running", stage_seconds=times,
                       dataset={"name": data.name, "split_note": data.split_note})

    std_cfg = TrainConfig(epochs=plan.standard_epochs, lr=plan.standard_lr, seed=plan.seed)
    noise_cfg = TrainConfig(train_sigma=plan.noise_sigma, epochs=plan.noise_epochs, lr=plan.standard_lr,
                            seed=plan.seed)
    for stem, cfg, label in ((run / "standard", std_cfg, "standard"), (run / "noise", noise_cfg, "noise")):
        if label == "noise" and plan.noise_sigma <= 0:
            continue
        if _existing(stem):
            _check_same(stem, {k: getattr(cfg, k) for k in ("epochs", "train_sigma", "lr", "seed")})
            echo(f"{label}: reusing {stem}.safetensors")
            continue
        echo(f"{label}: training {plan.arch} ({cfg.epochs} epochs, train σ = {cfg.train_sigma:g}) …")
        stage(label, lambda stem=stem, cfg=cfg: train_base_model(data, plan.arch, cfg, stem, device=device,
                                                                 progress=progress, log=log))
    robust = run / "robust"
    if _existing(robust):
        _check_same(robust, {"adversarial": asdict(plan.robust)})
        echo(f"robust: reusing {robust}.safetensors")
    else:
        echo(f"robust: PGD-{plan.robust.norm} adversarial training, ε = {plan.robust.eps:g}, "
             f"{plan.robust.steps} steps, {plan.robust.epochs} epochs …")
        stage("robust", lambda: train_robust_model(data, plan.arch, plan.robust, robust, device=device,
                                                   progress=progress, log=log))
    mixing = run / "mixing"
    if (run / "mixing.json").is_file():
        if _read_json(run / "mixing.json").get("config") != asdict(plan.mixing):
            raise InvalidArgumentError(f"{mixing}.safetensors exists with other settings; use another --out")
        echo(f"mixing: reusing {mixing}.safetensors")
    else:
        echo(f"mixing network: {plan.mixing.epochs} epochs, attacks {plan.mixing.attack}-{plan.mixing.norm} "
             f"ε ∈ ε₀·U({plan.mixing.eps_low:g}, {plan.mixing.eps_high:g}), ε₀ = {plan.mixing.eps:g} …")

        def train_mix() -> None:
            g, _ = load_checkpoint(run / "standard", device)
            h, _ = load_checkpoint(robust, device)
            model = build_mixed(g, h, data.x_train[:1].to(device), plan.mixing)
            x, y = data.x_train[: plan.mixing_max].to(device), data.y_train[: plan.mixing_max].to(device)
            # the per-epoch log reads held-out examples when there are any (it chooses nothing either way)
            shown = validation if validation is not None else data
            history = train_mixing(model, x, y, plan.mixing, x_val=shown.x_test[:256].to(device),
                                   y_val=shown.y_test[:256].to(device), state=run / "mixing.state",
                                   progress=progress, log=log)
            save_mixing(model, mixing, {"standard": "standard", "robust": "robust", "dataset": data.name,
                                        "config": asdict(plan.mixing), "objective": history.objective,
                                        "train_images": len(x), "log": history.epochs})
        stage("mixing", train_mix)
    write_manifest(run / "train", arguments, status="complete", stage_seconds=times,
                   dataset={"name": data.name, "split_note": data.split_note})
    done = ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) or "all stages reused"
    return Document(f"mix train: {run}", [Paragraph(f"done: {done} → {run}"), Paragraph(f"data: {data.split_note}")])


# --- evaluation -------------------------------------------------------------------------------------------

@dataclass
class EvalPlan:
    """What ``mix eval`` measures: every model (standard, robust, the fixed-α sweep, one adaptive mixture per
    γ bias and α range) at every ε, under the attack sequence ``attacks``, on the first ``max_inputs`` inputs of
    ``split`` (``"test"``, or ``"validation"``: the examples ``mix train --validation-size`` held out);
    ``name`` names the results files. AutoAttack (``autoattack_inputs`` > 0) attacks the base models, the adaptive
    mixtures and the fixed α in ``autoattack_alphas`` (default: every α of the sweep)."""

    eps: Sequence[float] = (0.1, 0.2, 0.3)
    alphas: Sequence[float] = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9)
    gamma_scale: float = 2.0
    gamma_biases: Sequence[float] = (-1.0, 0.0, 1.0)
    alpha_ranges: Sequence[tuple[float, float]] = ((0.0, 1.0),)
    attacks: Sequence[str] = ("pgd", "apgd-ce")
    norm: str = "linf"
    steps: int = 20
    max_inputs: int = 500
    autoattack_inputs: int = 0
    autoattack: AutoAttackConfig = field(default_factory=AutoAttackConfig)
    autoattack_alphas: Sequence[float] | None = None
    batch_size: int = 250
    seed: int = 0
    name: str = "eval"
    split: str = "test"

    def validate(self) -> EvalPlan:
        """Check the settings (without changing them: they are the manifest's arguments)."""
        if not self.eps:
            raise InvalidArgumentError("give at least one eps value")
        for e in self.eps:
            check_positive("eps", e, allow_zero=True)
        check_count("steps", self.steps)
        check_count("max_inputs", self.max_inputs)
        check_int("autoattack_inputs", self.autoattack_inputs, minimum=0)
        missing = [a for a in self.autoattack_alphas or () if not any(abs(a - b) < 1e-12 for b in self.alphas)]
        if missing:
            raise InvalidArgumentError(f"AutoAttack's fixed α {', '.join(f'{a:g}' for a in missing)} are not among "
                                       f"the evaluated α {', '.join(f'{a:g}' for a in self.alphas)}")
        check_count("batch_size", self.batch_size)
        check_seed(self.seed)
        check_choice("split", self.split, SPLITS)
        if not self.alpha_ranges:
            raise InvalidArgumentError("give at least one α range")
        for lo, hi in self.alpha_ranges:
            if not 0 <= check_real("alpha range", lo) < check_real("alpha range", hi) <= 1:
                raise InvalidArgumentError(f"an α range needs 0 ≤ LOW < HIGH ≤ 1, got ({lo:g}, {hi:g})")
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise InvalidArgumentError(f"name takes letters, digits, - and _, got {self.name!r}")
        self.attack_configs()
        return self

    def attack_configs(self) -> list[AttackConfig]:
        """The attack sequence (each entry checked by :class:`~smoothcert.attacks.AttackConfig`; the fixed α are
        checked by :class:`~smoothcert.models.MixedClassifier`)."""
        return [AttackConfig(m, norm=self.norm, steps=self.steps) for m in self.attacks]


def load_run_models(run: str | Path, device: torch.device | str) -> tuple[nn.Module, nn.Module]:
    """(standard, robust) base models of a run folder."""
    run = Path(run)
    _require(run, "standard", "robust")
    return load_checkpoint(run / "standard", device)[0], load_checkpoint(run / "robust", device)[0]


def eval_entries(run: str | Path, data: Dataset, plan: EvalPlan, device: torch.device | str) -> list[ModelEntry]:
    """The models ``plan`` evaluates: both base models, the fixed-α sweep, and (when the run has a mixing network)
    one adaptive mixture per γ bias."""
    run = Path(run)
    g, h = load_run_models(run, device)
    entries = [ModelEntry("standard", "standard", "α = 0", MixedClassifier(g, h, alpha=0.0)),
               ModelEntry("robust", "robust", "α = 1", MixedClassifier(g, h, alpha=1.0))]
    for a in plan.alphas:
        entries.append(ModelEntry(f"fixed α={a:g}", "fixed", f"α = {a:g}", MixedClassifier(g, h, alpha=float(a))))
    if (run / "mixing.json").is_file():
        for b in plan.gamma_biases:
            for lo, hi in plan.alpha_ranges:
                model = load_mixing(run / "mixing", g, h, data.x_test[:1].to(device))
                model.mixing.set_reparameterization(plan.gamma_scale, b)
                model.mixing.set_alpha_range(lo, hi)
                entries.append(ModelEntry(adaptive_name(b, (lo, hi)), "adaptive",
                                          adaptive_setting(plan.gamma_scale, b, (lo, hi)), model))
    return entries


def autoattack_entries(entries: Sequence[ModelEntry], plan: EvalPlan) -> list[ModelEntry]:
    """The entries AutoAttack attacks: all but the fixed α outside ``plan.autoattack_alphas`` (when given)."""
    if plan.autoattack_alphas is None:
        return list(entries)
    wanted = {f"fixed α={a:g}" for a in plan.autoattack_alphas}
    return [e for e in entries if e.kind != "fixed" or e.name in wanted]


def adaptive_name(bias: float, alpha_range: tuple[float, float]) -> str:
    """The model name of the adaptive mixture with γ bias ``bias`` and α range ``alpha_range`` in results."""
    lo, hi = alpha_range
    return f"adaptive b={bias:g}" + ("" if (lo, hi) == (0.0, 1.0) else f", α∈({lo:g},{hi:g})")


def adaptive_setting(scale: float, bias: float, alpha_range: tuple[float, float]) -> str:
    sign = "−" if bias < 0 else "+"
    return f"γ′ = {scale:g}·BN(γ) {sign} {abs(bias):g}, α ∈ ({alpha_range[0]:g}, {alpha_range[1]:g})"


def eval_run(run: str | Path, plan: EvalPlan, *, data: Dataset | None = None, data_dir: str | Path | None = None,
             download: bool = False, device: torch.device | str = "cpu", resume: bool = False,
             overwrite: bool = False, progress: bool = True, echo: Echo = print) -> Document:
    """Robust accuracy of every model at every ε into ``run/<name>.tsv``, with the table ``<name>.md`` (the
    returned document); the plot ``tradeoff`` shows every evaluation in the run folder (so a later evaluation of
    other adaptive settings, under another ``name``, joins the same curve).

    With ``autoattack_inputs`` > 0, every model is also attacked with AutoAttack's ensemble on that many inputs at
    the largest ε, into ``<name>_autoattack.tsv``. ``data``: the run's data set (default: loaded with
    :func:`run_dataset`).
    """
    plan = plan.validate()
    RunOptions(resume=resume, overwrite=overwrite)  # both together are refused before the run is read
    run = Path(run)
    device = torch.device(device)
    data = data if data is not None else run_dataset(run, data_dir=data_dir, download=download, split=plan.split)
    entries = eval_entries(run, data, plan, device)
    x, y = data.x_test[: plan.max_inputs].to(device), data.y_test[: plan.max_inputs].to(device)
    context = {"device": str(device), "dataset": {"name": data.name, "split_note": data.split_note,
                                                  "split": plan.split, "inputs": len(x),
                                                  "selection": f"first {len(x)} {plan.split} inputs"}}
    arguments = {"plan": json.loads(json.dumps(asdict(plan), default=str))}
    echo(f"evaluating {len(entries)} models × {len(plan.eps)} ε on {len(x)} {plan.split} inputs …")
    out = run / f"{plan.name}.tsv"
    evaluate_robustness(entries, x, y, plan.eps, plan.attack_configs(), out, batch_size=plan.batch_size,
                        seed=plan.seed, arguments=arguments, resume=resume, overwrite=overwrite,
                        progress=progress, context=context)
    rows = read_eval_rows(out)
    autoattack: list[dict] | None = None
    if plan.autoattack_inputs > 0:
        aa_eps = max(plan.eps)
        xa, ya = x[: plan.autoattack_inputs], y[: plan.autoattack_inputs]
        aa_out = run / f"{plan.name}_autoattack.tsv"
        aa_entries = autoattack_entries(entries, plan)
        echo(f"AutoAttack on {len(aa_entries)} models, {len(xa)} inputs, ε = {aa_eps:g} …")
        evaluate_robustness(aa_entries, xa, ya, [aa_eps], [AttackConfig("autoattack", norm=plan.norm,
                                                                     autoattack_config=plan.autoattack)],
                            aa_out, seed=plan.seed, arguments=arguments, resume=resume, overwrite=overwrite,
                            progress=progress, context=context)
        autoattack = read_eval_rows(aa_out)
    doc = tradeoff_report(rows, plan.eps, data, autoattack, split=plan.split)
    write_report(doc, run / f"{plan.name}.md")
    if plan.split == "test":  # the trade-off plot shows test evaluations only
        plot_tradeoff(all_eval_rows(run), list(plan.eps), run / "tradeoff",
                      title=f"{data.name}: clean vs robust accuracy ({plan.norm}, {len(x)} test inputs)")
    return doc


# --- choosing settings on the validation split ---------------------------------------------------------

SELECTION_FORMAT = "smoothcert-mixing-selection"


def select_run(run: str | Path, *, source: str = "validation", keep: float = 0.5, eps: float | None = None,
               overwrite: bool = False) -> Document:
    """Choose the fixed α and the adaptive (γ bias, α range) from the validation evaluation ``run/<source>.tsv``
    by the rule of :mod:`~smoothcert.studies.mixing.select`, robust accuracy read at ``eps`` (default: the
    largest ε evaluated); write them to ``run/selection.json`` (the run's manifest format, with a
    ``selection`` section that ``mix eval --selection`` reads) and the table ``selection.md``."""
    run = Path(run)
    path = run / f"{source}.tsv"
    if not path.is_file():
        raise InvalidArgumentError(f"{path} not found: run `smoothcert mix eval --split validation --name {source}`")
    if eval_split(path) != "validation":
        raise InvalidArgumentError(f"{path} is an evaluation on the test inputs; settings are chosen on the "
                                   "validation split (mix eval --split validation)")
    manifest = read_manifest(path) or {}
    if manifest.get("status") != "complete":
        raise InvalidArgumentError(f"{path} is not complete: finish it with `smoothcert mix eval --resume`")
    rows = read_eval_rows(path)
    evaluated = sorted({float(r["eps"]) for r in rows})
    eps = max(evaluated) if eps is None else float(eps)
    if eps not in evaluated:
        raise InvalidArgumentError(f"ε = {eps:g} was not evaluated in {path} (evaluated: "
                                   f"{', '.join(f'{e:g}' for e in evaluated)})")
    plan = manifest.get("arguments", {}).get("plan", {})
    threshold = clean_budget(base_clean(rows, "standard"), base_clean(rows, "robust"), keep)
    fixed, adaptive = choose(rows, "fixed", eps, threshold), choose(rows, "adaptive", eps, threshold)
    settings = {adaptive_name(float(b), (float(lo), float(hi))): (float(b), [float(lo), float(hi)])
                for b in plan.get("gamma_biases", []) for lo, hi in plan.get("alpha_ranges", [])}
    if adaptive.model not in settings:
        raise InvalidArgumentError(f"{path}'s manifest does not name the settings of {adaptive.model!r}")
    bias, alpha_range = settings[adaptive.model]
    selection = {"format": SELECTION_FORMAT, "source": path.name, "inputs": rows[0]["n"], "eps": eps, "keep": keep,
                 "clean_threshold": threshold, "standard_clean": base_clean(rows, "standard"),
                 "robust_clean": base_clean(rows, "robust"),
                 "fixed": {**fixed.to_dict(), "alpha": next(float(r["setting"].split("=")[1]) for r in rows
                                                            if r["model"] == fixed.model)},
                 "adaptive": {**adaptive.to_dict(), "gamma_scale": float(plan.get("gamma_scale", 2.0)),
                              "gamma_bias": bias, "alpha_range": alpha_range}}
    out = run / "selection.json"
    if out.exists() and not overwrite:
        raise InvalidArgumentError(f"{out} exists; pass --overwrite to choose again")
    write_manifest(run / "selection", {"source": source, "keep": keep, "eps": eps}, status="complete",
                   selection=selection)
    doc = selection_report(selection)
    write_report(doc, run / "selection.md")
    return doc


def selection_report(selection: dict) -> Document:
    """The chosen settings as a table, with the rule that chose them."""
    rows = [[kind, selection[kind]["model"], selection[kind]["clean"], selection[kind]["robust"],
             "yes" if selection[kind]["qualified"] else "no (most accurate taken)"] for kind in ("fixed", "adaptive")]
    return Document("Settings chosen on the validation split", [
        Paragraph(f"From {selection['source']} ({selection['inputs']} validation inputs): clean accuracy at least "
                  f"{selection['clean_threshold']:.4f} = robust {selection['robust_clean']:.4f} + "
                  f"{selection['keep']:g} × (standard {selection['standard_clean']:.4f} − robust), then the "
                  f"highest robust accuracy at ε = {selection['eps']:g}."),
        Table(["kind", "model", "clean", f"robust ε = {selection['eps']:g}", "met the clean budget"], rows)])


def read_selection(path: str | Path) -> dict:
    """The ``selection`` section of a ``selection.json`` written by :func:`select_run` (InvalidArgumentError
    naming the file when it is something else)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"{path} not found: run `smoothcert mix select` first")
    selection = _read_json(path).get("selection")
    if not isinstance(selection, dict) or selection.get("format") != SELECTION_FORMAT:
        raise InvalidArgumentError(f"{path} is not a selection written by `smoothcert mix select`")
    return selection


def apply_selection(plan: EvalPlan, selection: dict) -> EvalPlan:
    """``plan`` evaluating the chosen adaptive mixture only (its γ scale, bias and α range), with the chosen fixed
    α added to the fixed-α sweep when it is not there."""
    chosen = selection["adaptive"]
    alphas = list(plan.alphas)
    if not any(abs(a - selection["fixed"]["alpha"]) < 1e-12 for a in alphas):
        alphas = sorted([*alphas, selection["fixed"]["alpha"]])
    return replace(plan, alphas=alphas, gamma_scale=chosen["gamma_scale"], gamma_biases=[chosen["gamma_bias"]],
                   alpha_ranges=[tuple(chosen["alpha_range"])])


def eval_split(path: str | Path) -> str:
    """The split an evaluation TSV was measured on, from its manifest (``"test"`` when it does not say)."""
    manifest = read_manifest(path) or {}
    return str(manifest.get("dataset", {}).get("split", "test"))


def all_eval_rows(run: str | Path) -> list[dict]:
    """Rows of every test evaluation TSV in ``run`` (AutoAttack and validation files excepted), each (model, ε)
    once: files in name order, so the main ``eval.tsv`` wins over later ones such as ``eval_range.tsv``."""
    files = sorted(p for p in Path(run).glob("*.tsv") if not p.stem.endswith("_autoattack") and is_eval_file(p)
                   and eval_split(p) == "test")
    seen, rows = set(), []
    for path in files:
        for r in read_eval_rows(path):
            if (r["model"], r["eps"]) not in seen:
                seen.add((r["model"], r["eps"]))
                rows.append(r)
    return rows


def plot_run(run: str | Path, eps: Sequence[float] | None = None) -> Document:
    """Redraw the trade-off plot ``run/tradeoff`` from every evaluation in the run folder (no attacks are run);
    one panel per ε in ``eps`` (default: every ε evaluated)."""
    run = Path(run)
    rows = all_eval_rows(run) if run.is_dir() else []
    if not rows:
        raise InvalidArgumentError(f"no evaluation results in {run}: run `smoothcert mix eval` first")
    panels = list(eps) if eps else sorted({float(r["eps"]) for r in rows})
    paths = plot_tradeoff(rows, panels, run / "tradeoff", title=f"{run.name}: clean vs robust accuracy")
    return Document(f"mix plot: {run}", [Paragraph(f"plot {paths[0]} ({len(rows)} rows)")])


def tradeoff_report(rows: Sequence[dict], eps_values: Sequence[float], data: Dataset,
                    autoattack: Sequence[dict] | None = None, *, split: str = "test") -> Document:
    """One line per model: clean accuracy, robust accuracy per ε, mean α on clean inputs; then the attacks, and
    the AutoAttack rows when there are any."""
    models: dict[str, dict] = {}
    for r in rows:
        m = models.setdefault(r["model"], {"setting": r["setting"], "clean": r["clean_accuracy"],
                                           "alpha": r["alpha_clean"], "robust": {}})
        m["robust"][float(r["eps"])] = r["robust_accuracy"]
    header = ["model", "setting", "clean", *[f"robust ε = {e:g}" for e in eps_values], "mean α (clean)"]
    table_rows = [[name, m["setting"], m["clean"], *[m["robust"].get(float(e), "") for e in eps_values],
                   m["alpha"]] for name, m in models.items()]
    attacks = sorted({(r["kind"] == "adaptive", r["attack"]) for r in rows})
    seconds = sum(r["seconds"] for r in rows)
    blocks: list = [
        Paragraph(f"Data: {data.split_note}; first {rows[0]['n']} {split} inputs."),
        Table(header, table_rows),
        Paragraph("Attacks (robust accuracy = worst case over the sequence):"),
        BulletList([f"{'adaptive mixtures' if adaptive else 'other models'}: {text}" for adaptive, text in attacks]),
        Paragraph(f"Attack time of all rows: {seconds:.0f} s."),
    ]
    if autoattack:
        blocks.append(Section("AutoAttack", [Table(
            ["model", "setting", "ε", "inputs", "clean", "robust", "attack"],
            [[r["model"], r["setting"], r["eps"], r["n"], r["clean_accuracy"], r["robust_accuracy"], r["attack"]]
             for r in autoattack])]))
    return Document(f"Trade-off on {data.name}", blocks)


# --- certification ----------------------------------------------------------------------------------------

@dataclass
class CertifyPlan:
    """What ``mix certify`` computes: votes of the noise-trained model, then certified accuracy against α."""

    sigma: float = 0.25
    n0: int = 100
    n: int = 10_000
    alpha_conf: float = 0.001
    max_inputs: int = 500
    alphas: Sequence[float] = tuple(np.round(np.arange(0.5, 1.0001, 0.05), 2))
    radii: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
    batch_size: int = 1024
    seed: int = 0
    compile: bool = False

    def validate(self) -> CertifyPlan:
        check_positive("sigma", self.sigma)
        check_count("n0", self.n0)
        check_count("n", self.n)
        check_alpha(self.alpha_conf, "alpha_conf")
        check_count("max_inputs", self.max_inputs)
        check_mixing_alpha(self.alphas)
        for r in self.radii:
            check_positive("radii", r, allow_zero=True)
        check_count("batch_size", self.batch_size)
        check_seed(self.seed)
        return self


def certify_run(run: str | Path, plan: CertifyPlan, *, data: Dataset | None = None,
                data_dir: str | Path | None = None, download: bool = False, device: torch.device | str = "cpu",
                resume: bool = False, overwrite: bool = False, progress: bool = True,
                echo: Echo = print, backend: Backend | None = None) -> Document:
    """Votes of the smoothed noise-trained model into ``run/certify.tsv`` (resumable); the tables ``certify.md``
    (the returned document) and the plot ``certified_vs_alpha``. ``data``: the run's data set (default: loaded
    with :func:`run_dataset`). ``backend`` (:mod:`smoothcert.backends`, default serial) samples the votes, here
    or on Ray workers that each build ``run/noise``; the rows are the same."""
    plan = plan.validate()
    RunOptions(resume=resume, overwrite=overwrite)  # both together are refused before the run is read
    run = Path(run)
    device = torch.device(device)
    data = data if data is not None else run_dataset(run, data_dir=data_dir, download=download)
    _require(run, "standard", "noise")
    g, _ = load_checkpoint(run / "standard", device)
    f, f_info = load_checkpoint(run / "noise", device)
    smooth = Smooth(f, data.num_classes, plan.sigma, batch_size=plan.batch_size, seed=plan.seed, device=device,
                    compile=plan.compile)
    n_inputs = min(plan.max_inputs, len(data.x_test))
    arguments = {"sigma": plan.sigma, "n0": plan.n0, "n": plan.n, "seed": plan.seed, "inputs": n_inputs}
    context = {"device": str(device), "dataset": {"name": data.name, "split_note": data.split_note},
               "noise_model": {"train_sigma": f_info.train_sigma, "test_accuracy": f_info.test_accuracy}}
    echo(f"sampling votes of the noise-trained model (σ = {plan.sigma:g}, n0 = {plan.n0}, n = {plan.n:,}) "
         f"on {n_inputs} test inputs …")
    stats = certify_mixture_dataset(smooth, data.x_test, data.y_test, run / "certify.tsv", n0=plan.n0, n=plan.n,
                                    indices=range(n_inputs), arguments=arguments,
                                    options=RunOptions(resume=resume, overwrite=overwrite, progress=progress),
                                    context=context,
                                    backend=None if backend is None else
                                    backend.for_source(ModelSource(checkpoint=str(run / "noise"))))
    votes = read_mixture_votes(run / "certify.tsv")
    logits = Engine(g, device=device, batch_size=plan.batch_size).logits(data.x_test[votes.idx])
    probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
    tables, doc = certify_tables(votes, probs, plan)
    plot_certified_vs_alpha(plan.alphas, plan.radii, {"RS radius, Clopper–Pearson": tables[("rs", "cp")],
                                                      "RS radius, plug-in": tables[("rs", "plugin")]},
                            run / "certified_vs_alpha", clean=tables["clean"],
                            title=f"{data.name}: mixture with a smoothed model, σ = {plan.sigma:g}, "
                                  f"n = {plan.n:,}, α_conf = {plan.alpha_conf:g}")
    doc = replace(doc, blocks=[*doc.blocks, Paragraph(f"Vote sampling (this call): {stats['seconds']:.1f} s.")])
    write_report(doc, run / "certify.md")
    return doc


def certify_tables(votes, standard_probs: np.ndarray, plan: CertifyPlan) -> tuple[dict, Document]:
    """Certified accuracy [A, R] for RS/Lipschitz × Clopper–Pearson/plug-in, clean accuracy [A], the report."""
    tables: dict = {"clean": mixture_clean_accuracy(votes, standard_probs, plan.alphas)}
    for kind in ("rs", "lipschitz"):
        for bounds in ("cp", "plugin"):
            tables[(kind, bounds)] = mixture_certified_accuracy(votes, plan.alphas, plan.radii, plan.sigma,
                                                                kind=kind, bounds=bounds,
                                                                alpha_conf=plan.alpha_conf)
    header = ["α", "clean (plug-in)", *[f"r = {r:g}" for r in plan.radii]]
    sections = []
    names = {("rs", "cp"): "Randomized-smoothing radius, simultaneous Clopper–Pearson bounds (certificate)",
             ("rs", "plugin"): "Randomized-smoothing radius, plug-in frequencies (not a certificate)",
             ("lipschitz", "cp"): "Lipschitz radius, simultaneous Clopper–Pearson bounds (certificate)",
             ("lipschitz", "plugin"): "Lipschitz radius, plug-in frequencies (not a certificate)"}
    for key, title in names.items():
        rows = [[f"{a:g}", tables["clean"][i], *tables[key][i]] for i, a in enumerate(plan.alphas)]
        sections.append(Section(title, [Table(header, rows)]))
    return tables, Document(f"Certified accuracy of the mixture against α ({len(votes.idx)} inputs, "
                            f"σ = {plan.sigma:g}, n0 = {plan.n0}, n = {plan.n:,}, α_conf = {plan.alpha_conf:g})",
                            sections)
