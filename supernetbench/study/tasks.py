"""A study's task graph, what each task does, and each task's state read from the artifact store.

Tasks (``kind`` -> what it makes, its content address):

* ``train`` (algo x dataset x seed, plus the reliance baselines) -> ``<run dir>/DONE``;
* ``score`` (per study run, unless the study says ``scoring = false``) -> the full-space score cache
  entry (``scoring.score_cache_path``);
* ``select`` (run x selector [x candidate distribution for the baselines]; only the study's ``pairs``
  when it names them) -> the selection record
  (``artifacts.selection_path``); an incompatible pair is no task: it is listed with its reason;
* ``reliance`` (per dataset) -> ``<store>/reliance/<hash>.json``;
* ``oracle`` (a space without a table, the study's ``[oracle]``: per Stage-2 selection and oracle
  seed, after its ``select`` task; per explicit genotype, dataset and oracle seed) -> the trained
  result ``<store>/oracle/<key>/result.json`` of the space's ``TrainedOracle`` (protocol §8).

On a space without a table (``darts``) a study is Stage 2 only, as ``evaluate`` there: ``train``,
``select`` (right after its run) and ``oracle``; full-space scoring and reliance need a table and
are listed as skipped, with the reason.

State is derived, never kept in memory, so ``supernetbench study --status`` works from any process:
``done`` = the artifact exists; ``running`` = its file lock is held (``harness/locks``); ``failed`` =
the study's task record says so (with the log path); otherwise ``pending``.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from ..harness.store import atomic_write_json, content_hash, read_json
from .spec import StudySpec

KINDS = ("train", "score", "select", "reliance", "oracle")


@dataclass(frozen=True)
class Task:
    kind: str
    algo: str | None = None
    dataset: str = "cifar10"
    seed: int | None = None
    selector: str | None = None
    distribution: str = "run"  # select: the candidate distribution ("run", or a baseline's)
    deps: tuple[str, ...] = ()
    arch: str | None = None  # oracle: an explicit (canonical) genotype; None: the selection of (run, selector)
    oracle_seed: int = 0  # oracle: the from-scratch training seed

    @property
    def id(self) -> str:
        run = f"{self.algo}-{self.dataset}-s{self.seed}"
        if self.kind in ("train", "score"):
            return f"{self.kind}:{run}"
        if self.kind == "select":
            return f"select:{run}:{self.selector}" + ("" if self.distribution in ("run", "-") else f"@{self.distribution}")
        if self.kind == "oracle":
            what = f"{run}:{self.selector}" if self.arch is None else f"{self.dataset}:{content_hash(self.arch)[:8]}"
            return f"oracle:{what}:o{self.oracle_seed}"
        return f"reliance:{self.dataset}"

    @property
    def slug(self) -> str:
        """The id as a file name."""
        return self.id.replace(":", "_").replace("@", "_")


@dataclass
class Plan:
    tasks: list[Task]
    skipped: dict[str, str]  # "select:<run>:<selector>" -> why the pair does not apply

    def by_id(self) -> dict[str, Task]:
        return {t.id: t for t in self.tasks}


def plan(spec: StudySpec) -> Plan:
    """Every task of ``spec`` in dependency order (each after the tasks it needs)."""
    from ..algorithms import ALGORITHMS
    from ..pipeline.baselines import baseline_specs, reliance_selectors
    from ..selectors import SELECTORS, IncompatiblePair
    from ..spaces import get_space

    tasks: dict[str, Task] = {}
    skipped: dict[str, str] = {}

    def add(t: Task) -> str:
        tasks.setdefault(t.id, t)
        return t.id

    space = get_space(spec.space)
    if not space.has("table"):
        return _plan_without_table(spec, space, add, skipped, tasks)
    rel_sels = [s for s in reliance_selectors() if s in spec.selectors] if spec.reliance else []
    for ds in spec.datasets:
        rel_deps: list[str] = []
        for seed in spec.seeds:
            for algo in spec.algos:
                tr = add(Task("train", algo, ds, seed))
                sc = add(Task("score", algo, ds, seed, deps=(tr,))) if spec.scoring else tr
                for sel in spec.selectors:
                    if not spec.wants(algo, sel):
                        continue
                    try:
                        SELECTORS.get(sel).check_compatible(ALGORITHMS.get(algo).provides, algo)
                    except IncompatiblePair as e:
                        skipped[Task("select", algo, ds, seed, sel).id] = str(e)
                        continue
                    add(Task("select", algo, ds, seed, sel, deps=(sc,)))
            if rel_sels:  # the four baselines' selections, as evaluate_baselines makes them
                for algo, dist in baseline_specs(spec.r_u).values():
                    tr = add(Task("train", algo, ds, seed))
                    for sel in rel_sels:
                        d = dist if SELECTORS.get(sel).samples else "-"  # one task when the study has it too
                        rel_deps.append(add(Task("select", algo, ds, seed, sel, d, deps=(tr,))))
        if rel_sels:
            add(Task("reliance", dataset=ds, deps=tuple(dict.fromkeys(rel_deps))))
    return Plan(list(tasks.values()), skipped)


def _plan_without_table(spec: StudySpec, space, add: Callable[[Task], str], skipped: dict[str, str],
                        tasks: dict[str, Task]) -> Plan:
    """A space without a table: ``train`` -> ``select`` -> ``oracle`` (the selected genotype trained
    from scratch), plus the ``[oracle]`` archs; scoring and reliance are skipped with the reason."""
    from ..algorithms import ALGORITHMS
    from ..selectors import SELECTORS, IncompatiblePair
    from ..spaces import missing_capability

    why_score = missing_capability(space, "table", "full-space scoring and the Stage-1 metrics (a1/a2)")
    why_rel = missing_capability(space, "table", "reliance (the N_I / R_I baselines)")
    oracle = spec.oracle
    for ds in spec.datasets:
        for seed in spec.seeds:
            for algo in spec.algos:
                cls = ALGORITHMS.get(algo)
                lacking = [missing_capability(space, c, f"Stage-1 method {algo!r}") for c in sorted(cls.space_requires)]
                if any(lacking):
                    skipped[Task("train", algo, ds, seed).id] = next(r for r in lacking if r)
                    continue
                tr = add(Task("train", algo, ds, seed))
                skipped[Task("score", algo, ds, seed).id] = str(why_score)
                for sel in spec.selectors:
                    if not spec.wants(algo, sel):
                        continue
                    try:
                        SELECTORS.get(sel).check_compatible(cls.provides, algo)
                        SELECTORS.get(sel).check_space(space)
                    except IncompatiblePair as e:
                        skipped[Task("select", algo, ds, seed, sel).id] = str(e)
                        continue
                    st = add(Task("select", algo, ds, seed, sel, deps=(tr,)))
                    if oracle is not None and oracle.selected:
                        for o in oracle.seeds:
                            add(Task("oracle", algo, ds, seed, sel, deps=(st,), oracle_seed=o))
        if spec.reliance:
            skipped[f"reliance:{ds}"] = str(why_rel)
        if oracle is not None:
            for a in oracle.archs:
                canonical = space.format(space.canonical(space.parse(a)))
                for o in oracle.seeds:
                    add(Task("oracle", dataset=ds, arch=canonical, oracle_seed=o))
    return Plan(list(tasks.values()), skipped)


# ------------------------------------------------------------------------------------ artifacts
@contextlib.contextmanager
def using_store(spec: StudySpec) -> Iterator[None]:
    """``cache_dir()`` = the study's store for the block (the score cache lives there)."""
    old = os.environ.get("SUPERNETBENCH_CACHE")
    os.environ["SUPERNETBENCH_CACHE"] = str(spec.store_path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SUPERNETBENCH_CACHE", None)
        else:
            os.environ["SUPERNETBENCH_CACHE"] = old


def run_dir(spec: StudySpec, t: Task) -> Path:
    from ..oneshot.train import run_dir_for

    return run_dir_for(spec.run_spec(t.algo, t.dataset, t.seed), spec.runs_path)


def reliance_selectors_of(spec: StudySpec) -> list[str]:
    from ..pipeline.baselines import reliance_selectors

    return [s for s in reliance_selectors() if s in spec.selectors]


def reliance_path(spec: StudySpec, dataset: str) -> Path:
    key = content_hash(dataset, sorted(spec.seeds), spec.stage_profile().to_dict(), reliance_selectors_of(spec),
                       spec.r_u, spec.data_root, Path(spec.runs_path).resolve().as_posix(), "reliance-v1")
    return spec.store_path / "reliance" / f"{dataset}-{spec.profile}-{key}.json"


@lru_cache(maxsize=8)
def _scoring_data(spec: StudySpec, dataset: str):
    from ..oneshot.train import cached_search_data
    from ..oneshot.scoring import ScoreConfig, make_scoring_data

    p = spec.stage_profile()
    rs = spec.run_spec("darts", dataset, 0)  # the data depends on dataset and profile only
    cfg = ScoreConfig.from_profile(p)
    return make_scoring_data(cached_search_data(rs.data_config()), cfg, "cpu", p.torch_dtype), cfg


def oracle_arch(spec: StudySpec, t: Task) -> str | None:
    """The genotype an ``oracle`` task trains: its own, or its selection's (None while that is not made)."""
    if t.arch is not None:
        return t.arch
    rec = read_selection_record(spec, Task("select", t.algo, t.dataset, t.seed, t.selector))
    return rec["selection"]["arch"] if rec is not None else None


def read_selection_record(spec: StudySpec, t: Task) -> dict[str, Any] | None:
    """The sound selection record of the ``select`` task ``t`` (None: absent, damaged or stale)."""
    from ..pipeline.artifacts import read_selection

    path = artifact(spec, t)
    return read_selection(path, _run_inputs(str(run_dir(spec, t)), t.dataset, spec.space), None, t.dataset,
                          spec.stage_profile().gt_split) if path is not None else None


def artifact(spec: StudySpec, t: Task) -> Path | None:
    """The content address of ``t``'s result; None while it cannot be known (scores before training,
    the from-scratch result of a selection before the selection)."""
    if t.kind == "oracle":
        arch = oracle_arch(spec, t)
        return None if arch is None else spec.oracle_of().path(arch, t.dataset, t.oracle_seed) / "result.json"
    if t.kind == "train":
        return run_dir(spec, t) / "DONE"
    if t.kind == "select":
        from ..pipeline.artifacts import selection_path

        return selection_path(run_dir(spec, t), t.selector, spec.stage_profile(), t.seed, t.distribution)
    if t.kind == "reliance":
        return reliance_path(spec, t.dataset)
    d = run_dir(spec, t)
    if not (d / "DONE").exists():
        return None
    from ..harness.data import data_identity
    from ..oneshot.train import SearchRun
    from ..oneshot.scoring import ScoreConfig, indexed_score_path, score_cache_path

    rs = spec.run_spec(t.algo, t.dataset, t.seed)
    with using_store(spec):
        run = SearchRun.load(d)
        gt = run.space.benchmark(t.dataset)
        # the score index names the entry without decoding the data (`study --status`, reruns)
        path = indexed_score_path(run, gt, data_identity(rs.data_config()), ScoreConfig.from_profile(rs.profile))
        if path is not None:
            return path
        sd, cfg = _scoring_data(spec, t.dataset)
        return score_cache_path(run, gt, sd, cfg)


def lock_path(spec: StudySpec, t: Task, art: Path | None) -> Path | None:
    if t.kind == "train":
        return run_dir(spec, t) / ".lock"
    if t.kind == "oracle":
        return art.parent / ".lock" if art is not None else None
    return art.with_suffix(".lock") if art is not None else None


def lock_held(path: Path | None) -> bool:
    """Whether another process holds the lock at ``path`` (tried without waiting, released at once)."""
    from filelock import FileLock, Timeout

    if path is None or not path.exists():
        return False
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def record_path(spec: StudySpec, t: Task) -> Path:
    return spec.study_dir / "tasks" / f"{t.slug}.json"


def log_path(spec: StudySpec, t: Task) -> Path:
    return spec.study_dir / "logs" / f"{t.slug}.log"


#: task-record fields and the types a reader relies on (a damaged record loses the others)
_RECORD_TYPES: dict[str, tuple[type, ...]] = {"started": (int, float), "seconds": (int, float), "attempt": (int,),
                                              "state": (str,), "error": (str,), "log": (str,), "session": (str,)}


def read_record(spec: StudySpec, t: Task) -> dict[str, Any]:
    """The task's record; ``{}`` when absent or unreadable, and a field of the wrong type is dropped
    (a damaged record never breaks ``--status``)."""
    try:
        rec = read_json(record_path(spec, t))
    except (OSError, ValueError):
        return {}
    if not isinstance(rec, dict):
        return {}
    return {k: v for k, v in rec.items() if k not in _RECORD_TYPES
            or (isinstance(v, _RECORD_TYPES[k]) and not isinstance(v, bool))}


def artifact_ok(spec: StudySpec, t: Task, art: Path | None) -> bool:
    """Whether ``t``'s artifact exists and is sound - judged as ``evaluate`` and ``report`` judge it:
    a finished run's files match their manifest, a selection record passes
    :func:`~supernetbench.pipeline.artifacts.selection_state` (checksum, the NB201 table, the run's
    supernet). A damaged artifact is not done: the study makes it again."""
    if art is None or not art.exists():
        return False
    if t.kind == "train":
        from ..oneshot.train import run_problem

        return run_problem(art.parent) is None
    if t.kind == "select":
        from ..pipeline.artifacts import selection_state

        gt = _ground_truth(spec.space)
        inputs = _run_inputs(str(run_dir(spec, t)), t.dataset, spec.space)
        return selection_state(art, inputs, gt, t.dataset, spec.stage_profile().gt_split)[0] == "ok"
    if t.kind == "oracle":
        return spec.oracle_of().result(oracle_arch(spec, t), t.dataset, t.oracle_seed) is not None
    return True


def _ground_truth(space: str = "nb201"):
    """The space's tabular ground truth; None for a space without a table (its selections name an
    arch only: their truth is the ``oracle`` tasks')."""
    from ..spaces import get_space

    sp = get_space(space)
    return sp.benchmark() if sp.has("table") else None


_INPUTS: dict[tuple, dict[str, Any]] = {}


def _run_inputs(path: str, dataset: str, space: str = "nb201") -> dict[str, Any] | None:
    """What a selection of the run at ``path`` is made from (its supernet, the table - none for a
    space without one); memoised per run and supernet file version (None while the run has no supernet)."""
    from ..harness.store import file_sha256

    try:
        st = (Path(path) / "supernet.pt").stat()
    except OSError:
        return None
    key = (path, dataset, st.st_mtime_ns, st.st_size, space)
    if key not in _INPUTS:
        gt = _ground_truth(space)
        _INPUTS[key] = {"supernet_sha256": file_sha256(Path(path) / "supernet.pt"),
                        "ground_truth": None if gt is None else content_hash(gt.archs, gt.test_acc(dataset)),
                        "scores": None}
    return _INPUTS[key]


def task_state(spec: StudySpec, t: Task) -> tuple[str, dict[str, Any]]:
    """(``done`` | ``running`` | ``failed`` | ``pending``, the task's record)."""
    rec = read_record(spec, t)
    art = artifact(spec, t)
    if artifact_ok(spec, t, art):
        return "done", rec
    if lock_held(lock_path(spec, t, art)):
        return "running", rec
    if rec.get("state") == "failed":
        return "failed", rec
    return "pending", rec


# ------------------------------------------------------------------------------------ execution
def execute(spec: StudySpec, t: Task, device: str = "cpu", threads: int | None = 1, session: str = "") -> dict[str, Any]:
    """Run one task in this process (a pool or Ray worker): log to the task's log file, keep its
    record (running -> done | failed). An exception becomes a failure result (the others go on);
    a dying worker leaves the record at ``running`` and its artifacts whole (atomic writes)."""
    from ..harness.device import torch_threads

    os.environ["SUPERNETBENCH_CACHE"] = str(spec.store_path)  # this worker's cache_dir() is the store
    prev = read_record(spec, t)
    attempt = prev.get("attempt", 0) + 1 if prev.get("session") == session and prev.get("state") == "running" else 1
    log = log_path(spec, t)
    log.parent.mkdir(parents=True, exist_ok=True)
    base = {"task": t.id, "kind": t.kind, "log": str(log), "session": session, "attempt": attempt,
            "host": socket.gethostname(), "pid": os.getpid(), "device": device}
    t0 = time.time()
    atomic_write_json(record_path(spec, t), {**base, "state": "running", "started": t0})
    with open(log, "a", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        print(f"=== {t.id} attempt {attempt} on {base['host']} pid {base['pid']} device {device} "
              f"({time.strftime('%Y-%m-%d %H:%M:%S')})", flush=True)
        try:
            from ..plugins import load_plugins

            load_plugins(spec.plugins)  # a spawned or Ray worker: the study's --plugin specs (entry points load lazily)
            with torch_threads(threads):
                info = HANDLERS[t.kind](spec, t, device)
        except Exception as e:  # noqa: BLE001 - a failed task is reported, the study goes on
            traceback.print_exc()
            rec = {**base, "state": "failed", "seconds": time.time() - t0, "error": f"{type(e).__name__}: {e}"}
            atomic_write_json(record_path(spec, t), rec)
            return rec
        print(f"=== done in {time.time() - t0:.1f} s: {json.dumps(info)}", flush=True)
    rec = {**base, "state": "done", "seconds": time.time() - t0, **info}
    atomic_write_json(record_path(spec, t), rec)
    return rec


def _train(spec: StudySpec, t: Task, device: str) -> dict[str, Any]:
    from ..oneshot.train import train_supernet

    run = train_supernet(spec.run_spec(t.algo, t.dataset, t.seed), runs_root=spec.runs_path, device=device,
                         progress=True)
    last = run.log[-1] if run.log else {}
    return {"artifact": str(run.path), "summary": f"valid acc {last.get('valid_acc', float('nan')):.1f}%"
            if run.log else "untrained"}


def _load(spec: StudySpec, t: Task):
    from ..oneshot.train import SearchRun

    run = SearchRun.load(run_dir(spec, t))
    return run, (run.space.benchmark(t.dataset) if run.space.has("table") else None)


def _score(spec: StudySpec, t: Task, device: str) -> dict[str, Any]:
    import numpy as np

    from ..harness.data import data_identity
    from ..oneshot.train import cached_search_data
    from ..oneshot.scoring import ScoreConfig, cached_score_space

    run, gt = _load(spec, t)
    rs = spec.run_spec(t.algo, t.dataset, t.seed)
    scores = cached_score_space(run, gt, cached_search_data(rs.data_config()), ScoreConfig.from_profile(rs.profile),
                                device, progress=True, workers=1, identity=data_identity(rs.data_config()))
    return {"artifact": str(artifact(spec, t)), "summary": f"mean score {float(np.mean(scores)):.2f}%"}


def _select(spec: StudySpec, t: Task, device: str) -> dict[str, Any]:
    from ..pipeline.artifacts import cached_selection
    from ..pipeline.evaluate import selection_context

    run, gt = _load(spec, t)
    scores = None
    if t.distribution == "run" and any(d.startswith("score:") for d in t.deps):  # as evaluate(): with the scores
        from ..harness.store import load_cached_arrays

        scores = load_cached_arrays(artifact(spec, Task("score", t.algo, t.dataset, t.seed)), ["scores"])["scores"]
    dist = "uniform" if t.distribution == "-" else t.distribution  # "-": the selector samples nothing
    ctx = selection_context(run, gt, seed=t.seed, device=device, distribution=dist, data_root=spec.data_root,
                            full_scores=scores, profile=spec.stage_profile())  # the study's Stage-2 fields
    sel, seconds, reused = cached_selection(ctx, t.selector, progress=True)
    acc = f" -> test acc {sel.test_acc:.2f}%" if sel.test_acc is not None else ""
    return {"artifact": str(artifact(spec, t)), "summary": f"{sel.arch}{acc}" + (" (reused)" if reused else "")}


def _reliance(spec: StudySpec, t: Task, device: str) -> dict[str, Any]:
    from ..pipeline.baselines import evaluate_baselines
    from ..harness.locks import claim

    path = reliance_path(spec, t.dataset)
    with claim(path.with_suffix(".lock"), f"reliance of {t.dataset}"):
        res = evaluate_baselines(t.dataset, list(spec.seeds), spec.stage_profile(), reliance_selectors_of(spec),
                                 r_u=spec.r_u, device=device, runs_root=spec.runs_path, data_root=spec.data_root)
        atomic_write_json(path, res.summary())
    best = max(res.statistics.items(), key=lambda kv: kv[1]["R_I-R_U"].mean)
    return {"artifact": str(path), "summary": f"largest R_I-R_U: {best[0]} {best[1]['R_I-R_U'].mean:+.2f} pp"}


def _oracle(spec: StudySpec, t: Task, device: str) -> dict[str, Any]:
    """Train the task's genotype from scratch (or reuse the stored result; resumes a killed training)."""
    arch = oracle_arch(spec, t)
    if arch is None:
        raise RuntimeError(f"the selection of {t.deps[0] if t.deps else t.id} is missing or damaged; "
                           "rerun the study to make it")
    oracle = spec.oracle_of(device=device, progress=True)
    res, reused = oracle.train_result(arch, t.dataset, t.oracle_seed)
    return {"artifact": str(oracle.path(arch, t.dataset, t.oracle_seed) / "result.json"),
            "summary": f"final-epoch test acc {res.final_test_acc:.2f}% (best over epochs {res.best_test_acc:.2f}%: "
                       "a test-set selection)" + (" (reused)" if reused else "")}


HANDLERS: dict[str, Callable[[StudySpec, Task, str], dict[str, Any]]] = {
    "train": _train, "score": _score, "select": _select, "reliance": _reliance, "oracle": _oracle}
