"""COCO evaluation through pycocotools: box / mask AP and class-agnostic proposal recall (AR).

    from paperlib.metrics.coco import evaluate_coco, proposal_recall
    ap = evaluate_coco(coco_gt, results, iou_type="bbox")   # {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    ar = proposal_recall(coco_gt, proposals, max_dets=(100, 1000))
        # {"AR@100", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000", ...}

All numbers are fractions in [0, 1] (multiply by 100 for the paper's tables); a bucket without any
ground truth gives NaN (pycocotools' -1).

Traps handled here (spec "Pitfalls"; cocodataset/cocoapi #374, #450, #584, #675):

* ``COCO.loadRes([])`` crashes on an empty result list -> every metric is 0 (NaN where no GT);
* ground truth needs ``area`` and ``iscrowd`` -> :func:`ensure_gt_fields` fills them (area from the
  mask, else the box; iscrowd 0) before evaluation;
* ``summarize()`` hard-codes the maxDets positions (1, 10, 100) -> AP is read from ``eval['precision']``
  and AR from ``eval['recall']`` at the requested maxDets, never from ``stats``;
* crowd regions are matched with IoU = intersection / detection area (pycocotools does it; kept).

Proposal AR (spec "Evaluation"): COCOeval with ``useCats = 0`` (class-agnostic), IoU thresholds
0.50:0.05:0.95, recall at ``maxDets`` proposals per image, averaged over the IoU thresholds (the
COCO definition; detectron2's greedy "fast" AR differs slightly and is not used).

Per-image matches (:func:`per_image_matches`) support a paired bootstrap over evaluation images
(:func:`paired_bootstrap_ar`, :func:`paired_bootstrap_ap`), which re-accumulate the COCO statistics
on resampled image sets exactly as pycocotools' ``accumulate`` does (tested against it).
"""
from __future__ import annotations

import contextlib
import copy
import io
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

__all__ = ["evaluate_coco", "proposal_recall", "ensure_gt_fields", "detections_to_coco",
           "proposals_to_coco", "run_cocoeval", "per_image_matches", "recall_from_matches",
           "ap_from_evalimgs", "paired_bootstrap_ar", "paired_bootstrap_ap", "AREA_NAMES",
           "faster_coco_eval_available"]

AREA_NAMES = ("all", "small", "medium", "large")
_AREA_SUFFIX = {"all": "", "small": "_s", "medium": "_m", "large": "_l"}
_EMPTY_AP = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _coco(gt):
    from ..data.coco import load_coco

    return gt if hasattr(gt, "loadRes") else load_coco(gt)


def ensure_gt_fields(coco_gt):
    """Fill the fields COCOeval needs (``area``, ``iscrowd``) in a GT COCO object, in place."""
    changed = False
    for a in coco_gt.dataset.get("annotations", []):
        if "iscrowd" not in a:
            a["iscrowd"] = 0
            changed = True
        if "area" not in a:
            seg = a.get("segmentation")
            if seg:
                from pycocotools import mask as mask_utils
                a["area"] = float(mask_utils.area(coco_gt.annToRLE(a)))
            else:
                a["area"] = float(a["bbox"][2] * a["bbox"][3])
            changed = True
    if changed:
        with _quiet():
            coco_gt.createIndex()
    return coco_gt


def faster_coco_eval_available() -> bool:
    try:
        import faster_coco_eval  # noqa: F401
        return True
    except ImportError:
        return False


def run_cocoeval(coco_gt, results: List[Dict], iou_type: str = "bbox", *, use_cats: bool = True,
                 max_dets: Sequence[int] = (1, 10, 100), img_ids: Optional[Sequence[int]] = None,
                 backend: str = "pycocotools"):
    """An evaluated + accumulated COCOeval, or None for an empty result list (loadRes would crash)."""
    coco_gt = ensure_gt_fields(_coco(coco_gt))
    if len(results) == 0:
        return None
    if backend == "faster_coco_eval":
        from faster_coco_eval import COCOeval_faster as COCOeval  # optional, tested for equality
    else:
        from pycocotools.cocoeval import COCOeval
    with _quiet():
        dt = coco_gt.loadRes(copy.deepcopy(list(results)))
        E = COCOeval(coco_gt, dt, iou_type)
        E.params.useCats = int(use_cats)
        E.params.maxDets = sorted(int(m) for m in max_dets)
        if img_ids is not None:
            E.params.imgIds = sorted(int(i) for i in img_ids)
        E.evaluate()
        E.accumulate()
    return E


