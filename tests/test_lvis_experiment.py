"""07 LVIS studies and claims; the Mask R-CNN recipe of the larger profiles at toy scale on the CPU,
on the synthetic set and on a fake dataset in LVIS v1's real layout (json + COCO-style image dirs)."""
import json

import numpy as np
import pytest

from paperlib.config import get_config
from paperlib.data.lvis import write_lvis_annotations
from paperlib.data.scenes import generate_scenes
from paperlib.experiments import lvis as X


def test_profiles_and_validation():
    for p in ("ci", "default", "gpu", "paper"):
        get_config("07_lvis", p)
    assert X.t_syn(get_config("07_lvis", "default")) == pytest.approx(0.001 * 57_000 / 2000)
    assert X.t_syn(get_config("07_lvis", "paper")) == 0.001
    c = get_config("07_lvis", "paper")
    assert (c.max_dets, c.score_thresh, c.detector) == (300, 0.0001, "maskrcnn")
    from paperlib.config import ConfigError
    for bad in ({"p_unk": 1.5}, {"rfs_multipliers": [1.0, 0.0]}, {"thr_settings": [[0.05, 0]]}, {"detector": "yolo"}):
        with pytest.raises((ValueError, ConfigError)):
            get_config("07_lvis", "ci", bad)


def gt_with_negs():
    images = [{"id": i, "height": 10, "width": 10, "neg_category_ids": [1, 2] if i < 8 else [1],
               "not_exhaustive_category_ids": []} for i in range(10)]
    return {"images": images, "annotations": [{"id": 1, "image_id": 9, "category_id": 2, "bbox": [0, 0, 2, 2]}],
            "categories": [{"id": 1}, {"id": 2}]}


def test_restrict_negatives_and_subset():
    g = X.restrict_negatives(gt_with_negs(), 3, np.random.default_rng(0))
    count = {1: 0, 2: 0}
    for im in g["images"]:
        for c in im["neg_category_ids"]:
            count[c] += 1
    assert count == {1: 3, 2: 3}
    s = X.subset(gt_with_negs(), [9, 0])
    assert [im["id"] for im in s["images"]] == [0, 9] and len(s["annotations"]) == 1


def rfs_rows(gain):
    rows = []
    for m, base in ((0.0, 0.10), (1.0, 0.10 + gain), (10.0, 0.10 + gain / 2)):
        for seed, eps in ((0, -0.002), (1, 0.002)):
            rows.append({"t_multiplier": m, "seed": seed, "AP": 0.2 + base / 4 + eps, "APr": base + eps,
                         "APc": 0.2, "APf": 0.3})
    return rows


@pytest.mark.parametrize("gain,expect", [(0.05, "held"), (0.001, "inconclusive"), (-0.05, "not held")])
def test_c3_uses_seed_noise(gain, expect):
    cfg = get_config("07_lvis", "default")
    rows = rfs_rows(gain)
    out = {c["claim_id"]: c for c in X.claims(cfg, data=_fake_data(), rfs=rows, c1=[], thr=[], size=[], neg=[])}
    apr = out["C3"]["verdict"].evidence["parts"][0]["verdict"]
    assert apr == expect
    assert X.best_multiplier(rows) == (1.0 if gain > 0 else 10.0)


@pytest.mark.parametrize("cas_gap,expect", [(0.05, "held"), (0.0, "inconclusive"), (-0.05, "not held")])
def test_c3_class_aware_part(cas_gap, expect):
    cfg = get_config("07_lvis", "default")
    rows = rfs_rows(0.05)
    best = [r for r in rows if r["t_multiplier"] == 1.0]
    rows += [dict(r, sampler="class-aware", t_multiplier=None, AP=r["AP"] - cas_gap) for r in best]
    out = {c["claim_id"]: c for c in X.claims(cfg, data=_fake_data(), rfs=rows, c1=[], thr=[], size=[], neg=[])}
    parts = out["C3"]["verdict"].evidence["parts"]
    assert len(parts) == 4 and parts[0]["verdict"] == "held"      # the class-aware rows stay out of the t sweep
    assert parts[3]["verdict"] == expect
    assert X.best_multiplier(rows) == 1.0
    X.fig_rfs(rows)


def _fake_data():
    tj = {"categories": [{"id": 1, "frequency": "r", "image_count": 1, "instance_count": 1}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1}], "images": [{"id": 1}]}
    return X.Data(root=None, train=None, val=None, val_json={}, val_full=None, train_json=tj,
                  stats={"rcf": {"r": 1, "c": 0, "f": 0}})


def test_c5_flags_a_wrong_frequency():
    d = _fake_data()
    assert all(X.data_checks(d)[k] for k in list(X.data_checks(d))[:2])
    d.train_json["categories"][0]["frequency"] = "c"
    assert not X.data_checks(d)["frequency follows 1-10 / 11-100 / >100 training images"]


def _real_layout(tmp_path):
    """A fake LVIS v1 dataset in the real layout: lvis_v1_{train,val}.json at the root, COCO-style
    image folders named by the last two components of coco_url, no file_name, no complete labels."""
    src = tmp_path / "src"
    generate_scenes(src, n_train=6, n_val=3, image_size=48, max_objects=3, crowd_prob=0.0, seed=1,
                    num_things=8, class_freq="zipf")
    write_lvis_annotations(src, n_neg=2)
    root = tmp_path / "lvis"
    for split, coco_dir in (("train", "train2017"), ("val", "val2017")):
        d = json.loads((src / f"lvis_v1_{split}.json").read_text())
        (root / coco_dir).mkdir(parents=True)
        for im in d["images"]:
            name = im.pop("file_name").replace(".png", ".jpg")
            from PIL import Image
            Image.open(src / split / f"{im['id']:012d}.png").save(root / coco_dir / name, quality=95)
            im["coco_url"] = f"http://images.cocodataset.org/{coco_dir}/{name}"
        (root / f"lvis_v1_{split}.json").write_text(json.dumps(d))
    return root


