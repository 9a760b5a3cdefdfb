"""Named budgets: frozen presets, changed with ``dataclasses.replace`` (never copy-pasted dicts).

``paper`` is the protocol's Stage-1 setting (§3.1): C=16, N=5, 100 epochs, batch 64, SGD 0.025
cosine to 0.001, momentum 0.9, wd 3e-4, clip 5, the 25k/25k search split; Stage 2 as protocol §5
(``valid`` on the whole valid half, ``perturb`` 25 epochs at lr 0.0025) - the corrected protocol.
``reference`` is the Table 2 reproduction path: it adds the papers' code behaviours that matter for
matching their numbers (protocol §11): eval-mode running-statistics BN for scoring (P1), DARTS-
beta = 1 throughout (P3), augmented scoring images (P6), and the 250-epoch idealised baseline R_I.
``smoke`` and ``demo`` are tiny CPU budgets (CI, the README demo).

The DARTS cell spaces (``--space darts``, ``darts-s1`` .. ``darts-s4``) have their own Stage-1 presets,
named rather than looked up per space, so ``paper`` means one thing on every space and a stored
profile is rebuilt from its name alone: ``darts-paper`` is protocol §8 (the papers' DARTS-space
search: C=36, 20 cells, PC-DARTS k=2, 50 epochs, SGD lr 0.1 cosine to 0, arch Adam lr 6e-4) and
``darts-search`` the DARTS paper's search network (Liu et al., ICLR 2019, Sec. 3.1.1 / App. A.1.1:
C=16, 8 cells, all channels, 50 epochs, SGD lr 0.025 cosine to 0.001 as its code, arch Adam lr 3e-4).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .checks import C_RANGE, N_RANGE, check_choice, check_float, check_int

BN_MODES = ("batch", "running", "recalibrate")
#: full-space scoring engines and precisions (see :mod:`.scoring` and :mod:`.batched`)
SCORING_ENGINES = ("fast", "prefix", "dedup", "batched", "naive")
PRECISIONS = ("exact", "bf16")
DTYPES = ("float32", "float64")
SPLITS = ("protocol", "nb201")
#: which NB201 test split the ground truth is read on (see :mod:`.benchmark`): the table's column, one
#: split for every statistic, or the papers' code (Stage-1 metrics + biased sampler on ori-test,
#: Stage-2 results on x-test; protocol P8), each where the table has it
GT_SPLITS = ("table", "x-test", "ori-test", "papers")
#: jacob_cov's BN and batch: "train" (train-mode BN, one fixed batch for every candidate) or
#: "first-train" (the papers' code, protocol P5: the first candidate in train-mode BN, the others in
#: eval mode with running statistics, a fresh augmented training batch per candidate)
JACOB_BN_MODES = ("train", "first-train")


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
    # keep the supernet weights every K Stage-1 epochs (and before training) under the run's
    # ``checkpoints/`` for `supernetbench trajectory`; None = keep none (then invisible in run keys,
    # ``to_dict`` and every hash made from it)
    checkpoint_every: int | None = None
    # numerics: float64 makes a CPU run bit-reproducible across CPUs, SIMD kernels and thread counts
    # (float32 is not: rounding differences flip sampled paths and the runs diverge); ~1.4x the cost
    dtype: str = "float32"
    # the papers' code behaviours (protocol §11)
    reference: bool = False
    # added later; their defaults are left out of every dict (see HIDDEN_DEFAULTS)
    gt_split: str = "table"
    jacob_bn: str = "train"
    # PC-DARTS' partial channels (Xu et al., ICLR 2020, Sec. 3.2; protocol §8's DARTS-space runs: k = 2):
    # only 1/k of each edge's channels go through its ops. A space whose supernet has none (nb201, whose
    # runs all had k = 1, protocol §3.1) refuses k != 1
    k: int = 1
    # the Stage-1 architecture optimiser's Adam lr: the value of the method option ``arch_lr`` for every
    # method that has it (None = the method's own default, 3e-4 = protocol §3.1; protocol §8's
    # DARTS-space runs: 6e-4). An explicit ``--opt arch_lr=...`` wins over it
    arch_lr: float | None = None

    def __post_init__(self) -> None:  # every field checked here, so a bad value fails before any work
        if not (isinstance(self.name, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", self.name)):
            raise ValueError(f"profile field name must be 1-40 letters, digits, '_', '.' or '-', got {self.name!r:.60}")
        for f, choices in (("bn_mode", BN_MODES), ("dtype", DTYPES), ("split", SPLITS), ("gt_split", GT_SPLITS),
                           ("jacob_bn", JACOB_BN_MODES)):
            check_choice(f, getattr(self, f), choices)
        for f, (lo, hi) in _INT_RANGES.items():
            if getattr(self, f) is not None or f not in _OPTIONAL:
                check_int(f"profile field {f}", getattr(self, f), lo, hi)
        for f in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip", "perturb_lr"):
            check_float(f"profile field {f}", getattr(self, f), 0.0, 1.0 if f == "momentum" else None)
        if self.arch_lr is not None and not check_float("profile field arch_lr", self.arch_lr, 0.0) > 0:
            raise ValueError(f"profile field arch_lr must be None (the method's default) or a number > 0, "
                             f"got {self.arch_lr}")
        if not self.perturb_lr > 0:
            raise ValueError(f"profile field perturb_lr must be a finite number > 0, got {self.perturb_lr}")
        if not isinstance(self.score_augment, bool) or not isinstance(self.reference, bool):
            raise ValueError("profile fields score_augment and reference must be True or False")

    def replace(self, **changes: Any) -> "Profile":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field, except those of :data:`HIDDEN_DEFAULTS` at their default (so references,
        run configs and keys made before such a field existed stay identical). Every value is an
        immutable scalar: no deep copy (``asdict`` was the cost of ``study --status`` on many seeds)."""
        return {f.name: v for f in dataclasses.fields(self)
                if not is_hidden_default(f.name, v := getattr(self, f.name))}

    def stage1_dict(self) -> dict[str, Any]:
        """The fields that determine a Stage-1 run (its content hash): changing a scoring or Stage-2
        field never invalidates a trained supernet."""
        return {k: getattr(self, k) for k in STAGE1_FIELDS
                if not (k in STAGE1_UNSET_UNHASHED and getattr(self, k) is None)
                and not is_hidden_default(k, getattr(self, k))}

    @property
    def torch_dtype(self):
        """The floating dtype of the supernet, its data and its architecture parameters."""
        import torch

        return getattr(torch, self.dtype)


