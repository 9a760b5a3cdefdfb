"""Reports from artifacts (``supernetbench.report``): figures are real PNG/PDF files, the four table
renderers agree, best-per-row marking, structural clustering properties, and one tiny real report
(real Stage-1 runs, selections and reliance baselines) whose index.html parses and embeds every figure."""
from __future__ import annotations

import base64
import csv
import doctest
import io
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import pdist, squareform

from supernetbench.harness import metrics as M
from supernetbench.harness.metrics import MeanStd
from supernetbench.report import clustering as C
from supernetbench.report import figures, tables as T
from supernetbench.report import collect, read_study, write_report
from tests.helpers import error_line, run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------ figures
def _curves() -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    acc = np.round(rng.normal(85.0, 5.0, 500), 1)
    scores = acc + rng.normal(0.0, 3.0, (3, acc.size))  # 3 seeds
    probs = rng.dirichlet(np.ones(acc.size), size=3)
    curves = {
        "darts": {"a1": np.stack([M.top_id_rate(acc, s, 20) for s in scores]),
                  "a2": np.stack([M.cumulative_sampling_probability(acc, p, 20) for p in probs])},
        "rsps": {"a1": M.top_id_rate(acc, scores[0], 20)},  # one seed, no distribution
    }
    return curves, M.threshold_values(acc, 20), M.random_baseline(acc, 20)


def test_plot_curves_writes_png(tmp_path: Path) -> None:
    curves, thresholds, baseline = _curves()
    out = tmp_path / "figs" / "s1eval.png"
    assert figures.plot_curves(curves, thresholds, baseline, out, "CIFAR-10") == [out]
    data = out.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)
    assert not list(out.parent.glob("*.tmp"))  # atomic write left no temp file


def test_plot_curves_pdf_also_writes_png(tmp_path: Path) -> None:
    curves, thresholds, baseline = _curves()
    out = tmp_path / "s1eval.pdf"
    assert figures.plot_curves(curves, thresholds, baseline[:-1], out, "") == [tmp_path / "s1eval.png", out]
    assert out.read_bytes().startswith(b"%PDF")
    assert (tmp_path / "s1eval.png").read_bytes().startswith(PNG_MAGIC)


def test_plot_curves_rejects_mismatched_levels(tmp_path: Path) -> None:
    curves, thresholds, baseline = _curves()
    with pytest.raises(ValueError, match="levels = len\\(thresholds\\) \\+ 1"):
        figures.plot_curves(curves, thresholds[:-1], baseline[:-1], tmp_path / "x.png", "")
    with pytest.raises(ValueError, match="baseline must have"):
        figures.plot_curves(curves, thresholds, baseline[:-2], tmp_path / "x.png", "")
    with pytest.raises(ValueError, match=".png or .pdf"):
        figures.plot_curves(curves, thresholds, baseline, tmp_path / "x.svg", "")
    assert not (tmp_path / "x.png").exists()


