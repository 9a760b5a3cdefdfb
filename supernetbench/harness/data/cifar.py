"""CIFAR-10/100: the official python batches, the workplace packs and the official download."""
from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from ..locks import claim
from ..progress import progress_bar
from ..store import cache_dir, load_cached_arrays, save_cached_arrays
from .common import NUM_CLASSES, DataIntegrityError, DataNotFoundError, _check_labels, _md5, _rows_to_nchw, _show, _unpickle, _verify_sha256

# Known packs (data/README.md) and official archives.
PACKS: dict[str, tuple[str, str]] = {  # dataset -> (relative path, sha256)
    "cifar10": ("cifar10/cifar10-jpeg-pack.npz",
                "b90b85e945f680bcd1818f11c7fba344f7653c3b04936997e0497c2c63de8096"),
    "cifar100": ("cifar100/cifar100-partial.npz",
                 "3c9544389569371edc307c9a273a9744c24193550a9ac4a9bb9fc89f56c3dd5f"),
}
_DOWNLOADS: dict[str, tuple[str, str, str]] = {  # dataset -> (url, md5, extracted folder)
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python"),
}
_PY_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # dataset -> (train files, test files)
    "cifar10": (tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",)),
    "cifar100": (("train",), ("test",)),
}
_PY_DIRS: dict[str, tuple[str, ...]] = {
    "cifar10": ("cifar-10-batches-py", "cifar10/cifar-10-batches-py", "."),
    "cifar100": ("cifar-100-python", "cifar100/cifar-100-python", "."),
}
CIFAR_TRAIN_SIZE = 50_000


def _python_batches_complete(d: Path, dataset: str) -> list[str]:
    """Names of missing files (empty list = complete) for an official python-batches directory."""
    train, test = _PY_FILES[dataset]
    return [f for f in (*train, *test) if not (d / f).is_file()]


def read_cifar_python_batches(directory: str | os.PathLike, dataset: str) -> dict[str, np.ndarray]:
    """Read official ``cifar-10-batches-py`` / ``cifar-100-python`` pickles.

    Returns ``x_train``/``x_test`` uint8 NCHW and ``y_train``/``y_test`` int64 (CIFAR-100: fine labels).
    """
    d = Path(directory)
    missing = _python_batches_complete(d, dataset)
    if missing:
        raise DataNotFoundError(f"{_show(d)} lacks {missing}")
    label_key = "labels" if dataset == "cifar10" else "fine_labels"
    out: dict[str, np.ndarray] = {}
    for part, files in zip(("train", "test"), _PY_FILES[dataset]):
        xs, ys = [], []
        for name in files:
            entry = _unpickle(d / name)
            if "data" not in entry or label_key not in entry:
                raise DataIntegrityError(f"{_show(d / name)}: missing key 'data' or {label_key!r}")
            x = _rows_to_nchw(entry["data"], 32, d / name)
            y = np.asarray(entry[label_key], dtype=np.int64)
            if len(y) != len(x):
                raise DataIntegrityError(f"{_show(d / name)}: {len(x)} images but {len(y)} labels")
            xs.append(x)
            ys.append(y)
        out[f"x_{part}"] = np.ascontiguousarray(np.concatenate(xs))
        out[f"y_{part}"] = np.concatenate(ys)
    _check_labels(out["y_train"], NUM_CLASSES[dataset], d)
    return out



