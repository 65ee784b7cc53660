"""06 Panoptic FPN: studies (notes: docs/papers/06_panoptic_fpn.md). Claims and tables: panoptic_fpn_report.

    from paperlib.experiments import panoptic_fpn as X
    data = X.prepare(cfg, data_root)                     # train / val PanopticFPNDataset (+ categories)
    sem = X.semantic_study(cfg, data, device)            # step 1: widths, sum vs concat (semantic only)
    joint = X.joint_study(cfg, data, device)             # step 2: lambda_s sweep (AP, mIoU, PQ^Th)
    merge = X.merge_study(cfg, data, joint.preds(...))   # step 3: merge parameters on one joint model
    t3 = X.joint_vs_separate(cfg, data, sem, joint)      # step 4: PQ and MACs

Every network is :func:`paperlib.models.panoptic_fpn.build_panoptic_fpn` trained with the shared
detection recipe (:func:`paperlib.engine.detection.train_config`: SGD, warm-up, one x0.1 step at 75 %)
for ``cfg.iters`` iterations; steps 1 and 2 use the same count, so step 4 reuses their networks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..data.panoptic import combine_semantic_instances
from ..data.panoptic_dataset import PanopticFPNDataset, panoptic_fpn_dataset, stuff_from_target
from ..metrics.pq import pq_compute_arrays
from ..metrics.pq_counts import miou_from_confusion, per_image_counts, semantic_confusion

__all__ = ["Data", "prepare", "build", "train_net", "predict", "evaluate", "merge_all", "semantic_study",
           "joint_study", "merge_study", "joint_vs_separate", "Net", "width_of", "pq_of", "ap_of", "sem_confusions", "count_macs", "macs"]


@dataclass
class Data:
    root: Any
    train: PanopticFPNDataset
    val: PanopticFPNDataset
    categories: List[dict]
    thing_ids: List[int]
    stuff_ids: List[int]
    backbone_weights: Optional[str] = None


def prepare(cfg, data_root=None) -> Data:
    """Synthetic panoptic scenes (cached) or the user's COCO panoptic 2017 under ``data_root``."""
    from ..engine.detection import resolve_backbone_weights

    weights = resolve_backbone_weights(cfg, data_root)
    if cfg.dataset == "coco" and data_root is None:
        raise ValueError("dataset='coco' needs data_root: train2017/, val2017/, annotations/instances_*2017.json, "
                         "annotations/panoptic_*2017.json and their PNG folders")
    kind, tr, va = ("scenes", "train", "val") if cfg.dataset == "scenes" else ("coco", "train2017", "val2017")
    root = data_root
    if kind == "scenes":
        from ..data.scenes import synthetic_scenes

        root = synthetic_scenes(n_train=cfg.n_train, n_val=cfg.n_val, image_size=cfg.image_size,
                                max_objects=cfg.max_objects, num_things=cfg.num_things, num_stuff=cfg.num_stuff,
                                seed=cfg.data_seed)
    train = panoptic_fpn_dataset(kind, root, tr, hflip=cfg.hflip)
    val = panoptic_fpn_dataset(kind, root, va)
    for ds, cap in ((train, cfg.max_train_images), (val, cfg.max_val_images)):
        if cap:
            ds.ids = ds.det.ids = ds.ids[:cap]
    return Data(root, train, val, train.categories, train.thing_ids, train.stuff_ids, weights)


def width_of(cfg, factor: float) -> int:
    """Semantic branch width for a factor of the FPN width (paper: 64 / 128 / 256 for FPN 256)."""
    return max(1, int(round(factor * cfg.fpn_channels)))


def build(cfg, data: Data, *, width_factor: float = 1.0, aggregate: str = "sum", lambda_s: float = 0.5,
          instance: bool = True, seed: int = 0):
    from ..models.panoptic_fpn import build_panoptic_fpn

    torch.manual_seed(seed)
    return build_panoptic_fpn(
        num_things=len(data.thing_ids), num_stuff=len(data.stuff_ids), sem_channels=width_of(cfg, width_factor),
        aggregate=aggregate, loss_weight_sem=lambda_s, loss_weight_instance=cfg.lambda_i, instance=instance,
        backbone=cfg.backbone, norm=cfg.norm, head_norm=cfg.head_norm, backbone_weights=data.backbone_weights,
        fpn_channels=cfg.fpn_channels, representation_size=cfg.representation_size, min_size=cfg.min_size,
        max_size=cfg.max_size, anchor_sizes=tuple(cfg.anchor_sizes), canonical_scale=cfg.canonical_scale,
        rpn_post_nms_top_n_test=cfg.rpn_post_nms_top_n_test, rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=cfg.rpn_post_nms_top_n_train, box_batch_size_per_image=cfg.box_batch_size_per_image, box_detections_per_img=cfg.box_detections_per_img,
        box_score_thresh=cfg.box_score_thresh)


