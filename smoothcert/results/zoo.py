"""The training-zoo measurement of docs/training.md: every objective on MNIST (LeNet, the 8,000/2,000 split of
the official test files) at σ ∈ {1.0, 0.5, 0.25}, certified, tabulated beside the published numbers.

Each (σ, method) cell is two commands, ``smoothcert train`` and ``smoothcert certify``, each resumable (an
interrupted training continues from its last epoch, an interrupted certification from its last row).

One recipe for every method (so the methods differ only in their objective): smoothcert's LeNet, Adam, lr LR,
batch 128, EPOCHS epochs, seed 0 (lr 0.003, the command's default, left MACER's network dead at σ = 1 from the
first epoch: chance accuracy throughout; 0.001 trains every method); each method's own options are its paper's
MNIST settings (or the benchmark repository's, alinlab/smoothing-catrs, where the paper gives none), listed in
METHODS. Certification: n0 = 100, n = N, α = 0.001, every SKIP-th of the 2,000 test images. The small scale
trains two methods for one epoch on digits, to test the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis.intervals import seed_input_bootstrap
from .cells import cell_steps, certify_argv, finished_results, train_argv
from .published import PUBLISHED, RADII
from .recipe import Output, Recipe, Settings, Step

EPOCHS = 20
LR = 0.001
N = 10_000
SKIP = 4  # 500 of the 2,000 test images
SIGMAS = (1.0, 0.5, 0.25)

#: Each method's options by σ (command-line flags of `smoothcert train`).
METHODS: dict[str, dict[float, list[str]]] = {
    "gaussian": {s: [] for s in SIGMAS},
    "stability": {0.25: ["--stability-lambda", "2"], 0.5: ["--stability-lambda", "2"],
                  1.0: ["--stability-lambda", "1"]},
    "consistency": {s: ["--num-noise-vec", "2", "--consistency-lambda", "10", "--consistency-eta", "0.5"]
                    for s in SIGMAS},
    "macer": {0.25: ["--num-noise-vec", "16", "--macer-lambda", "12", "--macer-gamma", "8", "--macer-beta", "16"],
              0.5: ["--num-noise-vec", "16", "--macer-lambda", "4", "--macer-gamma", "8", "--macer-beta", "16"],
              1.0: ["--num-noise-vec", "16", "--macer-lambda", "12", "--macer-gamma", "8", "--macer-beta", "16",
                    "--macer-deferred", "5"]},
    "smoothadv": {0.25: ["--num-noise-vec", "4", "--smoothadv-eps", "1.0", "--smoothadv-steps", "10"],
                  0.5: ["--num-noise-vec", "4", "--smoothadv-eps", "1.0", "--smoothadv-steps", "10"],
                  1.0: ["--num-noise-vec", "2", "--smoothadv-eps", "2.0", "--smoothadv-steps", "10"]},
    "smoothmix": {0.25: ["--num-noise-vec", "4", "--smoothmix-steps", "2", "--smoothmix-alpha", "1.0",
                         "--smoothmix-eta", "5", "--smoothmix-mix-step", "0"],
                  0.5: ["--num-noise-vec", "4", "--smoothmix-steps", "4", "--smoothmix-alpha", "1.0",
                        "--smoothmix-eta", "5", "--smoothmix-mix-step", "0"],
                  1.0: ["--num-noise-vec", "4", "--smoothmix-steps", "8", "--smoothmix-alpha", "1.0",
                        "--smoothmix-eta", "5", "--smoothmix-mix-step", "1"]},
    "catrs": {0.25: ["--num-noise-vec", "4", "--catrs-eps", "1.0", "--catrs-steps", "4", "--catrs-lambda", "0.5"],
              0.5: ["--num-noise-vec", "4", "--catrs-eps", "1.0", "--catrs-steps", "4", "--catrs-lambda", "1.0"],
              1.0: ["--num-noise-vec", "4", "--catrs-eps", "1.0", "--catrs-steps", "4", "--catrs-lambda", "2.0"]},
}

SMALL_SIGMAS = (0.5,)
FULL = Settings()
SMALL_METHODS = ("gaussian", "consistency")


def cell_dir(out: Path, sigma: float, method: str) -> Path:
    return out / f"sigma_{sigma:g}" / method


def cells(settings: Settings) -> list[tuple[float, str]]:
    sigmas, methods = (SMALL_SIGMAS, SMALL_METHODS) if settings.small else (SIGMAS, tuple(METHODS))
    return [(s, m) for s in sigmas for m in methods]


def commands(out: Path, sigma: float, method: str, settings: Settings) -> tuple[list[str], list[str]]:
    """(train, certify) command lines of one cell (after ``smoothcert``), without --resume."""
    d = cell_dir(out, sigma, method)
    if settings.small:
        data, epochs, n, skip = settings.data_options(), 1, 100, 20
    else:
        data, epochs, n, skip = settings.data_options(), EPOCHS, N, SKIP
    train = train_argv(d, data, sigma, ["--objective", method, *METHODS[method][sigma], "--epochs", str(epochs),
                                        "--lr", str(LR), "--seed", "0", *(["--quiet"] if settings.small else [])])
    certify = certify_argv(d, data, sigma, ["--n0", "100", "--n", str(n), "--failure-prob", "0.001",
                                            "--skip", str(skip), "--seed", "0",
                                            *(["--batch-size", "256"] if settings.small else [])])
    return train, certify


def _steps(out: Path, settings: Settings) -> list[Step]:
    return [step for sigma, method in cells(settings)
            for step in cell_steps(f"sigma_{sigma:g}/{method}", cell_dir(out, sigma, method),
                                   *commands(out, sigma, method, settings))]


def _cell(out: Path, sigma: float, method: str):
    """(certified accuracy % at RADII, ACR, its Estimate, per-input radius [N] by input index), or None."""
    from ..analysis.metrics import average_certified_radius, certified_accuracy

    res = finished_results(cell_dir(out, sigma, method))
    if res is None:
        return None
    per_input = np.where(res.correct, res.radius, 0.0)
    acr = seed_input_bootstrap([per_input], _mean)
    return 100 * np.asarray(certified_accuracy(res, RADII)), average_certified_radius(res), acr, per_input


def _mean(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-1)


def _ratio_of_means(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # a replicate whose Gaussian ACR is 0 (tiny test data)
        return values[..., 0].mean(axis=-1) / values[..., 1].mean(axis=-1)


def gain(out: Path, sigma: float, method: str):
    """ACR(method) / ACR(Gaussian) at σ with its paired 95% interval (the same inputs resampled for both), or None
    while either cell is unfinished."""
    cell, base = _cell(out, sigma, method), _cell(out, sigma, "gaussian")
    if cell is None or base is None or len(cell[3]) != len(base[3]):
        return None
    ratio = seed_input_bootstrap([np.stack([cell[3], base[3]], axis=1)], _ratio_of_means)
    return cell[1] / base[1], ratio


def gain_text(out: Path, sigma: float, method: str) -> str:
    """'+8.0% [+5.4, +10.8]': the gain over Gaussian augmentation in percent, for prose."""
    g = gain(out, sigma, method)
    if g is None:
        return "not yet run"
    value, ratio = g
    return f"{100 * (value - 1):+.1f}% [{100 * (ratio.low - 1):+.1f}, {100 * (ratio.high - 1):+.1f}]"


#: The prose outputs: the gain of every objective over Gaussian augmentation at every σ.
GAINS = tuple(f"gain_{s:g}_{m}" for s in SIGMAS for m in METHODS if m != "gaussian")


def table(out: Path, settings: Settings = FULL) -> str:
    """The certified-accuracy table of every finished cell beside the published numbers (markdown)."""
    if settings.small:
        setting = ("Small scale (a test of the pipeline, never quoted): LeNet on digits, 1 epoch; every 20th test "
                   "image, n0 = 100, n = 100, α = 0.001.")
    else:
        setting = (f"Measured: smoothcert LeNet on 8,000 MNIST images, Adam lr {LR}, {EPOCHS} epochs, seed 0; "
                   f"certified on every {SKIP}th of the 2,000 test images, n0 = 100, n = {N:,}, α = 0.001.")
    lines = [setting + " Published: LeNet on 60,000 images, 10,000 test images, N = 100,000. Certified accuracy in "
             "%, ACR with its 95% bootstrap interval over the test inputs, ACR / Gaussian with its paired 95% "
             "bootstrap interval (the same inputs resampled for both).", ""]
    head = "| σ | method | " + " | ".join(f"r = {r:g}" for r in RADII) + " | ACR | ACR / Gaussian |"
    chosen = cells(settings)
    for sigma in dict.fromkeys(s for s, _ in chosen):
        rows = []
        for method in (m for s, m in chosen if s == sigma):
            cell = _cell(out, sigma, method)
            pub_acc, pub_acr = PUBLISHED.get(sigma, {}).get(method, (None, None))
            if cell is not None:
                acc, acr, interval, _ = cell
                ratio = gain(out, sigma, method)
                ratio_text = "–" if ratio is None else f"{ratio[0]:.3f}" + (
                    f" [{ratio[1].low:.3f}, {ratio[1].high:.3f}]" if method != "gaussian" else "")
                rows.append(f"| {sigma:g} | {method} | " + " | ".join(f"{a:.1f}" for a in acc)
                            + f" | {acr:.3f} [{interval.low:.3f}, {interval.high:.3f}] | {ratio_text} |")
            else:
                rows.append(f"| {sigma:g} | {method} | " + " | ".join("…" for _ in RADII) + " | not yet run | |")
            if pub_acc is not None or pub_acr is not None:
                accs = " | ".join("–" if a is None else f"{a:.1f}" for a in (pub_acc or (None,) * len(RADII)))
                pub_base = PUBLISHED.get(sigma, {}).get("gaussian", (None, None))[1]
                pub_gain = f"{pub_acr / pub_base:.3f}" if pub_acr and pub_base else "–"
                rows.append(f"| {sigma:g} | {method} (published) | {accs} | {pub_acr if pub_acr else '–'} "
                            f"| {pub_gain} |")
        lines += [head, "|" + "---|" * (len(RADII) + 4), *rows, ""]
    return "\n".join(lines).rstrip("\n")


def _tabulate(out: Path, settings: Settings) -> dict[str, Output]:
    sources = tuple(cell_dir(out, s, m) for s, m in cells(settings))
    outputs = {"table": Output(table(out, settings), sources)}
    for name in GAINS:
        sigma, method = name.split("_")[1:]
        outputs[name] = Output(gain_text(out, float(sigma), method),
                               (cell_dir(out, float(sigma), method), cell_dir(out, float(sigma), "gaussian")))
    return outputs


def zoo_recipe() -> Recipe:
    return Recipe(name="zoo", summary="the training zoo on MNIST: seven objectives × σ ∈ {1, 0.5, 0.25}, certified",
                  outputs=("table", *GAINS), steps=_steps, tabulate=_tabulate,
                  needs_mnist=Settings.needs_mnist,
                  report=lambda out, settings: [cell_dir(out, s, m) / "certify.tsv" for s, m in cells(settings)])
