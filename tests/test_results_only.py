"""smoothcert results run --only: some steps of a recipe (one σ of cohen-mnist), with what they read, the outputs
their runs make, the others waiting; and the rest run later completing the recipe as one run would have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from smoothcert.cli import main
from smoothcert.errors import InputError
from smoothcert.results import Output, Recipe, Settings, Step, check_docs, regenerate_docs, run_parallel, run_recipe
from smoothcert.results.recipe import select_steps
from smoothcert.results.runner import check_requires, selected_recipes

PARTS = ("a", "b")


def parts_recipe(name: str = "parts", partial: bool = True) -> Recipe:
    """Per part a train step then a certify step (one chain each), a report, and one output per finished part."""

    def steps(out: Path, settings: Settings) -> list[Step]:
        return [Step(f"{p}/{kind}", ("write", str(out / p / f"{kind}.json")), done=out / p / f"{kind}.json")
                for p in PARTS for kind in ("train", "certify")]

    def tabulate(out: Path, settings: Settings) -> dict[str, Output]:
        made = {}
        for p in PARTS:
            if (out / p / "certify.json").is_file():
                value = json.loads((out / p / "certify.json").read_text())["value"]
                made[f"table_{p}"] = Output(f"| {p} | {value:.3f} |", (out / p,))
        return made

    return Recipe(name, "two parts", tuple(f"table_{p}" for p in PARTS), steps, tabulate, partial=partial,
                  report=lambda out, settings: [out / p for p in PARTS])


class Writer:
    """Stands in for smoothcert: writes a finished manifest at the command's output path (the report's --out)."""

    def __init__(self, value: float = 0.25) -> None:
        self.calls: list[list[str]] = []
        self.value = value

    def __call__(self, argv, log: Path | None = None) -> int:
        self.calls.append(list(argv))
        path = Path(argv[argv.index("--out") + 1] if "--out" in argv else argv[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"status": "complete", "value": self.value}))
        return 0


def ran(writer: Writer) -> list[str]:
    """The files the commands wrote, as part/file."""
    return ["/".join(Path(c[c.index("--out") + 1] if "--out" in c else c[1]).parts[-2:]) for c in writer.calls]


def quiet(line: str) -> None:
    pass


def test_a_selected_step_brings_the_earlier_steps_of_its_chain_and_nothing_else(tmp_path):
    steps = parts_recipe().steps(tmp_path, Settings())
    assert [s.name for s in select_steps(steps, ["b/certify"])] == ["b/train", "b/certify"]
    assert [s.name for s in select_steps(steps, ["a/train"])] == ["a/train"]  # later steps are not needed
    assert [s.name for s in select_steps(steps, ["*/train", "b/*"])] == ["a/train", "b/train", "b/certify"]
    assert select_steps(steps, ["c/*"]) == []


def test_a_pattern_that_matches_no_step_is_refused_naming_it(tmp_path):
    with pytest.raises(InputError, match=r"--only 'sigma_9/\*' matches no step of parts \(step names look like "
                                         r"'a/train'"):
        selected_recipes([parts_recipe()], tmp_path, Settings(only=("sigma_9/*",)))
    solo = Recipe("solo", "one step", (), lambda out, settings: [Step("x", ("write", str(out / "x")), out / "x")],
                  lambda out, settings: {})
    chosen = selected_recipes([parts_recipe(), solo, parts_recipe("other")], tmp_path, Settings(only=("a/*",)))
    assert [r.name for r in chosen] == ["parts", "other"]  # a recipe none of whose steps match is left alone


@pytest.mark.parametrize("jobs", [1, 2])
def test_some_steps_make_their_outputs_and_the_rest_complete_the_recipe(tmp_path, jobs):
    def run(settings: Settings, writer: Writer) -> Path | None:
        if jobs == 1:
            return run_recipe(parts_recipe(), tmp_path, settings, execute=writer, echo=quiet)
        return run_parallel([parts_recipe()], tmp_path, settings, jobs, execute=writer, echo=quiet)["parts"]

    first = Writer()
    written = run(Settings(only=("a/*",)), first)
    assert ran(first) == ["a/train.json", "a/certify.json"]  # b's steps and the report wait
    record = json.loads(written.read_text())
    assert set(record["outputs"]) == {"table_a"} and record["missing"] == ["table_b"]
    commands = (tmp_path / "parts" / "commands.sh").read_text().splitlines()
    assert len(commands) == 1 + 4 + 1  # every step of the recipe, as a user would type them, and the report
    with pytest.raises(InputError, match="reads the runs of 'parts'"):  # a reader needs the whole recipe
        check_requires(Recipe("reader", "", (), lambda o, s: [], lambda o, s: {}, requires=("parts",)), tmp_path)

    second = Writer()
    written = run(Settings(only=("b/*",)), second)  # finishes the recipe: the report comes with it
    assert ran(second) == ["b/train.json", "b/certify.json", "parts/report.html"]
    record = json.loads(written.read_text())
    assert set(record["outputs"]) == {"table_a", "table_b"} and record["missing"] == []
    check_requires(Recipe("reader", "", (), lambda o, s: [], lambda o, s: {}, requires=("parts",)), tmp_path)


def test_a_recipe_that_tabulates_only_whole_writes_nothing_until_its_steps_are_all_finished(tmp_path):
    recipe = parts_recipe(partial=False)
    assert run_recipe(recipe, tmp_path, Settings(only=("a/*",)), execute=Writer(), echo=quiet) is None
    assert not (tmp_path / "parts" / "outputs.json").exists()
    written = run_recipe(recipe, tmp_path, Settings(), execute=Writer(), echo=quiet)
    assert json.loads(written.read_text())["missing"] == []


def test_docs_quote_the_outputs_made_and_keep_the_others_waiting(tmp_path):
    recipes = {"parts": parts_recipe()}
    docs = tmp_path / "docs"
    docs.mkdir()
    page = ("A: <!-- results: parts/table_a -->old<!-- /results -->\n\n"
            "B: <!-- results: parts/table_b -->old<!-- /results -->\n")
    (docs / "page.md").write_text(page)
    run_recipe(parts_recipe(), tmp_path / "runs", Settings(only=("a/*",)), execute=Writer(0.5), echo=quiet)
    updated, pending = regenerate_docs(docs, tmp_path / "runs", recipes)
    assert [q.id for q in updated] == ["parts/table_a"] and [q.id for q in pending] == ["parts/table_b"]
    text = (docs / "page.md").read_text()
    assert "| a | 0.500 |" in text and "B: <!-- results: parts/table_b -->old<!-- /results -->" in text
    problems = check_docs(docs, recipes, tmp_path / "runs")
    assert problems == ["page.md:3: the quote of parts/table_b is not the one regenerated from its runs (edited by "
                        "hand, or never regenerated: smoothcert results docs)"]  # never made: no number compared


def test_the_cli_runs_the_selection_and_lists_the_steps(tmp_path):
    runner = CliRunner()
    out = tmp_path / "runs"
    result = runner.invoke(main, ["results", "run", "tradeoff-disks", "--scale", "small", "--out", str(out),
                                  "--only", "no-such-step"])
    assert result.exit_code == 2 and "--only 'no-such-step' matches no step of tradeoff-disks" in result.output
    assert len(result.output.strip().splitlines()) == 1
    listed = runner.invoke(main, ["results", "list", "cohen-mnist", "--with-steps", "--runs", str(out)])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith("cohen-mnist") and "not finished" in lines[0]
    assert lines[1].split() == ["sigma_0.25/seed_0/train", "to", "run"] and lines[-1].split() == ["report", "to", "run"]
