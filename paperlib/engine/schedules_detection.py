"""The "k x" detection schedules of *Rethinking ImageNet Pre-training* (He et al., 2019) and their
arithmetic, plus branching every k x run off one shared constant-lr prefix.

Rule (the paper; detectron2's GN / SyncBN scratch configs): with a base schedule of B iterations
(1x = 90k at batch 16), a k x run trains T = k B iterations and divides the lr by 10 at
``T - floor(2B/3)`` and ``T - floor(2B/9)`` (60k and 20k before the end at B = 90k), after a linear
warm-up whose factor is ``s (1 - i/W) + i/W`` (s = 0.001, W = 1000 at COCO scale) -- the engine's
warm-up formula ``s + (1 - s) i/W`` is the same line.

Branching (the spec's cost-saving identity): every k x run has the same lr up to its first drop, so
all of them share the prefix of the longest one. Train that prefix once, keep its checkpoint at each
``kB - floor(2B/3)``, and train each run's two-drop tail from there. The engine checkpoints the model,
optimizer (momentum), data order and every RNG, so a branch equals the separate run when the branch
point falls on an epoch boundary (the engine resumes epoch by epoch there); :func:`branch_plan`
checks that and says whether branching is allowed.

Written here because detectron2 is not a dependency of this project and torchvision / timm offer no
"k x" schedule rule; the schedule itself runs through :mod:`paperlib.engine.schedule`.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

__all__ = ["COCO_TRAIN2017_IMAGES", "schedule_steps", "schedule_epochs", "warmup_factor", "branch_point",
           "branch_plan", "schedule_fields", "prefix_fields", "lr_points"]

COCO_TRAIN2017_IMAGES = 118_287


def schedule_steps(k: float, base_iters: int = 90_000) -> Tuple[int, int, int]:
    """(T, first drop, second drop) of the k x schedule: T = round(k B), drops at T - floor(2B/3) and
    T - floor(2B/9) (both floors: at B = 90k exactly 60k and 20k; at B = 100, 66 and 22)."""
    if k <= 0:
        raise ValueError(f"k = {k}: need k > 0")
    if base_iters < 9:
        raise ValueError(f"base_iters = {base_iters}: need an integer >= 9 (drops at floor(2B/3), floor(2B/9))")
    T = int(round(k * base_iters))
    s1, s2 = T - (2 * base_iters) // 3, T - (2 * base_iters) // 9
    if s1 <= 0:
        raise ValueError(f"k = {k}, B = {base_iters}: the first drop T - floor(2B/3) = {s1} is not positive "
                         "(the rule needs k > 2/3)")
    return T, s1, s2


def schedule_epochs(k: float, base_iters: int = 90_000, batch_size: int = 16,
                    n_images: int = COCO_TRAIN2017_IMAGES) -> float:
    """Epochs (passes over ``n_images``) of the k x schedule: k B batch / n (1x COCO = 12.17)."""
    if n_images <= 0 or batch_size <= 0:
        raise ValueError("batch_size and n_images must be positive")
    return schedule_steps(k, base_iters)[0] * batch_size / n_images


def warmup_factor(i: int, warmup_iters: int = 1000, start: float = 0.001) -> float:
    """detectron2's linear warm-up factor at iteration ``i``: start (1 - i/W) + i/W, 1 from i >= W."""
    if i >= warmup_iters:
        return 1.0
    a = i / warmup_iters
    return start * (1.0 - a) + a


def branch_point(k: float, base_iters: int) -> int:
    """The iteration where the k x run leaves the shared constant-lr prefix (its first drop)."""
    return schedule_steps(k, base_iters)[1]


def branch_plan(ks: Sequence[float], base_iters: int, steps_per_epoch: int, warmup_iters: int) -> Dict:
    """How the k x runs are trained: {"branched": bool, "reason": str, "prefix_iters": longest prefix,
    "points": {k: branch iteration}}. Branching needs every branch point on an epoch boundary (the
    engine resumes exactly there) and after the warm-up (the prefix's lr must be the constant base)."""
    ks = sorted(set(float(k) for k in ks))
    points = {k: branch_point(k, base_iters) for k in ks}
    off = [k for k, p in points.items() if p % steps_per_epoch]
    early = [k for k, p in points.items() if p < warmup_iters]
    if off:
        why = (f"branch points {[points[k] for k in off]} are not multiples of the {steps_per_epoch} "
               "iterations per epoch: each schedule is trained on its own")
    elif early:
        why = f"branch points {[points[k] for k in early]} fall inside the {warmup_iters}-iteration warm-up"
    else:
        why = (f"all schedules share the constant-lr prefix; checkpoints at {sorted(points.values())} "
               f"(epoch boundaries of {steps_per_epoch} iterations), tails of {(2 * base_iters) // 3} "
               "iterations each trained from there")
    return {"branched": not (off or early), "reason": why, "prefix_iters": max(points.values()),
            "points": points}


def _warmup_epochs(warmup_iters: int, steps_per_epoch: int) -> float:
    return warmup_iters / steps_per_epoch


def schedule_fields(k: float, base_iters: int, steps_per_epoch: int, warmup_iters: int,
                    warmup_start: float = 0.001) -> Dict:
    """The :class:`~paperlib.engine.TrainConfig` fields of the k x schedule in the engine's fractional
    epochs: max_steps = T, lr x0.1 at the two drops (exactly at those optimizer steps), warm-up."""
    T, s1, s2 = schedule_steps(k, base_iters)
    return dict(epochs=math.ceil(T / steps_per_epoch), max_steps=T, schedule="step",
                milestones=[s1 / steps_per_epoch, s2 / steps_per_epoch], gamma=0.1,
                warmup_epochs=_warmup_epochs(warmup_iters, steps_per_epoch), warmup_start_factor=warmup_start)


def prefix_fields(iters: int, steps_per_epoch: int, warmup_iters: int, warmup_start: float = 0.001) -> Dict:
    """TrainConfig fields of the shared prefix: the same warm-up, then the constant base lr for ``iters``."""
    return dict(epochs=math.ceil(iters / steps_per_epoch), max_steps=iters, schedule="step", milestones=[],
                gamma=0.1, warmup_epochs=_warmup_epochs(warmup_iters, steps_per_epoch),
                warmup_start_factor=warmup_start)


def lr_points(k: float, base_iters: int) -> List[int]:
    """Iterations where the k x lr drops (for marking curves)."""
    return list(schedule_steps(k, base_iters)[1:])
