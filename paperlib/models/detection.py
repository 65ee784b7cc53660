"""Detectors of the FPN paper on torchvision's detection framework, with paperlib AnyNet backbones.

    from paperlib.models.detection import build_detector, VARIANTS
    model = build_detector("fpn", backbone="tiny", norm="gn", num_classes=7, mask=False,
                           fpn_channels=32, anchor_sizes=(16, 32, 64, 128, 256),
                           canonical_scale=112, min_size=256, max_size=256)
    rpn = build_detector("c4", backbone="tiny", rpn_only=True, ...)   # proposals only (Table 1)
    frcnn = build_detector("c5", proposals="fixed", ...)               # Fast R-CNN (Table 2)
    losses = frcnn(images, targets)        # targets[i]["proposals"]: (N_i, 4) xyxy, image pixels
    dets = frcnn.eval()(images, proposals=[p1, p2])

Variants (spec Table 1, rows a-f):

=============  ======================  =================================================  ============
variant        RPN features            anchors per position                               RoI head on
=============  ======================  =================================================  ============
"c4"   (a)     C4 (stride 16)          5 scales x 3 ratios = 15                           conv5 stage
"c5"   (b)     C5 (stride 32)          15                                                 C5, 2fc
"fpn"  (c)     P2..P6                  3 (one scale per level, side = anchor_sizes[k])    P2..P5, 2fc
"bottom_up"(d) P2..P6, no top-down     3 per level                                        P2..P5, 2fc
"no_lateral"(e) P2..P6, no lateral     3 per level                                        P2..P5, 2fc
"finest" (f)   P2 of the full FPN      15                                                 P2, 2fc
=============  ======================  =================================================  ============

Pieces (all torchvision except the backbone body and the ablation necks):

* backbone body: :class:`AnyNetBody` returns C2..C5 (outputs of stages s1..s4, strides 4..32 with
  the "imagenet" stem); the stem output is not used. Norm: ``"bn"`` (trainable BatchNorm),
  ``"frozen_bn"`` (torchvision ``FrozenBatchNorm2d``, for pre-trained weights and tiny batches),
  ``"syncbn"`` (``nn.SyncBatchNorm``: statistics over all processes of a multi-GPU run; plain BN in
  one process) or ``"gn"`` (GroupNorm, for training from scratch) -- chosen explicitly, never
  torchvision's ``resnet_fpn_backbone`` helper, which freezes BN by default.
* neck and head norm (``head_norm``): ``None`` is the FPN paper's design (FPN convs with biases and
  no norm, 2fc box head, 4-conv mask head without norm). ``"bn"``, ``"syncbn"`` or ``"gn"`` is
  detectron2's normalised-head design (its GN / SyncBN configs, used to train from scratch): FPN
  convs without bias followed by the norm, the "4conv1fc" box head (4 x [3x3 conv + norm + ReLU],
  one fc) and the 4-conv mask head with the norm after every conv; torchvision's own layers
  (``FeaturePyramidNetwork(norm_layer=)``, ``FastRCNNConvFCHead``, ``MaskRCNNHeads(norm_layer=)``).
  With ``head_norm="bn"`` and ``rpn_conv_depth=2`` the R-50 models equal torchvision's
  ``*_resnet50_fpn_v2`` parameter for parameter (tested).
* features for a second head: ``model.forward_with_features(images, targets)`` runs the unchanged
  forward and also returns the backbone's feature dict (P2..P6 for the pyramid variants) and the
  transformed batch, so that a semantic branch (Panoptic FPN) can sit on the same pyramid.
* full FPN: ``torchvision.ops.FeaturePyramidNetwork`` (1x1 laterals + nearest 2x up-sampling to the
  lateral's size + 3x3 outputs, biases, no norm, no non-linearity) with ``LastLevelMaxPool``
  (P6 = max-pool k1 s2 of P5, RPN only). Ablations (d), (e): :class:`PyramidNeck` (same layer
  names, so with lateral and top-down it equals torchvision's FPN exactly -- tested).
* RPN: ``AnchorGenerator`` + ``RPNHead`` (3x3 conv + ReLU + 1x1 objectness / 1x1 deltas, shared
  across levels) + ``RegionProposalNetwork`` (pre-NMS top-k per level, NMS per level, post-NMS
  top-k per image, border-crossing anchors kept).
* RoI heads: ``MultiScaleRoIAlign`` (RoIAlign, sampling ratio 2 -- the paper used RoIPool) with
  Eq. 1 level assignment, ``TwoMLPHead`` (2fc) or the conv5 head (:class:`Res5Head`) for C4,
  ``FastRCNNPredictor`` (class-specific boxes incl. a background slot, torchvision's convention).
* Fast R-CNN on fixed proposals (``proposals="fixed"``, :class:`FastRCNN`): the same backbone,
  neck and RoI heads as the variant's Faster R-CNN (one builder for both), torchvision's ``RoIHeads``
  fed with the given proposals instead of an RPN's (P6 is not computed: no RPN).

RoI level rule (Eq. 1). torchvision's ``LevelMapper`` computes
``k = floor(k0 + log2(sqrt(w h) / s0) + 1e-6)`` with k0 = 4, s0 = ``canonical_scale`` (224), clamped
to the pyramid's levels [2, 5] (inferred from the feature-map strides). The epsilon is added to
the level, not inside the log (detectron2 adds 1e-8 inside); both give the spec's boundary values
(224 -> 4, 223.9 -> 3, 112 -> 3, 111.9 -> 2, 448 -> 5). :func:`fpn_level` is our own
implementation of Eq. 1; the tests check it against torchvision's mapper. When anchors are scaled
down with the image (CPU profiles: side = 4 x stride instead of 8 x stride), ``canonical_scale``
is scaled by the same factor (112) so that RoIs map to the levels whose anchors produced them.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes
from torchvision.ops import FeaturePyramidNetwork, FrozenBatchNorm2d, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from .anynet import AnyNet, AnyNetConfig

__all__ = ["VARIANTS", "VARIANT_INFO", "NORMS", "HEAD_NORMS", "build_detector", "build_backbone", "AnyNetBody",
           "PyramidNeck", "DetectionBackbone", "Res5Head", "RPNOnly", "FastRCNN", "FasterRCNNFeatures",
           "MaskRCNNFeatures", "convert_norm", "norm_layer", "fpn_level", "anchor_counts", "backbone_config",
           "BACKBONES", "FROZEN_BN_WITHOUT_WEIGHTS"]

VARIANTS = ("c4", "c5", "fpn", "bottom_up", "no_lateral", "finest")
VARIANT_INFO = {
    "c4": {"row": "(a) conv4", "features": "C4", "lateral": False, "top_down": False},
    "c5": {"row": "(b) conv5", "features": "C5", "lateral": False, "top_down": False},
    "fpn": {"row": "(c) FPN", "features": "{P_k}", "lateral": True, "top_down": True},
    "bottom_up": {"row": "(d) bottom-up pyramid", "features": "{P_k}", "lateral": True, "top_down": False},
    "no_lateral": {"row": "(e) top-down, no lateral", "features": "{P_k}", "lateral": False, "top_down": True},
    "finest": {"row": "(f) only finest level", "features": "P2", "lateral": True, "top_down": True},
}

# Small AnyNet bodies for CPU runs (ResNet-like, 4 stages, strides 4..32 with the imagenet stem).
BACKBONES: Dict[str, dict] = {
    "tiny": dict(stem="imagenet", stem_width=16, depths=[1, 1, 1, 1], widths=[16, 32, 64, 128],
                 strides=[1, 2, 2, 2], bot_widths=[8, 16, 32, 64], group_widths=[8, 16, 32, 64]),
    "small": dict(stem="imagenet", stem_width=32, depths=[1, 2, 2, 1], widths=[32, 64, 128, 256],
                  strides=[1, 2, 2, 2], bot_widths=[16, 32, 64, 128], group_widths=[16, 32, 64, 128]),
}
# Their deeper siblings (06 Panoptic FPN, Table 3b: R101 where the others use R50): the same stem and widths with
# stage 3 (C4) deepened, as ResNet-101 deepens only ResNet-50's stage 3 (6 -> 23 blocks), to the depth whose body
# multiply-adds are closest to R101 / R50 = 7.80 / 4.09 = 1.91x the sibling's: tiny 1 -> 16 blocks (1.92x at
# 96 px), small 2 -> 13 blocks (1.88x at 256 px); tested in tests/test_panoptic_fpn_t3b.py.
BACKBONES["tiny_deep"] = dict(copy.deepcopy(BACKBONES["tiny"]), depths=[1, 1, 16, 1])
BACKBONES["small_deep"] = dict(copy.deepcopy(BACKBONES["small"]), depths=[1, 2, 13, 1])


def backbone_config(name: str) -> AnyNetConfig:
    return AnyNetConfig(num_classes=1, **copy.deepcopy(BACKBONES[name]))


# ----------------------------------------------------------------------------- Eq. 1 / anchors
def fpn_level(boxes: torch.Tensor, k0: int = 4, canonical_scale: float = 224.0, k_min: int = 2,
              k_max: int = 5, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 1: k = floor(k0 + log2(sqrt(w h) / canonical_scale)), clamped to [k_min, k_max];
    ``boxes`` (N, 4) xyxy in input-image pixels. ``eps`` is added to the level (torchvision)."""
    boxes = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    s = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    k = torch.floor(k0 + torch.log2(s / canonical_scale) + eps)
    return k.clamp(k_min, k_max).to(torch.int64)


