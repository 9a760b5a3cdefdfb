"""The ground truth of the DARTS cell spaces: from-scratch results, content-addressed and resumable.

:class:`DartsOracle` is the spaces' :class:`~supernetbench.spaces.base.TrainedOracle`. A result is
stored under ``<cache>/oracle/<key>/`` with ``key`` = content hash of (space name, canonical
genotype, dataset, seed, :class:`~.oracle.OracleConfig`, code version). The directory holds:

* ``config.json``: what the key hashes, in the clear (and the data the training read);
* ``checkpoint.pt``: rewritten atomically after every epoch (weights, optimiser, data-stream,
  cutout and RNG states, the per-epoch log); a killed training resumes from its last finished
  epoch with the numbers of an uninterrupted one; kept at the end (the final weights);
* ``log.jsonl``: one line per finished epoch (``study --status`` reads the progress from it);
* ``result.json``: the :class:`~.oracle.OracleResult` with a sha256 of the record, verified on
  read (a damaged record is reported in one ``warning:`` line and rebuilt from the checkpoint).

The genotype trained is the *canonical* one (each node's two input pairs sorted by input,
:meth:`~.space.DartsCellSpace.canonical`): the two orders of a node's pairs are one cell, so they
share one key and one result (the order would otherwise change the weight initialisation).

Settings are protocol §8's by default (profile ``paper``); ``smoke`` is the CI-sized preset. The
number reported by default is the **final-epoch** test accuracy; the best over epochs is kept too,
labelled as what it is: a selection on the test set (protocol §11 P20), the papers' number.
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import io
import math
import time
import tokenize
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from supernetbench.harness.locks import claim
from supernetbench.harness.store import (
    CorruptFileError, atomic_write_json, atomic_write_text, cache_dir, content_hash, read_json, warn,
)

from .oracle import OracleConfig, OracleResult, get_oracle_profile, oracle_profile_name, train_genotype
from .space import DartsCellSpace

#: bump when the meaning of a stored result changes without a code change (the layout, the data)
ORACLE_CODE_VERSION = "oracle-v1"
#: the modules whose code determines a trained result (their source, docstrings and comments left
#: out, is part of every key: an edit of the training math never reuses a stale result)
ORACLE_MODULES: tuple[str, ...] = (
    "supernetbench.spaces.darts.oracle", "supernetbench.spaces.darts.oracle_store",
    "supernetbench.spaces.darts.network", "supernetbench.spaces.darts.ops",
    "supernetbench.harness.augment", "supernetbench.harness.data.stream",
)
#: the labels every output gives the two numbers
FINAL_LABEL = "final-epoch test accuracy"
BEST_LABEL = ("best over epochs: selection on the test set, as the papers' results.py reported; optimistic "
              "(protocol §11 P20)")
DATASETS: tuple[str, ...] = ("cifar10", "cifar100")


def code_source(module: str) -> str:
    """``module``'s source without docstrings, comments and blank lines (stable across Python
    versions: docstrings are found by ``ast`` positions, comments by ``tokenize``)."""
    src = inspect.getsource(importlib.import_module(module))
    lines = src.splitlines()
    drop: list[tuple[int, int, int, int]] = []  # (start line, start col, end line, end col), 1-based lines
    for node in ast.walk(ast.parse(src)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            e = body[0]
            l1 = e.end_lineno or e.lineno
            drop.append((e.lineno, _chars(lines[e.lineno - 1], e.col_offset), l1,
                         _chars(lines[l1 - 1], e.end_col_offset or 0)))
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            drop.append((tok.start[0], tok.start[1], tok.end[0], tok.end[1]))
    for l0, c0, l1, c1 in sorted(drop, reverse=True):  # bottom-up: earlier positions stay valid
        head, tail = lines[l0 - 1][:c0], lines[l1 - 1][c1:]
        lines[l0 - 1:l1] = [head + tail]
    return "\n".join(s.rstrip() for s in lines if s.strip())


def _chars(line: str, byte_col: int) -> int:
    """``ast``'s UTF-8 byte column as a character index into ``line``."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


