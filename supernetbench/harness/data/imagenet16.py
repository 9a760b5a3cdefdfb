"""ImageNet16-120: NB201's pickles, and the synthetic stand-in written in their format."""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..store import atomic_write_bytes, atomic_write_text
from .common import DataIntegrityError, DataNotFoundError, _rows_to_nchw, _show, _unpickle

IMAGENET16_TRAIN_FILES = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_VAL_FILE = "val_data"
_IMAGENET16_DIRS = ("ImageNet16", "imagenet16-120/ImageNet16", "imagenet16-120", "imagenet16", ".")
IMAGENET16_TRAIN_SIZE_120 = 151_700  # NB201 asserts this length for the 120-class train set
STANDIN_MARKER = "STANDIN.txt"


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