def train_net(model, cfg, data: Data, device, seed: int, desc: str = "") -> dict:
    """Train ``model`` in place for ``cfg.iters`` iterations (lr x0.1 at 75 %); history dict."""
    from ..data.coco import detection_collate
    from ..engine.data import make_loader
    from ..engine.detection import train_config
    from ..engine.detection_steps import detection_step
    from ..engine.loop import train

    loader = make_loader(data.train, cfg.batch_size, shuffle=True, seed=seed, drop_last=True,
                         collate_fn=detection_collate, num_workers=cfg.num_workers)
    # find_unused: at lambda_s = 0 the semantic head gets no gradient (DDP must not wait for it)
    tc = train_config(cfg, 1, seed, steps_per_epoch=len(loader), iters=cfg.iters,
                      step_iters=max(1, int(0.75 * cfg.iters)), find_unused=True)
    t0 = time.time()
    hist = train(model, loader, tc, device=device, step_fn=detection_step, desc=desc, progress=cfg.progress)
    hist["train_seconds"] = time.time() - t0
    return hist


@torch.no_grad()
def predict(model, data: Data, device, batch_size: int = 8) -> List[Dict[str, Any]]:
    """Per val image: instance masks (binarised at 0.5), scores, category ids (things), the semantic
    argmax (branch labels: 0 other, 1..S stuff; None without a semantic branch) and the raw detections."""
    from ..data.coco import detection_collate

    model.eval().to(device)
    ds = data.val
    out = []
    for i in range(0, len(ds), batch_size):
        imgs, _ = detection_collate([ds[j] for j in range(i, min(i + batch_size, len(ds)))])
        for r in model([im.to(device) for im in imgs]):
            p: Dict[str, Any] = {"sem": None, "masks": None}
            if "sem_seg" in r:
                p["sem"] = r["sem_seg"].argmax(0).to(torch.uint8).cpu().numpy()
            if "boxes" in r:
                p["det"] = {k: r[k].cpu() for k in ("boxes", "labels", "scores", "masks")}
                p["masks"] = (r["masks"][:, 0] >= 0.5).cpu().numpy()
                p["scores"] = r["scores"].cpu().numpy()
                p["cats"] = np.array([ds.label_to_cat_id[int(l)] for l in r["labels"].cpu()], dtype=np.int64)
            out.append(p)
    return out


def merge_all(preds, data: Data, cfg, *, overlap_thr=None, score_thr=None, stuff_area_frac=None,
              things_over_stuff: bool = True, sem_from=None) -> List[tuple]:
    """(id map, segments) per val image by the one merge (:func:`combine_semantic_instances`).
    ``sem_from``: the semantic predictions to use instead of ``preds``' own (separate networks);
    without any, every pixel is "other" (instances only)."""
    out = []
    for k, p in enumerate(preds):
        sem = (sem_from[k]["sem"] if sem_from is not None else p["sem"])
        h, w = (sem.shape if sem is not None else p["masks"].shape[-2:])
        sem_cat = stuff_from_target(sem, data.stuff_ids) if sem is not None else np.zeros((h, w), np.int64)
        frac = cfg.stuff_area_frac if stuff_area_frac is None else stuff_area_frac
        masks = p["masks"] if p.get("masks") is not None else np.zeros((0, h, w), bool)
        scores = p["scores"] if p.get("masks") is not None else np.zeros(0)
        cats = p["cats"] if p.get("masks") is not None else np.zeros(0, np.int64)
        out.append(combine_semantic_instances(
            sem_cat, masks, scores, cats, stuff_category_ids=data.stuff_ids,
            confidence_thr=cfg.score_thr if score_thr is None else score_thr,
            overlap_thr=cfg.overlap_thr if overlap_thr is None else overlap_thr,
            stuff_area_limit=frac * h * w, things_over_stuff=things_over_stuff))
    return out


def _gt(data: Data) -> List[tuple]:
    if not hasattr(data, "_gt_cache"):
        data._gt_cache = [data.val.gt(i) for i in range(len(data.val))]
    return data._gt_cache


