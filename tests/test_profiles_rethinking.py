"""05 Rethinking ImageNet Pre-training: the notebook's gpu code path executed at toy scale on CPU, with the C6
regulariser study on (issue 15).

The notebook's own cells run in-process (tests/fakes.run_notebook_cells) at the gpu profile. Kept: generated
scenes, the synthetic pre-training, Mask R-CNN with GN everywhere, the C6 arms (pre-trained at the default lr,
pre-trained at the lr re-tuned on images held out of the training set, scratch at the default lr) at two seeds,
their verdict by stats.decide_trained. Shrunk: 64-px images, 8 training images (2 held out for the re-tuning),
the tiny trunk, B = 9 iterations at 1x, the lr grid to the profile's default lr and one other, no normalisation
or data-size study (tests/test_rethinking_pretraining.py runs those paths). The paper path (COCO layout under
data_root, user weights, C6 on train2017) runs in tests/test_rethinking_pretraining.py."""
import pytest

from fakes import results, run_notebook_cells
from paperlib.configs.rethinking_pretraining import PROFILES

SLUG = "05_rethinking_pretraining"
SMALL = dict(backbone="tiny", image_size=64, n_train=8, n_val=6, max_objects=3, fpn_channels=16,
             representation_size=64, anchor_scale=2, rpn_post_nms_train=50, rpn_post_nms_test=50,
             box_batch_size_per_image=32, batch_size=2, warmup_iters=3, base_iters=9, schedules=[1.0],
             norm_schedule=1.0, seeds=[0, 1], norm_study=[], data_fractions=[], eval_every_epochs=3, n_boot=10,
             num_workers=0, threads=1, pretrain_iters=10, pretrain_n_train=64, pretrain_n_val=32,
             pretrain_batch_size=16, pretrain_image_size=32, c6_tune_images=2, c6_fraction=0.7, c6_lrs=[0.04],
             c6_schedule=1.0)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_gpu_profile_runs_the_c6_study(tmp_path):
    ns = run_notebook_cells(SLUG, "gpu", tmp_path / "out", overrides=SMALL)
    cfg, reg = ns["cfg"], ns["study"]["regulariser"]
    assert cfg.mask and cfg.lr == PROFILES["gpu"]["lr"] and cfg.clip_grad is None
    assert reg["train_images"] == 4 and reg["tune_images"] == 2        # round(0.7 x 6) of the 8 - 2 left
    assert sorted(reg["grid_tune_AP"]) == [cfg.lr, 0.04] and reg["lr_tuned"] in (cfg.lr, 0.04)
    assert all(sorted(reg["runs"][a]) == [0, 1] for a in reg["runs"])
    res = results(tmp_path / "out", SLUG)
    assert res["profile"] == "gpu" and any(a.endswith("c6_regulariser.csv") for a in res["artifacts"])
    c6 = next(c for c in res["claims"] if c["id"] == "C6")
    assert c6["verdict"] in ("held", "not held", "inconclusive")
    ev = c6["evidence"]
    assert len(ev["per_seed"]) == 2 and ev["seed_std_source"] == "measured over 2 training seeds"
    assert ev["ap_pretrained_default"] == [reg["runs"]["pretrained default"][s]["metrics"]["AP"] for s in (0, 1)]
    assert "tested_here" not in ev and not c6["reason"].startswith("not run")
    assert "C6: 4 training images" in ns["note"] and "picked" in ns["note"]
