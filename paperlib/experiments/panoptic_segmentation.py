"""Panoptic Segmentation (Kirillov et al., 2019): the PQ metric's anatomy, the simulated
human-consistency study, hallucinated stuff (PQ vs mIoU), the merge heuristic and machine vs human.
Paper notes (claims, the paper's numbers, our deviations): ``docs/papers/04_panoptic_segmentation.md``.

The notebook ``notebooks/04_panoptic_segmentation.ipynb`` calls, in order::

    scenes = ps.make_scenes(cfg.n_scenes, cfg, seed=cfg.data_seed)        # GT panoptic scenes
    checks = ps.exact_checks(tmp_dir)                                      # A1-A5, file round trip
    human = ps.human_study(scenes, cfg)                                    # T1 / T2 / F-IoU / F-alpha
    t4 = ps.hallucination_study(scenes, cfg)                               # T4 analogue (C4)
    machine = ps.machine_study(scenes, cfg, device)                        # T5 / T6 (C3, C5)

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
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..data import panoptic as pan
from ..metrics import pq as pqm
from ..metrics import stats

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


# ----------------------------------------------------------------------------- machine
def _targets(scene, cats):
    """Per-pixel training targets: semantic index (0..S-1 over category ids 1..S, -1 = VOID),
    thing class (0 = stuff, 1..T, -1 = VOID / crowd) and instance ids (0 for stuff)."""
    catd = {c["id"]: c for c in cats}
    ids = scene["ids"]
    sem = scene["semantic"].astype(np.int64) - 1            # VOID (0) -> -1
    thing = np.full(ids.shape, -1, np.int64)
    inst = np.zeros(ids.shape, np.int64)
    for s in scene["segments"]:
        m = ids == s["id"]
        if catd[s["category_id"]]["isthing"] == 1:
            if s["iscrowd"]:
                sem[m] = -1
                continue
            thing[m] = s["category_id"]
            inst[m] = s["id"]
        else:
            thing[m] = 0
    return sem, thing, inst


def machine_dataset(scenes, cats):
    """TensorDataset of (uint8 images (N, 3, H, W), int16 semantic, int16 thing, int32 instance
    targets) - compact, so that the gpu profile's thousands of 256-512 px scenes fit in memory;
    :func:`normalize` converts a batch."""
    import torch

    x = torch.from_numpy(np.stack([s["image"] for s in scenes])).permute(0, 3, 1, 2).contiguous()
    t = [_targets(s, cats) for s in scenes]
    sem = torch.from_numpy(np.stack([a for a, _, _ in t]).astype(np.int16))
    thing = torch.from_numpy(np.stack([b for _, b, _ in t]).astype(np.int16))
    inst = torch.from_numpy(np.stack([c for _, _, c in t]).astype(np.int32))
    return torch.utils.data.TensorDataset(x, sem, thing, inst)


def normalize(x_uint8):
    """uint8 images -> float, roughly zero-mean unit-variance."""
    return (x_uint8.float() / 255.0 - 0.5) / 0.25


def _step(model, batch, device):
    from ..models.segmentation import panoptic_losses

    x, sem, thing, inst = (t.to(device) for t in batch)
    x, sem, thing, inst = normalize(x), sem.long(), thing.long(), inst.long()
    if model.training and np.random.random() < 0.5:        # horizontal flip
        x, sem, thing, inst = (t.flip(-1) for t in (x, sem, thing, inst))
    return panoptic_losses(model(x), sem, thing, inst)


def roi_dataset(scenes, cats, rng):
    """RoI-classifier training set: one crop per non-crowd GT thing, plus a copy with its mask
    dilated or eroded by 1 px (the predicted masks are imperfect)."""
    import torch
    from scipy import ndimage

    from ..models.segmentation import roi_crops

    th = thing_ids(cats)
    x = machine_dataset(scenes, cats).tensors[0]
    crops, labels = [], []
    for i, s in enumerate(scenes):
        ms, ls = [], []
        for seg in s["segments"]:
            if seg["category_id"] in th and not seg["iscrowd"]:
                m = s["ids"] == seg["id"]
                ms.append(m)
                ls.append(th.index(seg["category_id"]))
                m2 = ndimage.binary_dilation(m) if rng.random() < 0.5 else ndimage.binary_erosion(m)
                if m2.sum() >= 4:
                    ms.append(m2)
                    ls.append(th.index(seg["category_id"]))
        if ms:
            crops.append(roi_crops(normalize(x[i]), np.stack(ms)))
            labels.extend(ls)
    return torch.utils.data.TensorDataset(torch.cat(crops), torch.tensor(labels, dtype=torch.long))


def _roi_step(model, batch, device):
    import torch.nn.functional as F

    x, y = (t.to(device) for t in batch)
    if model.training and np.random.random() < 0.5:
        x = x.flip(-1)
    return F.cross_entropy(model(x), y)


def train_machine(cfg, device, cats, seed: int = 0) -> Dict[str, Any]:
    """Train the tiny FCN and the RoI classifier on ``cfg.n_train`` fresh scenes (a different
    generator seed from the evaluation scenes) with the shared engine (AdamW, cosine)."""
    import torch

    from ..engine import TrainConfig, make_loader, train
    from ..models.segmentation import TinyPanopticFCN, TinyRoIClassifier

    torch.manual_seed(seed)
    train_scenes = make_scenes(cfg.n_train, cfg, seed=cfg.data_seed + 1000 + seed)
    ds = machine_dataset(train_scenes, cats)
    loader = make_loader(ds, cfg.batch_size, shuffle=True, seed=seed, drop_last=True)
    model = TinyPanopticFCN(num_semantic=len(cats), num_things=len(thing_ids(cats)), width=cfg.width)
    tc = TrainConfig(epochs=cfg.epochs, max_steps=cfg.max_steps, batch_size=cfg.batch_size,
                     optimizer="adamw", lr=cfg.lr, weight_decay=1e-4, schedule="cosine",
                     warmup_epochs=min(0.5, cfg.epochs), amp=False, log_every=cfg.log_every, seed=seed)
    t0 = time.time()
    hist = train(model, loader, tc, device=device, step_fn=_step, desc="tiny panoptic FCN",
                 progress=cfg.progress)
    roi_ds = roi_dataset(train_scenes, cats, np.random.default_rng(seed))
    roi = TinyRoIClassifier(len(thing_ids(cats)), width=cfg.width)
    roi_loader = make_loader(roi_ds, 64, shuffle=True, seed=seed, drop_last=len(roi_ds) >= 64)
    tc_roi = TrainConfig(epochs=cfg.roi_epochs, max_steps=cfg.max_steps, batch_size=64, optimizer="adamw",
                         lr=cfg.lr, weight_decay=1e-4, schedule="cosine", warmup_epochs=min(0.5, cfg.roi_epochs),
                         amp=False, log_every=cfg.log_every, seed=seed)
    roi_hist = train(roi, roi_loader, tc_roi, device=device, step_fn=_roi_step, desc="RoI classifier",
                     progress=cfg.progress)
    return {"model": model, "roi": roi, "history": hist, "roi_history": roi_hist,
            "train_seconds": time.time() - t0, "roi_train_size": len(roi_ds)}


def predict_machine(model, scenes, cfg, device, cats, roi=None) -> List[Dict[str, Any]]:
    """Per scene: semantic map (category ids) and instances (masks, scores, labels). Instance
    masks come from the FCN's thing + boundary heads; with ``roi`` their class comes from the RoI
    classifier and score = objectness x class probability, else from the thing head."""
    import torch

    from ..models.segmentation import instances_from_heads, roi_crops

    ds = machine_dataset(scenes, cats)
    model.eval()
    if roi is not None:
        roi.eval()
    th = thing_ids(cats)
    out = []
    with torch.no_grad():
        for i in range(0, len(ds), 16):
            x = normalize(ds.tensors[0][i:i + 16].to(device))
            o = model(x)
            sem = (o["sem"].argmax(1) + 1).cpu().numpy()
            for j in range(x.shape[0]):
                masks, scores, labels = instances_from_heads(o["thing"][j], o["boundary"][j],
                                                             min_area=cfg.min_instance_area,
                                                             boundary_thr=cfg.boundary_thr)
                if roi is not None and len(masks):
                    pr = torch.softmax(roi(roi_crops(x[j].cpu(), masks).to(device)), 1).cpu().numpy()
                    labels = pr.argmax(1) + 1
                    scores = scores * pr.max(1)
                labels = np.asarray([th[l - 1] for l in labels], np.int64)
                out.append({"semantic": sem[j].astype(np.int64), "masks": masks, "scores": scores,
                            "labels": labels})
    return out


def panoptic_predictions(preds, cfg, cats) -> Dict[str, list]:
    """separate (stuff-only from the semantic head, things-only from the instances) and merged
    (the heuristic) panoptic predictions, as (ids, segments) per image."""
    st = stuff_ids(cats)
    lim = stuff_limit(cfg)
    out = {"stuff_only": [], "things_only": [], "merged": []}
    for p in preds:
        for k, v in separate_and_merged(p, cfg, st, lim).items():
            out[k].append(v)
    return out


def separate_and_merged(p, cfg, stuff_category_ids, limit) -> Dict[str, tuple]:
    """One image's stuff-only, things-only and merged (heuristic) predictions as (ids, segments),
    from ``p`` = {semantic (H, W) category map, masks, scores, labels}."""
    h, w = p["semantic"].shape
    empty = np.zeros((0, h, w), bool)
    kw = dict(stuff_category_ids=stuff_category_ids, confidence_thr=cfg.confidence_thr,
              overlap_thr=cfg.overlap_thr, stuff_area_limit=limit)
    return {
        "stuff_only": pan.combine_semantic_instances(p["semantic"], empty, [], [], **kw),
        "things_only": pan.combine_semantic_instances(np.zeros((h, w), np.int64), p["masks"], p["scores"],
                                                      p["labels"], **kw),
        "merged": pan.combine_semantic_instances(p["semantic"], p["masks"], p["scores"], p["labels"], **kw),
    }


def machine_study(scenes, cfg, device, cats=None, human=None) -> Dict[str, Any]:
    """T5 / T6 analogues. GT = annotator A of the first seed; the human row is annotator B;
    machines: the trained tiny FCN (+ heuristic) and the spec's simulated machine."""
    cats = cats or categories()
    seed = cfg.seeds[0]
    A, B = annotator_pairs(scenes, cfg, seed, cats)
    out = {"A": A, "B": B}
    trained = None
    if cfg.train_machine:
        trained = train_machine(cfg, device, cats, seed=seed)
        preds = predict_machine(trained["model"], scenes, cfg, device, cats, roi=trained["roi"])
        pp = panoptic_predictions(preds, cfg, cats)
        for k, v in pp.items():
            out[k] = evaluate([(a[0], a[1], q[0], q[1]) for a, q in zip(A, v)], cats)
        # mIoU of the semantic head against A
        ncls = max(c["id"] for c in cats) + 1
        conf = np.zeros((ncls, ncls), np.int64)
        for a, p in zip(A, preds):
            conf += pqm.semantic_confusion(pan.semantic_from_panoptic(a[0], a[1]), p["semantic"], ncls)
        out["semantic_mIoU"] = pqm.miou_from_confusion(conf, [c["id"] for c in cats])
        out["merge_pixels"] = merge_pixel_effect(A, pp, cats)
        out["history"] = trained["history"]
        out["train_seconds"] = trained["train_seconds"]
        out["preds"] = preds[:4]
        out["panoptic"] = {k: v[:4] for k, v in pp.items()}
    out["human"] = evaluate([(a[0], a[1], b[0], b[1]) for a, b in zip(A, B)], cats)
    sim = AnnotatorNoise(**{**asdict(noise_from_cfg(cfg)), "p_drop_thing": cfg.sim_p_miss_small,
                            "n_blobs": cfg.sim_blobs})
    S = [annotate(s, sim, np.random.default_rng([seed, 5, k]), cats) for k, s in enumerate(scenes)]
    out["simulated"] = evaluate([(a[0], a[1], m[0], m[1]) for a, m in zip(A, S)], cats)
    return out


