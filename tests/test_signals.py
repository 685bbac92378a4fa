"""SIGTERM and SIGHUP stop a command as Ctrl-C does (rows kept, one line, exit 128 + the signal), and a runner
that is stopped so stops the commands it started instead of leaving them running as orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from smoothcert.cli import main
from smoothcert.signals import GRACE_S, Terminated, grace_for, stop_children, stop_requests_as_interrupt

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SMOOTHCERT = [sys.executable, "-m", "smoothcert.cli"]
# A child that stops as a smoothcert command does: SIGTERM raises KeyboardInterrupt, on which it writes "saved"
# into argv[1] and exits 130. It ignores SIGINT, as a command started in the background does.
SAVER = ("import signal, sys, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
         "def stop(*_):\n    raise KeyboardInterrupt\nsignal.signal(signal.SIGTERM, stop)\n"
         "open(sys.argv[1] + '.started', 'w').close()\ntry:\n    time.sleep(30)\n"
         "except KeyboardInterrupt:\n    open(sys.argv[1], 'w').write('saved')\n    sys.exit(130)\n")


def wait_for(condition, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigterm_raises_terminated_inside_the_block_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught, stop_requests_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs at the next bytecode; never reached
    assert caught.value.signum == signal.SIGTERM and str(caught.value) == "SIGTERM"
    assert isinstance(caught.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before
    assert grace_for(caught.value) == 0.0 and grace_for(KeyboardInterrupt()) == GRACE_S


def test_an_ignored_sighup_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with stop_requests_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_stop_children_sends_sigterm_so_the_child_saves_even_with_sigint_ignored(tmp_path):
    saved = tmp_path / "saved"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(saved)])
    wait_for(lambda: Path(str(saved) + ".started").exists())
    stop_children([proc], grace_s=0.0)
    assert proc.returncode == 130 and saved.read_text() == "saved"


def test_stop_children_lets_a_child_that_ends_in_its_grace_alone(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    stop_children([proc], grace_s=GRACE_S)
    assert proc.returncode == 0  # ended by itself, not by a signal


def test_the_sequential_runner_passes_sigterm_on_and_waits_for_its_command(tmp_path, monkeypatch):
    # The command ignores SIGINT (as under `nohup … &`) and runs 30 s unless stopped: only SIGTERM stops it early.
    from smoothcert.results import runner

    saved = tmp_path / "saved"
    monkeypatch.setattr(runner, "SMOOTHCERT", (sys.executable, "-c", SAVER))
    threading.Thread(target=lambda: (wait_for(lambda: Path(str(saved) + ".started").exists()),
                                     os.kill(os.getpid(), signal.SIGTERM)), daemon=True).start()
    began = time.monotonic()
    with pytest.raises(Terminated), stop_requests_as_interrupt():
        runner._smoothcert([str(saved)])
    assert saved.read_text() == "saved" and time.monotonic() - began < 25  # stopped, not run out


def test_the_parallel_runner_stops_its_commands_at_once_after_sigterm(tmp_path, monkeypatch):
    from smoothcert.results import parallel

    saved = tmp_path / "saved"
    monkeypatch.setattr(parallel, "SMOOTHCERT", (sys.executable, "-c", SAVER))
    commands = parallel.Commands(threads=1)
    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(commands([str(saved)], tmp_path / "step.log")))
    worker.start()
    wait_for(lambda: Path(str(saved) + ".started").exists())
    commands.interrupt(grace_for(Terminated(signal.SIGTERM)))
    worker.join(timeout=25)
    assert codes == [130] and saved.read_text() == "saved"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    stem = tmp_path_factory.mktemp("ckpt") / "model"
    result = CliRunner().invoke(main, ["train", "--dataset", "digits", "--arch", "lenet", "--epochs", "1",
                                       "--out", str(stem), "--quiet"])
    assert result.exit_code == 0, result.output
    return stem


def rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    return [line.split("\t") for line in lines[1:]]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_certify_keeps_its_rows_says_so_and_resumes(tmp_path, checkpoint, signum):
    out = tmp_path / "certify.tsv"
    argv = [*SMOOTHCERT, "certify", "--checkpoint", str(checkpoint), "--sigma", "0.25", "--n0", "20",
            "--n", "20000", "--max", "40", "--no-timing", "--quiet", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: len(rows(out)) >= 1)
    finally:
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"smoothcert: stopped by {signal.Signals(signum).name}; ") and "--resume" in last
    kept = rows(out)
    width = len(out.read_text().splitlines()[0].split("\t"))
    assert 1 <= len(kept) < 40 and all(len(r) == width for r in kept)  # whole rows only
    done = subprocess.run([*argv, "--resume"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    finished = rows(out)
    assert len(finished) == 40 and finished[:len(kept)] == kept  # the kept rows were not recomputed
    assert [r[0] for r in finished] == sorted({r[0] for r in finished}, key=int)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.is_file() and status.read_text().split()[2] == "Z")  # a zombie has ended


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for a job started with `&`: its children inherit it


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads children from /proc")
@pytest.mark.parametrize(("jobs", "background"), [(1, True), (2, True), (2, False)])
def test_a_terminated_runner_stops_the_commands_it_started(tmp_path, jobs, background):
    runner = subprocess.Popen([*SMOOTHCERT, "results", "run", "cohen-mnist", "--scale", "small", "--out",
                               str(tmp_path), "--jobs", str(jobs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"},
                              preexec_fn=ignore_sigint if background else None)
    try:
        for line in runner.stdout:
            if "+ smoothcert train" in line:  # a step has started
                break
        wait_for(lambda: children_of(runner.pid), timeout_s=60)
        started = children_of(runner.pid)
    finally:
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=180)
    assert runner.returncode == 128 + signal.SIGTERM, stderr
    assert "smoothcert: stopped by SIGTERM; " in stderr and "finished steps are skipped" in stderr
    for pid in started:
        assert not alive(pid), f"the runner left its command {pid} running"
    # What it leaves is a folder it continues: the recipe lock is free again.
    assert not (tmp_path / "cohen-mnist" / "recipe.lock.pid").exists()
