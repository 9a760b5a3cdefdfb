"""Stage-2 architecture selectors, registered by name in :data:`SELECTORS`."""
from .base import (DISTRIBUTIONS, SELECTORS, IncompatiblePair, Selection, SelectionContext, Selector,
                   pick_best)
from . import prune, valid, synflow, jacob_cov, perturb  # noqa: F401  (registration side effect)

__all__ = ["DISTRIBUTIONS", "SELECTORS", "IncompatiblePair", "Selection", "SelectionContext", "Selector",
           "pick_best"]
