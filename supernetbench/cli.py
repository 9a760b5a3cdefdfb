"""``supernetbench`` command line: train, score, select, metrics, demo and inspection commands."""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
EPILOG = """exit status: 0 success; 2 the input is wrong (usage, an invalid value, a missing, unreadable or
damaged file that you named or that a runs or data directory holds): fix what the one-line message
names; 1 a valid command could not finish (disk full, read-only or permission denied, out of memory,
a missing optional package, an internal error). A problem the harness recovers from (a bad cache
entry, an unwritable cache) is one 'warning:' line and does not change the status.
SUPERNETBENCH_DEBUG=1 shows the traceback of any error."""


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            print(f"{k}: {v}")
    else:
        print(obj)


def _spec(args):
    from .algorithms import ALGORITHMS
    from .oneshot.train import RunSpec
    from .harness.profiles import Profile, get_profile, parse_overrides

    profile = get_profile(args.profile, parse_overrides(_sets(args), Profile))
    opts = parse_overrides(args.opt, ALGORITHMS.get(args.algo).Config)  # typed like the method's config
    return RunSpec(args.algo, args.dataset, args.seed, profile, tuple(sorted(opts.items())), args.data_root,
                   space=_space(args).name)


def _space(args):
    """The search space named by ``--space`` (one error listing the registered ones otherwise)."""
    from .spaces import get_space

    return get_space(getattr(args, "space", None) or "nb201")


def _check_run_space(args, run_dir) -> None:
    """``--space`` given with ``--run`` must be the run's own space (a run records it)."""
    from .harness.store import read_json

    if getattr(args, "space", None) is None:
        return
    try:
        have = read_json(Path(run_dir) / "config.json").get("space", "nb201")
    except (OSError, ValueError, AttributeError):
        return  # load_run names a missing or damaged run directory
    if have != _space(args).name:
        raise ValueError(f"run {run_dir} was trained on search space {have!r}, not {args.space!r}; "
                         f"drop --space or pass --space {have}")


def _sets(args) -> list[str] | None:
    """``--set`` items with ``--gt-split X`` as ``gt_split=X`` (a shorthand for the profile field)."""
    split = getattr(args, "gt_split", None)
    return (list(args.set or []) + [f"gt_split={split}"]) if split else args.set


# ---------------------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    from .oneshot.train import train_supernet

    run = train_supernet(_spec(args), runs_root=args.runs_root, device=args.device, progress=not args.json)
    last = run.log[-1] if run.log else {}
    _print({"run_dir": str(run.path), "algo": run.algo, "dataset": run.dataset, "seed": run.seed,
            "data": run.config["data"], "epochs": len(run.log), "final_train_acc": last.get("train_acc"),
            "final_valid_acc": last.get("valid_acc"), "seconds_per_epoch":
            float(np.mean([e["seconds"] for e in run.log])) if run.log else 0.0}, args.json)
    return 0


def cmd_evaluate(args) -> int:
    """score + metrics + selection for a spec (trains first when needed)."""
    from .pipeline.evaluate import evaluate
    from .harness.store import atomic_save_npy

    _check_output(args.scores_out, "--scores-out")
    if args.adaptive:
        return _adaptive_score(args)
    explicit = args.selectors is not None  # a selector asked for by name must apply; defaults may be skipped
    ev = evaluate(_spec(args), args.selectors if explicit else args.default_selectors, device=args.device,
                  runs_root=args.runs_root, progress=not args.json, skip_incompatible=not explicit,
                  workers=args.workers, engine=args.engine, precision=args.precision)
    if args.scores_out:
        atomic_save_npy(args.scores_out, ev.scores)
    if args.json:
        _print(ev.summary(), True)
        return 0
    m = ev.metrics
    if ev.scores is None:  # a space without a table: Stage 2 only
        _print({"run": str(ev.run.path), "space": ev.run.space_name, "Stage-1 metrics": m["skipped"],
                **{f"{k} selection": v.arch for k, v in ev.selections.items()},
                **{f"{k} selection": f"skipped ({why})" for k, why in ev.skipped.items()}}, False)
        return 0
    _print({
        "run": str(ev.run.path), "data": ev.run.config.get("data"),
        "scoring": ev.score_config,
        "a1 (levels 0-2)": [round(v, 4) for v in m["a1"][:3]],
        "a2 (levels 0-2)": [round(v, 4) for v in m["a2"][:3]],
        "random baseline": [round(v, 4) for v in m["baseline"][:3]],
        "Kendall / Spearman": (round(m["kendall"], 4), round(m["spearman"], 4)),
        **_bias_lines(m.get("diagnostics")),
        **{f"{k} selection": f"{v.arch} -> NB201 test acc {v.test_acc:.2f}%" for k, v in ev.selections.items()},
        **{f"{k} selection": f"skipped ({why})" for k, why in ev.skipped.items()},
        **({"precision": m["precision"], "agreement with exact": m["precision_agreement"]}
           if "precision" in m else {}),
    }, False)
    return 0


def _bias_lines(diag: dict | None) -> dict[str, Any]:
    """The bias diagnostics in two plain lines (the whole set is in ``--json``)."""
    if not diag:
        return {}
    from .harness.diagnostics import size_sentence

    rho = diag["feature_spearman"]["params"]
    top = diag["top"]["top5pct"]
    return {
        "rho(score, params) / truth's": (round(rho["score"], 3), round(rho["truth"], 3)),
        "tau within size strata": round(diag["tau_within_size"]["tau"], 3),
        "true top 5 %: Kendall / precision": (round(top["kendall"], 3), round(top["precision"], 3)),
        **({"bias": size_sentence(diag)} if diag["size_dominated"] else {}),
    }


def _adaptive_score(args) -> int:
    """``score --adaptive``: successive halving over images, metrics ranked by (round reached, score)."""
    import os

    from .oneshot.adaptive import adaptive_score_space
    from .harness.device import resolve_device
    from .oneshot.train import cached_search_data, train_supernet
    from .pipeline.evaluate import stage1_metrics
    from .oneshot.scoring import ScoreConfig, check_precision_dtype, make_scoring_data
    from .harness.store import atomic_save_npy

    if args.selectors:
        raise ValueError("--adaptive scores only; run `select` without --adaptive for Stage 2")
    from .spaces import require

    require(_space(args), "table", "score --adaptive")
    spec = _spec(args)
    check_precision_dtype(args.precision, spec.profile.torch_dtype)  # before any training
    dev = resolve_device(args.device)
    gt = _space(args).benchmark(spec.dataset)
    run = train_supernet(spec, runs_root=args.runs_root, device=dev, progress=not args.json)
    data = cached_search_data(spec.data_config())
    cfg = ScoreConfig.from_profile(spec.profile)
    sd = make_scoring_data(data, cfg, dev, spec.profile.torch_dtype)
    res = adaptive_score_space(run.load_supernet(dev), gt.archs, sd, cfg, engine=args.engine, precision=args.precision,
                               workers=args.workers or os.cpu_count() or 1, progress=not args.json)
    if args.scores_out:
        atomic_save_npy(args.scores_out, res.rank_key)
    m = stage1_metrics(gt.accuracy(spec.dataset, spec.profile.gt_split, "stage1"), res.rank_key, run.archprob)
    _print({"run": str(run.path), "adaptive_rounds": res.rounds, "cost_vs_full": res.cost,
            "ground_truth": gt.record(spec.dataset, spec.profile.gt_split),
            "a1 (levels 0-2, estimate)": m["a1"][:3], "a2 (levels 0-2, estimate)": m["a2"][:3],
            "random baseline": m["baseline"][:3], "Kendall / Spearman (estimate)": [m["kendall"], m["spearman"]],
            "exact": False,
            "note": "estimates: survivors' scores are exact, but classes eliminated early were judged on fewer "
                    "images and may belong to the true top groups (run without --adaptive for exact a1); "
                    "--scores-out saves the rank key"},
           args.json)
    return 0