@lru_cache(maxsize=1)
def code_version() -> dict[str, str]:
    """The oracle's code identity: :data:`ORACLE_CODE_VERSION` and a sha256 of :func:`code_source`
    of each of :data:`ORACLE_MODULES`."""
    h = hashlib.sha256()
    for m in ORACLE_MODULES:
        h.update(m.encode() + b"\0" + hashlib.sha256(code_source(m).encode()).digest())
    return {"version": ORACLE_CODE_VERSION, "source_sha256": h.hexdigest()}


@lru_cache(maxsize=2)
def _data(dataset: str, data_root: str | None):
    from .oracle import load_oracle_data

    return load_oracle_data(dataset, data_root)


def result_sha256(rec: dict[str, Any]) -> str:
    """sha256 of a result record's canonical JSON, without its own ``sha256`` field."""
    import json

    body = {k: v for k, v in rec.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class DartsOracle:
    """A DARTS-cell space's ``TrainedOracle``: train a genotype from scratch (protocol §8 by
    default), or read the stored result.

    ``config``: an :class:`~.oracle.OracleConfig` or a profile name (``paper``, ``smoke``); its
    ``seed`` is replaced by each call's. ``root``: the store (default ``cache_dir()`` at call time,
    so a study worker's ``$SUPERNETBENCH_CACHE`` applies). ``arch``: an arch tuple of the space or a
    ``Genotype(...)`` string.
    """

    def __init__(self, space: DartsCellSpace, config: OracleConfig | str = "paper", *,
                 root: str | Path | None = None, data_root: str | None = None, device: str = "cpu",
                 progress: bool = False) -> None:
        self.space = space
        self.config = get_oracle_profile(config) if isinstance(config, str) else config
        self.profile = oracle_profile_name(self.config)
        self._root = Path(root) if root is not None else None
        self.data_root, self.device, self.progress = data_root, device, progress

    # ------------------------------------------------------------------ identity
    @property
    def root(self) -> Path:
        """``<store>/oracle``."""
        return (self._root if self._root is not None else cache_dir()) / "oracle"

    def canonical(self, arch: Sequence[int] | str) -> tuple[int, ...]:
        """The canonical arch of ``arch`` (:class:`~.space.GenotypeError` for a bad one)."""
        return self.space.canonical(self.space.parse(arch) if isinstance(arch, str) else arch)

    def config_for(self, seed: int) -> OracleConfig:
        return replace(self.config, seed=seed)

    def identity(self, arch: Sequence[int] | str, dataset: str, seed: int = 0) -> dict[str, Any]:
        """What the key hashes (``config.json`` holds it in the clear)."""
        a = self.canonical(arch)
        if dataset not in DATASETS:
            raise ValueError(f"the DARTS oracle trains on CIFAR: dataset must be {' or '.join(DATASETS)}, "
                             f"got {str(dataset)[:40]!r}")
        return {"space": self.space.name, "arch": list(a), "genotype": self.space.format(a), "dataset": dataset,
                "seed": int(seed), "config": self.config_for(int(seed)).to_dict(), "code": code_version()}

    def key(self, arch: Sequence[int] | str, dataset: str, seed: int = 0) -> str:
        """Content hash of what determines the result."""
        return content_hash(self.identity(arch, dataset, seed))

    def path(self, arch: Sequence[int] | str, dataset: str, seed: int = 0) -> Path:
        """``<store>/oracle/<key>``."""
        return self.root / self.key(arch, dataset, seed)

    # ------------------------------------------------------------------ reading
    def result(self, arch: Sequence[int] | str, dataset: str, seed: int = 0) -> OracleResult | None:
        """The stored result, or None (not trained yet; or damaged: then reported in one line)."""
        path = self.path(arch, dataset, seed) / "result.json"
        if not path.is_file():
            return None
        try:
            rec = read_json(path)
            problem = self._problem(rec, self.key(arch, dataset, seed))
            res = OracleResult.from_dict(rec["result"]) if problem is None else None
        except (CorruptFileError, OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
            problem, res = f"it is unreadable ({str(e)[:120]})", None
        if problem is not None:
            warn(f"oracle result {path} is damaged: {problem}; it is rebuilt from the checkpoint (or retrained)")
            return None
        return res

    def _problem(self, rec: Any, key: str) -> str | None:
        if not isinstance(rec, dict) or rec.get("format") != ORACLE_CODE_VERSION:
            return f"it is not an {ORACLE_CODE_VERSION} record"
        if rec.get("sha256") != result_sha256(rec):
            return "its checksum does not match its contents"
        if rec.get("key") != key:
            return f"it belongs to key {str(rec.get('key'))[:20]}, not {key}"
        r = rec.get("result")
        acc = r.get("final_test_acc") if isinstance(r, dict) else None
        if not isinstance(acc, (int, float)) or not math.isfinite(acc) or not 0 <= acc <= 100:
            return "its final_test_acc is not a percentage"
        return None

    def cached(self, arch: Sequence[int] | str, dataset: str, seed: int = 0) -> float | None:
        """The stored final-epoch test accuracy (%) of ``arch``, or None when it was not trained yet."""
        res = self.result(arch, dataset, seed)
        return None if res is None else res.final_test_acc

    def epochs_done(self, arch: Sequence[int] | str, dataset: str, seed: int = 0) -> int:
        """Finished epochs of a training in progress (or done), from its ``log.jsonl``."""
        log = self.path(arch, dataset, seed) / "log.jsonl"
        try:
            return sum(1 for line in log.read_text().splitlines() if line.strip())
        except OSError:
            return 0

    # ------------------------------------------------------------------ training
    def train(self, arch: Sequence[int] | str, dataset: str, seed: int = 0) -> float:
        """Train ``arch`` from scratch (resumable, atomic), store and return its final-epoch test accuracy (%)."""
        return self.train_result(arch, dataset, seed)[0].final_test_acc

    def train_result(self, arch: Sequence[int] | str, dataset: str, seed: int = 0, *,
                     stop_after_epoch: int | None = None) -> tuple[OracleResult, bool]:
        """``(result, reused)``: the stored result, or train it (under a file lock: concurrent callers
        train once, the others wait and read it). ``stop_after_epoch``: interrupt there (tests)."""
        ident = self.identity(arch, dataset, seed)
        key = content_hash(ident)
        d = self.root / key
        res = self.result(arch, dataset, seed)
        if res is not None:
            return res, True
        d.mkdir(parents=True, exist_ok=True)
        with claim(d / ".lock", f"oracle training {key}", announce=self.progress):
            res = self.result(arch, dataset, seed)  # trained by the process we waited for?
            if res is not None:
                return res, True
            from supernetbench.harness.device import resolve_device

            dev = resolve_device(self.device)
            data = _data(dataset, self.data_root)
            atomic_write_json(d / "config.json", {**ident, "key": key, "profile": self.profile,
                                                  "data": {"train_images": len(data[0]), "test_images": len(data[2]),
                                                           "root": self.data_root}})

            def write_log(entries: list[dict[str, Any]]) -> None:
                import json

                atomic_write_text(d / "log.jsonl", "".join(json.dumps(e) + "\n" for e in entries))

            res = train_genotype(tuple(ident["arch"]), data, self.config_for(int(seed)), space=self.space,
                                 dataset=dataset, device=dev, checkpoint=d / "checkpoint.pt", progress=self.progress,
                                 stop_after_epoch=stop_after_epoch, on_epoch=write_log)
            rec = {"format": ORACLE_CODE_VERSION, "key": key, "identity": ident, "profile": self.profile,
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "result": res.to_dict(),
                   "labels": {"final_test_acc": FINAL_LABEL, "best_test_acc": BEST_LABEL}}
            atomic_write_json(d / "result.json", {**rec, "sha256": result_sha256(rec)})
        return res, False

    # ------------------------------------------------------------------ description
    def record(self, dataset: str | None = None, gt_split: str | None = None) -> dict[str, Any]:
        """What the ground truth is (the ``ground_truth`` of JSON outputs)."""
        out: dict[str, Any] = {
            "kind": "trained oracle", "space": self.space.name, "profile": self.profile,
            "config": self.config.to_dict(), "store": str(self.root), "code": code_version(),
            "reports": FINAL_LABEL, "also_kept": BEST_LABEL,
            "protocol": "§8: NetworkCIFAR trained from scratch, the test set evaluated after every epoch",
        }
        return {**out, "dataset": dataset} if dataset is not None else out
