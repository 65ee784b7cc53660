"""Long-tailed scenes and the LVIS json writer: the files load in lvis.LVIS and evaluate in
lvis.LVISEval directly; the frequency fields follow the paper's rule; the vocabulary parameters."""
import json

import numpy as np
import pytest

from paperlib.data.lvis import LVISDetection, lvis_json_path, lvis_stats, write_lvis_annotations
from paperlib.data.scenes import categories, class_probabilities, generate_scenes, thing_names


@pytest.fixture(scope="module")
def lvis_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lvis_scenes")
    generate_scenes(root, n_train=24, n_val=8, image_size=48, max_objects=6, crowd_prob=0.0, seed=3,
                    num_things=12, class_freq="zipf", zipf_exponent=1.5)
    write_lvis_annotations(root, p_unk=0.3, p_ne=0.3, n_neg=3, seed=0)
    return root


def test_vocabulary_parameters():
    assert thing_names() == thing_names(None) and len(thing_names(6)) == 6
    names = thing_names(14)
    assert len(set(names)) == 14 and names[6] == "disc_c01"
    cats = categories(14, 2)
    assert [c["isthing"] for c in cats] == [1] * 14 + [0] * 2 and cats[-1]["id"] == 16
    p = class_probabilities(5, "zipf", 1.0, 0.0)
    assert np.allclose(p, np.array([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]) / sum([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]))
    assert np.allclose(class_probabilities(4), 0.25)
    for bad in (dict(num_things=0), dict(num_things=251)):
        with pytest.raises(ValueError, match="num_things"):
            thing_names(bad["num_things"])
    with pytest.raises(ValueError, match="class_freq"):
        class_probabilities(4, "pareto")


def test_lvis_json_fields_and_frequency_rule(lvis_root):
    tr = json.loads(lvis_json_path(lvis_root, "train").read_text())
    full = json.loads(lvis_json_path(lvis_root, "train", full=True).read_text())
    imgs = {}
    for a in tr["annotations"]:
        assert "iscrowd" not in a and isinstance(a["segmentation"], list) and len(a["segmentation"][0]) >= 6
        imgs.setdefault(a["category_id"], set()).add(a["image_id"])
    for c in tr["categories"]:
        n = len(imgs.get(c["id"], ()))
        assert c["image_count"] == n
        assert c["frequency"] == ("r" if n <= 10 else "c" if n <= 100 else "f")
        assert {"synonyms", "synset", "def", "instance_count"} <= set(c)
    present = {}
    for a in full["annotations"]:
        present.setdefault(a["image_id"], set()).add(a["category_id"])
    for im in tr["images"]:
        assert {"neg_category_ids", "not_exhaustive_category_ids", "coco_url"} <= set(im)
        assert not set(im["neg_category_ids"]) & present.get(im["id"], set())    # negatives are absent
    assert len(full["annotations"]) > len(tr["annotations"])         # some labels hidden
    assert any(im["not_exhaustive_category_ids"] for im in tr["images"])
    st = lvis_stats(tr)
    assert sum(st["rcf"].values()) == 12 and st["instance_count"] == sorted(st["instance_count"], reverse=True)


def test_written_json_loads_and_evaluates_in_lvis_api(lvis_root):
    from lvis import LVIS, LVISEval, LVISResults

    from paperlib.metrics.lvis import numpy_float_alias
    gt = LVIS(str(lvis_json_path(lvis_root, "val")))
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in gt.dataset["annotations"]]
    ev = LVISEval(gt, LVISResults(gt, dets), iou_type="bbox")
    with numpy_float_alias():
        ev.run()
    assert ev.results["AP"] == pytest.approx(1.0)                     # ground truth as detections
    seg = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9,
            "segmentation": {**gt.ann_to_rle(a), "counts": gt.ann_to_rle(a)["counts"].decode()}}
           for a in gt.dataset["annotations"]]
    ev = LVISEval(gt, LVISResults(gt, seg), iou_type="segm")
    with numpy_float_alias():
        ev.run()
    assert ev.results["AP"] == pytest.approx(1.0)


def test_dataset_items(lvis_root):
    ds = LVISDetection(lvis_root, "train", masks=True)
    img, t = ds[0]
    assert img.shape == (3, 48, 48) and 0 <= float(img.min()) and float(img.max()) <= 1
    assert t["boxes"].shape[0] == t["labels"].shape[0] == t["masks"].shape[0]
    assert all(1 <= int(v) <= 12 for v in t["labels"])
    assert len(ds.image_categories()) == 24
    with pytest.raises(FileNotFoundError, match="lvis_v1_test"):
        lvis_json_path(lvis_root, "test")


def test_default_vocabulary_writes_the_same_bytes(tmp_path):
    """The 02 FPN data depend on the defaults: explicit default vocabulary = no vocabulary argument."""
    a, b = tmp_path / "a", tmp_path / "b"
    generate_scenes(a, n_train=2, n_val=1, image_size=32, seed=5)
    generate_scenes(b, n_train=2, n_val=1, image_size=32, seed=5, num_things=None, num_stuff=None,
                    class_freq="uniform", zipf_exponent=1.0, zipf_offset=0.0)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    c = tmp_path / "c"
    generate_scenes(c, n_train=2, n_val=1, image_size=32, seed=5, num_things=12, class_freq="zipf")
    assert (c / "annotations" / "instances_train.json").read_bytes() != (a / "annotations" / "instances_train.json").read_bytes()
