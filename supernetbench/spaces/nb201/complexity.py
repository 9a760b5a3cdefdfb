"""Size of every NB201 architecture at once: op counts, parameters and FLOPs, vectorised.

The benchmark network's parameter count and FLOPs (NB201's ``get_model_infos`` convention, see
:mod:`.network`) are additive over the 6 cell edges: every edge maps C -> C channels at stride 1,
the network keeps an op module for every non-``none`` edge (reachable or not), and no count
depends on another edge's op. So ``count(arch) = base + sum_e delta[op_e]``, where ``base`` is the
all-``none`` network and ``delta[o]`` the change when one edge holds ``o`` - the same value on every
edge of every cell. Six standalone networks give all 15,625 counts; ``tests/test_diagnostics.py``
checks the result against :func:`.network.model_info` (the slow per-arch path) on random archs.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .space import NB201Space

_SPACE = NB201Space()
#: the ops that carry no parameters and no FLOPs (``none`` is the absence of an edge)
PARAMETER_FREE_OPS = ("skip_connect", "avg_pool_3x3")
CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")


def op_counts(archs: np.ndarray) -> np.ndarray:
    """``(n, 5)`` int: how many of the 6 edges of each arch hold each op (NB201 op order)."""
    a = np.asarray(archs, dtype=np.int64)
    if a.ndim != 2 or a.shape[1] != len(_SPACE.EDGES) or a.size and (a.min() < 0 or a.max() >= len(_SPACE.ops)):
        raise ValueError(f"archs must be an (n, 6) array of op indices 0..{len(_SPACE.ops) - 1}, got shape {a.shape}")
    return (a[:, :, None] == np.arange(len(_SPACE.ops))).sum(axis=1)


@lru_cache(maxsize=8)
def _per_op(dataset: str, C: int, N: int) -> tuple[np.ndarray, np.ndarray]:
    """``(base + per-op deltas)`` for params and MFLOPs: entry 0 = the all-``none`` network, entry
    ``o`` > 0 = the delta of one edge holding op ``o``."""
    from .network import model_info

    def info(arch: tuple[int, ...]) -> tuple[float, float]:
        d = model_info(_SPACE.format(arch), dataset, C=C, N=N)
        return float(d["params"]), float(d["flops_m"])

    base = info((0,) * 6)
    params, flops = np.zeros(len(_SPACE.ops)), np.zeros(len(_SPACE.ops))
    params[0], flops[0] = base
    for o in range(1, len(_SPACE.ops)):
        p, f = info((o,) + (0,) * 5)
        params[o], flops[o] = p - base[0], f - base[1]
    return params, flops


def arch_complexity(archs: np.ndarray, dataset: str = "cifar10", C: int = 16, N: int = 5) -> dict[str, np.ndarray]:
    """Per arch: ``params`` (count), ``flops_m`` (MFLOPs per image) of the NB201 benchmark network
    (C=16, N=5 by default, the networks behind the ground truth) and ``count_<op>`` for every op."""
    counts = op_counts(archs)
    params, flops = _per_op(dataset, int(C), int(N))
    out = {
        "params": params[0] + counts[:, 1:] @ params[1:],
        "flops_m": flops[0] + counts[:, 1:] @ flops[1:],
    }
    for o, name in enumerate(_SPACE.ops):
        out[f"count_{name}"] = counts[:, o].astype(np.float64)
    return out


def parameter_free_dominated(archs: np.ndarray) -> np.ndarray:
    """Bool per arch: more of its 6 edges hold a parameter-free op (``skip_connect``,
    ``avg_pool_3x3``) than a convolution (``nor_conv_1x1``, ``nor_conv_3x3``); ``none`` edges count
    for neither. Such archs train fast under weight sharing but rank low in the benchmark."""
    counts = op_counts(archs)
    idx = {name: i for i, name in enumerate(_SPACE.ops)}
    free = sum(counts[:, idx[o]] for o in PARAMETER_FREE_OPS)
    conv = sum(counts[:, idx[o]] for o in CONV_OPS)
    return free > conv


def size_strata(archs: np.ndarray) -> np.ndarray:
    """Stratum label per arch = its parameter count class: (#nor_conv_1x1, #nor_conv_3x3) encoded as
    one int (the other ops have no parameters, so equal labels <=> equal parameter counts; 28 strata)."""
    counts = op_counts(archs)
    return counts[:, 2] * 7 + counts[:, 3]
