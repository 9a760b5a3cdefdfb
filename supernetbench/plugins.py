"""Plugins given as ``--plugin [NAME=]module:Class`` (a study file's ``plugins = [...]``), and the
plugin records that runs, selections and references carry.

Installed plugins come from entry points and load lazily inside each registry
(:mod:`supernetbench.harness.registry`); a spec given here is imported at once and registered in
the registry of its base class. The specs loaded in this process are kept
(:func:`active_specs`) so that workers (local pool, Ray) load the same ones, and so that the
commands this process prints to rerun something name them again.
"""
from __future__ import annotations

from typing import Iterable

from .harness.registry import ACTIVE_PLUGIN_SPECS as _ACTIVE
from .harness.registry import PluginError, PluginInfo, Registry, import_object


def _registries() -> list[tuple[type, Registry]]:
    from .algorithms import ALGORITHMS, Stage1Method
    from .spaces import SPACES, SearchSpace
    from .selectors import SELECTORS, Selector

    return [(Stage1Method, ALGORITHMS), (Selector, SELECTORS), (SearchSpace, SPACES)]


def _distribution(module: str) -> tuple[str, str]:
    """(distribution, version) that installed ``module``'s top-level package, or ('--plugin', 'local')."""
    from importlib.metadata import packages_distributions, version

    dists = packages_distributions().get(module.split(".")[0]) or []
    if dists:
        try:
            return dists[0], version(dists[0])
        except Exception:  # noqa: BLE001 - metadata without a version: still a plugin
            return dists[0], "unknown"
    return "--plugin", "local"


def load_plugin(spec: str) -> tuple[str, str]:
    """Import ``[NAME=]module:Class`` and register it by its base class; returns (kind, name).

    NAME defaults to the class's own ``name`` attribute (set in its class body)."""
    name, sep, value = spec.partition("=")
    if not sep:
        name, value = "", spec
    obj = import_object(value.strip())
    name = name.strip() or (obj.__dict__.get("name") if isinstance(obj, type) else None) or ""
    for base, reg in _registries():
        if isinstance(obj, type) and issubclass(obj, base):
            if not name or not isinstance(name, str):
                raise PluginError(f"--plugin {spec}: give it a name, NAME={value}, or set name = \"...\" "
                                  f"in the class body")
            dist, ver = _distribution(value.split(":")[0])
            reg.add_plugin(PluginInfo(name, value.strip(), dist, ver, via="--plugin"), obj)
            reg.get(name)  # a clash raises here, at once
            if spec not in _ACTIVE:
                _ACTIVE.append(spec)
            return reg.kind, name
    raise PluginError(f"--plugin {spec}: {obj!r:.80} is not a subclass of supernetbench.api.Stage1Method, "
                      "Selector or SearchSpace")


def load_plugins(specs: Iterable[str]) -> None:
    for spec in specs:
        if spec not in _ACTIVE:
            load_plugin(spec)


def active_specs() -> list[str]:
    """The ``--plugin`` specs loaded in this process (for workers and rerun commands)."""
    return list(_ACTIVE)


def plugin_flags(specs: Iterable[str] | None = None) -> str:
    """``--plugin SPEC`` for each spec (default: the active ones), to put in a printed command."""
    return " ".join(f"--plugin {s}" for s in (active_specs() if specs is None else specs))


def plugin_records(algo: str | None = None, selectors: Iterable[str] = ()) -> list[dict[str, str]]:
    """The plugin records (name, value, distribution, version) of a method and selectors."""
    from .algorithms import ALGORITHMS
    from .selectors import SELECTORS

    out = []
    for reg, names in ((ALGORITHMS, [algo] if algo else []), (SELECTORS, list(selectors))):
        for n in names:
            reg.get(n)
            info = reg.plugin_info(n)
            if info is not None:
                out.append({"kind": reg.kind, **info.record()})
    return out