def cmd_metrics(args) -> int:
    from .spaces.nb201.benchmark import load_ground_truth
    from .pipeline.evaluate import stage1_metrics

    _check_output(args.plot, "--plot")
    gt = load_ground_truth(args.nb201)
    acc = gt.accuracy(args.dataset, args.gt_split or "table", "stage1")
    scores = _load_array(args.scores, "scores", len(acc))
    probs = _load_array(args.probs, "probs", len(acc)) if args.probs else np.full(len(acc), 1.0 / len(acc))
    if args.probs and (probs.min() < 0 or abs(probs.sum() - 1.0) > 1e-6):
        raise ValueError(f"--probs {args.probs} must be non-negative and sum to 1 (min {probs.min():.3g}, "
                         f"sum {probs.sum():.9g})")
    out = stage1_metrics(acc, scores, probs)
    out["probs"] = args.probs or "uniform (no --probs given)"
    out["ground_truth"] = gt.record(args.dataset, args.gt_split or "table")
    if args.plot:
        from .report import plot_curves

        plot_curves({"input": {"a1": np.array(out["a1"]), "a2": np.array(out["a2"])}},
                    np.array(out["thresholds"]), np.array(out["baseline"]), args.plot, title=args.dataset)
        out["plot"] = args.plot
    _print(out, args.json)
    return 0


def _load_array(path: str, what: str, n: int) -> np.ndarray:
    """A user's per-arch array: exactly ``(n,)`` real numbers, finite and exact as float64 (complex,
    bool, dates, strings, huge ints and wider floats that would change on conversion are errors)."""
    from .harness.store import CorruptFileError, read_npy

    expected = f"expected ({n},) real numbers in NB201 index order (one .npy array, np.save)"
    try:
        a = read_npy(path)
    except CorruptFileError as e:
        raise ValueError(f"--{what}: {e}; {expected}") from None
    except OSError as e:
        raise ValueError(f"cannot read --{what} {_clip(path)}: {e.strerror or e}; {expected}") from None
    if a.dtype.kind not in "iuf":
        raise ValueError(f"--{what} {_clip(path)} holds {a.dtype} values; {expected}")
    if a.shape != (n,):
        raise ValueError(f"--{what} {_clip(path)} has shape {a.shape}; {expected}")
    with np.errstate(all="ignore"):
        b = a.astype(np.float64)
        exact = np.array_equal(b.astype(a.dtype), a)
    if not np.all(np.isfinite(b)):
        raise ValueError(f"--{what} {_clip(path)} holds NaN or infinite values; {expected}")
    if not exact:
        raise ValueError(f"--{what} {_clip(path)} holds {a.dtype} values that float64 cannot represent exactly")
    return b


def _check_output(path: str | None, flag: str) -> None:
    """An output file the user names goes into an existing directory (never created for them)."""
    if path is None:
        return
    parent = Path(path).parent
    if not parent.is_dir():
        raise FileNotFoundError(f"{flag} {_clip(path)}: directory {_clip(parent)} does not exist; create it first")
    if Path(path).is_dir():
        raise IsADirectoryError(f"{flag} {_clip(path)} is a directory; give a file name")


def _clip(text: Any, limit: int = 120) -> str:
    from .harness.store import one_line

    return one_line(str(text), limit)


def cmd_space_info(args) -> int:
    _print(_space(args).info(), args.json)
    return 0


def cmd_model_info(args) -> int:
    space = _space(args)
    shape = {k: getattr(args, k) for k in ("C", "N", "layers") if getattr(args, k) is not None}
    bad = sorted(set(shape) - set(space.model_shape))
    if bad:
        have = ", ".join(f"--{k}" for k in space.model_shape) or "none"
        raise ValueError(f"model-info {', '.join(f'--{k}' for k in bad)}: not an option of search space "
                         f"{space.name!r} (its network's options: {have})")
    _print(space.model_info(args.arch, args.dataset, **shape), args.json)
    return 0


def cmd_data_info(args) -> int:
    from .spaces.nb201.benchmark import DATASETS, SPLIT_COLUMNS, BenchmarkTableError, load_ground_truth
    from .harness.data import summarise_data_sources

    items = summarise_data_sources(args.data_root)
    try:  # the ground truth each dataset's numbers are read against: its table and NB201 splits
        gt = load_ground_truth()
        truth = {d: {"table": str(gt.path), "splits": {s: SPLIT_COLUMNS[(d, s)] for s in gt.splits(d)},
                     "default_split": gt.splits(d)[0]} for d in DATASETS}
    except (BenchmarkTableError, OSError) as e:
        truth = {d: {"error": str(e)} for d in DATASETS}
    for item in items:
        if isinstance(item, dict) and item.get("item") in truth:
            item["ground_truth"] = truth[item["item"]]
    _print(items, True)  # always JSON (--json is accepted for symmetry with the other commands)
    return 0


def cmd_convert(args) -> int:
    from .spaces.nb201.benchmark import DATASETS, convert_official, load_ground_truth

    _check_output(args.out, "--out")
    if not Path(args.source).exists():  # before the pickle question: there is no file to trust
        raise FileNotFoundError(f"--source {_clip(args.source)} not found; give the path of the official "
                                "NATS-Bench (tss) file or directory")
    out = convert_official(args.source, args.out, trust_pickle=args.trust_pickle)
    gt = load_ground_truth(out)
    _print({"table": str(out), "archs": len(gt), "splits": {d: gt.splits(d) for d in DATASETS}}, args.json)
    return 0


def cmd_list(args) -> int:
    """Every registered name, plugins included: a broken plugin is an error here (it is listed)."""
    from .algorithms import ALGORITHMS
    from .harness.profiles import PROFILE_NOTES, PROFILES
    from .selectors import DISTRIBUTIONS, SELECTORS
    from .spaces import CAPABILITIES, SPACES, space_names

    space_names()  # the built-in spaces register on first lookup
    plugins = []
    for reg in (ALGORITHMS, SELECTORS, SPACES):
        for n in reg.names():
            reg.get(n)  # imports the plugin: a broken one is one error line here
            if reg.plugin_info(n):
                plugins.append({"kind": reg.kind, **reg.plugin_info(n).record()})
    out = {"algorithms": ALGORITHMS.names(),
           "selectors": {n: SELECTORS.get(n).describe() for n in SELECTORS.names()},
           "profiles": {n: PROFILE_NOTES.get(n, "") for n in PROFILES},
           "candidate_distributions": DISTRIBUTIONS,
           "spaces": {n: SPACES.get(n).describe() for n in space_names()},
           "space_capabilities": CAPABILITIES,
           "plugins": plugins}
    if args.json:
        _print(out, True)
        return 0
    print(f"algorithms: {', '.join(out['algorithms'])}\nselectors:")
    for n, d in out["selectors"].items():
        needs = f"requires {', '.join(d['requires'])}; " if d["requires"] else ""
        print(f"  {n}: {needs}uses {d['uses']}")
    print("profiles:\n" + "\n".join(f"  {n}: {t}" for n, t in out["profiles"].items()))
    print("spaces:\n" + "\n".join(f"  {n}: capabilities {', '.join(d['capabilities']) or '(none)'}; "
                                   f"ground truth: {d['ground_truth'] or '(none)'}" + (f"; {d['notes']}" if d.get("notes") else "")
                                   for n, d in out["spaces"].items()))
    if plugins:
        print("plugins:\n" + "\n".join(f"  {p['kind']} {p['name']}: {p['value']} ({p['distribution']} {p['version']})"
                                        for p in plugins))
    return 0


