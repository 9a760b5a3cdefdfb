"""Named budgets: frozen presets, changed with ``dataclasses.replace`` (never copy-pasted dicts).

``paper`` is the protocol's Stage-1 setting (§3.1): C=16, N=5, 100 epochs, batch 64, SGD 0.025
cosine to 0.001, momentum 0.9, wd 3e-4, clip 5, the 25k/25k search split; Stage 2 as protocol §5
(``valid`` on the whole valid half, ``perturb`` 25 epochs at lr 0.0025) - the corrected protocol.
``reference`` is the Table 2 reproduction path: it adds the papers' code behaviours that matter for
matching their numbers (protocol §11): eval-mode running-statistics BN for scoring (P1), DARTS-
beta = 1 throughout (P3), augmented scoring images (P6), and the 250-epoch idealised baseline R_I.
``smoke`` and ``demo`` are tiny CPU budgets (CI, the README demo).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

BN_MODES = ("batch", "running", "recalibrate")
DTYPES = ("float32", "float64")


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    # supernet (protocol §1)
    C: int = 16
    N: int = 5
    # Stage-1 loop (protocol §3.1)
    epochs: int = 100
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    # data
    split: str = "protocol"
    train_size: int | None = None  # None = the whole half
    valid_size: int | None = None
    # scoring (full-space shared-weight validation accuracy, protocol §4 / §13)
    score_images: int = 1664  # the reference's 26 x 64 images, here one fixed subset for all archs
    score_batch_size: int = 1664
    bn_mode: str = "batch"
    recalib_batches: int = 4
    score_augment: bool = False
    # Stage 2 (protocol §5): candidates per sampling selector; `valid` images per candidate (None = the
    # whole valid half, as the papers' code); `jacob_cov` batch; `perturb` fine-tuning (§5.5) and the
    # valid images of each projection evaluation (None = the whole half)
    num_samples: int = 100
    valid_images: int | None = None
    jacob_batch: int = 64
    perturb_epochs: int = 25
    perturb_lr: float = 0.0025
    perturb_valid_images: int | None = None
    # Stage-1 epochs of the idealised baseline `rsps-biased` (None = epochs; the papers' R_I: 250)
    rsps_biased_epochs: int | None = None
    # numerics: float64 makes a CPU run bit-reproducible across CPUs, SIMD kernels and thread counts
    # (float32 is not: rounding differences flip sampled paths and the runs diverge); ~1.4x the cost
    dtype: str = "float32"
    # the papers' code behaviours (protocol §11)
    reference: bool = False

    def __post_init__(self) -> None:
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {', '.join(BN_MODES)}, got {self.bn_mode!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for f in ("C", "N", "epochs", "batch_size", "score_images", "score_batch_size", "num_samples",
                  "valid_images", "jacob_batch", "perturb_epochs", "perturb_valid_images", "rsps_biased_epochs"):
            v = getattr(self, f)
            if v is not None and v < (0 if f in ("epochs", "perturb_epochs") else 1):
                raise ValueError(f"profile field {f} must be positive, got {v}")
        if not self.perturb_lr > 0:
            raise ValueError(f"profile field perturb_lr must be positive, got {self.perturb_lr}")

    def replace(self, **changes: Any) -> "Profile":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def torch_dtype(self):
        """The floating dtype of the supernet, its data and its architecture parameters."""
        import torch

        return getattr(torch, self.dtype)


PAPER = Profile(name="paper")
REFERENCE = PAPER.replace(name="reference", reference=True, bn_mode="running", score_augment=True,
                          rsps_biased_epochs=250)
SMOKE = PAPER.replace(  # float64: the suites' references must reproduce on any CPU (see suites/casegrid.py)
    name="smoke", C=4, N=1, epochs=4, train_size=1024, valid_size=512, score_images=32, score_batch_size=32,
    dtype="float64", valid_images=32, jacob_batch=16, perturb_epochs=1, perturb_valid_images=64,
)
DEMO = PAPER.replace(
    name="demo", C=8, N=1, epochs=4, train_size=2048, valid_size=1024, score_images=64, score_batch_size=64,
    valid_images=64,
)
PROFILES: dict[str, Profile] = {p.name: p for p in (SMOKE, DEMO, PAPER, REFERENCE)}
#: one line per preset for `supernetbench list` and the README.
PROFILE_NOTES: dict[str, str] = {
    "smoke": "CI budget on CPU (C=4, N=1, 4 epochs, 1,024/512 images, float64)",
    "demo": "the README demo (C=8, N=1, 4 epochs)",
    "paper": "the corrected protocol at the papers' budget: batch-statistics BN scoring, DARTS- beta decay "
             "(case-study code), non-augmented scoring, `valid` on the whole valid half",
    "reference": "the Table 2 reproduction path (the papers' code): running-statistics BN scoring (P1), "
                 "DARTS- beta = 1 (P3), augmented scoring (P6), `valid` on the whole valid half, "
                 "rsps-biased (R_I) trained 250 epochs",
}


def get_profile(name: str, overrides: Mapping[str, Any] | None = None) -> Profile:
    """The named preset with ``overrides`` applied; unknown names/fields list the valid ones."""
    try:
        base = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; valid choices: {', '.join(PROFILES)}") from None
    overrides = dict(overrides or {})
    fields = {f.name: f for f in dataclasses.fields(Profile)}
    bad = sorted(set(overrides) - set(fields))
    if bad:
        raise ValueError(f"unknown profile field(s) {', '.join(bad)}; valid fields: {', '.join(fields)}")
    return base.replace(**overrides)


def parse_overrides(items: list[str] | None, types_from: type | None = None) -> dict[str, Any]:
    """Parse ``key=value`` strings from the CLI, typing each value like the dataclass field."""
    out: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(types_from)} if types_from else {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        out[k] = _coerce(v.strip(), fields[k].type if k in fields else None)
    return out


def _coerce(v: str, typ: Any) -> Any:
    t = str(typ)
    if v.lower() in ("none", "null"):
        return None
    if "bool" in t:
        return v.lower() in ("1", "true", "yes", "on")
    if "tuple" in t:
        return tuple(float(x) for x in v.strip("()").split(","))
    if "int" in t and "float" not in t:
        return int(v)
    if "float" in t:
        return float(v)
    if "str" in t:
        return v
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v
