"""PQ count arithmetic: RQ^alpha, per-image (tp, fp, fn, iou) counts and PQ from summed counts (for
bootstrap resampling of dataset-level PQ), and the semantic confusion matrix / mIoU.

Split out of :mod:`paperlib.metrics.pq` (which re-exports every name) to keep that module small; nothing
here reads files or id maps.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["rq_alpha", "per_image_counts", "pq_from_counts", "semantic_confusion", "miou_from_confusion"]


def rq_alpha(tp, fp, fn, alpha=0.5):
    """RQ^alpha = tp / (tp + alpha*fp + alpha*fn) (paper Fig. 8); alpha = 0.5 gives RQ."""
    d = tp + alpha * fp + alpha * fn
    return tp / d if d > 0 else 0.0


def semantic_confusion(gt_sem: np.ndarray, pred_sem: np.ndarray, num_labels: int,
                       void_label: int = 0) -> np.ndarray:
    """Pixel confusion (num_labels x num_labels, rows = GT) over labels 0..num_labels-1; GT void
    pixels are excluded; predicted void pixels stay in the matrix (column ``void_label``)."""
    g = np.asarray(gt_sem).reshape(-1).astype(np.int64)
    p = np.asarray(pred_sem).reshape(-1).astype(np.int64)
    keep = g != void_label
    return np.bincount(g[keep] * num_labels + p[keep],
                       minlength=num_labels * num_labels).reshape(num_labels, num_labels)


def miou_from_confusion(conf: np.ndarray, labels: Sequence[int]) -> float:
    """Mean IoU over ``labels`` that occur in GT or prediction."""
    ious = []
    for c in labels:
        tp = conf[c, c]
        d = conf[c, :].sum() + conf[:, c].sum() - tp
        if d > 0:
            ious.append(tp / d)
    return float(np.mean(ious)) if ious else math.nan


def per_image_counts(images: Sequence, cat_ids: Sequence[int]) -> np.ndarray:
    """(n_images, n_categories, 4) array of tp, fp, fn, iou-sum per image and category, for
    bootstrap resampling of dataset-level PQ (sums over images, as the metric is defined)."""
    index = {c: k for k, c in enumerate(cat_ids)}
    out = np.zeros((len(images), len(cat_ids), 4))
    for i, r in enumerate(images):
        for c, iou in zip(r.tp_cat.tolist(), r.tp_iou.tolist()):
            if c in index:
                out[i, index[c], 0] += 1
                out[i, index[c], 3] += iou
        for c in r.fp_cat.tolist():
            if c in index:
                out[i, index[c], 1] += 1
        for c in r.fn_cat.tolist():
            if c in index:
                out[i, index[c], 2] += 1
    return out


def pq_from_counts(counts: np.ndarray, select=None) -> dict:
    """PQ/SQ/RQ/n from summed counts (..., n_categories, 4); ``select``: boolean category mask.
    Leading axes are kept (e.g. bootstrap replicates)."""
    c = counts if select is None else counts[..., np.asarray(select, bool), :]
    tp, fp, fn, iou = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    valid = (tp + fp + fn) > 0
    d = np.where(valid, tp + 0.5 * fp + 0.5 * fn, 1.0)
    n = valid.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = np.where(valid, iou / d, 0).sum(-1) / n
        sq = np.where(valid & (tp > 0), iou / np.maximum(tp, 1), 0).sum(-1) / n
        rq = np.where(valid, tp / d, 0).sum(-1) / n
    return {"pq": pq, "sq": sq, "rq": rq, "n": n}
