"""Search spaces: the :class:`~.base.SearchSpace` interface, the ``SPACES`` registry and the ground-truth
protocols. Built-in spaces register on first lookup (:data:`~.base.BUILTIN_SPACES`): ``nb201``, and the
DARTS cell spaces ``darts``, ``darts-s1`` .. ``darts-s4`` (:mod:`.darts.space`)."""
from .base import (
    CAPABILITIES, SPACES, Arch, ArchStringError, MissingCapability, ProjectionPlan, SearchSpace, TabularBenchmark,
    TrainedOracle, get_space, missing_capability, require, space_names,
)

__all__ = ["CAPABILITIES", "SPACES", "Arch", "ArchStringError", "MissingCapability", "ProjectionPlan", "SearchSpace",
           "TabularBenchmark", "TrainedOracle", "get_space", "missing_capability", "require", "space_names"]