def merge_pixel_effect(A, pp, cats) -> List[dict]:
    """Where merging changes stuff: pixels the stuff-only prediction gave to a stuff class that the
    merged prediction gives to a thing (or VOID), split by whether that stuff label was right
    (against annotator A) - losses, the paper's effect - or wrong - removals of stuff errors."""
    st = set(stuff_ids(cats))
    right = wrong = total = 0
    for a, s_only, merged in zip(A, pp["stuff_only"], pp["merged"]):
        ga = pan.semantic_from_panoptic(a[0], a[1])
        ss = pan.semantic_from_panoptic(*s_only)
        mm = pan.semantic_from_panoptic(*merged)
        changed = np.isin(ss, list(st)) & (mm != ss)
        right += int((changed & (ga == ss)).sum())
        wrong += int((changed & (ga != ss) & (ga != 0)).sum())
        total += ga.size
    return [{"stuff pixels taken by merging": "correct stuff (the paper's loss)", "% of pixels": 100 * right / total},
            {"stuff pixels taken by merging": "wrong stuff (an error removed)", "% of pixels": 100 * wrong / total}]


def t5_rows(machine, name: str = "tiny FCN") -> List[dict]:
    rows = []
    if "merged" in machine:
        rows.append({"setting": f"{name}: separate", "PQ": None,
                     "PQ_St": 100 * machine["stuff_only"]["res"]["Stuff"]["pq"],
                     "PQ_Th": 100 * machine["things_only"]["res"]["Things"]["pq"]})
        m = machine["merged"]["res"]
        rows.append({"setting": f"{name}: merged (heuristic)", "PQ": 100 * m["All"]["pq"],
                     "PQ_St": 100 * m["Stuff"]["pq"], "PQ_Th": 100 * m["Things"]["pq"]})
    for ds, (s_st, s_th, m_pq, m_st, m_th) in PAPER_T5.items():
        rows.append({"setting": f"paper {ds}: separate", "PQ": None, "PQ_St": s_st, "PQ_Th": s_th})
        rows.append({"setting": f"paper {ds}: merged", "PQ": m_pq, "PQ_St": m_st, "PQ_Th": m_th})
    return rows


