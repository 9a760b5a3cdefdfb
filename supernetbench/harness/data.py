"""Datasets, search splits and batch streams for supernet training (protocol §2).

Layout in memory: images are ``uint8`` tensors in **NCHW** order (``[N, 3, H, W]``), labels are
``int64``; float conversion, augmentation and normalisation happen per batch
(:class:`~supernetbench.harness.augment.Augment`, :func:`normalize`), on whatever device the data is.

Where data comes from (first match wins; see :func:`candidate_roots`):

1. an explicit ``root`` argument, else ``$SUPERNETBENCH_DATA``, else every ``shared/data`` folder found
   by walking up from the working directory and from this package's directory;
2. ``cache_dir()/data`` (where downloads land) is always searched last;
3. CIFAR-10/100 only: download of the official python archive (md5-checked) into ``cache_dir()/data``,
   unless ``SUPERNETBENCH_OFFLINE=1``.

Formats read inside a root:

* CIFAR-10: ``cifar-10-batches-py/`` (official pickles) or ``cifar10/cifar10-jpeg-pack.npz`` (the
  workplace pack: JPEG re-encodings + exact rows; sha256-checked, decoded once into
  ``cache_dir()/decoded/cifar10-<sha16>.npz``).
* CIFAR-100: ``cifar-100-python/`` (official pickles) or ``cifar100/cifar100-partial.npz`` (real but only
  train rows 0..1116 and test rows 0..915).
* ImageNet16-120: NB201's ``ImageNet16/`` pickles (``train_data_batch_1..10``, ``val_data``; 1-based
  labels, only labels ≤ 120 kept, made 0-based). A directory with ``STANDIN.txt`` is synthetic data
  written by :func:`write_imagenet16_standin` and is always reported as such.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from .augment import MEAN, STD, Augment, normalize
from .store import atomic_write_bytes, atomic_write_text, cache_dir, file_sha256, shared_data_dirs

__all__ = [
    "DATASETS", "NUM_CLASSES", "IMAGE_SIZE", "MEAN", "STD", "SPLITS",
    "DataNotFoundError", "DataIntegrityError",
    "DataConfig", "SearchData", "TestData", "load_search_data", "load_test_data", "load_test_set",
    "Augment", "normalize", "BatchStream",
    "candidate_roots", "read_cifar_python_batches", "decode_cifar10_pack", "read_cifar100_partial",
    "read_imagenet16", "write_imagenet16_standin", "read_nb201_split", "find_split_file",
    "summarise_data_sources",
]

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}
IMAGE_SIZE: dict[str, int] = {"cifar10": 32, "cifar100": 32, "imagenet16-120": 16}
SPLITS: tuple[str, ...] = ("protocol", "nb201")
PRETTY: dict[str, str] = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}

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
IMAGENET16_TRAIN_FILES = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_VAL_FILE = "val_data"
_IMAGENET16_DIRS = ("ImageNet16", "imagenet16-120/ImageNet16", "imagenet16-120", "imagenet16", ".")
IMAGENET16_TRAIN_SIZE_120 = 151_700  # NB201 asserts this length for the 120-class train set
STANDIN_MARKER = "STANDIN.txt"
NB201_SPLIT_FILES: dict[str, str] = {"cifar10": "cifar-split.txt", "imagenet16-120": "ImageNet16-120-split.txt"}
NB201_FULL_TRAIN_SIZE: dict[str, int] = {"cifar10": 50_000, "imagenet16-120": IMAGENET16_TRAIN_SIZE_120}
CIFAR_TRAIN_SIZE = 50_000
OFFLINE_ENV = "SUPERNETBENCH_OFFLINE"
DATA_ENV = "SUPERNETBENCH_DATA"


class DataNotFoundError(FileNotFoundError):
    """No usable copy of a dataset (or split file) was found; the message lists every path searched."""


class DataIntegrityError(RuntimeError):
    """A data file exists but is not what it should be (checksum mismatch, wrong shape, ...)."""


# --------------------------------------------------------------------------------------- roots
def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {list(DATASETS)}")
    return dataset


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def candidate_roots(root: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Data roots in search order, each with where it came from.

    An explicit ``root`` (or ``$SUPERNETBENCH_DATA``) replaces the ``shared/data`` walk; the download
    cache ``cache_dir()/data`` is always appended last.
    """
    roots: list[tuple[Path, str]] = []
    env = os.environ.get(DATA_ENV)
    if root is not None:
        roots.append((Path(root), "root argument"))
    elif env:
        roots.append((Path(env), f"${DATA_ENV}"))
    else:
        roots.extend((p, "shared/data found above the working/package directory") for p in shared_data_dirs())
    roots.append((cache_dir() / "data", "download cache"))
    return roots


