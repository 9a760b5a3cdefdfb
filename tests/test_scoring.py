"""Full-space scoring: functional-class deduplication, BN modes, caller isolation, resume, bad input.

Oracles:

* the supernet itself: ``net(x, arch=a)`` logits for every member of a functional class equal the
  representative's (atol 1e-6), and the slow per-arch :func:`score_archs` gives every member the
  same accuracy; a control asserts that different classes give clearly different logits;
* :func:`score_archs` (one evaluation per arch) for :func:`score_space` (one per class): exactly
  equal accuracies on a subset that contains duplicated classes, in all three BN modes;
* a concrete pair of archs, equal under zero propagation but not under running-statistics BN, whose
  logits and accuracies differ in ``running`` mode: the reason for ``zero_propagates=False`` there.

Everything runs on a random C=2, N=1 supernet with 8x8 random images; its BN running statistics are
first perturbed by training-mode forwards (so ``running`` mode is not the fresh 0/1 statistics).
"""
from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

from supernetbench.oneshot import scoring
from supernetbench.spaces.nb201.ops import ReLUConvBN
from supernetbench.harness.profiles import BN_MODES
from supernetbench.oneshot.scoring import ScoreConfig, ScoringData, make_scoring_data, score_archs, score_space
from supernetbench.spaces.nb201.space import NB201Space
from supernetbench.spaces.nb201.prefix import PrefixScorer
from supernetbench.harness.store import load_cached_arrays, save_cached_arrays
from supernetbench.spaces.nb201.supernet import NB201Supernet, SupernetConfig

SPACE = NB201Space()
ALL = SPACE.all_archs()  # base-5 code order: row 0 is the all-`none` arch
N_IMAGES = 32
ATOL = 1e-6


def _cfg(mode: str) -> ScoreConfig:
    return ScoreConfig(bn_mode=mode, images=N_IMAGES, batch_size=16)  # two batches per evaluation


def _zero_propagates(mode: str) -> bool:
    return mode != "running"


def _tuple(a) -> tuple[int, ...]:
    return tuple(int(v) for v in a)


def _make_net(seed: int = 0, perturb: bool = True) -> NB201Supernet:
    torch.manual_seed(seed)
    net = NB201Supernet(SupernetConfig(C=2, N=1))
    if perturb:
        g = torch.Generator().manual_seed(seed + 1)
        uniform = {"cell": torch.full((6, 5), 0.2)}  # every op runs: every BN sees data
        net.train()
        with torch.no_grad():
            for _ in range(3):
                net(torch.randn(16, 3, 8, 8, generator=g) * 2 + 1, uniform)
        net.eval()
    return net


pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def net() -> NB201Supernet:
    return _make_net()


@pytest.fixture(scope="module")
def sd() -> ScoringData:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(N_IMAGES, 3, 8, 8, generator=g)
    y = torch.randint(0, 10, (N_IMAGES,), generator=g)
    recal = tuple(torch.randn(16, 3, 8, 8, generator=g) for _ in range(2))
    return ScoringData(x, y, recal, "random 8x8 test images")