def t6_rows(machine) -> List[dict]:
    rows = []
    for name, key in (("human (annotator B vs A)", "human"), ("machine: tiny FCN + heuristic", "merged"),
                      ("machine: simulated (spec)", "simulated")):
        if key in machine:
            r = machine[key]["res"]["All"]
            rows.append({"setting": name, "PQ": 100 * r["pq"], "SQ": 100 * r["sq"], "RQ": 100 * r["rq"]})
    for ds, (h, m) in PAPER_T6.items():
        rows.append({"setting": f"paper {ds}: human", "PQ": h[0], "SQ": h[1], "RQ": h[2]})
        rows.append({"setting": f"paper {ds}: machine", "PQ": m[0], "SQ": m[1], "RQ": m[2]})
    return rows


# ----------------------------------------------------------------------------- claims
def claim_c1(human, checks) -> stats.Verdict:
    u = human["uniqueness"]
    return stats.decide_all({
        "A1 golden case": checks["A1"],
        "PQ = SQ x RQ per category (|diff| < 1e-12)": human["identity_err"] < 1e-12,
        "no segment with two IoU>0.5 partners": u["segments_with_two_partners"] == 0,
        "greedy IoU>0.5 matching == optimal assignment": u["images_greedy_ne_optimal"] == 0,
        "A4 IoU(p1,g)+IoU(p2,g) <= 1": checks["A4"],
    }, matches=u["matches"])


