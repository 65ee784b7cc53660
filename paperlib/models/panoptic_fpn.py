"""Panoptic FPN (Kirillov, Girshick, He, Dollar; CVPR 2019): Mask R-CNN plus a light semantic branch on
the same FPN, trained with one backward pass over a weighted sum of both tasks' losses.

    from paperlib.models.panoptic_fpn import build_panoptic_fpn, SemSegFPNHead
    model = build_panoptic_fpn(backbone="tiny", num_things=3, num_stuff=4, fpn_channels=32, sem_channels=32,
                               min_size=96, max_size=96, anchor_sizes=(8, 16, 32, 64, 128),
                               canonical_scale=56, loss_weight_sem=0.5)
    losses = model(images, targets)        # targets[i]: boxes, labels, masks, "sem_seg" (H, W) long
    out = model.eval()(images)             # per image: boxes, labels, scores, masks, "sem_seg" (C, H, W)

:class:`SemSegFPNHead` follows detectron2's ``SemSegFPNHead`` (notes: docs/papers/06_panoptic_fpn.md):
for a level of stride s, max(1, log2(s / 4)) stages of [3x3 conv (no bias when normalised) + GN + ReLU],
each stage followed by 2x bilinear up-sampling (align_corners=False) except on P2; so P2, P3, P4, P5 get
1, 1, 2, 3 stages and every branch ends at 1/4 scale. The four maps are summed (``aggregate="sum"``) or,
as the paper's ablation, concatenated; a 1x1 predictor gives the classes, then 4x bilinear
up-sampling; convs use MSRA init (kaiming normal, fan_out, as detectron2's ``c2_msra_fill``). The loss
is per-pixel cross-entropy at input resolution, mean over pixels whose label is not 255.
Written by hand: detectron2 is not installable here and torchvision has no such head.

:class:`PanopticFPN` = the detection builder's Mask R-CNN (:func:`paperlib.models.detection.build_detector`,
``forward_with_features``) + the head on its P2..P5. Training returns the weighted losses
``lambda_i * (cls + box + mask) + lambda_s * sem`` (RPN losses unweighted; each term its own key, so the
engine's sum is the joint loss). The semantic target is resized with nearest-neighbour to each image's
size after the detector's transform and padded with 255 to the padded batch (spec pitfall), by
:func:`resize_pad_targets`. ``instance=False`` builds the semantic-only network (backbone + FPN + head,
the "separate" semantic model); ``loss_weight_sem=0`` trains the detector alone (the head is skipped).

Semantic classes (detectron2's ``prepare_panoptic_fpn``): 0 = "other" (every thing pixel), stuff
categories 1..S in category-list order, 255 = VOID (ignored): :func:`paperlib.data.panoptic_dataset.label_map`.
"""
from __future__ import annotations

import math
from typing import List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .detection import build_detector, norm_layer

__all__ = ["SemSegFPNHead", "PanopticFPN", "build_panoptic_fpn", "resize_pad_targets", "IGNORE", "head_stages"]

IGNORE = 255


def head_stages(stride: int, common_stride: int = 4) -> int:
    """Stages of the branch on a level of ``stride``: max(1, log2(stride / common_stride))."""
    return max(1, int(math.log2(stride) - math.log2(common_stride)))


