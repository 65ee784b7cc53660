"""Synthetic scenes in the real COCO formats (instances, panoptic, semantic).

A seeded procedural generator of cluttered scenes: *things* (countable textured shapes of several
categories, over COCO's small / medium / large area buckets, with occlusion and a few *crowd*
regions) over *stuff* (textured background regions of several categories, plus unlabelled clutter).
It is written once (through :func:`paperlib.data.common.generated_dataset`) in COCO's layout::

    <root>/
      train/000000000001.png ...                 RGB images (lossless PNG)
      val/...
      annotations/instances_{split}.json         COCO instances: things only; bbox xywh, RLE masks
                                                 (compressed for single objects, uncompressed for
                                                 iscrowd=1 regions, as COCO does), area, iscrowd
      annotations/panoptic_{split}.json          COCO panoptic: images, annotations[segments_info],
                                                 categories (things + stuff, with ``isthing``)
      annotations/panoptic_{split}/*.png         panoptic PNGs, segment id = R + 256 G + 256^2 B,
                                                 0 = void (unlabelled)
      semantic_{split}/*.png                     uint8 label map: the COCO category id of the pixel
                                                 (things and stuff), 0 = void
      scenes_meta.json                           generator parameters and per-split statistics

Category ids: things 1..T, stuff T+1..T+S (see :data:`THING_CLASSES`, :data:`STUFF_CLASSES`).
The class vocabulary and its frequency law are parameters: ``num_things`` (default: the six named
shapes; more than six makes each category a shape x colour combination, the colour being a class
cue), ``num_stuff`` (1..4 of the stuff textures) and ``class_freq`` ("uniform", or "zipf" with
``zipf_exponent`` / ``zipf_offset``: P(category k) proportional to (k + 1 + offset)^-exponent, a long
tail for LVIS-style data). The defaults write exactly the data (and cache key) of before.
Segment ``area`` is the pixel count and ``bbox`` the tight pixel box ``[x, y, w, h]`` of the visible
mask in every file, so the instances json and the panoptic segments agree exactly.

    from paperlib.data.scenes import synthetic_scenes
    root = synthetic_scenes(n_train=600, n_val=150, image_size=256, seed=0)
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .panoptic import id2rgb, rgb2id  # panopticapi encoding: id = R + 256 G + 256^2 B

__all__ = [
    "THING_CLASSES", "STUFF_CLASSES", "categories", "generate_scenes", "synthetic_scenes",
    "render_scene", "rgb2id", "id2rgb", "COCO_AREA_RANGES", "area_bucket", "scenes_stats",
    "class_probabilities", "thing_names",
]

THING_CLASSES: Tuple[str, ...] = ("disc", "box", "triangle", "star", "cross", "ring")
STUFF_CLASSES: Tuple[str, ...] = ("sky", "grass", "water", "brick")
# fraction of the bounding square a shape of that category covers (for sampling target areas)
_FILL = {"disc": 0.785, "box": 0.9, "triangle": 0.45, "star": 0.31, "cross": 0.59, "ring": 0.55}

#: COCO's area buckets (pixels): small < 32^2 <= medium < 96^2 <= large
COCO_AREA_RANGES = {"small": (0.0, 32.0 ** 2), "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, 1e10)}

# colours that code the category when there are more than six things (shape x colour)
_COLOUR_NAMES = tuple(f"c{i:02d}" for i in range(42))
_MAX_THINGS = 250          # the semantic PNG stores category ids (things + stuff) as uint8

SCENES_VERSION = 2         # bump when the generator's output changes
MIN_VISIBLE_AREA = 12      # smaller visible fragments become void (unlabelled), not instances


def area_bucket(area: float) -> str:
    if area < 32 ** 2:
        return "small"
    if area < 96 ** 2:
        return "medium"
    return "large"


def thing_names(num_things: int | None = None) -> Tuple[str, ...]:
    """The thing category names: the six shapes, or shape x colour combinations beyond six."""
    if num_things is None:
        return THING_CLASSES
    if not 1 <= int(num_things) <= _MAX_THINGS:
        raise ValueError(f"num_things must be in [1, {_MAX_THINGS}], got {num_things}")
    if num_things <= len(THING_CLASSES):
        return THING_CLASSES[:num_things]
    return tuple(f"{THING_CLASSES[k % 6]}_{_COLOUR_NAMES[k // 6]}" for k in range(int(num_things)))


def _stuff_names(num_stuff: int | None) -> Tuple[str, ...]:
    if num_stuff is None:
        return STUFF_CLASSES
    if not 1 <= int(num_stuff) <= len(STUFF_CLASSES):
        raise ValueError(f"num_stuff must be in [1, {len(STUFF_CLASSES)}], got {num_stuff}")
    return STUFF_CLASSES[:num_stuff]


def class_probabilities(num_things: int, class_freq: str = "uniform", zipf_exponent: float = 1.0,
                        zipf_offset: float = 0.0) -> np.ndarray:
    """P(an instance is of thing category k), k = 0..T-1: uniform, or Zipf-like
    (k + 1 + offset)^-exponent normalised (exponent >= 0, offset >= 0)."""
    if class_freq == "uniform":
        return np.full(num_things, 1.0 / num_things)
    if class_freq != "zipf":
        raise ValueError(f"class_freq must be 'uniform' or 'zipf', got {class_freq!r}")
    if not (zipf_exponent >= 0 and zipf_offset >= 0):
        raise ValueError(f"zipf_exponent and zipf_offset must be >= 0, got {zipf_exponent}, {zipf_offset}")
    w = (np.arange(num_things) + 1.0 + zipf_offset) ** -float(zipf_exponent)
    return w / w.sum()


def categories(num_things: int | None = None, num_stuff: int | None = None) -> List[Dict[str, Any]]:
    """COCO panoptic categories (things first, then stuff) with ``isthing`` and a display colour."""
    rng = np.random.default_rng(1234)
    cats = []
    things = thing_names(num_things)
    for i, name in enumerate(things + _stuff_names(num_stuff)):
        isthing = int(i < len(things))
        cats.append({"id": i + 1, "name": name, "supercategory": "shape" if isthing else "background",
                     "isthing": isthing, "color": [int(c) for c in rng.integers(0, 256, 3)]})
    return cats


# ----------------------------------------------------------------------------------- drawing
def _shape_polygons(cat: str, cx: float, cy: float, s: float, aspect: float, theta: float):
    """List of (polygon, fill) in image coordinates; fill 1 adds, 0 removes (ring hole)."""
    def ring_pts(r, n=40):
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)

    h = s / 2.0
    if cat == "disc":
        polys = [(ring_pts(h), 1)]
    elif cat == "box":
        polys = [(np.array([[-h, -h], [h, -h], [h, h], [-h, h]]), 1)]
    elif cat == "triangle":
        polys = [(np.array([[0, -h], [h, h * 0.8], [-h, h * 0.8]]), 1)]
    elif cat == "star":
        a = np.linspace(0, 2 * np.pi, 10, endpoint=False) - np.pi / 2
        r = np.where(np.arange(10) % 2 == 0, h, h * 0.42)
        polys = [(np.stack([r * np.cos(a), r * np.sin(a)], 1), 1)]
    elif cat == "cross":
        t = h * 0.36
        polys = [(np.array([[-t, -h], [t, -h], [t, -t], [h, -t], [h, t], [t, t], [t, h], [-t, h],
                            [-t, t], [-h, t], [-h, -t], [-t, -t]]), 1)]
    elif cat == "ring":
        polys = [(ring_pts(h), 1), (ring_pts(h * 0.55), 0)]
    else:
        raise ValueError(cat)
    c, sn = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -sn], [sn, c]])
    out = []
    for p, fill in polys:
        p = p * np.array([aspect, 1.0 / aspect])
        p = p @ rot.T + np.array([cx, cy])
        out.append(([tuple(map(float, q)) for q in p], fill))
    return out


def _draw_mask(size: int, polys) -> np.ndarray:
    im = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(im)
    for p, fill in polys:
        d.polygon(p, fill=255 if fill else 0)
    return np.asarray(im) > 0


def _value_noise(rng, size: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: bilinear up-sampling of a random grid."""
    g = rng.random((cells + 1, cells + 1)).astype(np.float32)
    im = Image.fromarray((g * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    return np.asarray(im).astype(np.float32) / 255.0


def _stuff_texture(rng, name: str, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if name == "sky":
        base = np.array([90, 140, 220], np.float32) + rng.normal(0, 20, 3)
        t = (1.0 - 0.5 * yy)[..., None] * base + 40 * _value_noise(rng, size, 3)[..., None]
    elif name == "grass":
        base = np.array([60, 150, 50], np.float32) + rng.normal(0, 20, 3)
        t = base + 70 * (rng.random((size, size, 1)).astype(np.float32) - 0.5) \
            + 40 * _value_noise(rng, size, 12)[..., None]
    elif name == "water":
        base = np.array([40, 110, 150], np.float32) + rng.normal(0, 20, 3)
        f = rng.uniform(12, 30)
        t = base + 35 * np.sin(2 * np.pi * (f * yy + 2 * _value_noise(rng, size, 4)))[..., None]
    elif name == "brick":
        base = np.array([160, 80, 60], np.float32) + rng.normal(0, 20, 3)
        bh = int(rng.integers(6, 12))
        row = (np.arange(size) // bh)
        off = (row % 2) * bh
        mortar_y = (np.arange(size) % bh) == 0
        mortar_x = ((np.arange(size)[None, :] + off[:, None]) % (2 * bh)) == 0
        mortar = mortar_y[:, None] | mortar_x
        t = np.broadcast_to(base, (size, size, 3)).copy()
        t[mortar] = np.array([200, 200, 190], np.float32)
        t += 20 * (rng.random((size, size, 1)).astype(np.float32) - 0.5)
    else:
        raise ValueError(name)
    return t


def _class_colour(k: int) -> np.ndarray:
    """The colour coding colour index k (golden-angle hues, three brightness levels)."""
    import colorsys
    h = (k * 0.618033988749895) % 1.0
    v = (1.0, 0.75, 0.5)[k % 3]
    return np.array(colorsys.hsv_to_rgb(h, 0.85, v), np.float32) * 255.0


def _thing_texture(rng, size: int, colour: np.ndarray | None = None) -> np.ndarray:
    """Random colour with one of: flat + noise, stripes, two-tone smooth blend. With ``colour`` (a
    class cue) the main colour is that colour, jittered."""
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    c2 = rng.integers(0, 256, 3).astype(np.float32)
    if colour is not None:
        c1 = np.clip(colour + rng.normal(0, 12, 3), 0, 255).astype(np.float32)
        c2 = np.clip(0.6 * c1 + 0.4 * c2, 0, 255).astype(np.float32)
    kind = rng.integers(0, 3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == 0:
        t = np.broadcast_to(c1, (size, size, 3)) + 25 * (rng.random((size, size, 1)) - 0.5)
    elif kind == 1:
        th = rng.uniform(0, np.pi)
        per = rng.uniform(3, 10)
        w = (np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / per) > 0)[..., None]
        t = np.where(w, c1, c2)
    else:
        a = _value_noise(rng, size, 4)[..., None]
        t = a * c1 + (1 - a) * c2
    return t.astype(np.float32)


def _sample_area(rng, image_size: int, bucket_probs: Sequence[float]) -> float:
    max_area = 0.3 * image_size ** 2
    # sampled (full-shape) areas; occlusion and clipping shrink the visible area afterwards, so the
    # large range starts above 96^2 to keep the large bucket populated. Small shapes start at 100 px
    # (side ~10): below that a shape is a few pixels of texture (occlusion still makes some smaller).
    ranges = [(100.0, 32.0 ** 2), (32.0 ** 2, 96.0 ** 2), (1.5 * 96.0 ** 2, max(max_area, 1.5 * 96.0 ** 2 + 1))]
    probs = np.array(bucket_probs, dtype=np.float64)
    probs = np.array([p if lo < max_area else 0.0 for p, (lo, hi) in zip(probs, ranges)])
    probs = probs / probs.sum()
    b = rng.choice(3, p=probs)
    lo, hi = ranges[b]
    hi = min(hi, max_area)
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _uncompressed_rle(mask: np.ndarray) -> Dict[str, Any]:
    """COCO uncompressed RLE (column-major run lengths starting with zeros), as used for crowds."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def _mask_bbox(mask: np.ndarray) -> List[int]:
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]


def render_scene(rng: np.random.Generator, image_size: int = 256, min_objects: int = 1,
                 max_objects: int = 10, crowd_prob: float = 0.1,
                 bucket_probs: Sequence[float] = (0.4, 0.25, 0.35), clutter: int = 12,
                 max_occlusion: float = 0.6, num_things: int | None = None, num_stuff: int | None = None,
                 class_probs: Sequence[float] | None = None) -> Dict[str, Any]:
    """One scene: ``image`` (H, W, 3 uint8), ``pan`` (H, W int64 segment ids, 0 void),
    ``segments`` (list of dicts: id, category_id, iscrowd, mask). ``class_probs`` (length T): the
    thing category law (None = uniform, drawn exactly as the original generator did)."""
    S = image_size
    names_t = thing_names(num_things)
    names_s = _stuff_names(num_stuff)
    ncls_t = len(names_t)
    coded = ncls_t > len(THING_CLASSES)      # shape x colour categories: the colour is a class cue
    if class_probs is not None:
        class_probs = np.asarray(class_probs, np.float64)
        if class_probs.shape != (ncls_t,):
            raise ValueError(f"class_probs must have length num_things={ncls_t}, got {class_probs.shape}")

    def draw_cat() -> int:
        if class_probs is None:
            return int(rng.integers(0, ncls_t))
        return int(rng.choice(ncls_t, p=class_probs))

    def texture(cat: int) -> np.ndarray:
        return _thing_texture(rng, S, _class_colour(cat // 6) if coded else None)
    # --- stuff: Voronoi partition into 2-4 regions, each a stuff category
    nreg = int(rng.integers(2, 5))
    seeds = rng.random((nreg, 2)) * S
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    d = np.stack([(xx - sx) ** 2 * rng.uniform(0.3, 3) + (yy - sy) ** 2 for sx, sy in seeds], 0)
    region = d.argmin(0)
    reg_cat = rng.integers(0, len(names_s), nreg)
    img = np.zeros((S, S, 3), np.float32)
    stuff_map = np.zeros((S, S), np.int64)
    for r in range(nreg):
        m = region == r
        name = names_s[reg_cat[r]]
        img[m] = _stuff_texture(rng, name, S)[m]
        stuff_map[m] = ncls_t + 1 + reg_cat[r]
    # --- clutter: unlabelled lines and dots, part of the stuff they lie on
    cl = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    dr = ImageDraw.Draw(cl)
    for _ in range(clutter):
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = rng.random(2) * S
        if rng.random() < 0.5:
            L = rng.uniform(5, 30)
            a = rng.uniform(0, 2 * np.pi)
            dr.line([(x0, y0), (x0 + L * np.cos(a), y0 + L * np.sin(a))], fill=col,
                    width=int(rng.integers(1, 3)))
        else:
            r = rng.uniform(1, 3)
            dr.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=col)
    img = np.asarray(cl).astype(np.float32)

    # --- things: sample areas, draw large first so small ones sit on top (with some shuffling)
    n = int(rng.integers(min_objects, max_objects + 1))
    specs = []
    for _ in range(n):
        cat = draw_cat()
        area = _sample_area(rng, S, bucket_probs)
        specs.append((cat, area))
    specs.sort(key=lambda t: -t[1] * rng.uniform(0.6, 1.6))

    inst_map = np.zeros((S, S), np.int64)       # 0 = stuff, k = k-th instance
    inst_cat: List[int] = []
    inst_crowd: List[int] = []
    full_area: List[int] = []

    def place(mask: np.ndarray, tex: np.ndarray, cat: int, crowd: int) -> bool:
        # reject if it would hide more than max_occlusion of an existing instance
        covered = inst_map[mask]
        if covered.size == 0:
            return False
        if covered.any():
            ids, cnt = np.unique(covered[covered > 0], return_counts=True)
            for k, c in zip(ids, cnt):
                vis = int((inst_map == k).sum())
                if vis - c < max(MIN_VISIBLE_AREA, (1 - max_occlusion) * full_area[k - 1]):
                    return False
        k = len(inst_cat) + 1
        inst_map[mask] = k
        img[mask] = tex[mask]
        inst_cat.append(cat)
        inst_crowd.append(crowd)
        full_area.append(int(mask.sum()))
        return True

    for cat, area in specs:
        name = THING_CLASSES[cat % 6]
        for _try in range(8):
            aspect = float(np.exp(rng.uniform(-0.35, 0.35)))
            s = math.sqrt(area / _FILL[name])
            ext = s * max(aspect, 1 / aspect) / 2
            margin = min(0.8 * ext, S / 2)      # mostly inside the image
            cx = rng.uniform(margin, S - margin)
            cy = rng.uniform(margin, S - margin)
            theta = rng.uniform(0, 2 * np.pi)
            mask = _draw_mask(S, _shape_polygons(name, cx, cy, s, aspect, theta))
            if mask.sum() < MIN_VISIBLE_AREA:
                continue
            if place(mask, texture(cat), cat, 0):
                break

    # --- crowd: a cluster of many tiny shapes of one category, annotated as one iscrowd region
    if rng.random() < crowd_prob:
        cat = draw_cat()
        name = THING_CLASSES[cat % 6]
        w = rng.uniform(0.15, 0.3) * S
        x0, y0 = rng.random(2) * (S - w)
        mask = np.zeros((S, S), bool)
        tex = texture(cat)
        for _ in range(int(rng.integers(8, 16))):
            s = rng.uniform(max(3.0, S / 64), max(5.0, S / 32))
            cx, cy = x0 + rng.random() * w, y0 + rng.random() * w
            mask |= _draw_mask(S, _shape_polygons(name, cx, cy, s, 1.0, rng.uniform(0, 6.3)))
        if mask.sum() >= MIN_VISIBLE_AREA:
            place(mask, tex, cat, 1)

    img = img + rng.normal(0, 6, img.shape)
    image = np.clip(img, 0, 255).astype(np.uint8)

    # --- segments (visible masks); tiny fragments become void
    segments: List[Dict[str, Any]] = []
    pan = np.zeros((S, S), np.int64)
    used_ids = set()

    def new_id(cat_id: int) -> int:
        # spread ids over R, G and B so decoding is exercised (ids are arbitrary in COCO panoptic)
        sid = int(cat_id) * 4099 + len(used_ids) * 263 + 1
        used_ids.add(sid)
        return sid

    for k in range(1, len(inst_cat) + 1):
        m = inst_map == k
        if m.sum() < MIN_VISIBLE_AREA:
            continue            # void
        sid = new_id(inst_cat[k - 1] + 1)
        pan[m] = sid
        segments.append({"id": sid, "category_id": inst_cat[k - 1] + 1, "iscrowd": inst_crowd[k - 1],
                         "mask": m})
    for cid in np.unique(stuff_map):
        m = (stuff_map == cid) & (inst_map == 0)
        if m.sum() == 0:
            continue
        sid = new_id(int(cid))
        pan[m] = sid
        segments.append({"id": sid, "category_id": int(cid), "iscrowd": 0, "mask": m})
    return {"image": image, "pan": pan, "segments": segments}


# ----------------------------------------------------------------------------------- writing
def _write_split(root: Path, split: str, n: int, seed: int, split_code: int, render_kw) -> Dict:
    from pycocotools import mask as mask_utils

    img_dir = root / split
    pan_dir = root / "annotations" / f"panoptic_{split}"
    sem_dir = root / f"semantic_{split}"
    for d in (img_dir, pan_dir, sem_dir):
        d.mkdir(parents=True, exist_ok=True)
    cats = categories(render_kw.get("num_things"), render_kw.get("num_stuff"))
    thing_cats = [c for c in cats if c["isthing"]]
    n_things = len(thing_cats)
    images, anns, pan_anns = [], [], []
    stats = {"images": n, "instances": 0, "crowd": 0, "small": 0, "medium": 0, "large": 0,
             "stuff_segments": 0}
    ann_id = 1
    for i in range(n):
        rng = np.random.default_rng([seed, split_code, i])
        sc = render_scene(rng, **render_kw)
        S = sc["image"].shape[0]
        image_id = i + 1
        fname = f"{image_id:012d}.png"
        Image.fromarray(sc["image"]).save(img_dir / fname)
        Image.fromarray(id2rgb(sc["pan"])).save(pan_dir / fname)
        sem = np.zeros(sc["pan"].shape, np.uint8)
        seg_infos = []
        for seg in sc["segments"]:
            m = seg["mask"]
            sem[m] = seg["category_id"]
            area = int(m.sum())
            bbox = _mask_bbox(m)
            seg_infos.append({"id": seg["id"], "category_id": seg["category_id"],
                              "iscrowd": seg["iscrowd"], "area": area, "bbox": bbox})
            if seg["category_id"] > n_things:
                stats["stuff_segments"] += 1
                continue
            if seg["iscrowd"]:
                segm = _uncompressed_rle(m)
                stats["crowd"] += 1
            else:
                rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                segm = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}
                stats["instances"] += 1
                stats[area_bucket(area)] += 1
            anns.append({"id": ann_id, "image_id": image_id, "category_id": seg["category_id"],
                         "segmentation": segm, "area": float(area), "bbox": [float(b) for b in bbox],
                         "iscrowd": seg["iscrowd"]})
            ann_id += 1
        Image.fromarray(sem).save(sem_dir / fname)
        images.append({"id": image_id, "file_name": fname, "height": S, "width": S})
        pan_anns.append({"image_id": image_id, "file_name": fname, "segments_info": seg_infos})
    info = {"description": "paperlib synthetic scenes", "version": "1.0", "year": 2026,
            "contributor": "paperlib.data.scenes", "date_created": "2026-01-01"}
    lic = [{"id": 1, "name": "CC0", "url": ""}]
    with open(root / "annotations" / f"instances_{split}.json", "w") as f:
        json.dump({"info": info, "licenses": lic, "images": images, "annotations": anns,
                   "categories": [{k: c[k] for k in ("id", "name", "supercategory")} for c in thing_cats]},
                  f)
    with open(root / "annotations" / f"panoptic_{split}.json", "w") as f:
        json.dump({"info": info, "licenses": lic, "images": images, "annotations": pan_anns,
                   "categories": cats}, f)
    return stats


def generate_scenes(root, *, n_train: int = 600, n_val: int = 150, image_size: int = 256,
                    min_objects: int = 1, max_objects: int = 10, crowd_prob: float = 0.1,
                    bucket_probs: Sequence[float] = (0.4, 0.25, 0.35), clutter: int = 12,
                    seed: int = 0, **vocab) -> Path:
    """Write the dataset under ``root`` (no caching; see :func:`synthetic_scenes`). ``vocab``: the
    optional vocabulary parameters (num_things, num_stuff, class_freq, zipf_exponent, zipf_offset)."""
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    vocab = _vocab(**vocab)
    kw = dict(image_size=image_size, min_objects=min_objects, max_objects=max_objects,
              crowd_prob=crowd_prob, bucket_probs=tuple(bucket_probs), clutter=clutter)
    render_kw = dict(kw)
    if vocab:
        T = len(thing_names(vocab.get("num_things")))
        render_kw.update(num_things=vocab.get("num_things"), num_stuff=vocab.get("num_stuff"))
        if vocab.get("class_freq", "uniform") != "uniform":
            render_kw["class_probs"] = class_probabilities(
                T, vocab["class_freq"], vocab.get("zipf_exponent", 1.0), vocab.get("zipf_offset", 0.0))
    stats = {}
    for code, (split, n) in enumerate((("train", n_train), ("val", n_val))):
        if n > 0:
            stats[split] = _write_split(root, split, n, seed, code, render_kw)
    with open(root / "scenes_meta.json", "w") as f:
        json.dump({"params": dict(kw, n_train=n_train, n_val=n_val, seed=seed, **vocab), "stats": stats,
                   "things": list(thing_names(vocab.get("num_things"))),
                   "stuff": list(_stuff_names(vocab.get("num_stuff"))),
                   "semantic_png": "uint8 category id, 0 = void",
                   "panoptic_png": "id = R + 256 G + 256^2 B, 0 = void"}, f, indent=1)
    return root


def synthetic_scenes(*, n_train: int = 600, n_val: int = 150, image_size: int = 256,
                     min_objects: int = 1, max_objects: int = 10, crowd_prob: float = 0.1,
                     bucket_probs: Sequence[float] = (0.4, 0.25, 0.35), clutter: int = 12,
                     seed: int = 0, num_things: int | None = None, num_stuff: int | None = None,
                     class_freq: str = "uniform", zipf_exponent: float = 1.0,
                     zipf_offset: float = 0.0) -> Path:
    """Generate (once, cached under ``data_home()`` with a manifest) and return the dataset root.
    The vocabulary parameters enter the cache key only when they differ from the defaults, so the
    default dataset keeps its key."""
    params = dict(n_train=n_train, n_val=n_val, image_size=image_size, min_objects=min_objects,
                  max_objects=max_objects, crowd_prob=crowd_prob, bucket_probs=list(bucket_probs),
                  clutter=clutter, seed=seed)
    params.update(_vocab(num_things=num_things, num_stuff=num_stuff, class_freq=class_freq,
                         zipf_exponent=zipf_exponent, zipf_offset=zipf_offset))
    from .common import generated_dataset

    def _gen(out_dir):
        generate_scenes(out_dir, **params)

    return Path(generated_dataset("scenes", params, _gen, version=SCENES_VERSION))


_VOCAB_DEFAULTS = dict(num_things=None, num_stuff=None, class_freq="uniform", zipf_exponent=1.0,
                       zipf_offset=0.0)


def _vocab(**kw) -> Dict[str, Any]:
    """The vocabulary parameters that differ from the defaults (validated)."""
    unknown = set(kw) - set(_VOCAB_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown scene parameters: {sorted(unknown)}")
    out = {k: v for k, v in kw.items() if v != _VOCAB_DEFAULTS[k]}
    thing_names(out.get("num_things"))
    _stuff_names(out.get("num_stuff"))
    class_probabilities(len(thing_names(out.get("num_things"))), out.get("class_freq", "uniform"),
                        out.get("zipf_exponent", 1.0), out.get("zipf_offset", 0.0))
    return out


def scenes_stats(root) -> Dict[str, Any]:
    """The per-split statistics recorded by the generator (instances per COCO area bucket, ...)."""
    with open(Path(root) / "scenes_meta.json") as f:
        return json.load(f)["stats"]
