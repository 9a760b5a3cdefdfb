"""Full-space scoring: the shared-weight validation accuracy of every NB201 architecture.

Each arch runs as a single path (no compute on other ops) over ONE fixed validation subset (the
same images, same order, for every arch; no augmentation unless ``augment``; protocol §13.1-2).
BatchNorm is an explicit, recorded mode (protocol P1):

* ``batch`` (default) - train-mode BN, i.e. batch statistics, under ``no_grad``;
* ``running`` - eval mode with the running statistics accumulated in Stage 1 (reproduces the
  papers' code and its collapse to near-chance accuracies);
* ``recalibrate`` - per arch, re-estimate BN statistics (cumulative average) on
  ``recalib_batches`` fixed training batches, then evaluate in eval mode.

Archs in one shared-weight functional class (:meth:`NB201Space.functional_key`) compute the same
function, so one representative per class is scored and the score is broadcast to its members
(9,445 classes with batch/recalibrated BN; 12,205 with running BN, where zero inputs do not stay
zero). :func:`score_archs` is the slow, obvious per-arch path the tests compare against.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data import Augment, normalize
from .device import torch_threads
from .profiles import BN_MODES, Profile
from .space import NB201Space
from .store import cache_dir, content_hash, file_sha256, load_cached_arrays, save_cached_arrays


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


def _prepared(net: nn.Module, cfg: ScoreConfig) -> nn.Module:
    """A private copy in the right mode: scoring never changes the caller's supernet."""
    net = copy.deepcopy(net)
    net.aux_skip_beta = 0.0  # DARTS-: the scoring network has no auxiliary skip
    net.train(cfg.bn_mode == "batch")
    return net


def score_archs(net: nn.Module, archs: np.ndarray, sd: ScoringData, cfg: ScoreConfig, progress: bool = False) -> np.ndarray:
    """Slow, obvious path: one single-path evaluation per row of ``archs`` (no deduplication)."""
    net = _prepared(net, cfg)
    archs = np.asarray(archs)
    out = np.empty(len(archs))
    with _scoring_threads(net):
        for i, a in enumerate(tqdm(archs, disable=not progress, desc="scoring", leave=False)):
            out[i] = _accuracy(net, tuple(int(v) for v in a), sd, cfg)
    return out


def score_space(
    net: nn.Module,
    archs: np.ndarray,
    sd: ScoringData,
    cfg: ScoreConfig,
    *,
    progress: bool = True,
    partial_path: Path | None = None,
    save_every: int = 500,
) -> np.ndarray:
    """Score every row of ``archs`` (normally ``gt.archs``), one evaluation per functional class.

    With ``partial_path`` the per-class scores are saved atomically every ``save_every`` classes
    and a restarted call continues from there (a killed scoring run loses at most that much work).
    """
    space = NB201Space()
    labels, reps = space.functional_classes(np.asarray(archs), zero_propagates=cfg.bn_mode != "running")
    rep_scores = np.full(len(reps), np.nan)
    prev = load_cached_arrays(partial_path, ["scores"]) if partial_path is not None else None
    if prev is not None and prev["scores"].shape == rep_scores.shape:
        rep_scores = prev["scores"]
    net = _prepared(net, cfg)
    todo = np.flatnonzero(np.isnan(rep_scores))
    bar = tqdm(todo, disable=not progress, desc=f"scoring {len(reps)} functional classes ({cfg.bn_mode} BN)",
               initial=len(reps) - len(todo), total=len(reps))
    with _scoring_threads(net):
        for n, r in enumerate(bar, start=1):
            rep_scores[r] = _accuracy(net, tuple(int(v) for v in reps[r]), sd, cfg)
            if partial_path is not None and n % save_every == 0:
                save_cached_arrays(partial_path, scores=rep_scores)
    return rep_scores[labels]


def cached_score_space(run, gt, data, cfg: ScoreConfig, device: torch.device | str = "cpu",
                       progress: bool = True) -> np.ndarray:
    """Scores of all 15,625 archs (NB201 index order) for a finished run, cached by content hash of
    (supernet weights, scoring subset, BN mode and scoring config)."""
    sd = make_scoring_data(data, cfg, device, run.profile.torch_dtype)
    key = content_hash(file_sha256(Path(run.path) / "supernet.pt"), sd.fingerprint(), asdict(cfg),
                       gt.archs, "score-v1")
    path = cache_dir() / "scores" / f"{key}.npz"  # checksummed: an altered entry is recomputed
    cached = load_cached_arrays(path, ["scores"])
    if cached is not None:
        return cached["scores"]
    net = run.load_supernet(device)
    scores = score_space(net, gt.archs, sd, cfg, progress=progress, partial_path=path.with_suffix(".partial.npz"))
    save_cached_arrays(path, scores=scores)
    path.with_suffix(".partial.npz").unlink(missing_ok=True)
    return scores
