"""FPN experiment orchestration at a tiny scale: Table 1 / Table 3 rows, claims, figures."""
import dataclasses

import numpy as np
import pytest
import torch

from paperlib.config import get_config
from paperlib.engine.detection import _flip_boxes, _no_flip
from paperlib.experiments import fpn, fpn_checks
from paperlib.metrics.stats import Verdict


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("PAPERLIB_DATA", str(tmp_path_factory.mktemp("data")))
    torch.set_num_threads(1)
    cfg = get_config("02_fpn", "ci", {"n_train": 4, "n_val": 3, "max_steps": 2, "n_boot": 20, "n_boot_ap": 5,
                                      "progress": False})
    data = fpn.load_data(cfg)
    rpn = {v: fpn.run_rpn(v, cfg, data, "cpu") for v in ("c4", "fpn", "no_lateral")}
    det = {v: fpn.run_detector(v, cfg, data, "cpu", rpn=rpn[v]) for v in ("c4", "fpn")}   # Table 1's RPNs
    return cfg, data, rpn, det


@pytest.fixture(scope="module")
def table2_run(small_run):
    cfg, data, rpn, det = small_run
    props = fpn.fixed_proposals(rpn["fpn"]["model"], cfg, data, "cpu")
    frc = {v: fpn.run_fast_rcnn(v, cfg, data, props, "cpu") for v in ("c4", "c5", "fpn")}
    return props, frc


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_config_profiles():
    for p in ("ci", "default", "gpu", "paper"):
        c = get_config("02_fpn", p, {})
        assert set(c.rpn_variants) <= {"c4", "c5", "fpn", "bottom_up", "no_lateral", "finest"}
    assert fpn.anchor_sizes(get_config("02_fpn", "paper", {})) == (32, 64, 128, 256, 512)
    assert fpn.canonical_scale(get_config("02_fpn", "paper", {})) == 224
    d = get_config("02_fpn", "default", {})
    assert fpn.anchor_sizes(d) == (16, 32, 64, 128, 256) and fpn.canonical_scale(d) == 112


def test_tables_and_claims(small_run):
    cfg, data, rpn, det = small_run
    rows = fpn.table1_rows(rpn, cfg)
    assert [r["row"] for r in rows] == ["(a) conv4", "(c) FPN", "(e) top-down, no lateral"]
    assert all(0 <= r["AR@100"] <= 100 for r in rows)
    assert rows[1]["anchors"] == 3 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1)
    t3 = fpn.table3_rows(det)
    assert {r["row"] for r in t3} == {"(a) conv4", "(c) FPN"} and all(r["s/image"] > 0 for r in t3)
    fpn.paired_timing(det, data["val"], "cpu", repeats=1)
    assert all(len(r["times_paired"]) == 3 for r in det.values())
    for v in (fpn.claim_c1(rpn, cfg), fpn.claim_c2(rpn, cfg), fpn.claim_c3(det, cfg), fpn.claim_c4(det, cfg)):
        assert isinstance(v, Verdict)
    assert "small-object gain" in fpn.small_object_note(rpn, cfg)
    d = fpn.data_rows(data)
    assert d[0]["images"] == 4 and d[1]["images"] == 3
    assert sum(r["gt_boxes"] for r in fpn_checks.level_histogram(data["coco_gt"], cfg)) == d[1]["instances"]


def test_figures(small_run):
    import matplotlib
    matplotlib.use("Agg")
    cfg, data, rpn, det = small_run
    for fig in (fpn.ar_curve(rpn, cfg), fpn.small_object_figure(data, rpn, det, cfg, n_images=2),
                fpn_checks.level_figure(fpn_checks.level_histogram(data["coco_gt"], cfg))):
        assert fig.axes


