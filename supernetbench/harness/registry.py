"""A registry of classes by name (timm ``register_model`` / optuna samplers style), filled by the
built-in modules and, lazily, by plugins: installed packages' entry points (group ``self.group``,
e.g. ``supernetbench.methods``) and ``--plugin module:Class`` specs.

Stores *classes*, never instances: construction happens once, with a config, where it is used.

Plugin rules (README "Evaluate and gate your own method"):

* Entry points are *discovered* (names, distribution, version: metadata only, nothing imported) on
  the first lookup or listing, and a plugin is *imported* when it is first needed (``get``).
* A broken plugin - a name that clashes with a built-in or with another plugin, a module that fails
  to import, an object that is not a subclass of the registry's base class - raises ONE
  :class:`PluginError` line naming the distribution and the fix, when that name is looked up (and
  when ``supernetbench list`` describes every name). Names that do not involve it keep working: a
  built-in command with a broken plugin installed works unless the plugin's name is used.
* ``SUPERNETBENCH_DISABLE_PLUGINS=1`` skips entry-point discovery (a hermetic run); explicitly
  given ``--plugin`` specs still load.
* :func:`code_identity` hashes a class's own source (and its bases' within the harness or the
  plugin), so an edited method or selector never reuses a cached artifact.
"""
from __future__ import annotations

import fnmatch
import hashlib
import importlib
import inspect
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")

#: set to 1 to ignore installed entry-point plugins (``--plugin`` specs still load)
DISABLE_ENV = "SUPERNETBENCH_DISABLE_PLUGINS"
#: the ``--plugin`` specs loaded in this process (:mod:`supernetbench.plugins`), in order: workers load
#: them too, and commands printed to rerun something name them again
ACTIVE_PLUGIN_SPECS: list[str] = []


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the valid choices."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class PluginError(ValueError):
    """A plugin that cannot be used (clash, failed import, wrong base class): one line, with the fix."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin class comes from (recorded in runs, selections and references)."""

    name: str
    value: str  # "module:Class"
    distribution: str  # the installed distribution ("--plugin": a module of no installed distribution)
    version: str
    via: str = "entry point"  # or "--plugin"

    def record(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value, "distribution": self.distribution, "version": self.version}


def plugins_disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "") not in ("", "0")


def _fix(info: PluginInfo) -> str:
    if info.via == "--plugin":
        return f"fix or drop --plugin {info.value}"
    return f"fix it, uninstall it (pip uninstall {info.distribution}) or set {DISABLE_ENV}=1"


