"""Stage-2 architecture selectors, registered by name in :data:`SELECTORS`."""
from .base import SELECTORS, IncompatiblePair, Selection, SelectionContext, Selector
from . import prune, valid  # noqa: F401  (registration side effect)

__all__ = ["SELECTORS", "IncompatiblePair", "Selection", "SelectionContext", "Selector"]
