"""The training-zoo measurement of docs/training.md: every objective on MNIST (LeNet, the 8,000/2,000 split of the
official test files) at σ ∈ {1.0, 0.5, 0.25}, certified, tabulated beside the published numbers.

    python results/training_zoo.py run   [--out runs/zoo] [--sigmas 1.0,0.5,0.25] [--methods …]
    python results/training_zoo.py table [--out runs/zoo]

``run`` trains and certifies each (σ, method) cell with the command line (the exact commands are printed and
written to OUT/commands.sh), each step resumable: a finished step is skipped, an interrupted one continues with
``--resume``; stopping at any point loses at most one epoch or one chunk of inputs. ``table`` reads whatever cells
are finished and writes OUT/table.md (certified accuracy at the issue's radii, ACR with a 95% bootstrap interval
over the test inputs, the published numbers beside them).

One recipe for every method (so the methods differ only in their objective): smoothcert's LeNet, Adam, lr LR,
batch 128, EPOCHS epochs, seed 0 (lr 0.003, the command's default, left MACER's network dead at σ = 1 from the
first epoch: chance accuracy throughout; 0.001 trains every method); each method's own options are its paper's
MNIST settings (or the benchmark repository's, alinlab/smoothing-catrs, where the paper gives none), listed in
METHODS. Certification: n0 = 100, n = N, α = 0.001, every SKIP-th of the 2,000 test images.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

EPOCHS = 20
LR = 0.001
N = 10_000
SKIP = 4  # 500 of the 2,000 test images
SIGMAS = (1.0, 0.5, 0.25)
RADII = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5)

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

#: Published MNIST numbers (LeNet trained on the 60k training set, the full 10k test set, N = 100,000, α = 0.001):
#: {σ: {method: (certified accuracy % at RADII, or None where not at hand; ACR)}}. Sources: Jeong & Shin 2020
#: (ACR at σ = 1; Gaussian at σ = 0.25, 0.5) and the CAT-RS repository's raw certified-accuracy curves
#: (data/mnist/noise_σ/noise_σ.tsv_acc).
PUBLISHED: dict[float, dict[str, tuple[tuple[float | None, ...] | None, float | None]]] = {
    1.0: {"gaussian": (None, 1.618), "stability": (None, 1.634), "macer": (None, 1.595),
          "consistency": (None, 1.738), "smoothadv": (None, 1.779),
          "catrs": ((93.15, 90.47, 87.23, 83.08, 77.62, 64.04, 47.16, 29.99), 1.831)},
    0.5: {"gaussian": ((99.2, 98.3, 96.9, 94.3, 89.8, 67.8, None, None), 1.558)},
    0.25: {"gaussian": ((99.2, 98.5, 96.7, 93.1, None, None, None, None), 0.911)},
}

HERE = Path(__file__).resolve().parent
SMOOTHCERT = [sys.executable, "-m", "smoothcert.cli"]


def cell_dir(out: Path, sigma: float, method: str) -> Path:
    return out / f"sigma_{sigma:g}" / method


def commands(out: Path, sigma: float, method: str, data_dir: str) -> tuple[list[str], list[str]]:
    """(train, certify) command lines of one cell, without --resume."""
    d = cell_dir(out, sigma, method)
    data = ["--dataset", "mnist", "--data-dir", data_dir]
    train = ["smoothcert", "train", *data, "--arch", "lenet", "--train-sigma", f"{sigma:g}", "--objective", method,
             *METHODS[method][sigma], "--epochs", str(EPOCHS), "--lr", str(LR), "--seed", "0",
             "--out", str(d / "model")]
    certify = ["smoothcert", "certify", *data, "--checkpoint", str(d / "model"), "--sigma", f"{sigma:g}",
               "--n0", "100", "--n", str(N), "--failure-prob", "0.001", "--skip", str(SKIP), "--seed", "0",
               "--out", str(d / "certify.tsv")]
    return train, certify


def _run(argv: list[str], resume: bool) -> None:
    full = SMOOTHCERT + argv[1:] + (["--resume"] if resume else [])
    print("+", shlex.join(argv), "--resume" if resume else "", flush=True)
    subprocess.run(full, check=True)


def run(out: Path, sigmas: list[float], methods: list[str], data_dir: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "commands.sh", "w") as script:
        for sigma in sigmas:
            for method in methods:
                for argv in commands(out, sigma, method, data_dir):
                    script.write(shlex.join(argv) + "\n")
    for sigma in sigmas:
        for method in methods:
            train, certify = commands(out, sigma, method, data_dir)
            d = cell_dir(out, sigma, method)
            if not (d / "model.safetensors").exists():
                _run(train, resume=Path(str(d / "model") + ".state.json").exists())
            tsv = d / "certify.tsv"
            manifest = json.loads(tsv.with_suffix(".json").read_text()) if tsv.with_suffix(".json").exists() else {}
            if manifest.get("status") != "complete":
                _run(certify, resume=tsv.exists())


def _cell(out: Path, sigma: float, method: str):
    from scipy.stats import bootstrap

    from smoothcert.analysis.metrics import average_certified_radius, certified_accuracy
    from smoothcert.analysis.results import read_results

    tsv = cell_dir(out, sigma, method) / "certify.tsv"
    manifest = tsv.with_suffix(".json")
    if not manifest.exists() or json.loads(manifest.read_text()).get("status") != "complete":
        return None
    res = read_results(tsv)
    acc = 100 * np.asarray(certified_accuracy(res, RADII))
    order = np.argsort(res.idx)  # rows by input index, so two cells pair input by input
    per_input = np.where(res.correct, res.radius, 0.0)[order]
    ci = bootstrap((per_input,), np.mean, n_resamples=2000, confidence_level=0.95, method="percentile",
                   random_state=np.random.default_rng(0)).confidence_interval
    return acc, average_certified_radius(res), (ci.low, ci.high), per_input


def _ratio_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """95% paired percentile-bootstrap interval of mean(a) / mean(b) over the same test inputs."""
    from scipy.stats import bootstrap

    with np.errstate(divide="ignore", invalid="ignore"):  # a resample whose Gaussian ACR is 0 (tiny test data)
        ci = bootstrap((a, b), lambda u, v, axis=-1: u.mean(axis) / v.mean(axis), paired=True, vectorized=True,
                       n_resamples=2000, confidence_level=0.95, method="percentile",
                       random_state=np.random.default_rng(0)).confidence_interval
    return ci.low, ci.high


def table(out: Path) -> str:
    lines = [f"Measured: smoothcert LeNet on 8,000 MNIST images, Adam lr {LR}, {EPOCHS} epochs, seed 0; certified "
             f"on every {SKIP}th of the 2,000 test images, n0 = 100, n = {N:,}, α = 0.001. Published: LeNet on 60,000 "
             "images, 10,000 test images, N = 100,000. Certified accuracy in %, ACR with its 95% bootstrap "
             "interval over the test inputs, ACR / Gaussian with its paired 95% bootstrap interval (the same "
             "inputs resampled for both).", ""]
    head = "| σ | method | " + " | ".join(f"r = {r:g}" for r in RADII) + " | ACR | ACR / Gaussian |"
    for sigma in SIGMAS:
        rows = []
        base = _cell(out, sigma, "gaussian")
        for method in METHODS:
            cell = _cell(out, sigma, method)
            pub_acc, pub_acr = PUBLISHED.get(sigma, {}).get(method, (None, None))
            if cell is not None:
                acc, acr, (lo, hi), per_input = cell
                gain = "–"
                if base is not None and len(per_input) == len(base[3]):
                    glo, ghi = _ratio_interval(per_input, base[3]) if method != "gaussian" else (1.0, 1.0)
                    gain = f"{acr / base[1]:.3f}" + (f" [{glo:.3f}, {ghi:.3f}]" if method != "gaussian" else "")
                rows.append(f"| {sigma:g} | {method} | " + " | ".join(f"{a:.1f}" for a in acc)
                            + f" | {acr:.3f} [{lo:.3f}, {hi:.3f}] | {gain} |")
            else:
                rows.append(f"| {sigma:g} | {method} | " + " | ".join("…" for _ in RADII) + " | not yet run | |")
            if pub_acc is not None or pub_acr is not None:
                accs = " | ".join("–" if a is None else f"{a:.1f}" for a in (pub_acc or (None,) * len(RADII)))
                pub_base = PUBLISHED.get(sigma, {}).get("gaussian", (None, None))[1]
                gain = f"{pub_acr / pub_base:.3f}" if pub_acr and pub_base else "–"
                rows.append(f"| {sigma:g} | {method} (published) | {accs} | {pub_acr if pub_acr else '–'} "
                            f"| {gain} |")
        lines += [head, "|" + "---|" * (len(RADII) + 4), *rows, ""]
    text = "\n".join(lines)
    (out / "table.md").write_text(text + "\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "table"))
    parser.add_argument("--out", type=Path, default=Path("runs/zoo"))
    parser.add_argument("--sigmas", default=",".join(f"{s:g}" for s in SIGMAS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--data-dir", default=os.environ.get("SMOOTHCERT_DATA_DIR",
                                                             str(HERE.parent.parent / "shared/data/mnist")))
    args = parser.parse_args()
    if args.action == "run":
        run(args.out, [float(s) for s in args.sigmas.split(",")], args.methods.split(","), args.data_dir)
    print(table(args.out))


if __name__ == "__main__":
    main()