def _show(path: str | os.PathLike) -> str:
    """Path for messages: absolute, except inside the working directory or the ``shared/`` folder
    beside the checkout (``../shared/...``), where the relative form is shorter and unambiguous."""
    p = os.path.abspath(path)
    try:
        rel = os.path.relpath(p)
    except ValueError:
        return p
    inside = not rel.startswith("..") or f"{os.sep}shared{os.sep}" in p
    return rel if inside and len(rel) < len(p) else p


def _normpath(base: Path, rel: str) -> Path:
    return base if rel == "." else base / rel


# ------------------------------------------------------------------------------ integrity checks
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _verify_sha256(path: Path, expected: str) -> str:
    """sha256 of ``path`` (memoised per file identity); raises DataIntegrityError on mismatch."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = file_sha256(path)
    got = _VERIFIED[key]
    if got != expected:
        raise DataIntegrityError(
            f"checksum mismatch for {_show(path)}: sha256 {got}, expected {expected} "
            "(see data/README.md). The file is corrupt or not the published pack; replace it."
        )
    return got


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# -------------------------------------------------------------------------------------- readers
def _unpickle(path: Path) -> dict[str, Any]:
    """Load a CIFAR/ImageNet16 pickle (Python-2 era) and normalise keys to ``str``."""
    with open(path, "rb") as f:
        obj = pickle.load(f, encoding="latin1")
    if not isinstance(obj, dict):
        raise DataIntegrityError(f"{_show(path)}: expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _rows_to_nchw(data: Any, size: int, path: Path) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != 3 * size * size:
        raise DataIntegrityError(
            f"{_show(path)}: 'data' should be uint8 [N,{3 * size * size}], got {arr.dtype} {list(arr.shape)}")
    return arr.reshape(-1, 3, size, size)


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


def _check_labels(y: np.ndarray, num_classes: int, where: Path) -> None:
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DataIntegrityError(f"{_show(where)}: labels outside 0..{num_classes - 1}")


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
    from tqdm import tqdm

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
    with tqdm(total=len(idx), desc=f"decoding CIFAR-10 jpeg pack ({part})", unit="img",
              disable=not show, mininterval=0.5) as bar:
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
    """All 60,000 decoded pack rows (NCHW), from the decode cache or decoded now and cached atomically."""
    path = Path(path)
    sha = _verify_sha256(path, PACKS["cifar10"][1])
    cpath = _cifar10_pack_cache_path(sha)
    if cpath.exists():
        try:
            with np.load(cpath, allow_pickle=False) as z:
                arrs = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            if arrs["x_train"].shape == (50_000, 3, 32, 32) and arrs["x_test"].shape == (10_000, 3, 32, 32):
                return arrs
        except (OSError, ValueError, KeyError, EOFError):
            pass
        cpath.unlink(missing_ok=True)  # a corrupt cache entry is recomputed, never trusted
    arrs = {}
    for part in ("train", "test"):
        arrs[f"x_{part}"], arrs[f"y_{part}"] = decode_cifar10_pack(path, part, progress=progress, verify=False)
    buf = io.BytesIO()
    np.savez(buf, **arrs)
    atomic_write_bytes(cpath, buf.getvalue())
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


def _imagenet16_dir_complete(d: Path) -> list[str]:
    return [f for f in (*IMAGENET16_TRAIN_FILES, IMAGENET16_VAL_FILE) if not (d / f).is_file()]


def read_imagenet16(directory: str | os.PathLike, num_classes: int = 120) -> dict[str, np.ndarray]:
    """NB201's ImageNet16 pickles, restricted like ``ImageNet16(..., use_num_of_class_only=120)``.

    Keeps rows with 1 ≤ label ≤ ``num_classes`` and makes labels 0-based. Returns ``x_train`` /
    ``x_test`` (``val_data``) uint8 NCHW [N,3,16,16] and int64 labels.
    """
    d = Path(directory)
    missing = _imagenet16_dir_complete(d)
    if missing:
        raise DataNotFoundError(f"{_show(d)} lacks {missing}")
    out: dict[str, np.ndarray] = {}
    for part, files in (("train", IMAGENET16_TRAIN_FILES), ("test", (IMAGENET16_VAL_FILE,))):
        xs, ys = [], []
        for name in files:
            entry = _unpickle(d / name)
            if "data" not in entry or "labels" not in entry:
                raise DataIntegrityError(f"{_show(d / name)}: missing key 'data' or 'labels'")
            x = _rows_to_nchw(entry["data"], 16, d / name)
            y = np.asarray(entry["labels"], dtype=np.int64).reshape(-1)
            if len(y) != len(x):
                raise DataIntegrityError(f"{_show(d / name)}: {len(x)} images but {len(y)} labels")
            if len(y) and y.min() < 1:
                raise DataIntegrityError(f"{_show(d / name)}: labels must be 1-based (found {y.min()})")
            keep = y <= num_classes
            xs.append(x[keep])
            ys.append(y[keep] - 1)
        out[f"x_{part}"] = np.ascontiguousarray(np.concatenate(xs))
        out[f"y_{part}"] = np.concatenate(ys)
    return out


def write_imagenet16_standin(
    directory: str | os.PathLike,
    n_train_per_batch: int = 200,
    n_val: int = 200,
    seed: int = 0,
    *,
    max_label: int = 150,
) -> Path:
    """Write SYNTHETIC data in NB201's exact ImageNet16 on-disk format, plus a ``STANDIN.txt`` marker.

    Files ``train_data_batch_1..10`` (``n_train_per_batch`` rows each) and ``val_data`` (``n_val``
    rows): pickled dicts ``{'data': uint8 [N,3072] (CHW), 'labels': list of 1-based ints, 'mean': ...}``.
    Labels are uniform on 1..``max_label`` (default 150, so about a fifth exceed 120 and are dropped by
    the reader, as with real data). Each class has its own random colour prototype plus noise, so a
    network can learn something; this is NOT ImageNet and never reported as real data.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    protos = rng.uniform(30, 225, size=(max_label + 1, 3, 1, 1)) + rng.normal(0, 25, size=(max_label + 1, 3, 16, 16))

    def make(n: int) -> dict[str, Any]:
        labels = rng.integers(1, max_label + 1, size=n)
        x = protos[labels] + rng.normal(0, 30, size=(n, 3, 16, 16))
        data = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(n, 3 * 16 * 16)
        return {"data": data, "labels": [int(v) for v in labels], "mean": data.mean(0).astype(np.float32)}

    for name in IMAGENET16_TRAIN_FILES:
        atomic_write_bytes(d / name, pickle.dumps(make(n_train_per_batch), protocol=2))
    atomic_write_bytes(d / IMAGENET16_VAL_FILE, pickle.dumps(make(n_val), protocol=2))
    atomic_write_text(d / STANDIN_MARKER, (
        "SYNTHETIC STAND-IN, NOT REAL DATA.\n"
        "Written by supernetbench.harness.data.write_imagenet16_standin in NB201's ImageNet16 pickle\n"
        f"format: 10 x {n_train_per_batch} train rows, {n_val} val rows, labels 1..{max_label}, seed {seed}.\n"
        "Replace this directory with the real ImageNet16 files for real results.\n"
    ))
    return d


