"""Fixed-alpha DARTS- (``blank-``; the second paper's case study, protocol §9, Table 1 "Perturb w/ fix alpha").

DARTS- (:class:`~.darts_minus.DartsMinus`: every edge computes ``beta * x + sum_o softmax(alpha)_o op_o(x)``,
DARTS- Fig. 1(b)) with alpha frozen at its random initialisation ``1e-3 * N(0, 1)``, as ``blank`` is
DARTS with alpha frozen: no architecture optimiser, no architecture step (the case-study code's
``Architect.step`` returns at once for a fixed-alpha run). The auxiliary skip and its beta schedule are
DARTS-'s (``beta_schedule``, default ``auto``: the case-study decay on NB201 - beta = 1 for the first
half, then ``(E - epoch - 1) / (E / 2)`` -, the DARTS-space code's linear decay on the DARTS spaces), so
that ``blank-`` differs from ``darts-`` exactly by the trained alpha, as ``blank`` from ``darts``.
Stage 2's ``perturb`` keeps alpha fixed during its fine-tuning (``fixed_alpha``) and runs with beta = 0.
Distribution: per-edge ``softmax(alpha_init)``.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ALGORITHMS
from .darts_minus import DartsMinus


@ALGORITHMS.register("blank-")
class BlankMinus(DartsMinus):
    fixed_alpha = True

    def prepare(self, net: nn.Module) -> None:
        self.init_alphas()  # no optimiser: alpha is frozen

    def arch_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
        return None
