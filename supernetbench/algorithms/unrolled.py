"""Second-order (unrolled) DARTS architecture step (Liu et al., ICLR 2019, Eq. 6-8).

The hypergradient of the one-step-unrolled bilevel objective (DARTS paper, Eq. 6)

    grad_alpha L_val(w', alpha),   w' = w - xi * grad_w L_train(w, alpha),

is, by the chain rule (Eq. 7),

    grad_alpha L_val(w', alpha) - xi * grad^2_{alpha,w} L_train(w, alpha) . grad_w' L_val(w', alpha),

and the Hessian-vector product is replaced by a central finite difference (Eq. 8)

    (grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)) / (2 eps),
    w+- = w +- eps * grad_w' L_val(w', alpha),   eps = 0.01 / ||grad_w' L_val(w', alpha)||

(the DARTS code's ``Architect._hessian_vector_product``, ``r = 1e-2``).

Choices (documented deviations from the DARTS *code*, none from the paper):

* The virtual step is plain SGD, ``w' = w - xi * grad_w L_train`` with ``xi`` = the current weight
  learning rate, as in the paper's Eq. 6. The DARTS code also folds in the SGD momentum buffer and
  weight decay (``w - xi (momentum * buf + grad + wd * w)``); the method never sees the engine's
  weight optimiser, so neither is used here.
* The step swaps the parameter tensors of ``net`` in place of building a copy (the code's
  ``model.new()``), then restores the original tensors (bit-identical) and all buffers, so the
  architecture step leaves the network exactly as it found it - including the BN running
  statistics, which the DARTS code lets the two finite-difference passes update.
* Any ``method.arch_regularizer()`` (it depends on alpha only) is added to the validation loss.

Accuracy caveat (a property of Eq. 8, not of this code): a weight perturbation of norm 0.01 can
cross ReLU kinks, where grad_alpha L_train jumps, so the finite difference can be far from the
exact Hessian-vector product (on the C=2 test supernet with 8 images it is off by 2-50x the size of
the term at radius 0.01, and exact to 1e-8 at radius 1e-5). ``tests/test_algorithms.py`` checks
the radius-0.01 result against an independent recomputation of Eq. 8 and the small-radius limit
against exact double backpropagation of Eq. 6.

The reference two-stage code cannot run this path at all (protocol §3.1/P15: ``--unrolled`` crashes
because ``TinyNetwork`` has no ``.new()``), so there is no ``reference`` variant: the protocol's
runs are first order (``darts`` with ``order=1``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

if TYPE_CHECKING:
    from .base import Stage1Method

#: the DARTS code's finite-difference radius numerator (eps = R / ||v||)
FD_RADIUS = 1e-2

Batch = tuple[torch.Tensor, torch.Tensor]


def _set_data(params: Sequence[nn.Parameter], values: Sequence[torch.Tensor]) -> None:
    for p, v in zip(params, values):
        p.data = v


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    gs = torch.autograd.grad(loss, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


def unrolled_hypergradient(
    method: "Stage1Method",
    net: nn.Module,
    train_batch: Batch,
    valid_batch: Batch,
    xi: float,
    radius: float = FD_RADIUS,
) -> tuple[float, list[torch.Tensor]]:
    """The DARTS Eq. 7-8 hypergradient w.r.t. ``method.arch_parameters()``.

    Args:
        method: the Stage-1 method; its ``forward_train`` defines the network function.
        net: the supernet; its parameters and buffers are unchanged on return.
        train_batch: ``(x, y)`` for L_train (the virtual step and the Hessian term).
        valid_batch: ``(x, y)`` for L_val.
        xi: the virtual-step learning rate.
        radius: ``eps = radius / ||grad_w' L_val||`` (DARTS: 0.01).

    Returns:
        ``(L_val(w', alpha) as float, [hypergradient per arch parameter])``.
    """
    alphas = method.arch_parameters()
    weights = [p for p in net.parameters() if p.requires_grad]
    (xt, yt), (xv, yv) = train_batch, valid_batch
    original = [p.data for p in weights]
    saved_buffers = {k: b.detach().clone() for k, b in net.named_buffers()}

    def train_loss() -> torch.Tensor:
        return nn.functional.cross_entropy(method.forward_train(net, xt), yt)

    try:
        # virtual step w' = w - xi * grad_w L_train(w, alpha)   (Eq. 6, plain SGD)
        g_w = _grads(train_loss(), weights)
        _set_data(weights, [w - xi * g for w, g in zip(original, g_w)])
        # L_val(w', alpha) and its gradients w.r.t. w' and alpha
        loss_val = nn.functional.cross_entropy(method.forward_train(net, xv), yv)
        reg = method.arch_regularizer()
        if reg is not None:
            loss_val = loss_val + reg
        g = _grads(loss_val, weights + alphas)
        v, direct = g[: len(weights)], g[len(weights):]
        norm = torch.sqrt(sum((d.double() ** 2).sum() for d in v))
        if not torch.isfinite(norm) or float(norm) == 0.0:
            hyper = direct  # no curvature information (grad_w' L_val == 0): first-order gradient
        else:
            eps = radius / float(norm)
            _set_data(weights, [w + eps * d for w, d in zip(original, v)])
            g_plus = _grads(train_loss(), alphas)
            _set_data(weights, [w - eps * d for w, d in zip(original, v)])
            g_minus = _grads(train_loss(), alphas)
            hyper = [d - xi * (gp - gm) / (2 * eps) for d, gp, gm in zip(direct, g_plus, g_minus)]
    finally:
        _set_data(weights, original)
        with torch.no_grad():
            for k, b in net.named_buffers():
                b.copy_(saved_buffers[k])
    return float(loss_val.detach()), [h.detach() for h in hyper]


def unrolled_arch_step(method: "Stage1Method", net: nn.Module, train_batch: Batch, valid_batch: Batch,
                       xi: float) -> float:
    """One Adam step on alpha with the unrolled hypergradient; returns L_val(w', alpha)."""
    assert method.arch_optimizer is not None
    loss, hyper = unrolled_hypergradient(method, net, train_batch, valid_batch, xi)
    method.arch_optimizer.zero_grad(set_to_none=True)
    for a, h in zip(method.arch_parameters(), hyper):
        a.grad = h
    method.arch_optimizer.step()
    return loss
