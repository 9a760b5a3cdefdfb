"""The second paper's case study (its Table 1, protocol §9) as studies: one per search space.

Question: does DARTS-PT's ``perturb`` selection work better on a supernet trained with alpha, or with
alpha frozen? Per space and seed, three supernets per method family - the method (``darts``), its
fixed-alpha control (``blank``; :func:`~supernetbench.algorithms.fixed_alpha.fixed_alpha_control`) -
for each of two families (``darts``, ``darts-``), and six columns::

    <m>/max_alpha            prune (argmax alpha) on m's supernet
    <m>/perturb              perturb on m's supernet
    <m>/perturb_fixed_alpha  perturb on the fixed-alpha control's supernet

Each space is an ordinary :class:`~.spec.StudySpec` (``pairs`` = the six (method, selector) pairs,
no full-space scoring, no reliance; on a space without a table an ``[oracle]`` section trains every
selected genotype from scratch), so the grid is resumable, content-addressed and runs on the local
pool or a Ray cluster like any study; :meth:`CaseStudy.write_study_files` writes those studies as TOML
files that ``supernetbench study FILE --backend ray`` runs unchanged. :func:`collect` reads the test
errors back (NB201: the table; DARTS spaces: the oracle's final-epoch test error, mean over oracle
seeds) for ``report/casestudy.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..harness.profiles import get_profile, profile_for_space
from .spec import OracleSpec, StudySpec

#: Table 1's rows (the paper's spaces) and their labels
PAPER_SPACES = ("nb201", "darts-s1", "darts-s2", "darts-s3", "darts-s4")
#: Table 1's columns per method family: (column suffix, whose supernet, selector)
COLUMN_KINDS = (("max_alpha", "method", "prune"), ("perturb", "method", "perturb"),
                ("perturb_fixed_alpha", "control", "perturb"))


def row_label(space: str) -> str:
    """``darts-s1`` -> ``s1``; any other space keeps its name."""
    return space[len("darts-"):] if space.startswith("darts-") else space


@dataclass(frozen=True)
class Column:
    label: str  # e.g. "darts-/perturb_fixed_alpha"
    family: str  # the method whose question it answers (darts, darts-, or a --methods name)
    algo: str  # the supernet's Stage-1 method (the family's method or its fixed-alpha control)
    selector: str


@dataclass(frozen=True)
class CaseStudy:
    """Table 1's grid. ``profile``: the Stage-1/2 preset (``casestudy`` runs its DARTS-space twin
    ``casestudy-darts`` on S1-S4, :func:`~supernetbench.harness.profiles.profile_for_space`);
    ``oracle_profile``: the DARTS spaces' from-scratch evaluation (None: ``smoke`` for the ``smoke``
    profile, else ``paper`` = protocol §8's 600 epochs)."""

    spaces: tuple[str, ...] = PAPER_SPACES
    methods: tuple[str, ...] = ("darts", "darts-")
    seeds: tuple[int, ...] = (1, 2, 3)  # protocol §9 (P002 §7)
    profile: str = "casestudy"
    overrides: tuple[tuple[str, Any], ...] = ()
    dataset: str = "cifar10"
    oracle_profile: str | None = None
    oracle_seeds: tuple[int, ...] = (0,)
    backend: str = "local"
    device: str = "auto"
    store: str | None = None
    runs_root: str | None = None
    data_root: str | None = None
    workers: int | None = None
    address: str | None = None
    plugins: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        from ..algorithms.fixed_alpha import fixed_alpha_control
        from ..plugins import load_plugins
        from ..spaces import get_space

        load_plugins(self.plugins)
        if not self.spaces or not self.methods or not self.seeds:
            raise ValueError("a case study needs at least one space (--spaces), method (--methods) and seed (--seeds)")
        for what, xs in (("space", self.spaces), ("method", self.methods)):
            dup = sorted({x for x in xs if xs.count(x) > 1})
            if dup:
                raise ValueError(f"{what}(s) {', '.join(dup)} given twice")
        for sp in self.spaces:
            get_space(sp)  # unknown: one error listing the spaces
        for m in self.methods:
            fixed_alpha_control(m)  # a method without alpha: one error listing those with
        for sp in self.spaces:
            get_profile(profile_for_space(self.profile, sp), dict(self.overrides))

    # ------------------------------------------------------------------ the grid
    def control(self, method: str) -> str:
        from ..algorithms.fixed_alpha import fixed_alpha_control

        return fixed_alpha_control(method)

    def columns(self) -> list[Column]:
        return [Column(f"{m}/{suffix}", m, m if whose == "method" else self.control(m), sel)
                for m in self.methods for suffix, whose, sel in COLUMN_KINDS]

    def oracle_profile_name(self) -> str:
        return self.oracle_profile or ("smoke" if self.profile == "smoke" else "paper")

    def study(self, space: str) -> StudySpec:
        """The study of one row: the six (method, selector) pairs, no scoring, no reliance."""
        from ..spaces import get_space

        cols = self.columns()
        algos = tuple(dict.fromkeys(c.algo for c in cols))
        oracle = None if get_space(space).has("table") else OracleSpec(
            profile=self.oracle_profile_name(), seeds=tuple(self.oracle_seeds), selected=True)
        return StudySpec(algos=algos, selectors=tuple(dict.fromkeys(c.selector for c in cols)),
                         datasets=(self.dataset,), seeds=tuple(self.seeds),
                         profile=profile_for_space(self.profile, space), overrides=tuple(self.overrides),
                         backend=self.backend, device=self.device, store=self.store, runs_root=self.runs_root,
                         data_root=self.data_root, workers=self.workers, address=self.address, reliance=False,
                         space=space, plugins=tuple(self.plugins), oracle=oracle,
                         pairs=tuple(dict.fromkeys((c.algo, c.selector) for c in cols)), scoring=False)

    def studies(self) -> dict[str, StudySpec]:
        return {sp: self.study(sp) for sp in self.spaces}

    def write_study_files(self, out: str | Path) -> list[Path]:
        """``OUT/studies/<space>.toml``: each row's study as a file ``supernetbench study FILE`` runs (add
        ``--backend ray --address auto`` on a cluster; the store must be shared by the workers)."""
        from ..harness.store import atomic_write_text

        paths = []
        for sp, spec in self.studies().items():
            d = spec.to_dict()
            lines = [f"# Table 1 row {row_label(sp)!r} of `supernetbench casestudy` (protocol §9); run it with",
                     f"#   supernetbench study {sp}.toml [--backend ray --address auto]"]
            for k in ("algos", "selectors", "datasets", "seeds", "pairs", "profile", "space", "reliance", "scoring",
                      "store", "runs_root", "data_root", "plugins"):
                if d.get(k) is not None and d.get(k) != ():
                    lines.append(f"{k} = {_toml(d[k])}")
            if d.get("overrides"):
                lines.append("[set]")
                lines += [f"{k} = {_toml(v)}" for k, v in d["overrides"].items()]
            if d.get("oracle"):
                o = d["oracle"]
                lines += ["[oracle]", f"profile = {_toml(o['profile'])}", f"seeds = {_toml(list(o['seeds']))}",
                          "selected = true"]
            p = Path(out) / "studies" / f"{sp}.toml"
            p.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(p, "\n".join(lines) + "\n")
            paths.append(p)
        return paths


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if v is None:
        return '"none"'
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


