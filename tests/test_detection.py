"""Detection stack: every FPN variant builds, trains a few steps and evaluates; Eq. 1; necks; norms."""
import math

import pytest
import torch
from torch import nn

from paperlib.models.detection import (VARIANTS, AnyNetBody, PyramidNeck, anchor_counts, build_backbone,
                                       build_detector, convert_norm, fpn_level)

KW = dict(backbone="tiny", num_classes=7, fpn_channels=16, anchor_sizes=(8, 16, 32, 64, 128),
          canonical_scale=56, representation_size=32, min_size=64, max_size=64,
          box_batch_size_per_image=32, rpn_batch_size_per_image=64)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from paperlib.data.coco import coco_detection_dataset
    from paperlib.data.scenes import generate_scenes

    root = generate_scenes(tmp_path_factory.mktemp("tiny"), n_train=4, n_val=2, image_size=64,
                           max_objects=4, seed=1)
    return (coco_detection_dataset("scenes", root, "train", masks=True),
            coco_detection_dataset("scenes", root, "val"))


def _train_eval(model, tiny_data, steps=2, masks=False):
    from paperlib.data.coco import detection_collate
    from paperlib.metrics.coco import detections_to_coco, evaluate_coco, proposal_recall, proposals_to_coco

    train, val = tiny_data
    torch.manual_seed(0)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    model.train()
    for s in range(steps):
        imgs, tg = detection_collate([train[2 * s % 4], train[(2 * s + 1) % 4]])
        if not masks:
            tg = [{k: v for k, v in t.items() if k != "masks"} for t in tg]
        losses = model(imgs, tg)
        loss = sum(losses.values())
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        outs = model([val[i][0] for i in range(len(val))])
    if "labels" in outs[0]:
        return evaluate_coco(val.coco, detections_to_coco(outs, val.ids, val.label_to_cat_id))
    return proposal_recall(val.coco, proposals_to_coco([o["boxes"] for o in outs], val.ids,
                                                       [o["scores"] for o in outs]), max_dets=(10, 100))


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_rpn_and_detector_train_and_evaluate(variant, tiny_data):
    torch.set_num_threads(1)
    ar = _train_eval(build_detector(variant, rpn_only=True, norm="gn", **KW), tiny_data)
    assert set(ar) >= {"AR@10", "AR@100", "AR_s@100"} and all(0 <= v <= 1 for v in ar.values() if v == v)
    ap = _train_eval(build_detector(variant, norm="bn", **KW), tiny_data)
    assert set(ap) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}


def test_mask_rcnn_fpn(tiny_data):
    weights = build_backbone("tiny", "bn").state_dict()          # frozen BN needs (pre-trained) weights
    ap = _train_eval(build_detector("fpn", mask=True, norm="frozen_bn", backbone_weights=weights, **KW), tiny_data,
                     masks=True)
    assert "AP" in ap


def test_variant_structure():
    m = build_detector("fpn", **KW)
    x = torch.randn(1, 3, 64, 64)
    f = m.backbone(x)
    assert list(f) == ["p2", "p3", "p4", "p5", "p6"]
    assert [tuple(v.shape[-2:]) for v in f.values()] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert all(v.shape[1] == 16 for v in f.values())
    assert m.roi_heads.box_roi_pool.featmap_names == ["p2", "p3", "p4", "p5"]     # P6: RPN only
    assert m.rpn.anchor_generator.num_anchors_per_location() == [3] * 5
    for v in ("c4", "c5", "finest"):
        assert build_detector(v, **KW).rpn.anchor_generator.num_anchors_per_location() == [15]
    assert list(build_detector("c4", **KW).backbone(x)) == ["c4"]


