"""Panoptic training data for a Panoptic FPN: images with their instance targets (a
:class:`paperlib.data.coco.CocoDetection` with masks) and the semantic branch's target derived from the
COCO panoptic PNG + JSON of the same image (``sem_classes="stuff_other"``: thing -> 0, stuff -> 1..S in
category-list order, VOID -> 255, detectron2's ``prepare_panoptic_fpn`` rule; ``"all"``: every category
0..C-1 in category-list order, things included -- Cityscapes' 19 classes -- VOID 255), written here with numpy
only. :func:`stuff_from_target` / ``ds.stuff_map`` map the branch's labels back to stuff category ids (for
the merge). Training on rescaled crops (``scale_range`` / ``crop_size``): :func:`scale_crop`.

    ds = panoptic_fpn_dataset("scenes", root, "train", hflip=True)
    img, t = ds[0]       # t: boxes, labels, masks, ..., "sem_seg" (H, W) long; ds.gt(i) -> (id map, segments)

Layouts (checked before anything loads, naming the missing files):
    scenes: <root>/{train,val}/ images, annotations/instances_{split}.json,
            annotations/panoptic_{split}.json + annotations/panoptic_{split}/*.png
    coco:   <root>/{train,val}2017/ images, annotations/instances_{split}2017.json,
            annotations/panoptic_{split}2017.json + annotations/panoptic_{split}2017/*.png
    cityscapes: cityscapesScripts' panoptic layout (:mod:`paperlib.data.cityscapes`)
Empty images (no things) are kept: they still train the semantic branch (detectron2's
``FILTER_EMPTY_ANNOTATIONS False``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from .coco import CocoDetection, coco_layout
from .panoptic import load_json, read_panoptic_png

__all__ = ["PanopticFPNDataset", "panoptic_fpn_dataset", "panoptic_layout", "label_map", "labels_from_panoptic",
           "stuff_from_target", "scale_crop", "IGNORE", "SEM_CLASSES"]

IGNORE = 255
SEM_CLASSES = ("stuff_other", "all")


def panoptic_layout(kind: str, root, split: str) -> Tuple[Path, Path]:
    """(panoptic json, PNG folder) of ``split``; raises FileNotFoundError naming the expected files."""
    s = split if kind != "coco" or split.endswith("2017") else f"{split}2017"
    js = Path(root) / "annotations" / f"panoptic_{s}.json"
    folder = Path(root) / "annotations" / f"panoptic_{s}"
    missing = [str(p) for p in (js, folder) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{kind} panoptic layout under {root}: missing {missing}. Expected "
                                f"annotations/panoptic_{s}.json and its PNG folder annotations/panoptic_{s}/ "
                                "(COCO panoptic format: PNG id = R + 256 G + 256^2 B)")
    return js, folder


def label_map(id_map: np.ndarray, segments_info: Sequence[dict], stuff_ids: Sequence[int],
              thing_ids: Sequence[int]) -> np.ndarray:
    """Panoptic id map -> the semantic branch's uint8 target: thing 0, stuff k + 1, VOID 255."""
    stuff = {int(c): k + 1 for k, c in enumerate(stuff_ids)}
    if len(stuff) > 254:
        raise ValueError(f"{len(stuff)} stuff categories: the uint8 target holds at most 254 (255 = ignore)")
    return labels_from_panoptic(id_map, segments_info, {**{int(c): 0 for c in thing_ids}, **stuff})


def labels_from_panoptic(id_map: np.ndarray, segments_info: Sequence[dict], label_of: Dict[int, int]) -> np.ndarray:
    """Panoptic id map -> uint8 labels: each segment's pixels get ``label_of[category_id]``; pixels of no
    segment, and segments of a category not in ``label_of``, are VOID (255)."""
    if any(not 0 <= v < IGNORE for v in label_of.values()):
        raise ValueError(f"labels must lie in 0..254 (255 = ignore), got {sorted(set(label_of.values()))[-3:]}")
    ids = np.asarray(id_map)
    out = np.full(ids.shape, IGNORE, dtype=np.uint8)
    for s in segments_info:
        lab = label_of.get(int(s["category_id"]))
        if lab is not None:
            out[ids == int(s["id"])] = lab
    return out


def stuff_from_target(labels: np.ndarray, stuff_category_ids: Sequence[int], other=0) -> np.ndarray:
    """Inverse of :func:`label_map` for stuff: label k + 1 -> ``stuff_category_ids[k]``; label 0
    ("other") -> ``other``; 255 and out-of-range labels -> ``other``."""
    lut = np.full(256, other, dtype=np.int64)
    for k, c in enumerate(stuff_category_ids):
        lut[k + 1] = int(c)
    return lut[np.asarray(labels).astype(np.int64).clip(0, 255)]


