"""PQ engine: panopticapi semantics on golden cases, random pairs vs a slow reference, errors, files."""
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from paperlib.data.panoptic import id2rgb, write_panoptic_dataset, write_panoptic_png
from paperlib.metrics.pq import (
    PanopticFormatError, PQStat, miou_from_confusion, pq_compute, pq_compute_arrays, pq_image,
    rq_alpha, semantic_confusion, size_bucket_pq,
)

# ----------------------------------------------------------------------------- A1 golden image
A1_GT = """SSSSSSSS
SSSSSSSS
aaa..ccc
aaa..ccc
aaabbccc
GGGbbKKK
GGGGGKKK
GGGGGG.."""
A1_PRED = """SSSSSSSS
SSSSSSS.
.ppppxxx
.ppppxxx
..p..xxx
gg....kk
gg....kk
gg...vvv"""
A1_CATS = {1: {"id": 1, "name": "person", "isthing": 1}, 2: {"id": 2, "name": "car", "isthing": 1},
           3: {"id": 3, "name": "sky", "isthing": 0}, 4: {"id": 4, "name": "grass", "isthing": 0},
           5: {"id": 5, "name": "tree", "isthing": 0}}


def _grid(text, mapping):
    return np.array([[mapping[c] for c in row] for row in text.split()], dtype=np.uint32)


def a1():
    g = _grid(A1_GT, {"S": 10, "a": 20, "b": 21, "c": 30, "K": 40, "G": 11, ".": 0})
    p = _grid(A1_PRED, {"S": 1, "p": 2, "v": 3, "x": 4, "k": 5, "g": 6, ".": 0})
    gs = [dict(id=10, category_id=3, area=16, iscrowd=0), dict(id=20, category_id=1, area=9, iscrowd=0),
          dict(id=21, category_id=1, area=4, iscrowd=0), dict(id=30, category_id=2, area=9, iscrowd=0),
          dict(id=40, category_id=1, area=6, iscrowd=1), dict(id=11, category_id=4, area=14, iscrowd=0)]
    ps = [dict(id=1, category_id=3), dict(id=2, category_id=1), dict(id=3, category_id=1),
          dict(id=4, category_id=1), dict(id=5, category_id=1), dict(id=6, category_id=4)]
    return g, gs, p, ps


def test_a1_golden():
    g, gs, p, ps = a1()
    for s in gs:  # the JSON areas are the true pixel counts
        assert (g == s["id"]).sum() == s["area"]
    r = pq_compute_arrays([(g, gs, p, ps)], A1_CATS)
    pc = r["per_class"]
    assert (pc[3]["tp"], pc[3]["fp"], pc[3]["fn"]) == (1, 0, 0)
    assert (pc[1]["tp"], pc[1]["fp"], pc[1]["fn"]) == (1, 1, 1)
    assert (pc[2]["tp"], pc[2]["fp"], pc[2]["fn"]) == (0, 0, 1)
    assert (pc[4]["tp"], pc[4]["fp"], pc[4]["fn"]) == (0, 1, 1)
    assert (pc[5]["tp"], pc[5]["fp"], pc[5]["fn"]) == (0, 0, 0)
    assert pc[3]["pq"] == pytest.approx(0.9375, abs=1e-9)
    assert pc[1]["sq"] == pytest.approx(5 / 9, abs=1e-9) and pc[1]["pq"] == pytest.approx(5 / 18, abs=1e-9)
    assert pc[1]["rq"] == 0.5
    exp = {"All": (0.303819444, 0.373263889, 0.375, 4), "Things": (0.138888889, 0.277777778, 0.25, 2),
           "Stuff": (0.46875, 0.46875, 0.5, 2)}
    for k, (pq, sq, rq, n) in exp.items():
        assert r[k]["n"] == n
        assert r[k]["pq"] == pytest.approx(pq, abs=1e-9)
        assert r[k]["sq"] == pytest.approx(sq, abs=1e-9)
        assert r[k]["rq"] == pytest.approx(rq, abs=1e-9)
    # C6: dataset PQ is not mean SQ x mean RQ
    assert abs(r["All"]["sq"] * r["All"]["rq"] - r["All"]["pq"]) > 0.1


