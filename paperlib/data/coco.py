"""COCO-format detection / instance-segmentation datasets for torchvision's detection models.

One loader for the synthetic scenes (:mod:`paperlib.data.scenes`) and for real COCO::

    from paperlib.data.coco import coco_detection_dataset, detection_collate
    train = coco_detection_dataset("scenes", root, "train", masks=True, hflip=True)
    val = coco_detection_dataset("coco", data_root, "val")        # real COCO 2017
    img, target = train[0]     # img: float (3, H, W) in [0, 1]
                               # target: boxes (N, 4) xyxy float, labels (N,) int64 in 1..K,
                               #         masks (N, H, W) uint8 (masks=True), image_id, area, iscrowd

Labels are contiguous 1..K (0 is torchvision's background); ``ds.label_to_cat_id`` maps back to
COCO category ids for evaluation. Crowd annotations (``iscrowd=1``) are dropped from the training
target by default (they are ignored regions in COCO evaluation, which reads them from the json).
"""
from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

__all__ = ["CocoDetection", "coco_detection_dataset", "coco_layout", "detection_collate",
           "load_coco", "validate_instances", "COCO_LAYOUT"]

COCO_LAYOUT = """\
  <data_root>/annotations/instances_train2017.json
  <data_root>/annotations/instances_val2017.json
  <data_root>/train2017/*.jpg
  <data_root>/val2017/*.jpg
(panoptic, when used: <data_root>/annotations/panoptic_{train,val}2017.json and
 <data_root>/annotations/panoptic_{train,val}2017/*.png)"""

SCENES_LAYOUT = """\
  <root>/annotations/instances_{train,val}.json
  <root>/{train,val}/*.png"""


INSTANCES_KEYS = ("images", "annotations", "categories")


def load_coco(ann_file_or_dict):
    """pycocotools ``COCO`` from a json path or an in-memory dict, without its prints.

    A path is parsed and checked up front (:func:`validate_instances`): a truncated file, a missing
    required key or a malformed annotation raises ValueError naming the file, not a bare
    JSONDecodeError / KeyError later in training. An in-memory dict is taken as is."""
    from pycocotools.coco import COCO

    if isinstance(ann_file_or_dict, dict):
        data = ann_file_or_dict
    else:
        from .common import read_json

        data = read_json(ann_file_or_dict, "COCO instances json")
        validate_instances(data, ann_file_or_dict)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
    return coco


def _member(v, ids: set) -> bool:
    try:
        return v in ids
    except TypeError:          # an unhashable id (a list, a dict) is in no set of ids
        return False


def validate_instances(data, path="<in memory>", max_listed: int = 5,
                       image_keys=("id", "height", "width")) -> None:
    """Check a parsed COCO instances json before any training: the required keys (images, annotations,
    categories, each a list), image records (`image_keys`; unique ids), category
    records (id, name), and every annotation: image_id and category_id that exist, and a bbox of 4
    finite numbers [x, y, w, h] with w, h >= 0. Raises ValueError naming `path`, the first few bad
    records (by index and id) and what is expected."""
    from .common import require_keys

    what = "COCO instances json"
    require_keys(data, INSTANCES_KEYS, path, what)
    for k in INSTANCES_KEYS:
        if not isinstance(data[k], list):
            raise ValueError(f"{what} {path}: '{k}' must be a list, got {type(data[k]).__name__}")
    problems: List[str] = []

    def bad(msg):
        problems.append(msg)

    img_ids = set()
    for i, im in enumerate(data["images"]):
        miss = [k for k in image_keys if not isinstance(im, dict) or k not in im]
        if miss:
            bad(f"images[{i}] lacks {miss}")
        elif not isinstance(im["id"], (int, str)) or isinstance(im["id"], bool):
            bad(f"images[{i}] has id {im['id']!r}; expected an integer (or a string)")
        elif im["id"] in img_ids:
            bad(f"images[{i}] repeats image id {im['id']!r}")
        else:
            img_ids.add(im["id"])
    cat_ids = set()
    for i, c in enumerate(data["categories"]):
        miss = [k for k in ("id", "name") if not isinstance(c, dict) or k not in c]
        if miss:
            bad(f"categories[{i}] lacks {miss}")
        elif not isinstance(c["id"], (int, str)) or isinstance(c["id"], bool):
            bad(f"categories[{i}] has id {c['id']!r}; expected an integer (or a string)")
        else:
            cat_ids.add(c["id"])
    for i, a in enumerate(data["annotations"]):
        try:            # fast path (COCO train: ~860k annotations): a valid record passes in a few operations
            _, _, w, h = b = a["bbox"]
            if a["image_id"] in img_ids and a["category_id"] in cat_ids and w >= 0 and h >= 0 \
                    and math.isfinite(sum(b)) and not any(isinstance(v, bool) for v in b):
                continue
        except (TypeError, ValueError, KeyError):
            pass
        if not isinstance(a, dict):
            bad(f"annotations[{i}] is a {type(a).__name__}, not an object")
            continue
        tag = f"annotations[{i}] (id {a.get('id')!r})"
        if not _member(a.get("image_id"), img_ids):
            bad(f"{tag}: image_id {a.get('image_id')!r} is not in 'images'")
        if not _member(a.get("category_id"), cat_ids):
            bad(f"{tag}: category_id {a.get('category_id')!r} is not in 'categories'")
        b = a.get("bbox")
        if b is None:
            bad(f"{tag}: no 'bbox'")
        elif not (isinstance(b, (list, tuple)) and len(b) == 4
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in b)):
            bad(f"{tag}: bbox {b!r} is not 4 finite numbers [x, y, w, h]")
        elif b[2] < 0 or b[3] < 0:
            bad(f"{tag}: bbox {b!r} has a negative width or height")
        if len(problems) > max_listed:
            break
    if problems:
        more = " (and possibly more)" if len(problems) > max_listed else ""
        raise ValueError(f"{what} {path} is malformed: " + "; ".join(problems[:max_listed]) + more
                         + ". Expected COCO's format: images [{id, file_name, height, width}], categories "
                           "[{id, name}], annotations [{id, image_id, category_id, bbox [x, y, w, h]}]")


