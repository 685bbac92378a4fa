"""Pal & Sulam's trade-off (docs/tradeoff.md): the real-data grid over three seeds, and the synthetic disks.

Each seed is one ``smoothcert tradeoff grid --seed S`` (the seed trains the clean and fine-tuned models and draws
every noise sample; the test inputs are the same). For each smoothing noise β: the best training noise α*(β) (the
α of the lowest smoothed risk, ties to the smaller α), the risk there, without noise training (α = 0) and at
α = β, each the mean over the seeds with its 95% interval over test inputs and seeds — α* itself is resampled
too, as the argmin of each replicate's risk column — beside the paper's values (methods.md §3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis.intervals import accuracy, seed_input_bootstrap
from ..studies.tradeoff.grid import PAPER_MNIST_ALPHA_STAR
from .recipe import Output, Recipe, Settings, Step

SEEDS = (0, 1, 2)
#: The issue's MNIST grid: α from 0 to 0.7 in steps of 0.05, β ∈ {0.1, …, 0.9}, risk on all 2,000 test images.
MNIST_GRID = ["--train-noise-alphas", "0:0.7:0.05", "--betas", "0.1,0.3,0.5,0.7,0.9", "--risk-skip", "1"]
SMALL_GRID = ["--train-noise-alphas", "0,0.25,0.5", "--betas", "0.25,0.5", "--radii", "0.25,0.5",
              "--clean-epochs", "1", "--epochs", "1", "--copies", "1", "--risk-max", "60", "--cert-max", "5",
              "--n", "50", "--n0", "10", "--votes", "20", "--no-compile", "--quiet"]


def _grid_steps(dataset: str):
    def steps(out: Path, settings: Settings) -> list[Step]:
        data = settings.data_options(dataset)
        grid = SMALL_GRID if settings.small else ([*MNIST_GRID, "--workers", "2"] if dataset == "mnist" else [])
        return [Step(f"seed_{s}", ("tradeoff", "grid", *data, *grid, "--seed", str(s), "--out", str(out / f"seed_{s}")),
                     done=out / f"seed_{s}" / "grid.json", resume_marker=out / f"seed_{s}" / "grid.json")
                for s in SEEDS]

    return steps


def _errors(grid, beta: float) -> np.ndarray:
    """[N, A] per-input smoothed errors of every α (ascending) at β, inputs in the grid's risk order."""
    alphas = sorted(grid.alphas)
    cells = [grid.cells[(a, beta)] for a in alphas]
    labels = np.asarray(grid.labels(cells[0]))
    return np.stack([np.asarray(c["predictions"]) != labels for c in cells], axis=1).astype(np.float64)


def _argmin_alpha(alphas: np.ndarray):
    def stat(values: np.ndarray) -> np.ndarray:  # [B, N, A] → the α of the lowest mean error (ties: smallest α)
        return alphas[np.argmin(values.mean(axis=-2), axis=-1)]

    return stat


def _min_risk(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-2).min(axis=-1)


def _column(j: int):
    def stat(values: np.ndarray) -> np.ndarray:
        return values[..., j].mean(axis=-1)

    return stat


def _excess(j: int):
    def stat(values: np.ndarray) -> np.ndarray:  # risk of column j above the lowest risk of the replicate
        risks = values.mean(axis=-2)
        return risks[..., j] - risks.min(axis=-1)

    return stat


def alpha_star_estimates(grids: list) -> dict[float, dict]:
    """Per β of the seeds' grids (GridResults, one per seed): the Estimates of α*, the risk at α*, at α = 0 and at
    α = β, and how much the risks at α = 0 and at α = β exceed the lowest (α = β: None where β is not on the α
    grid), each over the test inputs and the seeds."""
    alphas = np.array(sorted(grids[0].alphas))
    estimates = {}
    for beta in grids[0].betas:
        errors = [_errors(g, beta) for g in grids]
        at_beta = np.flatnonzero(np.isclose(alphas, beta))
        estimates[beta] = {"alpha_star": seed_input_bootstrap(errors, _argmin_alpha(alphas)),
                           "risk_star": seed_input_bootstrap(errors, _min_risk),
                           "risk_zero": seed_input_bootstrap(errors, _column(0)),
                           "excess_zero": seed_input_bootstrap(errors, _excess(0)),
                           "risk_beta": seed_input_bootstrap(errors, _column(int(at_beta[0]))) if len(at_beta)
                           else None,
                           "excess_beta": seed_input_bootstrap(errors, _excess(int(at_beta[0]))) if len(at_beta)
                           else None, "inputs": len(errors[0])}
    return estimates


