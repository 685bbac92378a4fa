"""smoothcert results: recipes run resumably, the docs' quotes are regenerated from them and checked number by
number, and every quote in docs/ is traced to the run that made it."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from smoothcert.analysis.intervals import accuracy, class_spread, seed_input_bootstrap
from smoothcert.cli import main
from smoothcert.errors import InputError, InvalidArgumentError, ResultsError
from smoothcert.results import (
    RECIPES,
    Output,
    Recipe,
    Settings,
    Step,
    check_docs,
    find_quotes,
    regenerate_docs,
    run_recipe,
)
from smoothcert.results.quotes import numbers
from smoothcert.runs.lock import ResultsLock

DOCS = Path(__file__).resolve().parents[1] / "docs"


def toy_recipe(name: str = "toy") -> Recipe:
    """Two steps writing value.json and count.json; outputs a table and a single number from them."""

    def steps(out: Path, settings: Settings) -> list[Step]:
        return [Step("value", ("write", str(out / "value.json")), done=out / "value.json"),
                Step("count", ("write", str(out / "count.json")), done=out / "count.json",
                     resume_marker=out / "count.partial")]

    def tabulate(out: Path, settings: Settings) -> dict[str, Output]:
        v = json.loads((out / "value.json").read_text())["value"]
        return {"table": Output(f"| x | y |\n|---|---|\n| {v:.3f} | {2 * v:.3f} |", (out / "value.json",)),
                "headline": Output(f"{v:.3f}", (out / "value.json",))}

    return Recipe(name, "a toy", ("table", "headline"), steps, tabulate)


class Executor:
    """Stands in for the smoothcert commands: ``write PATH`` writes a complete manifest with value 0.257."""

    def __init__(self, fail: str | None = None, value: float = 0.257) -> None:
        self.calls: list[list[str]] = []
        self.fail, self.value = fail, value

    def __call__(self, argv):
        self.calls.append(list(argv))
        path = Path(argv[1])
        if self.fail is not None and path.name == self.fail:
            path.with_suffix(".partial").write_text("half")
            return 1
        path.write_text(json.dumps({"status": "complete", "value": self.value}))
        return 0


def test_a_failed_step_keeps_the_ones_before_and_the_next_run_resumes_it(tmp_path):
    recipe = toy_recipe()
    first = Executor(fail="count.json")
    with pytest.raises(ResultsError, match=r"step count: `smoothcert write` exited with 1.*run again"):
        run_recipe(recipe, tmp_path, Settings(), execute=first, echo=lambda line: None)
    assert (tmp_path / "toy" / "value.json").exists() and not (tmp_path / "toy" / "outputs.json").exists()
    second = Executor()
    written = run_recipe(recipe, tmp_path, Settings(), execute=second, echo=lambda line: None)
    assert [c[1].rsplit("/", 1)[1] for c in second.calls] == ["count.json"]  # the finished step is not run again
    assert second.calls[0][-1] == "--resume"  # the interrupted one continues
    record = json.loads(written.read_text())
    assert record["outputs"]["headline"]["text"] == "0.257" and record["scale"] == "full"
    assert record["outputs"]["headline"]["sources"][0]["path"].endswith("value.json")
    assert (tmp_path / "toy" / "commands.sh").read_text().splitlines()[1] == \
        f"smoothcert write {tmp_path / 'toy' / 'value.json'}"


def test_a_recipe_that_reads_another_is_refused_before_it_has_run(tmp_path):
    with pytest.raises(InputError, match=r"reads the runs of 'zoo': run `smoothcert results run zoo` first"):
        run_recipe(RECIPES["audit-zoo"], tmp_path, Settings(scale="small"), echo=lambda line: None)
    assert not (tmp_path / "audit-zoo").exists()


def test_a_recipe_folder_another_process_runs_is_refused(tmp_path):
    (tmp_path / "toy").mkdir()
    with ResultsLock(tmp_path / "toy" / "recipe"), pytest.raises(ResultsError, match="is being written by"):
        run_recipe(toy_recipe(), tmp_path, Settings(), execute=Executor(), echo=lambda line: None)


def test_a_step_that_exits_0_without_finishing_is_an_error(tmp_path):
    with pytest.raises(ResultsError, match="left no finished output"):
        run_recipe(toy_recipe(), tmp_path, Settings(), execute=lambda argv: 0, echo=lambda line: None)


def write_doc(docs: Path) -> Path:
    docs.mkdir()
    doc = docs / "study.md"
    doc.write_text("# Study\n\nThe headline is <!-- results: toy/headline -->0.200<!-- /results --> here.\n\n"
                   "<!-- results: toy/table -->\n| x | y |\n|---|---|\n| 0.200 | 0.400 |\n<!-- /results -->\n\nEnd.\n")
    return doc


def test_docs_quotes_are_regenerated_traced_and_checked_number_by_number(tmp_path):
    recipes = {"toy": toy_recipe()}
    doc = write_doc(tmp_path / "docs")
    assert [q.id for q in find_quotes(tmp_path / "docs")] == ["toy/headline", "toy/table"]
    assert len(check_docs(tmp_path / "docs", recipes)) == 2  # never regenerated: not traced

    updated, pending = regenerate_docs(tmp_path / "docs", tmp_path / "runs", recipes)  # nothing run yet
    assert updated == [] and len(pending) == 2 and "0.200" in doc.read_text()

    run_recipe(recipes["toy"], tmp_path / "runs", Settings(), execute=Executor(), echo=lambda line: None)
    updated, pending = regenerate_docs(tmp_path / "docs", tmp_path / "runs", recipes)
    text = doc.read_text()
    assert len(updated) == 2 and pending == []
    assert "The headline is <!-- results: toy/headline -->0.257<!-- /results --> here." in text
    assert "| 0.257 | 0.514 |" in text and "0.200" not in text and text.endswith("\n\nEnd.\n")
    manifest = json.loads((tmp_path / "docs" / "results.json").read_text())
    assert {e["id"] for e in manifest["quotes"]} == {"toy/headline", "toy/table"}
    import hashlib

    value_sha = hashlib.sha256((tmp_path / "runs" / "toy" / "value.json").read_bytes()).hexdigest()
    assert all(e["sources"][0]["manifests"] == {"value.json": value_sha} for e in manifest["quotes"])
    assert all(e["sources"][0]["path"].endswith("value.json") for e in manifest["quotes"])
    assert check_docs(tmp_path / "docs", recipes, tmp_path / "runs") == []

    doc.write_text(text.replace("| 0.257 | 0.514 |", "| 0.257 | 0.500 |"))  # a hand edit
    problems = check_docs(tmp_path / "docs", recipes, tmp_path / "runs")
    assert len(problems) == 2
    assert problems[0].startswith("study.md:5: the quote of toy/table is not the one regenerated")
    assert problems[1] == "study.md:5: toy/table quotes 0.500 where its run gives 0.514"

    # the runs change (a new seed, a fix): the check names the stale number until the docs are regenerated
    doc.write_text(text)
    run_recipe(recipes["toy"], tmp_path / "runs2", Settings(), execute=Executor(value=0.3), echo=lambda line: None)
    assert check_docs(tmp_path / "docs", recipes, tmp_path / "runs2")[0] == \
        "study.md:3: toy/headline quotes 0.257 where its run gives 0.300"


def test_small_runs_never_reach_the_docs_and_unknown_quotes_are_named(tmp_path):
    recipes = {"toy": toy_recipe()}
    write_doc(tmp_path / "docs")
    run_recipe(recipes["toy"], tmp_path / "runs", Settings(scale="small"), execute=Executor(), echo=lambda line: None)
    with pytest.raises(ResultsError, match="is a small run"):
        regenerate_docs(tmp_path / "docs", tmp_path / "runs", recipes)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ResultsError, match="quotes no recipe output"):
        regenerate_docs(tmp_path / "plain", tmp_path / "runs", recipes)
    assert not (tmp_path / "plain" / "results.json").exists()
    (tmp_path / "docs" / "other.md").write_text("<!-- results: toy/nothing -->1<!-- /results -->\n")
    with pytest.raises(ResultsError, match=r"other\.md:1: recipe 'toy' has no output 'nothing'"):
        regenerate_docs(tmp_path / "docs", tmp_path / "runs", recipes, allow_small=True)


def test_a_quote_shown_as_code_is_an_example_not_a_quote(tmp_path):
    (tmp_path / "docs").mkdir()
    example = "```markdown\n<!-- results: toy/table -->\n| 1 |\n<!-- /results -->\n```\n"
    inline = "Write `<!-- results: toy/headline -->1<!-- /results -->` in a page.\n"
    (tmp_path / "docs" / "help.md").write_text(example + inline + "<!-- results: toy/headline -->0<!-- /results -->\n")
    recipes = {"toy": toy_recipe()}
    assert [(q.line, q.id) for q in find_quotes(tmp_path / "docs")] == [(7, "toy/headline")]
    run_recipe(recipes["toy"], tmp_path / "runs", Settings(), execute=Executor(), echo=lambda line: None)
    regenerate_docs(tmp_path / "docs", tmp_path / "runs", recipes)
    assert (tmp_path / "docs" / "help.md").read_text() == \
        example + inline + "<!-- results: toy/headline -->0.257<!-- /results -->\n"


def test_numbers_are_read_as_written():
    assert numbers("ACR 1.080 [1,054, 1.108]: −0.019, 96.7% of 1,281 at r=0.25, σ_1 x2") == \
        ["1.080", "1054", "1.108", "-0.019", "96.7", "1281", "0.25"]


def test_every_quote_in_the_docs_is_traced_to_its_run():
    """The published docs: each quote names a recipe output and is what `smoothcert results docs` wrote."""
    assert find_quotes(DOCS), "docs/ quotes no recipe output"
    assert check_docs(DOCS, RECIPES) == []


#: The MNIST files beside the checkout (../shared), for the recipes whose full scale needs them.
MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
#: Every recipe the docs quote (the test below fails for a quoted recipe missing here).
QUOTED = sorted({q.recipe for q in find_quotes(DOCS)})
SMALL = Settings(scale="small", data_dir=MNIST)


def in_process(argv) -> int:
    """A recipe step's ``smoothcert`` command run in this process: the same command line through the same CLI
    as the runner's fresh interpreter (which test_the_runner_runs_each_step_in_a_fresh_interpreter keeps tested),
    without the seconds of imports each interpreter costs."""
    result = CliRunner().invoke(main, list(argv), catch_exceptions=False)
    if result.exit_code:
        print(result.output)
    return result.exit_code


def run_small(name: str, runs: Path) -> Path:
    """Run ``name`` at small scale under ``runs``, after the recipes it reads (those already there are reused)."""
    for required in RECIPES[name].requires:
        if not (runs / required / "outputs.json").is_file():
            run_small(required, runs)
    return run_recipe(RECIPES[name], runs, SMALL, echo=lambda line: None, execute=in_process)


@pytest.fixture(scope="module")
def shared_runs(tmp_path_factory) -> Path:
    """One runs folder for the module: a recipe another reads (the zoo, for audit-zoo) runs once."""
    return tmp_path_factory.mktemp("runs")


def test_the_runner_runs_each_step_in_a_fresh_interpreter(tmp_path):
    """The default executor: ``python -m smoothcert.cli ARGV`` in a subprocess, its exit code the step's."""
    disks = RECIPES["tradeoff-disks"].steps(tmp_path / "disks", SMALL)
    recipe = Recipe("disks", "the disks' step alone", (), lambda out, settings: disks, lambda out, settings: {})
    run_recipe(recipe, tmp_path, SMALL, echo=lambda line: None)
    assert all(step.finished() for step in disks)


