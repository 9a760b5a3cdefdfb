"""Stage-1 methods: properties that fail when a method deviates from its paper / the protocol.

Everything runs on a tiny supernet (C=2, N=1: 3 search cells) with random 8x8 images, on the CPU
with one thread (tiny convolutions; avoids thread oversubscription on shared machines).
Oracles are independent of the code under test: closed forms (tau and beta schedules, the
Dirichlet KL via scipy.special), exact double backpropagation with ``torch.func.functional_call``
(second-order DARTS), ``scipy.stats.rankdata`` and a chi-square test (rank-linear sampler), and
forward hooks counting which op modules actually run (GDAS).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch import nn

from supernetbench.algorithms import ALGORITHMS, RunContext
from supernetbench.algorithms.darts_minus import beta_at
from supernetbench.algorithms.drnas import dirichlet_kl_to_uniform
from supernetbench.algorithms.snas import gumbel_noise
from supernetbench.algorithms.unrolled import unrolled_arch_step, unrolled_hypergradient
from supernetbench.harness.registry import UnknownNameError
from supernetbench.spaces.nb201.space import NB201Space
from supernetbench.spaces.nb201.supernet import NB201Supernet, SearchCell, SupernetConfig

SPACE = NB201Space()
N_ARCHS = 15_625


pytestmark = pytest.mark.usefixtures("torch_single_thread")




def tiny_net(seed: int = 0, dtype: torch.dtype = torch.float32) -> NB201Supernet:
    torch.manual_seed(seed)
    return NB201Supernet(SupernetConfig(C=2, N=1, num_classes=10)).to(dtype)


def batch(seed: int, n: int = 8, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


def make(name: str, options: dict | None = None, *, epochs: int = 10, reference: bool = False,
         dataset: str = "cifar10", seed: int = 0, net: nn.Module | None = None):
    cls = ALGORITHMS.get(name)
    ctx = RunContext(dataset=dataset, epochs=epochs, device=torch.device("cpu"), seed=seed, reference=reference)
    method = cls(cls.make_config(options), space=SPACE, ctx=ctx)
    net = tiny_net(seed) if net is None else net
    method.prepare(net)
    return method, net


def randomize_alphas(method, seed: int = 1, scale: float = 1.0) -> None:
    g = torch.Generator().manual_seed(seed)
    for a in method.alphas.values():
        a.data.copy_(scale * torch.randn(a.shape, generator=g, dtype=a.dtype))


def search_cells(net: NB201Supernet) -> list[SearchCell]:
    return [m for m in net.layers if isinstance(m, SearchCell)]


# ------------------------------------------------------------------------------ registry / configs
def test_all_methods_registered():
    assert set(ALGORITHMS.names()) >= {"darts", "darts-", "snas", "gdas", "drnas", "rsps", "rsps-biased",
                                       "untrained", "blank"}


def test_unknown_option_lists_valid_options():
    with pytest.raises(ValueError, match=r"order.*rsps.*options are: .*alpha_init_std"):
        ALGORITHMS.get("rsps").make_config({"order": 2})
    with pytest.raises(ValueError, match=r"beta_max.*options are: .*tau_max"):
        ALGORITHMS.get("snas").make_config({"beta_max": 2.0})


@pytest.mark.parametrize("name, options, valid", [
    ("drnas", {"reg_type": "l1"}, "l2, kl"),
    ("drnas", {"distribution": "mean"}, "softmax, dirichlet-mean"),
    ("darts-", {"beta_schedule": "cosine"}, "auto, decay, linear, constant"),
    ("darts", {"order": 3}, "1 or 2"),
    ("gdas", {"tau_min": 0.0}, "0 < tau_min"),
])
def test_bad_option_value_names_valid_values(name, options, valid):
    with pytest.raises(ValueError, match=valid):
        ALGORITHMS.get(name).make_config(options)


def test_unknown_algorithm_lists_valid_names():
    with pytest.raises(UnknownNameError) as e:
        ALGORITHMS.get("dartz")
    msg = str(e.value)
    assert "dartz" in msg
    for name in ALGORITHMS.names():
        assert name in msg


# ------------------------------------------------------------------------------ distributions
@pytest.mark.parametrize("name", ALGORITHMS.names())
def test_arch_probs_sum_to_one(name, gt):
    method, _ = make(name)
    if method.alphas:
        randomize_alphas(method)  # a non-uniform distribution
    p = np.asarray(method.arch_probs(gt.archs), dtype=np.float64)
    assert p.shape == (N_ARCHS,)
    assert np.all(p >= 0)
    assert abs(p.sum() - 1.0) < 1e-9


@pytest.mark.parametrize("name", ["darts", "darts-", "snas", "gdas", "drnas", "blank"])
def test_softmax_distribution_is_product_of_edge_softmaxes(name, gt):
    method, _ = make(name)
    randomize_alphas(method)
    sm = torch.softmax(method.alphas["cell"].detach().double(), -1).numpy()
    i = 1234
    expected = np.prod([sm[e, gt.archs[i][e]] for e in range(6)])
    assert method.arch_probs(gt.archs)[i] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["rsps", "untrained"])
def test_uniform_methods(name, gt):
    method, _ = make(name)
    np.testing.assert_allclose(method.arch_probs(gt.archs), 1.0 / N_ARCHS, rtol=1e-12)


def test_untrained_does_not_train():
    assert ALGORITHMS.get("untrained").trains_weights is False
    assert all(ALGORITHMS.get(n).trains_weights for n in ALGORITHMS.names() if n != "untrained")


# ------------------------------------------------------------------------------ GDAS
def test_gdas_runs_exactly_one_op_per_edge_and_passes_gradients_to_all_logits():
    method, net = make("gdas")
    randomize_alphas(method, scale=0.5)
    calls: list[tuple[int, int, int]] = []
    for c, cell in enumerate(search_cells(net)):
        for e, ops in enumerate(cell.edges):
            for o, op in enumerate(ops):
                op.register_forward_hook(lambda *_, key=(c, e, o): calls.append(key))
    drawn: list[list[int]] = []
    sample_hard = method.sample_hard

    def recording():
        w, h = sample_hard()
        drawn.append(h["cell"])
        assert torch.equal(w["cell"].detach(), nn.functional.one_hot(torch.tensor(h["cell"]), 5).float())
        return w, h

    method.sample_hard = recording
    x, y = batch(0)
    n_cells = len(search_cells(net))
    for step in range(6):
        calls.clear()
        method.alphas["cell"].grad = None
        loss = nn.functional.cross_entropy(method.forward_train(net, x), y)
        idx = drawn[-1]
        assert sorted(calls) == sorted((c, e, idx[e]) for c in range(n_cells) for e in range(6)), step
        loss.backward()
        g = method.alphas["cell"].grad
        assert g is not None and torch.isfinite(g).all()
        live = list(SPACE.live_edges(tuple(idx)))  # edges that can change the output
        assert live and (g[live] != 0).all()  # every op's logit on them gets a gradient
    assert len({tuple(d) for d in drawn}) > 1  # the draws vary


def test_darts_mixture_runs_every_op_for_contrast():
    method, net = make("darts")
    counts = {"n": 0}
    for cell in search_cells(net):
        for ops in cell.edges:
            for op in ops:
                op.register_forward_hook(lambda *_: counts.__setitem__("n", counts["n"] + 1))
    method.forward_train(net, batch(0)[0])
    assert counts["n"] == len(search_cells(net)) * 6 * 5


def test_gdas_sample_formula_and_straight_through_gradient():
    method, _ = make("gdas", epochs=100)
    method.on_epoch_start(None, 37)
    randomize_alphas(method, scale=0.5)
    gen_copy = torch.Generator().manual_seed(0)
    gen_copy.set_state(method.generator.get_state())
    w, h = method.sample_hard()
    a = method.alphas["cell"]
    g = gumbel_noise(a.shape, gen_copy)
    probs = torch.softmax((torch.log_softmax(a, -1) + g) / method.tau, -1)
    assert h["cell"] == probs.argmax(-1).tolist()
    c = torch.randn(6, 5)
    (grad_w,) = torch.autograd.grad((w["cell"] * c).sum(), a)
    (grad_p,) = torch.autograd.grad((probs * c).sum(), a)
    torch.testing.assert_close(grad_w, grad_p, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------ temperature
@pytest.mark.parametrize("name", ["snas", "gdas"])
@pytest.mark.parametrize("epochs", [100, 7])
def test_tau_follows_linear_schedule(name, epochs):
    method, net = make(name, epochs=epochs)
    assert method.tau == pytest.approx(10.0)
    for e in [0, 1, 2, epochs // 2, epochs - 1]:
        method.on_epoch_start(net, e)
        assert method.tau == pytest.approx(10.0 - (10.0 - 0.1) / epochs * e, abs=1e-12)
        assert method.epoch_log() == {"tau": method.tau}
    if epochs == 100:
        method.on_epoch_start(net, 99)
        assert method.tau == pytest.approx(0.199)


def test_snas_weights_are_gumbel_softmax_at_current_tau():
    method, _ = make("snas", epochs=100)
    randomize_alphas(method)
    for epoch in (0, 60):
        method.on_epoch_start(None, epoch)
        gen_copy = torch.Generator().manual_seed(0)
        gen_copy.set_state(method.generator.get_state())
        w = method.sample_weights()["cell"]
        a = method.alphas["cell"].detach()
        expected = torch.softmax((a + gumbel_noise(a.shape, gen_copy)) / method.tau, -1)
        torch.testing.assert_close(w.detach(), expected)
        assert w.requires_grad


def test_gumbel_noise_is_gumbel():
    g = gumbel_noise((20000,), torch.Generator().manual_seed(3)).double().numpy()
    assert stats.kstest(g, stats.gumbel_r.cdf).pvalue > 1e-3


# ------------------------------------------------------------------------------ DrNAS
def test_drnas_samples_lie_on_simplex_with_dirichlet_mean():
    method, _ = make("drnas")
    randomize_alphas(method, scale=1.0)
    draws = torch.stack([method.sample_weights()["cell"].detach() for _ in range(3000)])
    assert draws.shape == (3000, 6, 5)
    assert (draws >= 0).all()
    torch.testing.assert_close(draws.sum(-1), torch.ones(3000, 6), rtol=0, atol=1e-5)
    conc = nn.functional.elu(method.alphas["cell"].detach()) + 1
    mean = conc / conc.sum(-1, keepdim=True)
    # s.e. of a Dirichlet component mean over 3000 draws <= sqrt(0.25 / 3000) ~ 0.009
    torch.testing.assert_close(draws.mean(0), mean, rtol=0, atol=0.04)


def test_drnas_sampling_uses_own_generator_and_is_differentiable():
    m1, _ = make("drnas")
    m2, _ = make("drnas")
    state = torch.get_rng_state()
    w1 = m1.sample_weights()["cell"]
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    torch.manual_seed(12345)  # ... and does not influence the draw
    assert torch.equal(w1.detach(), m2.sample_weights()["cell"].detach())
    assert not torch.equal(w1.detach(), m1.sample_weights()["cell"].detach())
    (g,) = torch.autograd.grad((w1 * torch.randn(6, 5)).sum(), m1.alphas["cell"])
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def _kl_dirichlet_to_uniform_scipy(conc: np.ndarray) -> float:
    total = 0.0
    for c in conc:
        s = c.sum()
        total += (special.gammaln(s) - special.gammaln(c).sum() - special.gammaln(len(c))
                  + ((c - 1) * (special.digamma(c) - special.digamma(s))).sum())
    return float(total)


def test_drnas_kl_regulariser():
    zero = torch.zeros(6, 5, dtype=torch.float64)
    assert abs(float(dirichlet_kl_to_uniform(zero))) < 1e-10
    for seed in range(3):
        a = torch.randn(6, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        kl = float(dirichlet_kl_to_uniform(a))
        conc = (nn.functional.elu(a) + 1).numpy()
        assert kl > 1e-3
        assert kl == pytest.approx(_kl_dirichlet_to_uniform_scipy(conc), rel=1e-9)
    method, _ = make("drnas", {"reg_type": "kl", "reg_scale": 0.01})
    randomize_alphas(method)
    reg = method.arch_regularizer()
    assert float(reg.detach()) == pytest.approx(0.01 * float(dirichlet_kl_to_uniform(method.alphas["cell"].detach())))
    assert method.arch_optimizer.param_groups[0]["weight_decay"] == 0.0


def test_drnas_l2_regulariser_equals_adam_weight_decay():
    """The code applies L2 as Adam weight decay ``reg_scale``; the explicit ``reg_scale/2 ||a||^2``
    term gives the same Adam trajectory (to rounding)."""
    method, _ = make("drnas", {"reg_scale": 0.003})
    assert method.arch_optimizer.param_groups[0]["weight_decay"] == 0.0
    randomize_alphas(method)
    a0 = method.alphas["cell"].detach().double().clone()
    assert float(method.arch_regularizer().detach()) == pytest.approx(0.0015 * float((a0 * a0).sum()), rel=1e-6)
    target = torch.randn(6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a_wd, a_reg = a0.clone().requires_grad_(), a0.clone().requires_grad_()
    opt_wd = torch.optim.Adam([a_wd], lr=0.01, betas=(0.5, 0.999), weight_decay=0.003)
    opt_reg = torch.optim.Adam([a_reg], lr=0.01, betas=(0.5, 0.999), weight_decay=0.0)
    for _ in range(20):
        for a, opt, reg in ((a_wd, opt_wd, 0.0), (a_reg, opt_reg, 0.0015)):
            opt.zero_grad()
            loss = (torch.softmax(a, -1) * target).sum() + reg * (a * a).sum()
            loss.backward()
            opt.step()
    torch.testing.assert_close(a_reg, a_wd, rtol=1e-12, atol=1e-15)
    assert not torch.allclose(a_reg, a0)


def test_drnas_dirichlet_mean_distribution():
    method, _ = make("drnas", {"distribution": "dirichlet-mean"})
    randomize_alphas(method)
    conc = (nn.functional.elu(method.alphas["cell"].detach().double()) + 1).numpy()
    np.testing.assert_allclose(method.edge_probs()["cell"], conc / conc.sum(-1, keepdims=True), rtol=1e-12)
    assert not np.allclose(method.edge_probs()["cell"],
                           torch.softmax(method.alphas["cell"].detach().double(), -1).numpy(), atol=1e-3)


# ------------------------------------------------------------------------------ DARTS-
def test_darts_minus_beta_decay_schedule():
    method, net = make("darts-", epochs=100)
    assert method.beta_schedule == "decay"
    for e in range(100):
        method.on_epoch_start(net, e)
        expected = 1.0 if e < 50 else (100 - e - 1) / 50
        assert method.beta == pytest.approx(expected, abs=1e-12), e
    assert beta_at(50, 100, "decay") == pytest.approx(0.98)
    assert beta_at(99, 100, "decay") == 0.0
    assert beta_at(60, 100, "decay", beta_max=0.5) == pytest.approx(0.5 * 39 / 50)


def test_darts_minus_linear_schedule_on_the_darts_space():
    """Protocol §8: the papers' DARTS-space code decays beta as (E - e - 1) / 50 at E = 50 epochs."""
    from supernetbench.algorithms.base import RunContext
    from supernetbench.spaces import get_space

    cls = ALGORITHMS.get("darts-")
    ctx = RunContext(dataset="cifar10", epochs=50, device=torch.device("cpu"), seed=0, dtype=torch.float64)
    method = cls(cls.make_config({}), space=get_space("darts"), ctx=ctx)
    assert method.beta_schedule == "linear"
    assert [beta_at(e, 50, "linear") for e in (0, 1, 49)] == pytest.approx([49 / 50, 48 / 50, 0.0])
    ref = cls(cls.make_config({}), space=get_space("darts-s2"),
              ctx=RunContext(dataset="cifar10", epochs=50, device=torch.device("cpu"), seed=0, dtype=torch.float64,
                             reference=True))
    assert ref.beta_schedule == "constant"


