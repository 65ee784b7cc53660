"""06 Panoptic FPN: exact checks, tables, figures, saved panoptic outputs and claims (the studies are in
:mod:`paperlib.experiments.panoptic_fpn`). Notes: docs/papers/06_panoptic_fpn.md.

Verdicts come from :mod:`paperlib.metrics.stats`: a trained contrast is held only if its sign is the
paper's, it exceeds max(2 x seed std, ``cfg.min_effect_pts``) and its 95 % bootstrap interval over val
images (paired: same images, seed-averaged) excludes 0 on that side; "A ~ B" is held when |A - B| stays
below max(2 x seed std, ``cfg.min_effect_pts``) and not held above it (with one seed: inconclusive).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from ..data.panoptic import combine_semantic_instances, write_panoptic_dataset
from ..metrics import stats
from ..metrics.pq_counts import miou_from_confusion, pq_from_counts
from .panoptic_fpn import Data, Net

__all__ = ["PAPER", "a4_case", "A4_EXPECTED", "exact_checks", "t1_rows", "t2_rows", "t3_rows", "merge_rows",
           "claims", "claim_c3_deeper", "fig_examples", "write_predictions", "boot_diff"]

#: the paper's numbers (spec tables; R50, COCO unless noted)
PAPER = {
    "T1c/d": {"width 64/128/256 mIoU (Cityscapes / COCO)": [[74.1, 39.6], [74.5, 40.2], [74.6, 40.1]],
              "sum / concat": [[74.5, 40.2], [74.4, 39.9]]},
    "T2a": {"lambda_s 0 / 0.5 / 1.0": {"AP": [33.9, 33.3, 32.1], "mIoU": [None, 41.0, 41.5],
                                        "PQ_Th": [46.6, 45.9, 44.6]}},
    "T2c": {"lambda_i 0 vs 1 at lambda_s 1 (mIoU)": [40.2, 41.5]},
    "T3a": {"two R50 nets PQ": 39.2, "Panoptic R50 PQ": 39.0, "Panoptic R101 PQ": 40.3, "compute": "about half"},
    "T3b": {"Panoptic R101 vs two R50 nets PQ (COCO)": [40.3, 39.2], "(Cityscapes)": [58.1, 57.7],
            "compute of Panoptic R101 vs two R50 nets": "about equal"},
    "T3cd": {"alternating PQ": 37.5, "grouped FPN PQ": 38.8, "joint PQ": 39.0},
}


# ----------------------------------------------------------------------------- golden merge (A4)
def a4_case():
    """The spec's 8x8 merge case: (semantic category map, masks, scores, labels, stuff ids). Categories:
    thing 1; stuff sky = 11, grass = 12; "other" = 0 in the semantic map."""
    sem = np.full((8, 8), 11, np.int64)
    sem[0:4, 0:4] = 0
    sem[6:8, 0:2] = 12
    boxes = {"A": (0, 3, 0, 3), "B": (1, 4, 1, 4), "C": (0, 2, 0, 2), "D": (5, 8, 5, 8)}
    masks = np.zeros((4, 8, 8), bool)
    for k, (r0, r1, c0, c1) in enumerate(boxes.values()):
        masks[k, r0:r1, c0:c1] = True
    return sem, masks, np.array([0.9, 0.8, 0.7, 0.4]), np.array([1, 1, 1, 1]), [11, 12]


#: expected (segment id, category, area) in order, and VOID pixels
A4_EXPECTED = {"segments": [(1, 1, 9), (2, 1, 5), (3, 11, 44)], "void": 6}


def a4_result(**kw):
    sem, masks, scores, labels, stuff = a4_case()
    ids, segs = combine_semantic_instances(sem, masks, scores, labels, stuff_category_ids=stuff, confidence_thr=0.5,
                                           overlap_thr=0.5, stuff_area_limit=10, **kw)
    return ids, segs


def exact_checks() -> List[dict]:
    """A1 (head structure, parameter count), A2 (shapes), A3 (RoI levels), A4 (golden merge), A5 (target
    mapping round trip), A6 (the merge's PNG + JSON scored by the PQ engine from files = in memory; PQ 1
    against itself). Rows: {anchor, check, ours, expected, verdict}."""
    import tempfile

    import torch

    from ..data.panoptic_dataset import label_map, stuff_from_target
    from ..metrics.pq import pq_compute, pq_compute_arrays
    from ..models.detection import fpn_level
    from ..models.panoptic_fpn import SemSegFPNHead, head_stages

    rows = []

    def add(anchor, check, ours, expected):
        rows.append({"anchor": anchor, "check": check, "ours": str(ours), "expected": str(expected),
                     "verdict": stats.decide_exact(ours, expected).verdict})

    head = SemSegFPNHead(256, 54, 128)
    convs = [m for m in head.scale_heads.modules() if isinstance(m, torch.nn.Conv2d)]
    add("A1", "stages per level P2..P5", [head_stages(s) for s in (4, 8, 16, 32)], [1, 1, 2, 3])
    add("A1", "convs 256->128 / 128->128", [sum(c.in_channels == 256 for c in convs),
                                            sum(c.in_channels == 128 for c in convs)], [4, 3])
    add("A1", "parameters (FPN 256, width 128, GN, 54 classes)", sum(p.numel() for p in head.parameters()), 1_630_774)
    feats = {k: torch.zeros(1, 256, 512 // s, 512 // s) for k, s in zip(("p2", "p3", "p4", "p5"), (4, 8, 16, 32))}
    with torch.no_grad():
        add("A2", "branch outputs at 512 px", sorted({tuple(b.shape[1:]) for b in head.branches(feats)}),
            [(128, 128, 128)])
        add("A2", "logits after x4", tuple(head(feats).shape[1:]), (54, 512, 512))
    sides = [224, 112, 111, 448, 32, 1000]
    lv = fpn_level(torch.tensor([[0, 0, s, s] for s in sides], dtype=torch.float64)).tolist()
    add("A3", f"RoI level of sqrt(wh) = {sides}", lv, [4, 3, 2, 5, 2, 5])
    ids, segs = a4_result()
    add("A4", "segments (id, category, area)", [(s["id"], s["category_id"], s["area"]) for s in segs],
        A4_EXPECTED["segments"])
    add("A4", "VOID pixels", int((ids == 0).sum()), A4_EXPECTED["void"])
    # A5: panoptic -> target -> stuff round trip on a synthetic map
    rng = np.random.default_rng(0)
    pan = rng.integers(0, 6, size=(16, 16))
    seg_info = [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2}, {"id": 3, "category_id": 11},
                {"id": 4, "category_id": 12}, {"id": 5, "category_id": 13}]
    cat_of = np.array([0, 1, 2, 11, 12, 13])[pan]
    t = label_map(pan, seg_info, [11, 12, 13], [1, 2])
    add("A5", "thing -> 0, stuff -> 1..S, VOID -> 255",
        sorted({(int(a), int(b)) for a, b in zip(cat_of.ravel(), t.ravel())}),
        [(0, 255), (1, 0), (2, 0), (11, 1), (12, 2), (13, 3)])
    back = stuff_from_target(t, [11, 12, 13])
    is_stuff = np.isin(cat_of, [11, 12, 13])
    add("A5", "stuff pixels preserved by the round trip (and no other pixel becomes stuff)",
        bool(np.array_equal(back[is_stuff], cat_of[is_stuff]) and not np.isin(back[~is_stuff], [11, 12, 13]).any()),
        True)
    # A6: the merge's output through the PQ engine, files vs memory
    cats = [{"id": 1, "name": "thing", "isthing": 1}, {"id": 11, "name": "sky", "isthing": 0},
            {"id": 12, "name": "grass", "isthing": 0}]
    img = [{"id": 1, "file_name": "a4.png", "height": 8, "width": 8}]
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "a4_panoptic.json")
        write_panoptic_dataset(js, img, [ids], [segs], cats)
        res_files = pq_compute(js, js)
    res_mem = pq_compute_arrays([(ids, segs, ids, segs)], cats)
    add("A6", "PQ of the merged PNG + JSON against itself (files, memory)",
        [round(res_files["All"]["pq"], 6), round(res_mem["All"]["pq"], 6)], [1.0, 1.0])
    return rows


# ----------------------------------------------------------------------------- bootstrap helpers
def boot_diff(fa: Callable, fb: Callable, n: int, n_boot: int, seed: int = 0):
    """fb(idx) - fa(idx) on all images and its 95 % percentile interval over image resamples."""
    rng = np.random.default_rng(seed)
    full = np.arange(n)
    d = fb(full) - fa(full)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        boots.append(fb(idx) - fa(idx))
    boots = np.asarray(boots, float)
    boots = boots[np.isfinite(boots)]
    if not boots.size:
        return float(d), None, None
    return float(d), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def _miou_fn(nets: Sequence[Net]):
    return lambda idx: float(np.mean([100 * miou_from_confusion(n.conf[idx].sum(0), range(n.conf.shape[-1]))
                                      for n in nets]))


def _ap_fn(nets: Sequence[Net]):
    from ..metrics.coco import ap_from_evalimgs

    return lambda idx: float(np.mean([100 * ap_from_evalimgs(n.E, idx) if n.E is not None else 0.0 for n in nets]))


def _pq_fn(counts: Sequence[np.ndarray], select=None):
    return lambda idx: float(np.mean([100 * pq_from_counts(c[idx].sum(0), select)["pq"] for c in counts]))


def _seed_std(a: Sequence[float], b: Sequence[float]):
    d = np.asarray(b, float) - np.asarray(a, float)
    return float(np.std(d, ddof=1)) if len(d) > 1 else None


def _contrast(cfg, n, fa, fb, per_a, per_b, expect, **ev):
    """A trained contrast B - A: the paired bootstrap over val images of the seed-mean, widened by the seed std
    of the per-seed differences (stats.decide_trained: held and not held both need max(2 x seed std, min))."""
    d, lo, hi = boot_diff(fa, fb, n, cfg.n_boot)
    per_seed = list(np.asarray(per_b, float) - np.asarray(per_a, float))
    return stats.decide_trained(d, lo, hi, expect=expect, min_effect=cfg.min_effect_pts,
                                per_seed=per_seed if len(per_seed) > 1 else None,
                                per_seed_a=list(per_a), per_seed_b=list(per_b), **ev)


def _approx(cfg, per_a, per_b, **ev):
    """A ~ B, an equivalence: *held* when the seed-noise band |mean diff| + 2 x seed std lies inside the stated
    equivalence margin ``cfg.equiv_margin_pts`` (so "equal" is said only when the noise is small enough to
    see a difference of that size); *not held* when |diff| exceeds max(2 x seed std, the margin) (clearly
    different); otherwise inconclusive (the seeds disagree too much to call it either way). One seed:
    inconclusive."""
    sd = _seed_std(per_a, per_b)
    d = float(np.mean(per_b) - np.mean(per_a))
    ev = dict(diff=d, seed_std=sd, equiv_margin=cfg.equiv_margin_pts, per_seed_a=list(per_a),
              per_seed_b=list(per_b), **ev)
    if sd is None:
        return stats.not_tested("one seed: no noise estimate for an equivalence", **ev)
    band, m = abs(d) + 2 * sd, cfg.equiv_margin_pts
    if band < m:
        return stats.decide_all({f"|diff| + 2 x seed std = {band:.2f} < equivalence margin {m:g}": True}, **ev)
    if abs(d) > max(2 * sd, m):
        return stats.decide_all({f"|diff| {abs(d):.2f} <= max(2 x seed std, equivalence margin) = "
                                 f"{max(2 * sd, m):.2f}": False}, **ev)
    return stats.not_tested(f"|diff| {abs(d):.2f} with 2 x seed std {2 * sd:.2f}: the noise band {band:.2f} exceeds "
                            f"the equivalence margin {m:g}, so neither equal nor different can be said", **ev)


# ----------------------------------------------------------------------------- tables
def _mean_sd(x):
    x = [v for v in x if v is not None and np.isfinite(v)]
    if not x:
        return None, None
    return round(float(np.mean(x)), 2), (round(float(np.std(x, ddof=1)), 2) if len(x) > 1 else None)


def t1_rows(cfg, sem: Dict[tuple, Net]) -> List[dict]:
    from .panoptic_fpn import width_of

    rows = []
    for f, agg in sorted({(k[0], k[1]) for k in sem}):
        v = [sem[(f, agg, s)].miou for s in cfg.seeds]
        m, sd = _mean_sd(v)
        rows.append({"width_factor": f, "width": width_of(cfg, f), "aggregate": agg, "mIoU": m, "seed_std": sd,
                     "per_seed": [round(x, 2) for x in v]})
    return rows


def t2_rows(cfg, joint: Dict[tuple, Net]) -> List[dict]:
    rows = []
    for lam in cfg.lambdas_s:
        nets = [joint[(lam, s)] for s in cfg.seeds]
        row = {"lambda_s": lam, "lambda_i": cfg.lambda_i}
        for key, get in (("AP", lambda n: 100 * n.ap["AP"]), ("AP50", lambda n: 100 * n.ap["AP50"]),
                         ("AP75", lambda n: 100 * n.ap["AP75"]), ("mIoU", lambda n: n.miou if lam > 0 else None),
                         ("PQ_Th", lambda n: 100 * n.pq["res"]["Things"]["pq"])):
            row[key], row[key + "_sd"] = _mean_sd([get(n) for n in nets])
        row["train_s"] = round(float(np.mean([n.hist.get("train_seconds", 0) for n in nets])), 1)
        rows.append(row)
    return rows


def merge_rows(per_seed: Dict[int, List[dict]]) -> List[dict]:
    """Merge study rows averaged over seeds (``per_seed``: seed -> merge_study rows, same order)."""
    seeds = sorted(per_seed)
    rows = []
    for k, r in enumerate(per_seed[seeds[0]]):
        out = {key: v for key, v in r.items() if not key.startswith("_") and key not in
               ("PQ", "PQ_Th", "PQ_St", "SQ", "RQ", "FP_stuff")}
        for key in ("PQ", "PQ_Th", "PQ_St", "FP_stuff"):
            out[key], out[key + "_sd"] = _mean_sd([per_seed[s][k][key] for s in seeds])
        rows.append(out)
    return rows


def t3_rows(t3) -> List[dict]:
    """T3 (a) and (b) analogues: the separate pair, the joint network and the joint network on the deeper trunk
    (its metrics blank where this profile does not train it), with multiply-adds per image here and at the
    paper's scale (R50-FPN; R101-FPN for (b)) and each network's MACs over the separate pair's."""
    rows = []
    m, paper = t3["macs"], t3["macs"]["paper_r50"]
    names = {"separate": "(a) two networks (detector lambda_s=0 + semantic-only 1x)",
             "joint": "(a) Panoptic FPN (one network)",
             "deeper": f"(b) Panoptic FPN, deeper trunk ({m.get('deeper_backbone')}; paper: R101)"}
    for name in ("separate", "joint", "deeper"):
        rs = [r for r in t3["rows"] if r["model"] == name]
        row = {"model": names[name] + ("" if rs or name != "deeper" else " - not trained at this profile")}
        for key in ("AP", "PQ_Th", "mIoU", "PQ_St", "PQ"):
            row[key], row[key + "_sd"] = _mean_sd([r[key] for r in rs])
        row["GMACs/image"] = round(m[name] / 1e9, 4)
        row["MACs / separate pair"] = round(m[name] / m["separate"], 3)
        row["GMACs/image at 800x1216 (R50-FPN; (b) R101-FPN)"] = round(paper[name] / 1e9, 1)
        row["MACs / separate pair at 800x1216"] = round(paper[name] / paper["separate"], 3)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- outputs