@pytest.mark.parametrize("name", QUOTED)
def test_each_quoted_recipe_regenerates_its_quotes_from_a_small_run(name, tmp_path, shared_runs):
    """The real pipeline end to end at small scale: the recipe's smoothcert commands, their outputs, and every
    quote of the recipe in a copy of docs/ rewritten from them, number for number."""
    run_small(name, shared_runs)
    shutil.copytree(DOCS, tmp_path / "docs")
    regenerate_docs(tmp_path / "docs", shared_runs, RECIPES, allow_small=True)
    assert [p for p in check_docs(tmp_path / "docs", RECIPES, shared_runs) if f" {name}/" in p] == []
    record = json.loads((shared_runs / name / "outputs.json").read_text())
    page = shared_runs / name / "report.html"  # the study's self-contained page, made last
    assert page.is_file() and "<html" in page.read_text(encoding="utf-8")[:500].lower()
    for q in find_quotes(tmp_path / "docs"):
        if q.recipe == name:
            assert q.body.strip() == record["outputs"][q.output]["text"].strip()
    if name == "tradeoff-digits":  # each seed's clean accuracy recomputed from the saved models, as trained
        rows = record["outputs"]["base_models"]["text"].splitlines()[2:]
        for row in (r for r in rows if r.startswith("| ")):
            alpha, per_seed = row.split(" | ")[0].strip("| "), row.split(" | ")[2].split(", ")
            stem = "alpha_" + alpha.replace(".", "p")
            trained = [json.loads((shared_runs / name / f"seed_{s}" / "models" / f"{stem}.json").read_text())
                       ["test_accuracy"] for s in (0, 1, 2)]
            assert per_seed == [f"{a:.4f}" for a in trained]
    if name == "mixing-digits":  # each certified cell: the mean over seeds of that seed's certified accuracy
        from smoothcert.results import mixing
        from smoothcert.studies.mixing import mixture_certified_accuracy, read_mixture_votes

        acc = np.mean([mixture_certified_accuracy(read_mixture_votes(shared_runs / name / f"seed_{s}" / "certify.tsv"),
                                                  mixing.CERTIFY_ALPHAS, mixing.CERTIFY_RADII, mixing.CERTIFY_SIGMA,
                                                  alpha_conf=mixing.CERTIFY_ALPHA) for s in mixing.SEEDS], axis=0)
        rows = [r for r in record["outputs"]["certified"]["text"].splitlines()[2:] if r.startswith("| ")]
        quoted = [[float(c.split(" [")[0]) for c in r.strip("| ").split(" | ")[1:]] for r in rows]
        np.testing.assert_allclose(quoted, 100 * acc, atol=0.051)
    if name == "uncertainty-digits":  # cells recomputed per seed by the study's own functions, then averaged
        check_uncertainty_digits(shared_runs / name, record["outputs"])
    if name == "audit-digits":
        seeds = next(q for q in find_quotes(tmp_path / "docs") if q.id == "audit-digits/seeds")
        assert "| noise | 1 |" in seeds.body and "Mean over seeds 0, 1, 2 on the same 60 test inputs" in seeds.body


