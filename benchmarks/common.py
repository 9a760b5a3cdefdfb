"""Shared pieces of the ASV suite: the ``Benchmark`` base class, ``safe_import`` and seeded builders.

The builders' seeds and shapes define what the benchmarks measure: they must not be changed, only
appended to (a change makes old and new results incomparable).
"""
from __future__ import annotations

import contextlib
import timeit
import warnings

DATA_SEED = 0
ARCH_SAMPLE_SEED = 0
NET_SEED = 0
IMAGE_SIZE = 32  # CIFAR-sized random images
NUM_CLASSES = 10


@contextlib.contextmanager
def safe_import():
    """Import what a benchmark needs without breaking discovery of the whole suite.

    An old commit that lacks a module (or an environment without torch) must still import this
    package; benchmarks then raise ``NotImplementedError`` in ``setup``, which ASV reports as skipped.
    """
    try:
        yield
    except ImportError as e:
        warnings.warn(f"benchmark import failed, dependent benchmarks will be skipped: {e}", stacklevel=3)


class Benchmark:
    """Base class: one process, one call per sample, one sample. Each call is seconds long, so
    repeating it buys little precision for a lot of time; the setup does its own warm-up."""

    timer = timeit.default_timer
    processes = 1
    number = 1
    repeat = 1
    warmup_time = 0.0
    timeout = 300


def arch_sample(n: int, seed: int = ARCH_SAMPLE_SEED):
    """A fixed, seeded sample of ``n`` distinct NB201 archs (rows of base-5-ordered ``all_archs``).

    Drawn from the space itself, not the ground-truth table, so the suite needs no data files.
    """
    import numpy as np

    from supernetbench.spaces.nb201.space import NB201Space

    archs = NB201Space().all_archs()
    return archs[np.random.default_rng(seed).choice(len(archs), size=n, replace=False)]


def random_supernet(C: int, N: int, seed: int = NET_SEED):
    """A randomly initialised NB201 supernet (fixed seed)."""
    import torch

    from supernetbench.spaces.nb201.supernet import NB201Supernet, SupernetConfig

    torch.manual_seed(seed)
    return NB201Supernet(SupernetConfig(C=C, N=N, num_classes=NUM_CLASSES))


def random_scoring_data(images: int, seed: int = DATA_SEED):
    """``images`` random normalised-looking CIFAR-sized images with random labels."""
    import torch

    from supernetbench.oneshot.scoring import ScoringData

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(images, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g)
    y = torch.randint(0, NUM_CLASSES, (images,), generator=g)
    return ScoringData(x, y, (), f"{images} random {IMAGE_SIZE}x{IMAGE_SIZE} images (seed {seed})")
