"""Train a DARTS-space genotype from scratch: the ground truth of a space that has no table.

Protocol §8 (the papers' ``two_stage/DARTS-space/train.py``, itself DARTS' ``cnn/train.py``):
``NetworkCIFAR`` C=36 / 20 cells, 600 epochs on the whole CIFAR training set, batch 64, SGD lr 0.025
cosine to 0 (one value per epoch), momentum 0.9, weight decay 3e-4, gradient-norm clip 5, random
crop + flip + cutout 16, auxiliary head with loss weight 0.4, drop-path ``0.3 * epoch / epochs``.

Every epoch ends with a test-set pass (eval mode). The result carries the **final-epoch** test
accuracy and the **best over epochs**; the papers' ``results.py`` reported the best, i.e. a choice
made on the test set (protocol §11 P20), so the final one is the number to report by default.

This module is the training function only; caching by content and resuming are the job of the
``TrainedOracle`` task that will call it (``spaces/base.py``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from supernetbench.harness.augment import Augment, normalize
from supernetbench.harness.checks import check_float, check_int
from supernetbench.harness.data import NUM_CLASSES, BatchStream, DataConfig, load_search_data, load_test_set

from .network import NetworkCIFAR, NetworkConfig, count_parameters
from .space import DartsCellSpace, DartsSpace


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
    dev = next(net.parameters()).device
    correct = 0
    for i in range(0, len(x), batch_size):
        xb = normalize(x[i:i + batch_size], dataset).to(dev)
        logits, _ = net(xb)
        correct += int((logits.argmax(1).cpu() == y[i:i + batch_size]).sum())
    return 100.0 * correct / len(x)


def train_genotype(arch: Sequence[int], data: Sequence[torch.Tensor], config: OracleConfig = OracleConfig(), *,
                   space: DartsCellSpace | None = None, dataset: str = "cifar10",
                   device: str | torch.device = "cpu") -> OracleResult:
    """Train ``arch`` from scratch on ``data`` (see :func:`load_oracle_data`) and test after every epoch."""
    space = space if space is not None else DartsSpace()
    arch = space.validate(arch)
    train_x, train_y, test_x, test_y = data
    if config.train_images is not None:
        train_x, train_y = train_x[:config.train_images], train_y[:config.train_images]
    if config.test_images is not None:
        test_x, test_y = test_x[:config.test_images], test_y[:config.test_images]
    if dataset not in ("cifar10", "cifar100"):
        raise ValueError(f"the DARTS evaluation network is for 32x32 CIFAR images; got dataset {dataset!r}")
    num_classes = NUM_CLASSES[dataset]
    torch.manual_seed(config.seed)
    net = NetworkCIFAR(arch, space, NetworkConfig(C=config.C, layers=config.layers, num_classes=num_classes,
                                                 auxiliary=config.auxiliary_weight > 0, pool_bn=config.pool_bn))
    net.to(device)
    opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    stream = BatchStream(train_x, train_y, config.batch_size, augment=Augment(dataset), seed=config.seed,
                         dataset=dataset)
    g_cut = torch.Generator().manual_seed(config.seed + 1)
    accs, losses, lrs, dps = [], [], [], []
    for epoch in range(config.epochs):
        lr = cosine_lr(config.lr, epoch, config.epochs)
        for group in opt.param_groups:
            group["lr"] = lr
        dp = config.drop_path_prob * epoch / config.epochs
        net.set_drop_path(dp)
        net.train()
        total, seen = 0.0, 0
        for xb, yb in stream.epoch():
            xb, yb = cutout(xb, config.cutout, g_cut).to(device), yb.to(device)
            logits, aux = net(xb)
            loss = F.cross_entropy(logits, yb)
            if aux is not None:
                loss = loss + config.auxiliary_weight * F.cross_entropy(aux, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            opt.step()
            total, seen = total + loss.item() * len(yb), seen + len(yb)
        accs.append(evaluate_accuracy(net, test_x, test_y, dataset))
        losses.append(total / seen)
        lrs.append(lr)
        dps.append(dp)
    best = max(range(len(accs)), key=lambda e: (accs[e], -e))
    return OracleResult(
        final_test_acc=accs[-1], best_test_acc=accs[best], best_epoch=best, test_acc=tuple(accs),
        train_loss=tuple(losses), lr=tuple(lrs), drop_path=tuple(dps),
        params=count_parameters(arch, space, C=config.C, layers=config.layers, num_classes=num_classes),
        genotype=space.format(arch), config=asdict(config),
    )
