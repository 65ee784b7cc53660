"""Repeat-factor sampling: the spec's golden values (A2), t scaling (A6), make_loader(sampler=...)."""
import math

import numpy as np
import pytest
import torch

from paperlib.data.samplers import RepeatFactorSampler, category_repeat_factors, image_repeat_factors
from paperlib.engine.data import make_loader


def a2_images():
    # N = 10,000 images: category 1 in one image, 2 in five, 3 in ten, 4 in 5000; image 0 holds 1 and 4
    imgs = [[] for _ in range(10_000)]
    imgs[0] = [1, 4]
    for i in range(1, 6):
        imgs[i].append(2)
    for i in range(6, 16):
        imgs[i].append(3)
    for i in range(16, 5015):
        imgs[i].append(4)
    return imgs


def test_a2_category_and_image_factors():
    imgs = a2_images()
    rc = category_repeat_factors(imgs, 0.001)
    assert rc[1] == pytest.approx(3.1623, abs=1e-4)
    assert rc[2] == pytest.approx(1.4142, abs=1e-4)
    assert rc[3] == 1.0 and rc[4] == 1.0
    ri = image_repeat_factors(imgs, 0.001)
    assert ri[0] == pytest.approx(math.sqrt(10), abs=1e-12)     # max over its categories
    assert ri[1] == pytest.approx(math.sqrt(2)) and ri[-1] == 1.0   # no annotations -> 1
    assert image_repeat_factors(imgs, 0.0) == [1.0] * len(imgs)


def test_a2_stochastic_rounding_mean():
    s = RepeatFactorSampler([math.sqrt(10), 1.0], seed=0, shuffle=False)
    copies = np.array([int((s.epoch_indices(e) == 0).sum()) for e in range(10_000)])
    assert set(copies.tolist()) == {3, 4}
    assert copies.mean() == pytest.approx(3.1623, abs=0.01)
    assert all(int((s.epoch_indices(e) == 1).sum()) == 1 for e in range(20))


def test_a6_threshold_scaling_fixes_the_factor():
    # r(c) = sqrt(t N / n_c): t_syn = 0.001 * 57000 / 2000 gives a 1-image category the factor it has in LVIS
    t_syn = 0.001 * 57_000 / 2000
    imgs = [[1]] + [[2]] * 1999
    assert category_repeat_factors(imgs, t_syn)[1] == pytest.approx(math.sqrt(0.001 * 57_000), rel=1e-12)


def test_sampler_seeded_epochs_vary_and_shard():
    r = [1.0, 2.5, 1.2, 4.0]
    a, b = RepeatFactorSampler(r, seed=3), RepeatFactorSampler(r, seed=3)
    assert list(a) == list(b)
    e0, e1 = list(a), list(a)            # iterating again advances the epoch
    assert list(RepeatFactorSampler(r, seed=3)) == list(b.epoch_indices(0))
    b.set_epoch(1)
    assert list(b) == e0 and e0 != e1
    halves = []
    for rank in (0, 1):
        s = RepeatFactorSampler(r, seed=3)
        s.set_world(rank, 2)
        halves += list(s.epoch_indices(0))
    assert sorted(halves) == sorted(RepeatFactorSampler(r, seed=3).epoch_indices(0).tolist())
    with pytest.raises(ValueError):
        RepeatFactorSampler([0.5])
    with pytest.raises(ValueError):
        category_repeat_factors([[1]], -1.0)


def test_make_loader_accepts_a_sampler():
    ds = torch.utils.data.TensorDataset(torch.arange(4))
    s = RepeatFactorSampler([1.0, 3.0, 1.0, 1.0], seed=0)
    seen = torch.cat([x for (x,) in make_loader(ds, 2, sampler=s, distributed=False)]).tolist()
    assert seen.count(1) == 3 and sorted(set(seen)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="shuffle=False"):
        make_loader(ds, 2, shuffle=True, sampler=s)


# ----------------------------------------------------------------------------- torchrun form (detectron2's)
from itertools import islice  # noqa: E402

from paperlib.data.samplers import DistributedRepeatFactorSampler, class_aware_stream, repeat_factor_stream  # noqa: E402

