"""Output that cannot be written, and user code that fails, are one line and exit 2, found before any work.

The tests run as root, whom permission bits do not stop, so a read-only folder is simulated: the write probe
of :func:`smoothcert.validate.check_output_folder` (a temporary file created and removed in the folder) is
made to fail with EACCES for one folder, as it does for any user in a folder without write permission and
for root on a read-only file system. An output path under a regular file (which fails for root too) is walked
for every command in tests/test_bad_input_walk.py.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import smoothcert.validate as validate
from smoothcert.cli import main
from smoothcert.errors import InvalidArgumentError

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TINY = ["--sigma", "0.25", "--n0", "10", "--n", "20", "--max", "2", "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("smoothcert: error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def read_only(tmp_path, monkeypatch) -> Path:
    """A folder that takes no new file (as a read-only folder would, for a user other than root)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    real = validate._probe_folder

    def probe(path: Path) -> None:
        if Path(path).resolve() == folder.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real(path)

    monkeypatch.setattr(validate, "_probe_folder", probe)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, torch_single_thread) -> Path:
    stem = tmp_path_factory.mktemp("ckpt") / "model"
    result = invoke("train", "--epochs", 1, "--out", stem, "--quiet")
    assert result.exit_code == 0, result.output
    return stem


@pytest.fixture(scope="module")
def results(tmp_path_factory, checkpoint) -> Path:
    out = tmp_path_factory.mktemp("results") / "certify.tsv"
    result = invoke("certify", "--checkpoint", checkpoint, *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_output_checks(tmp_path, read_only):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for check in (validate.check_output_folder, validate.check_output_file):
        for bad, fragment in ((afile / "out", "lies under the file"), (read_only / "out", "cannot write in"),
                              (read_only / "deeper" / "out", "cannot write in")):
            with pytest.raises(InvalidArgumentError, match=fragment):
                check(bad)
        assert check(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"  # creates nothing
    assert not (tmp_path / "new").exists()
    with pytest.raises(InvalidArgumentError, match="is a file"):
        validate.check_output_folder(afile)
    with pytest.raises(InvalidArgumentError, match="is a folder"):
        validate.check_output_file(tmp_path)


def test_train_into_a_read_only_folder_is_refused_before_training(read_only, monkeypatch):
    """It was refused only after the whole training, with a traceback."""
    import smoothcert.training.base_model as base_model

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the output was checked")

    monkeypatch.setattr(base_model, "new_zoo_model", no_training)
    result = invoke("train", "--epochs", 1, "--out", read_only / "model", "--quiet")
    assert_one_line_error(result, "cannot write in", str(read_only))
    assert list(read_only.iterdir()) == []


def test_analyze_plot_into_a_read_only_folder(results, read_only):
    assert_one_line_error(invoke("analyze", results, "--plot", read_only / "curve"), "plot", str(read_only))
    assert list(read_only.iterdir()) == []


def test_audit_and_demo_into_a_read_only_folder(read_only):
    for args in (["audit", "shrinkage", "--out", read_only / "audit"], ["demo", "--out", read_only / "demo"]):
        assert_one_line_error(invoke(*args), "cannot write in", str(read_only))
    assert list(read_only.iterdir()) == []


def test_a_manifest_path_that_is_a_directory_is_one_line_and_writes_nothing(checkpoint, tmp_path):
    (tmp_path / "r.json").mkdir()
    result = invoke("certify", "--checkpoint", checkpoint, *TINY, "--out", tmp_path / "r.tsv")
    assert_one_line_error(result, "r.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert list((tmp_path / "r.json").iterdir()) == []


@pytest.mark.parametrize(("source", "fragment"), [
    ("def factory(:\n    pass\n", "invalid syntax"),
    ("def factory():\n    raise RuntimeError('no such layer')\n", "no such layer"),
    ("raise ImportError('a dependency is missing')\n\ndef factory():\n    pass\n", "a dependency is missing"),
])
def test_a_user_model_that_fails_is_one_line(tmp_path, monkeypatch, source, fragment):
    """A --model module with a SyntaxError, or whose import or factory raises, gave a traceback."""
    name = f"walk_user_model_{abs(hash(source))}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("certify", "--model", f"{name}:factory", "--dataset", "digits", *TINY,
                    "--out", tmp_path / "out" / "r.tsv")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "out").exists()
