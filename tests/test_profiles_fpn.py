"""02 FPN: the notebook's gpu and paper code paths executed at toy scale on CPU (issue 10, item 6).

The notebook's own cells run in-process (tests/fakes.run_notebook_cells) at its gpu / paper profile. Kept:
gpu -- generated scenes, ResNet-50 with GroupNorm from scratch, Table 2 Fast R-CNN heads; paper -- COCO 2017
layout from data_root (made from generated scenes), a torchvision-layout ResNet-50 state dict under
data_root (a random one: the layout and frozen-BN path are what is run, not ImageNet features), frozen BN,
the iteration schedules with their lr step, no gradient clipping. Shrunk: 64-px images, 4 images, two
variants, 2 optimizer steps, narrow heads where the paper's sizes are not what the path checks."""
import pytest
import torch
import torchvision

from fakes import results, run_notebook_cells, write_coco_from_scenes
from paperlib.data.scenes import synthetic_scenes

SLUG = "02_fpn"
SMALL = dict(image_size=64, n_train=4, n_val=4, max_objects=3, rpn_variants=["c4", "fpn"], det_variants=["fpn"],
             fast_rcnn_variants=["fpn"], batch_size=2, max_steps=2, rpn_pre_nms_train=200, rpn_pre_nms_test=100,
             rpn_post_nms_train=50, box_batch_size_per_image=16, fast_rcnn_proposals_train=50,
             fast_rcnn_proposals_test=50, proposal_budgets=[10, 50], curve_budgets=[1, 10, 50], n_boot=50,
             n_boot_ap=10, timing_repeats=1, eval_batch_size=4, num_workers=0, threads=1)

pytestmark = pytest.mark.usefixtures("one_thread")


def _check(ns, profile):
    assert set(ns["rpn"]) == {"c4", "fpn"} and set(ns["frc"]) == {"fpn"} and set(ns["det"]) == {"fpn"}
    for r in ns["rpn"].values():
        assert 0.0 <= r["ar"]["AR@50"] <= 1.0          # (size buckets without GT boxes read -1, as in COCOeval)


def test_gpu_profile_resnet50_gn_from_scratch_on_scenes(tmp_path):
    ns = run_notebook_cells(SLUG, "gpu", tmp_path / "out", overrides=dict(SMALL, fpn_channels=32,
                                                                           representation_size=64))
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.backbone, cfg.norm, cfg.backbone_weights) == ("scenes", "resnet50", "gn", None)
    _check(ns, "gpu")
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "gpu" and any(a.endswith("table2.csv") for a in res["artifacts"])
    assert {c["id"] for c in res["claims"]} >= {"C1", "C2"}


def test_paper_profile_coco_layout_and_torchvision_weights_under_data_root(tmp_path):
    root = write_coco_from_scenes(tmp_path / "coco", synthetic_scenes(n_train=4, n_val=4, image_size=64,
                                                                      max_objects=3, seed=0))
    torch.save(torchvision.models.resnet50().state_dict(), root / "resnet50-0676ba61.pth")
    over = dict(SMALL, min_size=64, max_size=64, rpn_iters=2, rpn_step_iters=1, det_iters=2, det_step_iters=1,
                fast_rcnn_iters=2, fast_rcnn_step_iters=1)
    ns = run_notebook_cells(SLUG, "paper", tmp_path / "out", overrides=over, data_root=root)
    cfg = ns["cfg"]
    assert (cfg.dataset, cfg.norm, cfg.clip_grad, cfg.fpn_channels) == ("coco", "frozen_bn", None, 256)
    assert ns["data"]["backbone_weights"] == str(root / "resnet50-0676ba61.pth")
    assert len(ns["data"]["train"]) == 4 and len(ns["data"]["val"]) == 4
    _check(ns, "paper")
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "paper" and any(a.endswith("table3.csv") for a in res["artifacts"])
