"""Stage-2 results as content-addressed artifacts, so finished work is never recomputed.

A selection lives at ``<run dir>/selections/<selector>[-<dist>]-s<seed>-<hash>.json`` (written
atomically, under a file lock). Its path is a pure function of the run's identity (the run
directory name holds ``RunSpec.key()``), the selector, the candidate distribution (``-`` for
selectors that sample nothing), the selection seed, the Stage-2 profile fields (``LATER_FIELDS``),
``CODE_VERSION`` and the selector's code identity (source hash; a plugin's distribution and
version) - so a study can tell "done" from another process without loading anything.
The record also holds what the result was computed from (sha256 of ``supernet.pt``, of the ground
truth and of the full-space scores when they were given); a record whose inputs no longer match
(a run retrained after deletion, another benchmark table) is stale and recomputed.

:func:`selection_artifacts` lists what an evaluation needs; :class:`MissingArtifacts` names what is
absent and the ``supernetbench study`` command that makes it.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..oneshot.train import CODE_VERSION, RunSpec, SearchRun
from ..harness.device import seeded_global_rng
from ..harness.locks import claim
from ..harness.profiles import LATER_FIELDS, PROFILES, Profile, is_hidden_default
from ..harness.store import CorruptFileError, atomic_write_json, content_hash, file_sha256, read_json

#: bump when the record layout changes
SELECTION_FORMAT = "selection-v1"


class MissingArtifacts(LookupError):
    """An evaluation from artifacts only found some of them missing; names them and the fix."""

    def __init__(self, missing: list[str], command: str):
        self.missing, self.command = list(missing), command
        # the fix first: a long list is what a one-line error clips
        super().__init__(f"{len(self.missing)} artifact(s) missing; make them with: {command}; missing: "
                         + "; ".join(self.missing))


def stage2_fields(profile: Profile) -> dict[str, Any]:
    """The profile fields that change scoring or Stage 2 (part of every Stage-2 artifact key); a
    field of ``HIDDEN_DEFAULTS`` at its default is left out, so earlier keys stay valid."""
    return {k: getattr(profile, k) for k in LATER_FIELDS if not is_hidden_default(k, getattr(profile, k))}


def selection_path(run_dir: str | Path, selector: str, profile: Profile, seed: int, distribution: str = "run") -> Path:
    """Where the selection of ``selector`` on the run in ``run_dir`` is stored (see module doc)."""
    from ..selectors import SELECTORS

    dist = distribution if SELECTORS.get(selector).samples else "-"  # prune/perturb sample nothing
    key = content_hash(Path(run_dir).name, selector, dist, int(seed), stage2_fields(profile), CODE_VERSION,
                       SELECTION_FORMAT, SELECTORS.identity(selector))
    name = f"{selector}-s{seed}" if dist == "-" else f"{selector}-{dist}-s{seed}"
    return Path(run_dir) / "selections" / f"{name}-{key}.json"


def selection_inputs(run: SearchRun, gt, full_scores: np.ndarray | None) -> dict[str, Any]:
    """What a selection is computed from (recorded with it; a record whose inputs differ is stale)."""
    return {"supernet_sha256": file_sha256(Path(run.path) / "supernet.pt"),
            "ground_truth": _gt_hash(gt, run) if gt is not None else None,
            "scores": content_hash(np.asarray(full_scores, dtype=np.float64)) if full_scores is not None else None}


def _gt_hash(gt, run: SearchRun) -> str:
    """Hash of the ground truth a selection reads (the Stage-2 split; with a non-default ``gt_split``
    also the Stage-1 split of the biased candidate law): unchanged for the default."""
    split = getattr(run.profile, "gt_split", "table")
    acc2 = gt.accuracy(run.dataset, split, "stage2")
    if split == "table":
        return content_hash(gt.archs, acc2)
    return content_hash(gt.archs, acc2, gt.accuracy(run.dataset, split, "stage1"))


def record_sha256(rec: dict[str, Any]) -> str:
    """sha256 of a selection record's canonical JSON, without its own ``sha256`` field."""
    import hashlib
    import json

    body = {k: v for k, v in rec.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=_json_default).encode()).hexdigest()


def _json_default(o: Any) -> Any:
    from ..harness.store import _json_default as default

    return default(o)


