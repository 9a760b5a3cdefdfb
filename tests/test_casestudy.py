"""The case study (issue 18, protocol §9, P002 Table 1): the fixed-alpha controls (``blank-``, ``fixed-<name>``),
the six-column grid as one study per space, Table 1's marks and files, and one tiny end-to-end run of
``supernetbench casestudy`` on real data (NB201 + S3) whose written table is parsed back."""
from __future__ import annotations

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from supernetbench.algorithms import ALGORITHMS
from supernetbench.algorithms.darts_minus import DartsMinus
from supernetbench.algorithms.fixed_alpha import fixed_alpha_control
from supernetbench.harness.profiles import PROFILES, profile_for_space
from supernetbench.report.casestudy import PAPER_TABLE1, table1, table1_marks, write_table1
from supernetbench.study import StudySpec, plan
from supernetbench.study.casestudy import CaseStudy, row_label
from tests.helpers import error_line, run_cli
from tests.test_algorithms import batch, make

TINY = ("epochs=1", "train_size=128", "valid_size=64", "C=2", "perturb_valid_images=16")


# ------------------------------------------------------------------------------ the fixed-alpha controls
def test_named_and_derived_controls():
    assert [fixed_alpha_control(m) for m in ("darts", "darts-", "gdas", "snas", "drnas")] == \
        ["blank", "blank-", "fixed-gdas", "fixed-snas", "fixed-drnas"]
    cls = ALGORITHMS.get("fixed-gdas")
    assert cls.fixed_alpha and issubclass(cls, ALGORITHMS.get("gdas")) and cls.name == "fixed-gdas"
    assert ALGORITHMS.get("fixed-gdas") is cls and "fixed-gdas" in ALGORITHMS  # built once, found by name
    assert ALGORITHMS.identity("fixed-gdas")["modules"][0] == "supernetbench.algorithms.fixed_alpha"
    assert "fixed-gdas" not in ALGORITHMS.builtin_names() + ALGORITHMS.names()  # no suite cases, never a default
    for bad in ("rsps", "untrained", "blank", "rsps-biased"):
        with pytest.raises(ValueError, match="does not learn architecture weights"):
            fixed_alpha_control(bad)
    assert "fixed-rsps" not in ALGORITHMS and "fixed-nope" not in ALGORITHMS
    with pytest.raises(ValueError, match="unknown Stage-1 method 'nope'"):
        ALGORITHMS.get("fixed-nope")


@pytest.mark.parametrize("name", ["blank-", "fixed-gdas", "fixed-drnas", "fixed-snas"])
def test_fixed_alpha_controls_never_move_alpha(name):
    method, net = make(name)
    a0 = {k: a.detach().clone() for k, a in method.alphas.items()}
    base, _ = make(name.removeprefix("fixed-") if name.startswith("fixed-") else "darts-")
    for k in a0:  # the control starts from the method's own initialisation
        assert torch.equal(a0[k], base.alphas[k].detach())
    x, y = batch(0)
    for epoch in range(2):
        method.on_epoch_start(net, epoch)
        assert method.arch_step(net, x, y) is None
        nn.functional.cross_entropy(method.forward_train(net, x), y).backward()
    assert all(torch.equal(method.alphas[k].detach(), a0[k]) for k in a0)


def test_blank_minus_is_darts_minus_without_the_arch_step():
    method, net = make("blank-", epochs=100)
    assert isinstance(method, DartsMinus) and method.arch_optimizer is None
    method.on_epoch_start(net, 60)  # the case-study decay on NB201: beta = (100 - 60 - 1) / 50
    assert method.epoch_log() == {"beta": pytest.approx(39 / 50), "beta_schedule": "decay"}
    assert ALGORITHMS.get("blank-").fixed_alpha and "blank-" in ALGORITHMS.builtin_names()


