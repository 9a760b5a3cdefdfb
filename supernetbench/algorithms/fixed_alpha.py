"""The fixed-alpha control of a Stage-1 method that learns alpha (the case study's third column, protocol §9).

The second paper's Table 1 compares DARTS-PT's ``perturb`` on a supernet trained by a method with
``perturb`` on the same supernet trained with alpha frozen at its initialisation ("Perturb w/ fix
alpha"). :func:`fixed_alpha_control` names that control for any method that learns alpha:

* ``darts`` -> ``blank`` and ``darts-`` -> ``blank-``: the papers' own fixed-alpha methods;
* a method (a plugin included) that names its own in a class attribute ``fixed_alpha_control``;
* any other -> ``fixed-<name>`` (e.g. ``fixed-gdas``): the method itself - its weight step, its
  temperature or beta schedule, its regulariser - with alpha frozen at the method's own
  initialisation: no architecture step (its optimiser is made and never stepped, so the random
  streams stay the method's) and ``fixed_alpha`` set, so ``perturb``'s fine-tuning keeps alpha
  fixed too. ``ALGORITHMS.get("fixed-gdas")`` builds it in any process (registry deriver).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import ALGORITHMS, Stage1Method

#: the papers' fixed-alpha methods (protocol §9: ``blank`` / ``blank-``)
NAMED_CONTROLS = {"darts": "blank", "darts-": "blank-"}
PREFIX = "fixed-"


def learns_alpha(cls: type[Stage1Method]) -> bool:
    """Whether a method trains architecture weights (so a frozen-alpha control of it means something)."""
    return "arch_weights" in cls.provides and not cls.fixed_alpha and cls.trains_weights


def _learning_methods() -> list[str]:
    return [n for n in ALGORITHMS.names() if not n.startswith(PREFIX) and learns_alpha(ALGORITHMS.get(n))]


def fixed_alpha_control(method: str) -> str:
    """The registered name of ``method``'s fixed-alpha control (one error when it learns no alpha)."""
    cls = ALGORITHMS.get(method)
    if not learns_alpha(cls):
        raise ValueError(f"Stage-1 method {method!r} does not learn architecture weights, so it has no fixed-alpha "
                         f"control; choose among: {', '.join(_learning_methods())}")
    own: Any = getattr(cls, "fixed_alpha_control", None)
    name = NAMED_CONTROLS.get(method) or (own if isinstance(own, str) else None) or f"{PREFIX}{method}"
    ALGORITHMS.get(name)  # an unknown declared control: one error naming it
    return name


def _no_arch_step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
    return None


def _derive(base: str) -> type[Stage1Method]:
    """``fixed-<base>``: ``base`` with alpha frozen (a subclass defined in this module)."""
    if base not in ALGORITHMS:
        raise ValueError(f"unknown Stage-1 method {base!r} in {PREFIX}{base}; valid choices: "
                         f"{', '.join(_learning_methods())}")
    cls = ALGORITHMS.get(base)
    if not learns_alpha(cls):
        raise ValueError(f"{PREFIX}{base}: Stage-1 method {base!r} does not learn architecture weights; a fixed-alpha "
                         f"control exists for: {', '.join(_learning_methods())}")
    return type(f"FixedAlpha_{cls.__name__}", (cls,), {
        "__module__": __name__, "__doc__": f"{base} with alpha frozen at its initialisation (fixed-alpha control).",
        "fixed_alpha": True, "arch_step": _no_arch_step})


ALGORITHMS.add_deriver(PREFIX, _derive)
