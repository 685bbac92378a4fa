import pytest
import torch
from scipy.stats import norm

from smoothcert import ABSTAIN, InputError, InvalidArgumentError, Smooth

from .known import Buckets


class Constant(torch.nn.Module):
    """Always predicts class ``c`` whatever the noise: p_c = 1."""

    def __init__(self, c: int, num_classes: int = 3) -> None:
        super().__init__()
        self.c, self.k = c, num_classes

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.full((len(x),), self.c), self.k).float()


def test_all_correct_gives_cohens_ceiling():
    smooth = Smooth(Constant(2), 3, 0.5)
    cert = smooth.certify(torch.zeros(4), n0=10, n=1000, alpha=0.001)
    assert cert.prediction == 2 and cert.count_top == 1000
    assert cert.radius == pytest.approx(0.5 * norm.ppf(0.001 ** (1 / 1000)))
    assert cert.radius == pytest.approx(0.5 * 2.46, abs=0.005)


def test_abstains_without_majority():
    model = Buckets([0.0])  # p = ½ / ½ at x₁ = 0
    smooth = Smooth(model, 2, 1.0, seed=0)
    certs = smooth.certify_batch(torch.zeros(20, 2), 10, 2000, 0.01)
    assert all(c.prediction == ABSTAIN and c.radius == 0.0 for c in certs)
    assert all(c.guess in (0, 1) and c.p_a_lower < 0.5 for c in certs)
    preds = smooth.predict_batch(torch.zeros(20, 2), 2000, 0.001)
    assert sum(p.prediction == ABSTAIN for p in preds) >= 18


def test_single_equals_batch_and_default_indices_are_independent():
    model = Buckets([0.1, 0.3])
    x = torch.tensor([[0.2, 0.0], [0.35, 0.0], [0.0, 0.0]])
    batch = Smooth(model, 3, 0.1, seed=4).certify_batch(x, 20, 500, 0.01, indices=[5, 6, 7])
    singles = [Smooth(model, 3, 0.1, seed=4).certify(x[i], 20, 500, 0.01, index=5 + i) for i in range(3)]
    assert batch == singles
    # Without indices a counter gives each call fresh noise, reproducibly from the seed.
    a, b = Smooth(model, 3, 0.3, seed=1), Smooth(model, 3, 0.3, seed=1)
    first = [a.certify(x[0], 20, 500, 0.01) for _ in range(5)]
    assert len({c.count_top for c in first}) > 1
    assert first == [b.certify(x[0], 20, 500, 0.01) for _ in range(5)]


def test_predict_returns_clear_winner():
    pred = Smooth(Constant(1), 3, 0.25).predict(torch.zeros(2), n=100, alpha=0.001)
    assert pred.prediction == 1 and pred.count_top == 100 and pred.count_runner_up == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma": 0}, "sigma"),
        ({"sigma": -0.5}, "sigma"),
        ({"sigma": 0.5, "num_classes": 1}, "num_classes"),
        ({"sigma": 0.5, "batch_size": 0}, "batch_size"),
        ({"sigma": None}, "sigma"),
    ],
)
def test_bad_construction(kwargs, match):
    args = {"num_classes": 3, **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        Smooth(Constant(0), **args)


@pytest.mark.parametrize(
    ("n0", "n", "alpha", "match"),
    [(0, 10, 0.1, "n0"), (10, 0, 0.1, "n"), (10, 10, 0.0, "alpha"), (10, 10, 1.0, "alpha"), (1.5, 10, 0.1, "n0")],
)
def test_bad_certify_arguments(n0, n, alpha, match):
    with pytest.raises(InvalidArgumentError, match=match):
        Smooth(Constant(0), 3, 0.5).certify(torch.zeros(2), n0, n, alpha)


def test_bad_inputs():
    smooth = Smooth(Constant(0), 3, 0.5)
    with pytest.raises(InputError, match="NaN or inf"):
        smooth.certify(torch.tensor([0.0, float("inf")]), 10, 10, 0.1)
    with pytest.raises(InputError, match="batch"):
        smooth.certify_batch(torch.zeros(3), 10, 10, 0.1)


class _NaNForSomeInputs(torch.nn.Module):
    """Logits [N, 3] that are NaN wherever the first coordinate is above 0.5: a broken model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([x[:, 0], 1 - x[:, 0], torch.zeros_like(x[:, 0])], dim=1)
        return torch.where((x[:, :1] > 0.5), torch.full_like(logits, float("nan")), logits)


def test_a_model_with_nan_logits_is_never_certified():
    """A model returning NaN logits used to be certified (argmax of NaN is class 0): the engine now refuses
    with an InputError naming the input, for CERTIFY, PREDICT and sequential CERTIFY alike."""
    smooth = Smooth(_NaNForSomeInputs(), 3, 0.01, batch_size=64, seed=0)
    x = torch.tensor([[0.1, 0.0], [0.9, 0.0]])
    with pytest.raises(InputError, match=r"NaN or inf logits .* input 11"):
        smooth.certify_batch(x, 10, 100, 0.01, indices=[10, 11])
    with pytest.raises(InputError, match="input 11"):
        smooth.predict_batch(x, 100, 0.01, indices=[10, 11])
    with pytest.raises(InputError, match="input 11"):
        smooth.certify_sequential(x, 10, 0.01, indices=[10, 11])
    assert smooth.certify_batch(x[:1], 10, 100, 0.01, indices=[10])[0].prediction == 1  # the healthy input