def bucket_results(images, edges) -> List[List[pqm.ImageResult]]:
    """Split every image's events into size buckets [edges[b], edges[b+1]) (TP and FN by GT area,
    FP by predicted area, as :func:`paperlib.metrics.pq.size_bucket_pq`): one ImageResult list per
    bucket, so bucketed PQ can be bootstrapped over images."""
    edges = np.asarray(edges, float)
    nb = len(edges) - 1

    def b(a):
        return np.clip(np.searchsorted(edges, a, side="right") - 1, 0, nb - 1)

    out = [[] for _ in range(nb)]
    for r in images:
        bt, bp, bn = b(r.tp_gt_area), b(r.fp_area), b(r.fn_area)
        for k in range(nb):
            t, f, n = bt == k, bp == k, bn == k
            out[k].append(pqm.ImageResult(
                image_id=r.image_id, tp_cat=r.tp_cat[t], tp_iou=r.tp_iou[t], tp_gt_area=r.tp_gt_area[t],
                tp_pred_area=r.tp_pred_area[t], tp_gt_id=r.tp_gt_id[t], tp_pred_id=r.tp_pred_id[t],
                fp_cat=r.fp_cat[f], fp_area=r.fp_area[f], fn_cat=r.fn_cat[n], fn_area=r.fn_area[n]))
    return out


