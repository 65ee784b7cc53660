"""Panoptic Segmentation (Kirillov et al., 2019): the PQ metric's anatomy, the simulated
human-consistency study, hallucinated stuff (PQ vs mIoU), the merge heuristic and machine vs human.
Paper notes (claims, the paper's numbers, our deviations): ``docs/papers/04_panoptic_segmentation.md``.

The notebook ``notebooks/04_panoptic_segmentation.ipynb`` calls, in order::

    scenes = ps.make_scenes(cfg.n_scenes, cfg, seed=cfg.data_seed)        # GT panoptic scenes
    checks = ps.exact_checks(tmp_dir)                                      # A1-A5, file round trip
    human = ps.human_study(scenes, cfg)                                    # T1 / T2 / F-IoU / F-alpha
    t4 = ps.hallucination_study(scenes, cfg)                               # T4 analogue (C4)
    machine = pm.machine_study(scenes, cfg, device)                        # T5 / T6 (C3, C5)
    for c in pr.claims(human, machine, checks, t4, cfg): run.claim(**c)

with ``ps`` this module (scenes, annotators, evaluation, exact checks, human and hallucination studies),
``pm`` :mod:`paperlib.experiments.panoptic_machine` (the trained machine, the merge, T5 / T6) and ``pr``
:mod:`paperlib.experiments.panoptic_report` (claims, figures, the user-file studies of the paper profile)
-- one paper split in three modules to keep each small.

Design choices (ours, stated in the notebook):

* scenes come from the FPN scene generator (:func:`paperlib.data.scenes.render_scene`: 6 thing and
  4 stuff classes, crowd regions) at ``image_size``; a 1-px unlabelled rim around every thing makes
  GT VOID (the paper's datasets leave object borders unlabelled);
* an annotator is the GT passed through seeded noise (:class:`AnnotatorNoise`): relabelling to a
  confusable class, merging touching same-class things, splitting things, 1-2 px boundary jitter per
  segment (erosion leaves VOID, dilation takes neighbours' pixels), and dropping small segments;
* "human consistency" = PQ of annotator B against annotator A (A plays GT);
* the machine is a tiny FCN (:mod:`paperlib.models.segmentation`) trained briefly: its semantic head
  is the semantic segmenter; its thing + boundary heads give instances (connected components) - a
  stand-in for Mask R-CNN, chosen so that training fits the CPU budget;
* size buckets S/M/L: 25th / 75th percentiles of the GT (annotator A) segment areas; TP and FN go by
  GT area, FP by predicted area.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from ..data import panoptic as pan
from ..metrics import pq as pqm

# ----------------------------------------------------------------------------- paper numbers
PAPER_T1 = {  # PQ, SQ, RQ, PQ^St, PQ^Th (St/Th assignment fixed by the class-weighted mean)
    "Cityscapes": (69.7, 84.2, 82.1, 71.3, 67.4),
    "ADE20k": (67.1, 85.8, 78.0, 70.3, 65.9),
    "Vistas": (57.5, 79.5, 71.4, 62.6, 53.4),
}
PAPER_T2 = {  # S, M, L as (PQ, SQ, RQ)
    "Cityscapes": ((35.1, 67.8, 51.5), (62.3, 81.0, 76.5), (84.8, 89.9, 94.1)),
    "ADE20k": ((49.9, 78.0, 64.2), (69.4, 84.0, 82.5), (79.0, 87.8, 89.8)),
    "Vistas": ((35.6, 70.1, 51.5), (47.7, 76.6, 62.3), (69.4, 83.1, 82.6)),
}
PAPER_T4 = {"CASIA_IVA_JD (ADE20k)": (32.3, 27.4), "G-RMI (ADE20k)": (30.6, 19.3)}  # mIoU, PQ^St
PAPER_T5 = {  # separate PQ^St, PQ^Th ; merged PQ, PQ^St, PQ^Th
    "Cityscapes": (66.6, 54.0, 61.2, 66.4, 54.0),
    "ADE20k": (27.4, 41.1, 35.6, 24.5, 41.1),
    "Vistas": (43.7, 35.7, 38.3, 41.8, 35.7),
}
PAPER_T6 = {  # human PQ/SQ/RQ, machine PQ/SQ/RQ
    "Cityscapes": ((69.6, 84.1, 82.0), (61.2, 80.9, 74.4)),
    "ADE20k": ((67.6, 85.7, 78.6), (35.6, 74.4, 43.2)),
    "Vistas": ((57.7, 79.7, 71.6), (38.3, 73.6, 47.7)),
}


# ----------------------------------------------------------------------------- scenes
def categories() -> List[dict]:
    from ..data.scenes import categories as scene_categories

    return scene_categories()


def thing_ids(cats) -> List[int]:
    return [c["id"] for c in cats if c["isthing"] == 1]


def stuff_ids(cats) -> List[int]:
    return [c["id"] for c in cats if c["isthing"] != 1]


def segments_of(ids: np.ndarray, cat_of: Dict[int, int], crowd_of: Dict[int, int] | None = None) -> List[dict]:
    """segments_info (id, category_id, area, iscrowd) of the non-VOID ids present in ``ids``."""
    labels, counts = np.unique(ids, return_counts=True)
    crowd_of = crowd_of or {}
    return [{"id": int(l), "category_id": int(cat_of[int(l)]), "area": int(c),
             "iscrowd": int(crowd_of.get(int(l), 0))}
            for l, c in zip(labels.tolist(), counts.tolist()) if l != pan.VOID]


def _thing_rim(ids: np.ndarray, is_thing_px: np.ndarray) -> np.ndarray:
    """Pixels outside things with a 4-neighbour inside a thing (a 1-px rim around every thing)."""
    near = np.zeros_like(is_thing_px)
    near[1:] |= is_thing_px[:-1]
    near[:-1] |= is_thing_px[1:]
    near[:, 1:] |= is_thing_px[:, :-1]
    near[:, :-1] |= is_thing_px[:, 1:]
    return near & ~is_thing_px


def make_scenes(n: int, cfg, seed: int = 0) -> List[Dict[str, Any]]:
    """``n`` GT scenes: dicts with image (H, W, 3 uint8), ids (H, W int64), segments (segments_info),
    semantic (H, W int32 category map, 0 = VOID)."""
    from ..data.scenes import render_scene

    rng = np.random.default_rng(seed)
    cats = {c["id"]: c for c in categories()}
    out = []
    for _ in range(n):
        s = render_scene(rng, image_size=cfg.image_size, min_objects=cfg.min_objects,
                         max_objects=cfg.max_objects, crowd_prob=cfg.crowd_prob,
                         bucket_probs=(0.6, 0.4, 0.0))
        ids = s["pan"].astype(np.int64)
        cat_of = {seg["id"]: seg["category_id"] for seg in s["segments"]}
        crowd_of = {seg["id"]: seg["iscrowd"] for seg in s["segments"]}
        if cfg.void_rim:
            thing_px = np.isin(ids, [i for i, c in cat_of.items() if cats[c]["isthing"] == 1])
            ids[_thing_rim(ids, thing_px)] = pan.VOID
        segs = segments_of(ids, cat_of, crowd_of)
        out.append({"image": s["image"], "ids": ids, "segments": segs,
                    "semantic": pan.semantic_from_panoptic(ids, segs)})
    return out


# ----------------------------------------------------------------------------- annotators
@dataclass
class AnnotatorNoise:
    """Seeded perturbations of a GT panoptic map (the simulated annotator of the spec)."""
    jitter_max_px: int = 2      # per segment: erode or dilate by 1..jitter_max_px px (0 = off)
    p_jitter: float = 1.0       # probability that a segment's boundary is jittered
    p_merge: float = 0.3        # merge two touching same-class things
    p_split: float = 0.1        # split a thing in two along a random line
    p_cls: float = 0.05         # relabel a segment to its confusable class
    small_area: int = 100       # segments below this area ...
    p_small: float = 0.3        # ... are left unlabelled (VOID) with this probability
    p_drop_thing: float = 0.0   # machine: miss small things with this probability (in addition)
    n_blobs: int = 0            # machine: hallucinated small stuff blobs per image
    blob_area: tuple = (4, 30)


# confusable classes of the scene generator: disc<->ring, box<->cross, triangle<->star,
# sky<->water, grass<->brick
_CONFUSE_NAMES = {"disc": "ring", "ring": "disc", "box": "cross", "cross": "box", "triangle": "star",
                  "star": "triangle", "sky": "water", "water": "sky", "grass": "brick", "brick": "grass"}


def confusable(cats) -> Dict[int, int]:
    by_name = {c["name"]: c["id"] for c in cats}
    return {by_name[a]: by_name[b] for a, b in _CONFUSE_NAMES.items() if a in by_name and b in by_name}


def _disk(r: int) -> np.ndarray:
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y) <= r * r + 0.5


def annotate(scene: dict, noise: AnnotatorNoise, rng: np.random.Generator, cats) -> tuple:
    """One simulated annotation of ``scene``: returns (ids int64 (H, W), segments_info)."""
    from scipy import ndimage

    catd = {c["id"]: c for c in cats}
    conf = confusable(cats)
    ids = scene["ids"].copy()
    h, w = ids.shape
    cat_of = {s["id"]: s["category_id"] for s in scene["segments"]}
    crowd_of = {s["id"]: s["iscrowd"] for s in scene["segments"]}
    next_id = int(max(cat_of, default=0)) + 1

    def is_thing(i):
        return catd[cat_of[i]]["isthing"] == 1

    # 1. relabel to a confusable class (stuff: one segment per class -> merge into an existing one)
    for i in sorted(cat_of):
        if i in cat_of and not crowd_of.get(i) and rng.random() < noise.p_cls and cat_of[i] in conf:
            new = conf[cat_of[i]]
            if not is_thing(i):
                other = [j for j, c in cat_of.items() if c == new and j != i]
                if other:
                    ids[ids == i] = other[0]
                    del cat_of[i]
                    continue
            cat_of[i] = new
    # 2. merge touching same-class things
    if noise.p_merge > 0:
        pairs = set()
        for a, b in ((ids[:, :-1], ids[:, 1:]), (ids[:-1, :], ids[1:, :])):
            d = (a != b) & (a > 0) & (b > 0)
            if d.any():
                pairs.update(zip(a[d].tolist(), b[d].tolist()))
        pairs = sorted({(min(p), max(p)) for p in pairs})
        parent = {}
        for a, b in pairs:
            if a in cat_of and b in cat_of and is_thing(a) and is_thing(b) and cat_of[a] == cat_of[b] \
                    and not crowd_of.get(a) and not crowd_of.get(b) and rng.random() < noise.p_merge:
                ra, rb = parent.get(a, a), parent.get(b, b)
                if ra != rb:
                    for k, v in list(parent.items()):
                        if v == rb:
                            parent[k] = ra
                    parent[rb] = ra
        for b, a in parent.items():
            ids[ids == b] = a
            cat_of.pop(b, None)
    # 3. split things along a random line through the centroid
    if noise.p_split > 0:
        for i in sorted(cat_of):
            if is_thing(i) and not crowd_of.get(i) and rng.random() < noise.p_split:
                ys, xs = np.nonzero(ids == i)
                if ys.size < 16:
                    continue
                th = rng.uniform(0, np.pi)
                side = (xs - xs.mean()) * np.cos(th) + (ys - ys.mean()) * np.sin(th) > 0
                if 0 < side.sum() < side.size:
                    ids[ys[side], xs[side]] = next_id
                    cat_of[next_id] = cat_of[i]
                    next_id += 1
    # 4. boundary jitter: stuff first, then things (things drawn on top)
    if noise.jitter_max_px > 0 and noise.p_jitter > 0:
        order = [i for i in sorted(cat_of) if not is_thing(i)] + [i for i in sorted(cat_of) if is_thing(i)]
        for i in order:
            if crowd_of.get(i) or rng.random() >= noise.p_jitter:
                continue
            r = int(rng.integers(1, noise.jitter_max_px + 1))
            m = ids == i
            if not m.any():
                continue
            ys, xs = np.nonzero(m)
            y0, y1 = max(ys.min() - r, 0), min(ys.max() + r + 1, h)
            x0, x1 = max(xs.min() - r, 0), min(xs.max() + r + 1, w)
            crop = m[y0:y1, x0:x1]
            if rng.random() < 0.5:   # dilate: take neighbours' pixels (not crowd ones)
                grown = ndimage.binary_dilation(crop, structure=_disk(r)) & ~crop
                sub = ids[y0:y1, x0:x1]
                keep = np.isin(sub, [j for j in crowd_of if crowd_of[j]])
                sub[grown & ~keep] = i
            else:                     # erode: the rim becomes unlabelled
                shrunk = ndimage.binary_erosion(crop, structure=_disk(r), border_value=1)
                ids[y0:y1, x0:x1][crop & ~shrunk] = pan.VOID
    # 5. small segments left unlabelled; machine: small things missed
    labels, counts = np.unique(ids, return_counts=True)
    for l, c in zip(labels.tolist(), counts.tolist()):
        if l == pan.VOID or crowd_of.get(l):
            continue
        p = noise.p_small if c < noise.small_area else 0.0
        if is_thing(l) and c < noise.small_area:
            p = 1 - (1 - p) * (1 - noise.p_drop_thing)
        if p > 0 and rng.random() < p:
            ids[ids == l] = pan.VOID
    # 6. machine: hallucinated small stuff blobs on stuff pixels
    if noise.n_blobs:
        ids, next_id = add_stuff_blobs(ids, cat_of, noise.n_blobs, noise.blob_area, rng, cats, next_id)
    return ids, segments_of(ids, cat_of, crowd_of)


def add_stuff_blobs(ids, cat_of, k, area_range, rng, cats, next_id):
    """Paint ``k`` disc-shaped blobs of ``area_range`` px with random stuff classes onto stuff
    pixels. A blob of a class already present joins that class's segment (one stuff segment per
    class per image, as in COCO panoptic); otherwise it starts one. ``cat_of`` is updated."""
    st = stuff_ids(cats)
    catd = {c["id"]: c for c in cats}
    h, w = ids.shape
    ids = ids.copy()
    for _ in range(int(k)):
        area = rng.uniform(*area_range)
        r = math.sqrt(area / math.pi)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        y0, y1 = max(int(cy - r - 1), 0), min(int(cy + r + 2), h)
        x0, x1 = max(int(cx - r - 1), 0), min(int(cx + r + 2), w)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disk = (yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= r * r
        sub = ids[y0:y1, x0:x1]
        on_stuff = np.isin(sub, [i for i, c in cat_of.items() if catd[c]["isthing"] != 1])
        m = disk & on_stuff
        if not m.any():
            continue
        c = int(rng.choice(st))
        seg = [i for i, cc in cat_of.items() if cc == c]
        if seg:
            sid = seg[0]
        else:
            sid = next_id
            next_id += 1
            cat_of[sid] = c
        sub[m] = sid
    return ids, next_id


# ----------------------------------------------------------------------------- evaluation helpers
def evaluate(pairs, cats) -> Dict[str, Any]:
    """PQ over [(gt_ids, gt_segs, pred_ids, pred_segs)] -> dict with the result and ImageResults."""
    res, images = pqm.pq_compute_arrays(pairs, {c["id"]: c for c in cats}, return_images=True)
    return {"res": res, "images": images}


def size_edges(segment_lists, q=(25, 75)) -> List[float]:
    """S/M/L bucket edges from the 25th / 75th percentiles of non-crowd GT segment areas."""
    areas = [s["area"] for segs in segment_lists for s in segs if not s.get("iscrowd")]
    lo, hi = np.percentile(areas, q)
    return [0.0, float(lo), float(hi), math.inf]


def summary_row(name: str, res: dict, scale: float = 100.0) -> dict:
    row = {"setting": name}
    for k in ("All", "Things", "Stuff"):
        suffix = {"All": "", "Things": "_Th", "Stuff": "_St"}[k]
        for m in ("pq", "sq", "rq"):
            row[f"{m.upper()}{suffix}"] = scale * res[k][m]
    row["n_St"] = res["Stuff"]["n"]
    row["n_Th"] = res["Things"]["n"]
    return row


def matched_ious(pairs, *, same_category: bool = True) -> np.ndarray:
    """F-IoU: IoUs of segments matched by maximum-weight bipartite matching on pairs with IoU > 0
    (scipy ``linear_sum_assignment``), PQ's union rule, crowd excluded."""
    from scipy.optimize import linear_sum_assignment

    out = []
    for g, gs, p, ps in pairs:
        gsegs, psegs, iou = pqm.pair_iou_matrix(g, gs, p, ps)
        if iou.size == 0:
            continue
        wgt = iou.copy()
        for r, s in enumerate(gsegs):
            if s.get("iscrowd"):
                wgt[r] = 0
        if same_category:
            gc = np.array([s["category_id"] for s in gsegs])
            pc = np.array([s["category_id"] for s in psegs])
            wgt[gc[:, None] != pc[None, :]] = 0
        rows, cols = linear_sum_assignment(-wgt)
        v = wgt[rows, cols]
        out.extend(v[v > 0].tolist())
    return np.asarray(out)