def test_darts_minus_constant_and_reference_default():
    for options, reference, schedule in [({"beta_schedule": "constant"}, False, "constant"),
                                         ({}, True, "constant"),
                                         ({"beta_schedule": "decay"}, True, "decay")]:
        method, net = make("darts-", options, epochs=100, reference=reference)
        assert method.beta_schedule == schedule
        betas = []
        for e in range(100):
            method.on_epoch_start(net, e)
            betas.append(method.beta)
        if schedule == "constant":
            assert betas == [1.0] * 100
        else:
            assert betas[-1] == 0.0 and betas[0] == 1.0
        assert method.epoch_log() == {"beta": betas[-1], "beta_schedule": schedule}


def test_darts_minus_forward_uses_beta_and_leaves_none_behind():
    x = batch(0)[0]
    minus, net = make("darts-", {"beta_schedule": "constant", "beta_max": 0.5})
    darts, _ = make("darts", net=net)
    randomize_alphas(minus)
    darts.alphas["cell"].data.copy_(minus.alphas["cell"].data)
    net.train()
    with torch.no_grad():
        out = minus.forward_train(net, x)
        assert net.aux_skip_beta == 0.0  # nothing left on the net after the forward
        plain = darts.forward_train(net, x)
        net.aux_skip_beta = 0.5
        with_skip = darts.forward_train(net, x)
        net.aux_skip_beta = 0.0
    torch.testing.assert_close(out, with_skip, rtol=0, atol=0)
    assert not torch.allclose(out, plain, atol=1e-4)
    # last epoch of the decay: beta = 0, i.e. exactly DARTS
    minus2, _ = make("darts-", epochs=4, net=net)
    minus2.alphas["cell"].data.copy_(minus.alphas["cell"].data)
    minus2.on_epoch_start(net, 3)
    with torch.no_grad():
        torch.testing.assert_close(minus2.forward_train(net, x), plain, rtol=0, atol=0)
    # a freshly built scoring network has no auxiliary skip
    assert NB201Supernet(SupernetConfig(C=2, N=1)).aux_skip_beta == 0.0


