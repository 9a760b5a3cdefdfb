"""Train a DARTS-space genotype from scratch: the ground truth of a space that has no table.

Protocol §8 (the papers' ``two_stage/DARTS-space/train.py``, itself DARTS' ``cnn/train.py``):
``NetworkCIFAR`` C=36 / 20 cells, 600 epochs on the whole CIFAR training set, batch 64, SGD lr 0.025
cosine to 0 (one value per epoch), momentum 0.9, weight decay 3e-4, gradient-norm clip 5, random
crop + flip + cutout 16, auxiliary head with loss weight 0.4, drop-path ``0.3 * epoch / epochs``.

Every epoch ends with a test-set pass (eval mode). The result carries the **final-epoch** test
accuracy and the **best over epochs**; the papers' ``results.py`` reported the best, i.e. a choice
made on the test set (protocol §11 P20), so the final one is the number to report by default.

Named settings (:data:`ORACLE_PROFILES`): ``paper`` = §8 (the :class:`OracleConfig` defaults) and
``smoke`` (tests and CI: a few hundred images, 2 epochs, C=4 / 3 cells, float64).

:func:`train_genotype` checkpoints after every epoch (``checkpoint=``; weights, optimiser, data
stream, cutout and global RNG states, the per-epoch log) with atomic writes, so a killed training
resumes from its last finished epoch and ends with the numbers of an uninterrupted one. Caching by
content is :class:`~.oracle_store.DartsOracle`'s job (the space's ``TrainedOracle``).
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from supernetbench.harness.augment import Augment, normalize
from supernetbench.harness.checks import check_choice, check_float, check_int
from supernetbench.harness.data import NUM_CLASSES, BatchStream, DataConfig, load_search_data, load_test_set
from supernetbench.harness.progress import is_terminal, progress_bar
from supernetbench.harness.store import CorruptFileError, atomic_torch_save, content_hash, load_weights, one_line

from .network import NetworkCIFAR, NetworkConfig, count_parameters
from .space import DartsCellSpace, DartsSpace

#: floating dtypes a from-scratch training may run in (``float64``: bit-reproducible smoke runs)
ORACLE_DTYPES: tuple[str, ...] = ("float32", "float64")
#: what a checkpoint must hold to resume (tensors and plain containers only: ``weights_only`` loads)
CHECKPOINT_KEYS = ("format", "fingerprint", "epoch", "net", "opt", "stream", "g_cut", "torch_rng", "log")
CHECKPOINT_FORMAT = "oracle-checkpoint-v1"
#: the per-epoch series of the log, in :class:`OracleResult` order
SERIES = ("test_acc", "train_loss", "lr", "drop_path", "seconds")


@dataclass(frozen=True, kw_only=True)
class OracleConfig:
    """From-scratch evaluation settings; the defaults are protocol §8's."""

    epochs: int = 600
    batch_size: int = 64
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    cutout: int = 16
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.3
    C: int = 36
    layers: int = 20
    pool_bn: bool = True
    train_images: int | None = None  #: None: the whole training set (50,000 for CIFAR-10)
    test_images: int | None = None  #: None: the whole test set
    seed: int = 0
    dtype: str = "float32"  #: weights and activations (``float64``: the bit-reproducible smoke runs)

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, 1, 10_000)
        check_int("batch_size", self.batch_size, 1, 65_536)
        check_float("lr", self.lr, 0.0)
        check_float("momentum", self.momentum, 0.0, 1.0)
        check_float("weight_decay", self.weight_decay, 0.0)
        check_float("grad_clip", self.grad_clip, 0.0)
        check_int("cutout", self.cutout, 0, 32)
        check_float("auxiliary_weight", self.auxiliary_weight, 0.0)
        check_float("drop_path_prob", self.drop_path_prob, 0.0, 0.99)
        NetworkConfig(C=self.C, layers=self.layers)  # validates C / layers
        for name in ("train_images", "test_images"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        check_choice("dtype", self.dtype, ORACLE_DTYPES)

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    def to_dict(self) -> dict[str, Any]:
        """Every field (JSON-able); part of a trained result's content key."""
        return asdict(self)


#: Named oracle settings (frozen presets, as ``harness/profiles.py``'s): ``paper`` is protocol §8
#: exactly; ``smoke`` trains 256 images for 2 epochs at C=4 / 3 cells in float64 (seconds on a CPU;
#: tests and CI), with every §8 mechanism on (cutout, auxiliary head, drop-path ramp, cosine lr).
ORACLE_PROFILES: dict[str, OracleConfig] = {
    "paper": OracleConfig(),
    "smoke": OracleConfig(epochs=2, batch_size=32, C=4, layers=3, train_images=256, test_images=256,
                          dtype="float64"),
}


def get_oracle_profile(name: str) -> OracleConfig:
    """The oracle preset ``name`` (one error listing the valid names otherwise)."""
    if not isinstance(name, str) or name not in ORACLE_PROFILES:
        raise ValueError(f"unknown oracle profile {one_line(repr(name), 40)}; valid choices: "
                         f"{', '.join(ORACLE_PROFILES)}")
    return ORACLE_PROFILES[name]


def oracle_profile_name(config: OracleConfig) -> str | None:
    """The preset name of ``config`` up to its seed (None for a custom config)."""
    for name, preset in ORACLE_PROFILES.items():
        if replace(preset, seed=config.seed) == config:
            return name
    return None


@dataclass(frozen=True)
class OracleResult:
    """What one from-scratch training measured (accuracies in %, per epoch in order)."""

    final_test_acc: float
    best_test_acc: float  #: the papers' number: max over epochs of a test-set accuracy (optimistic)
    best_epoch: int
    test_acc: tuple[float, ...]
    train_loss: tuple[float, ...]
    lr: tuple[float, ...]
    drop_path: tuple[float, ...]
    params: int  #: without the auxiliary head (DARTS' convention)
    genotype: str = ""
    config: dict = field(default_factory=dict)
    seconds: tuple[float, ...] = ()  #: wall time of each epoch (training + test pass)
    device: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OracleResult":
        """The result of :meth:`to_dict` (``KeyError`` / ``TypeError`` on a record of another shape)."""
        names = {f.name for f in fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        return cls(**kw)


def cutout(x: torch.Tensor, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """DARTS' ``Cutout``: per image, zero one ``length`` x ``length`` square (clipped at the border)
    whose centre is uniform over the pixels; applied to the normalised image, as DARTS does."""
    if length <= 0:
        return x
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1, 1), generator=generator).to(x.device)
    cx = torch.randint(0, w, (n, 1, 1), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    half = length // 2
    inside = ((ys >= cy - half) & (ys < cy + half) & (xs >= cx - half) & (xs < cx + half))
    return x * (~inside).unsqueeze(1).to(x.dtype)


def cosine_lr(base: float, epoch: int, epochs: int) -> float:
    """``CosineAnnealingLR(T_max=epochs, eta_min=0)`` at ``epoch``: base * (1 + cos(pi e / E)) / 2."""
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def load_oracle_data(dataset: str = "cifar10", root: str | None = None) -> tuple[torch.Tensor, ...]:
    """``(train_x, train_y, test_x, test_y)``: the whole training set (both search halves, rows in
    order) and the test set, uint8 NCHW / int64, from the harness' data loaders."""
    data = load_search_data(DataConfig(dataset=dataset, root=root, split="protocol"))
    test = load_test_set(dataset, root)
    return (torch.cat([data.train_x, data.valid_x]), torch.cat([data.train_y, data.valid_y]), test.x, test.y)


@torch.no_grad()
def evaluate_accuracy(net: NetworkCIFAR, x: torch.Tensor, y: torch.Tensor, dataset: str, batch_size: int = 256) -> float:
    """Top-1 accuracy (%) in eval mode (running BN statistics, no aux head, no drop-path)."""
    net.eval()
    p = next(net.parameters())
    correct = 0
    for i in range(0, len(x), batch_size):
        xb = normalize(x[i:i + batch_size], dataset).to(device=p.device, dtype=p.dtype)
        logits, _ = net(xb)
        correct += int((logits.argmax(1).cpu() == y[i:i + batch_size]).sum())
    return 100.0 * correct / len(x)


def train_step(net: NetworkCIFAR, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               config: OracleConfig) -> float:
    """One §8 step on an augmented batch: cross-entropy + ``auxiliary_weight`` x the auxiliary head's,
    backward, gradient-norm clip at ``grad_clip``, SGD; returns the loss."""
    logits, aux = net(x)
    loss = F.cross_entropy(logits, y)
    if aux is not None:
        loss = loss + config.auxiliary_weight * F.cross_entropy(aux, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
    opt.step()
    return loss.item()


def training_fingerprint(arch: Sequence[int], space: DartsCellSpace, config: OracleConfig, dataset: str) -> str:
    """What a checkpoint belongs to (a checkpoint of another training is never resumed)."""
    return content_hash(space.name, list(arch), config.to_dict(), dataset, CHECKPOINT_FORMAT)


def train_genotype(arch: Sequence[int], data: Sequence[torch.Tensor], config: OracleConfig = OracleConfig(), *,
                   space: DartsCellSpace | None = None, dataset: str = "cifar10",
                   device: str | torch.device = "cpu", checkpoint: str | os.PathLike | None = None,
                   progress: bool = False, stop_after_epoch: int | None = None,
                   on_epoch: Callable[[list[dict[str, Any]]], None] | None = None) -> OracleResult:
    """Train ``arch`` from scratch on ``data`` (see :func:`load_oracle_data`) and test after every epoch.

    ``checkpoint``: a file rewritten atomically after every epoch and resumed from when it exists
    (the same final numbers as an uninterrupted training on the same device); ``progress``: a bar
    over the epochs (and over the steps on a terminal); ``on_epoch``: called after each epoch with
    the log of every finished epoch (:func:`log_entries`); ``stop_after_epoch``: raise ``KeyboardInterrupt`` once that epoch is saved (tests).
    """
    space = space if space is not None else DartsSpace()
    arch = space.validate(arch)
    if dataset not in ("cifar10", "cifar100"):
        raise ValueError(f"the DARTS evaluation network is for 32x32 CIFAR images; got dataset {dataset!r}")
    train_x, train_y, test_x, test_y = data
    if config.train_images is not None:
        train_x, train_y = train_x[:config.train_images], train_y[:config.train_images]
    if config.test_images is not None:
        test_x, test_y = test_x[:config.test_images], test_y[:config.test_images]
    num_classes = NUM_CLASSES[dataset]
    dev = torch.device(device)
    dtype = config.torch_dtype
    if dev.type == "cuda":  # augmentation and cutout on the GPU (their random draws stay on CPU generators)
        train_x, train_y = train_x.to(dev), train_y.to(dev)
    torch.manual_seed(config.seed)
    net = NetworkCIFAR(arch, space, NetworkConfig(C=config.C, layers=config.layers, num_classes=num_classes,
                                                 auxiliary=config.auxiliary_weight > 0, pool_bn=config.pool_bn))
    net.to(device=dev, dtype=dtype)
    channels_last = dev.type == "cpu" and dtype == torch.float32  # oneDNN's NHWC kernels: 1.7x faster steps on
    if channels_last:  # this project's CPU (benchmarks/results/oracle); float64 has none
        net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    stream = BatchStream(train_x, train_y, config.batch_size, augment=Augment(dataset), seed=config.seed,
                         dataset=dataset)
    g_cut = torch.Generator().manual_seed(config.seed + 1)
    log: dict[str, list[float]] = {k: [] for k in SERIES}
    fingerprint = training_fingerprint(arch, space, config, dataset)
    start = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        start, log = _resume(ckpt, fingerprint, net, opt, stream, g_cut, dev)
    bar = progress_bar(None, progress, total=config.epochs, initial=start, unit="epoch",
                       desc=f"oracle {space.name} {dataset} C={config.C}/{config.layers} cells")
    try:
        for epoch in range(start, config.epochs):
            t0 = time.time()
            lr = cosine_lr(config.lr, epoch, config.epochs)
            for group in opt.param_groups:
                group["lr"] = lr
            dp = config.drop_path_prob * epoch / config.epochs
            net.set_drop_path(dp)
            net.train()
            total, seen = 0.0, 0
            steps = progress_bar(stream.epoch(), progress and is_terminal(), total=len(stream), leave=False,
                                 desc=f"epoch {epoch + 1}/{config.epochs}")
            for xb, yb in steps:
                xb = cutout(xb.to(dtype), config.cutout, g_cut).to(dev)
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                loss = train_step(net, opt, xb, yb.to(dev), config)
                total, seen = total + loss * len(yb), seen + len(yb)
            acc = evaluate_accuracy(net, test_x, test_y, dataset)
            for k, v in zip(SERIES, (acc, total / seen, lr, dp, time.time() - t0)):
                log[k].append(v)
            if ckpt is not None:
                _save(ckpt, fingerprint, epoch, net, opt, stream, g_cut, dev, log)
            if on_epoch is not None:
                on_epoch(log_entries(log))
            bar.update(1)
            bar.set_postfix_str(f"test {acc:.2f}% loss {total / seen:.3f}", refresh=False)
            if stop_after_epoch is not None and epoch >= stop_after_epoch and epoch + 1 < config.epochs:
                raise KeyboardInterrupt(f"stopped after epoch {epoch} (stop_after_epoch)")
    finally:
        bar.close()
    accs = log["test_acc"]
    best = max(range(len(accs)), key=lambda e: (accs[e], -e))
    return OracleResult(
        final_test_acc=accs[-1], best_test_acc=accs[best], best_epoch=best, test_acc=tuple(accs),
        train_loss=tuple(log["train_loss"]), lr=tuple(log["lr"]), drop_path=tuple(log["drop_path"]),
        params=count_parameters(arch, space, C=config.C, layers=config.layers, num_classes=num_classes),
        genotype=space.format(arch), config=config.to_dict(), seconds=tuple(log["seconds"]), device=str(dev),
    )


def log_entries(log: dict[str, list[float]]) -> list[dict[str, Any]]:
    """The per-epoch series as one dict per finished epoch (``log.jsonl`` lines)."""
    return [{"epoch": e, **{k: log[k][e] for k in SERIES}} for e in range(len(log["test_acc"]))]


def _rng_states(dev: torch.device) -> dict[str, Any]:
    """The global RNG states the training draws from (drop-path masks: the CPU or the CUDA generator)."""
    out: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if dev.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(dev)
    return out


def _save(path: Path, fingerprint: str, epoch: int, net: NetworkCIFAR, opt: torch.optim.Optimizer,
          stream: BatchStream, g_cut: torch.Generator, dev: torch.device, log: dict[str, list[float]]) -> None:
    atomic_torch_save(path, {
        "format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "epoch": epoch, "net": net.state_dict(),
        "opt": opt.state_dict(), "stream": stream.state_dict(), "g_cut": g_cut.get_state(),
        "torch_rng": _rng_states(dev), "log": {k: list(v) for k, v in log.items()},
    })


def _resume(path: Path, fingerprint: str, net: NetworkCIFAR, opt: torch.optim.Optimizer, stream: BatchStream,
            g_cut: torch.Generator, dev: torch.device) -> tuple[int, dict[str, list[float]]]:
    """Restore every state of ``path``; returns (first epoch to run, the log so far)."""
    try:  # weights_only: tensors and plain containers, so a planted pickle cannot run code
        ck = load_weights(path, CHECKPOINT_KEYS)
    except CorruptFileError as e:
        raise CorruptFileError(f"cannot resume: {e}; delete it to restart the training") from None
    if ck["format"] != CHECKPOINT_FORMAT or ck["fingerprint"] != fingerprint:
        raise CorruptFileError(f"cannot resume: {path} is the checkpoint of another training (genotype, settings "
                               "or dataset differ); delete it to restart the training")
    try:
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        stream.load_state_dict(ck["stream"])
        g_cut.set_state(ck["g_cut"])
        torch.set_rng_state(ck["torch_rng"]["cpu"])
        if dev.type == "cuda" and "cuda" in ck["torch_rng"]:
            torch.cuda.set_rng_state(ck["torch_rng"]["cuda"], dev)
        log = {k: [float(v) for v in ck["log"][k]] for k in SERIES}
        epoch = int(ck["epoch"])
        if any(len(v) != epoch + 1 for v in log.values()):
            raise ValueError(f"its log has not {epoch + 1} epochs")
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError) as e:
        raise CorruptFileError(f"cannot resume: {path} does not fit this training ({one_line(e)}); "
                               "delete it to restart the training") from None
    print(f"resuming {path.parent.name} after epoch {epoch + 1}", file=sys.stderr, flush=True)
    return epoch + 1, log
