"""Tests of smoothcert.data: loaders, IDX reading, verified download, synthetic geometry, npz validation."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from smoothcert.data import (
    DATASETS,
    blob_centres,
    concentric,
    default_data_dir,
    download_mnist,
    gaussian_blobs,
    load_dataset,
    load_digits,
    load_mnist,
    load_npz,
    read_idx,
    two_moons,
)
from smoothcert.data import mnist as mnist_module
from smoothcert.errors import DataError, InputError, InvalidArgumentError

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
OFFICIAL_T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

T10K_IMAGES = "t10k-images-idx3-ubyte.gz"
T10K_LABELS = "t10k-labels-idx1-ubyte.gz"
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"


# ---------------------------------------------------------------------------------------------------------
# Helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as an IDX file (uint8, int16, int32, float32 or float64)."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    dtype = array.dtype.newbyteorder(">")
    header = bytes([0, 0, codes[array.dtype.str[1:]], array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(dtype).tobytes()


def fake_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images [n, 28, 28] and balanced labels [n] (n a multiple of 10)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0] = 255
    labels = np.tile(np.arange(10, dtype=np.uint8), n // 10)
    return images, labels


def write_mnist(directory: Path, prefix: str, n: int, seed: int = 0, gz: bool = False) -> None:
    """Write an images/labels IDX pair named like the official files (plain unless gz)."""
    images, labels = fake_mnist(n, seed)
    for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
        data = idx_bytes(array)
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def split_counts(dataset, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        torch.bincount(dataset.y_train, minlength=num_classes).numpy(),
        torch.bincount(dataset.y_test, minlength=num_classes).numpy(),
    )


def assert_valid(dataset, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Dtypes, shapes, value ranges and label ranges every Dataset must satisfy."""
    assert dataset.input_shape == input_shape
    assert dataset.num_classes == num_classes == len(dataset.class_names)
    for x, y in ((dataset.x_train, dataset.y_train), (dataset.x_test, dataset.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape == (len(y), *input_shape)
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert 0 <= y.min() and y.max() < num_classes
    assert dataset.split_note


def assert_same(a, b) -> None:
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)
    assert a.split_note == b.split_note


# ---------------------------------------------------------------------------------------------------------
# Digits


def test_digits_shapes_and_ranges():
    data = load_digits()
    assert data.name == "digits"
    assert_valid(data, (1, 8, 8), 10)
    assert (len(data.y_train), len(data.y_test)) == (1437, 360)
    assert data.x_train.max() == 1.0  # 16 / 16
    assert "1,437 train / 360 test" in data.split_note and "seed 0" in data.split_note


def test_digits_split_is_stratified_and_complete():
    data = load_digits(seed=3, test_size=500)
    train, test = split_counts(data, 10)
    total = train + test
    assert total.sum() == 1797 and len(data.y_test) == 500
    np.testing.assert_allclose(test, total * 500 / 1797, atol=1)


def test_digits_seed_determinism():
    assert_same(load_digits(seed=7), load_digits(seed=7))
    assert not torch.equal(load_digits(seed=7).y_test, load_digits(seed=8).y_test)


@pytest.mark.parametrize("kwargs", [{"test_size": 0}, {"test_size": 1790}, {"test_size": 0.2}, {"seed": -1}])
def test_digits_bad_arguments(kwargs):
    with pytest.raises(InvalidArgumentError):
        load_digits(**kwargs)


# ---------------------------------------------------------------------------------------------------------
# IDX reader


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([1, -2, 300_000], dtype=np.int32),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
    ],
    ids=["uint8-3d", "int32-1d", "float32-2d"],
)
def test_read_idx_round_trip(tmp_path, array, gz):
    data = idx_bytes(array)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(data) if gz else data)
    result = read_idx(path)
    assert result.dtype == array.dtype.newbyteorder("=") and result.shape == array.shape
    np.testing.assert_array_equal(result, array)
    result[...] = 0  # writable copy


GOOD_IDX = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an IDX file"),
        (b"\x01\x00\x08\x01" + GOOD_IDX[4:], "not an IDX file"),  # bad magic
        (b"\x00\x00\x07\x03" + GOOD_IDX[4:], "not an IDX file"),  # unknown type code
        (GOOD_IDX[:10], "truncated"),  # header cut short
        (GOOD_IDX[:-1], "truncated"),  # data cut short
        (GOOD_IDX + b"\x00", "trailing bytes"),
        (gzip.compress(GOOD_IDX)[:-12], "gzip"),  # truncated gzip stream
        (b"\x1f\x8b" + b"garbage" * 10, "gzip"),
    ],
    ids=["empty", "magic", "type", "header", "data", "trailing", "gzip-truncated", "gzip-garbage"],
)
def test_read_idx_corrupt(tmp_path, content, message):
    path = tmp_path / "bad-file.idx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert "bad-file.idx" in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="nothere"):
        read_idx(tmp_path / "nothere")


