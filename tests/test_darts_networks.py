"""DARTS-space networks: the search supernet (every space, k = 1 and 2, both cell types) and the
evaluation network ``NetworkCIFAR`` (parameter counts of public genotypes, FLOPs, aux head, drop-path).

Parameter counts were verified against the reference implementations: each repository's own
``model.py::NetworkCIFAR`` (C=36, 20 layers, auxiliary head, its ``genotypes.py``) was built and
counted with its ``utils.count_parameters_in_MB`` rule (parameters not named ``auxiliary``), and its
state dict loaded into ours gave bit-identical eval-mode logits (check run outside the repository;
the reference code is not vendored). DARTS_V2's 3,349,342 is also the ``param size = 3.349342MB``
that DARTS' training log prints; the DARTS search network at C=16 / 8 layers has 1,930,618.
"""
from __future__ import annotations

import pytest
import torch

from supernetbench.spaces.darts.network import NetworkCIFAR, NetworkConfig, count_flops, count_parameters, drop_path
from supernetbench.spaces.darts.ops import DARTS_OPS, Identity, channel_shuffle, make_op
from supernetbench.spaces.darts.space import DARTS_SPACES, DartsSpace
from supernetbench.spaces.darts.supernet import DartsSupernet, DartsSupernetConfig, MixedOp

from tests.test_darts_space import DARTS_V2, DRNAS, PC_DARTS

DARTS_V1 = ("Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")  # quark0/darts cnn/genotypes.py

#: (without the auxiliary head = DARTS' convention, with it), C=36, 20 layers, 10 classes (verified: module doc)
PARAMS = {
    "DARTS_V1": (DARTS_V1, 3_169_414, 3_645_840),
    "DARTS_V2": (DARTS_V2, 3_349_342, 3_825_768),
    "PC_DARTS_cifar": (PC_DARTS, 3_634_678, 4_111_104),
    "DrNAS_cifar10": (DRNAS, 4_099_294, 4_575_720),
}
#: MACs of one 32x32 image (convs + linear; computed here; DARTS_V2's 528M is the figure later papers cite)
FLOPS = {"DARTS_V1": 500_987_520, "DARTS_V2": 528_359_040, "PC_DARTS_cifar": 556_670_592, "DrNAS_cifar10": 635_135_616}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts_match_reference_implementations(name):
    text, without_aux, with_aux = PARAMS[name]
    arch = DartsSpace().parse(text)
    assert count_parameters(arch) == without_aux
    assert count_parameters(arch, auxiliary=True) == with_aux
    assert count_flops(arch) == FLOPS[name]


def test_search_network_parameter_count_matches_darts():
    with torch.device("meta"):
        net = DartsSupernet(DartsSpace(), DartsSupernetConfig(C=16, layers=8, k=1))
    assert sum(p.numel() for p in net.parameters()) == 1_930_618


def test_count_flops_by_hand_on_one_conv_layer():
    """The MAC rule itself, on a tiny network whose convs can be listed: compare with a manual sum."""
    arch = DartsSpace().parse(DARTS_V2)
    cfg = dict(C=4, layers=3, num_classes=10)
    net = NetworkCIFAR(arch, DartsSpace(), NetworkConfig(**cfg, auxiliary=False)).eval()
    total = 0

    def hook(m, _i, out):
        nonlocal total
        if isinstance(m, torch.nn.Conv2d):
            total += out.shape[1] * out.shape[2] * out.shape[3] * m.weight[0].numel()
        elif isinstance(m, torch.nn.Linear):
            total += m.weight.numel()
    for m in net.modules():
        m.register_forward_hook(hook)
    net(torch.zeros(1, 3, 32, 32))
    assert count_flops(arch, **cfg) == total


# ---------------------------------------------------------------- search network
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("name", sorted(DARTS_SPACES))
def test_supernet_forward_every_space(name, k):
    space = DARTS_SPACES[name]()
    torch.manual_seed(0)
    net = DartsSupernet(space, DartsSupernetConfig(C=4, layers=3, k=k)).double()
    assert [c.cell_type for c in net.cells] == ["normal", "reduce", "reduce"]
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w = {ct: torch.softmax(torch.randn(*s, dtype=torch.float64), -1).requires_grad_() for ct, s in space.weight_shapes.items()}
    y = net(x, w)
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    y.sum().backward()
    assert all(w[ct].grad is not None and torch.isfinite(w[ct].grad).all() for ct in w)
    arch = space.random_arch(torch.Generator().manual_seed(1))
    assert net(x, arch=arch).shape == (2, 10)