def claim_c2(human, cfg) -> stats.Verdict:
    """Recognition, not segmentation, collapses for small segments: (RQ_L - RQ_S) - (SQ_L - SQ_S)
    > 0. Images of all annotator seeds pooled; paired bootstrap over (seed, image) units."""
    cats = categories()
    S, L, per_seed = [], [], []
    for s in human["per_seed"]:
        bk = bucket_results(s["images"], s["edges"])
        S += bk[0]
        L += bk[-1]
        z = s["sizes"]
        per_seed.append((z["L"]["rq"] - z["S"]["rq"]) - (z["L"]["sq"] - z["S"]["sq"]))
    bs, fs, idx = boot_counts(S, cats, cfg.n_boot, seed=3)
    bl, fl, _ = boot_counts(L, cats, cfg.n_boot, index=idx)
    ms, ml = pqm.pq_from_counts(bs), pqm.pq_from_counts(bl)
    d = (ml["rq"] - ms["rq"]) - (ml["sq"] - ms["sq"])
    Fs, Fl = pqm.pq_from_counts(fs), pqm.pq_from_counts(fl)
    diff = float((Fl["rq"] - Fs["rq"]) - (Fl["sq"] - Fs["sq"]))
    lo, hi = _ci(d)
    seed_std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None
    return stats.decide_diff(diff, lo, hi, expect="+", seed_std=seed_std, min_effect=cfg.min_effect("C2") / 100,
                             rq_gap_L_minus_S=float(Fl["rq"] - Fs["rq"]),
                             sq_gap_L_minus_S=float(Fl["sq"] - Fs["sq"]), per_seed_contrast=per_seed,
                             rule="held if the 95% CI (bootstrap over images, seeds pooled) of "
                                  "(RQ_L-RQ_S) - (SQ_L-SQ_S) excludes 0 on the + side and the contrast exceeds "
                                  "max(2 x std over annotator seeds, the stated minimum)")


def claim_c3(machine, cfg, key: str = "merged") -> stats.Verdict:
    """The machine-human gap is mostly RQ: (RQ_h - RQ_m) - (SQ_h - SQ_m) > 0, paired bootstrap
    over images (95% CI)."""
    cats = categories()
    bh, fh, idx = boot_counts(machine["human"]["images"], cats, cfg.n_boot, seed=0)
    bm, fm, _ = boot_counts(machine[key]["images"], cats, cfg.n_boot, index=idx)
    h, m = pqm.pq_from_counts(bh), pqm.pq_from_counts(bm)
    d = (h["rq"] - m["rq"]) - (h["sq"] - m["sq"])
    H, Mf = pqm.pq_from_counts(fh), pqm.pq_from_counts(fm)
    diff = float((H["rq"] - Mf["rq"]) - (H["sq"] - Mf["sq"]))
    lo, hi = _ci(d)
    return stats.decide_diff(diff, lo, hi, expect="+", min_effect=cfg.min_effect("C3") / 100,
                             delta_RQ=float(H["rq"] - Mf["rq"]), delta_SQ=float(H["sq"] - Mf["sq"]), machine=key,
                             rule="held if the 95% CI of dRQ - dSQ excludes 0 on the + side and dRQ - dSQ "
                                  "exceeds the stated minimum (one trained machine: no seed std)")


def claim_c4(t4, cfg) -> stats.Verdict:
    """Hallucinated stuff (k = max blobs vs 0, no area limit): (1) the PQ^St drop exceeds the mIoU drop
    by more than the stated minimum, (2) mIoU changes by less than ``cfg.miou_change_max_pts`` (the
    spec's 2 points). Paired bootstrap over images for both (PQ counts and per-image confusions)."""
    rows = {(r["blobs_per_image"], r["stuff_area_limit"]): r for r in t4["rows"]}
    kmax = max(cfg.blob_counts)
    r0, rk = rows[(0, 0)], rows[(kmax, 0)]
    drop_pq, drop_miou = r0["PQ_St"] - rk["PQ_St"], r0["mIoU"] - rk["mIoU"]
    cats = categories()
    st_mask = np.array([c["isthing"] != 1 for c in cats])
    all_ids = [c["id"] for c in cats]
    b0, _, idx = boot_counts(t4["images"][(0, "none")], cats, cfg.n_boot, seed=1)
    bk, _, _ = boot_counts(t4["images"][(kmax, "none")], cats, cfg.n_boot, index=idx)
    c0, ck = t4["confs"][(0, "none")], t4["confs"][(kmax, "none")]
    miou_drop_b = np.array([100 * (pqm.miou_from_confusion(c0[i].sum(0), all_ids)
                                   - pqm.miou_from_confusion(ck[i].sum(0), all_ids)) for i in idx])
    d = 100 * (pqm.pq_from_counts(b0, st_mask)["pq"] - pqm.pq_from_counts(bk, st_mask)["pq"]) - miou_drop_b
    lo, hi = _ci(d)
    gap = stats.decide_diff(drop_pq - drop_miou, lo, hi, expect="+", min_effect=cfg.min_effect("C4"),
                            quantity="PQ^St drop - mIoU drop (points)",
                            rule="held if the 95% CI excludes 0 on the + side and the gap exceeds the stated minimum")
    tol = cfg.miou_change_max_pts
    mlo, mhi = _ci(np.abs(miou_drop_b) - tol)
    small = stats.decide_diff(abs(drop_miou) - tol, mlo, mhi, expect="-",
                              quantity=f"|mIoU change| - {tol:g} points",
                              rule=f"held if the 95% CI of |mIoU change| lies below {tol:g} points (spec: "
                                   f"'mIoU should change by < {tol:g} points'), not held if above")
    return stats.combine([gap, small], PQ_St_drop=drop_pq, mIoU_drop=drop_miou, blobs=kmax)


