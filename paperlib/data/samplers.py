"""Repeat-factor sampling (LVIS paper, appendix; detectron2's ``RepeatFactorTrainingSampler``).

    f(c) = fraction of training images that contain >= 1 annotation of c
    r(c) = max(1, sqrt(t / f(c)))
    r(I) = max over the categories c in I of r(c)   (1 for an image without annotations)

Every epoch an image appears floor(r(I)) times plus once more with probability r(I) - floor(r(I))
(seeded stochastic rounding), then the list is shuffled; the epoch length therefore varies.
Written here because torch has no such sampler and detectron2 is not a dependency of this project.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, Iterator, List, Sequence

import numpy as np
from torch.utils.data import Sampler

__all__ = ["category_repeat_factors", "image_repeat_factors", "RepeatFactorSampler"]


def category_repeat_factors(image_categories: Sequence[Iterable[int]], t: float) -> Dict[int, float]:
    """r(c) = max(1, sqrt(t / f(c))) for every category present in ``image_categories`` (one
    iterable of category ids per training image, from the annotations that exist)."""
    if not (t >= 0 and math.isfinite(t)):
        raise ValueError(f"repeat threshold t must be a finite number >= 0, got {t!r}")
    n = len(image_categories)
    counts: Dict[int, int] = {}
    for cats in image_categories:
        for c in set(cats):
            counts[c] = counts.get(c, 0) + 1
    return {c: max(1.0, math.sqrt(t / (k / n))) for c, k in counts.items()}


def image_repeat_factors(image_categories: Sequence[Iterable[int]], t: float) -> List[float]:
    """r(I) = max over the image's categories of r(c); 1 for an image without annotations."""
    rc = category_repeat_factors(image_categories, t)
    return [max((rc[c] for c in set(cats)), default=1.0) for cats in image_categories]


class RepeatFactorSampler(Sampler[int]):
    """Indices of one epoch: floor(r) copies of each image plus one with probability frac(r), shuffled.
    The randomness depends only on (seed, epoch): call :meth:`set_epoch` each epoch (the engine does
    for samplers that have it), or let successive iterations advance the epoch themselves.
    Under torchrun each rank takes every world-th index of the same epoch list."""

    def __init__(self, repeat_factors: Sequence[float], *, seed: int = 0, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1):
        r = np.asarray(repeat_factors, dtype=np.float64)
        if r.ndim != 1 or r.size == 0 or not np.all(r >= 1):
            raise ValueError("repeat_factors must be a non-empty 1-D sequence of values >= 1")
        self.r = r
        self.seed, self.shuffle, self.rank, self.world = int(seed), bool(shuffle), int(rank), int(world_size)
        self.epoch = 0
        self._auto = 0

    def set_world(self, rank: int, world_size: int) -> None:
        """Shard every epoch's list across ``world_size`` ranks (called by ``make_loader`` under torchrun)."""
        if not 0 <= int(rank) < int(world_size):
            raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")
        self.rank, self.world = int(rank), int(world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self._auto = 0

    def epoch_indices(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(epoch)])
        whole = np.floor(self.r)
        reps = (whole + (rng.random(len(self.r)) < (self.r - whole))).astype(np.int64)
        idx = np.repeat(np.arange(len(self.r)), reps)
        if self.shuffle:
            idx = rng.permutation(idx)
        return idx[self.rank::self.world]

    def __iter__(self) -> Iterator[int]:
        idx = self.epoch_indices(self.epoch + self._auto)
        self._auto += 1
        return iter(idx.tolist())

    def __len__(self) -> int:
        """Expected length of an epoch (the realised one varies)."""
        return int(round(self.r.sum() / self.world))
