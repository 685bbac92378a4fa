"""ReLU after max-pooling (:func:`smoothcert.accelerate.commuted`): samples/s of the zoo's CNNs with and without
the rewrite, fp32 and bf16, the model alone and whole CERTIFY runs, in one run on this machine (named first).

The rewrite changes no output (the script checks it bit for bit on the batch it times); it only moves each ReLU
that precedes a max-pooling after it, where it sees a quarter of the elements. Runs alternate between the two
variants so that drift in the machine's speed falls on both; the best of the repeats is reported.

    python benchmarks/commute.py [--threads N] [--repeats 8] [--n 20000] [--models lenet:28,cnn:28,lenet:8]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

import smoothcert.accelerate as accelerate
from smoothcert import Smooth
from smoothcert.accelerate import AutocastModel, commuted, cpu_name
from smoothcert.models import build_model
from smoothcert.noise import GaussianNoise

MODELS = (("lenet", (1, 28, 28)), ("cnn", (1, 28, 28)), ("lenet", (1, 8, 8)))


def forward_rate(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Best samples/s of ``model(x)`` over ``repeats`` timed calls (after two warm-up calls)."""
    with torch.inference_mode():
        model(x)
        model(x)
        best = 0.0
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            best = max(best, len(x) / (time.perf_counter() - t))
    return best


@contextlib.contextmanager
def without_rewrite():
    """The engine as it was before the rewrite: its float models run as they are."""
    saved = accelerate.commuted
    accelerate.commuted = lambda module: module
    try:
        yield
    finally:
        accelerate.commuted = saved


def certify_rate(model: torch.nn.Module, shape: tuple[int, ...], precision: str, n: int) -> float:
    """Samples/s of CERTIFY (n0 = 100, n) on 2 random inputs through the engine."""
    smooth = Smooth(model, 10, noise=GaussianNoise(0.25), precision=precision, batch_size=1024)
    x = torch.rand(2, *shape)
    smooth.certify_batch(x[:1], 100, 1000, 0.001)  # warm-up: layout, threads
    t = time.perf_counter()
    smooth.certify_batch(x, 100, n, 0.001)
    return 2 * (n + 100) / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--models", default=",".join(f"{a}:{s[1]}" for a, s in MODELS),
                        help="ARCH:SIDE,... of the models to measure (default: all three)")
    args = parser.parse_args()
    chosen = {tuple(m.split(":")) for m in args.models.split(",")}
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_name()}; torch {torch.__version__}; {torch.get_num_threads()} threads")
    print("| model | input | precision | part | as written, samples/s | commuted, samples/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for arch, shape in MODELS:
        if (arch, str(shape[1])) not in chosen:
            continue
        torch.manual_seed(0)
        model = build_model(arch, shape, 10).eval().to(memory_format=torch.channels_last)
        fast = commuted(model)
        x = torch.rand(1024, *shape).to(memory_format=torch.channels_last)
        for precision in ("fp32", "bf16"):
            plain, rewritten = (AutocastModel(m) if precision == "bf16" else m for m in (model, fast))
            with torch.inference_mode():
                assert torch.equal(plain(x), rewritten(x)), "the rewrite changed an output"
            rates = {"plain": 0.0, "fast": 0.0}
            for _ in range(args.repeats):  # alternate, so that drift falls on both
                rates["plain"] = max(rates["plain"], forward_rate(plain, x, 1))
                rates["fast"] = max(rates["fast"], forward_rate(rewritten, x, 1))
            label = f"| {arch} | {'×'.join(map(str, shape[1:]))} | {precision}"
            print(f"{label} | model | {rates['plain']:,.0f} | {rates['fast']:,.0f} | "
                  f"{rates['fast'] / rates['plain']:.2f}× |")
            if shape[1] == 28:
                before = after = 0.0
                for _ in range(max(1, args.repeats // 2)):  # alternate here too
                    with without_rewrite():
                        before = max(before, certify_rate(model, shape, precision, args.n))
                    after = max(after, certify_rate(model, shape, precision, args.n))
                print(f"{label} | CERTIFY, n = {args.n:,} | {before:,.0f} | {after:,.0f} | {after / before:.2f}× |")


if __name__ == "__main__":
    main()
