"""Stage-2 selectors on a tiny supernet (C=2, N=1, float64, a handful of random 16x16 images laid out
as ImageNet16-120, the cheapest image size).

Oracles:

* ``synflow``: the formula computed directly with autograd on the stand-alone network of the arch
  (:func:`~supernetbench.spaces.nb201.network.from_supernet`: a different module tree holding the same
  weights), BN removed, |weights|, float64, all-ones input; invariance to weight sign flips.
* ``jacob_cov``: the ``pruners`` formula in numpy (``np.corrcoef`` + ``np.linalg.eig``) on the
  stand-alone network's input Jacobian in train-mode BN.
* ``perturb``: a supernet whose architecture weights put ~all mass on one op per edge and whose
  labels are that arch's own predictions: removing the dominant op is what hurts, so the
  projection recovers the arch; one edge per event; the edge order is a function of the seed.
* ``valid``: the candidates' lazily computed scores equal full-space scoring's (bitwise), and the
  candidate set is the draw ``valid`` always made (``sample_indices(n, default_rng(seed))``).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from supernetbench.harness.data import SearchData, normalize
from supernetbench.spaces.nb201.supernet import build_supernet
from supernetbench.spaces.nb201.network import from_supernet
from supernetbench.pipeline.evaluate import run_selectors
from supernetbench.harness.profiles import get_profile
from supernetbench.harness.proxies import jacob_cov_scores, synflow_scores
from supernetbench.oneshot.scoring import ScoreConfig, make_scoring_data, score_space
from supernetbench.spaces.nb201.space import NB201Space
from supernetbench.spaces.nb201.supernet import SupernetConfig
from supernetbench.selectors import SELECTORS, IncompatiblePair, SelectionContext, pick_best
from supernetbench.selectors.perturb import projection_steps

SPACE = NB201Space()
TINY = get_profile("smoke").replace(
    C=2, N=1, train_size=16, valid_size=16, batch_size=8, score_images=16, score_batch_size=16, valid_images=16,
    jacob_batch=8, perturb_epochs=1, perturb_valid_images=16, num_samples=12,
)
DS, IMG, CLASSES = "imagenet16-120", 16, 120
ARCHS = [(3, 2, 1, 3, 4, 2), (1, 0, 0, 3, 0, 0), (0, 3, 0, 0, 0, 2), (2, 4, 1, 0, 3, 1), (0, 0, 0, 0, 0, 0)]

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _net(seed: int = 0, C: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    return build_supernet(SupernetConfig(C=C, N=1, num_classes=CLASSES), torch.float64)


def _data(n: int = 16, seed: int = 0, labels=None) -> SearchData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (2 * n, 3, IMG, IMG), generator=g, dtype=torch.uint8)
    y = torch.randint(0, CLASSES, (2 * n,), generator=g) if labels is None else labels
    return SearchData(DS, CLASSES, IMG, (0.5,) * 3, (0.25,) * 3, x[:n], y[:n], x[n:], y[n:], "random test images",
                      "test")


@dataclass
class TinyRun:
    """Just what selectors read from a finished run."""

    path: Path
    config: dict
    archprob: np.ndarray
    provides: frozenset
    edge_probs: dict | None
    net: nn.Module

    algo = property(lambda self: self.config["algo"])
    dataset = property(lambda self: self.config["dataset"])
    seed = property(lambda self: self.config["seed"])

    def load_supernet(self, device="cpu") -> nn.Module:
        return copy.deepcopy(self.net).to(device)


def _run(tmp_path, net, *, alpha=None, archprob=None, profile=TINY, algo="darts") -> TinyRun:
    (tmp_path / "arch.json").write_text(json.dumps({"alphas": {} if alpha is None else {"cell": alpha.tolist()}}))
    edge = None if alpha is None else {"cell": torch.softmax(torch.as_tensor(alpha), -1).numpy()}
    p = np.full(15625, 1 / 15625) if archprob is None else archprob
    return TinyRun(tmp_path, {"algo": algo, "dataset": DS, "seed": 0, "profile": profile.to_dict()}, p,
                   frozenset({"arch_weights"}) if alpha is not None else frozenset(), edge, net)


def _ctx(tmp_path, gt, net=None, data=None, seed=0, **kw) -> SelectionContext:
    rng = np.random.default_rng(5)
    run = _run(tmp_path, net if net is not None else _net(), alpha=kw.pop("alpha", rng.normal(0, 1, (6, 5))), **kw)
    return SelectionContext(run=run, gt=gt, seed=seed, data=data if data is not None else _data())


# ------------------------------------------------------------------------------------------ synflow
def _synflow_oracle(net, arch) -> float:
    m = from_supernet(net, arch)
    for mod in list(m.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(mod, name, nn.Identity())
    with torch.no_grad():
        for p in m.parameters():
            p.abs_()
    m.double()
    m(torch.ones(1, 3, IMG, IMG, dtype=torch.float64)).sum().backward()
    layers = [mod for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        return float(sum((mod.weight * mod.weight.grad).abs().sum() for mod in layers if mod.weight.grad is not None))


def test_synflow_equals_direct_autograd():
    net = _net(3)
    got = synflow_scores(net, np.array(ARCHS), IMG)
    want = [_synflow_oracle(net, a) for a in ARCHS]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[-1] == 0.0 and (got[:-1] > 0).all()  # zero-output arch: exactly 0 (P19)


def test_synflow_invariant_to_weight_sign_flips():
    net = _net(4)
    flipped = copy.deepcopy(net)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in flipped.parameters():
            p.mul_(torch.where(torch.rand(p.shape, generator=g) < 0.5, -1.0, 1.0).to(p.dtype))
    assert not all(torch.equal(a, b) for a, b in zip(net.parameters(), flipped.parameters()))
    np.testing.assert_array_equal(synflow_scores(net, np.array(ARCHS), IMG), synflow_scores(flipped, np.array(ARCHS), IMG))


# ---------------------------------------------------------------------------------------- jacob_cov
def test_jacob_cov_equals_numpy_formula():
    net = _net(5)
    x = normalize(_data().train_x[:8], DS).double()
    got = jacob_cov_scores(net, np.array(ARCHS), x)
    for a, score in zip(ARCHS, got):
        m = from_supernet(net, a).train()
        xi = x.clone().requires_grad_(True)
        y = m(xi)
        y.backward(torch.ones_like(y))
        jac = xi.grad.reshape(len(x), -1).numpy()
        if SPACE.is_zero_output(a):
            assert not jac.any() and np.isnan(score)  # zero Jacobian -> NaN, as pruners (P19)
            continue
        lam = np.linalg.eig(np.corrcoef(jac))[0].real
        assert score == pytest.approx(-np.sum(np.log(lam + 1e-5) + 1.0 / (lam + 1e-5)), rel=1e-8)


def test_jacob_cov_leaves_caller_bn_buffers():
    net = _net(6)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    jacob_cov_scores(net, np.array(ARCHS[:2]), normalize(_data().train_x[:8], DS).double())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# ----------------------------------------------------------------------------- functional classes
def test_class_representatives_score_like_members(tmp_path, gt):
    """Members of one shared-weight functional class get their representative's proxy scores."""
    ctx = _ctx(tmp_path, gt)
    members = np.array([gt.index_of(a) for a in [(1, 0, 3, 3, 0, 0), (1, 2, 3, 3, 0, 0), (1, 4, 3, 3, 0, 0)]])
    assert len({SPACE.functional_key(tuple(gt.archs[i])) for i in members}) == 1
    direct = synflow_scores(ctx.supernet(), gt.archs[members], IMG)
    np.testing.assert_allclose(direct, direct[0], rtol=1e-12)
    x = normalize(ctx.data.train_x[:8], DS).double()
    direct = jacob_cov_scores(ctx.supernet(), gt.archs[members], x)
    np.testing.assert_allclose(direct, direct[0], rtol=1e-9)


