"""The Ray backend against the serial one: 2 workers against 1 on the MNIST CNN, in one run, and Ray's cost per chunk.

The MNIST CNN (conv32–conv64–fc128–fc10, 1×28×28) with random weights (throughput does not depend on them),
saved as a checkpoint the workers build; inputs are MNIST test images from ``--data-dir`` (default
``../shared/data/mnist``) or, if those are missing, uniform random images. Each worker samples on one thread
(``--cpus-per-worker 1``), and so does the serial run. It prints, for serial, Ray × 1 and Ray × 2: wall seconds of
the whole run (Ray's include starting the local cluster's actors, each building the model), samples per second,
and the ratio of Ray × 2 to Ray × 1; then the overhead per chunk: a run of one-input chunks at n = 10 on one
worker, less the same run's serial time, less the start-up of an actor, per chunk. Checks on the way that every
run wrote the same rows.

    python benchmarks/ray_backend.py [--inputs 16] [--n 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ray
import torch

from smoothcert import Smooth
from smoothcert.accelerate import cpu_name
from smoothcert.backends import ModelSource, RayBackend, SerialBackend
from smoothcert.models.checkpoint import CheckpointInfo, save_checkpoint
from smoothcert.models.zoo import build_model
from smoothcert.pipeline import certify_dataset
from smoothcert.runs import RunOptions

REPO = Path(__file__).resolve().parents[1]


def inputs(count: int, data_dir: Path) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        from smoothcert.data import load_dataset

        data = load_dataset("mnist", data_dir=data_dir, seed=0)
        return data.x_test[:count], data.y_test[:count], f"MNIST test images from {data_dir}"
    except Exception as err:  # a benchmark falls back to random images
        gen = torch.Generator().manual_seed(0)
        return (torch.rand(count, 1, 28, 28, generator=gen), torch.zeros(count, dtype=torch.long),
                f"uniform random images ({type(err).__name__}: no MNIST at {data_dir})")


def timed(smooth, x, y, out: Path, backend, n: int, chunk: int | None = None) -> float:
    t0 = time.perf_counter()
    certify_dataset(smooth, x, y, out, n0=100, n=n, options=RunOptions(record_time=False, progress=False),
                    chunk=chunk, backend=backend)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=16)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=400)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cpu = cpu_name()
    x, y, source_note = inputs(args.inputs, args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_model("cnn", (1, 28, 28), 10)
        save_checkpoint(model, tmp / "model", CheckpointInfo("cnn", [1, 28, 28], 10))
        source = ModelSource(checkpoint=str(tmp / "model"))
        smooth = Smooth(model, 10, 0.25, batch_size=args.batch_size)
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                 configure_logging=False)
        try:
            samples = args.inputs * (100 + args.n)
            wall = {"serial": timed(smooth, x, y, tmp / "serial.tsv", SerialBackend(), args.n)}
            for k in (1, 2):
                wall[f"ray × {k}"] = timed(smooth, x, y, tmp / f"ray{k}.tsv", RayBackend(source, workers=k), args.n)
            rows = {(tmp / f).read_bytes() for f in ("serial.tsv", "ray1.tsv", "ray2.tsv")}
            assert len(rows) == 1, "the backends wrote different rows"
            # Ray's own cost: start-up of one actor (a run of one input), then one-input chunks at n = 10.
            start = timed(smooth, x[:1], y[:1], tmp / "start.tsv", RayBackend(source, workers=1), 10)
            serial_small = timed(smooth, x, y, tmp / "small-serial.tsv", SerialBackend(), 10, chunk=1)
            ray_small = timed(smooth, x, y, tmp / "small-ray.tsv", RayBackend(source, workers=1), 10, chunk=1)
        finally:
            ray.shutdown()
    print(f"CPU: {cpu} ({torch.get_num_threads()} torch thread per process); inputs: {source_note}")
    print(f"{args.inputs} inputs × (n0 = 100 + n = {args.n:,}), batch {args.batch_size}, one thread per worker")
    for name, seconds in wall.items():
        print(f"  {name:8s} {seconds:7.2f} s  {samples / seconds:10,.0f} samples/s")
    print(f"  ratio ray × 2 / ray × 1 (throughput): {wall['ray × 1'] / wall['ray × 2']:.2f}")
    per_chunk = (ray_small - start - serial_small) / args.inputs
    print(f"  actor start-up (one worker, one input): {start:.2f} s; overhead per chunk: {per_chunk * 1000:.0f} ms "
          f"({args.inputs} one-input chunks at n = 10: Ray {ray_small:.2f} s, serial {serial_small:.2f} s)")


if __name__ == "__main__":
    main()