# ---------------------------------------------------------------------------------------------------------
# MNIST loading from generated files


def test_load_mnist_official_split(tmp_path):
    write_mnist(tmp_path, "train", 60, seed=1)
    write_mnist(tmp_path, "t10k", 20, seed=2)
    data = load_mnist(tmp_path, seed=5)
    assert_valid(data, (1, 28, 28), 10)
    assert (len(data.y_train), len(data.y_test)) == (60, 20)
    assert data.split_note == "MNIST official split: 60 train / 20 test images"
    images, labels = fake_mnist(20, seed=2)
    np.testing.assert_allclose(data.x_test.numpy()[:, 0], images / 255, atol=1e-7)
    np.testing.assert_array_equal(data.y_test.numpy(), labels)


def test_load_mnist_test_only_split(tmp_path):
    write_mnist(tmp_path, "t10k", 100)
    data = load_mnist(tmp_path)
    assert (len(data.y_train), len(data.y_test)) == (80, 20)
    assert np.all(split_counts(data, 10)[1] == 2)
    assert data.split_note.startswith("MNIST test set only: seeded stratified split of the 100")


def test_load_mnist_finds_mnist_subdirectory(tmp_path):
    (tmp_path / "mnist").mkdir()
    write_mnist(tmp_path / "mnist", "t10k", 50)
    assert len(load_mnist(tmp_path).y_test) == 10


def test_load_mnist_missing_files(tmp_path):
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    for part in (str(tmp_path), "--data-dir", "SMOOTHCERT_DATA_DIR", "download", T10K_IMAGES):
        assert part in message


def test_load_mnist_half_of_training_pair(tmp_path):
    write_mnist(tmp_path, "t10k", 20)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(fake_mnist(10, 0)[0]))
    with pytest.raises(DataError, match="train-labels"):
        load_mnist(tmp_path)


def test_load_mnist_corrupt_official_file(tmp_path):
    write_mnist(tmp_path, "t10k", 20, gz=True)  # right names, wrong bytes for the published MD5 sums
    with pytest.raises(DataError, match="MD5") as info:
        load_mnist(tmp_path)
    assert T10K_IMAGES in str(info.value)


