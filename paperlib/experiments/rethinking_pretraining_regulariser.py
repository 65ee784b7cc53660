"""05 Rethinking ImageNet Pre-training, C6: pre-training is not an automatic regulariser (the paper's section on
training with less data; docs/papers/05_rethinking_pretraining.md).

On a small fraction of the training images (``cfg.c6_fraction``) three arms train the same GN detector on the
``cfg.c6_schedule`` x schedule, at every seed of ``cfg.seeds``:

* ``pretrained default`` -- the pre-trained trunk at the profile's lr (the main study's recipe, un-tuned);
* ``pretrained re-tuned`` -- the pre-trained trunk at the lr picked from ``cfg.c6_lrs`` plus the default lr by
  final box AP on ``cfg.c6_tune_images`` images held out of the training images (never the test split). The
  pick is made once, at the first seed; ties go to the default lr (no re-tuning gain is manufactured);
* ``scratch default`` -- random init at the profile's lr, not re-tuned: the spec's data-fraction pitfall (the
  paper re-tunes in favour of the pre-trained model only).

The training subset is drawn from the images left after the held-out split, so the tuning images are never
trained on. C6's verdict: AP(re-tuned) - AP(default) of the pre-trained model on the test split,
:func:`stats.decide_trained` with the seed std over the seeds run and a paired bootstrap over the test images.
If the held-out split picks the default lr, the two arms are the same runs (difference 0: inconclusive, and the
evidence says the default recipe was already the held-out best).
"""
from __future__ import annotations

import copy
import dataclasses
import os
from typing import Any, Dict, List

import numpy as np

from ..metrics import stats
from . import rethinking_pretraining as rp

ARMS = ("pretrained default", "pretrained re-tuned", "scratch default")


def split_heldout(ds, n: int, seed: int = 0):
    """(rest, held): copies of a CocoDetection with ``n`` seeded random images held out (no flip: they are
    evaluated) and the others. Raises if ``n`` does not leave training images."""
    if not 1 <= n < len(ds.ids):
        raise ValueError(f"c6_tune_images = {n}: expected an integer in [1, {len(ds.ids)}) (the training images)")
    rng = np.random.default_rng(seed + 1)
    held_ids = {int(i) for i in rng.choice(ds.ids, n, replace=False)}
    rest, held = copy.copy(ds), copy.copy(ds)
    rest.ids = [i for i in ds.ids if int(i) not in held_ids]
    held.ids = sorted(held_ids)
    held.hflip = False
    return rest, held


def run_regulariser(cfg, data, pre, device, workdir) -> Dict[str, Any]:
    """The three arms (module doc). {} when this profile does not run C6 (``c6_fraction`` None) or there is no
    pre-trained trunk. Returns {"fraction", "train_images", "tune_images", "schedule", "lr_default",
    "lr_tuned", "grid_tune_AP": {lr: AP on the held-out images}, "runs": {arm: {seed: run}}}; a run is
    train_schedules' ``runs[k]`` ({"metrics", "E", "curve", "seconds"}) on the test split."""
    if cfg.c6_fraction is None or pre.get("trunk") is None:
        return {}
    rest, tune = split_heldout(data["train"], cfg.c6_tune_images, cfg.data_seed)
    small = rp.subset(rest, cfg.c6_fraction, cfg.data_seed)
    k, s0, nc = float(cfg.c6_schedule), cfg.seeds[0], data["num_classes"]
    lr0 = float(cfg.lr)

    def train(init, lr, seed, val, tag):
        c = dataclasses.replace(cfg, lr=lr)
        model = rp.build_model(c, nc, init, "gn", pre["trunk"], seed)
        out = rp.train_schedules(model, c, {**data, "val": val}, device, seed, os.path.join(workdir, tag), ks=[k],
                                 desc=f"C6 {tag}", train_ds=small)
        return out["runs"][k]

    lrs = sorted({float(x) for x in cfg.c6_lrs} | {lr0})
    grid = {lr: train("pretrained", lr, s0, tune, f"tune_lr{lr:g}")["metrics"]["AP"] for lr in lrs}
    best = max(lrs, key=lambda lr: (grid[lr], lr == lr0))
    runs: Dict[str, Dict[int, Any]] = {a: {} for a in ARMS}
    for seed in cfg.seeds:
        runs["pretrained default"][seed] = train("pretrained", lr0, seed, data["val"], f"pre_lr{lr0:g}_s{seed}")
        runs["pretrained re-tuned"][seed] = (runs["pretrained default"][seed] if best == lr0 else
                                             train("pretrained", best, seed, data["val"], f"pre_lr{best:g}_s{seed}"))
        runs["scratch default"][seed] = train("scratch", lr0, seed, data["val"], f"scratch_lr{lr0:g}_s{seed}")
    return {"fraction": cfg.c6_fraction, "train_images": len(small), "tune_images": len(tune), "schedule": k,
            "lr_default": lr0, "lr_tuned": best, "grid_tune_AP": grid, "runs": runs}