def test_import_does_not_load_heavy_modules() -> None:
    code = ("import sys, supernetbench.report; "
            "print([m for m in ('matplotlib', 'scipy', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_docstring_examples() -> None:
    for mod in (T, C):
        result = doctest.testmod(mod)
        assert result.attempted >= 2 and result.failed == 0, mod.__name__


# ------------------------------------------------------------------------------------ tables
def test_markdown_table_rows() -> None:
    rows = [{"algo": "darts", "valid": T.format_mean_std([92.78, 93.46]), "prune": 54.3},
            {"algo": "rsps", "valid": 93.0},  # no prune: incompatible pair
            {"algo": "a|b", "valid": None, "prune": 1}]
    assert T.markdown_table(rows, ["algo", "prune", "valid"]).splitlines() == [
        "| algo | prune | valid |", "| --- | --- | --- |", "| darts | 54.30 | 93.12 ± 0.34 |",
        "| rsps | — | 93.00 |", "| a\\|b | 1 | — |"]
    with pytest.raises(ValueError, match="columns is empty"):
        T.markdown_table(rows, [])


def test_format_mean_std() -> None:
    assert T.format_mean_std([92.78, 93.46]) == "93.12 ± 0.34"
    assert T.format_mean_std(np.array([1.0, 2.0, 3.0, 4.0]), decimals=3) == "2.500 ± 1.118"


def test_best_per_row_hand_made() -> None:
    means = [[9.0, 8.5, np.nan, 8.6],  # one best
             [7.0, 7.0, 8.0, np.nan],  # tie: both marked
             [np.nan, np.nan, np.nan, np.nan]]  # nothing to mark
    assert T.best_per_row(means).tolist() == [[False, True, False, False], [True, True, False, False],
                                              [False, False, False, False]]
    assert T.best_per_row(means, lower_is_better=False).tolist()[0] == [True, False, False, False]
    with pytest.raises(ValueError, match="2-D"):
        T.best_per_row([1.0, 2.0])


def _hand_table() -> T.Table:
    rows = [("darts", [MeanStd(12.345, 0.5), MeanStd(10.0, 1.25), None]),
            ("snas_x", [MeanStd(9.0, 0.0), 11.5, "n/a"])]
    means = [[c.mean if isinstance(c, MeanStd) else (c if isinstance(c, float) else np.nan) for c in cells]
             for _, cells in rows]
    best = {(int(i), int(j)) for i, j in zip(*np.nonzero(T.best_per_row(means)))}
    return T.Table("t", "errors & more (%)", "S1", ["prune", "valid", "perturb"], rows, decimals=2, best=best)


def test_table_renderers_agree() -> None:
    """Markdown, CSV, LaTeX and HTML show the same numbers and mark the same best cells."""
    t = _hand_table()
    assert t.best == {(0, 1), (1, 0)}
    md = [[c.strip() for c in line.strip("|").split(" | ")] for line in t.to_markdown().splitlines()[2:]]
    tex = [[c.strip() for c in line[:-2].split(" & ")] for line in t.to_latex().splitlines()
           if line.endswith(r"\\") and not line.startswith("S1")]
    rows = list(csv.reader(io.StringIO(t.to_csv())))
    assert rows[0] == ["S1", "prune", "prune_std", "valid", "valid_std", "perturb", "perturb_std", "best"]
    assert rows[1] == ["darts", "12.345", "0.5", "10.0", "1.25", "", "", "valid"]
    assert rows[2] == ["snas_x", "9.0", "0.0", "11.5", "", "n/a", "", "prune"]
    assert md == [["darts", "12.35 ± 0.50", "**10.00 ± 1.25**", "—"], ["snas_x",
                  "**9.00 ± 0.00**", "11.50", "n/a"]]
    assert tex == [["darts", r"12.35 $\pm$ 0.50", r"\textbf{10.00 $\pm$ 1.25}", "--"],
                   [r"snas\_x", r"\textbf{9.00 $\pm$ 0.00}", "11.50", "n/a"]]
    assert r"errors \& more (\%)" in t.to_latex()
    html = t.to_html()
    assert html.count("<strong>") == 2 and "<strong>10.00 ± 1.25</strong>" in html and "errors &amp; more" in html
    # every number in the Markdown table is the CSV value rounded to the table's decimals
    for md_row, csv_row in zip(md, rows[1:]):
        for text, value, std in zip(md_row[1:], csv_row[1::2], csv_row[2::2]):
            if value and value != "n/a":
                nums = [float(x) for x in re.findall(r"-?\d+\.\d+", text)]
                assert nums[0] == round(float(value), 2) and (not std or nums[1] == round(float(std), 2))


def test_table_rejects_ragged_rows() -> None:
    with pytest.raises(ValueError, match="row 'a' has 1 cells for 2 columns"):
        T.Table("t", "t", "S1", ["x", "y"], [("a", [1.0])])


# ------------------------------------------------------------------------------------ clustering
ARCHS = st.lists(st.lists(st.integers(0, 4), min_size=6, max_size=6), min_size=1, max_size=40).map(
    lambda rows: np.array(rows, dtype=np.int64))


@given(ARCHS)
def test_structural_distance_properties(archs: np.ndarray) -> None:
    """Symmetric, zero diagonal, integers in 0..6, equal to 6 x SciPy's Hamming distance."""
    d = C.structural_distances(archs)
    assert d.shape == (len(archs), len(archs))
    np.testing.assert_array_equal(d, d.T)
    assert (np.diag(d) == 0).all() and d.min() >= 0 and d.max() <= 6 and (d == np.round(d)).all()
    if len(archs) > 1:
        np.testing.assert_allclose(d, squareform(pdist(archs, "hamming")) * 6, atol=1e-12)
    np.testing.assert_array_equal(C.shared_ops(archs), 6 - d)


@given(ARCHS, st.integers(1, 10), st.sampled_from(C.LINKAGE_METHODS))
def test_clusters_partition_the_archs(archs: np.ndarray, k: int, method: str) -> None:
    """Every arch gets one label in 1..k' (k' <= k, all used); identical archs share a cluster."""
    labels = C.cluster_archs(archs, method=method, n_clusters=k)
    assert labels.shape == (len(archs),)
    ids = np.unique(labels)
    assert ids.tolist() == list(range(1, len(ids) + 1)) and len(ids) <= k
    d = C.structural_distances(archs)
    i, j = np.nonzero(d == 0)
    assert (labels[i] == labels[j]).all()
    _, sizes, mx, _ = C.cluster_means(labels, archs[:, 0].astype(float), np.zeros(len(archs)))
    assert sizes.sum() == len(archs)
    np.testing.assert_allclose((sizes * mx).sum(), archs[:, 0].sum())  # cluster means recombine to the total


def test_clustering_sample_and_errors() -> None:
    s = C.clustering_sample(15625)
    assert len(s) == C.SAMPLE_SIZE == len(np.unique(s)) and (np.diff(s) > 0).all()
    np.testing.assert_array_equal(s, C.clustering_sample(15625))  # the same sample for every run
    assert C.clustering_sample(10).tolist() == list(range(10))
    with pytest.raises(ValueError, match="valid choices"):
        C.cluster_archs([[0] * 6, [1] * 6], method="ward")
    with pytest.raises(ValueError, match="shape \\(n, 6\\)"):
        C.shared_ops([[0, 1, 2]])


# ------------------------------------------------------------------------------------ the real report
TINY = {"C": 2, "epochs": 1, "train_size": 64, "valid_size": 64, "batch_size": 32, "score_images": 8,
        "score_batch_size": 8, "num_samples": 4, "valid_images": 8}
SELECTORS = ["prune", "valid"]


def _fast_scores(run, gt, data, cfg, device="cpu", progress=True, workers=None, engine="fast", precision="exact", identity=None):
    """Stand-in for full-space scoring (~50 s per run on CPU): the test accuracy plus seeded noise."""
    rng = np.random.default_rng(run.seed)
    return gt.test_acc(run.dataset) + rng.normal(0.0, 4.0, len(gt))


@pytest.fixture(scope="module")
def report(tmp_path_factory, gt):
    """2 methods x 2 seeds x (prune, valid) with the reliance baselines: real runs and selections."""
    from supernetbench.pipeline import evaluate as pipeline
    from supernetbench.oneshot.train import RunSpec, cached_search_data
    from supernetbench.harness.profiles import get_profile

    profile = get_profile("smoke", TINY)
    try:
        cached_search_data(RunSpec("rsps", "cifar10", profile=profile).data_config())
    except (FileNotFoundError, OSError, RuntimeError) as e:
        pytest.skip(f"CIFAR-10 search data unavailable: {e}")
    root = tmp_path_factory.mktemp("runs")
    out = tmp_path_factory.mktemp("report")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: see the torch_single_thread fixture
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(pipeline, "cached_score_space", _fast_scores)
            t0 = time.perf_counter()
            inputs = collect(["darts", "rsps"], SELECTORS, "cifar10", [0, 1], profile, reliance=True, device="cpu",
                             runs_root=root, progress=False, gt=gt)
            t1 = time.perf_counter()
        index = write_report(inputs, out)
        print(f"collect {t1 - t0:.1f} s, render {time.perf_counter() - t1:.1f} s")
    finally:
        torch.set_num_threads(threads)
    return inputs, index, root


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        elif tag == "table":
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_report_html_is_self_contained(report) -> None:
    inputs, index, _ = report
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    page.close()
    pngs = sorted((index.parent / "figures").glob("*.png"))
    assert [p.stem for p in pngs] == ["combined_score", "fig1_a1_a2", "fig2_structural_clusters", "rank_correlation",
                                      "reliance", "score_vs_params"]
    assert len(page.imgs) == len(pngs)
    embedded = set()
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
        embedded.add(data)
    assert embedded == {p.read_bytes() for p in pngs}  # every figure, each once
    assert set(page.tables) == {"s1xs2_test_error", "rank_correlation", "a1_a2_levels", "reliance",
                                "combined_ranking", "bias_diagnostics", "top_k_correlation"}
    text = " ".join(page.text)
    first = inputs.first
    for needle in (first.run.config["data"], "profile: smoke", "seeds: [0, 1]", "BN mode batch", "device: cpu",
                   "supernetbench 0.1.0", "git ", "lossy JPEG"):
        assert needle in text, needle
    md = (index.parent / "index.md").read_text()
    for p in pngs:
        assert f"](figures/{p.name})" in md


def test_report_bias_table_matches_direct_diagnostics(report) -> None:
    """The bias table's ρ(score, params) cell is scipy's Spearman of the scores with the parameter counts."""
    from scipy import stats

    from supernetbench.spaces.nb201.complexity import arch_complexity

    inputs, index, _ = report
    params = arch_complexity(inputs.archs, inputs.dataset)["params"]
    csv = (index.parent / "tables" / "bias_diagnostics.csv").read_text().splitlines()
    row = next(line for line in csv if line.startswith("rsps,"))
    rhos = [stats.spearmanr(e.scores, params).statistic for e in inputs.evaluations["rsps"]]
    assert float(row.split(",")[1]) == pytest.approx(np.mean(rhos), abs=1e-12)
    truth = next(line for line in csv if line.startswith("NB201 truth"))
    assert float(truth.split(",")[1]) == pytest.approx(stats.spearmanr(inputs.test_acc, params).statistic, abs=1e-12)


def test_report_s1s2_table_matches_the_artifacts(report) -> None:
    """The table's cells are the selections' test errors; CSV, Markdown, LaTeX and HTML agree."""
    inputs, index, _ = report
    tabs = index.parent / "tables"
    rows = {r["Stage-1"]: r for r in csv.DictReader(io.StringIO((tabs / "s1xs2_test_error.csv").read_text()))}
    assert set(rows) == {"darts", "rsps"}
    for algo, evs in inputs.evaluations.items():
        for sel in SELECTORS:
            errs = [100.0 - e.selections[sel].test_acc for e in evs if sel in e.selections]
            if algo == "rsps" and sel == "prune":  # rsps learns no arch weights
                assert errs == [] and rows[algo][sel] == ""
                continue
            assert float(rows[algo][sel]) == pytest.approx(np.mean(errs), abs=1e-12)
            assert float(rows[algo][f"{sel}_std"]) == pytest.approx(np.std(errs), abs=1e-12)
            text = f"{np.mean(errs):.2f} ± {np.std(errs):.2f}"
            assert text in (tabs / "s1xs2_test_error.md").read_text()
            assert text.replace(" ± ", r" $\pm$ ") in (tabs / "s1xs2_test_error.tex").read_text()
        means = {s: float(rows[algo][s]) for s in SELECTORS if rows[algo][s]}
        assert rows[algo]["best"] == min(means, key=means.get)
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    html_rows = {r[0]: r[1:] for r in page.tables["s1xs2_test_error"][1:]}
    assert html_rows["rsps"][0] == "—"


def test_report_reliance_and_combined(report) -> None:
    inputs, index, _ = report
    assert sorted(inputs.reliance.selected) == ["valid"]  # prune needs arch weights: not run on baselines
    rows = list(csv.DictReader(io.StringIO((index.parent / "tables" / "combined_ranking.csv").read_text())))
    # the default pool is the methods that learn alpha: rsps is evaluated but not ranked
    assert [r["pair"] for r in rows] == ["darts × valid"]
    raw = json.loads((index.parent / "report.json").read_text())
    assert raw["combined"]["pool"] == ["darts"] and raw["combined"]["excluded"] == ["rsps"]
    assert raw["provenance"]["combined_score"]["pairing"] == "capability"
    assert raw["combined"]["stage2_keys"] == ["R_I-R_U", "R_U-N_U"]
    md = index.with_suffix(".md").read_text().replace("\\", "")  # index.md escapes Markdown specials (md_escape)
    assert "Stage-1 pool (methods that learn alpha): darts; left out: rsps" in md and "pairing 'capability'" in md


def test_report_pool_and_pairing_are_selectable(report, tmp_path) -> None:
    inputs, _, _ = report
    index = write_report(inputs, tmp_path, pool=["darts", "rsps"], pairing="literal")
    rows = list(csv.DictReader(io.StringIO((index.parent / "tables" / "combined_ranking.csv").read_text())))
    assert {r["pair"] for r in rows} == {"darts × valid", "rsps × valid"}
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores)  # best (lowest) first
    raw = json.loads((index.parent / "report.json").read_text())
    assert raw["combined"]["stage2_keys"] == ["R_U-N_U", "R_I-N_I"] and raw["combined"]["pool_rule"] == "--pool"
    with pytest.raises(ValueError, match="not evaluated"):
        write_report(inputs, tmp_path / "x", pool=["drnas"])


