"""PASCAL VOC detection in torchvision's ``VOCDetection`` layout, served as COCO-format datasets.

    from paperlib.data.voc import voc_detection_dataset
    train = voc_detection_dataset(data_root, "2007", "trainval", hflip=True)   # a CocoDetection
    test = voc_detection_dataset(data_root, "2007", "test")                    # test.coco: pycocotools ground truth

torchvision reads the layout and the XML (``torchvision.datasets.VOCDetection``, ``download=False``); this
module only converts its annotations to COCO's format (written once per annotation content under the data
home) so that the project's one detection loader (:class:`paperlib.data.coco.CocoDetection`) and the COCO
evaluation (pycocotools) serve VOC too. Conversion: VOC's 1-based inclusive pixel boxes
(xmin, ymin, xmax, ymax) -> COCO [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]; the 20 classes in
VOC's usual order get category ids 1..20; objects marked ``difficult`` become ``iscrowd=1`` (dropped from
training targets, ignored regions in evaluation -- close to, not identical with, the VOC devkit's rule).
AP at IoU 0.5 from pycocotools is the 101-point COCO interpolation, not VOC07's 11-point AP.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["VOC_CLASSES", "VOC_LAYOUT", "voc_to_coco", "voc_detection_dataset"]

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")

VOC_LAYOUT = """\
  <data_root>/VOCdevkit/VOC<year>/JPEGImages/<id>.jpg
  <data_root>/VOCdevkit/VOC<year>/Annotations/<id>.xml
  <data_root>/VOCdevkit/VOC<year>/ImageSets/Main/<image_set>.txt   (trainval, test, ...)
(torchvision.datasets.VOCDetection's layout; nothing is downloaded)"""


def _torchvision_voc(root, year: str, image_set: str):
    from torchvision.datasets import VOCDetection

    from .common import require_layout

    base = f"VOCdevkit/VOC{year}"
    require_layout(root, [f"{base}/JPEGImages", f"{base}/Annotations", f"{base}/ImageSets/Main/{image_set}.txt"],
                   f"PASCAL VOC {year} {image_set}", VOC_LAYOUT)
    return VOCDetection(str(Path(root).expanduser()), year=year, image_set=image_set, download=False)


def voc_to_coco(root, year: str = "2007", image_set: str = "trainval") -> dict:
    """COCO instances dict (images, annotations, categories) of one VOC image set."""
    import xml.etree.ElementTree as ET

    ds = _torchvision_voc(root, year, image_set)
    cat = {n: i + 1 for i, n in enumerate(VOC_CLASSES)}
    images, anns = [], []
    for k, (img_path, xml_path) in enumerate(zip(ds.images, ds.annotations)):
        a = ds.parse_voc_xml(ET.parse(xml_path).getroot())["annotation"]
        objs = a.get("object", [])
        objs = objs if isinstance(objs, list) else [objs]
        images.append(dict(id=k + 1, file_name=Path(img_path).name, height=int(a["size"]["height"]),
                           width=int(a["size"]["width"])))
        for o in objs:
            if o["name"] not in cat:
                raise ValueError(f"{xml_path}: unknown VOC class {o['name']!r}; expected one of {VOC_CLASSES}")
            b = {q: float(o["bndbox"][q]) for q in ("xmin", "ymin", "xmax", "ymax")}
            w, h = b["xmax"] - b["xmin"] + 1, b["ymax"] - b["ymin"] + 1
            anns.append(dict(id=len(anns) + 1, image_id=k + 1, category_id=cat[o["name"]],
                             bbox=[b["xmin"] - 1, b["ymin"] - 1, w, h], area=w * h,
                             iscrowd=int(o.get("difficult", "0") in ("1", 1))))
    return dict(images=images, annotations=anns, categories=[dict(id=i, name=n) for n, i in cat.items()])


def voc_detection_dataset(root, year: str = "2007", image_set: str = "trainval", **kw):
    """A :class:`paperlib.data.coco.CocoDetection` over one VOC image set (``kw``: hflip, min_box_size, ...);
    the converted json is cached under the data home, keyed by the image set's annotation bytes."""
    from .coco import CocoDetection
    from .common import generated_dataset

    ds = _torchvision_voc(root, year, image_set)
    h = hashlib.sha256()
    for p in ds.annotations:
        h.update(Path(p).name.encode() + b"\0" + Path(p).read_bytes())

    def gen(out: Path):
        (out / "instances.json").write_text(json.dumps(voc_to_coco(root, year, image_set)))

    cache = generated_dataset("voc_coco", dict(year=year, image_set=image_set, annotations=h.hexdigest()), gen,
                              verbose=False)
    return CocoDetection(Path(ds.images[0]).parent if ds.images else Path(root), cache / "instances.json", **kw)
