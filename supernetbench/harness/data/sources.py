"""Which copy of a dataset is used: scanning the roots, downloading, reading, memoising, summarising."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..store import cache_dir
from .cifar import (
    _DOWNLOADS, _PY_DIRS, _PY_FILES, CIFAR_TRAIN_SIZE, PACKS, _cifar10_pack_cache_path, _download,
    _python_batches_complete, load_cifar10_pack, read_cifar100_partial, read_cifar_python_batches,
)
from .common import (
    DATASETS, OFFLINE_ENV, PRETTY, DataIntegrityError, DataNotFoundError, _check_dataset, _normpath, _offline,
    _show, _verify_sha256, candidate_roots,
)
from .imagenet16 import _IMAGENET16_DIRS, IMAGENET16_TRAIN_SIZE_120, STANDIN_MARKER, _imagenet16_dir_complete, read_imagenet16
from .splits import find_split_file


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


def _stat(path: Path) -> list[Any]:
    """(name, size, mtime_ns) of ``path``, or of each file directly in it when it is a directory."""
    files = sorted(q for q in path.iterdir() if q.is_file()) if path.is_dir() else [path]
    return [[q.name, (st := q.stat()).st_size, st.st_mtime_ns] for q in files]


def source_identity(dataset: str, root: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The source :func:`_load_raw` would read, named without reading it (kind, resolved path, and
    the size and mtime of its files); None when nothing is on disk (a download would be needed).
    Cheap keys for results computed from the decoded data (``report --artifacts-only``)."""
    _check_dataset(dataset)
    found, _ = _scan(dataset, root)
    if not found:
        return None
    kind, path, _ = found[0]
    return {"dataset": dataset, "kind": kind, "path": str(path.resolve()), "files": _stat(path)}


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
