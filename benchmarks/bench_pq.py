"""Benchmark: paperlib.metrics.pq.pq_compute vs a straightforward per-image implementation of
panopticapi's algorithm (written below, one process), on the same PNG + JSON files.

    .venv/bin/python benchmarks/bench_pq.py [--images 80] [--size 256] [--repeat 3]

Asserts identical numbers, prints the speed ratio, writes benchmarks/results/pq_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from paperlib.data.panoptic import write_panoptic_dataset  # noqa: E402
from paperlib.metrics.pq import pq_compute, pq_compute_arrays  # noqa: E402

OFFSET = 256 * 256 * 256
VOID = 0


# ----------------------------------------------------------------------------- reference
def _rgb2id(color):
    if color.dtype == np.uint8:
        color = color.astype(np.int32)
    return color[:, :, 0] + 256 * color[:, :, 1] + 256 * 256 * color[:, :, 2]


def reference_pq(gt_json_file, pred_json_file):
    """panopticapi's evaluation, per image, in the plain form (dict loops over np.unique)."""
    gt_json = json.load(open(gt_json_file))
    pred_json = json.load(open(pred_json_file))
    gt_folder, pred_folder = gt_json_file[:-5], pred_json_file[:-5]
    categories = {c["id"]: c for c in gt_json["categories"]}
    preds = {a["image_id"]: a for a in pred_json["annotations"]}
    stat = defaultdict(lambda: [0.0, 0, 0, 0])  # iou, tp, fp, fn
    for gt_ann in gt_json["annotations"]:
        pred_ann = preds[gt_ann["image_id"]]
        pan_gt = _rgb2id(np.array(Image.open(os.path.join(gt_folder, gt_ann["file_name"])), dtype=np.uint32))
        pan_pred = _rgb2id(np.array(Image.open(os.path.join(pred_folder, pred_ann["file_name"])), dtype=np.uint32))
        reference_image(pan_gt, pan_pred, gt_ann, pred_ann, categories, stat)
    return reference_average(stat, categories)


