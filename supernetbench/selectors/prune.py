"""``prune``: the argmax of the learned architecture weights on every edge (DARTS' discretisation,
protocol §5.6) - the Stage-1 method's own choice."""
from __future__ import annotations

import numpy as np

from .base import SELECTORS, Selection, SelectionContext, Selector


@SELECTORS.register("prune")
class Prune(Selector):
    requires = frozenset({"arch_weights"})
    uses = "the learned per-edge architecture weights only (argmax per edge)"

    def select(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection:
        arch = ctx.space.argmax_arch(ctx.run.edge_probs)
        return self.selection(ctx, ctx.gt.index_of(arch))