def uniqueness_check(pairs) -> Dict[str, Any]:
    """C1 on data: (a) no segment has two partners with IoU > 0.5; (b) greedy matching at IoU > 0.5
    equals the optimal assignment restricted to IoU > 0.5; (c) shuffling the pair order changes
    nothing. Returns counts."""
    from scipy.optimize import linear_sum_assignment

    n_pairs = multi = differ = 0
    for g, gs, p, ps in pairs:
        gsegs, psegs, iou = pqm.pair_iou_matrix(g, gs, p, ps)
        if iou.size == 0:
            continue
        gc = np.array([s["category_id"] for s in gsegs])
        pc = np.array([s["category_id"] for s in psegs])
        crowd = np.array([bool(s.get("iscrowd")) for s in gsegs])
        ok = (iou > 0.5) & (gc[:, None] == pc[None, :]) & ~crowd[:, None]
        n_pairs += int(ok.sum())
        multi += int((ok.sum(1) > 1).sum() + (ok.sum(0) > 1).sum())
        rows, cols = linear_sum_assignment(-np.where(ok, iou, 0))
        opt = {(r, c) for r, c in zip(rows, cols) if ok[r, c]}
        greedy = set(zip(*np.nonzero(ok)))
        differ += int(opt != greedy)
    return {"matches": n_pairs, "segments_with_two_partners": multi, "images_greedy_ne_optimal": differ}


