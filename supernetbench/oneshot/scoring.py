"""Full-space scoring: the shared-weight validation accuracy of every NB201 architecture.

Each arch runs as a single path (no compute on other ops) over ONE fixed validation subset (the
same images, same order, for every arch; no augmentation unless ``augment``; protocol §13.1-2).
BatchNorm is an explicit, recorded mode (protocol P1):

* ``batch`` (default) - train-mode BN, i.e. batch statistics, under ``no_grad``;
* ``running`` - eval mode with the running statistics accumulated in Stage 1 (reproduces the
  papers' code and its collapse to near-chance accuracies);
* ``recalibrate`` - per arch, re-estimate BN statistics (cumulative average) on
  ``recalib_batches`` fixed training batches, then evaluate in eval mode.

Archs in one shared-weight functional class (:meth:`SearchSpace.functional_key` of the supernet's
space, ``net.space``; NB201: :meth:`NB201Space.functional_key`) compute the same
function, so one representative per class is scored and the score is broadcast to its members
(9,445 classes with batch/recalibrated BN; 12,205 with running BN, where zero inputs do not stay
zero). :func:`score_archs` is the slow, obvious per-arch path the tests compare against.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..harness.data import Augment, normalize
from ..harness.device import torch_threads
from ..harness.precision import check_precision, precision_context
from ..harness.profiles import BN_MODES, SCORING_ENGINES, Profile
from ..harness.locks import claim
from ..harness.progress import progress_bar
from ..harness.store import (
    atomic_write_json, cache_dir, content_hash, file_sha256, load_cached_arrays, read_json, save_cached_arrays,
)

#: full-space scoring engines, all exact (same correct-prediction counts as :func:`score_archs`):
#: ``fast`` (default) picks the device's strategy - ``batched`` on CUDA, on CPU ``prefix`` with
#: channels-last float32 tensors in single-threaded worker processes; ``prefix`` and ``dedup`` are the
#: NCHW per-class loops (with / without shared first-cell work); ``batched`` stacks many archs per op
#: (:mod:`~supernetbench.spaces.nb201.batched`); ``naive`` is :func:`score_archs` (one evaluation per arch, no deduplication).
ENGINES = SCORING_ENGINES


@dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    bn_mode: str = "batch"
    images: int = 1664
    batch_size: int = 1664
    recalib_batches: int = 4
    augment: bool = False

    def __post_init__(self) -> None:
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"unknown BN mode {self.bn_mode!r}; valid choices: {', '.join(BN_MODES)}")

    @classmethod
    def from_profile(cls, p: Profile) -> "ScoreConfig":
        return cls(bn_mode=p.bn_mode, images=p.score_images, batch_size=p.score_batch_size,
                   recalib_batches=p.recalib_batches, augment=p.score_augment)


@dataclass(frozen=True)
class ScoringData:
    """The fixed validation subset (and recalibration batches), already normalised, on a device."""

    x: torch.Tensor
    y: torch.Tensor
    recal: tuple[torch.Tensor, ...]
    description: str

    def fingerprint(self) -> str:
        return content_hash(self.x.cpu().numpy(), self.y.cpu().numpy(), *[r.cpu().numpy() for r in self.recal])


def make_scoring_data(data, cfg: ScoreConfig, device: torch.device | str = "cpu",
                      dtype: torch.dtype = torch.float32) -> ScoringData:
    """First ``cfg.images`` of the valid half; recalibration batches from the start of the train half,
    as ``dtype`` (the supernet's)."""
    n = cfg.images
    if n > len(data.valid_y):
        raise ValueError(f"scoring needs {n} validation images but the split has {len(data.valid_y)}; "
                         "lower score_images or raise valid_size")
    xv = data.valid_x[:n]
    if cfg.augment:  # reference behaviour (P6): training augmentation, one fixed draw shared by all archs
        x = Augment(data.dataset)(xv, torch.Generator(device="cpu").manual_seed(0))
    else:
        x = normalize(xv, data.dataset)
    recal = ()
    if cfg.bn_mode == "recalibrate":
        bs = cfg.batch_size
        need = cfg.recalib_batches * bs
        xt = data.train_x[: min(need, len(data.train_y))]
        recal = tuple(normalize(xt[i : i + bs], data.dataset).to(device, dtype) for i in range(0, len(xt), bs))
    desc = f"{n} fixed validation images ({'augmented' if cfg.augment else 'no augmentation'}), BN mode {cfg.bn_mode}"
    return ScoringData(x.to(device, dtype), data.valid_y[:n].to(device), recal, desc)


def _bn_layers(net: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def _accuracy(net: nn.Module, arch, sd: ScoringData, cfg: ScoreConfig) -> float:
    if cfg.bn_mode == "recalibrate":
        bns = _bn_layers(net)
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the recalibration batches
        net.train()
        for xb in sd.recal:
            net(xb, arch=arch)
        net.eval()
    correct = 0
    for i in range(0, len(sd.y), cfg.batch_size):
        out = net(sd.x[i : i + cfg.batch_size], arch=arch)
        correct += int((out.argmax(1) == sd.y[i : i + cfg.batch_size]).sum())
    return 100.0 * correct / len(sd.y)


def _scoring_threads(net: nn.Module):
    """One intra-op thread on CPU: each op here is tiny, and OpenMP synchronisation then dominates
    (measured on 2 cores: 5.7 ms/arch with 1 thread vs 75-130 ms with 2 under load)."""
    return torch_threads(1 if next(net.parameters()).device.type == "cpu" else None)


def _prepared(net: nn.Module, cfg: ScoreConfig, channels_last: bool = False) -> nn.Module:
    """A private copy in the right mode: scoring never changes the caller's supernet."""
    net = copy.deepcopy(net)
    net.aux_skip_beta = 0.0  # DARTS-: the scoring network has no auxiliary skip
    net.train(cfg.bn_mode == "batch")
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def resolve_engine(engine: str, net: nn.Module) -> tuple[str, bool]:
    """(engine, channels_last) that ``engine`` means for this net: ``fast`` is ``batched`` on CUDA
    and channels-last ``prefix`` on CPU (channels-last float32 convolutions take the oneDNN kernels,
    2-20x faster here; float64 ones do not, so float64 stays NCHW)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown scoring engine {engine!r}; valid choices: {', '.join(ENGINES)}")
    p = next(net.parameters())
    own = net.space.scoring_engines  # the space's own strategies (NB201: prefix, batched)
    if engine in ("prefix", "batched") and engine not in own:
        raise ValueError(f"scoring engine {engine!r} is not implemented for search space {net.space.name!r}; "
                         f"use one of: fast, dedup, naive{''.join(', ' + e for e in sorted(own))}")
    if engine != "fast":
        return engine, False
    if p.device.type == "cuda" and "batched" in own:
        return "batched", False
    if "prefix" in own:
        return "prefix", p.dtype == torch.float32
    return "dedup", False


def _layout(sd: ScoringData, channels_last: bool) -> ScoringData:
    if not channels_last:
        return sd
    cl = torch.channels_last
    return ScoringData(sd.x.contiguous(memory_format=cl), sd.y,
                       tuple(r.contiguous(memory_format=cl) for r in sd.recal), sd.description)


def score_archs(net: nn.Module, archs: np.ndarray, sd: ScoringData, cfg: ScoreConfig, progress: bool = False,
                precision: str = "exact") -> np.ndarray:
    """Slow, obvious path: one single-path evaluation per row of ``archs`` (no deduplication)."""
    net = _prepared(net, cfg)
    archs = np.asarray(archs)
    out = np.empty(len(archs))
    with _scoring_threads(net), precision_context(precision, next(net.parameters()).device):
        for i, a in enumerate(progress_bar(archs, progress, desc="scoring", leave=False, unit="arch")):
            out[i] = _accuracy(net, tuple(int(v) for v in a), sd, cfg)
    return out


def check_precision_dtype(precision: str, dtype: torch.dtype) -> None:
    """bf16 autocast leaves float64 arithmetic untouched: on a float64 profile (``smoke``) "bf16" would
    be exact float64 under a bf16 label (and a bf16 cache entry identical to the exact one). Refused."""
    if precision == "bf16" and dtype == torch.float64:
        raise ValueError("--precision bf16 on a float64 profile would score in exact float64 under a bf16 label "
                         "(autocast does not touch float64); use --precision exact, or a float32 profile "
                         "(e.g. --set dtype=float32, or --profile demo/paper)")


def score_space(
    net: nn.Module,
    archs: np.ndarray,
    sd: ScoringData,
    cfg: ScoreConfig,
    *,
    progress: bool = True,
    partial_path: Path | None = None,
    save_every: int = 500,
    engine: str = "fast",
    workers: int = 1,
    precision: str = "exact",
) -> np.ndarray:
    """Score every row of ``archs`` (normally ``gt.archs``), one evaluation per functional class.

    ``engine``: see :data:`ENGINES` (all exact; ``naive`` skips the functional-class deduplication).
    With ``partial_path`` the per-class scores are saved atomically every ``save_every`` classes and
    a restarted call continues from there (a killed scoring run loses at most that much work).
    ``workers`` > 1 scores blocks of ``save_every`` classes in that many single-threaded processes
    on CPU (same numbers). ``precision``: ``exact`` (the run's dtype) or ``bf16`` (autocast, only on
    bf16 hardware; never the default - see :func:`~supernetbench.harness.metrics.precision_agreement`).
    """
    check_precision_dtype(precision, next(net.parameters()).dtype)  # first: refuse before any work
    engine, channels_last = resolve_engine(engine, net)
    device = next(net.parameters()).device
    check_precision(precision, device)
    if engine == "naive":
        return score_archs(net, archs, sd, cfg, progress=progress, precision=precision)
    labels, reps = net.space.functional_classes(np.asarray(archs), zero_propagates=cfg.bn_mode != "running")
    rep_scores = np.full(len(reps), np.nan)
    prev = load_cached_arrays(partial_path, ["scores"]) if partial_path is not None else None
    if prev is not None and prev["scores"].shape == rep_scores.shape:
        rep_scores = prev["scores"]
    net = _prepared(net, cfg, channels_last)
    sd = _layout(sd, channels_last)
    todo = np.flatnonzero(np.isnan(rep_scores))
    todo = todo[np.lexsort(reps[todo].T[::-1])]  # lexicographic: shared prefixes are adjacent
    blocks = [todo[i : i + save_every] for i in range(0, len(todo), save_every)]
    bar = progress_bar(None, progress, desc=f"scoring {len(reps)} functional classes ({cfg.bn_mode} BN, {engine})",
                       initial=len(reps) - len(todo), total=len(reps), unit="class")
    if workers > 1 and device.type == "cpu" and len(blocks) > 1:
        for i, block_scores in _pool_blocks(net, sd, cfg, engine, precision, [reps[b] for b in blocks], workers):
            _store_block(rep_scores, blocks[i], block_scores, bar, partial_path)
    else:
        with _scoring_threads(net):
            score_block = _scorer(net, sd, cfg, engine, precision)
            for b in blocks:
                _store_block(rep_scores, b, score_block(reps[b]), bar, partial_path)
    bar.close()
    return rep_scores[labels]


def _store_block(rep_scores, block, block_scores, bar, partial_path) -> None:
    rep_scores[block] = block_scores
    if bar is not None:
        bar.update(len(block))
    if partial_path is not None:
        save_cached_arrays(partial_path, scores=rep_scores)


def _scorer(net: nn.Module, sd: ScoringData, cfg: ScoreConfig, engine: str, precision: str = "exact"):
    """``archs (n, 6) -> accuracies (n,)`` for a prepared net: the prefix scorer where the BN mode
    allows it, the batched scorer, or the plain per-class forward."""
    if engine == "batched":
        return net.space.scorer("batched", net, sd, cfg, precision)
    one = net.space.scorer("prefix", net, sd, cfg, precision) if engine == "prefix" else None
    if one is None:  # the generic per-class forward (and prefix where the BN mode cannot share)
        def one(arch):
            return _accuracy(net, arch, sd, cfg)
    device = next(net.parameters()).device

    def score_block(archs: np.ndarray) -> list[float]:
        with precision_context(precision, device):
            return [one(tuple(int(v) for v in a)) for a in archs]
    return score_block


_WORKER: dict = {}


def _worker_init(net: nn.Module, sd: ScoringData, cfg: ScoreConfig, engine: str, precision: str,
                 parent: int | None = None) -> None:
    if parent is not None:  # never outlive the scoring process (killed with SIGKILL, say)
        from ..harness.lifecycle import watch_parent

        watch_parent(parent)
    torch.set_num_threads(1)
    _WORKER["score"] = _scorer(net, sd, cfg, engine, precision)


def _worker_score(archs: np.ndarray) -> list[float]:
    return list(_WORKER["score"](archs))


def _pool_blocks(net, sd, cfg, engine, precision, arch_blocks: list[np.ndarray], workers: int):
    """Score blocks in ``workers`` single-threaded processes; yields (block index, scores) as they
    finish. Every class is scored exactly as in one process, so the result is identical."""
    import concurrent.futures as cf
    import multiprocessing as mp

    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                initargs=(net, sd, cfg, engine, precision, os.getpid())) as ex:
        futures = {ex.submit(_worker_score, b): i for i, b in enumerate(arch_blocks)}
        for f in cf.as_completed(futures):
            yield futures[f], f.result()


def score_cache_path(run, gt, sd: ScoringData, cfg: ScoreConfig, precision: str = "exact") -> Path:
    """Where :func:`cached_score_space` keeps the scores of ``run`` (content hash of the supernet
    weights, the scoring subset, the scoring config, the arch list and a non-exact precision; the
    exact engines give the same counts, so they share one entry); studies check it exists."""
    parts = [file_sha256(Path(run.path) / "supernet.pt"), sd.fingerprint(), asdict(cfg), gt.archs, "score-v1"]
    if precision != "exact":
        parts.append(precision)
    return cache_dir() / "scores" / f"{content_hash(*parts)}.npz"


def score_index_path(run, gt, identity: dict, cfg: ScoreConfig, precision: str = "exact") -> Path:
    """Where the name of ``run``'s score entry is kept under the identity of its data *files*
    (:func:`~supernetbench.harness.data.data_identity`) instead of the decoded images, so that
    ``report --artifacts-only`` and ``study --status`` find the entry without decoding the data."""
    parts = [file_sha256(Path(run.path) / "supernet.pt"), identity, asdict(cfg), gt.archs, "score-index-v1"]
    if precision != "exact":
        parts.append(precision)
    return cache_dir() / "scores" / "index" / f"{content_hash(*parts)}.json"


def indexed_score_path(run, gt, identity: dict | None, cfg: ScoreConfig, precision: str = "exact") -> Path | None:
    """The score entry recorded under ``identity`` (:func:`score_index_path`), or None when there is
    no usable record (none written, damaged, or naming an entry that is gone): then the caller
    decodes the data and asks :func:`score_cache_path`."""
    if identity is None:
        return None
    try:
        rec = read_json(score_index_path(run, gt, identity, cfg, precision))
    except (OSError, ValueError):
        return None
    name = rec.get("entry") if isinstance(rec, dict) else None
    if not isinstance(name, str) or not re.fullmatch(r"[0-9a-f]{16,64}\.npz", name):
        return None
    path = cache_dir() / "scores" / name
    return path if path.is_file() else None


def _record_score_index(run, gt, identity: dict | None, cfg: ScoreConfig, precision: str, path: Path) -> None:
    if identity is None:
        return
    try:  # an optimisation: a read-only store only costs the next decode
        index = score_index_path(run, gt, identity, cfg, precision)
        if not index.is_file():
            atomic_write_json(index, {"entry": path.name})
    except OSError:
        pass


def cached_score_space(run, gt, data, cfg: ScoreConfig, device: torch.device | str = "cpu",
                       progress: bool = True, workers: int | None = None, engine: str = "fast",
                       precision: str = "exact", identity: dict | None = None) -> np.ndarray:
    """Scores of all 15,625 archs (NB201 index order) for a finished run, cached by content hash of
    (:func:`score_cache_path`). ``workers``: CPU processes (None: all cores). ``identity``: the
    data's file identity, recorded in the score index (:func:`score_index_path`)."""
    sd = make_scoring_data(data, cfg, device, run.profile.torch_dtype)
    path = score_cache_path(run, gt, sd, cfg, precision)  # checksummed: an altered entry is recomputed
    cached = load_cached_arrays(path, ["scores"])
    if cached is not None:  # an existing entry needs no lock (a read-only store is fine)
        _record_score_index(run, gt, identity, cfg, precision, path)
        return cached["scores"]
    # the cache is an optimisation: an unwritable lock (read-only store) is a warning, not a failure
    with claim(path.with_suffix(".lock"), f"the scores of {Path(run.path).name}", announce=progress, required=False):
        cached = load_cached_arrays(path, ["scores"])
        if cached is not None:
            return cached["scores"]
        net = run.load_supernet(device)
        scores = score_space(net, gt.archs, sd, cfg, progress=progress, partial_path=path.with_suffix(".partial.npz"),
                             workers=workers or os.cpu_count() or 1, engine=engine, precision=precision)
        save_cached_arrays(path, scores=scores)
        _record_score_index(run, gt, identity, cfg, precision, path)
        try:
            path.with_suffix(".partial.npz").unlink(missing_ok=True)
        except OSError:
            pass
        return scores
