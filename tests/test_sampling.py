import numpy as np
import pytest
import torch
from torch import nn

from smoothcert import GaussianNoise, InputError, Smooth
from smoothcert.engine import Engine
from smoothcert.sampling import BLOCK_SIZE, ArgmaxOutcome, derive_seed, make_generators

from .known import Buckets


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 10))


def test_counts_sum_to_n_and_match_known_probabilities():
    model = Buckets([0.4, 0.6])
    x = torch.tensor([[0.5, 0.0], [0.3, 0.0]])
    gens = make_generators(0, [0, 1], stream=1, device="cpu")
    counts = Engine(model, batch_size=999).count(x, GaussianNoise(0.2), [40_000, 7], gens, ArgmaxOutcome(3))
    assert counts.shape == (2, 3) and counts.dtype == np.int64
    assert counts.sum(axis=1).tolist() == [40_000, 7]
    expected = model.probabilities(x[0], 0.2)
    assert np.allclose(counts[0] / 40_000, expected, atol=0.01)


def test_batching_does_not_change_counts():
    """Same seed → same counts whether inputs go one by one or together, for any batch size."""
    model, x = small_cnn(), torch.rand(7, 1, 8, 8)
    reference = Smooth(model, 10, 0.5, batch_size=4096, seed=3).sample_counts(x, 1000, range(7), 1)
    for batch_size in (1, 100, BLOCK_SIZE, 1000):
        s = Smooth(model, 10, 0.5, batch_size=batch_size, seed=3)
        assert np.array_equal(s.sample_counts(x, 1000, range(7), 1), reference)
        one_by_one = np.concatenate([s.sample_counts(x[i : i + 1], 1000, [i], 1) for i in range(7)])
        assert np.array_equal(one_by_one, reference)


def test_seed_index_and_stream_change_the_noise():
    model, x = small_cnn(), torch.rand(1, 1, 8, 8)
    s = Smooth(model, 10, 1.0, seed=0)
    base = s.sample_counts(x, 2000, [0], 1)
    assert np.array_equal(base, s.sample_counts(x, 2000, [0], 1))
    assert not np.array_equal(base, s.sample_counts(x, 2000, [1], 1))
    assert not np.array_equal(base, s.sample_counts(x, 2000, [0], 0))
    assert not np.array_equal(base, Smooth(model, 10, 1.0, seed=1).sample_counts(x, 2000, [0], 1))
    assert len({derive_seed(s_, i, k) for s_ in range(3) for i in range(50) for k in range(3)}) == 450


def test_generators_continue_their_streams():
    """Two calls of n each on the same generators draw what one call of 2n would."""
    model, x = small_cnn(), torch.rand(2, 1, 8, 8)
    outcome = ArgmaxOutcome(10)
    gens = make_generators(5, [0, 1], 1, "cpu")
    engine = Engine(model, batch_size=1024)
    split = sum(engine.count(x, GaussianNoise(0.5), BLOCK_SIZE * 2, gens, outcome) for _ in range(2))
    whole = engine.count(x, GaussianNoise(0.5), BLOCK_SIZE * 4, make_generators(5, [0, 1], 1, "cpu"), outcome)
    assert np.array_equal(split, whole)


def test_custom_outcome_map_with_extra_outcome():
    class AbstainBelow:
        """class if max softmax ≥ 0.9 else outcome 10 (⊥)."""

        num_outcomes = 11

        def __call__(self, logits):
            conf, cls = logits.softmax(1).max(1)
            return torch.where(conf >= 0.9, cls, torch.full_like(cls, 10))

    model, x = small_cnn(), torch.rand(3, 1, 8, 8)
    s = Smooth(model, 10, 0.5, outcome_map=AbstainBelow())
    counts = s.sample_counts(x, 500, range(3), 1)
    assert counts.shape == (3, 11) and counts.sum() == 1500 and counts[:, 10].sum() > 0


def test_shape_and_class_mismatch_raise_input_error():
    model = small_cnn()
    with pytest.raises(InputError, match="do not fit the model"):
        Smooth(model, 10, 0.5).sample_counts(torch.rand(2, 1, 9, 9), 10, [0, 1], 1)
    with pytest.raises(InputError, match="num_classes"):
        Smooth(model, 5, 0.5).sample_counts(torch.rand(2, 1, 8, 8), 10, [0, 1], 1)
    with pytest.raises(InputError, match="NaN"):
        Smooth(model, 10, 0.5).sample_counts(torch.full((1, 1, 8, 8), float("nan")), 10, [0], 1)


def test_compiled_engine_gives_the_same_counts():
    model, x = small_cnn(), torch.rand(3, 1, 8, 8)
    eager = Smooth(model, 10, 0.5, batch_size=300, seed=2).sample_counts(x, 700, range(3), 1)
    compiled = Smooth(small_cnn(), 10, 0.5, batch_size=300, seed=2, compile=True).sample_counts(x, 700, range(3), 1)
    assert np.array_equal(eager, compiled)
