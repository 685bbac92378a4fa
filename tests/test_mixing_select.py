"""Choosing a mixture's settings on held-out examples: the split, the rule, `mix select`, `mix eval --selection`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import main
from smoothcert.data import hold_out, load_dataset
from smoothcert.errors import InvalidArgumentError
from smoothcert.studies.mixing import read_eval_rows, read_selection, run_dataset
from smoothcert.studies.mixing.evaluate import decode_correct, encode_correct
from smoothcert.studies.mixing.select import choose, clean_budget

pytestmark = pytest.mark.usefixtures("torch_single_thread")

TRAIN = ["--eps", "0.2", "--standard-epochs", "2", "--robust-epochs", "1", "--adv-steps", "2", "--noise-epochs", "1",
         "--mixing-epochs", "1", "--mixing-max", "96", "--mixing-steps", "1,2", "--validation-size", "60",
         "--device", "cpu", "--quiet"]
EVAL = ["--eps", "0.1,0.2", "--mixing-alphas", "0.5,0.8", "--steps", "2", "--device", "cpu", "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_hold_out_takes_validation_examples_from_training_only():
    data = load_dataset("digits")
    train, validation = hold_out(data, 100, seed=3)
    assert len(train.y_train) == len(data.y_train) - 100 and len(validation.y_test) == 100
    assert train.test_indices is not None and np.array_equal(train.test_indices, data.test_indices)
    held = set(validation.test_indices.tolist())
    assert not held & set(train.train_indices.tolist()) and not held & set(data.test_indices.tolist())
    assert held <= set(data.train_indices.tolist())
    assert set(validation.y_test.tolist()) == set(range(10))  # stratified: every class on both sides
    again = hold_out(data, 100, seed=3)[1]
    assert np.array_equal(again.test_indices, validation.test_indices)
    assert not np.array_equal(hold_out(data, 100, seed=4)[1].test_indices, validation.test_indices)


def test_outcomes_round_trip_and_reject_other_characters():
    bits = np.array([True, False, False, True, True])
    assert encode_correct(bits) == "10011"
    assert np.array_equal(decode_correct("10011"), bits)
    with pytest.raises(ValueError):
        decode_correct("10a1")


def _row(kind: str, model: str, clean: float, robust: float, eps: float = 0.3) -> dict:
    return {"kind": kind, "model": model, "clean_accuracy": clean, "robust_accuracy": robust, "eps": eps}


def test_the_rule_keeps_the_clean_budget_then_maximises_robustness():
    assert clean_budget(0.98, 0.90, 0.5) == pytest.approx(0.94)
    assert clean_budget(0.90, 0.95, 0.5) == pytest.approx(0.95)  # no gap to keep: the robust model's own
    rows = [_row("fixed", "a", 0.97, 0.30), _row("fixed", "b", 0.95, 0.60), _row("fixed", "c", 0.93, 0.80),
            _row("fixed", "b", 0.95, 0.99, eps=0.1)]
    chosen = choose(rows, "fixed", 0.3, 0.94)
    assert (chosen.model, chosen.qualified) == ("b", True)  # c is more robust but below the budget
    tie = choose([_row("fixed", "x", 0.95, 0.6), _row("fixed", "y", 0.96, 0.6)], "fixed", 0.3, 0.94)
    assert tie.model == "y"
    none = choose(rows, "fixed", 0.3, 0.99)
    assert (none.model, none.qualified) == ("a", False)  # nothing qualifies: the most accurate
    with pytest.raises(InvalidArgumentError, match="no adaptive model"):
        choose(rows, "adaptive", 0.3, 0.9)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mixsel") / "digits"
    ok(invoke("mix", "train", "--out", folder, *TRAIN))
    return folder


def test_validation_split_is_held_out_of_training_and_recorded(run):
    manifest = json.loads((run / "train.json").read_text())
    assert manifest["arguments"]["validation_size"] == 60
    test, validation = run_dataset(run), run_dataset(run, split="validation")
    full = load_dataset("digits")
    assert len(test.y_train) == len(full.y_train) - 60 and np.array_equal(test.test_indices, full.test_indices)
    assert len(validation.y_test) == 60
    # models trained on other examples are not reused
    other = invoke("mix", "train", "--out", run, *[v if v != "60" else "40" for v in TRAIN])
    assert other.exit_code == 2 and "validation size 60" in other.stderr


def test_select_on_validation_then_evaluate_the_choice_on_test(run):
    ok(invoke("mix", "eval", "--run", run, "--split", "validation", "--name", "validation", "--max", "60",
              "--gamma-biases", "-1,1", "--mixing-alpha-range", "0,1;0.6,1", *EVAL))
    rows = read_eval_rows(run / "validation.tsv")
    assert {r["model"] for r in rows if r["kind"] == "adaptive"} == {
        "adaptive b=-1", "adaptive b=1", "adaptive b=-1, α∈(0.6,1)", "adaptive b=1, α∈(0.6,1)"}
    for r in rows:  # the per-input outcomes agree with the accuracies
        assert len(r["robust_correct"]) == 60 and r["robust_correct"].mean() == pytest.approx(r["robust_accuracy"])
        assert r["clean_correct"].mean() == pytest.approx(r["clean_accuracy"])
        assert not (r["robust_correct"] & ~r["clean_correct"]).any() or r["eps"] == 0
    assert not (run / "tradeoff.png").exists()  # a validation evaluation is not a result to plot

    # choosing on a test evaluation is refused
    ok(invoke("mix", "eval", "--run", run, "--name", "peek", "--max", "20", "--gamma-biases", "0", *EVAL))
    peek = invoke("mix", "select", "--run", run, "--from", "peek")
    assert peek.exit_code == 2 and "validation split" in peek.stderr

    out = ok(invoke("mix", "select", "--run", run))
    selection = read_selection(run / "selection.json")
    assert "Settings chosen on the validation split" in out.output
    at = [r for r in rows if r["eps"] == 0.2]
    threshold = clean_budget(next(r["clean_accuracy"] for r in at if r["kind"] == "standard"),
                             next(r["clean_accuracy"] for r in at if r["kind"] == "robust"), 0.5)
    for kind in ("fixed", "adaptive"):
        assert selection[kind]["model"] == choose(at, kind, 0.2, threshold).model
    again = invoke("mix", "select", "--run", run)
    assert again.exit_code == 2 and "--overwrite" in again.stderr

    ok(invoke("mix", "eval", "--run", run, "--selection", run / "selection.json", "--name", "test", "--max", "30",
              *EVAL))
    test_rows = read_eval_rows(run / "test.tsv")
    adaptive = {r["model"] for r in test_rows if r["kind"] == "adaptive"}
    assert adaptive == {selection["adaptive"]["model"]}
    assert selection["fixed"]["model"] in {r["model"] for r in test_rows}
    both = invoke("mix", "eval", "--run", run, "--selection", run / "selection.json", "--gamma-biases", "0",
                  "--name", "x", *EVAL)
    assert both.exit_code == 2 and "--gamma-biases" in both.stderr

    # AutoAttack on the four models the tables report: both base models and the two chosen mixtures.
    ok(invoke("mix", "eval", "--run", run, "--selection", run / "selection.json", "--name", "aa", "--max", "8",
              "--autoattack-max", "8", "--autoattack-alphas", "selection", "--autoattack-iter", "2",
              "--autoattack-queries", "5", *EVAL))
    aa_rows = read_eval_rows(run / "aa_autoattack.tsv")
    assert {r["model"] for r in aa_rows} == {"standard", "robust", selection["fixed"]["model"],
                                             selection["adaptive"]["model"]}
    assert all("APGD-T" in r["attack"] and "Square (5 queries" in r["attack"] for r in aa_rows)
    for args, fragment in ((["--autoattack-alphas", "selection"], "needs --selection"),
                           (["--autoattack-alphas", "0.55"], "not among")):
        refused = invoke("mix", "eval", "--run", run, "--name", "aa2", "--autoattack-max", "8", *args, *EVAL)
        assert refused.exit_code == 2 and fragment in refused.stderr, refused.output


def test_validation_needs_a_run_that_held_examples_out(tmp_path):
    folder = tmp_path / "plain"
    ok(invoke("mix", "train", "--out", folder, *[v for v in TRAIN if v not in ("--validation-size", "60")]))
    result = invoke("mix", "eval", "--run", folder, "--split", "validation", *EVAL)
    assert result.exit_code == 2 and "--validation-size" in result.stderr
    bad = invoke("mix", "eval", "--run", folder, "--mixing-alpha-range", "0.5,0.2", *EVAL)
    assert bad.exit_code == 2 and "LOW < HIGH" in bad.stderr