def claim_c5(machine, cfg, cats=None) -> stats.Verdict:
    """Merging leaves PQ^Th unchanged (exact) and lowers PQ^St (paired bootstrap CI). ``cats``: the
    evaluation's categories (default: the synthetic scenes'; the GT json's for user files)."""
    if "merged" not in machine:
        return stats.not_tested("no trained machine in this profile")
    th_sep = machine["things_only"]["res"]["Things"]["pq"]
    th_mer = machine["merged"]["res"]["Things"]["pq"]
    exact = stats.decide_exact(th_mer, th_sep, quantity="PQ^Th merged vs separate")
    cats = cats or categories()
    st_mask = np.array([c["isthing"] != 1 for c in cats])
    bs, fs, idx = boot_counts(machine["stuff_only"]["images"], cats, cfg.n_boot, seed=2)
    bmg, fmg, _ = boot_counts(machine["merged"]["images"], cats, cfg.n_boot, index=idx)
    d = pqm.pq_from_counts(bs, st_mask)["pq"] - pqm.pq_from_counts(bmg, st_mask)["pq"]
    diff = float(pqm.pq_from_counts(fs, st_mask)["pq"] - pqm.pq_from_counts(fmg, st_mask)["pq"])
    lo, hi = _ci(d)
    drop = stats.decide_diff(diff, lo, hi, expect="+", min_effect=cfg.min_effect("C5") / 100,
                             quantity="PQ^St separate - merged")
    return stats.combine([exact, drop], PQ_Th_separate=th_sep, PQ_Th_merged=th_mer, PQ_St_drop=diff)


def claim_c6(human, checks) -> stats.Verdict:
    """Dataset PQ is a mean over categories, so PQ != mean SQ x mean RQ; swapping GT and
    prediction changes PQ (VOID handling)."""
    s = human["per_seed"][0]
    r, sw = s["res"]["All"], s["swapped"]["All"]
    return stats.decide_all({
        "A1: PQ != mean SQ x mean RQ": abs(checks["a1_result"]["All"]["pq"] - checks["a1_result"]["All"]["sq"]
                                           * checks["a1_result"]["All"]["rq"]) > 1e-6,
        "human data: PQ != mean SQ x mean RQ": abs(r["pq"] - r["sq"] * r["rq"]) > 1e-6,
        "A5: swapping GT and prediction changes PQ": checks["A5"],
        "human data: swapped PQ differs": abs(r["pq"] - sw["pq"]) > 1e-9,
    }, pq=r["pq"], sq_x_rq=r["sq"] * r["rq"], swapped_pq=sw["pq"])


# ----------------------------------------------------------------------------- figures
def iou_histogram_figure(human):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(human["matched_ious"], bins=np.linspace(0, 1, 21), color="#4c72b0", edgecolor="white")
    ax.axvline(0.5, color="k", ls="--", lw=1)
    ax.set_xlabel("IoU of matched segments (annotator A vs B)")
    ax.set_ylabel("matches")
    ax.set_title(f"{100 * human['frac_below_half']:.1f}% of matches below 0.5 (paper: <16%)")
    fig.tight_layout()
    return fig


