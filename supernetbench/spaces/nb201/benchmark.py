"""NB201 ground truth: test accuracy of all 15,625 architectures on three datasets.

Row ``i`` of the table is the official NB201 / NATS-Bench (tss) index ``i``; every per-arch array in
this harness is in that order. The table is the 200-epoch mean test accuracy exported from the
official NATS-Bench API (``../shared/data/nb201/README.md``), checked by sha256 before use.

NB201 test splits (protocol §5.3, P8): CIFAR-10 has one, ``ori-test`` (the CIFAR-10 test set);
CIFAR-100 and ImageNet16-120 have ``x-test`` (half of the test set; what
``get_more_info(i, dataset)["test-accuracy"]`` returns) and ``ori-test`` (the whole test set,
``valtest-accuracy``). The shipped table holds ``ori-test`` for CIFAR-10 and ``x-test`` for the
other two; a table from ``nb201-convert`` holds both for them (:data:`SPLIT_COLUMNS`). The split a
number is read on is chosen per statistic by the profile field ``gt_split`` (:func:`resolve_split`):
``table`` (the table's own column, default), ``x-test``, ``ori-test`` or ``papers`` (the papers' code:
Stage-1 metrics and the biased sampler on ``ori-test``, Stage-2 results on ``x-test``, each where the
table has it).
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
from typing import Any

import numpy as np

from ...harness.profiles import GT_SPLITS
from .space import NB201Space
from ...harness.store import atomic_write_bytes, cache_dir, file_sha256, shared_data_dirs

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
#: the NB201 split of each column of :data:`COLUMNS` (the shipped table's)
TABLE_SPLITS = {"cifar10": "ori-test", "cifar100": "x-test", "imagenet16-120": "x-test"}
#: optional columns a converted table adds: (dataset, split) -> column
EXTRA_COLUMNS = {("cifar100", "ori-test"): "CIFAR100OriTestAccuracy200Epochs",
                 ("imagenet16-120", "ori-test"): "ImageNetOriTestAccuracy200Epochs"}
SPLIT_COLUMNS = {**{(d, TABLE_SPLITS[d]): c for d, c in COLUMNS.items()}, **EXTRA_COLUMNS}
#: values of the profile field ``gt_split``; statistics: "stage1" (Stage-1 metrics, the biased
#: sampler, clusters) and "stage2" (the selected arch's accuracy)
PAPERS_SPLIT = {"stage1": "ori-test", "stage2": "x-test"}  # protocol P8


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
    _extra: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def test_acc(self, dataset: str, split: str | None = None) -> np.ndarray:
        """Mean 200-epoch test accuracy (%) per NB201 index on NB201 ``split`` (None: the table's
        column, :data:`TABLE_SPLITS`), float64, read-only."""
        try:
            acc = self._acc[dataset]
        except KeyError:
            raise ValueError(f"unknown dataset {dataset!r}; valid choices: {', '.join(DATASETS)}") from None
        if split is None or split == TABLE_SPLITS[dataset]:
            return acc
        if (dataset, split) not in self._extra:
            raise ValueError(f"the NB201 table {self.path} has no {split} column for {dataset} (it has "
                             f"{', '.join(self.splits(dataset))}); convert the official files with `supernetbench "
                             "nb201-convert` to get both x-test and ori-test, or use --gt-split table")
        return self._extra[(dataset, split)]

    def record(self, dataset: str, gt_split: str = "table") -> dict[str, Any]:
        """What a result records about this ground truth (:func:`ground_truth_record`)."""
        return ground_truth_record(self, dataset, gt_split)

    def splits(self, dataset: str) -> list[str]:
        """The NB201 test splits this table holds for ``dataset``."""
        return [TABLE_SPLITS[dataset]] + [s for (d, s) in self._extra if d == dataset]

    def accuracy(self, dataset: str, gt_split: str, statistic: str) -> np.ndarray:
        """The ground truth of ``statistic`` ("stage1" | "stage2") under the profile's ``gt_split``."""
        return self.test_acc(dataset, resolve_split(self, dataset, gt_split, statistic))

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


def resolve_split(gt: GroundTruth, dataset: str, gt_split: str, statistic: str) -> str:
    """The NB201 split that ``statistic`` ("stage1": Stage-1 metrics, biased sampler, clusters;
    "stage2": selected archs) is read on under ``gt_split`` (see the module doc); a split the table
    lacks is an error for ``x-test``/``ori-test`` and falls back to the table's column for ``papers``."""
    if gt_split not in GT_SPLITS:
        raise ValueError(f"unknown gt_split {gt_split!r}; valid choices: {', '.join(GT_SPLITS)}")
    if statistic not in PAPERS_SPLIT:
        raise ValueError(f"unknown statistic {statistic!r}; valid: {', '.join(PAPERS_SPLIT)}")
    have = gt.splits(dataset)
    if gt_split == "table":
        return have[0]
    if gt_split == "papers":
        return PAPERS_SPLIT[statistic] if PAPERS_SPLIT[statistic] in have else have[0]
    if gt_split not in have:
        gt.test_acc(dataset, gt_split)  # the error naming the table, the dataset and the fix
    return gt_split


def describe_splits(gt: GroundTruth, dataset: str, gt_split: str = "table") -> dict[str, str]:
    """``{"stage1": split, "stage2": split}`` of ``dataset`` under ``gt_split`` (what results record)."""
    return {st: resolve_split(gt, dataset, gt_split, st) for st in PAPERS_SPLIT}


