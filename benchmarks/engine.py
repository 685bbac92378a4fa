"""Engine throughput: smoothcert's batched CERTIFY against a one-input-at-a-time loop as in Cohen et al.'s code.

Prints noisy samples per second of CERTIFY (n0 = 100, n = 10,000 by default, 20 inputs) for the digits CNN
(LeNet, 1×8×8) and the MNIST CNN (conv32–conv64–fc128–fc10, 1×28×28): the one-input-at-a-time loop, the
engine with the eager model, and the engine with ``compile=True``, all measured in this process, with the
ratios to the loop. The engine's batch size is measured per setting (``--batch-size auto``); that and the
compilation are printed, not timed. Weights are random: throughput does not depend on them.

    python benchmarks/engine.py [--inputs 20] [--n 10000] [--models digits,mnist] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from common import digits_lenet, mnist_cnn, parse_and_report
from scipy.stats import beta, norm

from smoothcert import Smooth
from smoothcert.data import load_digits, load_mnist

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def loop_certify(model, x, num_classes, sigma, n0, n, alpha, batch):
    """The reference structure: per input, batches of `batch` copies of x, counting predictions in Python."""

    def sample_noise(xi, num):
        counts = np.zeros(num_classes, dtype=int)
        remaining = num
        while remaining > 0:
            size = min(batch, remaining)
            remaining -= size
            copies = xi.repeat((size, *([1] * xi.dim())))
            noise = torch.randn_like(copies) * sigma
            predictions = model(copies + noise).argmax(1)
            for idx in predictions.cpu().numpy():  # the reference counts one sample at a time
                counts[idx] += 1
        return counts

    results = []
    with torch.no_grad():
        for xi in x:
            c_a = int(sample_noise(xi, n0).argmax())
            n_a = int(sample_noise(xi, n)[c_a])
            p_a = beta.ppf(alpha, n_a, n - n_a + 1) if n_a > 0 else 0.0
            results.append((c_a, sigma * norm.ppf(p_a)) if p_a >= 0.5 else (-1, 0.0))
    return results


def engine_rate(model, x, args, compile_model):
    smooth = Smooth(copy.deepcopy(model), 10, args.sigma, batch_size=args.batch_size, compile=compile_model)
    t0 = time.perf_counter()
    smooth.certify_batch(x[:2], args.n0, 1000, args.alpha)  # warm-up (batch-size tuning, compilation)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    smooth.certify_batch(x, args.n0, args.n, args.alpha, indices=range(len(x)))
    return len(x) * (args.n0 + args.n) / (time.perf_counter() - t0), warmup, smooth.batch_size


def measure(name, model, x, args):
    model.eval()
    samples = len(x) * (args.n0 + args.n)
    t0 = time.perf_counter()
    loop_certify(model, x, 10, args.sigma, args.n0, args.n, args.alpha, args.loop_batch)
    loop = samples / (time.perf_counter() - t0)
    eager, _, eager_batch = engine_rate(model, x, args, compile_model=False)
    compiled, setup, compiled_batch = engine_rate(model, x, args, compile_model=True)
    print(f"{name:<28} {loop:>12,.0f} {eager:>12,.0f} {eager / loop:>6.2f}x {compiled:>12,.0f} "
          f"{compiled / loop:>6.2f}x   (batch {eager_batch} / {compiled_batch}; setup {setup:.1f} s once)",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--loop-batch", type=int, default=1000, help="the loop's batch (reference default)")
    args = parse_and_report(parser)
    print(f"CERTIFY n0={args.n0} n={args.n:,} on {args.inputs} inputs; samples/s (higher is better)")
    print(f"{'model':<28} {'loop':>12} {'engine':>12} {'ratio':>7} {'compiled':>12} {'ratio':>7}")
    torch.manual_seed(0)
    if "digits" in args.models:
        data = load_digits()
        model = digits_lenet()
        measure("digits CNN (LeNet, 8x8)", model, data.x_test[: args.inputs], args)
    if "mnist" in args.models:
        if MNIST_DIR.is_dir():
            x = load_mnist(MNIST_DIR).x_test[: args.inputs]
        else:
            x = torch.rand(args.inputs, 1, 28, 28)
        model = mnist_cnn()
        measure("MNIST CNN (conv32-64-fc128)", model, x, args)


if __name__ == "__main__":
    main()
