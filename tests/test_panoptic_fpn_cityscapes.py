"""06 Panoptic FPN (issue 16): detectron2's two lr steps and the Cityscapes recipe at the paper profile.

- the lr schedule drops x0.1 exactly at each of ``lr_steps`` (after the warm-up in optimizer steps);
- the paper profile fills each dataset's published recipe (COCO 1x, Cityscapes), explicit overrides win;
- training on rescaled crops keeps image, instance masks / boxes and the semantic target aligned, and the
  detector's transform leaves the crops at their size while evaluation runs at the full image size;
- the user's Cityscapes (cityscapesScripts' panoptic layout) converts to COCO panoptic + instances, and a bad
  layout names the missing files;
- the notebook's paper path with dataset="cityscapes" runs end to end at toy scale (2 seeds: the median code).
"""
import json
import math
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fakes import results, run_notebook_cells, write_cityscapes

SLUG = "06_panoptic_fpn"
pytestmark = pytest.mark.usefixtures("one_thread")

#: the paper profile shrunk to toy scale on CPU (64 x 128 "Cityscapes" images, 32 x 64 crops)
TOY = dict(backbone="tiny", norm="gn", head_norm="gn", backbone_weights=None, deeper_backbone="tiny_deep",
           deeper_backbone_weights=None, fpn_channels=16, sem_channels=8,
           representation_size=32, min_size=64, max_size=128, crop_size=[32, 64], anchor_sizes=[8, 16, 32, 64, 128],
           canonical_scale=56, rpn_pre_nms_top_n_train=50, rpn_post_nms_top_n_train=50, rpn_post_nms_top_n_test=50,
           box_batch_size_per_image=32, iters=3, batch_size=2, threads=1, num_workers=0, n_boot=20, workers=1)


# ----------------------------------------------------------------------------- two lr steps
def _recipe(**kw):
    base = dict(iters=65, lr=0.01, lr_steps=[40, 55], warmup_iters=10, warmup_epochs=0.0, batch_size=2,
                weight_decay=1e-4, clip_grad=None, max_steps=None, log_every=10)
    return SimpleNamespace(**{**base, **kw})


def test_lr_drops_x10_exactly_at_each_step_after_the_warmup():
    from paperlib.engine.panoptic import panoptic_train_config
    from paperlib.engine.schedule import lr_at

    spe = 7                                           # 65 iterations are not a whole number of epochs of 7
    tc = panoptic_train_config(_recipe(), spe, seed=0)
    lr = [lr_at(i / spe, tc) for i in range(65)]
    assert tc.max_steps == 65 and tc.epochs == math.ceil(65 / 7)
    assert lr[0] == pytest.approx(0.01 * 0.001) and lr[5] == pytest.approx(0.01 * (0.001 + 0.999 * 0.5))
    assert lr[9] < 0.01 and lr[10] == 0.01 and lr[39] == 0.01          # warm-up ends at step 10
    assert lr[40] == pytest.approx(0.001, rel=1e-12) and lr[54] == lr[40]
    assert lr[55] == pytest.approx(0.0001, rel=1e-12) and lr[64] == lr[55]
    assert sorted(set(lr[10:])) == sorted({lr[10], lr[40], lr[55]})      # three levels, nothing else

    one = panoptic_train_config(_recipe(lr_steps=None, warmup_iters=None, warmup_epochs=0.5), spe, seed=0)
    assert one.milestones == [int(0.75 * 65) / spe] and one.warmup_epochs == 0.5     # ci / default: unchanged
    assert panoptic_train_config(_recipe(lr_steps=[]), spe, seed=0).milestones == []   # [] = constant after warm-up