# ------------------------------------------------------------------------------ second-order DARTS
def _loss_fn(net, alpha):
    def loss(p, xy):
        logits = torch.func.functional_call(net, p, (xy[0],), {"weights": {"cell": torch.softmax(alpha, -1)}})
        return nn.functional.cross_entropy(logits, xy[1])
    return loss


def _exact_unrolled_grad(method, net, train, valid, xi):
    """d/d alpha of L_val(w - xi grad_w L_train(w, alpha), alpha), by exact double backprop."""
    alpha = method.alphas["cell"]
    loss = _loss_fn(net, alpha)
    params = dict(net.named_parameters())
    g = torch.autograd.grad(loss(params, train), list(params.values()), create_graph=True)
    unrolled = {k: p - xi * gk for (k, p), gk in zip(params.items(), g)}
    (exact,) = torch.autograd.grad(loss(unrolled, valid), alpha)
    frozen = {k: v.detach() for k, v in unrolled.items()}
    (first_order,) = torch.autograd.grad(loss(frozen, valid), alpha)
    return exact, first_order


@pytest.fixture
def unrolled_case():
    net = tiny_net(0, torch.float64)
    method, _ = make("darts", {"order": 2}, net=net)
    method.alphas["cell"] = nn.Parameter(0.5 * torch.randn(6, 5, dtype=torch.float64,
                                                           generator=torch.Generator().manual_seed(5)))
    net.train()
    return method, net, batch(1, dtype=torch.float64), batch(2, dtype=torch.float64)


