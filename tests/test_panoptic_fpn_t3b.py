"""06 Panoptic FPN, Table 3b (issue 16): the joint network on a deeper trunk at about the compute of the two
separate networks -- the trunks, the multiply-add ratios at every profile's size, the deeper weights from a data
root, C3's second part on planted numbers, and the gpu code path (notebook cells in-process) at toy scale with
two seeds."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fakes import results, run_notebook_cells

SLUG = "06_panoptic_fpn"
pytestmark = pytest.mark.usefixtures("one_thread")


def _body_macs(name, size):
    from paperlib.metrics.complexity import complexity
    from paperlib.models.detection import build_backbone

    with torch.device("meta"):                      # counted without memory or init time
        return complexity(build_backbone(name, "gn"), (3, size, size))["flops"]


def test_deeper_trunks_deepen_stage_3_to_r101s_body_ratio():
    """tiny_deep / small_deep = tiny / small with stage 3 deepened (as R50 -> R101), to the depth whose body
    multiply-adds are closest to R101 / R50 = 7,801,406,440 / 4,089,185,256 = 1.908 (224 px): tiny 1 -> 16 blocks
    (1.924 at 96 px), small 2 -> 13 (1.875 at 256 px)."""
    import copy

    from paperlib.metrics.complexity import complexity
    from paperlib.models import create_model
    from paperlib.models.anynet import AnyNet, AnyNetConfig
    from paperlib.models.detection import BACKBONES

    with torch.device("meta"):
        r101, r50 = (complexity(create_model(n), (3, 224, 224))["flops"] for n in ("resnet101", "resnet50"))
    assert (r101, r50) == (7_801_406_440, 4_089_185_256)
    target = r101 / r50
    for deep, base, size, ratio in (("tiny_deep", "tiny", 96, 1.924), ("small_deep", "small", 256, 1.875)):
        assert {k: v for k, v in BACKBONES[deep].items() if k != "depths"} == \
            {k: v for k, v in BACKBONES[base].items() if k != "depths"}
        d, b = BACKBONES[deep]["depths"], BACKBONES[base]["depths"]
        assert d[:2] == b[:2] and d[3] == b[3] and d[2] > b[2]
        got = _body_macs(deep, size) / _body_macs(base, size)
        assert round(got, 3) == ratio
        for k in (d[2] - 1, d[2] + 1):                       # the neighbouring depths are further from R101's ratio
            cfg = copy.deepcopy(BACKBONES[base])
            cfg["depths"] = d[:2] + [k] + d[3:]
            with torch.device("meta"):
                other = complexity(AnyNet(AnyNetConfig(num_classes=1, **cfg)), (3, size, size))["flops"]
            assert abs(other / _body_macs(base, size) - target) > abs(got - target)


@pytest.mark.parametrize("profile, joint, deeper", [("ci", 0.993, 0.996), ("default", 0.984, 0.992),
                                                    ("gpu", 0.946, 0.954)])
def test_macs_deeper_joint_vs_the_separate_pair_at_each_profile(profile, joint, deeper):
    """MACs per image over the separate pair's (detector + semantic-only network), test-time RoI budgets, at the
    profile's image size: the joint network and the deeper joint network; at every profile's size, and for
    R101-FPN vs two R50-FPN at 800 x 1216 (0.847; R50 joint 0.671), the deeper joint network costs 84-100 % of
    the pair. At the small profiles the RoI heads are 95 % (default) of the pair's MACs: any trunk is at equal
    compute there."""
    from paperlib.config import get_config
    from paperlib.experiments import panoptic_fpn as X

    cfg = get_config(SLUG, profile)
    data = SimpleNamespace(thing_ids=list(range(cfg.num_things)), stuff_ids=list(range(cfg.num_stuff)),
                           train=SimpleNamespace(num_sem_classes=cfg.num_stuff + 1))
    m = X.macs(cfg, data, {}, {})
    assert (round(m["ratio_joint_separate"], 3), round(m["ratio_deeper_separate"], 3)) == (joint, deeper)
    assert m["part_deeper_backbone"] > m["part_backbone"] and m["deeper_backbone"] == cfg.deeper_backbone
    p = m["paper_r50"]
    assert (round(p["ratio_joint_separate"], 3), round(p["ratio_deeper_separate"], 3)) == (0.671, 0.847)
    for r in (m["ratio_deeper_separate"], p["ratio_deeper_separate"]):
        assert 0.84 <= r <= 1.0
    if profile == "default":
        assert round(m["part_roi"] / m["separate"], 2) == 0.95


def test_paper_profile_deeper_network_is_r101_fpn_with_its_own_weights(tmp_path):
    """paper: variant "deeper" = Panoptic R101-FPN (the registry's panoptic_fpn_r101_fpn, parameter for
    parameter) and its ImageNet file from data_root; a missing or mismatched file names deeper_backbone_weights
    before any training; the weights found are the ones the deeper network's trunk gets."""
    from paperlib.config import get_config
    from paperlib.experiments import panoptic_fpn as X
    from paperlib.models import get_model_meta
    from paperlib.models.detection import build_backbone

    cfg = get_config(SLUG, "paper")
    assert (cfg.variants, cfg.deeper_backbone, cfg.deeper_backbone_weights) == \
        (["deeper"], "resnet101", "resnet101-63fe2227.pth")
    coco = SimpleNamespace(thing_ids=list(range(80)), stuff_ids=list(range(53)),
                           train=SimpleNamespace(num_sem_classes=54))       # 53 stuff + "other"
    deep = X.untrained(cfg, coco, deeper=True)
    assert sum(p.numel() for p in deep.parameters()) == get_model_meta("panoptic_fpn_r101_fpn")["params"]
    with pytest.raises(FileNotFoundError, match="deeper_backbone_weights.*resnet101-63fe2227.pth"):
        X.deeper_weights(cfg, str(tmp_path))
    # the same path at toy scale: a frozen-BN tiny_deep trunk from a paperlib-layout state dict under data_root
    torch.manual_seed(0)
    sd = build_backbone("tiny_deep", "bn").state_dict()
    torch.save(sd, tmp_path / "tiny_deep.pth")
    torch.save(build_backbone("tiny", "bn").state_dict(), tmp_path / "tiny.pth")
    toy = get_config(SLUG, "paper", overrides=dict(deeper_backbone="tiny_deep", deeper_backbone_weights="tiny.pth"))
    with pytest.raises(ValueError, match="deeper_backbone_weights.*could not be loaded into tiny_deep"):
        X.deeper_weights(toy, str(tmp_path))
    toy = get_config(SLUG, "paper", overrides=dict(
        backbone="tiny", backbone_weights=None, deeper_backbone="tiny_deep", deeper_backbone_weights="tiny_deep.pth",
        fpn_channels=16, sem_channels=8, representation_size=32, min_size=64, max_size=64))
    path = X.deeper_weights(toy, str(tmp_path))
    assert path == str(tmp_path / "tiny_deep.pth")
    assert X.deeper_weights(get_config(SLUG, "paper", overrides=dict(variants=[])), str(tmp_path)) is None
    data = SimpleNamespace(thing_ids=[1, 2], stuff_ids=[3, 4], backbone_weights=None, deeper_backbone_weights=path,
                           train=SimpleNamespace(num_sem_classes=3))
    net = X.build(toy, data, lambda_s=toy.joint_lambda_s, deeper=True)
    body = net.detector.backbone.body.state_dict()
    convs = [k for k, v in sd.items() if v.ndim == 4]
    assert len(convs) > 40 and all(any(torch.equal(sd[k], v) for v in body.values()) for k in convs)
    frozen = [m for m in net.detector.backbone.body.modules() if type(m).__name__ == "FrozenBatchNorm2d"]
    assert frozen, "the paper profile's norm (frozen BN) applies to the deeper trunk too"