RF = [1.0, 2.5, 1.2, math.sqrt(10), 1.0]
# Golden values: the first 24 indices of detectron2's RepeatFactorTrainingSampler (detectron2 @084acd0,
# data/samplers/distributed_sampler.py, run with comm's rank / world stubbed) for these factors, seed 7.
D2_GOLDEN = {
    (0, 1): [3, 4, 1, 3, 3, 1, 2, 0, 1, 1, 3, 2, 1, 1, 4, 0, 3, 3, 1, 3, 3, 3, 0, 2],
    (0, 2): [3, 1, 3, 2, 1, 3, 1, 4, 3, 1, 3, 0, 4, 1, 3, 1, 2, 3, 1, 2, 4, 3, 1, 0],
    (1, 2): [4, 3, 1, 0, 1, 2, 1, 0, 3, 3, 3, 2, 3, 0, 1, 3, 4, 3, 3, 3, 0, 1, 3, 1],
}
D2_GOLDEN_NO_SHUFFLE = [0, 1, 1, 1, 2, 3, 3, 3, 4, 0, 1, 1, 1, 2, 3, 3, 3, 4, 0, 1, 1, 2, 3, 3]


@pytest.mark.parametrize("rank,world", sorted(D2_GOLDEN))
def test_distributed_stream_matches_detectron2(rank, world, one_thread):
    assert list(islice(repeat_factor_stream(RF, seed=7, rank=rank, world_size=world), 24)) == D2_GOLDEN[(rank, world)]
    s = DistributedRepeatFactorSampler(RF, seed=7, rank=rank, world_size=world)
    assert list(islice(iter(s), 24)) == D2_GOLDEN[(rank, world)]
    assert list(islice(iter(s), 24)) == D2_GOLDEN[(rank, world)]          # restartable, same seed
    assert list(islice(repeat_factor_stream(RF, seed=7, shuffle=False), 24)) == D2_GOLDEN_NO_SHUFFLE


def test_distributed_stream_shards_partition_the_one_process_stream(one_thread):
    one = list(islice(repeat_factor_stream(RF, seed=3), 3000))
    shards = [list(islice(repeat_factor_stream(RF, seed=3, rank=r, world_size=3), 1000)) for r in range(3)]
    assert [x for trio in zip(*shards) for x in trio] == one              # interleaved, nothing lost or repeated
    assert shards[0] != shards[1]
    assert list(islice(repeat_factor_stream(RF, seed=4), 50)) != one[:50]
    # stochastic rounding in expectation (A2): 500 images with r = sqrt(10) and 500 with r = 1, 40 epochs
    many = np.array(list(islice(repeat_factor_stream([1.0, math.sqrt(10)] * 500, seed=0), 40 * 2081)))
    assert (many % 2 == 1).sum() / (many % 2 == 0).sum() == pytest.approx(math.sqrt(10), abs=0.01)
    with pytest.raises(ValueError, match="rank"):
        repeat_factor_stream(RF, rank=2, world_size=2)
    with pytest.raises(ValueError, match=">= 1"):
        repeat_factor_stream([0.5])


def test_class_aware_stream_balances_categories():
    # category 1 in 90 images, category 2 in 9, category 3 in one (image 99, which also holds 1)
    imgs = [[1]] * 90 + [[2]] * 9 + [[1, 3]]
    draws = list(islice(class_aware_stream(imgs, seed=0), 3 * 300))
    d = np.array(draws)
    # each cycle of three draws picks every category once: category 2 -> images 90-98, 300 times; category
    # 3 -> image 99, 300 times; category 1 -> images 0-89 or 99, 300 times (uniform sampling: 900 x 0.9)
    assert ((d >= 90) & (d < 99)).sum() == 300
    assert (d == 99).sum() >= 300 and (d < 90).sum() + (d == 99).sum() == 600
    # category 2's nine images are drawn in shuffled cycles: each one 300 / 9 times, +-1
    cnt = np.bincount([i for i in draws if 90 <= i < 99], minlength=99)[90:99]
    assert cnt.max() - cnt.min() <= 1
    shards = [list(islice(class_aware_stream(imgs, seed=0, rank=r, world_size=2), 450)) for r in range(2)]
    assert [x for pair in zip(*shards) for x in pair] == draws
    assert list(islice(class_aware_stream(imgs, seed=1), 90)) != draws[:90]
    with pytest.raises(ValueError, match="at least one image"):
        class_aware_stream([[], []])
