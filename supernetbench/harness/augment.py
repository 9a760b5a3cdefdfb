"""Vectorised train-time augmentation and normalisation on uint8 image batches (protocol §2).

Everything works on whole batches of ``uint8`` tensors in NCHW layout, on CPU or CUDA, without a
Python loop over images. Random draws come from an optional ``torch.Generator``; the same generator
state always gives the same output. A CPU generator may be used with CUDA data (the random indices
are drawn on the generator's device and then moved), which also makes CPU and CUDA results identical.

Transforms (as in the reference ``train_search.py``, torchvision semantics, zero padding):

* CIFAR-10/100: ``RandomCrop(32, padding=4)`` → ``RandomHorizontalFlip()`` → ToTensor → Normalize
* ImageNet16-120: ``RandomHorizontalFlip()`` → ``RandomCrop(16, padding=2)`` → ToTensor → Normalize

Both reduce to one gather from the zero-padded image: crop offsets ``(oy, ox)`` uniform in
``[0, 2·pad]`` and, for flipped samples, column indices mirrored (before or after the crop, as the
dataset's order says). Random numbers are drawn in a fixed order: first ``oy``, ``ox`` (one
``randint`` of shape [N, 2]), then the flip coins (one ``randint`` of shape [N]).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Protocol §2 normalisation constants (fractions of 255).
MEAN: dict[str, tuple[float, float, float]] = {
    "cifar10": (0.49139968, 0.48215827, 0.44653124),
    "cifar100": (0.5071, 0.4865, 0.4409),
    "imagenet16-120": (122.68 / 255, 116.66 / 255, 104.01 / 255),
}
STD: dict[str, tuple[float, float, float]] = {
    "cifar10": (0.24703233, 0.24348505, 0.26158768),
    "cifar100": (0.2673, 0.2564, 0.2762),
    "imagenet16-120": (63.22 / 255, 61.26 / 255, 65.09 / 255),
}
# (image size, crop padding, flip before crop?)
_AUG_SPEC: dict[str, tuple[int, int, bool]] = {
    "cifar10": (32, 4, False),
    "cifar100": (32, 4, False),
    "imagenet16-120": (16, 2, True),
}


def _check_dataset(dataset: str) -> str:
    if dataset not in MEAN:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(MEAN)}")
    return dataset


def normalize(x_uint8: torch.Tensor, dataset: str) -> torch.Tensor:
    """uint8 NCHW (or CHW) → float32 ``(x/255 - mean)/std`` with the dataset's constants; no augmentation."""
    _check_dataset(dataset)
    if x_uint8.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images, got {x_uint8.dtype}")
    if x_uint8.dim() not in (3, 4) or x_uint8.shape[-3] != 3:
        raise ValueError(f"normalize expects [N,3,H,W] or [3,H,W], got {tuple(x_uint8.shape)}")
    mean = torch.tensor(MEAN[dataset], dtype=torch.float32, device=x_uint8.device).view(3, 1, 1)
    std = torch.tensor(STD[dataset], dtype=torch.float32, device=x_uint8.device).view(3, 1, 1)
    return (x_uint8.to(torch.float32) / 255.0 - mean) / std


def random_crop_flip(
    x: torch.Tensor,
    pad: int,
    *,
    flip_first: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random zero-padded crop (same size as ``x``) plus random horizontal flip, vectorised.

    ``flip_first=False``: crop, then flip (CIFAR order); ``True``: flip, then crop (ImageNet16 order).
    Returns a tensor with ``x``'s dtype, shape and device.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a batch [N,C,H,W], got {tuple(x.shape)}")
    n, c, h, w = x.shape
    gdev = generator.device if generator is not None else x.device
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=gdev)
    flips = torch.randint(0, 2, (n,), generator=generator, device=gdev).bool()
    offsets, flips = offsets.to(x.device), flips.to(x.device)

    padded = F.pad(x, (pad, pad, pad, pad), mode="constant", value=0)  # [N,C,H+2p,W+2p]
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = offsets[:, 0:1] + ar_h  # [N,H] rows of the padded image
    cols = offsets[:, 1:2] + ar_w  # [N,W] columns, unflipped
    if flip_first:
        # flip(pad(x)) then crop at ox: column ox+j of the flipped padded image is column W+2p-1-(ox+j).
        cols_f = (w + 2 * pad - 1) - cols
    else:
        # crop at ox then flip: output column j is crop column W-1-j, i.e. padded column ox+W-1-j.
        cols_f = offsets[:, 1:2] + (w - 1 - ar_w)
    cols = torch.where(flips[:, None], cols_f, cols)

    n_idx = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    c_idx = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[n_idx, c_idx, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


class Augment:
    """Train-time augmentation of uint8 NCHW batches, returning normalised float32 NCHW."""

    def __init__(self, dataset: str):
        self.dataset = _check_dataset(dataset)
        self.image_size, self.pad, self.flip_first = _AUG_SPEC[dataset]

    def __call__(self, x_uint8: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x_uint8.dtype != torch.uint8:
            raise TypeError(f"Augment expects uint8 images, got {x_uint8.dtype}")
        if x_uint8.dim() != 4 or tuple(x_uint8.shape[1:]) != (3, self.image_size, self.image_size):
            raise ValueError(
                f"Augment({self.dataset!r}) expects [N,3,{self.image_size},{self.image_size}], "
                f"got {tuple(x_uint8.shape)}"
            )
        x = random_crop_flip(x_uint8, self.pad, flip_first=self.flip_first, generator=generator)
        return normalize(x, self.dataset)

    def __repr__(self) -> str:
        order = "flip→crop" if self.flip_first else "crop→flip"
        return f"Augment({self.dataset!r}: RandomCrop({self.image_size}, pad {self.pad}), {order})"