# ---------------------------------------------------------------------------------------- results
def collect(cs: CaseStudy) -> dict[str, Any]:
    """What Table 1 shows, read from the stores: per row and column the per-seed test error (%) - None
    where the result is not made yet - and the selected genotypes; plus how each value was measured."""
    from ..spaces import get_space
    from .tasks import Task, read_selection_record, using_store

    rows: dict[str, dict[str, Any]] = {}
    for sp, spec in cs.studies().items():
        has_table = get_space(sp).has("table")
        cells: dict[str, Any] = {}
        with using_store(spec):
            oracle = None if has_table else spec.oracle_of()
            for col in cs.columns():
                errors, archs = [], []
                for seed in cs.seeds:
                    t = Task("select", col.algo, cs.dataset, seed, col.selector)
                    rec = read_selection_record(spec, t)
                    arch = rec["selection"]["arch"] if rec is not None else None
                    err = None
                    if rec is not None and has_table:
                        acc = rec["selection"].get("test_acc")
                        err = None if acc is None else 100.0 - float(acc)
                    elif rec is not None:
                        accs = [r.final_test_acc for o in cs.oracle_seeds
                                if (r := oracle.result(arch, cs.dataset, o)) is not None]
                        err = 100.0 - sum(accs) / len(accs) if len(accs) == len(cs.oracle_seeds) else None
                    errors.append(err)
                    archs.append(arch)
                cells[col.label] = {"algo": col.algo, "selector": col.selector, "errors": errors, "archs": archs}
        rows[row_label(sp)] = {
            "space": sp, "profile": spec.profile, "study": str(spec.study_dir), "cells": cells,
            "measured_by": (f"the NB201 table's {cs.dataset} test accuracy" if has_table else
                            f"from-scratch training (oracle profile {cs.oracle_profile_name()}, final-epoch test "
                            f"accuracy, mean over oracle seeds {list(cs.oracle_seeds)})")}
    return {"dataset": cs.dataset, "profile": cs.profile, "overrides": dict(cs.overrides), "seeds": list(cs.seeds),
            "methods": list(cs.methods), "columns": [c.__dict__ for c in cs.columns()], "rows": rows}
