"""Repeat-factor sampling (LVIS paper, appendix; detectron2's ``RepeatFactorTrainingSampler``).

    f(c) = fraction of training images that contain >= 1 annotation of c
    r(c) = max(1, sqrt(t / f(c)))
    r(I) = max over the categories c in I of r(c)   (1 for an image without annotations)

Every epoch an image appears floor(r(I)) times plus once more with probability r(I) - floor(r(I))
(seeded stochastic rounding), then the list is shuffled; the epoch length therefore varies.
Written here because torch has no such sampler and detectron2 is not a dependency of this project.

Two forms: :class:`RepeatFactorSampler` (epoch by epoch, for ``make_loader``) and
:func:`repeat_factor_stream` / :class:`DistributedRepeatFactorSampler`, the iteration-based form of
detectron2's ``RepeatFactorTrainingSampler`` for torchrun: one infinite stream of epochs (stochastic
rounding, then a shuffle, both from one ``torch.Generator`` seeded identically on every rank), which
rank r reads at positions r, r + world, r + 2 world, ... -- so the ranks together see exactly the
one-process stream, and each its own part of it.

:func:`class_aware_stream` is class-aware sampling (Shen et al., 2016; the LVIS paper's T-rfs
baseline row): each draw takes the next category of a shuffled cycle over the categories, then the
next image of a shuffled cycle over that category's training images, so every category is drawn
equally often whatever its frequency. Also written here: torch and torchvision have none.
"""
from __future__ import annotations

import itertools
import math
from typing import Dict, Iterable, Iterator, List, Sequence

import numpy as np
from torch.utils.data import Sampler

__all__ = ["category_repeat_factors", "image_repeat_factors", "RepeatFactorSampler", "repeat_factor_stream",
           "DistributedRepeatFactorSampler", "class_aware_stream"]


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
        _check_shard(rank, world_size)
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


def _check_shard(rank: int, world_size: int) -> None:
    if not 0 <= int(rank) < int(world_size):
        raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")


def repeat_factor_stream(repeat_factors: Sequence[float], *, seed: int = 0, rank: int = 0, world_size: int = 1,
                         shuffle: bool = True) -> Iterator[int]:
    """Rank ``rank``'s share of an endless repeat-factor stream, as detectron2's
    ``RepeatFactorTrainingSampler`` produces it: a ``torch.Generator`` seeded with ``seed`` (the same on
    every rank) draws, epoch after epoch, the stochastic rounding (float32 factors, ``torch.rand``) and
    then the shuffle (``torch.randperm``); the rank keeps every ``world_size``-th index from position
    ``rank``. For the same seed and factors it yields the same indices as detectron2's sampler."""
    import torch

    _check_shard(rank, world_size)
    r = torch.as_tensor(np.asarray(repeat_factors, dtype=np.float64), dtype=torch.float32)
    if r.ndim != 1 or r.numel() == 0 or not bool((r >= 1).all()):
        raise ValueError("repeat_factors must be a non-empty 1-D sequence of values >= 1")
    whole = torch.trunc(r)
    frac = r - whole

    def epochs():
        g = torch.Generator()
        g.manual_seed(int(seed))
        while True:
            reps = (whole + (torch.rand(len(frac), generator=g) < frac).float()).long()
            idx = torch.repeat_interleave(torch.arange(len(r)), reps)
            if shuffle:
                idx = idx[torch.randperm(len(idx), generator=g)]
            yield from idx.tolist()

    return itertools.islice(epochs(), int(rank), None, int(world_size))


class DistributedRepeatFactorSampler(Sampler[int]):
    """Infinite sampler over :func:`repeat_factor_stream` (iteration-based training under torchrun:
    draw as many batches as the schedule has iterations). ``rank`` / ``world_size`` are this process's
    (``paperlib.engine.distributed.env_world`` gives them); every rank must pass the same ``seed``."""

    def __init__(self, repeat_factors: Sequence[float], *, seed: int = 0, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True):
        _check_shard(rank, world_size)
        self.repeat_factors = list(repeat_factors)
        self.seed, self.rank, self.world, self.shuffle = int(seed), int(rank), int(world_size), bool(shuffle)

    def __iter__(self) -> Iterator[int]:
        return repeat_factor_stream(self.repeat_factors, seed=self.seed, rank=self.rank, world_size=self.world,
                                    shuffle=self.shuffle)


def class_aware_stream(image_categories: Sequence[Iterable[int]], *, seed: int = 0, rank: int = 0,
                       world_size: int = 1) -> Iterator[int]:
    """Rank ``rank``'s share of an endless class-aware stream of image indices: a shuffled cycle over
    the categories that have training images picks the category, a shuffled cycle over that category's
    images picks the image (each cycle reshuffled when it is used up). Seeded by ``seed`` alone, so
    the ranks share one stream and take every ``world_size``-th draw of it; images without annotations
    are never drawn."""
    _check_shard(rank, world_size)
    by_cat: Dict[int, List[int]] = {}
    for i, cats in enumerate(image_categories):
        for c in sorted(set(cats)):
            by_cat.setdefault(c, []).append(i)
    if not by_cat:
        raise ValueError("class-aware sampling needs at least one image with an annotated category")
    cats = sorted(by_cat)

    def draws():
        rng = np.random.default_rng([int(seed), 17])
        pos = {c: len(by_cat[c]) for c in cats}           # exhausted: shuffle on first use
        order = {c: by_cat[c] for c in cats}
        while True:
            for c in rng.permutation(cats).tolist():
                if pos[c] == len(order[c]):
                    order[c], pos[c] = rng.permutation(by_cat[c]).tolist(), 0
                pos[c] += 1
                yield order[c][pos[c] - 1]

    return itertools.islice(draws(), int(rank), None, int(world_size))
