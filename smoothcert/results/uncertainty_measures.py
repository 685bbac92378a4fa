"""Uncertainty-aware certification on digits (Däubener et al. 2024; docs/uncertainty.md): what the uncertainty
measure and the model (one network, a deep ensemble, MC dropout) change in R_i and R_ii against Cohen's radius,
and whether uncertainty under noise tells OOD images apart, over three seeds.

Per seed S ∈ {0, 1, 2}: three LeNets trained with Gaussian noise at σ = 0.25 (training seeds 3S, 3S + 1, 3S + 2;
60 epochs, Adam, lr 2·10⁻³, batch 64) and a dropout CNN (seed 3S), all on the 1,437 training digits. Then one
``smoothcert uncertainty sweep`` per (model, measure): the first LeNet with entropy, 1 − max p and the margin, the
ensemble of the three with entropy and mutual information; n0 = 100, n = 10,000, α = 0.001 on every 2nd of the
360 test digits (180), τ calibrated on 16 noisy copies of each of the other 180 so that the base model rejects 2, 5,
10, 20 and 30% of them; one sampling pass serves every τ. And one ``smoothcert uncertainty ood`` per model (the
LeNet, the ensemble, the CNN under MC dropout with T = 8 masks): the first 180 test digits against 180 images of
each OOD set, scored on the clean image and on 100 noisy copies (σ = 0.25); the OOD images are drawn with seed S.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..analysis.intervals import seed_input_bootstrap
from ..analysis.uncertainty import LABELS
from .recipe import Output, Recipe, Settings, Step
from .uncertainty_tables import ood_table, per_input, seeds_note, tau_of

SEEDS = (0, 1, 2)
SIGMA = 0.25
REJECT_RATES = (0.02, 0.05, 0.1, 0.2, 0.3)
MEMBERS = 3  # LeNets per seed: the first alone, and all of them as a deep ensemble
MC_DROPOUT = 8  # fixed dropout masks of the CNN
#: Each τ sweep: its folder name → (row label, model, measure).
SERIES = {"lenet_entropy": ("LeNet, entropy", "lenet", "entropy"),
          "lenet_max_prob": ("LeNet, 1 − max p", "lenet", "max_prob"),
          "lenet_margin": ("LeNet, margin", "lenet", "margin"),
          "ensemble_entropy": (f"ensemble of {MEMBERS}, entropy", "ensemble", "entropy"),
          "ensemble_mutual_info": (f"ensemble of {MEMBERS}, mutual information", "ensemble", "mutual_info")}
#: Each OOD scoring: model → (row label, measures).
OOD_MODELS = {"lenet": ("LeNet", ("entropy", "max_prob")),
              "ensemble": (f"ensemble of {MEMBERS} LeNets", ("entropy", "mutual_info")),
              "mcdropout": (f"CNN, MC dropout T = {MC_DROPOUT}", ("entropy", "mutual_info"))}
#: The rejection rate of the certified-accuracy table, the OOD scores' ⊥ fraction and the figures.
TABLE_RATE = 0.1
#: Radii of the certified-accuracy table (pixels in [0, 1], ℓ2).
RADII = (0.0, 0.25, 0.5, 0.75)
ACCURACY_SERIES = ("lenet_entropy", "ensemble_mutual_info")


def _sizes(settings: Settings) -> dict[str, list[str]]:
    """The options that set the scale: training, sweeps, OOD scoring."""
    if settings.small:
        return {"train": ["--epochs", "1", "--quiet"],
                "sweep": ["--n", "100", "--n0", "20", "--skip", "20", "--batch-size", "256", "--quiet"],
                "ood": ["--samples", "10", "--in-count", "20", "--ood-count", "20", "--quiet"]}
    return {"train": ["--epochs", "60", "--lr", "0.002", "--batch-size", "64"],
            "sweep": ["--n", "10000", "--n0", "100", "--skip", "2", "--compile", "on", "--batch-size", "1024"],
            "ood": ["--samples", "100", "--in-count", "180", "--ood-count", "180"]}


def _model_options(d: Path, model: str) -> list[str]:
    """The options that make ``model`` of the seed folder ``d`` the base classifier."""
    if model == "mcdropout":
        return ["--checkpoint", str(d / "cnn" / "model"), "--mc-dropout", str(MC_DROPOUT)]
    members = [opt for k in range(1, MEMBERS) for opt in ("--member", str(d / f"lenet_{k}" / "model"))]
    return ["--checkpoint", str(d / "lenet_0" / "model"), *(members if model == "ensemble" else [])]


def _steps(out: Path, settings: Settings) -> list[Step]:
    size, data = _sizes(settings), settings.data_options("digits")
    calibration = ["--calibration-inputs", "180", "--calibration-samples", "16"]
    steps = []
    for seed in SEEDS:
        d, chain = out / f"seed_{seed}", f"seed_{seed}"  # one chain per seed: the ensemble needs every member
        nets = [(f"lenet_{k}", "lenet", 3 * seed + k) for k in range(MEMBERS)] + [("cnn", "cnn", 3 * seed)]
        for name, arch, train_seed in nets:
            steps.append(Step(f"seed_{seed}/{name}/train", (
                "train", *data, "--arch", arch, "--train-sigma", f"{SIGMA:g}", *size["train"], "--seed",
                str(train_seed), "--out", str(d / name / "model")),
                done=d / name / "model.safetensors", resume_marker=d / name / "model.state.json", chain=chain))
        for series, (_, model, measure) in SERIES.items():
            steps.append(Step(f"seed_{seed}/{series}/sweep", (
                "uncertainty", "sweep", *data, *_model_options(d, model), "--sigma", f"{SIGMA:g}", "--measure",
                measure, "--reject-rates", ",".join(f"{r:g}" for r in REJECT_RATES), *calibration, *size["sweep"],
                "--failure-prob", "0.001", "--seed", str(seed), "--out", str(d / series)),
                done=d / series / "summary.md", resume_marker=d / series, chain=chain))
        for model, (_, measures) in OOD_MODELS.items():
            steps.append(Step(f"seed_{seed}/{model}/ood", (
                "uncertainty", "ood", *data, *_model_options(d, model), "--sigma", f"{SIGMA:g}", "--measures",
                ",".join(measures), "--reject-rate", f"{TABLE_RATE:g}", *calibration, *size["ood"], "--seed",
                str(seed), "--out", str(d / f"ood_{model}")),
                done=d / f"ood_{model}" / "auroc.md", resume_marker=d / f"ood_{model}" / "scores.tsv", chain=chain))
    return steps


def _sweeps(out: Path, series: str) -> list[Path]:
    return [out / f"seed_{s}" / series for s in SEEDS]


def _column(k: int, reduce: Callable[[np.ndarray], np.ndarray] = lambda v: v) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic: the mean over inputs of column ``k`` (after ``reduce``) of values [B, N, K]."""
    return lambda values: reduce(values[..., k]).mean(axis=-1)