def decode_cifar10_pack(
    path: str | os.PathLike,
    part: str = "train",
    indices: np.ndarray | list[int] | None = None,
    *,
    exact: bool = True,
    progress: bool | None = None,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode rows of the CIFAR-10 JPEG pack; returns ``(x uint8 [n,3,32,32], y int64 [n])``.

    ``part``: ``"train"`` (50,000 rows) or ``"test"`` (10,000). ``indices``: rows to decode (default:
    all, in order). ``exact``: overwrite the rows whose lossless pixels are known (README). The pack's
    sha256 is verified first unless ``verify=False``. ``progress``: tqdm bar (default: for ≥ 5,000 rows).
    """
    from PIL import Image
    path = Path(path)
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    if verify:
        _verify_sha256(path, PACKS["cifar10"][1])
    with np.load(path, allow_pickle=False) as z:
        jpeg, offsets, y = z[f"jpeg_{part}"], z[f"jpeg_offsets_{part}"], z[f"y_{part}"]
        exact_index, exact_x = z[f"exact_index_{part}"], z[f"exact_x_{part}"]
    n = len(y)
    idx = np.arange(n, dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"pack {part} indices must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
    out = np.empty((len(idx), 32, 32, 3), dtype=np.uint8)
    show = len(idx) >= 5000 if progress is None else progress
    with progress_bar(None, show, total=len(idx), desc=f"decoding CIFAR-10 jpeg pack ({part})", unit="img",
                      mininterval=0.5) as bar:
        for k, i in enumerate(idx):
            with Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())) as im:
                if im.size != (32, 32):
                    raise DataIntegrityError(f"{_show(path)}: {part} image {i} is {im.size}, not 32x32")
                out[k] = np.asarray(im.convert("RGB"))
            if k % 1000 == 999:
                bar.update(1000)
        bar.update(len(idx) - bar.n)
    if exact and len(exact_index):
        lut = np.full(n, -1, dtype=np.int64)
        lut[exact_index] = np.arange(len(exact_index))
        j = lut[idx]
        hit = j >= 0
        out[hit] = exact_x[j[hit]]
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)), y[idx].astype(np.int64)


def _cifar10_pack_cache_path(sha: str) -> Path:
    return cache_dir() / "decoded" / f"cifar10-{sha[:16]}.npz"


def load_cifar10_pack(path: str | os.PathLike, *, progress: bool | None = None) -> dict[str, np.ndarray]:
    """All 60,000 decoded pack rows (NCHW), from the decode cache or decoded now and cached atomically.

    The cache entry carries a sha256 of its arrays; an altered or truncated entry is reported,
    deleted and decoded again (never trusted), and an unwritable cache only costs the next decode.
    Processes that miss the cache at once (the workers of a study) decode once: the first holds a
    file lock beside the entry, the others wait for it and read what it wrote.
    """
    path = Path(path)
    sha = _verify_sha256(path, PACKS["cifar10"][1])
    cpath = _cifar10_pack_cache_path(sha)
    keys = ("x_train", "y_train", "x_test", "y_test")
    arrs = load_cached_arrays(cpath, keys)
    if arrs is not None:
        return arrs
    with claim(cpath.with_suffix(".lock"), f"the decode of {path.name}", required=False):
        arrs = load_cached_arrays(cpath, keys)  # written by the process we waited for?
        if arrs is not None:
            return arrs
        arrs = {}
        for part in ("train", "test"):
            arrs[f"x_{part}"], arrs[f"y_{part}"] = decode_cifar10_pack(path, part, progress=progress, verify=False)
        save_cached_arrays(cpath, **arrs)
    return arrs


def read_cifar100_partial(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The partial CIFAR-100 pack (sha256-checked): train rows 0..1116, test rows 0..915, NCHW."""
    path = Path(path)
    _verify_sha256(path, PACKS["cifar100"][1])
    with np.load(path, allow_pickle=False) as z:
        out = {
            "x_train": np.ascontiguousarray(z["x_train"].transpose(0, 3, 1, 2)),
            "y_train": z["y_train"].astype(np.int64),
            "x_test": np.ascontiguousarray(z["x_test"].transpose(0, 3, 1, 2)),
            "y_test": z["y_test"].astype(np.int64),
        }
        all_train = z["all_train_fine_labels"]
    if not np.array_equal(out["y_train"], all_train[: len(out["y_train"])]):
        raise DataIntegrityError(f"{_show(path)}: y_train disagrees with all_train_fine_labels")
    return out



def _download(dataset: str) -> Path:
    """Download + md5-check + extract the official archive into ``cache_dir()/data``; returns the folder."""
    url, md5, folder = _DOWNLOADS[dataset]
    dest_root = cache_dir() / "data"
    dest_root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_root, prefix=".download-", suffix=".tar.gz")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=30) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with progress_bar(None, True, total=total, unit="B", unit_scale=True,
                              desc=f"downloading {Path(url).name}") as bar:
                while block := resp.read(1 << 20):
                    f.write(block)
                    bar.update(len(block))
        got = _md5(tmp)
        if got != md5:
            raise DataIntegrityError(f"download of {url} has md5 {got}, expected {md5}; nothing was kept")
        with tempfile.TemporaryDirectory(dir=dest_root, prefix=".extract-") as xdir:
            with tarfile.open(tmp, "r:gz") as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(xdir, filter="data")
                else:  # pragma: no cover - old Pythons without extraction filters
                    for m in tar.getmembers():
                        if m.name.startswith(("/", "..")) or ".." in Path(m.name).parts:
                            raise DataIntegrityError(f"unsafe path {m.name!r} in {url}")
                    tar.extractall(xdir)
            src = Path(xdir) / folder
            if not src.is_dir() or _python_batches_complete(src, dataset):
                raise DataIntegrityError(f"{url} did not contain a complete {folder}/")
            final = dest_root / folder
            if final.exists():
                shutil.rmtree(final)
            os.replace(src, final)
        return final
    finally:
        tmp.unlink(missing_ok=True)

