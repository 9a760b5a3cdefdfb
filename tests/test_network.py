"""Stand-alone NB201 networks: weight-sharing equivalence with the supernet, and NB201's counting.

Oracles:

* (a) the supernet itself: a one-hot mixture ``net(x, weights=...)``, the single path
  ``net(x, arch=a)`` and ``from_supernet(net, a)(x)`` must agree (same weights), in train mode
  (batch statistics) and in eval mode (copied running statistics, randomised here so the copy is
  actually exercised); a control asserts that different archs give clearly different outputs.
* (b) closed-form parameter / FLOP formulas written out below from the layer plan (independent of
  the hook-based counter), hand-computed literals for the three named archs, and values published
  by the official NB201/NATS-Bench API, quoted in public issue threads:
    - D-X-Y/NATS-Bench issue #24: arch index 0
      (``|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|``,
      index per the NB201 table in shared/data/nb201) has FLOPs 15.64737 (cifar10-valid),
      15.65322 (cifar100), 3.91948 (ImageNet16-120);
    - D-X-Y/NATS-Bench issue #36: ``|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|``
      on CIFAR-10 (hp=12 record; the hp=200 record is the bug reported there) has
      flops 113.95137, params 0.802426.
  These pin the convention: multiply-adds once, conv + linear (with bias) only, pooling not counted,
  params / 1e6.
* (c) the space's ArchStringError for malformed strings.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from supernetbench.spaces.nb201.network import (
    InferCell,
    NB201Network,
    count_flops,
    count_params,
    from_supernet,
    model_info,
    params_mb,
    resolve_dataset,
)
from supernetbench.spaces.nb201.space import ArchStringError, NB201Space
from supernetbench.spaces.nb201.supernet import NB201Supernet, SupernetConfig

SPACE = NB201Space()
NONE, SKIP, C1, C3, POOL = range(5)

ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
NB201_INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ISSUE36 = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# node 2 has only `none` inputs, node 3 reads only node 2: cell output identically zero (train BN)
ZERO_OUT = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
# node 1 has only `none` inputs, but ops read it (they run on a zero tensor)
NODE1_EMPTY = "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|"

_rng = np.random.default_rng(20240)
RANDOM_ARCHS = [SPACE.format(tuple(int(v) for v in _rng.integers(0, 5, size=6))) for _ in range(3)]
EQUIV_ARCHS = [ALL_CONV3, ALL_NONE, RESNET, NB201_INDEX0, ISSUE36, ZERO_OUT, NODE1_EMPTY, *RANDOM_ARCHS]

ATOL = 1e-5


# ------------------------------------------------------------------------------ (a) equivalence
@pytest.fixture(scope="module")
def supernet() -> NB201Supernet:
    torch.manual_seed(0)
    net = NB201Supernet(SupernetConfig())
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                # non-trivial BN state, so that copying it (or not) changes eval-mode outputs
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                if m.affine:
                    m.weight.copy_(1.0 + 0.2 * torch.randn(m.num_features, generator=g))
                    m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
            elif isinstance(m, nn.Linear):
                m.bias.copy_(0.1 * torch.randn(m.out_features, generator=g))
    return net


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))


def _onehot(arch: str) -> dict[str, torch.Tensor]:
    return {"cell": torch.tensor(SPACE.one_hot(SPACE.parse(arch))["cell"], dtype=torch.float32)}


@pytest.mark.parametrize("arch", EQUIV_ARCHS)
def test_onehot_single_path_and_standalone_agree_train_mode(supernet, batch, arch):
    supernet.train()
    a = SPACE.parse(arch)
    with torch.no_grad():
        y_mix = supernet(batch, weights=_onehot(arch))
        y_path = supernet(batch, arch=a)
        standalone = from_supernet(supernet, arch)
        assert standalone.training
        y_sa = standalone(batch)
    assert y_mix.shape == y_path.shape == y_sa.shape == (2, 10)
    assert torch.allclose(y_mix, y_path, atol=ATOL), (y_mix - y_path).abs().max()
    assert torch.allclose(y_path, y_sa, atol=ATOL), (y_path - y_sa).abs().max()


@pytest.mark.parametrize("arch", [ALL_CONV3, RESNET, ZERO_OUT, NODE1_EMPTY, ALL_NONE])
def test_standalone_matches_supernet_eval_mode(supernet, batch, arch):
    """Eval mode uses running statistics: equal only if the BN buffers were copied too."""
    a = SPACE.parse(arch)
    supernet.eval()
    try:
        with torch.no_grad():
            y_path = supernet(batch, arch=a)
            y_mix = supernet(batch, weights=_onehot(arch))
            standalone = from_supernet(supernet, a)
            assert not standalone.training
            y_sa = standalone(batch)
    finally:
        supernet.train()
    assert torch.allclose(y_mix, y_path, atol=ATOL)
    assert torch.allclose(y_path, y_sa, atol=ATOL), (y_path - y_sa).abs().max()


def test_equivalence_check_is_sensitive(supernet, batch):
    """Control: different (non-equivalent) archs give clearly different logits."""
    supernet.train()
    with torch.no_grad():
        outs = [from_supernet(supernet, a)(batch) for a in (ALL_CONV3, RESNET, NB201_INDEX0, ALL_NONE)]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert (outs[i] - outs[j]).abs().max() > 1e-3


def test_from_supernet_copies_not_shares(supernet):
    sa = from_supernet(supernet, ALL_CONV3)
    ptrs = {p.data_ptr() for p in supernet.parameters()}
    assert all(p.data_ptr() not in ptrs for p in sa.parameters())
    before = supernet.classifier.weight.clone()
    with torch.no_grad():
        sa.classifier.weight.add_(1.0)
    assert torch.equal(supernet.classifier.weight, before)


def test_standalone_holds_only_non_none_ops():
    net = NB201Network(RESNET)
    cells = [c for c in net.cells if isinstance(c, InferCell)]
    assert len(cells) == 15
    for c in cells:
        assert c.edge_ids == (0, 2, 3, 5)
        assert [type(m).__name__ for m in c.layers] == ["ReLUConvBN", "ReLUConvBN", "Identity", "Identity"]
    empty = NB201Network(ALL_NONE)
    assert all(len(c.layers) == 0 for c in empty.cells if isinstance(c, InferCell))
    # all-none cells output zeros of the input's shape (NB201's Zero ops)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(InferCell(SPACE.parse(ALL_NONE), 16)(x), torch.zeros_like(x))


def test_copy_from_supernet_rejects_mismatched_settings(supernet):
    with pytest.raises(ValueError, match="incompatible"):
        NB201Network(RESNET).copy_from_supernet(supernet)  # NB201 default: affine cell BNs
    with pytest.raises(ValueError, match="incompatible"):
        NB201Network(RESNET, affine=False).copy_from_supernet(supernet)  # xautodl rule -> conv bias
    with pytest.raises(ValueError, match="incompatible"):
        NB201Network(RESNET, affine=False, conv_bias=False, num_classes=100).copy_from_supernet(supernet)
    NB201Network(RESNET, affine=False, conv_bias=False).copy_from_supernet(supernet)


# ------------------------------------------------------------------------------ (b) counting
def closed_form_params(arch: str, num_classes: int, C: int = 16, N: int = 5, affine: bool = True,
                       conv_bias: bool = False) -> int:
    """Parameter count from the layer plan, written out by hand."""
    a = SPACE.parse(arch)

    def block(ci: int, co: int) -> int:  # conv_a 3x3 + BN, conv_b 3x3 + BN, shortcut 1x1 (no BN)
        return 9 * ci * co + 2 * co + 9 * co * co + 2 * co + ci * co

    fixed = (27 * C + 2 * C) + block(C, 2 * C) + block(2 * C, 4 * C) + 2 * 4 * C + (4 * C * num_classes + num_classes)
    cells = 0
    for c in (C, 2 * C, 4 * C):
        bn = 2 * c if affine else 0
        bias = c if conv_bias else 0
        per_cell = sum({C3: 9 * c * c + bn + bias, C1: c * c + bn + bias}.get(o, 0) for o in a)
        cells += N * per_cell
    return fixed + cells


def closed_form_flops(arch: str, num_classes: int, H: int, C: int = 16, N: int = 5,
                      conv_bias: bool = False) -> int:
    """Multiply-adds of conv + linear layers (NB201 convention), per image."""
    a = SPACE.parse(arch)
    total = 27 * C * H * H  # stem
    for ci, co, h in ((C, 2 * C, H // 2), (2 * C, 4 * C, H // 4)):  # ResNet blocks, output at h x h
        total += (9 * ci * co + 9 * co * co + ci * co) * h * h
    total += 4 * C * num_classes + num_classes  # classifier with bias
    for s, c in enumerate((C, 2 * C, 4 * C)):
        hw = (H >> s) ** 2
        bias = c * hw if conv_bias else 0
        total += N * sum({C3: 9 * c * c * hw + bias, C1: c * c * hw + bias}.get(o, 0) for o in a)
    return total


DATASETS = [("cifar10", 10, 32), ("cifar100", 100, 32), ("imagenet16-120", 120, 16)]
COUNT_ARCHS = [ALL_CONV3, ALL_NONE, RESNET, NB201_INDEX0, ISSUE36, ZERO_OUT, NODE1_EMPTY, *RANDOM_ARCHS]


def test_closed_forms_against_hand_computed_literals():
    # all-none: stem 432+32, blocks 14,464 + 57,600, head BN 128, classifier 650
    assert closed_form_params(ALL_NONE, 10) == 464 + 14_464 + 57_600 + 128 + 650 == 73_306
    # all-conv3x3: + 5 cells x 6 edges x (9c^2 + 2c) at c = 16, 32, 64
    assert closed_form_params(ALL_CONV3, 10) == 73_306 + 30 * (2_336 + 9_280 + 36_992) == 1_531_546
    # ResNet-like: 2 conv3x3 per cell
    assert closed_form_params(RESNET, 10) == 73_306 + 10 * (2_336 + 9_280 + 36_992) == 559_386
    # FLOPs: every 3x3 cell conv costs 9c^2 * HW = 2,359,296 at all three stages (CIFAR)
    assert closed_form_flops(ALL_NONE, 10, 32) == 7_783_050
    assert closed_form_flops(ALL_CONV3, 10, 32) == 7_783_050 + 90 * 2_359_296 == 220_119_690
    assert closed_form_flops(RESNET, 10, 32) == 7_783_050 + 30 * 2_359_296 == 78_561_930


@pytest.mark.parametrize("dataset,k,H", DATASETS)
@pytest.mark.parametrize("arch", COUNT_ARCHS)
def test_counts_match_closed_form(arch, dataset, k, H):
    net = NB201Network(arch, num_classes=k)
    assert count_params(net) == closed_form_params(arch, k)
    assert params_mb(net) == closed_form_params(arch, k) / 1e6
    assert count_flops(net, (1, 3, H, H)) == pytest.approx(closed_form_flops(arch, k, H) / 1e6, rel=1e-12)
    info = model_info(arch, dataset)
    assert info["params"] == closed_form_params(arch, k)
    assert info["flops_m"] == pytest.approx(closed_form_flops(arch, k, H) / 1e6, rel=1e-12)
    assert info["num_classes"] == k and info["input_size"] == H


@pytest.mark.parametrize(
    "arch,params,mflops",
    [(ALL_CONV3, 1_531_546, 220.11969), (ALL_NONE, 73_306, 7.78305), (RESNET, 559_386, 78.56193)],
)
def test_named_archs_cifar10(arch, params, mflops):
    info = model_info(arch, "cifar10")
    assert info["params"] == params
    assert info["params_mb"] == pytest.approx(params / 1e6, abs=0)
    assert round(info["flops_m"], 5) == mflops


@pytest.mark.parametrize("dataset,mflops", [("cifar10-valid", 15.64737), ("cifar100", 15.65322), ("ImageNet16-120", 3.91948)])
def test_published_flops_nb201_index0(dataset, mflops):
    """NATS-Bench issue #24 (official API values for arch index 0)."""
    assert round(model_info(NB201_INDEX0, dataset)["flops_m"], 5) == mflops


