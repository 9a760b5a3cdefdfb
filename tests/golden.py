"""Golden trajectories: the exact numbers every Stage-1 method and Stage-2 selector produces on a fixed
tiny problem, so any change to the update math shows in seconds (NASLib checks one step's loss; this
checks every method and selector, several steps, alphas and sampled ops included).

* Stage 1: a C=2, N=1 float64 supernet, 2 "epochs" x 2 steps of :func:`engine.train_step` (the
  engine's own step) on fixed numpy-generated 8x8 batches, paper optimiser settings. Recorded per
  step: weight loss, architecture loss, all alphas, the ops each forward ran (``arch`` / ``hard``),
  and the method's epoch log (temperature, beta); at the end, per-tensor weight sums.
* Stage 2: every selector on a tiny real run of every Stage-1 method (C=2, 1 epoch on 64 CIFAR-10
  images, float64, 12 candidates): the selected index, arch, test accuracy and per-candidate scores,
  or the incompatibility message (e.g. ``prune`` on ``rsps``).

float64 throughout, so the numbers are the same on any CPU (compared to ``RTOL``).
Regenerate deliberately: ``pytest tests/test_golden.py --update-golden``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from supernetbench.algorithms import ALGORITHMS, RunContext
from supernetbench.oneshot.train import train_step
from supernetbench.spaces.nb201.supernet import build_supernet
from supernetbench.harness.profiles import get_profile
from supernetbench.spaces.nb201.space import NB201Space
from supernetbench.spaces.nb201.supernet import SupernetConfig

GOLDEN_DIR = Path(__file__).parent / "golden"
COMMAND = "pytest tests/test_golden.py --update-golden"
RTOL, ATOL = 1e-9, 1e-12
DTYPE = torch.float64
EPOCHS, STEPS_PER_EPOCH, BATCH = 2, 2, 8

#: every registered method with its defaults, plus the option variants with their own update math
METHOD_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (name, {}) for name in ALGORITHMS.builtin_names()},
    "darts-order2": ("darts", {"order": 2}),
    "drnas-kl": ("drnas", {"reg_type": "kl"}),
}


def _batches(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(seed)  # numpy's PCG64: the same numbers on every platform
    return [(torch.from_numpy(rng.standard_normal((BATCH, 3, 8, 8))).to(DTYPE),
             torch.from_numpy(rng.integers(0, 10, BATCH))) for _ in range(n)]


def _record_forward(net: torch.nn.Module, sink: list) -> None:
    def hook(_module, _args, kwargs):
        if kwargs.get("arch") is not None:
            sink.append([int(o) for o in kwargs["arch"]])
        elif kwargs.get("hard") is not None:  # every cell type's executed ops (NB201: "cell" only)
            sink.append([int(o) for ct in kwargs["hard"] for o in kwargs["hard"][ct]])

    net.register_forward_pre_hook(hook, with_kwargs=True)


#: the methods of the DARTS-space golden tier (a DARTS search network of 5 cells at C=2; rsps-biased
#: needs a table)
DARTS_METHODS: tuple[str, ...] = tuple(a for a in ALGORITHMS.builtin_names() if a != "rsps-biased")


def method_trajectory(variant: str, space: str = "nb201") -> dict[str, Any]:
    algo, options = METHOD_VARIANTS[variant]
    cls = ALGORITHMS.get(algo)
    p = get_profile("paper")
    torch.manual_seed(0)
    if space == "nb201":
        net, sp = build_supernet(SupernetConfig(C=2, N=1, num_classes=10), DTYPE), NB201Space()
    else:
        from supernetbench.spaces import get_space

        from supernetbench.oneshot.train import uses_aux_skip

        sp = get_space(space)
        net = sp.build_supernet(get_profile("smoke", {"C": 2, "N": 1}), 10, DTYPE)
        if uses_aux_skip(cls):  # as the Stage-1 loop does: DARTS-'s skip weights (stride-2 edges)
            net.add_aux_skip()
    ctx = RunContext(dataset="cifar10", epochs=EPOCHS, device=torch.device("cpu"), seed=0, dtype=DTYPE)
    method = cls(cls.make_config(options), space=sp, ctx=ctx)
    method.prepare(net)
    opt = torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    ops: list = []
    _record_forward(net, ops)
    train, valid = _batches(EPOCHS * STEPS_PER_EPOCH, 1), _batches(EPOCHS * STEPS_PER_EPOCH, 2)
    steps = []
    for epoch in range(EPOCHS if cls.trains_weights else 0):
        method.on_epoch_start(net, epoch)
        for s in range(STEPS_PER_EPOCH):
            i = epoch * STEPS_PER_EPOCH + s
            ops.clear()
            loss, _, arch_loss = train_step(method, net, opt, train[i], valid[i], p.grad_clip)
            steps.append({"loss": float(loss.detach()), "arch_loss": arch_loss, "ops": list(ops),
                          "alphas": [float(v) for a in method.alphas.values() for v in a.detach().flatten()],
                          "epoch_log": {k: v for k, v in method.epoch_log().items() if isinstance(v, (int, float))}})
    case = f"method:{variant}" if space == "nb201" else f"method:{variant}@{space}"
    return {"case": case, "algo": algo, "options": options, "steps": steps,
            "weight_sums": {k: float(v.double().sum()) for k, v in net.state_dict().items() if v.is_floating_point()}}


#: the tiny Stage-1 runs the selectors are checked on: real CIFAR-10 images, float64, C=2, 1 epoch
TINY_RUN = {"C": 2, "epochs": 1, "train_size": 64, "valid_size": 64, "score_images": 16, "score_batch_size": 16,
            "num_samples": 12, "valid_images": 16, "jacob_batch": 8, "perturb_epochs": 1, "perturb_valid_images": 16}


def tiny_run(algo: str, runs_root: Path, space: str = "nb201"):
    """A finished (content-addressed, reused) tiny smoke run of ``algo``."""
    from supernetbench.oneshot.train import RunSpec, train_supernet

    spec = RunSpec(algo, "cifar10", 0, get_profile("smoke", TINY_RUN), space=space)
    return train_supernet(spec, runs_root=runs_root, device="cpu", progress=False)


def selector_output(name: str, algo: str, gt, runs_root: Path, space: str = "nb201") -> dict[str, Any]:
    """``name`` on the tiny run of ``algo`` (Stage 2 alone: candidates scored on demand); on a space
    without a table (``gt`` None) the selected arch string and the candidates' scores."""
    from supernetbench.pipeline.evaluate import run_selectors, selection_context
    from supernetbench.selectors import IncompatiblePair

    case = f"selector:{name}@{algo}" if space == "nb201" else f"selector:{name}@{algo}@{space}"
    ctx = selection_context(tiny_run(algo, runs_root, space), gt, device=torch.device("cpu"))
    try:
        sel = run_selectors(ctx, [name], skip_incompatible=False)[name]
    except IncompatiblePair as e:
        return {"case": case, "incompatible": str(e)}
    return {"case": case, "index": sel.index, "arch": sel.arch, "test_acc": sel.test_acc,
            "scores": [float(v) for v in sel.details.get("scores", [])]}


