"""FairDARTS (Chu et al., "Fair DARTS: Eliminating Unfair Advantages in Differentiable Architecture
Search", ECCV 2020) as a supernetbench Stage-1 method.

DARTS with two changes (the paper's §3.2-3.3):

* each op's weight is an independent sigmoid, sigma(alpha_o), instead of a softmax over the edge
  (Eq. 3: "collaborative competition", so skip connections no longer crowd out the other ops);
* the architecture loss adds the zero-one loss L_01 = -1/N sum_i (sigma(alpha_i) - 0.5)^2 over all
  N architecture weights, weighted by w_01 = 10 (Eq. 5; the paper's and its code's default), which
  pushes every sigmoid towards 0 or 1.

Everything else is the harness's first-order DARTS (Adam lr 3e-4 on the validation loss, protocol
§3.1). The learned per-edge distribution that the Stage-1 metrics read is the normalised sigmoids
sigma(alpha) / sum sigma(alpha) (FairDARTS defines none; its argmax is the paper's choice of the
strongest op per edge), and ``perturb`` fine-tunes the sigmoid mixture (``mixture_weights``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from supernetbench.api import get_method

Darts = get_method("darts")


@dataclass(frozen=True, kw_only=True)
class FairDartsConfig(Darts.Config):
    zero_one_weight: float = 10.0  # w_01 (Eq. 5)


class FairDarts(Darts):
    """Independent sigmoids per op + the zero-one loss; otherwise first-order DARTS."""

    name = "fairdarts"
    Config = FairDartsConfig

    @classmethod
    def mixture_weights(cls, alpha: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(alpha)

    def mixture(self) -> dict[str, torch.Tensor]:
        return {k: self.mixture_weights(a) for k, a in self.alphas.items()}

    def arch_regularizer(self) -> torch.Tensor:
        """w_01 * L_01, L_01 = -mean((sigma(alpha) - 0.5)^2) over every architecture weight (Eq. 5)."""
        s = torch.cat([torch.sigmoid(a).flatten() for a in self.alphas.values()])
        return -self.config.zero_one_weight * torch.mean((s - 0.5) ** 2)

    def edge_probs(self) -> dict[str, np.ndarray]:
        out = {}
        for k, a in self.alphas.items():
            s = torch.sigmoid(a.detach().double().cpu())
            out[k] = (s / s.sum(dim=-1, keepdim=True)).numpy()
        return out