def pq_of(merged, data: Data) -> Dict[str, Any]:
    """PQ (paperlib's engine, panopticapi semantics) of merged predictions + per-image counts."""
    gts = _gt(data)
    samples = [(g, gs, p, ps, data.val.ids[i]) for i, ((g, gs), (p, ps)) in enumerate(zip(gts, merged))]
    res, images = pq_compute_arrays(samples, data.categories, return_images=True)
    cat_ids = [int(c["id"]) for c in data.categories]
    return {"res": res, "counts": per_image_counts(images, cat_ids), "cat_ids": cat_ids,
            "isthing": np.array([int(c["id"]) in set(data.thing_ids) for c in data.categories])}


def sem_confusions(preds, data: Data) -> Optional[np.ndarray]:
    """Per-image confusion matrices (n, S+1, S+1) of the semantic branch (class set: other + stuff)."""
    if preds[0]["sem"] is None:
        return None
    n = len(data.stuff_ids) + 1
    return np.stack([semantic_confusion(data.val.semantic(i), p["sem"], n, void_label=255)
                     for i, p in enumerate(preds)])


def ap_of(preds, data: Data):
    """Mask AP (pycocotools, via paperlib.metrics.coco) and the COCOeval for image bootstraps."""
    from ..metrics.coco import detections_to_coco, evaluate_coco

    if preds[0].get("masks") is None:
        return None, None
    res = detections_to_coco([p["det"] for p in preds], data.val.ids, data.val.label_to_cat_id, masks=True)
    for r in res:
        r.pop("bbox", None)                   # pitfall: with a bbox the segm area would be the box area
    m, E = evaluate_coco(data.val.coco, res, "segm", img_ids=list(data.val.ids), return_eval=True)
    return m, E


@dataclass
class Net:
    """One trained network's predictions and scores."""
    name: str
    seed: int
    preds: list
    hist: dict
    model: Any = None
    ap: Optional[dict] = None
    E: Any = None
    conf: Optional[np.ndarray] = None
    pq: Optional[dict] = None
    extra: dict = field(default_factory=dict)

    @property
    def miou(self) -> float:
        if self.conf is None:
            return float("nan")
        return 100.0 * miou_from_confusion(self.conf.sum(0), range(self.conf.shape[-1]))


def evaluate(name, model, hist, cfg, data, device, seed, keep_model: bool = False) -> Net:
    preds = predict(model, data, device)
    if getattr(model, "instance", False) and model.loss_weight_sem == 0:
        for p in preds:                 # lambda_s = 0: the head was never trained, it is not part of the model
            p["sem"] = None
    ap, E = ap_of(preds, data)
    net = Net(name, seed, preds, hist, model if keep_model else None, ap, E, sem_confusions(preds, data))
    if preds[0].get("masks") is not None:
        net.pq = pq_of(merge_all(preds, data, cfg), data)
    return net


def semantic_study(cfg, data: Data, device) -> Dict[tuple, Net]:
    """Step 1 (T1c/d analogue): semantic-only networks per (width factor, aggregation, seed)."""
    arms = [(f, "sum") for f in cfg.width_factors] + [(1.0, "concat")]
    out = {}
    for f, agg in arms:
        for s in cfg.seeds:
            m = build(cfg, data, width_factor=f, aggregate=agg, instance=False, lambda_s=1.0, seed=s)
            hist = train_net(m, cfg, data, device, s, desc=f"sem {f}x {agg} s{s}")
            out[(f, agg, s)] = evaluate(f"semantic {f:g}x {agg}", m, hist, cfg, data, device, s, keep_model=True)
    return out


def joint_study(cfg, data: Data, device) -> Dict[tuple, Net]:
    """Step 2 (T2a analogue): joint networks per (lambda_s, seed), lambda_i = cfg.lambda_i."""
    out = {}
    for lam in cfg.lambdas_s:
        for s in cfg.seeds:
            m = build(cfg, data, lambda_s=lam, seed=s)
            hist = train_net(m, cfg, data, device, s, desc=f"joint ls={lam:g} s{s}")
            out[(lam, s)] = evaluate(f"joint ls={lam:g}", m, hist, cfg, data, device, s, keep_model=True)
    return out


def _pq_row(res) -> Dict[str, float]:
    return {"PQ": 100 * res["All"]["pq"], "PQ_Th": 100 * res["Things"]["pq"], "PQ_St": 100 * res["Stuff"]["pq"],
            "SQ": 100 * res["All"]["sq"], "RQ": 100 * res["All"]["rq"]}


