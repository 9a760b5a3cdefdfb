"""The Stage-1 interface: how a supernet-training method trains and what distribution it learns.

A method owns its architecture parameters (if any) and its sampling RNG; the supernet owns the
shared weights; :mod:`supernetbench.oneshot.train` owns the loop (one loop for every method):

    for each step:  method.arch_step(net, valid_batch)      # architecture update, if any
                    logits = method.forward_train(net, x)   # how the weights see the space
                    loss = CE(logits, y); SGD step on the weights

Stage-1 never discretises: selecting an architecture is Stage 2 (:mod:`supernetbench.selectors`).
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from torch import nn

from ..harness.registry import Registry
from ..spaces.base import SearchSpace

#: name -> Stage-1 method class. Add a method: one module + ``@ALGORITHMS.register("name")``.
#: Plugins: entry-point group ``supernetbench.methods`` (see :mod:`supernetbench.api`).
ALGORITHMS: Registry[type["Stage1Method"]] = Registry("Stage-1 method", group="supernetbench.methods")


@dataclass(frozen=True, kw_only=True)
class MethodConfig:
    """Hyper-parameters shared by the gradient-based methods (protocol §3.1, DrNAS fork defaults)."""

    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    alpha_init_std: float = 1e-3


@dataclass(frozen=True)
class RunContext:
    """What a method may know about the run it is part of (never the device choice policy)."""

    dataset: str
    epochs: int
    device: torch.device
    seed: int
    reference: bool = False  # the papers' code behaviours (protocol §11), for matching their numbers
    dtype: torch.dtype = torch.float32  # of the supernet and the architecture parameters
    gt_split: str = "table"  # the profile's ground-truth split choice (the biased sampler reads "stage1")


class Stage1Method(abc.ABC):
    """Base class. Subclasses set ``name`` (via the registry), ``provides`` and a nested ``Config``."""

    name: ClassVar[str]
    #: capabilities: "arch_weights" = learned per-edge architecture weights (prune needs them).
    provides: ClassVar[frozenset[str]] = frozenset()
    #: False for the untrained baseline: the engine then skips all weight updates.
    trains_weights: ClassVar[bool] = True
    #: True when the method has alpha but never updates it (fixed-alpha ``blank``): Stage 2 keeps it
    #: fixed too (DARTS-PT fine-tuning; ``two_stage/architect.py`` returns at once for ``blank``).
    fixed_alpha: ClassVar[bool] = False
    #: search-space capabilities the method needs (``rsps-biased``: a ``table`` to rank archs by);
    #: training it on a space without them is refused with the reason
    space_requires: ClassVar[frozenset[str]] = frozenset()
    Config: ClassVar[type[MethodConfig]] = MethodConfig

    def __init__(self, config: MethodConfig, *, space: SearchSpace, ctx: RunContext):
        if not isinstance(config, self.Config):
            raise TypeError(f"{self.name} expects a {self.Config.__qualname__}, got {type(config).__qualname__}")
        self.config = config
        self.space = space
        self.ctx = ctx
        self.generator = torch.Generator(device="cpu").manual_seed(ctx.seed + 7919)
        self.alphas: dict[str, nn.Parameter] = {}
        self.arch_optimizer: torch.optim.Optimizer | None = None
        #: set by the engine before each step: the current SGD lr and the train batch
        #: (second-order DARTS needs both for its virtual step).
        self.weight_lr: float = 0.025
        self.last_train_batch: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def stage1_profile(cls, profile):
        """The profile this method trains under: the given one, unless a method has its own budget."""
        return profile

    @classmethod
    def make_config(cls, overrides: Mapping[str, Any] | None = None) -> MethodConfig:
        """The method's config with paper defaults, fields replaced from ``overrides``.

        Unknown fields raise a ValueError naming the valid ones (e.g. ``order`` for ``rsps``).
        """
        overrides = dict(overrides or {})
        valid = {f.name for f in dataclasses.fields(cls.Config)}
        bad = sorted(set(overrides) - valid)
        if bad:
            raise ValueError(
                f"option(s) {', '.join(bad)} do not apply to Stage-1 method {cls.name!r}; "
                f"its options are: {', '.join(sorted(valid)) or '(none)'}"
            )
        return cls.Config(**overrides)

    def init_alphas(self) -> None:
        """alpha ~ 1e-3 * N(0, 1), one (edges x ops) matrix per cell type (protocol §1)."""
        g = torch.Generator().manual_seed(self.ctx.seed)
        self.alphas = {
            k: nn.Parameter(
                (self.config.alpha_init_std * torch.randn(shape, generator=g, dtype=self.ctx.dtype)).to(self.ctx.device))
            for k, shape in self.space.weight_shapes.items()
        }

    def init_arch_optimizer(self, weight_decay: float | None = None) -> None:
        """Adam(lr 3e-4, betas (0.5, 0.999), wd 1e-3) over the alphas (protocol §3.1)."""
        c = self.config
        wd = c.arch_weight_decay if weight_decay is None else weight_decay
        self.arch_optimizer = torch.optim.Adam(list(self.alphas.values()), lr=c.arch_lr, betas=c.arch_betas, weight_decay=wd)

    # ------------------------------------------------------------------ the training protocol
    def prepare(self, net: nn.Module) -> None:
        """Create architecture parameters / optimiser. Called once before training or loading."""

    def on_epoch_start(self, net: nn.Module, epoch: int) -> None:
        """Per-epoch schedules (temperature, DARTS- beta). ``epoch`` is 0-based."""

    def epoch_log(self) -> dict[str, Any]:
        """Method-specific values to log per epoch (temperature, beta, ...)."""
        return {}

    def arch_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
        """One architecture update on a validation batch; returns its loss (None: no update)."""
        return None

    @abc.abstractmethod
    def forward_train(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits of the supernet as this method runs it for the weight step."""

    def arch_regularizer(self) -> torch.Tensor | None:
        """Extra term of the architecture loss (e.g. DrNAS KL); it depends on alpha only."""
        return None

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.values())

    @classmethod
    def mixture_weights(cls, alpha: torch.Tensor) -> torch.Tensor:
        """How this method mixes the ops of an edge from its alpha (rows = edges): the weights Stage 2
        runs a supernet mixture with (``perturb``'s fine-tuning and projection). Default: softmax over
        each row, the DARTS mixture (Liu et al., 2019, Eq. 2), which both papers' codes used for every
        method (protocol P4, DrNAS included). A method whose ops are mixed otherwise overrides it
        (e.g. FairDARTS: independent sigmoids, Chu et al., 2020, Eq. 3)."""
        return torch.softmax(alpha, dim=-1)

    # ------------------------------------------------------------------ the learned distribution
    def edge_probs(self) -> dict[str, np.ndarray] | None:
        """Per-edge op probabilities of the learned distribution, or None if not factorised."""
        return None

    def arch_probs(self, archs: np.ndarray) -> np.ndarray:
        """Probability of each row of ``archs`` under the learned candidate law (NB201 index order when
        given ``gt.archs``): the space's law given :meth:`edge_probs`."""
        p = self.edge_probs()
        if p is None:
            raise NotImplementedError(f"{self.name} must override arch_probs")
        return self.space.arch_probs(archs, p)

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {
            "alphas": {k: v.detach().cpu() for k, v in self.alphas.items()},
            "arch_optimizer": self.arch_optimizer.state_dict() if self.arch_optimizer else None,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for k, v in state["alphas"].items():
            self.alphas[k].data.copy_(v.to(self.ctx.device))
        if self.arch_optimizer is not None and state.get("arch_optimizer") is not None:
            self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.generator.set_state(state["generator"])


ALGORITHMS.base = Stage1Method


class SoftmaxArchMixin:
    """Per-edge softmax(alpha): the papers' architecture distribution for all gradient methods (§4)."""

    alphas: dict[str, nn.Parameter]

    def edge_probs(self) -> dict[str, np.ndarray]:
        return {k: torch.softmax(a.detach().double().cpu(), dim=-1).numpy() for k, a in self.alphas.items()}


def cross_entropy_arch_step(method: Stage1Method, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """First-order architecture step: Adam on d L_val / d alpha with the method's own forward.

    Only alpha gets gradients (``torch.autograd.grad``), so the weight step that follows starts clean.
    """
    assert method.arch_optimizer is not None
    loss = nn.functional.cross_entropy(method.forward_train(net, x), y)
    reg = method.arch_regularizer()
    if reg is not None:
        loss = loss + reg
    params = method.arch_parameters()
    grads = torch.autograd.grad(loss, params)
    method.arch_optimizer.zero_grad(set_to_none=True)
    for p, g in zip(params, grads):
        p.grad = g
    method.arch_optimizer.step()
    return float(loss.detach())
