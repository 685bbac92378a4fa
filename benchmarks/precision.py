"""The engine at the machine's limit: samples/s and fraction of the matrix-multiply roofline for fp32, bf16 and int8,
eager and compiled, on the digits and MNIST CNNs; int8's and bf16's agreement with fp32 per input; seconds per
n = 100,000 certificate on the MNIST CNN, fixed-n and sequential.

Everything is measured in this one run, on this machine (named in the first lines): the rooflines are the best
dense multiply of the same precision the machine's libraries reach (:func:`smoothcert.accelerate.gemm_rate`),
timed here; a model's effective rate is its FLOPs per sample (multiply and add counted apart; int8 operations
counted the same way) × samples/s. The MNIST CNN
is trained here for the agreement and certificate parts (2 epochs, σ = 0.25, on the 8,000 training images; its
weights are cached in runs/bench/). Throughput uses random weights (it does not depend on them).

    python benchmarks/precision.py [--inputs 8] [--n 10000] [--agree 100] [--threads N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from smoothcert import Smooth
from smoothcert.accelerate import (
    CPU_FEATURES,
    calibration_inputs,
    cpu_features,
    cpu_name,
    flops_per_sample,
    gemm_rate,
    matmul_rate,
)
from smoothcert.certificates.sequential import SequentialConfig
from smoothcert.data import load_digits, load_mnist
from smoothcert.models import build_model
from smoothcert.noise import GaussianNoise

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
CACHE = Path("runs/bench")


def make_smooth(model, precision, compile_model, calibration, sigma=0.25, seed=0):
    return Smooth(model, 10, sigma, seed=seed, precision=precision, compile=compile_model,
                  calibration=calibration if precision == "int8" else None)


def throughput(model, x, calibration, precision, compile_model, n):
    smooth = make_smooth(model, precision, compile_model, calibration)
    t0 = time.perf_counter()
    smooth.sample_counts(x[:2], 500, range(2), 1)  # warm-up: batch-size tuning, compilation, quantization
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    smooth.sample_counts(x, n, range(len(x)), 1)
    rate = len(x) * n / (time.perf_counter() - t0)
    return rate, setup, smooth.engine.batch_size


def throughput_table(args, roofs):
    print("\n## Throughput: Engine.count, samples/s (higher is better); roofline fraction of the same precision")
    print(f"{'model':<26} {'precision':<9} {'compile':<8} {'samples/s':>11} {'× fp32':>7} {'GFLOP/s':>8} "
          f"{'roofline':>9} {'batch':>6} {'setup s':>8}")
    torch.manual_seed(0)
    models = [("digits CNN (LeNet, 8x8)", build_model("lenet", (1, 8, 8), 10, [0.3], [0.4]),
               load_digits()), ]
    if MNIST_DIR.is_dir():
        models.append(("MNIST CNN (conv32-64-fc128)", build_model("cnn", (1, 28, 28), 10, [0.13], [0.31]),
                       load_mnist(MNIST_DIR)))
    for name, model, data in models:
        model.eval()
        x = data.x_test[: args.inputs]
        flops = flops_per_sample(model, data.input_shape)
        calibration = calibration_inputs(data.x_train, GaussianNoise(0.25))
        base = None
        for precision in ("fp32", "bf16", "int8"):
            for compile_model in (False, True) if precision != "int8" else (False,):  # int8 runs eager
                try:
                    rate, setup, batch = throughput(model, x, calibration, precision, compile_model, args.n)
                except Exception as err:  # report, do not stop the table
                    print(f"{name:<26} {precision:<9} {compile_model!s:<8} failed: {type(err).__name__}: {err}")
                    continue
                base = base or rate
                gflops = flops * rate / 1e9
                roof = roofs[precision]
                frac = f"{gflops * 1e9 / roof:>8.0%}" if roof else "     n/a"
                print(f"{name:<26} {precision:<9} {compile_model!s:<8} {rate:>11,.0f} {rate / base:>6.2f}x "
                      f"{gflops:>8.1f} {frac:>9} {batch!s:>6} {setup:>8.1f}", flush=True)


def trained_mnist_cnn():
    from smoothcert.models.checkpoint import load_checkpoint
    from smoothcert.training import TrainConfig, train_checkpoint

    stem = CACHE / "mnist_cnn_sigma0.25"
    data = load_mnist(MNIST_DIR)
    if not Path(str(stem) + ".safetensors").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        train_checkpoint(data, "cnn", TrainConfig(train_sigma=0.25, epochs=2, lr=3e-3, seed=0), stem, progress=False)
    return load_checkpoint(stem, "cpu")[0].eval(), data


def agreement_table(args, model, data):
    print(f"\n## Agreement with fp32 per input: MNIST CNN (trained, σ = 0.25), CERTIFY n0 = 100, n = {args.n:,}, "
          f"α = 0.001, {args.agree} test inputs, the same noise")
    x, idx = data.x_test[: args.agree], range(args.agree)
    calibration = calibration_inputs(data.x_train, GaussianNoise(0.25))
    ref = make_smooth(model, "fp32", False, None).certify_batch(x, 100, args.n, 0.001, indices=idx)
    print(f"{'precision':<9} {'same prediction':>16} {'mean |Δ radius|/σ':>18} {'max |Δ radius|/σ':>17} "
          f"{'mean |Δ p̲_A|':>14} {'certified acc fp32 → it':>24}")
    y = data.y_test[: args.agree].numpy()
    acc_ref = np.mean([c.prediction == t for c, t in zip(ref, y, strict=True)])
    for precision in ("bf16", "int8"):
        got = make_smooth(model, precision, False, calibration).certify_batch(x, 100, args.n, 0.001, indices=idx)
        same = np.mean([a.prediction == b.prediction for a, b in zip(ref, got, strict=True)])
        dr = np.abs([a.radius - b.radius for a, b in zip(ref, got, strict=True)]) / 0.25
        dp = np.abs([a.p_a_lower - b.p_a_lower for a, b in zip(ref, got, strict=True)])
        acc = np.mean([c.prediction == t for c, t in zip(got, y, strict=True)])
        print(f"{precision:<9} {same:>16.1%} {dr.mean():>18.4f} {dr.max():>17.4f} {dp.mean():>14.5f} "
              f"{acc_ref:>12.1%} → {acc:.1%}", flush=True)


def certificate_seconds(args, model, data):
    print("\n## Seconds per n = 100,000 certificate, MNIST CNN (trained, σ = 0.25), n0 = 100, α = 0.001")
    calibration = calibration_inputs(data.x_train, GaussianNoise(0.25))
    x = data.x_test
    print(f"{'precision':<9} {'procedure':<34} {'inputs':>6} {'s / certificate':>16} {'samples / input':>16} "
          f"{'mean radius/σ':>14}")
    for precision in ("fp32", "bf16", "int8"):
        smooth = make_smooth(model, precision, False, calibration)
        smooth.sample_counts(x[:2], 500, range(2), 1)  # warm-up
        k = 2 if precision == "fp32" else 4
        t0 = time.perf_counter()
        fixed = smooth.certify_batch(x[:k], 100, 100_000, 0.001, indices=range(k))
        seconds = (time.perf_counter() - t0) / k
        print(f"{precision:<9} {'fixed n = 100,000':<34} {k:>6} {seconds:>16.2f} {100_100:>16,} "
              f"{np.mean([c.radius for c in fixed]) / 0.25:>14.3f}", flush=True)
        k = args.sequential
        t0 = time.perf_counter()
        seq = smooth.certify_sequential(x[:k], 100, 0.001, SequentialConfig(n_max=100_000), indices=range(k))
        seconds = (time.perf_counter() - t0) / k
        used = np.mean([c.n0 + c.n for c in seq])
        print(f"{precision:<9} {'sequential, cap 100,000, tol 0.02σ':<34} {k:>6} {seconds:>16.2f} {used:>16,.0f} "
              f"{np.mean([c.radius for c in seq]) / 0.25:>14.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--agree", type=int, default=100)
    parser.add_argument("--sequential", type=int, default=20, help="inputs of the sequential timing")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parts", default="throughput,agreement,seconds")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cap = torch.backends.cpu.get_cpu_capability()
    flags = " ".join(cpu_features()) or "none of " + "/".join(CPU_FEATURES)
    print(f"machine: {cpu_name()}; flags: {flags}; torch {torch.__version__} (CPU capability {cap}), "
          f"{torch.get_num_threads()} threads")
    roofs = {p: gemm_rate(p) for p in ("fp32", "bf16", "int8")}
    mm = {p: matmul_rate(d) for p, d in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print("rooflines (best GEMM: torch.mm or oneDNN 1x1 convolution): "
          + ", ".join(f"{k} {v / 1e9:,.0f} G{'OP' if k == 'int8' else 'FLOP'}/s" for k, v in roofs.items())
          + "; torch.mm alone: " + ", ".join(f"{k} {v / 1e9:,.0f}" for k, v in mm.items()))
    parts = args.parts.split(",")
    if "throughput" in parts:
        throughput_table(args, roofs)
    if MNIST_DIR.is_dir() and ("agreement" in parts or "seconds" in parts):
        model, data = trained_mnist_cnn()
        if "agreement" in parts:
            agreement_table(args, model, data)
        if "seconds" in parts:
            certificate_seconds(args, model, data)


if __name__ == "__main__":
    main()