def _cells(text: str) -> list[list[str]]:
    return [r.strip("| ").split(" | ") for r in text.splitlines()[2:] if r.startswith("| ")]


def check_uncertainty_digits(out: Path, outputs: dict) -> None:
    """Each OOD cell is the mean over seeds of scikit-learn's AUROC of that seed's scores, and each ACR of
    R_cohen the mean over seeds of the sweep file's own ACR (radius_comparison)."""
    from smoothcert.analysis import read_results
    from smoothcert.analysis.uncertainty import radius_comparison
    from smoothcert.results import uncertainty_measures as ud
    from smoothcert.results.uncertainty_tables import tau_of
    from smoothcert.studies.uncertainty.ood import OOD_SETS, SCORE_KINDS, auroc, read_scores

    rows = iter(_cells(outputs["ood"]["text"]))
    for model, (_, measures) in ud.OOD_MODELS.items():
        scores = [read_scores(out / f"seed_{s}" / f"ood_{model}" / "scores.tsv") for s in ud.SEEDS]
        for measure in measures:
            for kind in SCORE_KINDS:
                key, row = f"{kind}_{measure}", next(rows)
                assert row[1:3] == [measure, kind]
                expected = [np.mean([auroc(sc["test"][key], sc[o][key]) for sc in scores]) for o in OOD_SETS]
                np.testing.assert_allclose([float(c.split(" [")[0]) for c in row[3:6]], expected, atol=6e-4)
    rows = iter(_cells(outputs["radii"]["text"]))
    for series in ud.SERIES:
        for rate in ud.REJECT_RATES:
            sweeps = [out / f"seed_{s}" / series for s in ud.SEEDS]
            acr = np.mean([radius_comparison(read_results(p / f"tau_{tau_of(p, rate):g}.tsv"))["acr"]["cohen"]
                           for p in sweeps])
            assert float(next(rows)[3].split(" [")[0]) == pytest.approx(acr, abs=6e-4)