def test_a5_asymmetry():
    g, gs, p, ps = a1()
    r = pq_compute_arrays([(g, gs, p, ps)], A1_CATS)
    # swap: the prediction becomes GT (exact areas, no crowd), the GT becomes the prediction
    gs2 = [dict(id=s["id"], category_id=s["category_id"], area=int((p == s["id"]).sum()), iscrowd=0)
           for s in ps]
    ps2 = [dict(id=s["id"], category_id=s["category_id"]) for s in gs]
    r2 = pq_compute_arrays([(p, gs2, g, ps2)], A1_CATS)
    assert r2["All"]["pq"] != pytest.approx(r["All"]["pq"], abs=1e-6)


# ----------------------------------------------------------------------------- boundary cases
CATS2 = {1: {"id": 1, "isthing": 1}, 2: {"id": 2, "isthing": 0}, 3: {"id": 3, "isthing": 1}}


def _segs(ids, cats, crowd=()):
    out = []
    for i, c in cats.items():
        out.append(dict(id=i, category_id=c, area=int((ids == i).sum()), iscrowd=int(i in crowd)))
    return out


def test_iou_exactly_half_is_no_match():
    g = np.zeros((4, 4), np.uint32)
    g[0, :4] = 1                      # GT: 4 px
    p = np.zeros((4, 4), np.uint32)
    p[0, :2] = 7                      # pred: 2 px inside -> IoU 2/4 = 0.5
    p[3, :] = 8                       # an unrelated FP elsewhere is irrelevant here
    g[3, :] = 2
    gs = _segs(g, {1: 1, 2: 2})
    ps = [dict(id=7, category_id=1), dict(id=8, category_id=2)]
    r = pq_compute_arrays([(g, gs, p, ps)], CATS2)["per_class"][1]
    assert (r["tp"], r["fp"], r["fn"]) == (0, 1, 1)
    p[0, 2] = 7                       # 3/4 -> match
    r = pq_compute_arrays([(g, gs, p, ps)], CATS2)["per_class"][1]
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0) and r["iou"] == 0.75


def test_void_is_removed_from_union():
    # GT g = {1,2,3}; VOID = {0,4,5}
    g = np.array([[0, 5, 5, 5, 0, 0]], np.uint32)
    gs = _segs(g, {5: 1})
    ps = [dict(id=9, category_id=1)]
    # pred {0,2,3,4}: inter 2, |p| 4, |p & void| 2 -> union 4 + 3 - 2 - 2 = 3, IoU 2/3 (plain: 2/5)
    p = np.array([[9, 0, 9, 9, 9, 0]], np.uint32)
    r = pq_compute_arrays([(g, gs, p, ps)], CATS2)["per_class"][1]
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0) and r["iou"] == pytest.approx(2 / 3, abs=1e-15)
    # pred {0,2,4,5}: inter 1, void 3 -> 1/3, no match; 3/4 of it on VOID -> not an FP either
    p = np.array([[9, 0, 9, 0, 9, 9]], np.uint32)
    r = pq_compute_arrays([(g, gs, p, ps)], CATS2)["per_class"][1]
    assert (r["tp"], r["fp"], r["fn"]) == (0, 0, 1)
    # crowd is NOT removed from the union (panopticapi subtracts VOID only)
    g2 = np.array([[7, 5, 5, 5, 0, 0]], np.uint32)
    gs2 = _segs(g2, {5: 1, 7: 1}, crowd={7})
    p = np.array([[9, 9, 9, 0, 0, 0]], np.uint32)     # inter 2, |p| 3, union 3 + 3 - 2 = 4 -> 0.5
    r = pq_compute_arrays([(g2, gs2, p, ps)], CATS2)["per_class"][1]
    assert (r["tp"], r["fp"], r["fn"]) == (0, 1, 1)