def test_published_cost_issue36():
    """NATS-Bench issue #36, hp=12 record: params 0.802426 (MB = count/1e6, not 2**20), flops 113.95137."""
    info = model_info(ISSUE36, "cifar10")
    assert round(info["params_mb"], 6) == 0.802426
    assert info["params"] == 802_426
    assert round(info["flops_m"], 5) == 113.95137


def test_parameter_free_ops_cost_nothing():
    """skip / avg-pool / none add neither parameters nor counted FLOPs (pooling is not counted)."""
    base = NB201Network(ALL_NONE)
    for op in ("skip_connect", "avg_pool_3x3"):
        arch = ALL_NONE.replace("none", op)
        net = NB201Network(arch)
        assert count_params(net) == count_params(base)
        assert count_flops(net) == count_flops(base)


def test_conv_bias_variant_counts():
    """xautodl rule: affine=False -> conv bias; counted in params and in FLOPs."""
    net = NB201Network(RESNET, affine=False)
    assert net.conv_bias
    assert count_params(net) == closed_form_params(RESNET, 10, affine=False, conv_bias=True)
    assert count_flops(net) == pytest.approx(closed_form_flops(RESNET, 10, 32, conv_bias=True) / 1e6, rel=1e-12)
    plain = NB201Network(RESNET, affine=False, conv_bias=False)
    assert count_params(plain) == closed_form_params(RESNET, 10, affine=False)
    assert count_params(net) - count_params(plain) == 10 * (16 + 32 + 64)