def _msra(conv: nn.Conv2d) -> None:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class SemSegFPNHead(nn.Module):
    """detectron2's SemSegFPNHead (see the module docstring). ``in_features``: the feature keys, finest
    first, with their ``strides``; ``norm``: "gn" (default) or None (convs with bias, no norm)."""

    def __init__(self, in_channels: int, num_classes: int, conv_dims: int = 128,
                 in_features: Sequence[str] = ("p2", "p3", "p4", "p5"), strides: Sequence[int] = (4, 8, 16, 32),
                 common_stride: int = 4, norm: Optional[str] = "gn", aggregate: str = "sum"):
        super().__init__()
        if aggregate not in ("sum", "concat"):
            raise ValueError(f"aggregate must be 'sum' or 'concat', got {aggregate!r}")
        if len(in_features) != len(strides):
            raise ValueError("in_features and strides need one entry per level")
        self.in_features, self.strides = list(in_features), [int(s) for s in strides]
        self.common_stride, self.aggregate = int(common_stride), aggregate
        make_norm = norm_layer(norm)
        self.scale_heads = nn.ModuleList()
        for stride in self.strides:
            ops: List[nn.Module] = []
            for k in range(head_stages(stride, common_stride)):
                conv = nn.Conv2d(in_channels if k == 0 else conv_dims, conv_dims, 3, padding=1, bias=norm is None)
                _msra(conv)
                ops += [conv] + ([make_norm(conv_dims)] if make_norm else []) + [nn.ReLU(inplace=True)]
                if stride != common_stride:
                    ops.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.scale_heads.append(nn.Sequential(*ops))
        pred_in = conv_dims * (len(self.strides) if aggregate == "concat" else 1)
        self.predictor = nn.Conv2d(pred_in, num_classes, 1)
        _msra(self.predictor)

    def branches(self, features: Mapping[str, torch.Tensor]) -> List[torch.Tensor]:
        """The per-level maps at 1/``common_stride`` scale, before aggregation."""
        return [head(features[f]) for f, head in zip(self.in_features, self.scale_heads)]

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        maps = self.branches(features)
        if self.aggregate == "sum":
            x = maps[0]
            for m in maps[1:]:
                x = x + m
        else:
            x = torch.cat(maps, dim=1)
        x = self.predictor(x)
        return F.interpolate(x, scale_factor=self.common_stride, mode="bilinear", align_corners=False)

    @staticmethod
    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy at full resolution, mean over non-ignored pixels (0 if every pixel is ignored)."""
        if bool((target != IGNORE).any()):
            return F.cross_entropy(logits, target, reduction="mean", ignore_index=IGNORE)
        return logits.sum() * 0.0


# ----------------------------------------------------------------------------- targets
def resize_pad_targets(sem: Sequence[torch.Tensor], image_sizes: Sequence[Sequence[int]],
                       padded: Sequence[int]) -> torch.Tensor:
    """Per-image (H, W) label maps at the input images' size -> one (N, Hp, Wp) long batch: each map
    resized with nearest-neighbour to its image's size after the detector's transform
    (``image_sizes[i]``), then padded with 255 to the padded batch size ``padded`` (Hp, Wp)."""
    out = torch.full((len(sem), int(padded[0]), int(padded[1])), IGNORE, dtype=torch.long,
                     device=sem[0].device if len(sem) else "cpu")
    for i, (s, (h, w)) in enumerate(zip(sem, image_sizes)):
        s = s.reshape(1, 1, *s.shape[-2:]).float()
        r = F.interpolate(s, size=(int(h), int(w)), mode="nearest")[0, 0].long()
        out[i, : int(h), : int(w)] = r
    return out


def _sem_postprocess(logits: torch.Tensor, image_sizes, original_sizes) -> List[torch.Tensor]:
    """Crop each image's logits to its resized size, upsample bilinearly to the original size."""
    outs = []
    for lg, (h, w), (oh, ow) in zip(logits, image_sizes, original_sizes):
        lg = lg[:, : int(h), : int(w)].unsqueeze(0)
        outs.append(F.interpolate(lg, size=(int(oh), int(ow)), mode="bilinear", align_corners=False)[0])
    return outs


# ----------------------------------------------------------------------------- the network
INSTANCE_LOSSES = ("loss_classifier", "loss_box_reg", "loss_mask")


class PanopticFPN(nn.Module):
    """Mask R-CNN (``detector``, a builder model with ``forward_with_features``) + ``sem_head`` on its
    P2..P5; see the module docstring. ``detector`` alone with ``instance=False`` is only used for its
    transform and backbone (the semantic-only model)."""

    def __init__(self, detector: nn.Module, sem_head: SemSegFPNHead, *, loss_weight_sem: float = 0.5,
                 loss_weight_instance: float = 1.0, instance: bool = True, schedule: str = "joint",
                 sem_neck: Optional[nn.Module] = None):
        super().__init__()
        if loss_weight_sem < 0 or loss_weight_instance < 0:
            raise ValueError("loss weights must be >= 0")
        if schedule not in ("joint", "alternate"):
            raise ValueError(f"schedule must be 'joint' or 'alternate', got {schedule!r}")
        if not instance and (schedule != "joint" or sem_neck is not None):
            raise ValueError("the semantic-only network (instance=False) has no alternating losses or grouped FPN")
        self.instance = bool(instance)
        if self.instance:
            self.detector = detector
        else:                                   # keep only what the semantic network uses
            self.transform, self.backbone = detector.transform, detector.backbone
        self.sem_head = sem_head
        self.loss_weight_sem, self.loss_weight_instance = float(loss_weight_sem), float(loss_weight_instance)
        # paper Table 3 (c) / (d): losses alternated per iteration; the FPN split into two groups
        self.schedule, self.sem_neck, self.train_steps = schedule, sem_neck, 0

    @property
    def _transform(self):
        return self.detector.transform if self.instance else self.transform

    @property
    def run_semantic(self) -> bool:
        """The head runs unless the model is a detector only (instance branch and lambda_s = 0 in training)."""
        return not (self.instance and self.training and self.loss_weight_sem == 0)

    def _phase(self) -> str:
        """"both" (joint loss), or with ``schedule="alternate"`` in training "instance" / "semantic" on
        alternate iterations (instance first; the counter ``train_steps`` advances per training forward)."""
        if not (self.training and self.schedule == "alternate"):
            return "both"
        self.train_steps += 1
        return "instance" if self.train_steps % 2 == 1 else "semantic"

    def forward(self, images, targets=None):
        if self.training and targets is None:
            raise ValueError("PanopticFPN in training mode needs targets (with 'sem_seg' per image)")
        phase = self._phase()
        sem = None
        if targets is not None:
            if self.run_semantic and any("sem_seg" not in t for t in targets):
                raise ValueError("every target needs 'sem_seg': (H, W) labels, 0 = other, 1..S stuff, 255 = void")
            sem = [t.get("sem_seg") for t in targets]
            targets = [{k: v for k, v in t.items() if k != "sem_seg"} for t in targets]
        original_sizes = [tuple(int(s) for s in im.shape[-2:]) for im in images]
        seen = {}
        hook = (self.detector.backbone.body.register_forward_hook(lambda m, i, o: seen.__setitem__("body", o))
                if self.sem_neck is not None else None)
        try:
            if self.instance and phase != "semantic":
                r = self.detector.forward_with_features(images, targets if self.training else None)
                out, feats, image_list = r["out"], r["features"], r["images"]
            else:
                image_list, _ = self._transform(images, None)
                feats = (self.detector if self.instance else self).backbone(image_list.tensors)
                out = {} if self.training else [{} for _ in images]
        finally:
            if hook is not None:
                hook.remove()
        if self.sem_neck is not None:           # grouped FPN: the branch reads its own group of channels
            names = {"c2": "p2", "c3": "p3", "c4": "p4", "c5": "p5"}
            feats = {names[k]: v for k, v in self.sem_neck(seen["body"]).items() if k in names}
        logits = self.sem_head(feats) if self.run_semantic and phase != "instance" else None
        if self.training:
            losses = {}
            for k, v in out.items():
                losses[k] = v * self.loss_weight_instance if k in INSTANCE_LOSSES else v
            if logits is not None:
                tgt = resize_pad_targets(sem, image_list.image_sizes, logits.shape[-2:])
                losses["loss_sem_seg"] = self.loss_weight_sem * SemSegFPNHead.loss(logits, tgt)
            return losses
        sem_out = _sem_postprocess(logits, image_list.image_sizes, original_sizes)
        for o, s in zip(out, sem_out):
            o["sem_seg"] = s
        return out


