"""Plugins: entry-point discovery and its errors, --plugin, code identity in artifact keys, the
mixing hook, the gate (against stand-in evaluations) and its pytest plugin. Fast; the wheel-installed
example plugin end to end is tests/test_plugin_wheel.py (slow)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from supernetbench.algorithms import ALGORITHMS, Stage1Method
from supernetbench.harness.registry import DISABLE_ENV, PluginError, PluginInfo, Registry, code_identity
from supernetbench.selectors import SELECTORS

from helpers import error_line, run_cli

REPO = Path(__file__).parents[1]
EXAMPLE_SRC = REPO / "examples" / "plugin" / "src"
FAIRDARTS = "sbn_fairdarts.fairdarts:FairDarts"
GRAD_NORM = "sbn_fairdarts.grad_norm:GradNorm"


@pytest.fixture
def isolated(monkeypatch):
    """Registries and the --plugin list restored after the test; the example importable."""
    from supernetbench import plugins
    from supernetbench.spaces.nb201.space import SPACES

    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    saved = [(r, {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
                  for k, v in vars(r).items()}) for r in (ALGORITHMS, SELECTORS, SPACES)]
    active = list(plugins._ACTIVE)
    yield
    for r, state in saved:
        vars(r).clear()
        vars(r).update(state)
    plugins._ACTIVE[:] = active


class _Dist:
    def __init__(self, name, version):
        self.metadata, self.version = {"Name": name}, version


class _EP:
    """A stand-in for importlib.metadata.EntryPoint."""

    def __init__(self, name, value, dist="mypkg", version="1.2"):
        self.name, self.value, self.dist = name, value, _Dist(dist, version)
        self.loads = 0

    def load(self):
        self.loads += 1
        module, _, attr = self.value.partition(":")
        return getattr(__import__(module, fromlist=[attr]), attr)


class _Base:
    pass


class _Good(_Base):
    pass


def _registry(monkeypatch, *eps):
    import importlib.metadata

    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [e for e in eps])
    reg = Registry("widget", group="g")
    reg.base = _Base
    reg.register("builtin")(type("Builtin", (_Base,), {}))
    return reg


def test_entry_points_are_listed_at_once_and_imported_on_first_use(monkeypatch):
    ep = _EP("good", f"{__name__}:_Good")
    reg = _registry(monkeypatch, ep)
    assert reg.names() == ["builtin", "good"] and "good" in reg and ep.loads == 0
    assert reg.get("good") is _Good and ep.loads == 1
    assert reg.plugin_info("good") == PluginInfo("good", f"{__name__}:_Good", "mypkg", "1.2")
    assert reg.identity("good")["plugin"]["version"] == "1.2"
    assert reg.plugin_info("builtin") is None and "plugin" not in reg.identity("builtin")
    assert reg.builtin_names() == ["builtin"]


@pytest.mark.parametrize("ep, words", [
    (_EP("builtin", f"{__name__}:_Good"), ["clashes with the built-in", "mypkg 1.2"]),
    (_EP("bad", "no_such_module_xyz:C"), ["failed to import", "mypkg 1.2", "pip uninstall mypkg", DISABLE_ENV]),
    (_EP("bad", f"{__name__}:_EP"), ["not a subclass", "mypkg"]),
    (_EP("bad", f"{__name__}:test_entry_points_are_listed_at_once_and_imported_on_first_use"), ["not a subclass"]),
])
def test_a_broken_plugin_is_one_error_when_named_and_harmless_otherwise(monkeypatch, ep, words):
    good = _EP("good", f"{__name__}:_Good")
    reg = _registry(monkeypatch, ep, good)
    with pytest.raises(PluginError) as e:
        reg.get(ep.name)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
    assert ep.name in reg.names()  # listed, never silently skipped
    if ep.name != "builtin":
        assert isinstance(reg.get("builtin"), type)  # names that do not involve it keep working
    assert reg.get("good") is _Good


def test_two_plugins_with_one_name_and_the_hermetic_switch(monkeypatch):
    reg = _registry(monkeypatch, _EP("x", f"{__name__}:_Good", "a"), _EP("x", f"{__name__}:_Base", "b"))
    with pytest.raises(PluginError, match="defined twice: by a 1.2 .* and by b 1.2"):
        reg.get("x")
    reg = _registry(monkeypatch, _EP("x", f"{__name__}:_Good"))
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert reg.names() == ["builtin"]


def test_plugin_flag_loads_the_example_and_list_shows_it(isolated):
    rc, out, _ = run_cli("--plugin", FAIRDARTS, "list", "--json", "--plugin", GRAD_NORM)
    assert rc == 0
    out = json.loads(out)
    assert "fairdarts" in out["algorithms"] and "grad_norm" in out["selectors"]
    assert {p["name"] for p in out["plugins"]} == {"fairdarts", "grad_norm"}
    assert issubclass(ALGORITHMS.get("fairdarts"), ALGORITHMS.get("darts"))


@pytest.mark.parametrize("spec, words", [
    ("nomodule_q:C", ["cannot load it", "No module named"]),
    ("supernetbench.algorithms.darts:Darts", ["clashes with the built-in", "NEWNAME="]),
    ("x=supernetbench.algorithms.darts:Darts", ["already registered as 'darts'", "subclass it"]),
    ("supernetbench.spaces.base:get_space", ["not a subclass of supernetbench.api.Stage1Method"]),
    ("nocolon", ["expected module:Class"]),
])
def test_plugin_flag_errors_are_one_line_with_status_2(isolated, spec, words):
    rc, _, err = run_cli("--plugin", spec, "list")
    line = error_line(err)
    assert rc == 2 and all(w in line for w in words), line


def test_api_is_the_plugin_surface(isolated):
    from supernetbench import api

    assert api.get_method("darts") is ALGORITHMS.get("darts") and api.get_selector("valid") is SELECTORS.get("valid")
    assert api.get_space("nb201") is api.NB201Space and set(api.__all__) <= set(dir(api))
    with pytest.raises(KeyError, match="valid choices"):
        api.get_method("nope")


def test_code_identity_follows_the_source(tmp_path, monkeypatch):
    """An edited method (here: a constant beside it) gets another identity, so another run key."""
    import importlib

    from supernetbench.oneshot.train import RunSpec

    mod = tmp_path / "sbn_tmp_method.py"
    src = "from supernetbench.api import get_method\nW = {}\nclass M(get_method('darts')):\n    pass\n"
    mod.write_text(src.format(1))
    monkeypatch.syspath_prepend(str(tmp_path))
    m = importlib.import_module("sbn_tmp_method")
    first = code_identity(m.M)
    assert first["modules"] == ["sbn_tmp_method", "supernetbench.algorithms.darts", "supernetbench.algorithms.base"]
    mod.write_text(src.format(10))
    m = importlib.reload(m)
    assert code_identity(m.M)["source_sha256"] != first["source_sha256"]
    # a built-in's key carries its identity
    spec = RunSpec("darts")
    key = spec.key()
    assert spec.code() == ALGORITHMS.identity("darts") and len(key) == 16
    monkeypatch.setattr(ALGORITHMS, "identity", lambda name: {"source_sha256": "changed"})
    assert RunSpec("darts").key() != key
    sys.modules.pop("sbn_tmp_method", None)


def test_selection_key_follows_the_selector_code(tmp_path, monkeypatch):
    from supernetbench.pipeline.artifacts import selection_path
    from supernetbench.harness.profiles import get_profile

    p = selection_path(tmp_path / "run", "valid", get_profile("smoke"), 0)
    monkeypatch.setattr(SELECTORS, "identity", lambda name: {"source_sha256": "changed"})
    assert selection_path(tmp_path / "run", "valid", get_profile("smoke"), 0) != p


def test_mixture_hook_softmax_by_default_sigmoid_for_fairdarts(isolated):
    from supernetbench.plugins import load_plugin
    from supernetbench.selectors.perturb import _mixture_weights

    a = torch.randn(6, 5, dtype=torch.float64)
    for algo in ("darts", "drnas", "gdas"):  # the papers' perturb: softmax for every method (P4)
        assert torch.equal(_mixture_weights(algo)(a), torch.softmax(a, dim=-1))
    load_plugin(FAIRDARTS)
    assert torch.equal(_mixture_weights("fairdarts")(a), torch.sigmoid(a))


def test_fairdarts_zero_one_loss_and_distribution(isolated):
    """Eq. 5 of Chu et al. (2020): w01 * -mean((sigmoid(alpha) - 0.5)^2), w01 = 10; edge_probs normalised."""
    from supernetbench.algorithms import RunContext
    from supernetbench.spaces.nb201.space import NB201Space
    from supernetbench.plugins import load_plugin

    load_plugin(FAIRDARTS)
    cls = ALGORITHMS.get("fairdarts")
    m = cls(cls.make_config(), space=NB201Space(), ctx=RunContext("cifar10", 1, torch.device("cpu"), 0,
                                                                   dtype=torch.float64))
    m.init_alphas()
    with torch.no_grad():
        m.alphas["cell"].copy_(torch.linspace(-3, 3, 30, dtype=torch.float64).reshape(6, 5))
    s = torch.sigmoid(m.alphas["cell"].detach())
    assert float(m.arch_regularizer().detach()) == pytest.approx(-10.0 * float(((s - 0.5) ** 2).mean()), rel=1e-12)
    ep = m.edge_probs()["cell"]
    assert ep.sum(1) == pytest.approx(1.0) and (ep.argmax(1) == s.numpy().argmax(1)).all()
    assert torch.equal(m.mixture()["cell"], torch.sigmoid(m.alphas["cell"]))


def test_plugin_method_trains_through_the_cli(isolated, tmp_path, torch_single_thread):
    rc, out, err = run_cli("--plugin", FAIRDARTS, "train", "--algo", "fairdarts", "--set", "epochs=1", "--set", "C=2",
                           "--set", "train_size=64", "--set", "valid_size=64", "--runs-root", str(tmp_path),
                           "--device", "cpu", "--json")
    assert rc == 0, err
    cfg = json.loads((Path(json.loads(out)["run_dir"]) / "config.json").read_text())
    assert cfg["code"]["plugin"]["name"] == "fairdarts" and cfg["code"]["class"].endswith("FairDarts")
    assert cfg["method_config"]["zero_one_weight"] == 10.0


def test_default_runs_root_is_the_store(monkeypatch, tmp_path):
    from supernetbench.oneshot.train import default_runs_root

    monkeypatch.delenv("SUPERNETBENCH_RUNS", raising=False)
    monkeypatch.setenv("SUPERNETBENCH_CACHE", str(tmp_path))
    assert default_runs_root() == tmp_path / "runs"
    monkeypatch.setenv("SUPERNETBENCH_RUNS", str(tmp_path / "r"))
    assert default_runs_root() == tmp_path / "r"


def test_study_files_name_plugins_and_workers_load_them(isolated, tmp_path):
    from supernetbench.study import StudySpec

    spec = StudySpec.from_mapping({"algos": ["fairdarts"], "selectors": ["grad_norm"], "plugins": [FAIRDARTS, GRAD_NORM],
                                   "store": str(tmp_path)})
    assert spec.plugins == (FAIRDARTS, GRAD_NORM) and spec.run_spec("fairdarts", "cifar10", 0).code()["plugin"]
    with pytest.raises(ValueError, match="'plugins' must be a list"):
        StudySpec.from_mapping({"plugins": "x:Y"})
    # a fresh interpreter (a spawned pool or Ray worker) gets the plugins from the spec alone
    code = ("import pickle,sys; from supernetbench.plugins import load_plugins; s = pickle.loads(sys.stdin.buffer.read()); "
            "load_plugins(s.plugins); from supernetbench.algorithms import ALGORITHMS; print(ALGORITHMS.get('fairdarts'))")
    import pickle

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(EXAMPLE_SRC)]), DISABLE_ENV: "1"}
    res = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(spec), capture_output=True, env=env, timeout=120)
    assert res.returncode == 0 and b"FairDarts" in res.stdout, res.stderr.decode()[-500:]


# ----------------------------------------------------------------------------------------- the gate
def _stub_evaluations(monkeypatch, shift: float = 0.0):
    """``evaluate_case`` replaced by a stand-in whose numbers depend on (algo, seed) and ``shift``."""
    import supernetbench.gate as gate

    def fake(algo, dataset, seed, selectors=None):
        base = 0.1 * seed + len(algo)
        return SimpleNamespace(
            metrics={"a1": [base, base + 1, base + 2, 9.0], "a2": [0.0, 0.1, 0.2 + base + shift, 0.3],
                     "kendall": 0.5, "spearman": 0.6},
            selections={s: SimpleNamespace(test_acc=90.0 + seed + i) for i, s in enumerate(selectors or [])},
            run=SimpleNamespace(config={"data": "stand-in"}))

    monkeypatch.setattr(gate, "evaluate_case", fake)


def test_gate_update_then_match_then_regression(monkeypatch, tmp_path):
    refs = tmp_path / "refs"
    argv = ["gate", "--algo", "darts", "--selectors", "prune", "valid", "--references", str(refs)]
    _stub_evaluations(monkeypatch)
    rc, out, err = run_cli(*argv, "--update")
    assert rc == 0, err
    ref = json.loads((refs / "darts-valid-cifar10.json").read_text())
    assert ref["reference_seeds"] == [0, 1, 2, 3, 4] and ref["values"]["selected_test_acc"]["value"] == 91.0
    assert ref["command"] == f"supernetbench gate --algo darts --selectors valid --datasets cifar10 --references {refs} --update"
    assert "plugins" not in ref  # built-ins: the suites' format exactly
    assert run_cli(*argv)[0] == 0
    _stub_evaluations(monkeypatch, shift=1e-6)
    rc, out, err = run_cli(*argv)
    assert rc == 1 and "a2_top3" in out and "1e-06" in out and "regenerate with" in err
    rc, out, _ = run_cli(*argv, "--json")
    res = json.loads(out)
    assert rc == 1 and not res["ok"] and res["cases"][0]["differences"][0]["metric"] == "a2_top3"


@pytest.mark.parametrize("argv, words", [
    (["--algo", "rsps", "--selectors", "prune"], ["needs arch_weights"]),
    (["--algo", "nope"], ["unknown Stage-1 method"]),
    (["--algo", "darts", "--seeds", "1"], ["--seeds applies to --update only"]),
    (["--algo", "darts", "--space", "nb201x"], ["unknown search space"]),
])
def test_gate_bad_input_is_status_2(monkeypatch, tmp_path, argv, words):
    _stub_evaluations(monkeypatch)
    rc, _, err = run_cli("gate", *argv, "--references", str(tmp_path))
    line = error_line(err)
    assert rc == 2 and all(w in line for w in words), line


def test_gate_missing_references_dir_names_the_update_command(monkeypatch, tmp_path):
    _stub_evaluations(monkeypatch)
    rc, _, err = run_cli("gate", "--algo", "darts", "--references", str(tmp_path / "none"))
    assert rc == 2 and "--update" in error_line(err)


def test_gate_references_are_the_suites_format():
    """A stored suite reference rebuilt by the gate's code from its own numbers is the same record."""
    from supernetbench.gate import build_reference, case_profile

    stored = json.loads((REPO / "suites" / "reference" / "darts-valid-cifar10.json").read_text())
    n = len(stored["reference_seeds"])
    per_seed = [{k: v["seed_values"][i] for k, v in stored["values"].items()} for i in range(n)]
    ev = SimpleNamespace(run=SimpleNamespace(config={"data": stored["data"]}))
    rebuilt = build_reference(stored["case"], per_seed, ev, case_profile("cifar10"))
    assert {**rebuilt, "code_version": None} == {**stored, "code_version": None}