def cmd_gate(args) -> int:
    """The smoke cases of one method against stored references (0 match, 1 regression, 2 bad input)."""
    from .gate import REFERENCE_SEEDS, results_table, run_gate
    from .plugins import active_specs

    seeds = args.seeds or list(REFERENCE_SEEDS)
    if args.seeds and not args.update:
        raise ValueError("--seeds applies to --update only (the asserted value is always the first seed's)")
    if args.space != "nb201":
        from .spaces import SPACES

        SPACES.get(args.space)
        raise ValueError(f"gate --space {args.space}: the smoke cases and their NB201 ground truth exist for "
                         "nb201 only")
    results = run_gate(args.algo, args.selectors, args.datasets, args.references, update=args.update, seeds=seeds,
                       plugins=active_specs(), progress=not args.json)
    bad = [r for r in results if r.state not in ("match", "updated")]
    if args.json:
        _print({"ok": not bad, "algo": args.algo, "references": str(args.references),
                "cases": [r.to_dict() for r in results]}, True)
    else:
        print(results_table(results))
        print(f"{len(results) - len(bad)} of {len(results)} case(s) "
              f"{'written' if args.update else 'match'}" + (f"; {len(bad)} failed" if bad else ""))
        for r in bad:
            if r.detail:
                print(f"{r.case}: {r.detail}", file=sys.stderr)
    return EXIT_OK if not bad else EXIT_FAILED


def cmd_report(args) -> int:
    """Figures, tables and an index page from the artifacts of every (method, seed): ``--algos ...`` or
    ``--study FILE`` (one report per dataset, in ``OUT/<dataset>``; flags given replace its keys).
    The artifacts are looked up where ``supernetbench study`` puts them (``--store``, ``--runs-root``)."""
    from .pipeline.baselines import resolve_pool
    from .harness.reliance import DEFAULT_PAIRING
    from .report import collect, read_study, write_report
    from .study import StudySpec
    from .study.tasks import using_store

    if args.study is None and args.algos is None:
        raise ValueError("report needs --study FILE or --algos METHOD [METHOD ...]")
    from .spaces import require

    if args.study is None:  # a space without a table is reported from its study's oracle results
        require(_space(args), "table", "a report from --algos (a1/a2, test errors, reliance; a space without a table "
                "is reported from its study: report --study FILE)")
    flags = {"algos": args.algos, "selectors": args.selectors, "datasets": [args.dataset] if args.dataset else None,
             "seeds": args.seeds, "profile": args.profile, "set": _sets(args), "store": args.store,
             "runs_root": args.runs_root, "data_root": args.data_root, "r_u": args.r_u,
             "reliance": True if args.reliance else None, "pool": args.pool, "pairing": args.pairing}
    if args.study is not None:
        spec = read_study(args.study, **flags)
    else:  # the report's own defaults (a study's are all selectors, seed 0, with reliance)
        spec = StudySpec.from_mapping({"selectors": ["prune", "valid"], "seeds": [0, 1, 2], "reliance": False,
                                       **{k: v for k, v in flags.items() if v is not None}})
    from .spaces import get_space

    if not get_space(spec.space).has("table"):  # Table 3 from the study's from-scratch (oracle) results
        from .report.oracle_report import write_oracle_report

        summary = write_oracle_report(spec, args.out, device="cpu" if args.device == "auto" else args.device)
        for ds, info in summary["datasets"].items():
            print((Path(info["dir"]) / "table3_final.md").read_text())
            print(f"wrote {info['dir']}/index.md ({info['records']} trained selections)")
        if summary["missing_oracle_tasks"]:
            print(f"{len(summary['missing_oracle_tasks'])} oracle task(s) have no result yet: run the study first")
        return 0
    if (spec.pool is not None or spec.pairing != DEFAULT_PAIRING) and not spec.reliance:
        raise ValueError("--pool and --pairing choose the combined score, which needs --reliance (or reliance = true "
                         "in the study file)")
    if spec.reliance:
        resolve_pool(spec.algos, spec.pool)  # a bad or empty pool fails before any work
    with using_store(spec):  # the score cache is the store's
        for dataset in spec.datasets:
            out = Path(args.out) / dataset if args.study is not None else Path(args.out)
            inputs = collect(spec.algos, spec.selectors, dataset, spec.seeds, spec.stage_profile(),
                             reliance=spec.reliance, r_u=spec.r_u, device=args.device, runs_root=spec.runs_path,
                             data_root=spec.data_root, compute=not args.artifacts_only, store=spec.store)
            index = write_report(inputs, out, pdf=args.pdf, pool=spec.pool, pairing=spec.pairing)
            print((out / "tables" / "s1xs2_test_error.md").read_text())
            print(f"wrote {index} and {index.with_suffix('.md')}")
    return 0


def _oracle(args, space):
    """The space's ``TrainedOracle`` at ``--profile`` (+ ``--set``); one error for a space that has a
    table (its archs are looked up) or no ground truth at all."""
    import inspect

    from .spaces import MissingCapability, TrainedOracle

    if space.has("table"):
        raise MissingCapability(f"search space {space.name!r} has a table ({space.ground_truth}): its archs are "
                                "looked up, not trained from scratch; use the table (the NB201 test accuracy that "
                                "`select` / `evaluate` print, or `supernetbench metrics`); for a DARTS genotype "
                                "pass --space darts")
    options = {"profile": args.profile, "root": args.store, "data_root": args.data_root, "device": args.device,
               "progress": not args.json}
    accepted = inspect.signature(space.benchmark).parameters
    kwargs = {k: v for k, v in options.items() if k in accepted}
    try:
        oracle = space.benchmark(args.dataset, **kwargs)
    except MissingCapability as e:
        raise MissingCapability(f"search space {space.name!r} has no oracle to train a genotype from scratch ({e})") from None
    if not isinstance(oracle, TrainedOracle):
        raise MissingCapability(f"search space {space.name!r} has no oracle to train a genotype from scratch "
                                f"(its ground truth is a {type(oracle).__name__})")
    if args.set:
        if not hasattr(oracle, "config"):
            raise ValueError(f"--set: the oracle of search space {space.name!r} takes no settings")
        import dataclasses

        from .harness.profiles import parse_overrides

        names = [f.name for f in dataclasses.fields(oracle.config) if f.name != "seed"]
        sets = parse_overrides(args.set, type(oracle.config))
        bad = sorted(set(sets) - set(names))
        if bad:
            raise ValueError(f"--set {', '.join(bad)}: not an oracle setting (use --seed for the seed); valid fields: "
                             f"{', '.join(names)}")
        oracle = type(oracle)(space, dataclasses.replace(oracle.config, **sets),
                              **{k: v for k, v in kwargs.items() if k != "profile"})
    return oracle


def cmd_oracle(args) -> int:
    """Train one genotype from scratch (or read its stored result): the ground truth of a space
    without a table (DARTS: protocol §8). Prints the final-epoch test accuracy, and the best over
    epochs labelled as the test-set selection it is (P20)."""
    from .spaces.darts.oracle_store import BEST_LABEL, FINAL_LABEL

    space = _space(args)
    oracle = _oracle(args, space)
    try:
        arch = space.parse(args.arch)
    except ValueError as e:
        raise ValueError(f"--arch: {e}") from None
    t0 = time.time()
    res, reused = oracle.train_result(arch, args.dataset, args.seed)
    path = oracle.path(arch, args.dataset, args.seed)
    canonical = space.format(oracle.canonical(arch))
    out = {"space": space.name, "arch": canonical, "dataset": args.dataset, "seed": args.seed,
           "profile": oracle.profile or "custom", "key": path.name, "result": str(path / "result.json"),
           "final_test_acc": res.final_test_acc, "best_test_acc": res.best_test_acc, "best_epoch": res.best_epoch,
           "epochs": len(res.test_acc), "test_acc": list(res.test_acc), "params": res.params, "reused": reused,
           "seconds": round(time.time() - t0, 3), "train_seconds": round(sum(res.seconds), 3),
           "labels": {"final_test_acc": FINAL_LABEL, "best_test_acc": BEST_LABEL},
           "ground_truth": oracle.record(args.dataset)}
    if args.json:
        _print(out, True)
        return EXIT_OK
    cfg = oracle.config
    _print({"space": space.name, "arch": canonical + ("" if canonical == args.arch.strip() else
                                                      " (canonical: each node's inputs sorted)"),
            "dataset": args.dataset, "seed": args.seed,
            "profile": f"{oracle.profile or 'custom'} ({cfg.epochs} epochs, C={cfg.C}, {cfg.layers} cells, batch "
                       f"{cfg.batch_size}, {cfg.train_images or 'all'} training / {cfg.test_images or 'all'} test "
                       f"images, {cfg.dtype})",
            FINAL_LABEL: f"{res.final_test_acc:.2f}%",
            BEST_LABEL: f"{res.best_test_acc:.2f}% (epoch {res.best_epoch + 1} of {len(res.test_acc)})",
            "params": f"{res.params:,} (without the auxiliary head)",
            "result": f"{path / 'result.json'} ({'reused' if reused else f'trained in {sum(res.seconds):.1f} s'})"},
           False)
    return EXIT_OK


