"""Fast certification: sequential against fixed-n CERTIFY, and the engine against the machine's limit.

One run, printed as ratios, all measured in this process:

1. Samples and time per certificate: sequential CERTIFY (preset radius r, and full-radius mode, both capped
   at n) against fixed-n CERTIFY (Cohen et al.) with the same n, on MNIST test images with the MNIST CNN
   (conv32–conv64–fc128–fc10) trained with σ = 0.25; certified accuracy and ACR beside each.
2. Engine samples/s: the one-input-at-a-time loop, the eager engine, the compiled engine (fp32 and bf16).
3. Fraction of the roofline: FLOPs per sample × samples/s against the measured matrix-multiply rate of the
   same precision.
4. bf16 against fp32 certification at the same n: certified accuracy at every radius of the grid.

Each certification writes a resumable TSV under --out, so an interrupted benchmark continues where it was.

    python benchmarks/certify.py [--images 50] [--n 100000] [--bf16-images 100] [--bf16-n 10000] [--parts 1,2,4]
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import loop_certify

from smoothcert import Smooth
from smoothcert.accelerate import cpu_features, cpu_name, flops_per_sample, gemm_rate
from smoothcert.analysis import average_certified_radius, certified_accuracy, read_results
from smoothcert.certificates.sequential import SequentialConfig
from smoothcert.data import load_mnist
from smoothcert.models import load_checkpoint
from smoothcert.models.checkpoint import checkpoint_paths
from smoothcert.pipeline import certify_dataset
from smoothcert.runs import RunOptions
from smoothcert.training import TrainConfig, train_base_model

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


def model_for(args, data):
    ckpt = args.out / "model"
    if checkpoint_paths(ckpt)[1].is_file():
        return load_checkpoint(ckpt)[0]
    cfg = TrainConfig(train_sigma=args.sigma, epochs=args.epochs, batch_size=128, lr=1e-3, seed=0)
    print(f"training {args.arch} on MNIST ({len(data.x_train)} images, σ = {args.sigma}, {args.epochs} epochs) …",
          flush=True)
    return train_base_model(data, args.arch, cfg, ckpt, progress=False)[0]


def run(name, smooth, data, indices, args, n, sequential=None):
    out = args.out / f"{name}.tsv"
    certify_dataset(smooth, data.x_test, data.y_test, out, n0=100, n=n, alpha=0.001, indices=indices,
                    arguments={"name": name, "n": n, "sigma": args.sigma, "precision": smooth.precision,
                               "sequential": repr(sequential)},
                    options=RunOptions(resume=out.is_file(), progress=False), sequential=sequential)
    res = read_results(out)
    seconds = float(res.time.sum())  # from the rows, so a resumed benchmark keeps its earlier timings
    samples = float(np.mean(res.extra["n0"] + res.extra["n"]))
    return res, samples, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50, help="test images for the n = 100k comparison")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--radius", type=float, default=0.5)
    parser.add_argument("--tolerances", type=lambda v: [float(t) for t in v.split(",")], default=[0.005, 0.05, 0.1],
                        help="full-radius mode tolerances (input units); 0.005 = 0.02 σ is the default mode")
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--bf16-images", type=int, default=100)
    parser.add_argument("--bf16-n", type=int, default=10_000)
    parser.add_argument("--arch", default="cnn")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", default="auto", type=lambda v: v if v == "auto" else int(v),
                        help="engine batch size, or auto (measured per engine setting)")
    parser.add_argument("--engine-inputs", type=int, default=16)
    parser.add_argument("--engine-n", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_certify"))
    parser.add_argument("--parts", default="1,2,4", help="which parts to run: 1 sequential, 2 engine, 4 bf16")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_mnist(MNIST_DIR)
    model = model_for(args, data)
    print(f"machine: {cpu_name()} ({platform.machine()}; {' '.join(cpu_features())}), "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, cpu")
    print(f"data: {data.split_note}")
    stride = len(data.x_test) // args.images
    indices = list(range(0, stride * args.images, stride))

    parts = set(args.parts.split(","))
    if "1" in parts:
        sequential_part(args, data, model, indices)
    if "2" in parts:
        engine_part(args, data, model)
    if "4" in parts:
        precision_part(args, data, model)


def sequential_part(args, data, model, indices):
    """1. Sequential against fixed n: preset radius, full radius at several tolerances, and fixed n/3."""
    fast = dict(batch_size=args.batch_size, compile=True)
    smooth = Smooth(model, 10, args.sigma, **fast)  # one compiled model for every run of this part
    r, n = args.radius, args.n
    rows = [(f"fixed-n CERTIFY, n = {n:,}", run("fixed", smooth, data, indices, args, n)),
            (f"sequential, preset r = {r}",
             run("sequential_preset", smooth, data, indices, args, n, SequentialConfig(n_max=n, radius=r)))]
    for tol in args.tolerances:
        default = math.isclose(tol, 0.02 * args.sigma)  # the mode's default tolerance: run as the default
        config = SequentialConfig(n_max=n, tolerance=None if default else tol)
        name = "sequential_full" if default else f"sequential_full_tol{tol:g}"
        rows.append((f"sequential, full radius, tol {tol:g}", run(name, smooth, data, indices, args, n, config)))
    third = n // 3
    rows.append((f"fixed-n CERTIFY, n = {third:,}", run(f"fixed_n{third}", smooth, data, indices, args, third)))
    fixed, s_fixed, _ = rows[0][1]
    acr_fixed = average_certified_radius(fixed)
    print(f"\n1. Sequential vs fixed n = {n:,} on {len(indices)} MNIST test images (σ = {args.sigma}, α = 0.001)")
    print(f"{'method':<36}{'samples/input':>14}{'median':>9}{'s/input':>9}{'acc @ r=' + str(r):>12}{'ACR':>8}"
          f"{'ACR vs fixed':>13}{'fewer':>8}")
    for name, (res, samples, seconds) in rows:
        used = res.extra["n0"] + res.extra["n"]
        acr = average_certified_radius(res)
        print(f"{name:<36}{samples:>14,.0f}{np.median(used):>9,.0f}{seconds / len(res):>9.2f}"
              f"{certified_accuracy(res, [r])[0]:>12.3f}{acr:>8.4f}{acr / acr_fixed - 1:>+12.1%}"
              f"{s_fixed / samples:>7.1f}x")
    all_correct = fixed.extra["count_top"] == fixed.extra["n"]
    q = float(all_correct.mean())
    share = fixed.radius[all_correct].sum() / max(fixed.radius.sum(), 1e-12)
    print(f"all-correct at n = {n:,} (count_top = n): {q:.0%} of inputs, {share:.0%} of the ACR. "
          f"Largest valid radius for them at n/3 samples (docs/fast_certification.md, Claim 4): "
          f"{args.sigma * norm.ppf(0.001 ** (3 / n)):.4f} against {args.sigma * norm.ppf(0.001 ** (1 / n)):.4f}")


def engine_part(args, data, model):
    """2–3. Engine rates and roofline."""
    x = data.x_test[: args.engine_inputs]
    n = args.engine_n
    samples = len(x) * (100 + n)
    flops = flops_per_sample(model, data.input_shape)
    peak = {"fp32": gemm_rate("fp32"), "bf16": gemm_rate("bf16")}
    t0 = time.perf_counter()
    loop_certify(model, x, 10, args.sigma, 100, n, 0.001, 1000)
    loop_rate = samples / (time.perf_counter() - t0)
    print(f"\n2–3. Engine: CERTIFY of {len(x)} inputs, n0 = 100, n = {n:,} ({samples:,} samples per row); "
          f"{flops / 1e6:.1f} MFLOP per sample;\n     measured matmul rate fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, "
          f"bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s")
    print(f"{'engine':<34}{'batch':>7}{'samples/s':>11}{'vs loop':>9}{'GFLOP/s':>9}{'of roofline':>13}")
    print(f"{'one-input loop (eager fp32)':<34}{1000:>7}{loop_rate:>11,.0f}{1:>8.2f}x{flops * loop_rate / 1e9:>9.1f}"
          f"{flops * loop_rate / peak['fp32']:>12.0%}")
    rates = {}
    for label, kwargs in [("engine eager fp32", dict(compile=False)),
                          ("engine compiled fp32, batch 1024", dict(compile=True, batch_size=1024)),
                          ("engine compiled fp32", dict(compile=True)),
                          ("engine eager bf16", dict(precision="bf16")),
                          ("engine compiled bf16", dict(compile=True, precision="bf16"))]:
        kwargs.setdefault("batch_size", args.batch_size)
        smooth = Smooth(copy.deepcopy(model), 10, args.sigma, **kwargs)
        t0 = time.perf_counter()
        smooth.certify_batch(x[:2], 100, 1000, 0.001)  # batch-size tuning, compilation, warm-up: not timed
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        smooth.certify_batch(x, 100, n, 0.001)
        rate = samples / (time.perf_counter() - t0)
        rates[label] = rate
        prec = "bf16" if "bf16" in label else "fp32"
        print(f"{label:<34}{smooth.batch_size:>7}{rate:>11,.0f}{rate / loop_rate:>8.2f}x{flops * rate / 1e9:>9.1f}"
              f"{flops * rate / peak[prec]:>12.0%}   (setup {setup:.0f} s once)", flush=True)
    print(f"bf16 / fp32, both compiled: {rates['engine compiled bf16'] / rates['engine compiled fp32']:.2f}x; "
          f"ceiling of that ratio on this machine (bf16 / fp32 matmul rate): {peak['bf16'] / peak['fp32']:.2f}x")


def precision_part(args, data, model):
    """4. bf16 against fp32 certified accuracy at the same n."""
    stride = len(data.x_test) // args.bf16_images
    idx = list(range(0, stride * args.bf16_images, stride))
    cmp = {}
    for prec in ("fp32", "bf16"):
        smooth = Smooth(model, 10, args.sigma, batch_size=args.batch_size, compile=True, precision=prec)
        cmp[prec] = run(f"precision_{prec}", smooth, data, idx, args, args.bf16_n)
    print(f"\n4. bf16 vs fp32 CERTIFY, n = {args.bf16_n:,}, {len(idx)} images: certified accuracy")
    print(f"{'r':<6}" + "".join(f"{r_:>8g}" for r_ in RADII))
    for prec in ("fp32", "bf16"):
        print(f"{prec:<6}" + "".join(f"{v:>8.3f}" for v in certified_accuracy(cmp[prec][0], RADII)))
    diff = np.abs(certified_accuracy(cmp["bf16"][0], RADII) - certified_accuracy(cmp["fp32"][0], RADII)).max()
    fp32, bf16 = cmp["fp32"][0], cmp["bf16"][0]
    changed = int((fp32.predict != bf16.predict).sum())
    count_gap = np.abs(fp32.extra["count_top"] - bf16.extra["count_top"])
    print(f"largest difference: {100 * diff:.2f} pp; ACR fp32 {average_certified_radius(fp32):.4f}, "
          f"bf16 {average_certified_radius(bf16):.4f}; predictions changed: {changed} of {len(fp32)}")
    print(f"per input, same noise: mean |radius difference| {np.abs(fp32.radius - bf16.radius).mean():.4f}, "
          f"largest {np.abs(fp32.radius - bf16.radius).max():.4f}; top-class count differs on "
          f"{int((count_gap > 0).sum())} inputs, by at most {int(count_gap.max())} of {args.bf16_n:,}")
    print(f"time fp32 {cmp['fp32'][2]:.0f} s, bf16 {cmp['bf16'][2]:.0f} s: {cmp['fp32'][2] / cmp['bf16'][2]:.2f}x")


if __name__ == "__main__":
    main()
