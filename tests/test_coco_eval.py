"""COCO evaluation: AP / AR through pycocotools, its traps, and the per-image re-accumulation."""
import copy

import numpy as np
import pytest

from paperlib.metrics import coco as mc


def _gt(with_fields=True):
    """3 images: small, medium, large boxes of two categories, one crowd region."""
    anns = []
    boxes = {1: [(2, 2, 20, 20, 1), (100, 100, 50, 60, 2)],      # 400 small, 3000 medium
             2: [(10, 10, 120, 110, 1), (150, 20, 10, 12, 2)],   # 13200 large, 120 small
             3: [(30, 40, 40, 40, 2)]}                           # 1600 medium
    k = 1
    for iid, bs in boxes.items():
        for x, y, w, h, c in bs:
            a = {"id": k, "image_id": iid, "category_id": c, "bbox": [x, y, w, h]}
            if with_fields:
                a.update(area=float(w * h), iscrowd=0)
            anns.append(a)
            k += 1
    crowd = {"id": k, "image_id": 3, "category_id": 1, "bbox": [180, 180, 60, 60], "area": 3600.0,
             "iscrowd": 1}
    if with_fields:
        anns.append(crowd)
    return {"images": [{"id": i, "width": 256, "height": 256, "file_name": f"{i}.png"} for i in (1, 2, 3)],
            "annotations": anns, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}


def _as_dets(gt, score=0.9):
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": list(a["bbox"]),
             "score": score} for a in gt["annotations"] if not a.get("iscrowd", 0)]


def test_gt_as_detections_gives_ap_one():
    gt = _gt()
    r = mc.evaluate_coco(copy.deepcopy(gt), _as_dets(gt))
    assert r == pytest.approx({"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "APs": 1.0, "APm": 1.0, "APl": 1.0})


def test_missing_area_iscrowd_are_filled():
    gt = _gt(with_fields=False)
    r = mc.evaluate_coco(gt, _as_dets(gt))
    assert r["AP"] == pytest.approx(1.0)


def test_empty_detections_give_zero_without_crash():
    r = mc.evaluate_coco(_gt(), [])
    assert all(v == 0.0 for v in r.values())
    ar = mc.proposal_recall(_gt(), [], max_dets=(1, 10))
    assert all(v == 0.0 for v in ar.values())


def test_mask_ap_one():
    from pycocotools import mask as mask_utils

    gt = _gt()
    dets = []
    for a in gt["annotations"]:
        m = np.zeros((256, 256), np.uint8)
        x, y, w, h = a["bbox"]
        m[y:y + h, x:x + w] = 1
        rle = mask_utils.encode(np.asfortranarray(m))
        rle["counts"] = rle["counts"].decode()
        a["segmentation"] = rle
        if not a["iscrowd"]:
            dets.append({"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": rle,
                         "score": 0.8})
    assert mc.evaluate_coco(gt, dets, "segm")["AP"] == pytest.approx(1.0)


def test_proposal_recall_known_values():
    gt = _gt()
    props = []
    # image 1: exact small box at rank 0, medium box at rank 2 (after a miss)
    props += mc.proposals_to_coco([np.array([[2, 2, 22, 22], [200, 200, 210, 210], [100, 100, 150, 160]])], [1])
    # image 2: large box only at rank 1; small box missed entirely
    props += mc.proposals_to_coco([np.array([[0, 0, 5, 5], [10, 10, 130, 120]])], [2])
    # image 3: nothing useful (a box on the crowd region must not count)
    props += mc.proposals_to_coco([np.array([[180, 180, 240, 240]])], [3])
    ar = mc.proposal_recall(gt, props, max_dets=(1, 2, 3))
    assert ar["AR@1"] == pytest.approx(1 / 5)
    assert ar["AR@2"] == pytest.approx(2 / 5)
    assert ar["AR@3"] == pytest.approx(3 / 5)
    assert ar["AR_s@3"] == pytest.approx(1 / 2)
    assert ar["AR_m@3"] == pytest.approx(1 / 2)
    assert ar["AR_l@3"] == pytest.approx(1.0)
    # a box of IoU ~0.7 is matched at 5 of 10 thresholds (0.5 .. 0.7)
    shifted = mc.proposals_to_coco([np.array([[2, 2, 22, 22 + 8.6]])], [1])  # IoU = 400/572 = 0.699
    r = mc.proposal_recall(gt, shifted, max_dets=(1,), img_ids=[1])
    assert r["AR_s@1"] == pytest.approx(0.4)


def test_per_image_reaccumulation_matches_pycocotools():
    rng = np.random.default_rng(0)
    gt = _gt()
    dets = []
    for a in gt["annotations"]:
        for _ in range(3):
            b = np.asarray(a["bbox"], float) + rng.normal(0, 4, 4)
            dets.append({"image_id": a["image_id"], "category_id": int(rng.integers(1, 3)),
                         "bbox": b.tolist(), "score": float(rng.random())})
    out, E = mc.evaluate_coco(gt, dets, return_eval=True)
    assert mc.ap_from_evalimgs(E) == pytest.approx(out["AP"])
    assert mc.ap_from_evalimgs(E, iou=0.5) == pytest.approx(out["AP50"])
    ar, E2 = mc.proposal_recall(gt, dets, max_dets=(2, 10), return_eval=True)
    pm = mc.per_image_matches(E2)
    for area, suf in (("all", ""), ("small", "_s"), ("medium", "_m")):
        for m in (2, 10):
            assert mc.recall_from_matches(pm, area, m) == pytest.approx(ar[f"AR{suf}@{m}"])
    d, lo, hi = mc.paired_bootstrap_ar(pm, pm, n_boot=50)
    assert d == lo == hi == 0.0


@pytest.mark.skipif(not mc.faster_coco_eval_available(), reason="faster-coco-eval not installed")
def test_faster_coco_eval_identical():
    gt = _gt()
    dets = _as_dets(gt, 0.5)
    E1 = mc.run_cocoeval(gt, dets)
    E2 = mc.run_cocoeval(gt, dets, backend="faster_coco_eval")
    np.testing.assert_allclose(E1.eval["precision"], E2.eval["precision"])
