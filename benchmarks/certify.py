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

    python benchmarks/certify.py [--images 20] [--n 100000] [--bf16-images 100] [--bf16-n 10000]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import loop_certify

from smoothcert import Smooth
from smoothcert.accelerate import flops_per_sample, matmul_rate
from smoothcert.analysis import average_certified_radius, certified_accuracy, read_results
from smoothcert.certificates.sequential import SequentialConfig
from smoothcert.data import load_mnist
from smoothcert.models import load_checkpoint
from smoothcert.models.checkpoint import checkpoint_paths
from smoothcert.pipeline import certify_dataset
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
                    resume=out.is_file(), progress=False, sequential=sequential)
    res = read_results(out)
    seconds = float(res.time.sum())  # from the rows, so a resumed benchmark keeps its earlier timings
    samples = float(np.mean(res.extra["n0"] + res.extra["n"]))
    return res, samples, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="test images for the n = 100k comparison")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--radius", type=float, default=0.5)
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--bf16-images", type=int, default=100)
    parser.add_argument("--bf16-n", type=int, default=10_000)
    parser.add_argument("--arch", default="cnn")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_certify"))
    parser.add_argument("--parts", default="1,2,4", help="which parts to run: 1 sequential, 2 engine, 4 bf16")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_mnist(MNIST_DIR)
    model = model_for(args, data)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, cpu")
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
    """1. Sequential against fixed n."""
    fast = dict(batch_size=args.batch_size, compile=True)
    fixed, s_fixed, t_fixed = run("fixed", Smooth(model, 10, args.sigma, **fast), data, indices, args, args.n)
    preset, s_preset, t_preset = run("sequential_preset", Smooth(model, 10, args.sigma, **fast), data, indices,
                                     args, args.n, SequentialConfig(n_max=args.n, radius=args.radius))
    full, s_full, t_full = run("sequential_full", Smooth(model, 10, args.sigma, **fast), data, indices, args,
                               args.n, SequentialConfig(n_max=args.n))
    r = args.radius
    print(f"\n1. Sequential vs fixed n = {args.n:,} on {len(indices)} MNIST test images (σ = {args.sigma}, α = 0.001)")
    print(f"{'method':<26}{'samples/input':>15}{'s/input':>10}{'cert. acc @ r=' + str(r):>20}{'ACR':>8}{'fewer':>9}")
    for name, res, samples, seconds in [("fixed-n CERTIFY", fixed, s_fixed, t_fixed),
                                        (f"sequential, preset r={r}", preset, s_preset, t_preset),
                                        ("sequential, full radius", full, s_full, t_full)]:
        acc = certified_accuracy(res, [r])[0]
        print(f"{name:<26}{samples:>15,.0f}{seconds / len(res):>10.2f}{acc:>20.3f}"
              f"{average_certified_radius(res):>8.3f}{s_fixed / samples:>8.1f}x")



def engine_part(args, data, model):
    """2–3. Engine rates and roofline."""
    x = data.x_test[:8]
    flops = flops_per_sample(model, data.input_shape)
    peak = {"fp32": matmul_rate(torch.float32), "bf16": matmul_rate(torch.bfloat16)}
    loop_n = 4000
    t0 = time.perf_counter()
    loop_certify(model, x, 10, args.sigma, 100, loop_n, 0.001, 1000)
    loop_rate = len(x) * (100 + loop_n) / (time.perf_counter() - t0)
    print(f"\n2–3. Engine on {len(x)} inputs, n = {loop_n:,}; {flops / 1e6:.1f} MFLOP per sample; measured matmul "
          f"rate fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s")
    print(f"{'engine':<24}{'samples/s':>12}{'vs loop':>9}{'GFLOP/s':>10}{'of roofline':>13}")
    print(f"{'one-input loop (fp32)':<24}{loop_rate:>12,.0f}{1:>8.2f}x{flops * loop_rate / 1e9:>10.1f}"
          f"{flops * loop_rate / peak['fp32']:>12.0%}")
    rates = {}
    for label, kwargs in [("engine eager fp32", dict(compile=False)), ("engine compiled fp32", dict(compile=True)),
                          ("engine eager bf16", dict(precision="bf16")),
                          ("engine compiled bf16", dict(compile=True, precision="bf16"))]:
        smooth = Smooth(model, 10, args.sigma, batch_size=args.batch_size, **kwargs)
        smooth.certify_batch(x[:2], 100, 1000, 0.001)  # warm-up, compilation
        t0 = time.perf_counter()
        smooth.certify_batch(x, 100, loop_n, 0.001)
        rate = len(x) * (100 + loop_n) / (time.perf_counter() - t0)
        rates[label] = rate
        prec = "bf16" if "bf16" in label else "fp32"
        print(f"{label:<24}{rate:>12,.0f}{rate / loop_rate:>8.2f}x{flops * rate / 1e9:>10.1f}"
              f"{flops * rate / peak[prec]:>12.0%}")
    print(f"bf16 / fp32 (compiled): {rates['engine compiled bf16'] / rates['engine compiled fp32']:.2f}x")



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
    print(f"largest difference: {100 * diff:.2f} pp; time fp32 {cmp['fp32'][2]:.0f} s, bf16 {cmp['bf16'][2]:.0f} s")


if __name__ == "__main__":
    main()
