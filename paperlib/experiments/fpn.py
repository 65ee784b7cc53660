"""FPN (Lin et al., 2017) experiments: RPN ablations (Table 1), Fast R-CNN heads on the fixed FPN
proposals (Table 2), detectors with / without FPN (Table 3: by default a Fast R-CNN on the proposals of
the same variant's RPN, features not shared, as the paper's; ``shared_features`` = joint Faster R-CNN),
and the claims. The exact checks (Eq. 1, anchor counts, parameter anchors, claim A1) are in
:mod:`paperlib.experiments.fpn_checks`; the detection training / inference machinery any detection paper
uses is :mod:`paperlib.engine.detection` (its names are re-exported here). Paper notes (claims, the
paper's numbers, our deviations): ``docs/papers/02_fpn.md``.

The notebook ``notebooks/02_fpn.ipynb`` calls, in order::

    data = fpn.load_data(cfg, data_root)                 # datasets + COCO ground truth
    rpn = {v: fpn.run_rpn(v, cfg, data, device, seed) for v in cfg.rpn_variants}
    props = fpn.fixed_proposals(rpn["fpn"]["model"], cfg, data, device)   # Table 2 (if variants)
    frc = {v: fpn.run_fast_rcnn(v, cfg, data, props, device, seed) for v in cfg.fast_rcnn_variants}
    det = fpn.run_table3(cfg, data, rpn, device, seed, props=props)   # Fast R-CNN on each variant's RPN
    fpn.table1_rows(rpn, cfg), fpn.table2_rows(frc, props), fpn.table3_rows(det)
    for c in fpn.claims(rpn, det, frc, cfg): run.claim(**c)

Proposal AR is COCO's (COCOeval, useCats=0, IoU .50:.95, read from eval['recall']); the paired
bootstrap over evaluation images re-accumulates it on resampled image sets.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..engine.detection import (SharedFeatures, TwoStage, WithProposals, detection_step,  # noqa: F401
                                load_data, predict, resolve_backbone_weights, rpn_budgets, rpn_proposals,
                                train_config, train_detector)   # shared detection machinery (re-exported)
from ..metrics import coco as coco_metrics
from ..metrics import stats

# the paper's numbers (spec Tables 1 and 3), for the tables and the claim evidence
PAPER_TABLE1 = {
    "c4": {"AR100": 36.1, "AR1k": 48.3, "AR1k_s": 32.0, "AR1k_m": 58.7, "AR1k_l": 62.2, "anchors": "47k"},
    "c5": {"AR100": 36.3, "AR1k": 44.9, "AR1k_s": 25.3, "AR1k_m": 55.5, "AR1k_l": 64.2, "anchors": "12k"},
    "fpn": {"AR100": 44.0, "AR1k": 56.3, "AR1k_s": 44.9, "AR1k_m": 63.4, "AR1k_l": 66.2, "anchors": "200k"},
    "bottom_up": {"AR100": 37.4, "AR1k": 49.5, "AR1k_s": 30.5, "AR1k_m": 59.9, "AR1k_l": 68.0, "anchors": "200k"},
    "no_lateral": {"AR100": 34.5, "AR1k": 46.1, "AR1k_s": 26.5, "AR1k_m": 57.4, "AR1k_l": 64.7, "anchors": "200k"},
    "finest": {"AR100": 38.4, "AR1k": 51.3, "AR1k_s": 35.1, "AR1k_m": 59.7, "AR1k_l": 67.6, "anchors": "750k"},
}
PAPER_TABLE2 = {     # Fast R-CNN on the fixed proposals of Table 1(c)
    "c4": {"head": "conv5", "AP50": 54.7, "AP": 31.9, "APs": 15.7, "APm": 36.5, "APl": 45.5},
    "c5": {"head": "2fc", "AP50": 52.9, "AP": 28.8, "APs": 11.9, "APm": 32.4, "APl": 43.4},
    "fpn": {"head": "2fc", "AP50": 56.9, "AP": 33.9, "APs": 17.8, "APm": 37.7, "APl": 45.8},
    "bottom_up": {"head": "2fc", "AP50": 44.9, "AP": 24.9, "APs": 10.9, "APm": 24.4, "APl": 38.5},
    "no_lateral": {"head": "2fc", "AP50": 54.0, "AP": 31.3, "APs": 13.3, "APm": 35.2, "APl": 45.3},
    "finest": {"head": "2fc", "AP50": 56.3, "AP": 33.4, "APs": 17.3, "APm": 37.3, "APl": 45.6},
}
PAPER_TABLE3 = {
    "c4": {"AP50": 53.1, "AP": 31.6, "APs": 13.2, "APm": 35.6, "APl": 47.1},
    "c5": {"AP50": 51.7, "AP": 28.0, "APs": 9.6, "APm": 31.9, "APl": 43.1},
    "fpn": {"AP50": 56.9, "AP": 33.9, "APs": 17.8, "APm": 37.7, "APl": 45.8},
}


# ----------------------------------------------------------------------------- setup
def anchor_sizes(cfg) -> tuple:
    """Anchor side per level P2..P6 = anchor_scale x stride (paper: 8 x stride = 32..512)."""
    return tuple(int(cfg.anchor_scale * 2 ** l) for l in (2, 3, 4, 5, 6))


def canonical_scale(cfg) -> int:
    """Eq. 1's s0 = 224 scaled like the anchors (224 x anchor_scale / 8)."""
    return int(round(224 * cfg.anchor_scale / 8))


