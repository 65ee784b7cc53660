"""Issue 11, loaders validate before training (cases 3, 4, 5): COCO instances json, ImageFolder class sets,
CIFAR folders, tiny-imagenet val annotations and panoptic ground truth. Each refusal names the file and
what is expected, and comes well under 20 s."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from paperlib.data.panoptic import check_panoptic_annotation, load_panoptic_annotations, write_panoptic_dataset
from paperlib.metrics.pq import PanopticFormatError, pq_compute, pq_compute_arrays, pq_image


def _raises(exc, fn, *needles):
    t0 = time.perf_counter()
    with pytest.raises(exc) as e:
        fn()
    assert time.perf_counter() - t0 < 20
    msg = str(e.value)
    for n in needles:
        assert str(n) in msg, (n, msg)
    return msg


# ----------------------------------------------------------------------------- COCO instances json
def _coco(tmp_path, anns=None, drop=(), images=None):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "val2017").mkdir(exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "val2017" / "a.jpg")
    data = {"images": images or [{"id": 1, "file_name": "a.jpg", "height": 8, "width": 8}],
            "annotations": anns if anns is not None else
            [{"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 3], "area": 12, "iscrowd": 0}],
            "categories": [{"id": 3, "name": "thing"}]}
    for k in drop:
        del data[k]
    path = root / "annotations" / "instances_val2017.json"
    path.write_text(json.dumps(data))
    return root, path


def test_valid_coco_json_loads(tmp_path):
    from paperlib.data.coco import coco_detection_dataset

    root, _ = _coco(tmp_path)
    ds = coco_detection_dataset("coco", root, "val")
    img, t = ds[0]
    assert img.shape == (3, 8, 8) and t["boxes"].tolist() == [[1.0, 1.0, 5.0, 4.0]]


def test_truncated_coco_json_names_the_file(tmp_path):
    from paperlib.data.coco import coco_detection_dataset

    root, path = _coco(tmp_path)
    text = path.read_text()
    path.write_text(text[:len(text) // 2])
    _raises(ValueError, lambda: coco_detection_dataset("coco", root, "val"), path, "not valid JSON", "truncated")


def test_coco_json_without_required_keys_lists_them(tmp_path):
    from paperlib.data.coco import coco_detection_dataset

    root, path = _coco(tmp_path, drop=("categories",))
    _raises(ValueError, lambda: coco_detection_dataset("coco", root, "val"), path, "'categories'",
            "required: 'images', 'annotations', 'categories'")


@pytest.mark.parametrize("ann,needle", [
    ({"id": 5, "image_id": 1, "category_id": 3}, "no 'bbox'"),
    ({"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4]}, "not 4 finite numbers"),
    ({"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 1, float("nan"), 3]}, "not 4 finite numbers"),
    ({"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 1, -4, 3]}, "negative width or height"),
    ({"id": 5, "image_id": 99, "category_id": 3, "bbox": [1, 1, 4, 3]}, "image_id 99 is not in 'images'"),
    ({"id": 5, "image_id": 1, "category_id": 7, "bbox": [1, 1, 4, 3]}, "category_id 7 is not in 'categories'"),
    ({"id": 5, "image_id": [1], "category_id": 3, "bbox": [1, 1, 4, 3]}, "image_id [1] is not in 'images'"),
    ({"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 1, True, 3]}, "not 4 finite numbers"),
    ({"id": 5, "image_id": 1, "category_id": 3, "bbox": "1 1 4 3"}, "not 4 finite numbers"),
])
def test_malformed_annotations_are_refused_up_front(tmp_path, ann, needle):
    """Refused when the dataset is built, not when that image is first loaded in training."""
    from paperlib.data.coco import CocoDetection, load_coco

    root, path = _coco(tmp_path, anns=[ann])
    _raises(ValueError, lambda: CocoDetection(root / "val2017", path), path, "annotations[0] (id 5)", needle,
            "Expected COCO's format")
    _raises(ValueError, lambda: load_coco(path), path, needle)       # the evaluation's GT loader too


def test_image_records_are_checked(tmp_path):
    from paperlib.data.coco import CocoDetection

    root, path = _coco(tmp_path, images=[{"id": 1, "file_name": "a.jpg", "height": 8}])
    _raises(ValueError, lambda: CocoDetection(root / "val2017", path), path, "images[0] lacks ['width']")
    root, path = _coco(tmp_path, images=[{"id": 1, "height": 8, "width": 8}])
    _raises(ValueError, lambda: CocoDetection(root / "val2017", path), path, "lack 'file_name'")


# ----------------------------------------------------------------------------- classification folders
def _image_folder(root, split, classes, n=2):
    for c in classes:
        d = root / split / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(d / f"{i}.png")


def test_imagefolder_val_lacking_a_train_class_is_refused(tmp_path):
    from paperlib.data import classification_datasets

    _image_folder(tmp_path, "train", ["ant", "bee", "cat"])
    _image_folder(tmp_path, "val", ["ant", "cat"])          # without the check, cat would get bee's label 1
    msg = _raises(ValueError, lambda: classification_datasets("imagefolder", data_root=tmp_path, image_size=8),
                  tmp_path / "val", "lacks 1 class folder(s)", "'bee'", "same class folders")
    assert "download" not in msg
    _image_folder(tmp_path, "val", ["bee", "dog"])
    _raises(ValueError, lambda: classification_datasets("imagefolder", data_root=tmp_path, image_size=8),
            "'dog'", "not in")
    # equal sets: labels agree across the splits
    (tmp_path / "ok").mkdir()
    _image_folder(tmp_path / "ok", "train", ["ant", "bee"])
    _image_folder(tmp_path / "ok", "val", ["ant", "bee"])
    tr, va, meta = classification_datasets("imagefolder", data_root=tmp_path / "ok", image_size=8)
    assert tr.class_to_idx == va.class_to_idx and meta["num_classes"] == 2


def test_empty_imagefolder_names_the_folder_and_layout(tmp_path):
    from paperlib.data import classification_datasets

    (tmp_path / "train" / "ant").mkdir(parents=True)
    (tmp_path / "val").mkdir()
    _raises(FileNotFoundError, lambda: classification_datasets("imagefolder", data_root=tmp_path),
            tmp_path / "train", "expected layout", "train/<class>/<image>")


@pytest.mark.parametrize("name,sub", [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")])
def test_empty_or_corrupt_cifar_gives_our_layout_message(tmp_path, name, sub):
    from paperlib.data import classification_datasets
    from paperlib.data.classification import CIFAR_FILES

    (tmp_path / sub).mkdir()
    msg = _raises(FileNotFoundError, lambda: classification_datasets(name, data_root=tmp_path),
                  tmp_path, "is missing", "expected layout", sub)
    assert "download=True" not in msg
    for rel in CIFAR_FILES[name]:                       # every file present but garbage (truncated archive)
        (tmp_path / rel).write_bytes(b"\x80\x04 not a pickle")
    msg = _raises(ValueError, lambda: classification_datasets(name, data_root=tmp_path),
                  tmp_path, "corrupt, truncated", "Expected layout", sub)
    assert "download=True" not in msg


def test_tiny_imagenet_unknown_val_wnid_is_refused(tmp_path):
    from paperlib.data import classification_datasets

    for w in ("n01", "n02"):
        d = tmp_path / "train" / w / "images"
        d.mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "x.JPEG")
    (tmp_path / "val" / "images").mkdir(parents=True)
    ann = tmp_path / "val" / "val_annotations.txt"
    ann.write_text("v0.JPEG\tn01\t0\t0\t8\t8\nv1.JPEG\tn99\t0\t0\t8\t8\n")
    _raises(ValueError, lambda: classification_datasets("tiny-imagenet", data_root=tmp_path), ann, "line 2",
            "n99")


# ----------------------------------------------------------------------------- panoptic ground truth
CATS = {1: {"id": 1, "name": "thing", "isthing": 1}, 2: {"id": 2, "name": "stuff", "isthing": 0}}


def _gt():
    g = np.zeros((6, 8), np.uint32)
    g[:3] = 5          # 24 px stuff
    g[4:, 2:6] = 9     # 8 px thing; the rest VOID
    segs = [dict(id=5, category_id=2, area=24, iscrowd=0), dict(id=9, category_id=1, area=8, iscrowd=0)]
    return g, segs


def _pred(g, segs):
    return g.copy(), [dict(id=s["id"], category_id=s["category_id"]) for s in segs]


def test_gt_area_disagreeing_with_the_png_is_refused_not_pq_inf():
    g, segs = _gt()
    p, ps = _pred(g, segs)
    assert pq_compute_arrays([(g, segs, p, ps)], CATS)["All"]["pq"] == 1.0      # consistent GT: unchanged
    for area in (0, 1):         # before: area 0 -> PQ = inf, area 1 -> IoU 512 (24 / (24 + 1 - 24 ...))
        bad = [dict(segs[0], area=area), segs[1]]
        _raises(PanopticFormatError, lambda: pq_image(g, bad, p, ps, CATS, image_id=3),
                "image with ID 3", f"segment 5: area {area} in JSON, 24 pixels in PNG", "exact pixel counts")


def test_gt_png_ids_missing_from_the_json_are_refused():
    g, segs = _gt()
    p, ps = _pred(g, segs)
    g2 = g.copy()
    g2[5, 7] = 77
    _raises(PanopticFormatError, lambda: pq_image(g2, segs, p, ps, CATS, image_id=3),
            "image with ID 3", "ground truth PNG holds segment ID(s) [77]", "only 0 = VOID")
    # VOID (id 0) needs no entry; a GT segment listed with area 0 and absent from the PNG stays an FN
    res = pq_compute_arrays([(g, segs + [dict(id=11, category_id=1, area=0, iscrowd=0)], p, ps)], CATS)
    assert res["per_class"][1]["fn"] == 1 and res["per_class"][1]["tp"] == 1


def _files(tmp_path, gt_segs=None, gt_height=6):
    g, segs = _gt()
    p, ps = _pred(g, segs)
    images = [dict(id=3, file_name="a.png", height=6, width=8)]
    write_panoptic_dataset(tmp_path / "gt.json", images, [g], [segs], list(CATS.values()))
    write_panoptic_dataset(tmp_path / "pred.json", images, [p], [ps], list(CATS.values()))
    gj = json.loads((tmp_path / "gt.json").read_text())
    if gt_segs is not None:
        gj["annotations"][0]["segments_info"] = gt_segs
    gj["images"][0]["height"] = gt_height
    (tmp_path / "gt.json").write_text(json.dumps(gj))
    return tmp_path / "gt.json", tmp_path / "pred.json"


def test_gt_files_are_checked(tmp_path):
    gt, pred = _files(tmp_path / "ok")
    assert pq_compute(gt, pred)["All"]["pq"] == 1.0
    assert len(list(load_panoptic_annotations(gt))) == 1
    # area 0 in the GT JSON
    g, segs = _gt()
    gt, pred = _files(tmp_path / "area", gt_segs=[dict(segs[0], area=0), segs[1]])
    _raises(PanopticFormatError, lambda: pq_compute(gt, pred), "area 0 in JSON, 24 pixels in PNG")
    _raises(ValueError, lambda: list(load_panoptic_annotations(gt)), os.path.join(str(gt)[:-5], "a.png"),
            "area 0 in JSON, 24 pixels in PNG")
    # a GT PNG id the JSON does not list
    gt, pred = _files(tmp_path / "ids", gt_segs=[segs[0]])
    _raises(PanopticFormatError, lambda: pq_compute(gt, pred), "segment ID(s) [9]")
    _raises(ValueError, lambda: list(load_panoptic_annotations(gt)), "a.png", "segment id(s) [9]")
    # PNG size vs the JSON's images entry
    gt, pred = _files(tmp_path / "size", gt_height=7)
    _raises(PanopticFormatError, lambda: pq_compute(gt, pred), "a.png", "is 8x6", "says 8x7")
    _raises(ValueError, lambda: list(load_panoptic_annotations(gt)), "a.png", "is 8x6", "says 8x7")


def test_truncated_or_keyless_panoptic_json_names_the_file(tmp_path):
    gt, pred = _files(tmp_path)
    text = gt.read_text()
    gt.write_text(text[: len(text) // 2])
    _raises(ValueError, lambda: pq_compute(gt, pred), gt, "not valid JSON")
    _raises(ValueError, lambda: list(load_panoptic_annotations(gt)), gt, "not valid JSON")
    gt.write_text(json.dumps({"annotations": []}))
    _raises(ValueError, lambda: pq_compute(gt, pred), gt, "'categories'")


def test_check_panoptic_annotation_directly():
    g, segs = _gt()
    check_panoptic_annotation(g, segs, "x.png", {"id": 3, "height": 6, "width": 8})
    _raises(ValueError, lambda: check_panoptic_annotation(g, [{"id": 5}], "x.png"), "x.png", "lacks 'id' or 'area'")
