"""LVIS evaluation: the PyPI ``lvis`` package's federated ``LVISEval`` behind one function, and the
naive exhaustive (COCO-style) evaluation of the same detections through pycocotools.

    from paperlib.metrics.lvis import lvis_evaluate, exhaustive_evaluate
    m = lvis_evaluate(gt_json_or_dict, results, iou_type="bbox")   # {"AP", "APr", "APc", "APf", "AR@300", ...}

Federated evaluation (the paper's rule, implemented by lvis-api): a category is judged only on the
images where its status is known (its positives plus its verified negatives ``neg_category_ids``);
unmatched detections of a category listed in an image's ``not_exhaustive_category_ids`` are ignored.
Results are capped at the top ``max_dets`` (300) detections *per image over all categories*.

PyPI ``lvis`` 0.5.3 calls ``np.float`` in ``LVISEval.accumulate``; numpy >= 1.24 removed that alias
and the upstream fix never shipped. :func:`numpy_float_alias` restores it only for the duration of
the evaluation (a scoped shim, removed afterwards when numpy lacks it). Importing ``lvis`` also calls
``logging.basicConfig``, so the import is deferred to the evaluation.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence

import numpy as np

__all__ = ["numpy_float_alias", "lvis_evaluate", "exhaustive_evaluate", "cap_per_image", "SUMMARY_KEYS"]

SUMMARY_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300")


@contextlib.contextmanager
def numpy_float_alias():
    """Make ``np.float`` resolve to ``float`` inside the block (lvis 0.5.3 needs it on numpy >= 1.24);
    afterwards numpy is left exactly as it was."""
    had = "float" in np.__dict__
    if not had:
        np.float = float  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if not had:
            del np.float  # type: ignore[attr-defined]


def _load(gt) -> Dict[str, Any]:
    if isinstance(gt, (str, Path)):
        with open(gt) as f:
            return json.load(f)
    if isinstance(gt, dict):
        return gt
    if hasattr(gt, "dataset"):
        return gt.dataset
    raise TypeError(f"gt must be a path, a dict or an lvis.LVIS, got {type(gt).__name__}")


def cap_per_image(results: Sequence[dict], max_dets: int = 300, score_thresh: float = 0.0) -> List[dict]:
    """Keep detections with score >= ``score_thresh``, then the top ``max_dets`` per image over all
    categories (not per (image, category)), by score."""
    by_img: Dict[int, List[dict]] = {}
    for r in results:
        if r["score"] >= score_thresh:
            by_img.setdefault(r["image_id"], []).append(r)
    out: List[dict] = []
    for img_id in by_img:
        dets = sorted(by_img[img_id], key=lambda d: -d["score"])
        out.extend(dets[:max_dets] if max_dets >= 0 else dets)
    return out


def _empty_summary(cats: Iterable[dict], gt_cat_ids: set) -> Dict[str, float]:
    """No detections at all: every category with GT has AP 0 (lvis-api cannot load empty results)."""
    freqs = {c["frequency"] for c in cats if c["id"] in gt_cat_ids}
    out = {k: 0.0 for k in SUMMARY_KEYS}
    for f in "rcf":
        if f not in freqs:
            out[f"AP{f}"] = -1.0
    return out


def lvis_evaluate(gt, results: Sequence[dict], *, iou_type: str = "bbox", max_dets: int = 300,
                  score_thresh: float = 0.0, per_category: bool = False) -> Dict[str, Any]:
    """Federated LVIS evaluation with lvis-api's ``LVISEval``.

    ``gt``: an LVIS json path, its dict or an ``lvis.LVIS``. ``results``: LVIS result dicts
    (image_id, category_id, score, bbox [x, y, w, h] | segmentation as compressed RLE). For segm the
    ``bbox`` key is dropped (lvis-api would otherwise take the box area; detectron2 does the same).
    Returns the summary (AP, AP50, AP75, APs/m/l, APr/c/f, AR@300; -1 where undefined) and, with
    ``per_category``, ``per_category`` = {category id: AP over IoU thresholds, -1 if no GT}."""
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    from lvis import LVIS, LVISEval, LVISResults  # deferred: importing lvis configures logging

    data = _load(gt)
    res = cap_per_image(results, max_dets, score_thresh)
    res = [dict(r) for r in res]
    if iou_type == "segm":
        for r in res:
            if "segmentation" not in r:
                raise ValueError("segm evaluation needs 'segmentation' (compressed RLE) in every result")
            r.pop("bbox", None)
    gt_cat_ids = {a["category_id"] for a in data["annotations"]}
    if not res:
        out = _empty_summary(data["categories"], gt_cat_ids)
        if per_category:
            out["per_category"] = {c["id"]: (0.0 if c["id"] in gt_cat_ids else -1.0) for c in data["categories"]}
        return out
    lv = LVIS.__new__(LVIS)          # build from the dict without a file round trip
    import logging
    lv.logger = logging.getLogger("lvis.lvis")
    lv.dataset = copy.deepcopy(data)
    lv._create_index()
    dt = LVISResults(lv, res, max_dets=max_dets)
    ev = LVISEval(lv, dt, iou_type=iou_type)
    ev.params.max_dets = max_dets
    with numpy_float_alias(), contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out: Dict[str, Any] = {k: float(ev.results[k]) for k in ("AP", "AP50", "AP75", "APs", "APm", "APl",
                                                              "APr", "APc", "APf")}
    out["AR@300"] = float(ev.results[f"AR@{max_dets}"])
    if per_category:
        prec = ev.eval["precision"][:, :, :, 0]          # [T, R, K] at area "all"
        pc = {}
        for k, cid in enumerate(ev.params.cat_ids):
            p = prec[:, :, k]
            pc[int(cid)] = float(p[p > -1].mean()) if (p > -1).any() else -1.0
        out["per_category"] = pc
    return out


def exhaustive_evaluate(gt, results: Sequence[dict], *, iou_type: str = "bbox", max_dets: int = 300,
                        score_thresh: float = 0.0, per_category: bool = False) -> Dict[str, Any]:
    """Naive COCO-style evaluation through pycocotools' COCOeval: every category is judged on every
    image, so a detection of an unlabeled (unknown-status) category counts as a false positive and
    ``not_exhaustive_category_ids`` / ``neg_category_ids`` are ignored. Same per-image cap of
    ``max_dets`` over all categories as :func:`lvis_evaluate`; APr/c/f from the ``frequency`` field.
    On complete labels this is the oracle evaluation."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    data = _load(gt)
    coco_gt = {"images": [{k: im[k] for k in ("id", "height", "width")} for im in data["images"]],
               "annotations": [dict(a, iscrowd=0) for a in data["annotations"]],   # LVIS has no iscrowd
               "categories": [{"id": c["id"], "name": c.get("name", str(c["id"]))} for c in data["categories"]]}
    freq = {c["id"]: c["frequency"] for c in data["categories"]}
    gt_cat_ids = {a["category_id"] for a in data["annotations"]}
    res = [dict(r) for r in cap_per_image(results, max_dets, score_thresh)]
    if iou_type == "segm":
        for r in res:
            r.pop("bbox", None)
    if not res:
        out = _empty_summary(data["categories"], gt_cat_ids)
        if per_category:
            out["per_category"] = {c["id"]: (0.0 if c["id"] in gt_cat_ids else -1.0) for c in data["categories"]}
        return out
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = coco_gt
        cg.createIndex()
        cd = cg.loadRes(res)
        ev = COCOeval(cg, cd, iouType=iou_type)
        ev.params.maxDets = [1, 10, max_dets]      # per (image, category): never binding after the cap
        ev.params.catIds = sorted(freq)
        ev.evaluate()
        ev.accumulate()
    prec_all = ev.eval["precision"][..., -1]             # [T, R, K, A] at maxDets = max_dets
    prec = prec_all[..., 0]                              # area "all"
    rec = ev.eval["recall"][:, :, 0, -1]                 # [T, K]

    def mean_of(p):
        return float(p[p > -1].mean()) if (p > -1).any() else -1.0

    def mean_over(mask_k):
        return mean_of(prec[:, :, mask_k])

    cat_ids = ev.params.catIds
    # COCOeval.summarize() reads maxDets = 100, which is not in our list: average the arrays directly
    out = {"AP": mean_of(prec), "AP50": mean_of(prec[0]), "AP75": mean_of(prec[5]),
           "APs": mean_of(prec_all[..., 1]), "APm": mean_of(prec_all[..., 2]), "APl": mean_of(prec_all[..., 3])}
    for f in "rcf":
        out[f"AP{f}"] = mean_over(np.array([freq[c] == f for c in cat_ids]))
    r = rec[rec > -1]
    out["AR@300"] = float(r.mean()) if r.size else -1.0
    if per_category:
        out["per_category"] = {int(c): mean_over(np.arange(len(cat_ids)) == k) for k, c in enumerate(cat_ids)}
    return out
