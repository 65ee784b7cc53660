"""AnyNet / ResNeXt models: registry, config, block forms (a)/(b)/(c), torchvision equivalence."""
import dataclasses

import pytest
import torch
from torch import nn

from paperlib.models import AnyNet, AnyNetConfig, create_model, get_model_meta, list_models, register_model
from paperlib.models import resnext as rx
from paperlib.models.convert import (from_torchvision_state_dict, load_torchvision_state_dict,
                                     ours_key_to_torchvision, to_torchvision_state_dict,
                                     torchvision_key_to_ours)

torch.set_num_threads(1)

REQUIRED = ["resnet50", "resnet101", "resnet152", "resnet200", "resnext50_32x4d", "resnext101_32x4d",
            "resnext101_32x8d", "resnext101_64x4d", "resnext101_2x64d", "resnet101_1x100d",
            "resnext152_32x4d", "resnext50_1x64d", "resnext50_2x40d", "resnext50_4x24d",
            "resnext50_8x14d", "resnext29_1x64d", "resnext29_2x64d", "resnext29_4x64d",
            "resnext29_8x64d", "resnext29_16x64d", "resnext29_1x128d", "resnext29_1x256d",
            "resnext_mini_1x32d", "resnext_mini_2x20d", "resnext_mini_4x12d", "resnext_mini_8x7d",
            "resnext_mini_32x2d"]


def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


# ---- registry --------------------------------------------------------------------------------------
def test_registry_lists_required_builders_with_meta():
    names = list_models()
    assert names == sorted(names)
    for n in REQUIRED:
        assert n in names, n
        meta = get_model_meta(n)
        assert meta["name"] == n and "input_size" in meta and "paper" in meta
    assert list_models("resnext_mini_*") == sorted(rx.MINI_FAMILY)
    assert set(list_models(family="mini")) == set(rx.MINI_FAMILY)
    # meta is a copy
    get_model_meta("resnet50")["params"] = 0
    assert get_model_meta("resnet50")["params"] == 25_557_032
    assert get_model_meta("resnext50_32x4d")["paper"]["top1_err"] == 22.2


def test_registry_errors_and_duplicates():
    with pytest.raises(KeyError, match="unknown model"):
        create_model("resnext50_33x4d")
    with pytest.raises(KeyError):
        get_model_meta("nope")

    def other():
        return None
    with pytest.raises(ValueError, match="already registered"):
        register_model("resnet50")(other)


def test_builder_overrides_and_unknown_override():
    m = create_model("resnext_mini_8x7d", num_classes=7, shortcut=False)
    assert isinstance(m, AnyNet) and m.cfg.num_classes == 7 and m.head.fc.out_features == 7
    assert not any(n.endswith("proj") for n, _ in m.named_modules())
    with pytest.raises(TypeError, match="unknown AnyNetConfig override"):
        create_model("resnext_mini_8x7d", cardinality=3)


# ---- AnyNet structure ------------------------------------------------------------------------------
def test_config_validation():
    kw = dict(stem="cifar", stem_width=16, depths=[1, 1], widths=[32, 64], strides=[1, 2],
              bot_widths=[16, 32], group_widths=[4, 8])
    AnyNetConfig(**kw)
    with pytest.raises(ValueError, match="entries"):
        AnyNetConfig(**{**kw, "widths": [32]})
    with pytest.raises(ValueError, match="multiple"):
        AnyNetConfig(**{**kw, "group_widths": [5, 8]})
    with pytest.raises(ValueError, match="stem"):
        AnyNetConfig(**{**kw, "stem": "vit"})
    assert [f.name for f in dataclasses.fields(AnyNetConfig)] == [
        "stem", "stem_width", "depths", "widths", "strides", "bot_widths", "group_widths",
        "se_ratio", "num_classes", "shortcut", "block"]


def test_resnext50_structure_matches_table1():
    with torch.device("meta"):
        m = create_model("resnext50_32x4d")
    assert m.cfg.bot_widths == [128, 256, 512, 1024] and m.cfg.widths == [256, 512, 1024, 2048]
    assert m.stem.conv.kernel_size == (7, 7) and m.stem.conv.stride == (2, 2)
    assert isinstance(m.stem.pool, nn.MaxPool2d)
    for i, s in enumerate(m.stages()):
        assert len(list(s.children())) == [3, 4, 6, 3][i]
        b1 = s.b1
        assert b1.f.b.groups == 32 and b1.f.b.stride == ((1, 1) if i == 0 else (2, 2))
        assert b1.f.a.stride == (1, 1) and b1.proj.stride == b1.f.b.stride   # stride on the 3x3
        assert not hasattr(s.b2, "proj")                                      # identity shortcuts
    assert all(c.bias is None for c in m.modules() if isinstance(c, nn.Conv2d))
    assert m.head.fc.bias is not None
    r50 = create_model("resnet50", num_classes=10).cfg
    assert r50.bot_widths == [64, 128, 256, 512] and r50.group_widths == r50.bot_widths


@pytest.mark.parametrize("stem,hw,out_hw", [("imagenet", 64, 4), ("imagenet_nopool", 64, 8),
                                            ("simple", 32, 4), ("cifar", 32, 8)])