def test_paper_coco_recipe_is_detectron2s_1x_schedule():
    from paperlib.config import get_config
    from paperlib.engine.panoptic import panoptic_train_config
    from paperlib.engine.schedule import IterScheduler

    cfg = get_config(SLUG, "paper")
    assert (cfg.iters, cfg.lr, cfg.lr_steps, cfg.warmup_iters) == (90000, 0.02, [60000, 80000], 1000)
    spe = 118_287 // 16                                # COCO train2017, 16 images per step
    sch = IterScheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.02),
                        panoptic_train_config(cfg, spe, seed=0), spe)
    at = {i: sch.lr_at_step(i) for i in (999, 1000, 59999, 60000, 79999, 80000, 89999)}
    assert at[999] < 0.02 and at[1000] == at[59999] == 0.02
    assert at[60000] == at[79999] == pytest.approx(0.002, rel=1e-12)
    assert at[80000] == at[89999] == pytest.approx(0.0002, rel=1e-12)


# ----------------------------------------------------------------------------- recipes per dataset
def test_paper_profile_fills_each_datasets_published_recipe_and_overrides_win():
    from paperlib.config import ConfigError, get_config

    coco = get_config(SLUG, "paper")
    assert (coco.joint_lambda_s, coco.lambda_i, coco.lambdas_s, coco.batch_size) == (0.5, 1.0, [0.0, 0.5], 2)
    assert (coco.min_size, coco.max_size, coco.crop_size, coco.seeds, coco.sem_classes) == (800, 1333, None, [0],
                                                                                           "stuff_other")
    cs = get_config(SLUG, "paper", {"dataset": "cityscapes"})
    assert (cs.iters, cs.lr, cs.lr_steps, cs.batch_size) == (65000, 0.01, [40000, 55000], 4)
    assert (cs.joint_lambda_s, cs.lambda_i, cs.lambdas_s) == (1.0, 0.5, [0.0, 1.0])
    assert (cs.crop_size, cs.scale_range, cs.min_size, cs.max_size) == ([512, 1024], [0.5, 2.0], 1024, 2048)
    assert (cs.seeds, cs.sem_classes, cs.stuff_area_frac) == ([0, 1, 2, 3, 4], "all", 4096 / (1024 * 2048))
    mine = get_config(SLUG, "paper", {"dataset": "cityscapes", "lr": 0.02, "iters": 650, "seeds": [3]})
    assert (mine.lr, mine.iters, mine.lr_steps, mine.seeds) == (0.02, 650, [400, 550], [3])   # steps scale
    assert get_config(SLUG, "paper", {"dataset": "cityscapes", "lr_steps": [10, 20]}).lr_steps == [10, 20]
    for p in ("ci", "default"):                        # their numbers must not move: one drop at 75 %
        c = get_config(SLUG, p)
        assert (c.published_recipe, c.lr_steps, c.warmup_iters, c.crop_size, c.sem_classes) == (
            False, None, None, None, "stuff_other")
    with pytest.raises(ConfigError, match="published_recipe"):
        get_config(SLUG, "paper", {"dataset": "scenes"})
    with pytest.raises(ConfigError, match="lr_steps"):
        get_config(SLUG, "default", {"lr_steps": [400, 300]})
    with pytest.raises(ConfigError, match="iters"):
        get_config(SLUG, "default", {"iters": None})


# ----------------------------------------------------------------------------- rescale + crop
def _sample(h=40, w=80):
    """An image whose channel 0 is 1 on a person (rows 10-29, cols 20-39; semantic label 3) and on a tiny
    second object at the far right (rows 2-3, cols 76-77; label 3), 0 elsewhere (label 1)."""
    img = torch.zeros(3, h, w)
    masks = torch.zeros(2, h, w, dtype=torch.uint8)
    masks[0, 10:30, 20:40] = 1
    masks[1, 2:4, 76:78] = 1
    sem = torch.ones(h, w, dtype=torch.long)
    sem[masks.bool().any(0)] = 3
    img[0][masks.bool().any(0)] = 1.0
    t = {"boxes": torch.tensor([[20.0, 10, 40, 30], [76, 2, 78, 4]]), "labels": torch.tensor([1, 2]),
         "masks": masks, "area": torch.tensor([400.0, 4.0]), "iscrowd": torch.zeros(2, dtype=torch.int64)}
    return img, t, sem