@pytest.mark.parametrize("k", [1, 2])
def test_zero_weights_skip_work_but_not_the_result(k):
    """The fast path (zero-weight ops not run) equals running every op of the kept edges; an
    all-zero row is an absent edge either way (with k=2 its bypass channels go too, as in the fork)."""
    space = DartsSpace()
    torch.manual_seed(0)
    net = DartsSupernet(space, DartsSupernetConfig(C=4, layers=3, k=k)).double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    arch = space.random_arch(torch.Generator().manual_seed(2))
    oh = {ct: torch.tensor(m) for ct, m in space.one_hot(arch).items()}
    slow = net(x, {ct: m.clone().requires_grad_() for ct, m in oh.items()})  # requires grad: no op skipped
    fast = net(x, oh)
    assert torch.equal(fast, net(x, arch=arch))
    assert torch.allclose(fast, slow, rtol=0, atol=1e-12)
    calls = []
    hooks = [op.register_forward_hook(lambda *a: calls.append(1)) for cell in net.cells for e in cell.edges for op in e.ops]
    net(x, oh)
    for h in hooks:
        h.remove()
    assert len(calls) == 3 * 8  # one op per kept edge: 3 cells x 4 nodes x 2 edges


def test_weights_shape_checked():
    net = DartsSupernet(DARTS_SPACES["darts-s2"](), DartsSupernetConfig(C=4, layers=3))
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="normal weights must have shape"):
        net(x, {"normal": torch.ones(14, 7), "reduce": torch.ones(14, 2)})
    with pytest.raises(ValueError, match="exactly one"):
        net(x)
    with pytest.raises(ValueError, match="multiple of 2\\*k"):
        DartsSupernetConfig(C=6, k=2)


