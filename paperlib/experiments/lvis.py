"""07 LVIS: studies and claims (notes: docs/papers/07_lvis.md).

    from paperlib.experiments import lvis as X
    data = X.prepare(cfg, data_root)            # long-tailed LVIS json (+ hidden complete labels)
    dets = X.train_all(cfg, data, device)       # {(t multiplier or "class-aware", seed): LVIS results}
    X.rfs_rows(...), X.c1_rows(...), X.threshold_rows(...), X.size_rows(...), X.negatives_rows(...)
    for c in X.claims(...): run.claim(**c)
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..configs.lvis import N_LVIS_TRAIN
from ..data.lvis import LVISDetection, frequency_of, lvis_json_path, lvis_stats, synthetic_lvis
from ..metrics import stats
from ..plots import subplots
from ..metrics.lvis import exhaustive_evaluate, lvis_evaluate

__all__ = ["Data", "prepare", "t_syn", "train_all", "rfs_rows", "best_multiplier", "c1_rows", "threshold_rows",
           "size_rows", "negatives_rows", "restrict_negatives", "subset", "claims", "fig_long_tail",
           "fig_rfs", "fig_size", "fig_negatives", "data_checks", "PAPER"]

#: the paper's numbers (spec tables; mask AP of Mask R-CNN R50-FPN on LVIS v0.5 val)
PAPER = {
    "T-thr": {"(0.05, 100)": {"AP": 14.8, "APr": 0.8}, "(0.0, 300)": {"AP": 20.9, "APr": 3.4}},
    "T-rfs": {"uniform": {"AP": 21.0, "APr": 3.2, "APc": 21.3, "APf": 27.7},
              "t=0.001": {"AP": 23.2, "APr": 13.4, "APc": 23.2, "APf": 27.1},
              "class-aware": {"AP": 18.7, "APr": 8.5, "APc": 19.0, "APf": 22.3}},
    "T-size": {"5k": {"AP": 24.8, "APr": 11.5}, "20k": {"AP": 18.4, "APr": 8.8}},
    "D": {"v1 r/c/f": [337, 461, 405], "v0.5 r/c/f": [454, 461, 315]},
}


@dataclass
class Data:
    root: Path
    train: LVISDetection
    val: LVISDetection
    val_json: dict                 # federated labels
    val_full: Optional[dict]       # complete labels (synthetic only)
    train_json: dict
    stats: dict


def prepare(cfg, data_root=None, *, masks: bool | None = None) -> Data:
    """The synthetic long-tailed set (dataset="synthetic") or LVIS from ``data_root`` (dataset="lvis")."""
    masks = cfg.detector == "maskrcnn" if masks is None else masks
    if cfg.dataset == "synthetic":
        root = synthetic_lvis(num_categories=cfg.num_categories, n_train=cfg.n_train, n_val=cfg.n_val,
                              image_size=cfg.image_size, max_objects=cfg.max_objects,
                              zipf_exponent=cfg.zipf_exponent, zipf_offset=cfg.zipf_offset, p_unk=cfg.p_unk,
                              p_ne=cfg.p_ne, n_neg=cfg.n_neg, seed=cfg.data_seed)
    else:
        if data_root is None:
            raise ValueError("dataset='lvis' needs data_root: a folder with lvis_v1_train.json, lvis_v1_val.json "
                             "and the COCO images (train2017/, val2017/)")
        root = Path(data_root)
    tj, vj = lvis_json_path(root, "train"), lvis_json_path(root, "val")
    full = None
    try:
        full_p = lvis_json_path(root, "val", full=True)
        full = json.loads(full_p.read_text())
    except FileNotFoundError:
        pass
    train_json = json.loads(tj.read_text())
    return Data(root=root, train=LVISDetection(root, "train", masks=masks, json_path=tj),
                val=LVISDetection(root, "val", masks=masks, json_path=vj), val_json=json.loads(vj.read_text()),
                val_full=full, train_json=train_json, stats=lvis_stats(train_json))


def data_checks(data: Data) -> Dict[str, bool]:
    """C5 on the written json: the frequency field follows the 1-10 / 11-100 / > 100 training-image rule
    (recounted from the annotations), the counts agree, and all three bins are populated."""
    tj = data.train_json
    imgs: Dict[int, set] = {}
    inst: Dict[int, int] = {}
    for a in tj["annotations"]:
        imgs.setdefault(a["category_id"], set()).add(a["image_id"])
        inst[a["category_id"]] = inst.get(a["category_id"], 0) + 1
    cats = tj["categories"]
    rule = all(c["frequency"] == frequency_of(len(imgs[c["id"]])) for c in cats if c["id"] in imgs)
    counts = all(c["image_count"] == len(imgs.get(c["id"], ())) and c["instance_count"] == inst.get(c["id"], 0)
                 for c in cats)
    return {"frequency follows 1-10 / 11-100 / >100 training images": rule,
            "image_count and instance_count match the annotations": counts,
            "rare, common and frequent all populated": all(data.stats["rcf"][f] > 0 for f in "rcf")}


def t_syn(cfg) -> float:
    """RFS threshold for the synthetic set: r(c) = sqrt(t N / n_c), so t_syn = 0.001 N_LVIS / N_syn keeps
    LVIS's repeat factor for a category seen in n_c images (spec A6). rfs_t overrides it."""
    return cfg.rfs_t if cfg.rfs_t is not None else 0.001 * N_LVIS_TRAIN / cfg.n_train