def test_all_void_images():
    z = np.zeros((5, 5), np.uint32)
    r = pq_compute_arrays([(z, [], z, [])], CATS2)
    assert r["All"]["n"] == 0 and math.isnan(r["All"]["pq"])   # panopticapi would divide by zero
    p = np.zeros((5, 5), np.uint32)
    p[1:3, 1:3] = 4
    r = pq_compute_arrays([(z, [], p, [dict(id=4, category_id=1)])], CATS2)
    assert r["All"]["n"] == 0                                   # prediction wholly on VOID: ignored
    g = np.zeros((5, 5), np.uint32)
    g[0] = 3
    r = pq_compute_arrays([(g, _segs(g, {3: 2}), z, [])], CATS2)
    assert r["per_class"][2]["fn"] == 1 and r["All"]["n"] == 1 and r["All"]["pq"] == 0.0


def test_crowd_rules():
    g = np.zeros((6, 6), np.uint32)
    g[:, :3] = 40                 # person crowd
    g[:, 3:] = 41                 # another person crowd, listed later -> the one that is used
    p = np.zeros((6, 6), np.uint32)
    p[0:2, 0:2] = 1               # person on crowd 40 (not the used one) -> FP
    p[0:2, 4:6] = 2               # person on crowd 41 -> ignored
    p[4:6, 4:6] = 3               # thing of another category on the crowd -> FP
    gs = _segs(g, {40: 1, 41: 1}, crowd={40, 41})
    ps = [dict(id=1, category_id=1), dict(id=2, category_id=1), dict(id=3, category_id=3)]
    r = pq_compute_arrays([(g, gs, p, ps)], CATS2)["per_class"]
    assert (r[1]["tp"], r[1]["fp"], r[1]["fn"]) == (0, 1, 0)     # crowd never FN, never matched
    assert (r[3]["tp"], r[3]["fp"], r[3]["fn"]) == (0, 1, 0)
    # a prediction equal to a crowd region is not a TP
    p2 = g.copy()
    ps2 = [dict(id=40, category_id=1), dict(id=41, category_id=1)]
    r = pq_compute_arrays([(g, gs, p2, ps2)], CATS2)["per_class"][1]
    assert (r["tp"], r["fp"], r["fn"]) == (0, 1, 0)              # 40 is FP (crowd 41 is the used one)


def test_category_without_gt_counts_as_zero():
    g = np.zeros((4, 4), np.uint32)
    g[:2] = 1
    g[2:] = 9                                      # a thing of category 1 on rows 2-3, unpredicted
    p = g.copy()
    p[2:] = 2                                      # predicted as category 3, absent from GT
    gs = _segs(g, {1: 1, 9: 1})
    ps = [dict(id=1, category_id=1), dict(id=2, category_id=3)]
    r = pq_compute_arrays([(g, gs, p, ps)], CATS2)
    assert r["per_class"][3]["fp"] == 1 and r["per_class"][3]["pq"] == 0.0
    assert r["per_class"][1]["fn"] == 1 and r["per_class"][1]["pq"] == pytest.approx(1 / 1.5)
    assert r["Things"]["n"] == 2 and r["Things"]["pq"] == pytest.approx(1 / 3)
    assert r["Stuff"]["n"] == 0                    # category 2: no GT, no prediction -> excluded


def test_void_overlap_fp_rule_is_strict():
    g = np.zeros((2, 4), np.uint32)
    g[:, 2:] = 7                                   # stuff cat 2; void on the left half
    for n_void, expect_fp in ((2, 1), (3, 0)):     # pred of 4 px: 2 on void -> exactly half -> FP
        p = np.zeros((2, 4), np.uint32)
        p.reshape(-1)[[0, 1, 4, 5][:n_void] + [2, 3, 6, 7][: 4 - n_void]] = 5
        ps = [dict(id=5, category_id=1)]
        r = pq_compute_arrays([(g, _segs(g, {7: 2}), p, ps)], CATS2)["per_class"][1]
        assert r["fp"] == expect_fp


def test_counts_summed_over_images_not_averaged():
    g = np.zeros((4, 4), np.uint32)
    g[:2] = 1
    g[2:] = 2
    good = g.copy()
    bad = np.zeros_like(g)
    bad[:2] = 3
    gs = _segs(g, {1: 1, 2: 2})
    s1 = (g, gs, good, [dict(id=1, category_id=1), dict(id=2, category_id=2)])
    s2 = (g, gs, bad, [dict(id=3, category_id=3)])
    s3 = (g, gs, good, [dict(id=1, category_id=1), dict(id=2, category_id=2)])
    r = pq_compute_arrays([s1, s2, s3], CATS2)
    c1 = r["per_class"][1]
    assert (c1["tp"], c1["fp"], c1["fn"]) == (2, 0, 1)
    assert c1["pq"] == pytest.approx(2 / 2.5)
    stat = PQStat()
    for s in (s1, s2, s3):
        stat.add_image(*s, categories=CATS2)
    assert stat.results(CATS2) == r


