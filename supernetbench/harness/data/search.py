"""The public loaders: the search split (train/valid halves) and the test set, with provenance."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..augment import MEAN, STD
from .common import IMAGE_SIZE, NUM_CLASSES, SPLITS, DataIntegrityError, _check_dataset, _show
from .sources import _load_raw, source_identity
from .splits import NB201_FULL_TRAIN_SIZE, NB201_SPLIT_FILES, find_split_file, read_nb201_split


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


def data_identity(cfg: DataConfig) -> dict | None:
    """What :func:`load_search_data` would read for ``cfg``, without decoding it: ``cfg``, the source
    files (:func:`source_identity`) and the NB201 split file where ``cfg.split`` uses one; None when
    the data is not on disk."""
    dataset = _check_dataset(cfg.dataset)
    src = source_identity(dataset, cfg.root)
    if src is None:
        return None
    out = {"config": dataclasses.asdict(cfg), "source": src}
    if cfg.split == "nb201" and dataset in NB201_SPLIT_FILES:
        try:
            spath = find_split_file(NB201_SPLIT_FILES[dataset], cfg.root)
        except FileNotFoundError:
            return None
        st = spath.stat()
        out["split_file"] = [str(spath.resolve()), st.st_size, st.st_mtime_ns]
    return out


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

