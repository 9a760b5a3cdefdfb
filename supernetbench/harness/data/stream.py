"""Seeded, resumable batch streams for supernet training."""
from __future__ import annotations

import math
from typing import Any, Iterator

import torch

from ..augment import Augment, normalize
from .common import _check_dataset


def _derive_seed(seed: int, stream: int) -> int:
    return (int(seed) * 0x9E3779B97F4A7C15 + stream * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % (1 << 63)


class BatchStream:
    """Seeded stream of ``(x_float, y)`` batches over ``(x, y)``; reshuffled every epoch.

    Three independent CPU generators derived from ``seed``: epoch order, augmentation of epoch
    batches, and :meth:`sample_batch` (indices + its augmentation), so architecture-step batches never
    change the training order. ``state_dict()`` captures all of them plus the position inside the
    current epoch, so a resumed stream continues bit-identically. Batches come back on ``x``'s device.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, augment: Augment | None,
                 seed: int, dataset: str, drop_last: bool = False):
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise TypeError(f"x must be uint8 [N,C,H,W], got {x.dtype} {tuple(x.shape)}")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"x and y must be non-empty and equally long ({len(x)} vs {len(y)})")
        if batch_size < 1:
            raise ValueError("batch_size must be ≥ 1")
        self.x, self.y = x, y.to(x.device)
        self.batch_size, self.augment, self.seed = int(batch_size), augment, int(seed)
        self.dataset, self.drop_last = _check_dataset(dataset), bool(drop_last)
        self.n = len(x)
        self._g_order, self._g_aug, self._g_sample = (
            torch.Generator().manual_seed(_derive_seed(seed, k)) for k in range(3))
        self._perm: torch.Tensor | None = None
        self._pos = 0
        self.epochs_completed = 0

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def _make(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = idx.to(self.x.device)
        xb = self.x[idx]
        xb = self.augment(xb, g) if self.augment is not None else normalize(xb, self.dataset)
        return xb, self.y[idx]

    def epoch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over the data (the rest of the current pass if it was interrupted or resumed)."""
        if self._perm is None:
            self._perm, self._pos = torch.randperm(self.n, generator=self._g_order), 0
        while self._pos < self.n:
            idx = self._perm[self._pos:self._pos + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            self._pos += len(idx)
            yield self._make(idx, self._g_aug)
        self._perm, self._pos = None, 0
        self.epochs_completed += 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self.epoch()

    def sample_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch of distinct rows (fresh permutation's first batch; protocol §2 last bullet)."""
        idx = torch.randperm(self.n, generator=self._g_sample)[: self.batch_size]
        return self._make(idx, self._g_sample)

    def state_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "batch_size": self.batch_size, "seed": self.seed, "drop_last": self.drop_last,
            "epochs_completed": self.epochs_completed, "pos": self._pos,
            "perm": None if self._perm is None else self._perm.clone(),
            "g_order": self._g_order.get_state(), "g_aug": self._g_aug.get_state(),
            "g_sample": self._g_sample.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in ("n", "batch_size", "drop_last"):
            if state[k] != getattr(self, k):
                raise ValueError(f"BatchStream state has {k}={state[k]}, this stream has {getattr(self, k)}")
        self.seed, self.epochs_completed, self._pos = state["seed"], state["epochs_completed"], state["pos"]
        self._perm = None if state["perm"] is None else state["perm"].clone()
        self._g_order.set_state(state["g_order"])
        self._g_aug.set_state(state["g_aug"])
        self._g_sample.set_state(state["g_sample"])

