"""Every suite case has a reference or a declared incompatibility, so "no reference" cannot land."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "suites"))
from casegrid import (  # noqa: E402
    REFERENCE_DIR, all_cases, case_id, cases_without_reference, incompatibility, reference_path, space_cases, space_skip,
)


def test_every_suite_case_has_a_reference_or_a_declared_incompatibility():
    missing = cases_without_reference()
    assert not missing, (f"{len(missing)} suite case(s) have neither a reference in {REFERENCE_DIR} nor a "
                         "declared incompatibility: " + ", ".join(missing)
                         + '. Generate each with: pytest suites -m slow -k "[<case>]" --update-references')


def test_the_rule_sees_a_missing_reference(tmp_path):
    cases = all_cases()
    compatible = [case_id(*c) for c in cases if incompatibility(c[0], c[1]) is None]
    assert len(compatible) < len(cases)  # e.g. rsps x prune is declared incompatible
    for cid in compatible[1:]:
        (tmp_path / f"{cid}.json").write_text("{}")
    others = [(case_id(a, s, d, sp), sp) for a, s, d, sp in space_cases()
              if incompatibility(a, s) is None and space_skip(a, s, sp) is None]
    assert others and all(":" in cid for cid, _ in others)  # e.g. darts-valid-cifar10:darts
    for cid, sp in others[1:]:
        reference_path(cid, sp, tmp_path).parent.mkdir(parents=True, exist_ok=True)
        reference_path(cid, sp, tmp_path).write_text("{}")
    assert cases_without_reference(tmp_path) == [compatible[0], others[0][0]]


def test_the_suite_declares_exactly_these_incompatibilities():
    import test_search  # noqa: PLC0415 - the suite module, on the path above

    xfails = {p.id for p in test_search._params() if any(m.name == "xfail" for m in p.marks)}
    assert xfails == {case_id(*c) for c in all_cases() if incompatibility(c[0], c[1])}


def test_space_cases_skip_what_the_space_cannot_do():
    """rsps-biased reads a table: on the DARTS space its cases are skipped with that reason."""
    import test_search  # noqa: PLC0415

    skipped = {p.id: m.kwargs["reason"] for p in test_search._space_params() for m in p.marks if m.name == "skip"}
    assert skipped and all(cid.startswith("rsps-biased-") for cid in skipped)
    assert all("table" in why for why in skipped.values())