# ----------------------------------------------------------------------------- slow reference
def slow_reference(samples, categories):
    """Direct transcription of the published rules, pixel masks and dicts only."""
    acc = {}
    for g, gs, p, ps in samples:
        gseg = {s["id"]: s for s in gs}
        pseg = {s["id"]: dict(s) for s in ps}
        for pid in pseg:
            pseg[pid]["area"] = int((p == pid).sum())
        void = g == 0
        gm, pm = set(), set()
        for gid in sorted(gseg):
            for pid in sorted(pseg):
                gi, pi = gseg[gid], pseg[pid]
                if gi["iscrowd"] == 1 or gi["category_id"] != pi["category_id"]:
                    continue
                pmask = p == pid
                inter = int(((g == gid) & pmask).sum())
                if inter == 0:
                    continue
                union = pi["area"] + gi["area"] - inter - int((pmask & void).sum())
                iou = inter / union
                if iou > 0.5:
                    a = acc.setdefault(gi["category_id"], [0, 0, 0, 0.0])
                    a[0] += 1
                    a[3] += iou
                    gm.add(gid)
                    pm.add(pid)
        crowd = {}
        for gid, gi in gseg.items():
            if gid in gm:
                continue
            if gi["iscrowd"] == 1:
                crowd[gi["category_id"]] = gid
                continue
            acc.setdefault(gi["category_id"], [0, 0, 0, 0.0])[2] += 1
        for pid, pi in pseg.items():
            if pid in pm:
                continue
            pmask = p == pid
            ign = int((pmask & void).sum())
            if pi["category_id"] in crowd:
                ign += int((pmask & (g == crowd[pi["category_id"]])).sum())
            if ign / pi["area"] > 0.5:
                continue
            acc.setdefault(pi["category_id"], [0, 0, 0, 0.0])[1] += 1
    res = {}
    for name, want in (("All", None), ("Things", True), ("Stuff", False)):
        vals = []
        for c, info in categories.items():
            if want is not None and (info["isthing"] == 1) != want:
                continue
            tp, fp, fn, iou = acc.get(c, [0, 0, 0, 0.0])
            if tp + fp + fn == 0:
                continue
            d = tp + 0.5 * fp + 0.5 * fn
            vals.append((iou / d, iou / tp if tp else 0.0, tp / d))
        n = len(vals)
        res[name] = {"pq": sum(v[0] for v in vals) / n if n else math.nan,
                     "sq": sum(v[1] for v in vals) / n if n else math.nan,
                     "rq": sum(v[2] for v in vals) / n if n else math.nan, "n": n}
    return res, acc


RAND_CATS = {c: {"id": c, "isthing": int(c <= 3)} for c in (1, 2, 3, 7, 8, 9)}


