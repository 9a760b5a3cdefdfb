"""SNAS (Xie et al., ICLR 2019): a Gumbel-softmax relaxed sample of the architecture per forward.

Per edge, ``w = softmax((alpha_e + g) / tau)`` with ``g`` i.i.d. Gumbel(0, 1) - SNAS's relaxation
``Z = softmax((log p + G) / lambda)`` (SNAS §2.2) with ``p = softmax(alpha)``, which is the same
thing because the ``logsumexp`` shift cancels; the papers' code calls
``F.gumbel_softmax(alpha, tau, hard=False)`` on the raw alpha (protocol §3.2). One draw per
forward call, shared by all cells (one alpha matrix for the whole network). Architecture step:
first-order Adam on the validation loss of a fresh draw, as DARTS (protocol §3.1).

Temperature (protocol §3.2, the papers' DrNAS-fork code, not the SNAS paper's own annealing):
linear from ``tau_max = 10`` to ``tau_min = 0.1``; during 0-based epoch ``e`` of ``E``,
``tau = tau_max - (tau_max - tau_min) / E * e`` (10 -> 0.199 for E = 100; the last decrement to
0.1 happens after training). ``tau`` is a function of the epoch, so resuming restores it.

Noise: ``g = -log(Exp(1))`` drawn on the CPU from the method's own checkpointed generator
(``self.generator``), then moved to alpha's device, so runs are reproducible across devices and
resumable bit-identically. (The code uses the global CUDA RNG; same distribution.) A draw with a
non-finite value (an ``Exp(1)`` sample of exactly 0) is redrawn, as GDAS's code does.

Distribution (``archprob``): per-edge ``softmax(alpha)`` - the exact distribution of the argmax of
the Gumbel-perturbed logits (protocol §4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .base import ALGORITHMS, MethodConfig, RunContext, SoftmaxArchMixin, Stage1Method, cross_entropy_arch_step
from ..spaces.base import SearchSpace


@dataclass(frozen=True, kw_only=True)
class GumbelConfig(MethodConfig):
    tau_max: float = 10.0  # protocol §3.2 (TinyNetwork tau init)
    tau_min: float = 0.1  # protocol §3.2 (the fork's tau_min; DrNAS upstream uses 1)

    def __post_init__(self) -> None:
        if not 0.0 < self.tau_min <= self.tau_max:
            raise ValueError(f"need 0 < tau_min <= tau_max, got tau_min={self.tau_min}, tau_max={self.tau_max}")


def tau_at(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """Temperature during 0-based ``epoch``: ``tau_max - (tau_max - tau_min) / epochs * epoch``."""
    return tau_max - (tau_max - tau_min) / max(1, int(epochs)) * epoch


def gumbel_noise(shape: torch.Size | tuple[int, ...], generator: torch.Generator,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Finite i.i.d. Gumbel(0, 1) samples (CPU, ``dtype``) from ``generator``."""
    while True:
        g = -torch.empty(shape, dtype=dtype).exponential_(generator=generator).log()
        if bool(torch.isfinite(g).all()):
            return g


@ALGORITHMS.register("snas")
class SNAS(SoftmaxArchMixin, Stage1Method):
    provides = frozenset({"arch_weights"})
    Config = GumbelConfig

    def __init__(self, config: MethodConfig, *, space: SearchSpace, ctx: RunContext):
        super().__init__(config, space=space, ctx=ctx)
        self.tau = tau_at(0, ctx.epochs, config.tau_max, config.tau_min)

    def prepare(self, net: nn.Module) -> None:
        self.init_alphas()
        self.init_arch_optimizer()

    def on_epoch_start(self, net: nn.Module, epoch: int) -> None:
        self.tau = tau_at(epoch, self.ctx.epochs, self.config.tau_max, self.config.tau_min)

    def epoch_log(self) -> dict[str, Any]:
        return {"tau": self.tau}

    def noise(self, alpha: torch.Tensor) -> torch.Tensor:
        return gumbel_noise(alpha.shape, self.generator, alpha.dtype).to(alpha.device)

    def sample_weights(self) -> dict[str, torch.Tensor]:
        """One relaxed draw per cell type: ``softmax((alpha + g) / tau)`` per edge."""
        return {k: torch.softmax((a + self.noise(a)) / self.tau, dim=-1) for k, a in self.alphas.items()}

    def forward_train(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x, self.sample_weights())

    def arch_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
        return cross_entropy_arch_step(self, net, x, y)