def test_stems_forward_and_backward(stem, hw, out_hw):
    cfg = AnyNetConfig(stem=stem, stem_width=8, depths=[1, 2, 1], widths=[16, 32, 48], strides=[1, 2, 2],
                       bot_widths=[8, 16, 24], group_widths=[4, 8, 8], se_ratio=0.25, num_classes=5)
    m = AnyNet(cfg)
    x = torch.randn(2, 3, hw, hw)
    assert m.forward_features(x).shape == (2, 48, out_hw, out_hw)
    y = m(x)
    assert y.shape == (2, 5)
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    # SE width = round(se_ratio * block input width)
    assert m.s2.b1.f.se.f_ex[0].out_channels == round(0.25 * 16)
    assert m.s2.b2.f.se.f_ex[0].out_channels == round(0.25 * 32)


def test_init_official():
    torch.manual_seed(0)
    m = create_model("resnext29_1x64d")
    w = m.s1.b1.f.c.weight   # 1x1, 64 -> 256 outputs: std sqrt(2/256)
    assert abs(w.std().item() - (2 / 256) ** 0.5) < 0.1 * (2 / 256) ** 0.5
    w = m.s1.b1.f.b.weight   # 3x3: std sqrt(2/(9*64))
    assert abs(w.std().item() - (2 / (9 * 64)) ** 0.5) < 0.1 * (2 / (9 * 64)) ** 0.5
    bns = [x for x in m.modules() if isinstance(x, nn.BatchNorm2d)]
    assert all(torch.all(b.weight == 1) and torch.all(b.bias == 0) for b in bns)
    assert torch.all(m.head.fc.bias == 0)


def test_no_shortcut_ablation_is_relu_of_transform():
    m = create_model("resnext_mini_1x32d", shortcut=False).eval()
    b = m.s2.b1
    x = torch.randn(1, 128, 8, 8)
    with torch.no_grad():
        assert torch.equal(b(x), torch.relu(b.f(x)))


# ---- C3: forms (a), (b), (c) compute the same function ------------------------------------------
@pytest.mark.parametrize("w_in,w_out,stride,C,d", [(256, 256, 1, 32, 4), (64, 256, 1, 8, 14),
                                                   (256, 512, 2, 4, 24)])
def test_forms_abc_equivalent(w_in, w_out, stride, C, d):
    torch.manual_seed(0)
    a, b, c = rx.make_block_forms(w_in, w_out, stride, C, d)
    x = torch.randn(2, w_in, 14, 14)
    with torch.no_grad():
        yc, ya, yb = c(x), a(x), b(x)
    assert yc.shape == (2, w_out, 14 // stride, 14 // stride)
    assert (ya - yc).abs().max().item() < 1e-5
    assert (yb - yc).abs().max().item() < 1e-5
    # the three forms hold exactly the same number of parameters
    n = [sum(p.numel() for p in f.parameters()) for f in (a, b, c)]
    assert n[0] == n[1] == n[2]


def test_table2_template_params():
    assert [rx.template_params(C, d) for C, d in rx.TABLE2_TEMPLATES] == [69_632, 69_760, 69_888, 71_456, 70_144]
    assert [C * d for C, d in rx.TABLE2_TEMPLATES] == [64, 80, 96, 112, 128]


# ---- faithfulness: torchvision (and timm) state dicts load and give the same outputs --------------
def test_key_mapping_roundtrip():
    for k in ["conv1.weight", "bn1.running_var", "layer3.5.conv2.weight", "layer1.0.downsample.1.num_batches_tracked",
              "layer4.2.bn3.bias", "fc.bias"]:
        assert ours_key_to_torchvision(torchvision_key_to_ours(k)) == k
    assert torchvision_key_to_ours("layer2.0.downsample.0.weight") == "s2.b1.proj.weight"
    assert torchvision_key_to_ours("layer1.2.conv2.weight") == "s1.b3.f.b.weight"
    with pytest.raises(KeyError):
        torchvision_key_to_ours("layer1.0.se.fc1.weight")


@pytest.mark.parametrize("name", ["resnet50", "resnext50_32x4d"])
def test_torchvision_equivalence(name):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    tv = _randomize_bn(getattr(torchvision.models, name)(weights=None)).eval()
    ours = create_model(name).eval()
    res = load_torchvision_state_dict(ours, tv.state_dict())
    assert not res.missing_keys and not res.unexpected_keys
    assert set(to_torchvision_state_dict(ours.state_dict())) == set(tv.state_dict())
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in tv.parameters())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        d = (ours(x) - tv(x)).abs().max().item()
    assert d < 1e-5, d


def test_timm_uses_same_mapping():
    timm = pytest.importorskip("timm")
    torch.manual_seed(1)
    ours = _randomize_bn(create_model("resnext_mini_8x7d", num_classes=10, stem="imagenet")).eval()
    # timm's resnext50_32x4d keys; compare key sets on the full model only (cheap, meta)
    with torch.device("meta"):
        tm = timm.create_model("resnext50_32x4d")
        o50 = create_model("resnext50_32x4d")
    assert set(from_torchvision_state_dict(tm.state_dict())) == set(o50.state_dict())
    assert ours(torch.randn(1, 3, 32, 32)).shape == (1, 10)
