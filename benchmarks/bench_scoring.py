"""Full-space scoring: the naive per-arch path vs one evaluation per shared-weight functional class
(``dedup``) vs the same with the first cell's arch-independent work shared (``prefix``, the default).

All three suites use a seeded random C=4, N=1 supernet, seeded random 32x32 images and a fixed
seeded sample of 500 NB201 archs (``common.arch_sample``); BN mode ``batch``.
"""
from __future__ import annotations

from .common import Benchmark, arch_sample, random_scoring_data, random_supernet, safe_import

HAVE_HARNESS = False
with safe_import():
    import numpy as np

    from supernetbench.harness.scoring import ScoreConfig, score_archs, score_space
    from supernetbench.harness.space import NB201Space

    HAVE_HARNESS = True

N_ARCHS = 500
C, N = 4, 1


def _require_harness() -> None:
    if not HAVE_HARNESS:
        raise NotImplementedError("supernetbench.harness.scoring is not importable at this commit")


class _ScoringSetup(Benchmark):
    def _build(self, images: int) -> None:
        _require_harness()
        self.net = random_supernet(C, N)
        self.data = random_scoring_data(images)
        self.archs = arch_sample(N_ARCHS)
        self.cfg = ScoreConfig(bn_mode="batch", images=images, batch_size=images)
        score_archs(self.net, self.archs[:2], self.data, self.cfg)  # warm-up: first-call allocations

    def _run(self, path: str):
        if path == "naive":
            return score_archs(self.net, self.archs, self.data, self.cfg)
        return score_space(self.net, self.archs, self.data, self.cfg, progress=False, engine=path)


class ScoringSuite(_ScoringSetup):
    """Scoring 500 archs: ``naive`` = ``score_archs`` (one evaluation per arch), ``dedup`` =
    ``score_space`` (one evaluation per functional class, 396 for this sample), ``prefix`` = the same
    classes with the first cell's shared work computed once."""

    params = [["dedup", "naive", "prefix"], [16, 64]]
    param_names = ["path", "images"]

    def setup(self, path: str, images: int) -> None:
        self._build(images)

    def time_score(self, path: str, images: int) -> None:
        self._run(path)

    def peakmem_score(self, path: str, images: int) -> None:
        self._run(path)

    def track_evaluations(self, path: str, images: int) -> int:
        """Network evaluations the path performs (deterministic: it explains the speedup)."""
        if path == "naive":
            return len(self.archs)
        _, reps = NB201Space().functional_classes(self.archs, zero_propagates=True)
        return len(reps)

    track_evaluations.unit = "evaluations"


class ScoringSpeedupSuite(_ScoringSetup):
    """naive / engine wall-time ratio, all timed back to back in one process (same load, same warm
    state); the engines must return exactly the naive path's scores. A separate class so that it does
    not repeat for each ``path``."""

    params = [["dedup", "prefix"], [16, 64]]
    param_names = ["engine", "images"]

    def setup(self, engine: str, images: int) -> None:
        self._build(images)

    def track_speedup(self, engine: str, images: int) -> float:
        t0 = self.timer()
        naive = self._run("naive")
        t1 = self.timer()
        fast = self._run(engine)
        t2 = self.timer()
        if not np.array_equal(naive, fast):
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
        _require_harness()
        self.space = NB201Space()
        self.archs = self.space.all_archs()

    def time_functional_classes(self, zero_propagates: bool) -> None:
        self.space.functional_classes(self.archs, zero_propagates=zero_propagates)
