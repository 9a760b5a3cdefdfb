"""The one Stage-1 training loop shared by every method, with checkpoint/resume and run artifacts.

A run directory holds ``config.json`` (the effective config), ``checkpoint.pt`` (overwritten
atomically after every epoch: weights, optimisers, scheduler, method state, data-stream and RNG
states), ``log.jsonl`` (one line per finished epoch) and, once finished, ``supernet.pt``,
``arch.json`` (alphas and per-edge probabilities), ``archprob.npy`` (the learned candidate law: the
probability of every arch, in NB201 index order; for another enumerable space in its
``all_archs()`` order; absent for a space that cannot be enumerated), ``MANIFEST.json`` (their sha256, verified on load:
:func:`run_problem`) and ``DONE``. Every
space-specific step goes through the run's search space (``RunSpec.space``,
:func:`~supernetbench.spaces.get_space`). A killed run resumes from its last completed epoch and
produces the same result as an uninterrupted one (tested).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..harness.device import resolve_device
from ..harness.locks import claim
from ..harness.progress import is_terminal, progress_bar
from ..harness.data import Augment, BatchStream, DataConfig, SearchData, load_search_data, normalize
from ..harness.profiles import Profile, get_profile, profile_from_dict
from ..harness.store import atomic_torch_save, atomic_write_json, atomic_write_text, atomic_save_npy, content_hash, file_sha256
from ..harness.store import CorruptFileError, load_weights, one_line, read_json, read_npy

CODE_VERSION = "0.1.0"
DEFAULT_SPACE = "nb201"
#: what ``checkpoint.pt`` must hold to resume (tensors and plain containers only: weights_only loads)
CHECKPOINT_KEYS = ("epoch", "net", "opt", "sched", "method", "train_stream", "valid_stream", "torch_rng", "log")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a Stage-1 run (hashed into its directory name)."""

    algo: str
    dataset: str = "cifar10"
    seed: int = 0
    profile: Profile = field(default_factory=lambda: get_profile("smoke"))
    method_options: tuple[tuple[str, Any], ...] = ()
    data_root: str | None = None
    #: the search space (:data:`~supernetbench.spaces.SPACES`); hashed only when it is not ``nb201``,
    #: so every NB201 run keeps its key (as ``STAGE1_UNSET_UNHASHED`` does for new profile fields)
    space: str = DEFAULT_SPACE

    def key(self) -> str:
        """Content hash of what determines the trained supernet: the Stage-1 profile fields, and the
        method's code identity (its source hash; for a plugin, its distribution and version too), so
        an edited or upgraded method never reuses a cached run."""
        return content_hash({**self.to_dict(), "profile": self.profile.stage1_dict(), "code": self.code()},
                            CODE_VERSION)

    def code(self) -> dict[str, Any]:
        """The method's code identity (:meth:`~supernetbench.harness.registry.Registry.identity`)."""
        from ..algorithms import ALGORITHMS  # function level: the ground code never imports upward

        return ALGORITHMS.identity(self.algo)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "algo": self.algo,
            "dataset": self.dataset,
            "seed": self.seed,
            "profile": self.profile.to_dict(),
            "method_options": dict(self.method_options),
        }
        if self.space != DEFAULT_SPACE:
            d["space"] = self.space
        return d

    def data_config(self) -> DataConfig:
        p = self.profile
        return DataConfig(self.dataset, self.data_root, p.split, p.train_size, p.valid_size)


def default_runs_root() -> Path:
    """Where every command puts and finds Stage-1 runs: ``$SUPERNETBENCH_RUNS``, else
    ``<$SUPERNETBENCH_CACHE>/runs`` (the store of ``study`` and the suites), so a run made by one
    command is reused by the others."""
    from ..harness.store import cache_dir

    env = os.environ.get("SUPERNETBENCH_RUNS")
    return Path(env) if env else cache_dir() / "runs"


def run_dir_for(spec: RunSpec, root: str | os.PathLike | None = None) -> Path:
    root = Path(root) if root is not None else default_runs_root()
    space = "" if spec.space == DEFAULT_SPACE else f"@{spec.space}"
    return root / f"{spec.algo}{space}-{spec.dataset}-s{spec.seed}-{spec.profile.name}-{spec.key()}"


@lru_cache(maxsize=4)
def cached_search_data(cfg: DataConfig) -> SearchData:
    return load_search_data(cfg)


