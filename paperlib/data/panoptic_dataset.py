"""Panoptic training data for a Panoptic FPN: images with their instance targets (a
:class:`paperlib.data.coco.CocoDetection` with masks) and the semantic branch's target derived from the
COCO panoptic PNG + JSON of the same image (thing -> 0, stuff -> 1..S in category-list order, VOID ->
255; :func:`paperlib.models.panoptic_fpn.semantic_target`'s rule, written here with numpy only).
:func:`stuff_from_target` maps the branch's labels back to stuff category ids (for the merge).

    ds = panoptic_fpn_dataset("scenes", root, "train", hflip=True)
    img, t = ds[0]       # t: boxes, labels, masks, ..., "sem_seg" (H, W) long; ds.gt(i) -> (id map, segments)

Layouts (checked before anything loads, naming the missing files):
    scenes: <root>/{train,val}/ images, annotations/instances_{split}.json,
            annotations/panoptic_{split}.json + annotations/panoptic_{split}/*.png
    coco:   <root>/{train,val}2017/ images, annotations/instances_{split}2017.json,
            annotations/panoptic_{split}2017.json + annotations/panoptic_{split}2017/*.png
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

__all__ = ["PanopticFPNDataset", "panoptic_fpn_dataset", "panoptic_layout", "label_map", "stuff_from_target", "IGNORE"]

IGNORE = 255


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
    things = {int(c) for c in thing_ids}
    ids = np.asarray(id_map)
    out = np.full(ids.shape, IGNORE, dtype=np.uint8)
    for s in segments_info:
        c = int(s["category_id"])
        lab = 0 if c in things else stuff.get(c)
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



class PanopticFPNDataset(torch.utils.data.Dataset):
    """Instances (``CocoDetection``, masks on) + semantic target per image; the horizontal flip
    (probability 0.5, torch's RNG) is applied here to image, boxes, masks and target alike."""

    def __init__(self, det: CocoDetection, panoptic_json, png_folder, hflip: bool = False):
        self.det = det
        self.det.hflip = False
        self.hflip = hflip
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

    def __len__(self) -> int:
        return len(self.ids)

    def gt(self, idx: int) -> Tuple[np.ndarray, List[dict]]:
        """(id map, segments_info) of the ground-truth panoptic annotation of item ``idx``."""
        ann = self.anns[self.ids[idx]]
        return read_panoptic_png(os.path.join(self.folder, ann["file_name"])), ann["segments_info"]

    def semantic(self, idx: int) -> np.ndarray:
        ids, segs = self.gt(idx)
        return label_map(ids, segs, self.stuff_ids, self.thing_ids)

    def __getitem__(self, idx: int):
        img, t = self.det[idx]
        sem = torch.from_numpy(self.semantic(idx).astype(np.int64))
        if sem.shape != img.shape[-2:]:
            raise ValueError(f"image {self.ids[idx]}: panoptic PNG {tuple(sem.shape)} != image {tuple(img.shape[-2:])}")
        if self.hflip and torch.rand(()) < 0.5:
            W = img.shape[-1]
            img, sem = img.flip(-1), sem.flip(-1)
            b = t["boxes"].clone()
            b[:, 0], b[:, 2] = W - t["boxes"][:, 2], W - t["boxes"][:, 0]
            t["boxes"] = b
            t["masks"] = t["masks"].flip(-1)
        t["sem_seg"] = sem
        return img, t


def panoptic_fpn_dataset(kind: str, root, split: str, hflip: bool = False) -> PanopticFPNDataset:
    """The dataset of ``split`` for ``kind`` "scenes" (synthetic) or "coco" (the user's COCO panoptic)."""
    img_dir, ann = coco_layout(kind, root, split)
    js, folder = panoptic_layout(kind, root, split)
    return PanopticFPNDataset(CocoDetection(img_dir, ann, masks=True), js, folder, hflip=hflip)