# --------------------------------------------------------------------------------- source lookup
@dataclass
class _Raw:
    """A dataset as found on disk: full train/test arrays (NCHW uint8) and provenance."""

    dataset: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # pack | python-batches | download | standin | imagenet16-pickles
    path: Path
    root: Path
    label: str  # human-readable source description
    train_rows_total: int  # rows of the full official train set (partial packs have fewer)


def _scan(dataset: str, root: str | os.PathLike | None) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """All usable sources in priority order, and every location looked at (for messages)."""
    found: list[tuple[str, Path, Path]] = []
    searched: list[str] = []
    for r, origin in candidate_roots(root):
        if dataset in _PY_DIRS:
            for rel in _PY_DIRS[dataset]:
                d = _normpath(r, rel)
                missing = _python_batches_complete(d, dataset) if d.is_dir() else None
                if missing == []:
                    found.append(("python-batches", d, r))
                elif missing and len(missing) < len(_PY_FILES[dataset][0]) + len(_PY_FILES[dataset][1]):
                    searched.append(f"{_show(d)}  (python batches; incomplete, missing {missing})")
                else:
                    searched.append(f"{_show(d)}  (python batches)")
            rel, _ = PACKS[dataset]
            for p in (r / rel, r / Path(rel).name):
                if p.is_file():
                    found.append(("pack", p, r))
                else:
                    searched.append(f"{_show(p)}  (pack)")
        else:
            for rel in _IMAGENET16_DIRS:
                d = _normpath(r, rel)
                if d.is_dir() and not _imagenet16_dir_complete(d):
                    found.append(("standin" if (d / STANDIN_MARKER).exists() else "imagenet16-pickles", d, r))
                else:
                    searched.append(f"{_show(d)}  (NB201 ImageNet16 pickles)")
    return found, searched


