"""Detection pieces any paper's experiment can share (generic, no paper's settings):

    from paperlib.engine.detection_steps import detection_step, predict, coco_box_eval
    hist = train(model, loader, cfg, step_fn=detection_step, ...)       # torchvision losses in train mode
    outs = predict(model, val_ds, device, batch_size=8)                 # per-image outputs on the CPU
    metrics, E = coco_box_eval(model, val_ds, device)                   # COCO AP / AP50 / AP75 (+ COCOeval)

``val_ds`` is a :class:`paperlib.data.coco.CocoDetection` (its ``ids``, ``coco`` and ``label_to_cat_id``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch

__all__ = ["detection_step", "predict", "coco_box_eval", "make_coco_eval_fn"]


def detection_step(model, batch, device):
    """step_fn for the engine: torchvision detection models return their loss dict in train mode."""
    imgs, targets = batch
    imgs = [i.to(device) for i in imgs]
    targets = [{k: (v.to(device) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]
    return model(imgs, targets), {"n": len(imgs)}


@torch.no_grad()
def predict(model, ds, device, batch_size: int = 8) -> List[Dict[str, torch.Tensor]]:
    """Eval-mode outputs (on the CPU) for every image of ``ds``, in order; restores the train mode."""
    from ..data.coco import detection_collate

    was_training = model.training
    model.eval()
    outs = []
    for i in range(0, len(ds), batch_size):
        imgs, _ = detection_collate([ds[j] for j in range(i, min(i + batch_size, len(ds)))])
        for r in model([im.to(device) for im in imgs]):
            outs.append({k: v.cpu() for k, v in r.items()})
    model.train(was_training)
    return outs


def coco_box_eval(model, ds, device, batch_size: int = 8) -> Tuple[Dict[str, float], Any]:
    """COCO box AP, AP50, AP75, APs/m/l of ``model`` on ``ds`` (pycocotools) and the COCOeval object
    (None when there are no detections), for per-image bootstraps."""
    from ..metrics.coco import detections_to_coco, evaluate_coco

    outs = predict(model, ds, device, batch_size)
    res = detections_to_coco(outs, ds.ids, ds.label_to_cat_id)
    return evaluate_coco(ds.coco, res, "bbox", img_ids=list(ds.ids), return_eval=True)


def make_coco_eval_fn(ds, batch_size: int = 8, keep: dict | None = None):
    """An engine ``eval_fn`` returning {"AP", "AP50", "AP75"} in points (0-100) on ``ds`` (the engine's
    val_loader argument is ignored: pass ``ds`` as val_loader). ``keep`` (a dict) receives the last
    COCOeval as keep["E"] and the metrics as keep["metrics"]."""
    def eval_fn(model, _loader, device):
        m, E = coco_box_eval(model, ds, device, batch_size)
        if keep is not None:
            keep["E"], keep["metrics"] = E, m
        return {k: 100.0 * float(m[k]) for k in ("AP", "AP50", "AP75")}
    return eval_fn
