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

from .engine import CODE_VERSION, RunSpec, SearchRun
from .locks import claim
from .profiles import LATER_FIELDS, PROFILES, Profile
from .store import CorruptFileError, atomic_write_json, content_hash, file_sha256, read_json

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
    """The profile fields that change scoring or Stage 2 (part of every Stage-2 artifact key)."""
    return {k: getattr(profile, k) for k in LATER_FIELDS}


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
            "ground_truth": content_hash(gt.archs, gt.test_acc(run.dataset)),
            "scores": content_hash(np.asarray(full_scores, dtype=np.float64)) if full_scores is not None else None}


def read_selection(path: Path, inputs: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The stored record at ``path`` if it is readable and (when ``inputs`` are given) was made from
    the same inputs; None otherwise (absent, damaged or stale: the caller recomputes)."""
    if not path.is_file():
        return None
    try:
        rec = read_json(path)
        if rec.get("format") != SELECTION_FORMAT or not isinstance(rec.get("selection"), dict):
            return None
    except (CorruptFileError, OSError, AttributeError):
        return None
    if inputs is not None:
        stored = rec.get("inputs", {})
        same = all(stored.get(k) == v for k, v in inputs.items() if k != "scores")
        # scores recorded on either side must agree; a record made without them is still valid
        # (``valid`` then scored its candidates with exactly the values full-space scoring gives)
        if not same or (inputs.get("scores") and stored.get("scores") and inputs["scores"] != stored["scores"]):
            return None
    return rec


def cached_selection(ctx, name: str, *, progress: bool = False, allow_compute: bool = True):
    """``ctx``'s selection by selector ``name``: the stored artifact when it is valid, else computed
    (with ``default_rng(ctx.seed)``, as :func:`~supernetbench.harness.pipeline.run_selectors`) and
    stored atomically. Returns ``(Selection, seconds it took to compute, reused?)``.
    ``allow_compute=False``: a missing or stale record raises :class:`MissingArtifacts` instead."""
    from ..selectors import SELECTORS, Selection

    def compute():
        cls = SELECTORS.get(name)
        t0 = time.perf_counter()
        sel = cls(cls.config_from_profile(ctx.profile))(ctx, np.random.default_rng(ctx.seed))
        return sel, time.perf_counter() - t0

    run = ctx.run
    if not (Path(run.path) / "DONE").is_file():  # not a finished run directory (a stand-in): nothing to store
        return (*compute(), False)
    path = selection_path(run.path, name, ctx.profile, ctx.seed, ctx.distribution)
    inputs = selection_inputs(run, ctx.gt, ctx.full_scores)
    rec = read_selection(path, inputs)
    if rec is None and not allow_compute:
        raise MissingArtifacts([f"selection {path}"], "supernetbench study (see `supernetbench study --help`)")
    if rec is None:
        with claim(path.with_suffix(".lock"), f"selection {path.name}", announce=progress):
            rec = read_selection(path, inputs)  # made by the process we waited for?
            if rec is None:
                sel, seconds = compute()
                atomic_write_json(path, {
                    "format": SELECTION_FORMAT, "selector": name, "seed": int(ctx.seed),
                    "distribution": ctx.distribution, "run": Path(run.path).name, "stage2": stage2_fields(ctx.profile),
                    "code_version": CODE_VERSION, "code": SELECTORS.identity(name), "inputs": inputs,
                    "seconds": seconds, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "selection": asdict(sel)})
                return sel, seconds, False
    return Selection(**rec["selection"]), float(rec.get("seconds", 0.0)), True


def study_command(spec: RunSpec, selectors: list[str], runs_root: str | Path | None = None, *,
                  algos: list[str] | None = None, seeds: list[int] | None = None, extra: tuple[str, ...] = ()) -> str:
    """The ``supernetbench study`` command that makes every artifact of ``evaluate(spec, selectors)``
    (same ``$SUPERNETBENCH_CACHE``; ``--runs-root`` when the runs are not under ``cache_dir()/runs``);
    ``algos`` / ``seeds`` widen it to several methods / seeds, ``extra`` adds flags."""
    from .engine import default_runs_root
    from .registry import ACTIVE_PLUGIN_SPECS
    from .store import cache_dir

    p = spec.profile
    base = PROFILES.get(p.name)
    sets = [] if base is None else [f"--set {k}={v}" for k, v in p.to_dict().items() if getattr(base, k) != v]
    root = Path(runs_root) if runs_root is not None else default_runs_root()
    where = [] if root.resolve() == (cache_dir() / "runs").resolve() else [f"--runs-root {root}"]
    plugins = [f"--plugin {p}" for p in ACTIVE_PLUGIN_SPECS]  # a method or selector that is not installed
    if spec.method_options:  # a study trains method defaults only
        opts = [f"--opt {k}={v}" for k, v in spec.method_options]
        return " ".join(["supernetbench", *plugins, "evaluate", f"--algo {spec.algo}", f"--dataset {spec.dataset}",
                         f"--seed {spec.seed}", f"--profile {p.name}", *sets, *opts, *where,
                         f"--selectors {' '.join(selectors)}"])
    parts = ["supernetbench", *plugins, "study", f"--algos {' '.join(algos or [spec.algo])}",
             f"--selectors {' '.join(selectors)}" if selectors else "", f"--datasets {spec.dataset}",
             f"--seeds {' '.join(map(str, seeds if seeds is not None else [spec.seed]))}", f"--profile {p.name}",
             *sets, f"--data-root {spec.data_root}" if spec.data_root else "", *where, *extra]
    return " ".join(x for x in parts if x)