def _logits(net: NB201Supernet, archs, x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """Direct single-path forwards on a private copy: train mode for ``batch``, eval for ``running``."""
    assert mode in ("batch", "running")
    m = copy.deepcopy(net)
    m.train(mode == "batch")
    with torch.no_grad():
        return [m(x, arch=_tuple(a)) for a in archs]


def _expression(arch, zero_propagates: bool) -> str:
    """Symbolic cell output: convs carry their edge index (their weights are per edge), weight-free
    ops do not; ``0`` is the exact zero tensor (a conv keeps it only with ``zero_propagates``)."""
    nodes = ["x"]
    for i in range(1, 4):
        terms = []
        for e, (to, frm) in enumerate(SPACE.EDGES):
            if to != i or arch[e] == SPACE.NONE:
                continue
            op, h = SPACE.ops[arch[e]], nodes[frm]
            if op == "skip_connect":
                t = h
            elif h == "0" and (zero_propagates or op == "avg_pool_3x3"):
                t = "0"
            else:
                t = f"{op}({h})" if op == "avg_pool_3x3" else f"{op}@e{e}({h})"
            if t != "0":
                terms.append(t)
        nodes.append("+".join(sorted(terms)) if terms else "0")
    return nodes[-1]


def _sample_classes(mode: str, n: int = 20, seed: int = 0) -> list[np.ndarray]:
    """Members of ``n`` classes: the all-`none` arch's class (under zero propagation: the 341
    zero-output archs) and ``n - 1`` random other multi-member classes."""
    labels, _ = SPACE.functional_classes(ALL, _zero_propagates(mode))
    sizes = np.bincount(labels)
    first = labels[0]  # the class of the all-`none` arch
    multi = np.setdiff1d(np.flatnonzero(sizes >= 2), [first])
    chosen = np.random.default_rng(seed).choice(multi, size=n - 1, replace=False)
    assert sizes[first] > 1
    classes = [first, *chosen]
    return [ALL[labels == c] for c in classes]


# ----------------------------------------------------------------- (a) classes really score the same
@pytest.mark.parametrize("mode", BN_MODES)
def test_class_members_score_identically(net, sd, mode):
    classes = _sample_classes(mode, n=8 if mode == "recalibrate" else 20)  # recalibration costs 3 forwards
    if _zero_propagates(mode):
        assert len(classes[0]) == 341 and all(SPACE.is_zero_output(_tuple(a)) for a in classes[0])
    members = np.concatenate(classes)
    scores = score_archs(net, members, sd, _cfg(mode))
    start = 0
    for cls in classes:
        s = scores[start : start + len(cls)]
        start += len(cls)
        assert np.all(s == s[0]), f"class of {SPACE.format(_tuple(cls[0]))} scores {np.unique(s)}"


@pytest.mark.parametrize("mode", ["batch", "running"])
def test_class_members_have_equal_logits(net, sd, mode):
    classes = _sample_classes(mode)
    reps = []
    for cls in classes:
        key = SPACE.functional_key(_tuple(cls[0]), _zero_propagates(mode))
        rep_out, *outs = _logits(net, [key, *cls], sd.x, mode)
        reps.append(rep_out)
        for a, out in zip(cls, outs):
            torch.testing.assert_close(out, rep_out, rtol=0, atol=ATOL,
                                       msg=lambda m, a=a: f"{SPACE.format(_tuple(a))}: {m}")
    # control, so the check above can fail: classes with different weight-tagged expressions give
    # clearly different logits. (The key is sound, not complete: weight-free ops on different edges,
    # e.g. avg_pool 0->1->3 and avg_pool 0->2->3, compute one function under two keys.)
    exprs = [_expression(SPACE.functional_key(_tuple(c[0]), True), _zero_propagates(mode)) for c in classes]
    n_distinct = 0
    for i in range(len(reps)):
        for j in range(i):
            if exprs[i] != exprs[j]:
                n_distinct += 1
                assert (reps[i] - reps[j]).abs().max() > 1e-3, (exprs[i], exprs[j])
    assert n_distinct > 150


def test_zero_output_class_is_input_independent_in_batch_mode(net, sd):
    """Every zero-output arch, under batch BN, gives the all-`none` arch's logits, whatever the input."""
    zero = [a for a in ALL[:400] if SPACE.is_zero_output(_tuple(a))]
    assert len(zero) > 10
    x2 = torch.randn_like(sd.x) * 3
    for x in (sd.x, x2):
        ref, *outs = _logits(net, [(0,) * 6, *zero], x, "batch")
        for out in outs:
            torch.testing.assert_close(out, ref, rtol=0, atol=ATOL)


# ------------------------------------------------------------------------ (b) fast path == slow path
@pytest.fixture(scope="module")
def subset() -> np.ndarray:
    """200 archs: 150 uniform draws plus 50 members of 5 multi-member classes (so dedup happens)."""
    rng = np.random.default_rng(5)
    labels, _ = SPACE.functional_classes(ALL, zero_propagates=False)
    multi = np.flatnonzero(np.bincount(labels) >= 5)
    dup = np.concatenate([rng.choice(np.flatnonzero(labels == c), 5, replace=False)
                          for c in rng.choice(multi, 10, replace=False)])
    idx = np.concatenate([rng.choice(len(ALL), 150, replace=False), dup])
    return ALL[rng.permutation(idx)]


@pytest.mark.parametrize("mode", BN_MODES)
def test_score_space_equals_score_archs(net, sd, subset, mode):
    _, reps = SPACE.functional_classes(subset, _zero_propagates(mode))
    assert len(reps) < len(subset) - 30  # the fast path really deduplicates here
    fast = score_space(net, subset, sd, _cfg(mode), progress=False)
    slow = score_archs(net, subset, sd, _cfg(mode))
    np.testing.assert_array_equal(fast, slow)
    assert fast.shape == (len(subset),) and np.all((fast >= 0) & (fast <= 100))
    assert len(np.unique(slow)) > 3  # not a degenerate constant scorer


# --------------------------------------------------------------- (c) running BN: zeros do not stay 0
def _zero_vs_running_pairs():
    """Pairs equal under zero propagation whose running-BN expressions differ, in a fixed order.

    (Pairs that differ only by a weight-free op on a zero node, e.g. ``skip`` 2->3 with node 2 zero,
    have different running-BN keys but one function: the running key is conservative there.)
    """
    first: dict[tuple, dict[str, tuple]] = {}
    for a in map(_tuple, ALL):
        kz = SPACE.functional_key(a, True)
        er = _expression(a, zero_propagates=False)
        seen = first.setdefault(kz, {})
        if er not in seen:
            for b in seen.values():
                yield b, a
            seen[er] = a


def test_conv_on_zero_input_is_nonzero_with_running_stats(net):
    op = next(m for m in net.modules() if isinstance(m, ReLUConvBN) and m[2].affine is False)
    bn = op[2]
    op.eval()
    with torch.no_grad():
        out = op(torch.zeros(1, bn.num_features, 4, 4))
    want = (-bn.running_mean / torch.sqrt(bn.running_var + bn.eps)).view(1, -1, 1, 1).expand_as(out)
    torch.testing.assert_close(out, want)
    assert out.abs().max() > 1e-2
    op.train()
    with torch.no_grad():
        assert torch.equal(copy.deepcopy(op)(torch.zeros(2, bn.num_features, 4, 4)),
                           torch.zeros(2, bn.num_features, 4, 4))


def test_running_bn_breaks_zero_propagation(net, sd):
    pairs = _zero_vs_running_pairs()
    a, b = next(pairs)
    # e.g. the all-`none` arch and a zero-output arch with a conv on an edge from a zero node
    assert SPACE.functional_key(a, True) == SPACE.functional_key(b, True)
    la, lb = _logits(net, [a, b], sd.x, "running")
    assert (la - lb).abs().max() > 1e-3, (SPACE.format(a), SPACE.format(b))
    ba, bb = _logits(net, [a, b], sd.x, "batch")  # control: equal with batch statistics
    torch.testing.assert_close(ba, bb, rtol=0, atol=ATOL)

    # accuracies: take labels = the running-mode predictions of a non-zero-output arch `a`; then `a`
    # scores 100 % and a partner `b` with the same zero-propagation key scores less, so merging the
    # two (zero_propagates=True with running BN) would give `b` a wrong score
    for _, (a, b) in zip(range(50), (p for p in pairs if not SPACE.is_zero_output(p[0]))):
        la, lb = _logits(net, [a, b], sd.x, "running")
        if torch.any(la.argmax(1) != lb.argmax(1)):
            break
    else:
        pytest.fail("no pair among the first 50 changes a running-mode prediction")
    labelled = ScoringData(sd.x, la.argmax(1), (), "labels = predictions of a")
    pair = np.array([a, b])
    s = score_archs(net, pair, labelled, _cfg("running"))
    assert s[0] == 100.0 and s[1] < 100.0, (SPACE.format(a), SPACE.format(b), s)
    np.testing.assert_array_equal(score_space(net, pair, labelled, _cfg("running"), progress=False), s)
    np.testing.assert_array_equal(score_archs(net, pair, labelled, _cfg("batch")),  # control
                                  score_archs(net, pair[:1], labelled, _cfg("batch")).repeat(2))


# -------------------------------------------------------------------- (d) caller's supernet untouched
def _snapshot(net: torch.nn.Module):
    return ({k: v.clone() for k, v in net.state_dict().items()}, net.training, net.aux_skip_beta,
            [m.momentum for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)])


