"""07 LVIS detectors: the CPU proxy (default) and torchvision Mask R-CNN (gpu / paper), each trained
for a fixed number of iterations on images drawn by a repeat-factor sampler, and each returning LVIS
result dicts (image_id, category_id, score, bbox [, segmentation]).

The proxy (the spec's "CPU proxy detector", our design): proposals are ground-truth boxes jittered to
an IoU of 0.5-0.95 with their box plus random background boxes; RoIAlign crops (torchvision) of crop_size x crop_size (16 by default)
go through a small CNN with a K + 1-way softmax. Training uses the *federated* labels (background
boxes avoid the annotated boxes only, as a real detector's sampling would); test-time proposals come
from the complete boxes (the proxy's "RPN" finds every object) plus background, and every proposal
gives its top-k classes as detections. It is a proxy: it isolates classification under a long tail,
which is what the threshold and sampling studies act on.

Images are drawn by detectron2's repeat-factor stream (threshold t; t = 0 is uniform sampling) or by
class-aware sampling (``paperlib.data.samplers``). Under torchrun, Mask R-CNN trains data-parallel:
every rank reads its share of one stream seeded alike on all ranks (``batch_images`` per rank, so the
global batch is ``batch_images x world``), DistributedDataParallel all-reduces the gradients, the
ranks' own randomness (RPN / RoI sampling) is seeded per rank, and the test images are split across
the ranks with every rank's detections gathered before they are returned (and evaluated).
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.lvis import LVISDetection
from ..data.samplers import class_aware_stream, image_repeat_factors, repeat_factor_stream
from ..engine.distributed import all_gather_object, all_reduce_sum, init_distributed, merge_rank_items

__all__ = ["jitter_boxes", "background_boxes", "ProxyNet", "train_proxy", "proxy_detect", "eval_proposals", "roi_bank",
           "image_stream", "train_maskrcnn", "maskrcnn_detect", "box_iou_np"]


def box_iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes a [N, 4] and b [M, 4] (numpy, for the many small calls of proposal sampling)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of xyxy boxes a [..., 4] and b [..., 4]."""
    lt = np.maximum(a[..., :2], b[..., :2])
    rb = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def jitter_boxes(gt: np.ndarray, n: int, rng: np.random.Generator, size: int,
                 iou_range=(0.5, 0.95), tries: int = 32) -> np.ndarray:
    """``n`` jittered copies of each xyxy box with IoU in ``iou_range`` (rejection sampling over
    ``tries`` candidates; the box itself when none lands in the range). Returns [len(gt) * n, 4],
    grouped by box."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if len(gt) == 0 or n == 0:
        return np.zeros((0, 4))
    wh = np.concatenate([gt[:, 2:] - gt[:, :2]] * 2, 1)                    # [B, 4]: w, h, w, h
    d = rng.normal(0, 0.15, (len(gt), n, tries, 4)) * wh[:, None, None, :]
    cand = np.clip(gt[:, None, None, :] + d, 0, size)
    ok = (cand[..., 2] - cand[..., 0] >= 2) & (cand[..., 3] - cand[..., 1] >= 2)
    iou = _pair_iou(cand, np.broadcast_to(gt[:, None, None, :], cand.shape))
    good = ok & (iou >= iou_range[0]) & (iou <= iou_range[1])
    first = good.argmax(-1)                                                  # first valid try
    pick = np.take_along_axis(cand, first[..., None, None].repeat(4, -1), 2)[:, :, 0]
    pick = np.where(good.any(-1)[..., None], pick, gt[:, None, :])
    return pick.reshape(-1, 4)


def background_boxes(gt: np.ndarray, n: int, rng: np.random.Generator, size: int,
                     max_iou: float = 0.3) -> np.ndarray:
    """``n`` random boxes (side 8 px to half the image) with IoU < ``max_iou`` against every box of ``gt``."""
    out: List[np.ndarray] = []
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    for _ in range(20):
        if len(out) >= n:
            break
        wh = rng.uniform(8, max(9, size / 2), (4 * n, 2))
        xy = rng.uniform(0, 1, (4 * n, 2)) * (size - wh)
        cand = np.concatenate([xy, xy + wh], 1)
        keep = cand if len(gt) == 0 else cand[box_iou_np(cand, gt).max(1) < max_iou]
        out += list(keep[: n - len(out)])
    return np.array(out, dtype=np.float64).reshape(-1, 4)


class ProxyNet(nn.Module):
    """Small CNN on RoI crops -> K + 1 logits (0 = background)."""

    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()
        w = width

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))
        self.features = nn.Sequential(block(3, w), nn.MaxPool2d(2), block(w, 2 * w), nn.MaxPool2d(2),
                                      block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * w + 2, num_classes + 1)

    def forward(self, crops: torch.Tensor, rel_size: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.features(crops), rel_size], 1))


def _crops(img: torch.Tensor, boxes: np.ndarray, crop: int):
    import torchvision
    b = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    c = torchvision.ops.roi_align(img[None], [b], output_size=crop, spatial_scale=1.0, aligned=True)
    size = float(img.shape[-1])
    rel = torch.stack([(b[:, 2] - b[:, 0]) / size, (b[:, 3] - b[:, 1]) / size], 1)
    return c, rel


def roi_bank(ds: LVISDetection, cfg, seed: int):
    """Per training image: crops [n, 3, c, c] (float16), relative sizes, labels (0 = background)."""
    bank = []
    for i in range(len(ds)):
        img, t = ds[i]
        rng = np.random.default_rng([seed, 11, i])
        gt = t["boxes"].numpy()
        S = img.shape[-1]
        pos = jitter_boxes(gt, cfg.jitter_train, rng, S)
        neg = background_boxes(gt, cfg.bg_train, rng, S)
        boxes = np.concatenate([pos, neg]) if len(neg) else pos
        labels = torch.cat([t["labels"].repeat_interleave(cfg.jitter_train), torch.zeros(len(neg), dtype=torch.int64)])
        c, rel = _crops(img, boxes, cfg.crop_size)
        bank.append((c.half(), rel, labels))
    return bank


def image_stream(ds: LVISDetection, *, t: float, seed: int, class_aware: bool = False, rank: int = 0,
                 world_size: int = 1):
    """Endless stream of training-image indices (this rank's share): repeat-factor sampling with
    threshold ``t`` (0 = uniform), or class-aware sampling when ``class_aware``."""
    cats = ds.image_categories()
    if class_aware:
        return class_aware_stream(cats, seed=seed, rank=rank, world_size=world_size)
    return repeat_factor_stream(image_repeat_factors(cats, t), seed=seed, rank=rank, world_size=world_size)


def sampling_tag(t: float, seed: int, class_aware: bool) -> str:
    return f"{'class-aware' if class_aware else f't={t:.4g}'} seed={seed}"


def _step(opt, sched, loss, it: int, iters: int, tag: str, log_every: int) -> None:
    """One SGD step and the per-iteration schedule; a progress line every ``log_every`` iterations."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    if log_every and (it + 1) % log_every == 0:
        print(f"  {tag} it {it + 1}/{iters} loss {loss.item():.3f}")


def train_proxy(ds: LVISDetection, cfg, *, t: float, seed: int, bank=None, log_every: int = 0,
                class_aware: bool = False):
    """Train the proxy for ``cfg.iters`` iterations of ``cfg.batch_images`` images drawn by RFS with
    threshold ``t`` (0 = uniform) or class-aware sampling. Returns the model (eval mode)."""
    torch.manual_seed(seed)
    bank = bank if bank is not None else roi_bank(ds, cfg, 0)
    model = ProxyNet(len(ds.cat_ids), cfg.width)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 0.5 * (1 + math.cos(math.pi * it / cfg.iters)))
    stream = image_stream(ds, t=t, seed=seed, class_aware=class_aware)
    model.train()
    for it in range(cfg.iters):
        idx = [next(stream) for _ in range(cfg.batch_images)]
        crops = torch.cat([bank[i][0] for i in idx]).float()
        rel = torch.cat([bank[i][1] for i in idx])
        labels = torch.cat([bank[i][2] for i in idx])
        loss = F.cross_entropy(model(crops, rel), labels)
        _step(opt, sched, loss, it, cfg.iters, sampling_tag(t, seed, class_aware), log_every)
    return model.eval()


