"""Profiles: every field is classified as Stage-1 or later, and only Stage-1 fields key a run."""
from __future__ import annotations

import dataclasses

import pytest

from supernetbench.oneshot.train import RunSpec
from supernetbench.harness.profiles import (
    LATER_FIELDS, PROFILES, STAGE1_FIELDS, Profile, get_profile, profile_from_dict,
)


def test_every_field_is_stage1_or_later_exactly_once():
    names = [f.name for f in dataclasses.fields(Profile)]
    assert sorted(names) == sorted(STAGE1_FIELDS + LATER_FIELDS), (
        "classify each new Profile field in STAGE1_FIELDS (changes training) or LATER_FIELDS")
    assert not set(STAGE1_FIELDS) & set(LATER_FIELDS)


def test_run_key_depends_on_stage1_fields_only():
    base = RunSpec("darts", profile=get_profile("smoke"))
    for f in LATER_FIELDS:
        v = getattr(base.profile, f)
        new = {"bn_mode": "running", "score_augment": not v}.get(f, v + 1 if isinstance(v, int) else v)
        assert RunSpec("darts", profile=base.profile.replace(**{f: new})).key() == base.key(), f
    for f, v in (("epochs", 5), ("dtype", "float32"), ("lr", 0.1), ("reference", True)):
        assert RunSpec("darts", profile=base.profile.replace(**{f: v})).key() != base.key(), f


def test_stored_profiles_survive_added_and_removed_fields():
    d = get_profile("smoke").to_dict()
    d.pop("num_samples")
    d["a_field_from_the_future"] = 1
    p = profile_from_dict(d)
    assert p.num_samples == get_profile("smoke").num_samples and p.C == d["C"]
    d.pop("valid_images")  # a field the run predates: the named preset's value, not the class default
    assert profile_from_dict(d).valid_images == get_profile("smoke").valid_images != Profile(name="x").valid_images
    assert profile_from_dict({**d, "name": "custom"}).valid_images is None


def test_smoke_is_float64_and_paper_float32():
    assert PROFILES["smoke"].dtype == "float64" and PROFILES["paper"].dtype == "float32"
    with pytest.raises(ValueError, match="dtype must be one of"):
        get_profile("smoke", {"dtype": "float16"})
