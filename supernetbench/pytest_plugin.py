"""The supernetbench pytest plugin (entry point ``pytest11``): a method's gate cases, collected from
its stored references, in the author's own repository.

Inert unless configured. With ``supernetbench_references = "references"`` in the ``[tool.pytest.ini_options]``
of the user's pyproject (or ``pytest --sb-references DIR``), every ``DIR/<algo>-<selector>-<dataset>.json``
written by ``supernetbench gate --update`` becomes one test, ``<case>``, that runs the case exactly as
``supernetbench gate`` does and fails with the differing values: ``pytest -k fairdarts`` selects a
method's cases. ``supernetbench_plugins`` (ini lines) / ``--sb-plugin`` load ``module:Class``
plugins that are not installed.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest


def pytest_addoption(parser) -> None:
    parser.addini("supernetbench_references", "directory of supernetbench gate references (one JSON per case)",
                  default="")
    parser.addini("supernetbench_plugins", "module:Class plugins to load (not installed ones)", type="linelist",
                  default=[])
    group = parser.getgroup("supernetbench")
    group.addoption("--sb-references", default=None, metavar="DIR",
                    help="collect DIR/<case>.json (supernetbench gate references) as test cases")
    group.addoption("--sb-plugin", action="append", default=[], metavar="MODULE:CLASS",
                    help="load a supernetbench plugin that is not installed (repeatable)")


def _reference_dir(config) -> Path | None:
    d = config.getoption("--sb-references") or config.getini("supernetbench_references")
    if not d:
        return None
    p = Path(d)
    return (p if p.is_absolute() else Path(config.rootpath) / p).resolve()


def pytest_configure(config) -> None:
    specs = [*config.getini("supernetbench_plugins"), *config.getoption("--sb-plugin")]
    if specs:
        from .plugins import load_plugins

        load_plugins(specs)


def pytest_collect_file(file_path: Path, parent):
    ref_dir = _reference_dir(parent.config)
    if ref_dir is not None and file_path.suffix == ".json" and file_path.parent.resolve() == ref_dir:
        return GateFile.from_parent(parent, path=file_path)
    return None


def split_case(case: str) -> tuple[str, str, str]:
    """(algo, selector, dataset) of a case id; method and selector names may contain '-'."""
    from .algorithms import ALGORITHMS
    from .harness.data import DATASETS
    from .selectors import SELECTORS

    for ds in DATASETS:
        if case.endswith(f"-{ds}"):
            rest = case[: -len(ds) - 1]
            for sel in sorted(SELECTORS.names(), key=len, reverse=True):
                if rest.endswith(f"-{sel}") and rest[: -len(sel) - 1] in ALGORITHMS:
                    return rest[: -len(sel) - 1], sel, ds
    raise ValueError(f"reference case {case!r} is not <method>-<selector>-<dataset> of registered names "
                     "(is its plugin installed?)")


class GateFile(pytest.File):
    def collect(self):
        case = json.loads(self.path.read_text()).get("case") or self.path.stem
        yield GateItem.from_parent(self, name=case)


class GateItem(pytest.Item):
    def runtest(self) -> None:
        from .gate import case_profile, case_values, compare, evaluate_case, read_reference, stale_fields

        algo, sel, ds = split_case(self.name)
        ref = read_reference(self.path)
        regen = (f"supernetbench gate --algo {algo} --selectors {sel} --datasets {ds} "
                 f"--references {self.path.parent} --update")
        stale = stale_fields(ref, case_profile(ds))
        if stale:
            pytest.fail(f"{self.name}: reference is stale (profile field(s) {', '.join(stale)}); regenerate "
                        f"deliberately with: {regen}", pytrace=False)
        got = case_values(evaluate_case(algo, ds, int(ref.get("seed", 0)), [sel]), sel)
        rows = compare(ref, got)
        if rows:
            pytest.fail(f"{self.name}: " + "; ".join(f"{m} = {v!r}, reference {r!r} (difference {d})"
                                                    for m, v, r, d in rows)
                        + f". If the change is intended, regenerate with: {regen}", pytrace=False)

    def reportinfo(self):
        return self.path, None, f"supernetbench gate case {self.name}"