def _has_gt(coco_gt, area: str, img_ids=None) -> bool:
    lo, hi = {"all": (0, 1e10), "small": (0, 32 ** 2), "medium": (32 ** 2, 96 ** 2),
              "large": (96 ** 2, 1e10)}[area]
    ids = set(img_ids) if img_ids is not None else None
    return any(not a.get("iscrowd", 0) and lo <= a["area"] <= hi and (ids is None or a["image_id"] in ids)
               for a in coco_gt.dataset["annotations"])


def evaluate_coco(coco_gt, results: List[Dict], iou_type: str = "bbox", *,
                  img_ids: Optional[Sequence[int]] = None, max_det: int = 100,
                  return_eval: bool = False):
    """COCO AP (IoU .50:.95), AP50, AP75, APs/m/l at ``max_det`` detections per image."""
    coco_gt = ensure_gt_fields(_coco(coco_gt))
    E = run_cocoeval(coco_gt, results, iou_type, max_dets=sorted({1, 10, max_det}), img_ids=img_ids)
    if E is None:
        out = {k: (0.0 if _has_gt(coco_gt, a, img_ids) else float("nan"))
               for k, a in zip(_EMPTY_AP, ("all", "all", "all", "small", "medium", "large"))}
        return (out, None) if return_eval else out
    p = E.params
    m = p.maxDets.index(max_det)
    prec = E.eval["precision"]                    # [T, R, K, A, M]

    def mean_valid(x):
        x = x[x > -1]
        return float(x.mean()) if x.size else float("nan")

    out = {"AP": mean_valid(prec[:, :, :, 0, m]),
           "AP50": mean_valid(prec[np.isclose(p.iouThrs, 0.5), :, :, 0, m]),
           "AP75": mean_valid(prec[np.isclose(p.iouThrs, 0.75), :, :, 0, m]),
           "APs": mean_valid(prec[:, :, :, 1, m]),
           "APm": mean_valid(prec[:, :, :, 2, m]),
           "APl": mean_valid(prec[:, :, :, 3, m])}
    return (out, E) if return_eval else out


def proposal_recall(coco_gt, proposals: List[Dict], *, max_dets: Sequence[int] = (100, 1000),
                    img_ids: Optional[Sequence[int]] = None, return_eval: bool = False):
    """Class-agnostic proposal AR (useCats=0) at each ``max_dets``, overall and per size bucket.

    Keys: ``AR@{m}`` and ``AR_s@{m}``, ``AR_m@{m}``, ``AR_l@{m}`` for every m in ``max_dets``, and
    the recall at IoU 0.5 alone, ``R50@{m}``, ``R50_s@{m}``, ... (extra; not part of the AR)."""
    coco_gt = ensure_gt_fields(_coco(coco_gt))
    max_dets = sorted(int(m) for m in max_dets)
    E = run_cocoeval(coco_gt, proposals, "bbox", use_cats=False, max_dets=max_dets, img_ids=img_ids)
    out = {}
    for ai, area in enumerate(AREA_NAMES):
        for mi, m in enumerate(max_dets):
            key = f"AR{_AREA_SUFFIX[area]}@{m}"
            key50 = f"R50{_AREA_SUFFIX[area]}@{m}"     # recall at IoU 0.5 only (extra, not the AR)
            if E is None:
                out[key] = out[key50] = 0.0 if _has_gt(coco_gt, area, img_ids) else float("nan")
                continue
            r = E.eval["recall"][:, 0, ai, mi]         # [T, K, A, M], K = 1 (useCats=0)
            out[key50] = float(r[0]) if r[0] > -1 else float("nan")
            r = r[r > -1]
            out[key] = float(r.mean()) if r.size else float("nan")
    return (out, E) if return_eval else out


