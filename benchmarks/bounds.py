"""Bounds and noises on MNIST from the same saved counts: the tables of docs/bounds.md and docs/noises.md.

Trains a small LeNet with Gaussian (σ = 0.25), Laplace and uniform noise (the same noise variance σ² per
pixel: Laplace λ = σ/√2, uniform λ = σ√3), certifies every SKIP-th test input with each, re-certifies the
Gaussian run's saved counts under cp, top2 (Bonferroni), cpm and randomized cp, and writes the markdown tables
it prints to OUT/bounds.md. Small settings on purpose (a few minutes on two CPU cores). Resumable: every
model, TSV and re-certification already in OUT is reused (an interrupted certify run is resumed).

    python benchmarks/bounds.py --data-dir ../shared/data/mnist --out runs/bounds
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from smoothcert.accelerate import cpu_name
from smoothcert.analysis.results import read_results
from smoothcert.document import Document, Paragraph, Section, Table
from smoothcert.report.markdown import render_markdown, write_markdown

RADII = (0.0, 0.25, 0.5, 0.75)
SIGMA = 0.25
NOISES = {"gaussian": (SIGMA, "l2"), "laplace": (SIGMA / math.sqrt(2), "l1"), "uniform": (SIGMA * math.sqrt(3), "l1")}
BOUNDS = {"cp": ["--bound", "cp"], "top2": ["--bound", "top2"], "cpm": ["--bound", "cpm"],
          "cp randomized": ["--bound", "cp", "--randomized", "--seed", "0"]}
CLI = [sys.executable, "-m", "smoothcert.cli"]


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def complete(tsv: Path) -> bool:
    manifest = tsv.with_suffix(".json")
    return manifest.exists() and json.loads(manifest.read_text()).get("status") == "complete"


def bootstrap(values: np.ndarray, reps: int, seed: int) -> tuple[float, float, float]:
    """Mean and 95% percentile-bootstrap interval over inputs (seeded)."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(reps, len(values)))].mean(axis=1)
    return float(values.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def cell(stat: tuple[float, float, float]) -> str:
    return f"{stat[0]:.3f} [{stat[1]:.3f}, {stat[2]:.3f}]"


def row_stats(tsv: Path, reps: int, seed: int) -> list[str]:
    res = read_results(tsv)
    correct = np.asarray(res.correct, dtype=bool)
    radius = np.asarray(res.radius, dtype=np.float64)
    cells = [cell(bootstrap((correct & (radius >= r)).astype(float), reps, seed))
             for r in RADII]
    return [*cells, cell(bootstrap(np.where(correct, radius, 0.0), reps, seed))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--out", type=Path, default=Path("runs/bounds"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--skip", type=int, default=10, help="certify every SKIP-th of the 2,000 test inputs")
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = ["--dataset", "mnist", "--data-dir", args.data_dir]
    start = time.perf_counter()
    runs = {}
    for name, (scale, norm) in NOISES.items():
        folder = out / name
        stem = folder / "model"
        if not stem.with_suffix(".safetensors").exists():
            run([*CLI, "train", *data, "--arch", "lenet", "--noise", name, "--scale", f"{scale:.6g}", "--epochs",
                       str(args.epochs), "--seed", "0", "--out", str(stem), "--quiet",
                       *(["--resume"] if stem.with_suffix(".state.json").exists() else [])])
        tsv = folder / "certify.tsv"
        if not complete(tsv):
            run([*CLI, "certify", *data, "--checkpoint", str(stem.with_suffix(".safetensors")), "--noise", name,
                       "--scale", f"{scale:.6g}", "--norm", norm, "--n0", str(args.n0), "--n", str(args.n),
                       "--failure-prob", str(args.alpha), "--skip", str(args.skip), "--seed", "0", "--no-timing",
                       "--quiet", "--out", str(tsv), *(["--resume"] if tsv.exists() else [])])
        runs[name] = tsv
    recertified = {}
    for label, flags in BOUNDS.items():
        tsv = out / "gaussian" / f"recertify-{label.replace(' ', '-')}.tsv"
        if not complete(tsv):
            run([*CLI, "recertify", str(runs["gaussian"]), *flags, "--out", str(tsv), "--overwrite"])
        recertified[label] = tsv
    elapsed = time.perf_counter() - start

    header = ["", *[f"cert. acc. r = {r:g}" for r in RADII], "ACR"]
    n_inputs = len(read_results(runs["gaussian"]).idx)
    bounds = Table(["bound", *header[1:]], [[label, *row_stats(tsv, args.bootstrap, 0)]
                                           for label, tsv in recertified.items()],
                   caption=f"MNIST, LeNet trained {args.epochs} epochs with Gaussian σ = {SIGMA}; the same saved "
                           f"counts of {n_inputs} test inputs (n0 = {args.n0}, n = {args.n}, α = {args.alpha}) "
                           "re-certified under each bound; ℓ2 radii; mean [95% bootstrap interval over inputs].")
    noises = Table(["noise (scale)", "norm", *header[1:]],
                   [[f"{name} ({scale:.4g})", norm, *row_stats(runs[name], args.bootstrap, 0)]
                    for name, (scale, norm) in NOISES.items()],
                   caption="Each noise's own model (same architecture, epochs and seed), Clopper–Pearson, "
                           "same inputs and sample sizes; mean [95% bootstrap interval over inputs].")
    model = cpu_name()
    setting = Paragraph(
        f"Small settings: {n_inputs} inputs (every {args.skip}th of the loader's 2,000 MNIST test inputs), "
        f"n0 = {args.n0}, n = {args.n}, {args.epochs} training epochs; training seed 0, noise seed 0, "
        f"randomized-CP seed 0, bootstrap seed 0 ({args.bootstrap} resamples). CPU: {model} "
        f"({torch.get_num_threads()} threads), torch {torch.__version__}, Python {platform.python_version()}; "
        f"other work ran on the machine at the same time. This session's wall time: {elapsed:.0f} s "
        "(0 s of sampling when everything was reused).")
    doc = Document("Bounds and noises on MNIST", [setting, Section("Bounds on the same samples", [bounds]),
                                                   Section("Noises", [noises])])
    path = write_markdown(doc, out / "bounds.md")
    print(render_markdown(doc))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
