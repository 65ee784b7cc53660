"""Long-tailed synthetic scenes in the LVIS json format, LVIS statistics, and an LVIS dataset class.

The generator renders scenes with :mod:`paperlib.data.scenes` (many shape x colour categories under a
Zipf-like law) and writes, next to the images, LVIS annotation files as lvis-api reads them::

    <root>/train/*.png, val/*.png                    images; coco_url ends in "<split>/<file>" as in LVIS v1
    lvis_v1_{split}.json                             the federated (incomplete) labels
    lvis_v1_{split}_full.json                        the hidden complete labels (oracle): every instance,
                                                     the same neg_category_ids, no non-exhaustive list

Per image, every category present is left out of the annotations (status unknown) with probability
``p_unk``; otherwise, with probability ``p_ne``, about half of its instances are dropped and it is
listed in ``not_exhaustive_category_ids``. ``neg_category_ids`` holds up to ``n_neg`` categories
absent from the image (verified negatives). Categories carry ``frequency`` (r / c / f from the number
of *training images* with an annotation: 1-10 / 11-100 / > 100; a category with no training image is
written as "r" with image_count 0), ``image_count`` and ``instance_count``. Segmentations are
polygons (as LVIS writes them), traced from the generator's masks with OpenCV (a dependency of the
``lvis`` package); ``area`` and ``bbox`` are those of the polygon mask. There is no ``iscrowd``; the
generator's crowd regions are not annotated (their category becomes not exhaustive, or unknown).

    from paperlib.data.lvis import synthetic_lvis, lvis_stats
    root = synthetic_lvis(num_categories=200, n_train=2000, n_val=500, image_size=96)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np


__all__ = ["synthetic_lvis", "write_lvis_annotations", "lvis_stats", "LVISDetection", "lvis_json_path",
           "image_path", "frequency_of", "LVIS_VERSION"]


LVIS_VERSION = 1          # bump when the written annotations change


def frequency_of(image_count: int) -> str:
    """The paper's rule on the number of *training images* containing the category: 'r' for 1-10,
    'c' for 11-100, 'f' for > 100 (lvis-api's own Params comment is off by one)."""
    n = int(image_count)
    if n < 1:
        raise ValueError(f"image_count must be >= 1 to have a frequency, got {n}")
    return "r" if n <= 10 else ("c" if n <= 100 else "f")


def _polygons(mask: np.ndarray) -> List[List[float]]:
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = c.reshape(-1, 2).astype(float)
        if len(c) >= 3:
            polys.append([float(v) for xy in c for v in xy])
    return polys


def _lvis_ann(ann: dict, h: int, w: int) -> dict:
    """COCO instance (RLE) -> LVIS instance (polygons, area and bbox of the polygon mask, no iscrowd)."""
    from pycocotools import mask as mu

    rle = dict(ann["segmentation"])
    if isinstance(rle["counts"], str):
        rle["counts"] = rle["counts"].encode("ascii")
    polys = _polygons(mu.decode(rle))
    if not polys:                 # a fragment too thin to trace: its box as the polygon
        x, y, bw, bh = ann["bbox"]
        polys = [[x, y, x, y + bh, x + bw, y + bh, x + bw, y]]
    prle = mu.merge(mu.frPyObjects(polys, h, w))
    return {"id": ann["id"], "image_id": ann["image_id"], "category_id": ann["category_id"],
            "segmentation": polys, "area": float(mu.area(prle)),
            "bbox": [float(v) for v in mu.toBbox(prle)]}


def write_lvis_annotations(root, *, splits: Sequence[str] = ("train", "val"), p_unk: float = 0.2,
                           p_ne: float = 0.1, n_neg: int = 5, seed: int = 0) -> Dict[str, Path]:
    """From the scene generator's COCO instances under ``root``, write lvis_v1_{split}.json (federated)
    and lvis_v1_{split}_full.json (complete). Returns {split: federated path}."""
    for name, v in (("p_unk", p_unk), ("p_ne", p_ne)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {v}")
    if n_neg < 0:
        raise ValueError(f"n_neg must be >= 0, got {n_neg}")
    root = Path(root)
    per_split = {}
    for code, split in enumerate(splits):
        with open(root / "annotations" / f"instances_{split}.json") as f:
            coco = json.load(f)
        rng = np.random.default_rng([seed, 7, code])
        imgs = {im["id"]: im for im in coco["images"]}
        by_img: Dict[int, List[dict]] = {i: [] for i in imgs}
        crowd_cats: Dict[int, set] = {i: set() for i in imgs}
        for a in coco["annotations"]:
            if a.get("iscrowd", 0):
                crowd_cats[a["image_id"]].add(a["category_id"])
            else:
                by_img[a["image_id"]].append(a)
        cat_ids = [c["id"] for c in coco["categories"]]
        images, fed, full = [], [], []
        for img_id in sorted(imgs):
            im = imgs[img_id]
            anns = [_lvis_ann(a, im["height"], im["width"]) for a in by_img[img_id]]
            full += anns
            present = sorted({a["category_id"] for a in anns} | crowd_cats[img_id])
            keep, not_exh = [], set(crowd_cats[img_id])
            for c in sorted({a["category_id"] for a in anns}):
                inst = [a for a in anns if a["category_id"] == c]
                if rng.random() < p_unk:
                    not_exh.discard(c)
                    continue                           # unknown status: no label, no negative
                if rng.random() < p_ne:
                    not_exh.add(c)
                    drop = set(rng.permutation(len(inst))[:len(inst) // 2].tolist())
                    inst = [a for k, a in enumerate(inst) if k not in drop]
                keep += inst
            labelled = {a["category_id"] for a in keep}
            absent = np.array([c for c in cat_ids if c not in present])
            neg = sorted(rng.choice(absent, size=min(n_neg, absent.size), replace=False).tolist()) if absent.size else []
            fed += keep
            fname = im["file_name"]
            images.append({"id": img_id, "height": im["height"], "width": im["width"], "file_name": fname,
                           "coco_url": f"http://synthetic.paperlib/{split}/{fname}", "flickr_url": "",
                           "neg_category_ids": [int(c) for c in neg],
                           "not_exhaustive_category_ids": sorted(int(c) for c in not_exh & labelled),
                           "full_category_ids": [int(c) for c in present]})
        per_split[split] = (coco["categories"], images, fed, full)
    # frequencies from the training split's (federated) annotations
    cats_src = per_split[splits[0]][0]
    train_fed = per_split[splits[0]][2]
    img_count = {c["id"]: len({a["image_id"] for a in train_fed if a["category_id"] == c["id"]}) for c in cats_src}
    inst_count = {c["id"]: sum(a["category_id"] == c["id"] for a in train_fed) for c in cats_src}
    cats = [{"id": c["id"], "name": c["name"], "synonyms": [c["name"]], "synset": f"{c['name']}.n.01",
             "def": f"synthetic category {c['name']}", "image_count": img_count[c["id"]],
             "instance_count": inst_count[c["id"]],
             "frequency": frequency_of(img_count[c["id"]]) if img_count[c["id"]] else "r"} for c in cats_src]
    out = {}
    for split, (_, images, fed, full) in per_split.items():
        info = {"description": "paperlib synthetic LVIS-format scenes", "version": "1.0", "year": 2026}
        fed_imgs = [{k: v for k, v in im.items() if k != "full_category_ids"} for im in images]
        # complete labels on the same evaluation sets: every instance annotated (the unknown-status
        # categories become positives), the same verified negatives, nothing non-exhaustive. Scored
        # with the federated rules this is the oracle of the federated protocol; scored exhaustively
        # (every category on every image) it is the oracle of the naive protocol.
        full_imgs = [dict(fim, not_exhaustive_category_ids=[]) for fim in fed_imgs]
        for name, ims, anns in ((f"lvis_v1_{split}.json", fed_imgs, fed), (f"lvis_v1_{split}_full.json", full_imgs, full)):
            with open(root / name, "w") as f:
                json.dump({"info": info, "licenses": [], "images": ims, "annotations": anns, "categories": cats}, f)
        out[split] = root / f"lvis_v1_{split}.json"
    return out


def synthetic_lvis(*, num_categories: int = 200, n_train: int = 2000, n_val: int = 500, image_size: int = 96,
                   min_objects: int = 1, max_objects: int = 8, zipf_exponent: float = 1.0,
                   zipf_offset: float = 0.0, p_unk: float = 0.2, p_ne: float = 0.1, n_neg: int = 5,
                   seed: int = 0) -> Path:
    """Generate (once, cached under ``data_home()``) long-tailed scenes with LVIS annotations."""
    from .common import generated_dataset
    from .scenes import SCENES_VERSION, generate_scenes

    params = dict(num_categories=num_categories, n_train=n_train, n_val=n_val, image_size=image_size,
                  min_objects=min_objects, max_objects=max_objects, zipf_exponent=zipf_exponent,
                  zipf_offset=zipf_offset, p_unk=p_unk, p_ne=p_ne, n_neg=n_neg, seed=seed,
                  scenes_version=SCENES_VERSION)

    def _gen(out_dir):
        generate_scenes(out_dir, n_train=n_train, n_val=n_val, image_size=image_size, min_objects=min_objects,
                        max_objects=max_objects, crowd_prob=0.0, seed=seed, num_things=num_categories,
                        num_stuff=None, class_freq="zipf", zipf_exponent=zipf_exponent, zipf_offset=zipf_offset)
        write_lvis_annotations(out_dir, p_unk=p_unk, p_ne=p_ne, n_neg=n_neg, seed=seed)

    return Path(generated_dataset("lvis", params, _gen, version=LVIS_VERSION))


def lvis_json_path(root, split: str, full: bool = False) -> Path:
    """lvis_v1_{split}.json (or its v0.5 name) under ``root``, with a clear error when missing."""
    root = Path(root)
    names = [f"lvis_v1_{split}{'_full' if full else ''}.json"] + ([f"lvis_v0.5_{split}.json"] if not full else [])
    for n in names:
        for p in (root / n, root / "annotations" / n):
            if p.exists():
                return p
    raise FileNotFoundError(f"no LVIS annotations for split {split!r} under {root}: expected one of "
                            f"{names} (in the root or root/annotations/), images under <root>/<dir>/<file> "
                            "named by the last two components of each image's coco_url")


def image_path(root, image: dict) -> Path:
    """Where an LVIS image lives: v1 derives it from the last two components of ``coco_url``."""
    if image.get("coco_url"):
        return Path(root).joinpath(*image["coco_url"].split("/")[-2:])
    return Path(root) / image["file_name"]


def lvis_stats(data) -> Dict[str, Any]:
    """Long-tail statistics of an LVIS json (path or dict): per-category instance and image counts
    (as the json's categories state them), the r / c / f split, and the categories sorted by count."""
    if not isinstance(data, dict):
        with open(data) as f:
            data = json.load(f)
    cats = sorted(data["categories"], key=lambda c: -c["instance_count"])
    split = {f: sum(c["frequency"] == f for c in cats) for f in "rcf"}
    return {"num_categories": len(cats), "rcf": split,
            "instance_count": [c["instance_count"] for c in cats],
            "image_count": [c["image_count"] for c in cats],
            "frequency": [c["frequency"] for c in cats],
            "num_images": len(data["images"]), "num_annotations": len(data["annotations"])}


class LVISDetection:
    """Images and their (federated) LVIS labels for training: item = (float image [3, H, W] in [0, 1],
    target {boxes xyxy, labels 1..K contiguous, masks (optional), image_id}). ``cat_ids`` maps the
    LVIS ids to contiguous labels (label = index + 1, 0 = background)."""

    def __init__(self, root, split: str = "train", *, masks: bool = False, json_path=None):
        path = Path(json_path) if json_path else lvis_json_path(root, split)
        with open(path) as f:
            self.data = json.load(f)
        self.root = Path(root)
        self.masks = masks
        self.images = sorted(self.data["images"], key=lambda im: im["id"])
        self.cat_ids = sorted(c["id"] for c in self.data["categories"])
        self.label_of = {c: k + 1 for k, c in enumerate(self.cat_ids)}
        self.anns: Dict[int, List[dict]] = {im["id"]: [] for im in self.images}
        for a in self.data["annotations"]:
            self.anns[a["image_id"]].append(a)

    def __len__(self) -> int:
        return len(self.images)

    def image_categories(self) -> List[List[int]]:
        """Per image, the annotated categories (for repeat-factor sampling)."""
        return [sorted({a["category_id"] for a in self.anns[im["id"]]}) for im in self.images]

    def __getitem__(self, i: int):
        import torch
        from PIL import Image

        im = self.images[i]
        p = image_path(self.root, im)
        if not p.exists():
            raise FileNotFoundError(f"LVIS image {p} (image id {im['id']}) not found")
        img = torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1).float() / 255
        anns = [a for a in self.anns[im["id"]] if a["bbox"][2] >= 1 and a["bbox"][3] >= 1]
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns], dtype=torch.float32).reshape(-1, 4)
        target = {"boxes": boxes, "labels": torch.tensor([self.label_of[a["category_id"]] for a in anns],
                                                         dtype=torch.int64), "image_id": im["id"]}
        if self.masks:
            from pycocotools import mask as mu
            h, w = im["height"], im["width"]
            ms = [mu.decode(mu.merge(mu.frPyObjects(a["segmentation"], h, w))) for a in anns]
            target["masks"] = torch.from_numpy(np.stack(ms)) if ms else torch.zeros((0, h, w), dtype=torch.uint8)
        return img, target
