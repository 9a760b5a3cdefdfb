"""Hypothesis strategies for metric property tests: accuracy arrays (with ties) and probabilities.

Accuracies are drawn on a 0.01 % grid in [0, 100], like NB201's two-decimal test accuracies.
That grid gives plenty of ties, and distinct grid values stay distinct under ``100 - acc``
(their spacing is far above one ulp), so the benchmark errors and the negated scores order
the architectures identically.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

MAX_N = 200
ACC_GRID = 10_000  # accuracies are k / 100 for k in 0..ACC_GRID


def _grid_to_acc(ticks: list[int]) -> np.ndarray:
    return np.asarray(ticks, dtype=np.float64) / 100.0


@st.composite
def accuracy_arrays(draw: st.DrawFn, min_size: int = 2, max_size: int = MAX_N) -> np.ndarray:
    """Accuracies in % with ties: values drawn from a pool of 1..n grid points."""
    n = draw(st.integers(min_size, max_size))
    pool = draw(st.lists(st.integers(0, ACC_GRID), min_size=1, max_size=n, unique=True))
    ticks = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    return _grid_to_acc(ticks)


@st.composite
def distinct_accuracy_arrays(draw: st.DrawFn, min_size: int = 2, max_size: int = MAX_N) -> np.ndarray:
    """Accuracies in % without ties."""
    n = draw(st.integers(min_size, max_size))
    ticks = draw(st.lists(st.integers(0, ACC_GRID), min_size=n, max_size=n, unique=True))
    return _grid_to_acc(ticks)


@st.composite
def grouped_accuracies(
    draw: st.DrawFn, *, distinct: bool = False, min_group: int = 2, max_group: int = 20
) -> tuple[np.ndarray, int]:
    """``(test_acc, group_size)`` with ``N >= group_size`` (so at least one group)."""
    group_size = draw(st.integers(min_group, max_group))
    arrays = distinct_accuracy_arrays if distinct else accuracy_arrays
    acc = draw(arrays(min_size=group_size, max_size=MAX_N))
    return acc, group_size


@st.composite
def probability_vectors(draw: st.DrawFn, n: int) -> np.ndarray:
    """Non-negative vectors of length ``n`` summing to 1, with exact zeros allowed."""
    weights = draw(st.lists(st.integers(0, 1_000), min_size=n, max_size=n))
    if sum(weights) == 0:
        weights[draw(st.integers(0, n - 1))] = 1
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


@st.composite
def permutations_of(draw: st.DrawFn, n: int) -> np.ndarray:
    """A permutation of ``range(n)`` as an index array."""
    return np.asarray(draw(st.permutations(range(n))), dtype=np.intp)


@st.composite
def score_arrays(draw: st.DrawFn, n: int) -> np.ndarray:
    """Supernet-like scores (higher is better) with ties, bounded and finite."""
    pool = draw(st.lists(st.integers(-1_000, 1_000), min_size=1, max_size=n, unique=True))
    ticks = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    return np.asarray(ticks, dtype=np.float64) / 10.0