def coco_layout(kind: str, root, split: str) -> Tuple[Path, Path]:
    """(image folder, instances json) for ``kind`` "scenes" (split train/val) or "coco"
    (split train/val or train2017/val2017); raises a clear error naming the expected layout."""
    from .common import require_layout

    if kind == "coco":
        s = split if split.endswith("2017") else f"{split}2017"
        rel = [f"annotations/instances_{s}.json", s]
        root = require_layout(root, rel, "COCO 2017", COCO_LAYOUT)
    elif kind == "scenes":
        s = split
        rel = [f"annotations/instances_{s}.json", s]
        root = require_layout(root, rel, "synthetic scenes", SCENES_LAYOUT)
    else:
        raise ValueError(f"unknown COCO-format dataset kind {kind!r}; use 'scenes' or 'coco'")
    return root / rel[1], root / rel[0]


class CocoDetection(Dataset):
    """(image, target) pairs from a COCO instances json and its image folder.

    masks: also return instance masks (N, H, W) uint8 (decoded from RLE or polygons).
    keep_crowd: keep iscrowd=1 annotations in the target (default False: dropped).
    hflip: random horizontal flip with probability 0.5 (seeded per call by torch's RNG).
    min_box_size: drop boxes with a side below this (pixels).
    """

    def __init__(self, img_dir, ann_file, *, masks: bool = False, keep_crowd: bool = False,
                 hflip: bool = False, min_box_size: float = 1.0, image_ids: Optional[List[int]] = None):
        self.img_dir = Path(img_dir)
        self.ann_file = Path(ann_file)
        self.coco = load_coco(self.ann_file)
        no_file = [i for i, im in self.coco.imgs.items() if "file_name" not in im]
        if no_file:
            raise ValueError(f"COCO instances json {self.ann_file}: image(s) {no_file[:5]} lack 'file_name' "
                             f"(the image's name under {self.img_dir})")
        self.masks = masks
        self.keep_crowd = keep_crowd
        self.hflip = hflip
        self.min_box_size = min_box_size
        self.ids = sorted(self.coco.getImgIds()) if image_ids is None else list(image_ids)
        self.cat_ids = sorted(self.coco.getCatIds())
        self.cat_id_to_label = {c: i + 1 for i, c in enumerate(self.cat_ids)}
        self.label_to_cat_id = {v: k for k, v in self.cat_id_to_label.items()}
        self.class_names = [self.coco.cats[c]["name"] for c in self.cat_ids]
        self.num_classes = len(self.cat_ids) + 1        # with background, torchvision's convention

    def __len__(self) -> int:
        return len(self.ids)

    def load_image(self, image_id: int) -> Image.Image:
        info = self.coco.imgs[image_id]
        return Image.open(self.img_dir / info["file_name"]).convert("RGB")

    def target(self, image_id: int) -> Dict[str, Any]:
        info = self.coco.imgs[image_id]
        h, w = int(info["height"]), int(info["width"])
        anns = self.coco.imgToAnns.get(image_id, [])
        boxes, labels, areas, crowd, masks = [], [], [], [], []
        for a in anns:
            if a.get("iscrowd", 0) and not self.keep_crowd:
                continue
            x, y, bw, bh = a["bbox"]
            if bw < self.min_box_size or bh < self.min_box_size:
                continue
            boxes.append([x, y, x + bw, y + bh])
            labels.append(self.cat_id_to_label[a["category_id"]])
            areas.append(a.get("area", bw * bh))
            crowd.append(a.get("iscrowd", 0))
            if self.masks:
                masks.append(self.coco.annToMask(a))
        t = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
             "labels": torch.tensor(labels, dtype=torch.int64),
             "image_id": int(image_id),
             "area": torch.tensor(areas, dtype=torch.float32),
             "iscrowd": torch.tensor(crowd, dtype=torch.int64)}
        if self.masks:
            t["masks"] = (torch.from_numpy(np.stack(masks)) if masks
                          else torch.zeros((0, h, w), dtype=torch.uint8))
        return t

    def __getitem__(self, idx: int):
        image_id = self.ids[idx]
        img = torch.from_numpy(np.asarray(self.load_image(image_id), dtype=np.uint8).copy())
        img = img.permute(2, 0, 1).float().div_(255.0)
        t = self.target(image_id)
        if self.hflip and torch.rand(()) < 0.5:
            img = img.flip(-1)
            W = img.shape[-1]
            b = t["boxes"].clone()
            b[:, 0], b[:, 2] = W - t["boxes"][:, 2], W - t["boxes"][:, 0]
            t["boxes"] = b
            if "masks" in t:
                t["masks"] = t["masks"].flip(-1)
        return img, t


def coco_detection_dataset(kind: str, root, split: str, **kw) -> CocoDetection:
    """A :class:`CocoDetection` for ``kind`` "scenes" (synthetic) or "coco" (real COCO 2017)."""
    img_dir, ann = coco_layout(kind, root, split)
    return CocoDetection(img_dir, ann, **kw)


def detection_collate(batch):
    """torchvision detection models take lists of images and of targets."""
    imgs, targets = zip(*batch)
    return list(imgs), list(targets)