CLASS_AWARE = "class-aware"


def arms(cfg) -> list:
    """The sampling arms trained: the RFS multipliers of t_syn (0 = uniform), then class-aware sampling."""
    return list(cfg.rfs_multipliers) + ([CLASS_AWARE] if cfg.class_aware else [])


def train_all(cfg, data: Data, device=None, log_every: int = 0) -> Tuple[Dict[Tuple[object, int], List[dict]], dict]:
    """Train one detector per (sampling arm, seed): key (RFS multiplier, seed) or ("class-aware", seed).
    Returns their test-set results and timings. Under torchrun Mask R-CNN trains data-parallel and
    every rank returns all results; the CPU proxy trains whole on every rank."""
    import torch

    from .lvis_detectors import (eval_proposals, maskrcnn_detect, proxy_detect, roi_bank, train_maskrcnn,
                                 train_proxy)
    device = device or torch.device("cpu")
    base_t = t_syn(cfg)
    dets, timing = {}, {}
    if cfg.detector == "proxy":
        t0 = time.time()
        bank = roi_bank(data.train, cfg, cfg.data_seed)
        full = data.val_full or data.val_json
        props = eval_proposals(full, cfg)
        timing["roi_bank_s"] = time.time() - t0
    for m in arms(cfg):
        ca = m == CLASS_AWARE
        kw = dict(t=0.0 if ca else m * base_t, class_aware=ca, log_every=log_every)
        for seed in cfg.seeds:
            t0 = time.time()
            if cfg.detector == "proxy":
                model = train_proxy(data.train, cfg, seed=seed, bank=bank, **kw)
                dets[(m, seed)] = proxy_detect(model, data.val, props, cfg)
            else:
                model = train_maskrcnn(data.train, cfg, seed=seed, device=device, **kw)
                dets[(m, seed)] = maskrcnn_detect(model, data.val, device)
            timing[f"train_{m if ca else f't{m:g}'}_s{seed}"] = time.time() - t0
    return dets, timing


def iou_type(cfg) -> str:
    return "segm" if cfg.detector == "maskrcnn" else "bbox"


def _ev(cfg, gt, res, **kw):
    return lvis_evaluate(gt, res, iou_type=iou_type(cfg), **kw)


def rfs_rows(cfg, data: Data, dets) -> List[dict]:
    """T-rfs analogue: AP / APr / APc / APf per (sampling arm, seed), LVIS test settings; the
    class-aware rows have sampler "class-aware" and no t."""
    rows = []
    for (m, seed), res in dets.items():
        r = _ev(cfg, data.val_json, res, max_dets=cfg.max_dets, score_thresh=cfg.score_thresh)
        ca = m == CLASS_AWARE
        rows.append({"sampler": CLASS_AWARE if ca else "repeat-factor", "t_multiplier": None if ca else m,
                     "t": None if ca else m * t_syn(cfg), "seed": seed,
                     **{k: r[k] for k in ("AP", "APr", "APc", "APf", "AR@300")}})
    return rows