def ground_truth_record(gt: GroundTruth, dataset: str, gt_split: str = "table") -> dict[str, Any]:
    """What a result records about its ground truth: the table, the profile's choice, and per
    statistic the NB201 split and the table column it was read from."""
    splits = describe_splits(gt, dataset, gt_split)
    return {"table": str(gt.path), "gt_split": gt_split,
            **{f"{st}_split": sp for st, sp in splits.items()},
            "columns": {st: SPLIT_COLUMNS[(dataset, sp)] for st, sp in splits.items()}}


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
    extra = {}
    for (ds, split), col in EXTRA_COLUMNS.items():
        if col in rows[0]:
            a = np.array([float(r[col]) for r in rows], dtype=np.float64)
            if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 100:
                raise BenchmarkTableError(f"NB201 table {path}: column {col} has values outside [0, 100]. {fix}")
            a.setflags(write=False)
            extra[(ds, split)] = a
    archs.setflags(write=False)
    return GroundTruth(
        path=path,
        archs=archs,
        strings=tuple(r["ArchitectureString"] for r in rows),
        unique_strings=tuple(r["UniqueString"] for r in rows),
        _acc=acc,
        _extra=extra,
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


def read_official(source: str | os.PathLike, *, trust_pickle: bool = False) -> list[dict[str, Any]]:
    """One row per arch of an official benchmark release, in its index order, in this harness's
    table columns (:data:`SPLIT_COLUMNS`, ``ArchitectureString``, ``UniqueString``).

    ``source``: a NATS-Bench ``tss`` release (the ``NATS-tss-v1_0-3ffb9-simple`` directory, read in
    fast mode, or a ``.pickle.pbz2`` file) through the ``nats_bench`` package, or a NAS-Bench-201
    ``.pth`` release through ``nas_201_api`` (package ``nas-bench-201``). Every accuracy is
    ``get_more_info(i, dataset, hp="200", is_random=False)`` (200 epochs, mean over trials), exactly
    how the shipped table was exported: ``test-accuracy`` is ``ori-test`` on CIFAR-10 and ``x-test``
    on CIFAR-100 / ImageNet16-120, whose ``ori-test`` is ``valtest-accuracy``. Both formats are
    pickles (unpickling runs code), so ``trust_pickle=True`` must be given explicitly.
    """
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{source} does not exist; give the official NATS-Bench tss directory or file "
                                "(e.g. NATS-tss-v1_0-3ffb9-simple) or a NAS-Bench-201 .pth release")
    if not trust_pickle:
        raise PermissionError(
            f"{source} is a pickle and loading it can run arbitrary code; pass trust_pickle=True "
            "(CLI: --trust-pickle) only for files from the official NATS-Bench / NAS-Bench-201 release"
        )
    if path.suffix == ".pth":
        try:
            from nas_201_api import NASBench201API  # type: ignore[import-not-found]
        except ImportError:
            raise ImportError("reading a NAS-Bench-201 .pth release needs the `nas_201_api` package: "
                              "pip install nas-bench-201 (or pip install -e '.[nb201]')") from None
        import torch

        data = torch.load(path, map_location="cpu", weights_only=False)  # nb201-convert --trust-pickle only  # nosec
        if not isinstance(data, dict):
            raise ValueError(f"{source} is not a NAS-Bench-201 release (a dict with meta_archs, arch2infos)")
        api = NASBench201API(data, verbose=False)
    else:
        try:
            from nats_bench import create  # type: ignore[import-not-found]
        except ImportError:
            raise ImportError("reading NATS-Bench files needs the `nats_bench` package: pip install nats_bench "
                              "(or pip install -e '.[nb201]')") from None
        api = create(str(path), "tss", fast_mode=path.is_dir(), verbose=False)
    space = NB201Space()
    rows = []
    for i in range(len(api)):
        arch = api.arch(i)
        arch = arch if isinstance(arch, str) else arch.tostr()
        row: dict[str, Any] = {}
        for ds in COLUMNS:
            info = api.get_more_info(i, NATS_NAMES[ds], hp="200", is_random=False)
            row[SPLIT_COLUMNS[(ds, TABLE_SPLITS[ds])]] = info["test-accuracy"]
            if (ds, "ori-test") in EXTRA_COLUMNS:
                row[EXTRA_COLUMNS[(ds, "ori-test")]] = info.get("valtest-accuracy")
        rows.append({**row, "ArchitectureString": arch, "UniqueString": space.iso_string(space.parse(arch))})
    return rows


def convert_official(source: str | os.PathLike, out: str | os.PathLike, *, trust_pickle: bool = False,
                     require_full: bool = True) -> Path:
    """Convert an official release (:func:`read_official`) to this harness's table: the CSV with the
    ``x-test`` and ``ori-test`` columns of CIFAR-100 and ImageNet16-120 (an ``ori-test`` column is
    left out when the release lacks it) and a ``<csv>.sha256`` sidecar that :func:`load_ground_truth`
    verifies. ``require_full``: a release without all 15,625 archs is an error (tests turn it off)."""
    rows = read_official(source, trust_pickle=trust_pickle)
    if require_full and len(rows) != NUM_ARCHS:
        raise BenchmarkTableError(f"{source} holds {len(rows)} architectures, not the {NUM_ARCHS:,} of the NB201 "
                                  "topology space; give the full tss release")
    extra = [c for c in EXTRA_COLUMNS.values() if rows and all(r.get(c) is not None for r in rows)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = [*COLUMNS.values(), *extra, "ArchitectureString", "UniqueString"]
    w.writerow(header)
    for r in rows:
        w.writerow([r[c] for c in header])
    out = Path(out)
    data = buf.getvalue().encode()
    atomic_write_bytes(out, data)
    import hashlib

    atomic_write_bytes(out.with_name(out.name + ".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())
    return out
