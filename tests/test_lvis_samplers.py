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
