"""Feasible hypotheses under smoothing: a case worked by hand, and the closed forms against Monte Carlo."""

import numpy as np
import pytest

from smoothcert.errors import InvalidArgumentError
from smoothcert.studies.audit.hypotheses import BoxClass, IntervalClass, feasible_counts, interval_probability


def test_feasible_intervals_worked_by_hand():
    """Intervals with endpoints in {0, 1, 2, 3}: [0,1] [0,2] [0,3] [1,2] [1,3] [2,3]. Data: x = 1.5 labelled 1,
    x = 0.5 labelled 0. Smoothed value P = Φ(b − x) − Φ(a − x) at σ = 1 (Φ(0.5) = 0.6915, Φ(1.5) = 0.9332,
    Φ(2.5) = 0.9938):

    | interval | σ = 0 at 1.5, 0.5 | mistakes | P at 1.5 (σ = 1)          | P at 0.5 (σ = 1)          | mistakes |
    | [0, 1]   | 0, 1              | 2        | Φ(−0.5) − Φ(−1.5) = 0.242 | 2Φ(0.5) − 1 = 0.383       | 1        |
    | [0, 2]   | 1, 1              | 1        | Φ(0.5) − Φ(−1.5) = 0.625  | Φ(1.5) − Φ(−0.5) = 0.625  | 1        |
    | [0, 3]   | 1, 1              | 1        | Φ(1.5) − Φ(−1.5) = 0.866  | Φ(2.5) − Φ(−0.5) = 0.685  | 1        |
    | [1, 2]   | 1, 0              | 0        | 2Φ(0.5) − 1 = 0.383       | Φ(1.5) − Φ(0.5) = 0.242   | 1        |
    | [1, 3]   | 1, 0              | 0        | Φ(1.5) − Φ(−0.5) = 0.625  | Φ(2.5) − Φ(0.5) = 0.302   | 0        |
    | [2, 3]   | 0, 0              | 1        | Φ(1.5) − Φ(0.5) = 0.242   | Φ(2.5) − Φ(1.5) = 0.061   | 1        |

    ε = 0: 2 feasible at σ = 0, 1 at σ = 1. ε = ½ (one mistake): 5 at σ = 0, all 6 at σ = 1.
    """
    hyp = IntervalClass.from_grid([0, 1, 2, 3])
    assert [hyp.describe(k) for k in range(len(hyp))] == ["[0, 1]", "[0, 2]", "[0, 3]", "[1, 2]", "[1, 3]", "[2, 3]"]
    fc = feasible_counts(hyp, np.array([1.5, 0.5]), np.array([1, 0]), [0.0, 1.0], [0.0, 0.5])
    assert fc.counts.tolist() == [[2, 5], [1, 6]]
    assert fc.best_error.tolist() == [0.0, 0.0]
    assert hyp.describe(int(fc.best[1])) == "[1, 3]"
    p = hyp.probability(np.array([1.5, 0.5]), 1.0)
    assert p.round(3).tolist() == [[0.242, 0.383], [0.625, 0.625], [0.866, 0.685], [0.383, 0.242],
                                   [0.625, 0.302], [0.242, 0.061]]


def test_interval_and_box_probabilities_against_monte_carlo():
    rng = np.random.default_rng(0)
    sigma, m = 0.3, 200_000
    eps = sigma * rng.standard_normal((m, 2))
    a, b = np.array([0.2, 0.4]), np.array([0.6, 0.5])
    x = np.array([0.45, 0.9])
    mc = [[np.mean((lo <= xi + eps[:, 0]) & (xi + eps[:, 0] <= hi)) for xi in x] for lo, hi in zip(a, b, strict=True)]
    tol = 5 * 0.5 / np.sqrt(m)
    assert np.allclose(interval_probability(a, b, x, sigma), mc, atol=tol)
    boxes = BoxClass.from_grid([0.2, 0.5, 0.8])  # intervals [0.2,0.5] [0.2,0.8] [0.5,0.8]
    points = np.array([[0.4, 0.6], [0.7, 0.1]])
    p = boxes.probability(points, sigma)
    assert p.shape == (9, 2)
    k = 1 * 3 + 2  # box [0.2, 0.8] × [0.5, 0.8]
    assert boxes.describe(k) == "[0.2, 0.8] × [0.5, 0.8]"
    inside = [np.mean((0.2 <= px + eps[:, 0]) & (px + eps[:, 0] <= 0.8) & (0.5 <= py + eps[:, 1])
                      & (py + eps[:, 1] <= 0.8)) for px, py in points]
    assert np.allclose(p[k], inside, atol=tol)


def test_counts_agree_with_a_direct_loop_and_fall_to_zero():
    rng = np.random.default_rng(1)
    x = rng.random((60, 2))
    y = ((x[:, 0] > 0.3) & (x[:, 0] < 0.7) & (x[:, 1] > 0.2) & (x[:, 1] < 0.8)).astype(int)
    boxes = BoxClass.from_grid(np.linspace(0, 1, 6))
    sigmas, eps = [0.0, 0.1, 0.6], [0.0, 0.1]
    fc = feasible_counts(boxes, x, y, sigmas, eps, chunk=7)
    for s, sigma in enumerate(sigmas):
        errors = ((boxes.probability(x, sigma) > 0.5) != y.astype(bool)).mean(axis=1)
        assert fc.counts[s].tolist() == [int(np.sum(errors <= e + 1e-12)) for e in eps]
        assert fc.best_error[s] == errors.min()
    # At σ = 0.6 no box inside [0, 1]² keeps a point with P > ½, so only the all-0 labelling is left, which
    # misses every positive point: nothing fits within 10%.
    assert fc.counts[-1].tolist() == [0, 0] and fc.best_error[-1] == pytest.approx(y.mean())


@pytest.mark.parametrize("call", [
    lambda: IntervalClass.from_grid([1.0]),
    lambda: feasible_counts(IntervalClass.from_grid([0, 1]), np.array([0.5]), np.array([2]), [0.1], [0.0]),
    lambda: feasible_counts(IntervalClass.from_grid([0, 1]), np.array([0.5]), np.array([1]), [-0.1], [0.0]),
    lambda: feasible_counts(IntervalClass.from_grid([0, 1]), np.array([0.5]), np.array([1]), [0.1], [1.5]),
    lambda: BoxClass.from_grid([0, 1]).probability(np.array([0.5, 0.5]), 0.1),
])
def test_bad_arguments(call):
    with pytest.raises(InvalidArgumentError):
        call()
