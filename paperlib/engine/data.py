"""Seeding and seeded data loaders."""
from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from .distributed import env_world, is_distributed_env


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (CPU and CUDA). deterministic=True also asks torch for
    deterministic algorithms (warn only) and turns cudnn.benchmark off."""
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def seed_worker(worker_id: int) -> None:
    """worker_init_fn: seed numpy and python in each worker from torch's per-worker seed."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


class ShardSampler(DistributedSampler):
    """Evaluation sampler under torchrun: rank r yields dataset indices r, r + world, r + 2 world, ...
    in order, each index on exactly one rank. Unlike DistributedSampler it does not pad the shards to
    equal length by repeating images, which would count those images twice in summed metrics. Shards
    then differ by at most one item, so it is for evaluation only (DDP training needs equal step
    counts on every rank)."""

    def __init__(self, dataset, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))

    def __iter__(self):
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self):
        return self.num_samples


def make_loader(dataset, batch_size: int, shuffle: bool = False, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False, distributed: bool | None = None, collate_fn=None,
                pin_memory: bool = False, persistent_workers: bool = False, evaluation: bool = False,
                sampler=None, **kwargs) -> DataLoader:
    """A DataLoader whose order and worker seeds depend only on `seed` (torch.Generator +
    worker_init_fn). distributed=None: use a DistributedSampler when launched by torchrun
    (RANK/WORLD_SIZE in the environment); the engine calls sampler.set_epoch every epoch.
    evaluation=True (distributed, no shuffling, no drop_last): a :class:`ShardSampler` instead, so
    every item is seen exactly once across the ranks.
    sampler: a custom index sampler (e.g. :class:`paperlib.data.samplers.RepeatFactorSampler`), used
    instead of shuffling (shuffle must be False); under torchrun it must offer ``set_world(rank, world)``
    so that each rank takes its own share of every epoch."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    if distributed is None:
        distributed = is_distributed_env()
    if evaluation and (shuffle or drop_last):
        raise ValueError("make_loader(evaluation=True) needs shuffle=False and drop_last=False")
    if sampler is not None:
        if shuffle or evaluation:
            raise ValueError("make_loader(sampler=...) needs shuffle=False and evaluation=False "
                             "(the sampler decides the order)")
        if distributed:
            if not hasattr(sampler, "set_world"):
                raise ValueError(f"{type(sampler).__name__} cannot shard across ranks: it needs "
                                 "set_world(rank, world) to be used under torchrun")
            rank, world, _ = env_world()
            sampler.set_world(rank, world)
    elif distributed:
        rank, world, _ = env_world()
        if evaluation:
            sampler = ShardSampler(dataset, num_replicas=world, rank=rank)
        else:
            sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle,
                                         seed=int(seed), drop_last=drop_last)
        shuffle = False
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler,
                      num_workers=num_workers, drop_last=drop_last, collate_fn=collate_fn,
                      pin_memory=pin_memory, generator=g, worker_init_fn=seed_worker,
                      persistent_workers=persistent_workers and num_workers > 0, **kwargs)
