"""``supernetbench`` command line: train, score, select, metrics, demo and inspection commands."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            print(f"{k}: {v}")
    else:
        print(obj)


def _spec(args):
    from .harness.engine import RunSpec
    from .harness.profiles import Profile, get_profile, parse_overrides

    profile = get_profile(args.profile, parse_overrides(args.set, Profile))
    opts = parse_overrides(args.opt)
    return RunSpec(args.algo, args.dataset, args.seed, profile, tuple(sorted(opts.items())), args.data_root)


# ---------------------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    from .harness.engine import train_supernet

    run = train_supernet(_spec(args), runs_root=args.runs_root, device=args.device, progress=not args.json)
    last = run.log[-1] if run.log else {}
    _print({"run_dir": str(run.path), "algo": run.algo, "dataset": run.dataset, "seed": run.seed,
            "data": run.config["data"], "epochs": len(run.log), "final_train_acc": last.get("train_acc"),
            "final_valid_acc": last.get("valid_acc"), "seconds_per_epoch":
            float(np.mean([e["seconds"] for e in run.log])) if run.log else 0.0}, args.json)
    return 0


def cmd_evaluate(args) -> int:
    """score + metrics + selection for a spec (trains first when needed)."""
    from .harness.pipeline import evaluate

    ev = evaluate(_spec(args), args.selectors, device=args.device, runs_root=args.runs_root, progress=not args.json,
                  workers=args.workers)
    if args.scores_out:
        np.save(args.scores_out, ev.scores)
    if args.json:
        _print(ev.summary(), True)
        return 0
    m = ev.metrics
    _print({
        "run": str(ev.run.path), "data": ev.run.config.get("data"),
        "scoring": ev.score_config,
        "a1 (levels 0-2)": [round(v, 4) for v in m["a1"][:3]],
        "a2 (levels 0-2)": [round(v, 4) for v in m["a2"][:3]],
        "random baseline": [round(v, 4) for v in m["baseline"][:3]],
        "Kendall / Spearman": (round(m["kendall"], 4), round(m["spearman"], 4)),
        **{f"{k} selection": f"{v.arch} -> NB201 test acc {v.test_acc:.2f}%" for k, v in ev.selections.items()},
    }, False)
    return 0


def cmd_metrics(args) -> int:
    from .harness.benchmark import load_ground_truth
    from .harness.pipeline import stage1_metrics

    gt = load_ground_truth(args.nb201)
    acc = gt.test_acc(args.dataset)
    scores = _load_array(args.scores, "scores", len(acc))
    probs = _load_array(args.probs, "probs", len(acc)) if args.probs else np.full(len(acc), 1.0 / len(acc))
    out = stage1_metrics(acc, scores, probs)
    out["probs"] = args.probs or "uniform (no --probs given)"
    if args.plot:
        from .harness.report import plot_curves

        plot_curves({"input": {"a1": np.array(out["a1"]), "a2": np.array(out["a2"])}},
                    np.array(out["thresholds"]), np.array(out["baseline"]), args.plot, title=args.dataset)
        out["plot"] = args.plot
    _print(out, args.json)
    return 0


def _load_array(path: str, what: str, n: int) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read --{what} {path}: {e}; expected a .npy float array of length {n}")
    if a.ndim != 1 or len(a) != n:
        raise SystemExit(f"error: --{what} {path} has shape {a.shape}; expected ({n},) in NB201 index order")
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        raise SystemExit(f"error: --{what} {path} must be finite numbers (dtype {a.dtype})")
    return a.astype(np.float64)


def cmd_space_info(args) -> int:
    from .harness.space import get_space

    _print(get_space(args.space).info(), args.json)
    return 0


def cmd_model_info(args) -> int:
    from .harness.network import model_info

    _print(model_info(args.arch, args.dataset, C=args.C, N=args.N), args.json)
    return 0


def cmd_data_info(args) -> int:
    from .harness.data import summarise_data_sources

    _print(summarise_data_sources(args.data_root), True)
    return 0


def cmd_convert(args) -> int:
    from .harness.benchmark import convert_official, load_ground_truth

    out = convert_official(args.source, args.out, trust_pickle=args.trust_pickle)
    gt = load_ground_truth(out)
    _print({"table": str(out), "archs": len(gt)}, args.json)
    return 0


def cmd_list(args) -> int:
    from .algorithms import ALGORITHMS
    from .harness.profiles import PROFILES
    from .selectors import SELECTORS

    _print({"algorithms": ALGORITHMS.names(), "selectors": SELECTORS.names(), "profiles": list(PROFILES)}, args.json)
    return 0


def cmd_report(args) -> int:
    from .harness.profiles import Profile, get_profile, parse_overrides
    from .harness.tables import multi_seed_report

    profile = get_profile(args.profile, parse_overrides(args.set, Profile))
    path = multi_seed_report(args.algos, args.selectors, args.dataset, args.seeds, profile, Path(args.out),
                             device=args.device, runs_root=args.runs_root, data_root=args.data_root)
    print(path.read_text())
    return 0


def cmd_demo(args) -> int:
    from .harness.demo import run_demo

    summary = run_demo(Path(args.out), device=args.device, profile=args.profile, algos=args.algos)
    print(f"\nwrote {summary}")
    return 0


# ---------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .harness.benchmark import DATASETS

    p = argparse.ArgumentParser(prog="supernetbench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def run_args(sp, selectors: bool = False):
        sp.add_argument("--algo", required=True, help="Stage-1 method (see `supernetbench list`)")
        sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--profile", default="smoke", help="smoke | demo | paper | reference")
        sp.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a profile field, e.g. --set epochs=3")
        sp.add_argument("--opt", action="append", metavar="OPTION=VALUE", help="method option, e.g. --opt order=2")
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda")
        sp.add_argument("--runs-root", default=None, help="where run directories go (default ./runs or $SUPERNETBENCH_RUNS)")
        sp.add_argument("--data-root", default=None, help="dataset directory (default: ../shared/data or $SUPERNETBENCH_DATA)")
        sp.add_argument("--json", action="store_true")
        if selectors:
            sp.add_argument("--selectors", nargs="*", help="Stage-2 selectors (see `supernetbench list`)")
            sp.add_argument("--scores-out", default=None, help="save the 15,625 shared-weight scores (.npy)")
            sp.add_argument("--workers", type=int, default=None,
                            help="CPU processes for full-space scoring (default: all cores; same numbers)")

    sp = sub.add_parser("train", help="Stage 1: train a supernet (resumes an interrupted run)")
    run_args(sp)
    sp.set_defaults(func=cmd_train)
    for name, helptext, default_sel in (
        ("score", "train if needed, score all 15,625 archs with the shared weights, Stage-1 metrics", []),
        ("select", "score, then Stage-2 selection with --selectors", ["prune", "valid"]),
        ("evaluate", "train + score + metrics + selection (same as select)", ["prune", "valid"]),
    ):
        sp = sub.add_parser(name, help=helptext)
        run_args(sp, selectors=True)
        sp.set_defaults(func=cmd_evaluate, selectors=default_sel)

    sp = sub.add_parser("metrics", help="a1/a2 curves, baselines, correlations for per-arch arrays")
    sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
    sp.add_argument("--scores", required=True, help=".npy, length 15,625, NB201 index order (higher = better)")
    sp.add_argument("--probs", default=None, help=".npy architecture probabilities (default uniform)")
    sp.add_argument("--plot", default=None, help="write the a1/a2 curves to this PNG/PDF")
    sp.add_argument("--nb201", default=None, help="path of the NB201 ground-truth CSV")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_metrics)

    sp = sub.add_parser("space", help="search-space inspection")
    ssub = sp.add_subparsers(dest="space_cmd", required=True)
    si = ssub.add_parser("info", help="counts: archs, isomorphism / functional classes, zero-output archs")
    si.add_argument("--space", default="nb201")
    si.add_argument("--json", action="store_true")
    si.set_defaults(func=cmd_space_info)

    sp = sub.add_parser("model-info", help="params and FLOPs of the standalone NB201 network")
    sp.add_argument("--arch", required=True)
    sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
    sp.add_argument("--C", type=int, default=16)
    sp.add_argument("--N", type=int, default=5)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_model_info)

    sp = sub.add_parser("data", help="data inspection")
    dsub = sp.add_subparsers(dest="data_cmd", required=True)
    di = dsub.add_parser("info", help="which datasets were found where")
    di.add_argument("--data-root", default=None)
    di.set_defaults(func=cmd_data_info)

    sp = sub.add_parser("nb201-convert", help="convert official NATS-Bench (tss) files to the harness table")
    sp.add_argument("--source", required=True, help="NATS-tss file or directory")
    sp.add_argument("--out", required=True, help="output CSV (a .sha256 sidecar is written beside it)")
    sp.add_argument("--trust-pickle", action="store_true", help="allow unpickling (runs code from the file)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_convert)

    sp = sub.add_parser("list", help="registered algorithms, selectors and profiles")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("report", help="S1 x S2 table and a1/a2 curves over several seeds")
    sp.add_argument("--algos", nargs="+", required=True)
    sp.add_argument("--selectors", nargs="+", default=["prune", "valid"])
    sp.add_argument("--dataset", default="cifar10", choices=DATASETS)
    sp.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    sp.add_argument("--profile", default="smoke")
    sp.add_argument("--set", action="append", metavar="FIELD=VALUE")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--runs-root", default=None)
    sp.add_argument("--data-root", default=None)
    sp.add_argument("--out", default="report-out")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("demo", help="the embedded default: small DARTS supernet on real CIFAR-10, report")
    sp.add_argument("--out", default="demo-out")
    sp.add_argument("--profile", default="demo")
    sp.add_argument("--algos", nargs="+", default=["darts"])
    sp.add_argument("--device", default="auto")
    sp.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.time()
    try:
        rc = args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError, KeyError, PermissionError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    if not getattr(args, "json", False) and args.command in ("train", "evaluate", "score", "select", "demo", "report"):
        print(f"({time.time() - t0:.1f} s)", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
