"""What a study is: methods x selectors x datasets x seeds at one profile, plus where and how it runs.

A :class:`StudySpec` is built from CLI flags or a small TOML file (flags win), validated up front:
an unknown method, selector, dataset, backend, profile or profile field is one error listing the
valid choices. Its :meth:`~StudySpec.key` hashes only what determines the results (not the backend,
device or worker count), so the same study run on a laptop or a cluster shares one study directory.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..oneshot.train import CODE_VERSION, RunSpec
from ..harness.profiles import Profile, get_profile, parse_overrides
from ..harness.store import cache_dir, content_hash

#: study backends (see :mod:`supernetbench.study.backends`)
BACKEND_NAMES = ("local", "ray")
#: keys a study TOML file may hold (``set`` is a table of profile overrides)
TOML_KEYS = ("algos", "selectors", "datasets", "seeds", "profile", "set", "backend", "device", "store",
             "runs_root", "data_root", "workers", "address", "retries", "r_u", "reliance", "pool", "pairing",
             "space", "plugins", "oracle", "pairs", "scoring")
#: keys of a study's ``[oracle]`` table
ORACLE_KEYS = ("profile", "seeds", "selected", "archs")


@dataclass(frozen=True)
class OracleSpec:
    """A study's from-scratch evaluations (``[oracle]``; a space without a table, e.g. ``darts``):
    each genotype trained by the space's ``TrainedOracle`` at oracle profile ``profile`` (``paper``
    = protocol §8, ``smoke``) with each of ``seeds``, on the dataset it belongs to. ``selected``: the
    genotype of every Stage-2 selection of the study (an ``oracle`` task after its ``select`` task);
    ``archs``: more genotype strings, trained on every dataset of the study."""

    profile: str = "paper"
    seeds: tuple[int, ...] = (0,)
    selected: bool = True
    archs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.seeds or any(not isinstance(x, int) or isinstance(x, bool) or not 0 <= x <= SEED_MAX
                                 for x in self.seeds):
            raise ValueError(f"oracle seeds must be a non-empty list of integers in 0..{SEED_MAX}, got {list(self.seeds)}")

    def key_dict(self) -> dict[str, Any]:
        """What the study key hashes (order-free: seeds and genotypes sorted)."""
        return {"profile": self.profile, "seeds": sorted(self.seeds), "selected": self.selected,
                "archs": sorted(self.archs)}

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], source: str = "study") -> "OracleSpec":
        if not isinstance(m, Mapping):
            raise ValueError(f"{source}: 'oracle' must be a table, e.g. [oracle] profile = \"smoke\"")
        bad = sorted(set(m) - set(ORACLE_KEYS))
        if bad:
            raise ValueError(f"{source}: unknown oracle key(s) {', '.join(bad)}; valid keys: {', '.join(ORACLE_KEYS)}")
        if m.get("profile") is not None and (not isinstance(m["profile"], str) or not m["profile"].strip()):
            raise ValueError(f"{source}: oracle 'profile' must be a non-empty string (e.g. profile = \"smoke\")")
        seeds = m.get("seeds")
        if seeds is not None and (not isinstance(seeds, (list, tuple)) or not seeds or not all(
                isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= SEED_MAX for x in seeds)):
            raise ValueError(f"{source}: oracle 'seeds' must be a non-empty list of integers in 0..{SEED_MAX} "
                             "(e.g. seeds = [0])")
        if m.get("selected") is not None and not isinstance(m["selected"], bool):
            raise ValueError(f"{source}: oracle 'selected' must be true or false (a TOML boolean)")
        archs = m.get("archs")
        if archs is not None and (not isinstance(archs, (list, tuple)) or not all(isinstance(a, str) for a in archs)):
            raise ValueError(f"{source}: oracle 'archs' must be a list of genotype strings "
                             "(e.g. archs = [\"Genotype(normal=[...], ...)\"])")
        kw: dict[str, Any] = {k: m[k] for k in ("profile", "selected") if m.get(k) is not None}
        return cls(**kw, **({"seeds": tuple(seeds)} if seeds is not None else {}),
                   **({"archs": tuple(archs)} if archs is not None else {}))


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
    r_u: str = "rsps-biased"  # which supernet R_U is (P9; see pipeline/baselines.py)
    reliance: bool = True  # also train the baseline supernets and compute the reliance statistics
    pool: tuple[str, ...] | None = None  # report: Stage-1 methods of the combined score (None: those learning alpha)
    pairing: str = "capability"  # report: Stage-2 rank pairing of the combined score (harness/reliance.py PAIRINGS)
    space: str = "nb201"  # the search space; a study needs one with a table (hashed only when not nb201)
    plugins: tuple[str, ...] = ()  # ``--plugin`` specs (module:Class) every worker loads (entry points load anyway)
    oracle: OracleSpec | None = None  # from-scratch evaluations (a space without a table; hashed only when set)
    #: only these (method, selector) pairs of ``algos x selectors`` get a ``select`` task (None: all); the
    #: case study's six columns are not a product (``prune`` on the fixed-alpha controls is not asked for)
    pairs: tuple[tuple[str, str], ...] | None = None
    #: full-space scoring (a space with a table): False = no ``score`` task, Stage 2 right after training
    #: (the case study needs no Stage-1 metrics); hashed only when False
    scoring: bool = True

    def __post_init__(self) -> None:
        from ..plugins import load_plugins

        load_plugins(self.plugins)  # before the names are checked
        from ..algorithms import ALGORITHMS
        from ..pipeline.baselines import R_U_MEANINGS
        from ..harness.data import DATASETS
        from ..harness.reliance import PAIRINGS
        from ..selectors import SELECTORS

        for what, names, valid in (("method", self.algos, ALGORITHMS.names()),
                                   ("selector", self.selectors, SELECTORS.names()),
                                   ("dataset", self.datasets, list(DATASETS)),
                                   ("backend", (self.backend,), list(BACKEND_NAMES)),
                                   ("R_U meaning", (self.r_u,), list(R_U_MEANINGS)),
                                   ("pool method", self.pool or (), ALGORITHMS.names()),
                                   ("combined-score pairing", (self.pairing,), list(PAIRINGS))):
            bad = [n for n in names if n not in valid and not (what in ("method", "pool method") and n in ALGORITHMS)]
            if bad:
                raise ValueError(f"unknown {what}(s) {', '.join(map(repr, bad))}; valid choices: {', '.join(valid)}")
        if self.pairs is not None:
            bad_pairs = [f"{a}/{s}" for a, s in self.pairs if a not in self.algos or s not in self.selectors]
            if bad_pairs or not self.pairs:
                raise ValueError(f"pairs must be a non-empty list of [method, selector] pairs from algos x selectors; "
                                 f"not in them: {', '.join(bad_pairs) or '(empty list)'}")
        if not self.datasets or not self.seeds:
            raise ValueError("a study needs at least one method (--algos), dataset (--datasets) and seed (--seeds)")
        if not self.algos and not (self.oracle and self.oracle.archs):
            raise ValueError("a study needs at least one method (--algos), dataset (--datasets) and seed (--seeds); "
                             "only a study with [oracle] archs may list no method (algos = [])")
        if any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be non-negative integers, got {list(self.seeds)}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        self.stage_profile()  # unknown profile / field / bad value: fails here, before any work
        from ..spaces import get_space

        space = get_space(self.space)
        if self.oracle is not None:
            if space.has("table"):
                raise ValueError(f"[oracle]: search space {self.space!r} has a table ({space.ground_truth}); its archs "
                                 "are looked up, not trained from scratch: drop the oracle section")
            oracle = self.oracle_of()
            import torch

            probe = space.random_arch(torch.Generator().manual_seed(0))
            for ds in self.datasets:
                for a in (*self.oracle.archs, probe):
                    oracle.key(a, ds)  # a bad genotype or a dataset the oracle cannot train: one error now
        elif not space.has("table"):  # Stage 2 only (no full-space scoring, no reliance), like `evaluate`
            self.oracle_of()  # still one error here when the space has no ground truth at all

    def oracle_of(self, device: str = "cpu", progress: bool = False):
        """The space's ``TrainedOracle`` at the study's oracle profile, storing in the study's store
        (``ValueError`` when the space has none, or a table)."""
        import inspect

        from ..spaces import MissingCapability, TrainedOracle, get_space

        space = get_space(self.space)
        options = {"profile": self.oracle.profile if self.oracle else "paper", "root": str(self.store_path),
                   "data_root": self.data_root, "device": device, "progress": progress}
        params = inspect.signature(space.benchmark).parameters
        try:
            gt = space.benchmark(None, **{k: v for k, v in options.items() if k in params})
        except MissingCapability:
            gt = None
        if space.has("table") or not isinstance(gt, TrainedOracle):
            raise ValueError(f"a study needs a search space with a table or a trained oracle; space {self.space!r} "
                             "has neither")
        return gt

    # ------------------------------------------------------------------ derived
    def stage_profile(self) -> Profile:
        return self._profile

    @functools.cached_property
    def _profile(self) -> Profile:  # memoised: a study asks once per task (20,000 seeds: 60,000 times)
        return get_profile(self.profile, dict(self.overrides))

    def run_spec(self, algo: str, dataset: str, seed: int) -> RunSpec:
        """The Stage-1 run of (algo, dataset, seed): the same identity ``pytest suites`` uses."""
        return RunSpec(algo, dataset, seed, self.stage_profile(), (), self.data_root, space=self.space)

    @property
    def store_path(self) -> Path:
        return Path(self.store) if self.store is not None else cache_dir()

    @property
    def runs_path(self) -> Path:
        return Path(self.runs_root) if self.runs_root is not None else self.store_path / "runs"

    def key(self) -> str:
        """Hash of what determines the study's results (not where or how it runs)."""
        return self._key

    @functools.cached_property
    def _key(self) -> str:  # memoised: it hashes every seed, and --status asks once per task
        return content_hash(sorted(self.algos), sorted(self.selectors), sorted(self.datasets), sorted(self.seeds),
                            self.stage_profile().to_dict(), self.data_root, self.r_u, self.reliance, CODE_VERSION,
                            *([self.space] if self.space != "nb201" else []),  # nb201 studies keep their keys
                            *([sorted(self.plugins)] if self.plugins else []),  # (keys of studies without plugins unchanged)
                            *([{"oracle": self._oracle_key()}] if self.oracle is not None else []),  # (likewise)
                            *([{"pairs": sorted(map(list, self.pairs))}] if self.pairs is not None else []),
                            *([{"scoring": False}] if not self.scoring else []))

    def wants(self, algo: str, selector: str) -> bool:
        """Whether the study asks for the selection of ``selector`` on ``algo``'s runs."""
        return self.pairs is None or (algo, selector) in self.pairs

    def _oracle_key(self) -> dict[str, Any]:
        """The oracle section as hashed: genotypes canonical (two spellings of one cell, one study)."""
        from ..spaces import get_space

        space = get_space(self.space)
        d = self.oracle.key_dict()
        return {**d, "archs": sorted({space.format(space.canonical(space.parse(a))) for a in d["archs"]})}

    @property
    def study_dir(self) -> Path:
        """Logs, task records and the summary of this study (under the store, so shared)."""
        return self.store_path / "studies" / f"study-{self.key()}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["overrides"] = dict(self.overrides)
        if self.space == "nb201":
            del d["space"]
        if self.oracle is None:
            del d["oracle"]
        if self.pairs is None:
            del d["pairs"]
        else:
            d["pairs"] = [list(x) for x in self.pairs]
        if self.scoring:
            del d["scoring"]
        return d

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], *, source: str = "study") -> "StudySpec":
        """From a TOML-like mapping (``set`` = profile overrides, as a table or ``key=value`` strings).
        Every value is type-checked first (:func:`check_types`; ``source`` names it in the error);
        ``plugins`` = ``--plugin`` specs, to which those loaded in this process are added."""
        from ..algorithms import ALGORITHMS
        from ..plugins import active_specs, load_plugins
        from ..selectors import SELECTORS

        bad = sorted(set(m) - set(TOML_KEYS))
        if bad:
            raise ValueError(f"unknown study key(s) {', '.join(bad)}; valid keys: {', '.join(TOML_KEYS)}")
        check_types(m, source)
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
                                               "workers", "address", "retries", "r_u", "reliance", "pairing", "space",
                                               "scoring")
                             if m.get(k) is not None}
        if m.get("pairs") is not None:
            kw["pairs"] = tuple((a, s) for a, s in m["pairs"])
        if m.get("pool") is not None:
            if isinstance(m["pool"], str) or not all(isinstance(a, str) for a in m["pool"]):
                raise ValueError(f"'pool' must be a list of method names, e.g. pool = [\"darts\", \"drnas\"]; "
                                 f"got {m['pool']!r:.60}")
            kw["pool"] = tuple(m["pool"])
        if m.get("oracle") is not None:
            kw["oracle"] = OracleSpec.from_mapping(m["oracle"], source)
        algos = m.get("algos")
        pairs = kw.get("pairs") or ()
        if algos is None and pairs:  # pairs alone name the methods and selectors
            algos = list(dict.fromkeys(a for a, _ in pairs))
        if algos is None or (not algos and not (kw.get("oracle") and kw["oracle"].archs)):
            algos = ALGORITHMS.names()  # (an empty list is only for a study of explicit oracle archs)
        selectors = m.get("selectors") or (list(dict.fromkeys(s for _, s in pairs)) if pairs else SELECTORS.names())
        return cls(algos=tuple(algos),
                   selectors=tuple(selectors),
                   datasets=tuple(m.get("datasets") or ("cifar10",)),
                   seeds=tuple(m.get("seeds") if m.get("seeds") is not None else (0,)),
                   overrides=tuple(sorted(overrides.items())), plugins=plugins, **kw)

    @classmethod
    def from_toml(cls, path: str | os.PathLike, **flags: Any) -> "StudySpec":
        """The study in a TOML file; ``flags`` that are not None replace its values, except ``set``:
        flag overrides are merged into the file's ``[set]`` table (a flag wins per field)."""
        m = read_toml(path)
        check_types(m, f"study file {path}")
        base = Path(path).resolve().parent  # relative paths in the file are the file's, not the shell's
        for k in PATH_KEYS:
            if isinstance(m.get(k), str) and m[k] and not Path(m[k]).expanduser().is_absolute():
                m[k] = str(base / m[k])
        given = {k: v for k, v in flags.items() if v is not None}
        if given.get("set"):
            table = m.get("set") or {}
            if not isinstance(table, Mapping):
                raise ValueError(f"study file {path}: 'set' must be a table of profile fields, e.g. [set] epochs = 2")
            flags_set = given["set"] if isinstance(given["set"], Mapping) else parse_overrides(list(given["set"]), Profile)
            given["set"] = {**table, **flags_set}
        if given.get("oracle") and isinstance(m.get("oracle"), Mapping):  # flags win per oracle key
            given["oracle"] = {**m["oracle"], **given["oracle"]}
        return cls.from_mapping({**m, **given}, source=f"study file {path}")