def test_claims_are_declared_library_side(small_run):
    cfg, data, rpn, det = small_run
    cs = fpn.claims(rpn, det, {}, cfg)
    assert [c["claim_id"] for c in cs] == ["C1", "C2", "C3", "C4"]
    assert all(isinstance(c["verdict"], Verdict) and c["statement"] and c["paper"] for c in cs)
    assert "AR@100" in cs[0]["statement"] and set(cs[0]["evidence"]["gain_by_size_points"]) == {
        "all", "small", "medium", "large"}
    assert cs[1]["paper"] == {"AR1k": {"fpn": 56.3, "bottom_up": 49.5, "no_lateral": 46.1, "finest": 51.3}}
    assert cs[2]["statement"] == fpn.C3_STATEMENT and cs[3]["verdict"] == fpn.claim_c4(det, cfg)
    no_c4 = fpn.claims({"fpn": rpn["fpn"]}, {}, {}, cfg)                 # missing arms: not tested, no crash
    assert no_c4[0]["evidence"]["gain_by_size_points"] == {} and no_c4[0]["verdict"].verdict == "inconclusive"


def test_exact_checks_hold():
    chk = fpn_checks.exact_checks()
    assert fpn_checks.exact_verdict(chk).verdict == "held"
    a1 = fpn_checks.exact_claim(chk)
    assert a1["claim_id"] == "A1" and a1["trained"] is False and a1["verdict"].verdict == "held"
    assert a1["paper"] == {"fpn_neck": 3344384, "rpn_head": 593935, "box_head_fcs": 13895680, "anchors_800x1088": 217413}
    rows = fpn_checks.exact_rows(chk)
    assert len(rows) == len(chk["eq1_expected"]) + len(chk["anchor_counts_800x1088"]) + len(chk["r50_params"])
    assert all(r["ours"] == r["expected"] for r in rows)
    rows = fpn_checks.pyramid_shapes(get_config("02_fpn", "ci", {}), size=64)
    assert [r["P shape"] for r in rows] == [(32, 16, 16), (32, 8, 8), (32, 4, 4), (32, 2, 2), (32, 1, 1)]


def test_config_validation():
    from paperlib.config import ConfigError

    with pytest.raises(ConfigError, match="fast_rcnn_variants: unknown variant"):
        get_config("02_fpn", "ci", {"fast_rcnn_variants": ["c4", "p3"]})
    with pytest.raises(ConfigError, match="rpn_variants: unknown variant"):
        get_config("02_fpn", "ci", {"rpn_variants": ["fpn", "C4"]})
    with pytest.raises(ConfigError, match="rpn_variants must include 'fpn'"):
        get_config("02_fpn", "ci", {"rpn_variants": ["c4"]})
    assert get_config("02_fpn", "ci", {"rpn_variants": ["c4"], "fast_rcnn_variants": []}).rpn_variants == ["c4"]
    with pytest.raises(ConfigError, match="fast_rcnn_step_iters"):
        get_config("02_fpn", "ci", {"fast_rcnn_iters": 10, "fast_rcnn_step_iters": 10})
    with pytest.raises(ConfigError, match="fast_rcnn_proposals_test"):
        get_config("02_fpn", "ci", {"fast_rcnn_proposals_test": 0})
    # Table 2 is off at default (its run, outputs and time unchanged) and on at ci / gpu / paper
    assert get_config("02_fpn", "default", {}).fast_rcnn_variants == []
    assert get_config("02_fpn", "ci", {}).fast_rcnn_variants == ["c4", "fpn"]
    assert get_config("02_fpn", "gpu", {}).fast_rcnn_variants == list(fpn.PAPER_TABLE2)