def test_load_mnist_mismatched_counts(tmp_path):
    write_mnist(tmp_path, "t10k", 20)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(10, np.uint8)))
    with pytest.raises(DataError, match="20 images but"):
        load_mnist(tmp_path)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SMOOTHCERT_DATA_DIR", str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"
    monkeypatch.delenv("SMOOTHCERT_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "smoothcert" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".cache" / "smoothcert" / "mnist"


def test_load_mnist_uses_environment_directory(monkeypatch, tmp_path):
    write_mnist(tmp_path, "t10k", 50)
    monkeypatch.setenv("SMOOTHCERT_DATA_DIR", str(tmp_path))
    assert len(load_mnist().y_train) == 40


# ---------------------------------------------------------------------------------------------------------
# The real MNIST test set, when present


@pytest.fixture(scope="module")
def shared_mnist():
    if not (SHARED_MNIST / T10K_IMAGES).is_file():
        pytest.skip(f"MNIST test files not found in {SHARED_MNIST}")
    return load_mnist(SHARED_MNIST)


def test_shared_mnist_split(shared_mnist):
    data = shared_mnist
    assert data.name == "mnist"
    assert_valid(data, (1, 28, 28), 10)
    assert (len(data.y_train), len(data.y_test)) == (8000, 2000)
    assert data.x_train.max() == 1.0
    assert data.split_note == (
        "MNIST test set only: seeded stratified split of the 10,000 official test images into "
        "8,000 train / 2,000 test (seed 0)"
    )
    train, test = split_counts(data, 10)
    np.testing.assert_array_equal(train + test, OFFICIAL_T10K_COUNTS)
    np.testing.assert_allclose(test, np.array(OFFICIAL_T10K_COUNTS) / 5, atol=1)


def test_shared_mnist_deterministic(shared_mnist):
    assert_same(load_mnist(SHARED_MNIST, seed=0), shared_mnist)
    other = load_mnist(SHARED_MNIST, seed=1)
    assert "(seed 1)" in other.split_note
    assert not torch.equal(other.y_test, shared_mnist.y_test)


# ---------------------------------------------------------------------------------------------------------
# Download from a local HTTP server


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output quiet
        pass


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL, served directory, list of requested paths) of an HTTP server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    requests: list[str] = []

    class Handler(_Handler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/mnist", served, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def serve_t10k(served: Path) -> dict[str, bytes]:
    """Put a gzipped 20-image test pair under served/mnist/; returns name → bytes."""
    (served / "mnist").mkdir(exist_ok=True)
    write_mnist(served / "mnist", "t10k", 20, gz=True)
    return {name: (served / "mnist" / name).read_bytes() for name in (T10K_IMAGES, T10K_LABELS)}


def test_download_success_and_no_repeat(server, tmp_path):
    base_url, served, requests = server
    files = serve_t10k(served)
    sums = {name: md5(data) for name, data in files.items()}
    target = tmp_path / "new" / "dir"
    paths = download_mnist(target, base_url, files=list(files), md5s=sums)
    assert paths == [target / name for name in files]
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    assert sorted(p.name for p in target.iterdir()) == sorted(files)  # no temporary files left
    assert len(requests) == 2

    download_mnist(target, base_url + "/", files=list(files), md5s=sums)
    assert len(requests) == 2  # present with the right MD5: not fetched again

    (target / T10K_LABELS).write_bytes(b"damaged")
    download_mnist(target, base_url, files=list(files), md5s=sums)
    assert requests[2:] == [f"/mnist/{T10K_LABELS}"]
    assert (target / T10K_LABELS).read_bytes() == files[T10K_LABELS]


def test_download_md5_mismatch_leaves_nothing(server, tmp_path):
    base_url, served, _ = server
    files = serve_t10k(served)
    target = tmp_path / "target"
    with pytest.raises(DataError, match="checksum"):
        download_mnist(target, base_url, files=[T10K_IMAGES], md5s={T10K_IMAGES: "0" * 32})
    assert list(target.iterdir()) == []
    assert T10K_LABELS in files


def test_download_missing_on_server(server, tmp_path):
    base_url, _, _ = server
    target = tmp_path / "target"
    with pytest.raises(DataError, match="404") as info:
        download_mnist(target, base_url, files=[T10K_IMAGES], md5s={})
    assert T10K_IMAGES in str(info.value) and str(target) in str(info.value)
    assert list(target.iterdir()) == []


def test_load_mnist_download_rejects_unofficial_files(server, tmp_path):
    base_url, served, _ = server
    serve_t10k(served)
    target = tmp_path / "target"
    with pytest.raises(DataError, match="checksum"):
        load_mnist(target, download=True, base_url=base_url)
    assert list(target.iterdir()) == []


def test_load_mnist_download_end_to_end(server, tmp_path, monkeypatch):
    base_url, served, requests = server
    (served / "mnist").mkdir()
    write_mnist(served / "mnist", "t10k", 20, seed=1, gz=True)
    write_mnist(served / "mnist", "train", 40, seed=2, gz=True)
    for path in (served / "mnist").iterdir():  # accept the generated files as "official"
        monkeypatch.setitem(mnist_module.MNIST_MD5, path.name, md5(path.read_bytes()))
    target = tmp_path / "target"
    data = load_mnist(target, download=True, base_url=base_url)
    assert (len(data.y_train), len(data.y_test)) == (40, 20)
    assert len(requests) == 4
    load_mnist(target, download=True, base_url=base_url)
    assert len(requests) == 4


# ---------------------------------------------------------------------------------------------------------
# Synthetic data


def test_blobs_geometry_and_determinism():
    data = gaussian_blobs(n=600, d=2, num_classes=3, spread=0.05, seed=1)
    assert data.name == "blobs"
    assert_valid(data, (2,), 3)
    assert (len(data.y_train), len(data.y_test)) == (450, 150)
    train, test = split_counts(data, 3)
    np.testing.assert_array_equal(train + test, [200, 200, 200])
    centres = torch.from_numpy(blob_centres(2, 3)).float()
    x = torch.cat([data.x_train, data.x_test])
    y = torch.cat([data.y_train, data.y_test])
    for j in range(3):
        assert torch.allclose(x[y == j].mean(0), centres[j], atol=0.01)
    nearest = torch.cdist(x, centres).argmin(1)
    assert (nearest == y).float().mean() > 0.99
    assert_same(data, gaussian_blobs(n=600, d=2, num_classes=3, spread=0.05, seed=1))


def test_blob_centres_layout():
    centres = blob_centres(5, 4)
    assert centres.shape == (4, 5)
    np.testing.assert_allclose(np.linalg.norm(centres - 0.5, axis=1), 0.3)
    np.testing.assert_allclose(centres[:, 2:], 0.5)
    np.testing.assert_allclose(blob_centres(1, 3)[:, 0], [0.2, 0.5, 0.8])


def test_blobs_truncated_to_cube_in_high_dimension():
    data = gaussian_blobs(n=200, d=50, num_classes=5, spread=0.2, seed=0)
    assert_valid(data, (50,), 5)


@pytest.mark.parametrize("d", [2, 5])
def test_concentric_geometry(d):
    data = concentric(n=400, d=d, inner_radius=0.1, ring=(0.2, 0.4), seed=2)
    assert data.name == "concentric" and data.class_names == ("ring", "ball")
    assert_valid(data, (d,), 2)
    x = torch.cat([data.x_train, data.x_test]).double()
    y = torch.cat([data.y_train, data.y_test])
    radius = (x - 0.5).norm(dim=1)
    assert radius[y == 1].max() <= 0.1 + 1e-6
    assert radius[y == 0].min() >= 0.2 - 1e-6 and radius[y == 0].max() <= 0.4 + 1e-6
    assert (y == 1).sum() == 200
    assert_same(data, concentric(n=400, d=d, inner_radius=0.1, ring=(0.2, 0.4), seed=2))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"inner_radius": 0.3, "ring": (0.25, 0.35)},
        {"ring": (0.3, 0.2)},
        {"ring": (0.25, 0.6)},
        {"ring": (0.25,)},
        {"inner_radius": 0.0},
        {"n": 0},
    ],
)
def test_concentric_bad_arguments(kwargs):
    with pytest.raises(InvalidArgumentError):
        concentric(**kwargs)


