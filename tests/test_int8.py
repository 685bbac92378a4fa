"""The int8 base classifier: PyTorch's x86 static quantization, calibrated on noisy training inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from smoothcert import InvalidArgumentError, Smooth
from smoothcert.accelerate import calibration_inputs, quantize_int8
from smoothcert.cli import main
from smoothcert.data import load_dataset
from smoothcert.engine import Engine
from smoothcert.models import build_model
from smoothcert.noise import GaussianNoise
from smoothcert.training import TrainConfig, train

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def trained():
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model("lenet", data.input_shape, 10, [0.3], [0.4])
    train(model, data.x_train, data.y_train, TrainConfig(train_sigma=0.25, epochs=6, lr=3e-3, seed=0),
          progress=False)
    return model.eval(), data


def test_int8_model_agrees_with_fp32_on_noisy_inputs_and_is_deterministic(trained):
    model, data = trained
    noise = GaussianNoise(0.25)
    calibration = calibration_inputs(data.x_train, noise)
    assert calibration.shape == (4 * 256, *data.input_shape)
    q1, q2 = quantize_int8(model, calibration), quantize_int8(model, calibration)
    x = calibration_inputs(data.x_test, noise, count=300, copies=2, seed=5)
    with torch.inference_mode():
        fp32, a, b = model(x), q1(x), q2(x)
    assert torch.equal(a, b)  # the same model and calibration give the same int8 model
    agreement = float((fp32.argmax(1) == a.argmax(1)).float().mean())
    assert agreement > 0.97, agreement
    assert not torch.equal(fp32, a)  # it is a different function: quantized, not the float model
    assert any("quantized" in type(m).__module__ for m in q1.modules())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the float model is left as it was


def test_int8_engine_counts_are_close_to_fp32_and_the_manifest_says_int8(trained):
    model, data = trained
    noise = GaussianNoise(0.25)
    x = data.x_test[:6]
    calibration = calibration_inputs(data.x_train, noise)
    fp32 = Smooth(model, 10, noise=noise, seed=3).sample_counts(x, 2000, range(6), 1)
    int8 = Smooth(model, 10, noise=noise, seed=3, precision="int8", calibration=calibration)
    counts = int8.sample_counts(x, 2000, range(6), 1)
    assert counts.sum() == fp32.sum()
    assert np.abs(counts - fp32).max() / 2000 < 0.05  # same noise, a nearby function
    info = int8.engine_info()
    assert info["precision"] == "int8" and "int8" in info["base_classifier"] and info["calibration_inputs"] == 1024


def test_int8_needs_calibration_and_a_traceable_model(trained):
    model, data = trained
    with pytest.raises(InvalidArgumentError, match="needs calibration inputs"):
        Engine(model, precision="int8")
    with pytest.raises(InvalidArgumentError, match="--compile is not available"):
        Engine(model, precision="int8", compile=True, calibration=data.x_train[:4])
    with pytest.raises(InvalidArgumentError, match="only it takes them"):
        Engine(model, precision="fp32", calibration=data.x_train[:4])

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                return self.fc(x.flatten(1))
            return -self.fc(x.flatten(1))

    with pytest.raises(InvalidArgumentError, match=r"torch\.fx can trace") as err:
        quantize_int8(Branchy(), data.x_train[:8])
    assert "\n" not in str(err.value)


def test_cli_certifies_with_int8_and_records_it(tmp_path):
    runner = CliRunner()
    stem = tmp_path / "model"
    result = runner.invoke(main, ["train", "--epochs", "2", "--out", str(stem), "--quiet"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "int8.tsv"
    result = runner.invoke(main, ["certify", "--checkpoint", str(stem), "--sigma", "0.25", "--n", "200", "--max", "4",
                                  "--precision", "int8", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["engine"]["precision"] == "int8" and manifest["engine"]["calibration_inputs"] == 1024
    assert len(out.read_text().splitlines()) == 5
