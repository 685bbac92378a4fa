"""Uncertainty-aware certification (Däubener et al. 2024; docs/uncertainty.md) at the paper's sample size:
R_ii against Cohen's radius, with τ set by fixed rejection rates, for a noise-trained and a standard model.

Per seed S ∈ {0, 1, 2} and model (``noise``: Gaussian augmentation at σ = 0.25; ``standard``: no noise), one
``smoothcert train`` and one ``smoothcert uncertainty sweep`` (entropy; τ calibrated on noisy held-out copies so
that the base model rejects 5, 10, 20 and 30% of them; one sampling pass serves every τ) with n0 = 100,
n = 100,000, α = 0.001 on every 10th of the 2,000 MNIST test images (200), sampled under bf16 autocast
(``--precision bf16``: the certificates are those of the model as it runs, and on MNIST inputs the radii moved
by at most 0.002 from fp32's, τ not at all; it is 1.6× faster on an Intel Xeon with AMX, 24,000 against 14,700
samples per second). Before the sweep, one ``smoothcert uncertainty ood`` per model (entropy and 1 − max p; the
first 200 test images against 200 images of each OOD set, drawn with seed S; 100 noisy copies each; τ of the ⊥
fraction rejecting 10% of noisy copies of 500 held-out test images), so that ``--only 'seed_*/*/ood'`` trains and
scores without the sweeps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis.intervals import Estimate, seed_input_bootstrap
from .recipe import Output, Recipe, Settings, Step
from .uncertainty_tables import ood_table, per_input, tau_of

SEEDS = (0, 1, 2)
MODELS = {"noise": 0.25, "standard": 0.0}  # model → its training noise σ
SIGMA = 0.25
REJECT_RATES = (0.05, 0.1, 0.2, 0.3)
#: The OOD scoring: measures, and the rejection rate of the τ of its ⊥ fraction.
OOD_MEASURES, OOD_RATE = ("entropy", "max_prob"), 0.1


def _steps(out: Path, settings: Settings) -> list[Step]:
    if settings.small:
        data, train, sweep = settings.data_options(), ["--epochs", "1", "--quiet"], ["--n", "100", "--n0", "20",
                                                                                      "--skip", "20", "--quiet",
                                                                                      "--batch-size", "256"]
    else:
        data = settings.data_options()
        train, sweep = ["--epochs", "10", "--lr", "0.001"], ["--n", "100000", "--n0", "100", "--skip", "10"]
    sweep = [*sweep, "--precision", "bf16"]
    ood = (["--samples", "10", "--in-count", "20", "--ood-count", "20", "--quiet"] if settings.small else
           ["--samples", "100", "--in-count", "200", "--ood-count", "200", "--calibration-inputs", "500",
            "--calibration-samples", "8"])
    steps = []
    for seed in SEEDS:
        for model, train_sigma in MODELS.items():
            d = out / f"seed_{seed}" / model
            steps.append(Step(f"seed_{seed}/{model}/train", ("train", *data, "--arch", "lenet", "--train-sigma",
                                                             f"{train_sigma:g}", *train, "--seed", str(seed),
                                                             "--out", str(d / "model")),
                              done=d / "model.safetensors", resume_marker=d / "model.state.json"))
            steps.append(Step(f"seed_{seed}/{model}/ood", (
                "uncertainty", "ood", *data, "--checkpoint", str(d / "model"), "--sigma", f"{SIGMA:g}", "--measures",
                ",".join(OOD_MEASURES), "--reject-rate", f"{OOD_RATE:g}", *ood, "--seed", str(seed),
                "--out", str(d / "ood")),
                done=d / "ood" / "auroc.md", resume_marker=d / "ood" / "scores.tsv"))
            steps.append(Step(f"seed_{seed}/{model}/sweep", (
                "uncertainty", "sweep", *data, "--checkpoint", str(d / "model"), "--sigma", f"{SIGMA:g}",
                "--measure", "entropy", "--reject-rates", ",".join(f"{r:g}" for r in REJECT_RATES), *sweep,
                "--failure-prob", "0.001", "--seed", str(seed), "--out", str(d / "sweep")),
                done=d / "sweep" / "summary.md", resume_marker=d / "sweep"))
    return steps


def _mean(column: int):
    return lambda values: values[..., column].mean(axis=-1)


def _gain(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return values[..., 1].mean(axis=-1) / values[..., 0].mean(axis=-1) - 1


def _share_above(values: np.ndarray) -> np.ndarray:
    return (values[..., 1] > values[..., 0]).mean(axis=-1)


Radii = dict[tuple[str, float], list[np.ndarray]]
"""(model, rejection rate) → one [N, 2] (R_cohen, R_ii) array per seed."""


def _load(out: Path) -> Radii:
    """Every sweep's radii, each file read once."""
    return {(model, rate): [per_input(out / f"seed_{s}" / model / "sweep", rate) for s in SEEDS]
            for model in MODELS for rate in REJECT_RATES}


Gains = dict[tuple[str, float], Estimate]
"""(model, rejection rate) → the rise of the mean R_ii over the mean R_cohen, over the seeds."""


