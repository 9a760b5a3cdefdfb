"""The batched multi-arch engine (the GPU strategy, run here on CPU through the same code) and the
``fast`` engine: the same correct-prediction counts as the slow per-arch path (:func:`score_archs`).

Random small supernets with perturbed BN buffers, random arch subsets in prefix-sharing clusters
plus every functional-class edge case (the all-``none`` and zero-output archs, dead edges, a cell
that is a pure skip, single-op cells), chunk sizes that split the subset unevenly, all three BN modes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from supernetbench.harness.precision import bf16_supported, check_precision
from supernetbench.spaces.nb201.batched import BatchedScorer
from supernetbench.spaces.nb201.supernet import build_supernet
from supernetbench.oneshot.scoring import ScoreConfig, ScoringData, _prepared, score_archs, score_space
from supernetbench.spaces.nb201.supernet import SupernetConfig

EDGE_CASES = np.array([
    [0, 0, 0, 0, 0, 0],  # all none: zero output
    [1, 1, 1, 1, 1, 1],  # all skip
    [0, 0, 0, 1, 0, 0],  # pure skip cell (3<-0 only)
    [3, 0, 0, 0, 0, 0],  # zero output: nothing reaches node 3
    [2, 2, 2, 2, 2, 2], [3, 3, 3, 3, 3, 3], [4, 4, 4, 4, 4, 4],
    [3, 0, 0, 0, 0, 2],  # node 2 is zero, 3<-2 reads it
    [0, 1, 3, 0, 2, 0],  # 2<-1 reads a zero node 1
    [1, 0, 0, 0, 4, 0],
])


def _setup(seed: int, mode: str, n_cells: int, dtype=torch.float64, images: int = 12, batch: int = 6):
    torch.manual_seed(seed)
    net = build_supernet(SupernetConfig(C=3, N=n_cells, num_classes=5), dtype)
    g = torch.Generator().manual_seed(seed + 1)
    for m in net.modules():  # running mode must not see the fresh 0/1 statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=dtype) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=dtype) + 0.5)
    x = torch.randn(images, 3, 8, 8, generator=g, dtype=dtype)
    y = torch.randint(0, 5, (images,), generator=g)
    recal = tuple(torch.randn(batch, 3, 8, 8, generator=g, dtype=dtype) for _ in range(2))
    cfg = ScoreConfig(bn_mode=mode, images=images, batch_size=batch, recalib_batches=2)
    sd = ScoringData(x, y, recal if mode == "recalibrate" else (), "random")
    rng = np.random.default_rng(seed)
    prefixes = rng.integers(0, 5, (4, 3))
    archs = np.concatenate([EDGE_CASES, np.hstack([prefixes[rng.integers(0, 4, 16)], rng.integers(0, 5, (16, 3))]),
                            rng.integers(0, 5, (10, 6))])
    return net, sd, cfg, archs


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["batch", "running", "recalibrate"]),
       n_cells=st.integers(1, 2), chunk=st.sampled_from([1, 7, 64]), share_relu=st.booleans())
def test_batched_counts_equal_per_arch_path(seed, mode, n_cells, chunk, share_relu):
    net, sd, cfg, archs = _setup(seed, mode, n_cells)
    naive = score_archs(net, archs, sd, cfg)
    batched = BatchedScorer(_prepared(net, cfg), sd, cfg, chunk=chunk, share_relu=share_relu).accuracy(archs)
    np.testing.assert_array_equal(batched, naive)


@pytest.mark.parametrize("mode", ["batch", "running"])
def test_shared_relu_gives_the_per_op_logits_bit_for_bit(mode):
    """One ReLU per node, gathered afterwards, = ReLU per (edge, op) on the gathered rows: the same
    bits, not only the same counts (relu and index_select commute exactly)."""
    from supernetbench.spaces.nb201.batched import _BNState, _stem, batched_logits

    net, sd, cfg, archs = _setup(7, mode, 2)
    net = _prepared(net, cfg)
    out = []
    for share in (True, False):
        state = _BNState("running" if mode == "running" else "batch")
        with torch.no_grad():
            logits, idx = batched_logits(net, _stem(net, sd.x, state), archs, state, share_relu=share)
        out.append(logits[:, torch.as_tensor(idx)])
    assert torch.equal(out[0], out[1])


@pytest.mark.parametrize("mode", ["batch", "running", "recalibrate"])
def test_batched_engine_through_score_space(mode, tmp_path):
    """``engine='batched'`` with functional-class dedup, blocks and a resumable partial file."""
    net, sd, cfg, archs = _setup(3, mode, 1)
    out = score_space(net, archs, sd, cfg, progress=False, engine="batched", save_every=9,
                      partial_path=tmp_path / "p.npz")
    np.testing.assert_array_equal(out, score_archs(net, archs, sd, cfg))


def test_fast_engine_float32_channels_last_counts():
    """On CPU, ``fast`` = channels-last prefix scoring for float32 nets (other kernels than NCHW):
    the counts still equal the per-arch NCHW path's."""
    net, sd, cfg, archs = _setup(5, "batch", 1, dtype=torch.float32, images=16, batch=16)
    np.testing.assert_array_equal(score_space(net, archs, sd, cfg, progress=False, engine="fast"),
                                  score_archs(net, archs, sd, cfg))


def test_naive_engine_is_the_per_arch_path():
    net, sd, cfg, archs = _setup(1, "batch", 1)
    np.testing.assert_array_equal(score_space(net, archs[:12], sd, cfg, progress=False, engine="naive"),
                                  score_archs(net, archs[:12], sd, cfg))


def test_precision_is_checked():
    with pytest.raises(ValueError, match="valid choices: exact, bf16"):
        check_precision("fp8", "cpu")
    if not bf16_supported(torch.device("cpu")):
        with pytest.raises(ValueError, match="use --precision exact"):
            check_precision("bf16", "cpu")


@pytest.mark.skipif(not bf16_supported(torch.device("cpu")), reason="this CPU has no native bf16")
def test_bf16_runs_where_supported():
    net, sd, cfg, archs = _setup(2, "batch", 1, dtype=torch.float32)
    out = BatchedScorer(_prepared(net, cfg), sd, cfg, precision="bf16").accuracy(archs)
    assert out.shape == (len(archs),) and np.all((out >= 0) & (out <= 100))


def test_adaptive_survivors_get_the_exact_full_scores():
    """Successive halving: the last round's survivors carry exactly the full evaluation's scores, rank
    above every eliminated class, and the work is below the full evaluation's; R = 0 is the full one."""
    from supernetbench.oneshot.adaptive import adaptive_score_space

    net, sd, cfg, _ = _setup(4, "batch", 1, images=16, batch=8)
    archs = np.random.default_rng(0).integers(0, 5, (120, 6))
    full = score_space(net, archs, sd, cfg, progress=False)
    res = adaptive_score_space(net, archs, sd, cfg, rounds=2, top_archs=10)
    top = res.images == 16
    assert 0 < top.sum() < len(archs) and res.cost < 1.0
    np.testing.assert_array_equal(res.scores[top], full[top])
    assert res.rank_key[top].min() > res.rank_key[~top].max()
    assert [r["images"] for r in res.rounds] == [4, 8, 16]
    whole = adaptive_score_space(net, archs, sd, cfg, rounds=0)
    np.testing.assert_array_equal(whole.scores, full)
    assert whole.cost == 1.0