class Registry(Generic[T]):
    """Name -> class mapping with fnmatch listing, lazy plugins and a clear error for unknown names.

    >>> reg = Registry("widget")
    >>> @reg.register("a")
    ... class A: pass
    >>> reg.get("a") is A, reg.names()
    (True, ['a'])
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group  # entry-point group of plugins (None: built-ins only)
        self.base: type | None = None  # plugin classes must subclass it (set by the defining module)
        self._items: dict[str, T] = {}
        self._builtin: list[str] = []
        self._plugins: dict[str, tuple[PluginInfo, Any]] = {}  # name -> (info, entry point or None), not imported
        self._loaded: dict[str, PluginInfo] = {}  # plugin name -> info, imported and checked
        self._broken: dict[str, str] = {}  # name -> the error line
        self._discovered = False
        self._derivers: dict[str, Callable[[str], T]] = {}  # name prefix -> builder of "<prefix><base name>"
        self._derived: set[str] = set()  # names built by a deriver (found by name, never listed)

    # ------------------------------------------------------------------ built-ins
    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            self._builtin.append(name)
            _set_name(obj, name)
            return obj

        return deco

    # ------------------------------------------------------------------ plugins
    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        if self.group is None or plugins_disabled():
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, ep.value, dist.metadata["Name"] if dist else "unknown distribution",
                              dist.version if dist else "unknown")
            self._add_plugin(info, ep)

    def _add_plugin(self, info: PluginInfo, ep: Any) -> None:
        name = info.name
        if name in self._builtin:
            self._broken[name] = (f"plugin {self.kind} {name!r} ({info.value}) of distribution {info.distribution} "
                                  f"{info.version} clashes with the built-in {self.kind} of that name; rename it "
                                  f"(its entry-point name, or --plugin NEWNAME={info.value})"
                                  + ("" if info.via == "--plugin" else f", {_fix(info)}"))
        elif name in self._plugins:
            other = self._plugins[name][0]
            if (other.distribution, other.value) == (info.distribution, info.value):
                return  # the same plugin twice (e.g. --plugin of an installed one)
            self._broken[name] = (f"plugin {self.kind} {name!r} is defined twice: by {other.distribution} "
                                  f"{other.version} ({other.value}) and by {info.distribution} {info.version} "
                                  f"({info.value}); uninstall one, or set {DISABLE_ENV}=1")
        else:
            self._plugins[name] = (info, ep)

    def add_plugin(self, info: PluginInfo, obj: T) -> None:
        """Register a class given on the command line (``--plugin``), already imported."""
        self._discover()
        if info.name in self._plugins and self._plugins[info.name][0].value == info.value:
            info = self._plugins[info.name][0]  # an installed plugin named again: keep its distribution
        self._add_plugin(info, None)
        if info.name in self._broken:
            raise PluginError(self._broken[info.name])
        self._plugins[info.name] = (info, None)
        try:
            self._check_and_add(info, obj)
        except PluginError as e:
            self._broken[info.name] = str(e)
            raise

    def _check_and_add(self, info: PluginInfo, obj: Any) -> None:
        taken = next((n for n, o in self._items.items() if o is obj), None)
        if taken is not None and taken != info.name:
            raise PluginError(f"plugin {self.kind} {info.name!r} ({info.value}) is the class already registered as "
                              f"{taken!r}; subclass it instead (class MyMethod({obj.__name__}): ...)")
        if not isinstance(obj, type) or (self.base is not None and not issubclass(obj, self.base)):
            base = self.base.__name__ if self.base is not None else "the registry's base class"
            raise PluginError(f"plugin {self.kind} {info.name!r} ({info.value}) of {info.distribution} {info.version} "
                              f"is {obj!r:.80}, not a subclass of supernetbench.api.{base}; {_fix(info)}")
        if inspect.isabstract(obj):
            missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
            raise PluginError(f"plugin {self.kind} {info.name!r} ({info.value}) of {info.distribution} {info.version} "
                              f"leaves abstract method(s) {missing} undefined; {_fix(info)}")
        self._items[info.name] = obj
        self._loaded[info.name] = info
        _set_name(obj, info.name)

    def _load(self, name: str) -> None:
        info, ep = self._plugins[name]
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - any failure of a plugin's import is one line naming it
            msg = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            raise PluginError(f"plugin {self.kind} {name!r} ({info.value}) of distribution {info.distribution} "
                              f"{info.version} failed to import ({msg}); {_fix(info)}") from None
        self._check_and_add(info, obj)

    # ------------------------------------------------------------------ derived names
    def add_deriver(self, prefix: str, build: Callable[[str], T]) -> None:
        """Names ``<prefix><base>`` resolve to ``build(base)``, made on first lookup in any process (a
        study's pool or Ray worker included), e.g. ``fixed-gdas``: GDAS with alpha frozen. ``build``
        raises ``ValueError`` when ``base`` cannot be derived; derived names are neither built-in (no
        suite cases) nor listed by :meth:`names` (a default "every method" never grows by a lookup)."""
        self._derivers[prefix] = build

    def _derive(self, name: str) -> None:
        for prefix, build in self._derivers.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                base = name[len(prefix):]
                obj = build(base)
                self._items[name] = obj
                self._derived.add(name)
                if base in self._loaded:  # a plugin's derivative: keyed by the plugin's distribution too
                    self._loaded[name] = self._loaded[base]
                _set_name(obj, name)
                return

    # ------------------------------------------------------------------ lookup
    def get(self, name: str) -> T:
        self._discover()
        if name in self._broken:
            raise PluginError(self._broken[name])
        if name not in self._items and name in self._plugins:
            self._load(name)
        if name not in self._items and self._derivers:
            self._derive(name)
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r:.80}; valid choices: {', '.join(self.names())}"
            ) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Built-in names, then plugin names (broken ones included: using one raises its error)."""
        self._discover()
        every = [*self._builtin, *(n for n in self._items if n not in self._builtin and n not in self._derived),
                 *(n for n in self._plugins if n not in self._items)]
        every += [n for n in self._broken if n not in every]
        return [n for n in every if fnmatch.fnmatchcase(n, pattern)]

    def builtin_names(self) -> list[str]:
        """The names registered by supernetbench itself (what the repository's suites cover)."""
        return list(self._builtin)

    def plugin_info(self, name: str) -> PluginInfo | None:
        """The plugin that provides ``name`` (None for a built-in); the name must have been looked up."""
        return self._loaded.get(name)

    def identity(self, name: str) -> dict[str, Any]:
        """What identifies the code behind ``name`` (part of artifact keys): its source hash and, for a
        plugin, the distribution and version."""
        out = code_identity(self.get(name))
        info = self.plugin_info(name)
        return {**out, "plugin": info.record()} if info else out

    def __contains__(self, name: object) -> bool:
        self._discover()
        if name in self._items or name in self._plugins or name in self._broken:
            return True
        if isinstance(name, str) and any(name.startswith(p) for p in self._derivers):
            try:
                self.get(name)
            except (KeyError, ValueError):
                return False
            return True
        return False

    def __iter__(self):
        return iter(self.names())


def _set_name(obj: Any, name: str) -> None:
    try:
        obj.name = name  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        pass


#: modules of the harness that moved (issue 16's ``spaces/`` redesign): new dotted path (without the
#: ``supernetbench.`` prefix) -> the path it had. :func:`code_identity` reads a module's source with
#: the new paths written back as the old ones, so that a pure move of a module does not change the
#: identity (and every artifact key) of the methods and selectors that import or mention it.
MOVED_MODULES: dict[str, str] = {
    "spaces.nb201.space": "harness.space", "spaces.nb201.ops": "harness.ops",
    "spaces.nb201.supernet": "harness.supernet", "spaces.nb201.network": "harness.network",
    "spaces.nb201.benchmark": "harness.benchmark", "spaces.nb201.batched": "harness.batched",
    "spaces.nb201.complexity": "harness.complexity", "oneshot.train": "harness.engine",
    "oneshot.scoring": "harness.scoring", "oneshot.adaptive": "harness.adaptive",
    "pipeline.evaluate": "harness.pipeline", "pipeline.artifacts": "harness.artifacts",
    "pipeline.baselines": "harness.baselines", "pipeline.trajectory": "harness.trajectory",
}
_MOVED = re.compile(r"(?<=\.)(" + "|".join(re.escape(k) for k in sorted(MOVED_MODULES, key=len, reverse=True))
                    + r")\b")


def canonical_source(src: str) -> str:
    """``src`` with every moved module path (``supernetbench.oneshot.train``, ``..oneshot.train``)
    written as the path it had before the move (:data:`MOVED_MODULES`)."""
    return _MOVED.sub(lambda m: MOVED_MODULES[m.group(1)], src)


@lru_cache(maxsize=None)
def code_identity(cls: type) -> dict[str, Any]:
    """sha256 of the source files of the modules that define ``cls`` and its bases (its MRO, without
    ``object``, ``abc`` and other standard-library classes): what the method or selector runs,
    including the module-level constants and helpers beside it. A helper imported from a third module
    is not covered (for the harness's own modules, ``CODE_VERSION`` is). Moved module paths are read
    as their old ones (:func:`canonical_source`): a move is not a change of code."""
    modules: list[str] = []
    for c in cls.__mro__:
        mod = sys.modules.get(c.__module__)
        if c is object or mod is None or c.__module__ in modules or _is_stdlib(mod):
            continue
        modules.append(c.__module__)
    h = hashlib.sha256()
    for m in modules:
        try:
            src = canonical_source(inspect.getsource(sys.modules[m])).encode()
        except (OSError, TypeError):  # no source (a frozen or compiled-only module): its code object
            import marshal

            src = marshal.dumps(getattr(sys.modules[m], "__loader__").get_code(m))
        h.update(m.encode() + b"\0" + hashlib.sha256(src).digest())
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "modules": modules, "source_sha256": h.hexdigest()}


def _is_stdlib(mod: Any) -> bool:
    name = mod.__name__.split(".")[0]
    return name in getattr(sys, "stdlib_module_names", ()) or name in ("builtins", "torch", "numpy")


def import_object(value: str) -> Any:
    """The object named by ``module:attr`` (``--plugin``); the module is imported from ``sys.path``,
    with the current directory appended so a module beside the command line is found."""
    module, sep, attr = value.partition(":")
    if not sep or not module or not attr:
        raise PluginError(f"--plugin {value!r:.80}: expected module:Class (e.g. mypkg.methods:FairDarts)")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as e:  # noqa: BLE001
        msg = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        raise PluginError(f"--plugin {value}: cannot load it ({msg}); check the module is importable "
                          "(installed, or on PYTHONPATH) and the class name") from None
    return obj