# ----------------------------------------------------------------------------- conversions
def _xyxy_to_xywh(b):
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def detections_to_coco(outputs: Sequence[Dict[str, Any]], image_ids: Sequence[int],
                       label_to_cat_id: Optional[Dict[int, int]] = None, *, masks: bool = False,
                       mask_threshold: float = 0.5) -> List[Dict]:
    """torchvision detection outputs (boxes xyxy, labels, scores[, masks (N,1,H,W) probs]) -> COCO
    result dicts (bbox xywh, score, category_id[, segmentation RLE])."""
    res = []
    for out, iid in zip(outputs, image_ids):
        boxes = _xyxy_to_xywh(_np(out["boxes"]))
        scores = _np(out["scores"]).reshape(-1)
        labels = _np(out["labels"]).reshape(-1).astype(int)
        rles = None
        if masks and "masks" in out:
            from pycocotools import mask as mask_utils
            mk = _np(out["masks"])
            if mk.ndim == 4:
                mk = mk[:, 0]
            mk = (mk >= mask_threshold).astype(np.uint8)
            rles = [mask_utils.encode(np.asfortranarray(m)) for m in mk]
            for r in rles:
                r["counts"] = r["counts"].decode("ascii")
        for j in range(len(scores)):
            cat = int(label_to_cat_id[labels[j]]) if label_to_cat_id else int(labels[j])
            d = {"image_id": int(iid), "category_id": cat, "bbox": [float(v) for v in boxes[j]],
                 "score": float(scores[j])}
            if rles is not None:
                d["segmentation"] = rles[j]
            res.append(d)
    return res


def proposals_to_coco(boxes: Sequence[Any], image_ids: Sequence[int],
                      scores: Optional[Sequence[Any]] = None, category_id: int = 1) -> List[Dict]:
    """Proposals (per image: boxes xyxy, sorted or with scores) -> COCO results for
    :func:`proposal_recall` (the category is irrelevant with useCats=0)."""
    res = []
    for k, (b, iid) in enumerate(zip(boxes, image_ids)):
        b = _xyxy_to_xywh(_np(b))
        s = _np(scores[k]).reshape(-1) if scores is not None else -np.arange(len(b), dtype=np.float64)
        for j in range(len(b)):
            res.append({"image_id": int(iid), "category_id": int(category_id),
                        "bbox": [float(v) for v in b[j]], "score": float(s[j])})
    return res