def test_pyramid_neck_equals_torchvision_fpn():
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    torch.manual_seed(0)
    widths = [8, 16, 32, 64]
    tv = FeaturePyramidNetwork(widths, 16, extra_blocks=LastLevelMaxPool())
    ours = PyramidNeck(widths, 16)
    ours.load_state_dict(tv.state_dict())
    feats = {f"c{i + 2}": torch.randn(1, w, 32 // 2 ** i + 1, 32 // 2 ** i + 1) for i, w in enumerate(widths)}
    a, b = tv(feats), ours(feats)
    assert list(a) == list(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    # ablations: (d) no top-down -> P5 independent of C2..C4; (e) no lateral -> only C5 matters
    bu = PyramidNeck(widths, 16, top_down=False)
    nl = PyramidNeck(widths, 16, lateral=False)
    f2 = dict(feats, c5=torch.randn_like(feats["c5"]))
    assert torch.equal(bu(feats)["c2"], bu(f2)["c2"])
    f3 = dict(feats, c2=torch.randn_like(feats["c2"]))
    assert torch.equal(nl(feats)["c2"], nl(f3)["c2"])
    assert sum(p.numel() for p in nl.parameters()) < sum(p.numel() for p in bu.parameters())


def test_level_rule_eq1_and_torchvision():
    from torchvision.ops.poolers import _setup_scales

    sides = [224, 223.9, 112, 111.9, 448, 32, 2000, 1e-3]
    expected = [4, 3, 3, 2, 5, 2, 5, 2]
    boxes = torch.tensor([[0, 0, s, s] for s in sides], dtype=torch.float64)
    assert fpn_level(boxes).tolist() == expected
    feats = [torch.zeros(1, 1, 256 // 2 ** k, 256 // 2 ** k) for k in (2, 3, 4, 5)]
    _, mapper = _setup_scales(feats, [(256, 256)], 224, 4)
    assert (mapper([boxes.float()]) + 2).tolist() == expected
    # scaled canonical size (anchors 4 x stride): boundaries halve
    assert fpn_level(torch.tensor([[0, 0, 112, 112], [0, 0, 111, 111]]), canonical_scale=112).tolist() == [4, 3]
    # rectangular boxes use sqrt(w h)
    assert fpn_level(torch.tensor([[10, 10, 10 + 448, 10 + 112]])).item() == 4


def test_anchor_counts_worked_example():
    c = {v: anchor_counts(800, 1088, v)["total"] for v in ("fpn", "c4", "c5", "finest")}
    assert c == {"fpn": 217413, "c4": 51000, "c5": 12750, "finest": 816000}
    assert anchor_counts(800, 1088)["P2"] == 3 * 54400 and anchor_counts(800, 1088)["P6"] == 3 * 221
    # the model's anchor generator agrees with the formula
    m = build_detector("fpn", rpn_only=True, **dict(KW, min_size=96, max_size=96))
    m.eval()
    from torchvision.models.detection.image_list import ImageList
    feats = list(m.backbone(torch.zeros(1, 3, 96, 96)).values())
    anchors = m.rpn.anchor_generator(ImageList(torch.zeros(1, 3, 96, 96), [(96, 96)]), feats)
    assert anchors[0].shape[0] == anchor_counts(96, 96)["total"]


@pytest.mark.parametrize("norm,cls", [("bn", nn.BatchNorm2d), ("gn", nn.GroupNorm), ("frozen_bn", None)])
def test_norm_choice(norm, cls):
    from torchvision.ops import FrozenBatchNorm2d

    # frozen BN only on "pre-trained" weights: here a paperlib-layout state dict of another tiny net
    weights = build_backbone("tiny", "bn").state_dict() if norm == "frozen_bn" else None
    net = build_backbone("tiny", norm, weights)
    kinds = {type(m) for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, FrozenBatchNorm2d))}
    assert kinds == {cls or FrozenBatchNorm2d}
    body = AnyNetBody(net)
    out = body(torch.randn(2, 3, 64, 64))
    assert [v.shape[1] for v in out.values()] == [16, 32, 64, 128]
    assert [v.shape[-1] for v in out.values()] == [16, 8, 4, 2]
    if norm == "frozen_bn":
        assert not any(p.requires_grad for m in net.modules() if isinstance(m, FrozenBatchNorm2d)
                       for p in m.parameters())


def test_frozen_bn_without_weights_is_refused():
    """Spec pitfall: FrozenBatchNorm on a randomly initialised network is no normalisation."""
    from paperlib.models.detection import FROZEN_BN_WITHOUT_WEIGHTS

    assert "no normalisation" in FROZEN_BN_WITHOUT_WEIGHTS and "backbone_weights" in FROZEN_BN_WITHOUT_WEIGHTS
    for build in (lambda: build_backbone("tiny", "frozen_bn"), lambda: build_backbone("resnet50", "frozen_bn"),
                  lambda: build_detector("fpn", norm="frozen_bn", **KW)):
        with pytest.raises(ValueError, match="frozen_bn' without pre-trained weights"):
            build()


def test_torchvision_resnet50_weights_load_exactly(tmp_path):
    """A torchvision-layout R-50 state dict (built here, BN statistics randomised) is converted and
    loaded before the frozen-BN conversion: every backbone tensor identical, same C2..C5 outputs; a
    paperlib-layout file gives the same backbone; a mismatched file is refused."""
    import torchvision
    from torchvision.ops import FrozenBatchNorm2d

    from paperlib.models.convert import state_dict_layout, torchvision_key_to_ours

    torch.manual_seed(0)
    tv = torchvision.models.resnet50(weights=None).eval()
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    sd = tv.state_dict()
    path = tmp_path / "resnet50-tv.pth"
    torch.save(sd, path)
    assert state_dict_layout(sd) == "torchvision"
    net = build_backbone("resnet50", "frozen_bn", str(path))
    assert any(isinstance(m, FrozenBatchNorm2d) for m in net.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    ours = net.state_dict()
    checked = 0
    for k, v in sd.items():
        if k.startswith("fc.") or k.endswith("num_batches_tracked"):
            continue
        assert torch.equal(ours[torchvision_key_to_ours(k)], v), k
        checked += 1
    assert checked == sum(1 for k in sd if not k.startswith("fc.") and not k.endswith("num_batches_tracked"))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        c = AnyNetBody(net.eval())(x)
        y = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        for name, layer in zip(("c2", "c3", "c4", "c5"), (tv.layer1, tv.layer2, tv.layer3, tv.layer4)):
            y = layer(y)
            torch.testing.assert_close(c[name], y, rtol=1e-3, atol=1e-3)   # frozen BN: x * scale + shift
    # the same weights in paperlib's layout (a state dict of a bn-norm AnyNet) -> identical backbone
    plain = build_backbone("resnet50", "bn", str(path))
    path2 = tmp_path / "resnet50-paperlib.pth"
    torch.save(plain.state_dict(), path2)
    net2 = build_backbone("resnet50", "frozen_bn", str(path2))
    sd2 = net2.state_dict()
    assert all(torch.equal(v, sd2[k]) for k, v in ours.items() if not k.startswith("head."))   # head: unused
    # a ResNet-18 file does not fit an R-50: a clear error
    path3 = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path3)
    with pytest.raises(ValueError, match="backbone weights do not match"):
        build_backbone("resnet50", "frozen_bn", str(path3))


def test_r50_pyramid_shapes_without_weights():
    net = build_backbone("resnet50", "bn").eval()
    body = AnyNetBody(net)
    from torchvision.ops import FeaturePyramidNetwork
    neck = FeaturePyramidNetwork(list(net.cfg.widths), 256)
    with torch.no_grad():
        c = body(torch.randn(1, 3, 64, 96))
        p = neck(c)
    assert [tuple(v.shape[1:]) for v in c.values()] == [(256, 16, 24), (512, 8, 12), (1024, 4, 6), (2048, 2, 3)]
    assert all(v.shape[1] == 256 and v.shape[-2:] == c[k].shape[-2:] for k, v in p.items())
    assert sum(q.numel() for q in neck.parameters()) == 3344384


# ----------------------------------------------------------------------------- Fast R-CNN on fixed proposals
def _proposals_for(target, seed):
    """GT boxes jittered by a few pixels plus random boxes: fixed 'proposals' for the tests."""
    g = torch.Generator().manual_seed(seed)
    gt = target["boxes"]
    jit = (gt + torch.randint(-3, 4, gt.shape, generator=g)).clamp(0, 63)
    xy = torch.randint(0, 40, (6, 2), generator=g).float()
    rnd = torch.cat([xy, xy + torch.randint(8, 24, (6, 2), generator=g)], 1).clamp(max=64)
    boxes = torch.cat([jit, rnd])
    return boxes[(boxes[:, 2] > boxes[:, 0] + 1) & (boxes[:, 3] > boxes[:, 1] + 1)]


def _capture_rois(model):
    """Record the boxes the RoI pooler receives (image coordinates after the transform)."""
    seen = []
    model.roi_heads.box_roi_pool.register_forward_pre_hook(lambda m, args: seen.append([b.clone() for b in args[1]]))
    return seen


@pytest.mark.parametrize("variant", ["c4", "fpn"])
def test_fast_rcnn_pools_exactly_the_given_proposals(variant, tiny_data):
    """Eval: the RoI heads see the given proposals, unchanged up to the transform's resize (64 -> 128 px:
    x2). Training: every sampled RoI is a given proposal or a GT box (torchvision appends GT boxes)."""
    from paperlib.data.coco import detection_collate

    torch.manual_seed(0)
    train, val = tiny_data
    m = build_detector(variant, proposals="fixed", **dict(KW, min_size=128, max_size=128))
    assert type(m).__name__ == "FastRCNN" and not hasattr(m, "rpn")
    seen = _capture_rois(m)
    imgs, tg = detection_collate([val[0], val[1]])
    props = [_proposals_for(t, i) for i, t in enumerate(tg)]
    props[1] = torch.cat([props[1], tg[1]["boxes"][:1]])            # one proposal equal to a GT box
    m.eval()
    with torch.no_grad():
        out = m(imgs, proposals=props)
    assert len(seen) == 1 and len(out) == 2
    for got, p in zip(seen[0], props):
        torch.testing.assert_close(got, 2 * p)
    assert all(o["boxes"].shape[1] == 4 and (o["boxes"] <= 64 + 1e-4).all() for o in out)   # back to 64 px
    # training: RoIs drawn from the given proposals and the GT boxes only
    seen.clear()
    m.train()
    imgs, tg = detection_collate([train[0], train[1]])
    tg = [dict({k: v for k, v in t.items() if k != "masks"}, proposals=_proposals_for(t, 10 + i))
          for i, t in enumerate(tg)]
    losses = m(imgs, tg)
    assert set(losses) == {"loss_classifier", "loss_box_reg"} and all(torch.isfinite(v) for v in losses.values())
    for got, t in zip(seen[0], tg):
        allowed = 2 * torch.cat([t["proposals"], t["boxes"]])
        assert (torch.cdist(got, allowed).min(1).values < 1e-4).all()
    # a different proposal set changes what is pooled (the proposals are really used)
    seen.clear()
    m.eval()
    with torch.no_grad():
        m(imgs, proposals=[t["proposals"][:2] for t in tg])
    assert [len(b) for b in seen[0]] == [min(2, len(t["proposals"])) for t in tg]


def test_fast_rcnn_errors():
    m = build_detector("c5", proposals="fixed", **KW)
    x = [torch.rand(3, 64, 64)]
    with pytest.raises(ValueError, match="needs proposals"):
        m.eval()(x)
    with pytest.raises(ValueError, match="proposal sets"):
        m.eval()(x, proposals=[torch.zeros(0, 4)] * 2)
    with pytest.raises(ValueError, match="rpn_only"):
        build_detector("fpn", proposals="fixed", rpn_only=True, **KW)
    with pytest.raises(ValueError, match="'rpn' or 'fixed'"):
        build_detector("fpn", proposals="gt", **KW)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fast_rcnn_variant_trains_and_evaluates(variant, tiny_data):
    """Every Table 2 head trains a few steps on fixed proposals and evaluates to COCO box AP; its RoI
    levels are the variant's (P2..P5 on the pyramids, C4 / C5 / P2 otherwise) and P6 is not computed."""
    from paperlib.data.coco import detection_collate
    from paperlib.metrics.coco import detections_to_coco, evaluate_coco

    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, val = tiny_data
    m = build_detector(variant, proposals="fixed", norm="bn", **KW)
    expect = {"c4": ["c4"], "c5": ["c5"], "finest": ["p2"]}.get(variant, ["p2", "p3", "p4", "p5"])
    assert m.roi_heads.box_roi_pool.featmap_names == expect == list(m.backbone(torch.zeros(1, 3, 64, 64)))
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    m.train()
    for s in range(2):
        imgs, tg = detection_collate([train[2 * s], train[2 * s + 1]])
        tg = [dict({k: v for k, v in t.items() if k != "masks"}, proposals=_proposals_for(t, s)) for t in tg]
        loss = sum(m(imgs, tg).values())
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        items = [val[i] for i in range(len(val))]
        outs = m([im for im, _ in items], proposals=[_proposals_for(t, 100 + i) for i, (_, t) in enumerate(items)])
    ap = evaluate_coco(val.coco, detections_to_coco(outs, val.ids, val.label_to_cat_id))
    assert set(ap) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}


# ----------------------------------------------------------------------------- norms of body, FPN and heads
def _norm_types(module):
    from torchvision.ops import FrozenBatchNorm2d

    norms = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, FrozenBatchNorm2d)
    return {type(m) for m in module.modules() if isinstance(m, norms)}


@pytest.mark.parametrize("head_norm,cls", [(None, None), ("bn", nn.BatchNorm2d), ("syncbn", nn.SyncBatchNorm),
                                           ("gn", nn.GroupNorm)])
def test_head_norm_sets_fpn_box_and_mask_heads(head_norm, cls):
    from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, TwoMLPHead

    m = build_detector("fpn", mask=True, norm=head_norm or "bn", head_norm=head_norm, **KW)
    want = set() if cls is None else {cls}
    assert _norm_types(m.backbone.neck) == want
    assert _norm_types(m.roi_heads.box_head) == want and _norm_types(m.roi_heads.mask_head) == want
    assert _norm_types(m.rpn.head) == set()                       # detectron2: the RPN head is never normalised
    convs = [c for c in m.roi_heads.mask_head.modules() if isinstance(c, nn.Conv2d)]
    assert len(convs) == 4 and all((c.bias is None) == (cls is not None) for c in convs)
    fpn_convs = [c for c in m.backbone.neck.modules() if isinstance(c, nn.Conv2d)]
    assert all((c.bias is None) == (cls is not None) for c in fpn_convs)
    if cls is None:                                               # the FPN paper's heads (02 FPN)
        assert isinstance(m.roi_heads.box_head, TwoMLPHead) and m.box_head == "2fc"
    else:                                                         # detectron2's 4conv1fc
        head = m.roi_heads.box_head
        assert isinstance(head, FastRCNNConvFCHead) and m.box_head == "4conv1fc"
        assert sum(isinstance(c, nn.Conv2d) for c in head.modules()) == 4
        assert [l.out_features for l in head.modules() if isinstance(l, nn.Linear)] == [KW["representation_size"]]
        assert _norm_types(m.backbone.body) == {cls}


@pytest.mark.parametrize("norm", ["gn", "syncbn"])
def test_normalised_mask_rcnn_trains_and_evaluates(norm, tiny_data):
    """GN (and SyncBN, which is plain BN in one process) Mask R-CNN with 4conv1fc / 4-conv GN heads."""
    torch.set_num_threads(1)
    ap = _train_eval(build_detector("fpn", mask=True, norm=norm, head_norm=norm, **KW), tiny_data, masks=True)
    assert set(ap) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}


