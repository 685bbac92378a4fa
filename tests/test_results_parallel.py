"""`smoothcert results run --jobs N`: independent chains of steps at once, in order within a chain, the report after
all of them, nothing lost on a failure or an interrupt."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from smoothcert.cli import main
from smoothcert.errors import InputError, InvalidArgumentError, ResultsError
from smoothcert.results import RECIPES, Output, Recipe, Settings, Step, run_parallel
from smoothcert.results.parallel import Commands, log_path
from smoothcert.signals import GRACE_S, Terminated
from tests.test_results import MNIST


def chains_recipe(name: str = "toy", chains: tuple[str, ...] = ("a", "b"), requires: tuple[str, ...] = ()) -> Recipe:
    """Per chain c: c/train then c/certify (each writes its done file); then a report over all of them."""

    def steps(out: Path, settings: Settings) -> list[Step]:
        found = []
        for c in chains:
            found += [Step(f"{c}/train", ("write", str(out / c / "model.json")), done=out / c / "model.json"),
                      Step(f"{c}/certify", ("write", str(out / c / "certify.json")), done=out / c / "certify.json",
                           resume_marker=out / c / "certify.partial")]
        return [*found, Step("report", ("write", str(out / "report.json")), done=out / "report.json",
                             after_all=True)]

    def tabulate(out: Path, settings: Settings) -> dict[str, Output]:
        done = sorted(p.parent.name for p in out.glob("*/certify.json"))
        return {"chains": Output(",".join(done), tuple(out / c for c in done))}

    return Recipe(name, "chains", ("chains",), steps, tabulate, requires=requires)


class Recorder:
    """Stands in for the commands: ``write PATH`` writes a complete manifest; records the order of starts and
    ends and how many ran at once. ``hold``: step files whose command waits until ``release`` is set."""

    def __init__(self, fail: str | None = None, barrier: threading.Barrier | None = None) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.live = self.most = 0
        self.fail, self.barrier = fail, barrier
        self.release = threading.Event()
        self.hold: set[str] = set()
        self.interrupted: float | None = None

    def __call__(self, argv, log: Path) -> int:
        path = Path(argv[1])
        step = f"{path.parent.name}/{path.stem}"
        with self.lock:
            self.events.append(("start", step))
            self.live += 1
            self.most = max(self.most, self.live)
        try:
            if self.barrier is not None and path.stem == "model":
                self.barrier.wait(timeout=30)  # breaks (and fails the test) unless the trains run at once
            if step in self.hold:
                assert self.release.wait(timeout=30)
            log.parent.mkdir(parents=True, exist_ok=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"ran {' '.join(argv)}\nlast words of {step}\n")
            if step == self.fail:
                path.with_suffix(".partial").write_text("half")
                return 1
            path.write_text(json.dumps({"status": "complete", "resumed": argv[-1] == "--resume"}))
            return 0
        finally:
            with self.lock:
                self.events.append(("end", step))
                self.live -= 1

    def interrupt(self, grace_s: float) -> None:
        self.interrupted = grace_s
        self.release.set()

    def order(self, kind: str) -> list[str]:
        return [s for k, s in self.events if k == kind]


def test_independent_chains_run_at_once_in_order_within_each(tmp_path):
    rec = Recorder(barrier=threading.Barrier(2))
    written = run_parallel([chains_recipe()], tmp_path, Settings(), jobs=2, execute=rec, echo=lambda line: None)
    events = rec.events
    for c in ("a", "b"):
        assert events.index(("end", f"{c}/model")) < events.index(("start", f"{c}/certify"))
    assert events.index(("start", "toy/report")) > max(events.index(("end", f"{c}/certify")) for c in "ab")
    assert rec.most == 2
    record = json.loads(written["toy"].read_text())
    assert record["outputs"]["chains"]["text"] == "a,b"
    assert log_path(tmp_path, chains_recipe(), Step("a/train", (), Path())) == tmp_path / "toy/logs/a__train.log"
    assert (tmp_path / "toy" / "logs" / "a__train.log").read_text().startswith("ran write")


def test_a_step_freed_by_a_finished_one_starts_without_waiting_for_the_running_ones(tmp_path):
    """Resuming: a/train finished before, so a/certify starts beside b/train at once (b/train waits for it)."""
    (tmp_path / "toy" / "a").mkdir(parents=True)
    (tmp_path / "toy" / "a" / "model.json").write_text(json.dumps({"status": "complete"}))
    rec = Recorder()
    rec.hold = {"b/model"}

    def execute(argv, log):
        if argv[1].endswith("a/certify.json"):
            rec.release.set()
        return rec(argv, log)

    run_parallel([chains_recipe()], tmp_path, Settings(), jobs=2, execute=execute, echo=lambda line: None)
    assert "a/model" not in rec.order("start") and rec.events.index(("start", "a/certify")) < \
        rec.events.index(("end", "b/model"))


def test_no_more_than_jobs_commands_at_once(tmp_path):
    rec = Recorder()
    run_parallel([chains_recipe(chains=("a", "b", "c", "d", "e"))], tmp_path, Settings(), jobs=3, execute=rec,
                 echo=lambda line: None)
    assert 1 <= rec.most <= 3 and len(rec.order("start")) == 11


def test_a_failed_step_stops_its_chain_only_and_the_next_run_continues(tmp_path):
    rec = Recorder(fail="a/certify")
    lines: list[str] = []
    with pytest.raises(ResultsError, match=r"1 step\(s\) failed, 1 step\(s\) after them not run: recipe 'toy', step "
                                           r"a/certify: `smoothcert write` exited with 1 \(log .*a__certify.log: "
                                           r"last words of a/certify\).*run again to continue"):
        run_parallel([chains_recipe()], tmp_path, Settings(), jobs=2, execute=rec, echo=lines.append)
    assert set(rec.order("start")) == {"a/model", "a/certify", "b/model", "b/certify"}  # b went on; no report
    assert any("a/certify: FAILED" in line for line in lines)
    assert not (tmp_path / "toy" / "outputs.json").exists()
    again = Recorder()
    run_parallel([chains_recipe()], tmp_path, Settings(), jobs=2, execute=again, echo=lambda line: None)
    assert again.order("start") == ["a/certify", "toy/report"]  # the finished steps are not run again
    assert json.loads((tmp_path / "toy" / "a" / "certify.json").read_text())["resumed"]


def test_a_recipe_that_reads_another_waits_for_its_outputs(tmp_path):
    seen: list[bool] = []
    rec = Recorder()

    def execute(argv, log):
        if "/second/" in argv[1]:
            seen.append((tmp_path / "first" / "outputs.json").is_file())
        return rec(argv, log)

    first, second = chains_recipe("first"), chains_recipe("second", requires=("first",))
    written = run_parallel([first, second], tmp_path, Settings(), jobs=4, execute=execute, echo=lambda line: None)
    assert seen and all(seen) and set(written) == {"first", "second"}
    with pytest.raises(InputError, match="reads the runs of 'first'"):
        run_parallel([chains_recipe("third", requires=("first",)), first], tmp_path / "new", Settings(), jobs=2,
                     execute=rec, echo=lambda line: None)


@pytest.mark.parametrize(("interrupt", "grace_s"), [(KeyboardInterrupt(), GRACE_S), (Terminated(signal.SIGTERM), 0.0)])
def test_an_interrupt_lets_the_running_commands_finish_and_starts_nothing_more(tmp_path, interrupt, grace_s):
    rec = Recorder()
    rec.hold = {"a/model"}

    def echo(line: str) -> None:
        if "b/train: +" in line:  # Ctrl-C (or SIGTERM) once both trains are running
            raise interrupt

    with pytest.raises(type(interrupt)):
        run_parallel([chains_recipe()], tmp_path, Settings(), jobs=2, execute=rec, echo=echo)
    # Ctrl-C reached the commands too and they get time to stop; SIGTERM came to the runner alone: sent at once.
    assert rec.interrupted == grace_s
    assert set(rec.order("start")) == set(rec.order("end")) == {"a/model", "b/model"}
    assert (tmp_path / "toy" / "a" / "model.json").is_file()  # what was running saved its work


@pytest.mark.parametrize("jobs", [0, -1, True, 1.5])
def test_jobs_must_be_a_positive_integer(tmp_path, jobs):
    with pytest.raises(InvalidArgumentError, match="--jobs must be an integer >= 1"):
        run_parallel([chains_recipe()], tmp_path, Settings(), jobs=jobs, execute=Recorder(), echo=lambda line: None)


def test_the_cli_refuses_jobs_below_one(tmp_path):
    result = CliRunner().invoke(main, ["results", "run", "tradeoff-disks", "--jobs", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--jobs" in result.stderr and len(result.stderr.splitlines()) == 1


def test_commands_run_smoothcert_with_its_output_in_the_log(tmp_path):
    log = tmp_path / "logs" / "x.log"
    assert Commands(threads=1)(["--version"], log) == 0
    assert Commands(threads=1)(["no-such-command"], log) == 2
    text = log.read_text()
    assert "$ smoothcert --version" in text and "0.1.0" in text
    assert "$ smoothcert no-such-command" in text and "smoothcert: error: " in text


def test_every_step_that_reads_another_steps_folder_runs_after_it_in_its_chain():
    """The chains of the real recipes: a step whose command line names the folder of an earlier step's output
    (a checkpoint, a run to evaluate) is in that step's chain, or waits for all (the report)."""

    settings = Settings(scale="full", data_dir=MNIST)
    checked = 0
    for recipe in RECIPES.values():
        out = Path("/runs") / recipe.name
        steps = recipe.all_steps(out, settings)
        for j, later in enumerate(steps):
            for earlier in steps[:j]:
                folder = earlier.done.parent
                if folder == out or later.after_all:
                    continue
                if any(arg == str(folder) or arg.startswith(str(folder) + "/") for arg in later.argv):
                    assert later.chain_id == earlier.chain_id, (recipe.name, earlier.name, later.name)
                    checked += 1
    assert checked >= 40


def test_the_cli_runs_a_small_recipe_with_two_jobs(tmp_path):
    """The real commands in fresh interpreters: the disks and their report, each step's output in its log."""
    result = CliRunner().invoke(main, ["results", "run", "tradeoff-disks", "--scale", "small", "--jobs", "2",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "[tradeoff-disks 1/2] disks: done in" in result.output
    assert (tmp_path / "tradeoff-disks" / "outputs.json").is_file()
    assert "$ smoothcert tradeoff disks" in (tmp_path / "tradeoff-disks" / "logs" / "disks.log").read_text()
