"""RSPS (Li & Talwalkar, 2019): random search with parameter sharing, uniform single-path training.

Each weight step trains one architecture drawn uniformly: every edge picks an op uniformly, i.e.
uniform over all 5^6 archs (protocol §3.2, ``TinyNetworkRandom(species='uniform')``). No
architecture parameters: the learned distribution is uniform.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import ALGORITHMS, Stage1Method


@ALGORITHMS.register("rsps")
class RSPS(Stage1Method):
    def sample_arch(self) -> tuple[int, ...]:
        """One uniform single path of the space (:meth:`SearchSpace.random_arch`)."""
        return self.space.random_arch(self.generator)

    def forward_train(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x, arch=self.sample_arch())

    def edge_probs(self) -> dict[str, np.ndarray]:
        return {k: np.full(shape, 1.0 / shape[1]) for k, shape in self.space.weight_shapes.items()}
