"""Zero-cost proxies on the supernet's shared weights (protocol §5.4): ``synflow`` and ``jacob_cov``.

Both score single-path architectures of a supernet, reading the shared weights only (no training),
and follow the ``pruners`` package the papers' code called (``predictive.find_measures``):

* **synflow** (``measures/synflow.py``, the ``bn=False`` variant ``stats.py`` reports): a private copy
  of the network with every BatchNorm replaced by the identity, the absolute value of every state
  tensor, float64; input = ONE all-ones image of the dataset's size (1x3x32x32, ImageNet16: 16x16);
  ``R`` = sum of the logits; score = ``sum |theta * dR/dtheta|`` over the weight tensors of every
  ``Conv2d`` and ``Linear`` layer (``mode='param'``; layers off the path contribute 0). It includes
  the shared stem, reduction blocks and classifier. Higher is better; a zero-output arch scores
  exactly 0 (P19). It does not depend on the BN mode (BN is removed) nor on the weights' signs.
* **jacob_cov** (``measures/jacob_cov.py``): for a batch of ``n`` images, ``J`` = gradient of the
  summed logits w.r.t. each input image (``y.backward(ones_like(y))``), flattened to ``n x 3HW``;
  ``C`` = Pearson correlation matrix of the rows (``np.corrcoef``), ``lambda`` its eigenvalues;
  score = ``-sum_i [log(lambda_i + k) + 1 / (lambda_i + k)]`` with ``k = 1e-5``. Higher is better.
  A zero Jacobian (disconnected arch) gives NaN, as in ``pruners`` (P19). Deviations, both fixed
  and recorded: BN runs in **train mode (batch statistics)** for every arch (the papers' code
  scored the first sampled arch in train mode and the other 99 in eval mode, P5); the batch is one
  fixed batch for all archs (the code drew a fresh augmented batch per arch). The papers' code
  behaviour is :func:`jacob_cov_scores_p5` (profile field ``jacob_bn = "first-train"``, on in
  ``reference``). Eigenvalues come from
  ``np.linalg.eigvalsh`` (the matrix is symmetric; ``pruners`` calls the general ``np.linalg.eig``).

Every score is a function of the shared-weight *functional class* of the arch (both measures have
exact zero propagation: no BN / batch-statistics BN, bias-free convs), so callers may score one
representative per class (:meth:`NB201Space.functional_classes`); tests check this.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data import Augment, normalize
from .device import tiny_op_threads

JACOB_COV_K = 1e-5

__all__ = ["JACOB_COV_K", "fixed_batch", "jacob_cov_from_jacobian", "jacob_cov_scores", "synflow_network",
           "synflow_scores"]


def _strip_bn(module: nn.Module) -> None:
    """Replace every BatchNorm in ``module`` by the identity, in place."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _strip_bn(child)


def synflow_network(net: nn.Module) -> nn.Module:
    """A private float64 copy of ``net``: BN -> identity, every state tensor replaced by its absolute value."""
    net = copy.deepcopy(net)
    net.aux_skip_beta = 0.0
    _strip_bn(net)
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    return net.double().train()


def _weight_layers(net: nn.Module) -> list[nn.Parameter]:
    return [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow_scores(net: nn.Module, archs: np.ndarray, image_size: int, *, prepared: bool = False,
                   progress: bool = False) -> np.ndarray:
    """synflow of each row of ``archs`` (single paths of the supernet ``net``), float64.

    ``prepared=True``: ``net`` already is :func:`synflow_network`'s copy (skips the copy).
    """
    net = net if prepared else synflow_network(net)
    weights = _weight_layers(net)
    dev = weights[0].device
    ones = torch.ones(1, 3, image_size, image_size, dtype=torch.float64, device=dev)
    out = np.empty(len(archs))
    with tiny_op_threads(dev):
        for i, a in enumerate(tqdm(archs, disable=not progress, desc="synflow", leave=False)):
            r = net(ones, arch=tuple(int(v) for v in a)).sum()
            grads = torch.autograd.grad(r, weights, allow_unused=True)
            with torch.no_grad():
                terms = [(w * g).abs().sum() for w, g in zip(weights, grads) if g is not None]
                out[i] = float(torch.stack(terms).sum()) if terms else 0.0
    return out


def jacob_cov_from_jacobian(jacobian: np.ndarray, k: float = JACOB_COV_K) -> float:
    """The ``pruners`` score of an ``n x d`` Jacobian (one row per image); NaN when undefined.

    Uncorrelated rows give eigenvalues 1 and the score ``-n`` (up to ``k``):

    >>> round(jacob_cov_from_jacobian(np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])), 6)
    -2.0
    """
    jac = np.asarray(jacobian, dtype=np.float64)
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jac)
        if not np.all(np.isfinite(corr)):
            return float("nan")  # a constant (e.g. all-zero) row: pruners' eig raises -> NaN
        lam = np.linalg.eigvalsh(corr)
        return float(-np.sum(np.log(lam + k) + 1.0 / (lam + k)))