# ----------------------------------------------------------------------------- C3's second part
def _t3(pq_sep, pq_deep, n=30):
    """A T3 result with planted per-image PQ counts: one category, every image a TP of IoU q (PQ = q)."""
    def counts(q):
        c = np.zeros((n, 1, 4))
        c[:, 0, 0], c[:, 0, 3] = 1, q / 100
        return c
    rows = [{"model": m, "seed": s, "PQ": v} for s, (a, b) in enumerate(zip(pq_sep, pq_deep))
            for m, v in (("separate", a), ("deeper", b))]
    return {"rows": rows, "counts": {"separate": [counts(v) for v in pq_sep], "deeper": [counts(v) for v in pq_deep]},
            "macs": {"deeper_backbone": "tiny_deep", "ratio_deeper_separate": 0.99,
                     "paper_r50": {"ratio_deeper_separate": 0.847}}}


def test_c3_deeper_part_follows_planted_numbers():
    from paperlib.config import get_config
    from paperlib.experiments import panoptic_fpn_report as R

    cfg = get_config(SLUG, "default", overrides=dict(variants=["deeper"], n_boot=100))
    held = R.claim_c3_deeper(cfg, _t3([40.0, 41.0], [45.0, 46.2]), 30)
    assert held.verdict == "held", held.reason
    ev = held.evidence
    assert ev["per_seed_a"] == [40.0, 41.0] and ev["per_seed_b"] == [45.0, 46.2]
    assert ev["per_seed"] == pytest.approx([5.0, 5.2]) and "seeds paired" in ev["measure"]
    assert ev["MACs R101-FPN joint / two R50-FPN networks, 800 x 1216"] == 0.847
    assert R.claim_c3_deeper(cfg, _t3([40.0, 41.0], [38.0, 39.1]), 30).verdict == "not held"
    noisy = R.claim_c3_deeper(cfg, _t3([40.0, 41.0], [44.0, 39.0]), 30)      # seed std 4.2: inside the noise
    assert noisy.verdict == "inconclusive"
    one = R.claim_c3_deeper(get_config(SLUG, "default", overrides=dict(variants=["deeper"], seeds=[0])),
                            _t3([40.0], [45.0]), 30)
    assert one.verdict == "inconclusive"                                        # one seed: no noise estimate
    off = R.claim_c3_deeper(get_config(SLUG, "ci"), _t3([40.0], [45.0]), 30)
    assert off.verdict == "inconclusive" and off.evidence["tested_here"] is False and "not run" in off.reason


