"""Run a study (tasks in dependency order on a backend) and report its state with an ETA.

Progress: one bar for the study (tasks finished, ETA from measured task durations), one summary
line per finished task, and every ``LIVE_EVERY`` seconds one line per running task (its own
progress and ETA). A failed task is reported with its log path; tasks that need it are ``blocked``;
every other task still runs.
"""
from __future__ import annotations

import secrets
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from ..harness.progress import progress_bar
from ..harness.store import atomic_write_json, sweep_harness_temps
from .spec import StudySpec
from .tasks import KINDS, Plan, Task, artifact, log_path, plan, read_record, record_path, run_dir, task_state

#: seconds between two lines about the running tasks
LIVE_EVERY = 30.0


@dataclass
class StudyReport:
    spec: StudySpec
    states: dict[str, str]  # task id -> done | running | failed | pending | blocked
    records: dict[str, dict[str, Any]]
    skipped: dict[str, str]
    wall_s: float = 0.0
    eta_s: float | None = None
    computed: list[str] = field(default_factory=list)  # tasks this call ran

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("done", "running", "failed", "pending", "blocked")}
        for s in self.states.values():
            out[s] += 1
        return out

    @property
    def ok(self) -> bool:
        return all(s == "done" for s in self.states.values())

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary (``--json``)."""
        return {
            "study": self.spec.to_dict(), "study_dir": str(self.spec.study_dir), "counts": self.counts(),
            "wall_s": round(self.wall_s, 3), "eta_s": self.eta_s, "computed": self.computed,
            "tasks": [{"id": t, "state": s, **{k: self.records.get(t, {}).get(k) for k in
                                               ("seconds", "artifact", "summary", "log", "error", "attempt")}}
                      for t, s in self.states.items()],
            "skipped": self.skipped,
        }


# ---------------------------------------------------------------------------------------- timing
def durations(spec: StudySpec, p: Plan) -> dict[str, float]:
    """Mean measured seconds per task kind (from this study's task records)."""
    seen: dict[str, list[float]] = defaultdict(list)
    for t in p.tasks:
        rec = read_record(spec, t)
        if rec.get("state") == "done" and isinstance(rec.get("seconds"), (int, float)):
            seen[t.kind].append(float(rec["seconds"]))
    return {k: sum(v) / len(v) for k, v in seen.items()}


def eta(states: dict[str, str], records: dict[str, dict], p: Plan, mean: dict[str, float], slots: int) -> float | None:
    """Seconds left: the estimated work of unfinished tasks over the parallel slots. A kind never
    measured yet counts as the mean of the measured kinds; None while nothing has been measured."""
    if not mean:
        return None
    left, now, other = 0.0, time.time(), sum(mean.values()) / len(mean)
    for t in p.tasks:
        s = states[t.id]
        if s in ("done", "failed", "blocked"):
            continue
        est = mean.get(t.kind, other)
        started = records.get(t.id, {}).get("started") if s == "running" else None
        left += max(0.0, est - (now - started)) if started else est
    return left / max(1, slots)


def fmt_s(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def task_progress(spec: StudySpec, t: Task, rec: dict[str, Any], mean: dict[str, float]) -> str:
    """A running task's own progress: epochs for training, elapsed vs the kind's mean otherwise."""
    elapsed = time.time() - rec["started"] if rec.get("started") else None
    if t.kind == "train":
        from ..algorithms import ALGORITHMS

        total = ALGORITHMS.get(t.algo).stage1_profile(spec.stage_profile()).epochs
        log = run_dir(spec, t) / "log.jsonl"
        done = sum(1 for line in log.read_text().splitlines() if line.strip()) if log.exists() else 0
        per = elapsed / done if elapsed and done else None
        return f"epoch {done}/{total}, ETA {fmt_s(per * (total - done) if per else None)}"
    if t.kind == "oracle":
        from .tasks import oracle_arch

        arch, oracle = oracle_arch(spec, t), spec.oracle_of()
        done = oracle.epochs_done(arch, t.dataset, t.oracle_seed) if arch is not None else 0
        total = oracle.config.epochs
        per = elapsed / done if elapsed and done else None  # (a resumed training: an upper bound)
        return f"from scratch, epoch {done}/{total}, ETA {fmt_s(per * (total - done) if per else None)}"
    est = mean.get(t.kind)
    return f"{fmt_s(elapsed)} elapsed, ETA {fmt_s(max(0.0, est - elapsed) if est and elapsed else None)}"


# ---------------------------------------------------------------------------------------- status
def study_status(spec: StudySpec, slots: int | None = None) -> StudyReport:
    """Every task's state from the store (works while another process runs the study)."""
    import os

    p = plan(spec)
    states, records = {}, {}
    for t in p.tasks:
        states[t.id], records[t.id] = task_state(spec, t)
    _block(p, states)
    mean = durations(spec, p)
    return StudyReport(spec, states, records, p.skipped,
                       eta_s=eta(states, records, p, mean, slots or spec.workers or os.cpu_count() or 1))


def _block(p: Plan, states: dict[str, str]) -> None:
    """A pending task that needs a failed or blocked one is blocked."""
    for t in p.tasks:  # dependency order: one pass suffices
        if states[t.id] == "pending" and any(states[d] in ("failed", "blocked") for d in t.deps):
            states[t.id] = "blocked"


def status_table(rep: StudyReport) -> str:
    """Counts per kind and state, the failed tasks with their logs, the running ones with progress."""
    p = plan(rep.spec)
    mean = durations(rep.spec, p)
    by_kind = {k: defaultdict(int) for k in KINDS}
    for t in p.tasks:
        by_kind[t.kind][rep.states[t.id]] += 1
    cols = ("done", "running", "failed", "pending", "blocked")
    lines = [f"study {rep.spec.study_dir}", f"{'kind':<10}" + "".join(f"{c:>9}" for c in cols)]
    for k in KINDS:
        if sum(by_kind[k].values()):
            lines.append(f"{k:<10}" + "".join(f"{by_kind[k][c]:>9}" for c in cols))
    c = rep.counts()
    lines.append(f"{'all':<10}" + "".join(f"{c[x]:>9}" for x in cols))
    lines.append(f"ETA {fmt_s(rep.eta_s)} (from measured task durations"
                 + (f": {', '.join(f'{k} {v:.1f}s' for k, v in mean.items())})" if mean else "; none measured yet)"))
    for t in p.tasks:
        s = rep.states[t.id]
        if s == "running":
            lines.append(f"running  {t.id}: {task_progress(rep.spec, t, rep.records[t.id], mean)}")
        elif s == "failed":
            r = rep.records[t.id]
            lines.append(f"failed   {t.id}: {r.get('error', '?')} (log {r.get('log', log_path(rep.spec, t))})")
    if rep.skipped:
        lines.append(f"{len(rep.skipped)} incompatible pair(s) skipped, e.g. {next(iter(rep.skipped))}: "
                     f"{next(iter(rep.skipped.values()))}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- running
def run_study(spec: StudySpec, *, progress: bool = True) -> StudyReport:
    """Run every unfinished task of ``spec`` on its backend; finished artifacts are reused."""
    from .backends import BACKENDS

    t_start = time.time()
    p = plan(spec)
    spec.study_dir.mkdir(parents=True, exist_ok=True)
    swept = sweep_harness_temps(spec.store_path, spec.runs_path)  # left by writers killed mid-write
    atomic_write_json(spec.study_dir / "study.json", spec.to_dict())
    states, records = {}, {}
    for t in p.tasks:
        st, records[t.id] = task_state(spec, t)
        states[t.id] = "done" if st == "done" else "pending"  # failed before / running elsewhere: (re)run it
    todo = [t for t in p.tasks if states[t.id] != "done"]
    if not todo:  # everything is in the store: no workers, no cluster
        return _finish(spec, p, states, records, t_start, [])
    backend = BACKENDS.get(spec.backend)(spec, secrets.token_hex(4))
    mean = durations(spec, p)
    bar = progress_bar(None, progress, total=len(todo), desc=f"study ({len(p.tasks)} tasks, {len(todo)} to run)",
                       unit="task")
    say = (lambda line: tqdm.write(line, file=sys.stderr)) if progress else (lambda line: None)
    say(f"study {spec.study_dir}: {len(p.tasks) - len(todo)} task(s) already done, {len(todo)} to run on "
        f"{spec.backend} ({backend.slots} at a time); {len(p.skipped)} incompatible pair(s) skipped"
        + (f"; removed {len(swept)} orphan temp file(s) of killed writers" if swept else ""))
    computed: list[str] = []
    by_id = p.by_id()
    last_live = time.time()
    aborted = True  # until the loop ends normally: Ctrl-C / SIGTERM stop the workers instead of waiting
    try:
        while any(states[t.id] in ("pending", "running") for t in todo):
            _block(p, states)
            for t in todo:  # submit what is ready, in plan order
                if not backend.has_free_slot():
                    break
                if states[t.id] == "pending" and all(states[d] == "done" for d in t.deps):
                    states[t.id] = "running"
                    records[t.id] = {"started": time.time()}
                    backend.submit(t)
            if not any(s == "running" for s in states.values()):
                break  # only blocked tasks are left
            for t, res in backend.poll(timeout=2.0):
                art = artifact(spec, t) if res.get("state") == "done" else None
                ok = art is not None and art.exists()
                states[t.id] = "done" if ok else "failed"
                if not ok:
                    res = {**res, "state": "failed", "log": str(log_path(spec, t)),
                           "error": res.get("error") or "finished without its artifact"}
                    atomic_write_json(record_path(spec, t), {**read_record(spec, t), **res})
                records[t.id] = res
                computed.append(t.id)
                if ok and isinstance(res.get("seconds"), (int, float)):
                    n = sum(1 for x in computed if by_id[x].kind == t.kind and states[x] == "done")
                    mean[t.kind] = (mean.get(t.kind, res["seconds"]) * (n - 1) + res["seconds"]) / n
                bar.update(1)
                bar.set_postfix_str(f"ETA {fmt_s(eta(states, records, p, mean, backend.slots))}", refresh=False)
                say(f"[{sum(s in ('done', 'failed') for s in states.values())}/{len(p.tasks)}] "
                    + (f"done    {t.id} ({res.get('seconds', 0):.1f} s): {res.get('summary', '')}" if ok else
                       f"FAILED  {t.id}: {res['error']} (log {res['log']})"))
            if progress and time.time() - last_live > LIVE_EVERY:
                last_live = time.time()
                for t in todo:
                    if states[t.id] == "running":
                        say(f"  running {t.id}: {task_progress(spec, t, {**records[t.id], **read_record(spec, t)}, mean)}")
        aborted = False
    finally:
        backend.close(abort=aborted)
        bar.close()
    return _finish(spec, p, states, records, t_start, computed)


def _finish(spec: StudySpec, p: Plan, states, records, t_start: float, computed: list[str]) -> StudyReport:
    _block(p, states)
    rep = StudyReport(spec, states, records, p.skipped, wall_s=time.time() - t_start, computed=computed, eta_s=0.0
                      if all(s == "done" for s in states.values()) else None)
    atomic_write_json(spec.study_dir / "summary.json", rep.summary())
    return rep
