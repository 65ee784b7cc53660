"""05 Rethinking ImageNet Pre-training: the spec's golden cases A1-A6, the optimiser's weight-decay split,
pre-trained weights in the detector, branching identity, and the gpu / paper paths at toy scale on CPU."""
import dataclasses
import os

import pytest
import torch

from fakes import write_coco_from_scenes
from paperlib.configs.rethinking_pretraining import PROFILES, Config
from paperlib.engine.schedules_detection import (branch_plan, schedule_epochs, schedule_fields, schedule_steps,
                                                 warmup_factor)
from paperlib.experiments import rethinking_pretraining as rp


# ----------------------------------------------------------------------------- A1-A3 (exact)
@pytest.mark.parametrize("k,steps", [(2, (120000, 160000)), (3, (210000, 250000)), (4, (300000, 340000)),
                                     (5, (390000, 430000)), (6, (480000, 520000))])
def test_a1_schedule_steps(k, steps):
    T, s1, s2 = schedule_steps(k, 90_000)
    assert (T, s1, s2) == (k * 90_000, *steps)


@pytest.mark.parametrize("B", [9, 10, 50, 90, 100, 101, 3000])
@pytest.mark.parametrize("k", [1, 2, 4, 9])
def test_a1_rounding_convention_floor(B, k):
    assert schedule_steps(k, B) == (k * B, k * B - (2 * B) // 3, k * B - (2 * B) // 9)
    assert schedule_steps(1, 100) == (100, 34, 78)      # floor(200/3) = 66, floor(200/9) = 22


def test_a2_epochs_and_a3_warmup():
    assert round(schedule_epochs(1), 2) == 12.17
    assert round(schedule_epochs(3), 1) == 36.5 and round(schedule_epochs(6), 1) == 73.0
    assert round(schedule_epochs(9), 1) == 109.6
    assert warmup_factor(0) == 0.001
    assert warmup_factor(500) == pytest.approx(0.5005, abs=1e-12)
    assert warmup_factor(1000) == 1.0 and warmup_factor(10**6) == 1.0
    assert rp.exact_verdict(rp.exact_checks()).verdict == "held"
    broken = rp.exact_checks()
    broken["steps"]["2x"] = [120000, 160001]
    assert rp.exact_verdict(broken).verdict == "not held"


def test_engine_schedule_matches_the_rule():
    """The engine's lr (warm-up then x0.1 at the two drops) is exactly the rule, at every step."""
    from paperlib.engine import TrainConfig
    from paperlib.engine.schedule import lr_at

    spe, B, W = 30, 90, 30
    tc = TrainConfig(**schedule_fields(2, B, spe, W), lr=1.0)
    T, s1, s2 = schedule_steps(2, B)
    for i in range(T):
        want = warmup_factor(i, W) * (1.0 if i < s1 else 0.1 if i < s2 else 0.01)
        assert lr_at(i / spe, tc) == pytest.approx(want, rel=1e-12), i
    assert tc.max_steps == T


def test_branch_plan():
    p = branch_plan([1, 2, 4], 90, 30, 30)
    assert p["branched"] and p["points"] == {1.0: 30, 2.0: 120, 4.0: 300} and p["prefix_iters"] == 300
    assert not branch_plan([1, 2], 90, 40, 30)["branched"]            # 30 is not an epoch boundary
    assert not branch_plan([1, 2], 90, 30, 31)["branched"]            # inside the warm-up


def test_curve_ends_at_the_schedule_when_the_last_epoch_is_partial():
    hist = {"epoch": [1, 2, 3], "val_AP": [1.0, None, 3.0]}
    assert rp._curve(hist, 100, 240) == [[100, 1.0], [240, 3.0]]          # 240 iterations: 2.4 epochs
    assert rp._curve(hist, 100, 300) == [[100, 1.0], [300, 3.0]]


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("field,value", [("base_iters", 5), ("schedules", [0.5]), ("norm_study", ["gn"]),
                                         ("freeze_at", 3), ("dataset", "voc"), ("norm_schedule", 9.0),
                                         ("data_fractions", [0.0]), ("c6_fraction", 1.5), ("c6_lrs", [0.0]),
                                         ("c6_schedule", 0.5), ("c6_tune_images", 3)])
def test_config_rejects(field, value):
    with pytest.raises(ValueError, match=field):
        Config(**{**PROFILES["ci"], field: value})


def test_config_c6_held_out_images_must_leave_training_images():
    Config(**{**PROFILES["ci"], "c6_fraction": 0.5, "c6_tune_images": 2})
    for n in (0, 6):                                     # ci: n_train = 6
        with pytest.raises(ValueError, match="c6_tune_images"):
            Config(**{**PROFILES["ci"], "c6_fraction": 0.5, "c6_tune_images": n})


# ----------------------------------------------------------------------------- models (A4, A5, wd)
def _cfg(**kw):
    return Config(**{**PROFILES["ci"], **kw})


def test_a4_scratch_has_no_frozen_norm_and_wd_zero_on_norms():
    from torchvision.ops import FrozenBatchNorm2d

    from paperlib.engine import TrainConfig, build_optimizer

    cfg = _cfg()
    m = rp.build_model(cfg, 4, "scratch", "gn")
    assert not any(isinstance(x, FrozenBatchNorm2d) for x in m.modules())
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())
    assert all(p.requires_grad for p in m.parameters())
    gns = [x for x in m.modules() if isinstance(x, torch.nn.GroupNorm)]
    assert gns and all(g.num_groups == min(32, g.num_channels // 4) or g.num_channels % 32 for g in gns)
    assert any(isinstance(x, torch.nn.GroupNorm) for x in m.roi_heads.box_head.modules())   # 4conv1fc
    assert any(isinstance(x, torch.nn.GroupNorm) for x in m.backbone.neck.modules())         # FPN
    # the check catches torchvision's default (frozen BN, the spec's pitfall)
    fb = rp.build_model(cfg, 4, "scratch", "frozen_bn")
    assert any(isinstance(x, FrozenBatchNorm2d) for x in fb.modules())
    # weight decay: 0 on every norm parameter and bias, wd on conv / fc weights
    opt = build_optimizer(m, TrainConfig(weight_decay=1e-4, lr=0.01))
    wd = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    for mod in m.modules():
        if isinstance(mod, torch.nn.GroupNorm):
            assert wd[id(mod.weight)] == 0.0 and wd[id(mod.bias)] == 0.0
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            assert wd[id(mod.weight)] == 1e-4
            if mod.bias is not None:
                assert wd[id(mod.bias)] == 0.0


def test_a5_gn_is_batch_independent_bn_is_not():
    torch.manual_seed(0)
    cfg = _cfg()
    x = torch.randn(8, 3, 64, 64)
    gn = rp.gn_trunk(cfg, 5).train()
    assert torch.allclose(gn(x[:1]), gn(x)[:1], atol=1e-6)
    from paperlib.models.anynet import AnyNet
    bn = AnyNet(rp.trunk_config(cfg, 5)).train()
    assert not torch.allclose(bn(x[:1]), bn(x)[:1], atol=1e-6)


def test_pretrained_weights_go_into_the_detector():
    cfg = _cfg()
    trunk = rp.gn_trunk(cfg, 7)
    with torch.no_grad():
        for p in trunk.parameters():
            p.add_(torch.randn_like(p))
    m = rp.build_model(cfg, 4, "pretrained", trunk=trunk)
    body, tsd = m.backbone.body.state_dict(), trunk.state_dict()
    for name, v in body.items():          # body "stem.*" / "stages.i.*" <- trunk "stem.*" / "s{i+1}.*"
        tname = name if name.startswith("stem") else "s" + str(int(name.split(".")[1]) + 1) + "." + \
            ".".join(name.split(".")[2:])
        assert torch.equal(v, tsd[tname]), name
    frozen = [n for n, p in m.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(("backbone.body.stem", "backbone.body.stages.0")) for n in frozen)
    assert all(p.requires_grad for p in m.backbone.body.stages[1].parameters())
    scratch = rp.build_model(cfg, 4, "scratch")
    assert all(p.requires_grad for p in scratch.parameters())


# ----------------------------------------------------------------------------- A6 + ci pipeline
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    os.environ.setdefault("PAPERLIB_DATA", "/tmp/paperlib-test-data")
    cfg = _cfg()
    return cfg, rp.load_data(cfg)


def test_a6_branching_equals_separate_runs(tiny, tmp_path):
    cfg, data = tiny
    m = rp.build_model(cfg, data["num_classes"], "scratch", seed=3)
    m2 = rp.build_model(cfg, data["num_classes"], "scratch", seed=3)
    br = rp.train_schedules(m, cfg, data, "cpu", 3, tmp_path / "br", ks=[1.0, 2.0])
    assert br["plan"]["branched"], br["plan"]
    sep = rp.train_schedules(m2, cfg, data, "cpu", 3, tmp_path / "sep", ks=[2.0], branch=False)
    a = torch.load(tmp_path / "br" / "branch_2x.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "sep" / "run_2x.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert br["runs"][2.0]["metrics"] == sep["runs"][2.0]["metrics"]
    assert br["runs"][2.0]["curve"] == sep["runs"][2.0]["curve"]
    assert [it for it, _ in br["runs"][2.0]["curve"]] == [3, 6, 9, 12, 15, 18]


def _study_checks(study, cfg):
    rows = rp.table1_rows(study, cfg)
    assert [r["init"] for r in rows] == ["scratch", "pretrained", "gap (pre - scratch)"]
    cl = rp.claims(study, cfg, rp.exact_checks())
    assert [c["claim_id"] for c in cl] == ["A1-A3", "C1", "C2", "C3", "C4", "C5", "C6"]
    assert all(c["verdict"].verdict in ("held", "not held", "inconclusive") for c in cl)
    return {c["claim_id"]: c["verdict"] for c in cl}


def test_ci_study_end_to_end(tiny, tmp_path):
    cfg, data = tiny
    cfg = dataclasses.replace(cfg, seeds=[0, 1], norm_study=["frozen_bn"])
    pre = rp.pretrain_trunk(cfg, "cpu")
    assert pre["images_seen"] == cfg.pretrain_iters * cfg.pretrain_batch_size
    study = rp.run_study(cfg, data, pre, "cpu", tmp_path)
    v = _study_checks(study, cfg)
    for c in ("C5", "C6"):
        assert v[c].reason.startswith("not run at this profile") and v[c].verdict == "inconclusive"
        assert v[c].evidence["tested_here"] is False
    assert set(rp.norm_rows(study, cfg)[0]) >= {"AP", "AP50", "AP75"}
    rp.curve_figure(study, cfg)


def test_paper_and_gpu_paths_at_toy_scale(tiny, tmp_path):
    """paper: COCO layout from data_root, user-supplied GN trunk weights, Mask R-CNN, no pre-training run;
    gpu: the data-fraction study (C5 computed). Both at toy sizes on CPU."""
    cfg0, data0 = tiny
    write_coco_from_scenes(tmp_path / "coco", __import__("pathlib").Path(data0["root"]))
    small = dict(backbone="tiny", image_size=64, min_size=64, max_size=64, fpn_channels=16, representation_size=64,
                 anchor_scale=2, rpn_post_nms_train=50, rpn_post_nms_test=50, box_batch_size_per_image=32,
                 batch_size=2, warmup_iters=3, base_iters=9, num_workers=0, threads=1, n_boot=10, eval_every_epochs=3)
    trunk = rp.gn_trunk(Config(**{**PROFILES["paper"], **small}), 1000)
    torch.save(trunk.state_dict(), tmp_path / "coco" / "R-50-GN.pth")
    cfg = Config(**{**PROFILES["paper"], **small, "schedules": [1.0, 2.0], "norm_schedule": 1.0,
                    "c6_tune_images": 2, "c6_fraction": 1.0})
    data = rp.load_data(cfg, tmp_path / "coco")
    assert cfg.mask and len(data["train"]) == 6
    pre = rp.pretrain_trunk(cfg, "cpu", tmp_path / "coco")
    assert pre["source"].endswith("R-50-GN.pth") and pre["iters"] is None
    study = rp.run_study(cfg, data, pre, "cpu", tmp_path / "w")
    v = _study_checks(study, cfg)
    assert "norm_study" in v["C3"].reason
    # C6 on the COCO layout: the paper profile's lr grid (+ its default lr) re-tuned on 2 held-out train2017 images
    reg = study["regulariser"]
    assert reg["train_images"] == 4 and reg["tune_images"] == 2 and sorted(reg["grid_tune_AP"]) == [0.01, 0.02, 0.04]
    assert "one training seed" in v["C6"].reason and v["C6"].verdict == "inconclusive"     # paper: seeds [0]
    with pytest.raises(FileNotFoundError, match="pretrain_weights"):
        rp.pretrain_trunk(dataclasses.replace(cfg, pretrain_weights="missing.pth"), "cpu", tmp_path / "coco")
    # gpu path: data fractions, synthetic pre-training, mask head
    g = Config(**{**PROFILES["gpu"], **small, **{k: PROFILES["ci"][k] for k in (
        "n_train", "n_val", "max_objects", "pretrain_iters", "pretrain_n_train", "pretrain_n_val",
        "pretrain_batch_size", "pretrain_image_size")}, "schedules": [1.0], "norm_schedule": 1.0, "seeds": [0],
        "norm_study": [], "data_fractions": [1.0, 0.5], "c6_fraction": None, "c6_tune_images": 0})
    gd = rp.load_data(g)
    study = rp.run_study(g, gd, rp.pretrain_trunk(g, "cpu"), "cpu", tmp_path / "g")
    assert set(study["fractions"]) == {1.0, 0.5} and len(rp.fraction_rows(study, g)) == 2
    v = _study_checks(study, g)
    assert "not run" not in v["C5"].reason and v["C5"].evidence["fractions"] == [0.5, 1.0]
    assert "seed std" in v["C5"].reason            # one seed: the trained contrast has no seed std -> inconclusive