#: Profile fields that change Stage-1 training, hashed into a run's identity ...
STAGE1_FIELDS = ("name", "C", "N", "epochs", "batch_size", "lr", "lr_min", "momentum", "weight_decay",
                 "grad_clip", "split", "train_size", "valid_size", "reference", "dtype", "rsps_biased_epochs",
                 "gt_split", "checkpoint_every", "k", "arch_lr")  # gt_split: rsps-biased's sampler trains on it
#: ... of which these enter the hash only when set (None keeps the identity runs had before they existed)
STAGE1_UNSET_UNHASHED = ("rsps_biased_epochs", "checkpoint_every", "arch_lr")
#: ... and those that only change scoring or Stage 2. Every field is in exactly one (tested).
LATER_FIELDS = ("score_images", "score_batch_size", "bn_mode", "recalib_batches", "score_augment", "num_samples",
                "valid_images", "jacob_batch", "perturb_epochs", "perturb_lr", "perturb_valid_images", "jacob_bn")
#: fields added after references, runs and selections were stored, with the value that reproduces
#: the behaviour before them: at that value they are left out of ``to_dict``, ``stage1_dict`` and
#: the Stage-2 keys, so no stored key or reference moves (tested)
HIDDEN_DEFAULTS: dict[str, Any] = {"gt_split": "table", "jacob_bn": "train", "checkpoint_every": None, "k": 1,
                                   "arch_lr": None}