def test_rerender_from_artifacts_is_fast(report, tmp_path) -> None:
    """Rendering alone (no evaluate) takes seconds and writes the same tables."""
    inputs, index, _ = report
    t0 = time.perf_counter()
    again = write_report(inputs, tmp_path, pdf=True)
    assert time.perf_counter() - t0 < 30
    assert (tmp_path / "figures" / "fig1_a1_a2.pdf").read_bytes().startswith(b"%PDF")
    for name in ("s1xs2_test_error.csv", "rank_correlation.csv", "reliance.csv"):
        assert (tmp_path / "tables" / name).read_text() == (index.parent / "tables" / name).read_text()
    assert again.read_text().count("<img ") == 6  # + score_vs_params


def test_data_flags() -> None:
    from supernetbench.report.inputs import data_flags

    assert data_flags("CIFAR-10 python batches (../shared/data/cifar10), protocol split") == []
    standin = data_flags("synthetic stand-in in ImageNet16 format (x.npz; NOT real ImageNet16-120, 500 train rows)")
    partial = data_flags("CIFAR-100 partial pack (1,117 of 50,000 train rows; y.npz), protocol split")
    assert len(standin) == 1 and "SYNTHETIC" in standin[0]
    assert len(partial) == 1 and "PARTIAL" in partial[0]


