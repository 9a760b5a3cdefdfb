"""``perturb``: DARTS-PT's perturbation-based projection (Wang et al., 2021) as the papers ran it
(protocol §5.5 on NB201, §8 on the DARTS spaces; DARTS-PT ``--edge_decision random --proj_crit acc``;
``projection.py::pt_project``, ``project_op``, ``project_edge``).

On a private copy of the supernet, run as a mixture on every undecided edge - the Stage-1 method's
``mixture_weights(alpha)``: softmax(alpha) for every built-in method, sigmoids for a FairDARTS-style
plugin - an exact one-hot on decided ones and zeros on deleted ones (:class:`Projection`):

1. **Fine-tune** ``epochs`` epochs (profile ``perturb_epochs``; paper 25 = ``proj_intv`` 5 x (6 - 1)
   edges; on a space whose :class:`~supernetbench.spaces.base.ProjectionPlan` has more events,
   ``ProjectionPlan.tune_epochs``: the DARTS spaces 5 x (14 + 3 - 1) + 1 = 81, §8) with SGD at the
   constant lr ``perturb_lr`` (0.0025 = 0.025 / 10; no scheduler: DARTS-PT's DARTS-space
   ``pt_project`` builds a cosine schedule but never steps it, so its lr stays lr / 10 too),
   momentum 0.9, wd 3e-4, global-norm clip 5 over the weights; before each weight step, one Adam
   step on alpha (lr 3e-4, betas (0.5, 0.999), wd 1e-3) on a random validation batch - alpha keeps
   updating, as the papers' ``Architect`` did for every method with random-uniform alpha (``rsps``,
   ``untrained``: P10), except a fixed-alpha method (``blank``, ``Stage1Method.fixed_alpha``), whose
   alpha stays fixed as in both papers' codes (``two_stage/architect.py`` returns at once for
   ``blank``; ``case_study/nasbench201/architect_ig.py``): the "Perturb w/ fix alpha" setting.
   On the DARTS spaces the papers' code tuned at its DARTS Stage-1 settings (lr 0.1 / 10 = 0.01,
   arch lr 6e-4, §8); the harness's DARTS Stage 1 runs at the profile's (lr 0.025, arch lr 3e-4 at
   ``paper``), so the same rules give ``perturb_lr`` (= lr / 10) and arch lr 3e-4 here.
2. **Projection events** (:func:`projection_steps`), the space's ``projection_plan()``. NB201: 6
   events, one per edge; at 25 epochs at the start of epochs 0, 5, 10, 15, 20 and 24. DARTS: 14
   events, each an op step on the normal then the reduction cell, then 3 events of topology steps
   (normal, then reduce); at 81 epochs at the start of epochs 0, 5, .., 80. An **op step** picks an
   undecided edge of its cell type uniformly at random (seeded: the order is a function of the
   selection RNG only), evaluates the supernet with each op of that edge masked in turn (its weight
   set to 0, no renormalisation) in train mode - **batch-statistics BN**, ``torch.no_grad``
   (running statistics of the private copy are updated, as in the papers' pass, P11, but never
   read) - on the first ``valid_images`` validation images (profile ``perturb_valid_images``; None
   = the whole valid half), and keeps the op whose removal gives the LOWEST accuracy (first op on
   ties); the edge is then fixed to that op. A **topology step** picks an undecided node of its
   cell type uniformly at random and, while it has more than 2 in-edges, deletes the one whose
   removal (its row set to 0) gives the HIGHEST accuracy (:meth:`Projection.project_edges`).
   The selected arch is the space's ``discretize`` of the projected weights (DARTS-PT's
   ``genotype()``).

Initial alpha: the run's learned alpha (softmax mixture for every method, as
``TinyNetworkDartsProj`` / ``DartsNetworkProj``); methods without alpha (``rsps``, ``rsps-biased``,
``untrained``) start from uniform weights (the papers' code left them at their 1e-3 N(0, 1) init,
i.e. uniform up to 1e-3). ``untrained`` runs are therefore fine-tuned here, as in the papers (P10):
its perturb result is not "untrained". DARTS-'s auxiliary skip is off (beta = 0), as in ``search2.py``.

Harness rules (not in DARTS-PT): an op that would leave no path from the cell input to its output
whatever the remaining edges become (NB201), or that the space never puts in a discrete arch
(``SearchSpace.discrete_op``: ``none`` in DARTS' S3), is skipped for the next-ranked op, so
``perturb`` never returns a zero-output or invalid arch (``guard`` in the event log; never
triggered in the papers' logs).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..harness.data import Augment, BatchStream, normalize
from ..harness.device import tiny_op_threads
from ..algorithms import ALGORITHMS
from ..spaces.base import ProjectionPlan, ProjectionStep, SearchSpace
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


def projection_steps(epochs: int, steps_per_epoch: int, n_events: int) -> list[int]:
    """The global fine-tuning step before which each of the ``n_events`` projection events happens.

    With ``epochs >= n_events - 1``, DARTS-PT's schedule: interval ``epochs // (n_events - 1)``,
    events at the start of epochs ``k * interval`` (``k < n_events - 1``) and of the last epoch
    (NB201: 25 epochs, 6 events; DARTS: 81 epochs, 17 events at 0, 5, .., 80, ``pt_project``'s
    ``epoch % proj_intv == 0``). Shorter budgets (``smoke``) spread the events evenly over the
    steps; 0 epochs: all at once.

    >>> [s // 10 for s in projection_steps(25, 10, 6)]  # protocol §5.5, in epochs
    [0, 5, 10, 15, 20, 24]
    >>> projection_steps(1, 16, 6)
    [0, 2, 5, 8, 10, 13]
    """
    if epochs >= n_events - 1:
        interval = epochs // (n_events - 1)
        return [k * interval * steps_per_epoch for k in range(n_events - 1)] + [(epochs - 1) * steps_per_epoch]
    total = epochs * steps_per_epoch
    return [k * total // n_events for k in range(n_events)]


@torch.no_grad()
def mixture_accuracy(net: nn.Module, weights: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                     batch_size: int) -> float:
    """Accuracy (%) of the mixture ``weights`` (per cell type) with batch-statistics BN (train mode,
    ``no_grad``).

    Train mode updates the BN running buffers of ``net`` (as the papers' pass did, P11); ``perturb``
    runs on a private copy and never reads them (every forward uses batch statistics)."""
    net.train()
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((net(x[i:i + batch_size], weights).argmax(1) == y[i:i + batch_size]).sum())
    return 100.0 * correct / len(y)


@SELECTORS.register("perturb")
class Perturb(Selector):
    Config = PerturbConfig
    uses = ("supernet weights, arch weights if learned (else uniform), training + validation images; "
            "fine-tunes a copy for perturb_epochs at perturb_lr (the DARTS spaces: 16 x (perturb_epochs // 5) + 1, "
            "protocol §8), projecting ops (and, on a topology space, in-edges)")

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
        plan = space.projection_plan()
        epochs = plan.tune_epochs(c.epochs)
        dev, dtype = torch.device(ctx.device), ctx.dtype
        data = ctx.search_data().to(dev)
        ds = data.dataset
        net = copy.deepcopy(ctx.supernet()).to(dev)
        net.aux_skip_beta = 0.0
        alpha0, alpha_source = _initial_alpha(ctx.run, dict(space.weight_shapes))
        alpha = {k: nn.Parameter(a.to(dev, dtype)) for k, a in alpha0.items()}
        opt = torch.optim.SGD(net.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        arch_opt = torch.optim.Adam(list(alpha.values()), lr=c.arch_lr, betas=c.arch_betas,
                                    weight_decay=c.arch_weight_decay)
        train = BatchStream(data.train_x, data.train_y, c.batch_size, augment=Augment(ds), seed=ctx.seed + 7, dataset=ds)
        arch_batches = BatchStream(data.valid_x, data.valid_y, c.batch_size, augment=Augment(ds), seed=ctx.seed + 8,
                                   dataset=ds)
        px, py = _projection_data(data, c, dtype)
        proj = Projection(space, plan, lambda w: mixture_accuracy(net, w, px, py, c.batch_size), rng)
        update_alpha = c.update_alpha and not _alpha_is_fixed(ctx.run.algo)
        mix = _mixture_weights(ctx.run.algo)
        events: list[dict[str, Any]] = []

        def mixture() -> dict[str, torch.Tensor]:
            return proj.weights({k: mix(a) for k, a in alpha.items()})

        def project(event: int) -> None:
            with torch.no_grad():
                mixed = {k: mix(a) for k, a in alpha.items()}
            events.extend({"step": step, **rec} for rec in proj.project_event(plan.events[event], mixed))

        schedule = projection_steps(epochs, len(train), len(plan.events))
        step = done = 0
        for _ in range(epochs):
            for x, y in train.epoch():
                while done < len(plan.events) and schedule[done] <= step:
                    project(done)
                    done += 1
                net.train()
                if update_alpha:
                    vx, vy = arch_batches.sample_batch()
                    loss = nn.functional.cross_entropy(net(vx.to(dtype), mixture()), vy)
                    params = list(alpha.values())
                    for p, g in zip(params, torch.autograd.grad(loss, params)):
                        p.grad = g
                    arch_opt.step()
                    for p in params:
                        p.grad = None
                opt.zero_grad(set_to_none=True)
                weights = {k: v.detach() for k, v in mixture().items()}
                nn.functional.cross_entropy(net(x.to(dtype), weights), y).backward()
                nn.utils.clip_grad_norm_(net.parameters(), c.grad_clip)
                opt.step()
                step += 1
        while done < len(plan.events):
            project(done)
            done += 1
        return self.selection_of(ctx, proj.arch(), edge_order=[ev["edge"] for ev in events if "edge" in ev],
                                 events=events, initial_alpha=alpha_source, fine_tune_steps=step, epochs=epochs,
                                 lr=c.lr, update_alpha=update_alpha, projection_images=len(py))


class Projection:
    """DARTS-PT's projection state and its two primitives on a space's :class:`ProjectionPlan`
    (``model_search_darts_proj.py``: ``proj_weights``, ``candidate_flags``, ``project_op``,
    ``project_edge``, ``get_projected_weights``; ``projection.py``: ``project_op``, ``project_edge``).

    ``evaluate(weights) -> accuracy`` scores a mixture (:func:`mixture_accuracy`); ``rng`` draws the
    edge of each op step and the node of each edge step (``--edge_decision random``).
    """

    def __init__(self, space: SearchSpace, plan: ProjectionPlan,
                 evaluate: Callable[[Mapping[str, torch.Tensor]], float], rng: np.random.Generator):
        self.space, self.plan, self.evaluate, self.rng = space, plan, evaluate, rng
        self.shapes = dict(space.weight_shapes)
        self.decided: dict[str, dict[int, int]] = {k: {} for k in self.shapes}  # edge -> fixed op
        self.removed: dict[str, set[int]] = {k: set() for k in self.shapes}  # in-edges deleted by topology
        self.nodes_done: dict[str, set[int]] = {k: set() for k in self.shapes}

    def weights(self, mixed: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The projected mixture (``get_projected_weights``): ``mixed`` on undecided edges, an exact
        one-hot on decided ones, zeros on deleted ones (gradients reach undecided rows only)."""
        out = {}
        for k, m in mixed.items():
            n_edges, n_ops = self.shapes[k]
            fixed = torch.zeros(n_edges, 1, dtype=m.dtype, device=m.device)
            onehot = torch.zeros(n_edges, n_ops, dtype=m.dtype, device=m.device)
            for e, o in self.decided[k].items():
                fixed[e], onehot[e, o] = 1.0, 1.0
            for e in self.removed[k]:
                fixed[e], onehot[e] = 1.0, 0.0
            out[k] = m * (1.0 - fixed) + onehot  # decided rows: exact one-hot
        return out

    def project_event(self, event: Sequence[ProjectionStep], mixed: Mapping[str, torch.Tensor]) -> list[dict[str, Any]]:
        """Do the steps of one event in order on the mixture ``mixed`` (per cell type, no grad);
        each step sees the projections of the steps before it (DARTS-PT projects the normal cell,
        then the reduction cell). Returns one record per step."""
        out = []
        for kind, cell_type in event:
            w = self.weights(mixed)
            out.append(self.project_op(cell_type, w) if kind == "op" else self.project_edges(cell_type, w))
        return out

    def _label(self, cell_type: str, edge: int) -> str:
        to, frm = self.space.edges(cell_type)[edge]
        return f"{to}<-{frm}" if len(self.shapes) == 1 else f"{cell_type}:{to}<-{frm}"

    def project_op(self, cell_type: str, w: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """Fix one undecided edge of ``cell_type`` (drawn uniformly) to the op whose masking (its
        weight set to 0 in ``w``, no renormalisation) gives the LOWEST accuracy, first op on ties
        (``project_op``, ``proj_crit acc``); an op the space forbids in a discrete arch or that would
        leave the cell without a path is skipped for the next-ranked one (harness rule, ``guard``)."""
        decided = self.decided[cell_type]
        n_edges, n_ops = self.shapes[cell_type]
        e = int(self.rng.choice(sorted(set(range(n_edges)) - set(decided))))
        accs = []
        for o in range(n_ops):
            wm = dict(w)
            wm[cell_type] = w[cell_type].clone()
            wm[cell_type][e, o] = 0.0
            accs.append(self.evaluate(wm))
        ranked = [int(o) for o in np.argsort(accs, kind="stable")]  # lowest accuracy without it first
        op = next((o for o in ranked if self.space.discrete_op(cell_type, e, o)
                   and _connectable(self.space, cell_type, {**decided, e: o}, self.shapes)), ranked[0])
        decided[e] = op
        names = self.space.op_names(cell_type, e)
        rec = {"cell_type": cell_type} if len(self.shapes) > 1 else {}
        return {**rec, "edge": self._label(cell_type, e), "edge_index": e, "op": names[op],
                "accuracy_without_op": dict(zip(names, accs)), "guard": op != ranked[0]}

    def project_edges(self, cell_type: str, w: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """Keep ``plan.keep`` in-edges of one undecided node of ``cell_type`` (drawn uniformly):
        while more are left, delete the edge whose removal (its row of ``w`` set to 0) gives the
        HIGHEST accuracy, the later edge on ties (``project_edge``, ``proj_crit acc``).

        As in DARTS-PT, every round evaluates on ``w``, the weights before this node's projection
        (the deletions take effect when the node is done): with the fixed projection images a
        re-evaluation returns the same number, so each in-edge is evaluated once."""
        nodes = self.plan.nodes[cell_type]
        node = int(self.rng.choice(sorted(set(nodes) - self.nodes_done[cell_type])))
        kept = list(nodes[node])
        accs: dict[int, float] = {}
        deleted = []
        while len(kept) > self.plan.keep:
            worst, extremum = None, None
            for e in kept:
                if e not in accs:
                    wm = dict(w)
                    wm[cell_type] = w[cell_type].clone()
                    wm[cell_type][e] = 0.0
                    accs[e] = self.evaluate(wm)
                if extremum is None or not accs[e] < extremum:  # the removal that hurts least
                    worst, extremum = e, accs[e]
            kept.remove(worst)
            deleted.append(worst)
        self.removed[cell_type].update(deleted)
        self.nodes_done[cell_type].add(node)
        rec = {"cell_type": cell_type} if len(self.shapes) > 1 else {}
        return {**rec, "node": node, "kept_edges": [self._label(cell_type, e) for e in kept],
                "deleted_edges": [self._label(cell_type, e) for e in deleted],
                "accuracy_without_edge": {self._label(cell_type, e): a for e, a in accs.items()}}

    def arch(self) -> tuple[int, ...]:
        """The selected arch: the space's discretisation of the projected weights (DARTS-PT's
        ``genotype()``; every edge decided: its one-hot, or zeros when deleted)."""
        w = {}
        for k, (n_edges, n_ops) in self.shapes.items():
            m = np.zeros((n_edges, n_ops))
            for e, o in self.decided[k].items():
                if e not in self.removed[k]:
                    m[e, o] = 1.0
            w[k] = m
        return self.space.discretize(w)


def _alpha_is_fixed(algo: str) -> bool:
    """Whether the Stage-1 method keeps alpha fixed (then fine-tuning does too)."""
    return algo in ALGORITHMS and ALGORITHMS.get(algo).fixed_alpha


def _mixture_weights(algo: str):
    """The Stage-1 method's mixing of alpha (``Stage1Method.mixture_weights``; softmax for every
    built-in method, DrNAS included, as both papers' codes ran ``perturb``: protocol P4)."""
    return ALGORITHMS.get(algo).mixture_weights if algo in ALGORITHMS else (lambda a: torch.softmax(a, dim=-1))


def _initial_alpha(run, shapes: Mapping[str, tuple[int, int]]) -> tuple[dict[str, torch.Tensor], str]:
    """The run's learned alpha of every cell type, or zeros (uniform weights) for methods without one."""
    alphas = json.loads((Path(run.path) / "arch.json").read_text()).get("alphas") or {}
    if all(k in alphas for k in shapes):
        return ({k: torch.tensor(alphas[k], dtype=torch.float64) for k in shapes},
                "learned alpha of the run")
    return {k: torch.zeros(shape, dtype=torch.float64) for k, shape in shapes.items()}, \
        "uniform (the method learns no alpha)"


def _projection_data(data, c: PerturbConfig, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    n_valid = len(data.valid_y)
    n = n_valid if c.valid_images is None else c.valid_images
    if n > n_valid:
        raise ValueError(f"perturb_valid_images={n} exceeds the {n_valid} validation images of the run's split")
    x = data.valid_x[:n]
    x = Augment(data.dataset)(x, torch.Generator().manual_seed(0)) if c.augment_valid else normalize(x, data.dataset)
    return x.to(dtype), data.valid_y[:n]


def _connectable(space: SearchSpace, cell_type: str, decided: dict[int, int],
                 shapes: Mapping[str, tuple[int, int]]) -> bool:
    """Whether some choice of the undecided edges gives a cell whose output depends on its input
    (a space with ``functional_classes`` and one cell type, i.e. one op per edge: NB201)."""
    if not space.has("functional_classes"):  # the space has no zero-output archs to avoid
        return True
    best_case = tuple(decided.get(e, space.SKIP) for e in range(shapes[cell_type][0]))
    return not space.is_zero_output(best_case)
