"""W1 baselines for motion segmentation, and the mask IoU they are scored with.

- flow-magnitude threshold: OpenCV Farnebaeck flow to the next frame (the previous one for the last frame),
  foreground where the magnitude exceeds a fixed threshold -- no dominant-motion logic, so a panning camera
  turns the whole frame into foreground;
- centre prior: a centred disk covering `area` of the frame, the same in every frame.
"""
from __future__ import annotations

import numpy as np

__all__ = ["mask_iou", "flow_threshold_masks", "centre_prior_masks"]


def mask_iou(pred: np.ndarray, true: np.ndarray) -> float:
    """IoU of two boolean mask stacks, pooled over all frames (1.0 when both are empty)."""
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    if pred.shape != true.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {true.shape}")
    union = np.logical_or(pred, true).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, true).sum() / union)


def flow_threshold_masks(frames: np.ndarray, thresh: float = 1.0) -> np.ndarray:
    import cv2

    from .unlc import flow_farneback

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    out = []
    for i in range(len(frames)):
        j = i + 1 if i + 1 < len(frames) else i - 1
        fl = flow_farneback(grey[i], grey[j])
        out.append(np.hypot(fl[..., 0], fl[..., 1]) > thresh)
    return np.stack(out)


def centre_prior_masks(T: int, h: int, w: int, area: float = 0.1) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = area * h * w / np.pi
    m = (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 <= r2
    return np.repeat(m[None], T, axis=0)