# ------------------------------------------------------------------------------------ study files, CLI
def test_read_study(tmp_path: Path) -> None:
    f = tmp_path / "study.toml"
    f.write_text('algos = ["darts"]\nselectors = ["valid"]\ndatasets = ["cifar10"]\nseeds = [0, 1]\n'
                 'profile = "smoke"\n[set]\nepochs = 2\nvalid_images = "none"\n')
    st_ = read_study(f)
    assert st_.algos == ("darts",) and st_.seeds == (0, 1) and st_.stage_profile().epochs == 2
    assert st_.stage_profile().valid_images is None and st_.reliance is True  # the study's default
    # flags replace keys; --set adds to the [set] table (a flag wins per field)
    st_ = read_study(f, seeds=[3], selectors=None, set=["epochs=3", "C=2"], store=str(tmp_path / "store"))
    assert st_.seeds == (3,) and st_.selectors == ("valid",) and st_.stage_profile().epochs == 3
    assert st_.stage_profile().C == 2 and st_.stage_profile().valid_images is None
    assert st_.runs_path == tmp_path / "store" / "runs"
    f.write_text('algos = ["darts"]\nselector = ["valid"]\n')
    with pytest.raises(ValueError, match="unknown study key\\(s\\) selector; valid keys"):
        read_study(f)
    f.write_text('algos = ["darts"]\nreliance = false\n')  # the same defaults as `supernetbench study`
    st_ = read_study(f)
    assert st_.datasets == ("cifar10",) and st_.seeds == (0,) and "valid" in st_.selectors and not st_.reliance
    f.write_text('algos = ["darts"]\nselectors = ["valid"]\ndatasets = ["cifar1"]\nseeds = [0]\nprofile = "smoke"\n')
    with pytest.raises(ValueError, match="unknown dataset"):
        read_study(f)
    f.write_text("algos = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        read_study(f)


def test_cli_report_needs_study_or_algos(tmp_path: Path) -> None:
    rc, _, err = run_cli("report", "--out", str(tmp_path))
    assert rc == 2 and "report needs --study FILE or --algos" in error_line(err)
    rc, _, err = run_cli("report", "--study", str(tmp_path / "none.toml"), "--out", str(tmp_path))
    assert rc == 2 and "does not exist" in error_line(err)
    rc, _, err = run_cli("report", "--algos", "darts", "--selectors", "prune", "--reliance", "--out", str(tmp_path))
    assert rc == 2 and "--reliance needs a selector that runs on the baselines" in error_line(err)
    rc, _, err = run_cli("report", "--algos", "darts", "nope", "--out", str(tmp_path))
    assert rc == 2 and "nope" in error_line(err)
    assert not list(tmp_path.iterdir())  # nothing written


def test_cli_report_from_study(report, tmp_path: Path, monkeypatch) -> None:
    """``report --study`` reuses the runs of the fixture: one report per dataset, in OUT/<dataset>."""
    from supernetbench.pipeline import evaluate as pipeline

    _, _, root = report
    monkeypatch.setattr(pipeline, "cached_score_space", _fast_scores)
    f = tmp_path / "study.toml"
    f.write_text('algos = ["darts", "rsps"]\nselectors = ["prune", "valid"]\ndatasets = ["cifar10"]\nseeds = [0, 1]\n'
                 'profile = "smoke"\nreliance = false\n[set]\n' + "".join(f"{k} = {v}\n" for k, v in TINY.items()))
    rc, out, err = run_cli("report", "--study", str(f), "--out", str(tmp_path / "rep"), "--runs-root", str(root),
                           "--device", "cpu")
    assert rc == 0, err
    assert (tmp_path / "rep" / "cifar10" / "index.html").is_file()
    assert "| darts |" in out and "wrote" in out