def test_ci_leaves_the_deeper_network_out_and_default_trains_it():
    """ci: the pipeline only; default: 2 more networks, ~90 s on 2 idle cores (pilot in the config's comment)."""
    from paperlib.config import get_config

    assert "deeper" not in get_config(SLUG, "ci").variants
    assert "deeper" in get_config(SLUG, "default").variants and get_config(SLUG, "default").deeper_backbone == "tiny_deep"
    assert "deeper" in get_config(SLUG, "gpu").variants and get_config(SLUG, "gpu").deeper_backbone == "small_deep"
    with pytest.raises(Exception, match="deeper_backbone"):
        get_config(SLUG, "ci", overrides=dict(deeper_backbone="resnet1010"))


# ----------------------------------------------------------------------------- the gpu path at toy scale
TOY = dict(image_size=64, n_train=4, n_val=3, max_objects=3, min_size=64, max_size=64, backbone="tiny",
           deeper_backbone="tiny_deep", fpn_channels=16, sem_channels=8, representation_size=32,
           anchor_sizes=[8, 16, 32, 64, 128], canonical_scale=56, rpn_pre_nms_top_n_train=50,
           rpn_post_nms_top_n_train=50, rpn_post_nms_top_n_test=50, box_batch_size_per_image=32, iters=2,
           batch_size=2, lambdas_s=[0.0, 0.5], width_factors=[1.0], variants=["deeper"], seeds=[0, 1], threads=1,
           num_workers=0, workers=1, n_boot=20, overlap_thrs=[0.5], score_thrs=[0.5], stuff_area_fracs=[0.0, 0.004],
           n_examples=1, log_every=1)


def test_gpu_profile_trains_the_deeper_network_at_two_seeds(tmp_path):
    ns = run_notebook_cells(SLUG, "gpu", tmp_path / "out", overrides=TOY)
    cfg, joint, t3 = ns["cfg"], ns["joint"], ns["t3"]
    assert cfg.variants == ["deeper"] and cfg.deeper_backbone == "tiny_deep"
    for s in cfg.seeds:
        d, j = joint[("deeper", s)], joint[(cfg.joint_lambda_s, s)]
        assert len(d.hist["train_loss"]) >= 1 and np.isfinite(d.hist["train_loss"][-1])
        assert d.model.loss_weight_sem == cfg.joint_lambda_s and d.model.instance
        n_blocks = lambda m: sum(1 for k in m.detector.backbone.body.state_dict() if k.endswith("a.weight"))  # noqa
        assert n_blocks(d.model) - n_blocks(j.model) == 15              # stage 3: 1 -> 16 blocks
        assert d.pq is not None and np.isfinite(d.miou)
    assert [r["seed"] for r in t3["rows"] if r["model"] == "deeper"] == cfg.seeds
    assert len(t3["counts"]["deeper"]) == 2
    rows = ns["t3_rows"]
    assert [r["model"][:3] for r in rows] == ["(a)", "(a)", "(b)"] and rows[2]["PQ"] is not None
    assert rows[2]["MACs / separate pair"] == round(t3["macs"]["ratio_deeper_separate"], 3)
    assert rows[2]["MACs / separate pair at 800x1216"] == 0.847
    res = results(tmp_path / "out", SLUG)
    assert res["metrics"]["macs"]["deeper_backbone"] == "tiny_deep"
    c3 = next(c for c in res["claims"] if c["id"] == "C3")
    part = ns["R"].claim_c3_deeper(cfg, t3, len(ns["data"].val))           # C3's third part, from this run
    assert part.evidence["measure"] == "PQ deeper joint (tiny_deep) - separate pair (seeds paired)"
    assert part.evidence["per_seed_b"] == [r["PQ"] for r in t3["rows"] if r["model"] == "deeper"]
    assert [p["reason"] for p in c3["evidence"]["parts"]][2:] == [part.reason]
    assert "not_run_here" not in c3["evidence"]


def test_macs_count_a_real_dataset_at_its_test_size():
    """At the paper profile the networks are counted at the dataset's test size, not at the scenes' 96 px."""
    from paperlib.config import get_config
    from paperlib.experiments.panoptic_fpn import mac_size

    assert mac_size(get_config("06_panoptic_fpn", "default")) == (96, 96)
    assert mac_size(get_config("06_panoptic_fpn", "paper")) == (800, 1216)
    assert mac_size(get_config("06_panoptic_fpn", "paper", {"dataset": "cityscapes"})) == (1024, 2048)