def _nearest_rows(n_in: int, n_out: int, start: int, length: int) -> torch.Tensor:
    """Source indices of output pixels ``start .. start + length - 1`` when ``n_in`` pixels are resized to
    ``n_out`` with the pixel-centre nearest rule (PIL's NEAREST, torch's "nearest-exact"):
    floor((i + 0.5) n_in / n_out), clamped to the input."""
    i = torch.arange(start, start + length, dtype=torch.float64)
    return ((i + 0.5) * (n_in / n_out)).floor().long().clamp_(0, n_in - 1)


def _resize_window(img: torch.Tensor, size, window) -> torch.Tensor:
    """The (y0, x0, h, w) window of ``img`` (float (3, H, W) in [0, 1], from 8-bit pixels) resized to ``size``
    (H2, W2), without resizing the rest: PIL's bilinear resize of the matching source box (PIL filters with
    the pixels around the box too, so the window equals the same window of the whole resized image)."""
    from PIL import Image

    H, W = img.shape[-2:]
    (H2, W2), (y0, x0, h, w) = size, window
    sy, sx = H / H2, W / W2
    pil = Image.fromarray(img.mul(255).round().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())
    out = pil.resize((w, h), Image.BILINEAR, box=(x0 * sx, y0 * sy, (x0 + w) * sx, (y0 + h) * sy))
    return torch.from_numpy(np.asarray(out, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)


def scale_crop(img: torch.Tensor, t: Dict, sem: torch.Tensor, *, scale_range=None, crop_size=None):
    """Random rescale by s ~ U(``scale_range``) then a random ``crop_size`` [h, w] window, applied to the
    image (PIL's bilinear, as detectron2 resizes, computed for the crop window only), the instance masks and
    the semantic target alike (nearest with
    the pixel-centre rule of PIL's NEAREST, which detectron2 uses: labels stay labels and stay on the image's
    pixels; gathered for the crop window only, so a 2x rescale of a 1024 x 2048 image never materialises
    its 30 masks at 2048 x 4096). Where the rescaled image is smaller than the crop, the crop is the image's
    size on that side (detectron2's ``RandomCrop`` "absolute": no padding here; the batch is padded later,
    the target with 255). Instances whose mask the crop leaves empty are dropped; boxes are recomputed from
    the cropped masks (detectron2's ``RECOMPUTE_BOXES`` with crops): xyxy with x1 = last column + 1.
    Randomness: torch's global RNG (seeded per loader worker). Returns (img, t, sem)."""
    from torchvision.ops import masks_to_boxes

    H, W = img.shape[-2:]
    H2, W2 = H, W
    if scale_range:
        lo, hi = float(scale_range[0]), float(scale_range[1])
        f = lo + (hi - lo) * float(torch.rand(()))
        H2, W2 = max(1, int(round(H * f))), max(1, int(round(W * f)))
    ch, cw = (min(int(crop_size[0]), H2), min(int(crop_size[1]), W2)) if crop_size else (H2, W2)
    y0 = int(torch.randint(0, H2 - ch + 1, ()))
    x0 = int(torch.randint(0, W2 - cw + 1, ()))
    if (H2, W2) != (H, W):
        img = _resize_window(img, (H2, W2), (y0, x0, ch, cw))
    else:
        img = img[:, y0:y0 + ch, x0:x0 + cw]
    rows, cols = _nearest_rows(H, H2, y0, ch), _nearest_rows(W, W2, x0, cw)
    sem = sem[rows][:, cols]
    masks = t["masks"][:, rows][:, :, cols]
    keep = masks.flatten(1).bool().any(1) if len(masks) else torch.zeros(0, dtype=torch.bool)
    t = dict(t)
    for k in ("labels", "area", "iscrowd"):
        if k in t:
            t[k] = t[k][keep]
    masks = masks[keep].contiguous()
    boxes = masks_to_boxes(masks) if len(masks) else torch.zeros((0, 4))
    t["boxes"] = boxes + torch.tensor([0.0, 0.0, 1.0, 1.0]) if len(masks) else boxes
    t["masks"] = masks
    t["area"] = masks.flatten(1).sum(1).float() if len(masks) else torch.zeros(0)
    return img.contiguous(), t, sem.contiguous()


class PanopticFPNDataset(torch.utils.data.Dataset):
    """Instances (``CocoDetection``, masks on) + semantic target per image; the random rescale + crop
    (:func:`scale_crop`, when ``scale_range`` / ``crop_size`` are given) and then the horizontal flip
    (probability 0.5, torch's RNG) are applied here to image, boxes, masks and target alike.
    ``sem_classes``: the semantic target's classes (module docstring); ``sem_cat_ids[k]`` = the category id
    of label k (None for "other")."""

    def __init__(self, det: CocoDetection, panoptic_json, png_folder, hflip: bool = False,
                 sem_classes: str = "stuff_other", scale_range=None, crop_size=None):
        if sem_classes not in SEM_CLASSES:
            raise ValueError(f"sem_classes = {sem_classes!r}: expected one of {SEM_CLASSES}")
        self.det = det
        self.det.hflip = False
        self.hflip = hflip
        self.sem_classes, self.scale_range, self.crop_size = sem_classes, scale_range, crop_size
        data = load_json(panoptic_json)
        cats = data["categories"]
        self.categories: List[dict] = [dict(c) for c in cats]
        self.thing_ids = [int(c["id"]) for c in cats if c.get("isthing", 0)]
        self.stuff_ids = [int(c["id"]) for c in cats if not c.get("isthing", 0)]
        self.anns: Dict[int, dict] = {int(a["image_id"]): a for a in data["annotations"]}
        self.folder = Path(png_folder)
        self.ids = [i for i in det.ids if i in self.anns]
        if not self.ids:
            raise ValueError(f"{panoptic_json}: no annotation for any image of {det.ann_file}")
        det.ids = self.ids
        missing = [c for c in self.thing_ids if c not in det.cat_id_to_label]
        if missing:
            raise ValueError(f"thing categories {missing[:5]} of {panoptic_json} are not in {det.ann_file}")
        # thing category id -> the detector's contiguous label, and back
        self.label_to_cat_id = det.label_to_cat_id
        self.coco = det.coco
        self.num_things, self.num_stuff = len(self.thing_ids), len(self.stuff_ids)
        self.sem_cat_ids = ([int(c["id"]) for c in cats] if sem_classes == "all" else [None, *self.stuff_ids])
        self.num_sem_classes = len(self.sem_cat_ids)
        if self.num_sem_classes > 255:
            raise ValueError(f"{panoptic_json}: {self.num_sem_classes} semantic classes; the uint8 target holds "
                             "at most 255 (255 = ignore)")
        stuff = set(self.stuff_ids)
        self._stuff_lut = np.zeros(256, dtype=np.int64)          # label -> stuff category id, else 0 (other)
        for k, c in enumerate(self.sem_cat_ids):
            self._stuff_lut[k] = c if c in stuff else 0

    def __len__(self) -> int:
        return len(self.ids)

    def gt(self, idx: int) -> Tuple[np.ndarray, List[dict]]:
        """(id map, segments_info) of the ground-truth panoptic annotation of item ``idx``."""
        ann = self.anns[self.ids[idx]]
        return read_panoptic_png(os.path.join(self.folder, ann["file_name"])), ann["segments_info"]

    def semantic(self, idx: int) -> np.ndarray:
        """The semantic target of item ``idx`` (labels of ``sem_classes``, 255 = VOID)."""
        ids, segs = self.gt(idx)
        if self.sem_classes == "all":
            return labels_from_panoptic(ids, segs, {c: k for k, c in enumerate(self.sem_cat_ids)})
        return label_map(ids, segs, self.stuff_ids, self.thing_ids)

    def stuff_map(self, labels: np.ndarray) -> np.ndarray:
        """The branch's labels -> stuff category ids for the merge (thing classes, "other" and 255 -> 0)."""
        return self._stuff_lut[np.asarray(labels).astype(np.int64).clip(0, 255)]

    def __getitem__(self, idx: int):
        img, t = self.det[idx]
        sem = torch.from_numpy(self.semantic(idx).astype(np.int64))
        if sem.shape != img.shape[-2:]:
            raise ValueError(f"image {self.ids[idx]}: panoptic PNG {tuple(sem.shape)} != image {tuple(img.shape[-2:])}")
        if self.scale_range or self.crop_size:
            img, t, sem = scale_crop(img, t, sem, scale_range=self.scale_range, crop_size=self.crop_size)
        if self.hflip and torch.rand(()) < 0.5:
            W = img.shape[-1]
            img, sem = img.flip(-1), sem.flip(-1)
            b = t["boxes"].clone()
            b[:, 0], b[:, 2] = W - t["boxes"][:, 2], W - t["boxes"][:, 0]
            t["boxes"] = b
            t["masks"] = t["masks"].flip(-1)
        t["sem_seg"] = sem
        return img, t


def panoptic_fpn_dataset(kind: str, root, split: str, hflip: bool = False, **kw) -> PanopticFPNDataset:
    """The dataset of ``split`` for ``kind`` "scenes" (synthetic), "coco" (the user's COCO panoptic) or
    "cityscapes" (the user's Cityscapes, :func:`paperlib.data.cityscapes.cityscapes_coco_files`);
    ``kw``: sem_classes, scale_range, crop_size (:class:`PanopticFPNDataset`)."""
    if kind == "cityscapes":
        from .cityscapes import cityscapes_coco_files

        img_dir, ann, js, folder = cityscapes_coco_files(root, split)
    else:
        img_dir, ann = coco_layout(kind, root, split)
        js, folder = panoptic_layout(kind, root, split)
    return PanopticFPNDataset(CocoDetection(img_dir, ann, masks=True), js, folder, hflip=hflip, **kw)