def write_predictions(out_dir, data: Data, merged, name: str = "panoptic_val_pred") -> str:
    """The merged predictions as COCO panoptic PNG + JSON (``<out_dir>/<name>.json`` and folder)."""
    imgs = [dict(data.val.coco.imgs[i]) for i in data.val.ids]
    for im in imgs:
        # basename: Cityscapes' images live in <city>/ subfolders; the predictions are written flat
        im["file_name"] = os.path.basename(os.path.splitext(im["file_name"])[0]) + ".png"
    js = os.path.join(str(out_dir), f"{name}.json")
    write_panoptic_dataset(js, imgs, [m[0] for m in merged], [m[1] for m in merged], data.categories)
    return js


def fig_examples(data: Data, merged, n: int = 3):
    """Image | ground truth | Panoptic FPN output for the first ``n`` val images: colour = category (the same
    in both panels), dark lines = segment boundaries (two touching instances stay apart), black = VOID."""
    import matplotlib.pyplot as plt

    from ..plots import panoptic_colour

    n = max(1, min(n, len(merged)))
    fig, ax = plt.subplots(n, 3, figsize=(7.5, 2.6 * n), squeeze=False)
    for i in range(n):
        img = data.val[i][0].permute(1, 2, 0).numpy()
        g, gsegs = data.val.gt(i)
        for j, (a, title) in enumerate(((img, "image"), (panoptic_colour(g, gsegs), "ground truth"),
                                        (panoptic_colour(merged[i][0], merged[i][1]),
                                         "Panoptic FPN (merged)"))):
            ax[i, j].imshow(a, interpolation="nearest")
            ax[i, j].set_axis_off()
            if i == 0:
                ax[i, j].set_title(title, fontsize=9)
    fig.suptitle("colour: category (same in both panels) - dark lines: segment boundaries - black: VOID", fontsize=8)
    fig.tight_layout()
    return fig