def alpha_star_table(estimates: dict[float, dict]) -> str:
    """The α*(β) table over the seeds, beside the paper's MNIST values (methods.md §3)."""
    lines = ["| β | α* per seed | α* | risk at α* | risk at α = 0 | risk at α = β | paper α* | paper risk at α* "
             "| paper risk at α = 0 |", "|---|---|---|---|---|---|---|---|---|"]
    for beta, e in estimates.items():
        star = e["alpha_star"]
        cells = [", ".join(f"{a:g}" for a in star.per_seed), f"{star:.3f}", f"{e['risk_star']:.4f}",
                 f"{e['risk_zero']:.4f}", f"{e['risk_beta']:.4f}" if e["risk_beta"] is not None else "–"]
        paper = PAPER_MNIST_ALPHA_STAR.get(beta)
        cells += [f"{paper[0]:.2f}", f"{paper[1]:.4f}", f"{paper[2]:.4f}"] if paper else ["–", "–", "–"]
        lines.append(f"| {beta:g} | " + " | ".join(cells) + " |")
    n = next(iter(estimates.values()))["inputs"]
    lines += ["", f"Mean over seeds {', '.join(map(str, SEEDS))} on the same {n:,} test inputs, [95% interval] by "
              "bootstrap over inputs and seeds (α* recomputed in every replicate). Paper: MNIST, 60,000 training "
              "images, conv32-64-fc128, α on a 0.01 grid, 10,000 test images (methods.md §3)."]
    return "\n".join(lines)


#: Inline outputs for prose: name → (estimate key, format), one entry per β on the grid ("–" where none applies).
SERIES = {"alpha_star_values": ("alpha_star", ".3f"), "risk_star_values": ("risk_star", ".4f"),
          "risk_zero_values": ("risk_zero", ".4f"), "excess_zero_values": ("excess_zero", ".4f"),
          "excess_beta_values": ("excess_beta", ".4f")}


def series(estimates: dict[float, dict], key: str, spec: str) -> str:
    """One estimate per β, "value [low, high]", joined by commas, in the order of the grid's β."""
    return ", ".join("–" if estimates[b][key] is None else f"{estimates[b][key]:{spec}}" for b in estimates)


def plot_alpha_star_seeds(estimates: dict[float, dict], dataset: str, out_path_stem: Path) -> Path:
    """α*(β) over the seeds with its 95% intervals, beside the paper's MNIST curve."""
    from ..studies.tradeoff.plots import plot_alpha_star

    label = f"{dataset.upper() if dataset == 'mnist' else dataset}, seeds {', '.join(map(str, SEEDS))} (95% interval)"
    betas = list(estimates)
    stars = [estimates[b]["alpha_star"] for b in betas]
    curves = {label: (betas, [e.value for e in stars]),
              "MNIST, Pal & Sulam": (list(PAPER_MNIST_ALPHA_STAR), [v[0] for v in PAPER_MNIST_ALPHA_STAR.values()])}
    return plot_alpha_star(curves, out_path_stem, title="best training noise per smoothing noise",
                           intervals={label: ([e.low for e in stars], [e.high for e in stars])})[0]


def base_models_table(runs: tuple[Path, ...], grids: list) -> str:
    """Each α's base model: clean test accuracy and accuracy on one noisy copy at α, over the seeds' runs."""
    from ..studies.tradeoff.grid import base_model_correct

    seeds = [{row["alpha"]: row for row in base_model_correct(grid.config, run)}
             for run, grid in zip(runs, grids, strict=True)]
    lines = ["| α | test accuracy (clean) | per seed | one noisy copy at α | per seed |", "|---|---|---|---|---|"]
    for alpha in sorted(seeds[0]):
        clean = seed_input_bootstrap([seed[alpha]["clean"] for seed in seeds], accuracy)
        noisy = seed_input_bootstrap([seed[alpha]["noisy"] for seed in seeds], accuracy)
        lines.append(f"| {alpha:g} | {clean:.4f} | {', '.join(f'{v:.4f}' for v in clean.per_seed)} | {noisy:.4f} | "
                     f"{', '.join(f'{v:.4f}' for v in noisy.per_seed)} |")
    n = len(next(iter(seeds[0].values()))["clean"])
    lines += ["", f"Mean over seeds {', '.join(map(str, SEEDS))} on the same {n:,} test inputs, [95% interval] by "
              "bootstrap over inputs and seeds; the noisy copy is drawn from each grid's seed."]
    return "\n".join(lines)