def _per_seed(reg, arm: str, key: str = "AP") -> List[float]:
    return [reg["runs"][arm][s]["metrics"][key] for s in sorted(reg["runs"][arm])]


def regulariser_rows(reg) -> List[Dict[str, Any]]:
    """Table: each arm's lr and test AP / AP50 / AP75 (mean +- std over seeds), its peak AP on the evaluation
    curve (first seed; the curve is on the test split, shown for the over-fitting reading only, never used to
    pick anything), then the held-out grid of the re-tuning."""
    rows = []
    for arm in ARMS:
        lr = reg["lr_tuned"] if arm == "pretrained re-tuned" else reg["lr_default"]
        first = reg["runs"][arm][min(reg["runs"][arm])]
        peak = max((a for _, a in first["curve"]), default=float("nan"))
        rows.append({"arm": arm, "lr": lr, "seeds": len(reg["runs"][arm]),
                     **{key: stats.fmt_mean_std(_per_seed(reg, arm, key)) for key in ("AP", "AP50", "AP75")},
                     "peak AP on curve (first seed)": round(peak, 3)})
    for lr, ap in reg["grid_tune_AP"].items():
        rows.append({"arm": f"re-tuning grid: pretrained, held-out images{' (picked)' if lr == reg['lr_tuned'] else ''}",
                     "lr": lr, "seeds": 1, "AP": f"{ap:.2f}", "AP50": "", "AP75": "", "peak AP on curve (first seed)": ""})
    return rows


def claim_c6(study, cfg, seed: int = 0) -> stats.Verdict:
    """C6: re-tuning the pre-trained model's lr on held-out images raises its test AP on small data
    (expect "+"), decided by :func:`stats.decide_trained`; "not run at this profile" where C6 does not run."""
    reg = study.get("regulariser") or {}
    if not reg:
        why = ("not run at this profile: C6 needs the small-data runs (c6_fraction) with the pre-trained model's lr "
               "re-tuned on held-out training images; they run at the gpu and paper profiles"
               if cfg.c6_fraction is None else "not run: no pre-trained arm in this run (pretrain_iters = 0 and no "
               "pretrain_weights)")
        return stats.not_tested(why, tested_here=False)
    seeds = sorted(reg["runs"]["pretrained default"])
    tuned, dflt = _per_seed(reg, "pretrained re-tuned"), _per_seed(reg, "pretrained default")
    scratch = _per_seed(reg, "scratch default")
    per = [a - b for a, b in zip(tuned, dflt)]
    n = len(seeds)
    terms = [(reg["runs"]["pretrained re-tuned"][s]["E"], 1.0 / n, None) for s in seeds] + \
            [(reg["runs"]["pretrained default"][s]["E"], -1.0 / n, None) for s in seeds]
    d, lo, hi = rp.boot_contrast(terms, cfg.n_boot, seed)
    return stats.decide_trained(
        float(np.mean(per)), lo, hi, expect="+", min_effect=cfg.min_effect, per_seed=per,
        part=f"AP(pre-trained, re-tuned lr {reg['lr_tuned']:g}) - AP(pre-trained, default lr {reg['lr_default']:g}) "
             f"on {reg['train_images']} training images, {reg['schedule']:g}x",
        pooled_bootstrap_value=d, ap_pretrained_default=dflt, ap_pretrained_tuned=tuned, ap_scratch_default=scratch,
        tuned_minus_scratch=[a - b for a, b in zip(tuned, scratch)],
        default_minus_scratch=[a - b for a, b in zip(dflt, scratch)],
        grid_tune_AP={f"{lr:g}": ap for lr, ap in reg["grid_tune_AP"].items()}, tune_images=reg["tune_images"],
        picked_default_lr=reg["lr_tuned"] == reg["lr_default"], fraction=reg["fraction"])