def pq_sq_rq_identity(res) -> float:
    """max |PQ - SQ x RQ| over categories with tp + fp + fn > 0 (C1: PQ = SQ x RQ per category)."""
    d = [abs(v["pq"] - v["sq"] * v["rq"]) for v in res["per_class"].values()
         if v["tp"] + v["fp"] + v["fn"] > 0]
    return float(max(d)) if d else 0.0


def boot_counts(images, cats, n_boot: int, seed: int = 0, index=None):
    """Bootstrap replicates of summed counts: (n_boot, n_cat, 4); ``index`` reuses resampled
    image indices (paired bootstrap across settings evaluated on the same images)."""
    cnt = pqm.per_image_counts(images, [c["id"] for c in cats])
    if index is None:
        rng = np.random.default_rng(seed)
        index = rng.integers(0, cnt.shape[0], size=(n_boot, cnt.shape[0]))
    return cnt[index].sum(axis=1), cnt.sum(axis=0), index


def _ci(x, alpha=0.05):
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return None, None
    return float(np.quantile(x, alpha / 2)), float(np.quantile(x, 1 - alpha / 2))


# ----------------------------------------------------------------------------- exact checks
def a1_case():
    """The spec's golden 8x8 image (anchor A1): (gt_ids, gt_segs, pred_ids, pred_segs, categories)."""
    gt_txt = ["SSSSSSSS", "SSSSSSSS", "aaa..ccc", "aaa..ccc", "aaabbccc", "GGGbbKKK", "GGGGGKKK", "GGGGGG.."]
    pr_txt = ["SSSSSSSS", "SSSSSSS.", ".ppppxxx", ".ppppxxx", "..p..xxx", "gg....kk", "gg....kk", "gg...vvv"]
    gm = {"S": 10, "a": 20, "b": 21, "c": 30, "K": 40, "G": 11, ".": 0}
    pm = {"S": 1, "p": 2, "v": 3, "x": 4, "k": 5, "g": 6, ".": 0}
    g = np.array([[gm[c] for c in r] for r in gt_txt], np.int64)
    p = np.array([[pm[c] for c in r] for r in pr_txt], np.int64)
    cats = [{"id": 1, "name": "person", "isthing": 1}, {"id": 2, "name": "car", "isthing": 1},
            {"id": 3, "name": "sky", "isthing": 0}, {"id": 4, "name": "grass", "isthing": 0},
            {"id": 5, "name": "tree", "isthing": 0}]
    gcat = {10: 3, 20: 1, 21: 1, 30: 2, 40: 1, 11: 4}
    gs = segments_of(g, gcat, {40: 1})
    ps = [{"id": i, "category_id": c} for i, c in {1: 3, 2: 1, 3: 1, 4: 1, 5: 1, 6: 4}.items()]
    return g, gs, p, ps, cats