VARIANT_NAMES = {"alternate": "alternating losses", "grouped": "grouped FPN (2 groups of half the width)"}


def t3cd_rows(cfg, joint: Dict[tuple, Net]) -> List[dict]:
    """T3c/d analogue: the joint shared network (lambda_s = cfg.joint_lambda_s) and each T3c/d design of
    ``cfg.variants``, mean (and std) over seeds; [] when none is trained (T3b's "deeper" is a row of
    :func:`t3_rows`)."""
    designs = [v for v in cfg.variants if v in VARIANT_NAMES]
    if not designs:
        return []
    rows = []
    arms = [(cfg.joint_lambda_s, "joint, shared FPN (Panoptic FPN)")] + [(v, VARIANT_NAMES[v]) for v in designs]
    for key, name in arms:
        nets = [joint[(key, s)] for s in cfg.seeds]
        row = {"design": name}
        for k, get in (("AP", lambda x: 100 * x.ap["AP"]), ("PQ_Th", lambda x: 100 * x.pq["res"]["Things"]["pq"]),
                       ("mIoU", lambda x: x.miou), ("PQ_St", lambda x: 100 * x.pq["res"]["Stuff"]["pq"]),
                       ("PQ", lambda x: 100 * x.pq["res"]["All"]["pq"])):
            row[k], row[k + "_sd"] = _mean_sd([get(x) for x in nets])
        row["train_s"] = round(float(np.mean([x.hist.get("train_seconds", 0) for x in nets])), 1)
        rows.append(row)
    return rows


