"""Panoptic Quality with cocodataset/panopticapi's exact semantics (panopticapi is not on PyPI).

Public interface and result shape as ``panopticapi.evaluation``::

    res = pq_compute(gt_json_file, pred_json_file, gt_folder=None, pred_folder=None, workers=None)
    res["All"] / res["Things"] / res["Stuff"] -> {"pq", "sq", "rq", "n"}          (fractions)
    res["per_class"][cat_id] -> {"pq", "sq", "rq", "tp", "fp", "fn", "iou", "isthing"}

plus an in-memory form, :func:`pq_compute_arrays`, and per-image accumulation in :class:`PQStat`.

Rules, per image (panopticapi ``pq_compute_single_core``):

* prediction checks, each a :class:`PanopticFormatError` naming image and segment: every non-VOID id
  of the PNG is in the JSON; every JSON segment is in the PNG (empty segments are errors); every
  category id is known. paperlib also rejects duplicate segment ids (panopticapi silently keeps the
  last), id 0 in a segments_info (reserved for VOID) and maps of different shapes (panopticapi
  fails with a numpy broadcasting error);
* ground-truth checks (paperlib's; panopticapi trusts the GT, and a wrong JSON area gives an impossible
  IoU, e.g. area 0 -> PQ = inf): every non-VOID id of the GT PNG is listed in the GT segments_info,
  every GT ``area`` equals its pixel count in the PNG, and (files) the GT PNG's size equals the GT
  JSON's ``images`` height / width where that entry exists. Valid inputs give panopticapi's numbers;
* predicted areas are pixel counts; **GT areas come from the JSON ``area`` field**;
* candidates: GT id in the GT JSON, prediction id in the prediction JSON, GT not crowd, same
  category. union = |p| + |g| - |p & g| - |p & VOID|, where VOID is GT id 0. Match iff
  IoU > 0.5 (strictly); such a match is unique, so no assignment solver is needed;
* FN: every unmatched non-crowd GT segment of the JSON. Crowd segments are never matched and never
  FN. Per category only one crowd region is used: the last crowd segment of that category in the
  GT segments_info (panopticapi's ``crowd_labels_dict``, issue #19) - merge crowd masks per
  category when writing GT;
* FP: every unmatched prediction, unless (|p & VOID| + |p & crowd of its category|) / |p| > 0.5.

tp, fp, fn and the IoU sum are summed per category over all images; per category PQ = iou /
(tp + fp/2 + fn/2), SQ = iou / tp (0 if tp = 0), RQ = tp / (tp + fp/2 + fn/2); categories with
tp + fp + fn = 0 are skipped. All/Things/Stuff are unweighted means over the counted categories.
**Difference:** panopticapi divides by n = 0 and crashes; paperlib returns NaN with n = 0.

The IoU sums are accumulated match by match, in panopticapi's order (images in GT-JSON order, pairs
in ascending (gt_id, pred_id) order), so the numbers are bit-identical to single-core panopticapi
for any number of workers.

Speed: per image, one pass run-length encodes the joint (gt, pred) sequence (segment maps are
piecewise constant: far fewer runs than pixels; the change mask is padded so that numpy extracts
the run ends on its branch-free path, see :func:`_run_ends`); run values are mapped to
segment-table rows through a per-process 2**24-entry lookup table and counted into a small dense
(GT x prediction) matrix with one ``bincount`` - no per-pixel sort (panopticapi sorts every pixel
twice with ``np.unique``). PNGs are decoded straight into 32-bit words (no per-pixel id
arithmetic). Matching, FN and FP are vectorised over that matrix; per-segment bookkeeping uses
Python lists (a few dozen segments). PNG decoding (zlib) is most of the end-to-end time.
``pq_compute`` spreads images over processes for large sets.
"""
from __future__ import annotations

import math
import multiprocessing
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from paperlib.data.panoptic import OFFSET, VOID

# count arithmetic (RQ^alpha, per-image counts, PQ from summed counts, semantic confusion / mIoU) lives in
# pq_counts; re-exported here, its historical home
from .pq_counts import miou_from_confusion, per_image_counts, pq_from_counts, rq_alpha, semantic_confusion