A1_EXPECTED = {"All": (0.303819444, 0.373263889, 0.375, 4), "Things": (0.138888889, 0.277777778, 0.25, 2),
               "Stuff": (0.46875, 0.46875, 0.5, 2)}
A1_COUNTS = {3: (1, 0, 0), 1: (1, 1, 1), 2: (0, 0, 1), 4: (0, 1, 1), 5: (0, 0, 0)}


def exact_checks(tmp_dir, cfg=None, n_files: int = 4, size: int = 64, seed: int = 0) -> Dict[str, Any]:
    """Anchors A1-A5 and a COCO-format write/read round trip (``n_files`` synthetic images)."""
    import os

    g, gs, p, ps, cats = a1_case()
    catd = {c["id"]: c for c in cats}
    r = pqm.pq_compute_arrays([(g, gs, p, ps)], catd)
    a1 = all(abs(r[k][m] - v) <= 1e-9 for k, vals in A1_EXPECTED.items()
             for m, v in zip(("pq", "sq", "rq"), vals[:3])) and \
        all(r[k]["n"] == vals[3] for k, vals in A1_EXPECTED.items()) and \
        all((r["per_class"][c]["tp"], r["per_class"][c]["fp"], r["per_class"][c]["fn"]) == t
            for c, t in A1_COUNTS.items())
    # A2 id encoding
    enc = {40: (40, 0, 0), 300: (44, 1, 0), 70000: (112, 17, 1), 16777215: (255, 255, 255)}
    a2 = all(pan.id2rgb(i) == rgb and pan.rgb2id(rgb) == i for i, rgb in enc.items())
    ids = np.array([[0, 40, 300], [70000, 16777215, 5]], np.int64)
    path = os.path.join(tmp_dir, "a2.png")
    pan.write_panoptic_png(path, ids)
    a2 = a2 and np.array_equal(pan.read_panoptic_png(path), ids)
    # A3 RQ^alpha
    a3 = abs(pqm.rq_alpha(1, 1, 1, 0.5) - 0.5) < 1e-12 and abs(pqm.rq_alpha(1, 1, 1, 0.25) - 2 / 3) < 1e-4 \
        and abs(pqm.rq_alpha(1, 1, 1, 1.0) - 1 / 3) < 1e-12
    # A4 uniqueness on random maps: IoU(p1, g) + IoU(p2, g) <= 1 for disjoint p1, p2
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(20):
        gm = rng.integers(0, 4, (12, 12))
        pm = rng.integers(0, 4, (12, 12))
        for a in range(1, 4):
            ga = gm == a
            tot = sum(((ga & (pm == b)).sum() / (ga | (pm == b)).sum()) for b in range(1, 4))
            worst = max(worst, tot)
    a4 = worst <= 1 + 1e-12
    # A5 asymmetry
    gs2 = segments_of(p, {s["id"]: s["category_id"] for s in ps})
    ps2 = [{"id": s["id"], "category_id": s["category_id"]} for s in gs]
    r2 = pqm.pq_compute_arrays([(p, gs2, g, ps2)], catd)
    a5 = abs(r2["All"]["pq"] - r["All"]["pq"]) > 1e-6
    # COCO-format round trip: write GT + noisy prediction, evaluate from files == in memory
    scfg = _mini_cfg(size)
    scenes = make_scenes(n_files, scfg, seed=seed + 100)
    scats = categories()
    preds = [annotate(s, AnnotatorNoise(), np.random.default_rng([seed, k]), scats)
             for k, s in enumerate(scenes)]
    images = [{"id": k + 1, "file_name": f"{k + 1:06d}.png", "height": size, "width": size}
              for k in range(n_files)]
    gj, pj = os.path.join(tmp_dir, "gt.json"), os.path.join(tmp_dir, "pred.json")
    pan.write_panoptic_dataset(gj, images, [s["ids"] for s in scenes], [s["segments"] for s in scenes], scats)
    pan.write_panoptic_dataset(pj, images, [q[0] for q in preds], [q[1] for q in preds], scats)
    r_files = pqm.pq_compute(gj, pj, workers=1)
    r_mem = pqm.pq_compute_arrays([(s["ids"], s["segments"], q[0], q[1]) for s, q in zip(scenes, preds)],
                                  {c["id"]: c for c in scats})
    roundtrip = all(r_files[k][m] == r_mem[k][m] for k in ("All", "Things", "Stuff") for m in ("pq", "sq", "rq", "n"))
    loaded = list(pan.load_panoptic_annotations(gj))
    roundtrip = roundtrip and all(np.array_equal(ids_, s["ids"]) for (_, ids_), s in zip(loaded, scenes))
    return {"A1": bool(a1), "A2": bool(a2), "A3": bool(a3), "A4": bool(a4), "A5": bool(a5),
            "coco_roundtrip": bool(roundtrip), "a1_result": r, "a5_swapped_pq": r2["All"]["pq"],
            "a4_max_iou_sum": worst, "roundtrip_result": r_files["All"]}


