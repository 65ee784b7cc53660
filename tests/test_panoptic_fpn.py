"""06 Panoptic FPN: semantic head (A1, A2), targets (A5), the joint model's losses and outputs, the merge
(A4) shared with 04, the registry, the config, and the gpu / paper code path (COCO panoptic layout from a
data root) at toy scale on CPU."""
import json
import shutil

import numpy as np
import pytest
import torch

from paperlib.data.panoptic import combine_semantic_instances
from paperlib.data.panoptic_dataset import IGNORE, label_map, stuff_from_target
from paperlib.models.panoptic_fpn import PanopticFPN, SemSegFPNHead, build_panoptic_fpn, head_stages, resize_pad_targets

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(backbone="tiny", fpn_channels=16, sem_channels=8, representation_size=32, min_size=64, max_size=64,
            anchor_sizes=(8, 16, 32, 64, 128), canonical_scale=56, rpn_pre_nms_top_n_train=50,
            rpn_post_nms_top_n_train=50, rpn_post_nms_top_n_test=50, box_batch_size_per_image=32)


def _params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------- A1, A2: the head
def test_a1_semantic_head_structure_and_parameter_count():
    head = SemSegFPNHead(256, 54, 128)
    assert [head_stages(s) for s in (4, 8, 16, 32)] == [1, 1, 2, 3]
    convs = [m for m in head.scale_heads.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 7 and sum(c.in_channels == 256 for c in convs) == 4
    assert all(c.bias is None for c in convs)                      # no bias when normalised
    gns = [m for m in head.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(gns) == 7 and all(g.num_groups == 32 for g in gns)
    ups = [m for m in head.scale_heads[0].modules() if isinstance(m, torch.nn.Upsample)]
    assert ups == []                                               # P2: no up-sampling
    up3 = [m for m in head.scale_heads[3].modules() if isinstance(m, torch.nn.Upsample)]
    assert len(up3) == 3 and all(u.mode == "bilinear" and u.align_corners is False for u in up3)
    assert _params(head) == 4 * (256 * 128 * 9 + 256) + 3 * (128 * 128 * 9 + 256) + (128 * 54 + 54) == 1_630_774
    # without a norm the convs carry biases; concat widens the predictor's input
    assert _params(SemSegFPNHead(256, 54, 128, norm=None)) == 1_630_774 - 7 * 256 + 7 * 128
    assert SemSegFPNHead(256, 54, 128, aggregate="concat").predictor.in_channels == 512
    with pytest.raises(ValueError, match="aggregate"):
        SemSegFPNHead(256, 54, aggregate="max")


def test_a2_shapes_at_512():
    head = SemSegFPNHead(256, 54, 128).eval()
    feats = {k: torch.randn(1, 256, 512 // s, 512 // s) for k, s in zip(("p2", "p3", "p4", "p5"), (4, 8, 16, 32))}
    with torch.no_grad():
        assert [tuple(b.shape) for b in head.branches(feats)] == [(1, 128, 128, 128)] * 4
        assert tuple(head(feats).shape) == (1, 54, 512, 512)


def test_semantic_loss_ignores_255():
    logits = torch.randn(1, 3, 4, 4)
    t = torch.full((1, 4, 4), IGNORE)
    t[0, 0, 0] = 2
    assert torch.isclose(SemSegFPNHead.loss(logits, t), torch.nn.functional.cross_entropy(logits[:, :, 0, 0], t[:, 0, 0]))
    assert SemSegFPNHead.loss(logits, torch.full((1, 4, 4), IGNORE)).item() == 0.0


# ----------------------------------------------------------------------------- A5 and the target transform
def test_a5_target_mapping_round_trip():
    rng = np.random.default_rng(3)
    pan = rng.integers(0, 7, size=(20, 24))
    segs = [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2}, {"id": 3, "category_id": 7},
            {"id": 4, "category_id": 9}, {"id": 5, "category_id": 8}, {"id": 6, "category_id": 99}]   # 99: unknown
    cat = np.array([0, 1, 2, 7, 9, 8, 99])[pan]
    t = label_map(pan, segs, stuff_ids=[7, 8, 9], thing_ids=[1, 2])
    assert t.dtype == np.uint8
    assert (t[np.isin(cat, [1, 2])] == 0).all()
    assert (t[cat == 7] == 1).all() and (t[cat == 8] == 2).all() and (t[cat == 9] == 3).all()   # list order
    assert (t[(cat == 0) | (cat == 99)] == IGNORE).all()
    back = stuff_from_target(t, [7, 8, 9])
    stuff = np.isin(cat, [7, 8, 9])
    assert np.array_equal(back[stuff], cat[stuff]) and not np.isin(back[~stuff], [7, 8, 9]).any()


def test_resize_pad_targets_nearest_then_255():
    s = torch.arange(16).reshape(4, 4)
    out = resize_pad_targets([s], [(8, 8)], (12, 16))
    assert out.shape == (1, 12, 16)
    assert torch.equal(out[0, :8, :8], s.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert (out[0, 8:] == IGNORE).all() and (out[0, :, 8:] == IGNORE).all()


# ----------------------------------------------------------------------------- the joint model
def _batch(n=2, size=64):
    g = torch.Generator().manual_seed(0)
    imgs = [torch.rand(3, size, size, generator=g) for _ in range(n)]
    tg = []
    for k in range(n):
        m = torch.zeros(1, size, size, dtype=torch.uint8)
        m[0, 10:30, 12:40] = 1
        sem = torch.randint(0, 3, (size, size), generator=g)
        sem[:, :4] = IGNORE
        tg.append({"boxes": torch.tensor([[12.0, 10, 40, 30]]), "labels": torch.tensor([1 + k % 2]), "masks": m,
                   "sem_seg": sem})
    return imgs, tg


def test_joint_losses_are_weighted_and_rpn_unweighted():
    imgs, tg = _batch()
    losses = {}
    for lam_i, lam_s in ((1.0, 1.0), (0.5, 0.25)):
        torch.manual_seed(0)
        m = build_panoptic_fpn(num_things=2, num_stuff=2, loss_weight_sem=lam_s, loss_weight_instance=lam_i, **TINY)
        torch.manual_seed(1)
        losses[lam_i] = {k: v.item() for k, v in m(imgs, tg).items()}
    a, b = losses[1.0], losses[0.5]
    for k in ("loss_classifier", "loss_box_reg", "loss_mask"):
        assert b[k] == pytest.approx(0.5 * a[k], rel=1e-5)
    for k in ("loss_objectness", "loss_rpn_box_reg"):
        assert b[k] == pytest.approx(a[k], rel=1e-5)
    assert b["loss_sem_seg"] == pytest.approx(0.25 * a["loss_sem_seg"], rel=1e-5)
    torch.manual_seed(0)
    det_only = build_panoptic_fpn(num_things=2, num_stuff=2, loss_weight_sem=0.0, **TINY)
    assert "loss_sem_seg" not in det_only(imgs, tg)
    with pytest.raises(ValueError, match="sem_seg"):
        build_panoptic_fpn(num_things=2, num_stuff=2, **TINY)(imgs, [{k: v for k, v in t.items() if k != "sem_seg"}
                                                                    for t in tg])


def test_eval_outputs_at_the_original_size_and_semantic_only_model():
    torch.manual_seed(0)
    m = build_panoptic_fpn(num_things=2, num_stuff=3, **TINY).eval()
    imgs = [torch.rand(3, 48, 80), torch.rand(3, 64, 64)]       # resized by the transform, then back
    with torch.no_grad():
        out = m(imgs)
    assert [tuple(o["sem_seg"].shape) for o in out] == [(4, 48, 80), (4, 64, 64)]
    assert out[0]["masks"].shape[-2:] == (48, 80)
    sem_only = build_panoptic_fpn(num_things=2, num_stuff=3, instance=False, **TINY)
    assert not hasattr(sem_only, "detector")
    assert _params(sem_only) < _params(m)
    imgs, tg = _batch()
    assert set(sem_only.train()(imgs, tg)) == {"loss_sem_seg"}


def test_registered_panoptic_models_have_exact_parameter_counts():
    from paperlib.models import create_model, get_model_meta, list_models

    names = list_models("panoptic_fpn_*")
    assert "panoptic_fpn_r50_fpn_gn" in names and "panoptic_fpn_r101_fpn" in names
    m = create_model("panoptic_fpn_r50_fpn_gn")
    assert isinstance(m, PanopticFPN) and _params(m) == get_model_meta("panoptic_fpn_r50_fpn_gn")["params"]
    assert _params(m.sem_head) == 1_630_774
    assert m.loss_weight_sem == 0.5 and m.loss_weight_instance == 1.0


# ----------------------------------------------------------------------------- A4: the one merge
def test_a4_golden_merge_case():
    from paperlib.experiments.panoptic_fpn_report import A4_EXPECTED, a4_case, a4_result

    ids, segs = a4_result()
    assert [(s["id"], s["category_id"], s["area"]) for s in segs] == A4_EXPECTED["segments"] == \
        [(1, 1, 9), (2, 1, 5), (3, 11, 44)]
    assert int((ids == 0).sum()) == 6
    assert (ids[0:3, 0:3] == 1).all() and int((ids == 2).sum()) == 5 and (ids[5:8, 5:8] != 0).all()
    assert (ids[6:8, 0:2] == 0).all()                                # grass below the limit -> VOID
    # unsorted input: the loop still stops at the first low score of the sorted list
    sem, masks, scores, labels, stuff = a4_case()
    perm = [3, 1, 2, 0]
    ids2, segs2 = combine_semantic_instances(sem, masks[perm], scores[perm], labels[perm], stuff_category_ids=stuff,
                                             stuff_area_limit=10)
    assert np.array_equal(ids2, ids) and segs2 == segs
    # a NaN score never enters (the old up-front filter dropped it; the loop stops there)
    nan_mask = np.zeros((1, 8, 8), bool)
    nan_mask[0, 6:8, 2:8] = True
    ids3, segs3 = combine_semantic_instances(sem, np.concatenate([masks, nan_mask]), np.append(scores, np.nan),
                                             np.append(labels, 1), stuff_category_ids=stuff, stuff_area_limit=10)
    assert np.array_equal(ids3, ids) and segs3 == segs


def test_merge_stuff_over_things_ablation():
    from paperlib.experiments.panoptic_fpn_report import a4_result

    ids, segs = a4_result(things_over_stuff=False)
    # sky (44 px) is placed first; A and B lie on "other" pixels only, so they keep their pixels
    assert [(s["category_id"], s["area"]) for s in segs] == [(11, 44), (1, 9), (1, 5)]
    sem = np.full((4, 4), 11)
    m = np.zeros((1, 4, 4), bool)
    m[0, :2, :2] = True
    _, s1 = combine_semantic_instances(sem, m, [0.9], [1], stuff_category_ids=[11], stuff_area_limit=0)
    _, s2 = combine_semantic_instances(sem, m, [0.9], [1], stuff_category_ids=[11], stuff_area_limit=0,
                                       things_over_stuff=False)
    assert [(s["category_id"], s["area"]) for s in s1] == [(1, 4), (11, 12)]
    assert [(s["category_id"], s["area"]) for s in s2] == [(11, 16)]    # the thing is covered: dropped


def test_exact_checks_all_held():
    from paperlib.experiments.panoptic_fpn_report import exact_checks

    rows = exact_checks()
    assert {r["anchor"] for r in rows} == {"A1", "A2", "A3", "A4", "A5", "A6"}
    assert all(r["verdict"] == "held" for r in rows), [r for r in rows if r["verdict"] != "held"]


# ----------------------------------------------------------------------------- config
def test_config_ranges():
    from paperlib.configs.panoptic_fpn import Config

    with pytest.raises(ValueError, match="overlap_thr"):
        Config(overlap_thr=1.5)
    with pytest.raises(ValueError, match="width_factors"):
        Config(width_factors=[0.25, 0.5])
    with pytest.raises(ValueError, match="lambdas_s"):
        Config(lambdas_s=[0.5, 1.0])
    with pytest.raises(ValueError, match="bucket_probs"):
        Config(bucket_probs=[0.0, 1.0])
    with pytest.raises(ValueError, match="bucket_probs"):
        Config(bucket_probs=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="crowd_prob"):
        Config(crowd_prob=1.5)


# ----------------------------------------------------------------------------- gpu / paper path at toy scale
def _coco_layout(tmp_path):
    """A tiny COCO panoptic 2017 layout (what the gpu / paper profiles read from data_root), written from
    synthetic scenes under COCO's file names."""
    from paperlib.data.scenes import generate_scenes

    src = generate_scenes(tmp_path / "src", n_train=4, n_val=3, image_size=64, max_objects=3, num_things=3,
                          num_stuff=3, seed=1)
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        shutil.copytree(src / split, root / f"{split}2017")
        shutil.copy(src / "annotations" / f"instances_{split}.json", root / "annotations" / f"instances_{split}2017.json")
        shutil.copy(src / "annotations" / f"panoptic_{split}.json", root / "annotations" / f"panoptic_{split}2017.json")
        shutil.copytree(src / "annotations" / f"panoptic_{split}", root / "annotations" / f"panoptic_{split}2017")
    return root


def test_paper_profile_path_on_a_fake_coco_panoptic_layout(tmp_path):
    from paperlib.config import get_config
    from paperlib.experiments import panoptic_fpn as X
    from paperlib.experiments import panoptic_fpn_report as R
    from paperlib.metrics.pq import pq_compute

    root = _coco_layout(tmp_path)
    cfg = get_config("06_panoptic_fpn", "paper", overrides=dict(
        backbone="tiny", norm="gn", head_norm="gn", backbone_weights=None, fpn_channels=16, sem_channels=8,
        representation_size=32, deeper_backbone_weights=None,     # T3b: R101's file is not needed here
        min_size=64, max_size=64, anchor_sizes=[8, 16, 32, 64, 128], canonical_scale=56, rpn_pre_nms_top_n_train=50,
        rpn_post_nms_top_n_train=50, rpn_post_nms_top_n_test=50, box_batch_size_per_image=32, iters=2,
        batch_size=2, threads=1, num_workers=0))
    assert cfg.dataset == "coco" and cfg.joint_lambda_s == 0.5 and cfg.lambda_i == 1.0
    data = X.prepare(cfg, str(root))
    assert len(data.train) == 4 and len(data.val) == 3 and len(data.stuff_ids) == 3
    img, t = data.train[0]
    assert t["sem_seg"].shape == img.shape[-2:] and set(t) >= {"boxes", "labels", "masks", "sem_seg"}
    m = X.build(cfg, data, lambda_s=cfg.joint_lambda_s)
    hist = X.train_net(m, cfg, data, "cpu", seed=0)
    assert len(hist["train_loss"]) == 1 and np.isfinite(hist["train_loss"][-1])   # 2 iterations = 1 epoch of 4
    net = X.evaluate("joint", m, hist, cfg, data, "cpu", 0)
    assert net.conf.shape == (3, 4, 4) and np.isfinite(net.miou)
    merged = X.merge_all(net.preds, data, cfg)
    js = R.write_predictions(tmp_path, data, merged)
    res = pq_compute(str(root / "annotations" / "panoptic_val2017.json"), js)
    assert res["All"]["pq"] == pytest.approx(net.pq["res"]["All"]["pq"], abs=1e-12)
    assert len(json.load(open(js))["annotations"]) == 3
    with pytest.raises(FileNotFoundError, match="panoptic_val2017"):
        shutil.rmtree(root / "annotations" / "panoptic_val2017")
        X.prepare(cfg, str(root))


# ----------------------------------------------------------------------------- workers and compute
def test_jobs_in_worker_processes_equal_the_serial_run():
    from paperlib.config import get_config
    from paperlib.experiments import panoptic_fpn as X

    cfg = get_config("06_panoptic_fpn", "ci", overrides=dict(iters=2, workers=2))
    data = X.prepare(cfg)
    jobs = [j for j in X.study_jobs(cfg) if j["key"][0] == "sem"]
    assert len(jobs) == 2                                     # 1x sum and 1x concat, one seed
    pooled = X.run_jobs(cfg, data, "cpu", jobs)
    cfg.workers = 1
    serial = X.run_jobs(cfg, data, "cpu", jobs)
    assert set(pooled) == set(serial) == {j["key"] for j in jobs}
    for k in serial:
        assert np.array_equal(pooled[k].conf, serial[k].conf)


def test_mac_parts_count_the_backbone_and_the_semantic_branch_exactly():
    from paperlib.experiments.panoptic_fpn import mac_parts
    from paperlib.metrics.complexity import complexity

    torch.manual_seed(0)
    m = build_panoptic_fpn(num_things=2, num_stuff=3, **TINY)
    p = mac_parts(m, 64, 64, n_rois=10, n_dets=5)
    assert p["backbone"] == complexity(m.detector.backbone, (3, 64, 64))["flops"]
    c = TINY["fpn_channels"]
    # semantic branch at 64 px: P2..P5 are 16, 8, 4, 2 px; convs c -> w at each level's size, then w -> w after
    # each 2x up-sampling (P4: at 8; P5: at 4 and 8); the 1x1 predictor (w -> 4, bias) at 16 x 16; no conv bias
    w = TINY["sem_channels"]
    expected = 9 * c * w * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2) + 9 * w * w * (8 * 8 + 4 * 4 + 8 * 8) + (4 * w + 4) * 16 * 16
    assert p["semantic"] == expected
    assert p["roi"] > 0 and p["rpn"] > 0



def _fake_net(miou_pct, n_img=30, seed=0, ap=0.3):
    """A Net whose per-image 2-class confusions give about ``miou_pct`` mIoU (a, b with a / (a + 2b) = q)."""
    from paperlib.experiments.panoptic_fpn import Net

    rng = np.random.default_rng(seed)
    q = miou_pct / 100
    conf = np.zeros((n_img, 2, 2))
    for i in range(n_img):
        a = 1000.0
        b = a * (1 - q) / (2 * q) * rng.uniform(0.9, 1.1)
        conf[i] = [[a, b], [b, a]]
    return Net("fake", seed, [], {}, ap={"AP": ap, "AP50": ap, "AP75": ap}, conf=conf)


def test_claims_follow_the_numbers_with_two_seeds():
    """C1's parts from planted mIoUs: 0.25x clearly below 0.5x (held), 0.5x ~ 1x and sum ~ concat (held)."""
    from types import SimpleNamespace

    from paperlib.config import get_config
    from paperlib.experiments import panoptic_fpn_report as R

    cfg = get_config("06_panoptic_fpn", "default", overrides=dict(n_boot=100, variants=[]))   # C4: its own test
    plant = {0.25: 50.0, 0.5: 70.0, 1.0: 70.3}
    sem = {(f, "sum", s): _fake_net(m + 0.2 * s, seed=s) for f, m in plant.items() for s in (0, 1)}
    sem.update({(1.0, "concat", s): _fake_net(70.1 + 0.2 * s, seed=10 + s) for s in (0, 1)})
    joint = {(lam, s): _fake_net(60.0 + 10 * lam + 0.1 * s, seed=20 + s, ap=0.3 - 0.1 * lam) for lam in (0.0, 0.5, 1.0)
             for s in (0, 1)}
    counts = np.ones((30, 2, 4))
    merge = {s: [{"varied": "default", "stuff_area_frac": 0.004, "PQ_St": 50.0, "PQ_Th": 10.0, "_counts": counts},
                 {"varied": "stuff_area_frac", "stuff_area_frac": 0.0, "PQ_St": 50.0, "PQ_Th": 10.0,
                  "_counts": counts}] for s in (0, 1)}
    t3 = {"rows": [{"model": m, "seed": s, "PQ": 40.0 + 0.1 * s} for m in ("joint", "separate") for s in (0, 1)],
          "macs": {"ratio_joint_separate": 0.99, "paper_r50": {"ratio_joint_separate": 0.67}}}
    data = SimpleNamespace(val=[0] * 30, thing_ids=[1], categories=[{"id": 1}, {"id": 2}])
    checks = [{"anchor": "A4", "check": "x", "verdict": "held"}]
    out = {c["claim_id"]: c for c in R.claims(cfg, checks=checks, sem=sem, joint=joint, merge_per_seed=merge, t3=t3,
                                              data=data)}
    assert set(out) == {"C1", "C2", "C3", "C4", "C5"}
    assert out["C1"]["verdict"].verdict == "held", out["C1"]["verdict"].evidence
    assert out["C4"]["verdict"].verdict == "inconclusive" and "not run" in str(out["C4"]["verdict"].evidence)
    parts = out["C3"]["verdict"].evidence["parts"]
    assert [p["verdict"] for p in parts] == ["held", "held"]            # PQ within noise; R50 ratio 0.67
    # C5: identical PQ^St with and without the area limit -> the filter's gain is not shown (not held/inconclusive)
    assert out["C5"]["verdict"].verdict != "held"


def test_equivalence_needs_the_noise_band_inside_the_margin():
    """'A ~ B' is held only when |diff| + 2 x seed std < equiv_margin_pts; clearly apart -> not held; a small
    diff with a wide seed spread (it once read 'held: |diff| 0.34 < 23.8') -> inconclusive."""
    from paperlib.config import get_config
    from paperlib.experiments import panoptic_fpn_report as R

    cfg = get_config("06_panoptic_fpn", "default", overrides=dict(equiv_margin_pts=2.0))
    assert R._approx(cfg, [70.0, 71.0], [70.2, 71.1]).verdict == "held"          # band 0.15 + 2 x 0.07
    assert R._approx(cfg, [70.0, 71.0], [75.0, 76.2]).verdict == "not held"      # 5.1 apart, sd 0.14
    wide = R._approx(cfg, [22.5, 28.2], [31.3, 20.0])
    assert wide.verdict == "inconclusive" and "equivalence margin" in wide.reason
    assert R._approx(cfg, [70.0], [70.1]).verdict == "inconclusive"             # one seed: no noise estimate


def test_example_colours_follow_the_category_in_both_panels():
    """The same category gets the same colour in the ground truth and the prediction, whatever the segment
    ids; boundaries between two instances of one category are drawn; VOID stays black."""
    from paperlib.plots import panoptic_colour

    g = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, 3, 3]])
    p = np.array([[7, 7, 9, 9], [7, 7, 9, 9], [0, 0, 5, 5]])
    cg = panoptic_colour(g, [dict(id=1, category_id=4), dict(id=2, category_id=4), dict(id=3, category_id=2)])
    cp = panoptic_colour(p, [dict(id=7, category_id=4), dict(id=9, category_id=4), dict(id=5, category_id=2)])
    assert (cg == cp).all() and (cg[2, 0] == 0).all()
    assert (cg[0, 0] == cg[0, 3]).all()                         # same category, same base colour ...
    assert (cg[0, 2] < cg[0, 3]).all()                          # ... with the boundary between them darkened
    pal = {4: (200, 10, 10), 2: (10, 200, 10)}                  # 04's categories carry their own colours
    cq = panoptic_colour(p, [dict(id=7, category_id=4), dict(id=9, category_id=4), dict(id=5, category_id=2)], pal)
    assert tuple(cq[0, 0]) == (200, 10, 10) and tuple(cq[2, 3]) == (3, 70, 3)   # row 2 is all boundary: x 0.35
