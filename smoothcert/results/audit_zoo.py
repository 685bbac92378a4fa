"""Does any training method close the class gap? The disparity audit (Mohapatra et al. 2021) of the training zoo's
models (docs/training.md): every objective's LeNet at σ ∈ {1, 0.5}, smoothed at its own σ, on all 2,000 MNIST test
images (PREDICT and CERTIFY with n = 1,000, α = 0.001). Needs the zoo recipe's models; one training seed (the
zoo's), so the intervals are over the test inputs.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.intervals import accuracy, class_spread, seed_input_bootstrap
from . import zoo
from .audit import _rows
from .recipe import Output, Recipe, Settings, Step

SIGMAS = (1.0, 0.5)


def _cells(settings: Settings) -> dict[float, list[str]]:
    """{σ: the zoo's methods at σ}, in the zoo's order."""
    chosen: dict[float, list[str]] = {}
    for sigma, method in zoo.cells(settings):
        if settings.small or sigma in SIGMAS:
            chosen.setdefault(sigma, []).append(method)
    return chosen


def _steps(out: Path, settings: Settings) -> list[Step]:
    zoo_dir = out.parent / "zoo"
    if settings.small:
        data = [*settings.data_options(), "--max", "60", "--n", "100", "--n0", "20", "--batch-size", "256",
                "--no-compile", "--quiet"]
    else:
        data = [*settings.data_options(), "--max", "2000"]
    steps = []
    for sigma, methods in _cells(settings).items():
        run = out / f"sigma_{sigma:g}"
        checkpoints = [a for m in methods for a in ("--checkpoint", f"{m}={zoo.cell_dir(zoo_dir, sigma, m) / 'model'}")]
        steps.append(Step(f"sigma_{sigma:g}", ("audit", "disparity", *data, "--sigmas", f"{sigma:g}", *checkpoints,
                                               "--out", str(run)), done=run / "manifest.json"))
    return steps


def disparity_table(out: Path, sigma: float, methods: list[str]) -> str:
    spread = class_spread(10)
    lines = ["| method | smoothed acc. | smoothed max − min | base clean max − min | base noisy acc. | abstain |",
             "|---|---|---|---|---|---|"]
    for method in methods:
        rows = _rows(out / f"sigma_{sigma:g}", method, sigma)
        lines.append(f"| {method} | {seed_input_bootstrap([rows[:, 1]], accuracy)} "
                     f"| {seed_input_bootstrap([rows[:, :2]], spread)} "
                     f"| {seed_input_bootstrap([rows[:, [0, 3]]], spread)} "
                     f"| {seed_input_bootstrap([rows[:, 4]], accuracy)} "
                     f"| {seed_input_bootstrap([rows[:, 2]], accuracy)} |")
    n = len(_rows(out / f"sigma_{sigma:g}", methods[0], sigma))
    lines += ["", f"σ = {sigma:g}, {n:,} test inputs, one training seed; [95% interval] by bootstrap over the inputs. "
              "\"smoothed\" is PREDICT (abstentions count as wrong); \"base noisy\" is the base model's accuracy on "
              "the noisy copies."]
    return "\n".join(lines)


def _tabulate(out: Path, settings: Settings) -> dict[str, Output]:
    outputs = {}
    for sigma in SIGMAS:
        methods = _cells(settings).get(sigma)
        name = f"disparity_{sigma:g}"
        outputs[name] = (Output(disparity_table(out, sigma, methods), (out / f"sigma_{sigma:g}",)) if methods
                         else Output("not run at this scale", ()))
    return outputs


def audit_zoo_recipe() -> Recipe:
    return Recipe(name="audit-zoo", summary="the disparity audit of the training zoo's models (σ = 1, 0.5) on "
                                            "2,000 MNIST test images",
                  outputs=tuple(f"disparity_{s:g}" for s in SIGMAS), steps=_steps, tabulate=_tabulate,
                  needs_mnist=Settings.needs_mnist, requires=("zoo",),
                  report=lambda out, settings: [out / f"sigma_{s:g}" for s in _cells(settings)])