def jacob_cov_scores(net: nn.Module, archs: np.ndarray, x: torch.Tensor, *, progress: bool = False) -> np.ndarray:
    """jacob_cov of each row of ``archs`` on the fixed batch ``x`` (already normalised, net's dtype/device).

    BN in train mode (batch statistics) for every arch; a private copy keeps the caller's BN buffers.
    """
    net = copy.deepcopy(net)
    net.aux_skip_beta = 0.0
    net.train()
    for p in net.parameters():
        p.requires_grad_(False)  # only d(logits)/d(input) is needed
    out = np.empty(len(archs))
    with tiny_op_threads(x.device):
        for i, a in enumerate(tqdm(archs, disable=not progress, desc="jacob_cov", leave=False)):
            xi = x.detach().clone().requires_grad_(True)
            y = net(xi, arch=tuple(int(v) for v in a))
            (g,) = torch.autograd.grad(y.sum(), xi)  # == y.backward(ones_like(y))
            out[i] = jacob_cov_from_jacobian(g.reshape(len(xi), -1).double().cpu().numpy())
    return out


def jacob_cov_scores_p5(net: nn.Module, archs: np.ndarray, batches: list[torch.Tensor], *,
                        progress: bool = False) -> np.ndarray:
    """jacob_cov as the papers' code computed it (protocol P5, §5.4): candidate ``i`` (in sample
    order) on its own batch ``batches[i]``; the first candidate in train-mode BN (batch statistics),
    every later one in eval mode with the supernet's running statistics (``find_measures`` left the
    net in train mode once, then ``infer`` set eval mode, which the next deep copy inherited). Each
    candidate sees the supernet's own BN buffers (``pruners`` scored a fresh deep copy), so the
    train-mode pass of the first does not move the running statistics the others use."""
    if len(batches) != len(archs):
        raise ValueError(f"jacob_cov (P5) needs one batch per candidate: {len(batches)} batches, {len(archs)} archs")
    base = copy.deepcopy(net)
    base.aux_skip_beta = 0.0
    for p in base.parameters():
        p.requires_grad_(False)
    out = np.empty(len(archs))
    with tiny_op_threads(batches[0].device if batches else torch.device("cpu")):
        for i, a in enumerate(tqdm(archs, disable=not progress, desc="jacob_cov (P5)", leave=False)):
            m = copy.deepcopy(base).train() if i == 0 else base.eval()
            xi = batches[i].detach().clone().requires_grad_(True)
            y = m(xi, arch=tuple(int(v) for v in a))
            (g,) = torch.autograd.grad(y.sum(), xi)
            out[i] = jacob_cov_from_jacobian(g.reshape(len(xi), -1).double().cpu().numpy())
    return out


def candidate_batches(data, n_candidates: int, n: int, *, seed: int, device, dtype: torch.dtype) -> list[torch.Tensor]:
    """A fresh augmented batch of ``n`` training-half images per candidate (the papers' code drew one
    random training batch per arch, P5), seeded by the selection seed: reproducible."""
    if n > len(data.train_y):
        raise ValueError(f"jacob_cov needs {n} training images but the split has {len(data.train_y)}; "
                         "lower jacob_batch or raise train_size")
    g = torch.Generator().manual_seed(int(seed))
    aug = Augment(data.dataset)
    out = []
    for _ in range(n_candidates):
        rows = torch.randperm(len(data.train_y), generator=g)[:n]
        out.append(aug(data.train_x[rows], g).to(device, dtype))
    return out


def fixed_batch(data, n: int, *, augment: bool, device, dtype: torch.dtype) -> torch.Tensor:
    """The first ``n`` training-half images, normalised (``augment``: one fixed augmentation draw)."""
    if n > len(data.train_y):
        raise ValueError(f"jacob_cov needs {n} training images but the split has {len(data.train_y)}; "
                         "lower jacob_batch or raise train_size")
    x = data.train_x[:n]
    x = Augment(data.dataset)(x, torch.Generator().manual_seed(0)) if augment else normalize(x, data.dataset)
    return x.to(device, dtype)