def test_scale_crop_keeps_image_masks_boxes_and_target_on_the_same_pixels():
    from torchvision.ops import masks_to_boxes

    from paperlib.data.panoptic_dataset import scale_crop

    dropped = 0
    for k in range(12):
        torch.manual_seed(k)
        img, t, sem = _sample()
        img2, t2, sem2 = scale_crop(img, t, sem, scale_range=[0.5, 2.0], crop_size=[20, 40])
        assert img2.shape[-2:] == sem2.shape == (20, 40)   # half the image: fits at every scale >= 0.5 (Cityscapes)
        m = t2["masks"].bool()
        assert m.shape[-2:] == (20, 40) and len(m) == len(t2["labels"]) == len(t2["boxes"]) == len(t2["iscrowd"])
        assert m.flatten(1).any(1).all()                              # no empty instance kept
        assert torch.equal(m.any(0), sem2 == 3)                       # masks and the target: same pixels
        if len(m):
            box = masks_to_boxes(m.to(torch.uint8)) + torch.tensor([0.0, 0, 1, 1])
            assert torch.equal(t2["boxes"], box) and torch.equal(t2["area"], m.flatten(1).sum(1).float())
            assert img2[0][m.any(0)].mean() > 0.75 and img2[0][~m.any(0)].mean() < 0.1   # the image follows
        dropped += 2 - len(m)
        assert set(t2["labels"].tolist()) <= {1, 2}
    assert dropped > 0                                                # the crops cut objects out: dropped
    from PIL import Image

    from paperlib.data.panoptic_dataset import _nearest_rows, _resize_window

    a = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)    # the image's window = the same
    x = torch.from_numpy(a).permute(2, 0, 1).float() / 255                        # window of PIL's whole resize
    for (h2, w2), (y0, x0, ch, cw) in (((30, 45), (3, 5, 20, 30)), ((120, 180), (17, 33, 50, 100)),
                                       ((97, 131), (10, 20, 40, 60))):
        whole = np.asarray(Image.fromarray(a).resize((w2, h2), Image.BILINEAR))[y0:y0 + ch, x0:x0 + cw]
        win = (_resize_window(x, (h2, w2), (y0, x0, ch, cw)) * 255).round().byte().permute(1, 2, 0).numpy()
        assert np.abs(whole.astype(int) - win.astype(int)).max() <= 1                # PIL's fixed-point rounding
    # masks and target: = resizing with torch's nearest-exact (the pixel-centre rule)
    for n_in, n_out in ((40, 20), (40, 80), (80, 37), (1024, 1536), (2048, 1100)):
        x = torch.arange(n_in, dtype=torch.float64)[None, None, :, None]
        ref = torch.nn.functional.interpolate(x, size=(n_out, 1), mode="nearest-exact")[0, 0, :, 0].long()
        assert torch.equal(_nearest_rows(n_in, n_out, 0, n_out), ref), (n_in, n_out)
    torch.manual_seed(0)
    img2, t2, sem2 = scale_crop(*_sample(), scale_range=[0.25, 0.25], crop_size=[24, 48])
    assert img2.shape[-2:] == sem2.shape == (10, 20)                  # smaller than the crop: the image's size
    assert torch.equal(t2["masks"].bool().any(0), sem2 == 3)


