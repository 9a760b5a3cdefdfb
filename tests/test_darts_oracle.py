"""From-scratch training of a DARTS genotype (protocol §8 settings): cutout against a per-image loop,
the schedules, final vs best accuracy; a real-CIFAR-10 run at a tiny budget (slow)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from supernetbench.spaces.darts.network import count_parameters
from supernetbench.spaces.darts.oracle import (
    OracleConfig, cosine_lr, cutout, load_oracle_data, train_genotype,
)
from supernetbench.spaces.darts.space import DartsSpace
from tests.test_darts_space import DARTS_V2


def test_defaults_are_protocol_section_8():
    c = OracleConfig()
    assert (c.epochs, c.batch_size, c.lr, c.momentum, c.weight_decay, c.grad_clip) == (600, 64, 0.025, 0.9, 3e-4, 5.0)
    assert (c.cutout, c.auxiliary_weight, c.drop_path_prob, c.C, c.layers) == (16, 0.4, 0.3, 36, 20)
    with pytest.raises(ValueError, match="epochs"):
        OracleConfig(epochs=0)


def test_cutout_matches_a_per_image_loop():
    """Vectorised cutout == DARTS' ``Cutout`` loop (centre uniform, square clipped at the border)."""
    x = torch.randn(64, 3, 32, 32, dtype=torch.float64)
    out = cutout(x, 16, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    cy = torch.randint(0, 32, (64, 1, 1), generator=g).flatten().tolist()
    cx = torch.randint(0, 32, (64, 1, 1), generator=g).flatten().tolist()
    want = x.clone()
    for i in range(64):
        y1, y2 = np.clip([cy[i] - 8, cy[i] + 8], 0, 32)
        x1, x2 = np.clip([cx[i] - 8, cx[i] + 8], 0, 32)
        want[i, :, y1:y2, x1:x2] = 0.0
    assert torch.equal(out, want)
    assert torch.equal(cutout(x, 0), x)


def test_cosine_lr():
    assert cosine_lr(0.025, 0, 600) == 0.025
    assert math.isclose(cosine_lr(0.025, 300, 600), 0.0125)
    assert cosine_lr(0.025, 599, 600) > 0


def test_train_genotype_records_final_and_best():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (48, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (48,), generator=g)
    arch = DartsSpace().parse(DARTS_V2)
    cfg = OracleConfig(epochs=2, batch_size=16, C=4, layers=3, train_images=32, test_images=16)
    res = train_genotype(arch, (x, y, x[32:], y[32:]), cfg)
    assert len(res.test_acc) == len(res.train_loss) == 2
    assert res.final_test_acc == res.test_acc[-1] and res.best_test_acc == max(res.test_acc)
    assert res.test_acc[res.best_epoch] == res.best_test_acc
    assert res.lr == (0.025, pytest.approx(0.0125)) and res.drop_path == (0.0, 0.15)
    assert res.params == count_parameters(arch, C=4, layers=3)
    assert DartsSpace().parse(res.genotype) == arch
    assert all(np.isfinite(res.train_loss))
    with pytest.raises(ValueError, match="CIFAR"):
        train_genotype(arch, (x, y, x, y), cfg, dataset="imagenet16-120")


@pytest.mark.slow
def test_real_cifar10_tiny_budget():
    try:
        data = load_oracle_data("cifar10")
    except FileNotFoundError as e:
        pytest.skip(f"CIFAR-10 not available: {e}")
    assert data[0].shape == (50_000, 3, 32, 32) and data[2].shape == (10_000, 3, 32, 32)
    cfg = OracleConfig(epochs=1, batch_size=32, C=4, layers=3, train_images=256, test_images=256)
    res = train_genotype(DartsSpace().parse(DARTS_V2), data, cfg)
    assert 0.0 <= res.final_test_acc <= 100.0 and len(res.test_acc) == 1
