"""DARTS (Liu et al., 2019): a softmax(alpha) mixture of all ops on every edge.

Weights: SGD on the train batch through the mixture. Architecture: Adam on the validation loss
(protocol §3.1: lr 3e-4, betas (0.5, 0.999), wd 1e-3), first order (``order=1``, the protocol's).
``order=2`` is the unrolled DARTS hypergradient (DARTS paper, Eq. 7-8): grad_alpha L_val(w', alpha)
- xi * (grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)) / (2 eps), with
w' = w - xi grad_w L_train(w, alpha), w+- = w +- eps grad_w' L_val(w', alpha),
eps = 0.01 / ||grad_w' L_val||, and xi = the current weight learning rate.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import ALGORITHMS, MethodConfig, SoftmaxArchMixin, Stage1Method, cross_entropy_arch_step


@dataclass(frozen=True, kw_only=True)
class DartsConfig(MethodConfig):
    order: int = 1  # 1: first order (protocol); 2: unrolled second order (DARTS paper Eq. 7)

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise ValueError(f"DARTS order must be 1 or 2, got {self.order}")


@ALGORITHMS.register("darts")
class Darts(SoftmaxArchMixin, Stage1Method):
    provides = frozenset({"arch_weights"})
    Config = DartsConfig

    def prepare(self, net: nn.Module) -> None:
        self.init_alphas()
        self.init_arch_optimizer()

    def mixture(self) -> dict[str, torch.Tensor]:
        return {k: torch.softmax(a, dim=-1) for k, a in self.alphas.items()}

    def forward_train(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x, self.mixture())

    def arch_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
        if self.config.order == 1 or self.last_train_batch is None:
            return cross_entropy_arch_step(self, net, x, y)
        from .unrolled import unrolled_arch_step

        return unrolled_arch_step(self, net, self.last_train_batch, (x, y), self.weight_lr)