def _how_to_fix(dataset: str) -> str:
    roots = "<root> = a path you pass (--data-root / DataConfig.root), $SUPERNETBENCH_DATA, " \
            f"a shared/data folder above the working directory, or {_show(cache_dir() / 'data')}"
    if dataset == "cifar10":
        what = ("the official python batches at <root>/cifar-10-batches-py/ (extract "
                f"{_DOWNLOADS['cifar10'][0]}), or the workplace pack at <root>/cifar10/cifar10-jpeg-pack.npz")
    elif dataset == "cifar100":
        what = ("the official python pickles at <root>/cifar-100-python/ (extract "
                f"{_DOWNLOADS['cifar100'][0]}), or the partial pack at <root>/cifar100/cifar100-partial.npz")
    else:
        what = ("NB201's ImageNet16 files (train_data_batch_1..10, val_data) at <root>/ImageNet16/ "
                "(see the NAS-Bench-201 README for where to obtain them)")
    return f"Put {what}; {roots}."


def _download(dataset: str) -> Path:
    """Download + md5-check + extract the official archive into ``cache_dir()/data``; returns the folder."""
    from tqdm import tqdm

    url, md5, folder = _DOWNLOADS[dataset]
    dest_root = cache_dir() / "data"
    dest_root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_root, prefix=".download-", suffix=".tar.gz")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=30) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {Path(url).name}") as bar:
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


_MEMO: dict[tuple, _Raw] = {}