def detector_kwargs(cfg, num_classes: int, backbone_weights: Optional[str] = None) -> Dict[str, Any]:
    """build_detector's options from cfg; ``backbone_weights``: the resolved file
    (:func:`resolve_backbone_weights`, kept in ``data["backbone_weights"]`` by :func:`load_data`)."""
    size = dict(min_size=cfg.min_size or cfg.image_size, max_size=cfg.max_size or cfg.image_size)
    return dict(backbone=cfg.backbone, norm=cfg.norm, backbone_weights=backbone_weights, num_classes=num_classes,
                fpn_channels=cfg.fpn_channels, anchor_sizes=anchor_sizes(cfg),
                canonical_scale=canonical_scale(cfg), representation_size=cfg.representation_size,
                rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_train, rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_test,
                rpn_post_nms_top_n_train=cfg.rpn_post_nms_train,
                rpn_post_nms_top_n_test=max(cfg.proposal_budgets + cfg.curve_budgets),
                box_batch_size_per_image=cfg.box_batch_size_per_image, **size)


def data_rows(data) -> List[Dict]:
    """Images and non-crowd instances per COCO size bucket, per split (from the annotations)."""
    from ..data.scenes import area_bucket

    rows = []
    for split in ("train", "val"):
        ds = data[split]
        ids = set(ds.ids)
        anns = [a for a in ds.coco.dataset["annotations"] if a["image_id"] in ids]
        inst = [a for a in anns if not a.get("iscrowd", 0)]
        row = {"split": split, "images": len(ids), "instances": len(inst),
               "crowd regions": len(anns) - len(inst)}
        for b in ("small", "medium", "large"):
            n = sum(area_bucket(a["area"]) == b for a in inst)
            row[f"{b}"] = n
            row[f"{b} %"] = round(100 * n / max(len(inst), 1), 1)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- Table 1
def run_rpn(variant: str, cfg, data, device, seed: int = 0) -> Dict[str, Any]:
    """Train an RPN-only model of ``variant`` and evaluate class-agnostic proposal recall."""
    from ..models.detection import anchor_counts, build_detector

    torch.manual_seed(seed)
    model = build_detector(variant, rpn_only=True, **detector_kwargs(cfg, data["num_classes"], data.get("backbone_weights")))
    hist = train_detector(model, cfg, data, device, seed, cfg.rpn_epochs, desc=f"rpn-{variant}",
                          iters=cfg.rpn_iters, step_iters=cfg.rpn_step_iters)
    val = data["val"]
    outs = predict(model, val, device, cfg.eval_batch_size)
    props = coco_metrics.proposals_to_coco([o["boxes"] for o in outs], val.ids, [o["scores"] for o in outs])
    budgets = sorted(set(cfg.proposal_budgets) | set(cfg.curve_budgets))
    ar, E = coco_metrics.proposal_recall(data["coco_gt"], props, max_dets=budgets, img_ids=val.ids,
                                         return_eval=True)
    pm = coco_metrics.per_image_matches(E) if E is not None else None
    S = cfg.min_size or cfg.image_size
    return {"variant": variant, "ar": ar, "pm": pm, "outputs": outs, "hist": hist, "model": model,
            "train_seconds": hist["train_seconds"], "anchors": anchor_counts(S, S, variant)["total"],
            "params": sum(p.numel() for p in model.parameters())}


def table1_rows(rpn: Dict[str, Dict], cfg) -> List[Dict]:
    from ..models.detection import VARIANT_INFO

    lo, hi = sorted(cfg.proposal_budgets)[:2]
    rows = []
    for v, r in rpn.items():
        info, ar, p = VARIANT_INFO[v], r["ar"], PAPER_TABLE1[v]
        rows.append({"row": info["row"], "features": info["features"], "anchors": r["anchors"],
                     "lateral": "yes" if info["lateral"] else "", "top-down": "yes" if info["top_down"] else "",
                     f"AR@{lo}": 100 * ar[f"AR@{lo}"], f"AR@{hi}": 100 * ar[f"AR@{hi}"],
                     f"AR_s@{hi}": 100 * ar[f"AR_s@{hi}"], f"AR_m@{hi}": 100 * ar[f"AR_m@{hi}"],
                     f"AR_l@{hi}": 100 * ar[f"AR_l@{hi}"], f"R@.5_s@{hi}": 100 * ar[f"R50_s@{hi}"],
                     "paper AR100/AR1k/AR1k_s": f"{p['AR100']}/{p['AR1k']}/{p['AR1k_s']}",
                     "train s": round(r["train_seconds"], 1)})
    return rows