def is_hidden_default(field_name: str, value: Any) -> bool:
    return field_name in HIDDEN_DEFAULTS and value == HIDDEN_DEFAULTS[field_name]

_INT_RANGES = {"C": C_RANGE, "N": N_RANGE, "epochs": (0, None), "batch_size": (1, None), "train_size": (1, None),
               "valid_size": (1, None), "score_images": (1, None), "score_batch_size": (1, None),
               "recalib_batches": (1, None), "num_samples": (1, None), "valid_images": (1, None),
               "jacob_batch": (1, None), "perturb_epochs": (0, None), "perturb_valid_images": (1, None),
               "rsps_biased_epochs": (0, None), "checkpoint_every": (1, None), "k": (1, 16)}
_OPTIONAL = ("train_size", "valid_size", "valid_images", "perturb_valid_images", "rsps_biased_epochs",
             "checkpoint_every")

PAPER = Profile(name="paper")
REFERENCE = PAPER.replace(name="reference", reference=True, bn_mode="running", score_augment=True,
                          rsps_biased_epochs=250, gt_split="papers", jacob_bn="first-train")
SMOKE = PAPER.replace(  # float64: the suites' references must reproduce on any CPU (see suites/casegrid.py)
    name="smoke", C=4, N=1, epochs=4, train_size=1024, valid_size=512, score_images=16, score_batch_size=16,
    dtype="float64", valid_images=16, jacob_batch=16, perturb_epochs=1, perturb_valid_images=64,
)
DEMO = PAPER.replace(
    name="demo", C=8, N=1, epochs=4, train_size=2048, valid_size=1024, score_images=64, score_batch_size=64,
    valid_images=64,
)
#: issue 21's CPU budget at which a trained RSPS supernet ranks NB201 clearly better than its own
#: untrained weights: C=8, N=1, 40 epochs on the whole 25,000-image training half (1,024 valid images
#: for the per-epoch accuracy and DARTS-style architecture steps), 64 scoring images, batch-statistics
#: BN, a checkpoint every 5 epochs for `supernetbench trajectory`. Measured over 3 seeds
#: (benchmarks/results/signal/README.md): Kendall tau +0.002 +- 0.22 untrained, +0.479 +- 0.03 at the
#: epoch-20 checkpoint (every seed above every untrained one; tests/test_signal.py pins it), +0.344 +-
#: 0.17 at epoch 40 (ranking quality peaks mid-schedule). Smaller budgets showed no gap: 6 and 15 epochs
#: on 4,096 images, 40 on 8,192, and a 20-epoch schedule on these 25,000 (its annealed end ranks worse).
SIGNAL = PAPER.replace(
    name="signal", C=8, N=1, epochs=40, train_size=None, valid_size=1024, score_images=64, score_batch_size=64,
    valid_images=64, perturb_epochs=2, perturb_valid_images=256, checkpoint_every=5,
)
#: protocol §8, the papers' DARTS-space Stage 1 (``two_stage/DARTS-space/train_search.py`` defaults, k from
#: the README / run directories ``-init_pc-2``): C=36, 20 cells (N=6: layers = 3N + 2), PC-DARTS k=2,
#: 50 epochs, batch 64, SGD lr 0.1 cosine to 0.0, momentum 0.9, wd 3e-4, clip 5, the 25k/25k split,
#: arch Adam lr 6e-4. Already the defaults: arch betas (0.5, 0.999) and wd 1e-3 (method options
#: ``arch_betas``, ``arch_weight_decay``), tau 10 -> 0.1 (``tau_max``, ``tau_min``). Not expressible
#: here: DARTS-'s beta, which §8's code decays over a fixed 50-epoch window, ``min(1, (E - e - 1) / 50)``
#: (0.98 -> 0 over E = 50 epochs); the method's ``decay`` uses a window of E / 2 (1 for 25 epochs,
#: then to 0) and reads no profile field. Stage 2 keeps ``paper``'s fields.
DARTS_PAPER = PAPER.replace(name="darts-paper", C=36, N=6, k=2, epochs=50, lr=0.1, lr_min=0.0, arch_lr=6e-4)
#: the DARTS paper's search network (Liu et al., ICLR 2019, App. A.1.1, quark0/darts ``train_search.py``):
#: C=16, 8 cells (N=2), every channel through the ops (k=1), 50 epochs, batch 64, SGD lr 0.025 cosine to
#: 0.001 (the code's ``learning_rate_min``; the paper says "annealed down to zero"), momentum 0.9, wd 3e-4,
#: clip 5, half of the training set each for weights and alphas, arch Adam lr 3e-4, betas (0.5, 0.999),
#: wd 1e-3 (the method defaults). Only C, N and epochs differ from ``paper``.
DARTS_SEARCH = PAPER.replace(name="darts-search", N=2, epochs=50)
#: protocol §9, the second paper's case study (Table 1; its DARTS-PT fork ``case_study/``) on NB201: the
#: 16/5 supernet, first-order DARTS (the method default), SGD 0.025 cosine to 0.001, Adam 3e-4 / wd 1e-3,
#: 100 epochs, batch 64, train_portion 0.5 (the 25k/25k split); DARTS- beta = 1 for epochs 0-49, then
#: (100 - e - 1) / 50 (the method's ``decay``, chosen by ``auto`` on NB201); perturb: proj_intv 5 over the 6
#: edges = 25 tuning epochs at lr 0.025 / 10, ``proj_crit acc`` on the whole valid half, ``edge_decision
#: random`` (``perturb``'s only mode). The fields equal ``paper``'s: a name of its own keeps the case
#: study's runs apart and says which protocol made them. Not reproduced: the fork drew each training
#: batch with replacement (``next(iter(train_queue))`` per step); here every epoch is one pass.
CASESTUDY = PAPER.replace(name="casestudy")
#: protocol §9 on the DARTS spaces (S1-S4): DARTS-PT's ``sota/cnn/train_search.py`` search network, as
#: the case-study scripts ran it (``*-proj-sota.sh``: resume epoch 50): C=16, 8 cells, k=1, 50 epochs,
#: SGD 0.025 cosine to 0.001, Adam 3e-4; perturb tunes 5 x (14 + 3 - 1) + 1 = 81 epochs (the space's
#: projection plan) at lr 0.0025. The same fields as ``darts-search``.
CASESTUDY_DARTS = DARTS_SEARCH.replace(name="casestudy-darts")
PROFILES: dict[str, Profile] = {p.name: p for p in (SMOKE, DEMO, SIGNAL, PAPER, REFERENCE, DARTS_PAPER, DARTS_SEARCH,
                                                    CASESTUDY, CASESTUDY_DARTS)}
