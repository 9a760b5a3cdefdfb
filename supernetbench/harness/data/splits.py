"""NB201 split files: where they are looked for and how they are parsed."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..store import shared_data_dirs
from .common import DataIntegrityError, DataNotFoundError, _show, candidate_roots
from .imagenet16 import IMAGENET16_TRAIN_SIZE_120

NB201_SPLIT_FILES: dict[str, str] = {"cifar10": "cifar-split.txt", "imagenet16-120": "ImageNet16-120-split.txt"}
NB201_FULL_TRAIN_SIZE: dict[str, int] = {"cifar10": 50_000, "imagenet16-120": IMAGENET16_TRAIN_SIZE_120}


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

