import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from smoothcert import InvalidArgumentError, Smooth, sampling
from smoothcert.accelerate import (
    AutocastModel,
    bf16_emulated,
    commuted,
    cpu_features,
    engine_model,
    flops_per_sample,
    gemm_rate,
    matmul_rate,
    tune_batch,
    tune_batch_size,
)
from smoothcert.noise import GaussianNoise


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


def test_matmul_rate_is_a_measurement():
    assert matmul_rate(size=128, seconds=0.01) > 0


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_gemm_rate_is_a_measurement_for_each_precision(precision):
    rate = gemm_rate(precision, seconds=0.02, channels=64, side=8)
    assert rate > 0 and math.isfinite(rate)
    with pytest.raises(InvalidArgumentError, match="precision"):
        gemm_rate("fp8")


class PacedModel(nn.Module):
    """Takes batch_size / rate[batch_size] seconds per call: a known throughput profile."""

    def __init__(self, rates: dict[int, float]) -> None:
        super().__init__()
        self.rates, self.sizes = rates, []

    def forward(self, x):
        self.sizes.append(len(x))
        time.sleep(len(x) / self.rates[len(x)])
        return torch.zeros(len(x), 2)


def test_tuning_finds_the_peak_and_stops_after_it():
    # Throughput rises to a peak at 128, then falls: the search picks 128 and gives up two sizes later.
    # Calls take 16, 16, 4, 32 and 64 ms: the peak stands clear of sleep jitter on a busy machine.
    model = PacedModel({32: 2_000, 64: 4_000, 128: 32_000, 256: 8_000, 512: 8_000, 1024: 1e9})
    assert tune_batch_size(model, (3,), candidates=(32, 64, 128, 256, 512, 1024), seconds=0.0) == 128
    assert sorted(set(model.sizes)) == [32, 64, 128, 256, 512]


class CompilingModel(PacedModel):
    """A PacedModel whose first call at each batch size also takes ``compile_s`` (as a compiled model's does)."""

    def __init__(self, rates: dict[int, float], compile_s: float) -> None:
        super().__init__(rates)
        self.compile_s = compile_s

    def forward(self, x):
        if len(x) not in self.sizes:
            time.sleep(self.compile_s)
        return super().forward(x)


def test_compilation_does_not_use_up_the_tuning_budget():
    # Each size's first call "compiles" for longer than the whole budget; the measuring itself is short. The
    # search must still climb to the peak at 256 (counting the compilation stopped it at 32).
    model = CompilingModel({32: 4_000, 64: 8_000, 128: 16_000, 256: 32_000, 512: 16_000, 1024: 8_000}, 0.3)
    size, _ = tune_batch(model, (3,), candidates=(32, 64, 128, 256, 512, 1024), seconds=0.0, budget=0.25)
    assert size == 256


def test_auto_batch_size_is_measured_once_and_changes_no_count():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))
    x = torch.rand(3, 1, 8, 8)
    auto = Smooth(model, 10, 0.3, seed=2)
    assert auto.batch_size == "auto"
    counts = auto.sample_counts(x, 700, range(3), 1)
    assert isinstance(auto.batch_size, int) and auto.engine_info()["batch_size"] == auto.batch_size
    fixed = Smooth(model, 10, 0.3, seed=2, batch_size=100).sample_counts(x, 700, range(3), 1)
    np.testing.assert_array_equal(counts, fixed)


def test_channels_last_engine_leaves_the_model_trainable():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 10))
    x = torch.rand(2, 1, 8, 8)
    # The plain NCHW model on the same noise, before the engine changes its layout.
    generators = sampling.make_generators(3, range(2), 1, "cpu")
    with torch.inference_mode():
        rows = [sampling.forward(model, b.rows).argmax(1) for b in
                sampling.noisy_batches(x, GaussianNoise(0.3), 500, generators, 256)]
    reference = np.bincount(torch.cat(rows).numpy() + 10 * np.repeat([0, 1], 500), minlength=20).reshape(2, 10)
    assert not model[2].weight.is_contiguous(memory_format=torch.channels_last)
    engine = engine_model(model)
    with torch.inference_mode():
        engine(x)
    assert model[2].weight.is_contiguous(memory_format=torch.channels_last)
    # Converted outside inference mode, so the parameters still take gradients.
    model(x).sum().backward()
    assert model[2].weight.grad is not None
    # Another layout is another kernel: a copy near a decision boundary may flip, so the counts agree up to a
    # few flips, never exactly by construction (exact equality fails on CPUs with AMX).
    counts = Smooth(model, 10, 0.3, seed=3, batch_size=256).sample_counts(x, 500, range(2), 1)
    assert np.abs(counts - reference).sum() <= 2 * 2 * 5


def small_image_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10))