@dataclass
class _MiniCfg:
    image_size: int = 64
    min_objects: int = 2
    max_objects: int = 6
    crowd_prob: float = 0.3
    void_rim: bool = True


def _mini_cfg(size):
    return _MiniCfg(image_size=size)


# ----------------------------------------------------------------------------- studies
def noise_from_cfg(cfg) -> AnnotatorNoise:
    return AnnotatorNoise(jitter_max_px=cfg.jitter_max_px, p_jitter=cfg.p_jitter, p_merge=cfg.p_merge,
                          p_split=cfg.p_split, p_cls=cfg.p_cls, small_area=cfg.small_area,
                          p_small=cfg.p_small)


def annotator_pairs(scenes, cfg, seed: int, cats) -> tuple:
    """Two independent annotations (A, B) per scene, seeded by (seed, annotator, image)."""
    noise = noise_from_cfg(cfg)
    A, B = [], []
    for k, s in enumerate(scenes):
        A.append(annotate(s, noise, np.random.default_rng([seed, 1, k]), cats))
        B.append(annotate(s, noise, np.random.default_rng([seed, 2, k]), cats))
    return A, B


def human_study(scenes, cfg, cats=None) -> Dict[str, Any]:
    """T1 / T2 analogues over cfg.seeds (B evaluated against A), plus F-IoU, F-alpha, C1/C6 data."""
    cats = cats or categories()
    per_seed = []
    for seed in cfg.seeds:
        A, B = annotator_pairs(scenes, cfg, seed, cats)
        pairs = [(a[0], a[1], b[0], b[1]) for a, b in zip(A, B)]
        ev = evaluate(pairs, cats)
        edges = size_edges([a[1] for a in A])
        sizes = pqm.size_bucket_pq(ev["images"], {c["id"]: c for c in cats}, edges, ["S", "M", "L"])
        swapped = evaluate([(b[0], b[1], a[0], a[1]) for a, b in zip(A, B)], cats)["res"]
        per_seed.append({"seed": seed, "res": ev["res"], "images": ev["images"], "sizes": sizes,
                         "edges": edges, "swapped": swapped, "pairs": pairs if seed == cfg.seeds[0] else None})
    first = per_seed[0]
    ious = matched_ious(first["pairs"])
    tot = {"tp": 0, "fp": 0, "fn": 0}
    for v in first["res"]["per_class"].values():
        for k in tot:
            tot[k] += v[k]
    alphas = np.linspace(0, 1, 21)
    return {"per_seed": per_seed, "matched_ious": ious, "frac_below_half": float((ious < 0.5).mean()) if ious.size else math.nan,
            "uniqueness": uniqueness_check(first["pairs"]), "identity_err": pq_sq_rq_identity(first["res"]),
            "alpha": alphas, "rq_alpha": [pqm.rq_alpha(tot["tp"], tot["fp"], tot["fn"], a) for a in alphas],
            "totals": tot}


