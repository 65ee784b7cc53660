"""Small fake datasets in the real layouts, and a notebook executed in-process, for the tests that run the
gpu / paper code paths at toy scale on CPU (tests/test_profiles_*.py).

The writers produce what the loaders of paperlib.data read from a user's data_root: ImageFolder
(train/<class>/, val/<class>/), CIFAR-10 / -100 python pickles, tiny-imagenet-200 as distributed, and COCO
2017 instances (train2017/, val2017/, annotations/instances_*2017.json) from the generated scenes.

:func:`run_notebook_cells` executes a notebook's code cells in this process, with the parameters injected
after the ``parameters`` cell as papermill injects them: the notebook's own code runs (every cell, in order,
the profile's branches included) without the seconds of a kernel start per test."""
from __future__ import annotations

import json
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from paperlib import REPO_ROOT


def _png(path: Path, rng, size=(40, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)


def write_imagefolder(root: Path, classes=("n01", "n02"), n: int = 2, size=(40, 48), seed: int = 0) -> Path:
    """ImageNet-style ImageFolder: root/{train,val}/<class>/<i>.png (``n`` images per class and split)."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for c in classes:
            for i in range(n):
                _png(root / split / c / f"{i}.png", rng, size)
    return root


def write_cifar(root: Path, name: str = "cifar10", n: int = 8, seed: int = 0) -> Path:
    """The python versions as distributed: root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}
    or root/cifar-100-python/{train,test,meta}; ``n`` 32x32 images per file, labels cycling over the
    classes. torchvision checks the files' md5 sums: tests patch that check (:func:`skip_cifar_md5`)."""
    rng = np.random.default_rng(seed)
    k = 10 if name == "cifar10" else 100
    key = "labels" if name == "cifar10" else "fine_labels"

    def blob(i):
        return {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), key: [(i * n + j) % k for j in range(n)]}

    if name == "cifar10":
        d = root / "cifar-10-batches-py"
        files = {f"data_batch_{i}": blob(i) for i in range(1, 6)}
        files.update(test_batch=blob(0), **{"batches.meta": {"label_names": [f"c{i}" for i in range(k)]}})
    else:
        d = root / "cifar-100-python"
        files = {"train": blob(1), "test": blob(0), "meta": {"fine_label_names": [f"c{i}" for i in range(k)]}}
    d.mkdir(parents=True, exist_ok=True)
    for fname, obj in files.items():
        (d / fname).write_bytes(pickle.dumps(obj))
    return root


def skip_cifar_md5(monkeypatch) -> None:
    """torchvision refuses CIFAR files whose md5 differs from the release's: accept the fakes."""
    import torchvision

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)


_SITECUSTOMIZE = """# written by tests/fakes.py: accept fake CIFAR files in subprocesses (sweep workers, submitit jobs)
import torchvision.datasets.cifar as _c
_c.CIFAR10._check_integrity = lambda self: True
_c.check_integrity = lambda *a, **k: True
"""


def skip_cifar_md5_everywhere(monkeypatch, tmp_path: Path) -> None:
    """:func:`skip_cifar_md5` here and in every Python subprocess started from now on (spawned sweep
    workers, submitit jobs): a ``sitecustomize`` on PYTHONPATH applies the same patch at their start."""
    import os

    skip_cifar_md5(monkeypatch)
    site = tmp_path / "_sitecustomize"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def write_tiny_imagenet(root: Path, wnids=("n01443537", "n01629819"), n: int = 2, seed: int = 0) -> Path:
    """tiny-imagenet-200 as distributed: wnids.txt, train/<wnid>/images/<wnid>_<i>.JPEG, val/images/*.JPEG
    and val/val_annotations.txt (file, wnid, box); 64x64 JPEGs."""
    rng = np.random.default_rng(seed)
    (root / "val" / "images").mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("".join(w + "\n" for w in wnids))
    lines = []
    for w in wnids:
        for i in range(n):
            p = root / "train" / w / "images" / f"{w}_{i}.JPEG"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(p, format="JPEG")
            name = f"val_{len(lines)}.JPEG"
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / "val" / "images" / name,
                                                                                      format="JPEG")
            lines.append(f"{name}\t{w}\t0\t0\t63\t63\n")
    (root / "val" / "val_annotations.txt").write_text("".join(lines))
    return root


