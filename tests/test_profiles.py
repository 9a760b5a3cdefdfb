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


# ------------------------------------------------------------------ k, arch_lr and the DARTS-space presets (issue 17)
def test_k_and_arch_lr_are_invisible_at_their_default():
    """Added later: at k=1 / arch_lr=None they are in no dict and no hash, so no stored key moves."""
    from supernetbench.harness.profiles import HIDDEN_DEFAULTS
    from supernetbench.harness.store import content_hash
    from supernetbench.oneshot.train import CODE_VERSION

    assert HIDDEN_DEFAULTS["k"] == 1 and HIDDEN_DEFAULTS["arch_lr"] is None
    for name in ("smoke", "demo", "signal", "paper", "reference", "darts-search"):
        p = PROFILES[name]
        assert p.k == 1 and p.arch_lr is None
        assert "k" not in p.to_dict() and "arch_lr" not in p.to_dict() and "k" not in p.stage1_dict()
    before = {k: v for k, v in dataclasses.asdict(PROFILES["smoke"]).items() if k not in HIDDEN_DEFAULTS}
    assert PROFILES["smoke"].to_dict() == before
    spec = RunSpec("darts", profile=get_profile("smoke"))
    assert spec.key() == content_hash({**spec.to_dict(), "profile": spec.profile.stage1_dict(), "code": spec.code()},
                                      CODE_VERSION)
    for change in ({"k": 2}, {"arch_lr": 6e-4}):  # set: visible, and a different run
        p = get_profile("smoke", change)
        (f, v), = change.items()
        assert p.to_dict()[f] == v and p.stage1_dict()[f] == v and profile_from_dict(p.to_dict()) == p
        assert RunSpec("darts", profile=p).key() != spec.key()
    assert profile_from_dict(before) == get_profile("smoke")  # a run stored before the fields existed


def test_k_and_arch_lr_are_checked_and_parsed():
    from supernetbench.harness.profiles import parse_overrides

    for bad, match in (({"k": 0}, "k must be an integer in 1..16"), ({"k": 1.0}, "k must be an integer"),
                       ({"k": 17}, "in 1..16"), ({"arch_lr": 0.0}, "arch_lr must be None"),
                       ({"arch_lr": -1e-3}, "arch_lr must be a finite number >= 0.0"),
                       ({"arch_lr": float("nan")}, "arch_lr must be a finite number")):
        with pytest.raises(ValueError, match=match):
            get_profile("smoke", bad)
    assert parse_overrides(["k=2", "arch_lr=6e-4"], Profile) == {"k": 2, "arch_lr": 6e-4}
    assert parse_overrides(["arch_lr=none"], Profile) == {"arch_lr": None}


def test_darts_presets_are_section8_and_the_darts_paper():
    """darts-paper = protocol §8's Stage 1; darts-search = the DARTS paper's search network; paper,
    smoke and the rest unchanged (smoke stays tiny and float64 on every space)."""
    from supernetbench.harness.profiles import PROFILE_NOTES

    paper = PROFILES["paper"]
    assert paper == Profile(name="paper")  # the class defaults: protocol §3.1
    d = PROFILES["darts-paper"]
    assert (d.C, d.N, 3 * d.N + 2, d.k, d.epochs, d.batch_size) == (36, 6, 20, 2, 50, 64)
    assert (d.lr, d.lr_min, d.momentum, d.weight_decay, d.grad_clip, d.arch_lr) == (0.1, 0.0, 0.9, 3e-4, 5.0, 6e-4)
    assert (d.split, d.train_size, d.valid_size, d.dtype) == ("protocol", None, None, "float32")  # 25k / 25k
    s = PROFILES["darts-search"]
    assert (s.C, 3 * s.N + 2, s.k, s.epochs, s.batch_size, s.lr, s.lr_min, s.arch_lr) == (
        16, 8, 1, 50, 64, 0.025, 0.001, None)
    # everything else (Stage 2, scoring, numerics) is paper's
    same = {f.name for f in dataclasses.fields(Profile)} - {"name", "C", "N", "k", "epochs", "lr", "lr_min", "arch_lr"}
    assert all(getattr(d, f) == getattr(paper, f) == getattr(s, f) for f in same)
    smoke = PROFILES["smoke"]
    assert (smoke.C, smoke.N, smoke.k, smoke.dtype, smoke.epochs) == (4, 1, 1, "float64", 4)
    assert set(PROFILE_NOTES) == set(PROFILES)
    assert profile_from_dict(d.to_dict()) == d and profile_from_dict(s.to_dict()) == s
    # the method options §8 shares with the defaults: arch betas, arch wd, tau 10 -> 0.1
    from supernetbench.algorithms import ALGORITHMS

    cfg = ALGORITHMS.get("snas").make_config()
    assert (cfg.arch_betas, cfg.arch_weight_decay, cfg.tau_max, cfg.tau_min) == ((0.5, 0.999), 1e-3, 10.0, 0.1)


def test_the_profile_arch_lr_configures_the_method():
    """arch_lr set in the profile: every method with that option trains with it; an explicit
    method option wins; unset, the method's own default (3e-4) stays."""
    from supernetbench.algorithms import ALGORITHMS
    from supernetbench.oneshot.train import method_overrides

    darts = ALGORITHMS.get("darts")
    prof = get_profile("darts-paper")
    assert darts.make_config(method_overrides(darts, RunSpec("darts", profile=prof))).arch_lr == 6e-4
    spec = RunSpec("darts", profile=prof, method_options=(("arch_lr", 1e-3),))
    assert darts.make_config(method_overrides(darts, spec)).arch_lr == 1e-3
    assert method_overrides(darts, RunSpec("darts", profile=get_profile("paper"))) == {}
    assert darts.make_config(method_overrides(darts, RunSpec("darts"))).arch_lr == 3e-4
    for algo in ("darts-", "gdas", "snas", "drnas", "blank"):
        cls = ALGORITHMS.get(algo)
        assert cls.make_config(method_overrides(cls, RunSpec(algo, profile=prof))).arch_lr == 6e-4
