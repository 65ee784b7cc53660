"""AnyNet (pycls's idea): a stem, stages of identical-topology blocks, a head -- described by data.

ResNet, ResNeXt (this module + :mod:`paperlib.models.resnext`) and RegNetX/Y (``regnet.py``) are all
instances of :class:`AnyNet` built from an :class:`AnyNetConfig`.

Block ("bottleneck", the ResNeXt block in its grouped-convolution form (c), pycls's
``ResBottleneckBlock``)::

    x -> 1x1 conv (w_in -> w_b) -> BN -> ReLU
      -> 3x3 conv (w_b -> w_b, groups = w_b // group_width, stride s, pad 1) -> BN -> ReLU
      -> [SE(w_b, round(se_ratio * w_in))]                       (RegNetY only)
      -> 1x1 conv (w_b -> w_out) -> BN
      (+ shortcut: identity, or 1x1 conv stride s + BN when w_in != w_out or s != 1)
      -> ReLU

All convolutions are bias-free; the head is global average pooling + a biased FC layer.
Module names follow pycls (``stem.conv``, ``s1.b1.f.a``, ``s1.b1.proj``, ``head.fc`` ...), so
pycls checkpoints load directly; :mod:`paperlib.models.convert` maps torchvision's names.

Residual ablation (``shortcut=False``, paper Sec. 5.1 "without residual connections"): the block
is ``ReLU(F(x))`` -- the shortcut (identity or projection) is removed and the final ReLU kept.
The paper does not say how its ablation was built; this choice is recorded in the notebook.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import List, Optional

import torch
from torch import nn

__all__ = ["AnyNetConfig", "AnyNet", "ResBottleneckBlock", "BottleneckTransform", "SE",
           "STEMS", "init_weights"]

STEMS = ("imagenet", "imagenet_nopool", "simple", "cifar")


@dataclass
class AnyNetConfig:
    """Everything that defines an AnyNet.  Per-stage lists have one entry per stage.

    stem:         "imagenet" 7x7 s2 conv + BN + ReLU + 3x3 maxpool s2 (ResNet/ResNeXt);
                  "imagenet_nopool" the same without the maxpool (small-image ImageNet proxies);
                  "simple"   3x3 s2 conv + BN + ReLU (RegNet);
                  "cifar"    3x3 s1 conv + BN + ReLU (ResNeXt-29, the mini family).
    stem_width:   stem output channels.
    depths:       blocks per stage.
    widths:       stage output widths w_out.
    strides:      stride of the first block of each stage (applied in its 3x3 conv).
    bot_widths:   inner (bottleneck / grouped-conv) width w_b per stage (= C*d for ResNeXt).
    group_widths: channels per group (= d for ResNeXt); groups = bot_width // group_width.
    se_ratio:     None, or SE width = round(se_ratio * block input width) (RegNetY, 0.25).
    num_classes:  FC outputs.
    shortcut:     False = "no residual connections" ablation (see module docstring).
    block:        "bottleneck" (the only block type so far).
    """

    stem: str
    stem_width: int
    depths: List[int]
    widths: List[int]
    strides: List[int]
    bot_widths: List[int]
    group_widths: List[int]
    se_ratio: Optional[float] = None
    num_classes: int = 1000
    shortcut: bool = True
    block: str = "bottleneck"

    def __post_init__(self):
        n = len(self.depths)
        for k in ("widths", "strides", "bot_widths", "group_widths"):
            if len(getattr(self, k)) != n:
                raise ValueError(f"AnyNetConfig.{k} has {len(getattr(self, k))} entries, depths has {n}")
        if self.stem not in STEMS:
            raise ValueError(f"unknown stem {self.stem!r}; choose from {STEMS}")
        if self.block != "bottleneck":
            raise ValueError(f"unknown block {self.block!r}; only 'bottleneck' is implemented")
        for b, g in zip(self.bot_widths, self.group_widths):
            if g <= 0 or b % g:
                raise ValueError(f"bot_width {b} is not a multiple of group_width {g}")

    def to_dict(self) -> dict:
        return asdict(self)


class Stem(nn.Sequential):
    def __init__(self, kind: str, w_in: int, w_out: int):
        super().__init__()
        if kind in ("imagenet", "imagenet_nopool"):
            self.conv = nn.Conv2d(w_in, w_out, 7, stride=2, padding=3, bias=False)
        else:
            self.conv = nn.Conv2d(w_in, w_out, 3, stride=2 if kind == "simple" else 1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(w_out)
        self.af = nn.ReLU(inplace=True)
        if kind == "imagenet":
            self.pool = nn.MaxPool2d(3, stride=2, padding=1)


class SE(nn.Module):
    """Squeeze-and-excitation: GAP -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) -> sigmoid -> scale."""

    def __init__(self, w_in: int, w_se: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.f_ex = nn.Sequential(nn.Conv2d(w_in, w_se, 1, bias=True), nn.ReLU(inplace=True),
                                  nn.Conv2d(w_se, w_in, 1, bias=True), nn.Sigmoid())

    def forward(self, x):
        return x * self.f_ex(self.avg_pool(x))


class BottleneckTransform(nn.Sequential):
    """F(x) of the bottleneck block: 1x1, 3x3 grouped (stride here), [SE], 1x1; BN after each conv."""

    def __init__(self, w_in: int, w_out: int, stride: int, w_b: int, group_width: int,
                 se_ratio: Optional[float] = None):
        super().__init__()
        groups = w_b // group_width
        self.a = nn.Conv2d(w_in, w_b, 1, bias=False)
        self.a_bn = nn.BatchNorm2d(w_b)
        self.a_af = nn.ReLU(inplace=True)
        self.b = nn.Conv2d(w_b, w_b, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.b_bn = nn.BatchNorm2d(w_b)
        self.b_af = nn.ReLU(inplace=True)
        if se_ratio:
            self.se = SE(w_b, int(round(w_in * se_ratio)))
        self.c = nn.Conv2d(w_b, w_out, 1, bias=False)
        self.c_bn = nn.BatchNorm2d(w_out)


class ResBottleneckBlock(nn.Module):
    """Residual bottleneck block (ResNeXt form (c)); ``shortcut=False`` gives ReLU(F(x))."""

    def __init__(self, w_in: int, w_out: int, stride: int, w_b: int, group_width: int,
                 se_ratio: Optional[float] = None, shortcut: bool = True):
        super().__init__()
        self.shortcut = shortcut
        if shortcut and (w_in != w_out or stride != 1):
            self.proj = nn.Conv2d(w_in, w_out, 1, stride=stride, bias=False)
            self.bn = nn.BatchNorm2d(w_out)
        self.f = BottleneckTransform(w_in, w_out, stride, w_b, group_width, se_ratio)
        self.af = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.f(x)
        if self.shortcut:
            out += self.bn(self.proj(x)) if hasattr(self, "proj") else x
        return self.af(out)


class AnyStage(nn.Sequential):
    def __init__(self, w_in: int, w_out: int, stride: int, depth: int, w_b: int, group_width: int,
                 se_ratio: Optional[float], shortcut: bool):
        super().__init__()
        for i in range(depth):
            self.add_module(f"b{i + 1}", ResBottleneckBlock(
                w_in if i == 0 else w_out, w_out, stride if i == 0 else 1, w_b, group_width,
                se_ratio, shortcut))


class AnyHead(nn.Module):
    def __init__(self, w_in: int, num_classes: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w_in, num_classes, bias=True)

    def forward(self, x):
        return self.fc(torch.flatten(self.avg_pool(x), 1))


def init_weights(m: nn.Module) -> None:
    """Official ResNeXt (Torch) / pycls init: conv N(0, sqrt(2 / (k*k*C_out))), BN gamma=1 beta=0,
    FC: PyTorch default weight, bias 0."""
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
        nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class AnyNet(nn.Module):
    """``AnyNet(cfg)``: stem -> s1 .. sN -> head.  ``model.cfg`` keeps the config."""

    def __init__(self, cfg: AnyNetConfig, in_chans: int = 3):
        super().__init__()
        self.cfg = cfg
        self.stem = Stem(cfg.stem, in_chans, cfg.stem_width)
        w_in = cfg.stem_width
        for i, (d, w, s, wb, gw) in enumerate(zip(cfg.depths, cfg.widths, cfg.strides,
                                                   cfg.bot_widths, cfg.group_widths)):
            self.add_module(f"s{i + 1}", AnyStage(w_in, w, s, d, wb, gw, cfg.se_ratio, cfg.shortcut))
            w_in = w
        self.head = AnyHead(w_in, cfg.num_classes)
        self.num_features = w_in
        self.apply(init_weights)

    def stages(self) -> List[nn.Module]:
        return [getattr(self, f"s{i + 1}") for i in range(len(self.cfg.depths))]

    def forward_features(self, x):
        x = self.stem(x)
        for s in self.stages():
            x = s(x)
        return x

    def forward(self, x):
        return self.head(self.forward_features(x))
