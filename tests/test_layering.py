"""The package's import graph reads top-down (issue 16): every module is parsed with ``ast``
(function-level imports included), and each import between two of the package's units must go to a
lower floor. A unit is a top-level folder (``harness/``, ``spaces/``, ...) or a top-level module
(``cli.py``, ``demo.py``, ...). ``KNOWN_EXCEPTIONS`` lists the allowed upward edges: it may only shrink."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "supernetbench"

#: bottom to top; a unit may import only units on a lower floor (and itself)
FLOORS: tuple[str, ...] = (
    "harness",        # space-agnostic ground: store, locks, registry, profiles, metrics, data, ...
    "spaces",         # SearchSpace, SPACES, nb201/ and darts/ concretions
    "algorithms",     # Stage-1 methods
    "oneshot",        # RunSpec, the Stage-1 loop, scoring
    "selectors",      # Stage-2 selectors
    "pipeline",       # evaluate, artifacts, baselines, trajectory
    "plugins",        # entry-point specs of user methods and selectors
    "study",          # task graph and backends
    "report",         # figures and tables from artifacts
    "demo",           # the README demo
    "gate",           # regression gate of a user's method
    "pytest_plugin",  # `pytest --supernetbench-...` options for a user's repository
    "api",            # the public import surface for plugin authors
    "cli",            # thin command line
)
#: (importer unit, imported unit) pairs allowed to point up; may only shrink
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "supernetbench" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every supernetbench module ``path`` imports (absolute name, line), at any depth of the file."""
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            if not node.module:
                out += [(f"{target}.{a.name}", node.lineno) for a in node.names]
    return out


def units() -> set[str]:
    """The package's top-level folders and modules."""
    return {p.stem for p in PKG.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def edges() -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) -> where (file:line), for every cross-unit import."""
    known = units()
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        src = _unit(_module_name(path))
        for target, line in _imports(path):
            dst = _unit(target)
            if src in known and dst in known and dst != src:
                found.setdefault((src, dst), []).append(f"{path.relative_to(PKG.parent)}:{line}")
    return found


def test_every_unit_has_a_floor():
    missing = units() - set(FLOORS)
    assert not missing, f"give {sorted(missing)} a floor in FLOORS"


def test_imports_point_down():
    up = {e: where for e, where in edges().items()
          if FLOORS.index(e[0]) < FLOORS.index(e[1]) and e not in KNOWN_EXCEPTIONS}
    assert not up, "imports that point up a floor:\n" + "\n".join(
        f"{a} -> {b}: {', '.join(w[:3])}" for (a, b), w in sorted(up.items()))


def test_known_exceptions_are_still_needed():
    stale = KNOWN_EXCEPTIONS - set(edges())
    assert not stale, f"remove {sorted(stale)} from KNOWN_EXCEPTIONS: those imports are gone"


def test_no_circles():
    graph: dict[str, set[str]] = {}
    for a, b in edges():
        graph.setdefault(a, set()).add(b)
    seen: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        seen[n] = 1
        for m in graph.get(n, ()):
            if seen.get(m) == 1:
                pytest.fail("import circle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if not seen.get(m):
                visit(m, stack + [m])
        seen[n] = 2

    for n in list(graph):
        if not seen.get(n):
            visit(n, [n])


def test_the_check_catches_an_upward_import():
    """Control: with the floors reversed, the real graph has arrows up (the check can fail)."""
    reverse = FLOORS[::-1]
    assert any(reverse.index(a) < reverse.index(b) for a, b in edges())
    assert ("oneshot", "algorithms") in edges() and ("pipeline", "selectors") in edges()


def test_function_level_imports_are_seen(tmp_path):
    f = PKG / "oneshot" / "train.py"
    found = {t for t, _ in _imports(f)}
    assert "supernetbench.algorithms" in found  # imported inside RunSpec.code(), not at module level


def test_a_move_keeps_code_identity():
    """Moved modules are hashed under their old paths (issue 16): a move changes no artifact key."""
    from supernetbench.harness.registry import MOVED_MODULES, canonical_source

    src = ("from ..oneshot.train import cached_search_data\n"
           ":mod:`supernetbench.spaces.nb201.space` and supernetbench.pipeline.evaluate.x\n")
    assert canonical_source(src) == ("from ..harness.engine import cached_search_data\n"
                                     ":mod:`supernetbench.harness.space` and supernetbench.harness.pipeline.x\n")
    assert canonical_source("from ..oneshot.training import y") == "from ..oneshot.training import y"
    for new in MOVED_MODULES:  # every listed path is a real module now
        assert (PKG / (new.replace(".", "/") + ".py")).exists(), new
