"""CUDA parity (marked ``gpu``; skipped without a CUDA device, run alone with SUPERNETBENCH_GPU_ONLY=1)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from supernetbench.oneshot.scoring import ScoreConfig, ScoringData, score_archs, score_space
from supernetbench.spaces.nb201.space import NB201Space
from supernetbench.spaces.nb201.supernet import NB201Supernet, SupernetConfig

pytestmark = pytest.mark.gpu


def _setup(device):
    torch.manual_seed(0)
    net = NB201Supernet(SupernetConfig(C=4, N=1)).to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (64,), generator=g).to(device)
    return net, ScoringData(x, y, (), "random")


def test_scoring_cuda_matches_cpu():
    archs = NB201Space().all_archs()[::97]
    cfg = ScoreConfig(images=64, batch_size=64)
    net_cpu, sd_cpu = _setup("cpu")
    cpu = score_archs(net_cpu, archs, sd_cpu, cfg)
    net, sd = _setup("cuda")
    gpu = score_space(net, archs, sd, cfg, progress=False)
    # accuracies on 64 images: allow one image of disagreement from float reassociation
    assert np.abs(gpu - cpu).max() <= 100.0 / 64 + 1e-9


def test_mixture_forward_backward_on_cuda():
    net, sd = _setup("cuda")
    w = torch.softmax(torch.randn(6, 5, device="cuda", requires_grad=True), -1)
    loss = torch.nn.functional.cross_entropy(net(sd.x, {"cell": w}), sd.y)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in net.stem.parameters())


def test_batched_engine_on_cuda_matches_the_per_arch_path():
    """The GPU strategy: exact mode (TF32 off) gives the per-arch CUDA path's counts up to float
    reassociation (one image), and bf16 runs where the GPU has it."""
    from supernetbench.harness.precision import bf16_supported
    from supernetbench.spaces.nb201.batched import BatchedScorer
    from supernetbench.oneshot.scoring import _prepared

    archs = NB201Space().all_archs()[::131]
    cfg = ScoreConfig(images=64, batch_size=64)
    net, sd = _setup("cuda")
    naive = score_archs(net, archs, sd, cfg)
    batched = score_space(net, archs, sd, cfg, progress=False, engine="batched")
    assert np.abs(batched - naive).max() <= 100.0 / 64 + 1e-9
    if bf16_supported(torch.device("cuda")):
        bf16 = BatchedScorer(_prepared(net, cfg), sd, cfg, precision="bf16").accuracy(archs)
        assert bf16.shape == naive.shape and np.all((bf16 >= 0) & (bf16 <= 100))