def claim_c4(cfg, joint: Dict[tuple, Net], n: int) -> stats.Verdict:
    """C4 per design of ``cfg.variants``: PQ(joint) - PQ(variant) > 0, a trained contrast
    (:func:`stats.decide_trained`: the seed std of the per-seed PQ differences, the interval of a paired
    bootstrap over val images, held / not held only beyond max(2 x seed std, ``cfg.min_effect_pts``)). A design
    this profile does not train is a part marked "not run at this profile" (outside the verdict)."""
    parts, not_run = [], []
    for v in VARIANT_NAMES:
        if v not in cfg.variants:
            not_run.append(stats.not_tested(f"{VARIANT_NAMES[v]}: not run at this profile (cfg.variants; the gpu "
                                            "profile trains it)", tested_here=False))
            continue
        a = [joint[(v, s)] for s in cfg.seeds]
        b = [joint[(cfg.joint_lambda_s, s)] for s in cfg.seeds]
        pa, pb = [100 * x.pq["res"]["All"]["pq"] for x in a], [100 * x.pq["res"]["All"]["pq"] for x in b]
        d, lo, hi = boot_diff(_pq_fn([x.pq["counts"] for x in a]), _pq_fn([x.pq["counts"] for x in b]), n, cfg.n_boot)
        parts.append(stats.decide_trained(d, lo, hi, expect="+", min_effect=cfg.min_effect_pts,
                                          per_seed=[y - x for x, y in zip(pa, pb)] if len(pa) > 1 else None, n=n,
                                          measure=f"PQ joint - {VARIANT_NAMES[v]}", per_seed_variant=pa,
                                          per_seed_joint=pb))
    if not parts:
        return stats.not_tested("no T3c/d design trained at this profile (cfg.variants; the gpu profile trains "
                                "them)", parts=[p.reason for p in not_run])
    return stats.combine(parts, not_run_here=[p.reason for p in not_run])