#: a preset's twin on the DARTS cell spaces: a study spanning spaces (``supernetbench casestudy``) runs
#: ``casestudy`` on NB201 and ``casestudy-darts`` on S1-S4; every other profile means itself everywhere
DARTS_SPACE_TWINS: dict[str, str] = {"casestudy": "casestudy-darts", "paper": "darts-paper"}
#: one line per preset for `supernetbench list` and the README.
PROFILE_NOTES: dict[str, str] = {
    "smoke": "CI budget on CPU (C=4, N=1, 4 epochs, 1,024/512 images, float64)",
    "demo": "the README demo (C=8, N=1, 4 epochs)",
    "signal": "does training move the ranking? C=8, N=1, 40 epochs on the 25k training half, 64 scoring images, "
              "a checkpoint every 5 epochs for `trajectory` (RSPS ~20 min per seed on one core; trained tau beats "
              "untrained from epoch 20 on)",
    "paper": "the corrected protocol at the papers' budget: batch-statistics BN scoring, DARTS- beta decay "
             "(case-study code), non-augmented scoring, `valid` on the whole valid half",
    "reference": "the Table 2 reproduction path (the papers' code): running-statistics BN scoring (P1), "
                 "DARTS- beta = 1 (P3), augmented scoring (P6), `valid` on the whole valid half, "
                 "rsps-biased (R_I) trained 250 epochs, the papers' ground-truth splits (P8: Stage-1 metrics and "
                 "biased sampler on ori-test, Stage-2 results on x-test, where the table has them), jacob_cov "
                 "with the first candidate in train-mode BN and the rest in eval mode, a fresh batch each (P5)",
    "darts-paper": "the papers' DARTS-space Stage 1 (protocol §8; for --space darts / darts-s1..s4): C=36, 20 "
                   "cells, PC-DARTS k=2, 50 epochs, SGD lr 0.1 cosine to 0, arch lr 6e-4 (DARTS- beta: the "
                   "method's decay, not §8's 50-epoch window)",
    "darts-search": "the DARTS paper's search network (for --space darts / darts-s1..s4): C=16, 8 cells, k=1, "
                    "50 epochs, SGD lr 0.025 cosine to 0.001, arch lr 3e-4",
    "casestudy": "the second paper's case study (Table 1, protocol §9) on NB201: `paper`'s fields (100 epochs, "
                 "first-order DARTS, DARTS- beta 1 then decaying from epoch 50, perturb 25 epochs)",
    "casestudy-darts": "the case study on the DARTS spaces S1-S4 (protocol §9, DARTS-PT's search network): C=16, "
                       "8 cells, 50 epochs; `supernetbench casestudy` picks it for the darts* rows",
}