TOY = dict(backbone="tiny", min_size=48, iters=1, batch_images=1, n_resamples=2, neg_counts=[1, 2],
           size_fractions=[0.5, 1.0], n_boot=50, threads=1, rfs_multipliers=[0.0, 1.0], seeds=[0])


@pytest.mark.parametrize("profile", ["gpu", "paper"], ids=["maskrcnn_synthetic_set", "maskrcnn_lvis_layout"])
def test_maskrcnn_recipe_toy_scale(profile, tmp_path, one_thread):
    """(ids avoid the bare words paper/gpu: conftest skips items with those keywords)"""
    over = dict(TOY)
    data_root = None
    if profile == "gpu":
        over.update(num_categories=8, n_train=6, n_val=3, image_size=48, max_objects=3,
                    rfs_multipliers=[0.0])              # two models: uniform and class-aware
    else:
        data_root = _real_layout(tmp_path)
        over.update(rfs_multipliers=[0.0])            # one model: the layout is what this case checks
    cfg = get_config("07_lvis", profile, over)
    data = X.prepare(cfg, data_root)
    assert (data.val_full is None) == (profile == "paper")
    dets, timing = X.train_all(cfg, data)
    assert set(dets) == {(m, 0) for m in X.arms(cfg)}
    assert X.arms(cfg)[-1] == ("class-aware" if profile == "gpu" else 0.0)   # the paper profile skips it (cost)
    assert all("segmentation" in d and "bbox" in d for d in dets[(0.0, 0)])
    rfs = X.rfs_rows(cfg, data, dets)
    c1 = X.c1_rows(cfg, data, dets)
    thr = X.threshold_rows(cfg, data, dets)
    size = X.size_rows(cfg, data, dets[(0.0, 0)])
    neg = X.negatives_rows(cfg, data, dets[(0.0, 0)])
    assert len(rfs) == len(X.arms(cfg)) and len(thr) == 4 and len(neg) == 4 and (len(c1) == 4) == (profile == "gpu")
    out = X.claims(cfg, data=data, rfs=rfs, c1=c1, thr=thr, size=size, neg=neg)
    assert [c["claim_id"] for c in out] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    if profile == "paper":
        assert "no complete labels" in out[0]["verdict"].reason


def _c1_case():
    """Category 2's only test instance lost its label (unknown status) and is never detected."""
    cats = [{"id": 1, "name": "a", "frequency": "f", "image_count": 200, "instance_count": 200},
            {"id": 2, "name": "b", "frequency": "r", "image_count": 1, "instance_count": 1}]
    ims = [{"id": i, "height": 100, "width": 100, "neg_category_ids": [], "not_exhaustive_category_ids": []}
           for i in (1, 2)]
    a1 = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400,
          "segmentation": [[10, 10, 10, 30, 30, 30, 30, 10]]}
    a2 = dict(a1, id=2, image_id=2, category_id=2)
    fed = {"images": ims, "annotations": [a1], "categories": cats}
    full = {"images": ims, "annotations": [a1, a2], "categories": cats}
    data = X.Data(root=None, train=None, val=None, val_json=fed, val_full=full, train_json={}, stats={})
    return data, {(0.0, 0): [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}]}


def test_c1_compares_the_same_categories():
    data, dets = _c1_case()
    rows = {r["evaluation"]: r for r in X.c1_rows(get_config("07_lvis", "ci"), data, dets)}
    assert rows["federated"]["AP"] == pytest.approx(1.0) and rows["federated oracle (complete labels)"]["AP"] == pytest.approx(0.5)
    assert rows["federated oracle (complete labels)"]["categories"] == 2 and rows["federated"]["categories"] == 1
    assert all(r["shared categories"] == 1 and r["AP shared"] == pytest.approx(1.0) for r in rows.values())


def _c1_rows(naive_shift, fed_shift):
    rows = []
    for seed, eps in ((0, -0.001), (1, 0.001)):
        o = 0.30 + eps
        for name, v in zip(X.C1_NAMES, (o + fed_shift + 2 * eps, o, o + naive_shift - eps, o)):
            rows.append({"seed": seed, "evaluation": name, "AP": v, "AP shared": v})
    return rows


# (-0.002, 0.006): federated moves more than naive by 0.004, under the stated minimum 0.005 -> not held
# needs the floor too (issue 19), so inconclusive; (-0.01, 0.05) is far beyond it -> not held
@pytest.mark.parametrize("naive,fed,expect", [(-0.05, 0.002, "held"), (-0.002, 0.001, "inconclusive"),
                                              (-0.002, 0.006, "inconclusive"), (-0.01, 0.05, "not held")])
def test_c1_verdict(naive, fed, expect):
    cfg = get_config("07_lvis", "default")
    rfs = rfs_rows(0.05)
    out = {c["claim_id"]: c for c in X.claims(cfg, data=_fake_data(), rfs=rfs, c1=_c1_rows(naive, fed), thr=[],
                                              size=[], neg=[])}
    assert out["C1"]["verdict"].verdict == expect
