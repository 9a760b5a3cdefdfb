"""Full-space scoring engines: time, peak memory and archs/s, and the speed-up over the naive path.

Every engine (``naive`` = :func:`score_archs`, one evaluation per arch; ``dedup`` one per functional
class; ``prefix`` + shared first-cell work; ``batched`` many archs stacked per op, the GPU strategy;
``fast`` the device's default) scores the same fixed seeded sample of 500 NB201 archs
(``common.arch_sample``) on a seeded random float32 supernet and seeded random 32x32 images, BN mode
``batch``. ``size``: ``C4-16`` (C=4, N=1, 16 images: the smoke setting) or ``C8-64`` (C=8, N=1,
64 images: the demo setting). ``cuda`` and ``bf16`` combinations are skipped where the hardware lacks
them (ASV reports them as skipped).
"""
from __future__ import annotations

from .common import Benchmark, arch_sample, random_scoring_data, random_supernet, safe_import

HAVE_HARNESS = False
with safe_import():
    import numpy as np

    from supernetbench.oneshot.scoring import ScoreConfig, score_archs, score_space
    from supernetbench.spaces.nb201.space import NB201Space

    HAVE_HARNESS = True

N_ARCHS = 500
SIZES = {"C4-16": (4, 1, 16), "C8-64": (8, 1, 64)}  # (C, N, images)
ENGINES = ["naive", "dedup", "prefix", "batched", "fast"]


def _require(device: str = "cpu", precision: str = "exact") -> None:
    if not HAVE_HARNESS:
        raise NotImplementedError("supernetbench.oneshot.scoring is not importable at this commit")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise NotImplementedError("no CUDA device")
    if precision == "bf16":
        try:
            from supernetbench.harness.precision import bf16_supported
        except ImportError:
            raise NotImplementedError("no bf16 precision at this commit") from None
        if not bf16_supported(torch.device(device)):
            raise NotImplementedError(f"no native bf16 on this {device}")


class _ScoringSetup(Benchmark):
    def _build(self, size: str, device: str = "cpu", precision: str = "exact") -> None:
        _require(device, precision)
        c, n, images = SIZES[size]
        self.net = random_supernet(c, n).to(device)
        d = random_scoring_data(images)
        self.data = type(d)(d.x.to(device), d.y.to(device), (), d.description)
        self.archs = arch_sample(N_ARCHS)
        self.cfg = ScoreConfig(bn_mode="batch", images=images, batch_size=images)
        self.precision = precision
        score_archs(self.net, self.archs[:2], self.data, self.cfg)  # warm-up: first-call allocations

    def _run(self, engine: str):
        if engine == "naive":
            return score_archs(self.net, self.archs, self.data, self.cfg, precision=self.precision)
        workers = 2 if engine == "fast" else 1  # fast = the default engine with its worker processes
        return score_space(self.net, self.archs, self.data, self.cfg, progress=False, engine=engine,
                           precision=self.precision, workers=workers, save_every=128)


class ScoringSuite(_ScoringSetup):
    """Scoring 500 archs per engine, precision, device and size (396 functional classes)."""

    params = [ENGINES, ["exact", "bf16"], ["cpu", "cuda"], list(SIZES)]
    param_names = ["engine", "precision", "device", "size"]

    def setup(self, engine: str, precision: str, device: str, size: str) -> None:
        self._build(size, device, precision)

    def time_score(self, engine: str, precision: str, device: str, size: str) -> None:
        self._run(engine)

    def peakmem_score(self, engine: str, precision: str, device: str, size: str) -> None:
        self._run(engine)

    def track_archs_per_second(self, engine: str, precision: str, device: str, size: str) -> float:
        t0 = self.timer()
        self._run(engine)
        return len(self.archs) / (self.timer() - t0)

    track_archs_per_second.unit = "archs/s"

    def track_evaluations(self, engine: str, precision: str, device: str, size: str) -> int:
        """Network evaluations the engine performs (deterministic: part of the speed-up)."""
        if engine == "naive":
            return len(self.archs)
        _, reps = NB201Space().functional_classes(self.archs, zero_propagates=True)
        return len(reps)

    track_evaluations.unit = "evaluations"


class ScoringSpeedupSuite(_ScoringSetup):
    """naive / engine wall-time ratio, both timed back to back in one process (same load, same warm
    state); exact engines must return the naive path's scores exactly."""

    params = [["dedup", "prefix", "batched", "fast"], ["cpu", "cuda"], list(SIZES)]
    param_names = ["engine", "device", "size"]

    def setup(self, engine: str, device: str, size: str) -> None:
        self._build(size, device)

    def track_speedup(self, engine: str, device: str, size: str) -> float:
        t0 = self.timer()
        naive = self._run("naive")
        t1 = self.timer()
        fast = self._run(engine)
        t2 = self.timer()
        if device == "cpu" and not np.array_equal(naive, fast):
            raise AssertionError(f"{engine} and naive scoring disagree")
        return (t1 - t0) / (t2 - t1)

    track_speedup.unit = "x"


class FunctionalClassesSuite(Benchmark):
    """Computing the functional classes of all 15,625 NB201 archs (9,445 with zero propagation,
    12,205 without): the fixed cost ``score_space`` pays before its first evaluation."""

    params = [[True, False]]
    param_names = ["zero_propagates"]
    number = 1
    repeat = 3

    def setup(self, zero_propagates: bool) -> None:
        _require()
        self.space = NB201Space()
        self.archs = self.space.all_archs()

    def time_functional_classes(self, zero_propagates: bool) -> None:
        self.space.functional_classes(self.archs, zero_propagates=zero_propagates)