def radii_table(radii: Radii, gains: Gains) -> str:
    lines = ["| model | rejection rate | ACR, Cohen | ACR, R_ii | R_ii / R_cohen − 1 | share with R_ii > R_cohen |",
             "|---|---|---|---|---|---|"]
    for (model, rate), values in radii.items():
        lines.append(f"| {model} | {rate:.0%} | {seed_input_bootstrap(values, _mean(0))} "
                     f"| {seed_input_bootstrap(values, _mean(1))} | {gains[model, rate]:+.3f} "
                     f"| {seed_input_bootstrap(values, _share_above)} |")
    n = len(next(iter(radii.values()))[0])
    lines += ["", f"σ = {SIGMA:g}, entropy; ACR: mean over the {n:,} test inputs of the radius at which "
              "each certificate certifies the true label (0 where it does not). Mean over seeds "
              f"{', '.join(map(str, SEEDS))}, [95% interval] by bootstrap over inputs and seeds."]
    return "\n".join(lines)


#: Däubener et al.'s headline (methods.md §4): R_ii up to 20.93% larger than without rejection, on CIFAR-10.
PUBLISHED_GAIN = 0.2093


def comparison_table(gains: Gains) -> str:
    """The paper's headline beside the largest rise measured here, per model, at the rejection rate where it
    is largest."""
    lines = ["| | data, model | largest rise of the mean R_ii over the mean R_cohen | at rejection rate |",
             "|---|---|---|---|",
             f"| Däubener et al. | CIFAR-10 | up to +{100 * PUBLISHED_GAIN:.2f}% | not tied to one |"]
    for model in MODELS:
        rate = max(REJECT_RATES, key=lambda r: gains[model, r].value)
        g = gains[model, rate]
        lines.append(f"| smoothcert | MNIST, LeNet, {model} | {100 * g.value:+.1f}% [{100 * g.low:+.1f}, "
                     f"{100 * g.high:+.1f}] | {rate:.0%} |")
    lines += ["", "Comparable: the quantity, the mean over the test inputs of R_ii against that of Cohen's radius of "
              "the same smoothed classifier on the same inputs (0 where the label is not certified). Not "
              "comparable: the data and the networks (ResNets on CIFAR-10 there), and the rejection rate: the "
              "rise grows with the share of noisy samples rejected (the table above), and the paper does not say "
              "at which share its 20.93% was reached. smoothcert: mean over seeds "
              f"{', '.join(map(str, SEEDS))} [95% interval] by bootstrap over inputs and seeds."]
    return "\n".join(lines)


#: The rejection rate of the figure the docs show.
FIGURE_RATE = 0.1


def _tabulate(out: Path, settings: Settings) -> dict[str, Output]:
    """Every output whose runs are finished: the radii from the sweeps, the OOD table from the OOD scorings."""
    done = {s.name for s in _steps(out, settings) if s.finished()}
    outputs = {}
    if all(f"seed_{s}/{m}/sweep" in done for s in SEEDS for m in MODELS):
        runs = tuple(out / f"seed_{s}" / m / "sweep" for s in SEEDS for m in MODELS)
        radii = _load(out)
        gains = {key: seed_input_bootstrap(values, _gain) for key, values in radii.items()}
        sweep = out / f"seed_{SEEDS[0]}" / "noise" / "sweep"
        figure = sweep / f"radii_tau_{tau_of(sweep, FIGURE_RATE):g}.png"
        outputs |= {
            "radii": Output(radii_table(radii, gains), runs), "comparison": Output(comparison_table(gains), runs),
            "figure_radii": Output(f"![MNIST, noise-trained LeNet, seed {SEEDS[0]}: certified accuracy of R_cohen, "
                                   f"R_i and R_ii at τ for {FIGURE_RATE:.0%} rejection, n = 100,000]"
                                   "(figures/uncertainty/mnist_n100k_radii_seed0.png)", (sweep,),
                                   files=((figure, "figures/uncertainty/mnist_n100k_radii_seed0.png"),))}
    if all(f"seed_{s}/{m}/ood" in done for s in SEEDS for m in MODELS):
        folders = {m: [out / f"seed_{s}" / m / "ood" for s in SEEDS] for m in MODELS}
        models = {m: (f"LeNet, {m}", OOD_MEASURES) for m in MODELS}
        outputs["ood"] = Output(ood_table(models, folders.__getitem__, SEEDS, data="MNIST test images",
                                          sigma=SIGMA, rate=OOD_RATE), tuple(f for fs in folders.values() for f in fs))
    return outputs


def uncertainty_recipe() -> Recipe:
    return Recipe(name="uncertainty-mnist", summary="R_ii against R_cohen on MNIST at n = 100,000 (200 images), "
                                                    "τ at 5/10/20/30% rejection, noise-trained and standard models, "
                                                    "3 seeds; OOD AUROCs of both",
                  outputs=("radii", "comparison", "figure_radii", "ood"), steps=_steps, tabulate=_tabulate,
                  needs_mnist=Settings.needs_mnist, partial=True,
                  report=lambda out, settings: [out / f"seed_{s}" / m / "sweep" for s in SEEDS for m in MODELS])
