"""Structural clustering of NB201 architectures (P000 Fig. 2; protocol §7): pure numpy/SciPy.

The similarity of two archs is the number of the 6 edges that carry the same op (0..6); their
distance is ``6 - similarity`` (the Hamming distance of the op encodings). P000 clusters the whole
space hierarchically and cuts it "for a given threshold", but states neither the linkage method nor
the threshold's value (and its code is unavailable), so the linkage, the cut and the sample below
are **our choice**:

* linkage: ``average`` (UPGMA) on that distance (:data:`LINKAGE_METHOD`), via
  :func:`scipy.cluster.hierarchy.linkage`;
* cut: instead of a distance threshold of unknown value, ``fcluster(criterion="maxclust")`` into at
  most :data:`N_CLUSTERS` clusters (a bounded number of points per panel whatever the linkage);
* archs: P000 clusters all 15,625 archs; exact hierarchical clustering of them needs a
  122-million-entry distance matrix (~1 GB), so by default a seeded uniform sample of
  :data:`SAMPLE_SIZE` archs (seed :data:`SAMPLE_SEED`) is clustered, the same sample for every run,
  so clusters are comparable.

Per cluster, the figure plots the mean supernet validation accuracy (the run's full-space scores)
against the mean NB201 test accuracy (:func:`cluster_means`).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["LINKAGE_METHOD", "LINKAGE_METHODS", "N_CLUSTERS", "SAMPLE_SEED", "SAMPLE_SIZE", "cluster_archs",
           "cluster_means", "clustering_sample", "shared_ops", "structural_distances"]

NUM_EDGES = 6
LINKAGE_METHOD = "average"
#: linkage methods valid on a non-Euclidean distance (ward/centroid/median assume Euclidean ones)
LINKAGE_METHODS = ("single", "complete", "average", "weighted")
N_CLUSTERS = 40
SAMPLE_SIZE = 2000
SAMPLE_SEED = 0


def _archs(archs: ArrayLike) -> NDArray[np.int64]:
    a = np.asarray(archs)
    if a.ndim != 2 or a.shape[1] != NUM_EDGES or a.shape[0] == 0:
        raise ValueError(f"archs must have shape (n, {NUM_EDGES}) with n >= 1 (op index per edge), got {a.shape}")
    if a.dtype.kind not in "iu":
        raise ValueError(f"archs must hold integer op indices, got dtype {a.dtype}")
    return a.astype(np.int64)


def shared_ops(archs: ArrayLike) -> NDArray[np.int64]:
    """``S[i, j]`` = number of edges on which archs ``i`` and ``j`` carry the same op (0..6).

    Example:
        >>> shared_ops([[0, 1, 2, 3, 4, 0], [0, 1, 2, 3, 4, 1]]).tolist()
        [[6, 5], [5, 6]]
    """
    a = _archs(archs)
    out = np.zeros((len(a), len(a)), dtype=np.int64)
    for e in range(NUM_EDGES):  # one (n, n) comparison per edge keeps memory at n^2
        out += a[:, None, e] == a[None, :, e]
    return out


def structural_distances(archs: ArrayLike) -> NDArray[np.float64]:
    """Square distance matrix ``6 - shared_ops`` (symmetric, zero diagonal, values in 0..6)."""
    return (NUM_EDGES - shared_ops(archs)).astype(np.float64)


def cluster_archs(archs: ArrayLike, *, method: str = LINKAGE_METHOD, n_clusters: int = N_CLUSTERS) -> NDArray[np.int64]:
    """Cluster labels ``1..k`` (``k <= n_clusters``) from hierarchical clustering on the structural distance.

    Args:
        archs: ``(n, 6)`` op indices.
        method: a SciPy linkage method from :data:`LINKAGE_METHODS`.
        n_clusters: the ``maxclust`` cut (fewer clusters come back when merges tie at the cut).

    Identical archs always share a cluster (they are clustered once).
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if method not in LINKAGE_METHODS:
        raise ValueError(f"unknown linkage method {method!r}; valid choices: {', '.join(LINKAGE_METHODS)}")
    if not (isinstance(n_clusters, (int, np.integer)) and n_clusters >= 1):
        raise ValueError(f"n_clusters must be an integer >= 1, got {n_clusters!r}")
    # identical archs are clustered once (SciPy's maxclust cut may otherwise split zero-distance points)
    uniq, inverse = np.unique(_archs(archs), axis=0, return_inverse=True)
    if len(uniq) == 1:
        return np.ones(len(inverse), dtype=np.int64)
    z = linkage(squareform(structural_distances(uniq), checks=False), method=method)
    return fcluster(z, t=int(n_clusters), criterion="maxclust").astype(np.int64)[inverse.ravel()]


def cluster_means(labels: ArrayLike, x: ArrayLike, y: ArrayLike
                  ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """``(cluster ids, sizes, mean x, mean y)`` per cluster, ids ascending.

    Example:
        >>> ids, n, mx, my = cluster_means([2, 1, 2], [1.0, 5.0, 3.0], [10.0, 0.0, 20.0])
        >>> ids.tolist(), n.tolist(), mx.tolist(), my.tolist()
        ([1, 2], [1, 2], [5.0, 2.0], [0.0, 15.0])
    """
    lab = np.asarray(labels)
    xv, yv = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if lab.ndim != 1 or xv.shape != lab.shape or yv.shape != lab.shape:
        raise ValueError(f"labels, x and y must be 1-D of one length, got {lab.shape}, {xv.shape}, {yv.shape}")
    ids, inv, sizes = np.unique(lab, return_inverse=True, return_counts=True)
    mx = np.bincount(inv, weights=xv) / sizes
    my = np.bincount(inv, weights=yv) / sizes
    return ids.astype(np.int64), sizes.astype(np.int64), mx, my


def clustering_sample(n_total: int, size: int = SAMPLE_SIZE, seed: int = SAMPLE_SEED) -> NDArray[np.int64]:
    """Sorted indices of the archs to cluster: all of them when ``n_total <= size``, else a seeded
    uniform sample without replacement."""
    if n_total < 1 or size < 1:
        raise ValueError(f"n_total and size must be >= 1, got {n_total}, {size}")
    if n_total <= size:
        return np.arange(n_total, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=size, replace=False)).astype(np.int64)