# ------------------------------------------------------------------------------ the grid
def test_profiles_of_the_case_study():
    cs, cd = PROFILES["casestudy"], PROFILES["casestudy-darts"]
    assert dataclasses.replace(cs, name="paper") == PROFILES["paper"]  # protocol §9 = the paper budget, 100 epochs
    assert dataclasses.replace(cd, name="darts-search") == PROFILES["darts-search"]  # C=16, 8 cells, 50 epochs
    assert (cs.epochs, cd.epochs, cd.C, 3 * cd.N + 2) == (100, 50, 16, 8)
    assert [profile_for_space("casestudy", s) for s in ("nb201", "darts-s1", "darts")] == \
        ["casestudy", "casestudy-darts", "casestudy-darts"]
    assert profile_for_space("smoke", "darts-s2") == "smoke"


def test_one_study_per_space_with_the_six_pairs(tmp_path):
    cs = CaseStudy(store=str(tmp_path))
    assert [c.label for c in cs.columns()] == [
        "darts/max_alpha", "darts/perturb", "darts/perturb_fixed_alpha",
        "darts-/max_alpha", "darts-/perturb", "darts-/perturb_fixed_alpha"]
    studies = cs.studies()
    assert list(studies) == ["nb201", "darts-s1", "darts-s2", "darts-s3", "darts-s4"]
    assert [row_label(s) for s in studies] == ["nb201", "s1", "s2", "s3", "s4"]
    nb = studies["nb201"]
    assert (nb.profile, nb.seeds, nb.reliance, nb.scoring, nb.oracle) == ("casestudy", (1, 2, 3), False, False, None)
    assert set(nb.pairs) == {("darts", "prune"), ("darts", "perturb"), ("blank", "perturb"), ("darts-", "prune"),
                             ("darts-", "perturb"), ("blank-", "perturb")}
    p = plan(nb)
    kinds = [t.kind for t in p.tasks]
    assert kinds.count("train") == 12 and kinds.count("select") == 18 and "score" not in kinds
    assert all(t.deps == (f"train:{t.algo}-cifar10-s{t.seed}",) for t in p.tasks if t.kind == "select")
    s3 = studies["darts-s3"]
    assert s3.profile == "casestudy-darts" and s3.oracle.profile == "paper" and s3.oracle.selected
    assert sum(t.kind == "oracle" for t in plan(s3).tasks) == 18
    # the pairs and the scoring switch are part of the key, only when set (other studies keep theirs)
    full = dataclasses.replace(nb, pairs=None, scoring=True)
    assert len({full.key(), nb.key(), dataclasses.replace(nb, scoring=True).key()}) == 3
    assert "pairs" not in full.to_dict() and "scoring" not in full.to_dict()
    # the written study files run the same studies (the same keys)
    files = cs.write_study_files(tmp_path / "out")
    for f, spec in zip(files, studies.values()):
        assert StudySpec.from_toml(f).key() == spec.key()
    assert CaseStudy(profile="smoke").study("darts-s1").oracle.profile == "smoke"
    other = CaseStudy(methods=("gdas",), spaces=("nb201",))
    assert [c.algo for c in other.columns()] == ["gdas", "gdas", "fixed-gdas"]
    assert plan(other.study("nb201")).tasks  # a derived control is a valid study method


@pytest.mark.parametrize("argv, needle", [
    (("--methods", "rsps"), "'rsps' does not learn architecture weights"),
    (("--spaces", "nb201", "s9"), "unknown search space 's9'"),
    (("--methods", "darts", "darts"), "method(s) darts given twice"),
    (("--set", "epochs=-1"), "epochs"),
])
def test_bad_input_is_one_clear_error(tmp_path, argv, needle):
    code, _, err = run_cli("casestudy", "--out", str(tmp_path), "--store", str(tmp_path), *argv)
    assert code == 2 and needle in error_line(err)


def test_study_pairs_are_checked():
    with pytest.raises(ValueError, match="not in them: darts/valid"):
        StudySpec(algos=("darts",), selectors=("prune",), pairs=(("darts", "valid"),))


# ------------------------------------------------------------------------------ Table 1's marks
@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(st.floats(0, 100), st.just(math.nan)), min_size=6, max_size=6), min_size=1,
                max_size=6))
