"""The Ray backend, for real, on a local cluster bound to 127.0.0.1 that these tests start and stop: a Ray run's
rows equal a serial run's byte for byte (time column aside: --no-timing), a worker killed mid-run costs nothing,
a killed driver is completed by --resume with either backend, and a chunk delivered twice is written once; the
studies' long runs (uncertainty certify and sweep, the audit's disparity stage, the mixture votes, the trade-off
grid's jobs) give the rows, or cells, of their serial runs.

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


UNCERTAINTY = ["--sigma", "0.25", "--n0", "20", "--n", "300", "--max", "8", "--no-timing", "--quiet"]


def test_uncertainty_rows_equal_serial_rows(cluster, checkpoint, tmp_path):
    """``certify --uncertainty`` and the τ sweep of a deep ensemble (its members built by each worker)."""
    for backend in ("serial", "ray"):
        ray_options = ["--address", cluster, "--workers", 2] if backend == "ray" else []
        ok(invoke("certify", "--checkpoint", checkpoint, "--uncertainty", "entropy", "--tau", "0.5", *UNCERTAINTY,
                  "--out", tmp_path / f"certify-{backend}.tsv", "--backend", backend, *ray_options))
        ok(invoke("uncertainty", "sweep", "--checkpoint", checkpoint, "--member", checkpoint, "--measure",
                  "mutual_info", "--taus", "0.05,inf", *UNCERTAINTY, "--out", tmp_path / f"sweep-{backend}",
                  "--backend", backend, *ray_options))
    assert (tmp_path / "certify-ray.tsv").read_bytes() == (tmp_path / "certify-serial.tsv").read_bytes()
    for name in ("tau_0.05.tsv", "tau_inf.tsv"):
        assert (tmp_path / "sweep-ray" / name).read_bytes() == (tmp_path / "sweep-serial" / name).read_bytes()
    manifest = (tmp_path / "sweep-ray" / "tau_inf.json").read_text()
    assert '"members"' in manifest and '"workers": 2' in manifest


def rows_without_time(path: Path) -> list[list[str]]:
    lines = [line.split("\t") for line in path.read_text().splitlines()]
    keep = [k for k, name in enumerate(lines[0]) if name != "time"]
    return [[line[k] for k in keep] for line in lines]


def test_audit_disparity_rows_equal_serial_rows(cluster, checkpoint, tmp_path):
    """The audit's disparity stage: each worker builds the audited checkpoint (one source per model)."""
    args = ["--sigmas", "0.25,0.5", "--n0", "20", "--n", "200", "--max", "8", "--no-compile", "--quiet"]
    for backend in ("serial", "ray"):
        ray_options = ["--address", cluster, "--workers", 2] if backend == "ray" else []
        ok(invoke("audit", "disparity", "--out", tmp_path / backend, "--checkpoint", f"plain={checkpoint}", *args,
                  "--backend", backend, *ray_options))
    tsvs = sorted(p.name for p in (tmp_path / "serial" / "samples").glob("*.tsv"))
    assert tsvs == ["plain_sigma_0.25.tsv", "plain_sigma_0.5.tsv"]
    for name in tsvs:
        ray_rows, serial_rows = (rows_without_time(tmp_path / b / "samples" / name) for b in ("ray", "serial"))
        assert ray_rows == serial_rows
    assert '"workers": 2' in (tmp_path / "ray" / "samples" / tsvs[0]).with_suffix(".json").read_text()


def test_mixture_votes_rows_equal_serial_rows(cluster, checkpoint, tmp_path):
    from smoothcert.studies.mixing import certify_mixture_dataset

    data = load_dataset("digits")
    smooth = Smooth(load_checkpoint(checkpoint)[0], 10, 0.25, batch_size=200)
    backends = {"serial": SerialBackend(), "ray": RayBackend(None, workers=2)}
    for name, backend in backends.items():
        certify_mixture_dataset(smooth, data.x_test, data.y_test, tmp_path / f"{name}.tsv", n0=20, n=300,
                                indices=range(10), options=RunOptions(record_time=False, progress=False),
                                backend=backend.for_source(ModelSource(checkpoint=str(checkpoint))))
    assert (tmp_path / "ray.tsv").read_bytes() == (tmp_path / "serial.tsv").read_bytes()
    with pytest.raises(BackendError, match="names no model"):  # a study that runs several models gives each its own
        certify_mixture_dataset(smooth, data.x_test, data.y_test, tmp_path / "x.tsv", n0=20, n=300, indices=range(2),
                                options=RunOptions(progress=False), backend=backends["ray"])


def test_tradeoff_grid_jobs_on_ray_give_the_same_cells(cluster, tmp_path):
    """The grid's fine-tuning and cell jobs as Ray tasks: the cells of a serial run, the run folder shared."""
    from smoothcert.studies.tradeoff import run_grid
    from tests.test_tradeoff_grid import cells_without_timing, tiny_config

    cfg = tiny_config(alphas=[0.0, 0.3], betas=[0.0, 0.3])
    serial = tmp_path / "serial"
    run_grid(cfg, serial, progress=False, echo=lambda _: None)
    on_ray = tmp_path / "ray"
    shutil.copytree(serial, on_ray)
    for folder in ("cells", "certify"):
        shutil.rmtree(on_ray / folder)
    for path in (on_ray / "models").glob("alpha_0p3.*"):  # fine-tuned again, on a worker
        path.unlink()
    run_grid(cfg, on_ray, resume=True, progress=False, echo=lambda _: None, backend=RayBackend(None, workers=2))
    assert cells_without_timing(on_ray) == cells_without_timing(serial)
    assert '"backend"' in (on_ray / "grid.json").read_text()
