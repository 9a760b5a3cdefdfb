"""One parametrized case per (Stage-1 method, Stage-2 selector, dataset): train (or reuse) the smoke
supernet, score all 15,625 archs, select, and assert the metrics against stored references.

Selecting cases:
    pytest suites -k "drnas and valid"            # substring match on ids like drnas-valid-cifar10
    pytest suites -k "[darts-valid-cifar10]"      # exact id: '[' and ']' stop 'darts' matching 'darts-'
                                                  # and 'cifar10' matching 'cifar100'
    pytest suites -m "case(algo='darts')"         # marker kwargs (pytest >= 8.3)
    pytest suites -m slow                         # the cases CI does not run
    pytest suites -k ":darts"                     # the DARTS-space cases (ids algo-selector-dataset:darts)
Regenerate a reference (seed 0 asserted, seeds 0-4 stored as information): add --update-references.

A space without a table (DARTS) has Stage 2 only: its cases assert the selected arch string exactly,
the parameter count of its evaluation network and the selector's scores (seeds 0-2 stored).
"""
from __future__ import annotations

import pytest

from casegrid import (
    CI_ALGOS, CI_DATASETS, REFERENCE_SEEDS, SPACE_CI_ALGOS, SPACE_REFERENCE_SEEDS, all_cases, build_reference, case_arch, case_id,
    case_profile, case_values, incompatibility, read_reference, reference_path, space_cases, space_skip, stale_fields,
    write_reference,
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


def _checked_reference(path, case_id: str, profile: dict, regen: str) -> dict:
    """The stored reference of a case; a missing or stale one fails with the command that makes it."""
    ref = read_reference(path)
    if ref is None:
        pytest.fail(f"no reference for {case_id}; generate it with: {regen}")
    stale = stale_fields(ref, profile)
    if stale:
        pytest.fail(f"{case_id}: reference is stale (made with other values of profile field(s) "
                    f"{', '.join(stale)}); regenerate it deliberately with: {regen}")
    return ref


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
    regen = f'pytest suites -k "[{case_id}]" --update-references'
    ref = _checked_reference(path, case_id, profile, regen)
    failures = []
    seeds = ref.get("reference_seeds", list(REFERENCE_SEEDS))
    for name, r in ref["values"].items():
        if got.get(name) != pytest.approx(r["value"], abs=r["atol"]):
            failures.append(f"{name} = {got.get(name)!r}, reference {r['value']!r} ± {r['atol']:g} "
                            f"(seeds {', '.join(map(str, seeds))}: {r['seed_mean']:.4f} ± {r['seed_std']:.4f})")
    assert not failures, f"{case_id}: " + "; ".join(failures) + f". If the change is intended, regenerate with: {regen}"


def _space_params():
    for algo, sel, ds, space in space_cases():
        cid = case_id(algo, sel, ds, space)
        marks = [pytest.mark.case(algo=algo, selector=sel, dataset=ds, space=space),
                 pytest.mark.xdist_group(f"{algo}-{ds}:{space}")]
        if algo not in SPACE_CI_ALGOS or ds not in CI_DATASETS or sel == "perturb":
            marks.append(pytest.mark.slow)  # perturb on DARTS in CI: tests/test_darts_perturb.py
        why = incompatibility(algo, sel)
        if why:
            marks.append(pytest.mark.xfail(raises=IncompatiblePair, strict=True, reason=why))
        skip = space_skip(algo, sel, space)
        if skip:
            marks.append(pytest.mark.skip(reason=skip))
        yield pytest.param(algo, sel, ds, space, id=cid, marks=marks)


@pytest.mark.parametrize("algo, selector, dataset, space", list(_space_params()))
def test_space_case(algo, selector, dataset, space, evaluations, reference_dir, update_references, reference_seeds):
    """A case on a space without a table: train the smoke supernet, select, assert the selected arch,
    its evaluation network's parameter count and the selector's scores against the reference."""
    from supernetbench.spaces import get_space

    cid = case_id(algo, selector, dataset, space)
    SELECTORS.get(selector).check_compatible(ALGORITHMS.get(algo).provides, algo)
    ev = evaluations(algo, dataset, SPACE_REFERENCE_SEEDS[0], space, (selector,))
    assert ev.scores is None and selector in ev.selections, f"{selector} produced no selection"
    arch = case_arch(ev, selector)
    sp = get_space(space)
    assert sp.format(sp.parse(arch)) == arch  # a valid arch of the space (DARTS: 2 distinct in-edges per node)
    got = case_values(ev, selector)
    path = reference_path(cid, space, reference_dir)
    profile = case_profile(dataset, space)
    seeds = SPACE_REFERENCE_SEEDS if reference_seeds == REFERENCE_SEEDS else reference_seeds
    regen = f'pytest suites -k "[{cid}]" --update-references'
    if update_references:
        evs = [ev] + [evaluations(algo, dataset, s, space, (selector,)) for s in seeds[1:]]
        ref = build_reference(cid, [case_values(e, selector) for e in evs], ev, profile, seeds=seeds, command=regen)
        ref["space"], ref["arch"] = space, arch
        ref["seed_archs"] = [case_arch(e, selector) for e in evs]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_reference(path, ref)
    ref = _checked_reference(path, cid, profile, regen)
    failures = [] if arch == ref["arch"] else [f"selected {arch}, reference {ref['arch']}"]
    for name, r in ref["values"].items():
        if got.get(name) != pytest.approx(r["value"], abs=r["atol"]):
            failures.append(f"{name} = {got.get(name)!r}, reference {r['value']!r} ± {r['atol']:g} "
                            f"(seeds {', '.join(map(str, ref['reference_seeds']))}: {r['seed_mean']:.6g} ± "
                            f"{r['seed_std']:.3g})")
    assert not failures, f"{cid}: " + "; ".join(failures) + f". If the change is intended, regenerate with: {regen}"