@contextlib.contextmanager
def frozen_bn_stats(net: nn.Module) -> Iterator[None]:
    """Run train-mode BN (batch statistics) without changing any BN running buffer."""
    saved = {k: v.clone() for k, v in net.state_dict().items() if "running_" in k or "num_batches" in k}
    try:
        yield
    finally:
        net.load_state_dict(saved, strict=False)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class SearchRun:
    """A finished Stage-1 run, loaded from its directory."""

    path: Path
    config: dict[str, Any]
    edge_probs: dict[str, np.ndarray] | None
    #: the learned law over the space's arch list (NB201: index order; file ``archprob.npy``); None
    #: for a space that cannot be enumerated (the name mirrors the file, which existing runs have)
    archprob: np.ndarray | None
    provides: frozenset[str]
    log: list[dict[str, Any]]
    #: the method's raw architecture parameters per cell type (``arch.json``), None without any
    alphas: dict[str, np.ndarray] | None = None

    @property
    def space_name(self) -> str:
        return self.config.get("space", DEFAULT_SPACE)

    @property
    def space(self):
        """The run's search space (:func:`~supernetbench.spaces.get_space`)."""
        from ..spaces import get_space

        return get_space(self.space_name)

    @property
    def algo(self) -> str:
        return self.config["algo"]

    @property
    def dataset(self) -> str:
        return self.config["dataset"]

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def profile(self) -> Profile:
        return profile_from_dict(self.config["profile"])

    def load_supernet(self, device: torch.device | str = "cpu") -> nn.Module:
        p = self.profile
        net = self.space.build_supernet(p, self.config["num_classes"], p.torch_dtype)
        try:
            net.load_state_dict(load_weights(self.path / "supernet.pt"))
        except (OSError, RuntimeError, ValueError) as e:
            raise CorruptFileError(
                f"supernet checkpoint {self.path / 'supernet.pt'} is missing or corrupt ({one_line(e)}); "
                "delete the run directory and train again"
            ) from None
        return net.to(device)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SearchRun":
        path = Path(path)
        if not (path / "DONE").exists():
            raise FileNotFoundError(f"{path} is not a finished Stage-1 run (no DONE marker); run `supernetbench train` first")
        problem = run_problem(path)
        if problem is not None:
            raise CorruptFileError(f"finished run {path} is damaged: {problem}; delete the run directory and train again")
        name = "config.json"
        try:  # every file named in the error, with the fix; a damaged finished run is never half-used
            config = read_json(path / name)
            name = "arch.json"
            arch = read_json(path / name)
            ep = {k: np.asarray(v, dtype=np.float64) for k, v in arch["edge_probs"].items()} if arch["edge_probs"] else None
            provides = frozenset(arch["provides"])
            alphas = {k: np.asarray(v, dtype=np.float64) for k, v in (arch.get("alphas") or {}).items()} or None
            name = "archprob.npy"
            n_archs = law_size(config.get("space", DEFAULT_SPACE))
            law = read_npy(path / name) if n_archs is not None else None
            if law is not None and (law.shape != (n_archs,) or not np.all(law >= 0) or abs(law.sum() - 1) > 1e-6):
                raise ValueError(f"expected {n_archs} probabilities summing to 1, got {law.dtype} {law.shape}")
            name = "log.jsonl"
            log = [json.loads(line) for line in (path / name).read_text().splitlines() if line.strip()]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CorruptFileError(f"finished run {path} is damaged: {name}: {one_line(e)}; "
                                   "delete the run directory and train again") from None
        return cls(path, config, ep, law, provides, log, alphas)


def law_size(space_name: str) -> int | None:
    """Length of a run's stored candidate law: every arch of an enumerable space (a table covers them
    all), or None (no law stored) for a space that cannot be enumerated."""
    from ..spaces import get_space

    space = get_space(space_name)
    return space.num_archs if space.has("enumerable") else None


def law_archs(space) -> np.ndarray | None:
    """The arch list a stored candidate law is over (see :func:`law_size`)."""
    if space.has("table"):
        return np.asarray(space.benchmark().archs)
    return space.all_archs() if space.has("enumerable") else None


#: a finished run's manifest: the sha256 of each of :data:`MANIFEST_FILES`, written just before ``DONE``
MANIFEST = "MANIFEST.json"
MANIFEST_FILES = ("config.json", "arch.json", "archprob.npy", "log.jsonl", "supernet.pt")