def write_coco_from_scenes(root: Path, scenes_root: Path) -> Path:
    """COCO 2017 instances layout (train2017/, val2017/, annotations/instances_{train,val}2017.json) made from
    generated scenes (paperlib.data.scenes: <root>/{train,val}/ + annotations/instances_{train,val}.json)."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for s in ("train", "val"):
        shutil.copytree(scenes_root / s, root / f"{s}2017")
        shutil.copy(scenes_root / "annotations" / f"instances_{s}.json",
                    root / "annotations" / f"instances_{s}2017.json")
    return root


def write_coco_panoptic(root: Path, n: int = 3, size: int = 64, seed: int = 0) -> Path:
    """COCO panoptic val layout from generated scenes: root/annotations/panoptic_val2017.json and
    panoptic_val2017/*.png (GT), and a user's predictions: preds.json + preds/*.png (a copy of the GT),
    semantic/<stem>.png label maps (pixel = category id) and instances.json (COCO detection results with
    RLE masks and scores: the GT things at 0.9) for the merge study."""
    from types import SimpleNamespace

    from pycocotools import mask as mask_util

    from paperlib.data import panoptic as pan
    from paperlib.experiments import panoptic_segmentation as ps

    scenes = ps.make_scenes(n, SimpleNamespace(image_size=size, min_objects=2, max_objects=4, crowd_prob=0.0,
                                               void_rim=True), seed=seed)
    cats = ps.categories()
    things = {c["id"] for c in cats if c["isthing"] == 1}
    images = [{"id": i + 1, "file_name": f"{i + 1:012d}.png", "height": size, "width": size} for i in range(n)]
    maps, segs = [s["ids"] for s in scenes], [s["segments"] for s in scenes]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    pan.write_panoptic_dataset(root / "annotations" / "panoptic_val2017.json", images, maps, segs, cats)
    pan.write_panoptic_dataset(root / "preds.json", images, maps, segs, cats)
    (root / "semantic").mkdir(exist_ok=True)
    inst = []
    for im, s in zip(images, scenes):
        Image.fromarray(s["semantic"].astype(np.uint8), mode="L").save(root / "semantic" / im["file_name"])
        for seg in s["segments"]:
            if seg["category_id"] in things and not seg.get("iscrowd"):
                rle = mask_util.encode(np.asfortranarray((s["ids"] == seg["id"]).astype(np.uint8)))
                inst.append({"image_id": im["id"], "category_id": seg["category_id"], "score": 0.9,
                             "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    (root / "instances.json").write_text(json.dumps(inst))
    return root


def _code_cells(slug: str) -> tuple[list[str], int]:
    nb = json.loads((REPO_ROOT / "notebooks" / f"{slug}.ipynb").read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    srcs = ["".join(c["source"]) for c in cells]
    idx = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    return srcs, idx


def run_notebook_cells(slug: str, profile: str, out_dir, *, overrides=None, data_root=None, seed: int = 0,
                       device: str = "cpu") -> dict:
    """Execute notebook ``slug``'s code cells here, parameters injected after its ``parameters`` cell (as
    papermill does); returns the notebook's namespace and leaves results.json under ``out_dir/<slug>``.
    Matplotlib figures are closed after each cell."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    srcs, idx = _code_cells(slug)
    params = dict(profile=profile, seed=seed, device=device, data_root=None if data_root is None else str(data_root),
                  overrides=dict(overrides or {}), out_dir=str(out_dir))
    injected = "".join(f"{k} = {v!r}\n" for k, v in params.items())
    ns: dict = {"__name__": f"notebook_{slug}", "display": lambda *a, **k: None}   # IPython's, in a kernel
    seconds = []
    for i, src in enumerate(srcs[: idx + 1] + [injected] + srcs[idx + 1:]):
        t0 = time.perf_counter()
        try:
            exec(compile(src, f"<{slug} cell {i}>", "exec"), ns)
        finally:
            plt.close("all")
            seconds.append(round(time.perf_counter() - t0, 2))
    print(f"[fakes] {slug} {profile}: seconds per code cell {seconds}")
    ns["_cell_seconds"] = seconds
    return ns


def results(out_dir, slug: str) -> dict:
    return json.loads((Path(out_dir) / slug / "results.json").read_text())


#: the fake Cityscapes' categories: a subset of Cityscapes' label ids, as createPanopticImgs writes them
CITYSCAPES_FAKE_CATEGORIES = [
    {"id": 7, "name": "road", "supercategory": "flat", "isthing": 0, "color": [128, 64, 128]},
    {"id": 23, "name": "sky", "supercategory": "sky", "isthing": 0, "color": [70, 130, 180]},
    {"id": 24, "name": "person", "supercategory": "human", "isthing": 1, "color": [220, 20, 60]},
    {"id": 26, "name": "car", "supercategory": "vehicle", "isthing": 1, "color": [0, 0, 142]},
]


def write_cityscapes(root: Path, n_train: int = 3, n_val: int = 2, size=(64, 128), seed: int = 0) -> Path:
    """Cityscapes after cityscapesScripts' createPanopticImgs, at toy size: leftImg8bit/{train,val}/<city>/
    <city>_000000_0000NN_leftImg8bit.png, gtFine/cityscapes_panoptic_{split}.json (string image ids, label ids
    as category ids, the tool's own images[].file_name) + gtFine/cityscapes_panoptic_{split}/*_gtFine_panoptic.png.
    Each image: sky above, road below, 1-2 persons (24001, 24002) and a car (26001) as rectangles, a crowd car
    group (id 26, iscrowd 1), a void strip (id 0) at the bottom."""
    from paperlib.data.panoptic import id2rgb

    rng = np.random.default_rng(seed)
    h, w = size
    colors = {c["id"]: c["color"] for c in CITYSCAPES_FAKE_CATEGORIES}
    for split, city, n in (("train", "aachen", n_train), ("val", "frankfurt", n_val)):
        (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
        png_dir = root / "gtFine" / f"cityscapes_panoptic_{split}"
        png_dir.mkdir(parents=True, exist_ok=True)
        images, anns = [], []
        for i in range(n):
            iid = f"{city}_000000_{19 + i:06d}"
            ids = np.zeros((h, w), np.int64)
            ids[: h // 2] = 23
            ids[h // 2: h - 4] = 7
            boxes = {24001: None, 26001: None, 26: None}
            if i % 2 == 0:
                boxes[24002] = None
            for k, sid in enumerate(boxes):
                y0 = int(rng.integers(h // 4, h // 2))
                x0 = int(rng.integers(2, w - 30)) if sid != 26 else 2 + 40 * (k % 3)
                bh, bw = int(rng.integers(10, h // 3)), int(rng.integers(8, 24))
                ids[y0: y0 + bh, x0: x0 + bw] = sid
                boxes[sid] = (y0, x0, bh, bw)
            segs = []
            for sid in np.unique(ids):
                if sid == 0:
                    continue
                cat = int(sid // 1000) if sid >= 1000 else int(sid)
                ys, xs = np.nonzero(ids == sid)
                segs.append({"id": int(sid), "category_id": cat, "area": int(len(ys)),
                             "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                      int(ys.max() - ys.min() + 1)],
                             "iscrowd": int(sid < 1000 and cat in (24, 26))})
            cat_of = np.vectorize(lambda v: v // 1000 if v >= 1000 else v)(ids)
            img = np.zeros((h, w, 3), np.uint8)
            for c, col in colors.items():
                img[cat_of == c] = col
            img = np.clip(img.astype(np.int64) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / "leftImg8bit" / split / city / f"{iid}_leftImg8bit.png")
            Image.fromarray(id2rgb(ids)).save(png_dir / f"{iid}_gtFine_panoptic.png")
            images.append({"id": iid, "width": w, "height": h, "file_name": f"{iid}_gtFine_leftImg8bit.png"})
            anns.append({"image_id": iid, "file_name": f"{iid}_gtFine_panoptic.png", "segments_info": segs})
        (root / "gtFine" / f"cityscapes_panoptic_{split}.json").write_text(json.dumps(
            {"images": images, "annotations": anns, "categories": CITYSCAPES_FAKE_CATEGORIES}))
    return root
