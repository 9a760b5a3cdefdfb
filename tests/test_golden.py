"""Golden-trajectory tier: every Stage-1 method and Stage-2 selector against its stored exact numbers
(see tests/golden.py), and proof that the tier catches deliberately broken variants."""
from __future__ import annotations

import numpy as np
import pytest

from golden import DARTS_METHODS, METHOD_VARIANTS, check_golden, method_trajectory, selector_output
from supernetbench.algorithms import ALGORITHMS
from supernetbench.selectors import SELECTORS


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.mark.parametrize("variant", sorted(METHOD_VARIANTS))
def test_method_golden(variant, update_golden, torch_single_thread):
    check_golden(method_trajectory(variant), update_golden)


@pytest.mark.parametrize("algo", DARTS_METHODS)
def test_method_golden_on_the_darts_space(algo, update_golden, torch_single_thread):
    """Every method's update math on the DARTS search network (two cell types; GDAS: a hard op on
    all 14 edges of both)."""
    check_golden(method_trajectory(algo, "darts"), update_golden)


@pytest.fixture(scope="session")
def tiny_runs_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-runs")


@pytest.mark.parametrize("algo", ALGORITHMS.names())
@pytest.mark.parametrize("name", SELECTORS.names())
def test_selector_golden(name, algo, update_golden, gt, tiny_runs_root, torch_single_thread):
    """Every selector on every Stage-1 method (tiny real runs): exact output, or the stated
    incompatibility."""
    check_golden(selector_output(name, algo, gt, tiny_runs_root), update_golden)


@pytest.mark.parametrize("algo", ["darts", "rsps"])
@pytest.mark.parametrize("name", ["prune", "valid", "synflow", "jacob_cov"])
def test_selector_golden_on_the_darts_space(name, algo, update_golden, tiny_runs_root, torch_single_thread):
    """The selectors on tiny DARTS-space runs (no table: the genotype and the candidates' scores).
    perturb on DARTS is pinned by the gdas:darts suite case and tests/test_darts_perturb.py (CI time)."""
    check_golden(selector_output(name, algo, None, tiny_runs_root, "darts"), update_golden)


# ------------------------------------------------------------------------------ sensitivity
def _reverse_temperature(mp):
    import supernetbench.algorithms.snas as snas

    mp.setattr(snas, "tau_at", lambda e, n, tmax, tmin: tmin + (tmax - tmin) / max(1, n) * e)


def _darts_arch_lr_x10(mp):
    darts = ALGORITHMS.get("darts")
    orig = darts.init_arch_optimizer

    def patched(self, weight_decay=None):
        orig(self, weight_decay)
        for g in self.arch_optimizer.param_groups:
            g["lr"] *= 10

    mp.setattr(darts, "init_arch_optimizer", patched)


def _drnas_regulariser_sign(mp):
    drnas = ALGORITHMS.get("drnas")
    orig = drnas.arch_regularizer
    mp.setattr(drnas, "arch_regularizer", lambda self: -orig(self))


def _valid_argmin(mp):
    import supernetbench.selectors.base as base

    def argmin(space, archs, scores):
        s = np.asarray(scores, dtype=float)
        return int(np.argmin(np.where(np.isfinite(s), s, np.inf))), None

    mp.setattr(base, "pick_best", argmin)


def _prune_second_best(mp):
    from supernetbench.spaces.nb201.space import NB201Space

    def second_best(self, probs):
        return tuple(int(np.argsort(row)[-2]) for row in probs["cell"])

    mp.setattr(NB201Space, "discretize", second_best)


MUTATIONS = {  # mutation -> (patch, the golden cases it must break)
    "gdas/snas temperature schedule reversed": (_reverse_temperature, ["method:gdas", "method:snas"]),
    "darts arch lr x10": (_darts_arch_lr_x10, ["method:darts"]),
    "drnas regulariser sign flipped": (_drnas_regulariser_sign, ["method:drnas", "method:drnas-kl"]),
    "valid picks the argmin": (_valid_argmin, ["selector:valid@darts", "selector:valid@rsps"]),
    "prune takes the second-best op": (_prune_second_best, ["selector:prune@darts", "selector:prune@drnas"]),
}


def _run_case(case: str, gt, runs_root) -> None:
    kind, name = case.split(":")
    if kind == "method":
        check_golden(method_trajectory(name))
    else:
        sel, algo = name.split("@")
        check_golden(selector_output(sel, algo, gt, runs_root))


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_gate_catches_mutation(mutation, monkeypatch, gt, tiny_runs_root, torch_single_thread):
    patch, cases = MUTATIONS[mutation]
    for case in cases:
        _run_case(case, gt, tiny_runs_root)  # unmutated: passes
    with monkeypatch.context() as mp:
        patch(mp)
        for case in cases:
            with pytest.raises(AssertionError) as err:
                _run_case(case, gt, tiny_runs_root)
            msg = str(err.value)
            assert f"golden case {case}" in msg and "reference" in msg and "--update-golden" in msg, msg
