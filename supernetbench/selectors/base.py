"""The Stage-2 interface: pick one architecture from a finished Stage-1 run.

A selector sees the run (its supernet and learned distribution) through a :class:`SelectionContext`
and returns a :class:`Selection`. Capabilities are declared: ``requires = {"arch_weights"}`` means
the selector needs learned per-edge architecture weights (``prune``), so pairing it with a method
that has none (``rsps``, ``untrained``, ``rsps-biased``) is an explicit, listed incompatibility.
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from ..harness.benchmark import GroundTruth
from ..harness.registry import Registry
from ..harness.space import NB201Space

#: name -> Stage-2 selector class. Add a selector: one module + ``@SELECTORS.register("name")``.
SELECTORS: Registry[type["Selector"]] = Registry("Stage-2 selector")


class IncompatiblePair(ValueError):
    """The Stage-1 method does not provide what the selector requires."""


@dataclass
class SelectionContext:
    """What a selector may use. ``score(indices)`` = shared-weight validation accuracy (%) of the
    given NB201 indices under the run's scoring config (cached)."""

    run: Any  # engine.SearchRun
    gt: GroundTruth
    score: Callable[[np.ndarray], np.ndarray]
    space: NB201Space = field(default_factory=NB201Space)

    def sample_indices(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n NB201 indices drawn with replacement from the run's architecture distribution."""
        p = self.run.archprob
        return rng.choice(len(p), size=n, replace=True, p=p / p.sum())


@dataclass(frozen=True)
class Selection:
    arch: str
    index: int
    test_acc: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SelectorConfig:
    pass


class Selector(abc.ABC):
    name: ClassVar[str]
    requires: ClassVar[frozenset[str]] = frozenset()
    Config: ClassVar[type[SelectorConfig]] = SelectorConfig

    def __init__(self, config: SelectorConfig | None = None):
        self.config = config if config is not None else self.Config()

    @classmethod
    def make_config(cls, overrides: Mapping[str, Any] | None = None) -> SelectorConfig:
        overrides = dict(overrides or {})
        valid = {f.name for f in dataclasses.fields(cls.Config)}
        bad = sorted(set(overrides) - valid)
        if bad:
            raise ValueError(f"option(s) {', '.join(bad)} do not apply to selector {cls.name!r}; "
                             f"its options are: {', '.join(sorted(valid)) or '(none)'}")
        return cls.Config(**overrides)

    @classmethod
    def config_from_profile(cls, profile) -> SelectorConfig:
        """The selector's config for a run profile (default: the paper defaults)."""
        return cls.Config()

    @classmethod
    def check_compatible(cls, provides: frozenset[str], algo: str) -> None:
        missing = cls.requires - provides
        if missing:
            raise IncompatiblePair(
                f"selector {cls.name!r} needs {', '.join(sorted(missing))}, which Stage-1 method {algo!r} "
                "does not learn; pick a selector such as 'valid'"
            )

    def __call__(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection:
        self.check_compatible(ctx.run.provides, ctx.run.algo)
        return self.select(ctx, rng)

    @abc.abstractmethod
    def select(self, ctx: SelectionContext, rng: np.random.Generator) -> Selection: ...

    @staticmethod
    def selection(ctx: SelectionContext, index: int, **details: Any) -> Selection:
        acc = float(ctx.gt.test_acc(ctx.run.dataset)[index])
        return Selection(arch=ctx.gt.strings[index], index=int(index), test_acc=acc, details=details)
