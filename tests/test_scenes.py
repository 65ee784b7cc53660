"""Synthetic scenes: real COCO formats (instances, panoptic, semantic), sizes, determinism."""
import json

import numpy as np
import pytest
from PIL import Image

from paperlib.data.scenes import THING_CLASSES, area_bucket, generate_scenes, rgb2id


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    return generate_scenes(root, n_train=12, n_val=4, image_size=256, crowd_prob=0.5, seed=3)


def test_pycocotools_loads_instances(scenes):
    from pycocotools.coco import COCO

    coco = COCO(str(scenes / "annotations" / "instances_train.json"))
    assert len(coco.getImgIds()) == 12
    assert sorted(coco.getCatIds()) == list(range(1, len(THING_CLASSES) + 1))
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns and all({"area", "iscrowd", "bbox", "segmentation"} <= set(a) for a in anns)
    assert any(a["iscrowd"] for a in anns), "some crowd regions expected"
    for a in anns:
        m = coco.annToMask(a)
        assert m.sum() == a["area"]
        ys, xs = np.nonzero(m)
        assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        img = Image.open(scenes / "train" / coco.imgs[a["image_id"]]["file_name"])
        assert img.size == (256, 256) and img.mode == "RGB"


def test_size_distribution_covers_small_medium_large(scenes):
    with open(scenes / "annotations" / "instances_train.json") as f:
        anns = [a for a in json.load(f)["annotations"] if not a["iscrowd"]]
    counts = {b: sum(area_bucket(a["area"]) == b for a in anns) for b in ("small", "medium", "large")}
    n = sum(counts.values())
    assert n >= 40
    for b, c in counts.items():
        assert c / n >= 0.1, (b, counts)


def test_panoptic_agrees_with_instances(scenes):
    from pycocotools.coco import COCO

    pan = json.loads((scenes / "annotations" / "panoptic_val.json").read_text())
    cats = {c["id"]: c for c in pan["categories"]}
    assert {c["isthing"] for c in cats.values()} == {0, 1}
    coco = COCO(str(scenes / "annotations" / "instances_val.json"))
    for ann in pan["annotations"]:
        ids = rgb2id(np.asarray(Image.open(scenes / "annotations" / "panoptic_val" / ann["file_name"])))
        sem = np.asarray(Image.open(scenes / "semantic_val" / ann["file_name"]))
        segs = {s["id"]: s for s in ann["segments_info"]}
        assert set(np.unique(ids)) - {0} == set(segs)
        inst = coco.imgToAnns[ann["image_id"]]
        things = [s for s in segs.values() if cats[s["category_id"]]["isthing"]]
        assert len(things) == len(inst)
        for s in segs.values():
            m = ids == s["id"]
            assert m.sum() == s["area"]
            assert (sem[m] == s["category_id"]).all()
            if cats[s["category_id"]]["isthing"]:
                match = [a for a in inst if (coco.annToMask(a).astype(bool) == m).all()]
                assert len(match) == 1
                a = match[0]
                assert (a["category_id"], a["iscrowd"], a["area"], a["bbox"]) == \
                    (s["category_id"], s["iscrowd"], s["area"], s["bbox"])
        assert (sem[ids == 0] == 0).all()


def test_deterministic_by_seed(tmp_path):
    a = generate_scenes(tmp_path / "a", n_train=3, n_val=0, image_size=64, seed=5)
    b = generate_scenes(tmp_path / "b", n_train=3, n_val=0, image_size=64, seed=5)
    c = generate_scenes(tmp_path / "c", n_train=3, n_val=0, image_size=64, seed=6)
    for p in sorted((a / "train").iterdir()):
        assert p.read_bytes() == (b / "train" / p.name).read_bytes()
    ja = (a / "annotations" / "instances_train.json").read_bytes()
    assert ja == (b / "annotations" / "instances_train.json").read_bytes()
    assert ja != (c / "annotations" / "instances_train.json").read_bytes()


def test_loader_targets(scenes):
    from paperlib.data.coco import coco_detection_dataset, detection_collate

    ds = coco_detection_dataset("scenes", scenes, "train", masks=True)
    img, t = ds[0]
    assert img.shape == (3, 256, 256) and 0 <= img.min() and img.max() <= 1
    n = len(t["boxes"])
    assert t["labels"].shape == (n,) and t["masks"].shape == (n, 256, 256)
    assert (t["boxes"][:, 2:] > t["boxes"][:, :2]).all()
    assert (t["iscrowd"] == 0).all()             # crowd regions dropped from training targets
    assert set(ds.label_to_cat_id) == set(range(1, ds.num_classes))
    imgs, tg = detection_collate([ds[0], ds[1]])
    assert len(imgs) == len(tg) == 2


def test_missing_coco_layout_error(tmp_path):
    from paperlib.data.coco import coco_detection_dataset

    with pytest.raises(FileNotFoundError, match="instances_val2017.json"):
        coco_detection_dataset("coco", tmp_path, "val")