def t1_rows(human) -> List[dict]:
    rows = []
    for s in human["per_seed"]:
        rows.append(summary_row(f"annotator B vs A (seed {s['seed']})", s["res"]))
    keys = [k for k in rows[0] if k not in ("setting",)]
    rows.append({"setting": "mean over seeds", **{k: float(np.mean([r[k] for r in rows])) for k in keys}})
    for ds, (p, s_, r, st, th) in PAPER_T1.items():
        rows.append({"setting": f"paper: {ds}", "PQ": p, "SQ": s_, "RQ": r, "PQ_St": st, "PQ_Th": th})
    return rows


def t2_rows(human) -> List[dict]:
    rows = []
    for s in human["per_seed"]:
        row = {"setting": f"B vs A (seed {s['seed']})"}
        for b in ("S", "M", "L"):
            for m in ("pq", "sq", "rq"):
                row[f"{m.upper()}_{b}"] = 100 * s["sizes"][b][m]
        rows.append(row)
    keys = [k for k in rows[0] if k != "setting"]
    rows.append({"setting": "mean over seeds", **{k: float(np.mean([r[k] for r in rows])) for k in keys}})
    for ds, vals in PAPER_T2.items():
        row = {"setting": f"paper: {ds}"}
        for b, v in zip(("S", "M", "L"), vals):
            for m, x in zip(("PQ", "SQ", "RQ"), v):
                row[f"{m}_{b}"] = x
        rows.append(row)
    return rows


