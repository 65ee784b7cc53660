"""LVIS evaluation through paperlib: the spec's golden federated case A1, the naive variant, the
numpy shim, the per-image 300 cap (A4) and the frequency bins (A3)."""

import numpy as np
import pytest

from paperlib.data.lvis import frequency_of
from paperlib.metrics.lvis import cap_per_image, exhaustive_evaluate, lvis_evaluate, numpy_float_alias


def golden_gt():
    def ann(i, img, cat, box):
        x, y, w, h = box
        return {"id": i, "image_id": img, "category_id": cat, "bbox": box, "area": w * h,
                "segmentation": [[x, y, x, y + h, x + w, y + h, x + w, y]]}
    return {
        "images": [
            {"id": 1, "height": 100, "width": 100, "neg_category_ids": [2], "not_exhaustive_category_ids": []},
            {"id": 2, "height": 100, "width": 100, "neg_category_ids": [1], "not_exhaustive_category_ids": [3]},
            {"id": 3, "height": 100, "width": 100, "neg_category_ids": [], "not_exhaustive_category_ids": []}],
        "annotations": [ann(1, 1, 1, [10, 10, 20, 20]), ann(2, 1, 3, [50, 50, 30, 30]),
                        ann(3, 2, 3, [0, 0, 40, 40]), ann(4, 2, 3, [60, 60, 20, 20]),
                        ann(5, 3, 2, [20, 20, 40, 40])],
        "categories": [{"id": 1, "name": "a", "frequency": "r"}, {"id": 2, "name": "b", "frequency": "c"},
                       {"id": 3, "name": "c", "frequency": "f"}, {"id": 4, "name": "d", "frequency": "f"}],
    }


GOLDEN_DETS = [(1, 1, [10, 10, 20, 20], .9), (1, 2, [10, 10, 20, 20], .8), (1, 3, [52, 52, 30, 30], .7),
               (2, 3, [0, 0, 40, 40], .95), (2, 3, [30, 30, 10, 10], .6), (2, 2, [0, 0, 40, 40], .99),
               (3, 2, [20, 20, 40, 40], .5), (3, 1, [0, 0, 10, 10], .3)]


def golden_dets():
    return [{"image_id": i, "category_id": c, "bbox": b, "score": s} for i, c, b, s in GOLDEN_DETS]


def test_a1_federated_golden_case():
    m = lvis_evaluate(golden_gt(), golden_dets(), iou_type="bbox", per_category=True)
    expect = {"AP": 0.677558, "AP50": 0.721122, "AP75": 0.721122, "APr": 1.0, "APc": 0.5,
              "APf": 0.532673, "AR@300": 0.844444}
    for k, v in expect.items():
        assert m[k] == pytest.approx(v, abs=1e-6), k
    assert m["per_category"][3] == pytest.approx((6 * 67 / 101 + 4 * 34 / 101) / 10, abs=1e-9)
    assert m["per_category"][4] == -1.0            # no GT anywhere: excluded


def test_a1_naive_variant_and_exhaustive_underestimate():
    gt = golden_gt()
    gt["images"][1]["neg_category_ids"] = [1, 2]
    gt["images"][1]["not_exhaustive_category_ids"] = []
    gt["images"][2]["neg_category_ids"] = [1]
    m = lvis_evaluate(gt, golden_dets())
    assert m["APc"] == pytest.approx(0.333333, abs=1e-6)
    assert m["AP"] == pytest.approx(0.622002, abs=1e-6)
    # pycocotools on the same labels: every detection counts (negatives lists are not needed)
    ex = exhaustive_evaluate(golden_gt(), golden_dets())
    assert ex["AP"] == pytest.approx(0.622002, abs=1e-6)
    assert ex["AP"] < lvis_evaluate(golden_gt(), golden_dets())["AP"]


def test_segm_equals_bbox_for_box_masks():
    from pycocotools import mask as mu
    dets = []
    for d in golden_dets():
        x, y, w, h = d["bbox"]
        m = np.zeros((100, 100), np.uint8)
        m[y:y + h, x:x + w] = 1
        rle = mu.encode(np.asfortranarray(m))
        rle["counts"] = rle["counts"].decode()
        dets.append(dict(d, segmentation=rle))
    m = lvis_evaluate(golden_gt(), dets, iou_type="segm")
    # pixel masks of the boxes: IoU 784/1016 as for the boxes, so the same numbers
    assert m["AP"] == pytest.approx(0.677558, abs=1e-6)


def test_numpy_shim_is_scoped():
    had = "float" in np.__dict__
    with numpy_float_alias():
        assert np.float is float or had
    assert ("float" in np.__dict__) == had
    lvis_evaluate(golden_gt(), golden_dets())
    assert ("float" in np.__dict__) == had


def test_empty_results():
    m = lvis_evaluate(golden_gt(), [])
    assert m["AP"] == 0.0 and m["APr"] == 0.0
    assert exhaustive_evaluate(golden_gt(), [])["AP"] == 0.0


def test_a4_cap_is_per_image_not_per_category():
    rng = np.random.default_rng(0)
    dets = [{"image_id": 1, "category_id": int(k % 50) + 1, "bbox": [0, 0, 5, 5], "score": float(s)}
            for k, s in enumerate(rng.random(400))]
    dets.append({"image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.01})
    kept = cap_per_image(dets, 300)
    img1 = [d for d in kept if d["image_id"] == 1]
    assert len(img1) == 300 and len(kept) == 301
    assert min(d["score"] for d in img1) >= sorted((d["score"] for d in dets[:400]), reverse=True)[299]
    assert len({d["category_id"] for d in img1}) == 50
    assert len(cap_per_image(dets, 300, score_thresh=0.5)) == sum(d["score"] >= 0.5 for d in dets)


def test_a3_frequency_bins():
    assert [frequency_of(n) for n in (1, 10, 11, 100, 101)] == ["r", "r", "c", "c", "f"]
    with pytest.raises(ValueError):
        frequency_of(0)