def test_partial_channel_mixed_op_against_direct_formula():
    """k=2: ops on the first C/2 channels, the rest bypassed (max-pooled at stride 2), then shuffled."""
    torch.manual_seed(0)
    for stride in (1, 2):
        mo = MixedOp(8, stride, DARTS_OPS, k=2).double().eval()
        x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
        w = torch.softmax(torch.randn(7, dtype=torch.float64), 0)
        ops_out = sum(w[o] * op(x[:, :4]) for o, op in enumerate(mo.ops))
        rest = x[:, 4:] if stride == 1 else torch.nn.functional.max_pool2d(x[:, 4:], 2, 2)
        both = torch.cat([ops_out, rest], 1)
        want = torch.stack([both[:, (c % 2) * 4 + c // 2] for c in range(8)], 1)  # shuffle with 2 groups
        assert torch.allclose(mo(x, w), want, rtol=0, atol=1e-12)


def test_channel_shuffle_is_the_group_transpose():
    x = torch.arange(12.0).view(1, 12, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]


@pytest.mark.parametrize("name", ["none", "noise", *DARTS_OPS])
def test_ops_keep_channels_and_stride(name):
    x = torch.randn(2, 4, 8, 8)
    for stride, size in ((1, 8), (2, 4)):
        assert make_op(name, 4, stride, affine=False)(x).shape == (2, 4, size, size)


# ---------------------------------------------------------------- evaluation network
def test_network_aux_head_and_drop_path():
    torch.manual_seed(0)
    arch = DartsSpace().parse(DRNAS)
    net = NetworkCIFAR(arch, DartsSpace(), NetworkConfig(C=4, layers=3))
    x = torch.randn(2, 3, 32, 32)
    logits, aux = net.train()(x)
    assert logits.shape == aux.shape == (2, 10)
    logits, aux = net.eval()(x)
    assert aux is None
    net.set_drop_path(0.3)
    a, _ = net.eval()(x)
    assert torch.equal(a, logits)  # drop-path only in training
    with pytest.raises(ValueError):
        net.set_drop_path(1.5)


def test_drop_path_zeroes_samples_and_rescales():
    torch.manual_seed(0)
    x = torch.ones(4000, 1, 1, 1)
    y = drop_path(x, 0.3)
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    assert abs(float(y.mean()) - 1.0) < 0.06 and 0.25 < float((~kept).float().mean()) < 0.35


def test_skip_connect_at_stride_1_is_the_identity_class():
    assert isinstance(make_op("skip_connect", 4, 1, affine=True), Identity)
    assert not isinstance(make_op("skip_connect", 4, 2, affine=True), Identity)


# ---------------------------------------------------------------- DARTS-'s auxiliary skip (issue 17)
def _shuffled(ops_part: torch.Tensor, rest: torch.Tensor, k: int) -> torch.Tensor:
    """PC-DARTS' output written out: ``[ops_part, rest]`` with channel ``c`` taken from group ``c % k``."""
    both = torch.cat([ops_part, rest], 1)
    g = both.shape[1] // k
    return torch.stack([both[:, (c % k) * g + c // k] for c in range(both.shape[1])], 1)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_aux_skip_adds_beta_times_skip_of_the_op_channels(stride, k):
    """One edge, computed directly: ``mixture(x) + beta * skip(x)`` on the ``C // k`` op channels,
    then (k > 1) the bypass and the shuffle. ``skip`` is the identity at stride 1 and at stride 2 a
    FactorizedReduce of its own (DARTS- / the papers' fork), never the ``skip_connect`` op's weights."""
    torch.manual_seed(0)
    c = 8
    mo = MixedOp(c, stride, DARTS_OPS, k=k)
    mo.build_aux_skip()
    mo.double().eval()
    x = torch.randn(2, c, 6, 6, dtype=torch.float64)
    w = torch.softmax(torch.randn(7, dtype=torch.float64), 0)
    xa = x[:, : c // k]
    mixture = sum(w[o] * op(xa) for o, op in enumerate(mo.ops))
    if stride == 1:
        assert isinstance(mo.aux_skip, Identity)
        skip = xa
    else:
        fr = mo.aux_skip
        assert fr is not mo.ops[DARTS_OPS.index("skip_connect")] and not fr.bn.affine
        r = torch.relu(xa)
        skip = fr.bn(torch.cat([fr.conv_1(r), fr.conv_2(r[:, :, 1:, 1:])], 1))
    for beta in (0.0, 0.3, 1.0):
        want = mixture + beta * skip
        if k > 1:
            rest = x[:, c // k:] if stride == 1 else torch.nn.functional.max_pool2d(x[:, c // k:], 2, 2)
            want = _shuffled(want, rest, k)
        torch.testing.assert_close(mo(x, w, beta=beta), want, rtol=0, atol=1e-12)
    if k == 1:  # the module's own output: bit for bit the plain edge plus the term
        assert torch.equal(mo(x, w, beta=0.7), mo(x, w) + mo.aux_skip(x) * 0.7)


@pytest.mark.parametrize("k", [1, 2])
def test_aux_skip_at_beta_zero_is_the_plain_network_bit_for_bit(k):
    """Building the skip changes no other weight and leaves the global RNG where the plain network
    leaves it; at beta = 0 the mixture, single-path and GDAS outputs are bit-identical."""
    space = DartsSpace()
    cfg = DartsSupernetConfig(C=4, layers=5, k=k)
    torch.manual_seed(3)
    plain = DartsSupernet(space, cfg).double()
    after_plain = torch.get_rng_state()
    torch.manual_seed(3)
    aux = DartsSupernet(space, DartsSupernetConfig(C=4, layers=5, k=k, aux_skip=True)).double()
    assert torch.equal(torch.get_rng_state(), after_plain)
    torch.manual_seed(3)
    late = DartsSupernet(space, cfg)
    late.add_aux_skip()  # what the Stage-1 loop does for darts-: the same weights as aux_skip=True
    late.double()
    sd_plain, sd_aux, sd_late = plain.state_dict(), aux.state_dict(), late.state_dict()
    extra = set(sd_aux) - set(sd_plain)
    assert extra and all(".aux_skip." in key for key in extra) and set(sd_plain) <= set(sd_aux)
    assert set(sd_late) == set(sd_aux) and all(torch.equal(sd_aux[key], sd_late[key]) for key in sd_aux)
    assert all(torch.equal(sd_plain[key], sd_aux[key]) for key in sd_plain)
    # the extra weights: one FactorizedReduce on each of the 8 stride-2 edges of the 2 reduction cells
    n_extra = sum(p.numel() for n, p in aux.named_parameters() if ".aux_skip." in n)
    c_ops = [cell.c // k for cell in aux.cells if cell.reduction]
    assert n_extra == sum(8 * c * c for c in c_ops)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    w = {ct: torch.softmax(torch.randn(14, 7, generator=g, dtype=torch.float64), -1) for ct in ("normal", "reduce")}
    arch = space.random_arch(torch.Generator().manual_seed(1))
    hard = {ct: [int(i) for i in w[ct].argmax(1)] for ct in w}
    for net in (plain, aux):
        net.train()
    assert torch.equal(plain(x, w), aux(x, w))
    assert torch.equal(plain(x, arch=arch), aux(x, arch=arch))
    assert torch.equal(plain(x, w, hard=hard), aux(x, w, hard=hard))
    aux.aux_skip_beta = 0.5
    assert not torch.allclose(plain(x, w), aux(x, w))
    aux.aux_skip_beta = 0.0
    assert torch.equal(plain(x, w), aux(x, w))


def test_aux_skip_runs_every_edge_while_beta_is_set():
    """As the fork's CellMinus: with beta != 0 an edge whose weight row is all zero still adds
    ``beta * skip(x)`` (a discrete cell keeps its 2 in-edges per node only at beta = 0)."""
    space = DartsSpace()
    torch.manual_seed(0)
    net = DartsSupernet(space, DartsSupernetConfig(C=4, layers=3, aux_skip=True)).double().train()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    calls = []
    hooks = [e.register_forward_hook(lambda *a: calls.append(1)) for cell in net.cells for e in cell.edges]
    arch = space.random_arch(torch.Generator().manual_seed(2))
    net(x, arch=arch)
    assert len(calls) == 3 * 8
    calls.clear()
    net.aux_skip_beta = 0.25
    net(x, arch=arch)
    assert len(calls) == 3 * 14
    for h in hooks:
        h.remove()


# ---------------------------------------------------------------- partial channels at paper size
def search_network_params(C: int, layers: int, k: int, classes: int = 10, n_ops: int = 7) -> int:
    """The DARTS search network's parameter count written out (DARTS' 7 ops, op BNs affine=False):
    per edge on ``c`` op channels ``sep 3x3 + sep 5x5 + dil 3x3 + dil 5x5 = 102 c + 6 c^2`` (each
    separable conv: two depthwise k x k + pointwise c x c), plus ``c^2`` for the stride-2
    ``skip_connect`` (FactorizedReduce); preprocessing 1x1 convs; the stem conv + BN; the classifier."""
    assert n_ops == 7
    c_pp = c_p = 3 * C
    total = 27 * 3 * C + 2 * 3 * C  # stem conv (3 -> 3C, 3x3) + its affine BN
    c = C
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        c = 2 * c if reduction else c
        total += c_pp * c + c_p * c  # FactorizedReduce(c_pp, c) or ReLUConvBN(c_pp, c, 1x1); ReLUConvBN(c_p, c)
        co = c // k
        for _, frm in ((t, f) for t in range(2, 6) for f in range(t)):
            total += 102 * co + 6 * co * co + (co * co if reduction and frm < 2 else 0)
        c_pp, c_p = c_p, 4 * c
    return total + c_p * classes + classes


def test_search_network_count_formula_matches_darts_published_count():
    assert search_network_params(16, 8, 1) == 1_930_618  # DARTS' search network (module doc)


def test_partial_channels_k2_shapes_and_forward():
    """k=2: every op of an edge runs on C/2 channels; the bypass is max-pooled on stride-2 edges;
    the cell output keeps 4C channels and the network runs (mixture, single path, backward)."""
    space = DartsSpace()
    torch.manual_seed(0)
    net = DartsSupernet(space, DartsSupernetConfig(C=8, layers=5, k=2)).double().train()
    for cell in net.cells:
        for e, (_, frm) in zip(cell.edges, [(t, f) for t in range(2, 6) for f in range(t)]):
            assert e.c_op == cell.c // 2 and e.stride == (2 if cell.reduction and frm < 2 else 1)
            convs = [m for m in e.ops.modules() if isinstance(m, torch.nn.Conv2d)]
            assert convs and all(m.in_channels == cell.c // 2 for m in convs)  # FactorizedReduce: 2 x C/4 out
            assert {m.out_channels for m in convs} == ({cell.c // 2} if e.stride == 1 else {cell.c // 2, cell.c // 4})
            assert isinstance(e.bypass, torch.nn.MaxPool2d if e.stride == 2 else torch.nn.Identity)
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    shapes = []
    hooks = [cell.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for cell in net.cells]
    w = {ct: torch.softmax(torch.randn(14, 7, dtype=torch.float64), -1).requires_grad_() for ct in ("normal", "reduce")}
    out = net(x, w)
    for h in hooks:
        h.remove()
    assert shapes == [(2, 32, 16, 16), (2, 64, 8, 8), (2, 64, 8, 8), (2, 128, 4, 4), (2, 128, 4, 4)]
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(w[ct].grad).all() and w[ct].grad.abs().sum() > 0 for ct in w)
    assert net(x, arch=space.random_arch(torch.Generator().manual_seed(1))).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) == search_network_params(8, 5, 2)