def random_pair(rng, h=None, w=None):
    h = h or int(rng.integers(8, 40))
    w = w or int(rng.integers(8, 40))
    g = np.zeros((h, w), np.int64)
    cats, crowd = {}, set()
    nid = 0
    for _ in range(int(rng.integers(0, 12))):
        nid += int(rng.integers(1, 50000))
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        y1, x1 = y0 + rng.integers(1, h // 2 + 2), x0 + rng.integers(1, w // 2 + 2)
        g[y0:y1, x0:x1] = nid
        cats[nid] = int(rng.choice(list(RAND_CATS)))
        if cats[nid] <= 3 and rng.random() < 0.15:
            crowd.add(nid)
    g[rng.random((h, w)) < rng.uniform(0, 0.1)] = 0      # speckle VOID
    present = set(np.unique(g).tolist()) - {0}
    gs = [dict(id=i, category_id=c, area=int((g == i).sum()), iscrowd=int(i in crowd))
          for i, c in cats.items() if i in present]
    rng.shuffle(gs)
    # prediction: GT with remapped ids, shifts, relabels, new blobs, holes
    p = np.zeros_like(g)
    pcats = {}
    remap = {}
    for s in gs:
        new = int(rng.integers(1, 2 ** 24))
        while new in remap.values():
            new = int(rng.integers(1, 2 ** 24))
        remap[s["id"]] = new
        m = g == s["id"]
        if rng.random() < 0.5:
            m = np.roll(m, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
        if rng.random() < 0.15:
            continue
        p[m] = new
        pcats[new] = s["category_id"] if rng.random() > 0.1 else int(rng.choice(list(RAND_CATS)))
    for _ in range(int(rng.integers(0, 5))):
        new = int(rng.integers(1, 2 ** 24))
        if new in pcats:
            continue
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        p[y0:y0 + rng.integers(1, 8), x0:x0 + rng.integers(1, 8)] = new
        pcats[new] = int(rng.choice(list(RAND_CATS)))
    if rng.random() < 0.5:
        p[rng.random((h, w)) < 0.05] = 0
    pp = set(np.unique(p).tolist()) - {0}
    ps = [dict(id=i, category_id=c) for i, c in pcats.items() if i in pp]
    rng.shuffle(ps)
    return g.astype(np.uint32), gs, p.astype(np.uint32), ps


def test_random_pairs_equal_slow_reference():
    rng = np.random.default_rng(0)
    for trial in range(12):
        samples = [random_pair(rng) for _ in range(int(rng.integers(1, 8)))]
        ours = pq_compute_arrays(samples, RAND_CATS)
        ref, acc = slow_reference(samples, RAND_CATS)
        for c, (tp, fp, fn, iou) in acc.items():
            pc = ours["per_class"][c]
            assert (pc["tp"], pc["fp"], pc["fn"]) == (tp, fp, fn), (trial, c)
            assert abs(pc["iou"] - iou) <= 1e-12
        for k in ("All", "Things", "Stuff"):
            assert ours[k]["n"] == ref[k]["n"]
            for m in ("pq", "sq", "rq"):
                if ref[k]["n"] == 0:
                    assert math.isnan(ours[k][m])
                else:
                    assert abs(ours[k][m] - ref[k][m]) <= 1e-12, (trial, k, m)


def test_a4_match_uniqueness_property():
    rng = np.random.default_rng(1)
    for _ in range(30):
        g, gs, p, ps = random_pair(rng)
        res = pq_image(g, gs, p, ps, RAND_CATS)
        assert len(set(res.tp_gt_id.tolist())) == len(res.tp_gt_id)
        assert len(set(res.tp_pred_id.tolist())) == len(res.tp_pred_id)
        # for disjoint p1, p2 and any g: IoU(p1, g) + IoU(p2, g) <= 1 (plain IoU)
        for s in gs:
            gm = g == s["id"]
            tot = 0.0
            for q in ps:
                pm = p == q["id"]
                tot += (gm & pm).sum() / (gm | pm).sum()
            assert tot <= 1 + 1e-12


# ----------------------------------------------------------------------------- malformed input
def _simple():
    g = np.zeros((4, 4), np.uint32)
    g[:2] = 5
    p = g.copy()
    return g, [dict(id=5, category_id=1, area=8, iscrowd=0)], p, [dict(id=5, category_id=1)]


def test_malformed_predictions_raise_clear_errors():
    g, gs, p, ps = _simple()
    p2 = p.copy()
    p2[3, 3] = 77
    with pytest.raises(PanopticFormatError, match=r"image with ID 42 segment with ID 77 is presented in PNG and not"):
        pq_image(g, gs, p2, ps, CATS2, image_id=42)
    with pytest.raises(PanopticFormatError, match=r"image with ID 42 .*\[99\] are presented in JSON and not presented in PNG"):
        pq_image(g, gs, p, ps + [dict(id=99, category_id=1)], CATS2, image_id=42)
    with pytest.raises(PanopticFormatError, match=r"image with ID 42 segment with ID 5 has unknown category_id 123"):
        pq_image(g, gs, p, [dict(id=5, category_id=123)], CATS2, image_id=42)
    with pytest.raises(PanopticFormatError, match=r"image with ID 42 the prediction segments_info has duplicate segment IDs \[5\]"):
        pq_image(g, gs, p, ps + [dict(id=5, category_id=1)], CATS2, image_id=42)
    with pytest.raises(PanopticFormatError, match=r"image with ID 42 the prediction PNG has shape \(4, 5\)"):
        pq_image(g, gs, np.zeros((4, 5), np.uint32), [], CATS2, image_id=42)
    with pytest.raises(PanopticFormatError, match="reserved for VOID"):
        pq_image(g, gs, p, ps + [dict(id=0, category_id=1)], CATS2, image_id=42)
    # also a KeyError, as panopticapi raises
    with pytest.raises(KeyError):
        pq_image(g, gs, p, [dict(id=5, category_id=123)], CATS2, image_id=42)


# ----------------------------------------------------------------------------- files
def _write(tmp_path, name, images, maps, segs, cats):
    return write_panoptic_dataset(tmp_path / f"{name}.json", images, maps, segs, list(cats.values()))


def test_file_roundtrip_matches_arrays_and_workers(tmp_path):
    rng = np.random.default_rng(3)
    samples = [random_pair(rng, 24, 32) for _ in range(6)]
    images = [dict(id=100 + i, file_name=f"img{i:03d}.jpg", height=24, width=32) for i in range(6)]
    _write(tmp_path, "gt", images, [s[0] for s in samples], [s[1] for s in samples], RAND_CATS)
    _write(tmp_path, "pred", images, [s[2] for s in samples], [s[3] for s in samples], RAND_CATS)
    gt = json.load(open(tmp_path / "gt.json"))
    assert gt["annotations"][0]["file_name"] == "img000.png"
    with Image.open(tmp_path / "gt" / "img000.png") as im:
        assert im.mode == "RGB"
    r_arr = pq_compute_arrays(samples, RAND_CATS)
    r1 = pq_compute(str(tmp_path / "gt.json"), str(tmp_path / "pred.json"), workers=1)
    r2 = pq_compute(tmp_path / "gt.json", tmp_path / "pred.json", workers=2)
    assert r1 == r2                                   # identical, not just close
    for k in ("All", "Things", "Stuff"):
        for m in ("pq", "sq", "rq", "n"):
            assert r1[k][m] == r_arr[k][m] or (math.isnan(r1[k][m]) and math.isnan(r_arr[k][m]))


def test_file_errors(tmp_path):
    g, gs, p, ps = _simple()
    images = [dict(id=7, file_name="a.png", height=4, width=4)]
    cats = {1: {"id": 1, "isthing": 1}}
    _write(tmp_path, "gt", images, [g], [gs], cats)
    # missing prediction entry
    json.dump({"annotations": [], "categories": []}, open(tmp_path / "pred.json", "w"))
    os.makedirs(tmp_path / "pred", exist_ok=True)
    with pytest.raises(PanopticFormatError, match="no prediction for the image with id: 7"):
        pq_compute(tmp_path / "gt.json", tmp_path / "pred.json")
    # PNG of the wrong size
    json.dump({"annotations": [{"image_id": 7, "file_name": "a.png", "segments_info": ps}]},
              open(tmp_path / "pred.json", "w"))
    write_panoptic_png(tmp_path / "pred" / "a.png", np.zeros((4, 6), np.uint32))
    with pytest.raises(PanopticFormatError, match=r"image with ID 7 the prediction PNG has shape \(4, 6\)"):
        pq_compute(tmp_path / "gt.json", tmp_path / "pred.json")
    # palette PNG
    Image.fromarray(np.zeros((4, 4), np.uint8), mode="L").convert("P").save(tmp_path / "pred" / "a.png")
    with pytest.raises(PanopticFormatError, match="image with ID 7.*mode 'P'"):
        pq_compute(tmp_path / "gt.json", tmp_path / "pred.json")
    # missing PNG
    os.remove(tmp_path / "pred" / "a.png")
    with pytest.raises(PanopticFormatError, match="image with ID 7 the prediction PNG .* does not exist"):
        pq_compute(tmp_path / "gt.json", tmp_path / "pred.json")
    # missing folder
    with pytest.raises(FileNotFoundError):
        pq_compute(tmp_path / "gt.json", tmp_path / "pred.json", pred_folder=tmp_path / "nope")


# ----------------------------------------------------------------------------- extras
def test_a3_rq_alpha():
    assert rq_alpha(1, 1, 1, 0.5) == 0.5
    assert rq_alpha(1, 1, 1, 0.25) == pytest.approx(2 / 3, abs=1e-4)
    assert rq_alpha(1, 1, 1, 1.0) == pytest.approx(1 / 3)
    assert rq_alpha(0, 0, 0) == 0.0


def test_size_buckets_and_miou():
    g, gs, p, ps = a1()
    r, imgs = pq_compute_arrays([(g, gs, p, ps)], A1_CATS, return_images=True)
    b = size_bucket_pq(imgs, A1_CATS, [0, 5, 10, np.inf], ["S", "M", "L"])
    # S: b (4 px) FN; M: a-p TP, c FN, x FP (9 px); L: sky TP, grass FN + FP (g 6 px is M)
    assert b["S"]["n"] == 1 and b["S"]["pq"] == 0.0
    assert b["L"]["n"] == 2
    total = sum(b[k]["n"] for k in b)
    assert total >= r["All"]["n"]
    from paperlib.data.panoptic import semantic_from_panoptic
    gsem = semantic_from_panoptic(g, gs)
    psem = semantic_from_panoptic(p, ps)
    conf = semantic_confusion(gsem, psem, 6)
    assert conf.sum() == 64 - 6                      # GT void excluded
    mi = miou_from_confusion(conf, [1, 2, 3, 4, 5])
    assert 0 < mi < 1


def test_a6_paper_arithmetic():
    t1 = {"Cityscapes": (69.7, 71.3, 67.4, 11, 8), "ADE20k": (67.1, 70.3, 65.9, 50, 100),
          "Vistas": (57.5, 62.6, 53.4, 28, 37)}
    t5 = {"Cityscapes": (61.2, 66.4, 54.0, 11, 8), "ADE20k": (35.6, 24.5, 41.1, 50, 100),
          "Vistas": (38.3, 41.8, 35.7, 28, 37)}
    worst = 0.0
    for tab in (t1, t5):
        for pq, st, th, ns, nt in tab.values():
            dev = abs(pq - (ns * st + nt * th) / (ns + nt))
            assert dev <= 0.35
            worst = max(worst, dev)
    assert worst == pytest.approx(0.2667, abs=0.01)


def test_a7_torchmetrics_on_void_and_crowd_free_inputs():
    """torchmetrics differs on VOID and crowd; on void-free, crowd-free maps with one segment per
    stuff class it must agree. torchmetrics comes with the dev extra (skipped only where it is absent)."""
    tm = pytest.importorskip("torchmetrics.functional.detection")
    import torch
    rng = np.random.default_rng(5)
    cats = {1: {"id": 1, "isthing": 1}, 2: {"id": 2, "isthing": 1}, 9: {"id": 9, "isthing": 0}}

    def scene():
        ids = np.full((16, 16), 1000, np.int64)            # one stuff segment (category 9)
        cat = {1000: 9}
        for k in range(1, int(rng.integers(2, 6))):
            y, x = rng.integers(0, 12, size=2)
            ids[y:y + rng.integers(2, 6), x:x + rng.integers(2, 6)] = k
            cat[k] = int(rng.integers(1, 3))
        cat = {i: c for i, c in cat.items() if (ids == i).any()}
        return ids, cat

    def enc(ids, cat):
        out = np.zeros(ids.shape + (2,), np.int64)
        for i, c in cat.items():
            out[ids == i, 0] = c
            out[ids == i, 1] = 0 if c == 9 else i
        return torch.from_numpy(out)[None]

    for _ in range(4):
        g, gc = scene()
        p, pc = scene()
        gs = [dict(id=i, category_id=c, area=int((g == i).sum()), iscrowd=0) for i, c in gc.items()]
        ps = [dict(id=i, category_id=c) for i, c in pc.items()]
        ours = pq_compute_arrays([(g, gs, p, ps)], cats)
        val = tm.panoptic_quality(enc(p, pc), enc(g, gc), things={1, 2}, stuffs={9})
        assert float(val) == pytest.approx(ours["All"]["pq"], abs=1e-6)