def test_lazy_valid_scores_equal_full_space_scoring(tmp_path, gt):
    ctx = _ctx(tmp_path, gt)
    idx = ctx.candidates(TINY.num_samples)
    cfg = ScoreConfig.from_profile(TINY)
    sd = make_scoring_data(ctx.data, cfg, "cpu", torch.float64)
    full = score_space(ctx.supernet(), gt.archs[idx], sd, cfg, progress=False)
    np.testing.assert_array_equal(ctx.score(idx), full)


def test_candidates_are_the_valid_draw_and_shared(tmp_path, gt):
    ctx = _ctx(tmp_path, gt, seed=3)
    idx = ctx.candidates(12)
    np.testing.assert_array_equal(idx, ctx.sample_indices(12, np.random.default_rng(3)))
    sels = run_selectors(ctx, ["valid", "synflow", "jacob_cov"])
    for s in sels.values():
        assert s.details["candidates"] == idx.tolist() and len(s.details["scores"]) == 12


def test_valid_uses_full_space_scores_when_given(tmp_path, gt):
    ctx = _ctx(tmp_path, gt)
    ctx.full_scores = np.arange(15625, dtype=float) % 97
    sel = run_selectors(ctx, ["valid"])["valid"]
    np.testing.assert_array_equal(sel.details["scores"], ctx.full_scores[sel.details["candidates"]])