def anchor_counts(height: int, width: int, variant: str = "fpn", ratios: int = 3,
                  scales: int = 5, size_divisible: int = 32) -> Dict[str, int]:
    """Anchors per level for an input padded to a multiple of ``size_divisible`` (spec formula):
    level l has ceil(H / 2^l) * ceil(W / 2^l) positions; P6 = ceil(H5 / 2) * ceil(W5 / 2)."""
    H = int(math.ceil(height / size_divisible) * size_divisible)
    W = int(math.ceil(width / size_divisible) * size_divisible)
    pos = {f"P{l}": math.ceil(H / 2 ** l) * math.ceil(W / 2 ** l) for l in (2, 3, 4, 5)}
    h5, w5 = math.ceil(H / 32), math.ceil(W / 32)
    pos["P6"] = math.ceil(h5 / 2) * math.ceil(w5 / 2)
    if variant in ("fpn", "bottom_up", "no_lateral"):
        out = {k: v * ratios for k, v in pos.items()}
    elif variant == "c4":
        out = {"C4": pos["P4"] * ratios * scales}
    elif variant == "c5":
        out = {"C5": pos["P5"] * ratios * scales}
    elif variant == "finest":
        out = {"P2": pos["P2"] * ratios * scales}
    else:
        raise ValueError(variant)
    out["total"] = sum(out.values())
    return out


