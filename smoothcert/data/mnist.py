"""MNIST from the official IDX files: reader, local lookup, verified download.

The loader needs the files in a local directory. With all four official files it uses the standard
60,000 / 10,000 split; with only the two ``t10k-*`` files (the 10,000 official test images) it makes a seeded
stratified 80 / 20 split of those and says so in the dataset's ``split_note``.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from smoothcert.data.base import Dataset, from_numpy, pool_fingerprint, resolve_test_size, stratified_split
from smoothcert.errors import DataError, InvalidArgumentError
from smoothcert.validate import check_seed

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
"""Default mirror the official files are downloaded from (override with ``base_url``)."""

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
MNIST_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

MNIST_MD5 = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}
"""Published MD5 sums of the official gzipped files."""

TEST_ONLY_FRACTION = 0.2
"""Share of the 10,000 official test images held out as test data when the training files are absent."""

_GZIP_MAGIC = b"\x1f\x8b"
# IDX type byte → big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------------------
# IDX files


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzipped or plain (detected from its first bytes).

    Returns:
        An array in native byte order with the shape stored in the header, e.g. uint8 [N, 28, 28] for
        images or uint8 [N] for labels.

    Raises:
        DataError: the file is missing, unreadable, not gzip/IDX, truncated, or has trailing bytes.
    """
    path = Path(path)
    return _parse_idx(_decompress(_read_bytes(path), path), path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _decompress(raw: bytes, path: Path) -> bytes:
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; EOFError means truncated
        raise DataError(f"{path} is not a valid gzip file (corrupt or truncated): {exc}") from exc


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise DataError(f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated: its IDX header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        problem = "is truncated" if actual < expected else "has trailing bytes"
        raise DataError(f"{path} {problem}: header shape {shape} needs {expected} data bytes, found {actual}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)  # writable, native byte order


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_checked(path: Path) -> np.ndarray:
    """Read an IDX file, first checking the MD5 of official gzipped files (one hash of bytes already read)."""
    raw = _read_bytes(path)
    expected = MNIST_MD5.get(path.name)
    if expected is not None:
        actual = hashlib.md5(raw, usedforsecurity=False).hexdigest()
        if actual != expected:
            raise DataError(
                f"{path} is corrupt: MD5 {actual} differs from the official {expected}; "
                "delete it and download it again"
            )
    return _parse_idx(_decompress(raw, path), path)


# ---------------------------------------------------------------------------------------------------------
# Locating and downloading


def default_data_dir() -> Path:
    """Directory searched for the MNIST files when none is given.

    ``$SMOOTHCERT_DATA_DIR`` if set (the directory holding the files), else
    ``$XDG_CACHE_HOME/smoothcert/mnist``, falling back to ``~/.cache/smoothcert/mnist``.
    """
    env = os.environ.get("SMOOTHCERT_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    cache = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return cache / "smoothcert" / "mnist"


def download_mnist(
    data_dir: str | os.PathLike[str],
    base_url: str = MNIST_URL,
    files: Iterable[str] = MNIST_FILES,
    md5s: Mapping[str, str] = MNIST_MD5,
    timeout: float = 60.0,
) -> list[Path]:
    """Download ``files`` from ``base_url`` into ``data_dir``, verifying MD5 sums.

    Each file goes to a temporary file in ``data_dir`` and is renamed into place only once complete and
    verified, so an interrupted or corrupt download never leaves a partial file under the real name. A file
    already present whose MD5 matches is not downloaded again. Files absent from ``md5s`` are not checked.

    Args:
        data_dir: target directory, created if needed.
        base_url: URL prefix the file names are appended to (any scheme urllib supports).
        files: file names to fetch.
        md5s: expected lowercase hex MD5 per file name.
        timeout: seconds to wait on the connection.

    Returns:
        The paths of all requested files.

    Raises:
        DataError: the directory cannot be written, a download fails, or an MD5 does not match.
    """
    directory = Path(data_dir).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create data directory {directory}: {exc.strerror or exc}") from exc
    paths = []
    for name in [files] if isinstance(files, str) else files:
        dest = directory / name
        expected = md5s.get(name)
        expected = expected.lower() if expected else None
        if not (dest.is_file() and (expected is None or _md5(dest) == expected)):
            _download_file(f"{base_url.rstrip('/')}/{name}", dest, expected, timeout)
        paths.append(dest)
    return paths


def _download_file(url: str, dest: Path, expected_md5: str | None, timeout: float) -> None:
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:
        raise DataError(f"cannot write to data directory {dest.parent}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        if length is not None and length.isdigit() and int(length) != size:
            raise DataError(f"download of {url} is incomplete: got {size} of {length} bytes")
        if expected_md5 is not None and digest.hexdigest() != expected_md5:
            actual = digest.hexdigest()
            raise DataError(f"download of {url} failed its checksum: MD5 {actual}, expected {expected_md5}")
        os.replace(tmp, dest)
    # HTTPError is a URLError; a cut connection can be an HTTPException; a malformed URL is a ValueError.
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise DataError(
            f"cannot download {url}: {_describe(exc)}; fetch it by hand into {dest.parent} "
            "(or point --data-dir / SMOOTHCERT_DATA_DIR at a directory holding the MNIST files)"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)  # no-op after a successful rename


def _describe(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc)


def _find(directory: Path, gz_name: str) -> Path | None:
    """The gzipped or plain copy of one official file in ``directory``, preferring the gzipped one."""
    for candidate in (directory / gz_name, directory / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _resolve_dir(directory: Path) -> Path:
    """``directory``, or its ``mnist`` subdirectory when only that holds the files (a data root given)."""
    sub = directory / "mnist"
    if not any(_find(directory, f) for f in MNIST_FILES) and any(_find(sub, f) for f in MNIST_FILES):
        return sub
    return directory


# ---------------------------------------------------------------------------------------------------------
# Loading


def _load_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 [N, 1, 28, 28] in [0, 1] and labels int64 [N] from one IDX image/label file pair."""
    images = _read_checked(images_path)
    labels = _read_checked(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path} does not hold uint8 28×28 images ({images.dtype}, {images.shape})")
    if labels.dtype != np.uint8 or labels.ndim != 1 or (labels.size and labels.max() > 9):
        raise DataError(f"{labels_path} does not hold uint8 labels 0..9 ({labels.dtype}, {labels.shape})")
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    x = images.astype(np.float32).reshape(-1, 1, 28, 28) / np.float32(255)
    return x, labels.astype(np.int64)


def _missing_message(directory: Path, base_url: str) -> str:
    return (
        f"MNIST files not found in {directory}: need {TEST_IMAGES} and {TEST_LABELS} (test set only, split "
        f"80/20), plus {TRAIN_IMAGES} and {TRAIN_LABELS} for the official 60,000/10,000 split. Point "
        "--data-dir or SMOOTHCERT_DATA_DIR at a directory holding them, or pass --download "
        f"(download=True) to fetch them from {base_url}"
    )


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    download: bool = False,
    base_url: str = MNIST_URL,
    test_size: int | None = None,
) -> Dataset:
    """Load MNIST from the official IDX files in ``data_dir`` (gzipped or plain).

    With all four files: the official 60,000 train / 10,000 test split (``seed`` is unused). With only the two
    ``t10k-*`` files: a seeded stratified split of the 10,000 official test images into 8,000 train /
    2,000 test. Official gzipped files are checked against their published MD5 sums.

    Args:
        data_dir: directory holding the files; :func:`default_data_dir` if None. If it lacks the files but
            has a ``mnist`` subdirectory that holds them, that is used.
        seed: random state of the test-set-only split.
        download: fetch the missing official files from ``base_url`` first (verified against MD5 sums).
        base_url: mirror to download from.
        test_size: number of test images of the test-set-only split (default 2,000); the official split has
            a fixed test set, so giving it there is an error.

    Indices of the split count the 10,000 official test images first (0..9,999), then the official training
    images (10,000..69,999), so splits made with and without the training files can be compared.

    Returns:
        A :class:`Dataset` named ``"mnist"``: inputs float32 [N, 1, 28, 28] (pixel / 255), labels int64 0..9.

    Raises:
        DataError: files missing (and ``download`` false), corrupt, or inconsistent; or the download failed.
    """
    seed = check_seed(seed)
    if not isinstance(download, bool):
        raise InvalidArgumentError(f"download must be True or False, got {download!r}")
    directory = _resolve_dir(Path(data_dir).expanduser() if data_dir is not None else default_data_dir())
    # Test files first: they are the ones a split needs.
    wanted = (TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS)
    found = {name: _find(directory, name) for name in wanted}
    if download and not all(found.values()):
        download_mnist(directory, base_url, files=[name for name, path in found.items() if path is None])
        found = {name: _find(directory, name) for name in wanted}
    if found[TEST_IMAGES] is None or found[TEST_LABELS] is None:
        raise DataError(_missing_message(directory, base_url))
    if (found[TRAIN_IMAGES] is None) != (found[TRAIN_LABELS] is None):
        have, lack = (TRAIN_IMAGES, TRAIN_LABELS)
        if found[TRAIN_IMAGES] is None:
            have, lack = lack, have
        raise DataError(
            f"{directory} has {have} but not {lack}; add it, or remove both to use only the test set"
        )
    x_test, y_test = _load_pair(found[TEST_IMAGES], found[TEST_LABELS])
    names = tuple(str(i) for i in range(10))

    if found[TRAIN_IMAGES] is not None and found[TRAIN_LABELS] is not None:
        if test_size is not None:
            raise InvalidArgumentError("the official MNIST split has a fixed test set of 10,000 images; "
                                       "--test-size (test_size) applies to the test-set-only split")
        x_train, y_train = _load_pair(found[TRAIN_IMAGES], found[TRAIN_LABELS])
        note = f"MNIST official split: {len(y_train):,} train / {len(y_test):,} test images"
        n_test = len(y_test)
        return from_numpy("mnist", x_train, y_train, x_test, y_test, 10, names, note,
                          split={"seed": None, "pool": pool_fingerprint("mnist", y_test), "pool_size": n_test
                                 + len(y_train)},
                          train_indices=np.arange(n_test, n_test + len(y_train), dtype=np.int64),
                          test_indices=np.arange(n_test, dtype=np.int64))

    # Only the official test set is available: split it, stratified so both halves keep the class balance.
    n = len(y_test)
    train_idx, test_idx = stratified_split(y_test, resolve_test_size(n, test_size, TEST_ONLY_FRACTION), seed)
    note = (
        f"MNIST test set only: seeded stratified split of the {n:,} official test images into "
        f"{len(train_idx):,} train / {len(test_idx):,} test (seed {seed})"
    )
    return from_numpy(
        "mnist", x_test[train_idx], y_test[train_idx], x_test[test_idx], y_test[test_idx], 10, names, note,
        split={"seed": seed, "pool": pool_fingerprint("mnist", y_test), "pool_size": n},
        train_indices=train_idx, test_indices=test_idx,
    )
