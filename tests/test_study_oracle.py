"""Studies on a space without a table (darts): train -> select -> oracle (the selected genotype trained
from scratch, protocol §8) plus explicit ``[oracle]`` genotypes; validation of the ``[oracle]``
section; NB201 studies untouched. One tiny end-to-end study on real CIFAR-10 (about a minute)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from supernetbench.spaces import get_space
from supernetbench.spaces.darts.space import GenotypeError
from supernetbench.study import StudySpec, plan, run_study, status_table, study_status
from supernetbench.study.spec import OracleSpec
from supernetbench.study.tasks import Task, artifact, oracle_arch
from tests.test_darts_oracle_store import swapped
from tests.test_darts_space import DARTS_V2

pytestmark = pytest.mark.xdist_group("study")
TINY = {"epochs": 1, "train_size": 128, "valid_size": 64, "C": 2, "num_samples": 4, "valid_images": 8}


def _spec(store: Path, **kw) -> StudySpec:
    base = dict(algos=("darts",), selectors=("prune",), seeds=(0,), profile="smoke", space="darts",
                overrides=tuple(sorted(TINY.items())), device="cpu", workers=2, store=str(store),
                oracle=OracleSpec(profile="smoke"))
    return StudySpec(**{**base, **kw})


# ------------------------------------------------------------------------------------------ the graph
def test_darts_plan_trains_every_selection_from_scratch(tmp_path):
    spec = _spec(tmp_path, algos=("darts", "rsps-biased", "untrained"), selectors=("prune", "valid"),
                 oracle=OracleSpec(profile="smoke", seeds=(0, 1), archs=(DARTS_V2, swapped(DARTS_V2))))
    p = plan(spec)
    ids = [t.id for t in p.tasks]
    pos = {t: i for i, t in enumerate(ids)}
    assert len(ids) == len(set(ids)) and all(pos[d] < pos[t.id] for t in p.tasks for d in t.deps)
    assert {t.id for t in p.tasks if t.kind == "train"} == {"train:darts-cifar10-s0", "train:untrained-cifar10-s0"}
    assert "'table'" in p.skipped["train:rsps-biased-cifar10-s0"]  # R_I needs a table
    assert "'table'" in p.skipped["score:darts-cifar10-s0"] and "'table'" in p.skipped["reliance:cifar10"]
    assert "needs arch_weights" in p.skipped["select:untrained-cifar10-s0:prune"]
    sel = {t.id: t for t in p.tasks if t.kind == "select"}
    assert set(sel) == {"select:darts-cifar10-s0:prune", "select:darts-cifar10-s0:valid",
                        "select:untrained-cifar10-s0:valid"}
    assert all(t.deps == (f"train:{t.algo}-cifar10-s0",) for t in sel.values())  # no scoring in between
    oracle = [t for t in p.tasks if t.kind == "oracle"]
    assert {(t.deps, t.oracle_seed) for t in oracle if t.arch is None} == {((s,), o) for s in sel for o in (0, 1)}
    explicit = [t for t in oracle if t.arch is not None]  # two spellings of one cell: one genotype, per seed
    space = get_space("darts")
    assert [t.arch for t in explicit] == [space.format(space.canonical(space.parse(DARTS_V2)))] * 2
    assert {t.id for t in explicit} == {explicit[0].id.replace(":o0", ":o1"), explicit[0].id}
    assert "oracle:darts-cifar10-s0:prune:o1" in ids
    # the study key: order-free and spelling-free for the oracle genotypes; the profile matters
    same = dataclasses.replace(spec, oracle=OracleSpec(profile="smoke", seeds=(1, 0), archs=(swapped(DARTS_V2),)))
    assert same.key() == spec.key() and same.to_dict()["oracle"]["seeds"] == (1, 0)
    assert dataclasses.replace(spec, oracle=OracleSpec(profile="paper", seeds=(0, 1))).key() != spec.key()
    assert dataclasses.replace(spec, oracle=None).key() != spec.key()
    # before its selection exists an oracle task's address is unknown; an explicit one's is known at once
    assert artifact(spec, oracle[0]) is None and oracle_arch(spec, oracle[0]) is None
    assert artifact(spec, explicit[0]).name == "result.json"


def test_nb201_studies_are_unchanged(tmp_path):
    spec = StudySpec.from_mapping({"algos": ["darts"], "selectors": ["prune"], "store": str(tmp_path)})
    assert spec.oracle is None and "oracle" not in spec.to_dict()
    assert not any(t.kind == "oracle" for t in plan(spec).tasks)


def test_oracle_section_is_validated(tmp_path):
    with pytest.raises(ValueError, match="space 'nb201' has a table.*drop the oracle section"):
        StudySpec.from_mapping({"algos": ["darts"], "oracle": {"profile": "smoke"}})
    with pytest.raises(GenotypeError, match="malformed genotype"):
        _spec(tmp_path, oracle=OracleSpec(archs=("Genotype(normal=[",)))
    for oracle in (OracleSpec(archs=(DARTS_V2,)), OracleSpec(profile="smoke")):  # explicit or selected genotypes
        with pytest.raises(ValueError, match="trains on CIFAR"):
            _spec(tmp_path, datasets=("cifar10", "imagenet16-120"), oracle=oracle)
    assert plan(_spec(tmp_path, datasets=("imagenet16-120",), oracle=None)).tasks  # Stage 2 alone: any dataset
    with pytest.raises(ValueError, match="unknown oracle profile 'fast'; valid choices: paper, smoke"):
        _spec(tmp_path, oracle=OracleSpec(profile="fast"))
    for bad, match in (({"profil": "smoke"}, "unknown oracle key.*profil"), ({"seeds": [-1]}, "oracle 'seeds'"),
                       ({"selected": "yes"}, "oracle 'selected'"), ({"archs": DARTS_V2}, "oracle 'archs'"),
                       ("smoke", "'oracle' must be a table")):
        with pytest.raises(ValueError, match=match):
            StudySpec.from_mapping({"space": "darts", "algos": ["darts"], "oracle": bad})
    with pytest.raises(ValueError, match="'algos' must be a non-empty list"):
        StudySpec.from_mapping({"space": "darts", "algos": [], "oracle": {"profile": "smoke"}})
    only = StudySpec.from_mapping({"space": "darts", "algos": [], "oracle": {"profile": "smoke", "archs": [DARTS_V2]},
                                   "datasets": ["cifar10", "cifar100"], "store": str(tmp_path)})
    assert only.algos == () and [t.kind for t in plan(only).tasks] == ["oracle", "oracle"]  # one per dataset
    f = tmp_path / "s.toml"
    f.write_text('space = "darts"\nalgos = ["darts"]\nselectors = ["prune"]\n[oracle]\nprofile = "smoke"\n'
                 'seeds = [0, 1]\n')
    s = StudySpec.from_toml(f, oracle={"seeds": [2]})  # flags win per key of the table
    assert s.oracle == OracleSpec(profile="smoke", seeds=(2,))
    from tests.helpers import error_line, run_cli

    rc, out, err = run_cli("report", "--study", str(f), "--out", str(tmp_path / "r"), "--store", str(tmp_path / "st"))
    assert rc == 0, err  # Table 3 from the oracle results: none yet, and it says so
    assert "2 oracle task(s) have no result yet" in out and (tmp_path / "r" / "cifar10" / "index.md").exists()
    rc, _, err = run_cli("report", "--space", "darts", "--algos", "darts", "--out", str(tmp_path / "r2"))
    assert rc == 2 and "needs a search space with 'table'" in error_line(err) and "report --study" in error_line(err)


# ------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def darts_study(tmp_path_factory):
    from tests.test_study import _share_decoded_data

    store = tmp_path_factory.mktemp("store")
    _share_decoded_data(store)
    spec = _spec(store, oracle=OracleSpec(profile="smoke", archs=(DARTS_V2,)))
    return spec, run_study(spec, progress=False), run_study(spec, progress=False)


def test_darts_study_trains_the_selection_from_scratch(darts_study, capsys):
    from supernetbench.cli import main

    spec, first, second = darts_study
    assert first.ok, first.summary()
    assert set(first.computed) == {"train:darts-cifar10-s0", "select:darts-cifar10-s0:prune",
                                   "oracle:darts-cifar10-s0:prune:o0", next(t for t in first.states
                                                                              if t.startswith("oracle:cifar10:"))}
    assert second.ok and second.computed == []  # everything reused
    t = Task("oracle", "darts", "cifar10", 0, "prune", deps=("select:darts-cifar10-s0:prune",))
    rec = json.loads(artifact(spec, t).read_text())
    space = get_space("darts")
    assert rec["identity"]["genotype"] == space.format(space.canonical(space.parse(oracle_arch(spec, t))))
    assert rec["profile"] == "smoke"
    summary = first.records["oracle:darts-cifar10-s0:prune:o0"]["summary"]
    assert summary.startswith(f"final-epoch test acc {rec['result']['final_test_acc']:.2f}%")
    assert "a test-set selection" in summary
    table = status_table(study_status(spec))
    assert [ln.split() for ln in table.splitlines() if ln.startswith("oracle")] == [["oracle", "2", "0", "0", "0", "0"]]
    # the command line finds the study's result (same store, same key): nothing is trained again
    rc = main(["oracle", "--space", "darts", "--arch", oracle_arch(spec, t), "--profile", "smoke",
               "--store", spec.store, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["reused"] and out["final_test_acc"] == rec["result"]["final_test_acc"]


def test_darts_report_is_table3_from_the_oracle(darts_study, tmp_path):
    """The report of the study: Table 3 (final-epoch error; best over epochs labelled optimistic) from
    the oracle results, each genotype's shared-weight score on its supernet, the absent NB201 parts."""
    from supernetbench.report.oracle_report import write_oracle_report

    spec, first, _ = darts_study
    summary = write_oracle_report(spec, tmp_path)
    d = tmp_path / "cifar10"
    recs = json.loads((d / "records.json").read_text())["records"]
    assert summary["missing_oracle_tasks"] == [] and len(recs) == 1
    t = Task("oracle", "darts", "cifar10", 0, "prune", deps=("select:darts-cifar10-s0:prune",))
    res = json.loads(artifact(spec, t).read_text())["result"]
    assert recs[0]["final_acc"] == res["final_test_acc"] and recs[0]["best_acc"] == res["best_test_acc"]
    assert 0.0 <= recs[0]["shared_score"] <= 100.0 and recs[0]["arch"] == oracle_arch(spec, t)
    final = (d / "table3_final.md").read_text()
    assert f"{100 - res['final_test_acc']:.2f} ± 0.00" in final
    assert "test set" in (d / "table3_best.md").read_text()
    index = (d / "index.md").read_text()
    assert "a1/a2 curves" in index and "'table'" in index and "needs at least 3" in index
    assert (d / "table3_final.csv").exists() and (d / "table3_final.tex").exists()


def test_oracle_only_study_on_ray(tmp_path):
    """A study of explicit genotypes alone (``algos = []``) on the Ray backend; a second run on the
    local backend finds the result in the shared store and computes nothing."""
    pytest.importorskip("ray")
    from tests.test_study import _share_decoded_data

    _share_decoded_data(tmp_path)
    spec = _spec(tmp_path, algos=(), backend="ray", workers=1, oracle=OracleSpec(profile="smoke", archs=(DARTS_V2,),
                                                                                 selected=False))
    try:
        rep = run_study(spec, progress=False)
    finally:
        import ray

        ray.shutdown()
    assert rep.ok and len(rep.computed) == 1 and rep.computed[0].startswith("oracle:cifar10:")
    again = run_study(dataclasses.replace(spec, backend="local"), progress=False)
    assert again.ok and again.computed == []
    assert get_space("darts").benchmark(profile="smoke", root=str(tmp_path)).cached(DARTS_V2, "cifar10") is not None
