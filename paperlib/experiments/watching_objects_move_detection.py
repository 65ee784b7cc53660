"""03 Watching Objects Move: detection transfer (W2 / W3 at ``gpu`` and ``paper``; spec:
docs/papers/03_watching_objects_move.md).

The pre-trained trunk (motion student, rotation, or random init; a 4-stage AnyNet with the "imagenet" stem)
becomes the body of the project's shared Faster R-CNN builder (:func:`paperlib.models.detection.build_detector`,
default variant "c4": conv4 features for the RPN, the last stage as the RoI head), fine-tuned with the shared
detection engine (:mod:`paperlib.engine.detection`: SGD, warm-up, one x0.1 step at 75 %) on a fraction of the
training images of

- ``det_dataset="scenes"`` (gpu): paperlib's embedded synthetic scenes (COCO format);
- ``det_dataset="voc"`` (paper): the user's PASCAL VOC 2007 in torchvision's ``VOCDetection`` layout
  (trainval -> test; :mod:`paperlib.data.voc`).

The metric is box AP at IoU 0.5 from pycocotools (COCO's 101-point interpolation; VOC07's 11-point AP is not
computed -- no maintained package on PyPI implements it for COCO-format results, and the gap is a fixed
convention, the same for every arm). Every arm gets the same images, steps and optimiser.
"""
from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import numpy as np
import torch

from ..metrics import stats
from ..models.motion_student import Trunk, trunk_to_anynet


def det_data(cfg, data_root=None) -> dict:
    """{"train", "val", "num_classes"}: COCO-format datasets of the configured detection transfer task."""
    from ..data.coco import coco_detection_dataset

    if cfg.det_dataset == "scenes":
        from ..data.scenes import synthetic_scenes

        root = synthetic_scenes(n_train=cfg.det_n_train, n_val=cfg.det_n_val, image_size=cfg.det_image_size,
                                max_objects=cfg.det_max_objects, seed=cfg.data_seed)
        train = coco_detection_dataset("scenes", root, "train", hflip=True)
        val = coco_detection_dataset("scenes", root, "val")
    elif cfg.det_dataset == "voc":
        from ..data.voc import voc_detection_dataset

        if data_root is None:
            raise ValueError("det_dataset='voc' needs data_root holding VOCdevkit/VOC2007 (torchvision's layout)")
        train = voc_detection_dataset(data_root, "2007", cfg.det_voc_train, hflip=True)
        val = voc_detection_dataset(data_root, "2007", cfg.det_voc_test)
    else:
        raise ValueError(f"det_dataset={cfg.det_dataset!r}: no detection transfer configured")
    return dict(train=train, val=val, num_classes=train.num_classes)


def det_subset(train, fraction: float, seed: int, min_images: int = 1):
    """A copy of ``train`` keeping round(fraction x n) images (at least ``min_images``, at most n) of one seeded
    permutation: nested subsets, the same images for every method and training seed."""
    ids = list(train.ids)
    order = np.random.default_rng(seed).permutation(len(ids))
    k = min(len(ids), max(min_images, int(round(fraction * len(ids)))))
    sub = copy.copy(train)
    sub.ids = [ids[i] for i in sorted(order[:k])]
    return sub


def build_transfer_detector(cfg, trunk: Trunk, num_classes: int):
    """Faster R-CNN (cfg.det_variant) whose body is a copy of ``trunk``; anchors and the RoI canonical scale
    follow the image size (16..256 px below 512-px images, else the paper's 32..512)."""
    from ..models.detection import build_detector

    a = 16 if cfg.det_image_size < 512 else 32
    small = cfg.det_image_size < 512
    return build_detector(cfg.det_variant, backbone=trunk_to_anynet(trunk), norm="bn", num_classes=num_classes,
                          fpn_channels=min(256, 2 * cfg.widths[0]), anchor_sizes=tuple(a * 2 ** k for k in range(5)),
                          canonical_scale=7 * a, representation_size=512 if small else 1024,
                          min_size=cfg.det_image_size, max_size=cfg.det_max_size,
                          rpn_pre_nms_top_n_train=1000 if small else 2000, rpn_post_nms_top_n_train=500 if small
                          else 2000, rpn_pre_nms_top_n_test=500 if small else 1000,
                          rpn_post_nms_top_n_test=300 if small else 1000,
                          box_batch_size_per_image=128 if small else 512)