def _gain(values: np.ndarray) -> np.ndarray:
    """Statistic: mean R_ii / mean R_cohen − 1 of values [B, N, ≥ 4] (columns 1 and 3)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return values[..., 3].mean(axis=-1) / values[..., 1].mean(axis=-1) - 1


def _share_above(values: np.ndarray) -> np.ndarray:
    return (values[..., 3] > values[..., 1]).mean(axis=-1)


def radii_table(out: Path) -> str:
    """Per (model and measure, rejection rate): the realized ⊥ share, the ACR of R_cohen, R_i and R_ii, the rise
    of the mean R_ii over the mean R_cohen and the share of inputs where R_ii is larger."""
    lines = ["| model, measure | rejection rate | ⊥ share | ACR, R_cohen | ACR, R_i | ACR, R_ii | R_ii / R_cohen − 1 "
             "| share with R_ii > R_cohen |", "|---|---|---|---|---|---|---|---|"]
    differ = []  # per results file: inputs where ĉ_A (R_i, R_ii) is not the plain guess (R_cohen)
    for series, (label, _, _) in SERIES.items():
        for rate in REJECT_RATES:
            values = [per_input(p, rate, ("frac_uncertain", "cohen", "i", "ii")) for p in _sweeps(out, series)]
            differ += [int(np.diff(per_input(p, rate, ("guess", "guess_cohen")), axis=1).astype(bool).sum())
                       for p in _sweeps(out, series)]
            cells = [seed_input_bootstrap(values, _column(k)) for k in range(4)]
            cells += [seed_input_bootstrap(values, _gain), seed_input_bootstrap(values, _share_above)]
            lines.append(f"| {label} | {rate:.0%} | " + " | ".join(
                f"{e:+.3f}" if k == 4 else f"{e:.3f}" for k, e in enumerate(cells)) + " |")
    first = _sweeps(out, next(iter(SERIES)))[0]
    n = len(per_input(first, REJECT_RATES[0]))
    args = json.loads(next(first.glob("tau_*.json")).read_text(encoding="utf-8"))["arguments"]
    lines += ["", f"σ = {SIGMA:g} (ℓ2, pixels in [0, 1]); n0 = {args['n0']:,}, n = {args['n']:,}, α = "
              f"{args['alpha']:g}. Rejection rate: the "
              "share of noisy held-out copies the base model rejects at the calibrated τ; ⊥ share: the share of "
              "the certified inputs' noisy samples that are ⊥ there. ACR: mean over the "
              f"{n:,} test inputs of the radius at which each certificate certifies the true label (0 where it "
              f"does not). The guess ĉ_A of R_i and R_ii differs from the plain guess of R_cohen on {min(differ)}–"
              f"{max(differ)} of the {n:,} inputs, over every results file. " + seeds_note(SEEDS)]
    return "\n".join(lines)


def _at_least(r: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda radius: radius >= r


def accuracy_table(out: Path) -> str:
    """Certified accuracy at :data:`RADII` and the ACR of every certificate, at the τ of :data:`TABLE_RATE`."""
    certificates = ("cohen", "i", "ii", "i_top2", "ii_top2")
    lines = ["| model, measure | certificate | " + " | ".join(f"r = {r:g}" for r in RADII) + " | ACR |",
             "|---|---|" + "---|" * (len(RADII) + 1)]
    for series in ACCURACY_SERIES:
        # -1 where the label is not certified: not certified even at r = 0, and 0 in the ACR.
        values = [per_input(p, TABLE_RATE, certificates, missing=-1.0) for p in _sweeps(out, series)]
        for k, c in enumerate(certificates):
            cells = [seed_input_bootstrap(values, _column(k, _at_least(r))) for r in RADII]
            cells.append(seed_input_bootstrap(values, _column(k, lambda v: np.maximum(v, 0.0))))
            label = SERIES[series][0] if k == 0 else ""
            lines.append(f"| {label} | {LABELS[c]} | " + " | ".join(f"{e:.3f}" for e in cells) + " |")
    lines += ["", f"Share of the test inputs whose label the certificate certifies at radius ≥ r, at the τ that "
              f"rejects {TABLE_RATE:.0%} of noisy held-out copies. " + seeds_note(SEEDS)]
    return "\n".join(lines)


def ood_table_of(out: Path) -> str:
    return ood_table(OOD_MODELS, lambda model: [out / f"seed_{s}" / f"ood_{model}" for s in SEEDS], SEEDS,
                     data="test digits", sigma=SIGMA, rate=TABLE_RATE)


def _figure(out: Path, series: str, name: str, caption: str) -> Output:
    sweep = out / f"seed_{SEEDS[0]}" / series
    figure = sweep / f"radii_tau_{tau_of(sweep, TABLE_RATE):g}.png"
    target = f"figures/uncertainty/{name}"
    return Output(f"![{caption}]({target})", (sweep,), files=((figure, target),))


def _tabulate(out: Path, settings: Settings) -> dict[str, Output]:
    runs = tuple(out / f"seed_{s}" for s in SEEDS)
    at = f"seed {SEEDS[0]}, τ for {TABLE_RATE:.0%} rejection"
    return {"radii": Output(radii_table(out), runs), "accuracy": Output(accuracy_table(out), runs),
            "ood": Output(ood_table_of(out), runs),
            "figure_radii": _figure(out, "lenet_entropy", "digits_radii_entropy_seed0.png",
                                    f"digits, LeNet, entropy, {at}: certified accuracy of R_cohen, R_i and R_ii"),
            "figure_radii_ensemble": _figure(out, "ensemble_mutual_info", "digits_radii_ensemble_mi_seed0.png",
                                             f"digits, ensemble of {MEMBERS}, mutual information, {at}: certified "
                                             "accuracy of R_cohen, R_i and R_ii")}


def uncertainty_measures_recipe() -> Recipe:
    return Recipe(name="uncertainty-digits",
                  summary="R_i and R_ii against R_cohen on digits for five (model, measure) pairs, τ at 2–30% "
                          "rejection, and OOD AUROCs of LeNet, ensemble and MC dropout, 3 seeds",
                  outputs=("radii", "accuracy", "ood", "figure_radii", "figure_radii_ensemble"), steps=_steps,
                  tabulate=_tabulate,
                  report=lambda out, settings: [out / f"seed_{s}" / series for s in SEEDS for series in SERIES])
