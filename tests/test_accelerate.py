import numpy as np
import pytest
import torch
from torch import nn

from smoothcert import InvalidArgumentError, Smooth
from smoothcert.accelerate import AutocastModel, engine_model, flops_per_sample, matmul_rate, tune_batch_size


def test_flops_per_sample_counts_a_linear_layer():
    assert flops_per_sample(nn.Linear(30, 7), (30,)) == 2 * 30 * 7


def test_bf16_engine_is_close_to_fp32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    x = torch.rand(4, 1, 8, 8)
    fp32 = Smooth(model, 10, 0.3, seed=1).sample_counts(x, 4000, range(4), 1)
    bf16 = Smooth(model, 10, 0.3, seed=1, precision="bf16").sample_counts(x, 4000, range(4), 1)
    assert bf16.sum() == fp32.sum()
    # Same noise, slightly different function: the class frequencies agree to within a few percent.
    assert np.abs(bf16 - fp32).max() / 4000 < 0.05
    assert AutocastModel(model)(x).dtype == torch.float32


def test_unknown_precision():
    with pytest.raises(InvalidArgumentError, match="precision"):
        engine_model(nn.Linear(2, 2), precision="fp8")


def test_tuning_and_matmul_rate_return_measurements():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    assert tune_batch_size(model, (1, 8, 8), candidates=(64, 128), seconds=0.01) in (64, 128)
    assert matmul_rate(size=128, seconds=0.01) > 0
