"""The command line: train, certify, predict, analyze, demo; resume; one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from safetensors.torch import save_file
from scipy.stats import beta, norm

from smoothcert.cli import main
from smoothcert.data import load_dataset
from smoothcert.runs import CERTIFY_COLUMNS, PREDICT_COLUMNS
from tests import user_models

pytestmark = pytest.mark.usefixtures("torch_single_thread")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "cohen2019"
SIGMA, ALPHA, N0, N, MAX = 0.25, 0.001, 20, 200, 12
CERTIFY_ARGS = ["--sigma", str(SIGMA), "--failure-prob", str(ALPHA), "--n0", str(N0), "--n", str(N), "--max", str(MAX),
                "--no-timing", "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit code 2, exactly one line on stderr, no traceback; the line contains every fragment."""
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("smoothcert: error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def header(path: Path) -> list[str]:
    return path.read_text().splitlines()[0].split("\t")


def snapshot(*paths: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, torch_single_thread) -> Path:
    """A LeNet trained 3 epochs on digits by `smoothcert train`: the stem of model.safetensors + model.json."""
    stem = tmp_path_factory.mktemp("ckpt") / "model"
    result = ok(invoke("train", "--dataset", "digits", "--arch", "lenet", "--epochs", 3, "--out", stem, "--quiet"))
    assert "test accuracy" in result.stdout
    assert stem.with_suffix(".safetensors").is_file() and stem.with_suffix(".json").is_file()
    return stem


@pytest.fixture(scope="module")
def run_a(tmp_path_factory, checkpoint) -> Path:
    """A complete certify run over the first 12 test digits (file A)."""
    out = tmp_path_factory.mktemp("run_a") / "certify.tsv"
    result = ok(invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", out))
    assert f"{MAX} inputs" in result.stdout
    return out


@pytest.fixture
def partial_run(tmp_path, run_a) -> Path:
    """A copy of run A (TSV and manifest) cut to its header, 5 rows and a torn 6th line, as after a crash."""
    out = tmp_path / "partial.tsv"
    lines = run_a.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:6]) + lines[6][: len(lines[6]) // 2])
    shutil.copy(run_a.with_suffix(".json"), out.with_suffix(".json"))
    return out


# --- train ------------------------------------------------------------------------------------------------

def test_train_writes_a_checkpoint_that_records_its_making(checkpoint):
    doc = json.loads(checkpoint.with_suffix(".json").read_text())
    assert doc["architecture"] == "lenet" and doc["dataset"] == "digits"
    assert doc["input_shape"] == [1, 8, 8] and doc["num_classes"] == 10
    assert doc["train_sigma"] == 0.25 and doc["training"]["epochs"] == 3
    assert len(doc["training"]["history"]) == 3
    assert 0.1 < doc["test_accuracy"] <= 1.0


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--epochs", 0, "epochs"), ("--train-sigma", -1, "train_sigma"), ("--lr", 0, "lr"),
    ("--batch-size", 0, "batch_size"), ("--dataset", "cifar100", "cifar100"),
])
def test_train_bad_input_writes_nothing(tmp_path, option, value, fragment):
    result = invoke("train", "--epochs", 1, option, value, "--out", tmp_path / "m" / "model", "--quiet")
    assert_one_line_error(result, fragment)
    assert list(tmp_path.iterdir()) == []


# --- certify ----------------------------------------------------------------------------------------------

def test_certify_rows(run_a, digits):
    assert header(run_a) == list(CERTIFY_COLUMNS)
    assert header(run_a) == "idx label predict radius correct time pA_lower n0 n count_top norm".split()
    rows = read_tsv(run_a)
    assert [int(r["idx"]) for r in rows] == list(range(MAX))
    for r in rows:
        idx, predict, radius, p_lower = int(r["idx"]), int(r["predict"]), float(r["radius"]), float(r["pA_lower"])
        count = int(r["count_top"])
        assert int(r["label"]) == int(digits.y_test[idx])
        assert -1 <= predict < 10
        assert int(r["correct"]) == int(predict == int(r["label"]))
        assert (int(r["n0"]), int(r["n"]), float(r["time"])) == (N0, N, 0.0)
        assert 0 <= count <= N
        assert radius >= 0
        exact_lower = beta.ppf(ALPHA, count, N - count + 1) if count > 0 else 0.0  # one-sided Clopper–Pearson
        assert p_lower == pytest.approx(exact_lower, abs=1e-6)
        assert (predict == -1) == (exact_lower < 0.5)
        if predict == -1:
            assert radius == 0
        else:
            assert radius == pytest.approx(SIGMA * norm.ppf(exact_lower), abs=2e-6)