def hallucination_study(scenes, cfg, cats=None, seed: Optional[int] = None) -> Dict[str, Any]:
    """T4 analogue (C4): annotator B's map plus k hallucinated stuff blobs per image, evaluated
    against A: PQ^St and mIoU, without and with the stuff area limit (scaled to the image)."""
    cats = cats or categories()
    seed = cfg.seeds[0] if seed is None else seed
    A, B = annotator_pairs(scenes, cfg, seed, cats)
    st = stuff_ids(cats)
    ncls = max(c["id"] for c in cats) + 1
    limit = stuff_limit(cfg)
    rows, images, confs, index = [], {}, {}, None
    for k in cfg.blob_counts:
        preds = []
        for i, (b_ids, b_segs) in enumerate(B):
            cat_of = {s["id"]: s["category_id"] for s in b_segs}
            ids, _ = add_stuff_blobs(b_ids, cat_of, k, tuple(cfg.blob_area), np.random.default_rng([seed, 3, i]),
                                     cats, int(max(cat_of, default=0)) + 1)
            preds.append((ids, segments_of(ids, cat_of)))
        for lim_name, lim in (("none", 0), ("scaled", limit)):
            pairs, per_image = [], []
            for (a_ids, a_segs), (p_ids, p_segs) in zip(A, preds):
                sem_p = pan.semantic_from_panoptic(p_ids, p_segs)
                things = [s for s in p_segs if s["category_id"] not in st]
                tid = np.array([s["id"] for s in things], np.int64)
                masks = np.stack([p_ids == i for i in tid]) if tid.size else np.zeros((0,) + p_ids.shape, bool)
                lab = np.array([s["category_id"] for s in things], np.int64)
                m_ids, m_segs = pan.combine_semantic_instances(
                    sem_p, masks, np.ones(len(tid)), lab, stuff_category_ids=st, confidence_thr=0.5,
                    overlap_thr=cfg.overlap_thr, stuff_area_limit=lim)
                pairs.append((a_ids, a_segs, m_ids, m_segs))
                per_image.append(pqm.semantic_confusion(pan.semantic_from_panoptic(a_ids, a_segs),
                                                        pan.semantic_from_panoptic(m_ids, m_segs), ncls))
            conf = np.sum(per_image, axis=0)
            ev = evaluate(pairs, cats)
            all_ids = [c["id"] for c in cats]
            rows.append({"blobs_per_image": k, "stuff_area_limit": lim,
                         "mIoU": 100 * pqm.miou_from_confusion(conf, all_ids),
                         "mIoU_St": 100 * pqm.miou_from_confusion(conf, st),
                         "PQ_St": 100 * ev["res"]["Stuff"]["pq"], "SQ_St": 100 * ev["res"]["Stuff"]["sq"],
                         "RQ_St": 100 * ev["res"]["Stuff"]["rq"], "PQ_Th": 100 * ev["res"]["Things"]["pq"]})
            images[(k, lim_name)] = ev["images"]
            confs[(k, lim_name)] = np.stack(per_image)      # (images, ncls, ncls): mIoU bootstraps
    return {"rows": rows, "images": images, "confs": confs, "limit": limit}


def stuff_limit(cfg) -> float:
    """The script's 64*64 px stuff limit scaled to the image: 4096 / (800 * 1333) of its area."""
    if cfg.stuff_area_limit is not None:
        return float(cfg.stuff_area_limit)
    return round(4096 / (800 * 1333) * cfg.image_size ** 2, 1)


# ----------------------------------------------------------------------------- notebook helpers
def human_pq(human) -> float:
    """Human consistency PQ (%), mean over annotator seeds: T1's "mean over seeds" row."""
    return float(np.mean([summary_row("", s["res"])["PQ"] for s in human["per_seed"]]))