def test_pytest_plugin_collects_reference_cases(tmp_path):
    """``pytest -k darts`` in a user's repository: references/<case>.json are the tests."""
    refs = tmp_path / "references"
    refs.mkdir()
    (tmp_path / "conftest.py").write_text(
        "import sys; sys.path.insert(0, %r)\n" % str(Path(__file__).parent)
        + "from test_plugins import _stub_evaluations\n"  # (gate items are not Functions: no fixtures)
          "_stub_evaluations(type('P', (), {'setattr': staticmethod(setattr)}))\n")
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nsupernetbench_references = "references"\n')
    # the plugin by -p only (installed, its pytest11 entry point would register it a second time)
    env = {**os.environ, "PYTHONPATH": str(REPO), DISABLE_ENV: "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with pytest.MonkeyPatch.context() as mp:
        _stub_evaluations(mp)
        assert run_cli("gate", "--algo", "darts", "--selectors", "valid", "--references", str(refs), "--update")[0] == 0
        assert run_cli("gate", "--algo", "gdas", "--selectors", "valid", "--references", str(refs), "--update")[0] == 0
    cmd = [sys.executable, "-m", "pytest", "-p", "supernetbench.pytest_plugin", "-p", "no:cacheprovider", "-q",
           "-k", "darts"]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0 and "1 passed, 1 deselected" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    ref = json.loads((refs / "gdas-valid-cifar10.json").read_text())
    ref["values"]["kendall"]["value"] += 1e-6
    (refs / "gdas-valid-cifar10.json").write_text(json.dumps(ref))
    res = subprocess.run(cmd[:-1] + ["gdas"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 1 and "kendall" in res.stdout and "--update" in res.stdout, res.stdout[-2000:]


def test_fixed_alpha_control_of_a_plugin_method(isolated, tmp_path, torch_single_thread):
    """The case study's control of a user's method: ``fixed-fairdarts`` is FairDARTS with alpha frozen,
    keyed by the plugin's distribution too, trainable by name like any method (issue 18)."""
    from supernetbench.algorithms.fixed_alpha import fixed_alpha_control
    from supernetbench.study.casestudy import CaseStudy

    rc, out, err = run_cli("--plugin", FAIRDARTS, "train", "--algo", "fixed-fairdarts", "--set", "epochs=1", "--set",
                           "C=2", "--set", "train_size=64", "--set", "valid_size=64", "--runs-root", str(tmp_path),
                           "--device", "cpu", "--json")
    assert rc == 0, err
    run = Path(json.loads(out)["run_dir"])
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["algo"] == "fixed-fairdarts" and cfg["code"]["plugin"]["name"] == "fairdarts"
    assert cfg["code"]["class"].endswith("FixedAlpha_FairDarts")
    assert fixed_alpha_control("fairdarts") == "fixed-fairdarts" and ALGORITHMS.get("fixed-fairdarts").fixed_alpha
    from supernetbench.oneshot.train import SearchRun

    from supernetbench.algorithms import RunContext

    r = SearchRun.load(run)
    cls = ALGORITHMS.get("fairdarts")  # alpha after training = FairDARTS's own initial alpha
    init = cls(cls.make_config(), space=r.space, ctx=RunContext(dataset="cifar10", epochs=1, device=torch.device("cpu"),
                                                               seed=0, dtype=r.profile.torch_dtype))
    init.prepare(None)
    assert set(r.alphas) == set(init.alphas)
    assert all((r.alphas[k] == init.alphas[k].detach().numpy()).all() for k in init.alphas)
    cs = CaseStudy(spaces=("nb201",), methods=("fairdarts",), plugins=(FAIRDARTS,))
    assert [c.algo for c in cs.columns()] == ["fairdarts", "fairdarts", "fixed-fairdarts"]