def test_marks_match_a_direct_computation(rows):
    m = np.asarray(rows, dtype=float)
    fams = ["a"] * 3 + ["b"] * 3
    bold, italic = table1_marks(m, fams)
    for i, r in enumerate(m):
        finite = r[np.isfinite(r)]
        assert bold[i].tolist() == [bool(finite.size) and x == finite.min() for x in r]
        for cols in (range(3), range(3, 6)):
            sub = r[list(cols)]
            held = bold[i, list(cols)].any()
            fin = sub[np.isfinite(sub)]
            want = [(not held) and bool(fin.size) and x == fin.min() for x in sub]
            assert italic[i, list(cols)].tolist() == want
        assert not (bold[i] & italic[i]).any()


def test_marks_of_the_papers_table_are_the_papers():
    """P002 marks NB201: bold darts/perturb_fixed_alpha 6.20, italic darts-/perturb 6.56; S1: bold darts-/max_alpha."""
    bold, italic = table1_marks(np.asarray(list(PAPER_TABLE1.values())), ["darts"] * 3 + ["darts-"] * 3)
    assert np.argwhere(bold).tolist() == [[0, 2], [1, 3], [2, 4], [3, 1], [4, 2]]
    assert np.argwhere(italic).tolist() == [[0, 4], [1, 2], [2, 2], [3, 4], [4, 5]]


def _result(errors_by_space, methods=("darts", "darts-"), dataset="cifar10"):
    cs = CaseStudy(spaces=tuple(errors_by_space), methods=methods)
    cols = cs.columns()
    rows = {row_label(sp): {"space": sp, "profile": "smoke", "study": "-", "measured_by": "test",
                            "cells": {c.label: {"algo": c.algo, "selector": c.selector, "errors": e, "archs": []}
                                      for c, e in zip(cols, errs)}} for sp, errs in errors_by_space.items()}
    return {"dataset": dataset, "profile": "smoke", "overrides": {}, "seeds": [1, 2], "methods": list(methods),
            "columns": [c.__dict__ for c in cols], "rows": rows}


def test_table_files_parse_back(tmp_path):
    res = _result({"nb201": [[40.0, 50.0], [9.0, 11.0], [6.0, 8.0], [7.0, 8.0], [None, None], [6.5, None]],
                   "darts-s1": [[3.0, 3.0]] * 6})
    paths = write_table1(res, tmp_path)
    lines = list(csv.DictReader(open(paths["csv"])))
    ours = {(r["space"], r["column"]): r for r in lines if r["source"] == "ours"}
    assert float(ours[("nb201", "darts/max_alpha")]["mean"]) == 45.0
    assert float(ours[("nb201", "darts/max_alpha")]["std"]) == 5.0
    assert ours[("nb201", "darts/perturb_fixed_alpha")]["mark"] == "bold"  # 7.0, the row's lowest
    assert ours[("nb201", "darts-/max_alpha")]["mark"] == "italic"  # 7.5: 6.5 has one seed of two, never marked
    assert ours[("nb201", "darts-/perturb_fixed_alpha")]["mark"] == ""
    assert ours[("nb201", "darts-/perturb")]["n"] == "0" and ours[("nb201", "darts-/perturb")]["mean"] == ""
    assert ours[("nb201", "darts-/perturb_fixed_alpha")]["errors"] == "6.5;"
    paper = {(r["space"], r["column"]): r for r in lines if r["source"] == "paper"}
    assert float(paper[("nb201", "darts/max_alpha")]["mean"]) == 45.7 and paper[("s1", "darts-/max_alpha")]["mark"] == "bold"
    md = open(paths["md"]).read()
    assert "| nb201 (paper) | 45.70 | 11.89 | **6.20** |" in md and "6.50 ± 0.00 (1/2 seeds)" in md
    tex = open(paths["tex"]).read()
    assert r"\textbf{6.20}" in tex and r"\textit{" in tex and r"\begin{tabular}{lcccccc}" in tex
    assert json.load(open(paths["json"]))["rows"]["s1"]["space"] == "darts-s1"
    assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    # the paper's rows belong to its methods and dataset only
    assert not any("(paper)" in label for label, _ in table1(_result({"nb201": [[1.0]] * 3}, ("gdas",))).rows)
    assert not any("(paper)" in label for label, _ in table1(_result({"nb201": [[1.0]] * 6}, dataset="cifar100")).rows)


