"""What a new user trips over: pickled weights, tiny .npz data sets, a demo rerun with other settings, the three
meanings of alpha, and how long a certify run will take."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import main
from smoothcert.data import load_dataset
from smoothcert.training import TrainConfig, train_base_model

pytestmark = pytest.mark.usefixtures("torch_single_thread")

FAST = ["--sigma", "0.25", "--n0", "10", "--n", "50", "--max", "3", "--no-timing"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smoothcert: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def stem(tmp_path_factory) -> Path:
    stem = tmp_path_factory.mktemp("friction") / "model"
    train_base_model(load_dataset("digits"), "mlp", TrainConfig(epochs=1), stem, progress=False)
    return stem


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_a_pytorch_pickle_as_checkpoint_or_weights_gets_the_conversion(tmp_path, suffix):
    pickled = tmp_path / f"model{suffix}"
    pickled.write_bytes(b"never read")
    convert = "PyTorch pickles are not loaded; convert to safetensors with"
    one_line_error(invoke("certify", "--checkpoint", pickled, *FAST, "--out", tmp_path / "a.tsv"), convert,
                   "save_file")
    one_line_error(invoke("certify", "--model", "tests.user_models:factory", "--weights", pickled,
                          "--dataset", "digits", *FAST, "--out", tmp_path / "b.tsv"), convert)


def tiny_npz(path: Path) -> Path:
    """3 classes with 3 images each: the default 20 % test share (2 images) cannot hold every class."""
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.random((9, 1, 8, 8), dtype=np.float32), y=np.repeat(np.arange(3), 3))
    return path


def test_test_size_makes_a_tiny_npz_usable(tmp_path):
    data = tiny_npz(tmp_path / "tiny.npz")
    line = one_line_error(invoke("train", "--dataset", data, "--arch", "mlp", "--epochs", 1, "--quiet",
                                 "--out", tmp_path / "a"), "test size")
    assert "--test-size" in line
    result = invoke("train", "--dataset", data, "--test-size", 3, "--arch", "mlp", "--epochs", 1, "--quiet",
                    "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    split = json.loads((tmp_path / "b.json").read_text())["split"]
    assert split["test_size"] == 3 and split["train_size"] == 6
    certified = invoke("certify", "--checkpoint", tmp_path / "b", "--dataset", data, "--test-size", 3, *FAST,
                       "--quiet", "--out", tmp_path / "results.tsv")
    assert certified.exit_code == 0, certified.output
    assert certified.stderr == ""  # the model's own split: nothing to warn about


def test_test_size_works_for_every_seeded_loader():
    assert len(load_dataset("digits", test_size=100).x_test) == 100
    assert len(load_dataset("blobs", test_size=30).x_test) == 30
    assert len(load_dataset("moons", test_size=50).x_test) == 50


def test_the_old_alpha_still_works_with_a_note(stem, tmp_path):
    new = invoke("certify", "--checkpoint", stem, *FAST, "--quiet", "--failure-prob", 0.01, "--out", tmp_path / "n.tsv")
    assert new.exit_code == 0 and new.stderr == "", new.output
    old = invoke("certify", "--checkpoint", stem, *FAST, "--quiet", "--alpha", 0.01, "--out", tmp_path / "o.tsv")
    assert old.exit_code == 0, old.output
    assert old.stderr.strip() == "smoothcert: note: --alpha is deprecated; use --failure-prob"
    assert (tmp_path / "n.tsv").read_bytes() == (tmp_path / "o.tsv").read_bytes()
    assert json.loads((tmp_path / "o.json").read_text())["arguments"]["alpha"] == 0.01


@pytest.mark.parametrize("args", [["--alpha", "0.01", "--failure-prob", "0.01"],
                                  ["--failure-prob", "0.01", "--alpha", "0.01"]])
def test_old_and_new_name_together_are_refused(stem, tmp_path, args):
    one_line_error(invoke("certify", "--checkpoint", stem, *FAST, "--quiet", *args, "--out", tmp_path / "x.tsv"),
                   "--failure-prob")
    assert not (tmp_path / "x.tsv").exists()


@pytest.mark.parametrize(("command", "new", "old"), [
    (["certify"], "--failure-prob", "--alpha"),
    (["audit", "disparity"], "--failure-prob", "--alpha"),
    (["tradeoff", "disks"], "--train-noise-alphas", "--alphas"),
    (["tradeoff", "grid"], "--train-noise-alphas", "--alphas"),
    (["tradeoff", "grid"], "--failure-prob", "--cert-alpha"),
    (["mix", "eval"], "--mixing-alphas", "--alphas"),
    (["mix", "eval"], "--mixing-alpha-range", "--alpha-range"),
    (["mix", "certify"], "--mixing-alphas", "--alphas"),
    (["mix", "certify"], "--failure-prob", "--alpha"),
])
def test_each_alpha_has_a_name_of_its_own_in_the_help(command, new, old):
    text = invoke(*command, "--help").output
    assert new in text
    assert f"{old} " not in text.replace(f"former name: {old}", "")


def test_certify_prints_the_expected_time_first(stem, tmp_path):
    result = invoke("certify", "--checkpoint", stem, *FAST, "--out", tmp_path / "t.tsv")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("expected time: about ") and "3 inputs × 60 samples" in first
    assert "samples/s (measured now on cpu)" in first
    second = result.stdout.splitlines()[1]  # what the engine chose, and how long choosing took
    assert second.startswith("engine: batch ") and "fp32 (tuned in " in second


def test_demo_with_another_n_points_to_fresh(tmp_path):
    out = tmp_path / "demo"
    first = invoke("demo", "--out", out, "--n", 20, "--quiet", "--no-compile")
    assert first.exit_code == 0, first.output
    rows = (out / "certify.tsv").read_bytes()
    line = one_line_error(invoke("demo", "--out", out, "--n", 30, "--quiet", "--no-compile"), "--fresh")
    assert "cannot resume" in line
    assert (out / "certify.tsv").read_bytes() == rows


HELP_WITHOUT_TORCH = """
import sys
import click
from click.testing import CliRunner
import smoothcert
from smoothcert.cli import main

def paths(group, prefix):
    for name, command in group.commands.items():
        yield [*prefix, name]
        if isinstance(command, click.Group):
            yield from paths(command, [*prefix, name])

helped = 0
for path in [[], *paths(main, [])]:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output, (path, result.output)
    helped += 1
heavy = sorted(m for m in ("torch", "scipy", "scipy.stats", "matplotlib") if m in sys.modules)
print(helped, heavy)
"""


def test_help_of_every_command_loads_no_torch_scipy_or_matplotlib():
    """`smoothcert … --help` answers at once: the package and the command line load PyTorch, SciPy and matplotlib
    only when a command runs (they take seconds to import). Checked in a fresh interpreter, since this one has
    them loaded already."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", HELP_WITHOUT_TORCH], capture_output=True, text=True, check=True)
    helped, heavy = out.stdout.split(" ", 1)
    assert int(helped) > 30 and heavy.strip() == "[]", out.stdout


def test_the_package_loads_its_public_names_on_use():
    import smoothcert

    assert smoothcert.Smooth.__name__ == "Smooth" and smoothcert.make_noise("gaussian", 0.5).sigma == 0.5
    assert {"Smooth", "GaussianNoise", "ABSTAIN"} <= set(dir(smoothcert))
    with pytest.raises(AttributeError, match="no_such_name"):
        smoothcert.no_such_name  # noqa: B018