@pytest.mark.parametrize("xi", [1.0, 0.1])
def test_unrolled_hypergradient_converges_to_exact_double_backprop(unrolled_case, xi):
    """As the finite-difference radius shrinks, Eq. 8 must become the exact Eq. 7 hypergradient.

    Float64 with radius 1e-6 (eps = 1e-6 / ||v||): truncation O(radius^2) and rounding
    ~1e-16 / radius are both < 1e-9 relative, and no ReLU kink is crossed (observed error 1e-8
    at radius 1e-5), so we require agreement to 1e-5 of the second-order term; that term is
    >= 20 % of the gradient here, so dropping it, or a wrong sign or scale, fails.
    (At DARTS' radius 0.01 this tiny ReLU net crosses kinks and the FD term is off by 2-50x its
    size - a property of Eq. 8, checked separately below.)"""
    method, net, train, valid = unrolled_case
    _, (fd,) = unrolled_hypergradient(method, net, train, valid, xi, radius=1e-6)
    exact, first_order = _exact_unrolled_grad(method, net, train, valid, xi)
    correction = exact - first_order
    assert correction.norm() >= 0.2 * exact.norm()
    assert (fd - exact).norm() <= 1e-5 * correction.norm()


def test_unrolled_hypergradient_is_darts_eq8_at_radius_001(unrolled_case):
    """The default radius: eps = 0.01 / ||grad_w' L_val(w')||, recomputed here with functional_call."""
    method, net, train, valid = unrolled_case
    xi = 0.1
    _, (fd,) = unrolled_hypergradient(method, net, train, valid, xi)
    alpha = method.alphas["cell"]
    loss = _loss_fn(net, alpha)
    w = {k: p.detach() for k, p in net.named_parameters()}
    g = torch.autograd.grad(loss({k: p.requires_grad_() for k, p in dict(w).items()}, train), list(w.values()))
    w1 = {k: (p - xi * gk).requires_grad_() for (k, p), gk in zip(w.items(), g)}
    *v, direct = torch.autograd.grad(loss(w1, valid), [*w1.values(), alpha])
    eps = 0.01 / torch.sqrt(sum((x ** 2).sum() for x in v))
    (g_plus,) = torch.autograd.grad(loss({k: p + eps * d for (k, p), d in zip(w.items(), v)}, train), alpha)
    (g_minus,) = torch.autograd.grad(loss({k: p - eps * d for (k, p), d in zip(w.items(), v)}, train), alpha)
    expected = direct - xi * (g_plus - g_minus) / (2 * eps)
    torch.testing.assert_close(fd, expected, rtol=1e-9, atol=1e-12)