def _np(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


# ----------------------------------------------------------------------------- per-image statistics
def per_image_matches(E, max_dets: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """Per image, per area bucket and IoU threshold: matched (non-ignored) GT among the top-m
    detections, and the number of non-ignored GT.  Class-agnostic (useCats=0) evals only.

    Returns {"img_ids", "iou_thrs", "areas", "max_dets", "matched": [A, M, I, T], "n_gt": [A, I]}."""
    p = E.params
    if p.useCats:
        raise ValueError("per_image_matches expects a class-agnostic (useCats=0) COCOeval")
    max_dets = list(max_dets or p.maxDets)
    I, A, T = len(p.imgIds), len(p.areaRng), len(p.iouThrs)
    matched = np.zeros((A, len(max_dets), I, T), np.int64)
    n_gt = np.zeros((A, I), np.int64)
    for a in range(A):
        for i in range(I):
            e = E.evalImgs[a * I + i]
            if e is None:
                continue
            n_gt[a, i] = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
            order = np.argsort(-np.asarray(e["dtScores"]), kind="mergesort")
            dtm = np.asarray(e["dtMatches"])[:, order]
            dig = np.asarray(e["dtIgnore"])[:, order].astype(bool)
            tp = (dtm != 0) & ~dig
            for mi, m in enumerate(max_dets):
                matched[a, mi, i] = tp[:, :m].sum(1)
    return {"img_ids": list(p.imgIds), "iou_thrs": np.asarray(p.iouThrs), "areas": list(AREA_NAMES),
            "max_dets": max_dets, "matched": matched, "n_gt": n_gt}


def recall_from_matches(pm: Dict[str, Any], area: str = "all", max_det: Optional[int] = None,
                        idx: Optional[np.ndarray] = None) -> float:
    """AR (mean over IoU thresholds of total matched / total GT) over images ``idx`` (with repeats)."""
    a = pm["areas"].index(area)
    mi = pm["max_dets"].index(max_det if max_det is not None else pm["max_dets"][-1])
    M = pm["matched"][a, mi]
    N = pm["n_gt"][a]
    if idx is not None:
        M, N = M[idx], N[idx]
    n = N.sum()
    return float(M.sum(0).mean() / n) if n > 0 else float("nan")


def paired_bootstrap_ar(pm_a, pm_b, *, area: str = "all", max_det: Optional[int] = None,
                        n_boot: int = 1000, seed: int = 0, alpha: float = 0.05):
    """AR(b) - AR(a) on the same images with a percentile bootstrap over images: (diff, lo, hi)."""
    if pm_a["img_ids"] != pm_b["img_ids"]:
        raise ValueError("paired bootstrap needs the same evaluation images")
    n = len(pm_a["img_ids"])
    rng = np.random.default_rng(seed)
    diff = recall_from_matches(pm_b, area, max_det) - recall_from_matches(pm_a, area, max_det)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        boots.append(recall_from_matches(pm_b, area, max_det, idx) - recall_from_matches(pm_a, area, max_det, idx))
    boots = np.asarray(boots)
    boots = boots[np.isfinite(boots)]
    return float(diff), float(np.quantile(boots, alpha / 2)), float(np.quantile(boots, 1 - alpha / 2))


def ap_from_evalimgs(E, idx: Optional[np.ndarray] = None, *, area: str = "all",
                     max_det: Optional[int] = None, iou: Optional[float] = None) -> float:
    """COCO AP re-accumulated from ``E.evalImgs`` over the images ``idx`` (positions in
    ``E.params.imgIds``, repeats allowed), exactly as pycocotools' ``accumulate`` + mean of valid
    precision (IoU .50:.95, or one threshold ``iou``)."""
    p = E.params
    K = len(p.catIds) if p.useCats else 1
    A, I = len(p.areaRng), len(p.imgIds)
    a = AREA_NAMES.index(area)
    maxDet = max_det if max_det is not None else p.maxDets[-1]
    idx = np.arange(I) if idx is None else np.asarray(idx)
    tsel = np.arange(len(p.iouThrs)) if iou is None else np.flatnonzero(np.isclose(p.iouThrs, iou))
    R = len(p.recThrs)
    vals = []
    for k in range(K):
        es = [E.evalImgs[k * A * I + a * I + i] for i in idx]
        es = [e for e in es if e is not None]
        if not es:
            continue
        scores = np.concatenate([e["dtScores"][0:maxDet] for e in es])
        order = np.argsort(-scores, kind="mergesort")
        dtm = np.concatenate([e["dtMatches"][:, 0:maxDet] for e in es], axis=1)[:, order]
        dig = np.concatenate([e["dtIgnore"][:, 0:maxDet] for e in es], axis=1)[:, order]
        gig = np.concatenate([e["gtIgnore"] for e in es])
        npig = np.count_nonzero(gig == 0)
        if npig == 0:
            continue
        tps = np.logical_and(dtm, np.logical_not(dig))
        fps = np.logical_and(np.logical_not(dtm), np.logical_not(dig))
        tp_sum = np.cumsum(tps, axis=1).astype(float)
        fp_sum = np.cumsum(fps, axis=1).astype(float)
        for t in tsel:
            tp, fp = tp_sum[t], fp_sum[t]
            rc = tp / npig
            pr = tp / (fp + tp + np.spacing(1))
            q = np.zeros(R)
            if len(pr):
                pr = np.maximum.accumulate(pr[::-1])[::-1]
                inds = np.searchsorted(rc, p.recThrs, side="left")
                ok = inds < len(pr)
                q[ok] = pr[inds[ok]]
            vals.append(q)
    return float(np.mean(vals)) if vals else float("nan")


def paired_bootstrap_ap(E_a, E_b, *, area: str = "all", iou: Optional[float] = None,
                        n_boot: int = 200, seed: int = 0, alpha: float = 0.05):
    """AP(b) - AP(a) on the same images with a percentile bootstrap over images: (diff, lo, hi)."""
    if list(E_a.params.imgIds) != list(E_b.params.imgIds):
        raise ValueError("paired bootstrap needs the same evaluation images")
    n = len(E_a.params.imgIds)
    rng = np.random.default_rng(seed)
    diff = ap_from_evalimgs(E_b, area=area, iou=iou) - ap_from_evalimgs(E_a, area=area, iou=iou)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        boots.append(ap_from_evalimgs(E_b, idx, area=area, iou=iou) - ap_from_evalimgs(E_a, idx, area=area, iou=iou))
    boots = np.asarray(boots)
    boots = boots[np.isfinite(boots)]
    return float(diff), float(np.quantile(boots, alpha / 2)), float(np.quantile(boots, 1 - alpha / 2))
