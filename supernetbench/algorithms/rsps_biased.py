"""RSPS with the idealised biased sampler ("rsps+", P002 §4.2): rank-linear single-path training.

Every weight step trains one architecture drawn from all 15,625 NB201 archs with probability
proportional to its ascending rank in the NB201 benchmark test accuracy of the run's dataset
(protocol §3.2, ``build_sampler``): the arch at ascending position ``q`` (0 = worst) gets
``P = q / (N(N-1)/2)``, via :func:`supernetbench.harness.metrics.rank_linear_probs`. This is an
oracle baseline: it reads the ground truth. No architecture parameters; the learned distribution
*is* the sampler (``arch_probs``), which is not factorised over edges (``edge_probs`` is None).

Deviations from the papers' code (documented): ties are broken by a stable sort (lower NB201 index
gets the lower weight; the code's ``np.argsort`` quicksort order is numpy-version dependent, P16);
the accuracies are our table's 200-epoch mean test accuracies (the code queries NB201 v1.0
``ori-test``, P8); draws come from ``torch.multinomial`` on the method's checkpointed generator
(the code uses python ``random.choices``), so individual draws differ but the law is the same.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import ALGORITHMS, Stage1Method
from ..harness.metrics import rank_linear_probs


@ALGORITHMS.register("rsps-biased")
class RSPSBiased(Stage1Method):
    space_requires = frozenset({"table"})
    _table: tuple[np.ndarray, torch.Tensor, dict[tuple[int, ...], int]] | None = None

    @classmethod
    def stage1_profile(cls, profile):
        """The papers' idealised baseline R_I was trained for 250 epochs (protocol §3.1, ``log.txt``
        args): profile field ``rsps_biased_epochs`` (None = the profile's ``epochs``; ``reference``: 250)."""
        n = profile.rsps_biased_epochs
        return profile if n is None else profile.replace(epochs=n)

    def _sampler(self) -> tuple[np.ndarray, torch.Tensor, dict[tuple[int, ...], int]]:
        """(archs in table order, their probabilities as a tensor, table row of each arch)."""
        if self._table is None:
            gt = self.space.benchmark(self.ctx.dataset)  # the space's TabularBenchmark (NB201 table)
            probs = rank_linear_probs(gt.accuracy(self.ctx.dataset, self.ctx.gt_split, "stage1"))  # P8: ori-test
            row = {tuple(int(o) for o in a): i for i, a in enumerate(np.asarray(gt.archs))}
            self._table = (np.asarray(gt.archs), torch.from_numpy(probs.copy()), row)
        return self._table

    def prepare(self, net: nn.Module) -> None:
        self._sampler()  # fail early if the ground-truth table is missing

    def sample_index(self) -> int:
        """NB201 index of one draw."""
        _, probs, _ = self._sampler()
        return int(torch.multinomial(probs, 1, generator=self.generator))

    def sample_arch(self) -> tuple[int, ...]:
        archs, _, _ = self._sampler()
        return tuple(int(o) for o in archs[self.sample_index()])

    def forward_train(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x, arch=self.sample_arch())

    def edge_probs(self) -> None:
        return None

    def arch_probs(self, archs: np.ndarray) -> np.ndarray:
        _, probs, row = self._sampler()
        p = probs.numpy()
        return np.array([p[row[tuple(int(o) for o in a)]] for a in np.asarray(archs)], dtype=np.float64)