def selection_problem(rec: Any, gt=None, dataset: str | None = None, gt_split: str = "table") -> str | None:
    """Why a stored selection record cannot be trusted (None: it can): not a record of this format,
    a checksum that does not match (records written before checksums have none: then only the
    checks below), or a selection whose ``index`` is out of range or whose ``arch`` / ``test_acc``
    are not the NB201 table's at that index (``gt`` and ``dataset`` given)."""
    import math

    if not isinstance(rec, dict) or rec.get("format") != SELECTION_FORMAT:
        return f"it is not a {SELECTION_FORMAT} record"
    if "sha256" in rec and rec["sha256"] != record_sha256(rec):
        return "its checksum does not match its contents"
    sel = rec.get("selection")
    if not isinstance(sel, dict) or set(sel) != {"arch", "index", "test_acc", "details"}:
        return "its 'selection' is not an arch, index, test_acc and details"
    idx, arch, acc = sel["index"], sel["arch"], sel["test_acc"]
    if gt is None and idx is None and acc is None:  # a space without a table: only the arch string
        return None if isinstance(arch, str) and isinstance(sel["details"], dict) else "its arch or details have the wrong type"
    n = len(gt) if gt is not None else 15_625
    if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < n:
        return f"its index {str(idx)[:20]} is not an NB201 index (0..{n - 1})"
    if not isinstance(arch, str) or not isinstance(acc, (int, float)) or isinstance(acc, bool) \
            or not math.isfinite(acc) or not isinstance(sel["details"], dict):
        return "its arch, test_acc or details have the wrong type"
    if gt is not None and dataset is not None:
        if arch != gt.strings[idx]:
            return f"its arch is not NB201 arch {idx}"
        truth = float(gt.accuracy(dataset, gt_split, "stage2")[idx])
        if float(acc) != truth:
            return f"its test_acc {acc} is not the table's {truth} for arch {idx} (split {gt_split})"
    return None


_WARNED: set[str] = set()


def selection_state(path: Path, inputs: dict[str, Any] | None = None, gt=None, dataset: str | None = None,
                    gt_split: str = "table") -> tuple[str, dict[str, Any] | None, str]:
    """``(state, record, why)`` of the stored selection at ``path``: ``ok``; ``absent``; ``damaged``
    (unreadable, or :func:`selection_problem`; reported once per process in one ``warning:`` line);
    or ``stale`` (made from other ``inputs``: a retrained run, another table). The one judgement
    that ``evaluate``, ``report`` and a study's done-check share."""
    if not path.is_file():
        return "absent", None, ""
    try:
        rec = read_json(path)
        problem = selection_problem(rec, gt, dataset, gt_split)
    except CorruptFileError as e:
        problem = str(e).replace(str(path), "it", 1)
    except (OSError, UnicodeDecodeError) as e:
        problem = f"it is unreadable ({e})"
    if problem is not None:
        if str(path) not in _WARNED:
            _WARNED.add(str(path))
            from ..harness.store import warn

            warn(f"selection record {path} is damaged: {problem}; it is stale and will be recomputed")
        return "damaged", None, problem
    if inputs is not None:
        stored = rec.get("inputs") if isinstance(rec.get("inputs"), dict) else {}
        same = all(stored.get(k) == v for k, v in inputs.items() if k != "scores")
        # scores recorded on either side must agree; a record made without them is still valid
        # (``valid`` then scored its candidates with exactly the values full-space scoring gives)
        if not same or (inputs.get("scores") and stored.get("scores") and inputs["scores"] != stored["scores"]):
            return "stale", None, "it was made from other inputs (supernet, table or scores)"
    return "ok", rec, ""


def read_selection(path: Path, inputs: dict[str, Any] | None = None, gt=None, dataset: str | None = None,
                   gt_split: str = "table") -> dict[str, Any] | None:
    """The stored record at ``path`` if it is sound (:func:`selection_state`); None otherwise
    (absent, damaged or stale: the caller recomputes)."""
    return selection_state(path, inputs, gt, dataset, gt_split)[1]


def make_selection(ctx, name: str):
    """Selector ``name`` with its config from ``ctx``'s profile, ``default_rng(ctx.seed)`` and torch's global
    generators seeded by ``ctx.seed`` (S4's ``noise`` op draws from them): the one way a selection is made."""
    from ..selectors import SELECTORS

    cls = SELECTORS.get(name)
    with seeded_global_rng(ctx.seed):
        return cls(cls.config_from_profile(ctx.profile))(ctx, np.random.default_rng(ctx.seed))


