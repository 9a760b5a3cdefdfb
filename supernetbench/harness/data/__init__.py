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

One module per concern: :mod:`.common` (names, errors, roots, checksums), :mod:`.cifar`,
:mod:`.imagenet16`, :mod:`.splits` (NB201 split files), :mod:`.sources` (which copy is used),
:mod:`.search` (the public loaders) and :mod:`.stream` (:class:`BatchStream`).
"""
from __future__ import annotations

from ..augment import MEAN, STD, Augment, normalize
from .cifar import (
    _DOWNLOADS, CIFAR_TRAIN_SIZE, PACKS, _cifar10_pack_cache_path, decode_cifar10_pack, load_cifar10_pack,
    read_cifar100_partial, read_cifar_python_batches,
)
from .common import (
    DATA_ENV, DATASETS, IMAGE_SIZE, NUM_CLASSES, OFFLINE_ENV, PRETTY, SPLITS, DataIntegrityError, DataNotFoundError,
    candidate_roots,
)
from .imagenet16 import (
    IMAGENET16_TRAIN_FILES, IMAGENET16_TRAIN_SIZE_120, IMAGENET16_VAL_FILE, STANDIN_MARKER, read_imagenet16,
    write_imagenet16_standin,
)
from .search import DataConfig, SearchData, TestData, data_identity, load_search_data, load_test_data, load_test_set
from .sources import summarise_data_sources
from .splits import NB201_FULL_TRAIN_SIZE, NB201_SPLIT_FILES, find_split_file, read_nb201_split
from .stream import BatchStream

__all__ = [
    "DATASETS", "NUM_CLASSES", "IMAGE_SIZE", "MEAN", "STD", "SPLITS",
    "DataNotFoundError", "DataIntegrityError",
    "DataConfig", "SearchData", "TestData", "data_identity", "load_search_data", "load_test_data", "load_test_set",
    "Augment", "normalize", "BatchStream",
    "candidate_roots", "read_cifar_python_batches", "decode_cifar10_pack", "read_cifar100_partial",
    "read_imagenet16", "write_imagenet16_standin", "read_nb201_split", "find_split_file",
    "summarise_data_sources",
]