def eval_proposals(full: Dict, cfg, seed: int = 1234) -> Dict[int, np.ndarray]:
    """Test-time proposals per image id: jittered complete GT boxes + background boxes (seeded, fixed
    across models so that models are compared on the same proposals)."""
    by_img: Dict[int, List] = {im["id"]: [] for im in full["images"]}
    for a in full["annotations"]:
        x, y, w, h = a["bbox"]
        by_img[a["image_id"]].append([x, y, x + w, y + h])
    props = {}
    for im in full["images"]:
        rng = np.random.default_rng([seed, im["id"]])
        gt = np.array(by_img[im["id"]], dtype=np.float64).reshape(-1, 4)
        S = max(im["height"], im["width"])
        props[im["id"]] = np.concatenate([jitter_boxes(gt, cfg.jitter_eval, rng, S),
                                          background_boxes(gt, cfg.bg_eval, rng, S)])
    return props


@torch.no_grad()
def proxy_detect(model: ProxyNet, ds: LVISDetection, proposals: Dict[int, np.ndarray], cfg) -> List[dict]:
    """Every proposal x its top-k foreground classes (softmax scores) as LVIS results."""
    res = []
    for i in range(len(ds)):
        img, t = ds[i]
        boxes = proposals[t["image_id"]]
        if len(boxes) == 0:
            continue
        c, rel = _crops(img, boxes, cfg.crop_size)
        p = model(c, rel).softmax(1)[:, 1:]
        k = min(cfg.topk, p.shape[1])
        sc, cl = p.topk(k, dim=1)
        for b, ss, cc in zip(boxes, sc.tolist(), cl.tolist()):
            bb = [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
            for s, c_ in zip(ss, cc):
                res.append({"image_id": t["image_id"], "category_id": ds.cat_ids[c_], "bbox": bb, "score": float(s)})
    return res


# ----------------------------------------------------------------------------- Mask R-CNN (gpu / paper)
def train_maskrcnn(ds: LVISDetection, cfg, *, t: float, seed: int, device, log_every: int = 0,
                   class_aware: bool = False):
    """torchvision Mask R-CNN from paperlib's detection builder, LVIS test settings (300 detections,
    score threshold ``cfg.score_thresh``), trained for ``cfg.iters`` iterations of ``cfg.batch_images``
    images per rank drawn by RFS (threshold ``t``) or class-aware sampling. Under torchrun the model is
    wrapped in DistributedDataParallel (see the module notes). Returns the unwrapped model (eval mode)."""
    from ..models.detection import build_detector

    rank, world, device = init_distributed(device)
    torch.manual_seed(seed)                      # the same initial weights on every rank
    S = cfg.min_size
    model = build_detector("fpn", backbone=cfg.backbone, norm="gn", num_classes=len(ds.cat_ids) + 1, mask=True,
                           min_size=S, max_size=S, anchor_sizes=tuple(max(4, S // 32 * k) for k in (1, 2, 4, 8, 16)),
                           canonical_scale=224 * S / 800, box_detections_per_img=cfg.max_dets,
                           box_score_thresh=cfg.score_thresh).to(device)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    torch.manual_seed(seed + 1009 * rank)       # per-rank draws of the RPN / RoI box samplers
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    steps = (int(cfg.iters * 2 / 3), int(cfg.iters * 8 / 9))      # detectron2's 60k/80k of 90k
    warm = max(1, min(1000, cfg.iters // 10))

    def lr_at(it):
        return min(1.0, (it + 1) / warm) * (0.1 ** sum(it >= s for s in steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    stream = image_stream(ds, t=t, seed=seed, class_aware=class_aware, rank=rank, world_size=world)
    tag = sampling_tag(t, seed, class_aware)
    net.train()
    for it in range(cfg.iters):
        batch = [ds[next(stream)] for _ in range(cfg.batch_images)]
        imgs = [b[0].to(device) for b in batch]
        tgts = [{k: (v.to(device) if torch.is_tensor(v) else v) for k, v in b[1].items()} for b in batch]
        losses = net(imgs, tgts)
        loss = sum(losses.values())
        # every rank checks the sum over ranks, so all stop together rather than one waiting forever
        if not torch.isfinite(all_reduce_sum(loss.detach())):
            raise FloatingPointError(f"Mask R-CNN loss is not finite at iteration {it} ({tag}, rank {rank}: "
                                     f"{loss.item()})")
        _step(opt, sched, loss, it, cfg.iters, tag, log_every if rank == 0 else 0)
    return model.eval()


@torch.no_grad()
def maskrcnn_detect(model, ds: LVISDetection, device, batch: int = 4) -> List[dict]:
    """LVIS results with bbox and compressed-RLE segmentation (masks thresholded at 0.5). Under torchrun
    each rank runs every world-th image and the per-image results of all ranks are gathered, so every
    rank returns all of them, in dataset order."""
    from pycocotools import mask as mu

    rank, world, device = init_distributed(device)
    mine = list(range(rank, len(ds), world))
    per_image = []
    for s in range(0, len(mine), batch):
        items = [ds[i] for i in mine[s:s + batch]]
        outs = model([it[0].to(device) for it in items])
        for (img, t), o in zip(items, outs):
            boxes = o["boxes"].cpu().numpy()
            masks = (o["masks"][:, 0] > 0.5).cpu().numpy().astype(np.uint8)
            res = []
            for b, sc, lb, m in zip(boxes, o["scores"].tolist(), o["labels"].tolist(), masks):
                rle = mu.encode(np.asfortranarray(m))
                rle["counts"] = rle["counts"].decode("ascii")
                res.append({"image_id": t["image_id"], "category_id": ds.cat_ids[lb - 1], "score": float(sc),
                            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                            "segmentation": rle})
            per_image.append(res)
    merged = merge_rank_items(all_gather_object((mine, per_image)), len(ds))
    return [d for res in merged for d in res]
