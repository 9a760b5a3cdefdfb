"""Rescore kept checkpoints on more scoring images (score_images is a LATER field: the trained runs
and their keys are unchanged). Same code path as `supernetbench trajectory` (ranking_trajectory, 2,000
archs, default_rng(0)), with the run's profile's score_images = score_batch_size = N (one batch-statistics
BN batch of N validation images). Scores are cached per checkpoint as trajectory's are.
usage: RESCORE_OUT=out.json python rescore.py N EPOCH... -- RUN...   (run from the repository root)"""
import json, os, sys, time
import supernetbench.pipeline.trajectory as T

n = int(sys.argv[1]); sep = sys.argv.index("--")
epochs = [int(e) for e in sys.argv[2:sep]]; runs = sys.argv[sep + 1:]
orig = T.profile_from_dict
T.profile_from_dict = lambda d: orig(d).replace(score_images=n, score_batch_size=n)
out = []
for r in runs:
    t0 = time.time()
    t = T.ranking_trajectory(r, archs=2000, epochs=epochs, device="cpu", workers=1)
    t["score_images"] = n
    out.append(t)
    print(r.split("/")[-1], n, [(p["epoch"], round(p["kendall"], 3), round(p["diagnostics"]["feature_spearman"]["params"]["score"], 3),
                                 round(p["diagnostics"]["param_free_share"]["top5pct"]["score"], 3)) for p in t["points"]],
          f"{time.time() - t0:.0f}s", flush=True)
json.dump(out, open(os.environ.get("RESCORE_OUT", f"rescore-{n}.json"), "w"), indent=1)
