"""ResNet / ResNeXt (Xie et al., CVPR 2017) as AnyNet instances, plus forms (a)/(b) of the block.

Every builder is registered in :mod:`paperlib.models.registry` with a metadata record:
``params`` / ``flops`` (multiply-adds) / ``acts`` = the spec's exact anchors under the pycls counting
convention (checked by ``tests/test_complexity.py``), and ``paper`` = numbers as printed in the paper.
Builders take keyword overrides of any :class:`AnyNetConfig` field, e.g.
``create_model("resnext50_32x4d", num_classes=200, stem="imagenet_nopool")`` or ``shortcut=False``.

Width rule (template rules of the paper; torchvision ``int(planes * d / 64) * C``): stage i (0-based)
has output width ``w0 * 2**i`` and grouped width ``C * d * 2**i`` with ``C`` groups (group width
``d * 2**i``).  ResNet = "1 x 64d".
"""
from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import torch
from torch import nn

from .anynet import AnyNet, AnyNetConfig, BottleneckTransform, ResBottleneckBlock
from .registry import register_model

__all__ = ["resnext_config", "build", "ResNeXtBlockA", "ResNeXtBlockB", "copy_block_c_to_a",
           "copy_block_c_to_b", "make_block_forms", "template_params", "TABLE2_TEMPLATES",
           "MINI_FAMILY", "TABLE3_FAMILY_50"]

IMAGENET = (3, 224, 224)
CIFAR = (3, 32, 32)


def resnext_config(depths: Sequence[int], cardinality: int, width: int, *, stem: str = "imagenet",
                   stem_width: int = 64, w0: int = 256, first_stride: int = 1,
                   num_classes: int = 1000, shortcut: bool = True) -> AnyNetConfig:
    """The AnyNet config of a ResNeXt ``C x d`` (``width`` = d of the first stage)."""
    n = len(depths)
    return AnyNetConfig(
        stem=stem, stem_width=stem_width, depths=list(depths),
        widths=[w0 * 2 ** i for i in range(n)],
        strides=[first_stride] + [2] * (n - 1),
        bot_widths=[cardinality * width * 2 ** i for i in range(n)],
        group_widths=[width * 2 ** i for i in range(n)],
        se_ratio=None, num_classes=num_classes, shortcut=shortcut, block="bottleneck")