def merge_study(cfg, data: Data, net: Net) -> List[dict]:
    """Step 3: one parameter at a time around the defaults, plus stuff-over-things, on ``net``'s predictions."""
    rows = []
    base = dict(overlap_thr=cfg.overlap_thr, score_thr=cfg.score_thr, stuff_area_frac=cfg.stuff_area_frac)
    settings = [("default", {})]
    settings += [("overlap_thr", {"overlap_thr": v}) for v in cfg.overlap_thrs if v != cfg.overlap_thr]
    settings += [("score_thr", {"score_thr": v}) for v in cfg.score_thrs if v != cfg.score_thr]
    settings += [("stuff_area_frac", {"stuff_area_frac": v}) for v in cfg.stuff_area_fracs if v != cfg.stuff_area_frac]
    settings += [("things_over_stuff", {"things_over_stuff": False})]
    for what, kw in settings:
        p = {**base, "things_over_stuff": True, **kw}
        merged = merge_all(net.preds, data, cfg, **p)
        res = pq_of(merged, data)
        fp_st = int(res["counts"][:, ~res["isthing"], 1].sum())
        rows.append({"varied": what, **p, "stuff_area_px": round(p["stuff_area_frac"] * cfg.image_size ** 2, 1),
                     **_pq_row(res["res"]), "FP_stuff": fp_st, "_counts": res["counts"]})
    return rows


def joint_vs_separate(cfg, data: Data, sem: Dict[tuple, Net], joint: Dict[tuple, Net]) -> Dict[str, Any]:
    """Step 4 (T3a analogue): per seed, the joint network (lambda_s = cfg.joint_lambda_s) vs the separate pair
    (the lambda_s = 0 detector of step 2 + the 1x summed semantic-only network of step 1, merged)."""
    rows, counts = [], {"joint": [], "separate": []}
    for s in cfg.seeds:
        j, d, m = joint[(cfg.joint_lambda_s, s)], joint[(0.0, s)], sem[(1.0, "sum", s)]
        sep = pq_of(merge_all(d.preds, data, cfg, sem_from=m.preds), data)
        for name, net_pq, ap, miou in (("separate", sep, d.ap, m.miou), ("joint", j.pq, j.ap, j.miou)):
            rows.append({"model": name, "seed": s, "AP": 100 * ap["AP"], "mIoU": miou, **_pq_row(net_pq["res"])})
            counts[name].append(net_pq["counts"])
    return {"rows": rows, "counts": counts, "macs": macs(cfg, data, sem, joint)}


def count_macs(model, image_size: int, n_rois: int, n_dets: int) -> float:
    """Multiply-adds of one eval forward on one ``image_size`` image, every Conv2d / Linear counted as
    paperlib.metrics.complexity does (pycls: k*k*C_in/groups*C_out*H*W + bias adds) over all rows of its
    output: body + FPN + RPN head, the box head on ``n_rois`` proposals and the mask head on ``n_dets``
    detections (fixed budgets, so that networks with different detections compare fairly), plus the
    semantic head when it is part of the network (not for a lambda_s = 0 detector). By hand: complexity()
    counts one row per layer and cannot run torchvision's RPN on the meta device."""
    from torch import nn

    total = [0]

    def conv(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += k * (m.in_channels // m.groups) * out.numel() + (out.numel() if m.bias is not None else 0)

    def linear(m, inp, out):
        rows = out.numel() // m.out_features
        total[0] += rows * (m.in_features * m.out_features + (m.out_features if m.bias is not None else 0))

    hooks = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    x = torch.zeros(1, 3, image_size, image_size)
    try:
        model.eval()
        with torch.no_grad():
            if model.instance:
                det = model.detector
                feats = det.backbone(x)
                det.rpn.head(list(feats.values()))
                c, rh = det.backbone.out_channels, det.roi_heads
                rh.box_predictor(rh.box_head(torch.zeros(n_rois, c, 7, 7)))
                rh.mask_predictor(rh.mask_head(torch.zeros(n_dets, c, 14, 14)))
            else:
                feats = model.backbone(x)
            if not model.instance or model.loss_weight_sem > 0:
                model.sem_head(feats)
    finally:
        for h in hooks:
            h.remove()
    return float(total[0])


def macs(cfg, data: Data, sem, joint) -> Dict[str, float]:
    """MACs per image (:func:`count_macs` at ``cfg.image_size``, RoI budgets ``rpn_post_nms_top_n_test`` /
    ``box_detections_per_img``) of the joint network, the separate detector and the semantic network."""
    s = cfg.seeds[0]
    get = lambda net: count_macs(net.model.cpu(), cfg.image_size, cfg.rpn_post_nms_top_n_test,  # noqa: E731
                                 cfg.box_detections_per_img)
    jm, dm, sm = get(joint[(cfg.joint_lambda_s, s)]), get(joint[(0.0, s)]), get(sem[(1.0, "sum", s)])
    return {"joint": jm, "detector": dm, "semantic": sm, "separate": dm + sm, "ratio_joint_separate": jm / (dm + sm)}