def build_panoptic_fpn(*, num_things: int, num_stuff: int, num_sem_classes: Optional[int] = None,
                       sem_channels: int = 128, aggregate: str = "sum",
                       sem_norm: Optional[str] = "gn", loss_weight_sem: float = 0.5,
                       loss_weight_instance: float = 1.0, instance: bool = True, backbone="tiny",
                       norm: str = "gn", head_norm: Optional[str] = "gn", schedule: str = "joint",
                       fpn_groups: int = 1, **detector_kw) -> PanopticFPN:
    """A Panoptic FPN: the builder's "fpn" Mask R-CNN with ``num_things + 1`` classes (torchvision's
    background slot) and a semantic head with ``num_stuff + 1`` classes (0 = other) on P2..P5, or
    ``num_sem_classes`` when given (e.g. Cityscapes' 19 classes, things included).
    ``detector_kw`` go to :func:`paperlib.models.detection.build_detector` (sizes, anchors,
    canonical_scale, fpn_channels, ...). Paper Table 3's alternatives: ``schedule="alternate"`` (c) trains
    the instance and the semantic losses on alternate iterations; ``fpn_groups=2`` (d) splits the FPN's
    ``fpn_channels`` into two groups of half the width, one per task: 1x1 laterals and nearest-neighbour
    top-down sums are per channel, so an FPN whose 3x3 output convs are grouped is exactly two FPNs of
    half the width on the shared bottom-up features -- the detector's (P2..P6) and the branch's (P2..P5,
    a second torchvision ``FeaturePyramidNetwork``)."""
    if fpn_groups not in (1, 2):
        raise ValueError(f"fpn_groups must be 1 or 2, got {fpn_groups!r}")
    width = int(detector_kw.pop("fpn_channels", 256))
    if width % fpn_groups:
        raise ValueError(f"fpn_channels = {width} does not split into {fpn_groups} groups")
    det = build_detector("fpn", backbone=backbone, norm=norm, head_norm=head_norm, mask=True,
                         num_classes=int(num_things) + 1, fpn_channels=width // fpn_groups, **detector_kw)
    sem_neck = None
    if fpn_groups == 2:
        from torchvision.ops import FeaturePyramidNetwork

        sem_neck = FeaturePyramidNetwork(list(det.backbone.body.channels), width // 2, norm_layer=norm_layer(head_norm))
    n_sem = int(num_stuff) + 1 if num_sem_classes is None else int(num_sem_classes)
    head = SemSegFPNHead(width // fpn_groups, n_sem, conv_dims=sem_channels,
                         in_features=("p2", "p3", "p4", "p5"), strides=(4, 8, 16, 32), norm=sem_norm,
                         aggregate=aggregate)
    model = PanopticFPN(det, head, loss_weight_sem=loss_weight_sem, loss_weight_instance=loss_weight_instance,
                        instance=instance, schedule=schedule, sem_neck=sem_neck)
    model.num_things, model.num_stuff = int(num_things), int(num_stuff)
    return model
