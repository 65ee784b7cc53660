"""Cityscapes (fine annotations) as COCO panoptic + COCO instances, for the Panoptic FPN's Cityscapes recipe.

The user's Cityscapes after cityscapesScripts' ``preparation/createPanopticImgs.py`` (the layout detectron2's
``cityscapes_fine_panoptic_{train,val}`` builtin reads)::

    <data_root>/leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    <data_root>/gtFine/cityscapes_panoptic_{train,val}.json
    <data_root>/gtFine/cityscapes_panoptic_{train,val}/<city>_<seq>_<frame>_gtFine_panoptic.png

The panoptic json is COCO's panoptic format with Cityscapes' conventions: image ids are strings
("<city>_<seq>_<frame>", the prefix of the image's file name), category ids are Cityscapes label ids (7 road ..
33 bicycle; the 19 evaluated classes, ``isthing`` for the 8 with instances), a thing segment's id is
label id x 1000 + k, a stuff segment's (and a crowd "group" region's, ``iscrowd`` 1) the label id. The json's
``images[].file_name`` is not the image's name on disk, so images are found as detectron2 does: by scanning
``leftImg8bit/<split>/<city>/`` for ``<image_id>_leftImg8bit.png``.

:func:`cityscapes_coco_files` converts one split once (cached under the data home, keyed by the panoptic
json's bytes and the image list, like :mod:`paperlib.data.voc`): a COCO panoptic json with integer image ids
(1..n in the json's order; the Cityscapes id kept as ``images[].cityscapes_id``) whose PNGs stay the user's,
and a COCO instances json derived from the panoptic segments -- each thing segment becomes an annotation with
its RLE mask (pycocotools), area and box from the mask, ``iscrowd`` from the segment -- so that the one
detection loader (:class:`paperlib.data.coco.CocoDetection`) and pycocotools' AP serve Cityscapes. That AP is
COCO's (area ranges, 101-point interpolation, IoU 0.5:0.95), not Cityscapes' own instance evaluator (which
scores the 8 thing classes with its own area / distance bins); the two differ. Written here because no
maintained package reads this layout into COCO instances (detectron2 is not a dependency).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

__all__ = ["CITYSCAPES_LAYOUT", "SPLITS", "cityscapes_layout", "cityscapes_images", "cityscapes_to_coco",
           "cityscapes_coco_files"]

SPLITS = ("train", "val")

CITYSCAPES_LAYOUT = """\
  <data_root>/leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  <data_root>/gtFine/cityscapes_panoptic_{train,val}.json
  <data_root>/gtFine/cityscapes_panoptic_{train,val}/<city>_<seq>_<frame>_gtFine_panoptic.png