@pytest.mark.parametrize("name", sorted(set(RECIPES) - set(QUOTED)))
def test_every_other_recipe_runs_end_to_end_at_small_scale(name, shared_runs):
    """The recipes the docs do not quote yet (their full runs take hours) make every output and their page."""
    recipe = RECIPES[name]
    record = json.loads(run_small(name, shared_runs).read_text())
    assert set(record["outputs"]) == set(recipe.outputs) and record["scale"] == "small"
    assert all(o["text"].strip() for o in record["outputs"].values())
    assert (shared_runs / name / "report.html").is_file()
    commands = (shared_runs / name / "commands.sh").read_text().splitlines()
    assert len(commands) == 1 + len(recipe.all_steps(shared_runs / name, SMALL))


def parse_only(argv: list[str]) -> None:
    """Parse ``smoothcert ARGV`` as the CLI would (every option's name, type and callback), running nothing."""
    command, args, parent = main, list(argv), None
    while isinstance(command, click.Group):
        parent = click.Context(command, info_name=args[0] if parent else "smoothcert", parent=parent)
        name, args = args[0], args[1:]
        command = command.get_command(parent, name)
        assert command is not None, f"no command {name!r} in `smoothcert {shlex.join(argv)}`"
    with command.make_context(name, args, parent=parent):
        pass


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_full_scale_command_line_is_one_the_cli_accepts(name, tmp_path):
    """The full scale runs only in `make results` (hours): its command lines are at least valid ones."""
    data = tmp_path / "mnist"
    data.mkdir()
    for step in RECIPES[name].all_steps(tmp_path / name, Settings(data_dir=data)):
        parse_only(list(step.argv))


