"""Every suite case has a reference or a declared incompatibility, so "no reference" cannot land."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "suites"))
from casegrid import REFERENCE_DIR, all_cases, case_id, cases_without_reference, incompatibility  # noqa: E402


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
    assert cases_without_reference(tmp_path) == [compatible[0]]


def test_the_suite_declares_exactly_these_incompatibilities():
    import test_search  # noqa: PLC0415 - the suite module, on the path above

    xfails = {p.id for p in test_search._params() if any(m.name == "xfail" for m in p.marks)}
    assert xfails == {case_id(*c) for c in all_cases() if incompatibility(c[0], c[1])}