def test_paper_profile_is_the_spec_recipe():
    """Spec 'Training (paper)': 8 GPUs x 2 images; RPN lr 0.02 for 30k then 0.002 for 10k iterations;
    Fast R-CNN lr 0.02 for 60k then 0.002 for 20k, 512 RoIs / image, 2000 / 1000 proposals per image
    at train / test; step schedule. Checked on the engine's schedule itself."""
    from paperlib.engine import lr_at

    c = get_config("02_fpn", "paper", {})
    assert c.fast_rcnn_variants == ["c4", "c5", "fpn", "bottom_up", "no_lateral", "finest"] == list(fpn.PAPER_TABLE2)
    assert (c.fast_rcnn_proposals_train, c.fast_rcnn_proposals_test, c.box_batch_size_per_image) == (2000, 1000, 512)
    assert (c.lr, c.batch_size * 8, c.weight_decay, c.rpn_post_nms_train) == (0.02, 16, 1e-4, 2000)
    spe = 118287 // 16                       # COCO train2017 on 8 GPUs x 2 images (drop_last)
    for kind, total, step in (("rpn", 40000, 30000), ("fast_rcnn", 80000, 60000), ("det", 80000, 60000)):
        assert (getattr(c, f"{kind}_iters"), getattr(c, f"{kind}_step_iters")) == (total, step)
        tc = fpn.train_config(c, getattr(c, f"{kind}_epochs"), steps_per_epoch=spe, iters=total, step_iters=step)
        assert tc.schedule == "step" and tc.max_steps == total and tc.epochs * spe >= total
        assert lr_at((step - 1) / spe, tc) == pytest.approx(0.02)
        assert lr_at(step / spe, tc) == pytest.approx(0.002)
        assert lr_at((total - 1) / spe, tc) == pytest.approx(0.002)
    # epoch schedules (ci / default / gpu) are unchanged: lr drop at 75 % of the epochs, max_steps from cfg
    d = get_config("02_fpn", "default", {})
    tc = fpn.train_config(d, 3, steps_per_epoch=150)
    assert (tc.epochs, tc.milestones, tc.max_steps, tc.warmup_epochs) == (3, [2.25], None, 0.1)
    ci = fpn.train_config(get_config("02_fpn", "ci", {}), 2, steps_per_epoch=4, iters=40000, step_iters=30000)
    assert ci.max_steps == 3                 # ci's max_steps still truncates an iteration schedule


def test_with_proposals_flips_proposals_with_the_image(small_run):
    cfg, data, rpn, det = small_run
    train = data["train"]
    assert train.hflip
    props = {i: train.target(i)["boxes"] for i in train.ids}     # proposals = the GT boxes
    ds = fpn.WithProposals(train, props, hflip=True)
    assert train.hflip                                              # the wrapped dataset is left alone
    torch.manual_seed(0)
    flips = 0
    for _ in range(4):
        for k in range(len(ds)):
            img, t = ds[k]
            assert torch.equal(t["proposals"], t["boxes"])           # flipped together (or not at all)
            plain = _no_flip(train)[k][0]
            flipped = not torch.equal(img, plain)
            flips += flipped
            if flipped:
                assert torch.equal(img, plain.flip(-1))
                torch.testing.assert_close(t["proposals"], _flip_boxes(props[train.ids[k]], img.shape[-1]))
            else:
                torch.testing.assert_close(t["proposals"], props[train.ids[k]])
    assert 0 < flips < 4 * len(ds)
    with pytest.raises(KeyError, match="no proposals"):
        fpn.WithProposals(train, {}, hflip=False)


