"""One parametrized case per (Stage-1 method, Stage-2 selector, dataset): train (or reuse) the smoke
supernet, score all 15,625 archs, select, and assert the metrics against stored references.

Selecting cases:
    pytest suites -k "drnas and valid"            # substring match on ids like drnas-valid-cifar10
    pytest suites -k "[darts-valid-cifar10]"      # exact id: '[' and ']' stop 'darts' matching 'darts-'
                                                  # and 'cifar10' matching 'cifar100'
    pytest suites -m "case(algo='darts')"         # marker kwargs (pytest >= 8.3)
    pytest suites -m slow                         # the cases CI does not run
Regenerate a reference (seed 0 asserted, seeds 0-4 stored as information): add --update-references.
"""
from __future__ import annotations

import pytest

from casegrid import (
    CI_ALGOS, CI_DATASETS, REFERENCE_SEEDS, all_cases, build_reference, case_profile, case_values,
    incompatibility, read_reference, stale_fields, write_reference,
)
from supernetbench.algorithms import ALGORITHMS
from supernetbench.selectors import SELECTORS, IncompatiblePair


def _params():
    for algo, sel, ds in all_cases():
        # one xdist worker per Stage-1 run (--dist loadgroup): its cases share one training and scoring
        marks = [pytest.mark.case(algo=algo, selector=sel, dataset=ds), pytest.mark.xdist_group(f"{algo}-{ds}")]
        if algo not in CI_ALGOS or ds not in CI_DATASETS:
            marks.append(pytest.mark.slow)
        why = incompatibility(algo, sel)  # the rule tests/test_suite_completeness.py applies too
        if why:
            marks.append(pytest.mark.xfail(raises=IncompatiblePair, strict=True, reason=why))
        yield pytest.param(algo, sel, ds, id=f"{algo}-{sel}-{ds}", marks=marks)


@pytest.mark.parametrize("algo, selector, dataset", list(_params()))
def test_case(algo, selector, dataset, evaluations, reference_dir, update_references, reference_seeds):
    case_id = f"{algo}-{selector}-{dataset}"
    SELECTORS.get(selector).check_compatible(ALGORITHMS.get(algo).provides, algo)
    ev = evaluations(algo, dataset, REFERENCE_SEEDS[0])

    # invariants every case must satisfy, reference or not
    assert abs(sum(ev.run.archprob) - 1.0) < 1e-6
    assert len(ev.scores) == 15_625 and ((0 <= ev.scores) & (ev.scores <= 100)).all()
    assert selector in ev.selections, f"{selector} produced no selection"
    sel = ev.selections[selector]
    assert 0.0 < sel.test_acc <= 100.0

    path = reference_dir / f"{case_id}.json"
    got = case_values(ev, selector)
    profile = case_profile(dataset)
    if update_references:
        per_seed = [got] + [case_values(evaluations(algo, dataset, s), selector) for s in reference_seeds[1:]]
        write_reference(path, build_reference(case_id, per_seed, ev, profile, seeds=reference_seeds))
    ref = read_reference(path)
    regen = f'pytest suites -k "[{case_id}]" --update-references'
    if ref is None:
        pytest.fail(f"no reference for {case_id}; generate it with: {regen}")
    stale = stale_fields(ref, profile)
    if stale:
        pytest.fail(f"{case_id}: reference is stale (made with other values of profile field(s) "
                    f"{', '.join(stale)}); regenerate it deliberately with: {regen}")
    failures = []
    seeds = ref.get("reference_seeds", list(REFERENCE_SEEDS))
    for name, r in ref["values"].items():
        if got.get(name) != pytest.approx(r["value"], abs=r["atol"]):
            failures.append(f"{name} = {got.get(name)!r}, reference {r['value']!r} ± {r['atol']:g} "
                            f"(seeds {', '.join(map(str, seeds))}: {r['seed_mean']:.4f} ± {r['seed_std']:.4f})")
    assert not failures, f"{case_id}: " + "; ".join(failures) + f". If the change is intended, regenerate with: {regen}"