def _deeper_compute(t3) -> Dict[str, Any]:
    """T3b's compute evidence: MACs of the deeper joint network over the separate pair's (None where not counted)."""
    m = t3["macs"]
    here, paper = m.get("ratio_deeper_separate"), m.get("paper_r50", {}).get("ratio_deeper_separate")
    return {f"MACs deeper joint ({m.get('deeper_backbone')}) / separate pair, this run":
            None if here is None else round(here, 3),
            "MACs R101-FPN joint / two R50-FPN networks, 800 x 1216": None if paper is None else round(paper, 3)}


def claim_c3_deeper(cfg, t3, n: int) -> stats.Verdict:
    """C3's second part (T3b): PQ(joint network on ``cfg.deeper_backbone``) - PQ(the separate pair, merged), a
    trained contrast paired by seed (:func:`stats.decide_trained`: the seed std of the per-seed differences, a
    paired bootstrap over val images; held / not held only beyond max(2 x seed std, ``cfg.min_effect_pts``)).
    Where variant "deeper" is not trained: a part "not run at this profile" (``tested_here=False``)."""
    if "deeper" not in cfg.variants:
        return stats.not_tested("deeper trunk at equal compute (T3b): not run at this profile (cfg.variants lacks "
                                "'deeper'; the gpu profile trains the deeper sibling small_deep, the paper profile "
                                "R101-FPN)",
                                tested_here=False, **_deeper_compute(t3))
    ps = [r["PQ"] for r in t3["rows"] if r["model"] == "separate"]
    pd = [r["PQ"] for r in t3["rows"] if r["model"] == "deeper"]
    return _contrast(cfg, n, _pq_fn(t3["counts"]["separate"]), _pq_fn(t3["counts"]["deeper"]), ps, pd, "+",
                     measure=f"PQ deeper joint ({cfg.deeper_backbone}) - separate pair (seeds paired)",
                     **_deeper_compute(t3))