def profile_for_space(name: str, space: str) -> str:
    """The profile a multi-space study runs on ``space`` when asked for ``name`` (its DARTS-space twin
    on a ``darts*`` space, else ``name``)."""
    return DARTS_SPACE_TWINS.get(name, name) if space.startswith("darts") else name


def profile_from_dict(d: Mapping[str, Any]) -> Profile:
    """A stored profile (e.g. a run's ``config.json``): fields added since take the named preset's
    value (the dataclass default for a custom name) and fields since removed are ignored."""
    names = {f.name for f in dataclasses.fields(Profile)}
    stored = {**HIDDEN_DEFAULTS, **{k: v for k, v in d.items() if k in names}}  # left out = at the default
    base = PROFILES.get(stored.get("name", ""))
    return base.replace(**stored) if base is not None else Profile(**stored)


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
        try:
            out[k] = _coerce(v.strip(), fields[k].type if k in fields else None)
        except ValueError as e:
            raise ValueError(f"invalid value {v.strip()!r:.60} for {k}: {e}") from None
    return out


BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
_NUMBER = {int: re.compile(r"[+-]?[0-9]+"), float: re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")}


def _number(v: str, cast: type) -> Any:
    """ASCII digits only (``int('１')`` would take a fullwidth digit); floats finite (no nan/inf)."""
    if not _NUMBER[cast].fullmatch(v) or (cast is float and not math.isfinite(float(v))):
        raise ValueError("expected an integer" if cast is int else "expected a finite number")
    return cast(v)


def _coerce(v: str, typ: Any) -> Any:
    """``v`` typed like the field annotation ``typ`` (None: int, float or str, whichever fits)."""
    t = str(typ)
    if v.lower() in ("none", "null"):
        if typ is None or "None" in t:
            return None
        raise ValueError("None is not allowed here")
    if "bool" in t:
        if v.lower() not in BOOL_WORDS:
            raise ValueError("expected one of 1/0, true/false, yes/no, on/off")
        return BOOL_WORDS[v.lower()]
    if "tuple" in t:
        items = tuple(_number(x.strip(), float) for x in v.strip("()").split(","))
        if "..." not in t and len(items) != t.count(",") + 1:
            raise ValueError(f"expected {t.count(',') + 1} comma-separated numbers")
        return items
    if "int" in t and "float" not in t:
        return _number(v, int)
    if "float" in t:
        return _number(v, float)
    if "str" in t:
        return v
    for cast in (int, float):
        try:
            return _number(v, cast)
        except ValueError:
            pass
    return v
