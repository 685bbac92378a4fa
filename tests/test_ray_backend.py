"""The Ray backend, for real, on a local cluster bound to 127.0.0.1 that these tests start and stop: a Ray run's
rows equal a serial run's byte for byte (time column aside: --no-timing), a worker killed mid-run costs nothing,
a killed driver is completed by --resume with either backend, and a chunk delivered twice is written once.

Ray comes with the ``ray`` extra (``make test`` installs it); without it this module fails, it never skips.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from smoothcert.backends import CertifyTask, ModelSource, RayBackend, SerialBackend
from smoothcert.backends.base import BackendError
from smoothcert.backends.ray import import_ray
from smoothcert.cli import main
from smoothcert.data import load_dataset
from smoothcert.models import load_checkpoint
from smoothcert.pipeline import certify_dataset
from smoothcert.runs import CERTIFY_COLUMNS, Run, RunOptions
from smoothcert.runs.counts import read_counts
from smoothcert.smooth import Smooth

try:
    import ray
except ImportError:  # never a silent skip: the extra belongs to the test set-up
    pytest.fail("Ray is missing: install the extra (pip install -e '.[ray]'; `make test` does) to run the Ray "
                "backend's tests", pytrace=False)

pytestmark = pytest.mark.usefixtures("torch_single_thread")

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--sigma", "0.25", "--n0", "20", "--n", "400", "--max", "16", "--no-timing", "--quiet"]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="module")
def cluster():
    """A two-CPU Ray cluster on loopback, for this module only; its address, for drivers in other processes."""
    assert not ray.is_initialized()
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the kill hook below travels to workers
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    stem = tmp_path_factory.mktemp("ckpt") / "model"
    ok(invoke("train", "--dataset", "digits", "--arch", "lenet", "--epochs", 1, "--out", stem, "--quiet"))
    return stem


@pytest.fixture(scope="module")
def serial_certify(tmp_path_factory, checkpoint) -> Path:
    out = tmp_path_factory.mktemp("serial") / "certify.tsv"
    ok(invoke("certify", "--checkpoint", checkpoint, *ARGS, "--out", out))
    return out


def same_counts(a: Path, b: Path) -> None:
    ca, cb = read_counts(a), read_counts(b)
    assert ca.keys() == cb.keys()
    for kind in ca:
        np.testing.assert_array_equal(ca[kind], cb[kind])


def test_ray_rows_equal_serial_rows(cluster, checkpoint, serial_certify, tmp_path):
    out = tmp_path / "certify.tsv"
    ok(invoke("certify", "--checkpoint", checkpoint, *ARGS, "--out", out, "--backend", "ray", "--address", cluster,
              "--workers", 2))
    assert out.read_bytes() == serial_certify.read_bytes()
    same_counts(out, serial_certify)
    manifest = out.with_suffix(".json").read_text()
    assert '"backend"' in manifest and '"workers": 2' in manifest

    predicted = {}
    for backend in ("serial", "ray"):
        predicted[backend] = tmp_path / f"predict-{backend}.tsv"
        ok(invoke("predict", "--checkpoint", checkpoint, *[a for a in ARGS if a != "--n0" and a != "20"],
                  "--out", predicted[backend], "--backend", backend))
    assert predicted["ray"].read_bytes() == predicted["serial"].read_bytes()
    same_counts(predicted["ray"], predicted["serial"])


@dataclass(frozen=True)
class KillOnce(CertifyTask):
    """CERTIFY, except that the first worker to get input ``victim`` kills its own process (SIGKILL) before
    computing it; ``marker`` records that it did, across the restart."""

    victim: int = 0
    marker: str = ""

    def __call__(self, smooth, x, ids, progress):
        if self.victim in ids and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(smooth, x, ids, progress)


def _run(out: Path, smooth, data, task, backend, chunk: int = 3) -> None:
    Run("certify", [out], [{"n0": 20, "n": 400}], CERTIFY_COLUMNS, RunOptions(record_time=False, progress=False),
        counts=("selection", "estimation")).execute(
        smooth, data.x_test, data.y_test, task, indices=list(range(15)), per_input_samples=420, fill_samples=20,
        chunk=chunk, backend=backend)


def test_a_worker_killed_mid_run_costs_nothing(cluster, checkpoint, tmp_path):
    data = load_dataset("digits")
    smooth = Smooth(load_checkpoint(checkpoint)[0], 10, 0.25, batch_size=200)
    _run(tmp_path / "serial.tsv", smooth, data, CertifyTask(20, 400, 0.001), SerialBackend())
    marker = tmp_path / "killed"
    backend = RayBackend(ModelSource(checkpoint=str(checkpoint)), workers=2)
    _run(tmp_path / "ray.tsv", smooth, data, KillOnce(20, 400, 0.001, victim=7, marker=str(marker)), backend)
    assert marker.is_file(), "no worker was killed: the test proved nothing"
    assert (tmp_path / "ray.tsv").read_bytes() == (tmp_path / "serial.tsv").read_bytes()
    same_counts(tmp_path / "ray.tsv", tmp_path / "serial.tsv")


def test_a_killed_driver_is_completed_by_resume_with_either_backend(cluster, checkpoint, tmp_path):
    args = ["--sigma", "0.25", "--n0", "20", "--n", "2000", "--max", "24", "--no-timing", "--quiet"]
    reference = tmp_path / "serial" / "certify.tsv"
    ok(invoke("certify", "--checkpoint", checkpoint, *args, "--out", reference))
    out = tmp_path / "killed" / "certify.tsv"
    out.parent.mkdir()
    driver = subprocess.Popen(
        [sys.executable, "-m", "smoothcert.cli", "certify", "--checkpoint", str(checkpoint), *args, "--out", str(out),
         "--backend", "ray", "--address", cluster, "--workers", "2"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and driver.poll() is None:
        if out.is_file() and out.read_text().count("\n") >= 3:  # the header and two rows
            break
        time.sleep(0.02)
    assert driver.poll() is None, f"the driver ended before it could be killed: {driver.stderr.read().decode()}"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    rows = out.read_text().count("\n") - 1
    assert 2 <= rows < 24
    shutil.copytree(out.parent, tmp_path / "copy")  # the same partial run, to resume with the serial backend
    ok(invoke("certify", "--checkpoint", checkpoint, *args, "--out", out, "--resume", "--backend", "ray",
              "--address", cluster, "--workers", 2))
    copy = tmp_path / "copy" / "certify.tsv"
    ok(invoke("certify", "--checkpoint", checkpoint, *args, "--out", copy, "--resume"))
    for resumed in (out, copy):
        assert resumed.read_bytes() == reference.read_bytes()
        same_counts(resumed, reference)


class Twice(SerialBackend):
    """Delivers every chunk twice, and the first chunk once more at the end (at-least-once delivery)."""

    def map(self, *args, **kwargs):
        first = None
        for delivery in super().map(*args, **kwargs):
            first = first or delivery
            yield delivery
            yield delivery
        if first is not None:
            yield first


def test_a_chunk_delivered_twice_is_written_once(checkpoint, serial_certify, tmp_path):
    data = load_dataset("digits")
    smooth = Smooth(load_checkpoint(checkpoint)[0], 10, 0.25)
    out = tmp_path / "certify.tsv"
    stats = certify_dataset(smooth, data.x_test, data.y_test, out, n0=20, n=400, indices=list(range(16)),
                            options=RunOptions(record_time=False, progress=False), chunk=5, backend=Twice())
    assert stats["inputs"] == 16
    assert out.read_bytes() == serial_certify.read_bytes()
    same_counts(out, serial_certify)


def test_ray_options_need_the_ray_backend(checkpoint, tmp_path):
    result = invoke("certify", "--checkpoint", checkpoint, *ARGS, "--out", tmp_path / "x.tsv", "--workers", 2)
    assert result.exit_code == 2
    assert result.output.strip() == "smoothcert: error: --workers go with --backend ray"
    assert not (tmp_path / "x.tsv").exists()


def test_without_the_extra_the_error_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(BackendError, match=r"^--backend ray needs Ray: pip install 'smoothcert\[ray\]'$"):
        import_ray()
