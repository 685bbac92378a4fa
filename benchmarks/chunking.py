"""Chunks of inputs bounded by time against fixed chunks: throughput and the longest wait for a row.

:class:`smoothcert.runs.Run` computes chunks of inputs together and writes their rows together, so a kill can
lose one chunk. A fixed chunk (``chunk=``) of as many inputs as fill one forward batch with the selection
samples (ceil(batch / n0), at most 64) can take minutes; the default chunk starts at one input and adapts so
that one chunk takes at most ``CHUNK_SECONDS`` (2 s). This script runs both, alternately, in one process, on
the digits LeNet (1×8×8) and the MNIST CNN (conv32–conv64–fc128–fc10, 1×28×28), with random weights
(throughput does not depend on them) and uniform random inputs. It prints samples per second of the process's
CPU time (median of the repeats; on one thread and a shared machine this is the steadiest measure of the work
each sample costs), samples per second of wall time (best of the repeats), and the longest chunk in wall time
(the most work a kill could lose).

    python benchmarks/chunking.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from smoothcert import Smooth
from smoothcert.accelerate import cpu_name
from smoothcert.models.zoo import build_model
from smoothcert.pipeline import certify_dataset
from smoothcert.runs import RunOptions
from smoothcert.runs.run import MAX_CHUNK

#: (name, architecture, input shape, batch size, n0, n, inputs)
SETTINGS = [
    ("digits LeNet, batch 4,096", "lenet", (1, 8, 8), 4096, 100, 20_000, 48),
    ("MNIST CNN, batch 128", "cnn", (1, 28, 28), 128, 100, 2_000, 12),
    ("MNIST CNN, batch 1,024", "cnn", (1, 28, 28), 1024, 100, 2_000, 12),
]


def measure(smooth: Smooth, x: torch.Tensor, n0: int, n: int, chunk: int | None,
            out: Path) -> tuple[float, float, float]:
    """(samples per CPU second, samples per wall second, longest chunk in wall seconds) of one run."""
    y = torch.zeros(len(x), dtype=torch.long)
    cpu = time.process_time()
    stats = certify_dataset(smooth, x, y, out, n0=n0, n=n, alpha=0.001, chunk=chunk,
                            options=RunOptions(overwrite=True, progress=False))
    cpu = time.process_time() - cpu
    return stats["samples"] / cpu, stats["samples"] / stats["seconds"], stats["longest_chunk_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{cpu_name()}, {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    print("| setting | fixed chunk | samples per CPU s: fixed | time-bounded | ratio | wall samples/s (best): "
          "fixed | time-bounded | longest chunk: fixed | time-bounded |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch, shape, batch, n0, n, inputs in SETTINGS:
            torch.manual_seed(0)
            model = build_model(arch, list(shape), 10, [0.0], [1.0]).eval()
            smooth = Smooth(model, 10, 0.25, batch_size=batch, seed=0)
            x = torch.rand(inputs, *shape)
            fixed_chunk = max(1, min(MAX_CHUNK, math.ceil(batch / n0)))
            measure(smooth, x[:2], n0, 200, None, Path(tmp) / "warm.tsv")  # first-call costs, in neither figure
            runs: dict[str, list[tuple[float, float, float]]] = {"fixed": [], "bounded": []}
            for _ in range(args.repeats):
                for label, chunk in (("fixed", fixed_chunk), ("bounded", None)):
                    runs[label].append(measure(smooth, x, n0, n, chunk, Path(tmp) / f"{label}.tsv"))
            cpu = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
            wall = {k: max(r[1] for r in v) for k, v in runs.items()}
            longest = {k: max(r[2] for r in v) for k, v in runs.items()}
            print(f"| {name}, n0 = {n0}, n = {n:,}, {inputs} inputs | {fixed_chunk} | {cpu['fixed']:,.0f} "
                  f"| {cpu['bounded']:,.0f} | {cpu['bounded'] / cpu['fixed']:.3f}× | {wall['fixed']:,.0f} "
                  f"| {wall['bounded']:,.0f} | {longest['fixed']:.1f} s | {longest['bounded']:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