# ----------------------------------------------------------------------------- norms
def _gn_groups(c: int, max_groups: int = 32, min_group_size: int = 4) -> int:
    g = max(1, min(max_groups, c // min_group_size))
    while c % g:
        g -= 1
    return g


NORMS = ("bn", "frozen_bn", "syncbn", "gn")          # backbone body
HEAD_NORMS = (None, "bn", "syncbn", "gn")           # FPN, box head, mask head (None: the FPN paper's heads)


def norm_layer(norm: Optional[str]) -> Optional[Callable[[int], nn.Module]]:
    """channels -> norm module for a freshly initialised layer (FPN, heads): None (no norm), "bn",
    "syncbn", "gn" (up to 32 groups of >= 4 channels: 32 at 256 channels, detectron2's)."""
    if norm is None:
        return None
    if norm == "bn":
        return nn.BatchNorm2d
    if norm == "syncbn":
        return nn.SyncBatchNorm
    if norm == "gn":
        return lambda c: nn.GroupNorm(_gn_groups(c), c)
    raise ValueError(f"head_norm must be one of {HEAD_NORMS}, got {norm!r} (frozen BN needs pre-trained "
                     "statistics, which freshly initialised FPN / head layers do not have)")


def convert_norm(module: nn.Module, norm: str) -> nn.Module:
    """Replace every BatchNorm2d in ``module`` (in place): "bn" keep, "frozen_bn" FrozenBatchNorm2d
    (copying the statistics), "syncbn" SyncBatchNorm (torch's converter, statistics kept), "gn"
    GroupNorm (up to 32 groups of >= 4 channels)."""
    if norm == "bn":
        return module
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if norm == "syncbn":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            c = child.num_features
            if norm == "frozen_bn":
                new = FrozenBatchNorm2d(c, eps=child.eps)
                new.weight.copy_(child.weight.detach())
                new.bias.copy_(child.bias.detach())
                new.running_mean.copy_(child.running_mean)
                new.running_var.copy_(child.running_var)
            else:
                new = nn.GroupNorm(_gn_groups(c), c)
                with torch.no_grad():
                    new.weight.copy_(child.weight)
                    new.bias.copy_(child.bias)
            setattr(module, name, new)
        else:
            convert_norm(child, norm)
    return module


# ----------------------------------------------------------------------------- backbone pieces
class AnyNetBody(nn.Module):
    """Stem + the first ``num_stages`` stages of an AnyNet; returns {"c2": s1, "c3": s2, ...}."""

    def __init__(self, net: AnyNet, num_stages: int = 4):
        super().__init__()
        self.stem = net.stem
        self.stages = nn.ModuleList(net.stages()[:num_stages])
        self.channels = list(net.cfg.widths[:num_stages])
        self.names = [f"c{i + 2}" for i in range(num_stages)]

    def forward(self, x) -> "OrderedDict[str, torch.Tensor]":
        x = self.stem(x)
        out = OrderedDict()
        for name, s in zip(self.names, self.stages):
            x = s(x)
            out[name] = x
        return out


class PyramidNeck(nn.Module):
    """FPN neck with switchable pathways (spec Table 1 d, e); layer names as torchvision's FPN.

    lateral & top_down (c): M5 = 1x1(C5); M_k = up2(M_{k+1}) + 1x1(C_k); P_k = 3x3(M_k).
    lateral only (d, bottom-up pyramid): P_k = 3x3(1x1(C_k)).
    top_down only (e, no lateral): M5 = 1x1(C5); M_k = up2(M_{k+1}); P_k = 3x3(M_k).
    Extra P6 = max-pool(P5, k1, s2) (``extra_pool``). Convs have biases, no norm, no activation."""

    def __init__(self, in_channels_list: Sequence[int], out_channels: int, *, lateral: bool = True,
                 top_down: bool = True, extra_pool: bool = True):
        super().__init__()
        if not (lateral or top_down):
            raise ValueError("a pyramid needs lateral or top-down connections")
        self.lateral, self.top_down, self.extra_pool = lateral, top_down, extra_pool
        n = len(in_channels_list)
        self.inner_blocks = nn.ModuleList()
        for i, c in enumerate(in_channels_list):
            if lateral or i == n - 1:
                self.inner_blocks.append(nn.Sequential(nn.Conv2d(c, out_channels, 1)))
            else:
                self.inner_blocks.append(nn.Identity())
        self.layer_blocks = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1)) for _ in in_channels_list])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1)
                nn.init.zeros_(m.bias)

    def forward(self, x: "OrderedDict[str, torch.Tensor]") -> "OrderedDict[str, torch.Tensor]":
        names, feats = list(x.keys()), list(x.values())
        n = len(feats)
        outs: List[torch.Tensor] = [None] * n  # type: ignore[list-item]
        if self.top_down:
            m = self.inner_blocks[-1](feats[-1])
            outs[-1] = self.layer_blocks[-1](m)
            for i in range(n - 2, -1, -1):
                up = F.interpolate(m, size=feats[i].shape[-2:], mode="nearest")
                m = up + self.inner_blocks[i](feats[i]) if self.lateral else up
                outs[i] = self.layer_blocks[i](m)
        else:
            outs = [self.layer_blocks[i](self.inner_blocks[i](feats[i])) for i in range(n)]
        res = OrderedDict(zip(names, outs))
        if self.extra_pool:
            res["pool"] = F.max_pool2d(outs[-1], 1, 2, 0)
        return res


