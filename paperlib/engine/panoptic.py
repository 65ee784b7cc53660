"""Panoptic FPN training and inference shared by the papers that train one (06 Panoptic FPN's studies, 04
Panoptic Segmentation's ``gpu`` machine): build from a recipe, train with the shared detection recipe,
predict per image (semantic argmax, instance masks, scores, category ids).

    from paperlib.engine.panoptic import build_panoptic, train_panoptic, predict_panoptic
    model = build_panoptic(recipe, num_things=3, num_stuff=4, lambda_s=0.5, seed=0)
    hist = train_panoptic(model, recipe, train_dataset, "cpu", seed=0)      # a PanopticFPNDataset
    preds = predict_panoptic(model, len(images), lambda i: images[i], "cpu", label_to_cat_id)

``recipe`` is any object with the fields of 06's Config that these functions read (backbone, norm,
head_norm, fpn_channels, sem_channels, representation_size, min_size, max_size, anchor_sizes,
canonical_scale, the RPN / RoI budgets, lambda_i, and the training fields of
:func:`paperlib.engine.detection.train_config`: batch_size, lr, weight_decay, warmup_epochs, clip_grad,
max_steps, log_every, iters, num_workers, progress; optional: ``lr_steps`` (the optimizer steps where the lr
drops x0.1; None = one drop at 75 %), ``warmup_iters`` (the warm-up in optimizer steps, e.g. detectron2's
1000; None = ``warmup_epochs``), ``crop_size`` / ``scale_range`` (training on rescaled crops: the detector's
transform then leaves the training images at their size, :func:`train_at_input_size`). Moved here from
``experiments/panoptic_fpn.py`` so that 04 uses the same code without importing another paper's experiments
module.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

__all__ = ["width_of", "build_panoptic", "train_panoptic", "predict_panoptic", "panoptic_train_config",
           "lr_steps_of", "train_at_input_size", "RLEMasks"]


def width_of(recipe, factor: float) -> int:
    """Semantic branch width for a factor of ``recipe.sem_channels``."""
    return max(1, int(round(factor * recipe.sem_channels)))


def train_at_input_size(model) -> None:
    """Make the network's detector transform leave training images at their size (they come as rescaled
    crops, e.g. Cityscapes' 512 x 1024 after a 0.5-2x rescale); evaluation still resizes to min_size /
    max_size. torchvision's ``GeneralizedRCNNTransform`` has this switch (``_skip_resize``, the option
    its reference scripts use for large-scale-jitter training); checked here so that a torchvision
    without it fails loudly rather than resizing the crops."""
    t = model.detector.transform if model.instance else model.transform
    if not hasattr(t, "_skip_resize"):
        raise RuntimeError("this torchvision's GeneralizedRCNNTransform has no _skip_resize: training on crops "
                           "would resize them to min_size")
    t._skip_resize = True


def build_panoptic(recipe, *, num_things: int, num_stuff: int, width_factor: float = 1.0, aggregate: str = "sum",
                   lambda_s: float = 0.5, instance: bool = True, seed: int = 0, backbone_weights: Optional[str] = None,
                   schedule: str = "joint", fpn_groups: int = 1, num_sem_classes: Optional[int] = None):
    """A :func:`paperlib.models.panoptic_fpn.build_panoptic_fpn` network from ``recipe`` (initialised
    with ``torch.manual_seed(seed)``); ``schedule`` / ``fpn_groups``: the paper's Table 3c/d designs;
    ``num_sem_classes``: the branch's classes (None: other + ``num_stuff``). With ``recipe.crop_size`` or
    ``recipe.scale_range`` the training images are not resized by the detector (:func:`train_at_input_size`)."""
    from ..models.panoptic_fpn import build_panoptic_fpn

    r = recipe
    torch.manual_seed(seed)
    model = build_panoptic_fpn(
        num_things=num_things, num_stuff=num_stuff, num_sem_classes=num_sem_classes,
        sem_channels=width_of(r, width_factor), aggregate=aggregate,
        loss_weight_sem=lambda_s, loss_weight_instance=r.lambda_i, instance=instance, backbone=r.backbone,
        norm=r.norm, head_norm=r.head_norm, backbone_weights=backbone_weights, fpn_channels=r.fpn_channels,
        schedule=schedule, fpn_groups=fpn_groups,
        representation_size=r.representation_size, min_size=r.min_size, max_size=r.max_size,
        anchor_sizes=tuple(r.anchor_sizes), canonical_scale=r.canonical_scale,
        rpn_post_nms_top_n_test=r.rpn_post_nms_top_n_test, rpn_pre_nms_top_n_train=r.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=r.rpn_post_nms_top_n_train, box_batch_size_per_image=r.box_batch_size_per_image,
        box_detections_per_img=r.box_detections_per_img, box_score_thresh=r.box_score_thresh)
    if getattr(r, "crop_size", None) or getattr(r, "scale_range", None):
        train_at_input_size(model)
    return model


def lr_steps_of(recipe) -> List[int]:
    """The optimizer steps where the lr drops x0.1: ``recipe.lr_steps`` ([] = none), or (None / no such
    field) one drop at 75 % of ``recipe.iters``."""
    steps = getattr(recipe, "lr_steps", None)
    return [int(s) for s in steps] if steps is not None else [max(1, int(0.75 * recipe.iters))]


def panoptic_train_config(recipe, steps_per_epoch: int, seed: int):
    """The engine's TrainConfig of one network: :func:`paperlib.engine.detection.train_config` over
    ``recipe.iters`` optimizer steps with the lr x0.1 at each of :func:`lr_steps_of` (exactly at those
    steps), and the warm-up in optimizer steps when ``recipe.warmup_iters`` is set (capped at the schedule)."""
    from .detection import train_config

    # find_unused: at lambda_s = 0 the semantic head gets no gradient (DDP must not wait for it)
    tc = train_config(recipe, 1, seed, steps_per_epoch=steps_per_epoch, iters=recipe.iters,
                      step_iters=lr_steps_of(recipe), find_unused=True)
    w = getattr(recipe, "warmup_iters", None)
    if w:
        tc.warmup_epochs = min(w / steps_per_epoch, tc.epochs)
    return tc


def train_panoptic(model, recipe, dataset, device, seed: int, desc: str = "", step_fn=None) -> dict:
    """Train ``model`` in place on ``dataset`` (items: image, target with "sem_seg") for ``recipe.iters``
    iterations with the shared detection recipe (SGD, warm-up, lr x0.1 at 75 % or at each of
    ``recipe.lr_steps``: :func:`panoptic_train_config`); history dict.
    ``step_fn``: the engine step (default: the joint loss, :func:`paperlib.engine.detection_steps.detection_step`)."""
    from ..data.coco import detection_collate
    from .data import make_loader
    from .detection_steps import detection_step
    from .loop import train

    loader = make_loader(dataset, recipe.batch_size, shuffle=True, seed=seed, drop_last=True,
                         collate_fn=detection_collate, num_workers=recipe.num_workers)
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training image(s) make no full batch of batch_size = {recipe.batch_size} "
                         "per process (the last partial batch is dropped): lower batch_size or add images")
    tc = panoptic_train_config(recipe, len(loader), seed)
    t0 = time.time()
    hist = train(model, loader, tc, device=device, step_fn=step_fn or detection_step, desc=desc,
                 progress=recipe.progress)
    hist["train_seconds"] = time.time() - t0
    return hist


class RLEMasks:
    """The binary instance masks of one image kept as pycocotools RLEs; ``np.asarray(m)`` decodes them to
    (N, H, W) bool, ``m.shape`` / ``len(m)`` need no decoding. Why: a trained detector keeps ~20 masks per
    image above the merge study's lowest score, ~2 MB each as a bool array at Cityscapes' 1024 x 2048, so the
    predictions of 500 val images would hold ~20 GB per network, a few MB as RLE."""

    def __init__(self, masks: np.ndarray):
        from pycocotools import mask as mask_utils

        masks = np.asarray(masks, dtype=bool)
        self.shape = tuple(int(v) for v in masks.shape)
        self.rles = (mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
                     if len(masks) else [])

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        from pycocotools import mask as mask_utils

        out = (mask_utils.decode(self.rles).transpose(2, 0, 1).astype(bool) if self.rles
               else np.zeros(self.shape, bool))
        return out if dtype is None else out.astype(dtype)


@torch.no_grad()
def predict_panoptic(model, n: int, load: Callable[[int], torch.Tensor], device, label_to_cat_id,
                     batch_size: int = 8, keep_score: float = 0.0, image_ids=None,
                     rle_masks: bool = False) -> List[Dict[str, Any]]:
    """Per image ``load(i)`` (a (3, H, W) float image in [0, 1]), i < ``n``: "sem" = the semantic argmax
    (branch labels: 0 other, 1..S stuff; None without a semantic branch), "masks" = the instance masks
    binarised at 0.5 with their "scores" and category ids "cats" (only scores >= ``keep_score``: the merge
    never looks further), and with ``image_ids`` the image's COCO results (all detections, RLE masks)
    under "coco" for the AP. ``rle_masks``: "masks" as :class:`RLEMasks` (compact; ``np.asarray`` decodes)."""
    from ..metrics.coco import detections_to_coco

    model.eval().to(device)
    out = []
    for i in range(0, n, batch_size):
        j1 = min(i + batch_size, n)
        imgs = [load(k).to(device) for k in range(i, j1)]
        for j, r in zip(range(i, j1), model(imgs)):
            r = {k: v.cpu() for k, v in r.items()}
            p: Dict[str, Any] = {"sem": None, "masks": None}
            if "sem_seg" in r:
                p["sem"] = r["sem_seg"].argmax(0).to(torch.uint8).numpy()
            if "boxes" in r:
                if image_ids is not None:
                    p["coco"] = detections_to_coco([r], [image_ids[j]], label_to_cat_id, masks=True)
                keep = r["scores"] >= keep_score
                p["masks"] = (r["masks"][keep, 0] >= 0.5).numpy()
                if rle_masks:
                    p["masks"] = RLEMasks(p["masks"])
                p["scores"] = r["scores"][keep].numpy()
                p["cats"] = np.array([label_to_cat_id[int(l)] for l in r["labels"][keep]], dtype=np.int64)
            out.append(p)
    return out
