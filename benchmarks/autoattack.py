"""What AutoAttack's ensemble costs, and how strong it is, against the Adversarial Robustness Toolbox's ensemble
(APGD-CE + APGD-DLR, 100 iterations, + Square, 5,000 queries) on the same model, inputs and ε, in one run.

Needs a trained `smoothcert mix train` run folder (the robust model and the mixtures are where the attacks differ:
an undefended model falls to APGD-CE alone) and, for the baseline, ``pip install adversarial-robustness-toolbox``.

    python benchmarks/autoattack.py --run runs/results/mixing-mnist/seed_0 --data-dir ../shared/data/mnist \\
        --alphas 1,0.6 --n 200 --eps 0.4 --threads 2

Prints, per mixing weight α (1: the robust model), seconds and robust accuracy of each ensemble and the ratio of
their times (ART / smoothcert).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import machine_line
from torch import nn

from smoothcert.attacks import autoattack, worst_case_correct
from smoothcert.models import MixedClassifier
from smoothcert.studies.mixing.job import load_run_models, run_dataset


def art_ensemble(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """ART's APGD-CE, APGD-DLR and Square in sequence, each on the inputs the earlier ones left correct."""
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(model, loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]), nb_classes=10,
                            clip_values=(0.0, 1.0))
    attacks = [AutoProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=100, batch_size=256,
                                            loss_type=loss, verbose=False)
               for loss in ("cross_entropy", "difference_logits_ratio")]
    attacks.append(SquareAttack(clf, norm=np.inf, eps=eps, max_iter=5000, batch_size=256, verbose=False))
    np.random.seed(0)  # noqa: NPY002 -- ART draws from NumPy's global generator
    xs, ys = x.numpy(), y.numpy()
    adv = xs.copy()
    robust = clf.predict(xs).argmax(1) == ys
    for attack in attacks:
        idx = np.flatnonzero(robust)
        if idx.size == 0:
            break
        cand = attack.generate(xs[idx], y=np.eye(10, dtype=np.float32)[ys[idx]])
        broken = clf.predict(cand).argmax(1) != ys[idx]
        adv[idx[broken]], robust[idx[broken]] = cand[broken], False
    return torch.from_numpy(adv)


def timed(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack) -> tuple[float, float]:
    start = time.perf_counter()
    correct = worst_case_correct(model, x, y, [attack], batch_size=250)
    return time.perf_counter() - start, float(correct.float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--alphas", default="1,0.6")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--eps", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line())
    g, h = load_run_models(args.run, "cpu")
    data = run_dataset(args.run, data_dir=args.data_dir, split="test")
    x, y = data.x_test[: args.n], data.y_test[: args.n]
    print(f"{args.n} test inputs of {args.run}, ε = {args.eps:g} (ℓ∞)")
    print(f"{'α':>5} {'smoothcert s':>13} {'robust':>7} {'ART s':>8} {'robust':>7} {'ART/smoothcert':>15}")
    for alpha in (float(a) for a in args.alphas.split(",")):
        model = MixedClassifier(g, h, alpha=alpha).eval()
        ours = timed(model, x, y, lambda m, xb, yb: autoattack(m, xb, yb, args.eps))
        try:
            art = timed(model, x, y, lambda m, xb, yb: art_ensemble(m, xb, yb, args.eps))
        except ImportError:
            print(f"{alpha:5g} {ours[0]:13.1f} {ours[1]:7.3f}  (ART not installed: no baseline)")
            continue
        print(f"{alpha:5g} {ours[0]:13.1f} {ours[1]:7.3f} {art[0]:8.1f} {art[1]:7.3f} {art[0] / ours[0]:14.2f}×")


if __name__ == "__main__":
    main()