def test_seed_input_bootstrap_covers_the_true_accuracy():
    """95% intervals from 3 seeds × 200 inputs of known per-input success probabilities cover the mean
    probability in about 95% of repetitions (binomial band for 200 repetitions)."""
    rng = np.random.default_rng(1)
    p = rng.uniform(0.6, 1.0, size=200)  # input i is right with probability p[i] under every seed
    covered = 0
    for _ in range(200):
        inputs = rng.integers(0, len(p), size=200)  # the test inputs drawn from the population
        seeds = [rng.random(200) < p[inputs] for _ in range(3)]
        est = seed_input_bootstrap(seeds, accuracy, n_resamples=400, seed=int(rng.integers(1 << 30)))
        covered += est.low <= p.mean() <= est.high
        assert est.value == pytest.approx(np.mean([s.mean() for s in seeds]))
    assert 0.88 <= covered / 200 <= 0.995


def test_class_spread_by_hand_and_input_checks():
    values = np.array([[0, 1], [0, 1], [1, 0], [1, 1], [2, 1]])  # class 0: 1.0, class 1: 0.5, class 2: 1.0
    assert class_spread(3)(values[None])[0] == pytest.approx(0.5)
    est = seed_input_bootstrap([values, values], class_spread(3), n_resamples=200)
    assert est.per_seed == (0.5, 0.5) and 0.0 <= est.low <= 0.5 <= est.high <= 1.0
    assert f"{est:.2f}".startswith("0.50 [")
    with pytest.raises(InvalidArgumentError, match="same non-empty inputs"):
        seed_input_bootstrap([values, values[:3]], class_spread(3))



def test_auroc_statistic_is_sklearns_auroc_with_ties_and_covers_the_true_one():
    """The vectorized Mann–Whitney AUROC equals scikit-learn's ROC area per replicate (ties and ±inf included),
    and its bootstrap interval covers the population AUROC of two normals, Φ(d / √2), about 95% of the time."""
    from scipy.stats import norm
    from sklearn.metrics import roc_auc_score

    from smoothcert.analysis.intervals import auroc

    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=(4, 30, 2)) + np.array([0.0, 0.8]), 1)  # rounded: many ties
    values[0, 0, 1], values[1, 2, 0] = np.inf, -np.inf
    labels = np.r_[np.zeros(30), np.ones(30)]
    expected = [roc_auc_score(labels, np.nan_to_num(np.r_[v[:, 0], v[:, 1]], posinf=99, neginf=-99)) for v in values]
    np.testing.assert_allclose(auroc(values), expected, rtol=1e-12)
    d, covered = 0.8, 0
    for _ in range(100):
        seeds = [np.stack([rng.normal(size=120), rng.normal(size=120) + d], axis=1) for _ in range(2)]
        est = seed_input_bootstrap(seeds, auroc, n_resamples=300, seed=int(rng.integers(1 << 30)))
        covered += est.low <= norm.cdf(d / np.sqrt(2)) <= est.high
    assert 0.85 <= covered / 100 <= 0.99
def test_ctrl_c_says_that_rerunning_continues():
    from smoothcert.cli.common import interrupt_hint

    hint = interrupt_hint((main, ["results", "run", "zoo"]))
    assert "rerun the same command to continue" in hint and "--resume" not in hint


def test_cli_names_bad_recipes_and_missing_mnist_in_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["results", "run", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no recipe 'nope' (known: tradeoff-disks, audit-digits" in result.output
    result = runner.invoke(main, ["results", "run", "zoo", "--data-dir", str(tmp_path / "absent"),
                                  "--out", str(tmp_path)])
    assert result.exit_code == 2 and "recipe 'zoo' needs MNIST" in result.output
    assert not (tmp_path / "zoo").exists()  # refused before anything ran
    write_doc(tmp_path / "docs")
    result = runner.invoke(main, ["results", "check", "--docs", str(tmp_path / "docs")])
    assert result.exit_code == 2 and "toy/headline names no recipe" in result.output