__all__ = [
    "PanopticFormatError", "PQStatCat", "PQStat", "ImageResult", "pq_image",
    "pq_compute", "pq_compute_arrays", "rq_alpha", "size_bucket_pq", "semantic_confusion",
    "miou_from_confusion", "categories_dict", "pair_iou_matrix", "per_image_counts", "pq_from_counts",
    "format_results", "default_workers",
]


class PanopticFormatError(KeyError, ValueError):
    """Malformed panoptic input (panopticapi raises KeyError for the same cases)."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


# ----------------------------------------------------------------------------- statistics
class PQStatCat:
    __slots__ = ("iou", "tp", "fp", "fn")

    def __init__(self):
        self.iou = 0.0
        self.tp = 0
        self.fp = 0
        self.fn = 0

    def __iadd__(self, o: "PQStatCat"):
        self.iou += o.iou
        self.tp += o.tp
        self.fp += o.fp
        self.fn += o.fn
        return self

    def __repr__(self):
        return f"PQStatCat(tp={self.tp}, fp={self.fp}, fn={self.fn}, iou={self.iou!r})"


@dataclass
class ImageResult:
    """The TP/FP/FN events of one image (what :class:`PQStat` accumulates).

    tp_*: one entry per match, in ascending (gt_id, pred_id) order; fn_*: unmatched non-crowd GT
    segments (JSON order); fp_*: unmatched, not-ignored predictions (JSON order).
    """
    image_id: object
    tp_cat: np.ndarray
    tp_iou: np.ndarray
    tp_gt_area: np.ndarray
    tp_pred_area: np.ndarray
    tp_gt_id: np.ndarray
    tp_pred_id: np.ndarray
    fp_cat: np.ndarray
    fp_area: np.ndarray
    fn_cat: np.ndarray
    fn_area: np.ndarray


class PQStat:
    """Per-category tp/fp/fn/iou sums (panopticapi's ``PQStat``), fed image by image."""

    def __init__(self):
        self.pq_per_cat = defaultdict(PQStatCat)

    def __getitem__(self, cat):
        return self.pq_per_cat[cat]

    def __iadd__(self, other: "PQStat"):
        for c, s in other.pq_per_cat.items():
            self.pq_per_cat[c] += s
        return self

    def add(self, res: ImageResult) -> "PQStat":
        """Accumulate one image's events (IoUs added one by one, in panopticapi's order)."""
        per = self.pq_per_cat
        for c, iou in zip(res.tp_cat.tolist(), res.tp_iou.tolist()):
            s = per[c]
            s.tp += 1
            s.iou += iou
        for c in res.fn_cat.tolist():
            per[c].fn += 1
        for c in res.fp_cat.tolist():
            per[c].fp += 1
        return self

    def add_image(self, gt_ids, gt_segments, pred_ids, pred_segments, categories,
                  image_id=None) -> ImageResult:
        res = pq_image(gt_ids, gt_segments, pred_ids, pred_segments, categories, image_id)
        self.add(res)
        return res

    def pq_average(self, categories: Mapping[int, dict], isthing=None):
        """(summary {"pq","sq","rq","n"}, per-class dict) like panopticapi; NaN when n = 0."""
        pq = sq = rq = 0.0
        n = 0
        per_class = {}
        for label, info in categories.items():
            cat_isthing = info.get("isthing", 0) == 1
            if isthing is not None and isthing != cat_isthing:
                continue
            s = self.pq_per_cat[label] if label in self.pq_per_cat else PQStatCat()
            tp, fp, fn, iou = s.tp, s.fp, s.fn, s.iou
            base = {"tp": tp, "fp": fp, "fn": fn, "iou": iou, "isthing": cat_isthing}
            if tp + fp + fn == 0:
                per_class[label] = {"pq": 0.0, "sq": 0.0, "rq": 0.0, **base}
                continue
            n += 1
            pq_c = iou / (tp + 0.5 * fp + 0.5 * fn)
            sq_c = iou / tp if tp != 0 else 0
            rq_c = tp / (tp + 0.5 * fp + 0.5 * fn)
            per_class[label] = {"pq": pq_c, "sq": sq_c, "rq": rq_c, **base}
            pq += pq_c
            sq += sq_c
            rq += rq_c
        if n == 0:
            return {"pq": math.nan, "sq": math.nan, "rq": math.nan, "n": 0}, per_class
        return {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": n}, per_class

    def results(self, categories: Mapping[int, dict]) -> dict:
        out = {}
        for name, isthing in (("All", None), ("Things", True), ("Stuff", False)):
            out[name], per_class = self.pq_average(categories, isthing=isthing)
            if name == "All":
                out["per_class"] = per_class
        return out


# ----------------------------------------------------------------------------- one image
def _runs(gf: np.ndarray, pf: np.ndarray):
    """Run-length encoding of the joint (gt, pred) sequence of a flattened image pair.

    Segment maps are piecewise constant, so there are far fewer runs than pixels; every later step
    works on runs. Returns (gt value, pred value, length) per run."""
    n = gf.size
    if n == 0:
        e = np.empty(0, np.int64)
        return e, e, e
    chg = gf[1:] != gf[:-1]
    chg |= pf[1:] != pf[:-1]
    idx = np.flatnonzero(chg)
    idx += 1
    starts = np.empty(idx.size + 1, dtype=np.intp)
    starts[0] = 0
    starts[1:] = idx
    ends = np.empty_like(starts)
    ends[:-1] = idx
    ends[-1] = n
    return gf[starts].astype(np.int64), pf[starts].astype(np.int64), ends - starts


_LUT = None


def _lut() -> np.ndarray:
    """A per-process id -> row table over all 2**24 ids (np.zeros: pages are only touched where
    used). Entries are set for one image and reset afterwards, so lookups cost one gather."""
    global _LUT
    if _LUT is None:
        _LUT = np.zeros(OFFSET, dtype=np.int32)
    return _LUT


def _rows_of(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row of each run value: 1 = VOID, 2.. = position in ``ids`` + 2, 0 = id not listed."""
    lut = _lut()
    lut[VOID] = 1
    lut[ids] = np.arange(2, ids.size + 2, dtype=np.int32)
    try:
        return lut[values]
    finally:
        lut[ids] = 0
        lut[VOID] = 0


def _seg_lists(segments, image_id, which: str):
    """(ids, category ids) of a segments_info list as Python ints, validated as panopticapi
    validates them (ids in [1, OFFSET), no duplicates). Python lists: cheaper than numpy for a few
    dozen segments."""
    ids = [int(s["id"]) for s in segments]
    cats = [int(s["category_id"]) for s in segments]
    if ids:
        if min(ids) <= 0 or max(ids) >= OFFSET:
            bad = next(i for i in ids if i <= 0 or i >= OFFSET)
            if bad == VOID:
                raise PanopticFormatError(
                    f"In the image with ID {image_id} the {which} segments_info lists segment ID 0, "
                    "which is reserved for VOID.")
            raise PanopticFormatError(
                f"In the image with ID {image_id} the {which} segment with ID {bad} is outside "
                f"[1, {OFFSET - 1}].")
        if len(set(ids)) != len(ids):
            seen, dup = set(), set()
            for i in ids:
                (dup if i in seen else seen).add(i)
            raise PanopticFormatError(
                f"In the image with ID {image_id} the {which} segments_info has duplicate segment "
                f"IDs {sorted(dup)}.")
    return ids, cats


_EMPTY_I64 = np.empty(0, np.int64)
_ROWS = np.arange(2, 2 + 4096, dtype=np.int32)


def _row_numbers(n: int) -> np.ndarray:
    global _ROWS
    if n > _ROWS.size:
        _ROWS = np.arange(2, 2 + 2 * n, dtype=np.int32)
    return _ROWS[:n]


def _run_ends(gf: np.ndarray, pf: np.ndarray) -> np.ndarray:
    """Last index of every run of the joint (gt, pred) sequence (n >= 1 pixels), ascending.

    The change mask is written into a buffer followed by True padding: the first pad element marks
    the end of the last run, and enough further pad makes the mask at least ~11% dense, which puts
    ``np.flatnonzero`` on numpy's branch-free path for dense boolean masks (its sparse path
    mispredicts on every change of a moderately sparse mask: about 2x slower here). Only the first
    k + 1 indices are kept, so the padding never changes the result."""
    m = gf.size - 1
    buf = np.empty(m + m // 7 + 4, dtype=bool)
    chg = buf[:m]
    np.not_equal(gf[1:], gf[:-1], out=chg)
    chg |= pf[1:] != pf[:-1]
    k = int(np.count_nonzero(chg))
    pad = 1
    if 0.005 * m < k < 0.11 * m:
        pad = int((0.11 * m - k) / 0.89) + 2
    buf[m:m + pad] = True
    return np.flatnonzero(buf[:m + pad])[:k + 1]


def pq_image(gt_ids, gt_segments, pred_ids, pred_segments, categories, image_id=None,
             _mask24: bool = False) -> ImageResult:
    """TP/FP/FN events of one image. ``*_ids``: (H, W) integer id maps (decoded PNGs);
    ``*_segments``: segments_info lists (GT needs id, category_id, area, iscrowd; prediction needs
    id, category_id); ``categories``: {cat_id: {... "isthing"}} or an iterable of category ids.

    Implementation: run-length encode the joint map, map run values to rows of the (sorted)
    segment tables, and count intersections into a small dense (GT x prediction) matrix with one
    ``bincount`` - no per-pixel sort. Row-major order of that matrix is ascending
    (gt_id, pred_id), panopticapi's pair order. Per-segment bookkeeping uses Python lists (a few
    dozen segments: cheaper than numpy calls)."""
    gt_ids = np.asarray(gt_ids)
    pred_ids = np.asarray(pred_ids)
    if gt_ids.shape != pred_ids.shape:
        raise PanopticFormatError(
            f"In the image with ID {image_id} the prediction PNG has shape {pred_ids.shape} but "
            f"the ground truth PNG has shape {gt_ids.shape}.")
    if gt_ids.ndim != 2:
        raise PanopticFormatError(f"In the image with ID {image_id} the id maps must be 2-D, "
                                  f"got shape {gt_ids.shape}.")
    known = _category_set(categories)

    g_ids, g_cats = _seg_lists(gt_segments, image_id, "ground truth")
    p_ids, p_cats = _seg_lists(pred_segments, image_id, "prediction")
    ng, npr = len(g_ids), len(p_ids)
    go = sorted(range(ng), key=g_ids.__getitem__)         # rows: ascending ids
    po = sorted(range(npr), key=p_ids.__getitem__)
    g_id_l = [g_ids[k] for k in go]
    g_cat_l = [g_cats[k] for k in go]
    p_id_l = [p_ids[k] for k in po]
    p_cat_l = [p_cats[k] for k in po]
    g_area = np.array([gt_segments[k]["area"] for k in go], dtype=np.int64)
    g_crowd_l = [gt_segments[k].get("iscrowd", 0) == 1 for k in go]

    # --- joint run-length encoding (runs end where gt or pred changes)
    gf = gt_ids.reshape(-1)
    pf = pred_ids.reshape(-1)
    n = gf.size
    if n:
        ends = _run_ends(gf, pf)
        rg = gf[ends]
        rp = pf[ends]
        rl = ends.copy()
        rl[1:] -= ends[:-1]
        rl[0] += 1
    else:
        rg = rp = rl = _EMPTY_I64
    if rg.dtype.kind not in "ui" or rp.dtype.kind not in "ui":   # e.g. bool or float maps
        rg = rg.astype(np.int64)
        rp = rp.astype(np.int64)
    if _mask24:            # decoded RGBX/RGBA words: drop the 4th byte
        rg &= OFFSET - 1
        rp &= OFFSET - 1
    elif rg.size and ((rg.dtype.kind == "i" or rp.dtype.kind == "i") and min(rg.min(), rp.min()) < 0
                      or max(rg.max(), rp.max()) >= OFFSET):
        raise PanopticFormatError(f"In the image with ID {image_id} the id maps hold values outside "
                                  f"[0, {OFFSET - 1}].")

    # rows: 0 = GT id absent from the JSON (ignored), 1 = VOID, 2.. = GT segments (sorted ids)
    # cols: 0 = id absent from the JSON (an error), 1 = VOID, 2.. = predicted segments
    g_id = np.array(g_id_l, dtype=np.int64)
    p_id = np.array(p_id_l, dtype=np.int64)
    lut = _lut()
    lut[VOID] = 1
    w = npr + 2
    try:
        lut[g_id] = _row_numbers(ng)
        grow = lut[rg]
        lut[g_id] = 0
        lut[p_id] = _row_numbers(npr)
        pcol = lut[rp]
        lut[p_id] = 0
        lut[VOID] = 0
    except BaseException:
        lut[g_id] = 0
        lut[p_id] = 0
        lut[VOID] = 0
        raise
    grow *= w
    grow += pcol
    M = np.bincount(grow, weights=rl, minlength=(ng + 2) * w).astype(np.int64)
    M = M.reshape(ng + 2, w)
    _check_gt(M, g_id_l, g_area, rg[grow < w] if M[0].any() else None, image_id)

    # --- prediction sanity checks, in panopticapi's order (ascending PNG ids)
    unknown = [p_id_l[j] for j in range(npr) if p_cat_l[j] not in known]
    if unknown or M[:, 0].any():
        bad = pcol == 0
        first_missing = int(rp[bad].min()) if bad.any() else None
        present = set(np.unique(rp[pcol >= 2]).tolist()) if unknown else set()
        unk_present = [i for i in unknown if i in present]
        cand = [(first_missing, "missing")] if first_missing is not None else []
        if unk_present:
            cand.append((min(unk_present), "unknown"))
        if cand:
            lab, kind = min(cand)
            if kind == "missing":
                raise PanopticFormatError(
                    f"In the image with ID {image_id} segment with ID {lab} is presented in PNG "
                    "and not presented in JSON.")
            c = p_cat_l[p_id_l.index(lab)]
            raise PanopticFormatError(
                f"In the image with ID {image_id} segment with ID {lab} has unknown category_id {c}.")
    p_area = M[:, 2:].sum(axis=0)
    if npr and not p_area.all():
        missing = [p_id_l[j] for j in np.flatnonzero(p_area == 0).tolist()]
        raise PanopticFormatError(
            f"In the image with ID {image_id} the following segment IDs {missing} are presented "
            "in JSON and not presented in PNG.")
    void = M[1, 2:]
    sub = M[2:, 2:]

    g_cat = np.array(g_cat_l, dtype=np.int64)
    p_cat = np.array(p_cat_l, dtype=np.int64)
    # --- matches: non-crowd GT, same category, IoU > 0.5 with VOID removed from the union
    cand = sub > 0
    cand &= g_cat[:, None] == p_cat
    if True in g_crowd_l:
        cand[g_crowd_l] = False
    r, c = np.nonzero(cand)
    inter = sub[r, c]
    pa = p_area[c]
    union = pa + g_area[r] - inter - void[c]
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    m = iou > 0.5
    mr, mc = r[m], c[m]
    mr_l = mr.tolist()
    mc_l = mc.tolist()

    # --- FN: unmatched non-crowd GT segments
    fn_sel = [not x for x in g_crowd_l]
    for i in mr_l:
        fn_sel[i] = False

    # --- FP: unmatched predictions unless > half of them lies on VOID + own-category crowd;
    # crowd region per category = the last crowd segment of the category in JSON order
    # (crowd segments are never matched)
    ign = void
    if True in g_crowd_l:
        inv_go = [0] * ng
        for row, kk in enumerate(go):
            inv_go[kk] = row
        crowd_row = {}
        for kk, s in enumerate(gt_segments):                # JSON order
            if s.get("iscrowd", 0) == 1:
                crowd_row[g_cats[kk]] = inv_go[kk]
        cols = [j for j in range(npr) if p_cat_l[j] in crowd_row]
        if cols:
            ign = void.copy()
            ign[cols] += sub[[crowd_row[p_cat_l[j]] for j in cols], cols]
    fp_sel = ign / p_area <= 0.5 if npr else np.zeros(0, dtype=bool)
    if mc_l:
        fp_sel[mc] = False
    fn_sel = np.array(fn_sel, dtype=bool) if ng else np.zeros(0, dtype=bool)

    return ImageResult(
        image_id=image_id,
        tp_cat=g_cat[mr], tp_iou=iou[m], tp_gt_area=g_area[mr], tp_pred_area=pa[m],
        tp_gt_id=g_id[mr], tp_pred_id=p_id[mc],
        fp_cat=p_cat[fp_sel], fp_area=p_area[fp_sel],
        fn_cat=g_cat[fn_sel], fn_area=g_area[fn_sel],
    )


def _check_gt(M, g_ids, g_area, unlisted_values, image_id):
    """Ground-truth sanity checks (paperlib's; panopticapi trusts the GT): every non-VOID id of the GT
    PNG is listed in its segments_info, and every listed ``area`` equals the segment's pixel count
    (PQ takes GT areas from the JSON, so a wrong area gives a wrong IoU: area 0 -> PQ = inf)."""
    if unlisted_values is not None:
        ids = np.unique(unlisted_values).tolist()
        raise PanopticFormatError(
            f"In the image with ID {image_id} the ground truth PNG holds segment ID(s) {ids[:10]} that the "
            "ground truth segments_info does not list (only 0 = VOID may be unlisted).")
    png_area = M[2:].sum(axis=1)
    if not np.array_equal(png_area, g_area):
        bad = np.flatnonzero(png_area != g_area).tolist()
        detail = ", ".join(f"segment {g_ids[k]}: area {int(g_area[k])} in JSON, {int(png_area[k])} pixels in PNG"
                           for k in bad[:5])
        raise PanopticFormatError(
            f"In the image with ID {image_id} the ground truth segments_info areas disagree with the PNG "
            f"({detail}). PQ takes ground truth areas from the JSON, so they must be the exact pixel counts.")


def _category_set(categories):
    if isinstance(categories, (set, frozenset)):
        return categories
    if isinstance(categories, Mapping):
        return set(categories.keys())
    return set(categories)


def categories_dict(categories) -> dict:
    """{id: category} from a COCO ``categories`` list (or a dict, returned as is)."""
    if isinstance(categories, Mapping):
        return dict(categories)
    return {c["id"]: c for c in categories}


# ----------------------------------------------------------------------------- in memory
def pq_compute_arrays(samples: Iterable, categories, *, return_images: bool = False):
    """PQ over in-memory samples: each a tuple ``(gt_ids, gt_segments, pred_ids, pred_segments)``
    (optionally a 5th element, the image id) or a dict with those keys (+ "image_id").

    Returns panopticapi's result dict; with ``return_images`` also the list of ImageResults
    (for size buckets, RQ^alpha, IoU histograms)."""
    cats = categories_dict(categories)
    known = set(cats)
    stat = PQStat()
    images = []
    for k, s in enumerate(samples):
        if isinstance(s, Mapping):
            g, gs, p, ps = s["gt_ids"], s["gt_segments"], s["pred_ids"], s["pred_segments"]
            iid = s.get("image_id", k)
        else:
            g, gs, p, ps = s[:4]
            iid = s[4] if len(s) > 4 else k
        res = pq_image(g, gs, p, ps, known, iid)
        stat.add(res)
        if return_images:
            images.append(res)
    out = stat.results(cats)
    return (out, images) if return_images else out


# ----------------------------------------------------------------------------- files
def _file_chunk(args):
    pairs, gt_folder, pred_folder, known, sizes = args
    out = []
    for gt_ann, pred_ann in pairs:
        iid = gt_ann["image_id"]
        g = _read(os.path.join(gt_folder, gt_ann["file_name"]), iid, "ground truth")
        if iid in sizes and g.shape != sizes[iid]:
            raise PanopticFormatError(
                f"In the image with ID {iid} the ground truth PNG {os.path.join(gt_folder, gt_ann['file_name'])} "
                f"is {g.shape[1]}x{g.shape[0]} (width x height) but the ground truth JSON's images entry says "
                f"{sizes[iid][1]}x{sizes[iid][0]}.")
        p = _read(os.path.join(pred_folder, pred_ann["file_name"]), iid, "prediction")
        out.append(pq_image(g, gt_ann["segments_info"], p, pred_ann["segments_info"], known, iid,
                            _mask24=True))
    return out


def _read(path, image_id, which):
    """Decode a panoptic PNG into 32-bit words (id in the low 24 bits, the 4th byte undefined:
    pq_image masks run values with ``_mask24``). Skips the per-pixel id arithmetic."""
    if not os.path.isfile(path):
        raise PanopticFormatError(f"In the image with ID {image_id} the {which} PNG {path} does not exist.")
    with Image.open(path) as im:
        if im.mode not in ("RGB", "RGBA"):
            raise PanopticFormatError(
                f"In the image with ID {image_id}: {which} PNG {path} has mode {im.mode!r}; "
                "COCO panoptic needs 8-bit RGB")
        w, h = im.size
        buf = im.tobytes("raw", "RGBX" if im.mode == "RGB" else "RGBA")
    return np.frombuffer(buf, dtype="<u4").reshape(h, w)


def default_workers(n_images: int) -> int:
    """Every available core for large sets (>= 200 images), one process otherwise."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 1
    return cores if n_images >= 200 else 1


def pq_compute(gt_json_file, pred_json_file, gt_folder=None, pred_folder=None, workers=None,
               *, return_images: bool = False, verbose: bool = False):
    """panopticapi's ``pq_compute`` (same arguments, same result dict).

    ``gt_folder``/``pred_folder`` default to the JSON path without ".json". ``workers``: number of
    processes (None: every core for >= 200 images, else 1); the result is identical for any value.
    Every GT image needs a prediction entry (matched on image_id); extra predictions are ignored.
    """
    from paperlib.data.common import read_json, require_keys

    gt_json_file, pred_json_file = str(gt_json_file), str(pred_json_file)
    gt_json = read_json(gt_json_file, "panoptic ground truth json")
    require_keys(gt_json, ("annotations", "categories"), gt_json_file, "panoptic ground truth json")
    pred_json = read_json(pred_json_file, "panoptic prediction json")
    require_keys(pred_json, ("annotations",), pred_json_file, "panoptic prediction json")
    gt_folder = str(gt_folder) if gt_folder is not None else gt_json_file.replace(".json", "")
    pred_folder = str(pred_folder) if pred_folder is not None else pred_json_file.replace(".json", "")
    if not os.path.isdir(gt_folder):
        raise FileNotFoundError(f"Folder {gt_folder} with ground truth segmentations doesn't exist")
    if not os.path.isdir(pred_folder):
        raise FileNotFoundError(f"Folder {pred_folder} with predicted segmentations doesn't exist")
    cats = categories_dict(gt_json["categories"])
    known = set(cats)
    pred_anns = {a["image_id"]: a for a in pred_json["annotations"]}
    pairs = []
    for gt_ann in gt_json["annotations"]:
        iid = gt_ann["image_id"]
        if iid not in pred_anns:
            raise PanopticFormatError(f"no prediction for the image with id: {iid}")
        pairs.append((gt_ann, pred_anns[iid]))
    # the GT PNG's size is checked against the GT JSON's images entry (panopticapi never reads it)
    sizes = {im["id"]: (int(im["height"]), int(im["width"])) for im in gt_json.get("images", [])
             if isinstance(im, dict) and {"id", "height", "width"} <= set(im)}

    nw = default_workers(len(pairs)) if workers is None else max(1, int(workers))
    nw = min(nw, max(1, len(pairs)))
    if nw == 1:
        chunks_out = [_file_chunk((pairs, gt_folder, pred_folder, known, sizes))]
    else:
        bounds = np.linspace(0, len(pairs), nw + 1).round().astype(int)
        jobs = [(pairs[a:b], gt_folder, pred_folder, known, sizes) for a, b in zip(bounds[:-1], bounds[1:])]
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                          else None)
        with ctx.Pool(processes=nw) as pool:
            chunks_out = pool.map(_file_chunk, jobs)
    stat = PQStat()
    images = []
    for chunk in chunks_out:          # image order = GT JSON order, whatever the worker count
        for res in chunk:
            stat.add(res)
            if return_images:
                images.append(res)
    out = stat.results(cats)
    if verbose:
        print(format_results(out))
    return (out, images) if return_images else out


def format_results(res: dict) -> str:
    lines = ["{:10s}| {:>5s}  {:>5s}  {:>5s} {:>5s}".format("", "PQ", "SQ", "RQ", "N"), "-" * 38]
    for name in ("All", "Things", "Stuff"):
        r = res[name]
        lines.append("{:10s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}".format(
            name, 100 * r["pq"], 100 * r["sq"], 100 * r["rq"], r["n"]))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- extras
def size_bucket_pq(images: Sequence[ImageResult], categories, edges: Sequence[float],
                   names: Sequence[str] | None = None) -> dict:
    """PQ/SQ/RQ per object-size bucket (our choice, spec T2): TP and FN go by GT area, FP by
    predicted area; bucket b holds areas in [edges[b], edges[b+1]). Returns {name: summary}."""
    cats = categories_dict(categories)
    edges = np.asarray(edges, dtype=float)
    nb = len(edges) - 1
    names = list(names) if names is not None else [f"b{i}" for i in range(nb)]
    stats = [PQStat() for _ in range(nb)]

    def bucket(a):
        return np.clip(np.searchsorted(edges, a, side="right") - 1, 0, nb - 1)

    for r in images:
        for c, iou, b in zip(r.tp_cat.tolist(), r.tp_iou.tolist(), bucket(r.tp_gt_area).tolist()):
            s = stats[b][c]
            s.tp += 1
            s.iou += iou
        for c, b in zip(r.fn_cat.tolist(), bucket(r.fn_area).tolist()):
            stats[b][c].fn += 1
        for c, b in zip(r.fp_cat.tolist(), bucket(r.fp_area).tolist()):
            stats[b][c].fp += 1
    return {nm: st.pq_average(cats, None)[0] for nm, st in zip(names, stats)}


def pair_iou_matrix(gt_ids, gt_segments, pred_ids, pred_segments):
    """IoU of every (GT, prediction) segment pair with PQ's union rule (VOID removed from the
    union; GT areas from the JSON). Returns (gt segment rows, pred segment rows, iou (G, P)),
    rows in ascending id order. For IoU histograms and matching-uniqueness checks."""
    g_id = np.asarray(_seg_lists(gt_segments, None, "ground truth")[0], dtype=np.int64)
    p_id = np.asarray(_seg_lists(pred_segments, None, "prediction")[0], dtype=np.int64)
    g_area = {s["id"]: s["area"] for s in gt_segments}
    go, po = np.argsort(g_id), np.argsort(p_id)
    g_id, p_id = g_id[go], p_id[po]
    rg, rp, rl = _runs(np.asarray(gt_ids).reshape(-1), np.asarray(pred_ids).reshape(-1))
    grow = _rows_of(g_id, rg)
    pcol = _rows_of(p_id, rp)
    if (pcol == 0).any():
        raise PanopticFormatError("prediction PNG holds segment ids missing from its segments_info")
    ng, npr = g_id.size, p_id.size
    w = npr + 2
    M = np.bincount(grow * w + pcol, weights=rl, minlength=(ng + 2) * w).astype(np.int64).reshape(ng + 2, w)
    ga = np.array([g_area[i] for i in g_id.tolist()], dtype=np.int64)
    _check_gt(M, g_id.tolist(), ga, rg[grow == 0] if M[0].any() else None, None)
    p_area = M[:, 2:].sum(axis=0)
    sub = M[2:, 2:]
    union = p_area[None, :] + ga[:, None] - sub - M[1, 2:][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(sub > 0, sub / np.maximum(union, 1), 0.0)
    gsegs = {s["id"]: s for s in gt_segments}
    psegs = {s["id"]: s for s in pred_segments}
    return [gsegs[i] for i in g_id.tolist()], [psegs[i] for i in p_id.tolist()], iou