def _load_raw(dataset: str, root: str | os.PathLike | None = None) -> _Raw:
    """Find and read ``dataset`` (memoised per file identity); download CIFAR if allowed."""
    _check_dataset(dataset)
    found, searched = _scan(dataset, root)
    if found:
        kind, path, r = found[0]
    else:
        if dataset in _DOWNLOADS and not _offline():
            try:
                path, kind, r = _download(dataset), "download", cache_dir() / "data"
            except OSError as e:  # URLError, timeouts, DNS, permissions
                raise DataNotFoundError(_not_found_msg(dataset, searched, f"download failed: {e}")) from e
        else:
            note = (f"downloads disabled (${OFFLINE_ENV}=1)" if dataset in _DOWNLOADS
                    else "no public download exists")
            raise DataNotFoundError(_not_found_msg(dataset, searched, note))
    if kind == "python-batches" and Path(r) == cache_dir() / "data":
        kind = "download"  # lives where downloads land
    st = path.stat()
    key = (dataset, kind, str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _MEMO:
        if len(_MEMO) >= 4:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = _read(dataset, kind, path, r)
    return _MEMO[key]


def _not_found_msg(dataset: str, searched: list[str], note: str) -> str:
    lines = "\n".join(f"  - {s}" for s in searched)
    return f"{PRETTY[dataset]} not found. Searched:\n{lines}\n({note})\n{_how_to_fix(dataset)}"


def _read(dataset: str, kind: str, path: Path, root: Path) -> _Raw:
    pretty = PRETTY[dataset]
    if kind in ("python-batches", "download"):
        arrs = read_cifar_python_batches(path, dataset)
        label = f"{pretty} python batches ({_show(path)})"
        if kind == "download":
            label = f"{pretty} python batches downloaded from {_DOWNLOADS[dataset][0]} ({_show(path)})"
        total = len(arrs["y_train"])
    elif kind == "pack" and dataset == "cifar10":
        arrs = load_cifar10_pack(path)
        label = (f"CIFAR-10 jpeg pack ({_show(path)}; JPEG q75 re-encodings except the rows with known "
                 "exact pixels)")
        total = CIFAR_TRAIN_SIZE
    elif kind == "pack" and dataset == "cifar100":
        arrs = read_cifar100_partial(path)
        n = len(arrs["y_train"])
        label = f"CIFAR-100 partial pack ({n:,} of {CIFAR_TRAIN_SIZE:,} train rows; {_show(path)})"
        total = CIFAR_TRAIN_SIZE
    elif kind == "standin":
        arrs = read_imagenet16(path)
        label = (f"synthetic stand-in in ImageNet16 format ({_show(path)}; NOT real ImageNet16-120, "
                 f"{len(arrs['y_train']):,} train rows with labels ≤ 120)")
        total = len(arrs["y_train"])
    else:
        arrs = read_imagenet16(path)
        n = len(arrs["y_train"])
        label = f"ImageNet16-120 pickles ({_show(path)})"
        if n != IMAGENET16_TRAIN_SIZE_120:
            label += f" [warning: {n:,} train rows after the 120-class filter, NB201 expects 151,700]"
        total = n
    return _Raw(dataset, arrs["x_train"], arrs["y_train"], arrs["x_test"], arrs["y_test"],
                kind, path, root, label, total)


# ------------------------------------------------------------------------------------ split files
def find_split_file(name: str, root: str | os.PathLike | None = None) -> Path:
    """Locate an NB201 split file (e.g. ``cifar-split.txt``) under the data roots.

    Looks in ``<root>/nb201/splits/``, ``<root>/splits/`` and ``<root>/`` of every candidate root, and
    (these are small official metadata files) also in any ``shared/data`` above the working directory.
    """
    roots = [r for r, _ in candidate_roots(root)]
    for extra in shared_data_dirs():
        if extra not in roots:
            roots.append(extra)
    searched = []
    for r in roots:
        for p in (r / "nb201" / "splits" / name, r / "splits" / name, r / name):
            if p.is_file():
                return p
            searched.append(_show(p))
    lines = "\n".join(f"  - {s}" for s in searched)
    raise DataNotFoundError(
        f"NB201 split file {name} not found. Searched:\n{lines}\n"
        f"Get it from D-X-Y/AutoDL-Projects configs/nas-benchmark/ and put it in <root>/nb201/splits/.")


def read_nb201_split(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Parse an NB201 split file: JSON ``{"train": ["int", ["0", "5", ...]], ...}`` → int64 arrays."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataIntegrityError(f"{_show(path)} is not a JSON split file: {e}") from e
    out = {}
    for key, val in obj.items():
        if not (isinstance(val, list) and len(val) == 2 and val[0] == "int" and isinstance(val[1], list)):
            raise DataIntegrityError(f"{_show(path)}: entry {key!r} is not of the form ['int', [indices]]")
        out[key] = np.asarray([int(v) for v in val[1]], dtype=np.int64)
    return out


# ----------------------------------------------------------------------------------- public API
@dataclass(frozen=True)
class DataConfig:
    dataset: str = "cifar10"
    root: str | None = None
    split: str = "protocol"  # or "nb201"
    train_size: int | None = None  # None = whole half
    valid_size: int | None = None


@dataclass
class SearchData:
    """The two halves used for supernet search; images uint8 NCHW, labels int64."""

    dataset: str
    num_classes: int
    image_size: int
    mean: tuple
    std: tuple
    train_x: torch.Tensor  # uint8 [N,3,H,W]
    train_y: torch.Tensor  # int64 [N]
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    description: str
    source: str  # pack | python-batches | download | standin | imagenet16-pickles
    root: str = ""
    split: str = "protocol"  # the split actually applied
    train_index: torch.Tensor | None = None  # rows of the source training set, for provenance
    valid_index: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "SearchData":
        return dataclasses.replace(
            self,
            train_x=self.train_x.to(device), train_y=self.train_y.to(device),
            valid_x=self.valid_x.to(device), valid_y=self.valid_y.to(device),
        )


@dataclass
class TestData:
    dataset: str
    x: torch.Tensor  # uint8 [N,3,H,W]
    y: torch.Tensor  # int64 [N]
    description: str
    source: str
    root: str = ""


def _take(n_req: int | None, idx: np.ndarray, what: str, context: str) -> np.ndarray:
    if n_req is None:
        return idx
    if n_req < 1:
        raise ValueError(f"{what} must be ≥ 1, got {n_req}")
    if n_req > len(idx):
        raise ValueError(f"{what}={n_req:,} exceeds the {len(idx):,} images available in the {context}")
    return idx[:n_req]


def load_search_data(cfg: DataConfig) -> SearchData:
    """Load ``cfg.dataset`` and cut the search split (protocol §2: first/second half of the train set)."""
    dataset = _check_dataset(cfg.dataset)
    if cfg.split not in SPLITS:
        raise ValueError(f"unknown split {cfg.split!r}; expected one of {list(SPLITS)}")
    raw = _load_raw(dataset, cfg.root)
    n = len(raw.y_train)
    split, note = cfg.split, ""
    if split == "nb201" and dataset not in NB201_SPLIT_FILES:
        split, note = "protocol", " (NB201 has no CIFAR-100 search split file; protocol split used)"
    if split == "protocol":
        if n < 2:
            raise ValueError(f"{raw.label}: only {n} training rows, cannot split")
        half = n // 2
        train_idx, valid_idx = np.arange(half), np.arange(half, n)
        split_desc = "protocol split"
        if n < raw.train_rows_total:
            split_desc += (f" of the {n:,} available rows (halves of {n:,}, not of the full "
                           f"{raw.train_rows_total:,}-row train set)")
    else:
        spath = find_split_file(NB201_SPLIT_FILES[dataset], cfg.root)
        sp = read_nb201_split(spath)
        if "train" not in sp or "valid" not in sp:
            raise DataIntegrityError(f"{_show(spath)}: expected keys 'train' and 'valid', got {sorted(sp)}")
        train_idx, valid_idx = sp["train"], sp["valid"]
        hi = int(max(train_idx.max(initial=-1), valid_idx.max(initial=-1)))
        if hi >= n:
            raise ValueError(
                f"NB201 split {_show(spath)} indexes rows up to {hi:,} (for a {NB201_FULL_TRAIN_SIZE[dataset]:,}-row "
                f"train set), but {raw.label} has only {n:,}; use split='protocol'")
        split_desc = f"NB201 split ({_show(spath)})"
    split_desc += note
    train_idx = _take(cfg.train_size, train_idx, "train_size", "train half")
    valid_idx = _take(cfg.valid_size, valid_idx, "valid_size", "valid half")
    desc = f"{raw.label}, {split_desc}, {len(train_idx):,} train / {len(valid_idx):,} valid images"
    return SearchData(
        dataset=dataset, num_classes=NUM_CLASSES[dataset], image_size=IMAGE_SIZE[dataset],
        mean=MEAN[dataset], std=STD[dataset],
        train_x=torch.from_numpy(raw.x_train[train_idx]), train_y=torch.from_numpy(raw.y_train[train_idx]),
        valid_x=torch.from_numpy(raw.x_train[valid_idx]), valid_y=torch.from_numpy(raw.y_train[valid_idx]),
        description=desc, source=raw.source, root=str(raw.root), split=split,
        train_index=torch.from_numpy(np.asarray(train_idx, dtype=np.int64)),
        valid_index=torch.from_numpy(np.asarray(valid_idx, dtype=np.int64)),
    )


def load_test_set(dataset: str, root: str | os.PathLike | None = None) -> TestData:
    """The dataset's test set (CIFAR test batch, ImageNet16 ``val_data``) with provenance."""
    raw = _load_raw(_check_dataset(dataset), root)
    n = len(raw.y_test)
    desc = f"{raw.label}, test set, {n:,} images"
    if raw.source == "pack" and dataset == "cifar100":
        desc += " (partial: test rows 0..915 of 10,000)"
    return TestData(dataset, torch.from_numpy(raw.x_test.copy()), torch.from_numpy(raw.y_test.copy()),
                    desc, raw.source, str(raw.root))


def load_test_data(dataset: str, root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x uint8 [N,3,H,W], y int64 [N])`` of the test set; see :func:`load_test_set` for provenance."""
    t = load_test_set(dataset, root)
    return t.x, t.y


# ----------------------------------------------------------------------------------- batch stream
def _derive_seed(seed: int, stream: int) -> int:
    return (int(seed) * 0x9E3779B97F4A7C15 + stream * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % (1 << 63)


class BatchStream:
    """Seeded stream of ``(x_float, y)`` batches over ``(x, y)``; reshuffled every epoch.

    Three independent CPU generators derived from ``seed``: epoch order, augmentation of epoch
    batches, and :meth:`sample_batch` (indices + its augmentation), so architecture-step batches never
    change the training order. ``state_dict()`` captures all of them plus the position inside the
    current epoch, so a resumed stream continues bit-identically. Batches come back on ``x``'s device.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, augment: Augment | None,
                 seed: int, dataset: str, drop_last: bool = False):
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise TypeError(f"x must be uint8 [N,C,H,W], got {x.dtype} {tuple(x.shape)}")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"x and y must be non-empty and equally long ({len(x)} vs {len(y)})")
        if batch_size < 1:
            raise ValueError("batch_size must be ≥ 1")
        self.x, self.y = x, y.to(x.device)
        self.batch_size, self.augment, self.seed = int(batch_size), augment, int(seed)
        self.dataset, self.drop_last = _check_dataset(dataset), bool(drop_last)
        self.n = len(x)
        self._g_order, self._g_aug, self._g_sample = (
            torch.Generator().manual_seed(_derive_seed(seed, k)) for k in range(3))
        self._perm: torch.Tensor | None = None
        self._pos = 0
        self.epochs_completed = 0

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def _make(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = idx.to(self.x.device)
        xb = self.x[idx]
        xb = self.augment(xb, g) if self.augment is not None else normalize(xb, self.dataset)
        return xb, self.y[idx]

    def epoch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over the data (the rest of the current pass if it was interrupted or resumed)."""
        if self._perm is None:
            self._perm, self._pos = torch.randperm(self.n, generator=self._g_order), 0
        while self._pos < self.n:
            idx = self._perm[self._pos:self._pos + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            self._pos += len(idx)
            yield self._make(idx, self._g_aug)
        self._perm, self._pos = None, 0
        self.epochs_completed += 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self.epoch()

    def sample_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch of distinct rows (fresh permutation's first batch; protocol §2 last bullet)."""
        idx = torch.randperm(self.n, generator=self._g_sample)[: self.batch_size]
        return self._make(idx, self._g_sample)

    def state_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "batch_size": self.batch_size, "seed": self.seed, "drop_last": self.drop_last,
            "epochs_completed": self.epochs_completed, "pos": self._pos,
            "perm": None if self._perm is None else self._perm.clone(),
            "g_order": self._g_order.get_state(), "g_aug": self._g_aug.get_state(),
            "g_sample": self._g_sample.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in ("n", "batch_size", "drop_last"):
            if state[k] != getattr(self, k):
                raise ValueError(f"BatchStream state has {k}={state[k]}, this stream has {getattr(self, k)}")
        self.seed, self.epochs_completed, self._pos = state["seed"], state["epochs_completed"], state["pos"]
        self._perm = None if state["perm"] is None else state["perm"].clone()
        self._g_order.set_state(state["g_order"])
        self._g_aug.set_state(state["g_aug"])
        self._g_sample.set_state(state["g_sample"])


# ------------------------------------------------------------------------------------- summary
def summarise_data_sources(root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """What was found where (for ``supernetbench data info``); cheap: no decoding, only checksums."""
    rows: list[dict[str, Any]] = []
    roots = candidate_roots(root)
    rows.append({"item": "search roots", "status": "info",
                 "detail": "; ".join(f"{_show(r)} ({o}{'' if r.is_dir() else ', absent'})" for r, o in roots)})
    for ds in DATASETS:
        found, searched = _scan(ds, root)
        if not found:
            dl = ("download on first use" if ds in _DOWNLOADS and not _offline()
                  else "offline" if ds in _DOWNLOADS else "no download")
            rows.append({"item": ds, "status": "missing", "source": None, "path": None,
                         "detail": dl, "searched": searched})
            continue
        kind, path, r = found[0]
        detail = {"python-batches": "official python pickles", "standin": "SYNTHETIC stand-in (not real data)",
                  "imagenet16-pickles": "NB201 ImageNet16 pickles"}.get(kind, "")
        if kind == "pack":
            try:
                _verify_sha256(path, PACKS[ds][1])
                detail = "pack, sha256 ok"
                if ds == "cifar10":
                    cp = _cifar10_pack_cache_path(PACKS[ds][1])
                    detail += f"; decoded cache {'at ' + _show(cp) if cp.exists() else 'not built yet'}"
                else:
                    detail += "; PARTIAL (train rows 0..1116, test rows 0..915)"
            except DataIntegrityError as e:
                detail = f"CORRUPT: {e}"
        rows.append({"item": ds, "status": "found", "source": kind, "path": _show(path), "root": _show(r),
                     "detail": detail, "others": [f"{k}: {_show(p)}" for k, p, _ in found[1:]]})
    for name in ("cifar-split.txt", "ImageNet16-120-split.txt", "cifar100-test-split.txt",
                 "imagenet-16-120-test-split.txt"):
        try:
            p = find_split_file(name, root)
            rows.append({"item": f"nb201 split {name}", "status": "found", "path": _show(p)})
        except DataNotFoundError:
            rows.append({"item": f"nb201 split {name}", "status": "missing", "path": None})
    return rows
