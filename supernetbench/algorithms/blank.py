"""Fixed-alpha DARTS (P002 ``blank``; DARTS-PT's "fix alpha", Wang et al., ICLR 2021).

The supernet is trained exactly as DARTS' weight step - a ``softmax(alpha)`` mixture on every edge
(DARTS Eq. 2) - but alpha stays at its random initialisation ``1e-3 * N(0, 1)`` (nearly uniform,
0.2 per op): there is no architecture step (the reference's ``Architect.step`` returns at once for
``blank``, protocol §3.2). As in the reference, alpha still receives gradients from the training
loss, which enter the global-norm gradient clip (protocol §3.1) but never update it.
Distribution: per-edge ``softmax(alpha_init)``.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ALGORITHMS, MethodConfig
from .darts import Darts


@ALGORITHMS.register("blank")
class Blank(Darts):
    Config = MethodConfig
    fixed_alpha = True  # perturb's fine-tuning keeps alpha fixed too (protocol §9, "Perturb w/ fix alpha")

    def prepare(self, net: nn.Module) -> None:
        self.init_alphas()  # no optimiser: alpha is frozen

    def arch_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
        return None