def test_unrolled_step_restores_network_and_updates_alpha():
    method, net = make("darts", {"order": 2})
    train, valid = batch(1), batch(2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    ptrs = [p.data_ptr() for p in net.parameters()]
    a0 = method.alphas["cell"].detach().clone()
    method.last_train_batch = train
    method.weight_lr = 0.025
    loss = method.arch_step(net, *valid)
    assert math.isfinite(loss)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert ptrs == [p.data_ptr() for p in net.parameters()]  # the very same tensors
    assert not torch.equal(method.alphas["cell"].detach(), a0)
    assert all(p.grad is None for p in net.parameters())


def test_unrolled_step_is_adam_on_hypergradient():
    method, net = make("darts", {"order": 2})
    twin, _ = make("darts", {"order": 2}, net=net)
    train, valid = batch(1), batch(2)
    _, (h,) = unrolled_hypergradient(method, net, train, valid, 0.025)
    unrolled_arch_step(method, net, train, valid, 0.025)
    twin.alphas["cell"].grad = h
    twin.arch_optimizer.step()
    torch.testing.assert_close(method.alphas["cell"], twin.alphas["cell"], rtol=0, atol=1e-7)


# ------------------------------------------------------------------------------ rsps-biased
def test_rsps_biased_probabilities_are_rank_linear(gt):
    method, _ = make("rsps-biased", dataset="cifar100")
    p = method.arch_probs(gt.archs)
    acc = gt.test_acc("cifar100")
    q = stats.rankdata(acc, method="ordinal") - 1  # ascending position, ties in index order
    np.testing.assert_allclose(p, q / (N_ARCHS * (N_ARCHS - 1) / 2), rtol=1e-12, atol=0)
    assert p[np.argmax(acc)] == pytest.approx((N_ARCHS - 1) / (N_ARCHS * (N_ARCHS - 1) / 2))
    assert method.edge_probs() is None
    perm = np.random.default_rng(0).permutation(N_ARCHS)
    np.testing.assert_array_equal(method.arch_probs(gt.archs[perm]), p[perm])
    other, _ = make("rsps-biased", dataset="cifar10")
    assert not np.array_equal(other.arch_probs(gt.archs), p)  # depends on the run's dataset


def test_rsps_biased_draws_follow_rank_linear_law(gt):
    """Chi-square over 25 rank groups of 625 archs; 6,000 draws give >= 9.5 expected per group."""
    method, net = make("rsps-biased", seed=3)
    n_draws, n_groups = 6000, 25
    idx = np.array([method.sample_index() for _ in range(n_draws)])
    acc = gt.test_acc("cifar10")
    group = (stats.rankdata(acc, method="ordinal") - 1) // (N_ARCHS // n_groups)
    observed = np.bincount(group[idx], minlength=n_groups)
    expected_p = np.bincount(group, weights=method.arch_probs(gt.archs), minlength=n_groups)
    assert expected_p.min() * n_draws >= 9.5
    assert stats.chisquare(observed, expected_p * n_draws).pvalue > 1e-3
    # the same draws are far from uniform (so the test has power)
    assert stats.chisquare(observed, np.full(n_groups, n_draws / n_groups)).pvalue < 1e-10
    # forward_train runs the drawn arch as a single path
    gen_copy = torch.Generator().manual_seed(0)
    gen_copy.set_state(method.generator.get_state())
    arch = tuple(int(o) for o in gt.archs[int(torch.multinomial(method._sampler()[1], 1, generator=gen_copy))])
    assert method.sample_arch() == arch


# ------------------------------------------------------------------------------ blank / state
def test_blank_keeps_alpha_fixed():
    method, net = make("blank")
    a0 = method.alphas["cell"].detach().clone()
    x, y = batch(0)
    assert method.arch_step(net, x, y) is None
    nn.functional.cross_entropy(method.forward_train(net, x), y).backward()
    assert method.alphas["cell"].grad is not None  # gets gradients (enter the clip norm) ...
    assert torch.equal(method.alphas["cell"].detach(), a0)  # ... but is never updated
    assert method.arch_optimizer is None
    np.testing.assert_allclose(method.edge_probs()["cell"], torch.softmax(a0.double(), -1).numpy())
    assert abs(a0).max() < 0.01  # random init 1e-3 * N(0, 1): nearly uniform


@pytest.mark.parametrize("name", ["snas", "gdas", "drnas", "rsps", "rsps-biased"])
def test_sampling_resumes_from_state_dict(name, gt):
    m1, net = make(name, epochs=10)
    m1.on_epoch_start(net, 3)
    x = batch(0)[0]
    with torch.no_grad():
        m1.forward_train(net, x)
    state = m1.state_dict()
    m2, _ = make(name, epochs=10, net=net)
    m2.load_state_dict(state)
    m2.on_epoch_start(net, 3)
    net.eval()  # deterministic forward: only the sampled architecture differs between calls
    with torch.no_grad():
        outs1 = [m1.forward_train(net, x) for _ in range(3)]
        outs2 = [m2.forward_train(net, x) for _ in range(3)]
    for a, b in zip(outs1, outs2):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not all(torch.equal(outs1[0], o) for o in outs1[1:])  # successive draws differ