(cityscapesScripts: python cityscapesscripts/preparation/createPanopticImgs.py --dataset-folder <data_root>/gtFine,
 without --use-train-id: category ids are Cityscapes label ids)"""


def cityscapes_layout(root, split: str) -> Tuple[Path, Path, Path]:
    """(image folder, panoptic json, panoptic PNG folder) of ``split``; raises FileNotFoundError naming the
    missing paths and the expected layout."""
    from .common import require_layout

    if split not in SPLITS:
        raise ValueError(f"Cityscapes split {split!r}: expected one of {SPLITS} (test has no public labels)")
    rel = [f"leftImg8bit/{split}", f"gtFine/cityscapes_panoptic_{split}.json", f"gtFine/cityscapes_panoptic_{split}"]
    root = require_layout(root, rel, f"Cityscapes panoptic ({split})", CITYSCAPES_LAYOUT)
    return root / rel[0], root / rel[1], root / rel[2]


def cityscapes_images(img_dir: Path) -> Dict[str, str]:
    """image id ("<city>_<seq>_<frame>") -> path relative to ``img_dir`` ("<city>/<id>_leftImg8bit.png")."""
    suffix = "_leftImg8bit.png"
    out = {}
    for p in sorted(Path(img_dir).glob(f"*/*{suffix}")):
        out[p.name[: -len(suffix)]] = f"{p.parent.name}/{p.name}"
    return out


def cityscapes_to_coco(root, split: str) -> Tuple[dict, dict]:
    """(panoptic dict with integer image ids, instances dict) of one split (module docstring)."""
    from pycocotools import mask as mask_utils

    from .common import read_json
    from .panoptic import read_panoptic_png

    img_dir, js, png_dir = cityscapes_layout(root, split)
    pan = read_json(js, "Cityscapes panoptic json")
    for k in ("annotations", "categories"):
        if not isinstance(pan.get(k), list):
            raise ValueError(f"Cityscapes panoptic json {js}: no '{k}' list (expected createPanopticImgs' output)")
    files = cityscapes_images(img_dir)
    missing = [a["image_id"] for a in pan["annotations"] if a["image_id"] not in files]
    if missing:
        raise FileNotFoundError(f"Cityscapes {split}: {len(missing)} annotated image(s) of {js} have no "
                                f"{img_dir}/<city>/<image_id>_leftImg8bit.png, e.g. {missing[:3]}; expected "
                                f"layout:\n{CITYSCAPES_LAYOUT}")
    no_png = [a["file_name"] for a in pan["annotations"] if not (png_dir / a["file_name"]).is_file()]
    if no_png:
        raise FileNotFoundError(f"Cityscapes {split}: {len(no_png)} panoptic PNG(s) listed in {js} are missing "
                                f"from {png_dir}, e.g. {no_png[:3]}")
    things = {int(c["id"]) for c in pan["categories"] if c.get("isthing", 0)}
    images, p_anns, i_anns = [], [], []
    for k, a in enumerate(pan["annotations"]):
        ids = read_panoptic_png(png_dir / a["file_name"])
        h, w = ids.shape
        images.append(dict(id=k + 1, file_name=files[a["image_id"]], height=int(h), width=int(w),
                           cityscapes_id=a["image_id"]))
        p_anns.append(dict(image_id=k + 1, file_name=a["file_name"], segments_info=a["segments_info"]))
        for s in a["segments_info"]:
            if int(s["category_id"]) not in things:
                continue
            m = ids == int(s["id"])
            if not m.any():
                continue
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            i_anns.append(dict(id=len(i_anns) + 1, image_id=k + 1, category_id=int(s["category_id"]),
                               segmentation=rle, area=float(mask_utils.area(rle)),
                               bbox=[float(v) for v in mask_utils.toBbox(rle)], iscrowd=int(s.get("iscrowd", 0))))
    cats = [dict(c) for c in pan["categories"]]
    panoptic = dict(images=images, annotations=p_anns, categories=cats)
    instances = dict(images=images, annotations=i_anns,
                     categories=[{k: c[k] for k in ("id", "name", "supercategory") if k in c}
                                 for c in cats if int(c["id"]) in things])
    return panoptic, instances


def cityscapes_coco_files(root, split: str) -> Tuple[Path, Path, Path, Path]:
    """(image folder, instances json, panoptic json, panoptic PNG folder) of ``split``, the two jsons
    converted once and cached under the data home (keyed by the user's panoptic json bytes and image list)."""
    from .common import generated_dataset

    img_dir, js, png_dir = cityscapes_layout(root, split)
    h = hashlib.sha256(Path(js).read_bytes())
    h.update("\n".join(sorted(cityscapes_images(img_dir))).encode())

    def gen(out: Path):
        panoptic, instances = cityscapes_to_coco(root, split)
        (out / "panoptic.json").write_text(json.dumps(panoptic))
        (out / "instances.json").write_text(json.dumps(instances))

    cache = generated_dataset("cityscapes_coco", dict(split=split, annotations=h.hexdigest()), gen, verbose=False)
    return img_dir, cache / "instances.json", cache / "panoptic.json", png_dir