def _rfs_only(rows: List[dict]) -> List[dict]:
    return [r for r in rows if r.get("sampler", "repeat-factor") == "repeat-factor"]


def best_multiplier(rows: List[dict], key: str = "APr") -> float:
    """The RFS multiplier (> 0) with the highest mean ``key`` over seeds."""
    rows = _rfs_only(rows)
    ms = sorted({r["t_multiplier"] for r in rows if r["t_multiplier"] > 0})
    if not ms:
        return 0.0
    return max(ms, key=lambda m: np.mean([r[key] for r in rows if r["t_multiplier"] == m]))


C1_NAMES = ("federated", "federated oracle (complete labels)", "naive exhaustive", "exhaustive oracle (complete labels)")


def c1_rows(cfg, data: Data, dets) -> List[dict]:
    """C1: the same detections scored federated and naive (exhaustive) on the incomplete labels, and
    each protocol's oracle on the complete labels (same images, same verified negatives). Besides the
    usual means (over the categories each evaluation has ground truth for), ``AP shared`` is the mean
    over the categories all four evaluate: a rare category whose only test positives lost their labels
    drops out of the incomplete-label evaluations (with AP ~0 on the complete labels), which moves their
    category means by composition alone, not by how the protocol treats missing labels."""
    if data.val_full is None:
        return []
    rows = []
    for (m, seed), res in dets.items():
        if m != 0:
            continue
        kw = dict(max_dets=cfg.max_dets, score_thresh=cfg.score_thresh, iou_type=iou_type(cfg), per_category=True)
        evs = (lvis_evaluate(data.val_json, res, **kw), lvis_evaluate(data.val_full, res, **kw),
               exhaustive_evaluate(data.val_json, res, **kw), exhaustive_evaluate(data.val_full, res, **kw))
        shared = sorted(set.intersection(*({c for c, v in r["per_category"].items() if v > -1} for r in evs)))
        for name, r in zip(C1_NAMES, evs):
            pc = r["per_category"]
            rows.append({"seed": seed, "evaluation": name, **{k: r[k] for k in ("AP", "APr", "APc", "APf")},
                         "categories": sum(v > -1 for v in pc.values()), "shared categories": len(shared),
                         "AP shared": float(np.mean([pc[c] for c in shared])) if shared else -1.0})
    return rows


def threshold_rows(cfg, data: Data, dets) -> List[dict]:
    """T-thr analogue: post-process the uniform models' detections with (score threshold, cap)."""
    rows = []
    for (m, seed), res in dets.items():
        if m != 0:
            continue
        for thr, cap in cfg.thr_settings:
            r = _ev(cfg, data.val_json, res, max_dets=int(cap), score_thresh=float(thr))
            rows.append({"score_thresh": thr, "dets_per_img": int(cap), "seed": seed,
                         **{k: r[k] for k in ("AP", "APr", "APc", "APf")}})
    return rows