# ------------------------------------------------------------------------------ end to end
def test_casestudy_command_end_to_end(tmp_path):
    """NB201 and S3 (whose `none` op perturb must never keep), one seed, darts- and blank-, tiny budgets:
    every cell is a test error in [0, 100] read back from table1.csv, and a rerun trains nothing."""
    argv = ("casestudy", "--spaces", "nb201", "darts-s3", "--methods", "darts-", "--seeds", "1", "--profile", "smoke",
            "--set", *TINY, "--store", str(tmp_path / "store"), "--out", str(tmp_path / "out"), "--device", "cpu",
            "--workers", "1", "--quiet")
    code, out, err = run_cli(*argv)
    assert code == 0, err
    rows = [r for r in csv.DictReader(open(tmp_path / "out" / "table1.csv")) if r["source"] == "ours"]
    assert {(r["space"], r["column"]) for r in rows} == {
        (s, f"darts-/{c}") for s in ("nb201", "s3") for c in ("max_alpha", "perturb", "perturb_fixed_alpha")}
    assert all(r["n"] == "1" and 0.0 <= float(r["mean"]) <= 100.0 for r in rows)
    assert {r["algo"] for r in rows} == {"darts-", "blank-"}
    res = json.load(open(tmp_path / "out" / "table1.json"))
    s3 = res["rows"]["s3"]["cells"]
    assert all("none" not in a for c in s3.values() for a in c["archs"])
    assert "from-scratch training (oracle profile smoke" in res["rows"]["s3"]["measured_by"]
    assert (tmp_path / "out" / "studies" / "darts-s3.toml").exists() and "| s3 |" in out
    code, out2, _ = run_cli(*argv[:-1], "--json")  # everything stored: the same table, nothing run again
    assert code == 0 and json.loads(out2)["rows"] == res["rows"]


@pytest.mark.slow
def test_a_row_study_file_runs_on_ray(tmp_path):
    """The S3 row's study file, as written by `casestudy`, runs unchanged on the Ray backend (a local
    instance here; `--address auto` on a cluster), and `casestudy --table-only` reads its results."""
    pytest.importorskip("ray")
    common = ("--store", str(tmp_path / "store"), "--out", str(tmp_path / "out"))
    code, _, err = run_cli("casestudy", "--spaces", "darts-s3", "--methods", "darts", "--seeds", "1", "--profile",
                           "smoke", "--set", *TINY, *common, "--status")
    assert code == 0, err
    code, _, err = run_cli("study", str(tmp_path / "out" / "studies" / "darts-s3.toml"), "--backend", "ray",
                           "--workers", "2", "--device", "cpu", "--quiet")
    assert code == 0, err
    code, out, err = run_cli("casestudy", "--spaces", "darts-s3", "--methods", "darts", "--seeds", "1", "--profile",
                             "smoke", "--set", *TINY, *common, "--table-only", "--json")
    assert code == 0, err
    cells = json.loads(out)["rows"]["s3"]["cells"]
    assert all(c["errors"][0] is not None for c in cells.values())


@pytest.mark.slow
def test_the_whole_grid_at_tiny_budgets(tmp_path):
    """Every space of Table 1, both families, one seed, tiny budgets (about 8 minutes on 2 CPU cores):
    all 30 cells are test errors, and the paper's five rows sit under ours."""
    code, _, err = run_cli("casestudy", "--profile", "smoke", "--seeds", "1", "--set", *TINY, "--store",
                           str(tmp_path / "store"), "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet")
    assert code == 0, err
    lines = list(csv.DictReader(open(tmp_path / "out" / "table1.csv")))
    ours = [r for r in lines if r["source"] == "ours"]
    assert len(ours) == 30 and all(r["n"] == "1" and 0.0 <= float(r["mean"]) <= 100.0 for r in ours)
    assert {r["space"] for r in lines if r["source"] == "paper"} == {"nb201", "s1", "s2", "s3", "s4"}
    assert sum(r["mark"] == "bold" for r in ours) >= 5