def add_oracle_command(sub) -> None:
    from .harness.data import DATASETS

    sp = sub.add_parser("oracle", help="train one genotype from scratch (or reuse it): the ground truth of a space "
                        "without a table (DARTS: protocol §8)",
                        description="Train a genotype from scratch with the space's oracle (DARTS spaces: "
                                    "NetworkCIFAR, protocol §8) or read its stored result (content-addressed "
                                    "under <store>/oracle/<key>/; a killed training resumes from its last epoch). "
                                    "Prints the final-epoch test accuracy and, labelled, the best over epochs "
                                    "(a selection on the test set, as the papers reported; optimistic).")
    sp.add_argument("--space", default=None, help="a space without a table: darts, darts-s1 .. darts-s4")
    sp.add_argument("--arch", required=True, help="the genotype: DARTS' Genotype(normal=[...], normal_concat=[2, 3, "
                    "4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5]) string")
    sp.add_argument("--dataset", default="cifar10", choices=DATASETS, help="cifar10 (default) | cifar100")
    sp.add_argument("--seed", type=SEED, default=0, help="training seed (default 0)")
    sp.add_argument("--profile", default="smoke", help="smoke (default: seconds, for tests) | paper (protocol §8: "
                    "600 epochs, C=36, 20 cells; GPU-days)")
    sp.add_argument("--set", action="append", metavar="FIELD=VALUE",
                    help="override an oracle setting, e.g. --set epochs=10 (a custom config: its own key)")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda")
    sp.add_argument("--store", default=None, help="artifact store (default $SUPERNETBENCH_CACHE; results in <store>/oracle)")
    sp.add_argument("--data-root", default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_oracle)


def cmd_demo(args) -> int:
    from .demo import run_demo

    summary = run_demo(Path(args.out), device=args.device, profile=args.profile, algos=args.algos)
    print(f"\nwrote {summary}")
    return 0


def cmd_study(args) -> int:
    """Run a study (or, with --status, show its state); 1 when a task failed or is left blocked."""
    from .study import StudySpec, run_study, status_table, study_status

    flags = {"algos": args.algos, "selectors": args.selectors, "datasets": args.datasets, "seeds": args.seeds,
             "profile": args.profile, "set": args.set, "backend": args.backend, "device": args.device,
             "store": args.store, "runs_root": args.runs_root, "data_root": args.data_root, "workers": args.workers,
             "address": args.address, "retries": args.retries, "r_u": args.r_u,
             "reliance": False if args.no_reliance else None, "space": args.space,
             "oracle": {k: v for k, v in (("profile", args.oracle), ("archs", args.oracle_arch),
                                          ("seeds", args.oracle_seeds)) if v is not None} or None}
    spec = StudySpec.from_toml(args.config, **flags) if args.config else \
        StudySpec.from_mapping({k: v for k, v in flags.items() if v is not None})
    if args.status:
        rep = study_status(spec)
        _print(rep.summary() if args.json else status_table(rep), args.json)
        return EXIT_OK
    rep = run_study(spec, progress=not args.quiet)
    c = rep.counts()
    if args.json:
        _print(rep.summary(), True)
    else:
        print(f"study {spec.study_dir}: {c['done']} done ({len(rep.computed)} run now), {c['failed']} failed, "
              f"{c['blocked']} blocked, {len(rep.skipped)} incompatible pair(s) skipped; {rep.wall_s:.1f} s")
        for t, s in rep.states.items():
            if s == "failed":
                print(f"failed: {t}: {rep.records[t].get('error')} (log {rep.records[t].get('log')})")
    return EXIT_OK if rep.ok else EXIT_FAILED


def execution_args(sp, filled: bool) -> None:
    """Where and how a study's tasks run (``study``, ``casestudy``). ``filled=False`` leaves backend and
    device unset, so a study TOML file's keys apply (flags override the file); ``True`` fills them in."""
    from .study.spec import BACKEND_NAMES

    sp.add_argument("--backend", default="local" if filled else None, choices=BACKEND_NAMES, help="local (default) | ray")
    sp.add_argument("--address", default=None, help="ray: cluster address ('auto' = the running cluster; "
                    "default: start a local instance)")
    sp.add_argument("--workers", type=_int_arg(1, 4096), default=None,
                    help="tasks at a time (default: CPU cores, or GPUs, or the Ray cluster's)")
    sp.add_argument("--device", default="auto" if filled else None, help="auto (default) | cpu | cuda")
    sp.add_argument("--store", default=None, help="artifact store, shared by all workers (default: $SUPERNETBENCH_CACHE, "
                    "the one `pytest suites` uses)")
    sp.add_argument("--runs-root", default=None, help="Stage-1 runs (default: <store>/runs)")
    sp.add_argument("--data-root", default=None)


def add_study_command(sub) -> None:
    from .pipeline.baselines import R_U_MEANINGS
    from .harness.data import DATASETS

    sp = sub.add_parser("study", help="methods x selectors x datasets x seeds as resumable tasks (local pool or Ray)",
                        description="Run every Stage-1 training, scoring, selection and reliance task of a study; "
                                    "finished artifacts (shared with `pytest suites`) are reused. Flags override "
                                    "the optional TOML file.")
    sp.add_argument("config", nargs="?", default=None, help="a study TOML file (keys: algos, selectors, datasets, "
                    "seeds, profile, [set], backend, ...)")
    sp.add_argument("--algos", nargs="+", default=None, help="Stage-1 methods (default: all registered)")
    sp.add_argument("--selectors", nargs="+", default=None, help="Stage-2 selectors (default: all registered)")
    sp.add_argument("--datasets", nargs="+", default=None, choices=DATASETS, help="default: cifar10")
    sp.add_argument("--seeds", nargs="+", type=SEED, default=None, help="default: 0")
    sp.add_argument("--profile", default=None, help="smoke (default) | demo | paper | reference")
    sp.add_argument("--set", action="extend", nargs="+", metavar="FIELD=VALUE", help="override profile fields")
    execution_args(sp, filled=False)
    sp.add_argument("--retries", type=_int_arg(0, 100), default=None, help="reruns of a task whose worker died (default 2)")
    sp.add_argument("--r-u", default=None, choices=list(R_U_MEANINGS), help="which supernet R_U is (P9)")
    sp.add_argument("--space", default=None, help="search space (default nb201; see `supernetbench list`)")
    sp.add_argument("--no-reliance", action="store_true", help="skip the baseline supernets and reliance statistics")
    sp.add_argument("--oracle", default=None, metavar="PROFILE",
                    help="a space without a table (darts): train every Stage-2 selection from scratch with the "
                         "space's oracle at this profile (paper = protocol §8 | smoke); TOML: [oracle] profile = ...")
    sp.add_argument("--oracle-arch", action="append", default=None, metavar="GENOTYPE",
                    help="also train this genotype from scratch on every dataset of the study (repeatable)")
    sp.add_argument("--oracle-seeds", nargs="+", type=SEED, default=None, help="from-scratch training seeds (default 0)")
    sp.add_argument("--status", action="store_true", help="show what is done, running, failed or pending, with an ETA")
    sp.add_argument("--quiet", action="store_true", help="no progress lines")
    sp.add_argument("--json", action="store_true", help="print a machine-readable summary")
    sp.set_defaults(func=cmd_study)


