"""The README's Python example runs as written, after a model and results are where it says (`make demo`'s)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smoothcert import Smooth
from smoothcert.data import load_dataset
from smoothcert.pipeline import certify_dataset
from smoothcert.runs import RunOptions
from smoothcert.training import TrainConfig, train_base_model

pytestmark = pytest.mark.usefixtures("torch_single_thread")

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_api_example_runs(tmp_path, monkeypatch):
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README.md has no ```python block"
    monkeypatch.chdir(tmp_path)
    data = load_dataset("digits")
    model, _, _ = train_base_model(data, "mlp", TrainConfig(train_sigma=0.25, epochs=1), "runs/demo/model",
                                   progress=False)
    smooth = Smooth(model, data.num_classes, 0.25, seed=0)
    certify_dataset(smooth, data.x_test[:6], data.y_test[:6], "runs/demo/certify.tsv", n0=10, n=100, alpha=0.001,
                    arguments={"example": True}, options=RunOptions(progress=False))
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace  # the last block defined its names