def _assert_same(snap, net):
    state, training, beta, momenta = snap
    now = net.state_dict()
    assert state.keys() == now.keys()
    for k in state:
        assert torch.equal(state[k], now[k]), k
    assert net.training == training and net.aux_skip_beta == beta
    assert momenta == [m.momentum for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("fn", ["score_archs", "score_space"])
@pytest.mark.parametrize("mode", BN_MODES)
@pytest.mark.parametrize("training", [False, True], ids=["caller-eval", "caller-train"])
def test_scoring_leaves_caller_unchanged(sd, subset, mode, fn, training):
    net = _make_net(seed=3)
    net.train(training)
    net.aux_skip_beta = 0.5  # a DARTS- net mid-training: scoring must drop the skip on its own copy
    snap = _snapshot(net)
    kw = {"progress": False} if fn == "score_space" else {}
    scores = getattr(scoring, fn)(net, subset[:20], sd, _cfg(mode), **kw)
    _assert_same(snap, net)
    net.aux_skip_beta = 0.0
    np.testing.assert_array_equal(scores, score_archs(net, subset[:20], sd, _cfg(mode)))


def test_recalibrate_ignores_stored_statistics(sd, subset):
    """Recalibration resets BN statistics, so nets that differ only in running stats score alike."""
    fresh, perturbed = _make_net(seed=4, perturb=False), _make_net(seed=4, perturb=True)
    archs = subset[:30]
    r_fresh = score_archs(fresh, archs, sd, _cfg("recalibrate"))
    r_pert = score_archs(perturbed, archs, sd, _cfg("recalibrate"))
    np.testing.assert_array_equal(r_fresh, r_pert)
    # control: in running mode the stored statistics matter
    assert not np.array_equal(score_archs(fresh, archs, sd, _cfg("running")),
                              score_archs(perturbed, archs, sd, _cfg("running")))


def test_recalibrate_uses_the_recalibration_batches(net, sd, subset):
    other = ScoringData(sd.x, sd.y, tuple(r * 3 + 1 for r in sd.recal), "other recalibration batches")
    archs = subset[:30]
    assert not np.array_equal(score_archs(net, archs, sd, _cfg("recalibrate")),
                              score_archs(net, archs, other, _cfg("recalibrate")))


# -------------------------------------------------------------------------------- (e) partial/resume
@pytest.fixture
def count_calls(monkeypatch):
    calls: list[tuple[int, ...]] = []
    real = scoring._accuracy

    def counting(net, arch, sd, cfg):
        calls.append(_tuple(arch))
        return real(net, arch, sd, cfg)

    real_prefix = PrefixScorer.accuracy

    def counting_prefix(self, arch):
        calls.append(_tuple(arch))
        return real_prefix(self, arch)

    monkeypatch.setattr(scoring, "_accuracy", counting)
    monkeypatch.setattr(PrefixScorer, "accuracy", counting_prefix)
    return calls


def test_resume_scores_only_missing_classes(net, sd, subset, tmp_path, count_calls):
    cfg = _cfg("batch")
    labels, reps = SPACE.functional_classes(subset, True)
    full = score_space(net, subset, sd, cfg, progress=False)
    assert len(count_calls) == len(reps)  # one evaluation per class
    rep_scores = np.empty(len(reps))
    rep_scores[labels] = full

    prefilled = np.full(len(reps), np.nan)
    done = np.random.default_rng(0).random(len(reps)) < 0.6
    prefilled[done] = -1.0 - np.arange(done.sum())  # sentinels: must be used, not recomputed
    partial = tmp_path / "scores.partial.npz"
    save_cached_arrays(partial, scores=prefilled)

    count_calls.clear()
    out = score_space(net, subset, sd, cfg, progress=False, partial_path=partial, save_every=5)
    assert len(count_calls) == int((~done).sum())
    assert set(count_calls) == {_tuple(r) for r in reps[~done]}
    want = np.where(done, prefilled, rep_scores)[labels]
    np.testing.assert_array_equal(out, want)
    saved = load_cached_arrays(partial)["scores"]  # saved after every block of 5 new classes and the last
    np.testing.assert_array_equal(saved[done], prefilled[done])
    np.testing.assert_array_equal(saved, np.where(done, prefilled, rep_scores))


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("wrong-shape", id="wrong-shape"),
        pytest.param(b"not an npy file", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param("tampered", id="tampered"),
    ],
)
def test_unusable_partial_file_is_ignored(net, sd, subset, tmp_path, count_calls, content):
    """An unreadable, mis-shaped or altered partial file (e.g. rewritten as 100 - scores without
    its checksum) is never used: every class is scored again."""
    partial = tmp_path / "scores.partial.npz"
    _, reps = SPACE.functional_classes(subset[:40], True)
    if content == "wrong-shape":
        save_cached_arrays(partial, scores=np.zeros(3))
    elif content == "tampered":
        np.savez(partial, scores=np.full(len(reps), 50.0), __sha256__=np.array("0" * 64))
    else:
        partial.write_bytes(content)
    out = score_space(net, subset[:40], sd, _cfg("batch"), progress=False, partial_path=partial)
    assert len(count_calls) == len(reps)
    np.testing.assert_array_equal(out, score_archs(net, subset[:40], sd, _cfg("batch")))