def test_supernet_compatible_network_params_match_supernet_paths(supernet):
    """from_supernet network = stem/blocks/head + the chosen ops' convs (no BN affine in cells)."""
    sa = from_supernet(supernet, ALL_CONV3)
    assert count_params(sa) == closed_form_params(ALL_CONV3, 10, affine=False)


def test_count_flops_side_effects_and_batch():
    net = NB201Network(RESNET)
    net.train()
    bn = net.cells[0].layers[0][2]
    before = bn.running_mean.clone(), bn.num_batches_tracked.clone()
    rng_state = torch.random.get_rng_state()
    f1 = count_flops(net, (1, 3, 32, 32))
    f4 = count_flops(net, (4, 3, 32, 32))
    assert f1 == pytest.approx(f4, rel=1e-12)
    assert net.training
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.num_batches_tracked, before[1])
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    with pytest.raises(ValueError):
        count_flops(net, (3, 32, 32))


# ------------------------------------------------------------------------------ (c) model_info
def test_model_info_fields_and_json():
    info = model_info(RESNET, "imagenet16-120")
    assert info["arch"] == RESNET and info["dataset"] == "imagenet16-120"
    assert info["num_classes"] == 120 and info["input_size"] == 16 and info["input_shape"] == [1, 3, 16, 16]
    assert isinstance(info["params"], int) and isinstance(info["flops_m"], float)
    assert json.loads(json.dumps(info)) == info
    assert resolve_dataset("CIFAR10-valid") == "cifar10"


@pytest.mark.parametrize(
    "bad,fragment",
    [
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|", "expected 3"),
        ("|conv_5x5~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "unknown op 'conv_5x5'"),
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~0|+|skip_connect~0|none~1|skip_connect~2|", "op~1"),
        ("|nor_conv_3x3~0|+|none~0|+|skip_connect~0|none~1|skip_connect~2|", "needs 2 inputs"),
        ("", "malformed"),
    ],
)
def test_model_info_malformed_arch(bad, fragment):
    with pytest.raises(ArchStringError, match="arch string") as exc:
        model_info(bad, "cifar10")
    assert fragment in str(exc.value)


def test_model_info_rejects_bad_inputs():
    with pytest.raises(ArchStringError):
        model_info(["nor_conv_3x3"], "cifar10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown dataset"):
        model_info(RESNET, "mnist")
    with pytest.raises(ArchStringError):
        NB201Network((0, 1, 2, 3, 4, 5))  # op index out of range
