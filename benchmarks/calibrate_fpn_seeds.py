"""Seed calibration of 02 FPN's trained contrasts (C1, C2): the spread between training seeds.

The `default` profile trains each RPN variant once (one seed), so its bootstrap interval over evaluation
images ignores the spread between training runs (issue 19: C2 flipped between reruns). This script
trains the RPN variants of C1 / C2 at seeds 0, 1, 2 with the profile's config (plus optional
overrides, to make a reduced but representative run), computes every contrast of C1 / C2 per seed
(AR@max budget in points, as `paperlib.experiments.fpn._ar_contrast`), and reports the sample std
(ddof=1) of each contrast over the seeds. Its numbers go into `SEED_CALIBRATION` in
`paperlib/configs/fpn.py`, with this command beside them.

    # one process per seed (they can run side by side), then the merge
    for s in 0 1 2; do PYTHONPATH=$PWD .venv/bin/python benchmarks/calibrate_fpn_seeds.py --profile default \
        --seeds $s --out /tmp/fpn_cal_$s.json & done; wait
    PYTHONPATH=$PWD .venv/bin/python benchmarks/calibrate_fpn_seeds.py --merge /tmp/fpn_cal_[012].json \
        --out benchmarks/results/fpn_seed_calibration.json

Each variant's AR is written to the output file as soon as it is measured (a cut run keeps what it
trained; variants run in the order ORDER, most-needed first).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from paperlib.config import get_config
from paperlib.experiments import fpn

# the contrasts of C1 / C2: (a, b, area) -> AR(b) - AR(a) at the largest proposal budget
CONTRASTS = [("c4", "fpn", "all"), ("c4", "fpn", "small"),
             ("bottom_up", "fpn", "all"), ("no_lateral", "fpn", "all"), ("finest", "fpn", "all")]


ORDER = ["fpn", "c4", "bottom_up", "no_lateral", "finest"]   # most-needed first: a cut run keeps C1 and C2's weak part


def contrasts(per_seed_ar: dict, budget: int) -> dict:
    """Per-seed contrasts (points) and their std (ddof=1) for every contrast whose variants every seed trained."""
    seeds = sorted(per_seed_ar, key=int)
    out = {}
    for a, b, area in CONTRASTS:
        key = f"AR{dict(all='', small='_s')[area]}@{budget}"
        if not all(a in per_seed_ar[s] and b in per_seed_ar[s] for s in seeds):
            continue
        ds = [per_seed_ar[s][b][key] - per_seed_ar[s][a][key] for s in seeds]
        out[fpn.calibration_key(key, a, b)] = {"per_seed": ds, "seeds": [int(s) for s in seeds],
                                               "seed_std": float(np.std(ds, ddof=1)) if len(ds) > 1 else None}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("-o", "--override", action="append", default=[], metavar="KEY=JSON")
    ap.add_argument("--out", default="benchmarks/results/fpn_seed_calibration.json")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="no training: merge the outputs of runs at other seeds into --out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        rec = {k: parts[0][k] for k in ("profile", "overrides", "budget", "torch")}
        rec["commands"] = [p["command"] for p in parts]
        rec["per_seed_ar"] = {s: ar for p in parts for s, ar in p["per_seed_ar"].items()}
        rec["train_seconds"] = {s: t for p in parts for s, t in p["train_seconds"].items()}
        rec["contrasts"] = contrasts(rec["per_seed_ar"], rec["budget"])
        out.write_text(json.dumps(rec, indent=1))
        print(json.dumps(rec["contrasts"], indent=1))
        return 0
    overrides = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.override)}
    overrides.setdefault("rpn_variants", ORDER)
    cfg = get_config("02_fpn", args.profile, overrides)
    torch.set_num_threads(1)
    data = fpn.load_data(cfg, None)
    hi = max(cfg.proposal_budgets)
    rec = {"command": " ".join(["benchmarks/calibrate_fpn_seeds.py"] + (argv if argv is not None else sys.argv[1:])),
           "profile": args.profile, "overrides": overrides, "budget": hi, "torch": torch.__version__,
           "per_seed_ar": {}, "train_seconds": {}}
    for seed in args.seeds:
        for v in cfg.rpn_variants:
            t0 = time.time()
            r = fpn.run_rpn(v, cfg, data, "cpu", seed=seed)
            print(f"seed {seed} {v}: AR@{hi} {100 * r['ar'][f'AR@{hi}']:.2f} ({time.time() - t0:.0f} s)", flush=True)
            rec["per_seed_ar"].setdefault(str(seed), {})[v] = {k: 100 * x for k, x in r["ar"].items()}
            rec["train_seconds"].setdefault(str(seed), {})[v] = time.time() - t0
            del r
            out.write_text(json.dumps(rec, indent=1))     # after every variant: a cut run keeps what it measured
    print(json.dumps(contrasts(rec["per_seed_ar"], hi), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