#: The radius of the certified-accuracy heatmap each data set's page shows.
CERTIFIED_FIGURE = {"digits": "0.25", "mnist": "0.5"}


def _grid_tabulate(dataset: str):
    def tabulate(out: Path, settings: Settings) -> dict[str, Output]:
        runs = tuple(out / f"seed_{s}" for s in SEEDS)
        r = CERTIFIED_FIGURE[dataset]
        certified = f"figures/tradeoff/{dataset}_certified_r{r}.png"
        from ..studies.tradeoff.job import load_grid

        grids = [load_grid(run) for run in runs]  # read once: the α* estimates and the base models share them
        estimates = alpha_star_estimates(grids)
        star_plot = plot_alpha_star_seeds(estimates, dataset, out / "alpha_star_seeds")
        return {"alpha_star": Output(alpha_star_table(estimates), runs),
                "figure_alpha_star": Output(f"![{dataset} α*(β) over three seeds, beside the paper's]"
                                            f"(figures/tradeoff/{dataset}_alpha_star.png)", runs,
                                            files=((star_plot, f"figures/tradeoff/{dataset}_alpha_star.png"),)),
                "base_models": Output(base_models_table(runs, grids), runs),
                **{name: Output(series(estimates, key, spec), runs) for name, (key, spec) in SERIES.items()},
                "figure_certified": Output(f"![{dataset} certified accuracy at r = {r} (seed 0)]({certified})",
                                           runs[:1], files=((runs[0] / f"certified_r{r}_heatmap.png", certified),)),
                "risk": Output((runs[0] / "risk.md").read_text(encoding="utf-8"), runs[:1]),
                "alpha_star_seed0": Output((runs[0] / "alpha_star.md").read_text(encoding="utf-8"), runs[:1]),
                "figure_risk": Output(f"![{dataset} risk heatmap (seed 0)](figures/tradeoff/{dataset}_risk.png)",
                                      runs[:1], files=((runs[0] / "risk_heatmap.png",
                                                        f"figures/tradeoff/{dataset}_risk.png"),))}

    return tabulate


def tradeoff_recipe(dataset: str) -> Recipe:
    scale = "α 0…0.7 step 0.05, β 0.1…0.9, risk on 2,000 images" if dataset == "mnist" else "the preset grid"
    return Recipe(name=f"tradeoff-{dataset}", summary=f"Pal & Sulam's grid on {dataset} ({scale}), seeds 0, 1, 2",
                  outputs=("alpha_star", "figure_alpha_star", "base_models", *SERIES, "risk", "alpha_star_seed0",
                           "figure_risk", "figure_certified"),
                  steps=_grid_steps(dataset),
                  tabulate=_grid_tabulate(dataset), needs_mnist=lambda settings: settings.needs_mnist(dataset),
                  report=lambda out, settings: [out / f"seed_{s}" for s in SEEDS])


def _disks_steps(out: Path, settings: Settings) -> list[Step]:
    small = ["--draws", "2", "--quiet"] if settings.small else []
    run = out / "disks"
    return [Step("disks", ("tradeoff", "disks", *small, "--out", str(run)), done=run / "disks.json")]


def _disks_tabulate(out: Path, settings: Settings) -> dict[str, Output]:
    run = out / "disks"
    return {"alpha_star": Output((run / "alpha_star.md").read_text(encoding="utf-8"), (run,)),
            "figure_gains": Output("![gain against α](figures/tradeoff/disks_gains.png)", (run,),
                                   files=((run / "gains.png", "figures/tradeoff/disks_gains.png"),))}


def disks_recipe() -> Recipe:
    return Recipe(name="tradeoff-disks", summary="Pal & Sulam's synthetic disks: ζ ∈ {0..3}, α ∈ {0..20}, "
                                                 "β ∈ {8, 11, 14}, 10 draws",
                  outputs=("alpha_star", "figure_gains"), steps=_disks_steps, tabulate=_disks_tabulate,
                  report=lambda out, settings: [out / "disks"])