def test_table2_fixed_proposals_and_claim(small_run, table2_run):
    cfg, data, rpn, det = small_run
    props, frc = table2_run
    # the cached val proposals are the FPN RPN's own top-N (same pre/post-NMS budgets as run_rpn's)
    assert props["top_n"] == {"train": cfg.fast_rcnn_proposals_train, "val": cfg.fast_rcnn_proposals_test}
    assert set(props["train"]) == set(data["train"].ids) and set(props["val"]) == set(data["val"].ids)
    rpn_fpn = rpn["fpn"]["model"].rpn                              # its own budgets restored afterwards
    assert rpn_fpn._post_nms_top_n["testing"] == max(cfg.proposal_budgets + cfg.curve_budgets)
    assert rpn_fpn._pre_nms_top_n["testing"] == cfg.rpn_pre_nms_test
    assert max(cfg.proposal_budgets + cfg.curve_budgets) == cfg.fast_rcnn_proposals_test
    for k, iid in enumerate(data["val"].ids):
        torch.testing.assert_close(props["val"][iid], rpn["fpn"]["outputs"][k]["boxes"])
    assert all(len(b) <= cfg.fast_rcnn_proposals_train for b in props["train"].values())
    assert max(len(b) for b in props["train"].values()) > cfg.fast_rcnn_proposals_test   # the train budget applied
    assert 0 <= props["ar"][f"AR@{cfg.fast_rcnn_proposals_test}"] <= 1
    rows = fpn.table2_rows(frc, props)
    assert [r["row"] for r in rows] == ["(a) conv4", "(b) conv5", "(c) FPN"]
    assert [r["head"] for r in rows] == ["conv5", "2fc", "2fc"]
    assert rows[2]["paper AP@.5/AP/AP_s/AP_m/AP_l"] == "56.9/33.9/17.8/37.7/45.8"
    assert all(0 <= r["AP"] <= 100 and r["train s"] >= 0 for r in rows)
    # C3: Table 3 half alone without Table 2 (unchanged), both halves combined with it
    alone, both = fpn.claim_c3(det, cfg), fpn.claim_c3(det, cfg, frc)
    assert alone == fpn.claim_c3(det, cfg, {}) and fpn.claim_c3_statement({}) == fpn.C3_STATEMENT
    assert fpn.claim_c3_paper({}) == {"AP": [31.6, 33.9], "AP50": [53.1, 56.9]}
    assert len(both.evidence["parts"]) == 2 and both.evidence["parts"][0]["reason"] == alone.reason
    t2 = fpn.claim_c3_table2(frc, cfg)
    assert both.evidence["parts"][1]["reason"] == t2.reason
    assert len(t2.evidence["parts"]) == 4 and t2.evidence["baselines"] == ["c4", "c5"]
    ap = fpn._ap_contrast(frc["c4"]["E"], frc["fpn"]["E"], "all", cfg, ("Table 2 AP", "c4", "fpn"))
    assert ap.evidence["a"] == pytest.approx(rows[0]["AP"]) and ap.evidence["b"] == pytest.approx(rows[2]["AP"])
    assert t2.evidence["parts"][0]["reason"] == ap.reason
    assert fpn.claim_c3_table2({"fpn": frc["fpn"]}, cfg).reason.startswith("Table 2 needs")
    assert "Table 2: Fast R-CNN heads (c4, c5, fpn)" in fpn.fast_rcnn_note(frc, props, cfg)
    assert "beats the C4 (conv5) and C5 (2fc) heads in AP and AP_s (Table 2)" in fpn.claim_c3_statement(frc)
    assert "beats the C4 (conv5) head in" in fpn.claim_c3_statement({"c4": 1, "fpn": 1})


def test_table3_unshared_reuses_each_variants_rpn(small_run):
    """Table 3 = the paper's unshared setting: a Fast R-CNN per variant on the proposals of the same
    variant's (Table 1) RPN, evaluated as RPN -> Fast R-CNN; nothing retrained."""
    from paperlib.models.detection import FastRCNN

    cfg, data, rpn, det = small_run
    assert cfg.shared_features is False and get_config("02_fpn", "default", {}).shared_features is False
    for v in ("c4", "fpn"):
        r = det[v]
        assert isinstance(r["model"], fpn.TwoStage) and isinstance(r["model"].fast_rcnn, FastRCNN)
        assert r["model"].rpn_model is rpn[v]["model"] and r["model"].fast_rcnn.variant == v
        assert r["shared"] is False and r["rpn_trained_here"] is False
        assert r["params"] == rpn[v]["params"] + sum(p.numel() for p in r["model"].fast_rcnn.parameters())
    # the evaluated detections are the Fast R-CNN's on that RPN's top-N test proposals
    val = data["val"]
    m = det["fpn"]["model"]
    props = fpn.rpn_proposals(m.rpn_model, val, "cpu", pre_nms=cfg.rpn_pre_nms_test,
                              post_nms=cfg.fast_rcnn_proposals_test)
    outs = fpn.predict(m.fast_rcnn, val, "cpu", proposals=[props[i] for i in val.ids])
    for a, b in zip(outs, det["fpn"]["outputs"]):
        torch.testing.assert_close(a["boxes"], b["boxes"])
    rows = fpn.table3_rows(det)
    assert [r["proposals"] for r in rows] == ["own c4 RPN (Table 1)", "own fpn RPN (Table 1)"]
    note = fpn.table3_note(det, cfg)
    assert "features not shared" in note and "reused, not retrained" in note
    with pytest.raises(ValueError, match="features are per variant"):
        fpn.run_detector("c4", cfg, data, "cpu", rpn=rpn["fpn"])


