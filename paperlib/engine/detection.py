"""Detection training and inference on torchvision detectors, shared by the detection papers (02 FPN;
05 and 06 next): data (synthetic scenes or COCO) with the backbone weights checked first, the engine's
step function and warm-up + step-decay recipe (epochs or optimizer steps), batched / per-image-timed
prediction, fixed-proposal datasets and RPN proposal extraction (sharded under torchrun), and the
two-stage composites (unshared RPN + Fast R-CNN; shared-feature inference).

Moved here from ``paperlib.experiments.fpn`` (which re-exports the names) so that a second detection
paper uses them without importing another paper's module. ``cfg`` is any config with the detection
fields of :class:`paperlib.configs.fpn.Config` (dataset, image_size, n_train / n_val, max_objects,
data_seed, hflip, max_train_images / max_val_images, backbone, backbone_weights, batch_size, lr,
weight_decay, warmup_epochs, max_steps, clip_grad, log_every, num_workers, progress).
"""
from __future__ import annotations

import contextlib
import copy
import os
import time
from typing import Any, Dict, Optional

import numpy as np
import torch

__all__ = ["resolve_backbone_weights", "load_data", "detection_step", "train_config", "train_detector", "predict",
           "WithProposals", "rpn_budgets", "rpn_proposals", "TwoStage", "SharedFeatures"]


def resolve_backbone_weights(cfg, data_root=None) -> Optional[str]:
    """The file of ``cfg.backbone_weights`` (absolute; a relative name is looked up under ``data_root``,
    then the working directory), checked by loading it into the configured backbone -- so that a
    missing, unreadable or mismatched file stops the run before any training. None: no weights."""
    from ..models.detection import build_backbone

    name = cfg.backbone_weights
    if not name:
        return None
    name = os.path.expanduser(str(name))
    tried = [name] if os.path.isabs(name) else (
        ([os.path.join(str(data_root), name)] if data_root else []) + [os.path.abspath(name)])
    path = next((t for t in tried if os.path.isfile(t)), None)
    what = (f"backbone_weights = {cfg.backbone_weights!r}: expected an ImageNet-pre-trained {cfg.backbone} "
            f"state dict (torchvision layout, e.g. torchvision's resnet50-0676ba61.pth for ResNet50_Weights."
            f"IMAGENET1K_V1, or a paperlib AnyNet state dict)")
    if path is None:
        raise FileNotFoundError(f"{what}; not found at {' or '.join(tried)}. Put the file there (nothing is "
                                "downloaded at run time) or override backbone_weights / norm.")
    try:
        build_backbone(cfg.backbone, "bn", path)
    except Exception as e:    # unreadable, not a state dict, wrong layout or shapes
        raise ValueError(f"{what}; {path} could not be loaded into {cfg.backbone}: {e}") from e
    return os.path.abspath(path)



def load_data(cfg, data_root=None) -> Dict[str, Any]:
    """Train / val datasets and the val ground truth (``coco_gt``), from synthetic scenes or COCO;
    first the backbone weights are resolved and checked (``data["backbone_weights"]``)."""
    from ..data.coco import coco_detection_dataset
    from ..data.scenes import scenes_stats, synthetic_scenes

    weights = resolve_backbone_weights(cfg, data_root)

    if cfg.dataset == "scenes":
        root = synthetic_scenes(n_train=cfg.n_train, n_val=cfg.n_val, image_size=cfg.image_size,
                                max_objects=cfg.max_objects, seed=cfg.data_seed)
        kind, tr, va = "scenes", "train", "val"
        meta = scenes_stats(root)
    elif cfg.dataset == "coco":
        root, kind, tr, va, meta = data_root, "coco", "train2017", "val2017", {}
    else:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; use 'scenes' or 'coco'")
    train = coco_detection_dataset(kind, root, tr, hflip=cfg.hflip)
    val = coco_detection_dataset(kind, root, va)
    if cfg.max_train_images:
        train.ids = train.ids[: cfg.max_train_images]
    if cfg.max_val_images:
        val.ids = val.ids[: cfg.max_val_images]
    return {"root": root, "train": train, "val": val, "coco_gt": val.coco, "meta": meta,
            "num_classes": train.num_classes, "backbone_weights": weights}