def cmd_casestudy(args) -> int:
    """Table 1 of the second paper (protocol §9): run each space's study, then write the table."""
    from .plugins import active_specs
    from .report.casestudy import table1, write_table1
    from .study import run_study, status_table, study_status
    from .study.casestudy import CaseStudy, collect
    from .harness.profiles import parse_overrides, Profile

    cs = CaseStudy(spaces=tuple(args.spaces), methods=tuple(args.methods), seeds=tuple(args.seeds), profile=args.profile,
                   overrides=tuple(sorted(parse_overrides(args.set, Profile).items())), dataset=args.dataset,
                   oracle_profile=args.oracle, oracle_seeds=tuple(args.oracle_seeds), backend=args.backend,
                   device=args.device, store=args.store, runs_root=args.runs_root, data_root=args.data_root,
                   workers=args.workers, address=args.address, plugins=tuple(active_specs()))
    out = Path(args.out)
    files = cs.write_study_files(out)
    failed = 0
    for space, spec in cs.studies().items():
        if args.status:
            print(f"== {space} ({spec.profile})\n" + status_table(study_status(spec)))
            continue
        if not args.table_only:
            if not (args.quiet or args.json):
                print(f"== {space}: study {spec.study_dir} (profile {spec.profile})", flush=True)
            rep = run_study(spec, progress=not args.quiet)
            failed += rep.counts()["failed"] + rep.counts()["blocked"]
    result = collect(cs)
    paths = write_table1(result, out)
    t = table1(result)
    if args.json:
        _print({"paths": paths, "failed_tasks": failed, "studies": [str(f) for f in files], **result}, True)
    else:
        print(f"\n**{t.title}**\n\n{t.to_markdown()}\n{t.note}\n")
        print("wrote " + ", ".join(paths.values()) + f"; the studies of each row: {out / 'studies'}")
    return EXIT_FAILED if failed else EXIT_OK


def add_casestudy_command(sub) -> None:
    from .harness.data import DATASETS
    from .study.casestudy import PAPER_SPACES

    sp = sub.add_parser("casestudy", help="the second paper's Table 1: perturb on trained vs fixed-alpha supernets, "
                        "per space (protocol §9)",
                        description="Per space and seed, train each method's supernet and its fixed-alpha control "
                                    "(darts -> blank, darts- -> blank-, any other -> fixed-<name>), select with prune "
                                    "and perturb, evaluate every selection (NB201: the table; DARTS spaces: trained "
                                    "from scratch by the oracle), and write OUT/table1.{md,csv,tex,json,png}. Each "
                                    "space is a resumable study (OUT/studies/<space>.toml runs it alone, e.g. on Ray).")
    sp.add_argument("--spaces", nargs="+", default=list(PAPER_SPACES), help="default: nb201 darts-s1 .. darts-s4")
    sp.add_argument("--methods", nargs="+", default=["darts", "darts-"],
                    help="Stage-1 methods that learn alpha (default: darts darts-); each gets its fixed-alpha control")
    sp.add_argument("--seeds", nargs="+", type=SEED, default=[1, 2, 3], help="default: 1 2 3 (protocol §9)")
    sp.add_argument("--profile", default="casestudy",
                    help="casestudy (default: protocol §9; casestudy-darts on the DARTS spaces) | smoke | ... "
                         "(paper runs darts-paper on the DARTS spaces)")
    sp.add_argument("--set", action="extend", nargs="+", metavar="FIELD=VALUE", help="override profile fields")
    sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
    sp.add_argument("--oracle", default=None, metavar="PROFILE",
                    help="from-scratch evaluation of the DARTS-space selections: paper (protocol §8, default) | smoke "
                         "(the default under --profile smoke)")
    sp.add_argument("--oracle-seeds", nargs="+", type=SEED, default=[0], help="from-scratch training seeds (default 0)")
    execution_args(sp, filled=True)
    sp.add_argument("--out", required=True, help="where table1.* and studies/ go")
    sp.add_argument("--status", action="store_true", help="show each space's study state; write the table so far")
    sp.add_argument("--table-only", action="store_true", help="run nothing: write the table from what is stored")
    sp.add_argument("--quiet", action="store_true", help="no progress lines")
    sp.add_argument("--json", action="store_true", help="print the table's data as JSON")
    sp.set_defaults(func=cmd_casestudy)


# ---------------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with the harness's one-line errors (status 2) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INPUT, f"error: {_clip(message, 300)} (see `{self.prog} --help`)\n")


def _int_arg(lo: int | None = None, hi: int | None = None):
    """argparse type: an ASCII integer (``int()`` would also take '１'), optionally within lo..hi."""
    def parse(text: str) -> int:
        if not re.fullmatch(r"[+-]?[0-9]{1,30}", text.strip()):
            raise argparse.ArgumentTypeError(f"expected an integer, got {_clip(repr(text), 40)}")
        v = int(text)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, got {v}")
        return v

    return parse


SEED = _int_arg(0, 2**32 - 1)  # numpy's seed range


def gt_split_arg(sp) -> None:
    from .harness.profiles import GT_SPLITS

    sp.add_argument("--gt-split", default=None, choices=list(GT_SPLITS),
                    help="NB201 test split of the ground truth: the table's column (default), x-test, ori-test, "
                         "or papers (P8); the same as --set gt_split=...")