def test_head_norm_errors():
    with pytest.raises(ValueError, match="'fpn' variant only"):
        build_detector("c4", head_norm="gn", **KW)
    with pytest.raises(ValueError, match="'fpn' variant only"):
        build_detector("bottom_up", box_head="4conv1fc", **KW)
    with pytest.raises(ValueError, match="head_norm must be one of"):
        build_detector("fpn", head_norm="frozen_bn", **KW)
    with pytest.raises(ValueError, match="box_head must be"):
        build_detector("fpn", box_head="3fc", **KW)
    with pytest.raises(ValueError, match="norm must be one of"):
        build_backbone("tiny", "layernorm")


def test_forward_with_features_is_the_forward_plus_the_pyramid(tiny_data):
    from paperlib.data.coco import detection_collate

    torch.set_num_threads(1)
    torch.manual_seed(0)
    m = build_detector("fpn", mask=True, norm="gn", head_norm="gn", **KW)
    imgs, tg = detection_collate([tiny_data[0][0], tiny_data[0][1]])
    torch.manual_seed(1)
    plain = m.train()(imgs, tg)
    torch.manual_seed(1)
    got = m.forward_with_features(imgs, tg)
    assert got["out"].keys() == plain.keys() and all(torch.equal(got["out"][k], plain[k]) for k in plain)
    assert list(got["features"]) == ["p2", "p3", "p4", "p5", "p6"]
    assert all(f.shape[1] == KW["fpn_channels"] for f in got["features"].values())
    assert got["features"]["p2"].shape[-2:] == tuple(s // 4 for s in got["images"].tensors.shape[-2:])
    assert len(got["targets"]) == 2 and "masks" in got["targets"][0]
    m.eval()
    with torch.no_grad():
        plain, got = m(imgs), m.forward_with_features(imgs)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(plain, got["out"]) for k in a)
    assert got["targets"] is None and not m.backbone._forward_hooks and not m.transform._forward_hooks