def subset(gt: dict, image_ids) -> dict:
    """The LVIS json restricted to ``image_ids`` (annotations and images)."""
    keep = set(int(i) for i in image_ids)
    return {**gt, "images": [im for im in gt["images"] if im["id"] in keep],
            "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]}


def restrict_negatives(gt: dict, n_c: int, rng: np.random.Generator) -> dict:
    """Keep, per category, at most ``n_c`` of its verified negative images (chosen at random)."""
    by_cat: Dict[int, List[int]] = {}
    for im in gt["images"]:
        for c in im["neg_category_ids"]:
            by_cat.setdefault(c, []).append(im["id"])
    keep = {c: set(rng.permutation(ids)[:n_c].tolist()) for c, ids in sorted(by_cat.items())}
    images = [dict(im, neg_category_ids=[c for c in im["neg_category_ids"] if im["id"] in keep[c]])
              for im in gt["images"]]
    return {**gt, "images": images}


def size_rows(cfg, data: Data, res: List[dict], seed: int = 0) -> List[dict]:
    """T-size simulation: one model's detections scored on random evaluation subsets of growing size."""
    ids = np.array(sorted(im["id"] for im in data.val_json["images"]))
    rows = []
    for f in cfg.size_fractions:
        n = max(1, int(round(f * len(ids))))
        for k in range(cfg.n_resamples if f < 1 else 1):
            rng = np.random.default_rng([seed, 21, k, n])
            sub = set(rng.choice(ids, n, replace=False).tolist())
            r = _ev(cfg, subset(data.val_json, sub), [d for d in res if d["image_id"] in sub],
                    max_dets=cfg.max_dets, score_thresh=cfg.score_thresh)
            rows.append({"fraction": f, "images": n, "resample": k, "AP": r["AP"], "APr": r["APr"]})
    return rows


def negatives_rows(cfg, data: Data, res: List[dict], seed: int = 0) -> List[dict]:
    """F8a simulation: AP when each category keeps at most |N_c| verified negative images, resampled."""
    rows = []
    for n_c in cfg.neg_counts:
        for k in range(cfg.n_resamples):
            gt = restrict_negatives(data.val_json, n_c, np.random.default_rng([seed, 31, k, n_c]))
            r = _ev(cfg, gt, res, max_dets=cfg.max_dets, score_thresh=cfg.score_thresh)
            rows.append({"neg_per_category": n_c, "resample": k, "AP": r["AP"], "APr": r["APr"]})
    return rows


# ----------------------------------------------------------------------------- claims
def _by(rows, **eq):
    return [r for r in rows if all(r[k] == v for k, v in eq.items())]


def _trained(per_seed, expect: str, min_effect: float, **evidence):
    """A trained contrast measured at each training seed: the common rule (held and not held both need
    |mean| > max(2 x seed std, min_effect) with the seed-widened interval on that side)."""
    vals = [float(x) for x in per_seed]
    return stats.decide_trained(float(np.mean(vals)), expect=expect, min_effect=min_effect, per_seed=vals, **evidence)


def _trained_arms(a: List[dict], b: List[dict], key: str, expect: str, min_effect: float, **evidence):
    """b - a on ``key``, paired by training seed (both arms train at the same seeds)."""
    va, vb = {r["seed"]: r[key] for r in a}, {r["seed"]: r[key] for r in b}
    seeds = sorted(set(va) & set(vb))
    return _trained([vb[s] - va[s] for s in seeds], expect, min_effect, a=[va[s] for s in seeds],
                    b=[vb[s] for s in seeds], seeds=seeds, **evidence)


def claims(cfg, *, data: Data, rfs: List[dict], c1: List[dict], thr: List[dict], size: List[dict],
           neg: List[dict]) -> List[dict]:
    """The claim dicts (id, statement, verdict, paper, trained) the notebook records."""
    out = []
    me = cfg.min_effect
    # C1: missing labels pull the naive AP down; they move the federated AP less (same categories, AP shared)
    if c1:
        key = "AP shared" if "AP shared" in c1[0] else "AP"
        gaps, naive_shift, ap = [], [], {}
        for s in sorted({r["seed"] for r in c1}):
            g = {r["evaluation"]: r[key] for r in _by(c1, seed=s)}
            nai, fed = g[C1_NAMES[2]] - g[C1_NAMES[3]], g[C1_NAMES[0]] - g[C1_NAMES[1]]
            naive_shift.append(nai)
            gaps.append(abs(nai) - abs(fed))
            for k, val in g.items():
                ap.setdefault(k, []).append(val)
        parts = []
        for vals, expect, measure in ((naive_shift, "-", f"naive - its oracle ({key}): naive under-estimates"),
                                      (gaps, "+", f"|naive - its oracle| - |federated - its oracle| ({key})")):
            parts.append(_trained(vals, expect, me, measure=measure))
        v = stats.combine(parts, metric=key, mean=({k: float(np.mean(x)) for k, x in ap.items()}))
    else:
        v = stats.not_tested("no complete labels for this dataset (real LVIS): the oracle is unknown")
    out.append(dict(claim_id="C1", statement="Federated evaluation is fair under incomplete labels: missing labels "
                    "pull a naive exhaustive AP of the same detections down, and move the federated AP less "
                    "(each against its protocol on the complete labels, over the categories all four evaluate)",
                    verdict=v, paper={"naive under-estimates AP": True}, trained=True))
    # C2: test-time settings (0.05, 100) -> (0.0, 300)
    lo = [r for r in thr if r["score_thresh"] == 0.05 and r["dets_per_img"] == 100]
    hi = [r for r in thr if r["score_thresh"] == 0.0 and r["dets_per_img"] == 300]
    parts = []
    for key in ("AP", "APr"):
        a, b = [r[key] for r in lo], [r[key] for r in hi]
        if a and b:
            parts.append(_trained(np.array(b) - np.array(a), "+", me, metric=key, low=a, high=b))
    v = stats.combine(parts) if parts else stats.not_tested("threshold settings (0.05, 100) / (0.0, 300) not in the run")
    out.append(dict(claim_id="C2", statement="A 300 cap and a ~0 score threshold raise AP and APr over (0.05, 100)",
                    verdict=v, paper=PAPER["T-thr"], trained=True))
    # C3: RFS at the best t vs uniform (APr up, beyond seed noise); the optimum interior
    cas = [r for r in rfs if r.get("sampler") == CLASS_AWARE]
    rfs = _rfs_only(rfs)
    best = best_multiplier(rfs)
    uni, bst = _by(rfs, t_multiplier=0.0), _by(rfs, t_multiplier=best)
    parts = [_trained_arms(uni, bst, "APr", "+", me, metric="APr", best_multiplier=best)]
    parts.append(_trained_arms(uni, bst, "AP", "+", me, metric="AP", best_multiplier=best))
    top = max(r["t_multiplier"] for r in rfs)
    if best < top:
        parts.append(_trained_arms(_by(rfs, t_multiplier=top), bst, "APr", "+", me,
                                   metric="APr best vs largest t (interior optimum)"))
    else:
        parts.append(stats.not_tested(f"the best t is the largest swept ({top:g} x t_syn): no interior optimum shown"))
    if cas:
        parts.append(_trained_arms(cas, bst, "AP", "+", me, metric="AP best t vs class-aware sampling"))
    out.append(dict(claim_id="C3", statement="Repeat-factor sampling at a moderate t raises APr and AP over uniform "
                    "sampling; a larger t is worse (interior optimum); class-aware sampling is worse than the best t. "
                    "Best t picked on the same set as it is scored",
                    verdict=stats.combine(parts), paper=PAPER["T-rfs"], trained=True))
    # C4: AP falls as the evaluation set grows (smallest subset vs the whole set)
    fr = sorted({r["fraction"] for r in size})
    if len(fr) >= 2:
        small = [r["AP"] for r in _by(size, fraction=fr[0])]
        large = [r["AP"] for r in _by(size, fraction=fr[-1])] * 2        # the whole set: one value
        d, lo_, hi_ = stats.two_sample_bootstrap(small, large, n_boot=cfg.n_boot)
        v = stats.decide_diff(d, lo_, hi_, expect="-", min_effect=me, metric="AP", small=small,
                              large=large[:1], fractions=[fr[0], fr[-1]],
                              APr_small=[r["APr"] for r in _by(size, fraction=fr[0])],
                              APr_large=[r["APr"] for r in _by(size, fraction=fr[-1])])
    else:
        v = stats.not_tested("one evaluation-set size only")
    out.append(dict(claim_id="C4", statement="AP is lower on a larger evaluation set (the paper: above all APr; "
                    "here APr is in the evidence)",
                    verdict=v, paper=PAPER["T-size"], trained=True))
    # C5: the data are long-tailed with the paper's frequency rule
    chk = data_checks(data)
    out.append(dict(claim_id="C5", statement="Rare / common / frequent = 1-10 / 11-100 / >100 training images; "
                    "all three bins populated in the long-tailed set",
                    verdict=stats.decide_all(chk, rcf=data.stats["rcf"]), paper=PAPER["D"], trained=False))
    # C6: the AP spread across resamples of the negatives shrinks as |N_c| grows
    ns = sorted({r["neg_per_category"] for r in neg})
    if len(ns) >= 2 and cfg.n_resamples >= 2:
        a, b = [r["AP"] for r in _by(neg, neg_per_category=ns[0])], [r["AP"] for r in _by(neg, neg_per_category=ns[-1])]
        d, lo_, hi_ = stats.two_sample_bootstrap(a, b, stat=np.std, n_boot=cfg.n_boot)
        v = stats.decide_diff(d, lo_, hi_, expect="-", metric="std of AP over resamples",
                              std_small=float(np.std(a)), std_large=float(np.std(b)), neg_counts=[ns[0], ns[-1]])
    else:
        v = stats.not_tested("needs two |N_c| values and two resamples")
    out.append(dict(claim_id="C6", statement="The AP estimate stabilises (smaller spread over resampled negatives) "
                    "as the number of verified negative images per category grows",
                    verdict=v, paper={"Fig 8a": "AP stabilises with |N_c|"}, trained=True))
    return out


# ----------------------------------------------------------------------------- figures
def fig_long_tail(data: Data):
    st = data.stats
    fig, ax = subplots(width=5, height=3.2)
    x = np.arange(1, st["num_categories"] + 1)
    col = {"r": "tab:red", "c": "tab:orange", "f": "tab:blue"}
    for f in "fcr":
        m = np.array(st["frequency"]) == f
        ax.scatter(x[m], np.maximum(np.array(st["instance_count"])[m], 0.8), s=6, c=col[f],
                   label=f"{f}: {st['rcf'][f]}")
    ax.set(xscale="log", yscale="log", xlabel="category rank", ylabel="training instances",
           title="Long tail (Fig 5 analogue)")
    ax.legend(title="frequency", fontsize=7)
    return fig


def _mean_plot(ax, rows, x, keys, **kw):
    xs = sorted({r[x] for r in rows})
    for k in keys:
        m = [np.mean([r[k] for r in rows if r[x] == v]) for v in xs]
        s = [np.std([r[k] for r in rows if r[x] == v]) for v in xs]
        ax.errorbar(xs, m, yerr=s, marker="o", capsize=3, label=k, **kw)
    ax.legend(fontsize=7)


def fig_rfs(rows):
    fig, ax = subplots(width=5, height=3.2)      # constrained layout: the x label is never cropped
    _mean_plot(ax, _rfs_only(rows), "t_multiplier", ["AP", "APr", "APc", "APf"])
    cas = [r for r in rows if r.get("sampler") == CLASS_AWARE]
    if cas:                                      # errorbar took the colour cycle C0.. in this order
        for i, k in enumerate(("AP", "APr", "APc", "APf")):
            ax.axhline(np.mean([r[k] for r in cas]), ls=":", lw=1, color=f"C{i}")
        ax.plot([], [], ls=":", color="gray", label="class-aware (dotted)")
        ax.legend(fontsize=7)
    ax.set(xscale="symlog", xlabel="t / t_syn (0 = uniform)", ylabel="AP", title="Repeat-factor sampling (T-rfs)")
    return fig


def fig_size(rows):
    fig, ax = subplots(width=5, height=3.2)      # constrained layout: the x label is never cropped
    _mean_plot(ax, rows, "images", ["AP", "APr"])
    ax.set(xlabel="evaluation images", ylabel="AP", title="AP vs evaluation-set size (T-size)")
    return fig


def fig_negatives(rows):
    fig, ax = subplots(width=5, height=3.2)      # constrained layout: the x label is never cropped
    _mean_plot(ax, rows, "neg_per_category", ["AP", "APr"])
    ax.set(xscale="log", xlabel="|N_c| (negative images per category)", ylabel="AP",
           title="AP vs verified negatives (Fig 8a)")
    return fig
