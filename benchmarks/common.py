"""What the benchmark scripts share: the machine line every figure is recorded with, and the two test models.

The scripts run as ``python benchmarks/NAME.py``, so this module is imported as ``common``.
"""

from __future__ import annotations

import argparse

import torch

from smoothcert.accelerate import cpu_features, cpu_name
from smoothcert.models import build_model


def machine_line() -> str:
    """The CPU, its vector features, torch's thread count and version: the first line of each benchmark."""
    return (f"machine: {cpu_name()} ({' '.join(cpu_features())}), {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, device cpu")


def digits_lenet() -> torch.nn.Module:
    """The digits CNN (LeNet) for inputs [N, 1, 8, 8], random weights."""
    return build_model("lenet", (1, 8, 8), 10, [0.3], [0.4])


def mnist_cnn() -> torch.nn.Module:
    """The MNIST CNN (conv32–conv64–fc128–fc10) for inputs [N, 1, 28, 28], random weights."""
    return build_model("cnn", (1, 28, 28), 10, [0.13], [0.31])


def parse_and_report(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Adds the options every engine benchmark takes (``--batch-size``, ``--models``, ``--threads``), parses the
    command line, sets torch's threads and prints :func:`machine_line`."""
    parser.add_argument("--batch-size", default="auto", type=lambda v: v if v == "auto" else int(v),
                        help="samples per forward pass, or auto (measured once per model, not timed)")
    parser.add_argument("--models", default="digits,mnist")
    parser.add_argument("--threads", type=int, default=None, help="torch's intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line())
    return args
