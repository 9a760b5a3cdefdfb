"""Shared by the dataset readers: names and sizes, errors, data roots, checksums and the batch-file
unpickler."""
from __future__ import annotations

import hashlib
import importlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..profiles import SPLITS  # noqa: F401  (one list of search splits, re-exported)
from ..store import cache_dir, file_sha256, one_line, shared_data_dirs

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}
IMAGE_SIZE: dict[str, int] = {"cifar10": 32, "cifar100": 32, "imagenet16-120": 16}
PRETTY: dict[str, str] = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}
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
def _numpy_pickle_globals() -> dict[tuple[str, str], Any]:
    """The only globals an official CIFAR/ImageNet16 batch pickle references (numpy arrays, dtypes and
    scalars; Python 3 protocol-2 bytes), under their numpy 1.x and 2.x module names."""
    core = importlib.import_module("numpy._core" if hasattr(np, "_core") else "numpy.core")
    objs = {"multiarray": {"_reconstruct": core.multiarray._reconstruct, "scalar": core.multiarray.scalar},
            "numeric": {"_frombuffer": core.numeric._frombuffer}}
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                           ("_codecs", "encode"): _latin1_encode}
    for pkg in ("numpy.core", "numpy._core"):
        for mod, names in objs.items():
            allowed.update({(f"{pkg}.{mod}", n): f for n, f in names.items()})
    return allowed


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes, restricted to latin-1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: any other global is refused, so a batch
    file cannot run code."""

    allowed = _numpy_pickle_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None


def _unpickle(path: Path) -> dict[str, Any]:
    """Load a CIFAR/ImageNet16 pickle (Python-2 era) and normalise keys to ``str``.

    Only numpy arrays, dtypes, scalars and plain containers are allowed (:class:`_BatchUnpickler`);
    anything else, or a truncated file, is a :class:`DataIntegrityError` naming the file.
    """
    try:
        with open(path, "rb") as f:
            obj = _BatchUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DataIntegrityError(
            f"{_show(path)} is not a valid dataset batch file ({one_line(e, 100)}); only numpy arrays, lists "
            "and dicts are loaded from it (anything else could run code). Replace it with the official file."
        ) from None
    if not isinstance(obj, dict):
        raise DataIntegrityError(f"{_show(path)}: expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _rows_to_nchw(data: Any, size: int, path: Path) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != 3 * size * size:
        raise DataIntegrityError(
            f"{_show(path)}: 'data' should be uint8 [N,{3 * size * size}], got {arr.dtype} {list(arr.shape)}")
    return arr.reshape(-1, 3, size, size)


def _check_labels(y: np.ndarray, num_classes: int, where: Path) -> None:
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DataIntegrityError(f"{_show(where)}: labels outside 0..{num_classes - 1}")