# ----------------------------------------------------------------------------- Cityscapes layout
def test_cityscapes_layout_converts_to_coco_panoptic_and_instances(tmp_path):
    from paperlib.data.cityscapes import cityscapes_coco_files, cityscapes_to_coco
    from paperlib.data.panoptic import read_panoptic_png

    root = write_cityscapes(tmp_path / "cs")
    pan, inst = cityscapes_to_coco(root, "train")
    user = json.loads((root / "gtFine" / "cityscapes_panoptic_train.json").read_text())
    assert [im["id"] for im in pan["images"]] == [1, 2, 3]
    assert [im["cityscapes_id"] for im in pan["images"]] == [a["image_id"] for a in user["annotations"]]
    assert pan["images"][0]["file_name"] == "aachen/aachen_000000_000019_leftImg8bit.png"
    assert [c["id"] for c in inst["categories"]] == [24, 26]
    segs = {(k + 1, s["id"]): s for k, a in enumerate(user["annotations"]) for s in a["segments_info"]}
    things = [s for (i, sid), s in segs.items() if s["category_id"] in (24, 26)]
    assert len(inst["annotations"]) == len(things)                  # every thing segment, crowd groups included
    png = read_panoptic_png(root / "gtFine" / "cityscapes_panoptic_train" / user["annotations"][0]["file_name"])
    from pycocotools import mask as mask_utils
    for a in inst["annotations"]:
        if a["image_id"] == 1:
            m = mask_utils.decode(a["segmentation"]).astype(bool)
            sid = np.unique(png[m])
            assert len(sid) == 1 and a["area"] == segs[(1, int(sid[0]))]["area"] == m.sum()
            assert a["iscrowd"] == int(sid[0] < 1000) and a["category_id"] == (sid[0] // 1000 or sid[0])
    first = cityscapes_coco_files(root, "val")
    assert cityscapes_coco_files(root, "val") == first              # converted once, cached
    with pytest.raises(ValueError, match="split"):
        cityscapes_coco_files(root, "test")


def test_bad_cityscapes_layouts_name_what_is_missing(tmp_path):
    from paperlib.config import get_config
    from paperlib.data.cityscapes import cityscapes_to_coco
    from paperlib.experiments import panoptic_fpn as X

    root = write_cityscapes(tmp_path / "cs", n_train=1, n_val=1)
    cfg = get_config(SLUG, "paper", dict(TOY, dataset="cityscapes"))
    with pytest.raises(ValueError, match="leftImg8bit"):
        X.prepare(cfg, None)
    (root / "leftImg8bit" / "val" / "frankfurt" / "frankfurt_000000_000019_leftImg8bit.png").unlink()
    with pytest.raises(FileNotFoundError, match="frankfurt_000000_000019"):
        cityscapes_to_coco(root, "val")
    shutil.rmtree(root / "gtFine" / "cityscapes_panoptic_train")
    with pytest.raises(FileNotFoundError, match="gtFine/cityscapes_panoptic_train"):
        X.prepare(cfg, str(root))
    (root / "gtFine" / "cityscapes_panoptic_val.json").unlink()
    with pytest.raises(FileNotFoundError, match="cityscapes_panoptic_val.json"):
        cityscapes_to_coco(root, "val")


def test_cityscapes_items_train_on_crops_and_evaluate_at_full_size(tmp_path):
    from paperlib.config import get_config
    from paperlib.experiments import panoptic_fpn as X

    root = write_cityscapes(tmp_path / "cs")
    cfg = get_config(SLUG, "paper", dict(TOY, dataset="cityscapes"))
    data = X.prepare(cfg, str(root))
    tr, va = data.train, data.val
    assert tr.sem_cat_ids == [7, 23, 24, 26] and tr.num_sem_classes == 4       # all classes, category order
    assert va.stuff_map(np.array([0, 1, 2, 3, 255])).tolist() == [7, 23, 0, 0, 0]   # things -> other in the merge
    torch.manual_seed(1)
    for i in range(len(tr)):
        img, t = tr[i]
        assert img.shape[-2:] == t["sem_seg"].shape == (32, 64)
        for m, lab in zip(t["masks"].bool(), t["labels"]):         # every instance's pixels carry its class
            cat = tr.label_to_cat_id[int(lab)]
            assert (t["sem_seg"][m] == tr.sem_cat_ids.index(cat)).all()
    img, t = va[0]
    assert img.shape[-2:] == t["sem_seg"].shape == (64, 128)                # val: full images
    m = X.build(cfg, data, lambda_s=cfg.joint_lambda_s)
    assert m.sem_head.predictor.out_channels == 4
    tf = m.detector.transform
    tf.train()
    assert tf([torch.rand(3, 32, 64)])[0].image_sizes == [(32, 64)]      # the crop is not resized in training
    tf.eval()
    assert tf([torch.rand(3, 32, 64)])[0].image_sizes == [(64, 128)]     # evaluation: min_size / max_size
    cfg.batch_size = 4                                                    # 3 images: no full batch
    with pytest.raises(ValueError, match="no full batch of batch_size = 4"):
        X.train_net(m, cfg, data, "cpu", seed=0)


# ----------------------------------------------------------------------------- the notebook's paper path
def test_paper_profile_on_cityscapes_end_to_end(tmp_path):
    from paperlib.experiments.panoptic_fpn_cityscapes import median_rows
    from paperlib.metrics.pq import pq_compute

    root = write_cityscapes(tmp_path / "cs")
    over = dict(TOY, dataset="cityscapes", seeds=[0, 1])
    ns = run_notebook_cells(SLUG, "paper", tmp_path / "out", overrides=over, data_root=root)
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.joint_lambda_s, cfg.lambda_i, cfg.lr_steps, cfg.sem_classes) == (
        "cityscapes", 1.0, 0.5, [2, 3], "all")
    net = ns["joint"][(1.0, 0)]
    assert net.conf.shape == (2, 4, 4) and np.isfinite(net.miou) and len(net.hist["train_loss"]) >= 1
    med = ns["med"]
    per_seed = [r for r in ns["t3"]["rows"] if r["model"] == "joint"]
    pq = next(r for r in med if r["model"] == "joint" and r["metric"] == "PQ")
    assert pq["seeds"] == 2 and pq["paper"] == 57.7
    assert pq["median"] == pytest.approx(float(np.median([r["PQ"] for r in per_seed])))
    assert pq["spread"] == pytest.approx(max(r["PQ"] for r in per_seed) - min(r["PQ"] for r in per_seed))
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "paper" and set(res["metrics"]["joint_median"]) == {"PQ", "PQ_Th", "PQ_St", "mIoU", "AP"}
    arts = {a.rsplit("/", 1)[-1] for a in res["artifacts"]}
    assert "table3a_cityscapes_median.csv" in arts, arts
    out = tmp_path / "out" / SLUG       # the saved prediction scores the same PQ against the converted GT
    pan_json = ns["data"].val.folder.parent / "cityscapes_panoptic_val.json"      # the user's PNG folder
    from paperlib.data.cityscapes import cityscapes_coco_files
    conv = cityscapes_coco_files(root, "val")[2]
    assert len(json.loads(pan_json.read_text())["annotations"]) == 2
    r = pq_compute(str(conv), str(out / "panoptic_val_pred.json"), gt_folder=str(ns["data"].val.folder))
    assert r["All"]["pq"] == pytest.approx(net.pq["res"]["All"]["pq"], abs=1e-12)
    assert median_rows([]) == []


def test_rle_masks_decode_to_the_same_masks_and_merge():
    from paperlib.data.panoptic import combine_semantic_instances
    from paperlib.engine.panoptic import RLEMasks
    from paperlib.experiments.panoptic_fpn_report import a4_case

    sem, masks, scores, labels, stuff = a4_case()
    r = RLEMasks(masks)
    assert r.shape == masks.shape and len(r) == 4 and np.array_equal(np.asarray(r), masks)
    kw = dict(stuff_category_ids=stuff, confidence_thr=0.5, overlap_thr=0.5, stuff_area_limit=10)
    a, b = combine_semantic_instances(sem, masks, scores, labels, **kw), combine_semantic_instances(
        sem, r, scores, labels, **kw)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    empty = RLEMasks(np.zeros((0, 5, 7), bool))
    assert empty.shape == (0, 5, 7) and np.asarray(empty).shape == (0, 5, 7)