# ------------------------------------------------------------------------------------------ perturb
def test_projection_schedule():
    assert [s // 3 for s in projection_steps(25, 3, 6)] == [0, 5, 10, 15, 20, 24]
    for epochs, spe in [(0, 4), (1, 16), (3, 2), (5, 7), (12, 3), (100, 1)]:
        s = projection_steps(epochs, spe, 6)
        assert len(s) == 6 and s == sorted(s) and all(0 <= v <= max(0, epochs * spe - 1) for v in s)


def test_perturb_one_edge_per_event_and_seeded_order(tmp_path, gt):
    orders = []
    for seed in (0, 0, 1):
        ctx = _ctx(tmp_path, gt, seed=seed, profile=TINY.replace(perturb_epochs=0, perturb_valid_images=8))
        sel = run_selectors(ctx, ["perturb"])["perturb"]
        events = sel.details["events"]
        assert len(events) == 6 and sorted(e["edge_index"] for e in events) == list(range(6))
        arch = SPACE.parse(sel.arch)
        assert all(arch[e["edge_index"]] == SPACE.ops.index(e["op"]) for e in events)
        orders.append(sel.details["edge_order"])
    assert orders[0] == orders[1] != orders[2]
    rng = np.random.default_rng(0)  # the order is the selection RNG's draws over the undecided edges
    left, want = list(range(6)), []
    while left:
        want.append(int(rng.choice(left)))
        left.remove(want[-1])
    assert orders[0] == [f"{SPACE.EDGES[e][0]}<-{SPACE.EDGES[e][1]}" for e in want]


def test_perturb_recovers_a_dominant_arch(tmp_path, gt):
    target = (3, 2, 1, 3, 4, 2)
    net, data = _net(7), _data(16, seed=1)
    x = normalize(data.valid_x, DS).double()

    def predict() -> torch.Tensor:  # the target path, batch statistics over the projection batches
        with torch.no_grad():
            net.train()
            return torch.cat([net(x[i:i + 8], arch=target) for i in range(0, len(x), 8)])

    with torch.no_grad():
        net.classifier.bias -= predict().mean(0)  # centred logits: varied predictions
    labels = predict().argmax(1)
    assert len(labels.unique()) >= 4
    data = _data(16, seed=1, labels=torch.cat([labels, labels]))
    alpha = np.full((6, 5), -8.0)
    alpha[np.arange(6), target] = 8.0  # ~all mass on the target op of every edge
    ctx = SelectionContext(run=_run(tmp_path, net, alpha=alpha, profile=TINY.replace(perturb_epochs=0)), gt=gt,
                           data=data)
    sel = run_selectors(ctx, ["perturb"])["perturb"]
    assert SPACE.parse(sel.arch) == target and sel.details["fine_tune_steps"] == 0
    for e in sel.details["events"]:  # removing the dominant op is what hurts
        acc = e["accuracy_without_op"]
        assert acc[e["op"]] < min(v for k, v in acc.items() if k != e["op"]) and not e["guard"]


def test_perturb_runs_without_arch_weights(tmp_path, gt):
    ctx = _ctx(tmp_path, gt, alpha=None, algo="untrained")
    sel = run_selectors(ctx, ["perturb"])["perturb"]
    assert sel.details["initial_alpha"].startswith("uniform") and not SPACE.is_zero_output(SPACE.parse(sel.arch))
    assert [e["step"] for e in sel.details["events"]] == projection_steps(1, 2, 6)  # 16 images / batch 8
    assert sel.details["fine_tune_steps"] == 2


# ------------------------------------------------------------------------------- every selector
@pytest.mark.parametrize("name", SELECTORS.names())
def test_selector_returns_a_connected_arch_deterministically(name, tmp_path, gt):
    a = run_selectors(_ctx(tmp_path, gt, seed=1), [name])[name]
    b = run_selectors(_ctx(tmp_path, gt, seed=1), [name])[name]
    assert gt.strings[a.index] == a.arch and SPACE.parse(a.arch) == tuple(gt.archs[a.index])
    assert not SPACE.is_zero_output(SPACE.parse(a.arch))
    assert (a.arch, a.index, a.test_acc) == (b.arch, b.index, b.test_acc)
    assert json.dumps(a.details, sort_keys=True) == json.dumps(b.details, sort_keys=True)


@pytest.mark.parametrize("name", ["valid", "synflow", "jacob_cov"])
def test_zero_output_only_when_every_candidate_is(name, tmp_path, gt):
    zero = np.array([SPACE.is_zero_output(tuple(a)) for a in gt.archs])
    p = zero / zero.sum()
    sel = run_selectors(_ctx(tmp_path, gt, archprob=p), [name])[name]
    assert SPACE.is_zero_output(SPACE.parse(sel.arch)) and sel.details["fallback"]
    mixed = np.where(zero, 1.0, 0.0)
    mixed[gt.index_of((1, 0, 0, 1, 0, 0))] = mixed.sum()  # one connected arch: half of the mass
    sel = run_selectors(_ctx(tmp_path, gt, archprob=mixed / mixed.sum(), seed=4), [name])[name]
    assert not SPACE.is_zero_output(SPACE.parse(sel.arch))


def test_pick_best_rules():
    archs = np.array([(0, 0, 0, 0, 0, 0), (1, 0, 0, 1, 0, 0), (3, 0, 0, 3, 0, 0), (2, 0, 0, 2, 0, 0)])
    assert pick_best(SPACE, archs, [99.0, 1.0, 5.0, 5.0]) == (2, None)  # zero-output never wins; first on ties
    assert pick_best(SPACE, archs, [np.nan, np.nan, 2.0, np.nan]) == (2, None)  # NaN never wins
    pos, why = pick_best(SPACE, archs, [np.nan] * 4)
    assert pos == 1 and "first connected" in why
    assert pick_best(SPACE, archs[:1], [np.nan])[0] == 0


def test_incompatible_and_unknown(tmp_path, gt):
    ctx = _ctx(tmp_path, gt, alpha=None, algo="rsps")
    with pytest.raises(IncompatiblePair, match="selector 'prune' needs arch_weights"):
        run_selectors(ctx, ["prune"], skip_incompatible=False)
    assert run_selectors(ctx, ["prune"]) == {}
    with pytest.raises(KeyError, match="unknown Stage-2 selector 'nope'"):
        run_selectors(ctx, ["nope"])
    with pytest.raises(ValueError, match="unknown candidate distribution"):
        SelectionContext(run=ctx.run, gt=gt, distribution="biased")


def test_candidate_distributions(tmp_path, gt):
    ctx = _ctx(tmp_path, gt)
    from dataclasses import replace

    from supernetbench.harness.metrics import rank_linear_probs

    np.testing.assert_array_equal(replace(ctx, distribution="rank-linear").candidate_law,
                                  rank_linear_probs(gt.test_acc(DS)))
    assert replace(ctx, distribution="uniform").candidate_law.sum() == pytest.approx(1.0)
    u, r = replace(ctx, distribution="uniform").candidates(50), replace(ctx, distribution="rank-linear").candidates(50)
    acc = gt.test_acc(DS)
    assert acc[r].mean() > acc[u].mean()


def test_jacob_cov_selector_p5_option(tmp_path, gt):
    """profile jacob_bn = "first-train" (reference, P5): the selector scores each candidate position on
    its own seeded augmented batch, the first in train mode, and records it; the default is unchanged."""
    from supernetbench.harness.proxies import candidate_batches, jacob_cov_scores_p5

    p5 = TINY.replace(jacob_bn="first-train")
    ctx = _ctx(tmp_path, gt, profile=p5, seed=3)
    cls = SELECTORS.get("jacob_cov")
    sel = cls(cls.config_from_profile(ctx.profile))(ctx, np.random.default_rng(0))
    idx = np.array(sel.details["candidates"])
    batches = candidate_batches(ctx.search_data(), len(idx), p5.jacob_batch, seed=3, device="cpu",
                                dtype=torch.float64)
    want = jacob_cov_scores_p5(ctx.supernet(), gt.archs[idx], batches)
    np.testing.assert_allclose(np.array(sel.details["scores"], dtype=float), want, rtol=1e-12, equal_nan=True)
    assert "P5" in sel.details["bn_mode"]
    default = _ctx(tmp_path / "d", gt, seed=3) if (tmp_path / "d").mkdir() is None else None
    d = cls(cls.config_from_profile(default.profile))(default, np.random.default_rng(0))
    assert d.details["bn_mode"] == "batch (train mode)" and d.details["candidates"] == sel.details["candidates"]