# ------------------------------------------------------------------------------------ (f) bad input
def test_unknown_bn_mode_lists_choices():
    with pytest.raises(ValueError, match="unknown BN mode 'eval'; valid choices: batch, running, recalibrate"):
        ScoreConfig(bn_mode="eval")


def _search_data(n_valid: int, n_train: int = 64) -> SimpleNamespace:
    g = torch.Generator().manual_seed(9)
    img = lambda n: torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g)  # noqa: E731
    return SimpleNamespace(dataset="cifar10", train_x=img(n_train), train_y=torch.zeros(n_train, dtype=torch.int64),
                           valid_x=img(n_valid), valid_y=torch.arange(n_valid) % 10)


def test_make_scoring_data_too_many_images():
    with pytest.raises(ValueError, match="scoring needs 32 validation images but the split has 10"):
        make_scoring_data(_search_data(10), ScoreConfig(images=32, batch_size=32))


def test_make_scoring_data_fixed_subset():
    data = _search_data(40)
    sd1 = make_scoring_data(data, ScoreConfig(bn_mode="recalibrate", images=24, batch_size=16, recalib_batches=3))
    assert sd1.x.shape == (24, 3, 8, 8) and sd1.x.dtype == torch.float32
    torch.testing.assert_close(sd1.y, data.valid_y[:24])
    assert [len(r) for r in sd1.recal] == [16, 16, 16]  # the first 3 x 16 training images
    assert "24 fixed validation images" in sd1.description and "recalibrate" in sd1.description
    sd2 = make_scoring_data(data, ScoreConfig(bn_mode="batch", images=24, batch_size=16))
    assert sd2.recal == () and torch.equal(sd2.x, sd1.x)
    assert sd1.fingerprint() != sd2.fingerprint()
    assert make_scoring_data(data, ScoreConfig(bn_mode="batch", images=24)).fingerprint() == sd2.fingerprint()


