"""`smoothcert mix train | eval | certify` end to end on a tiny digits run; resuming; one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import main
from smoothcert.errors import CheckpointError
from smoothcert.studies.mixing import EvalPlan, eval_run, read_eval_rows, read_mixture_votes

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TRAIN = ["--eps", "0.2", "--standard-epochs", "2", "--robust-epochs", "1", "--adv-steps", "2", "--noise-epochs", "1",
         "--mixing-epochs", "1", "--mixing-max", "96", "--mixing-steps", "1,2", "--device", "cpu", "--quiet"]
EVAL = ["--eps", "0.1,0.2", "--mixing-alphas", "0.5", "--gamma-biases", "0", "--steps", "3", "--max", "24", "--device",
        "cpu", "--quiet"]
CERTIFY = ["--n0", "10", "--n", "100", "--max", "12", "--mixing-alphas", "0.6,1", "--device", "cpu", "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Result]:
    folder = tmp_path_factory.mktemp("mix") / "digits"
    return folder, ok(invoke("mix", "train", "--out", folder, *TRAIN))


@pytest.fixture(scope="module")
def run(trained):
    return trained[0]


def test_quiet_training_prints_stages_but_no_epoch_lines(trained):
    output = trained[1].output
    assert "standard: training" in output and "mixing network:" in output
    assert "epoch=" not in output, output


def test_train_writes_every_model_and_a_manifest_then_reuses_them(run):
    for name in ("standard", "robust", "noise", "mixing"):
        assert (run / f"{name}.safetensors").is_file() and (run / f"{name}.json").is_file()
    manifest = json.loads((run / "train.json").read_text())
    assert manifest["arguments"]["dataset"] == "digits" and manifest["status"] == "complete"
    again = ok(invoke("mix", "train", "--out", run, *TRAIN))
    assert again.output.count("reusing") == 4
    # Other settings for an existing run are refused, with one line.
    other = invoke("mix", "train", "--out", run, *[v if v != "0.2" else "0.3" for v in TRAIN])
    assert other.exit_code == 2 and "other settings" in other.stderr


def test_eval_names_the_attacks_and_resumes(run):
    ok(invoke("mix", "eval", "--run", run, *EVAL))
    rows = read_eval_rows(run / "eval.tsv")
    assert {r["model"] for r in rows} == {"standard", "robust", "fixed α=0.5", "adaptive b=0"}
    assert len(rows) == 8 and all("PGD-ℓ∞" in r["attack"] for r in rows)
    assert all("composite" in r["attack"] for r in rows if r["kind"] == "adaptive")
    assert all(0 <= r["robust_accuracy"] <= r["clean_accuracy"] for r in rows)
    assert (run / "tradeoff.png").is_file() and (run / "eval.md").is_file()
    # Drop the last two rows (an interrupted run); resuming recomputes exactly them.
    lines = (run / "eval.tsv").read_text().splitlines(keepends=True)
    (run / "eval.tsv").write_text("".join(lines[:-2]))
    ok(invoke("mix", "eval", "--run", run, *EVAL, "--resume"))
    resumed = read_eval_rows(run / "eval.tsv")
    assert [(r["model"], r["eps"], r["robust_accuracy"]) for r in resumed] == \
        [(r["model"], r["eps"], r["robust_accuracy"]) for r in rows]
    refused = invoke("mix", "eval", "--run", run, *EVAL)
    assert refused.exit_code == 2 and "--resume" in refused.stderr
    (run / "tradeoff.png").unlink()
    assert "8 rows" in ok(invoke("mix", "plot", "--run", run)).output and (run / "tradeoff.png").is_file()


def test_certify_writes_votes_tables_and_plot(run):
    result = ok(invoke("mix", "certify", "--run", run, *CERTIFY))
    votes = read_mixture_votes(run / "certify.tsv")
    assert len(votes.idx) == 12 and (votes.counts.sum(1) == 100).all()
    text = (run / "certify.md").read_text()
    assert "Clopper–Pearson" in text and "plug-in" in text and "Lipschitz" in text
    assert (run / "certified_vs_alpha.png").is_file()
    assert "α" in result.output


@pytest.mark.parametrize(("args", "fragment"), [
    (["eval", "--run", "{run}", "--mixing-alphas", "1.5"], "--mixing-alphas"),
    (["eval", "--run", "{run}", "--attacks", "fgsm"], "--attacks"),
    (["eval", "--run", "{missing}"], "not found"),
    (["certify", "--run", "{run}", "--failure-prob", "2"], "alpha"),
    (["certify", "--run", "{run}", "--mixing-alphas", "0.5,-1"], "alpha"),
    (["train", "--out", "{missing}", "--mixing-steps", "3"], "--mixing-steps"),
    (["plot", "--run", "{missing}"], "no evaluation results"),
])
def test_bad_arguments_give_one_line_errors(run, tmp_path, args, fragment):
    args = [a.format(run=run, missing=tmp_path / "nothing") for a in args]
    result = invoke("mix", *args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("smoothcert: error: ") and fragment in lines[0]


@pytest.mark.parametrize(("name", "content"), [("mixing.safetensors", b"not a safetensors file"),
                                               ("mixing.json", b'{"format": "\xff\xfe not UTF-8"}')])
def test_unreadable_mixing_network_is_a_one_line_checkpoint_error(run, tmp_path, name, content):
    copy = tmp_path / "run"
    copy.mkdir()
    for stem in ("standard", "robust", "noise", "mixing"):
        for suffix in (".safetensors", ".json"):
            shutil.copy(run / f"{stem}{suffix}", copy)
    shutil.copy(run / "train.json", copy)
    (copy / name).write_bytes(content)
    commands = [["eval", "--run", copy, *EVAL]]
    if name.endswith(".json"):  # training reads the sidecar to decide whether to reuse the network
        commands.append(["train", "--out", copy, *TRAIN])
    for args in commands:
        result = invoke("mix", *args)
        assert result.exit_code == 2, (args[0], result.output, result.exception)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("smoothcert: error: ") and "mixing" in lines[0], lines
    with pytest.raises(CheckpointError, match="mixing"):
        eval_run(copy, EvalPlan(eps=[0.1], alphas=[0.5], gamma_biases=[0.0], steps=1, max_inputs=4),
                 progress=False, echo=lambda line: None)