def detection_step(model, batch, device):
    """step_fn for the engine: torchvision detection models return their losses in train mode."""
    imgs, targets = batch
    imgs = [i.to(device) for i in imgs]
    targets = [{k: (v.to(device) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]
    return model(imgs, targets), {"n": len(imgs)}



def train_config(cfg, epochs: int, seed: int = 0, *, steps_per_epoch: Optional[int] = None,
                 iters: Optional[int] = None, step_iters: Optional[int] = None, find_unused: bool = False):
    """The engine's TrainConfig for one detector: SGD momentum 0.9, wd, warmup + step lr
    (:func:`paperlib.engine.schedule.step_decay`).

    Without ``iters``: ``epochs`` epochs, lr x0.1 at 75 % (cfg.max_steps truncates). With ``iters``
    (the paper's recipe, e.g. 30k + 10k): ``iters`` optimizer steps in total, lr x0.1 from step
    ``step_iters`` on, converted to the engine's fractional epochs with ``steps_per_epoch`` (the
    loader's length on this rank) -- ``epochs`` is then unused. ``find_unused``: DDP's
    find_unused_parameters (the "finest" variant computes P3..P5 but uses only P2)."""
    from .config import TrainConfig
    from .schedule import step_decay

    sched = step_decay(epochs=epochs, iters=iters, step_iters=step_iters, steps_per_epoch=steps_per_epoch,
                       warmup_epochs=cfg.warmup_epochs, warmup_start_factor=0.001, max_steps=cfg.max_steps)
    return TrainConfig(**sched, batch_size=cfg.batch_size, lr=cfg.lr, momentum=0.9,
                       weight_decay=cfg.weight_decay, clip_grad=cfg.clip_grad, amp=False,
                       log_every=cfg.log_every, seed=seed, find_unused_parameters=find_unused)



def train_detector(model, cfg, data, device, seed: int, epochs: int, desc: str = "", *,
                   iters: Optional[int] = None, step_iters: Optional[int] = None, dataset=None) -> dict:
    """Train with the shared engine on ``dataset`` (default ``data["train"]``); schedule from
    :func:`train_config` (epochs, or ``iters`` / ``step_iters`` optimizer steps)."""
    from ..data.coco import detection_collate
    from .data import make_loader
    from .loop import train

    loader = make_loader(data["train"] if dataset is None else dataset, cfg.batch_size, shuffle=True, seed=seed,
                         drop_last=True, collate_fn=detection_collate, num_workers=cfg.num_workers)
    tc = train_config(cfg, epochs, seed, steps_per_epoch=len(loader), iters=iters, step_iters=step_iters,
                      find_unused=getattr(model, "variant", None) == "finest")
    t0 = time.time()
    hist = train(model, loader, tc, device=device, step_fn=detection_step, desc=desc,
                 progress=cfg.progress)
    hist["train_seconds"] = time.time() - t0
    return hist



@torch.no_grad()
def predict(model, ds, device, batch_size: int = 4, time_per_image: bool = False, proposals=None):
    """Model outputs (on CPU) for every image of ``ds`` in order; with ``time_per_image`` the
    images are run one at a time and the wall time of each forward pass is returned too.
    ``proposals`` (Fast R-CNN): one (N, 4) tensor per image of ``ds``, in order."""
    from ..data.coco import detection_collate

    model.eval().to(device)
    outs, times = [], []
    bs = 1 if time_per_image else batch_size
    for i in range(0, len(ds), bs):
        j1 = min(i + bs, len(ds))
        imgs, _ = detection_collate([ds[j] for j in range(i, j1)])
        kw = {} if proposals is None else {"proposals": [proposals[j].to(device) for j in range(i, j1)]}
        t0 = time.perf_counter()
        o = model([im.to(device) for im in imgs], **kw)
        if device is not None and str(device).startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        outs.extend({k: v.cpu() for k, v in r.items()} for r in o)
    return (outs, np.asarray(times)) if time_per_image else outs



def _flip_boxes(b: torch.Tensor, width: int) -> torch.Tensor:
    """Horizontal flip of xyxy boxes in an image of ``width`` pixels (as CocoDetection's hflip)."""
    out = b.clone()
    out[:, 0], out[:, 2] = width - b[:, 2], width - b[:, 0]
    return out



def _no_flip(ds):
    """A shallow copy of a CocoDetection with its random horizontal flip turned off."""
    ds = copy.copy(ds)
    ds.hflip = False
    return ds



class WithProposals(torch.utils.data.Dataset):
    """A detection dataset whose targets carry their image's fixed proposals, ``target["proposals"]``
    ((N, 4) xyxy, image pixels; what :class:`paperlib.models.detection.FastRCNN` reads in training).
    ``proposals`` maps image id -> tensor. The random horizontal flip (probability 0.5, torch's RNG)
    is applied here to the image, its boxes, masks and proposals alike; the wrapped dataset's own
    flip is turned off."""

    def __init__(self, ds, proposals: Dict[int, torch.Tensor], hflip: bool = False):
        self.ds = _no_flip(ds)
        self.proposals = proposals
        self.hflip = hflip
        self.ids = self.ds.ids
        missing = [i for i in self.ids if i not in proposals]
        if missing:
            raise KeyError(f"no proposals for {len(missing)} image(s), e.g. image id {missing[0]}")

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, idx: int):
        img, t = self.ds[idx]
        p = self.proposals[self.ids[idx]]
        if self.hflip and torch.rand(()) < 0.5:
            W = img.shape[-1]
            img = img.flip(-1)
            t["boxes"] = _flip_boxes(t["boxes"], W)
            p = _flip_boxes(p, W)
            if "masks" in t:
                t["masks"] = t["masks"].flip(-1)
        t["proposals"] = p
        return img, t



@contextlib.contextmanager
def rpn_budgets(rpn_model, pre_nms: int, post_nms: int):
    """Temporarily set an RPN's test-time pre-NMS (per level) and post-NMS (per image) top-k."""
    rpn = rpn_model.rpn
    saved = dict(rpn._pre_nms_top_n), dict(rpn._post_nms_top_n)
    rpn._pre_nms_top_n = {**saved[0], "testing": int(pre_nms)}
    rpn._post_nms_top_n = {**saved[1], "testing": int(post_nms)}
    try:
        yield rpn_model
    finally:
        rpn._pre_nms_top_n, rpn._post_nms_top_n = saved



@torch.no_grad()
def rpn_proposals(rpn_model, ds, device, *, pre_nms: int, post_nms: int,
                  batch_size: int = 8) -> Dict[int, torch.Tensor]:
    """Top-``post_nms`` proposals per image (after ``pre_nms`` per level and NMS; sorted by
    objectness, xyxy in image pixels, on CPU) of a trained RPN-only model on every image of ``ds``
    (unflipped): image id -> (N, 4) tensor. Under torchrun the images are split across the ranks
    and the results gathered, so every rank ends with all of them."""
    import torch.distributed as dist

    from .distributed import all_gather_object

    ds = _no_flip(ds)
    with rpn_budgets(rpn_model, pre_nms, post_nms):
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        rank = dist.get_rank() if world > 1 else 0
        idx = list(range(rank, len(ds), world))
        outs = predict(rpn_model, torch.utils.data.Subset(ds, idx), device, batch_size)
        mine = {int(ds.ids[i]): o["boxes"].float().contiguous() for i, o in zip(idx, outs)}
    if world == 1:
        return mine
    out: Dict[int, torch.Tensor] = {}
    for part in all_gather_object(mine):
        out.update(part)
    return out



class TwoStage(torch.nn.Module):
    """Unshared two-stage detector (the paper's Table 3 = Table 5 "not shared"): a trained RPN-only
    model proposes (top ``post_nms`` per image after ``pre_nms`` per level and NMS) and a separately
    trained Fast R-CNN (own backbone) classifies those proposals. ``model(images)`` -> detections."""

    def __init__(self, rpn_model, fast_rcnn, pre_nms: int, post_nms: int):
        super().__init__()
        self.rpn_model, self.fast_rcnn = rpn_model, fast_rcnn
        self.pre_nms, self.post_nms = int(pre_nms), int(post_nms)
        self.variant = getattr(fast_rcnn, "variant", None)

    @torch.no_grad()
    def forward(self, images):
        with rpn_budgets(self.rpn_model.eval(), self.pre_nms, self.post_nms):
            props = [p["boxes"] for p in self.rpn_model(images)]
        return self.fast_rcnn.eval()(images, proposals=props)



class SharedFeatures(torch.nn.Module):
    """Inference-time form of the paper's shared-feature detector, the setting of its timing claim
    (Table 5 "shared": 0.148 s/image for R50-FPN vs 0.32 s for the C4 baseline): one backbone pass
    feeds both the RPN and the RoI heads (torchvision's GeneralizedRCNN over the trained RPN model's
    transform, backbone and RPN and the Fast R-CNN's RoI heads). Used for the C4 timing only: the heads
    were trained on their own backbone's features, so its detections are not the Table 3 ones."""

    def __init__(self, rpn_model, fast_rcnn, pre_nms: int, post_nms: int):
        super().__init__()
        from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

        self.rpn_model = rpn_model
        self.net = GeneralizedRCNN(rpn_model.backbone, rpn_model.rpn, fast_rcnn.roi_heads, rpn_model.transform)
        self.pre_nms, self.post_nms = int(pre_nms), int(post_nms)

    @torch.no_grad()
    def forward(self, images):
        with rpn_budgets(self.rpn_model, self.pre_nms, self.post_nms):
            return self.net.eval()(images)
