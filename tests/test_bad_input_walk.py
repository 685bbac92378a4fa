"""Every command and subcommand of the CLI, walked with bad input: exit code 2, exactly one line on stderr
("smoothcert: error: …"), no traceback, nothing written.

The commands are enumerated from the click group ``smoothcert.cli.main``, so a new command is walked without
editing this file. Each command gets the bad inputs that fit its options:

- a missing input file (its results files, ``--checkpoint``, ``--run`` or ``--dataset FILE.npz``);
- a bad number (a count of 0, a negative σ, a failure probability of 2, …), and a word where any number goes;
- an output that cannot be written (``--out``, ``--plot``). The tests run as root, whom a read-only folder
  does not stop, so unwritable output is made real another way: the output path lies under an existing
  regular FILE, which no process can create a folder in. (Read-only folders proper, which only the
  permission bits forbid, are simulated in tests/test_cli_output_checks.py by making the write probe fail.)
- options that contradict each other, wherever a command has them: ``--resume`` with ``--overwrite``,
  ``--weights`` with ``--checkpoint``, ``--num-classes 0``, ``--sequential --radius`` with ``--tolerance``,
  a τ below 0 (every sample ⊥).

A command's required options get good values from :data:`GOOD` (by option name); a command needing one not
listed there fails :func:`test_every_required_option_has_a_good_value`, so the walk never passes vacuously.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from smoothcert.cli import main

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def leaf_commands(group: click.Group = main, path: tuple[str, ...] = ()) -> dict[str, click.Command]:
    """'audit disparity' → its command, for every command of ``group`` that is not itself a group."""
    found: dict[str, click.Command] = {}
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found |= leaf_commands(command, (*path, name))
        else:
            found[" ".join((*path, name))] = command
    return found


COMMANDS = leaf_commands()

#: Good values of the options and arguments a command cannot run without, by name ({…} filled in per test);
#: every command gets those of them it has.
GOOD: dict[str, str] = {
    "--out": "{tmp}/out", "--sigma": "0.25", "--checkpoint": "{ckpt}", "--run": "{tmp}/run",
    "files": "{results}", "file": "{uncertainty}", "run": "{results}", "paths": "{folder}", "dataset": "digits",
}
#: What else a command needs to get past its own checks to the bad input.
EXTRA: dict[str, dict[str, str]] = {"uncertainty certify": {"--tau": "0.5"}, "uncertainty sweep": {"--taus": "0.5"},
                                    "report": {"--out": "{tmp}/report.html"}}

#: Input files to name as missing, the first one a command has: (option or argument, value).
MISSING = [("files", "{tmp}/absent.tsv"), ("file", "{tmp}/absent.tsv"), ("run", "{tmp}/absent.tsv"),
           ("--checkpoint", "{tmp}/absent/model"),
           ("--run", "{tmp}/absent"), ("paths", "{tmp}/absent"), ("--dataset", "{tmp}/absent.npz"),
           ("dataset", "{tmp}/absent.npz")]
#: Bad numbers, the first one a command has: (option, value, a fragment of the message).
BAD_NUMBERS = [("--sigma", "-1", "sigma"), ("--n", "0", "n must"), ("--epochs", "0", "epochs"),
               ("--alpha", "2", "alpha"), ("--high-prob-alpha", "2", "alpha"), ("--steps", "0", "steps"),
               ("--mc", "0", "mc"), ("--m", "0", "m must"), ("--draws", "0", "draws"), ("--size", "0", "size"),
               ("--threads", "0", "threads"), ("--eps", "x", "--eps"), ("--radii", "0.5,x", "--radii")]
#: Outputs to put under a regular file, the first one a command has (a mix run folder is written into too).
OUTPUTS = ["--out", "--plot", "--run"]
#: Contradicting options: (options given, a fragment of the message); walked where a command has them all.
CONFLICTS = [
    ({"--resume": True, "--overwrite": True}, "give one"),
    ({"--weights": "{tmp}/w.safetensors"}, "--weights"),
    ({"--num-classes": "0"}, "num_classes"),
    ({"--sequential": True, "--radius": "0.5", "--tolerance": "0.01"}, "tolerance"),
    ({"--tau": "-1"}, "tau"),
    ({"--taus": "-1,0.5"}, "tau"),
]


def options(command: click.Command) -> dict[str, click.Parameter]:
    """Option string ('--out') or argument name ('files') → parameter."""
    found: dict[str, click.Parameter] = {}
    for param in command.params:
        if isinstance(param, click.Argument):
            found[param.name] = param
        else:
            found |= {opt: param for opt in param.opts}
    return found


def numeric_options(command: click.Command) -> list[str]:
    return [param.opts[0] for param in command.params if isinstance(param, click.Option) and not param.is_flag
            and isinstance(param.type, click.types.IntParamType | click.types.FloatParamType)]


def arguments(name: str, overrides: dict[str, object], where: dict[str, Path]) -> list[str]:
    """Good arguments of command ``name`` with ``overrides`` (None drops an option, True gives a flag)."""
    params = options(COMMANDS[name])
    chosen: dict[str, object] = {key: GOOD[key] for key in params if key in GOOD}
    chosen |= EXTRA.get(name, {})
    for flag, value in (("--quiet", True), ("--device", "cpu")):
        if flag in params:
            chosen[flag] = value
    chosen |= overrides
    positional, args = [], []
    for key, value in chosen.items():
        if value is None:
            continue
        text = value if value is True else str(value).format(**where)
        if key.startswith("--"):
            args += [key] if value is True else [key, text]
        else:
            positional.append(text)
    return [*name.split(), *positional, *args]


def assert_one_line_error(result: Result, fragment: str) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("smoothcert: error: "), lines[0]
    assert "Traceback" not in result.output
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def where(tmp_path_factory) -> dict[str, Path]:
    """A checkpoint (one epoch on digits), a certify and an uncertainty-aware results file of two inputs each,
    and a regular file to put outputs under."""
    d = tmp_path_factory.mktemp("walk")
    ckpt, results, uncertainty = d / "model", d / "results.tsv", d / "uncertainty.tsv"
    tiny = ["--checkpoint", str(ckpt), "--sigma", "0.25", "--n0", "10", "--n", "20", "--max", "2", "--quiet"]
    for args in (["train", "--epochs", "1", "--out", str(ckpt), "--quiet"],
                 ["certify", *tiny, "--out", str(results)],
                 ["uncertainty", "certify", *tiny, "--tau", "0.5", "--out", str(uncertainty)]):
        made = CliRunner().invoke(main, args)
        assert made.exit_code == 0, (args, made.output)
    blocking = d / "blocking_file"
    blocking.write_text("a regular file: no folder can be made under it, not even by root\n")
    return {"ckpt": ckpt, "results": results, "uncertainty": uncertainty, "blocking": blocking, "folder": d}


def walk(name: str, overrides: dict[str, object], fragment: str, where: dict[str, Path], tmp: Path) -> str:
    """Run command ``name`` with ``overrides``; assert the one-line error and that nothing was written."""
    args = arguments(name, overrides, {**where, "tmp": tmp})
    result = CliRunner().invoke(main, args)
    line = assert_one_line_error(result, fragment)
    assert list(tmp.iterdir()) == [], (args, sorted(p.name for p in tmp.iterdir()))
    return line


def first(candidates, params):
    return next((c for c in candidates if (c[0] if isinstance(c, tuple) else c) in params), None)


def test_the_walk_finds_every_command():
    assert {"train", "certify", "predict", "analyze", "demo", "audit run", "audit disparity", "tradeoff disks",
            "tradeoff grid", "uncertainty certify", "mix eval"} <= set(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_required_option_has_a_good_value(name):
    missing = [key for key, param in options(COMMANDS[name]).items()
               if param.required and key not in GOOD and key not in EXTRA.get(name, {})]
    assert not missing, f"add good values for {missing} of `smoothcert {name}` to GOOD so the walk can run it"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_missing_input_file(name, where, tmp_path):
    case = first(MISSING, options(COMMANDS[name]))
    if case is None:
        pytest.skip(f"`smoothcert {name}` reads no input file")
    walk(name, {case[0]: case[1]}, "absent", where, tmp_path)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_bad_number(name, where, tmp_path):
    params = options(COMMANDS[name])
    case = first(BAD_NUMBERS, params)
    if case is None:
        numeric = numeric_options(COMMANDS[name])
        if not numeric:
            pytest.skip(f"`smoothcert {name}` takes no number")
        case = (numeric[0], "abc", numeric[0])
    walk(name, {case[0]: case[1]}, case[2], where, tmp_path)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_word_where_a_number_goes(name, where, tmp_path):
    """Click's own type errors are one line too (not click's usage block)."""
    numeric = numeric_options(COMMANDS[name])
    if not numeric:
        pytest.skip(f"`smoothcert {name}` takes no number")
    for option in numeric:
        walk(name, {option: "abc"}, f"'{option}'", where, tmp_path)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_output_under_a_regular_file(name, where, tmp_path):
    option = first(OUTPUTS, options(COMMANDS[name]))
    if option is None:
        pytest.skip(f"`smoothcert {name}` has no output option")
    good = {**GOOD, **EXTRA.get(name, {})}.get(option, "out")
    before = where["blocking"].read_text()
    walk(name, {option: "{blocking}/" + Path(good).name}, "blocking_file", where, tmp_path)
    assert where["blocking"].read_text() == before


@pytest.mark.parametrize(("name", "case"), [
    (name, k) for name, command in COMMANDS.items() for k, (given, _) in enumerate(CONFLICTS)
    if all(option in options(command) for option in given)
])
def test_conflicting_options(name, case, where, tmp_path):
    given, fragment = CONFLICTS[case]
    if "--tau" in given and "--uncertainty" in options(COMMANDS[name]):
        given = {**given, "--uncertainty": "entropy"}
    walk(name, given, fragment, where, tmp_path)


def test_every_command_with_these_options_is_walked_for_conflicts():
    """The commands item 8 names all have a conflict case (predict, uncertainty, mix …)."""
    walked = {name for name, command in COMMANDS.items() for given, _ in CONFLICTS
              if all(option in options(command) for option in given)}
    assert {"certify", "predict", "uncertainty certify", "uncertainty sweep", "uncertainty ood", "mix eval",
            "mix certify"} <= walked


def test_an_unknown_command_or_option_is_one_line():
    for args, fragment in ((["nosuch"], "nosuch"), (["--bogus"], "--bogus"), (["certify", "--bogus"], "--bogus"),
                           (["mix", "--bogus"], "--bogus"), (["tradeoff", "disks"], "--out")):
        assert_one_line_error(CliRunner().invoke(main, args), fragment)