def build(cfg: AnyNetConfig, **overrides) -> AnyNet:
    """``AnyNet(cfg)`` with keyword overrides of config fields (unknown keys raise TypeError)."""
    names = {f.name for f in dataclasses.fields(AnyNetConfig)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise TypeError(f"unknown AnyNetConfig override(s) {bad}; valid: {sorted(names)}")
    return AnyNet(dataclasses.replace(cfg, **overrides))


def _meta(family, params=None, flops=None, acts=None, input_size=IMAGENET, num_classes=1000,
          cardinality=None, width=None, depth=None, **paper):
    m = {"family": family, "input_size": input_size, "num_classes": num_classes,
         "cardinality": cardinality, "bottleneck_width": width, "depth": depth,
         "paper": paper, "source": "docs/papers/01_resnext.md (verification anchors; pycls counter)"}
    if params is not None:
        m["params"] = params
    if flops is not None:
        m["flops"] = flops
    if acts is not None:
        m["acts"] = acts
    return m


def _register(name, depths, C, d, meta, **cfg_kw):
    def builder(**kwargs):
        return build(resnext_config(depths, C, d, **cfg_kw), **kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.__module__ = __name__
    builder.__doc__ = f"{name}: depths {list(depths)}, {C}x{d}d ({meta['family']})."
    register_model(name, meta=meta)(builder)
    globals()[name] = builder
    return builder


D50, D101, D152, D200 = [3, 4, 6, 3], [3, 4, 23, 3], [3, 8, 36, 3], [3, 24, 36, 3]

# ---- ImageNet models: (name, depths, C, d, params, MACs, acts, paper numbers) -------------------
_IMAGENET = [
    ("resnet50", D50, 1, 64, 25_557_032, 4_089_185_256, 11_315_688,
     dict(params_m=25.5, gflops=4.1, top1_err=23.9, no_residual_top1_err=31.2,
          in5k_top1_err=45.5, in5k_top5_err=19.4, in5k_1k_top1_err=27.1, in5k_1k_top5_err=8.2,
          coco_ap50=47.6, coco_ap=26.5)),
    ("resnext50_1x64d", D50, 1, 64, 25_557_032, 4_089_185_256, 11_315_688, dict(top1_err=23.9)),
    ("resnext50_2x40d", D50, 2, 40, 25_425_000, 4_124_509_160, 12_137_320, dict(gflops=4.1, top1_err=23.0)),
    ("resnext50_4x24d", D50, 4, 24, 25_292_968, 4_159_833_064, 12_958_952, dict(gflops=4.1, top1_err=22.6)),
    ("resnext50_8x14d", D50, 8, 14, 25_603_016, 4_267_410_408, 13_780_584, dict(gflops=4.1, top1_err=22.3)),
    ("resnext50_32x4d", D50, 32, 4, 25_028_904, 4_230_480_872, 14_602_216,
     dict(params_m=25.0, gflops=4.2, top1_err=22.2, no_residual_top1_err=26.1,
          in5k_top1_err=42.3, in5k_top5_err=16.8, in5k_1k_top1_err=24.4, in5k_1k_top5_err=6.6,
          coco_ap50=49.7, coco_ap=27.5, pycls_top1_err=21.9)),
    ("resnet101", D101, 1, 64, 44_549_160, 7_801_406_440, 16_433_640,
     dict(gflops=7.8, top1_err=22.0, top5_err=6.0, in5k_top1_err=42.4, in5k_top5_err=16.9,
          in5k_1k_top1_err=24.2, in5k_1k_top5_err=6.8, coco_ap50=51.1, coco_ap=29.8)),
    ("resnext101_2x40d", D101, 2, 40, None, None, None, dict(top1_err=21.7)),
    ("resnext101_4x24d", D101, 4, 24, None, None, None, dict(top1_err=21.4)),
    ("resnext101_8x14d", D101, 8, 14, None, None, None, dict(top1_err=21.3)),
    ("resnext101_32x4d", D101, 32, 4, 44_177_704, 7_969_997_800, 21_426_152,
     dict(params_m=44.0, gflops=7.8, top1_err=21.2, top5_err=5.6, in5k_top1_err=40.1,
          in5k_top5_err=15.1, in5k_1k_top1_err=22.2, in5k_1k_top5_err=5.7, coco_ap50=51.9,
          coco_ap=30.0, pycls_top1_err=20.7)),
    ("resnext101_32x8d", D101, 32, 8, 88_791_336, 16_414_016_488, None, {}),
    ("resnext101_64x4d", D101, 64, 4, 83_455_272, 15_460_271_080, 31_411_176,
     dict(gflops=15.6, top1_err=20.4, top5_err=5.3, top1_err_320=19.1, top5_err_320=4.4)),
    ("resnext101_2x64d", D101, 2, 64, 84_198_184, 15_123_088_360, 21_426_152,
     dict(gflops=15.0, top1_err=20.7, top5_err=5.5)),
    ("resnet101_1x100d", D101, 1, 100, 85_611_336, 15_272_863_720, 19_241_928,
     dict(gflops=15.0, top1_err=21.3, top5_err=5.7)),
    ("resnet152", D152, 1, 64, None, None, None, {}),
    ("resnext152_32x4d", D152, 32, 4, 59_951_400, 11_709_514_728, 29_855_720, dict(pycls_top1_err=20.4)),
    ("resnet200", D200, 1, 64, 64_673_832, 15_007_482_856, 32_389_608,
     dict(gflops=15.0, top1_err=21.7, top5_err=5.8, top1_err_320=20.1, top5_err_320=4.8)),
]
for _n, _dep, _C, _d, _p, _f, _a, _paper in _IMAGENET:
    _register(_n, _dep, _C, _d, _meta("imagenet", _p, _f, _a, cardinality=_C, width=_d,
                                      depth=3 * sum(_dep) + 2, **_paper))

TABLE3_FAMILY_50 = ["resnext50_1x64d", "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d",
                    "resnext50_32x4d"]

# ---- CIFAR ResNeXt-29 (Appendix A): 3x3 stem 64, 3 stages x 3 blocks, widths 256/512/1024 -------
_CIFAR = [
    ("resnext29_1x64d", 1, 64, 4_914_250, 748_365_834, {}),
    ("resnext29_2x64d", 2, 64, 9_130_314, None, {}),
    ("resnext29_4x64d", 4, 64, 17_562_442, None, {}),
    ("resnext29_8x64d", 8, 64, 34_426_698, 5_387_266_058,
     dict(params_m=34.4, cifar10_err=3.65, cifar100_err=17.77)),
    ("resnext29_16x64d", 16, 64, 68_155_210, 10_688_866_314,
     dict(params_m=68.1, cifar10_err=3.58, cifar100_err=17.31)),
    ("resnext29_1x128d", 1, 128, 13_775_178, None, {}),
    ("resnext29_1x256d", 1, 256, 45_431_626, None, {}),
    # width series of the Fig 7 analogue, params matched to 2x64d / 4x64d (not in the paper: the
    # paper's width settings were not captured, see the spec) -- no anchors
    ("resnext29_1x100d", 1, 100, None, None, {}),
    ("resnext29_1x148d", 1, 148, None, None, {}),
]
for _n, _C, _d, _p, _f, _paper in _CIFAR:
    _register(_n, [3, 3, 3], _C, _d,
              _meta("cifar", _p, _f, None, input_size=CIFAR, num_classes=10, cardinality=_C,
                    width=_d, depth=29, **_paper),
              stem="cifar", stem_width=64, num_classes=10)

# ---- mini family (spec, not paper): CPU-sized, Table 2 template halved ----------------------------
# 3x3 s1 stem 32, 3 stages x 1 block, widths 128/256/512, 10 classes, 32x32 input.
# ``flops`` here are our exact counts; the spec gives them rounded (80.6/82.0/83.4/85.9/86.2 M),
# which tests/test_complexity.py checks as well.
_MINI = [
    ("resnext_mini_1x32d", 1, 32, 500_010, 80_581_642, 80.6),
    ("resnext_mini_2x20d", 2, 20, 489_898, 81_990_666, 82.0),
    ("resnext_mini_4x12d", 4, 12, 479_786, 83_399_690, 83.4),
    ("resnext_mini_8x7d", 8, 7, 477_234, 85_914_634, 85.9),
    ("resnext_mini_32x2d", 32, 2, 459_562, 86_217_738, 86.2),
]
MINI_FAMILY = [m[0] for m in _MINI]
_IMAGENET_ERR = [(x[0], x[7].get("top1_err")) for x in _IMAGENET]
for _n, _C, _d, _p, _f, _fm in _MINI:
    _analog = {1: "resnext50_1x64d", 2: "resnext50_2x40d", 4: "resnext50_4x24d", 8: "resnext50_8x14d",
               32: "resnext50_32x4d"}[_C]
    _register(_n, [1, 1, 1], _C, _d,
              _meta("mini", _p, _f, None, input_size=CIFAR, num_classes=10, cardinality=_C,
                    width=_d, depth=11, mflops_spec=_fm, analog=_analog,
                    analog_top1_err=dict(_IMAGENET_ERR)[_analog]),
              stem="cifar", stem_width=32, w0=128, num_classes=10)
del _n, _C, _d, _p, _f, _paper, _dep, _a, _fm, _analog


# ---- Table 2: template parameters ----------------------------------------------------------------
TABLE2_TEMPLATES = [(1, 64), (2, 40), (4, 24), (8, 14), (32, 4)]


def template_params(cardinality: int, width: int, w: int = 256) -> int:
    """Conv-weight parameters (no BN) of the conv2 template block ``w -> C*d -> w``, counted on the
    module: C*(w*d + 9*d*d + d*w) (Table 2: 69,632 / 69,760 / 69,888 / 71,456 / 70,144)."""
    with torch.device("meta"):
        f = BottleneckTransform(w, w, 1, cardinality * width, width)
    return sum(m.weight.numel() for m in (f.a, f.b, f.c))


# ---- forms (a) and (b) of the block, for the equivalence test (C3) -------------------------------
class _Shortcut(nn.Module):
    def __init__(self, w_in, w_out, stride):
        super().__init__()
        if w_in != w_out or stride != 1:
            self.proj = nn.Conv2d(w_in, w_out, 1, stride=stride, bias=False)
            self.bn = nn.BatchNorm2d(w_out)

    def forward(self, x):
        return self.bn(self.proj(x)) if hasattr(self, "proj") else x


def _path(w_in, d, stride):
    return nn.Sequential(nn.Conv2d(w_in, d, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU(),
                         nn.Conv2d(d, d, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(d),
                         nn.ReLU())


class ResNeXtBlockA(nn.Module):
    """Form (a), split-transform-sum: y = ReLU(x' + BN(sum_i W_c,i T_i(x))), C explicit paths.
    (The per-path last 1x1 convs are summed before one BN, as in the grouped form.)"""

    def __init__(self, w_in, w_out, stride, cardinality, width):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(*_path(w_in, width, stride), nn.Conv2d(width, w_out, 1, bias=False))
            for _ in range(cardinality))
        self.bn = nn.BatchNorm2d(w_out)
        self.shortcut = _Shortcut(w_in, w_out, stride)

    def forward(self, x):
        s = self.paths[0](x)
        for p in self.paths[1:]:
            s = s + p(x)
        return torch.relu(self.bn(s) + self.shortcut(x))


class ResNeXtBlockB(nn.Module):
    """Form (b), early concatenation: C paths of 1x1 + 3x3, concatenated, one 1x1 conv + BN."""

    def __init__(self, w_in, w_out, stride, cardinality, width):
        super().__init__()
        self.paths = nn.ModuleList(_path(w_in, width, stride) for _ in range(cardinality))
        self.c = nn.Conv2d(cardinality * width, w_out, 1, bias=False)
        self.c_bn = nn.BatchNorm2d(w_out)
        self.shortcut = _Shortcut(w_in, w_out, stride)

    def forward(self, x):
        h = torch.cat([p(x) for p in self.paths], dim=1)
        return torch.relu(self.c_bn(self.c(h)) + self.shortcut(x))


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, sl=slice(None)):
    for k in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, k).data.copy_(getattr(src, k).data[sl])
    dst.num_batches_tracked.data.copy_(src.num_batches_tracked.data)


def _copy_paths_and_shortcut(dst, c: ResBottleneckBlock, width):
    f = c.f
    for i, p in enumerate(dst.paths):
        sl = slice(i * width, (i + 1) * width)
        p[0].weight.data.copy_(f.a.weight.data[sl])           # 1x1: output channels of path i
        _copy_bn(p[1], f.a_bn, sl)
        p[3].weight.data.copy_(f.b.weight.data[sl])           # grouped 3x3: group i = channels of path i
        _copy_bn(p[4], f.b_bn, sl)
    if hasattr(c, "proj"):
        dst.shortcut.proj.weight.data.copy_(c.proj.weight.data)
        _copy_bn(dst.shortcut.bn, c.bn)


@torch.no_grad()
def copy_block_c_to_a(c: ResBottleneckBlock, a: ResNeXtBlockA) -> ResNeXtBlockA:
    """Path i of (a) = channel slice i of the grouped 1x1/3x3 and their BNs; its last 1x1 = input
    slice i of the final 1x1 (a sum of 1x1 convs over slices = one 1x1 over the concatenation)."""
    width = c.f.b.weight.shape[1]
    _copy_paths_and_shortcut(a, c, width)
    for i, p in enumerate(a.paths):
        p[6].weight.data.copy_(c.f.c.weight.data[:, i * width:(i + 1) * width])
    _copy_bn(a.bn, c.f.c_bn)
    return a


@torch.no_grad()
def copy_block_c_to_b(c: ResBottleneckBlock, b: ResNeXtBlockB) -> ResNeXtBlockB:
    """Paths of (b) as in :func:`copy_block_c_to_a`; the final 1x1 + BN are copied unchanged."""
    width = c.f.b.weight.shape[1]
    _copy_paths_and_shortcut(b, c, width)
    b.c.weight.data.copy_(c.f.c.weight.data)
    _copy_bn(b.c_bn, c.f.c_bn)
    return b


def make_block_forms(w_in: int, w_out: int, stride: int, cardinality: int, width: int,
                     seed: int = 0) -> Tuple[ResNeXtBlockA, ResNeXtBlockB, ResBottleneckBlock]:
    """Forms (a), (b), (c) of one ResNeXt block holding the same weights (random BN statistics
    too, so that eval-mode BN is not the identity).  Returned in eval mode."""
    g = torch.Generator().manual_seed(seed)
    c = ResBottleneckBlock(w_in, w_out, stride, cardinality * width, width)
    with torch.no_grad():
        for m in c.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    a = copy_block_c_to_a(c, ResNeXtBlockA(w_in, w_out, stride, cardinality, width))
    b = copy_block_c_to_b(c, ResNeXtBlockB(w_in, w_out, stride, cardinality, width))
    return a.eval(), b.eval(), c.eval()
