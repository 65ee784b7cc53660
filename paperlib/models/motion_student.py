"""The single-frame student of "Learning Features by Watching Objects Move" and its transfer wrappers.

The paper's student is a DeepMask-style AlexNet (trunk + mask head). Here the trunk is an
:class:`~paperlib.models.anynet.AnyNet` (stem + stages, its classifier head unused) so the project keeps
one family of ConvNets; its parts (stem, s1, s2, ...) play the role of AlexNet's conv1..conv5 when
layers are frozen for transfer. Heads on the same trunk:

- :class:`MaskNet`: 3x3 conv + ReLU + 1x1 conv to one logit per position, bilinearly up-sampled to the input
  (the pretext: predict the uNLC mask of the frame), trained with :func:`trimap_bce`;
- :class:`RotNet`: global pool + Linear(4) (the rotation-prediction baseline on the same frames);
- :class:`TransferNet`: global pool + Linear(K) for the downstream classification, with the first
  ``freeze`` trunk parts frozen (no gradient, BatchNorm kept in eval mode).
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .anynet import AnyNet, AnyNetConfig

__all__ = ["student_config", "Trunk", "trunk_to_anynet", "MaskNet", "RotNet", "TransferNet", "trimap_bce", "trimap_targets"]


def student_config(widths: Sequence[int] = (32, 64, 128), depths: Sequence[int] = (1, 1, 1),
                   stem_width: int = 24, strides: Sequence[int] | None = None, stem: str = "simple") -> AnyNetConfig:
    """A small AnyNet (bottleneck ratio 1, one group; strides 1, 2, 2, ... by default). ``stem="simple"`` (s2):
    with three stages a 64 px input gives an 8 px feature map; ``stem="imagenet"`` (s4) with four stages gives
    strides 4..32, the body :func:`paperlib.models.detection.build_detector` expects (:func:`trunk_to_anynet`)."""
    n = len(widths)
    strides = list(strides) if strides is not None else [1] + [2] * (n - 1)
    return AnyNetConfig(stem=stem, stem_width=stem_width, depths=list(depths), widths=list(widths),
                        strides=list(strides), bot_widths=list(widths), group_widths=list(widths), num_classes=1)


class Trunk(nn.Module):
    """AnyNet without its head; ``parts`` = [stem, s1, s2, ...] (the freezable levels)."""

    def __init__(self, cfg: AnyNetConfig):
        super().__init__()
        net = AnyNet(cfg)
        self.cfg = cfg
        self.stem = net.stem
        self.stages = nn.Sequential(*net.stages())
        self.num_features = net.num_features

    @property
    def parts(self) -> List[nn.Module]:
        return [self.stem, *self.stages]

    def forward(self, x):
        return self.stages(self.stem(x))


def trunk_to_anynet(trunk: Trunk) -> AnyNet:
    """An AnyNet of the trunk's config holding copies of its stem and stages (its unused classifier head stays
    freshly initialised): the form :func:`paperlib.models.detection.build_detector` takes as a pre-trained body."""
    net = AnyNet(trunk.cfg)
    net.stem.load_state_dict(trunk.stem.state_dict())
    for dst, src in zip(net.stages(), trunk.stages):
        dst.load_state_dict(src.state_dict())
    return net


class MaskNet(nn.Module):
    def __init__(self, trunk: Trunk, hidden: int = 64):
        super().__init__()
        self.trunk = trunk
        self.head = nn.Sequential(nn.Conv2d(trunk.num_features, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, 1, 1))

    def forward(self, x):
        y = self.head(self.trunk(x))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]


class _PooledHead(nn.Module):
    def __init__(self, trunk: Trunk, n_out: int):
        super().__init__()
        self.trunk = trunk
        self.fc = nn.Linear(trunk.num_features, n_out)

    def forward(self, x):
        return self.fc(self.trunk(x).mean((2, 3)))


class RotNet(_PooledHead):
    def __init__(self, trunk: Trunk):
        super().__init__(trunk, 4)


class TransferNet(_PooledHead):
    """Downstream classifier; the first ``freeze`` trunk parts get no gradient and stay in eval mode."""

    def __init__(self, trunk: Trunk, num_classes: int, freeze: int = 0):
        super().__init__(trunk, num_classes)
        if not 0 <= freeze <= len(trunk.parts):
            raise ValueError(f"freeze must be in [0, {len(trunk.parts)}] trunk parts, got {freeze}")
        self.freeze = freeze
        for p in self.frozen_parts():
            p.requires_grad_(False)

    def frozen_parts(self):
        return self.trunk.parts[:self.freeze]

    def train(self, mode: bool = True):
        super().train(mode)
        for p in self.frozen_parts():
            p.eval()
        return self


def trimap_targets(soft: torch.Tensor, fg: float = 0.7, bg: float = 0.4) -> torch.Tensor:
    """1 where soft >= fg, 0 where soft <= bg, -1 (ignored) in between."""
    t = torch.full_like(soft, -1.0)
    t[soft >= fg] = 1.0
    t[soft <= bg] = 0.0
    return t


def trimap_bce(logits: torch.Tensor, soft: torch.Tensor, fg: float = 0.7, bg: float = 0.4) -> torch.Tensor:
    """Per-pixel BCE on the non-ignored pixels of the trimap of `soft`, averaged (0 if all ignored)."""
    t = trimap_targets(soft, fg, bg)
    keep = t >= 0
    if not keep.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[keep], t[keep])