def ar_curve(rpn: Dict[str, Dict], cfg):
    """AR vs number of proposals per image (all / small objects), one line per variant."""
    import matplotlib.pyplot as plt
    from ..models.detection import VARIANT_INFO

    budgets = sorted(cfg.curve_budgets)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for v, r in rpn.items():
        for ax, a in zip(axes, ("all", "small")):
            s = {"all": "", "small": "_s"}[a]
            ys = [100 * r["ar"][f"AR{s}@{b}"] for b in budgets]
            ax.plot(budgets, ys, marker="o", ms=3, label=VARIANT_INFO[v]["row"],
                    lw=2.2 if v == "fpn" else 1.2)
    for ax, a in zip(axes, ("all objects", "small objects (< 32^2)")):
        ax.set_xscale("log")
        ax.set_xlabel("proposals per image")
        ax.set_ylabel("AR (%)")
        ax.set_title(f"Proposal recall, {a}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- Table 2


def fixed_proposals(rpn_model, cfg, data, device) -> Dict[str, Any]:
    """The fixed proposals of Table 2, computed once by the trained FPN RPN (Table 1 c) and kept
    for every head variant: top ``cfg.fast_rcnn_proposals_train`` per training image (pre-NMS
    ``rpn_pre_nms_train`` per level) and top ``cfg.fast_rcnn_proposals_test`` per evaluation image
    (pre-NMS ``rpn_pre_nms_test``), with their class-agnostic AR on val at the test budget."""
    t0 = time.time()
    n_tr, n_te = cfg.fast_rcnn_proposals_train, cfg.fast_rcnn_proposals_test
    train = rpn_proposals(rpn_model, data["train"], device, pre_nms=cfg.rpn_pre_nms_train, post_nms=n_tr,
                          batch_size=cfg.eval_batch_size)
    val = rpn_proposals(rpn_model, data["val"], device, pre_nms=cfg.rpn_pre_nms_test, post_nms=n_te,
                        batch_size=cfg.eval_batch_size)
    ids = data["val"].ids
    ar = coco_metrics.proposal_recall(data["coco_gt"], coco_metrics.proposals_to_coco([val[i] for i in ids], ids),
                                      max_dets=[n_te], img_ids=ids)
    per_image = {s: float(np.mean([len(b) for b in d.values()])) if d else 0.0
                 for s, d in (("train", train), ("val", val))}
    return {"train": train, "val": val, "top_n": {"train": n_tr, "val": n_te}, "ar": ar,
            "per_image": per_image, "seconds": time.time() - t0}


def train_fast_rcnn(variant: str, cfg, data, train_props: Dict[int, torch.Tensor], device, seed: int,
                    epochs: int, *, iters: Optional[int] = None, step_iters: Optional[int] = None,
                    desc: str = ""):
    """A Fast R-CNN of ``variant`` (``proposals="fixed"``) trained on the fixed training proposals
    ``train_props`` (image id -> (N, 4)); returns (model, history)."""
    from ..models.detection import build_detector

    torch.manual_seed(seed)
    model = build_detector(variant, proposals="fixed",
                           **detector_kwargs(cfg, data["num_classes"], data.get("backbone_weights")))
    train_ds = WithProposals(data["train"], train_props, hflip=cfg.hflip)
    hist = train_detector(model, cfg, data, device, seed, epochs, desc=desc or f"frcnn-{variant}",
                          iters=iters, step_iters=step_iters, dataset=train_ds)
    return model, hist


def run_fast_rcnn(variant: str, cfg, data, props: Dict[str, Any], device, seed: int = 0) -> Dict[str, Any]:
    """Train a Fast R-CNN of ``variant`` (head on C4 = conv5, C5 / pyramid = 2fc) on the fixed
    proposals ``props`` (:func:`fixed_proposals`) and evaluate COCO box AP on val with the fixed
    val proposals."""
    model, hist = train_fast_rcnn(variant, cfg, data, props["train"], device, seed, cfg.fast_rcnn_epochs,
                                  iters=cfg.fast_rcnn_iters, step_iters=cfg.fast_rcnn_step_iters,
                                  desc=f"frcnn-{variant}")
    val = data["val"]
    outs = predict(model, val, device, cfg.eval_batch_size, proposals=[props["val"][i] for i in val.ids])
    res = coco_metrics.detections_to_coco(outs, val.ids, val.label_to_cat_id)
    ap, E = coco_metrics.evaluate_coco(data["coco_gt"], res, "bbox", img_ids=val.ids, return_eval=True)
    return {"variant": variant, "ap": ap, "E": E, "outputs": outs, "hist": hist, "n_images": len(val.ids),
            "train_seconds": hist["train_seconds"], "params": sum(p.numel() for p in model.parameters())}


def table2_rows(frc: Dict[str, Dict], props: Optional[Dict[str, Any]] = None) -> List[Dict]:
    """Table 2 analogue: one row per head variant, the paper's numbers beside ours."""
    from ..models.detection import VARIANT_INFO

    rows = []
    for v, r in frc.items():
        ap, p = r["ap"], PAPER_TABLE2[v]
        row = {"row": VARIANT_INFO[v]["row"], "features": VARIANT_INFO[v]["features"], "head": p["head"]}
        if props is not None:
            row["proposals train/test"] = f"{props['top_n']['train']}/{props['top_n']['val']}"
        row.update({"AP@.5": 100 * ap["AP50"], "AP": 100 * ap["AP"], "AP@.75": 100 * ap["AP75"],
                    "AP_s": 100 * ap["APs"], "AP_m": 100 * ap["APm"], "AP_l": 100 * ap["APl"],
                    "paper AP@.5/AP/AP_s/AP_m/AP_l": f"{p['AP50']}/{p['AP']}/{p['APs']}/{p['APm']}/{p['APl']}",
                    "params": r["params"], "train s": round(r["train_seconds"], 1)})
        rows.append(row)
    return rows


def fast_rcnn_note(frc: Dict[str, Dict], props: Dict[str, Any], cfg) -> str:
    """What Table 2 ran (computed from the run)."""
    if not frc:
        return "Table 2 (Fast R-CNN on fixed FPN proposals): not run at this profile (fast_rcnn_variants is empty)"
    sched = schedule_text(cfg, "fast_rcnn")
    n_te = props["top_n"]["val"]
    aps = ", ".join(f"{v} AP {100 * r['ap']['AP']:.1f}" for v, r in frc.items())
    return (f"Table 2: Fast R-CNN heads ({', '.join(frc)}) trained for {sched} on the top-{props['top_n']['train']} "
            f"proposals per training image of the FPN RPN (mean {props['per_image']['train']:.0f} kept) and tested "
            f"on its top-{n_te} per val image (AR@{n_te} {100 * props['ar'][f'AR@{n_te}']:.1f}); GT boxes are added "
            f"to the proposals in training (torchvision / Detectron); RoIAlign instead of RoIPool. {aps}.")


# ----------------------------------------------------------------------------- Table 3


def run_detector(variant: str, cfg, data, device, seed: int = 0, *, rpn: Optional[Dict[str, Any]] = None,
                 props: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Table 3 detector of ``variant``, evaluated for box AP one image at a time (inference time per
    image recorded).

    ``cfg.shared_features`` False (the paper's Table 3): a Fast R-CNN of ``variant`` trained (det
    schedule) on the top ``fast_rcnn_proposals_train`` proposals per training image of the *same*
    variant's RPN ``rpn`` (a :func:`run_rpn` result, reused; trained here when None, flagged
    ``rpn_trained_here``); at test time that RPN's top ``fast_rcnn_proposals_test`` feed it
    (:class:`TwoStage`). ``props``: fixed proposals already computed by this RPN
    (:func:`fixed_proposals`, Table 2), reused for training when their train budget matches.
    True: one Faster R-CNN, RPN and detector trained jointly on a shared backbone (Table 5 analogue)."""
    from ..models.detection import build_detector

    val = data["val"]
    extra: Dict[str, Any] = {"shared": bool(cfg.shared_features)}
    if cfg.shared_features:
        torch.manual_seed(seed)
        model = build_detector(variant, **detector_kwargs(cfg, data["num_classes"], data.get("backbone_weights")))
        hist = train_detector(model, cfg, data, device, seed, cfg.det_epochs, desc=f"det-{variant}",
                              iters=cfg.det_iters, step_iters=cfg.det_step_iters)
        params = sum(p.numel() for p in model.parameters())
    else:
        trained_here = rpn is None
        if trained_here:
            rpn = run_rpn(variant, cfg, data, device, seed)
        if rpn["variant"] != variant:
            raise ValueError(f"Table 3 {variant}: got the RPN of {rpn['variant']!r}; features are per variant")
        t0 = time.time()
        n_tr = cfg.fast_rcnn_proposals_train
        if props is not None and props["top_n"]["train"] == n_tr:
            train_props = props["train"]
        else:
            train_props = rpn_proposals(rpn["model"], data["train"], device, pre_nms=cfg.rpn_pre_nms_train,
                                        post_nms=n_tr, batch_size=cfg.eval_batch_size)
        prop_s = time.time() - t0
        frcnn, hist = train_fast_rcnn(variant, cfg, data, train_props, device, seed, cfg.det_epochs,
                                      iters=cfg.det_iters, step_iters=cfg.det_step_iters, desc=f"det-{variant}")
        model = TwoStage(rpn["model"], frcnn, cfg.rpn_pre_nms_test, cfg.fast_rcnn_proposals_test)
        extra["timing_model"] = SharedFeatures(rpn["model"], frcnn, cfg.rpn_pre_nms_test,
                                               cfg.fast_rcnn_proposals_test)
        params = sum(p.numel() for p in rpn["model"].parameters()) + sum(p.numel() for p in frcnn.parameters())
        extra.update(rpn_trained_here=trained_here, rpn_train_seconds=rpn["train_seconds"],
                     proposal_seconds=prop_s,
                     proposals={"train": n_tr, "test": cfg.fast_rcnn_proposals_test})
    outs, times = predict(model, val, device, time_per_image=True)
    res = coco_metrics.detections_to_coco(outs, val.ids, val.label_to_cat_id)
    ap, E = coco_metrics.evaluate_coco(data["coco_gt"], res, "bbox", img_ids=val.ids, return_eval=True)
    return {"variant": variant, "ap": ap, "E": E, "outputs": outs, "times": times, "hist": hist, "model": model,
            "train_seconds": hist["train_seconds"], "params": params, **extra}


def run_table3(cfg, data, rpn: Dict[str, Dict], device, seed: int = 0,
               props: Optional[Dict[str, Any]] = None, verbose: bool = True) -> Dict[str, Dict]:
    """Every Table 3 detector (``cfg.det_variants``). Unshared (default): each reuses the Table 1 RPN
    of its own variant from ``rpn`` (trained here if missing -- see :func:`table3_note`) and, for
    "fpn", the Table 2 proposals ``props`` when given."""
    det = {}
    for v in cfg.det_variants:
        det[v] = run_detector(v, cfg, data, device, seed, rpn=rpn.get(v), props=props if v == "fpn" else None)
        if verbose:
            print(v, {k: round(100 * x, 1) for k, x in det[v]["ap"].items()}, f"{det[v]['train_seconds']:.0f}s")
    return det


@torch.no_grad()
def paired_timing(det: Dict[str, Dict], ds, device, repeats: int = 3) -> Dict[str, np.ndarray]:
    """Inference seconds per image for every detector, measured interleaved (image by image, the
    models in turn, ``repeats`` times, minimum kept), so that load changes on a shared machine hit
    all models alike. Stored as ``det[v]["times_paired"]``. Unshared Table 3 detectors are timed in
    their shared-feature inference form (:class:`SharedFeatures`, ``det[v]["timing_model"]``), the
    setting of the paper's timing."""
    models = {v: r.get("timing_model", r["model"]).eval().to(device) for v, r in det.items()}
    out = {v: np.full(len(ds), np.inf) for v in models}
    for i in range(len(ds)):
        img = ds[i][0].to(device)
        for _ in range(repeats):
            for v, m in models.items():
                t0 = time.perf_counter()
                m([img])
                if str(device).startswith("cuda"):
                    torch.cuda.synchronize()
                out[v][i] = min(out[v][i], time.perf_counter() - t0)
    for v in models:
        det[v]["times_paired"] = out[v]
    return out


def table3_rows(det: Dict[str, Dict]) -> List[Dict]:
    from ..models.detection import VARIANT_INFO

    rows = []
    for v, r in det.items():
        ap, p = r["ap"], PAPER_TABLE3.get(v, {})
        shared = r.get("shared", True)
        rows.append({"row": VARIANT_INFO[v]["row"], "features": VARIANT_INFO[v]["features"],
                     "head": "conv5" if v == "c4" else "2fc",
                     "proposals": ("joint RPN (shared features)" if shared else
                                   f"own {v} RPN{' (trained for Table 3)' if r.get('rpn_trained_here') else ' (Table 1)'}"),
                     "AP@.5": 100 * ap["AP50"], "AP": 100 * ap["AP"], "AP_s": 100 * ap["APs"],
                     "AP_m": 100 * ap["APm"], "AP_l": 100 * ap["APl"],
                     "paper AP@.5/AP/AP_s": f"{p.get('AP50', '-')}/{p.get('AP', '-')}/{p.get('APs', '-')}",
                     "s/image": float(np.mean(r.get("times_paired", r["times"]))), "params": r["params"],
                     "train s": round(r["train_seconds"], 1)})
    return rows


def table3_note(det: Dict[str, Dict], cfg) -> str:
    """How Table 3 was built (computed from the run)."""
    if not det:
        return "Table 3: no detectors (det_variants is empty)"
    sched = schedule_text(cfg, "det")
    if cfg.shared_features:
        return (f"Table 3: Faster R-CNN ({', '.join(det)}), RPN and detector trained jointly on one shared "
                f"backbone for {sched} (the paper's Table 5 'shared' analogue; its Table 3 does not share).")
    extra = [v for v, r in det.items() if r.get("rpn_trained_here")]
    txt = (f"Table 3 (features not shared, as the paper's Table 3 = Table 5 'not shared'): for each variant "
           f"({', '.join(det)}) a Fast R-CNN trained for {sched} on the top-{cfg.fast_rcnn_proposals_train} "
           f"proposals per training image of that variant's own RPN, tested on its top-{cfg.fast_rcnn_proposals_test}; "
           f"s/image = RPN + Fast R-CNN. ")
    if extra:
        return txt + (f"RPN(s) {', '.join(extra)} are not in rpn_variants and were trained for Table 3 "
                      f"({schedule_text(cfg, 'rpn')} each).")
    return txt + "The RPNs are Table 1's (reused, not retrained)."


# ----------------------------------------------------------------------------- exact checks


# ----------------------------------------------------------------------------- claims
def calibration_key(metric: str, a: str, b: str) -> str:
    """Name of contrast metric(b) - metric(a) in ``configs.fpn.SEED_CALIBRATION`` (e.g. "AR@100: fpn - c4")."""
    return f"{metric}: {b} - {a}"


def _trained(d, lo, hi, cfg, contrast: tuple, **ev) -> stats.Verdict:
    """A trained contrast in points (one training seed at every profile): the trained-contrast rule with
    the item interval (paired bootstrap over evaluation images), the seed std of ``cfg.seed_calibration``
    (configs/fpn.py SEED_CALIBRATION; none -> inconclusive) and the floor max(2 x seed std, cfg.min_effect)."""
    from ..configs.fpn import SEED_CALIBRATION

    cal = SEED_CALIBRATION.get(cfg.seed_calibration) if cfg.seed_calibration else None
    key = calibration_key(*contrast)      # contrast = (metric, a, b): metric(b) - metric(a)
    return stats.decide_trained(d, lo, hi, expect="+", min_effect=cfg.min_effect,
                                calibration=stats.calibration_entry(cal, key), contrast=f"{key} (points)", **ev)


def _ar_contrast(rpn, a: str, b: str, area: str, budget: int, cfg, seed: int = 0):
    d, lo, hi = coco_metrics.paired_bootstrap_ar(rpn[a]["pm"], rpn[b]["pm"], area=area,
                                                 max_det=budget, n_boot=cfg.n_boot, seed=seed)
    suf = {"all": "", "small": "_s"}[area]
    return _trained(100 * d, 100 * lo, 100 * hi, cfg, (f"AR{suf}@{budget}", a, b), n=len(rpn[a]["pm"]["img_ids"]),
                             a=100 * rpn[a]["ar"][f"AR{suf}@{budget}"], b=100 * rpn[b]["ar"][f"AR{suf}@{budget}"])


def claim_c1(rpn, cfg) -> stats.Verdict:
    """FPN - C4 on the AR1k analogue (AR@max budget) and on AR_s (paired bootstrap over images)."""
    hi = max(cfg.proposal_budgets)
    if "fpn" not in rpn or "c4" not in rpn or rpn["fpn"]["pm"] is None or rpn["c4"]["pm"] is None:
        return stats.not_tested("needs RPN variants c4 and fpn with proposals")
    parts = [_ar_contrast(rpn, "c4", "fpn", "all", hi, cfg), _ar_contrast(rpn, "c4", "fpn", "small", hi, cfg)]
    ev = {}
    if "c5" in rpn and rpn["c5"]["pm"] is not None:
        c5 = [_ar_contrast(rpn, "c5", "fpn", "all", hi, cfg), _ar_contrast(rpn, "c5", "fpn", "small", hi, cfg)]
        ev["vs_c5 (not part of the verdict)"] = [{"verdict": v.verdict, "reason": v.reason} for v in c5]
    return stats.combine(parts, **ev)


def claim_c2(rpn, cfg) -> stats.Verdict:
    """FPN - each ablation (d, e, f) on the AR1k analogue."""
    hi = max(cfg.proposal_budgets)
    abl = [v for v in ("bottom_up", "no_lateral", "finest") if v in rpn and rpn[v]["pm"] is not None]
    if "fpn" not in rpn or not abl:
        return stats.not_tested("needs the fpn RPN and at least one ablation")
    return stats.combine([_ar_contrast(rpn, v, "fpn", "all", hi, cfg) for v in abl])


def small_object_gain(rpn, cfg) -> Dict[str, float]:
    """FPN - C4 AR gain (points) per size bucket at the largest budget: is it largest on small?"""
    hi = max(cfg.proposal_budgets)
    out = {}
    for suf, name in (("", "all"), ("_s", "small"), ("_m", "medium"), ("_l", "large")):
        out[name] = 100 * (rpn["fpn"]["ar"][f"AR{suf}@{hi}"] - rpn["c4"]["ar"][f"AR{suf}@{hi}"])
    return out


def small_object_note(rpn, cfg) -> str:
    """Plain-language answer to 'does the small-object gain show?' (computed, not typed)."""
    if not {"fpn", "c4"} <= set(rpn):
        return "small-object gain: not measured (needs the c4 and fpn RPNs)"
    hi = max(cfg.proposal_budgets)
    g = small_object_gain(rpn, cfg)
    d, lo, up = coco_metrics.paired_bootstrap_ar(rpn["c4"]["pm"], rpn["fpn"]["pm"], area="small", max_det=hi,
                                                 n_boot=cfg.n_boot)
    finite = {k: v for k, v in g.items() if k != "all" and v == v}
    largest = max(finite, key=finite.get) if finite else None
    sig = lo > 0 or up < 0
    head = (f"small-object gain (FPN - C4, AR_s@{hi}): {g['small']:+.1f} points, 95% CI "
            f"[{100 * lo:+.1f}, {100 * up:+.1f}] ({'excludes' if sig else 'contains'} 0); medium "
            f"{g['medium']:+.1f}, large {g['large']:+.1f}, all {g['all']:+.1f}. ")
    if lo > 0:
        if largest == "small":
            return head + ("Our run shows the small-object gain, and it is the largest by size, as in the "
                           "paper (+12.9 AR_s vs +8.0 AR1k).")
        return head + (f"Our run shows a significant small-object gain, but the largest gain is on {largest} "
                       "objects (the paper's is on small: +12.9 AR_s vs +8.0 AR1k).")
    if up < 0:
        return head + "Our run shows a small-object loss, unlike the paper (+12.9 AR_s)."
    return head + "Our run does not show a significant small-object gain (the paper: +12.9 AR_s)."


def schedule_text(cfg, kind: str) -> str:
    """The schedule of one kind of training ("rpn", "det", "fast_rcnn") as configured."""
    n = getattr(cfg, f"{kind}_iters")
    txt = (f"{n} iterations (lr x0.1 after {getattr(cfg, f'{kind}_step_iters')})" if n
           else f"{getattr(cfg, f'{kind}_epochs')} epoch(s)")
    if cfg.max_steps is not None:
        txt += f" (truncated at {cfg.max_steps} steps)"
    return txt


def init_text(cfg) -> str:
    """How the backbone starts: from cfg.backbone_weights, or from scratch."""
    if cfg.backbone_weights:
        return f"initialised from {os.path.basename(str(cfg.backbone_weights))} (pre-trained), norm {cfg.norm}"
    return f"trained from scratch (no pre-training), norm {cfg.norm}"


def data_text(cfg, n_train: Optional[int] = None) -> str:
    n = cfg.n_train if n_train is None else n_train
    if cfg.dataset == "scenes":
        return f"{n} synthetic scenes of {cfg.image_size} px"
    size = f"shorter side {cfg.min_size}" if cfg.min_size else f"{cfg.image_size} px"
    return f"{n} {cfg.dataset.upper()} train2017 images ({size})" if cfg.dataset == "coco" else f"{n} {cfg.dataset} images"


def run_note(cfg, profile: str, n_train: Optional[int] = None) -> str:
    """The run's setting in words, built from cfg (backbone and weights, data, schedules, anchors,
    Eq. 1's canonical size, clipping)."""
    a, s0 = cfg.anchor_scale, canonical_scale(cfg)
    scale = "the paper's" if a == 8 else f"{a / 8:g} x the paper's 8 x stride and 224"
    det = ("Faster R-CNN, features shared" if cfg.shared_features
           else "Fast R-CNN on its own variant's RPN proposals, features not shared")
    t2 = f", {schedule_text(cfg, 'fast_rcnn')} per Table 2 head" if cfg.fast_rcnn_variants else ""
    clip = f"gradient clipping at {cfg.clip_grad:g}" if cfg.clip_grad else "no gradient clipping"
    return (f"{profile} profile: {cfg.backbone} backbone {init_text(cfg)}; {data_text(cfg, n_train)}; "
            f"{schedule_text(cfg, 'rpn')} per RPN variant, {schedule_text(cfg, 'det')} per Table 3 detector "
            f"({det}){t2}; anchors {a} x stride {anchor_sizes(cfg)} and Eq. 1 canonical size {s0} ({scale}); "
            f"RoIAlign instead of RoIPool; {clip}.")


def detector_note(det, cfg) -> str:
    """Where the Table 3 detectors stand (computed): near the floor or not."""
    if not det:
        return "no detectors trained"
    aps = {v: 100 * r["ap"]["AP"] for v, r in det.items()}
    txt = ", ".join(f"{v} AP {a:.1f} / AP@.5 {100 * det[v]['ap']['AP50']:.1f}" for v, a in aps.items())
    kind = "Faster R-CNN (shared features)" if cfg.shared_features else "Table 3 detectors (unshared)"
    head = f"{kind} after {schedule_text(cfg, 'det')}, backbone {init_text(cfg).split(',')[0]}: {txt}"
    if max(aps.values()) < 10:
        return head + (". These detectors are near the floor (AP < 10), so C3 and C4 are contrasts between "
                       "barely trained models.")
    return head + "."


C3_STATEMENT = ("Better detectors: with RPN and detector on the same backbone design (Table 3), the FPN "
                "detector beats the C4 baseline in AP and AP@0.5")
C3_PAPER = {"AP": [31.6, 33.9], "AP50": [53.1, 56.9]}


def claim_c3_statement(frc=None) -> str:
    """C3 as tested by this run: the Table 3 half alone, or both halves where Table 2 ran (naming the
    single-scale heads that ran)."""
    if not frc:
        return C3_STATEMENT
    heads = " and ".join(h for v, h in (("c4", "C4 (conv5)"), ("c5", "C5 (2fc)")) if v in frc) or "C4 / C5"
    return (f"Better detectors: with fixed FPN proposals, Fast R-CNN on the pyramid beats the {heads} "
            f"head{'s' if ' and ' in heads else ''} in AP and AP_s (Table 2); with RPN and detector on the same "
            "backbone design, the FPN detector beats the C4 baseline in AP and AP@0.5 (Table 3)")


def claim_c3_paper(frc=None) -> Dict[str, Any]:
    """The paper's numbers for C3 (Table 3: C4 vs FPN; plus Table 2's heads where Table 2 ran)."""
    if not frc:
        return dict(C3_PAPER)
    return {**C3_PAPER, "table2_AP": {v: PAPER_TABLE2[v]["AP"] for v in ("c4", "c5", "fpn")},
            "table2_AP_s": {v: PAPER_TABLE2[v]["APs"] for v in ("c4", "c5", "fpn")}}


def _ap_contrast(E_a, E_b, area: str, cfg, contrast: tuple) -> stats.Verdict:
    """AP(b) - AP(a) in points, paired bootstrap over evaluation images (inconclusive if not finite,
    e.g. no small ground truth among the evaluation images); ``contrast`` = (metric, a, b) names it."""
    a, b = coco_metrics.ap_from_evalimgs(E_a, area=area), coco_metrics.ap_from_evalimgs(E_b, area=area)
    n = len(E_a.params.imgIds)
    if not (math.isfinite(a) and math.isfinite(b)):
        return stats.decide_diff(float("nan"), expect="+", n=n, contrast=calibration_key(*contrast), a=100 * a, b=100 * b)
    d, lo, hi = coco_metrics.paired_bootstrap_ap(E_a, E_b, area=area, n_boot=cfg.n_boot_ap, seed=0)
    return _trained(100 * d, 100 * lo, 100 * hi, cfg, contrast, n=n, a=100 * a, b=100 * b)


def claim_c3_table2(frc, cfg) -> stats.Verdict:
    """Table 2 half of C3: Fast R-CNN on the pyramid (fpn) - each single-scale head (c4, c5) that
    ran, on box AP and AP_s (paired bootstrap over evaluation images), all on the same fixed proposals."""
    bases = [v for v in ("c4", "c5") if v in frc and frc[v]["E"] is not None]
    if "fpn" not in frc or frc["fpn"]["E"] is None or not bases:
        return stats.not_tested("Table 2 needs the fpn Fast R-CNN and a c4 or c5 head with detections")
    parts = [_ap_contrast(frc[b]["E"], frc["fpn"]["E"], area, cfg, (f"Table 2 {name}", b, "fpn"))
             for b in bases for area, name in (("all", "AP"), ("small", "AP_s"))]
    return stats.combine(parts, baselines=bases)


def claim_c3(det, cfg, frc=None) -> stats.Verdict:
    """C3. Table 3 half: Faster R-CNN FPN - C4, box AP and AP@0.5 (paired bootstrap over evaluation
    images). Where Table 2 ran (``frc``: Fast R-CNN results by variant), both halves combined
    (:func:`claim_c3_table2`); otherwise the Table 3 half alone."""
    t3 = _claim_c3_table3(det, cfg)
    if not frc:
        return t3
    t2 = claim_c3_table2(frc, cfg)
    return stats.combine([t3, t2], parts_are=["Table 3: detector fpn - c4",
                                              "Table 2: Fast R-CNN heads on fixed FPN proposals"],
                         table3=t3.evidence, table2=t2.evidence)


def _claim_c3_table3(det, cfg) -> stats.Verdict:
    if "fpn" not in det or "c4" not in det or det["fpn"]["E"] is None or det["c4"]["E"] is None:
        return stats.not_tested("needs Table 3 detectors c4 and fpn with detections")
    parts = []
    for iou, name in ((None, "AP"), (0.5, "AP@.5")):
        d, lo, hi = coco_metrics.paired_bootstrap_ap(det["c4"]["E"], det["fpn"]["E"], iou=iou,
                                                     n_boot=cfg.n_boot_ap, seed=0)
        parts.append(_trained(100 * d, 100 * lo, 100 * hi, cfg, (f"Table 3 {name}", "c4", "fpn"),
                              n=len(det["c4"]["times"])))
    return stats.combine(parts)


def claim_c4(det, cfg) -> stats.Verdict:
    """Inference time per image, FPN - C4 (conv5 head per RoI): the paper finds FPN faster. Both are
    timed with shared features (one backbone pass for RPN and heads, as the paper's 0.148 / 0.32 s):
    the unshared Table 3 detectors through :class:`SharedFeatures`."""
    if "fpn" not in det or "c4" not in det:
        return stats.not_tested("needs Table 3 detectors c4 and fpn")
    key = "times_paired" if "times_paired" in det["c4"] and "times_paired" in det["fpn"] else "times"
    a, b = det["c4"][key], det["fpn"][key]
    d, lo, hi = stats.paired_bootstrap(a, b, n_boot=cfg.n_boot)
    return stats.decide_diff(d, lo, hi, expect="-", n=len(a), contrast="seconds per image: fpn - c4",
                             timing=("interleaved, min of repeats" if key == "times_paired" else "sequential")
                             + ("; shared-feature inference" if "timing_model" in det["fpn"] else ""),
                             c4=float(np.mean(a)), fpn=float(np.mean(b)),
                             **({"unshared_two_backbone_system_s_per_image (not part of the verdict)":
                                 {v: float(np.mean(det[v]["times"])) for v in ("c4", "fpn")}}
                                if "timing_model" in det["fpn"] else {}))


# ----------------------------------------------------------------------------- claims for run.claim(**c)


def claims(rpn, det, frc, cfg) -> List[Dict[str, Any]]:
    """C1..C4 as keyword arguments of ``run.claim`` (the notebook loops ``run.claim(**c)``), every
    verdict computed from this run's RPNs (``rpn``), Table 3 detectors (``det``) and Table 2 heads
    (``frc``, may be empty)."""
    hi = max(cfg.proposal_budgets)
    gain = small_object_gain(rpn, cfg) if {"fpn", "c4"} <= set(rpn) else {}
    return [
        dict(claim_id="C1", statement=f"Pyramid helps proposals, most for small objects: FPN RPN beats the single-scale "
             f"C4 RPN on AR@{hi} (AR1k analogue) and on AR_s@{hi}", verdict=claim_c1(rpn, cfg),
             paper={"AR1k": [48.3, 56.3], "AR1k_s": [32.0, 44.9], "gain_AR1k": 8.0, "gain_AR_s": 12.9},
             evidence={"gain_by_size_points": gain}),
        dict(claim_id="C2", statement=f"Both pathways are needed: FPN beats the bottom-up pyramid (no top-down), the "
             f"top-down pyramid without laterals and the finest-level-only RPN on AR@{hi}", verdict=claim_c2(rpn, cfg),
             paper={"AR1k": {v: PAPER_TABLE1[v]["AR1k"] for v in ("fpn", "bottom_up", "no_lateral", "finest")}}),
        dict(claim_id="C3", statement=claim_c3_statement(frc), verdict=claim_c3(det, cfg, frc),
             paper=claim_c3_paper(frc)),
        dict(claim_id="C4", statement="Cheap: the FPN detector infers faster per image than the single-scale C4 "
             "baseline (conv5 head per RoI)", verdict=claim_c4(det, cfg),
             paper={"s_per_image": {"c4": 0.32, "fpn": 0.148}}),
    ]


# ----------------------------------------------------------------------------- figure
def small_object_figure(data, rpn, det, cfg, n_images: int = 3, top_k: int = 10, top_det: int = 5):
    """GT small objects (green), top proposals (row 1-2: C4 / FPN RPN) and detections (rows 3-4)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    val, gt = data["val"], data["coco_gt"]
    # images with the most small GT objects
    n_small = []
    for iid in val.ids:
        anns = gt.imgToAnns.get(iid, [])
        n_small.append(sum(1 for a in anns if not a.get("iscrowd", 0) and a["area"] < 32 ** 2))
    order = np.argsort(-np.asarray(n_small), kind="stable")[:n_images]
    rows = []
    for v in ("c4", "fpn"):
        if v in rpn:
            rows.append((f"RPN {v}: top-{top_k} proposals", rpn[v]["outputs"], "proposal"))
    for v in ("c4", "fpn"):
        if v in det:
            rows.append((f"Table 3 {v}: top-{top_det} detections\n(score >= {cfg.vis_score:g})",
                         det[v]["outputs"], "det"))
    fig, axes = plt.subplots(max(len(rows), 1), len(order), figsize=(3 * len(order), 3 * max(len(rows), 1)),
                             squeeze=False)
    for ci, idx in enumerate(order):
        img, _ = val[int(idx)]
        iid = val.ids[int(idx)]
        for ri, (title, outs, kind) in enumerate(rows):
            ax = axes[ri, ci]
            ax.imshow(img.permute(1, 2, 0).numpy())
            for a in gt.imgToAnns.get(iid, []):
                if a["area"] < 32 ** 2 and not a.get("iscrowd", 0):
                    x, y, w, h = a["bbox"]
                    ax.add_patch(Rectangle((x, y), w, h, fill=False, ec="lime", lw=1.2))
            o = outs[int(idx)]
            boxes = o["boxes"].numpy()
            if kind == "proposal":
                boxes = boxes[:top_k]
            else:     # torchvision returns detections sorted by score
                boxes = boxes[o["scores"].numpy() >= cfg.vis_score][:top_det]
            for b in boxes:
                ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="red", lw=0.8))
            ax.set_xticks([])
            ax.set_yticks([])
            if ci == 0:
                ax.set_ylabel(title, fontsize=7)
    fig.suptitle("small GT objects (green) vs proposals / detections (red)", fontsize=9)
    fig.tight_layout()
    return fig