class DetectionBackbone(nn.Module):
    """body (+ neck), renamed to the keys the RPN / RoI heads use; ``out_channels`` for torchvision."""

    def __init__(self, body: AnyNetBody, neck: Optional[nn.Module], out_channels: int,
                 keep: Sequence[str]):
        super().__init__()
        self.body = body
        self.neck = neck
        self.out_channels = out_channels
        self.keep = list(keep)

    def forward(self, x):
        f = self.body(x)
        if self.neck is not None:
            f = self.neck(f)
            names = {"c2": "p2", "c3": "p3", "c4": "p4", "c5": "p5", "pool": "p6"}
            f = OrderedDict((names[k], v) for k, v in f.items())
        return OrderedDict((k, f[k]) for k in self.keep)


class Res5Head(nn.Module):
    """C4 baseline box head: the backbone's conv5 stage on 14x14 pooled C4 features, then GAP."""

    def __init__(self, stage: nn.Module, out_channels: int):
        super().__init__()
        self.res5 = stage
        self.out_channels = out_channels

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.res5(x), 1), 1)


FROZEN_BN_WITHOUT_WEIGHTS = (
    "norm='frozen_bn' without pre-trained weights: FrozenBatchNorm2d on a randomly initialised network is no "
    "normalisation at all (spec pitfall; torchvision's resnet_fpn_backbone(weights=None) does this silently). "
    "Give backbone_weights (an ImageNet-pre-trained ResNet state dict, torchvision or paperlib layout) or "
    "train from scratch with norm='gn' (or 'bn')")


