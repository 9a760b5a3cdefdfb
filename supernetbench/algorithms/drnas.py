"""DrNAS (Chen et al., ICLR 2021): a reparameterised Dirichlet sample of the mixture per forward.

Per edge, ``w ~ Dirichlet(elu(alpha_e) + 1)`` drawn with the pathwise (implicit reparameterisation)
gradient (DrNAS §3.1; the code's ``utils.process_step_vector`` calls ``Dirichlet(...).rsample()``),
one draw per forward call shared by all cells. Architecture step: first-order Adam on the
validation loss of a fresh draw (protocol §3.1). The concentration map ``elu(alpha) + 1 > 0`` is
the code's (DrNAS §3.1: a shifted exponential linear mapping).

Regularisation (DrNAS §3.2 anchor regulariser; protocol §3.2, ``train_search.py``):

* ``reg_type="l2"`` (default, the code's): L2 with coefficient ``reg_scale`` (1e-3), which the code
  applies as Adam's (coupled) weight decay. Adam adds ``reg_scale * alpha`` to the gradient before its
  moment estimates, which is exactly the gradient of ``reg_scale / 2 * ||alpha||^2``; the term is
  written out here (Adam weight decay 0) so that the regulariser is one visible term of the
  architecture loss. As in the code, the inherited ``arch_weight_decay`` is *not* used (protocol §3.1).
* ``reg_type="kl"``: the architecture loss gets ``reg_scale * sum_edges KL(Dir(elu(alpha)+1) || Dir(1))``
  (``TinyNetwork._get_kl_reg``) and Adam weight decay is 0. Upstream NASLib (P000) hard-codes this.

Distribution (config ``distribution``):

* ``"softmax"`` (default): per-edge ``softmax(alpha)``, what the papers' code records as
  ``archprob`` for every method (protocol §4, P4);
* ``"dirichlet-mean"``: per-edge mean of the sampling distribution,
  ``(elu(alpha)+1) / sum(elu(alpha)+1)`` (P4).

Stage-2 mixture (``Stage1Method.mixture_weights``, what ``perturb`` fine-tunes and projects): the
inherited softmax(alpha), as both papers' codes ran ``perturb`` for DrNAS (P4), whatever the
``distribution`` option; the Dirichlet mean would be the override, not taken (it would move the
stored ``perturb`` results of DrNAS).

Reproducibility: PyTorch's Dirichlet sampler takes no generator, so each draw runs on the CPU
inside ``torch.random.fork_rng`` with the global CPU RNG state temporarily set to the method's
generator (``self.generator``, checkpointed) and the advanced state written back: the draws are a
deterministic function of the method's generator and do not touch the global RNG. The sample is
moved to alpha's device; gradients flow back through the ``.cpu()`` copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.distributions import Dirichlet, kl_divergence

from .base import ALGORITHMS, MethodConfig, SoftmaxArchMixin, Stage1Method, cross_entropy_arch_step

REG_TYPES = ("l2", "kl")
DISTRIBUTIONS = ("softmax", "dirichlet-mean")


@dataclass(frozen=True, kw_only=True)
class DrNASConfig(MethodConfig):
    reg_type: str = "l2"  # protocol §3.2 default; "kl" = NASLib / DrNAS paper's KL anchor
    reg_scale: float = 1e-3
    distribution: str = "softmax"  # archprob: softmax(alpha) (papers' code) or "dirichlet-mean" (P4)

    def __post_init__(self) -> None:
        if self.reg_type not in REG_TYPES:
            raise ValueError(f"reg_type must be one of {', '.join(REG_TYPES)}, got {self.reg_type!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {self.distribution!r}")
        if not self.reg_scale >= 0.0:
            raise ValueError(f"reg_scale must be >= 0, got {self.reg_scale}")


def concentration(alpha: torch.Tensor) -> torch.Tensor:
    """Dirichlet concentration ``elu(alpha) + 1`` (> 0)."""
    return nn.functional.elu(alpha) + 1.0


def dirichlet_rsample(conc: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A reparameterised ``Dirichlet(conc)`` draw (per row) using ``generator``'s stream."""
    conc_cpu = conc.cpu()
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(generator.get_state())
        w = Dirichlet(conc_cpu).rsample()
        generator.set_state(torch.get_rng_state())
    return w.to(conc.device)


def dirichlet_kl_to_uniform(alpha: torch.Tensor) -> torch.Tensor:
    """``sum_edges KL(Dir(elu(alpha)+1) || Dir(1))``; 0 exactly when alpha = 0."""
    conc = concentration(alpha)
    return kl_divergence(Dirichlet(conc), Dirichlet(torch.ones_like(conc))).sum()


@ALGORITHMS.register("drnas")
class DrNAS(SoftmaxArchMixin, Stage1Method):
    provides = frozenset({"arch_weights"})
    Config = DrNASConfig

    def prepare(self, net: nn.Module) -> None:
        self.init_alphas()
        self.init_arch_optimizer(weight_decay=0.0)  # the regulariser is arch_regularizer()

    def sample_weights(self) -> dict[str, torch.Tensor]:
        return {k: dirichlet_rsample(concentration(a), self.generator) for k, a in self.alphas.items()}

    def forward_train(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x, self.sample_weights())

    def arch_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
        return cross_entropy_arch_step(self, net, x, y)

    def arch_regularizer(self) -> torch.Tensor:
        """``reg_scale/2 * ||alpha||^2`` (l2, = Adam weight decay ``reg_scale``) or ``reg_scale * KL``."""
        c = self.config
        if c.reg_type == "l2":
            return 0.5 * c.reg_scale * sum((a * a).sum() for a in self.alphas.values())
        return c.reg_scale * sum(dirichlet_kl_to_uniform(a) for a in self.alphas.values())

    def edge_probs(self) -> dict[str, np.ndarray]:
        if self.config.distribution == "softmax":
            return super().edge_probs()
        out = {}
        for k, a in self.alphas.items():
            c = concentration(a.detach().double().cpu())
            out[k] = (c / c.sum(dim=-1, keepdim=True)).numpy()
        return out
