"""NB201 ground truth: test accuracy of all 15,625 architectures on three datasets.

Row ``i`` of the table is the official NB201 / NATS-Bench (tss) index ``i``; every per-arch array in
this harness is in that order. The table is the 200-epoch mean test accuracy exported from the
official NATS-Bench API (``../shared/data/nb201/README.md``), checked by sha256 before use.
"""
from __future__ import annotations

import csv
import io
import os
import re
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .space import NB201Space
from .store import atomic_write_bytes, cache_dir, file_sha256, shared_data_dirs

FILENAME = "nats_tss_200ep_test_acc.csv"
SHA256 = "cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e"
#: The public copy named in the data README (repository v-tao/nats-bench-landscape, commit 3126803).
PUBLIC_URL = "https://raw.githubusercontent.com/v-tao/nats-bench-landscape/3126803/nats_bench.csv"
ENV_VAR = "SUPERNETBENCH_NB201"
COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "imagenet16-120": "ImageNetTestAccuracy200Epochs",
}
DATASETS = tuple(COLUMNS)
NUM_ARCHS = 15_625


class BenchmarkTableError(RuntimeError):
    """The ground-truth table is missing, truncated or altered."""


def default_table_path() -> Path:
    """Where the table is looked for: ``$SUPERNETBENCH_NB201`` > ``../shared/data/nb201`` > cache."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    for d in shared_data_dirs():
        if (d / "nb201" / FILENAME).exists():
            return d / "nb201" / FILENAME
    return cache_dir() / "nb201" / FILENAME


def _fetch(dest: Path) -> None:
    if os.environ.get("SUPERNETBENCH_OFFLINE"):
        raise OSError("downloads disabled by SUPERNETBENCH_OFFLINE")
    with urllib.request.urlopen(PUBLIC_URL, timeout=30) as r:  # noqa: S310 - fixed https URL
        data = r.read()
    atomic_write_bytes(dest, data)


@dataclass(frozen=True)
class GroundTruth:
    """The NB201 table. ``archs[i]`` is the op-index 6-tuple of NB201 index ``i``."""

    path: Path
    archs: np.ndarray  # int8 (15625, 6)
    strings: tuple[str, ...]
    unique_strings: tuple[str, ...]
    _acc: dict[str, np.ndarray] = field(repr=False)

    def test_acc(self, dataset: str) -> np.ndarray:
        """Mean 200-epoch test accuracy (%) per NB201 index, float64, read-only."""
        try:
            return self._acc[dataset]
        except KeyError:
            raise ValueError(f"unknown dataset {dataset!r}; valid choices: {', '.join(DATASETS)}") from None

    def index_of(self, arch) -> int:
        """NB201 index of an arch (6-tuple or arch string)."""
        space = NB201Space()
        a = space.parse(arch) if isinstance(arch, str) else space.validate(arch)
        return int(self._index[space.encode(np.array(a))[0]])

    @property
    def _index(self) -> np.ndarray:
        return _code_to_index(self.archs.tobytes())

    def __len__(self) -> int:
        return len(self.archs)


@lru_cache(maxsize=4)
def _code_to_index(archs_bytes: bytes) -> np.ndarray:
    archs = np.frombuffer(archs_bytes, dtype=np.int8).reshape(-1, 6)
    codes = NB201Space().encode(archs)
    inv = np.empty(len(codes), dtype=np.int64)
    inv[codes] = np.arange(len(codes))
    return inv


def load_ground_truth(path: str | os.PathLike | None = None, *, verify: bool = True) -> GroundTruth:
    """Load and verify the table (cached per path). See :func:`default_table_path` for the search."""
    p = Path(path) if path is not None else default_table_path()
    return _load(p.resolve() if p.exists() else p, verify)


@lru_cache(maxsize=4)
def _load(path: Path, verify: bool) -> GroundTruth:
    fix = (
        f"Put the official file ({FILENAME}, sha256 {SHA256[:12]}…, from v-tao/nats-bench-landscape@3126803 "
        f"nats_bench.csv) at {path}, or point ${ENV_VAR} / --nb201 at it."
    )
    if not path.exists():
        try:
            _fetch(path)
        except OSError as e:
            raise BenchmarkTableError(f"NB201 table not found at {path} and download failed ({e}). {fix}") from None
    if not path.is_file():
        raise BenchmarkTableError(f"NB201 table {path} is a directory or special file, not the CSV table. {fix}")
    if verify:
        digest = file_sha256(path)
        sidecar = path.with_name(path.name + ".sha256")
        expected = _read_sidecar(sidecar) if sidecar.exists() else SHA256
        if digest != expected:
            raise BenchmarkTableError(
                f"NB201 table {path} is truncated or altered: sha256 {digest[:12]}… != expected {expected[:12]}…"
                f"{' (from ' + sidecar.name + ')' if sidecar.exists() else ''}. {fix}"
            )
    text = path.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    needed = [*COLUMNS.values(), "ArchitectureString", "UniqueString"]
    if not rows or any(c not in rows[0] for c in needed):
        raise BenchmarkTableError(f"NB201 table {path} lacks columns {needed}. {fix}")
    if len(rows) != NUM_ARCHS:
        raise BenchmarkTableError(f"NB201 table {path} has {len(rows)} rows, expected {NUM_ARCHS}. {fix}")
    space = NB201Space()
    archs = np.array([space.parse(r["ArchitectureString"]) for r in rows], dtype=np.int8)
    if len(np.unique(space.encode(archs))) != NUM_ARCHS:
        raise BenchmarkTableError(f"NB201 table {path} repeats architectures. {fix}")
    acc = {}
    for ds, col in COLUMNS.items():
        a = np.array([float(r[col]) for r in rows], dtype=np.float64)
        if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 100:
            raise BenchmarkTableError(f"NB201 table {path}: column {col} has values outside [0, 100]. {fix}")
        a.setflags(write=False)
        acc[ds] = a
    archs.setflags(write=False)
    return GroundTruth(
        path=path,
        archs=archs,
        strings=tuple(r["ArchitectureString"] for r in rows),
        unique_strings=tuple(r["UniqueString"] for r in rows),
        _acc=acc,
    )


def _read_sidecar(sidecar: Path) -> str:
    """The sha256 recorded in a ``<table>.sha256`` sidecar (``sha256sum`` format)."""
    words = sidecar.read_text(encoding="utf-8", errors="replace").split()
    if not words or not re.fullmatch(r"[0-9a-f]{64}", words[0]):
        raise BenchmarkTableError(
            f"checksum sidecar {sidecar} is empty or not a sha256sum line; rewrite it with `sha256sum` "
            "(or `supernetbench nb201-convert`), or delete it to check the table against the official checksum")
    return words[0]


NATS_NAMES = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}


def convert_official(source: str | os.PathLike, out: str | os.PathLike, *, trust_pickle: bool = False) -> Path:
    """Convert an official NATS-Bench (tss) benchmark file/dir to this harness's table format.

    Reads ``get_more_info(i, dataset, hp="200", is_random=False)["test-accuracy"]`` for every arch
    (exactly how the shipped table was exported) via the ``nats_bench`` package, writes the CSV and
    a ``<csv>.sha256`` sidecar that :func:`load_ground_truth` verifies. The official files are
    pickles: unpickling runs code, so ``trust_pickle=True`` must be given explicitly.
    """
    if not trust_pickle:
        raise PermissionError(
            f"{source} is a pickle and loading it can run arbitrary code; pass trust_pickle=True "
            "(CLI: --trust-pickle) only for files from the official NATS-Bench release"
        )
    try:
        from nats_bench import create  # type: ignore[import-not-found]
    except ImportError:
        raise ImportError("converting official benchmark files needs the `nats_bench` package: pip install nats_bench") from None
    api = create(str(source), "tss", fast_mode=True, verbose=False)
    space = NB201Space()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*COLUMNS.values(), "ArchitectureString", "UniqueString"])
    for i in range(len(api)):
        arch = api.arch(i)
        accs = [api.get_more_info(i, NATS_NAMES[d], hp="200", is_random=False)["test-accuracy"] for d in COLUMNS]
        w.writerow([*accs, arch, space.iso_string(space.parse(arch))])
    out = Path(out)
    data = buf.getvalue().encode()
    atomic_write_bytes(out, data)
    import hashlib

    atomic_write_bytes(out.with_name(out.name + ".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())
    return out