def run_problem(path: str | os.PathLike) -> str | None:
    """Why the finished run at ``path`` cannot be trusted as a whole (None: it can): a file that is
    missing or differs from the sha256 its manifest recorded at ``DONE`` time (a truncated
    ``log.jsonl`` silently changed reports). Runs finished before manifests existed have none: they
    are checked file by file on load, as before."""
    path = Path(path)
    if not (path / MANIFEST).exists():
        return None
    try:
        manifest = read_json(path / MANIFEST)
        expected = manifest["sha256"]
        if not isinstance(expected, dict) or not set(MANIFEST_FILES) - {"archprob.npy"} <= set(expected) \
                or not set(expected) <= set(MANIFEST_FILES):  # archprob.npy: only for enumerable spaces
            raise ValueError("wrong file list")
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"its manifest {MANIFEST} is unreadable ({one_line(e, 80)})"
    for name in expected:
        try:
            if file_sha256(path / name) != expected[name]:
                return f"{name} differs from the sha256 recorded when the run finished (truncated or edited)"
        except OSError as e:
            return f"{name} is unreadable ({e.strerror or e})"
    return None


def _epoch_eval(method, net: nn.Module, data: SearchData, batch_size: int, dtype: torch.dtype) -> float:
    """Supernet validation accuracy (%) of the method's own forward, batch-stat BN, no augmentation."""
    correct = 0
    with torch.no_grad(), frozen_bn_stats(net):
        net.train()
        for i in range(0, len(data.valid_y), batch_size):
            x = normalize(data.valid_x[i : i + batch_size], data.dataset).to(dtype)
            correct += int((method.forward_train(net, x).argmax(1) == data.valid_y[i : i + batch_size]).sum())
    return 100.0 * correct / max(1, len(data.valid_y))


