"""COCO panoptic format tools: id <-> RGB encoding, PNG + segments_info I/O, and the paper's
heuristic that combines a semantic and an instance prediction into one panoptic prediction.

Format (as panopticapi): an 8-bit RGB PNG per image, segment id = R + 256*G + 256**2*B, id 0 = VOID.
Ids only need to be unique per image and < 2**24. The annotation JSON holds, per image,
``{image_id, file_name, segments_info: [{id, category_id, area, bbox, iscrowd}]}``; a prediction
needs only ``{id, category_id}`` per segment.

Everything written here casts numpy integers to Python ints (panopticapi converters #51), stores
exact pixel counts as ``area`` (the PQ engine takes GT areas from the JSON) and never writes
empty segments (panopticapi raises on them, #1).
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from ..jsonio import json_default

VOID = 0
OFFSET = 256 * 256 * 256  # max id + 1
MAX_ID = OFFSET - 1

__all__ = [
    "VOID", "OFFSET", "rgb2id", "id2rgb", "read_panoptic_png", "write_panoptic_png",
    "segments_info_from_ids", "save_json", "load_json", "write_panoptic_dataset",
    "load_panoptic_annotations", "check_panoptic_annotation", "combine_semantic_instances", "semantic_from_panoptic",
    "load_results_json", "results_by_image", "decode_segmentation", "semantic_map_from_results",
    "read_semantic_png", "instances_from_results",
]


# ----------------------------------------------------------------------------- encoding
def rgb2id(color):
    """RGB -> id. An (H, W, 3) array gives an (H, W) uint32 id map; a 3-sequence gives an int."""
    if isinstance(color, np.ndarray) and color.ndim == 3:
        if color.shape[2] < 3:
            raise ValueError(f"rgb2id needs (H, W, 3) colors, got shape {color.shape}")
        c = color[..., :3]
        if c.dtype != np.uint8:
            if c.size and (c.min() < 0 or c.max() > 255):
                raise ValueError("rgb2id: color channels must lie in [0, 255]")
            c = c.astype(np.uint8)
        c = c.astype(np.uint32)
        return c[..., 0] | (c[..., 1] << 8) | (c[..., 2] << 16)
    r, g, b = (int(v) for v in color[:3])
    return r + 256 * g + 256 * 256 * b


def id2rgb(id_map):
    """id -> RGB. An (H, W) integer array gives (H, W, 3) uint8; an int gives an (r, g, b) tuple."""
    if isinstance(id_map, np.ndarray):
        ids = id_map.astype(np.int64, copy=False)
        if ids.size and (ids.min() < 0 or ids.max() > MAX_ID):
            raise ValueError(f"segment ids must lie in [0, {MAX_ID}], got [{ids.min()}, {ids.max()}]")
        ids = ids.astype(np.uint32)
        rgb = np.empty(ids.shape + (3,), dtype=np.uint8)
        rgb[..., 0] = ids & 255
        rgb[..., 1] = (ids >> 8) & 255
        rgb[..., 2] = (ids >> 16) & 255
        return rgb
    i = int(id_map)
    if not 0 <= i <= MAX_ID:
        raise ValueError(f"segment id {i} outside [0, {MAX_ID}]")
    return (i % 256, (i // 256) % 256, i // 65536)


def read_panoptic_png(path) -> np.ndarray:
    """Read a COCO panoptic PNG into an (H, W) uint32 id map.

    The file must be RGB (or RGBA, whose alpha is ignored, as panopticapi's rgb2id does). Palette,
    grayscale and 16-bit files would decode to wrong ids, so they raise.
    """
    with Image.open(path) as im:
        mode = im.mode
        if mode not in ("RGB", "RGBA"):
            raise ValueError(f"panoptic PNG {path} has mode {mode!r}; COCO panoptic needs 8-bit RGB")
        arr = np.asarray(im)
    return rgb2id(arr)


def write_panoptic_png(path, id_map: np.ndarray) -> None:
    """Write an (H, W) id map as a lossless 8-bit RGB PNG (no volatile metadata)."""
    if str(path).lower().endswith((".jpg", ".jpeg")):
        raise ValueError("panoptic maps must be PNG (lossless), never JPEG")
    Image.fromarray(id2rgb(np.asarray(id_map)), mode="RGB").save(path, format="PNG")


# ----------------------------------------------------------------------------- segments_info
def segments_info_from_ids(id_map: np.ndarray, categories_of: Mapping[int, int],
                           iscrowd_of: Mapping[int, int] | None = None) -> list[dict]:
    """segments_info for every non-VOID id present in ``id_map``, with exact area and bbox.

    ``categories_of`` maps segment id -> category id; ``iscrowd_of`` segment id -> 0/1 (default 0).
    Ids present in the map but absent from ``categories_of`` raise; ids in ``categories_of`` that
    are absent from the map are skipped (empty segments must not be written).
    """
    ids = np.asarray(id_map)
    labels, counts = np.unique(ids, return_counts=True)
    out = []
    for lab, cnt in zip(labels.tolist(), counts.tolist()):
        if lab == VOID:
            continue
        if lab not in categories_of:
            raise KeyError(f"segment id {lab} present in the id map has no category")
        ys, xs = np.nonzero(ids == lab)
        x0, y0 = int(xs.min()), int(ys.min())
        out.append({
            "id": int(lab),
            "category_id": int(categories_of[lab]),
            "area": int(cnt),
            "bbox": [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1],
            "iscrowd": int((iscrowd_of or {}).get(lab, 0)),
        })
    return out


def save_json(obj, path) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, default=json_default, sort_keys=False)


def load_json(path):
    """Parse a JSON file; a truncated / malformed one raises ValueError naming the path."""
    from .common import read_json

    return read_json(path)


def write_panoptic_dataset(json_path, images: Sequence[dict], id_maps: Sequence[np.ndarray],
                           segments: Sequence[Sequence[dict]], categories: Sequence[dict],
                           folder=None) -> str:
    """Write ``folder/<file_name>.png`` for every image plus the panoptic JSON at ``json_path``.

    ``images``: [{id, file_name (.png), height, width}], ``segments[i]``: segments_info of image i
    (any of id/category_id/area/bbox/iscrowd). Areas and bboxes are recomputed from the map so
    that they are exact; empty segments are dropped. Returns the PNG folder (default: json path
    without '.json', panopticapi's convention).
    """
    json_path = str(json_path)
    folder = folder or json_path[:-5] if json_path.endswith(".json") else folder
    if folder is None:
        raise ValueError("give folder= when json_path does not end with .json")
    os.makedirs(folder, exist_ok=True)
    anns = []
    for img, ids, segs in zip(images, id_maps, segments, strict=True):
        ids = np.asarray(ids)
        if ids.shape != (img["height"], img["width"]):
            raise ValueError(f"image {img['id']}: id map shape {ids.shape} != "
                             f"({img['height']}, {img['width']})")
        cats = {int(s["id"]): int(s["category_id"]) for s in segs}
        crowd = {int(s["id"]): int(s.get("iscrowd", 0)) for s in segs}
        info = segments_info_from_ids(ids, cats, crowd)
        fname = img["file_name"]
        if not fname.endswith(".png"):
            fname = os.path.splitext(fname)[0] + ".png"
        write_panoptic_png(os.path.join(folder, fname), ids)
        anns.append({"image_id": img["id"], "file_name": fname, "segments_info": info})
    save_json({"images": [dict(i) for i in images], "annotations": anns,
               "categories": [dict(c) for c in categories]}, json_path)
    return folder


def load_panoptic_annotations(json_path, folder=None):
    """Yield (annotation dict, id map) for every annotation of a panoptic JSON (ground truth), each
    checked by :func:`check_panoptic_annotation` (PNG size vs the JSON's images entry, PNG ids vs
    segments_info, areas vs pixel counts): a bad one raises ValueError naming the PNG."""
    from .common import read_json, require_keys

    json_path = str(json_path)
    data = read_json(json_path, "panoptic json")
    require_keys(data, ("annotations", "categories"), json_path, "panoptic json")
    folder = folder or json_path.replace(".json", "")
    sizes = {im.get("id"): im for im in data.get("images", []) if isinstance(im, dict)}
    for ann in data["annotations"]:
        png = os.path.join(folder, ann["file_name"])
        ids = read_panoptic_png(png)
        check_panoptic_annotation(ids, ann.get("segments_info", []), png, sizes.get(ann.get("image_id")))
        yield ann, ids


def check_panoptic_annotation(id_map: np.ndarray, segments_info: Sequence[dict], where: str = "",
                              image: Mapping | None = None) -> None:
    """A ground-truth panoptic annotation must be self-consistent: the id map's shape equals the
    ``image`` entry's (height, width) when given; every non-VOID id of the map is listed in
    ``segments_info`` (id 0 = VOID may be unlisted, as in panopticapi); and every listed ``area``
    equals that id's pixel count (the PQ engine takes GT areas from the JSON, so a wrong area would
    give an impossible IoU). Raises ValueError naming ``where`` (the PNG) and the first bad segments."""
    ids = np.asarray(id_map)
    if image is not None and "height" in image and "width" in image \
            and ids.shape != (int(image["height"]), int(image["width"])):
        raise ValueError(f"{where}: the PNG is {ids.shape[1]}x{ids.shape[0]} (width x height) but the JSON's "
                         f"images entry {image.get('id')!r} says {image['width']}x{image['height']}")
    labels, counts = np.unique(ids, return_counts=True)
    png_area = dict(zip(labels.tolist(), counts.tolist()))
    listed = {}
    for s in segments_info:
        if "id" not in s or "area" not in s:
            raise ValueError(f"{where}: a segments_info entry lacks 'id' or 'area': {s!r}")
        listed[int(s["id"])] = s["area"]
    unlisted = sorted(i for i in png_area if i != VOID and i not in listed)
    if unlisted:
        raise ValueError(f"{where}: the PNG holds segment id(s) {unlisted[:10]} that segments_info does not "
                         "list (only 0 = VOID may be unlisted)")
    bad = [(i, a, png_area.get(i, 0)) for i, a in listed.items() if a != png_area.get(i, 0)]
    if bad:
        raise ValueError(f"{where}: segments_info areas disagree with the PNG's pixel counts ("
                         + ", ".join(f"segment {i}: area {a} in JSON, {n} pixels in PNG" for i, a, n in bad[:5])
                         + "); areas must be the exact pixel counts")


def semantic_from_panoptic(id_map: np.ndarray, segments_info: Iterable[dict],
                           void_label: int = 0) -> np.ndarray:
    """Per-pixel category map (int32) from a panoptic map; VOID and unknown ids -> ``void_label``."""
    ids = np.asarray(id_map)
    segs = list(segments_info)
    if not segs:
        return np.full(ids.shape, void_label, dtype=np.int32)
    sid = np.array([s["id"] for s in segs], dtype=np.int64)
    cat = np.array([s["category_id"] for s in segs], dtype=np.int32)
    order = np.argsort(sid)
    sid, cat = sid[order], cat[order]
    flat = ids.reshape(-1).astype(np.int64)
    pos = np.clip(np.searchsorted(sid, flat), 0, len(sid) - 1)
    hit = sid[pos] == flat
    out = np.where(hit, cat[pos], void_label).astype(np.int32)
    return out.reshape(ids.shape)


# ----------------------------------------------------------------------------- heuristic
def combine_semantic_instances(semantic: np.ndarray, masks, scores, labels, *,
                               stuff_category_ids: Iterable[int],
                               confidence_thr: float = 0.5, overlap_thr: float = 0.5,
                               stuff_area_limit: float = 64 * 64, first_id: int = 1,
                               things_over_stuff: bool = True):
    """The one merge of semantic and instance predictions: paper 04's baseline heuristic (section 7),
    as panopticapi's ``combine_semantic_and_instance_predictions.py`` implements it, and paper 06's
    Panoptic FPN inference (detectron2's ``combine_semantic_and_instance_outputs``, same rules; 06
    passes its semantic argmax mapped to category ids, "other" to a non-stuff value).

    1. Instances are sorted by score, descending (stable, so ties keep input order), and the loop
       **stops** at the first score < ``confidence_thr`` (detectron2; panopticapi drops low scores
       up front -- the same result on a sorted list).
    2. An instance with an empty mask is skipped. If more than ``overlap_thr`` of its mask is
       already assigned, it is dropped; otherwise only its unassigned pixels become a new segment.
    3. For each stuff category in ``semantic`` (category-id map; thing and unknown labels are
       ignored), its unassigned pixels form one segment unless there are fewer than
       ``stuff_area_limit`` of them (the script's addition: 64*64 at COCO scale; scale it to the
       image size for small images).
    4. Everything else is VOID. Things win conflicts with stuff.

    ``things_over_stuff=False`` (an ablation of 06's merge study) places the stuff segments first
    (step 3 on an empty canvas) and the instances after them, so stuff wins conflicts: an instance is
    then skipped when more than ``overlap_thr`` of it is covered by stuff or earlier instances.

    ``masks``: (N, H, W) bool, ``scores``: (N,), ``labels``: (N,) category ids.
    Returns (id_map uint32 (H, W), segments_info [{id, category_id, area, iscrowd=0}]).
    Segment ids are consecutive from ``first_id`` (panopticapi uses colour-derived ids; any unique
    ids are valid).
    """
    semantic = np.asarray(semantic)
    h, w = semantic.shape
    masks = np.asarray(masks, dtype=bool).reshape(-1, h, w)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if not (len(masks) == len(scores) == len(labels)):
        raise ValueError(f"masks/scores/labels lengths differ: {len(masks)}/{len(scores)}/{len(labels)}")
    pan = np.zeros((h, w), dtype=np.uint32)
    used = np.zeros((h, w), dtype=bool)
    segs: list[dict] = []
    next_id = int(first_id)

    def add_stuff():
        nonlocal next_id, used
        for c in sorted(int(c) for c in set(stuff_category_ids)):
            left = (semantic == c) & ~used
            n = int(left.sum())
            if n == 0 or n < stuff_area_limit:
                continue
            pan[left] = next_id
            used |= left
            segs.append({"id": next_id, "category_id": c, "area": n, "iscrowd": 0})
            next_id += 1

    if not things_over_stuff:
        add_stuff()
    for i in np.argsort(-scores, kind="stable"):
        if not scores[i] >= confidence_thr:
            break                       # sorted (NaN last): every later instance scores lower
        m = masks[i]
        area = int(m.sum())
        if area == 0:
            continue
        inter = int(np.count_nonzero(m & used))
        if inter / area > overlap_thr:
            continue
        new = m & ~used
        n_new = int(new.sum())
        used |= m
        if n_new == 0:  # only possible with overlap_thr >= 1; panopticapi would list an empty segment
            continue
        pan[new] = next_id
        segs.append({"id": next_id, "category_id": int(labels[i]), "area": n_new, "iscrowd": 0})
        next_id += 1
    if things_over_stuff:
        add_stuff()
    return pan, segs


# ----------------------------------------------------------------------------- user results (merge inputs)
# The inputs of panopticapi's ``combine_semantic_and_instance_predictions.py``: a semantic
# segmentation as COCO "stuff" results (``--semseg_json_file``: [{image_id, category_id,
# segmentation (RLE)}], one entry per image and class) and instances as COCO detection results
# (``--instseg_json_file``: [{image_id, category_id, segmentation (RLE), score}]). A folder of
# single-channel PNG label maps (pixel value = category id, cocostuff's convention) is accepted as
# an alternative semantic input. Decoding is per image, so a whole val set is never held in memory.
def load_results_json(path) -> list:
    """A COCO results file: a list of dicts (or a dict holding them under "annotations")."""
    data = load_json(path)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        data = data["annotations"]
    if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
        raise ValueError(f"{path}: expected a COCO results list [{{image_id, category_id, segmentation, ...}}]")
    for a in data[:1]:
        missing = {"image_id", "category_id", "segmentation"} - set(a)
        if missing:
            raise ValueError(f"{path}: result entries need {sorted(missing)} (COCO results format)")
    return data


def results_by_image(results: Iterable[dict]) -> dict:
    """Group COCO results by image_id, keeping file order."""
    out: dict = {}
    for r in results:
        out.setdefault(r["image_id"], []).append(r)
    return out


def decode_segmentation(segmentation, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask from a COCO segmentation: compressed or uncompressed RLE, or polygons.
    An RLE whose size differs from the image raises."""
    from pycocotools import mask as mask_utils

    seg = segmentation
    if isinstance(seg, list):                                   # polygons
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg, dict) and "counts" in seg and "size" in seg:
        if list(seg["size"]) != [height, width]:
            raise ValueError(f"RLE size {list(seg['size'])} != image size [{height}, {width}]")
        if isinstance(seg["counts"], list):                     # uncompressed RLE
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            c = seg["counts"]
            rle = {"size": [height, width], "counts": c.encode("ascii") if isinstance(c, str) else c}
    else:
        raise ValueError("segmentation must be an RLE dict {size, counts} or a polygon list")
    return mask_utils.decode(rle).astype(bool)


def semantic_map_from_results(anns: Sequence[dict], height: int, width: int) -> np.ndarray:
    """(H, W) int32 category map from one image's semantic results; 0 = unlabelled. Where two
    entries overlap the first in file order wins (as in panopticapi, which fills each stuff entry
    only where nothing is assigned yet)."""
    sem = np.zeros((height, width), dtype=np.int32)
    for a in anns:
        m = decode_segmentation(a["segmentation"], height, width) & (sem == 0)
        sem[m] = int(a["category_id"])
    return sem


def read_semantic_png(path, height: int | None = None, width: int | None = None) -> np.ndarray:
    """(H, W) int32 category map from a single-channel PNG label map (mode L, P, I or I;16)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"semantic label map {path} not found")
    with Image.open(path) as im:
        if im.mode not in ("L", "P", "I", "I;16"):
            raise ValueError(f"semantic label map {path} has mode {im.mode!r}; expected a single-channel "
                             "PNG whose pixel values are category ids")
        sem = np.asarray(im).astype(np.int32)
    if height is not None and sem.shape != (height, width):
        raise ValueError(f"semantic label map {path}: shape {sem.shape} != image ({height}, {width})")
    return sem


def instances_from_results(anns: Sequence[dict], height: int, width: int, min_score: float | None = None):
    """(masks (N, H, W) bool, scores (N,), labels (N,)) from one image's instance results; entries
    with score < ``min_score`` are skipped before decoding (the merge drops them anyway)."""
    keep = [a for a in anns if min_score is None or float(a["score"]) >= min_score]
    masks = np.zeros((len(keep), height, width), dtype=bool)
    for k, a in enumerate(keep):
        if "score" not in a:
            raise ValueError(f"instance result for image {a.get('image_id')} has no 'score'")
        masks[k] = decode_segmentation(a["segmentation"], height, width)
    scores = np.array([float(a["score"]) for a in keep], dtype=np.float64)
    labels = np.array([int(a["category_id"]) for a in keep], dtype=np.int64)
    return masks, scores, labels