def build_parser() -> argparse.ArgumentParser:
    from .pipeline.baselines import R_U_MEANINGS
    from .harness.data import DATASETS
    from .harness.profiles import GT_SPLITS, PRECISIONS, SCORING_ENGINES
    from .harness.reliance import DEFAULT_PAIRING, PAIRINGS

    p = _Parser(prog="supernetbench", description=__doc__, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plugin", action="append", default=[], metavar="[NAME=]MODULE:CLASS",
                   help="load a Stage-1 method, selector or search space that is not installed (repeatable; "
                        "NAME defaults to the class's `name`); may be given anywhere on the command line")
    sub = p.add_subparsers(dest="command", required=True)

    def run_args(sp, selectors: bool = False, algo_required: bool = True):
        sp.add_argument("--algo", required=algo_required, help="Stage-1 method (see `supernetbench list`)")
        sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
        sp.add_argument("--seed", type=SEED, default=0)
        sp.add_argument("--profile", default="smoke", help="smoke | demo | signal | paper | reference")
        sp.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a profile field, e.g. --set epochs=3")
        sp.add_argument("--opt", action="append", metavar="OPTION=VALUE", help="method option, e.g. --opt order=2")
        gt_split_arg(sp)
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda")
        sp.add_argument("--runs-root", default=None, help="where run directories go (default $SUPERNETBENCH_RUNS, "
                        "else <$SUPERNETBENCH_CACHE>/runs, shared with study and the suites)")
        sp.add_argument("--data-root", default=None, help="dataset directory (default: ../shared/data or $SUPERNETBENCH_DATA)")
        sp.add_argument("--space", default=None, help="search space (default nb201; see `supernetbench list`)")
        sp.add_argument("--json", action="store_true")
        if selectors:
            sp.add_argument("--selectors", nargs="*", default=None,
                            help="Stage-2 selectors (see `supernetbench list`); one named here must suit --algo")
            sp.add_argument("--scores-out", default=None, help="save the 15,625 shared-weight scores (.npy)")
            sp.add_argument("--workers", type=_int_arg(1, 1024), default=None,
                            help="CPU processes for full-space scoring (default: all cores; same numbers)")
            sp.add_argument("--engine", default="fast", choices=list(SCORING_ENGINES),
                            help="full-space scoring engine, all exact (default fast: batched on CUDA, "
                                 "channels-last prefix in worker processes on CPU)")
            sp.add_argument("--precision", default="exact", choices=list(PRECISIONS),
                            help="exact (default) or bf16 (bf16 hardware only; its agreement with exact "
                                 "is measured on 512 archs and reported)")
            sp.add_argument("--adaptive", action="store_true",
                            help="successive halving over images, at a fraction of the cost: the classes that "
                                 "survive every round get their exact full-image score, but which survive is "
                                 "decided on fewer images, so a1/a2 and the rankings are ESTIMATES of the exact "
                                 "ones (an arch eliminated early can belong to the true top groups); run "
                                 "without --adaptive for exact values")

    sp = sub.add_parser("train", help="Stage 1: train a supernet (resumes an interrupted run)")
    run_args(sp)
    sp.set_defaults(func=cmd_train)
    for name, helptext, default_sel in (
        ("score", "train if needed, score all 15,625 archs with the shared weights, Stage-1 metrics", []),
        ("select", "score, then Stage-2 selection with --selectors", ["prune", "valid"]),
        ("evaluate", "train + score + metrics + selection (same as select)", ["prune", "valid"]),
    ):
        sp = sub.add_parser(name, help=helptext)
        run_args(sp, selectors=True, algo_required=name != "select")
        sp.set_defaults(func=cmd_evaluate, default_selectors=default_sel)

    sp = sub.add_parser("metrics", help="a1/a2 curves, baselines, correlations for per-arch arrays")
    sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
    sp.add_argument("--scores", required=True, help=".npy, length 15,625, NB201 index order (higher = better)")
    sp.add_argument("--probs", default=None, help=".npy architecture probabilities (default uniform)")
    sp.add_argument("--plot", default=None, help="write the a1/a2 curves to this PNG/PDF")
    sp.add_argument("--nb201", default=None, help="path of the NB201 ground-truth CSV")
    sp.add_argument("--gt-split", default=None, choices=list(GT_SPLITS),
                    help="NB201 test split of the ground truth (default: the table's column; see README)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_metrics)

    sp = sub.add_parser("space", help="search-space inspection")
    ssub = sp.add_subparsers(dest="space_cmd", required=True)
    si = ssub.add_parser("info", help="nb201: counts of archs, isomorphism / functional classes, zero-output "
                         "archs; darts: each cell type's edges with their candidate ops")
    si.add_argument("--space", default=None, help="search space (default nb201; see `supernetbench list`)")
    si.add_argument("--json", action="store_true")
    si.set_defaults(func=cmd_space_info)

    sp = sub.add_parser("model-info", help="params and FLOPs of the stand-alone network of an arch")
    sp.add_argument("--arch", required=True, help="an arch string of the space (DARTS: a Genotype(...) string)")
    sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
    sp.add_argument("--C", type=_int_arg(), default=None, help="initial channels (nb201: 1..128, default 16; "
                    "darts: even, 2..512, default 36)")
    sp.add_argument("--N", type=_int_arg(), default=None, help="nb201: cells per stage (1..16, default 5)")
    sp.add_argument("--layers", type=_int_arg(), default=None, help="darts: cells (3..64, default 20)")
    sp.add_argument("--space", default=None, help="search space (default nb201; see `supernetbench list`)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_model_info)

    sp = sub.add_parser("data", help="data inspection")
    dsub = sp.add_subparsers(dest="data_cmd", required=True)
    di = dsub.add_parser("info", help="which datasets were found where")
    di.add_argument("--data-root", default=None)
    di.add_argument("--json", action="store_true", help="(the output is JSON either way)")
    di.set_defaults(func=cmd_data_info)

    sp = sub.add_parser("nb201-convert", help="convert official NATS-Bench (tss) or NAS-Bench-201 (.pth) files to the "
                        "harness table (x-test and ori-test columns for CIFAR-100 / ImageNet16-120)")
    sp.add_argument("--source", required=True, help="NATS-tss directory or .pickle.pbz2 file, or a NAS-Bench-201 .pth")
    sp.add_argument("--out", required=True, help="output CSV (a .sha256 sidecar is written beside it)")
    sp.add_argument("--trust-pickle", action="store_true", help="allow unpickling (runs code from the file)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_convert)

    sp = sub.add_parser("list", help="registered algorithms, selectors and profiles")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("report", help="figures, S1 x S2 tables and an HTML/Markdown index from the artifacts "
                                       "of several methods and seeds (computes what is missing)")
    sp.add_argument("--study", default=None, metavar="FILE",
                    help="the TOML file of `supernetbench study` (algos, selectors, datasets, seeds, profile, [set], "
                         "reliance, store, ...); flags given replace its keys (--set adds to its [set] table); one "
                         "report per dataset in OUT/<dataset>")
    sp.add_argument("--algos", nargs="+", default=None)
    sp.add_argument("--selectors", nargs="+", default=None, help="default: prune valid (with --study: the study's)")
    sp.add_argument("--dataset", default=None, choices=DATASETS, help="default: cifar10 (with --study: each of the study's)")
    sp.add_argument("--seeds", nargs="+", type=SEED, default=None, help="default: 0 1 2 (with --study: the study's)")
    sp.add_argument("--profile", default=None, help="default: smoke")
    sp.add_argument("--set", action="extend", nargs="+", metavar="FIELD=VALUE", help="override profile fields")
    sp.add_argument("--reliance", action="store_true",
                    help="also the reliance statistics and combined score (trains the baseline supernets)")
    sp.add_argument("--r-u", default=None, choices=list(R_U_MEANINGS),
                    help="with --reliance: which supernet R_U is (see `reliance`; default rsps-biased)")
    gt_split_arg(sp)
    sp.add_argument("--pool", nargs="+", default=None, metavar="METHOD",
                    help="with --reliance: Stage-1 methods the combined score ranks (default: those that learn alpha)")
    sp.add_argument("--pairing", default=None, choices=list(PAIRINGS),
                    help=f"with --reliance: the Stage-2 rank pairing of App. A.4 (default {DEFAULT_PAIRING})")
    sp.add_argument("--store", default=None, help="artifact store (default: $SUPERNETBENCH_CACHE, as `study`)")
    sp.add_argument("--pdf", action="store_true", help="also write each figure as PDF")
    sp.add_argument("--artifacts-only", action="store_true",
                    help="train, score and select nothing: a missing artifact is an error naming the study that makes it")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--runs-root", default=None, help="Stage-1 runs (default: <store>/runs, as `study`)")
    sp.add_argument("--data-root", default=None)
    sp.add_argument("--space", default=None, help="search space (default nb201; a report needs one with a table)")
    sp.add_argument("--out", default="report-out")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("demo", help="the embedded default: small DARTS supernet on real CIFAR-10, report")
    sp.add_argument("--out", default="demo-out")
    sp.add_argument("--profile", default="demo")
    sp.add_argument("--algos", nargs="+", default=["darts"])
    sp.add_argument("--device", default="auto")
    sp.set_defaults(func=cmd_demo)
    sp = sub.add_parser("gate", help="a method's smoke suite cases against stored float64 references "
                                     "(exit 0 match, 1 regression, 2 bad input)")
    sp.add_argument("--algo", required=True, help="Stage-1 method (built-in or plugin)")
    sp.add_argument("--selectors", nargs="+", default=None, help="default: every selector compatible with --algo")
    sp.add_argument("--datasets", nargs="+", default=["cifar10"], choices=DATASETS)
    sp.add_argument("--space", default="nb201", help="search space (the cases exist for nb201)")
    sp.add_argument("--references", required=True, metavar="DIR", help="one <algo>-<selector>-<dataset>.json per case")
    sp.add_argument("--update", action="store_true", help="(re)write the references from seeds 0-4 (seed 0 asserted)")
    sp.add_argument("--seeds", nargs="+", type=SEED, default=None,
                    help="with --update: the seeds whose spread is stored (default 0 1 2 3 4; the first is asserted)")
    sp.add_argument("--json", action="store_true", help="machine-readable result (for CI)")
    sp.set_defaults(func=cmd_gate)
    add_stage2_commands(sub)
    add_study_command(sub)
    add_casestudy_command(sub)
    add_oracle_command(sub)
    add_trajectory_command(sub)
    return p


# ------------------------------------------------------------------- Stage 2: select --run, proxy, reliance
def cmd_select(args) -> int:
    """``select --run RUN --selector NAME``: Stage 2 on a finished run; without ``--run``, as ``evaluate``."""
    from dataclasses import asdict

    from .pipeline.evaluate import select_run

    if args.run is None:
        if args.algo is None:
            raise ValueError("select needs --run RUN_DIR (a finished Stage-1 run) or --algo METHOD")
        args.selectors = args.selector or args.selectors
        return cmd_evaluate(args)
    if not args.selector:
        raise ValueError("select --run needs --selector NAME [NAME ...] (see `supernetbench list`)")
    if args.gt_split:
        raise ValueError("select --run reads the ground-truth split of the run's profile; drop --gt-split, or train "
                         "the run with it (select --algo ... --gt-split ...)")
    _check_run_space(args, args.run)
    timings: dict[str, float] = {}
    sels = select_run(args.run, args.selector, seed=args.selection_seed, distribution=args.distribution,
                      device=args.device, data_root=args.data_root, timings=timings)
    if args.json:
        from .oneshot.train import SearchRun

        run = SearchRun.load(Path(args.run))
        _print({"run": args.run, "distribution": args.distribution, "seconds": timings,
                "selections": {k: asdict(v) for k, v in sels.items()},
                "ground_truth": run.space.benchmark(run.dataset).record(run.dataset, run.profile.gt_split)}, True)
        return 0
    for k, v in sels.items():
        acc = f" -> NB201 test acc {v.test_acc:.2f}%" if v.test_acc is not None else " (the space has no table)"
        print(f"{k}: {v.arch}{acc} ({timings[k]:.1f} s)")
    return 0


def cmd_proxy(args) -> int:
    from .pipeline.evaluate import load_run, proxy_scores, stage1_metrics
    from .harness.store import atomic_save_npy

    _check_output(args.out, "--out")  # before any work: a missing directory is an error, never created
    _check_run_space(args, args.run)
    idx, scores, info = proxy_scores(args.run, args.measure, args.candidates, seed=args.seed,
                                     distribution=args.distribution, device=args.device, data_root=args.data_root,
                                     progress=not args.json)
    nan = np.isnan(scores)
    if nan.any() and not args.keep_nan:  # NaN never wins: ranked below every finite score
        fill = (np.nanmin(scores) - 1.0) if (~nan).any() else 0.0
        scores = np.where(nan, fill, scores)
        info["nan_filled_with"] = float(fill)
    atomic_save_npy(Path(args.out), scores)
    info["out"] = args.out
    if args.candidates == "sample":
        atomic_save_npy(Path(args.out).with_suffix(".indices.npy"), idx)
        info["indices_out"] = str(Path(args.out).with_suffix(".indices.npy"))
        info["indices"] = idx.tolist()
    elif np.isfinite(scores).all():  # the proxy's ranking of the whole space against the benchmark

        run_ = load_run(args.run)
        gt = run_.space.benchmark()  # --candidates all: the space has a table
        split = run_.profile.gt_split
        info["ground_truth"] = gt.record(info["dataset"], split)
        m = stage1_metrics(gt.accuracy(info["dataset"], split, "stage1"), scores, np.full(len(scores), 1.0 / len(scores)))
        info.update(kendall=m["kendall"], spearman=m["spearman"], a1_top3=m["a1"][:3],
                    precision_top5pct=m["precision_top5pct"])
    _print(info if args.json else {k: v for k, v in info.items() if k != "indices"}, args.json)
    return 0


def cmd_reliance(args) -> int:
    from .pipeline.baselines import (R_U_MEANINGS, combined_table, describe_combined, evaluate_baselines,
                                    reliance_selectors, resolve_pool)
    from .oneshot.train import RunSpec
    from .pipeline.evaluate import evaluate
    from .harness.profiles import Profile, get_profile, parse_overrides
    from .harness.reliance import stage1_inputs
    from .report import markdown_table

    profile = get_profile(args.profile, parse_overrides(_sets(args), Profile))
    gt = _space(args).benchmark(args.dataset)  # reliance (N_I, R_I) needs a table: nb201
    selectors = args.selectors or reliance_selectors()
    algos = args.algos or args.pool
    if algos:
        resolve_pool(algos, args.pool)  # a bad --pool fails before any training
    res = evaluate_baselines(args.dataset, args.seeds, profile, selectors, r_u=args.r_u, device=args.device,
                             runs_root=args.runs_root, data_root=args.data_root, gt=gt, progress=not args.json)
    out = res.summary()
    out["ground_truth"] = gt.record(args.dataset, profile.gt_split)
    if algos:
        stage1, observed = {}, {}
        for algo in algos:
            evs = [evaluate(RunSpec(algo, args.dataset, s, profile, (), args.data_root), selectors, device=args.device,
                            runs_root=args.runs_root, progress=not args.json, gt=gt) for s in args.seeds]
            stage1[algo] = stage1_inputs([e.metrics for e in evs])
            for sel in selectors:
                observed[(algo, sel)] = float(np.mean([e.selections[sel].test_acc for e in evs]))
        out["combined"] = combined_table(stage1, res, observed, pairing=args.pairing, pool=args.pool)
    if args.json:
        _print(out, True)
        return 0
    stats = res.statistics
    names = ["N_I-N_U", "R_I-R_U", "R_U-N_U", "R_I-N_I"]
    print(f"Stage-2 reliance on {args.dataset}, profile {profile.name}, seeds {list(args.seeds)}: gain in the "
          f"selected arch's test accuracy (pp), mean ± std over seeds\nR_U = {R_U_MEANINGS[args.r_u]}\n")
    print(markdown_table([{"selector": s, **{n: f"{st[n].mean:.2f} ± {st[n].std:.2f}" for n in names}}
                          for s, st in stats.items()], ["selector", *names]))
    if "combined" in out:
        print(f"Combined score (App. A.4; lower = better): pairs ranked. {describe_combined(out['combined'])}\n")
        print(markdown_table(out["combined"]["ranking"], ["stage1", "stage2", "score", "r_alpha1", "r_alpha2",
                                                          "r_beta1", "r_beta2", "observed_test_acc"]))
    return 0


def add_stage2_commands(sub) -> None:
    """``select --run`` options, ``proxy`` and ``reliance``."""
    from .harness.data import DATASETS
    from .pipeline.baselines import R_U_MEANINGS
    from .harness.reliance import DEFAULT_PAIRING, PAIRINGS
    from .selectors import DISTRIBUTIONS

    sp = sub.choices["select"]
    sp.add_argument("--run", default=None, help="a finished Stage-1 run directory: Stage 2 only, no full-space scoring")
    sp.add_argument("--selector", nargs="+", default=None, metavar="NAME", help="Stage-2 selector(s) for --run")
    sp.add_argument("--selection-seed", type=SEED, default=None, help="with --run: selection seed (default: the run's)")
    sp.add_argument("--distribution", default="run", choices=list(DISTRIBUTIONS),
                    help="with --run: candidate distribution (baselines: uniform, rank-linear)")
    sp.set_defaults(func=cmd_select)

    sp = sub.add_parser("proxy", help="a sampling selector's per-candidate scores (all 15,625 archs or the shared sample)")
    sp.add_argument("--run", required=True, help="a finished Stage-1 run directory")
    sp.add_argument("--measure", required=True, help="synflow | jacob_cov | valid")
    sp.add_argument("--space", default=None, help="the run's search space (checked against the run; default: the run's)")
    sp.add_argument("--candidates", default="sample", choices=["all", "sample"])
    sp.add_argument("--out", required=True, help=".npy of the scores (all: NB201 index order; sample: draw order)")
    sp.add_argument("--keep-nan", action="store_true", help="keep NaN scores (default: ranked last, min - 1)")
    sp.add_argument("--seed", type=SEED, default=None, help="selection seed for --candidates sample (default: the run's)")
    sp.add_argument("--distribution", default="run", choices=list(DISTRIBUTIONS))
    sp.add_argument("--device", default="auto")
    sp.add_argument("--data-root", default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_proxy)

    sp = sub.add_parser("reliance", help="Stage-2 reliance statistics on the four baseline supernets (+ combined score)")
    sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
    sp.add_argument("--seeds", nargs="+", type=SEED, default=[0, 1, 2])
    sp.add_argument("--profile", default="smoke")
    sp.add_argument("--set", action="append", metavar="FIELD=VALUE")
    sp.add_argument("--selectors", nargs="+", default=None, help="default: every selector that needs no arch weights")
    sp.add_argument("--r-u", default="rsps-biased", choices=list(R_U_MEANINGS), help="which supernet R_U is (P9)")
    gt_split_arg(sp)
    sp.add_argument("--pool", nargs="+", default=None, metavar="METHOD",
                    help="Stage-1 methods the combined score ranks (default: those of --algos that learn alpha, "
                         "so no rsps, rsps-biased, untrained, blank)")
    sp.add_argument("--pairing", default=DEFAULT_PAIRING, choices=list(PAIRINGS),
                    help="which reliance statistics give the Stage-2 ranks of App. A.4 (see harness/reliance.py)")
    sp.add_argument("--algos", nargs="+", default=None,
                    help="also evaluate these Stage-1 methods (full-space scoring) and rank S1 x S2 pairs (App. A.4)")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--runs-root", default=None)
    sp.add_argument("--data-root", default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_reliance)


def cmd_trajectory(args) -> int:
    """``trajectory --run RUN``: ranking quality of every kept checkpoint (profile field checkpoint_every)."""
    from .pipeline.trajectory import ranking_trajectory

    if args.plot:
        _check_output(args.plot, "--plot")
        if not args.plot.lower().endswith((".png", ".pdf")):
            raise ValueError(f"--plot must end in .png or .pdf, got {args.plot!r}")
    trajs = [ranking_trajectory(r, archs=args.archs, sample_seed=args.sample_seed, epochs=args.epochs,
                                device=args.device, workers=args.workers, progress=not args.json,
                                data_root=args.data_root)
             for r in args.run]
    if args.plot:
        from .report.diagnostic_figures import plot_trajectory

        plot_trajectory(trajs, args.plot)
    if args.json:
        _print(trajs if len(trajs) > 1 else trajs[0], True)
        return 0
    for t in trajs:
        print(f"{t['run']} ({t['archs']} archs, {t['sample']}); a1 level-0 random baseline {t['a1_random_level0']:.4f}")
        print("epoch  kendall  spearman  prec@5%  a1[0]   rho(params)  tau-within-size  param-free top5% (truth)")
        for p in t["points"]:
            d = p["diagnostics"]
            print(f"{p['epoch']:5d}  {p['kendall']:+.3f}   {p['spearman']:+.3f}    {p['precision_top5pct']:.3f}   "
                  f"{p['a1_level0']:.3f}   {d['feature_spearman']['params']['score']:+.3f}       "
                  f"{d['tau_within_size']['tau']:+.3f}           {d['param_free_share']['top5pct']['score']:.3f} "
                  f"({d['param_free_share']['top5pct']['truth']:.3f})")
    return 0


def add_trajectory_command(sub) -> None:
    sp = sub.add_parser("trajectory", help="ranking quality over training: score every kept checkpoint of a run "
                                           "(train with --set checkpoint_every=K or --profile signal)")
    sp.add_argument("--run", nargs="+", required=True, help="run directory(ies) with kept checkpoints")
    sp.add_argument("--archs", type=_int_arg(50, 15625), default=None,
                    help="score a seeded uniform sample of N archs (default: all 15,625, one evaluation per "
                         "functional class)")
    sp.add_argument("--sample-seed", type=SEED, default=0, help="seed of the --archs sample (default 0)")
    sp.add_argument("--epochs", nargs="+", type=_int_arg(0), default=None, help="only these kept epochs (default: all)")
    sp.add_argument("--plot", default=None, help="write the figure here (.png or .pdf)")
    sp.add_argument("--workers", type=_int_arg(1, 1024), default=None, help="CPU scoring processes (default: all cores)")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--data-root", default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_trajectory)


# ------------------------------------------------------------------------------------------ errors
_WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.ENOMEM}


def _describe(e: BaseException) -> tuple[int, str]:
    """(exit status, one-line message) for an exception that ended a command (see ``EPILOG``)."""
    from .spaces.nb201.benchmark import BenchmarkTableError
    from .harness.data import DataIntegrityError, DataNotFoundError

    if isinstance(e, DataNotFoundError):  # the list of searched paths is the point: kept on its lines
        return EXIT_INPUT, str(e)
    if isinstance(e, OSError) and e.errno is not None:
        where = _clip(e.filename or "a file", 200)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            fix = "free some space and rerun the same command: finished epochs and scoring blocks are kept"
        elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            fix = ("use a directory you may write: --runs-root or $SUPERNETBENCH_RUNS for runs, "
                   "$SUPERNETBENCH_CACHE for the cache, --out/--plot for outputs")
        elif e.errno == errno.ENOTDIR:
            blocker = next((q for q in Path(str(e.filename)).parents if q.exists() and not q.is_dir()), None)
            fix = f"{_clip(blocker)} is a file, not a directory" if blocker else "a part of the path is not a directory"
        else:
            fix = ""
        status = EXIT_FAILED if e.errno in _WRITE_FAILURES else EXIT_INPUT
        return status, f"{where}: {e.strerror}" + (f"; {fix}" if fix else "")
    if isinstance(e, (ValueError, LookupError, OSError, DataIntegrityError, BenchmarkTableError)):
        # (an OSError without errno is the harness's own: a file not found, the missing trust flag)
        return EXIT_INPUT, _clip(e.args[0] if isinstance(e, KeyError) and e.args else e, 1000)
    if isinstance(e, MemoryError):
        return EXIT_FAILED, "out of memory; lower C, N, batch_size or score_batch_size (--set field=value)"
    if isinstance(e, (RuntimeError, ImportError)):
        return EXIT_FAILED, _clip(e, 1000)
    return EXIT_FAILED, (f"internal error {type(e).__name__}: {_clip(e, 300)} (please report it; "
                         "SUPERNETBENCH_DEBUG=1 shows the traceback)")


def _split_plugins(argv: list[str]) -> tuple[list[str], list[str]]:
    """``--plugin SPEC`` / ``--plugin=SPEC`` taken from anywhere in ``argv`` (a global flag)."""
    rest, specs, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--plugin" and i + 1 < len(argv):
            specs.append(argv[i + 1])
            i += 2
            continue
        if a.startswith("--plugin="):
            specs.append(a.split("=", 1)[1])
        else:
            rest.append(a)
        i += 1
    return rest, specs


def main(argv: list[str] | None = None) -> int:
    argv, specs = _split_plugins(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    t0 = time.time()
    from .harness.lifecycle import sigterm_as_interrupt

    try:
        from .plugins import load_plugins

        load_plugins(specs)
        with sigterm_as_interrupt():  # SIGTERM (timeout, kill, a scheduler) ends it as Ctrl-C does
            rc = args.func(args)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every failure ends in one line and a documented status
        if os.environ.get("SUPERNETBENCH_DEBUG", "") not in ("", "0"):
            raise
        status, msg = _describe(e)
        print(f"error: {msg}", file=sys.stderr)
        return status
    if not getattr(args, "json", False) and args.command in ("train", "evaluate", "score", "select", "demo", "report",
                                                              "proxy", "reliance", "oracle"):
        print(f"({time.time() - t0:.1f} s)", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
