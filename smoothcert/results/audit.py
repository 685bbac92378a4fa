"""The disparity audit (Mohapatra et al. 2021; docs/audit.md) over three training seeds, on digits or MNIST.

Each seed is one ``smoothcert audit run --seed S``: it trains the standard and noise-trained LeNets with seed S
and draws the noise with it; the test inputs (the data split, ``--data-seed 0``) are the same for every seed.
The outputs: seed 0's own tables (as the audit writes them), and the headline numbers over the three seeds
with 95% intervals over inputs and seeds (:func:`smoothcert.analysis.intervals.seed_input_bootstrap`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis.intervals import Estimate, accuracy, class_spread, seed_input_bootstrap
from ..analysis.results import read_results
from ..studies.audit.folder import sigma_name
from .recipe import Output, Recipe, Settings, Step

SEEDS = (0, 1, 2)
FAMILIES = ("standard", "noise")
SIGMAS = (0.12, 0.25, 0.5, 1.0)
#: σ of the small scale: those of the per-class tables each data set's page quotes.
SMALL_SIGMAS = {"digits": (0.25, 1.0), "mnist": (0.25, 0.5)}
#: Seed 0's own tables the docs quote (each a file tables/NAME.md), and the full per-class tables each data set's
#: page shows.
SEED0_TABLES = ("side_by_side", "per_class_smoothed", "per_class_base_noisy", "accuracy_loss",
                "accuracy_loss_spread")
PER_CLASS_TABLES = {"digits": ("per_class_noise_sigma_1",),
                    "mnist": ("per_class_standard_sigma_0.25", "per_class_noise_sigma_0.5")}


def _sigmas(settings: Settings, dataset: str) -> tuple[float, ...]:
    return SMALL_SIGMAS[dataset] if settings.small else SIGMAS


def _steps(dataset: str):
    def steps(out: Path, settings: Settings) -> list[Step]:
        data = [*settings.data_options(dataset), *(["--max", "2000"] if settings.needs_mnist(dataset) else [])]
        small = (["--max", "60", "--epochs", "2", "--n", "100", "--n0", "20", "--matrix-n", "20",
                  "--sigmas", ",".join(f"{s:g}" for s in SMALL_SIGMAS[dataset]), "--no-synthetic",
                  "--batch-size", "256",
                  "--no-compile", "--quiet"] if settings.small else [])
        return [Step(f"seed_{s}", ("audit", "run", *data, *small, "--seed", str(s), "--out", str(out / f"seed_{s}")),
                     done=out / f"seed_{s}" / "manifest.json") for s in SEEDS]

    return steps


def _rows(folder: Path, family: str, sigma: float) -> np.ndarray:
    """[N, 5] rows of one audit file sorted by input: label, PREDICT right, abstained, base right on x, and the
    share of the n noisy copies the base model gets right."""
    res = read_results(folder / "samples" / f"{family}_sigma_{sigma_name(sigma)}.tsv")
    order = np.argsort(res.idx)
    smoothed, base = res.extra["smoothed"][order], res.extra["base_clean"][order]
    label = res.label[order]
    return np.stack([label, smoothed == label, smoothed == -1, base == label, res.extra["p_label"][order]],
                    axis=1).astype(np.float64)


def _estimates(out: Path, settings: Settings, dataset: str) -> dict[tuple[str, float], dict[str, Estimate]]:
    """{(family, σ): {smoothed, spread, clean, clean_spread, abstain}} over SEEDS, each an Estimate."""
    spread = class_spread(10)
    table = {}
    for family in FAMILIES:
        for sigma in _sigmas(settings, dataset):
            rows = [_rows(out / f"seed_{s}", family, sigma) for s in SEEDS]
            table[family, sigma] = {
                "smoothed": seed_input_bootstrap([r[:, 1] for r in rows], accuracy),
                "spread": seed_input_bootstrap([r[:, :2] for r in rows], spread),
                "clean": seed_input_bootstrap([r[:, 3] for r in rows], accuracy),
                "clean_spread": seed_input_bootstrap([r[:, [0, 3]] for r in rows], spread),
                "abstain": seed_input_bootstrap([r[:, 2] for r in rows], accuracy)}
    return table


def seeds_table(estimates: dict[tuple[str, float], dict[str, Estimate]], n: int) -> str:
    """The headline numbers of every (family, σ) over SEEDS, each with its 95% inputs × seeds interval."""
    lines = ["| family | σ | smoothed acc. | smoothed max − min | per seed | base clean acc. | base clean max − min "
             "| abstain |", "|---|---|---|---|---|---|---|---|"]
    for (family, sigma), e in estimates.items():
        lines.append(f"| {family} | {sigma:g} | {e['smoothed']} | {e['spread']} | "
                     f"{', '.join(f'{v:.3f}' for v in e['spread'].per_seed)} | {e['clean']} | {e['clean_spread']} "
                     f"| {e['abstain']} |")
    lines += ["", f"Mean over seeds {', '.join(map(str, SEEDS))} on the same {n:,} test inputs, [95% interval] "
              "by bootstrap over inputs and seeds (2,000 replicates); \"per seed\" is the smoothed max − min "
              "of each seed's models."]
    return "\n".join(lines)


def _series(estimates: dict[tuple[str, float], dict[str, Estimate]], family: str, key: str) -> str:
    """'0.057 [0.03, 0.09], …, and 1.000 [1.000, 1.000]': one estimate per σ, for prose."""
    parts = [f"{e[key]}" for (f, _), e in estimates.items() if f == family]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]


#: Seed 0's figures the docs show: output name → (figure under figures/, its title after the data set's name).
FIGURES = {"figure_per_class": ("per_class_vs_sigma", "per-class accuracy against σ"),
           "figure_heatmap": ("class_sigma_heatmap", "class × σ heatmap"),
           "figure_disparity": ("disparity_vs_sigma", "disparity against σ"),
           "figure_accuracy_loss": ("accuracy_loss", "accuracy loss")}
#: The prose series: output name → (family, estimate).
SERIES = {"spread_standard": ("standard", "spread"), "spread_noise": ("noise", "spread"),
          "clean_spread_noise": ("noise", "clean_spread")}


def _tabulate(dataset: str):
    def tabulate(out: Path, settings: Settings) -> dict[str, Output]:
        runs = tuple(out / f"seed_{s}" for s in SEEDS)
        estimates = _estimates(out, settings, dataset)
        n = len(_rows(runs[0], FAMILIES[0], _sigmas(settings, dataset)[0]))
        outputs = {"seeds": Output(seeds_table(estimates, n), runs)}
        outputs.update({name: Output(_series(estimates, family, key), runs)
                        for name, (family, key) in SERIES.items()})
        # the standard model's clean accuracy does not depend on σ: one estimate
        first = _sigmas(settings, dataset)[0]
        outputs["clean_spread_standard"] = Output(f"{estimates['standard', first]['clean_spread']}", runs)
        for name in (*SEED0_TABLES, *PER_CLASS_TABLES[dataset]):
            outputs[name] = Output((runs[0] / "tables" / f"{name}.md").read_text(encoding="utf-8"), runs[:1])
        for name, (stem, title) in FIGURES.items():
            dest = f"figures/audit/{dataset}_{stem}.png"
            outputs[name] = Output(f"![{dataset} {title} (seed 0)]({dest})", runs[:1],
                                   files=((runs[0] / "figures" / f"{stem}.png", dest),))
        return outputs

    return tabulate


def audit_recipe(dataset: str) -> Recipe:
    return Recipe(
        name=f"audit-{dataset}",
        summary=f"the disparity audit on {dataset} ({'2,000' if dataset == 'mnist' else '360'} test images), "
                f"seeds {', '.join(map(str, SEEDS))}",
        outputs=("seeds", *SERIES, "clean_spread_standard", *SEED0_TABLES, *PER_CLASS_TABLES[dataset], *FIGURES),
        steps=_steps(dataset), tabulate=_tabulate(dataset),
        needs_mnist=lambda settings: settings.needs_mnist(dataset),
        report=lambda out, settings: [out / f"seed_{s}" for s in SEEDS])