def test_two_moons_geometry():
    data = two_moons(n=400, noise=0.0, seed=0)
    assert data.name == "moons"
    assert_valid(data, (2,), 2)
    x = torch.cat([data.x_train, data.x_test]).double()
    y = torch.cat([data.y_train, data.y_test])
    # Noiseless moons: half circles of radius 1 at (0, 0) and (1, 0.5), mapped by (m - (0.5, 0.25)) / 4 + 0.5.
    for label, centre in ((0, (0.375, 0.4375)), (1, (0.625, 0.5625))):
        radius = (x[y == label] - torch.tensor(centre, dtype=torch.float64)).norm(dim=1)
        torch.testing.assert_close(radius, torch.full_like(radius, 0.25), atol=1e-6, rtol=0)
    noisy = two_moons(n=400, noise=0.3, seed=0)
    assert_valid(noisy, (2,), 2)
    assert_same(noisy, two_moons(n=400, noise=0.3, seed=0))


@pytest.mark.parametrize(
    ("loader", "kwargs"),
    [
        (gaussian_blobs, {"spread": -0.1}),
        (gaussian_blobs, {"num_classes": 1}),
        (gaussian_blobs, {"test_fraction": 1.5}),
        (gaussian_blobs, {"n": 4}),  # too few points to split 3 classes
        (two_moons, {"noise": -1.0}),
        (two_moons, {"seed": 1.5}),
    ],
)
def test_synthetic_bad_arguments(loader, kwargs):
    with pytest.raises(InvalidArgumentError):
        loader(**kwargs)


# ---------------------------------------------------------------------------------------------------------
# npz files


def save_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def image_arrays(n: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.random((n, 1, 4, 4)), "y": np.arange(n) % 4}


def test_npz_split(tmp_path):
    path = save_npz(tmp_path / "mine.npz", **image_arrays())
    data = load_npz(path, seed=3)
    assert data.name == "mine"
    assert_valid(data, (1, 4, 4), 4)
    assert (len(data.y_train), len(data.y_test)) == (32, 8)
    np.testing.assert_array_equal(split_counts(data, 4)[1], [2, 2, 2, 2])
    assert "mine.npz" in data.split_note and "seed 3" in data.split_note
    assert_same(data, load_npz(path, seed=3))