def train_supernet(
    spec: RunSpec,
    *,
    runs_root: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> SearchRun:
    """Train (or resume, or reuse) the Stage-1 run described by ``spec``; return the finished run.

    ``stop_after_epoch`` ends the process-side loop early (simulates a kill, for resume tests).
    """
    from ..algorithms import ALGORITHMS

    from ..spaces import get_space, require

    cls = ALGORITHMS.get(spec.algo)
    method_cfg = cls.make_config(method_overrides(cls, spec))
    space = get_space(spec.space)
    for cap in sorted(cls.space_requires):
        require(space, cap, f"Stage-1 method {spec.algo!r}")
    run_dir = run_dir_for(spec, runs_root)
    if (run_dir / "DONE").exists():
        return SearchRun.load(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with claim(run_dir / ".lock", f"Stage-1 run {run_dir.name}", announce=progress):
        if (run_dir / "DONE").exists():  # finished by the process we waited for
            if progress:
                print(f"reusing {run_dir}, finished by another process", file=sys.stderr, flush=True)
            return SearchRun.load(run_dir)
        return _train(spec, cls, method_cfg, space, run_dir, device, progress, stop_after_epoch)


def method_overrides(cls, spec: RunSpec) -> dict[str, Any]:
    """The options the run's method is configured with: its explicit ``method_options``, over the
    profile's ``arch_lr`` where the profile sets one and the method has that option (protocol §8's
    DARTS-space runs: 6e-4; unset, every method keeps its own default)."""
    opts = dict(spec.method_options)
    if spec.profile.arch_lr is not None and "arch_lr" in {f.name for f in dataclasses.fields(cls.Config)}:
        opts.setdefault("arch_lr", spec.profile.arch_lr)
    return opts


def uses_aux_skip(cls) -> bool:
    """Whether Stage-1 method ``cls`` runs DARTS-'s auxiliary skip (sets ``net.aux_skip_beta``):
    ``darts-`` and every method derived from it."""
    from ..algorithms.darts_minus import DartsMinus

    return issubclass(cls, DartsMinus)


def train_step(method, net: nn.Module, opt: torch.optim.Optimizer, train_batch: tuple[torch.Tensor, torch.Tensor],
               valid_batch: tuple[torch.Tensor, torch.Tensor], grad_clip: float
               ) -> tuple[torch.Tensor, torch.Tensor, float | None]:
    """One Stage-1 step (protocol §3.1): the method's architecture step on the valid batch, then an
    SGD step of the weights on the train batch. Returns (loss, logits, architecture loss or None)."""
    x, y = train_batch
    method.last_train_batch = train_batch
    arch_loss = method.arch_step(net, *valid_batch)
    opt.zero_grad(set_to_none=True)
    logits = method.forward_train(net, x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    # protocol §3.1: global-norm clip over model parameters, alpha gradients included
    nn.utils.clip_grad_norm_(list(net.parameters()) + method.arch_parameters(), grad_clip)
    opt.step()
    for a in method.arch_parameters():
        a.grad = None
    return loss, logits, arch_loss


def _train(spec: RunSpec, cls, method_cfg, space, run_dir: Path, device, progress: bool,
           stop_after_epoch: int | None) -> SearchRun:
    from ..algorithms import RunContext

    dev = device if isinstance(device, torch.device) else resolve_device(device)
    p = cls.stage1_profile(spec.profile)  # a method may have its own budget (rsps-biased: rsps_biased_epochs)
    set_seed(spec.seed)
    data = cached_search_data(spec.data_config()).to(dev)
    dtype = p.torch_dtype
    net = space.build_supernet(p, data.num_classes, dtype)
    if uses_aux_skip(cls) and hasattr(net, "add_aux_skip"):  # a network whose auxiliary skip has weights
        net.add_aux_skip()  # (DARTS' stride-2 edges) builds them now: before the optimiser and any resume
    net = net.to(dev)
    if dev.type == "cpu" and dtype == torch.float32:  # oneDNN's channels-last kernels: 2-5x faster convs on
        net = net.to(memory_format=torch.channels_last)  # CPU (benchmarks/README.md); float64 has none
    ctx = RunContext(dataset=spec.dataset, epochs=p.epochs, device=dev, seed=spec.seed, reference=p.reference,
                     dtype=dtype, gt_split=p.gt_split)
    method = cls(method_cfg, space=space, ctx=ctx)
    method.prepare(net)
    opt = torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, p.epochs), eta_min=p.lr_min)
    aug = Augment(spec.dataset)
    train_stream = BatchStream(data.train_x, data.train_y, p.batch_size, augment=aug, seed=spec.seed, dataset=spec.dataset)
    valid_stream = BatchStream(data.valid_x, data.valid_y, p.batch_size, augment=aug, seed=spec.seed + 1, dataset=spec.dataset)

    config = {
        **spec.to_dict(),
        "method_config": dataclasses.asdict(method_cfg),
        "num_classes": data.num_classes,
        "data": data.description,
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "code_version": CODE_VERSION,
        "code": spec.code(),
    }
    atomic_write_json(run_dir / "config.json", config)
    ckpt_path = run_dir / "checkpoint.pt"
    start, log = 0, []
    if ckpt_path.exists():
        try:  # weights_only: tensors and plain containers, so a planted pickle cannot run code
            ck = load_weights(ckpt_path, CHECKPOINT_KEYS)
            net.load_state_dict(ck["net"])
            opt.load_state_dict(ck["opt"])
            sched.load_state_dict(ck["sched"])
            method.load_state_dict(ck["method"])
            train_stream.load_state_dict(ck["train_stream"])
            valid_stream.load_state_dict(ck["valid_stream"])
            torch.set_rng_state(ck["torch_rng"])
            start, log = int(ck["epoch"]) + 1, list(ck["log"])
        except CorruptFileError as e:
            raise CorruptFileError(f"cannot resume: {e}; delete it to restart the run") from None
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as e:
            raise CorruptFileError(f"cannot resume: {ckpt_path} does not fit this run ({one_line(e)}); "
                                   "delete it to restart the run") from None

    epochs = p.epochs if cls.trains_weights else 0
    if p.checkpoint_every and start == 0 and epochs > 0:
        keep_checkpoint(run_dir, 0, net)  # the initial (untrained) weights: epoch 0 of the trajectory
    for epoch in range(start, epochs):
        t0 = time.time()
        net.train()
        method.on_epoch_start(net, epoch)
        method.weight_lr = opt.param_groups[0]["lr"]
        n_seen = correct = 0
        loss_sum = 0.0
        arch_losses = []
        # per-step bar on a terminal only; elsewhere the per-epoch line below is the progress
        bar = progress_bar(train_stream.epoch(), progress and is_terminal(), total=len(train_stream),
                           desc=f"{spec.algo} {spec.dataset} epoch {epoch + 1}/{epochs}", leave=False)
        for x, y in bar:
            vx, vy = valid_stream.sample_batch()
            loss, logits, al = train_step(method, net, opt, (x.to(dtype), y), (vx.to(dtype), vy), p.grad_clip)
            if al is not None:
                arch_losses.append(al)
            n_seen += len(y)
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            bar.set_postfix(loss=f"{loss_sum / n_seen:.3f}", acc=f"{100 * correct / n_seen:.1f}")
        lr = opt.param_groups[0]["lr"]
        sched.step()
        ep = method.edge_probs()
        entry = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": loss_sum / max(1, n_seen),
            "train_acc": 100.0 * correct / max(1, n_seen),
            "arch_loss": float(np.mean(arch_losses)) if arch_losses else None,
            "valid_acc": _epoch_eval(method, net, data, p.batch_size, dtype),
            "seconds": time.time() - t0,
            "genotype": space.format(space.discretize(ep)) if ep else None,
            **method.epoch_log(),
        }
        log.append(entry)
        atomic_torch_save(ckpt_path, {
            "epoch": epoch, "net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
            "method": method.state_dict(), "train_stream": train_stream.state_dict(),
            "valid_stream": valid_stream.state_dict(), "torch_rng": torch.get_rng_state(), "log": log,
        })
        atomic_write_text(run_dir / "log.jsonl", "".join(json.dumps(e) + "\n" for e in log))
        if p.checkpoint_every and (epoch + 1) % p.checkpoint_every == 0:
            keep_checkpoint(run_dir, epoch + 1, net)
        if progress:
            tqdm.write(f"[{spec.algo}/{spec.dataset}] epoch {epoch + 1}/{epochs} loss {entry['train_loss']:.3f} "
                       f"train {entry['train_acc']:.1f}% valid {entry['valid_acc']:.1f}% ({entry['seconds']:.1f}s)")
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            raise KeyboardInterrupt(f"stopped after epoch {epoch} (stop_after_epoch)")
    return _finalize(run_dir, method, net, log, cls.provides, space)