def test_table3_trains_a_missing_rpn_and_shared_option(small_run):
    cfg, data, rpn, det = small_run
    r = fpn.run_detector("c5", cfg, data, "cpu")                  # no c5 RPN in Table 1 -> trained here
    assert r["rpn_trained_here"] is True and r["model"].rpn_model.variant == "c5"
    note = fpn.table3_note({"c5": r}, cfg)
    assert "c5 are not in rpn_variants and were trained for Table 3" in note
    from torchvision.models.detection import FasterRCNN

    shared = dataclasses.replace(cfg, shared_features=True)
    j = fpn.run_detector("fpn", shared, data, "cpu")
    assert isinstance(j["model"], FasterRCNN) and j["shared"] is True
    assert fpn.table3_rows({"fpn": j})[0]["proposals"] == "joint RPN (shared features)"
    assert "trained jointly on one shared backbone" in fpn.table3_note({"fpn": j}, shared)


def test_run_notes_are_built_from_cfg():
    d = get_config("02_fpn", "default", {})
    n = fpn.run_note(d, "default", n_train=600)
    for part in ("tiny backbone trained from scratch", "600 synthetic scenes of 256 px", "3 epoch(s) per RPN",
                 "2 epoch(s) per Table 3", "anchors 4 x stride (16, 32, 64, 128, 256)", "canonical size 112",
                 "0.5 x the paper's", "features not shared", "gradient clipping at 10"):
        assert part in n, part
    p = get_config("02_fpn", "paper", {})
    n = fpn.run_note(p, "paper", n_train=118287)
    for part in ("resnet50 backbone initialised from resnet50-0676ba61.pth (pre-trained), norm frozen_bn",
                 "118287 COCO train2017 images (shorter side 800)", "40000 iterations (lr x0.1 after 30000) per RPN",
                 "80000 iterations (lr x0.1 after 60000) per Table 3", "anchors 8 x stride (32, 64, 128, 256, 512)",
                 "canonical size 224 (the paper's)", "no gradient clipping"):
        assert part in n, part
    assert "scratch" not in n and "synthetic" not in n
    g = fpn.run_note(get_config("02_fpn", "gpu", {}), "gpu")
    assert "resnet50 backbone trained from scratch (no pre-training), norm gn" in g and "12 epoch(s)" in g


def test_backbone_profiles_and_weights(tmp_path):
    from paperlib.config import ConfigError
    from paperlib.models.detection import build_backbone

    p = get_config("02_fpn", "paper", {})
    assert (p.backbone, p.norm, p.backbone_weights, p.clip_grad) == ("resnet50", "frozen_bn",
                                                                      "resnet50-0676ba61.pth", None)
    g = get_config("02_fpn", "gpu", {})
    assert (g.backbone, g.norm, g.backbone_weights) == ("resnet50", "gn", None)
    assert get_config("02_fpn", "default", {}).clip_grad == 10.0
    with pytest.raises(ConfigError, match="norm='frozen_bn' needs backbone_weights"):
        get_config("02_fpn", "ci", {"norm": "frozen_bn"})
    with pytest.raises(ConfigError, match="norm='frozen_bn' needs backbone_weights"):
        get_config("02_fpn", "paper", {"backbone_weights": None})
    # paper: a missing file stops the run before any data or training, naming the field and the file
    with pytest.raises(FileNotFoundError, match=r"backbone_weights = 'resnet50-0676ba61.pth'.*IMAGENET1K_V1"):
        fpn.load_data(p, str(tmp_path))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be loaded into tiny"):
        fpn.resolve_backbone_weights(get_config("02_fpn", "ci", {"backbone_weights": "bad.pth"}), str(tmp_path))
    torch.save(build_backbone("tiny", "bn").state_dict(), tmp_path / "tiny.pth")
    c = get_config("02_fpn", "ci", {"backbone_weights": "tiny.pth", "norm": "frozen_bn"})
    assert fpn.resolve_backbone_weights(c, str(tmp_path)) == str(tmp_path / "tiny.pth")
    kw = fpn.detector_kwargs(c, 3, str(tmp_path / "tiny.pth"))
    assert kw["backbone_weights"] == str(tmp_path / "tiny.pth") and kw["norm"] == "frozen_bn"
    assert fpn.resolve_backbone_weights(get_config("02_fpn", "ci", {}), str(tmp_path)) is None


