"""`--model` imports the user's module without changing what the package imports: a file in the working folder
named like a library the package uses (sklearn.py) is never executed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from smoothcert.errors import CheckpointError, InvalidArgumentError
from smoothcert.models import load_user_model
from tests import user_models

SHADOW = "from pathlib import Path\nPath('SHADOW_RAN').write_text('the working folder shadowed sklearn')\n"


def run_cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "smoothcert"
    # -P: a plain `python -c` would itself put the working folder first; the console script does not.
    command = [str(script)] if script.is_file() else [sys.executable, "-P", "-m", "smoothcert.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([*command, *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=120, check=False)


@pytest.mark.parametrize("spec", ["my_models:factory", "my_models.py:factory"])
def test_a_sklearn_py_in_the_working_folder_is_never_run(tmp_path, spec):
    shutil.copy(Path(user_models.__file__), tmp_path / "my_models.py")
    (tmp_path / "sklearn.py").write_text(SHADOW)
    proc = run_cli("certify", "--model", spec, "--dataset", "digits", "--sigma", 0.25, "--n0", 10, "--n", 20,
                   "--max", 2, "--quiet", "--out", tmp_path / "r.tsv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "SHADOW_RAN").exists()


def test_a_file_path_is_imported_from_its_location(tmp_path):
    (tmp_path / "net.py").write_text("from torch import nn\n\ndef make():\n    return nn.Linear(2, 3)\n")
    before = list(sys.path)
    model = load_user_model(f"{tmp_path / 'net.py'}:make")
    assert isinstance(model, nn.Linear)
    assert sys.path == before


def test_an_importable_module_leaves_sys_path_alone():
    before = list(sys.path)
    assert isinstance(load_user_model("tests.user_models:factory"), nn.Module)
    assert sys.path == before


@pytest.mark.parametrize(("source", "fragment"), [
    ("def make(:\n", "cannot import"),
    ("def make():\n    raise RuntimeError('boom')\n", "boom"),
    ("raise ValueError('at import')\n", "at import"),
])
def test_a_broken_user_module_is_one_typed_error(tmp_path, source, fragment):
    (tmp_path / "broken.py").write_text(source)
    with pytest.raises(InvalidArgumentError, match=fragment):
        load_user_model(f"{tmp_path / 'broken.py'}:make")


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_pytorch_pickles_as_weights_get_the_conversion(tmp_path, suffix):
    weights = tmp_path / f"net{suffix}"
    weights.write_bytes(b"not loaded")
    with pytest.raises(CheckpointError, match="PyTorch pickles are not loaded; convert to safetensors"):
        load_user_model("tests.user_models:factory", weights)