# ----------------------------------------------------------------------------- registry, exact against torchvision
def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_registered_detectors_params_exact():
    from paperlib.models import create_model, get_model_meta, list_models
    from paperlib.models.detection_zoo import DETECTION_MODELS

    assert sorted(DETECTION_MODELS) == list_models(family="detection") and len(DETECTION_MODELS) == 16
    with torch.device("meta"):
        for n in DETECTION_MODELS:
            kw = {}
            if n.endswith("_frozenbn"):     # a module passed in counts as pre-trained (no weights on meta)
                kw["backbone"] = create_model("resnet101" if "_r101_" in n else "resnet50")
            m = create_model(n, **kw)
            meta = get_model_meta(n)
            assert _count(m) == meta["params"], n
            assert (m.norm, m.head_norm, m.box_head) == (meta["norm"], meta["head_norm"], meta["box_head"]), n
            assert hasattr(m, "forward_with_features") and (hasattr(m.roi_heads, "mask_head")
                                                            and m.roi_heads.mask_head is not None) == n.startswith("mask")


def test_detectors_equal_torchvision_builders():
    from torchvision.models import detection as tvd

    from paperlib.models import get_model_meta

    with torch.device("meta"):
        # plain names = torchvision v1 without weights (trainable BN); torchvision's documented v1 counts
        # (frozen BN, pre-trained) = our _frozenbn names
        assert _count(tvd.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)) == \
            get_model_meta("fasterrcnn_r50_fpn")["params"]
        assert _count(tvd.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)) == \
            get_model_meta("maskrcnn_r50_fpn")["params"]
        assert get_model_meta("fasterrcnn_r50_fpn_frozenbn")["params"] == 41_755_286
        assert get_model_meta("maskrcnn_r50_fpn_frozenbn")["params"] == 44_401_393
        # normalised heads: torchvision's v2 (BN in FPN and heads, 4conv1fc, two RPN convs), shape for shape
        for ours, tv in (("fasterrcnn", tvd.fasterrcnn_resnet50_fpn_v2), ("maskrcnn", tvd.maskrcnn_resnet50_fpn_v2)):
            a = build_detector("fpn", backbone="resnet50", mask=ours == "maskrcnn", head_norm="bn", rpn_conv_depth=2)
            b = tv(weights=None, weights_backbone=None)
            assert sorted(p.shape for p in a.parameters()) == sorted(p.shape for p in b.parameters())
            assert _count(a) - 256 * 256 * 9 - 256 == get_model_meta(f"{ours}_r50_fpn_gn")["params"]
    # R-101 = R-50 + the body difference
    from paperlib.models import get_model_meta as g
    body = g("resnet101")["params"] - g("resnet50")["params"]
    for n in ("fasterrcnn_r{}_fpn", "maskrcnn_r{}_fpn_gn", "maskrcnn_r{}_fpn_syncbn"):
        assert g(n.format(101))["params"] - g(n.format(50))["params"] == body