def finetune_detector(cfg, trunk: Trunk, det: dict, fraction: float, device, seed: int) -> dict:
    """Fine-tune a detector on ``fraction`` of the training images for cfg.det_steps steps; evaluate on val.
    Returns {AP50, AP (points), E (pycocotools COCOeval or None), n_images}."""
    from ..engine.detection import train_detector
    from ..engine.detection_steps import coco_box_eval

    torch.manual_seed(seed)
    sub = det_subset(det["train"], fraction, cfg.data_seed, min_images=cfg.det_batch)
    model = build_transfer_detector(cfg, trunk, det["num_classes"]).to(device)
    spe = max(1, len(sub) // cfg.det_batch)
    dcfg = SimpleNamespace(batch_size=cfg.det_batch, lr=cfg.det_lr, weight_decay=cfg.det_wd,
                           warmup_epochs=min(500, max(1, cfg.det_steps // 10)) / spe, max_steps=None, clip_grad=None,
                           log_every=max(1, cfg.det_steps // 5), num_workers=cfg.num_workers, progress=False)
    train_detector(model, dcfg, det, device, seed, epochs=1, iters=cfg.det_steps,
                   step_iters=max(1, int(0.75 * cfg.det_steps)), dataset=sub, desc=f"detection {fraction:g}")
    m, E = coco_box_eval(model, det["val"], device)
    return dict(AP50=100.0 * float(np.nan_to_num(m["AP50"])), AP=100.0 * float(np.nan_to_num(m["AP"])), E=E,
                n_images=len(sub))


def det_grid(cfg, det: dict, trunks: dict, device) -> list:
    """Rows {method, seed, fraction, n_images, AP50, AP, E} for every trunk (trunks[(method, seed)]) and every
    cfg.det_fractions."""
    rows = []
    for frac in sorted(cfg.det_fractions):
        for (method, seed), trunk in trunks.items():
            r = finetune_detector(cfg, trunk, det, frac, device, seed)
            rows.append(dict(method=method, seed=seed, fraction=frac, **r))
    return rows


def det_table(rows: list) -> list:
    """AP50 / AP mean and seed std per (method, fraction)."""
    out = []
    for frac, m in sorted({(r["fraction"], r["method"]) for r in rows}):
        rs = [r for r in rows if (r["fraction"], r["method"]) == (frac, m)]
        ap50 = [r["AP50"] for r in rs]
        out.append({"method": m, "image fraction %": 100 * frac, "train images": rs[0]["n_images"],
                    "AP50 (mean)": float(np.mean(ap50)), "AP50 seed std": float(np.std(ap50, ddof=1))
                    if len(ap50) > 1 else None, "AP (mean)": float(np.mean([r["AP"] for r in rs])), "seeds": len(rs)})
    return out


def det_contrast(rows: list, a: str, b: str, fraction: float, *, min_effect: float, seed: int = 0) -> stats.Verdict:
    """AP50(a) - AP50(b) (points, mean over seeds) by :func:`stats.decide_trained` with the per-seed differences;
    the image interval is the mean half-width of the per-seed paired bootstraps over val images
    (:func:`paperlib.metrics.coco.paired_bootstrap_ap` at IoU 0.5), centred on the mean difference."""
    from ..metrics.coco import paired_bootstrap_ap

    ra = sorted((r for r in rows if r["method"] == a and r["fraction"] == fraction), key=lambda r: r["seed"])
    rb = sorted((r for r in rows if r["method"] == b and r["fraction"] == fraction), key=lambda r: r["seed"])
    if not ra or not rb:
        return stats.not_tested(f"detection: {a} or {b} not run at fraction {fraction}")
    per_seed = [x["AP50"] - y["AP50"] for x, y in zip(ra, rb)]
    diff = float(np.mean(per_seed))
    halves = []
    for x, y in zip(ra, rb):
        if x["E"] is not None and y["E"] is not None:
            d, lo, hi = paired_bootstrap_ap(y["E"], x["E"], iou=0.5, seed=seed)
            halves.append((100 * (d - lo), 100 * (hi - d)))
    lo, hi = (None, None)
    if halves and len(halves) == len(per_seed) and all(math.isfinite(v) for h in halves for v in h):
        lo, hi = diff - float(np.mean([h[0] for h in halves])), diff + float(np.mean([h[1] for h in halves]))
    return stats.decide_trained(diff, lo, hi, expect="+", min_effect=min_effect, per_seed=per_seed,
                                contrast=f"AP50({a}) - AP50({b}) [points]", fraction=fraction,
                                ap50_a=[x["AP50"] for x in ra], ap50_b=[y["AP50"] for y in rb])


def det_claims(cfg, rows: list, seed: int = 0) -> dict:
    """{claim id: (statement, Verdict, paper dict)} of the detection transfer at the smallest image fraction."""
    f = min(cfg.det_fractions)
    where = f"{'PASCAL VOC 2007' if cfg.det_dataset == 'voc' else 'synthetic scenes'}, {100 * f:g} % of the images"
    out = {"C2det": (f"Detection transfer: as the body of a Faster R-CNN fine-tuned on {where}, the motion-pretrained "
                     "trunk beats random init (AP50)",
                     det_contrast(rows, "motion", "random", f, min_effect=cfg.det_min_effect, seed=seed), {})}
    if "rotation" in cfg.methods:
        out["C3det"] = (f"Detection transfer on {where}: motion pre-training beats rotation prediction (AP50)",
                        det_contrast(rows, "motion", "rotation", f, min_effect=cfg.det_min_effect, seed=seed),
                        {"VOC07 detection mAP": "recalled, unverified (see docs/papers/03_watching_objects_move.md)"})
    return out
