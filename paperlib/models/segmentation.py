"""A tiny fully-convolutional network with a semantic head and a thing/boundary head, small enough
to train on CPU in a couple of minutes, plus a tiny RoI classifier. Used by the panoptic-segmentation
notebook as the "machine": the semantic head plays the semantic segmenter (PSPNet's role in the
paper); the thing + boundary heads give class-agnostic instance masks (connected components) that
the RoI classifier labels from a crop of (image, mask) (together: Mask R-CNN's role); the paper's
heuristic merges the two (see :func:`paperlib.data.panoptic.combine_semantic_instances`).

    model = TinyPanopticFCN(num_semantic=10, num_things=6, width=16)
    out = model(images)          # {"sem": (B, 10, H, W), "thing": (B, 7, H, W), "boundary": (B, 1, H, W)}
    masks, scores, labels = instances_from_heads(out["thing"][0], out["boundary"][0])
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TinyPanopticFCN", "TinyRoIClassifier", "roi_crops", "instances_from_heads", "panoptic_losses",
           "boundary_target"]


def _cbr(cin, cout, stride=1, dilation=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyPanopticFCN(nn.Module):
    """Encoder: stem (s1) -> s2 -> s4 -> two dilated convs (context); decoder at stride 2
    (up-sampled context + stride-2 skip); 1x1 heads, logits bilinearly up-sampled to the input."""

    def __init__(self, num_semantic: int, num_things: int, width: int = 16):
        super().__init__()
        c = width
        self.num_semantic, self.num_things = num_semantic, num_things
        self.stem = _cbr(3, c)
        self.down2 = _cbr(c, c, stride=2)
        self.down4 = _cbr(c, 2 * c, stride=2)
        self.ctx = nn.Sequential(_cbr(2 * c, 2 * c, dilation=2), _cbr(2 * c, 2 * c, dilation=4))
        self.fuse = _cbr(3 * c, 2 * c)
        self.sem = nn.Conv2d(2 * c, num_semantic, 1)
        self.thing = nn.Conv2d(2 * c, num_things + 1, 1)   # 0 = not a thing
        self.boundary = nn.Conv2d(2 * c, 1, 1)

    def forward(self, x):
        h, w = x.shape[-2:]
        s2 = self.down2(self.stem(x))
        s4 = self.ctx(self.down4(s2))
        f = self.fuse(torch.cat([s2, F.interpolate(s4, size=s2.shape[-2:], mode="bilinear",
                                                   align_corners=False)], 1))
        up = lambda t: F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)  # noqa: E731
        return {"sem": up(self.sem(f)), "thing": up(self.thing(f)), "boundary": up(self.boundary(f))}


def boundary_target(inst: torch.Tensor) -> torch.Tensor:
    """1 where a thing pixel (inst > 0) has a 4-neighbour with another instance id (incl. stuff)."""
    b = torch.zeros_like(inst, dtype=torch.bool)
    d = inst[..., 1:, :] != inst[..., :-1, :]
    b[..., 1:, :] |= d
    b[..., :-1, :] |= d
    d = inst[..., :, 1:] != inst[..., :, :-1]
    b[..., :, 1:] |= d
    b[..., :, :-1] |= d
    return (b & (inst > 0)).float()


def panoptic_losses(out: dict, sem_t: torch.Tensor, thing_t: torch.Tensor, inst_t: torch.Tensor,
                    ignore_index: int = -1) -> dict:
    """Cross-entropy on both class heads (ignore_index = void / crowd) + weighted BCE on boundaries."""
    l_sem = F.cross_entropy(out["sem"], sem_t, ignore_index=ignore_index)
    l_thing = F.cross_entropy(out["thing"], thing_t, ignore_index=ignore_index)
    bt = boundary_target(inst_t)
    valid = (thing_t != ignore_index).float()
    pos = (bt * valid).sum().clamp(min=1.0)
    neg = ((1 - bt) * valid).sum().clamp(min=1.0)
    wgt = valid * torch.where(bt > 0, neg / (pos + neg), pos / (pos + neg)) * 2
    l_b = F.binary_cross_entropy_with_logits(out["boundary"][:, 0], bt, weight=wgt)
    return {"loss": l_sem + l_thing + l_b, "sem": l_sem.detach(), "thing": l_thing.detach(),
            "boundary": l_b.detach()}


def instances_from_heads(thing_logits: torch.Tensor, boundary_logits: torch.Tensor,
                         min_area: int = 8, grow: int = 2, boundary_thr: float = 0.5):
    """Instances from one image's heads. Foreground = P(thing) > 0.5 (1 - P(class 0)); cores =
    foreground with boundary probability < 0.5; class-agnostic connected components of the cores
    are grown back by ``grow`` px inside the foreground (nearest core wins, so masks never overlap).
    Each component's class = argmax of its mean class probabilities; its score = its mean P(thing)
    (the objectness, playing the detector's confidence).

    Returns (masks (N, H, W) bool, scores (N,), labels (N,) in 1..num_things)."""
    from scipy import ndimage

    prob = torch.softmax(thing_logits.float(), 0).cpu().numpy()
    fg_prob = 1.0 - prob[0]
    fg = fg_prob > 0.5
    core_ok = torch.sigmoid(boundary_logits.float())[0].cpu().numpy() < boundary_thr
    h, w = fg.shape
    lab, n = ndimage.label(fg & core_ok)
    if n == 0:
        return np.zeros((0, h, w), bool), np.zeros(0), np.zeros(0, np.int64)
    for _ in range(grow):
        grown = ndimage.grey_dilation(lab, size=3)
        fill = (lab == 0) & fg & (grown > 0)
        lab[fill] = grown[fill]
    flat = lab.reshape(-1)
    areas = np.bincount(flat, minlength=n + 1)
    obj = np.bincount(flat, weights=fg_prob.reshape(-1), minlength=n + 1)
    cls_sum = np.stack([np.bincount(flat, weights=prob[c].reshape(-1), minlength=n + 1)
                        for c in range(1, prob.shape[0])], 1)
    masks, scores, labels = [], [], []
    for k in range(1, n + 1):
        if areas[k] < min_area:
            continue
        masks.append(lab == k)
        scores.append(obj[k] / areas[k])
        labels.append(int(cls_sum[k].argmax()) + 1)
    if not masks:
        return np.zeros((0, h, w), bool), np.zeros(0), np.zeros(0, np.int64)
    return np.stack(masks), np.asarray(scores, float), np.asarray(labels, np.int64)


class TinyRoIClassifier(nn.Module):
    """Classifies an instance from a fixed-size crop of (RGB, mask) around its box - the role of
    Mask R-CNN's RoI box head. Input (N, 4, S, S), output (N, num_things) logits."""

    def __init__(self, num_things: int, width: int = 16):
        super().__init__()
        c = width
        self.body = nn.Sequential(_cbr(4, c), _cbr(c, 2 * c, stride=2), _cbr(2 * c, 2 * c),
                                  _cbr(2 * c, 4 * c, stride=2), _cbr(4 * c, 4 * c))
        self.fc = nn.Linear(4 * c, num_things)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


def roi_crops(image: torch.Tensor, masks, size: int = 32, pad: int = 2) -> torch.Tensor:
    """(N, 4, size, size) crops of a normalised image (3, H, W) and each mask's box (+pad px),
    resized bilinearly (mask channel in {-1, 1} before resizing)."""
    masks = torch.as_tensor(np.asarray(masks, dtype=np.float32))
    if masks.ndim == 2:
        masks = masks[None]
    h, w = image.shape[-2:]
    out = []
    for m in masks:
        ys, xs = torch.nonzero(m > 0, as_tuple=True)
        if ys.numel() == 0:
            out.append(torch.zeros(4, size, size))
            continue
        y0, y1 = max(int(ys.min()) - pad, 0), min(int(ys.max()) + pad + 1, h)
        x0, x1 = max(int(xs.min()) - pad, 0), min(int(xs.max()) + pad + 1, w)
        crop = torch.cat([image[:, y0:y1, x0:x1], (m[None, y0:y1, x0:x1] * 2 - 1)], 0)
        out.append(F.interpolate(crop[None], size=(size, size), mode="bilinear", align_corners=False)[0])
    if not out:
        return torch.zeros(0, 4, size, size)
    return torch.stack(out)