def alpha_figure(human, machine=None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(human["alpha"], human["rq_alpha"], label="human (B vs A)")
    if machine is not None and "merged" in machine:
        tot = {"tp": 0, "fp": 0, "fn": 0}
        for v in machine["merged"]["res"]["per_class"].values():
            for k in tot:
                tot[k] += v[k]
        ax.plot(human["alpha"], [pqm.rq_alpha(tot["tp"], tot["fp"], tot["fn"], a) for a in human["alpha"]],
                label="machine (tiny FCN)")
    ax.axvline(0.5, color="k", ls="--", lw=1)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"RQ$^\alpha$ (pooled counts)")
    ax.legend()
    fig.tight_layout()
    return fig


def examples_figure(scenes, machine, n: int = 3):
    """Image, GT (annotator A), annotator B, machine merged prediction for the first scenes."""
    import matplotlib.pyplot as plt

    catd = {c["id"]: c for c in categories()}

    def color(ids, segs):
        """Category colour (things: per-instance brightness jitter); VOID black."""
        out = np.zeros(ids.shape + (3,), np.uint8)
        for k, sg in enumerate(sorted(segs, key=lambda t: t["id"])):
            c = np.array(catd[sg["category_id"]]["color"], float)
            if catd[sg["category_id"]]["isthing"] == 1:
                c = np.clip(c * (0.75 + 0.5 * ((k * 0.618) % 1.0)), 0, 255)
            out[ids == sg["id"]] = c.astype(np.uint8)
        return out

    cols = ["image", "annotator A (GT)", "annotator B"] + (["machine (merged)"] if "panoptic" in machine else [])
    n = min(n, len(scenes))
    fig, axes = plt.subplots(n, len(cols), figsize=(2.2 * len(cols), 2.2 * n), squeeze=False)
    A = machine["A"]
    for i in range(n):
        panels = [scenes[i]["image"], color(*A[i])]
        panels.append(color(*machine["B"][i]) if "B" in machine else color(*A[i]))
        if "panoptic" in machine:
            panels.append(color(*machine["panoptic"]["merged"][i]))
        for j, im in enumerate(panels):
            axes[i, j].imshow(im, interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(cols[j], fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- user files
FILES_LAYOUT = """data_root/
  annotations/panoptic_val2017.json        GT (COCO panoptic: images, annotations, categories)
  annotations/panoptic_val2017/*.png       GT PNGs (RGB, id = R + 256 G + 256^2 B)
prediction: overrides={"pred_json": "/path/preds.json"} with PNGs in /path/preds/ (json path
without .json), one annotation per GT image_id, segments_info [{id, category_id}]"""


def files_study(cfg, data_root) -> Dict[str, Any]:
    """Evaluate a user-supplied COCO panoptic prediction against GT under ``data_root``."""
    import os

    if data_root is None:
        raise FileNotFoundError("dataset='files' needs data_root with the layout:\n" + FILES_LAYOUT)
    gt = os.path.join(str(data_root), cfg.gt_json)
    if not os.path.isfile(gt):
        raise FileNotFoundError(f"GT json {gt} not found; expected layout:\n{FILES_LAYOUT}")
    if not cfg.pred_json:
        raise FileNotFoundError("set overrides={'pred_json': ...} (or 'semantic_pred' + 'instance_pred_json' "
                                "to merge, see MERGE_LAYOUT); expected layout:\n" + FILES_LAYOUT)
    pred = cfg.pred_json if os.path.isabs(cfg.pred_json) else os.path.join(str(data_root), cfg.pred_json)
    res, images = pqm.pq_compute(gt, pred, workers=cfg.workers, return_images=True)
    return {"res": res, "images": images, "rows": [summary_row("user prediction", res)]}


MERGE_LAYOUT = """data_root/
  annotations/panoptic_val2017.json        GT (cfg.gt_json; COCO panoptic: images, annotations, categories)
  annotations/panoptic_val2017/*.png       GT PNGs
  <semantic_pred>    either a COCO stuff results json [{image_id, category_id, segmentation: RLE}]
                     (panopticapi combine script's --semseg_json_file; thing classes are ignored),
                     or a folder of single-channel PNG label maps <image stem>.png, pixel = category id
  <instance_pred_json>  COCO detection results json [{image_id, category_id, segmentation: RLE, score}]
                     (--instseg_json_file)
set them with overrides={"semantic_pred": ..., "instance_pred_json": ...} (relative to data_root or absolute)"""


def _user_path(data_root, p):
    import os

    return p if os.path.isabs(p) else os.path.join(str(data_root), p)


def files_merge_limit(cfg) -> float:
    """Stuff area limit for real images: the script's unscaled 64*64 px unless set in the config."""
    return float(cfg.stuff_area_limit) if cfg.stuff_area_limit is not None else 64.0 * 64.0


def files_merge_study(cfg, data_root, out_dir) -> Dict[str, Any]:
    """T5 on real data: merge the user's semantic and instance results with the paper's heuristic
    (panopticapi's combine script), write stuff-only, things-only and merged COCO panoptic
    predictions (PNG + json) under ``out_dir`` and score each against the GT with ``pq_compute``."""
    import os

    if data_root is None:
        raise FileNotFoundError("the merge study needs data_root with the layout:\n" + MERGE_LAYOUT)
    for key in ("gt_json", "semantic_pred", "instance_pred_json"):
        if not getattr(cfg, key):
            raise FileNotFoundError(f"set overrides={{'{key}': ...}}; expected layout:\n{MERGE_LAYOUT}")
    gt = _user_path(data_root, cfg.gt_json)
    sem = _user_path(data_root, cfg.semantic_pred)
    inst = _user_path(data_root, cfg.instance_pred_json)
    for key, path, ok in (("gt_json", gt, os.path.isfile(gt)),
                          ("GT PNG folder", gt.replace(".json", ""), os.path.isdir(gt.replace(".json", ""))),
                          ("semantic_pred", sem, os.path.exists(sem)),
                          ("instance_pred_json", inst, os.path.isfile(inst))):
        if not ok:
            raise FileNotFoundError(f"{key}: {path} not found; expected layout:\n{MERGE_LAYOUT}")
    gt_data = pan.load_json(gt)
    cats = gt_data["categories"]
    images = {im["id"]: im for im in gt_data["images"]}
    st = stuff_ids(cats)
    limit = files_merge_limit(cfg)
    sem_folder = os.path.isdir(sem)
    sem_by = None if sem_folder else pan.results_by_image(pan.load_results_json(sem))
    inst_by = pan.results_by_image(pan.load_results_json(inst))
    if not inst_by.keys() & images.keys():
        raise ValueError(f"instance_pred_json {inst}: no result has an image_id of the GT images")
    os.makedirs(str(out_dir), exist_ok=True)
    kinds = ("stuff_only", "things_only", "merged")
    paths = {k: os.path.join(str(out_dir), f"panoptic_{k}.json") for k in kinds}
    anns = {k: [] for k in kinds}
    for k in kinds:
        os.makedirs(paths[k][:-5], exist_ok=True)
    for gt_ann in gt_data["annotations"]:
        iid = gt_ann["image_id"]
        if iid not in images:
            raise ValueError(f"GT annotation for image_id {iid} has no entry in the GT json's images")
        h, w = int(images[iid]["height"]), int(images[iid]["width"])
        fname = gt_ann["file_name"]
        if sem_folder:
            semantic = pan.read_semantic_png(os.path.join(sem, os.path.splitext(fname)[0] + ".png"), h, w)
        else:
            semantic = pan.semantic_map_from_results(sem_by.get(iid, []), h, w)
        masks, scores, labels = pan.instances_from_results(inst_by.get(iid, []), h, w,
                                                           min_score=cfg.confidence_thr)
        p = {"semantic": semantic, "masks": masks, "scores": scores, "labels": labels}
        for k, (ids, segs) in separate_and_merged(p, cfg, st, limit).items():
            info = pan.segments_info_from_ids(ids, {s["id"]: s["category_id"] for s in segs})
            pan.write_panoptic_png(os.path.join(paths[k][:-5], fname), ids)
            anns[k].append({"image_id": iid, "file_name": fname, "segments_info": info})
    out: Dict[str, Any] = {"cats": cats, "limit": limit, "paths": paths, "n_images": len(gt_data["annotations"]),
                           "semantic_format": "png folder" if sem_folder else "json (RLE)"}
    for k in kinds:
        pan.save_json({"images": gt_data["images"], "annotations": anns[k], "categories": cats}, paths[k])
        res, imgs = pqm.pq_compute(gt, paths[k], workers=cfg.workers, return_images=True)
        out[k] = {"res": res, "images": imgs}
    out["rows"] = t5_rows(out, name="user files")
    return out
