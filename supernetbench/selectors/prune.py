"""``prune``: the space's discretisation of the learned architecture weights (NB201: the argmax on
every edge, DARTS' rule, protocol §5.6; :meth:`SearchSpace.discretize`) - the Stage-1 method's own choice."""
from __future__ import annotations

import numpy as np

from .base import SELECTORS, Selection, SelectionContext, Selector


@SELECTORS.register("prune")
class Prune(Selector):
    requires = frozenset({"arch_weights"})
    uses = "the learned per-edge architecture weights only (argmax per edge)"

    def select(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection:
        return self.selection_of(ctx, ctx.space.discretize(ctx.run.edge_probs))