def cached_selection(ctx, name: str, *, progress: bool = False, allow_compute: bool = True):
    """``ctx``'s selection by selector ``name``: the stored artifact when it is valid, else computed
    (with ``default_rng(ctx.seed)``, as :func:`~supernetbench.pipeline.evaluate.run_selectors`) and
    stored atomically. Returns ``(Selection, seconds it took to compute, reused?)``.
    ``allow_compute=False``: a missing or stale record raises :class:`MissingArtifacts` instead."""
    from ..selectors import SELECTORS, Selection

    def compute():
        t0 = time.perf_counter()
        sel = make_selection(ctx, name)
        return sel, time.perf_counter() - t0

    run = ctx.run
    if not (Path(run.path) / "DONE").is_file():  # not a finished run directory (a stand-in): nothing to store
        return (*compute(), False)
    path = selection_path(run.path, name, ctx.profile, ctx.seed, ctx.distribution)
    inputs = selection_inputs(run, ctx.gt, ctx.full_scores)
    state, rec, why = selection_state(path, inputs, ctx.gt, run.dataset, run.profile.gt_split)
    if rec is None and not allow_compute:
        what = f"selection {path}" if state == "absent" else f"{state} selection {path} ({why})"
        raise MissingArtifacts([what], "supernetbench study (see `supernetbench study --help`)")
    if rec is None:
        with claim(path.with_suffix(".lock"), f"selection {path.name}", announce=progress):
            rec = read_selection(path, inputs, ctx.gt, run.dataset, run.profile.gt_split)  # made by the process we waited for?
            if rec is None:
                sel, seconds = compute()
                rec = {"format": SELECTION_FORMAT, "selector": name, "seed": int(ctx.seed),
                       "distribution": ctx.distribution, "run": Path(run.path).name, "stage2": stage2_fields(ctx.profile),
                       "code_version": CODE_VERSION, "code": SELECTORS.identity(name), "inputs": inputs, "seconds": seconds,
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "selection": asdict(sel)}
                rec = _json_roundtrip(rec)
                atomic_write_json(path, {**rec, "sha256": record_sha256(rec)})
                return sel, seconds, False
    return Selection(**rec["selection"]), float(rec.get("seconds", 0.0)), True


def _json_roundtrip(obj: Any) -> Any:
    """``obj`` as JSON gives it back (numpy scalars -> Python numbers, tuples -> lists), so the
    checksum is computed over exactly what a reader will see."""
    import json

    return json.loads(json.dumps(obj, default=_json_default))


def study_command(spec: RunSpec, selectors: list[str], runs_root: str | Path | None = None, *,
                  algos: list[str] | None = None, seeds: list[int] | None = None, extra: tuple[str, ...] = (),
                  store: str | Path | None = None) -> str:
    """The ``supernetbench study`` command that makes every artifact of ``evaluate(spec, selectors)``:
    ``--store`` when ``store`` is given (else the same ``$SUPERNETBENCH_CACHE``), ``--runs-root`` when
    the runs are not under ``<store>/runs``; every value shell-quoted, so it pastes as it is.
    ``algos`` / ``seeds`` widen it to several methods / seeds, ``extra`` adds flags."""
    import shlex

    from ..oneshot.train import default_runs_root
    from ..harness.registry import ACTIVE_PLUGIN_SPECS
    from ..harness.store import cache_dir

    q = shlex.quote
    p = spec.profile
    base = PROFILES.get(p.name)
    sets = [] if base is None else [f"--set {q(f'{k}={v}')}" for k, v in asdict(p).items() if getattr(base, k) != v]
    store_root = Path(store) if store is not None else cache_dir()
    root = Path(runs_root) if runs_root is not None else default_runs_root()
    where = [f"--store {q(str(store))}"] if store is not None else []
    if root.resolve() != (store_root / "runs").resolve():
        where.append(f"--runs-root {q(str(root))}")
    data = [f"--data-root {q(str(spec.data_root))}"] if spec.data_root else []
    plugins = [f"--plugin {q(p)}" for p in ACTIVE_PLUGIN_SPECS]  # a method or selector that is not installed
    if spec.method_options:  # a study trains method defaults only
        opts = [f"--opt {q(f'{k}={v}')}" for k, v in spec.method_options]
        return " ".join(["supernetbench", *plugins, "evaluate", f"--algo {q(spec.algo)}", f"--dataset {q(spec.dataset)}",
                         f"--seed {spec.seed}", f"--profile {q(p.name)}", *sets, *opts, *data,
                         *[w for w in where if not w.startswith("--store")],
                         f"--selectors {' '.join(map(q, selectors))}"])
    parts = ["supernetbench", *plugins, "study", f"--algos {' '.join(map(q, algos or [spec.algo]))}",
             f"--selectors {' '.join(map(q, selectors))}" if selectors else "", f"--datasets {q(spec.dataset)}",
             f"--seeds {' '.join(map(str, seeds if seeds is not None else [spec.seed]))}", f"--profile {q(p.name)}",
             *sets, *data, *where, *extra]
    return " ".join(x for x in parts if x)