#: keys that are paths (relative ones in a study file resolve against the file's directory)
PATH_KEYS = ("store", "runs_root", "data_root")
#: numpy's seed range, as the CLI's --seeds
SEED_MAX = 2**32 - 1


def check_types(m: Mapping[str, Any], source: str = "study") -> None:
    """Each key's value has the type the CLI would give it (before any work): one error naming the key,
    the expected type and an example - never a later "internal error", nor ``"false"`` taken as true."""
    def fail(key: str, expected: str, example: str) -> None:
        got = m[key]
        raise ValueError(f"{source}: {key!r} must be {expected} (e.g. {example}), got {type(got).__name__} "
                         f"{str(got)[:40]!r}")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    for key, example in (("algos", 'algos = ["darts", "gdas"]'), ("selectors", 'selectors = ["prune", "valid"]'),
                         ("datasets", 'datasets = ["cifar10"]')):
        v = m.get(key)
        empty_ok = key == "algos" and isinstance(m.get("oracle"), Mapping) and bool(m["oracle"].get("archs"))
        if v is not None and (not isinstance(v, (list, tuple)) or (not v and not empty_ok)
                              or not all(isinstance(x, str) for x in v)):
            fail(key, "a non-empty list of names", example)
    v = m.get("seeds")
    if v is not None and (not isinstance(v, (list, tuple)) or not v
                          or not all(is_int(x) and 0 <= x <= SEED_MAX for x in v)):
        fail("seeds", f"a non-empty list of integers in 0..{SEED_MAX}", "seeds = [0, 1, 2]")
    examples = {"profile": "smoke", "backend": "local", "device": "cpu", "r_u": "rsps-biased", "address": "auto",
                "pairing": "capability", "space": "nb201"}
    for key in ("profile", "backend", "device", "r_u", "address", "pairing", "space", *PATH_KEYS):
        if m.get(key) is not None and (not isinstance(m[key], str) or not m[key].strip()):
            fail(key, "a non-empty string", f'{key} = "{examples.get(key, "/path/to/dir")}"')
    if isinstance(m.get("device"), str) and not re.fullmatch(r"auto|cpu|cuda(:\d+)?", m["device"]):
        fail("device", "auto, cpu, cuda or cuda:N", 'device = "cpu"')
    for key, lo, hi in (("workers", 1, 4096), ("retries", 0, 100)):
        if m.get(key) is not None and not (is_int(m[key]) and lo <= m[key] <= hi):
            fail(key, f"an integer in {lo}..{hi}", f"{key} = {lo + 1}")
    for key in ("reliance", "scoring"):
        if m.get(key) is not None and not isinstance(m[key], bool):
            fail(key, "true or false (a TOML boolean, not a string)", f"{key} = false")
    v = m.get("pairs")
    if v is not None and (not isinstance(v, (list, tuple)) or not v or not all(
            isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(y, str) for y in x) for x in v)):
        fail("pairs", "a non-empty list of [method, selector] pairs", 'pairs = [["darts", "prune"], ["blank", "perturb"]]')


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