def golden_path(case: str) -> Path:
    return GOLDEN_DIR / (case.replace(":", "-") + ".json")


def _diff(got: Any, ref: Any, where: str) -> str | None:
    """The first difference between two JSON-like values (floats compared to RTOL/ATOL)."""
    if isinstance(ref, dict) and isinstance(got, dict):
        if sorted(got) != sorted(ref):
            return f"{where} keys {sorted(got)} vs reference {sorted(ref)}"
        return next((d for k in ref if (d := _diff(got[k], ref[k], f"{where}.{k}"))), None)
    if isinstance(ref, list) and isinstance(got, list):
        if len(got) != len(ref):
            return f"{where} has {len(got)} entries, reference {len(ref)}"
        return next((d for i, (g, r) in enumerate(zip(got, ref)) if (d := _diff(g, r, f"{where}[{i}]"))), None)
    if isinstance(ref, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        ok = math.isclose(got, ref, rel_tol=RTOL, abs_tol=ATOL) or (math.isnan(got) and math.isnan(ref))
        return None if ok else f"{where} = {got!r}, reference {ref!r}"
    return None if got == ref else f"{where} = {got!r}, reference {ref!r}"


def check_golden(got: dict[str, Any], update: bool = False) -> None:
    """Compare with (or, with ``update``, rewrite) the stored golden record of ``got['case']``."""
    path = golden_path(got["case"])
    if update:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(json.dumps({**got, "command": COMMAND}, indent=1, sort_keys=True) + "\n")
    if not path.exists():
        raise AssertionError(f"golden case {got['case']}: no reference {path}; generate it with: {COMMAND}")
    ref = json.loads(path.read_text())
    ref.pop("command", None)
    d = _diff(json.loads(json.dumps(got)), ref, "")
    if d is not None:
        raise AssertionError(f"golden case {got['case']}: {d.lstrip('.')}. If the change is intended, "
                             f"regenerate deliberately with: {COMMAND}")
