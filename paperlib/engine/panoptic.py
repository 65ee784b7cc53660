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
max_steps, log_every, iters, num_workers, progress). Moved here from ``experiments/panoptic_fpn.py`` so that
04 uses the same code without importing another paper's experiments module.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

__all__ = ["width_of", "build_panoptic", "train_panoptic", "predict_panoptic"]


def width_of(recipe, factor: float) -> int:
    """Semantic branch width for a factor of ``recipe.sem_channels``."""
    return max(1, int(round(factor * recipe.sem_channels)))


def build_panoptic(recipe, *, num_things: int, num_stuff: int, width_factor: float = 1.0, aggregate: str = "sum",
                   lambda_s: float = 0.5, instance: bool = True, seed: int = 0, backbone_weights: Optional[str] = None,
                   schedule: str = "joint", fpn_groups: int = 1):
    """A :func:`paperlib.models.panoptic_fpn.build_panoptic_fpn` network from ``recipe`` (initialised
    with ``torch.manual_seed(seed)``); ``schedule`` / ``fpn_groups``: the paper's Table 3c/d designs."""
    from ..models.panoptic_fpn import build_panoptic_fpn

    r = recipe
    torch.manual_seed(seed)
    return build_panoptic_fpn(
        num_things=num_things, num_stuff=num_stuff, sem_channels=width_of(r, width_factor), aggregate=aggregate,
        loss_weight_sem=lambda_s, loss_weight_instance=r.lambda_i, instance=instance, backbone=r.backbone,
        norm=r.norm, head_norm=r.head_norm, backbone_weights=backbone_weights, fpn_channels=r.fpn_channels,
        schedule=schedule, fpn_groups=fpn_groups,
        representation_size=r.representation_size, min_size=r.min_size, max_size=r.max_size,
        anchor_sizes=tuple(r.anchor_sizes), canonical_scale=r.canonical_scale,
        rpn_post_nms_top_n_test=r.rpn_post_nms_top_n_test, rpn_pre_nms_top_n_train=r.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=r.rpn_post_nms_top_n_train, box_batch_size_per_image=r.box_batch_size_per_image,
        box_detections_per_img=r.box_detections_per_img, box_score_thresh=r.box_score_thresh)


def train_panoptic(model, recipe, dataset, device, seed: int, desc: str = "", step_fn=None) -> dict:
    """Train ``model`` in place on ``dataset`` (items: image, target with "sem_seg") for ``recipe.iters``
    iterations with the shared detection recipe (SGD, warm-up, lr x0.1 at 75 %); history dict.
    ``step_fn``: the engine step (default: the joint loss, :func:`paperlib.engine.detection_steps.detection_step`)."""
    from ..data.coco import detection_collate
    from .data import make_loader
    from .detection import train_config
    from .detection_steps import detection_step
    from .loop import train

    loader = make_loader(dataset, recipe.batch_size, shuffle=True, seed=seed, drop_last=True,
                         collate_fn=detection_collate, num_workers=recipe.num_workers)
    # find_unused: at lambda_s = 0 the semantic head gets no gradient (DDP must not wait for it)
    tc = train_config(recipe, 1, seed, steps_per_epoch=len(loader), iters=recipe.iters,
                      step_iters=max(1, int(0.75 * recipe.iters)), find_unused=True)
    t0 = time.time()
    hist = train(model, loader, tc, device=device, step_fn=step_fn or detection_step, desc=desc,
                 progress=recipe.progress)
    hist["train_seconds"] = time.time() - t0
    return hist


@torch.no_grad()
def predict_panoptic(model, n: int, load: Callable[[int], torch.Tensor], device, label_to_cat_id,
                     batch_size: int = 8, keep_score: float = 0.0, image_ids=None) -> List[Dict[str, Any]]:
    """Per image ``load(i)`` (a (3, H, W) float image in [0, 1]), i < ``n``: "sem" = the semantic argmax
    (branch labels: 0 other, 1..S stuff; None without a semantic branch), "masks" = the instance masks
    binarised at 0.5 with their "scores" and category ids "cats" (only scores >= ``keep_score``: the merge
    never looks further), and with ``image_ids`` the image's COCO results (all detections, RLE masks)
    under "coco" for the AP."""
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
                p["scores"] = r["scores"][keep].numpy()
                p["cats"] = np.array([label_to_cat_id[int(l)] for l in r["labels"][keep]], dtype=np.int64)
            out.append(p)
    return out
