"""`supernetbench study`: the task graph, the shared artifact store, the local and Ray backends.

A tiny profile (C=2, 3 epochs on 128 images, 4 scoring images) keeps a study to about a minute on
2 CPU cores; full-space scoring (9,445 classes per run) is most of it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from supernetbench.cli import main
from supernetbench.pipeline.artifacts import MissingArtifacts, selection_path
from supernetbench.oneshot.train import RunSpec, SearchRun, run_dir_for, train_supernet
from supernetbench.pipeline.evaluate import evaluate
from supernetbench.harness.profiles import get_profile
from supernetbench.harness.store import load_weights
from supernetbench.study import StudySpec, plan, run_study, status_table, study_status
from supernetbench.study.tasks import Task, artifact, read_record, run_dir

TINY = {"epochs": 3, "train_size": 128, "valid_size": 64, "score_images": 4, "score_batch_size": 4, "valid_images": 4,
        "jacob_batch": 4, "perturb_valid_images": 8, "num_samples": 4, "C": 2}
TINY_FLAGS = [f"{k}={v}" for k, v in TINY.items()]
#: one xdist worker for the module (``make test`` runs -n auto --dist loadgroup): its study runs once
pytestmark = pytest.mark.xdist_group("study")


def _spec(store: Path, **kw) -> StudySpec:
    base = dict(algos=("darts", "untrained"), selectors=("prune", "valid", "perturb"), seeds=(0,), profile="smoke",
                overrides=tuple(sorted(TINY.items())), device="cpu", workers=2, store=str(store))
    return StudySpec(**{**base, **kw})


# ------------------------------------------------------------------------------------ spec and graph
def test_spec_validation_names_valid_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown selector.*'vaild'.*valid choices: prune"):
        _spec(tmp_path, selectors=("vaild",))
    with pytest.raises(ValueError, match="unknown dataset.*valid choices: cifar10"):
        _spec(tmp_path, datasets=("cifar11",))
    with pytest.raises(ValueError, match="unknown profile field"):
        _spec(tmp_path, overrides=(("epochz", 1),))
    (tmp_path / "s.toml").write_text('algos = ["darts"]\nseeds = [0, 1]\nbogus = 1\n')
    with pytest.raises(ValueError, match="unknown study key.*bogus"):
        StudySpec.from_toml(tmp_path / "s.toml")


def test_toml_and_flags(tmp_path):
    (tmp_path / "s.toml").write_text('algos = ["darts", "gdas"]\nselectors = ["prune"]\nseeds = [0, 1, 2]\n'
                                     'profile = "smoke"\nbackend = "ray"\n[set]\nepochs = 2\n')
    s = StudySpec.from_toml(tmp_path / "s.toml", seeds=[4], backend=None)
    assert s.algos == ("darts", "gdas") and s.seeds == (4,) and s.backend == "ray"
    assert s.stage_profile().epochs == 2 and s.key() != dataclasses.replace(s, seeds=(5,)).key()
    assert s.key() == dataclasses.replace(s, backend="local", workers=7).key()  # where it runs is not what it is


def test_plan_graph_skips_incompatible_pairs_with_reason(tmp_path):
    p = plan(_spec(tmp_path, seeds=(0, 1)))
    ids = [t.id for t in p.tasks]
    assert len(ids) == len(set(ids))
    pos = {t: i for i, t in enumerate(ids)}
    assert all(pos[d] < pos[t.id] for t in p.tasks for d in t.deps)  # dependency order
    assert "needs arch_weights" in p.skipped["select:untrained-cifar10-s0:prune"]
    # baselines: untrained (shared with the study's own) and rsps-biased; perturb samples nothing: one task
    assert {t.id for t in p.tasks if t.kind == "train"} == {f"train:{a}-cifar10-s{s}" for a in
                                                            ("darts", "untrained", "rsps-biased") for s in (0, 1)}
    assert "select:untrained-cifar10-s0:valid@rank-linear" in ids and "select:untrained-cifar10-s0:perturb" in ids
    rel = next(t for t in p.tasks if t.kind == "reliance")
    assert len(rel.deps) == 2 * (2 * 2 + 2)  # seeds x (2 runs x valid@2 distributions + perturb per run)


def test_study_store_is_the_suites_store(tmp_path, monkeypatch):
    """Default store = cache_dir(), runs under cache_dir()/runs, same run identities and selection
    addresses as `pytest suites` (suites/casegrid.py) - so a finished study is a warm suite cache."""
    monkeypatch.setenv("SUPERNETBENCH_CACHE", str(tmp_path))
    sys.path.insert(0, str(Path(__file__).parents[1] / "suites"))
    import casegrid

    spec = StudySpec.from_mapping({"seeds": [0, 1]})  # all methods and selectors, smoke, cifar10
    for t in plan(spec).tasks:
        if t.kind == "select" and t.distribution == "run":
            case = casegrid._case_spec(t.algo, t.dataset, t.seed)
            assert run_dir(spec, t) == run_dir_for(case, tmp_path / "runs")
            assert artifact(spec, t) == selection_path(run_dir_for(case, tmp_path / "runs"), t.selector,
                                                       case.profile, t.seed)


# ------------------------------------------------------------------------------------ local backend
def _share_decoded_data(store: Path) -> None:
    """Link the decoded CIFAR-10 pack of the usual cache into the fresh store (sha256-checked on
    read): decoding it again would cost ~30 s per worker and test nothing about studies."""
    from supernetbench.harness.store import cache_dir

    for f in (cache_dir() / "decoded").glob("cifar10-*.npz"):
        (store / "decoded").mkdir(exist_ok=True)
        (store / "decoded" / f.name).symlink_to(f.resolve())


@pytest.fixture(scope="module")
def local_study(tmp_path_factory):
    """A study run three times: with one planted failure, after fixing it, and once more."""
    store = tmp_path_factory.mktemp("store")
    _share_decoded_data(store)
    spec = _spec(store)
    bad = run_dir(spec, Task("train", "rsps-biased", "cifar10", 0))
    bad.mkdir(parents=True)
    (bad / "checkpoint.pt").write_bytes(b"not a checkpoint")  # the R_I baseline cannot resume: it fails
    t0 = time.time()
    first = run_study(spec, progress=False)
    t1 = time.time()
    (bad / "checkpoint.pt").unlink()
    second = run_study(spec, progress=False)
    t2 = time.time()
    third = run_study(spec, progress=False)
    return spec, first, second, third, (t1 - t0, t2 - t1, time.time() - t2)


def test_local_failure_is_reported_and_others_finish(local_study):
    spec, first, second, *_ = local_study
    failed = "train:rsps-biased-cifar10-s0"
    assert first.states[failed] == "failed"
    rec = first.records[failed]
    assert "cannot resume" in rec["error"] and Path(rec["log"]).is_file()
    assert "CorruptFileError" in Path(rec["log"]).read_text()
    assert first.states["select:rsps-biased-cifar10-s0:valid@uniform"] == "blocked"
    assert first.states["reliance:cifar10"] == "blocked"
    others = [t for t in first.states if "rsps-biased" not in t and not t.startswith("reliance")]
    assert len(others) == 11 and all(first.states[t] == "done" for t in others)
    rel = json.loads(artifact(spec, Task("reliance")).read_text())  # made by the second run
    assert set(rel["statistics"]) == {"valid", "perturb"} and rel["seeds"] == [0]


def test_local_rerun_finishes_then_recomputes_nothing(local_study, capsys):
    spec, first, second, third, secs = local_study
    assert second.ok and set(second.computed) == {t for t, s in first.states.items() if s != "done"}
    assert third.ok and third.computed == [], secs
    # status from the store, in another process's view: the CLI with the same flags
    argv = ["study", "--algos", *spec.algos, "--selectors", *spec.selectors, "--seeds", "0", "--profile", "smoke",
            "--set", *TINY_FLAGS, "--store", spec.store, "--status", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"done": len(out["tasks"]), "running": 0, "failed": 0, "pending": 0, "blocked": 0}
    assert "ETA 0m00s" in status_table(study_status(spec))


def test_evaluate_from_artifacts_only(local_study, tmp_path, monkeypatch):
    spec, *_ = local_study
    monkeypatch.setenv("SUPERNETBENCH_CACHE", spec.store)
    rs = spec.run_spec("darts", "cifar10", 0)
    ev = evaluate(rs, ["prune", "valid", "perturb"], device="cpu", runs_root=spec.runs_path, progress=False,
                  compute=False)
    assert sorted(ev.reused) == ["perturb", "prune", "valid"] and len(ev.scores) == 15_625
    stored = json.loads(selection_path(ev.run.path, "valid", rs.profile, 0).read_text())["selection"]
    assert dataclasses.asdict(ev.selections["valid"]) == stored
    with pytest.raises(MissingArtifacts) as e:  # another seed: nothing exists; every artifact is named
        evaluate(dataclasses.replace(rs, seed=3), ["valid"], device="cpu", runs_root=spec.runs_path, compute=False)
    assert "Stage-1 run" in str(e.value) and "selection" in str(e.value)
    assert e.value.command.startswith("supernetbench study --algos darts --selectors valid --datasets cifar10 "
                                      "--seeds 3 --profile smoke --set C=2")
    assert "--runs-root" not in e.value.command  # runs_path is <cache_dir()>/runs


def test_artifacts_only_never_decodes_the_data(local_study, monkeypatch):
    """The score index names each score entry by the identity of the data files, so reading the
    artifacts (and the study's done-check) decodes no image: with the decode made to fail, both work
    and give the same entry as the decoded path."""
    from supernetbench.harness.data import sources

    spec, *_ = local_study
    monkeypatch.setenv("SUPERNETBENCH_CACHE", spec.store)
    rs = spec.run_spec("darts", "cifar10", 0)
    score_task = next(t for t in plan(spec).tasks if t.kind == "score" and t.algo == "darts")
    from supernetbench.oneshot.scoring import score_cache_path
    from supernetbench.study import tasks as study_tasks

    sd, cfg = study_tasks._scoring_data(spec, "cifar10")  # the slow, obvious way: decode, hash the images
    run = SearchRun.load(run_dir(spec, score_task))
    decoded_path = score_cache_path(run, run.space.benchmark("cifar10"), sd, cfg)
    assert decoded_path.is_file()
    monkeypatch.setattr(sources, "_MEMO", {})

    def no_decode(*a, **k):
        raise AssertionError("the data was decoded")

    monkeypatch.setattr(sources, "_read", no_decode)
    study_tasks._scoring_data.cache_clear()
    assert artifact(spec, score_task) == decoded_path
    ev = evaluate(rs, ["prune", "valid"], device="cpu", runs_root=spec.runs_path, progress=False, compute=False)
    assert sorted(ev.reused) == ["prune", "valid"] and len(ev.scores) == 15_625


def test_report_from_the_study_store_computes_nothing(local_study, tmp_path, capsys):
    """`report --artifacts-only` with the study's own flags (store, seeds, profile) renders from
    the study's artifacts, reliance included, and writes nothing into the store; a seed the study
    never ran is one error naming every missing artifact and the one study command that makes them."""
    spec, *_ = local_study
    before = {f: f.stat().st_mtime_ns for f in Path(spec.store).rglob("*") if f.is_file()}
    def argv(*seeds: str) -> list[str]:
        return ["report", "--algos", *spec.algos, "--selectors", *spec.selectors, "--seeds", *seeds, "--profile",
                "smoke", "--set", *TINY_FLAGS, "--store", spec.store, "--reliance", "--artifacts-only",
                "--device", "cpu", "--out", str(tmp_path / f"rep{''.join(seeds)}")]

    assert main(argv("0")) == 0
    (tmp_path / "rep0").rename(tmp_path / "rep")
    assert (tmp_path / "rep" / "index.html").is_file() and (tmp_path / "rep" / "figures" / "reliance.png").is_file()
    after = {f: f.stat().st_mtime_ns for f in Path(spec.store).rglob("*") if f.is_file()}
    assert {f: t for f, t in after.items() if f.suffix != ".lock"} == \
        {f: t for f, t in before.items() if f.suffix != ".lock"}
    # the same from the study's TOML file: its store, seeds and [set] apply; --out per dataset
    f = tmp_path / "study.toml"
    f.write_text(f'algos = {list(spec.algos)!r}\nselectors = {list(spec.selectors)!r}\nseeds = [0]\n'
                 f'profile = "smoke"\nstore = {spec.store!r}\n[set]\n' + "".join(f"{k} = {v}\n" for k, v in TINY.items()))
    assert main(["report", "--study", str(f), "--artifacts-only", "--device", "cpu", "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "cifar10" / "tables" / "reliance.md").read_text() == \
        (tmp_path / "rep" / "tables" / "reliance.md").read_text()
    capsys.readouterr()
    assert main(argv("0", "5")) == 2
    err = capsys.readouterr().err
    # darts: run + 3 selections; untrained: run + valid, perturb (no prune); rsps-biased (R_U, R_I): run
    assert err.startswith("error: 8 artifact(s) missing; make them with: supernetbench study --algos darts "
                          "untrained --selectors prune valid perturb --datasets cifar10 --seeds 0 5 --profile smoke")
    assert "missing: Stage-1 run " in err and "darts-cifar10-s5" in err  # the list follows (clipped at 1,000 chars)
    assert not (tmp_path / "rep05").exists()


def _kill_mid_training(spec: StudySpec, task: Task) -> tuple[Any, int | None]:
    """Run ``spec`` in a thread; SIGKILL the worker of ``task`` after its first checkpoint.
    Returns (the study's report, the killed pid or None if the training was never seen mid-run)."""
    rdir = run_dir(spec, task)
    result: dict = {}
    t0 = time.time()
    runner = threading.Thread(target=lambda: result.setdefault("rep", run_study(spec, progress=False)))
    runner.start()
    killed = None
    # generous limits: a loaded CI machine starts workers slowly
    while killed is None and runner.is_alive() and time.time() - t0 < 300:
        rec = read_record(spec, task)
        if rec.get("state") == "running" and (rdir / "checkpoint.pt").exists():
            assert not (rdir / "DONE").exists()
            os.kill(rec["pid"], signal.SIGKILL)  # mid-run: after epoch 1 of 3
            killed = rec["pid"]
        time.sleep(0.005)
    runner.join(timeout=900)
    return result.get("rep"), killed


def _assert_retried_and_whole(spec: StudySpec, task: Task, rep: Any, killed: int | None) -> None:
    """The killed task ran again (attempt 2, another process), resumed, and matches an uninterrupted
    run bit for bit; no artifact in the store is half-written."""
    assert killed is not None, f"{task.id} was never seen between its first checkpoint and its end"
    assert rep is not None and rep.ok, rep and rep.summary()
    rec = read_record(spec, task)
    assert rec["state"] == "done" and rec["attempt"] == 2 and rec["pid"] != killed
    assert "attempt 1" in Path(rec["log"]).read_text() and "attempt 2" in Path(rec["log"]).read_text()
    # never half-written: a kill can leave only an orphan hidden temp file (``.<name>.<hex>.tmp``,
    # never read; swept at the next study start once old), every artifact parses
    files = [f for f in Path(spec.store).rglob("*") if f.is_file()]
    assert all(f.name.startswith(".") for f in files if f.suffix == ".tmp")
    for f in files:
        if f.suffix == ".json":
            json.loads(f.read_text())
    rdir = run_dir(spec, task)
    SearchRun.load(rdir)
    assert len((rdir / "log.jsonl").read_text().splitlines()) == 3
    ref = train_supernet(RunSpec(task.algo, "cifar10", 0, get_profile("smoke", TINY)),
                         runs_root=Path(spec.store) / "ref", device="cpu", progress=False)
    a, b = load_weights(rdir / "supernet.pt"), load_weights(ref.path / "supernet.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_local_study_retries_a_killed_worker(local_study):
    """The local pool: a gdas training whose worker process is SIGKILLed mid-run breaks the pool;
    the backend starts a new one, runs the task again, it resumes from its checkpoint."""
    spec = dataclasses.replace(local_study[0], algos=("gdas",), selectors=("prune",), reliance=False)
    task = Task("train", "gdas", "cifar10", 0)
    _assert_retried_and_whole(spec, task, *_kill_mid_training(spec, task))


# ------------------------------------------------------------------------------------ ray backend
def test_ray_study_retries_a_killed_worker(local_study):
    """Through a local Ray instance: the new R_U baseline (r_u=rsps) trains in a Ray worker that is
    SIGKILLed mid-run; Ray runs it again, it resumes, and every artifact is whole."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")
    spec = dataclasses.replace(local_study[0], backend="ray", r_u="rsps")
    task = Task("train", "rsps", "cifar10", 0)
    try:
        rep, killed = _kill_mid_training(spec, task)
    finally:
        ray.shutdown()
    _assert_retried_and_whole(spec, task, rep, killed)
