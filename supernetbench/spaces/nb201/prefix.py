"""NB201's prefix scorer: exact single-path accuracies that share the first cell's work.

The cell graph is unrolled by hand for speed; :attr:`PrefixScorer.UNROLLED_EDGES` must equal the
space's (``NB201Space.EDGES``, tested). ``sd`` and ``cfg`` are the generic scoring data and config
(:class:`~supernetbench.oneshot.scoring.ScoringData`, ``ScoreConfig``): read by attribute only, so
this module never imports the one-shot layer above it.
"""
from __future__ import annotations

import torch
from torch import nn


class PrefixScorer:
    """Exact single-path accuracies that share the first search cell's arch-independent work.

    The first cell's input (the stem output on the fixed images) is the same for every arch, so the
    outputs of edges 1<-0, 2<-0 and 3<-0 are computed once per op, those of 2<-1 and 3<-1 once per op
    on 1<-0, and those of 3<-2 once per (1<-0, 2<-0, 2<-1) prefix; archs are visited in lexicographic
    order so each prefix is computed once. An op's output depends only on its input (batch-statistic
    BN normalises over the fixed batch; running-statistic BN uses frozen buffers), and the node sums
    are taken in the cell's edge order, so every arch gets bit-for-bit the per-arch forward's logits
    (tested against :func:`score_archs`). ``recalibrate`` re-estimates BN per arch: not shareable.
    """

    MODES = ("batch", "running")
    #: the cell graph :meth:`accuracy` unrolls by hand: it must be the space's (``NB201Space.EDGES``)
    UNROLLED_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

    def __init__(self, net: nn.Module, sd: ScoringData, cfg: ScoreConfig):
        if tuple(net.space.edges("cell")) != self.UNROLLED_EDGES:
            raise ValueError(f"the prefix scorer unrolls the NB201 cell; space {net.space.name!r} has another graph")
        if cfg.bn_mode not in self.MODES:
            raise ValueError(f"the prefix scorer supports BN modes {self.MODES}, not {cfg.bn_mode!r}")
        self.net = net
        self.cell = net.layers[0]
        bs = cfg.batch_size
        self.batches = [(sd.x[i : i + bs], sd.y[i : i + bs]) for i in range(0, len(sd.y), bs)]
        self.n_images = len(sd.y)
        with torch.no_grad():
            self.stems = [net.stem(x) for x, _ in self.batches]
        self._cache: dict[tuple, torch.Tensor] = {}  # (batch, edge, op) + the ops it depends on
        self._prefix: tuple = ()

    def _op(self, b: int, e: int, o: int, h: torch.Tensor, key: tuple) -> torch.Tensor:
        k = (b, e, o) + key
        out = self._cache.get(k)
        if out is None:
            out = self._cache[k] = self.cell.edges[e][o](h)
        return out

    def _set_prefix(self, prefix: tuple) -> None:
        """Forget outputs that depend on an earlier prefix: at most 15 + 10 + 5 op outputs per batch
        are held at any time."""
        if prefix == self._prefix:
            return
        depth = 1 if prefix[:1] == self._prefix[:1] else 0  # how much of the cached key still holds
        self._cache = {k: v for k, v in self._cache.items() if len(k) - 3 <= depth}
        self._prefix = prefix

    @torch.no_grad()
    def accuracy(self, arch: tuple[int, ...]) -> float:
        a0, a1, a2, a3, a4, a5 = arch
        self._set_prefix(arch[:3])
        correct = 0
        for b, ((_, y), x0) in enumerate(zip(self.batches, self.stems)):
            n1 = self._op(b, 0, a0, x0, ())
            n2 = self._op(b, 1, a1, x0, ()) + self._op(b, 2, a2, n1, (a0,))
            n3 = self._op(b, 3, a3, x0, ()) + self._op(b, 4, a4, n1, (a0,)) + self._op(b, 5, a5, n2, (a0, a1, a2))
            out = self.net.forward_layers(n3, 1, arch=arch)
            correct += int((out.argmax(1) == y).sum())
        return 100.0 * correct / self.n_images
