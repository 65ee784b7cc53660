"""06's T3c/d designs (C4): alternating losses and a grouped FPN (paperlib.models.panoptic_fpn), and C4's
trained-contrast verdict (panoptic_fpn_report.claim_c4)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from paperlib.models.panoptic_fpn import build_panoptic_fpn

KW = dict(num_things=2, num_stuff=3, sem_channels=16, fpn_channels=32, min_size=64, max_size=64,
          anchor_sizes=(8, 16, 32, 64, 128), canonical_scale=56, representation_size=64)


def _batch():
    g = torch.Generator().manual_seed(0)
    imgs = [torch.rand(3, 64, 64, generator=g) for _ in range(2)]
    tg = []
    for _ in range(2):
        m = torch.zeros(1, 64, 64, dtype=torch.uint8)
        m[0, 4:30, 4:30] = 1
        tg.append({"boxes": torch.tensor([[4., 4., 30., 30.]]), "labels": torch.tensor([1]), "masks": m,
                   "sem_seg": torch.randint(0, 4, (64, 64), generator=g)})
    return imgs, tg


def _grads(mod):
    return sum(float(p.grad.abs().sum()) for p in mod.parameters() if p.grad is not None)


def test_alternating_losses_take_turns():
    torch.manual_seed(0)
    m = build_panoptic_fpn(schedule="alternate", **KW).train()
    imgs, tg = _batch()
    inst = m(imgs, tg)
    assert "loss_sem_seg" not in inst and {"loss_classifier", "loss_mask", "loss_objectness"} <= set(inst)
    sum(inst.values()).backward()
    assert _grads(m.sem_head) == 0 and _grads(m.detector.roi_heads) > 0
    m.zero_grad(set_to_none=True)
    sem = m(imgs, tg)
    assert set(sem) == {"loss_sem_seg"}
    sem["loss_sem_seg"].backward()
    assert _grads(m.detector.roi_heads) == 0 and _grads(m.sem_head) > 0 and _grads(m.detector.backbone) > 0
    assert m.train_steps == 2 and set(m(imgs, tg)) == set(inst)          # third iteration: instance again
    out = m.eval()(imgs)                                                   # inference runs both branches
    assert out[0]["sem_seg"].shape == (4, 64, 64) and "masks" in out[0]


def test_grouped_fpn_gives_each_task_its_own_half():
    torch.manual_seed(0)
    m = build_panoptic_fpn(fpn_groups=2, **KW).train()
    assert m.detector.backbone.out_channels == 16 and m.sem_head.scale_heads[0][0].in_channels == 16
    imgs, tg = _batch()
    losses = m(imgs, tg)
    losses["loss_sem_seg"].backward(retain_graph=True)
    assert _grads(m.detector.backbone.neck) == 0 and _grads(m.sem_neck) > 0 and _grads(m.detector.backbone.body) > 0
    m.zero_grad(set_to_none=True)
    sum(v for k, v in losses.items() if k != "loss_sem_seg").backward()
    assert _grads(m.sem_neck) == 0 and _grads(m.detector.backbone.neck) > 0
    with pytest.raises(ValueError, match="fpn_groups"):
        build_panoptic_fpn(fpn_groups=3, **KW)


def test_two_half_fpns_are_one_fpn_with_grouped_output_convs():
    """The grouped-FPN docstring: laterals (1x1) and top-down sums act per channel, so two FPNs of width d/2 ==
    one FPN of width d whose laterals stack theirs and whose 3x3 output convs are block-diagonal (2 groups)."""
    from torchvision.ops import FeaturePyramidNetwork

    torch.manual_seed(0)
    widths, d = [8, 16, 32, 64], 16
    a, b, full = FeaturePyramidNetwork(widths, d // 2), FeaturePyramidNetwork(widths, d // 2), FeaturePyramidNetwork(widths, d)
    with torch.no_grad():
        for k in range(len(widths)):
            for blocks in ("inner_blocks", "layer_blocks"):
                fa, fb, ff = (getattr(n, blocks)[k][0] for n in (a, b, full))
                ff.bias.copy_(torch.cat([fa.bias, fb.bias]))
                if blocks == "inner_blocks":
                    ff.weight.copy_(torch.cat([fa.weight, fb.weight]))
                else:
                    ff.weight.zero_()
                    ff.weight[: d // 2, : d // 2] = fa.weight
                    ff.weight[d // 2:, d // 2:] = fb.weight
    x = {f"c{i + 2}": torch.randn(1, w, 64 // 2 ** i, 64 // 2 ** i) for i, w in enumerate(widths)}
    oa, ob, of = a(x), b(x), full(x)
    for k in of:
        torch.testing.assert_close(of[k], torch.cat([oa[k], ob[k]], 1))


def _net(pq, counts):
    return SimpleNamespace(pq={"res": {"All": {"pq": pq}}, "counts": counts})


def _counts(rng, n, tp_rate):
    """Per-image counts (n, 2 categories, [tp, fp, fn, iou]) with ~tp_rate of 4 segments matched at IoU 0.8."""
    tp = rng.binomial(4, tp_rate, size=(n, 2)).astype(float)
    return np.stack([tp, 4 - tp, 4 - tp, 0.8 * tp], -1)


def test_c4_is_a_trained_contrast_with_the_floor():
    from paperlib.experiments import panoptic_fpn_report as R
    from paperlib.metrics.pq_counts import pq_from_counts

    rng = np.random.default_rng(0)
    cfg = SimpleNamespace(seeds=[0, 1], joint_lambda_s=0.5, variants=["alternate"], n_boot=200, min_effect_pts=1.0)

    def nets(rate_joint, rates_alt):
        out = {}
        for s, ra in zip(cfg.seeds, rates_alt):
            for key, rate in ((0.5, rate_joint), ("alternate", ra)):
                c = _counts(rng, 60, rate)
                out[(key, s)] = _net(float(pq_from_counts(c.sum(0))["pq"]), c)
        return out

    v = R.claim_c4(cfg, nets(0.8, [0.3, 0.35]), 60)          # joint clearly better at both seeds
    assert v.verdict == "held" and "grouped" in str(v.evidence["not_run_here"])
    part = v.evidence["parts"][0]
    assert "seed std" in part["reason"]
    v = R.claim_c4(cfg, nets(0.6, [0.2, 0.95]), 60)          # the seeds disagree: beyond no floor
    assert v.verdict == "inconclusive"
    one = SimpleNamespace(**{**vars(cfg), "seeds": [0]})
    assert R.claim_c4(one, nets(0.8, [0.3, 0.3]), 60).verdict == "inconclusive"   # one seed: no seed std
    none = SimpleNamespace(**{**vars(cfg), "variants": []})
    assert "not run at this profile" in R.claim_c4(none, {}, 60).evidence["parts"][0]
