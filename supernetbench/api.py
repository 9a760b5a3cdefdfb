"""The public, stable API for plugin authors: import from here only (everything else in
supernetbench is internal and may change).

A Stage-1 method subclasses :class:`Stage1Method` (or a built-in one, ``get_method("darts")``), a
Stage-2 selector :class:`Selector` or :class:`SamplingSelector`, a search space
:class:`SearchSpace`; each is registered by an entry point of its package::

    [project.entry-points."supernetbench.methods"]
    fairdarts = "mypkg.fairdarts:FairDarts"
    [project.entry-points."supernetbench.selectors"]
    grad_norm = "mypkg.grad_norm:GradNorm"

(or loaded without installing, ``supernetbench --plugin mypkg.fairdarts:FairDarts ...``). The
entry-point name is the registry name. ``supernetbench gate --algo fairdarts --references DIR``
then runs its smoke suite cases against stored float64 references (README, "Evaluate and gate your
own method").
"""
from __future__ import annotations

from . import algorithms as _algorithms  # noqa: F401  (built-in registration)
from . import selectors as _selectors  # noqa: F401
from .algorithms.base import (ALGORITHMS, MethodConfig, RunContext, SoftmaxArchMixin, Stage1Method,
                              cross_entropy_arch_step)
from .harness.proxies import fixed_batch
from .harness.registry import PluginError, PluginInfo
from .spaces.nb201.space import NB201Space
from .spaces.base import SPACES, SearchSpace, space_names
from .selectors.base import (SELECTORS, IncompatiblePair, SamplingConfig, SamplingSelector, Selection,
                             SelectionContext, Selector, SelectorConfig, pick_best)

__all__ = [
    "Stage1Method", "MethodConfig", "RunContext", "SoftmaxArchMixin", "cross_entropy_arch_step",
    "Selector", "SelectorConfig", "SamplingSelector", "SamplingConfig", "SelectionContext", "Selection",
    "IncompatiblePair", "pick_best", "fixed_batch",
    "SearchSpace", "NB201Space",
    "PluginError", "PluginInfo",
    "get_method", "get_selector", "get_space", "list_methods", "list_selectors", "list_spaces",
]


def get_method(name: str) -> type[Stage1Method]:
    """The registered Stage-1 method class ``name`` (built-in or plugin)."""
    return ALGORITHMS.get(name)


def get_selector(name: str) -> type[Selector]:
    """The registered Stage-2 selector class ``name`` (built-in or plugin)."""
    return SELECTORS.get(name)


def get_space(name: str) -> type[SearchSpace]:
    """The registered search-space class ``name`` (built-in or plugin)."""
    space_names()  # the built-in spaces register on first lookup
    return SPACES.get(name)


def list_methods() -> list[str]:
    return ALGORITHMS.names()


def list_selectors() -> list[str]:
    return SELECTORS.names()


def list_spaces() -> list[str]:
    return space_names()