CHECKPOINTS_DIR = "checkpoints"


def keep_checkpoint(run_dir: Path, epoch: int, net: nn.Module) -> None:
    """The supernet weights after ``epoch`` finished epochs, kept (atomically) for
    `supernetbench trajectory` (profile field ``checkpoint_every``)."""
    atomic_torch_save(run_dir / CHECKPOINTS_DIR / f"epoch-{epoch:04d}.pt",
                      {k: v.detach().cpu() for k, v in net.state_dict().items()})


def kept_checkpoints(run_dir: str | os.PathLike) -> dict[int, Path]:
    """Epoch -> kept weight file of a run (empty when it kept none)."""
    out = {}
    for f in sorted((Path(run_dir) / CHECKPOINTS_DIR).glob("epoch-*.pt")):
        stem = f.stem.split("-", 1)[1]
        if stem.isdigit():
            out[int(stem)] = f
    return out


def _finalize(run_dir: Path, method, net: nn.Module, log: list, provides: frozenset[str], space) -> SearchRun:
    archs = law_archs(space)
    law = None
    if archs is not None:
        law = np.asarray(method.arch_probs(archs), dtype=np.float64)
        total = float(law.sum())
        if not np.isfinite(total) or abs(total - 1.0) > 1e-6:
            raise RuntimeError(f"{method.name}: architecture distribution sums to {total}, not 1")
    ep = method.edge_probs()
    atomic_torch_save(run_dir / "supernet.pt", {k: v.detach().cpu() for k, v in net.state_dict().items()})
    if law is not None:
        atomic_save_npy(run_dir / "archprob.npy", law)  # the file keeps its name: existing runs stay readable
    atomic_write_json(run_dir / "arch.json", {
        "alphas": {k: a.detach().cpu().tolist() for k, a in method.alphas.items()},
        "edge_probs": {k: v.tolist() for k, v in ep.items()} if ep else None,
        "provides": sorted(provides),
    })
    atomic_write_text(run_dir / "log.jsonl", "".join(json.dumps(e) + "\n" for e in log))
    atomic_write_json(run_dir / MANIFEST, {"format": "run-manifest-v1",
                                           "sha256": {f: file_sha256(run_dir / f) for f in MANIFEST_FILES
                                                      if (run_dir / f).exists()}})
    atomic_write_text(run_dir / "DONE", time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    return SearchRun.load(run_dir)