@pytest.mark.parametrize("variant", ["c4", "fpn"])
def test_shared_feature_timing_model_equals_two_stage_when_backbones_agree(variant):
    """C4's timing uses the shared-feature form (one backbone pass): with the Fast R-CNN's backbone set
    to the RPN's weights it must give exactly the unshared TwoStage detections."""
    from paperlib.models.detection import build_detector

    kw = dict(backbone="tiny", norm="gn", num_classes=4, fpn_channels=16, min_size=64, max_size=64,
              box_score_thresh=0.0)
    torch.manual_seed(0)
    rpn = build_detector(variant, rpn_only=True, **kw).eval()
    frcnn = build_detector(variant, proposals="fixed", **kw).eval()
    frcnn.backbone.load_state_dict(rpn.backbone.state_dict())
    img = [torch.rand(3, 64, 64)]
    two = fpn.TwoStage(rpn, frcnn, pre_nms=100, post_nms=30)(img)[0]
    shared = fpn.SharedFeatures(rpn, frcnn, pre_nms=100, post_nms=30)
    one = shared(img)[0]
    assert set(one) == {"boxes", "scores", "labels"}
    for k in one:
        assert torch.equal(one[k], two[k]), k
    # one backbone pass per image (the unshared system runs two)
    calls = []
    h = rpn.backbone.register_forward_hook(lambda *a: calls.append(1))
    h2 = frcnn.backbone.register_forward_hook(lambda *a: calls.append(2))
    shared(img)
    assert calls == [1]
    calls.clear()
    fpn.TwoStage(rpn, frcnn, pre_nms=100, post_nms=30)(img)
    assert sorted(calls) == [1, 2]
    h.remove(), h2.remove()


def test_trained_contrasts_take_their_seed_std_from_the_calibration(monkeypatch):
    """C1-C3 train one seed: the seed std comes from configs/fpn.py SEED_CALIBRATION, else inconclusive."""
    from paperlib.configs import fpn as fpn_config

    cfg = get_config("02_fpn", "default", {})
    assert cfg.seed_calibration == "default" and get_config("02_fpn", "gpu", {}).seed_calibration is None
    key = fpn.calibration_key("AR@100", "bottom_up", "fpn")
    monkeypatch.setitem(fpn_config.SEED_CALIBRATION, "default", {})
    v = fpn._trained(2.0, 1.0, 3.0, cfg, ("AR@100", "bottom_up", "fpn"))
    assert v.verdict == "inconclusive" and v.evidence["seed_std"] is None
    entry = {"seed_std": float(np.std([0.0, 1.0, 2.0], ddof=1)), "per_seed": [0.0, 1.0, 2.0], "command": "x"}
    monkeypatch.setitem(fpn_config.SEED_CALIBRATION, "default", {key: entry})
    v = fpn._trained(2.0, 1.0, 3.0, cfg, ("AR@100", "bottom_up", "fpn"))     # floor 2 x 1.0: not above it
    assert v.verdict == "inconclusive" and v.evidence["seed_std"] == pytest.approx(1.0)
    assert fpn._trained(3.0, -1.0, 7.0, cfg, ("AR@100", "bottom_up", "fpn")).verdict == "inconclusive"   # wide items
    assert fpn._trained(5.0, 4.5, 5.5, cfg, ("AR@100", "bottom_up", "fpn")).verdict == "held"
    assert fpn._trained(-5.0, -5.5, -4.5, cfg, ("AR@100", "bottom_up", "fpn")).verdict == "not held"
    with pytest.raises(Exception, match="seed_calibration"):
        get_config("02_fpn", "default", {"seed_calibration": "nope"})