def test_auto_layout_measures_both_and_keeps_the_faster():
    from smoothcert.engine import Engine

    engine = Engine(small_image_cnn())
    size = engine.batch_size_for((1, 8, 8))
    tuning = engine.tuning()
    tried = tuning["samples_per_second"]
    assert {key.split("/")[0] for key in tried} == {"channels_last", "contiguous"}
    best = max(tried, key=tried.get)
    assert best == f"{tuning['layout']}/eager/{size}" and engine.layout == tuning["layout"]
    assert engine.info()["tuning"] == tuning and engine.info()["layout"] == tuning["layout"]
    assert tuning["seconds"] >= 0 and tuning["compile"] is False
    # The model runs in the chosen layout, and counts stay what the other layout gives (up to kernel rounding).
    x = torch.rand(3, 1, 8, 8)
    chosen = Smooth(engine, 10, 0.3, seed=2).sample_counts(x, 2000, range(3), 1)
    other = "contiguous" if engine.layout == "channels_last" else "channels_last"
    fixed = Smooth(small_image_cnn(), 10, 0.3, seed=2, batch_size=size, layout=other)
    fixed = fixed.sample_counts(x, 2000, range(3), 1)
    assert np.abs(chosen - fixed).max() <= 20


def test_auto_compile_keeps_the_faster_of_eager_and_compiled():
    from smoothcert.engine import Engine

    engine = Engine(small_image_cnn(), compile="auto", layout="channels_last")
    size = engine.batch_size_for((1, 8, 8))
    tuning = engine.tuning()
    tried = tuning["samples_per_second"]
    eager, compiled = f"channels_last/eager/{size}", f"channels_last/compiled/{size}"
    assert eager in tried
    if compiled in tried:  # compilation worked on this machine: the faster one is kept
        assert tuning["compile"] is (tried[compiled] > tried[eager])
    else:
        assert tuning["compile"] is False
    assert engine.info()["compile"] is tuning["compile"]


def test_bad_layout_or_compile_is_refused():
    from smoothcert.engine import Engine

    with pytest.raises(InvalidArgumentError, match="layout"):
        Engine(nn.Linear(2, 2), layout="nhwc")
    with pytest.raises(InvalidArgumentError, match="compile"):
        Engine(nn.Linear(2, 2), compile="sometimes")


def test_commuted_moves_each_relu_after_its_max_pooling_and_changes_no_output():
    """ReLU before max-pooling becomes ReLU after it (nested Sequentials, 1-D/2-D, padding, ceil mode, inplace):
    exactly the same function, since max-pooling selects one element per window and ReLU is monotone; the
    outputs are therefore compared bit for bit, which for this identity is the claim itself."""
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(inplace=True),
                          nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True))
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), inner, nn.Flatten(1, 2),
                          nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(32, 3)).eval()
    x = torch.randn(5, 1, 12, 12)
    expected = model(x)
    order = [type(m) for m in model.modules()]
    fast = commuted(model)
    assert [type(m) for m in fast] == [nn.Conv2d, nn.MaxPool2d, nn.ReLU, nn.Sequential, nn.Flatten, nn.MaxPool1d,
                                       nn.ReLU, nn.Flatten, nn.Linear]
    assert [type(m) for m in fast[3]] == [nn.Conv2d, nn.MaxPool2d, nn.ReLU]
    assert [type(m) for m in model.modules()] == order  # the user's model is left as it was
    assert all(a is b for a, b in zip(fast.parameters(), model.parameters(), strict=True))  # shared weights
    assert torch.equal(fast(x), expected) and torch.equal(AutocastModel(fast)(x), AutocastModel(model)(x))
    # The engine runs the view (in channels-last layout, whose convolutions round differently: close, not equal).
    assert torch.allclose(engine_model(model)(x), expected, atol=1e-5)


def test_commuted_leaves_what_it_cannot_prove_alone():
    class Custom(nn.Sequential):
        def forward(self, x):
            return super().forward(x) * 2

    kept = [nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, return_indices=True)),  # returns indices: not a plain pooling
            nn.Sequential(nn.GELU(), nn.MaxPool2d(2)),  # not monotone: max and GELU do not commute
            nn.Sequential(nn.ReLU(), nn.AvgPool2d(2)),  # averaging does not commute with ReLU
            Custom(nn.ReLU(), nn.MaxPool2d(2))]  # its own forward: not rebuilt
    for model in kept:
        assert commuted(model) is model


def test_bf16_is_emulated_exactly_where_the_cpu_lacks_bf16_instructions():
    features = set(cpu_features())
    if not features:
        pytest.skip("no /proc/cpuinfo flags to compare with")
    if {"avx512_bf16", "amx_bf16"} & features:  # native bf16: oneDNN's kernels run
        assert not bf16_emulated()
    if not {"avx512f", "amx_bf16"} & features:  # AVX2 only: the reference path
        assert bf16_emulated()
    assert not bf16_emulated("cuda")  # a GPU decides for itself


@pytest.mark.parametrize(("precision", "emulated", "noted"), [("bf16", True, True), ("bf16", False, False),
                                                               ("fp32", True, False)])
def test_the_engine_line_says_when_bf16_is_emulated(monkeypatch, precision, emulated, noted):
    import smoothcert.accelerate as accelerate
    from smoothcert.cli.common import tuning_line

    monkeypatch.setattr(accelerate, "bf16_emulated", lambda device="cpu": emulated)
    engine = Smooth(nn.Linear(4, 2), 2, 0.25, precision=precision, batch_size=8).engine
    line = tuning_line(engine)
    assert line.startswith("engine: batch 8, ") and f"{precision} (as given)" in line
    assert ("runs emulated" in line) == noted and "\n" not in line
