"""The example plugin end to end as a user gets it: supernetbench and examples/plugin installed as
wheels (not editable) in a fresh venv, commands run from a directory outside the repository.

Listed, trained, studied and reported through its entry points; gated (update, pass), then a
deliberately changed plugin (its zero-one loss weight) fails the gate with exit 1 and a table.
Slow (full smoke cases: minutes); tests/test_plugins.py covers the same paths in-process, fast."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
pytestmark = pytest.mark.slow
TINY = ["--set", "epochs=1", "--set", "C=2", "--set", "train_size=64", "--set", "valid_size=64",
        "--set", "score_images=8", "--set", "score_batch_size=8"]


def _run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=3600, **kw)


@pytest.fixture(scope="module")
def user(tmp_path_factory, gt):
    """(run, workdir): a function running ``supernetbench ...`` from the venv, and the user's directory."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # build from a copy: building in place would leave build/ and *.egg-info in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "supernetbench", src / "supernetbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "examples" / "plugin", tmp / "plugin", ignore=shutil.ignore_patterns("__pycache__"))
    py = sys.executable
    for d in (src, tmp / "plugin"):
        res = _run([py, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "wheels", d])
        assert res.returncode == 0, res.stderr[-2000:]
    venv = tmp / "venv"
    assert _run([py, "-m", "venv", "--system-site-packages", venv]).returncode == 0
    vpy = venv / "bin" / "python"
    site = _run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(site, "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co. of this env
    res = _run([vpy, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                *sorted((tmp / "wheels").glob("*.whl"))])
    assert res.returncode == 0, res.stderr[-2000:]
    work = tmp / "work"
    work.mkdir()
    from supernetbench.spaces.nb201.benchmark import ENV_VAR, default_table_path

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SUPERNETBENCH_DISABLE_PLUGINS")}
    env.update(SUPERNETBENCH_CACHE=str(tmp / "cache"), SUPERNETBENCH_DATA=str(REPO.parent / "shared" / "data"),
               SUPERNETBENCH_THREADS="1")
    env[ENV_VAR] = str(default_table_path().resolve())  # the table the session's `gt` fixture found

    def run(*argv):
        return _run([venv / "bin" / "supernetbench", *argv], cwd=work, env=env)

    return run, work, Path(site)


def test_listed_trained_studied_reported(user):
    run, work, _ = user
    res = run("list", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "fairdarts" in out["algorithms"] and "grad_norm" in out["selectors"]
    assert {p["distribution"] for p in out["plugins"]} == {"supernetbench-fairdarts-example"}
    res = run("train", "--algo", "fairdarts", *TINY, "--device", "cpu", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    assert Path(json.loads(res.stdout)["run_dir"]).parent == work.parent / "cache" / "runs"  # one default runs root
    res = run("study", "--algos", "fairdarts", "--selectors", "prune", "grad_norm", "--seeds", "0", *TINY,
              "--set", "num_samples=4", "--set", "jacob_batch=8", "--no-reliance", "--workers", "1", "--device", "cpu",
              "--json")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    res = run("report", "--algos", "fairdarts", "--selectors", "prune", "grad_norm", "--seeds", "0", *TINY,
              "--set", "num_samples=4", "--set", "jacob_batch=8", "--artifacts-only", "--out", "rep")
    assert res.returncode == 0 and "fairdarts" in (work / "rep" / "index.md").read_text(), res.stderr[-2000:]


def test_gate_passes_then_fails_after_a_change(user):
    run, work, site = user
    argv = ["gate", "--algo", "fairdarts", "--selectors", "prune", "grad_norm", "--references", "refs"]
    res = run(*argv, "--update", "--seeds", "0")
    assert res.returncode == 0, res.stderr[-2000:]
    ref = json.loads((work / "refs" / "fairdarts-grad_norm-cifar10.json").read_text())
    assert {p["distribution"] for p in ref["plugins"]} == {"supernetbench-fairdarts-example"}
    res = run(*argv, "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["ok"], res.stdout[-2000:] + res.stderr[-2000:]
    mod = site / "sbn_fairdarts" / "fairdarts.py"  # the author changes the loss weight and reinstalls
    mod.write_text(mod.read_text().replace("zero_one_weight: float = 10.0", "zero_one_weight: float = 5.0"))
    res = run(*argv)
    assert res.returncode == 1 and ("a2_top3" in res.stdout or "kendall" in res.stdout), res.stdout[-2000:]
    assert "regenerate with" in res.stderr
    res = run("--plugin", "nosuchmod:X", "list")  # and a broken one: one line, status 2
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