# --------------------------------------------------------------- (f) the prefix-sharing engine is exact
@settings(max_examples=6)
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["batch", "running"]),
       dtype=st.sampled_from([torch.float32, torch.float64]), n_cells=st.integers(1, 2))
def test_prefix_engine_equals_per_arch_path(seed, mode, dtype, n_cells):
    """Random supernets (1-2 cells per stage), random archs in prefix-sharing clusters, the zero-output
    class and archs with dead edges included: the same counts as the plain per-arch forward."""
    torch.manual_seed(seed)
    net = NB201Supernet(SupernetConfig(C=2, N=n_cells)).to(dtype)
    rng = np.random.default_rng(seed)
    prefixes = rng.integers(0, 5, (6, 3))
    archs = np.concatenate([np.hstack([prefixes[rng.integers(0, 6, 30)], rng.integers(0, 5, (30, 3))]),
                            rng.integers(0, 5, (10, 6)), [[0] * 6, [1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0]]])
    g = torch.Generator().manual_seed(seed)
    sd = ScoringData(torch.randn(24, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 10, (24,), generator=g),
                     (), "random")
    cfg = ScoreConfig(bn_mode=mode, images=24, batch_size=12)
    prefix = score_space(net, archs, sd, cfg, progress=False, engine="prefix")
    np.testing.assert_array_equal(prefix, score_space(net, archs, sd, cfg, progress=False, engine="dedup"))
    np.testing.assert_array_equal(prefix, score_archs(net, archs, sd, cfg))


def test_unknown_engine_lists_choices(net, sd, subset):
    with pytest.raises(ValueError, match="valid choices: fast, prefix, dedup, batched, naive"):
        score_space(net, subset, sd, _cfg("batch"), progress=False, engine="turbo")


def test_worker_processes_give_the_serial_scores(net, sd, subset, tmp_path):
    cfg = _cfg("batch")
    serial = score_space(net, subset, sd, cfg, progress=False)
    partial = tmp_path / "p.npz"
    pooled = score_space(net, subset, sd, cfg, progress=False, workers=2, save_every=40, partial_path=partial)
    np.testing.assert_array_equal(pooled, serial)
    assert not np.isnan(load_cached_arrays(partial)["scores"]).any()
