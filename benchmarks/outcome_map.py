"""What an uncertainty-aware outcome map costs the engine: samples/s of ``Engine.count`` with Cohen's argmax
outcome (the baseline) against :class:`~smoothcert.uncertainty.outcome.UncertaintyOutcome` with one τ and with a
sweep of six, for three measures, on the digits LeNet (1×8×8) and the MNIST CNN (1×28×28).

Every map runs on the same inputs, noise streams and batch size (measured once per model, ``--batch-size
auto``, not timed). The maps are interleaved over ``--repeats`` rounds, each round starting one map later, so
that a change of machine load hits them alike; printed: the median rate of each, the median over rounds of its
ratio to argmax's rate in the same round, and that ratio's range over rounds (the run-to-run noise). Weights are
random: throughput does not depend on them, and the map's cost is the same for any τ.

    python benchmarks/outcome_map.py [--inputs 20] [--mnist-inputs 2] [--n 10000] [--repeats 5] [--compile]
        [--models digits,mnist] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import digits_lenet, mnist_cnn, parse_and_report

from smoothcert.engine import Engine
from smoothcert.noise import GaussianNoise
from smoothcert.sampling import ArgmaxOutcome, make_generators
from smoothcert.uncertainty.outcome import UncertaintyOutcome

#: Six increasing thresholds; the map's work is one bucketize of u whatever they are (some lie above a measure's range).
SWEEP = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


def outcome_maps(num_classes: int) -> dict[str, object]:
    """The maps compared, argmax first (the baseline)."""
    maps: dict[str, object] = {"argmax (Cohen)": ArgmaxOutcome(num_classes)}
    for measure in ("entropy", "max_prob", "margin"):
        maps[f"{measure}, one τ"] = UncertaintyOutcome(num_classes, measure, SWEEP[2])
        maps[f"{measure}, six τ"] = UncertaintyOutcome(num_classes, measure, SWEEP)
    return maps


def rate(engine: Engine, x: torch.Tensor, n: int, outcome_map) -> float:
    """Samples/s of one ``Engine.count`` over ``n`` noisy copies of each input of ``x``."""
    generators = make_generators(0, range(len(x)), 1, engine.device)
    t0 = time.perf_counter()
    engine.count(x, GaussianNoise(0.25), n, generators, outcome_map)
    return len(x) * n / (time.perf_counter() - t0)


def measure(name: str, model: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace) -> None:
    engine = Engine(model, batch_size=args.batch_size, compile=args.compile)
    maps = outcome_maps(10)
    for outcome_map in maps.values():  # warm-up: batch-size tuning, compilation, first-call allocations
        rate(engine, x[:2], 500, outcome_map)
    rates: dict[str, list[float]] = {label: [] for label in maps}
    labels = list(maps)
    for r in range(args.repeats):
        for label in labels[r % len(labels):] + labels[: r % len(labels)]:  # each round starts one map later
            rates[label].append(rate(engine, x, args.n, maps[label]))
    base = np.array(rates["argmax (Cohen)"])
    print(f"\n{name}: batch {engine.batch_size}, {'compiled' if args.compile else 'eager'}, "
          f"{len(x)} inputs × {args.n:,} samples, median of {args.repeats}")
    print(f"{'outcome map':<22} {'samples/s':>12} {'ratio to argmax':>16} {'(min–max over rounds)':>22}")
    for label, values in rates.items():
        ratios = np.array(values) / base
        print(f"{label:<22} {np.median(values):>12,.0f} {np.median(ratios):>15.3f}x "
              f"{f'({ratios.min():.3f}–{ratios.max():.3f})':>22}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20, help="digits inputs")
    parser.add_argument("--mnist-inputs", type=int, default=2, help="MNIST inputs (its CNN is ~50x slower)")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    args = parse_and_report(parser)
    torch.manual_seed(0)
    if "digits" in args.models:
        model = digits_lenet()
        measure("digits CNN (LeNet, 1×8×8)", model, torch.rand(args.inputs, 1, 8, 8), args)
    if "mnist" in args.models:
        model = mnist_cnn()
        measure("MNIST CNN (conv32–conv64–fc128–fc10, 1×28×28)", model, torch.rand(args.mnist_inputs, 1, 28, 28),
                args)


if __name__ == "__main__":
    main()
