"""``perturb``: DARTS-PT's perturbation-based projection (Wang et al., 2021) as the papers ran it
(protocol §5.5; DARTS-PT ``--edge_decision random --proj_crit acc``).

On a private copy of the supernet, run as a mixture on every undecided edge - the Stage-1 method's
``mixture_weights(alpha)``: softmax(alpha) for every built-in method, sigmoids for a FairDARTS-style
plugin - and an exact one-hot on decided ones:

1. **Fine-tune** ``epochs`` epochs (profile ``perturb_epochs``; paper 25 = ``proj_intv`` 5 x (6 - 1)
   edges) with SGD at the constant lr ``perturb_lr`` (0.0025 = 0.025 / 10, no scheduler), momentum
   0.9, wd 3e-4, global-norm clip 5 over the weights; before each weight step, one Adam step on
   alpha (lr 3e-4, betas (0.5, 0.999), wd 1e-3) on a random validation batch - alpha keeps
   updating, as the papers' ``Architect`` did for every method with random-uniform alpha (``rsps``,
   ``untrained``: P10), except a fixed-alpha method (``blank``, ``Stage1Method.fixed_alpha``), whose
   alpha stays fixed as in both papers' codes (``two_stage/architect.py`` returns at once for
   ``blank``; ``case_study/nasbench201/architect_ig.py``): the "Perturb w/ fix alpha" setting.
2. **Projection events** (:func:`projection_steps`): 6 events, one per edge; at 25 epochs they
   come at the start of epochs 0, 5, 10, 15, 20 and 24. Each event picks an undecided edge
   uniformly at random (seeded: the order is a function of the selection RNG only), evaluates the
   supernet with each op of that edge masked in turn (its weight set to 0, no renormalisation) in
   train mode - **batch-statistics BN**, ``torch.no_grad`` (running statistics of the private copy
   are updated, as in the papers' pass, P11, but never read) - on the first
   ``valid_images`` validation images (profile ``perturb_valid_images``; None = the whole valid
   half), and keeps the op whose removal gives the LOWEST accuracy (first op on ties); the edge is
   then fixed to that op.

Initial alpha: the run's learned alpha (softmax mixture for every method, as
``TinyNetworkDartsProj``); methods without alpha (``rsps``, ``rsps-biased``, ``untrained``) start
from uniform weights (the papers' code left them at their 1e-3 N(0, 1) init, i.e. uniform up to
1e-3). ``untrained`` runs are therefore fine-tuned here, as in the papers (P10): its perturb result
is not "untrained". DARTS-'s auxiliary skip is off (beta = 0), as in ``search2.py``.

Harness rule (not in DARTS-PT): an op that would leave no path from the cell input to its output
whatever the remaining edges become is skipped for the next-ranked op, so ``perturb`` never returns
a zero-output arch (``guard`` in the event log; never triggered in the papers' logs).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..harness.data import Augment, BatchStream, normalize
from ..harness.device import tiny_op_threads
from ..algorithms import ALGORITHMS
from .base import SELECTORS, Selection, SelectionContext, Selector, SelectorConfig


@dataclass(frozen=True, kw_only=True)
class PerturbConfig(SelectorConfig):
    epochs: int = 25
    lr: float = 0.0025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    batch_size: int = 64
    valid_images: int | None = None  # per projection evaluation; None = the whole valid half
    augment_valid: bool = False  # projection images with the training augmentation (reference, P6)
    update_alpha: bool = True
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3


def projection_steps(epochs: int, steps_per_epoch: int, n_edges: int) -> list[int]:
    """The global fine-tuning step before which each of the ``n_edges`` projection events happens.

    With ``epochs >= n_edges - 1``, DARTS-PT's schedule: interval ``epochs // (n_edges - 1)``,
    events at the start of epochs ``k * interval`` (``k < n_edges - 1``) and of the last epoch.
    Shorter budgets (``smoke``) spread the events evenly over the steps; 0 epochs: all at once.

    >>> [s // 10 for s in projection_steps(25, 10, 6)]  # protocol §5.5, in epochs
    [0, 5, 10, 15, 20, 24]
    >>> projection_steps(1, 16, 6)
    [0, 2, 5, 8, 10, 13]
    """
    if epochs >= n_edges - 1:
        interval = epochs // (n_edges - 1)
        return [k * interval * steps_per_epoch for k in range(n_edges - 1)] + [(epochs - 1) * steps_per_epoch]
    total = epochs * steps_per_epoch
    return [k * total // n_edges for k in range(n_edges)]


@torch.no_grad()
def mixture_accuracy(net: nn.Module, weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Accuracy (%) of the mixture ``weights`` with batch-statistics BN (train mode, ``no_grad``).

    Train mode updates the BN running buffers of ``net`` (as the papers' pass did, P11); ``perturb``
    runs on a private copy and never reads them (every forward uses batch statistics)."""
    net.train()
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((net(x[i:i + batch_size], {"cell": weights}).argmax(1) == y[i:i + batch_size]).sum())
    return 100.0 * correct / len(y)


@SELECTORS.register("perturb")
class Perturb(Selector):
    Config = PerturbConfig
    uses = ("supernet weights, arch weights if learned (else uniform), training + validation images; "
            "fine-tunes a copy for perturb_epochs at perturb_lr")

    @classmethod
    def space_problem(cls, space) -> str | None:
        """Op projection on ONE arch-weight matrix named ``cell`` (NB201); DARTS-PT's topology
        projection for multi-cell spaces is not implemented here."""
        if tuple(space.cell_types) != ("cell",):
            return (f"selector 'perturb' projects one arch-weight matrix 'cell'; space {space.name!r} has "
                    f"{', '.join(space.cell_types)}")
        return super().space_problem(space)

    @classmethod
    def config_from_profile(cls, profile) -> PerturbConfig:
        return PerturbConfig(epochs=profile.perturb_epochs, lr=profile.perturb_lr, momentum=profile.momentum,
                             weight_decay=profile.weight_decay, grad_clip=profile.grad_clip,
                             batch_size=profile.batch_size, valid_images=profile.perturb_valid_images,
                             augment_valid=profile.score_augment)

    def select(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection:
        with tiny_op_threads(ctx.device):  # small mixture steps: 2 contended threads were ~8x slower (measured)
            return self._select(ctx, rng)

    def _select(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection:
        c, space = self.config, ctx.space
        n_edges, n_ops = space.weight_shapes["cell"]
        dev, dtype = torch.device(ctx.device), ctx.dtype
        data = ctx.search_data().to(dev)
        ds = data.dataset
        net = copy.deepcopy(ctx.supernet()).to(dev)
        net.aux_skip_beta = 0.0
        alpha0, alpha_source = _initial_alpha(ctx.run, n_edges, n_ops)
        alpha = nn.Parameter(alpha0.to(dev, dtype))
        opt = torch.optim.SGD(net.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        arch_opt = torch.optim.Adam([alpha], lr=c.arch_lr, betas=c.arch_betas, weight_decay=c.arch_weight_decay)
        train = BatchStream(data.train_x, data.train_y, c.batch_size, augment=Augment(ds), seed=ctx.seed + 7, dataset=ds)
        arch_batches = BatchStream(data.valid_x, data.valid_y, c.batch_size, augment=Augment(ds), seed=ctx.seed + 8,
                                   dataset=ds)
        px, py = _projection_data(data, c, dtype)
        decided: dict[int, int] = {}
        events: list[dict[str, Any]] = []
        update_alpha = c.update_alpha and not _alpha_is_fixed(ctx.run.algo)
        mix = _mixture_weights(ctx.run.algo)

        def mixture() -> torch.Tensor:
            fixed = torch.zeros(n_edges, 1, dtype=dtype, device=dev)
            onehot = torch.zeros(n_edges, n_ops, dtype=dtype, device=dev)
            for e, o in decided.items():
                fixed[e], onehot[e, o] = 1.0, 1.0
            return mix(alpha) * (1.0 - fixed) + onehot  # decided rows: exact one-hot

        def project() -> None:
            e = int(rng.choice(sorted(set(range(n_edges)) - set(decided))))
            w = mixture().detach()
            accs = []
            for o in range(n_ops):
                wm = w.clone()
                wm[e, o] = 0.0
                accs.append(mixture_accuracy(net, wm, px, py, c.batch_size))
            ranked = [int(o) for o in np.argsort(accs, kind="stable")]  # lowest accuracy without it first
            op = next((o for o in ranked if _connectable(space, {**decided, e: o}, n_edges)), ranked[0])
            decided[e] = op
            to, frm = space.edges("cell")[e]
            events.append({"step": step, "edge": f"{to}<-{frm}", "edge_index": e, "op": space.ops[op],
                           "accuracy_without_op": dict(zip(space.ops, accs)), "guard": op != ranked[0]})

        schedule = projection_steps(c.epochs, len(train), n_edges)
        step = 0
        for _ in range(c.epochs):
            for x, y in train.epoch():
                while len(events) < n_edges and schedule[len(events)] <= step:
                    project()
                net.train()
                if update_alpha:
                    vx, vy = arch_batches.sample_batch()
                    loss = nn.functional.cross_entropy(net(vx.to(dtype), {"cell": mixture()}), vy)
                    (alpha.grad,) = torch.autograd.grad(loss, [alpha])
                    arch_opt.step()
                    alpha.grad = None
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(net(x.to(dtype), {"cell": mixture().detach()}), y).backward()
                nn.utils.clip_grad_norm_(net.parameters(), c.grad_clip)
                opt.step()
                step += 1
        while len(events) < n_edges:
            project()
        arch = tuple(decided[e] for e in range(n_edges))
        return self.selection_of(ctx, arch, edge_order=[ev["edge"] for ev in events], events=events,
                              initial_alpha=alpha_source, fine_tune_steps=step, epochs=c.epochs, lr=c.lr,
                              update_alpha=update_alpha, projection_images=len(py))


def _alpha_is_fixed(algo: str) -> bool:
    """Whether the Stage-1 method keeps alpha fixed (then fine-tuning does too)."""
    return algo in ALGORITHMS and ALGORITHMS.get(algo).fixed_alpha


def _mixture_weights(algo: str):
    """The Stage-1 method's mixing of alpha (``Stage1Method.mixture_weights``; softmax for every
    built-in method, DrNAS included, as both papers' codes ran ``perturb``: protocol P4)."""
    return ALGORITHMS.get(algo).mixture_weights if algo in ALGORITHMS else (lambda a: torch.softmax(a, dim=-1))


def _initial_alpha(run, n_edges: int, n_ops: int) -> tuple[torch.Tensor, str]:
    """The run's learned cell alpha, or zeros (uniform weights) for methods without one."""
    alphas = json.loads((Path(run.path) / "arch.json").read_text()).get("alphas") or {}
    if "cell" in alphas:
        return torch.tensor(alphas["cell"], dtype=torch.float64), "learned alpha of the run"
    return torch.zeros(n_edges, n_ops, dtype=torch.float64), "uniform (the method learns no alpha)"


def _projection_data(data, c: PerturbConfig, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    n_valid = len(data.valid_y)
    n = n_valid if c.valid_images is None else c.valid_images
    if n > n_valid:
        raise ValueError(f"perturb_valid_images={n} exceeds the {n_valid} validation images of the run's split")
    x = data.valid_x[:n]
    x = Augment(data.dataset)(x, torch.Generator().manual_seed(0)) if c.augment_valid else normalize(x, data.dataset)
    return x.to(dtype), data.valid_y[:n]


def _connectable(space, decided: dict[int, int], n_edges: int) -> bool:
    """Whether some choice of the undecided edges gives a cell whose output depends on its input."""
    if not space.has("functional_classes"):  # the space has no zero-output archs to avoid
        return True
    best_case = tuple(decided.get(e, space.SKIP) for e in range(n_edges))
    return not space.is_zero_output(best_case)
