"""What a study is: methods x selectors x datasets x seeds at one profile, plus where and how it runs.

A :class:`StudySpec` is built from CLI flags or a small TOML file (flags win), validated up front:
an unknown method, selector, dataset, backend, profile or profile field is one error listing the
valid choices. Its :meth:`~StudySpec.key` hashes only what determines the results (not the backend,
device or worker count), so the same study run on a laptop or a cluster shares one study directory.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..harness.engine import CODE_VERSION, RunSpec
from ..harness.profiles import Profile, get_profile, parse_overrides
from ..harness.store import cache_dir, content_hash

#: study backends (see :mod:`supernetbench.study.backends`)
BACKEND_NAMES = ("local", "ray")
#: keys a study TOML file may hold (``set`` is a table of profile overrides)
TOML_KEYS = ("algos", "selectors", "datasets", "seeds", "profile", "set", "backend", "device", "store",
             "runs_root", "data_root", "workers", "address", "retries", "r_u", "reliance", "plugins")


@dataclass(frozen=True)
class StudySpec:
    """One study. ``store``: the artifact cache root (default ``cache_dir()``, the one ``pytest
    suites`` uses); ``runs_root``: Stage-1 runs (default ``<store>/runs``, also the suites')."""

    algos: tuple[str, ...]
    selectors: tuple[str, ...]
    datasets: tuple[str, ...] = ("cifar10",)
    seeds: tuple[int, ...] = (0,)
    profile: str = "smoke"
    overrides: tuple[tuple[str, Any], ...] = ()
    backend: str = "local"
    device: str = "auto"
    store: str | None = None
    runs_root: str | None = None
    data_root: str | None = None
    workers: int | None = None  # concurrent tasks; default: cores (CPU) or GPUs
    address: str | None = None  # ray: "auto" = an existing cluster; None = a local instance
    retries: int = 2  # times a task whose worker died is run again
    r_u: str = "rsps-biased"  # which supernet R_U is (P9; see harness/baselines.py)
    reliance: bool = True  # also train the baseline supernets and compute the reliance statistics
    plugins: tuple[str, ...] = ()  # ``--plugin`` specs (module:Class) every worker loads (entry points load anyway)

    def __post_init__(self) -> None:
        from ..plugins import load_plugins

        load_plugins(self.plugins)  # before the names are checked
        from ..algorithms import ALGORITHMS
        from ..harness.baselines import R_U_MEANINGS
        from ..harness.benchmark import DATASETS
        from ..selectors import SELECTORS

        for what, names, valid in (("method", self.algos, ALGORITHMS.names()),
                                   ("selector", self.selectors, SELECTORS.names()),
                                   ("dataset", self.datasets, list(DATASETS)),
                                   ("backend", (self.backend,), list(BACKEND_NAMES)),
                                   ("R_U meaning", (self.r_u,), list(R_U_MEANINGS))):
            bad = [n for n in names if n not in valid]
            if bad:
                raise ValueError(f"unknown {what}(s) {', '.join(map(repr, bad))}; valid choices: {', '.join(valid)}")
        if not self.algos or not self.datasets or not self.seeds:
            raise ValueError("a study needs at least one method (--algos), dataset (--datasets) and seed (--seeds)")
        if any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be non-negative integers, got {list(self.seeds)}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        self.stage_profile()  # unknown profile / field / bad value: fails here, before any work

    # ------------------------------------------------------------------ derived
    def stage_profile(self) -> Profile:
        return get_profile(self.profile, dict(self.overrides))

    def run_spec(self, algo: str, dataset: str, seed: int) -> RunSpec:
        """The Stage-1 run of (algo, dataset, seed): the same identity ``pytest suites`` uses."""
        return RunSpec(algo, dataset, seed, self.stage_profile(), (), self.data_root)

    @property
    def store_path(self) -> Path:
        return Path(self.store) if self.store is not None else cache_dir()

    @property
    def runs_path(self) -> Path:
        return Path(self.runs_root) if self.runs_root is not None else self.store_path / "runs"

    def key(self) -> str:
        """Hash of what determines the study's results (not where or how it runs)."""
        extra = [sorted(self.plugins)] if self.plugins else []  # (keys of studies without plugins unchanged)
        return content_hash(sorted(self.algos), sorted(self.selectors), sorted(self.datasets), sorted(self.seeds),
                            self.stage_profile().to_dict(), self.data_root, self.r_u, self.reliance, CODE_VERSION,
                            *extra)

    @property
    def study_dir(self) -> Path:
        """Logs, task records and the summary of this study (under the store, so shared)."""
        return self.store_path / "studies" / f"study-{self.key()}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["overrides"] = dict(self.overrides)
        return d

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> "StudySpec":
        """From a TOML-like mapping (``set`` = profile overrides, as a table or ``key=value`` strings;
        ``plugins`` = ``--plugin`` specs, to which those loaded in this process are added)."""
        from ..algorithms import ALGORITHMS
        from ..plugins import active_specs, load_plugins
        from ..selectors import SELECTORS

        bad = sorted(set(m) - set(TOML_KEYS))
        if bad:
            raise ValueError(f"unknown study key(s) {', '.join(bad)}; valid keys: {', '.join(TOML_KEYS)}")
        plugins = m.get("plugins") or []
        if not isinstance(plugins, (list, tuple)) or not all(isinstance(x, str) for x in plugins):
            raise ValueError('\'plugins\' must be a list of "module:Class" strings, e.g. plugins = ["mypkg.m:FairDarts"]')
        load_plugins(plugins)  # before the default names are listed
        plugins = tuple(dict.fromkeys([*plugins, *active_specs()]))
        overrides = m.get("set") or {}
        if isinstance(overrides, (list, tuple)):
            overrides = parse_overrides(list(overrides), Profile)
        elif not isinstance(overrides, Mapping):
            raise ValueError("'set' must be a table of profile fields, e.g. [set] epochs = 2")
        else:  # TOML has no null: a string value is parsed as on the CLI (valid_images = "none")
            overrides = {**overrides, **parse_overrides([f"{k}={v}" for k, v in overrides.items()
                                                         if isinstance(v, str)], Profile)}
        kw: dict[str, Any] = {k: m[k] for k in ("profile", "backend", "device", "store", "runs_root", "data_root",
                                               "workers", "address", "retries", "r_u", "reliance") if m.get(k) is not None}
        return cls(algos=tuple(m.get("algos") or ALGORITHMS.names()),
                   selectors=tuple(m.get("selectors") or SELECTORS.names()),
                   datasets=tuple(m.get("datasets") or ("cifar10",)),
                   seeds=tuple(m.get("seeds") if m.get("seeds") is not None else (0,)),
                   overrides=tuple(sorted(overrides.items())), plugins=plugins, **kw)

    @classmethod
    def from_toml(cls, path: str | os.PathLike, **flags: Any) -> "StudySpec":
        """The study in a TOML file; ``flags`` that are not None replace its values, except ``set``:
        flag overrides are merged into the file's ``[set]`` table (a flag wins per field)."""
        m = read_toml(path)
        given = {k: v for k, v in flags.items() if v is not None}
        if given.get("set"):
            table = m.get("set") or {}
            if not isinstance(table, Mapping):
                raise ValueError(f"study file {path}: 'set' must be a table of profile fields, e.g. [set] epochs = 2")
            flags_set = given["set"] if isinstance(given["set"], Mapping) else parse_overrides(list(given["set"]), Profile)
            given["set"] = {**table, **flags_set}
        return cls.from_mapping({**m, **given})


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """A study TOML file as a dict; a missing or malformed file is one error naming it."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise RuntimeError("study TOML files need Python >= 3.11 (tomllib); give the study as flags instead") from None
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"study file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"study file {path} is not valid TOML: {e}") from None