# ----------------------------------------------------------------------------- claims
def claims(cfg, *, checks: List[dict], sem, joint, merge_per_seed, t3, data: Data) -> List[dict]:
    n = len(data.val)
    seeds = cfg.seeds
    out = []
    exact = stats.decide_all({f"{r['anchor']} {r['check']}": r["verdict"] == stats.HELD for r in checks})
    # C1: 0.25x < 0.5x ~ 1x; sum ~ concat
    S = lambda f, agg: [sem[(f, agg, s)] for s in seeds]      # noqa: E731
    parts = []
    fs = sorted(cfg.width_factors)
    if len(fs) >= 3:
        lo, mid, hi = fs[0], fs[len(fs) // 2], fs[-1]
        a, b, c = S(lo, "sum"), S(mid, "sum"), S(hi, "sum")
        parts.append(_contrast(cfg, n, _miou_fn(a), _miou_fn(b), [x.miou for x in a], [x.miou for x in b], "+",
                               measure=f"mIoU {mid:g}x - {lo:g}x (narrow < medium)"))
        parts.append(_approx(cfg, [x.miou for x in b], [x.miou for x in c], measure=f"mIoU {hi:g}x - {mid:g}x (medium ~ wide)"))
    else:
        parts.append(stats.not_tested(f"width factors {fs}: three widths needed"))
    parts.append(_approx(cfg, [x.miou for x in S(1.0, "sum")], [x.miou for x in S(1.0, "concat")],
                         measure="mIoU concat - sum (sum ~ concat)"))
    out.append(dict(claim_id="C1", statement="A light semantic branch on FPN: width 0.5x the FPN is enough "
                    "(0.25x < 0.5x ~ 1x) and summing the levels ~ concatenating them", verdict=stats.combine(parts),
                    paper=PAPER["T1c/d"], evidence={"exact_structure": exact.verdict,
                    "not tested": "the comparison with dilated-backbone segmenters (T1a) is [ref] only"}, trained=True))
    # C2: AP at lambda_s 0.5 ~ lambda_s 0; mIoU up with lambda_s; large lambda_s costs AP; lambda_i > 0 helps mIoU
    J = lambda lam: [joint[(lam, s)] for s in seeds]          # noqa: E731
    lams = sorted(cfg.lambdas_s)
    ap = lambda nets: [100 * x.ap["AP"] for x in nets]        # noqa: E731
    parts = [_approx(cfg, ap(J(0.0)), ap(J(cfg.joint_lambda_s)), measure=f"AP lambda_s {cfg.joint_lambda_s:g} - 0")]
    pos = [l for l in lams if l > 0]
    if len(pos) >= 2:
        a, b = J(pos[0]), J(pos[-1])
        parts.append(_contrast(cfg, n, _miou_fn(a), _miou_fn(b), [x.miou for x in a], [x.miou for x in b], "+",
                               measure=f"mIoU lambda_s {pos[-1]:g} - {pos[0]:g}"))
        parts.append(_contrast(cfg, n, _ap_fn(J(0.0)), _ap_fn(b), ap(J(0.0)), ap(b), "-",
                               measure=f"AP lambda_s {pos[-1]:g} - 0 (large lambda_s trades AP)"))
        if (1.0, "sum", seeds[0]) in sem and pos[-1] == 1.0:
            s1 = S(1.0, "sum")
            parts.append(_contrast(cfg, n, _miou_fn(s1), _miou_fn(b), [x.miou for x in s1], [x.miou for x in b], "+",
                                   measure="mIoU at lambda_s 1: lambda_i 1 - lambda_i 0 (instance branch helps)"))
    else:
        parts.append(stats.not_tested(f"lambda_s values {lams}: two positive values needed"))
    out.append(dict(claim_id="C2", statement="Multi-task trade-off: a moderate lambda_s keeps AP close to the detector "
                    "alone; a larger lambda_s raises mIoU and costs AP; the instance loss helps the semantic branch",
                    verdict=stats.combine(parts), paper={**PAPER["T2a"], **PAPER["T2c"]}, trained=True))
    # C3: joint PQ ~ separate PQ at about half the compute
    pj = [r["PQ"] for r in t3["rows"] if r["model"] == "joint"]
    ps = [r["PQ"] for r in t3["rows"] if r["model"] == "separate"]
    ratio = t3["macs"]["ratio_joint_separate"]
    r50 = t3["macs"]["paper_r50"]["ratio_joint_separate"]
    # compute is decided where the claim is made (R50-FPN at COCO scale, counted exactly with the same
    # counter); at this run's scale the RoI heads outweigh the tiny trunk, so the ratio there is evidence only
    parts = [_approx(cfg, ps, pj, measure="PQ joint - separate"),
             stats.decide_all({f"MACs joint / separate = {r50:.3f} <= 0.75 (about half), R50-FPN at 800 x 1216":
                               r50 <= 0.75}, macs_this_run=t3["macs"], ratio_this_run=round(ratio, 3))]
    deeper = claim_c3_deeper(cfg, t3, n)
    ran = deeper.evidence.get("tested_here", True)
    out.append(dict(claim_id="C3", statement="One Panoptic FPN matches two separate networks in PQ at about half the "
                    "compute; at about equal compute a deeper Panoptic FPN (R101 for R50) beats them",
                    verdict=stats.combine(parts + [deeper] if ran else parts,
                                          **({} if ran else {"not_run_here": [deeper.reason]})),
                    paper={**PAPER["T3a"], **PAPER["T3b"]},
                    evidence={"this run's networks (RoI heads dominate a tiny trunk): MACs joint / separate":
                              round(ratio, 3), "T3b compute": _deeper_compute(t3)},
                    trained=True))
    # C4: alternating losses / grouped FPN (T3c/d analogue)
    out.append(dict(claim_id="C4", statement="Alternating the losses or grouping the FPN is slightly worse than the "
                    "joint shared design (PQ)", verdict=claim_c4(cfg, joint, n), paper=PAPER["T3cd"], trained=True))
    # C5: the merge: valid output; the area filter raises PQ^St; thing priority leaves PQ^Th unchanged
    base = {s: merge_per_seed[s][0] for s in seeds}
    no_lim = {s: next((r for r in merge_per_seed[s] if r["varied"] == "stuff_area_frac" and r["stuff_area_frac"] == 0),
                      None) for s in seeds}
    parts = [exact]
    if all(v is not None for v in no_lim.values()):
        isthing = np.array([c["id"] in set(data.thing_ids) for c in data.categories])
        st = ~isthing
        fa = _pq_fn([no_lim[s]["_counts"] for s in seeds], st)
        fb = _pq_fn([base[s]["_counts"] for s in seeds], st)
        parts.append(_contrast(cfg, n, fa, fb, [no_lim[s]["PQ_St"] for s in seeds], [base[s]["PQ_St"] for s in seeds],
                               "+", measure=f"PQ^St area limit {cfg.stuff_area_frac:g} of the image - no limit"))
        th = {s: {r["PQ_Th"] for r in merge_per_seed[s] if r["varied"] in ("default", "stuff_area_frac")} for s in seeds}
        parts.append(stats.decide_all({"PQ^Th identical for every stuff area limit (things placed first)":
                                       all(len(v) == 1 for v in th.values())},
                                      pq_th={int(s): sorted(v) for s, v in th.items()}))
    else:
        parts.append(stats.not_tested("the merge study has no 'no area limit' setting"))
    out.append(dict(claim_id="C5", statement="The merge (NMS-like thing overlap rule, things over stuff, a stuff-area "
                    "filter) gives a valid non-overlapping output; the filter raises PQ^St, and PQ^Th does not "
                    "depend on it", verdict=stats.combine(parts), paper={"A4": A4_EXPECTED}, trained=True))
    return out