def reference_image(pan_gt, pan_pred, gt_ann, pred_ann, categories, stat):
    if True:
        gt_segms = {el["id"]: el for el in gt_ann["segments_info"]}
        pred_segms = {el["id"]: dict(el) for el in pred_ann["segments_info"]}
        pred_labels_set = set(pred_segms)
        labels, labels_cnt = np.unique(pan_pred, return_counts=True)
        for label, cnt in zip(labels, labels_cnt):
            if label not in pred_segms:
                if label == VOID:
                    continue
                raise KeyError(label)
            pred_segms[label]["area"] = cnt
            pred_labels_set.remove(label)
            if pred_segms[label]["category_id"] not in categories:
                raise KeyError(label)
        if pred_labels_set:
            raise KeyError(pred_labels_set)
        pan_gt_pred = pan_gt.astype(np.uint64) * OFFSET + pan_pred.astype(np.uint64)
        gt_pred_map = {}
        labels, labels_cnt = np.unique(pan_gt_pred, return_counts=True)
        for label, inter in zip(labels, labels_cnt):
            gt_pred_map[(label // OFFSET, label % OFFSET)] = inter
        gt_matched, pred_matched = set(), set()
        for (gl, pl), inter in gt_pred_map.items():
            if gl not in gt_segms or pl not in pred_segms:
                continue
            if gt_segms[gl]["iscrowd"] == 1:
                continue
            if gt_segms[gl]["category_id"] != pred_segms[pl]["category_id"]:
                continue
            union = pred_segms[pl]["area"] + gt_segms[gl]["area"] - inter - gt_pred_map.get((VOID, pl), 0)
            iou = inter / union
            if iou > 0.5:
                s = stat[gt_segms[gl]["category_id"]]
                s[1] += 1
                s[0] += iou
                gt_matched.add(gl)
                pred_matched.add(pl)
        crowd = {}
        for gl, gi in gt_segms.items():
            if gl in gt_matched:
                continue
            if gi["iscrowd"] == 1:
                crowd[gi["category_id"]] = gl
                continue
            stat[gi["category_id"]][3] += 1
        for pl, pi in pred_segms.items():
            if pl in pred_matched:
                continue
            inter = gt_pred_map.get((VOID, pl), 0)
            if pi["category_id"] in crowd:
                inter += gt_pred_map.get((crowd[pi["category_id"]], pl), 0)
            if inter / pi["area"] > 0.5:
                continue
            stat[pi["category_id"]][2] += 1


def reference_average(stat, categories):
    res = {}
    for name, want in (("All", None), ("Things", True), ("Stuff", False)):
        pq = sq = rq = 0.0
        n = 0
        for c, info in categories.items():
            if want is not None and (info["isthing"] == 1) != want:
                continue
            iou, tp, fp, fn = stat[c]
            if tp + fp + fn == 0:
                continue
            n += 1
            pq += iou / (tp + 0.5 * fp + 0.5 * fn)
            sq += iou / tp if tp else 0
            rq += tp / (tp + 0.5 * fp + 0.5 * fn)
        res[name] = {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": n}
    return res


# ----------------------------------------------------------------------------- data
def make_pair(rng, size):
    """A scene-like GT (stuff bands + rectangles/ellipses of things + void) and a noisy prediction."""
    h = w = size
    g = np.zeros((h, w), np.int64)
    cats = {}
    yy, xx = np.mgrid[:h, :w]
    cuts = np.sort(rng.integers(h // 5, 4 * h // 5, size=2))
    for k, (a, b) in enumerate(zip([0, cuts[0], cuts[1]], [cuts[0], cuts[1], h])):
        sid = int(rng.integers(1, 2 ** 24))
        g[a:b] = sid
        cats[sid] = 10 + k
    for _ in range(int(rng.integers(10, 30))):
        sid = int(rng.integers(1, 2 ** 24))
        r = rng.integers(3, size // 6)
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        m = ((yy - cy) / r) ** 2 + ((xx - cx) / (r * rng.uniform(0.5, 1.5))) ** 2 <= 1
        g[m] = sid
        cats[sid] = int(rng.integers(1, 4))
    g[rng.random((h, w)) < 0.01] = 0
    g[:, :3] = 0
    present = set(np.unique(g).tolist()) - {0}
    crowd = {s for s in present if cats[s] == 3 and rng.random() < 0.1}
    gs = [dict(id=s, category_id=cats[s], iscrowd=int(s in crowd)) for s in present]
    p = np.zeros_like(g)
    pc = {}
    for s in present:
        if rng.random() < 0.1:
            continue
        m = np.roll(g == s, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
        pid = int(rng.integers(1, 2 ** 24))
        p[m] = pid
        pc[pid] = cats[s] if rng.random() > 0.1 else int(rng.integers(1, 4))
    pp = set(np.unique(p).tolist()) - {0}
    ps = [dict(id=s, category_id=pc[s]) for s in pp]
    return g, gs, p, ps


def reference_arrays(samples, categories):
    stat = defaultdict(lambda: [0.0, 0, 0, 0])
    for g, gs, p, ps in samples:
        reference_image(g, p, {"segments_info": gs}, {"segments_info": ps}, categories, stat)
    return reference_average(stat, categories)


def _best(fn, repeat, clock):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=80)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "pq_speed.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    cats = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 1},
            {"id": 3, "name": "c", "isthing": 1}, {"id": 10, "name": "sky", "isthing": 0},
            {"id": 11, "name": "wall", "isthing": 0}, {"id": 12, "name": "ground", "isthing": 0}]
    pairs = [make_pair(rng, args.size) for _ in range(args.images)]
    images = [dict(id=i, file_name=f"{i:05d}.png", height=args.size, width=args.size)
              for i in range(args.images)]
    with tempfile.TemporaryDirectory() as d:
        gj, pj = os.path.join(d, "gt.json"), os.path.join(d, "pred.json")
        write_panoptic_dataset(gj, images, [p[0] for p in pairs], [p[1] for p in pairs], cats)
        write_panoptic_dataset(pj, images, [p[2] for p in pairs], [p[3] for p in pairs], cats)
        # warm-up (file cache, imports)
        reference_pq(gj, pj)
        pq_compute(gj, pj, workers=1)
        res = {}
        # CPU time of this process (the machine is shared: wall time is noisy), single process
        for clock_name, clock in (("cpu", time.process_time), ("wall", time.perf_counter)):
            t_ref, ref = _best(lambda: reference_pq(gj, pj), args.repeat, clock)
            t_ours, ours = _best(lambda: pq_compute(gj, pj, workers=1), args.repeat, clock)
            res[f"files_{clock_name}"] = {"reference_s": round(t_ref, 4), "paperlib_s": round(t_ours, 4),
                                          "ratio": round(t_ref / t_ours, 2)}
            for k in ("All", "Things", "Stuff"):
                for m in ("pq", "sq", "rq", "n"):
                    assert ours[k][m] == ref[k][m], (k, m, ours[k][m], ref[k][m])
        # all cores (wall time; pq_compute's default for large sets)
        nw = len(os.sched_getaffinity(0))
        t_par, par = _best(lambda: pq_compute(gj, pj, workers=nw), args.repeat, time.perf_counter)
        assert par == ours
        res["files_wall_all_cores"] = {"workers": nw, "paperlib_s": round(t_par, 4),
                                       "ratio_vs_reference_wall": round(res["files_wall"]["reference_s"] / t_par, 2)}
        # PNG decoding alone (shared by both; bounds the end-to-end ratio)
        def decode():
            for a in json.load(open(gj))["annotations"]:
                for f in (gj, pj):
                    np.asarray(Image.open(os.path.join(f[:-5], a["file_name"])))
        t_decode, _ = _best(decode, args.repeat, time.process_time)
        res["png_decode_cpu_s"] = round(t_decode, 4)
    # the metric itself on decoded id maps (no PNG I/O), CPU time
    samples = []
    for g, gs, p, ps in pairs:
        gs = [dict(s, area=int((g == s["id"]).sum())) for s in gs]
        samples.append((g.astype(np.uint32), gs, p.astype(np.uint32), ps))
    catd = {c["id"]: c for c in cats}
    t_ref, ref = _best(lambda: reference_arrays(samples, catd), args.repeat, time.process_time)
    t_ours, ours2 = _best(lambda: pq_compute_arrays(samples, catd), args.repeat, time.process_time)
    for k in ("All", "Things", "Stuff"):
        for m in ("pq", "sq", "rq", "n"):
            assert ours2[k][m] == ref[k][m], (k, m)
    res["arrays_cpu"] = {"reference_s": round(t_ref, 4), "paperlib_s": round(t_ours, 4),
                         "ratio": round(t_ref / t_ours, 2)}
    result = {
        "images": args.images, "size": args.size, "repeat": args.repeat, "identical": True,
        **res, "All": ours["All"], "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(), "numpy": np.__version__,
        "note": "min over repeats; 'cpu' = process CPU time (machine shared), 'wall' = elapsed",
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    for k, v in res.items():
        print(f"{k:22s} {v}")
    print("identical numbers: yes;", json.dumps(ours["All"]))


if __name__ == "__main__":
    main()