def build_backbone(backbone: Union[str, AnyNetConfig, AnyNet] = "tiny", norm: str = "bn",
                   weights=None) -> AnyNet:
    """An AnyNet from a built-in name ("tiny", "small"), a registry name ("resnet50", ...), a config
    or a (pre-trained) module; ``weights`` (a path to a torchvision- or paperlib-layout state dict, or
    the dict itself; :func:`paperlib.models.convert.load_backbone_weights`) are loaded *before* its
    BatchNorms are converted to ``norm``, so that "frozen_bn" freezes the pre-trained statistics.
    "frozen_bn" on a network built here without ``weights`` is refused (:data:`FROZEN_BN_WITHOUT_WEIGHTS`);
    a module passed in is taken as pre-trained."""
    if isinstance(backbone, AnyNet):
        net = backbone
    elif isinstance(backbone, AnyNetConfig):
        net = AnyNet(backbone)
    elif backbone in BACKBONES:
        net = AnyNet(backbone_config(backbone))
    else:
        from .registry import create_model
        net = create_model(backbone)
        if not isinstance(net, AnyNet):
            raise TypeError(f"{backbone!r} is not an AnyNet")
    if net.cfg.stem != "imagenet":
        raise ValueError("detection needs strides 4..32: use an AnyNet with the 'imagenet' stem")
    if weights is not None:
        from .convert import load_backbone_weights
        load_backbone_weights(net, weights)
    elif norm == "frozen_bn" and not isinstance(backbone, AnyNet):
        raise ValueError(FROZEN_BN_WITHOUT_WEIGHTS)
    return convert_norm(net, norm)