def test_certify_manifest(run_a, checkpoint):
    doc = json.loads(run_a.with_suffix(".json").read_text())
    assert doc["status"] == "complete"
    args = doc["arguments"]
    assert (args["sigma"], args["alpha"], args["n0"], args["n"], args["max_inputs"]) == (SIGMA, ALPHA, N0, N, MAX)
    assert args["checkpoint"] == str(checkpoint)
    assert "out" not in args and "quiet" not in args  # options that change no row do not block a resume
    assert doc["environment"]["torch"] == torch.__version__
    assert doc["environment"]["smoothcert"]
    assert doc["timing"]["inputs"] == MAX and doc["timing"]["resumed_rows"] == 0
    assert doc["dataset"]["name"] == "digits" and doc["dataset"]["selected"] == MAX
    assert doc["model"]["architecture"] == "lenet"
    assert doc["noise"] == {"type": "gaussian", "sigma": SIGMA, "norm": "l2"}


def test_resume_after_a_crash_gives_the_same_file(checkpoint, run_a, partial_run):
    result = ok(invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", partial_run, "--resume"))
    assert f"{MAX - 5} inputs" in result.stdout
    assert partial_run.read_bytes() == run_a.read_bytes()
    doc = json.loads(partial_run.with_suffix(".json").read_text())
    assert doc["status"] == "complete" and doc["timing"]["resumed_rows"] == 5


def test_resume_of_a_complete_run_changes_nothing(checkpoint, run_a, tmp_path):
    out = tmp_path / "copy.tsv"
    shutil.copy(run_a, out)
    shutil.copy(run_a.with_suffix(".json"), out.with_suffix(".json"))  # a TSV without its manifest never resumes
    result = ok(invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", out, "--resume"))
    assert "0 inputs" in result.stdout
    assert out.read_bytes() == run_a.read_bytes()


def test_skip_and_max_select_every_skip_th_input(checkpoint, run_a, tmp_path):
    out = tmp_path / "skip.tsv"
    ok(invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--skip", 3, "--max", 4, "--out", out))
    rows = out.read_text().splitlines()
    assert [int(line.split("\t")[0]) for line in rows[1:]] == [0, 3, 6, 9]
    # noise depends on (seed, input index) only, so these rows are the very rows of the full run
    full = {line.split("\t")[0]: line for line in run_a.read_text().splitlines()[1:]}
    assert rows[1:] == [full[i] for i in ("0", "3", "6", "9")]


def test_existing_results_are_not_overwritten_without_a_flag(checkpoint, partial_run):
    before = snapshot(partial_run, partial_run.with_suffix(".json"))
    result = invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", partial_run)
    assert_one_line_error(result, "already exists", "--resume", "--overwrite")
    assert snapshot(*before) == before


def test_overwrite_replaces_the_file(checkpoint, run_a, partial_run):
    ok(invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", partial_run, "--overwrite"))
    assert partial_run.read_bytes() == run_a.read_bytes()


@pytest.mark.parametrize(("option", "value"), [("--sigma", 0.5), ("--n", 201), ("--seed", 1), ("--failure-prob", 0.01)])
def test_resume_with_other_arguments_is_refused(checkpoint, partial_run, option, value):
    before = snapshot(partial_run, partial_run.with_suffix(".json"))
    result = invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, option, value, "--out", partial_run,
                    "--resume")
    assert_one_line_error(result, "cannot resume", {"--failure-prob": "alpha"}.get(option, option.lstrip("-")))
    assert snapshot(*before) == before


def test_resume_of_a_predict_file_as_certify_is_refused(checkpoint, tmp_path):
    out = tmp_path / "p.tsv"
    ok(invoke("predict", "--checkpoint", checkpoint, "--sigma", SIGMA, "--n", 50, "--max", 2, "--quiet",
              "--out", out))
    out.with_suffix(".json").unlink()  # no manifest to compare: the header must still protect the file
    before = out.read_bytes()
    assert_one_line_error(invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", out, "--resume"),
                          "columns")
    assert out.read_bytes() == before


# --- predict ----------------------------------------------------------------------------------------------

def test_predict_rows(checkpoint, tmp_path, digits):
    out = tmp_path / "predict.tsv"
    ok(invoke("predict", "--checkpoint", checkpoint, "--sigma", SIGMA, "--failure-prob", ALPHA, "--n", 100, "--max", 8,
              "--no-timing", "--quiet", "--out", out))
    assert header(out) == list(PREDICT_COLUMNS)
    rows = read_tsv(out)
    assert [int(r["idx"]) for r in rows] == list(range(8))
    for r in rows:
        predict, top, runner_up, pvalue = int(r["predict"]), int(r["count_top"]), int(r["count_runner_up"]), \
            float(r["pvalue"])
        assert int(r["label"]) == int(digits.y_test[int(r["idx"])])
        assert int(r["correct"]) == int(predict == int(r["label"]))
        assert int(r["n"]) == 100 and top >= runner_up >= 0 and top + runner_up <= 100
        assert 0 <= pvalue <= 1
        assert (predict == -1) == (pvalue > ALPHA)
    assert json.loads(out.with_suffix(".json").read_text())["status"] == "complete"


# --- analyze ----------------------------------------------------------------------------------------------

def certified_accuracy(path: Path, r: float) -> float:
    rows = read_tsv(path)
    return sum(int(x["correct"]) == 1 and float(x["radius"]) >= r for x in rows) / len(rows)


def test_analyze_markdown_table(run_a):
    out = ok(invoke("analyze", run_a, "--radii", "0,0.25,0.5")).stdout
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("| run"))
    assert [c.strip() for c in head.strip("|").split("|")][:4] == ["run", "r = 0", "r = 0.25", "r = 0.5"]
    row = next(line for line in lines if line.startswith(f"| {run_a.stem} "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:4] == [f"{certified_accuracy(run_a, r):.3f}" for r in (0, 0.25, 0.5)]


def test_analyze_plot(run_a, tmp_path):
    out = ok(invoke("analyze", run_a, "--plot", tmp_path / "plots" / "curve")).stdout
    png, svg = tmp_path / "plots" / "curve.png", tmp_path / "plots" / "curve.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()
    assert str(png) in out


def test_analyze_latex(run_a):
    out = ok(invoke("analyze", run_a, "--format", "latex")).stdout
    assert "\\begin{tabular}" in out and "\\end{tabular}" in out
    assert "$r = 0$" in out
    assert f"{certified_accuracy(run_a, 0.0):.3f}" in out


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="Cohen et al.'s reference TSVs are not present")
def test_analyze_cohen_table():
    out = ok(invoke("analyze", "--cohen-table", REFERENCE)).stdout
    assert "σ = 0.25" in out or "&sigma; = 0.25" in out
    assert "every value equal" in out


@pytest.mark.parametrize(("args", "fragment"), [
    ([], "at least one"), (["absent.tsv"], "absent.tsv"), (["{run}", "--radii", "a,b"], "--radii"),
])
def test_analyze_bad_input(run_a, args, fragment):
    assert_one_line_error(invoke("analyze", *[a.format(run=run_a) for a in args]), fragment)


# --- demo -------------------------------------------------------------------------------------------------

def test_demo_runs_and_reuses_its_model(tmp_path):
    out = tmp_path / "demo"
    first = ok(invoke("demo", "--out", out, "--n", 200, "--quiet")).stdout
    assert "reusing" not in first
    for name in ("report.md", "certify.tsv", "certify.json", "certified_accuracy.png", "certified_accuracy.svg",
                 "summary.json", "model.safetensors", "model.json"):
        assert (out / name).is_file(), name
    assert len(read_tsv(out / "certify.tsv")) == 360
    assert "certified_accuracy.png" in (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] == json.loads((out / "model.json").read_text())["test_accuracy"]

    before = snapshot(out / "model.safetensors", out / "certify.tsv")
    second = ok(invoke("demo", "--out", out, "--n", 200, "--quiet")).stdout
    assert "reusing" in second
    assert snapshot(*before) == before


# --- bad input: one line, exit code 2, nothing written lost -----------------------------------------------

@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, checkpoint, digits) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    files = {}
    garbage = d / "garbage"
    shutil.copy(checkpoint.with_suffix(".json"), garbage.with_suffix(".json"))
    garbage.with_suffix(".safetensors").write_bytes(b"\x00\x01garbage, not safetensors" * 10)
    files["garbage"] = garbage

    mismatch = d / "mismatch"
    shutil.copy(checkpoint.with_suffix(".safetensors"), mismatch.with_suffix(".safetensors"))
    doc = json.loads(checkpoint.with_suffix(".json").read_text())
    mismatch.with_suffix(".json").write_text(json.dumps({**doc, "arch_args": {"hidden": 64}}))
    files["mismatch"] = mismatch

    rng = np.random.default_rng(0)
    x = rng.random((20, 1, 28, 28), dtype=np.float32)
    y = np.arange(20) % 2
    np.savez(d / "big.npz", x=x, y=y)
    files["big"] = d / "big.npz"

    x = digits.x_test[:20].numpy().copy()
    y = digits.y_test[:20].numpy()
    x_nan = x.copy()
    x_nan[3, 0, 2, 2] = np.nan
    np.savez(d / "nan.npz", x=x_nan, y=y, x_test=x_nan, y_test=y)
    files["nan"] = d / "nan.npz"

    y12 = y.copy()
    y12[:2] = 12
    np.savez(d / "label12.npz", x=x, y=y12, x_test=x, y_test=y12)
    files["label12"] = d / "label12.npz"
    return files


#: option overrides (None removes the option) → a fragment of the one-line message
BAD_CERTIFY = {
    "sigma 0": ({"--sigma": 0}, "sigma"),
    "sigma -1": ({"--sigma": -1}, "sigma"),
    "sigma nan": ({"--sigma": "nan"}, "sigma"),
    "alpha 0": ({"--failure-prob": 0}, "alpha"),
    "alpha 1.5": ({"--failure-prob": 1.5}, "alpha"),
    "alpha 1": ({"--failure-prob": 1}, "alpha"),
    "n0 0": ({"--n0": 0}, "n0"),
    "n 0": ({"--n": 0}, "n must"),
    "n -5": ({"--n": -5}, "n must"),
    "skip 0": ({"--skip": 0}, "skip"),
    "max 0": ({"--max": 0}, "max"),
    "batch-size 0": ({"--batch-size": 0}, "batch_size"),
    "batch-size word": ({"--batch-size": "fast"}, "'fast'"),
    "threads 0": ({"--threads": 0}, "--threads"),
    "device": ({"--device": "tpu9"}, "tpu9"),
    "missing checkpoint": ({"--checkpoint": "{tmp}/nowhere/model"}, "not found"),
    "garbage weights": ({"--checkpoint": "{garbage}"}, "cannot read weights"),
    "sidecar mismatch": ({"--checkpoint": "{mismatch}"}, "wrong shape"),
    "moons into digits model": ({"--dataset": "moons"}, "(2,)"),
    "28x28 into digits model": ({"--dataset": "{big}"}, "(1, 28, 28)"),
    "nan in npz": ({"--dataset": "{nan}"}, "NaN"),
    "label 12": ({"--dataset": "{label12}"}, "labels must lie in [0, 10)"),
    "num-classes 1": ({"--num-classes": 1}, "num_classes"),
    "fewer classes than labels": ({"--num-classes": 5}, "labels"),
    "unknown dataset": ({"--dataset": "cifar100"}, "cifar100"),
    "model bad spec": ({"--checkpoint": None, "--model": "nonsense", "--dataset": "digits"}, "nonsense"),
    "model absent factory": ({"--checkpoint": None, "--model": "tests.user_models:absent", "--dataset": "digits"},
                             "absent"),
    "model not a module": ({"--checkpoint": None, "--model": "tests.user_models:not_a_module",
                            "--dataset": "digits"}, "not a torch.nn.Module"),
    "model pickled weights": ({"--checkpoint": None, "--model": "tests.user_models:factory", "--dataset": "digits",
                               "--weights": "{tmp}/w.pt"}, "safetensors"),
    "model without dataset": ({"--checkpoint": None, "--model": "tests.user_models:factory"}, "--dataset"),
    "model and checkpoint": ({"--model": "tests.user_models:factory"}, "exactly one"),
    "neither model nor checkpoint": ({"--checkpoint": None}, "exactly one"),
}


def build_args(checkpoint: Path, overrides: dict, where: dict[str, Path]) -> list[str]:
    options: dict[str, object] = {"--checkpoint": checkpoint, "--sigma": SIGMA, "--failure-prob": ALPHA, "--n0": N0,
                                  "--n": N, "--max": MAX}
    options.update(overrides)
    args = []
    for key, value in options.items():
        if value is not None:
            args += [key, str(value).format(**where)]
    return [*args, "--no-timing", "--quiet"]


@pytest.mark.parametrize("case", list(BAD_CERTIFY))
def test_certify_bad_input(case, checkpoint, bad_files, partial_run, tmp_path):
    overrides, fragment = BAD_CERTIFY[case]
    user_models.write_pickle_bomb(tmp_path / "w.pt", tmp_path / "fired")
    args = build_args(checkpoint, overrides, {**bad_files, "tmp": tmp_path})
    before = snapshot(partial_run, partial_run.with_suffix(".json"))
    result = invoke("certify", *args, "--out", partial_run, "--resume")
    assert_one_line_error(result, fragment)
    assert snapshot(*before) == before
    assert not (tmp_path / "fired").exists()


@pytest.mark.parametrize("case", ["sigma 0", "alpha 1.5", "n 0", "skip 0", "sidecar mismatch", "label 12"])
def test_predict_bad_input(case, checkpoint, bad_files, partial_run, tmp_path):
    overrides, fragment = BAD_CERTIFY[case]
    args = build_args(checkpoint, {**overrides, "--n0": None}, {**bad_files, "tmp": tmp_path})
    before = snapshot(partial_run, partial_run.with_suffix(".json"))
    assert_one_line_error(invoke("predict", *args, "--out", partial_run, "--resume"), fragment)
    assert snapshot(*before) == before


def test_user_model_with_safetensors_weights(checkpoint, tmp_path):
    torch.manual_seed(0)
    model = user_models.factory()
    weights = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    out = tmp_path / "mine.tsv"
    ok(invoke("certify", "--model", "tests.user_models:factory", "--weights", weights, "--dataset", "digits",
              *CERTIFY_ARGS, "--out", out))
    assert len(read_tsv(out)) == MAX
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["model"] == {"spec": "tests.user_models:factory", "weights": str(weights)}


def test_out_with_json_suffix_keeps_the_rows(checkpoint, tmp_path):
    out = tmp_path / "results.json"
    result = invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", out)
    if result.exit_code == 2:  # refusing such a name is a fine answer too
        assert_one_line_error(result)
    else:
        assert len(out.read_text().splitlines()) == 1 + MAX


def test_out_naming_a_directory_is_a_one_line_error(checkpoint, tmp_path):
    assert_one_line_error(invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", tmp_path))


# --- real processes: exit codes and stderr ----------------------------------------------------------------

def run_cli(*args: object, cwd: Path = REPO) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "smoothcert"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "smoothcert.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_process_error_is_one_line_with_exit_code_2(checkpoint, partial_run):
    before = snapshot(partial_run, partial_run.with_suffix(".json"))
    proc = run_cli("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--sigma", 0, "--out", partial_run,
                   "--resume")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n")
    assert proc.stderr.startswith("smoothcert: error: ") and "sigma" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(*before) == before


def test_process_run_matches_the_in_process_run(checkpoint, run_a, tmp_path):
    out = tmp_path / "process.tsv"
    proc = run_cli("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert out.read_bytes() == run_a.read_bytes()


def test_process_imports_a_user_model_from_the_working_directory(tmp_path):
    shutil.copy(Path(user_models.__file__), tmp_path / "my_models.py")
    proc = run_cli("certify", "--model", "my_models:factory", "--dataset", "digits", *CERTIFY_ARGS,
                   "--max", 2, "--n", 20, "--out", tmp_path / "r.tsv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("extra, fragment", [
    (["--weights", "w.safetensors"], "--weights goes with --model"),
    (["--num-classes", "0"], "num_classes"),
    (["--resume", "--overwrite"], "give one"),
    (["--sequential", "--radius", "0.5", "--tolerance", "0.01"], "tolerance"),
])
def test_conflicting_options_are_refused_before_anything_is_written(checkpoint, tmp_path, extra, fragment):
    """Options that contradict each other were once accepted silently (weights ignored, 0 classes taken as
    unset, resume and overwrite together, a tolerance with a preset radius): each is one line, exit 2."""
    out = tmp_path / "conflict.tsv"
    result = invoke("certify", "--checkpoint", checkpoint, *CERTIFY_ARGS, "--out", out, *extra)
    assert_one_line_error(result, fragment)
    assert not out.exists() and not out.with_suffix(".json").exists()