def test_npz_with_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    path = save_npz(
        tmp_path / "vec.npz",
        x=rng.random((30, 3), dtype=np.float32),
        y=np.arange(30) % 3,
        x_test=rng.random((6, 3)),
        y_test=np.array([0.0, 1.0, 2.0, 0.0, 1.0, 4.0]),  # integral floats are accepted
    )
    data = load_npz(path)
    assert_valid(data, (3,), 5)
    assert (len(data.y_train), len(data.y_test)) == (30, 6)
    assert data.y_test.tolist() == [0, 1, 2, 0, 1, 4]
    assert "x_test/y_test" in data.split_note


def _bad(**changes):
    arrays = image_arrays()
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


_X = image_arrays()["x"]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (_bad(y=None), "lacks array"),
        (_bad(x_test=_X[:4]), "both x_test and y_test"),
        (_bad(x=_X[:, 0]), "shape"),
        (_bad(y=np.arange(39) % 4), "39 labels"),
        (_bad(x=np.where(np.arange(40)[:, None, None, None] == 3, np.nan, _X)), "NaN"),
        (_bad(x=np.where(np.arange(40)[:, None, None, None] == 3, np.inf, _X)), "infinite"),
        (_bad(x=_X * 2), r"\[0, 1\]"),
        (_bad(x=_X - 0.5), r"\[0, 1\]"),
        (_bad(x=(_X * 255).astype(np.uint8)), "255"),
        (_bad(x=np.zeros((0, 1, 4, 4))), "empty"),
        (_bad(y=np.arange(40) % 4 + 0.5), "non-integer"),
        (_bad(y=np.arange(40) % 4 - 1), "negative"),
        (_bad(y=(np.arange(40) % 2).astype(bool)), "integer labels"),
        (_bad(y=(np.arange(40) % 4).reshape(40, 1)), "shape"),
        (_bad(x_test=_X[:4, :, :2], y_test=np.zeros(4, int)), "x_test"),
        (_bad(y=np.zeros(40, int)), "at least 2"),
        (_bad(y=np.r_[np.zeros(39, int), 1]), "single example"),
    ],
    ids=[
        "missing-y", "x_test-alone", "3d", "n-mismatch", "nan", "inf", "above-1", "below-0", "uint8",
        "empty", "float-labels", "negative-labels", "bool-labels", "labels-2d", "test-shape", "one-class",
        "singleton-class",
    ],
)  # fmt: skip
def test_npz_bad_inputs(tmp_path, arrays, message):
    path = save_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message):
        load_npz(path)


def test_npz_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_npz(tmp_path / "absent.npz")
    text = tmp_path / "text.npz"
    text.write_text("x,y\n0.1,1\n")
    with pytest.raises(DataError, match="not an npz"):
        load_npz(text)
    single = tmp_path / "single.npz"
    with single.open("wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DataError, match="not an npz"):
        load_npz(single)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(DataError, match=r"corrupt\.npz"):
        load_npz(corrupt)


def test_npz_never_unpickles(tmp_path):
    path = save_npz(tmp_path / "objects.npz", x=np.array([{"a": 1}, None], dtype=object), y=np.arange(2))
    with pytest.raises(DataError, match="pickle"):
        load_npz(path)


def test_npz_bad_arguments(tmp_path):
    path = save_npz(tmp_path / "mine.npz", **image_arrays())
    with pytest.raises(InvalidArgumentError):
        load_npz(path, test_fraction=0.0)
    with pytest.raises(InvalidArgumentError):
        load_npz(path, test_fraction=0.01)  # fewer test examples than classes


# ---------------------------------------------------------------------------------------------------------
# load_dataset


def test_load_dataset_dispatch(tmp_path):
    assert DATASETS == ("digits", "mnist", "blobs", "concentric", "moons")
    assert load_dataset("Digits", seed=1, test_size=100).y_test.shape == (100,)
    assert load_dataset("blobs", n=90, d=3).input_shape == (3,)
    assert load_dataset("concentric", n=100, seed=4).name == "concentric"
    assert load_dataset("moons", n=100, download=True, data_dir=tmp_path).name == "moons"
    path = save_npz(tmp_path / "own.npz", **image_arrays())
    assert load_dataset(str(path), seed=2, test_fraction=0.5).y_test.shape == (20,)
    write_mnist(tmp_path, "t10k", 50)
    assert load_dataset("mnist", data_dir=tmp_path).y_test.shape == (10,)


def test_load_dataset_unknown_name_and_option():
    with pytest.raises(InvalidArgumentError, match="digits, mnist, blobs, concentric, moons"):
        load_dataset("cifar10")
    with pytest.raises(InvalidArgumentError, match="test_size"):
        load_dataset("digits", n=5)