# ----------------------------------------------------------------------------- RPN-only model
class RPNOnly(nn.Module):
    """transform + backbone + RPN. Training: dict of RPN losses. Eval: per image
    {"boxes": proposals (xyxy, original image coordinates, sorted by objectness), "scores"}."""

    def __init__(self, backbone: nn.Module, rpn: RegionProposalNetwork, transform: GeneralizedRCNNTransform):
        super().__init__()
        self.backbone, self.rpn, self.transform = backbone, rpn, transform

    def forward(self, images, targets=None):
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        images, targets = self.transform(images, targets)
        features = self.backbone(images.tensors)
        if self.training:
            _, losses = self.rpn(images, features, targets)
            return losses
        boxes, scores = self._proposals(images, features)
        out = []
        for b, s, im_s, o_s in zip(boxes, scores, images.image_sizes, original_sizes):
            out.append({"boxes": resize_boxes(b, im_s, o_s), "scores": s})
        return out

    def _proposals(self, images, features):
        # RegionProposalNetwork.forward without targets, keeping the objectness scores
        from torchvision.models.detection.rpn import concat_box_prediction_layers
        rpn = self.rpn
        feats = list(features.values())
        objectness, deltas = rpn.head(feats)
        anchors = rpn.anchor_generator(images, feats)
        num_anchors_per_level = [o[0].numel() for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = rpn.box_coder.decode(deltas.detach(), anchors).view(len(anchors), -1, 4)
        return rpn.filter_proposals(proposals, objectness, images.image_sizes, num_anchors_per_level)


# ----------------------------------------------------------------------------- Fast R-CNN on fixed proposals
class FastRCNN(nn.Module):
    """Fast R-CNN on fixed, precomputed proposals (spec Table 2): transform + backbone + torchvision
    ``RoIHeads``, no RPN. Built by ``build_detector(variant, proposals="fixed", ...)``.

    ``model(images, targets=None, proposals=None)``:

    * ``proposals``: one (N_i, 4) float tensor per image, xyxy in the pixel coordinates of the image
      *as passed in* (the coordinates of ``targets[i]["boxes"]`` and of :class:`RPNOnly`'s outputs),
      e.g. the top-N proposals of a trained FPN RPN. They are rescaled with the image by the
      transform and handed to the RoI heads unchanged otherwise (no clipping, no NMS, no re-ranking).
      Instead of the argument, each target dict may carry its image's proposals under the key
      ``"proposals"``, so that a standard ``model(images, targets)`` training step works; the argument
      wins when both are given. Any horizontal flip of an image must be applied to its proposals too.
    * training (``targets`` required): dict of losses ``loss_classifier``, ``loss_box_reg``. As in
      torchvision's RoIHeads (and Detectron), the GT boxes are appended to the proposals before the
      RoI sampling (``box_batch_size_per_image`` RoIs per image, 25 % foreground at IoU >= 0.5).
    * eval: per image ``{"boxes", "labels", "scores"}`` in the input image's coordinates.
    """

    def __init__(self, backbone: nn.Module, roi_heads: RoIHeads, transform: GeneralizedRCNNTransform):
        super().__init__()
        self.backbone, self.roi_heads, self.transform = backbone, roi_heads, transform

    def forward(self, images, targets=None, proposals=None):
        if proposals is None:
            if targets is None or any("proposals" not in t for t in targets):
                raise ValueError("FastRCNN needs proposals: pass proposals=[(N_i, 4) tensors] or put them in "
                                 "targets[i]['proposals']")
            proposals = [t["proposals"] for t in targets]
        if len(proposals) != len(images):
            raise ValueError(f"{len(proposals)} proposal sets for {len(images)} images")
        if self.training and targets is None:
            raise ValueError("FastRCNN in training mode needs targets")
        if targets is not None:
            targets = [{k: v for k, v in t.items() if k != "proposals"} for t in targets]
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        images, targets = self.transform(images, targets)
        boxes = []
        for p, o_s, im_s in zip(proposals, original_sizes, images.image_sizes):
            p = torch.as_tensor(p, dtype=torch.float32, device=images.tensors.device).reshape(-1, 4)
            boxes.append(resize_boxes(p, list(o_s), list(im_s)))
        features = self.backbone(images.tensors)
        detections, losses = self.roi_heads(features, boxes, images.image_sizes, targets)
        if self.training:
            return losses
        return self.transform.postprocess(detections, images.image_sizes, original_sizes)


# ----------------------------------------------------------------------------- features for a second head
class _WithFeatures:
    """``forward_with_features``: torchvision's forward, unchanged, plus what a second head needs."""

    def forward_with_features(self, images, targets=None) -> Dict[str, object]:
        """Run ``self(images, targets)`` and return {"out": its output (losses in training, detections
        in eval), "features": the backbone's feature dict (P2..P6 for the pyramid variants, computed on
        the transformed batch), "images": the transformed ``ImageList`` (padded batch, per-image sizes
        after resizing), "targets": the transformed targets (boxes / masks resized with the images)}.
        Features and transformed inputs are caught by forward hooks, so the detector's computation is
        exactly its ``forward``'s (tested)."""
        seen: Dict[str, object] = {}
        hooks = [self.transform.register_forward_hook(lambda m, i, o: seen.__setitem__("transform", o)),
                 self.backbone.register_forward_hook(lambda m, i, o: seen.__setitem__("features", o))]
        try:
            out = self(images, targets)
        finally:
            for h in hooks:
                h.remove()
        image_list, new_targets = seen["transform"]
        return {"out": out, "features": seen["features"], "images": image_list, "targets": new_targets}


class FasterRCNNFeatures(_WithFeatures, FasterRCNN):
    """torchvision's FasterRCNN with :meth:`forward_with_features` (same modules, same forward)."""


class MaskRCNNFeatures(_WithFeatures, MaskRCNN):
    """torchvision's MaskRCNN with :meth:`forward_with_features` (same modules, same forward)."""


# ----------------------------------------------------------------------------- builder
def _variant_backbone(variant: str, net: AnyNet, fpn_channels: int, sizes: tuple, ratios: tuple,
                      with_p6: bool = True, head_norm: Optional[str] = None):
    """Backbone (+ neck) of a variant: (DetectionBackbone, RoI levels, anchor sizes / ratios)."""
    widths = list(net.cfg.widths)
    if variant == "c4":
        bb = DetectionBackbone(AnyNetBody(net, 3), None, widths[2], ["c4"])
        return bb, ["c4"], ((sizes,), (ratios,))
    if variant == "c5":
        bb = DetectionBackbone(AnyNetBody(net, 4), None, widths[3], ["c5"])
        return bb, ["c5"], ((sizes,), (ratios,))
    body = AnyNetBody(net, 4)
    if variant in ("fpn", "finest"):
        neck = FeaturePyramidNetwork(widths, fpn_channels, extra_blocks=LastLevelMaxPool(),
                                     norm_layer=norm_layer(head_norm))
    else:
        info = VARIANT_INFO[variant]
        neck = PyramidNeck(widths, fpn_channels, lateral=info["lateral"], top_down=info["top_down"])
    if variant == "finest":
        return DetectionBackbone(body, neck, fpn_channels, ["p2"]), ["p2"], ((sizes,), (ratios,))
    levels = ["p2", "p3", "p4", "p5"]                         # P6: RPN only
    bb = DetectionBackbone(body, neck, fpn_channels, levels + (["p6"] if with_p6 else []))
    return bb, levels, (tuple((s,) for s in sizes), (ratios,) * 5)


def _box_head(variant: str, net: AnyNet, bb: DetectionBackbone, levels: List[str], canonical_scale: float,
              representation_size: int, num_classes: int, box_head: str = "2fc", head_norm: Optional[str] = None):
    """RoI pooler (Eq. 1 over ``levels``), box head (conv5 for C4; else "2fc", or "4conv1fc" =
    4 x [3x3 conv + ``head_norm`` + ReLU] then one fc, detectron2's normalised head) and predictor."""
    if variant == "c4":
        roi_pool = MultiScaleRoIAlign(levels, 14, 2, canonical_scale=int(canonical_scale))
        head = Res5Head(net.s4, net.cfg.widths[3])
        rep = net.cfg.widths[3]
    else:
        roi_pool = MultiScaleRoIAlign(levels, 7, 2, canonical_scale=int(canonical_scale))
        c = bb.out_channels
        if box_head == "4conv1fc":
            head = FastRCNNConvFCHead((c, 7, 7), [c] * 4, [representation_size], norm_layer=norm_layer(head_norm))
        else:
            head = TwoMLPHead(c * 7 * 7, representation_size)
        rep = representation_size
    return roi_pool, head, FastRCNNPredictor(rep, num_classes)


_ROI_HEAD_DEFAULTS = dict(box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5, box_positive_fraction=0.25,
                          bbox_reg_weights=None, box_nms_thresh=0.5)   # torchvision FasterRCNN's


def build_detector(variant: str = "fpn", *, backbone: Union[str, AnyNetConfig, AnyNet] = "tiny",
                   norm: str = "bn", head_norm: Optional[str] = None, box_head: Optional[str] = None,
                   backbone_weights=None, num_classes: int = 91, mask: bool = False, rpn_only: bool = False,
                   proposals: str = "rpn", rpn_conv_depth: int = 1,
                   fpn_channels: int = 256, anchor_sizes: Sequence[int] = (32, 64, 128, 256, 512),
                   aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0), canonical_scale: float = 224,
                   representation_size: int = 1024, min_size: int = 800, max_size: int = 1333,
                   image_mean: Sequence[float] = (0.485, 0.456, 0.406),
                   image_std: Sequence[float] = (0.229, 0.224, 0.225),
                   rpn_pre_nms_top_n_train: int = 2000, rpn_pre_nms_top_n_test: int = 1000,
                   rpn_post_nms_top_n_train: int = 2000, rpn_post_nms_top_n_test: int = 1000,
                   rpn_batch_size_per_image: int = 256, rpn_nms_thresh: float = 0.7,
                   box_batch_size_per_image: int = 512, box_detections_per_img: int = 100,
                   box_score_thresh: float = 0.05, mask_dim: Optional[int] = None, **kwargs) -> nn.Module:
    """Faster / Mask R-CNN, RPN-only or Fast R-CNN for one FPN-paper variant; see the module docstring.

    ``norm``: the body's normalisation (:data:`NORMS`). ``head_norm``: FPN, box head and mask head
    normalisation (:data:`HEAD_NORMS`; None = the FPN paper's un-normalised heads; a norm = detectron2's
    GN / SyncBN head design, "fpn" variant only). ``box_head``: "2fc" or "4conv1fc" (default: "4conv1fc"
    with a ``head_norm``, else "2fc"). ``rpn_conv_depth``: 3x3 convs of the RPN head (torchvision's v2
    models use 2).
    ``backbone_weights``: pre-trained backbone weights (path or state dict, torchvision or paperlib
    layout), loaded before the norm conversion; required with ``norm="frozen_bn"``.
    ``anchor_sizes``: the 5 anchor sides for P2..P6 (paper 32..512 = 8 x stride; scale them with
    the image). ``canonical_scale``: s0 of Eq. 1 (224; scale it like the anchors).
    ``proposals``: ``"rpn"`` (default) learns its proposals (Faster R-CNN, or the RPN alone with
    ``rpn_only``); ``"fixed"`` builds a :class:`FastRCNN` that takes precomputed proposals per image
    (spec Table 2) -- same backbone, neck and RoI head as the Faster R-CNN of the variant, no RPN
    (the ``rpn_*`` and anchor options are then unused)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    if proposals not in ("rpn", "fixed"):
        raise ValueError(f"proposals must be 'rpn' or 'fixed', got {proposals!r}")
    if proposals == "fixed" and (rpn_only or mask):
        raise ValueError("proposals='fixed' (Fast R-CNN) has no RPN and no mask head: rpn_only and mask must be False")
    if len(anchor_sizes) != 5:
        raise ValueError("anchor_sizes: one size per level P2..P6 (5 values)")
    if head_norm not in HEAD_NORMS:
        raise ValueError(f"head_norm must be one of {HEAD_NORMS}, got {head_norm!r}")
    box_head = box_head or ("4conv1fc" if head_norm else "2fc")
    if box_head not in ("2fc", "4conv1fc"):
        raise ValueError(f"box_head must be '2fc' or '4conv1fc', got {box_head!r}")
    if (head_norm or box_head == "4conv1fc") and variant != "fpn":
        raise ValueError(f"head_norm / box_head='4conv1fc' (detectron2's normalised heads) are built for the "
                         f"'fpn' variant only, got variant {variant!r}")
    net = build_backbone(backbone, norm, backbone_weights)
    ratios = tuple(float(r) for r in aspect_ratios)
    sizes = tuple(int(s) for s in anchor_sizes)
    bb, levels, anchor_cfg = _variant_backbone(variant, net, fpn_channels, sizes, ratios,
                                               with_p6=proposals == "rpn", head_norm=head_norm)
    heads = dict(box_head=box_head, head_norm=head_norm)

    if proposals == "fixed":
        roi_pool, head, predictor = _box_head(variant, net, bb, levels, canonical_scale, representation_size,
                                              num_classes, **heads)
        opts = {**_ROI_HEAD_DEFAULTS, **kwargs}
        unknown = set(opts) - set(_ROI_HEAD_DEFAULTS)
        if unknown:
            raise TypeError(f"proposals='fixed': unexpected options {sorted(unknown)}")
        roi_heads = RoIHeads(roi_pool, head, predictor, opts["box_fg_iou_thresh"], opts["box_bg_iou_thresh"],
                             box_batch_size_per_image, opts["box_positive_fraction"], opts["bbox_reg_weights"],
                             box_score_thresh, opts["box_nms_thresh"], box_detections_per_img)
        transform = GeneralizedRCNNTransform(min_size, max_size, list(image_mean), list(image_std))
        model = FastRCNN(bb, roi_heads, transform)
        model.variant, model.levels = variant, levels
        return model

    anchor_gen = AnchorGenerator(*anchor_cfg)
    rpn_head = RPNHead(bb.out_channels, anchor_gen.num_anchors_per_location()[0], conv_depth=rpn_conv_depth)
    transform = GeneralizedRCNNTransform(min_size, max_size, list(image_mean), list(image_std))

    if rpn_only:
        rpn = RegionProposalNetwork(
            anchor_gen, rpn_head, fg_iou_thresh=0.7, bg_iou_thresh=0.3,
            batch_size_per_image=rpn_batch_size_per_image, positive_fraction=0.5,
            pre_nms_top_n={"training": rpn_pre_nms_top_n_train, "testing": rpn_pre_nms_top_n_test},
            post_nms_top_n={"training": rpn_post_nms_top_n_train, "testing": rpn_post_nms_top_n_test},
            nms_thresh=rpn_nms_thresh)
        model = RPNOnly(bb, rpn, transform)
        model.variant, model.levels = variant, levels
        return model

    common = dict(rpn_anchor_generator=anchor_gen, rpn_head=rpn_head,
                  min_size=min_size, max_size=max_size, image_mean=list(image_mean),
                  image_std=list(image_std),
                  rpn_pre_nms_top_n_train=rpn_pre_nms_top_n_train,
                  rpn_pre_nms_top_n_test=rpn_pre_nms_top_n_test,
                  rpn_post_nms_top_n_train=rpn_post_nms_top_n_train,
                  rpn_post_nms_top_n_test=rpn_post_nms_top_n_test,
                  rpn_batch_size_per_image=rpn_batch_size_per_image, rpn_nms_thresh=rpn_nms_thresh,
                  box_batch_size_per_image=box_batch_size_per_image,
                  box_detections_per_img=box_detections_per_img, box_score_thresh=box_score_thresh)
    common.update(kwargs)
    roi_pool, head, predictor = _box_head(variant, net, bb, levels, canonical_scale, representation_size,
                                          num_classes, **heads)
    if mask:
        from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
        mask_pool = MultiScaleRoIAlign(levels, 14, 2, canonical_scale=int(canonical_scale))
        md = min(256, bb.out_channels) if mask_dim is None else mask_dim
        mask_head = MaskRCNNHeads(bb.out_channels, (md,) * 4, 1, norm_layer=norm_layer(head_norm))
        mask_predictor = MaskRCNNPredictor(md, md, num_classes)
        model = MaskRCNNFeatures(bb, num_classes=None, box_roi_pool=roi_pool, box_head=head,
                         box_predictor=predictor, mask_roi_pool=mask_pool, mask_head=mask_head,
                         mask_predictor=mask_predictor, **common)
    else:
        model = FasterRCNNFeatures(bb, num_classes=None, box_roi_pool=roi_pool, box_head=head,
                           box_predictor=predictor, **common)
    model.variant, model.levels = variant, levels
    model.norm, model.head_norm, model.box_head = norm, head_norm, box_head
    return model
