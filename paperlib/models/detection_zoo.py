"""Named detectors in the registry: Faster / Mask R-CNN with R-50 / R-101 FPN bodies, in three norms.

    from paperlib.models import create_model
    m = create_model("maskrcnn_r50_fpn_gn", num_classes=81, min_size=512, max_size=512)

Every name is :func:`paperlib.models.detection.build_detector` with the "fpn" variant, the paperlib
ResNet of the name as body, the paper-scale defaults (anchors 32..512, 256-channel FPN, 1024-d box
head, 800 / 1333 px) and one normalisation design; keyword arguments override any option
(``num_classes``, ``backbone_weights``, sizes, ...):

========================  ==========  ===============  =======================================
suffix                    body norm   head_norm        box head (FPN / mask head norm)
========================  ==========  ===============  =======================================
(none)                    bn          None             2fc (no norm): the FPN / Mask R-CNN papers
``_frozenbn``             frozen_bn   None             2fc; needs ``backbone_weights`` (pre-trained)
``_gn``                   gn          gn               4conv1fc, GN everywhere (detectron2 GN configs)
``_syncbn``               syncbn      syncbn           4conv1fc, SyncBN everywhere (detectron2 SyncBN)
========================  ==========  ===============  =======================================

The plain names use trainable BN because they build without weights; with pre-trained weights and
small per-GPU batches use the ``_frozenbn`` names (torchvision's and detectron2's default). ``params`` in
the metadata are exact for the defaults (num_classes 91, torchvision's COCO convention), checked by the
tests; the plain R-50 names equal torchvision's ``fasterrcnn_resnet50_fpn`` / ``maskrcnn_resnet50_fpn``
built without weights (trainable BN) parameter for parameter.
"""
from __future__ import annotations

from .registry import register_model

__all__ = ["DETECTION_MODELS", "NORM_DESIGNS", "PANOPTIC_MODELS", "SEM_HEAD_PARAMS"]

NORM_DESIGNS = {"": dict(norm="bn", head_norm=None), "_frozenbn": dict(norm="frozen_bn", head_norm=None),
                "_gn": dict(norm="gn", head_norm="gn"), "_syncbn": dict(norm="syncbn", head_norm="syncbn")}
BODIES = {"r50": "resnet50", "r101": "resnet101"}
# exact parameter counts of the defaults (num_classes=91), counted on the modules; the tests tie them to
# torchvision: plain R-50 = its v1 builders without weights (44,454,513 Mask), _frozenbn R-50 = its v1
# builders' documented counts (41,755,286 / 44,401,393: frozen BN's affine terms are buffers), _gn / _syncbn
# R-50 = its v2 builders (BN in FPN and heads, 4conv1fc) less their second RPN conv (590,080); R-101 = R-50
# + the ResNet-101 / ResNet-50 body difference
PARAMS = {
    ("fasterrcnn", "r50", ""): 41_808_406, ("maskrcnn", "r50", ""): 44_454_513,
    ("fasterrcnn", "r50", "_frozenbn"): 41_755_286, ("maskrcnn", "r50", "_frozenbn"): 44_401_393,
    ("fasterrcnn", "r50", "_gn"): 43_122_198, ("maskrcnn", "r50", "_gn"): 45_769_329,
    ("fasterrcnn", "r50", "_syncbn"): 43_122_198, ("maskrcnn", "r50", "_syncbn"): 45_769_329,
    ("fasterrcnn", "r101", ""): 60_800_534, ("maskrcnn", "r101", ""): 63_446_641,
    ("fasterrcnn", "r101", "_frozenbn"): 60_695_190, ("maskrcnn", "r101", "_frozenbn"): 63_341_297,
    ("fasterrcnn", "r101", "_gn"): 62_114_326, ("maskrcnn", "r101", "_gn"): 64_761_457,
    ("fasterrcnn", "r101", "_syncbn"): 62_114_326, ("maskrcnn", "r101", "_syncbn"): 64_761_457,
}
DETECTION_MODELS = []


def _register(kind: str, body: str, suffix: str) -> None:
    name = f"{kind}_{body}_fpn{suffix}"
    fixed = dict(variant="fpn", backbone=BODIES[body], mask=kind == "maskrcnn", **NORM_DESIGNS[suffix])

    def builder(**kwargs):
        from .detection import build_detector

        opts = {**fixed, **kwargs}
        return build_detector(opts.pop("variant"), **opts)

    builder.__qualname__ = builder.__name__ = name
    meta = {"family": "detection", "task": "instance segmentation" if kind == "maskrcnn" else "detection",
            "params": PARAMS[(kind, body, suffix)], "num_classes": 91, "input_size": (3, 800, 800),
            "norm": fixed["norm"], "head_norm": fixed["head_norm"],
            "box_head": "4conv1fc" if fixed["head_norm"] else "2fc",
            "paper": {}, "source": "paperlib.models.detection.build_detector (torchvision detection framework)"}
    register_model(name, meta=meta)(builder)
    DETECTION_MODELS.append(name)


for _kind in ("fasterrcnn", "maskrcnn"):
    for _body in BODIES:
        for _suffix in NORM_DESIGNS:
            _register(_kind, _body, _suffix)
del _kind, _body, _suffix


# ----------------------------------------------------------------------------- Panoptic FPN (paper 06)
#: the semantic head of detectron2's COCO config: 256 -> 128 channels, GN, 54 classes (53 stuff + other)
SEM_HEAD_PARAMS = 1_630_774
# Mask R-CNN at 81 classes (80 COCO things + background) instead of 91: 10 fewer class scores and 40
# fewer box deltas on the 1024-d box representation, 10 fewer 1x1 mask logits on 256 channels
_COCO80_DELTA = 10 * 1025 + 40 * 1025 + 10 * 257
PANOPTIC_MODELS = []


def _register_panoptic(body: str, suffix: str) -> None:
    name = f"panoptic_fpn_{body}_fpn{suffix}"
    fixed = dict(backbone=BODIES[body], num_things=80, num_stuff=53, **NORM_DESIGNS[suffix])

    def builder(**kwargs):
        from .panoptic_fpn import build_panoptic_fpn

        return build_panoptic_fpn(**{**fixed, **kwargs})

    builder.__qualname__ = builder.__name__ = name
    meta = {"family": "panoptic", "task": "panoptic segmentation",
            "params": PARAMS[("maskrcnn", body, suffix)] - _COCO80_DELTA + SEM_HEAD_PARAMS,
            "num_things": 80, "num_stuff": 53, "input_size": (3, 800, 800), "norm": fixed["norm"],
            "head_norm": fixed["head_norm"], "loss_weight_sem": 0.5, "loss_weight_instance": 1.0,
            "paper": {"pq_coco_r50_1x": 39.0}, "source": "paperlib.models.panoptic_fpn.build_panoptic_fpn "
                                                           "(builder's Mask R-CNN + detectron2's SemSegFPNHead)"}
    register_model(name, meta=meta)(builder)
    PANOPTIC_MODELS.append(name)


for _body in BODIES:
    for _suffix in NORM_DESIGNS:
        _register_panoptic(_body, _suffix)
del _body, _suffix
