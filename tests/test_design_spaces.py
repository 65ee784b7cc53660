"""Design spaces: Table 1 sizes, constraints of sampled models, complexity window, exact sampling."""
import math

import numpy as np
import pytest
import torch

from paperlib.design_spaces import (PAPER_SPACE_SIZES, SPACES, anynet_complexity, check_constraints,
                                    model_from_sample, sample, space_dim, space_size, _draw_seq)
from paperlib.metrics import complexity

SMALL = dict(flop_window=(3e6, 5e6), input_size=32, stem="cifar", stem_width=16, num_stages=3,
             num_classes=10)


def test_table1_sizes_and_dims():
    for name, paper in PAPER_SPACE_SIZES.items():
        assert space_size(name) == pytest.approx(paper, rel=0.006), name
    assert space_size("AnyNetX_A") == (16 * 128 * 3 * 6) ** 4
    assert space_size("RegNet") == 64 ** 4 * 6 * 3
    assert [space_dim(n) for n in ("AnyNetX_A", "AnyNetX_B", "AnyNetX_C", "AnyNetX_D", "AnyNetX_E", "RegNet")] \
        == [16, 13, 10, 10, 10, 6]
    # exact counting of non-decreasing sequences: C(128 + 3, 4) instead of 128^4 / 4!
    assert space_size("AnyNetX_D", exact=True) == 16 ** 4 * math.comb(131, 4) * 18


@pytest.mark.parametrize("name", sorted(SPACES))
@pytest.mark.parametrize("profile", ["paper", "small"])
def test_samples_satisfy_constraints_and_window(name, profile):
    kw = SMALL if profile == "small" else dict(flop_window=(360e6, 400e6))
    recs = sample(name, 12, np.random.default_rng(1), **kw)
    lo, hi = kw["flop_window"]
    assert len(recs) == 12
    for r in recs:
        assert lo <= r["flops"] <= hi
        chk = check_constraints(name, r)
        assert all(chk.values()), (name, chk, r["cfg"])
        assert len(r["cfg"]["depths"]) == kw.get("num_stages", 4)
        assert r["space"] == name
    # reproducible from the seed
    again = sample(name, 12, np.random.default_rng(1), **kw)
    assert [r["cfg"] for r in again] == [r["cfg"] for r in recs]


def test_shared_params_really_vary_in_A_only():
    a = sample("AnyNetX_A", 30, 0, **SMALL)
    assert any(len(set(r["arch"]["bs"])) > 1 for r in a) and any(len(set(r["arch"]["gs"])) > 1 for r in a)
    assert any(r["arch"]["ws"] != sorted(r["arch"]["ws"]) for r in a)
    e = sample("AnyNetX_E", 30, 0, **SMALL)
    assert all(r["arch"]["ds"] == sorted(r["arch"]["ds"]) for r in e)


def test_analytic_complexity_matches_module():
    for name in ("AnyNetX_A", "AnyNetX_E", "RegNet"):
        for r in sample(name, 2, 3, **SMALL) + sample(name, 1, 3, flop_window=(360e6, 400e6), se=True):
            size = 32 if r["cfg"]["stem"] == "cifar" else 224
            with torch.device("meta"):
                m = model_from_sample(r)
            cx = complexity(m, (3, size, size))
            assert cx == {k: r[k] for k in ("flops", "params", "acts")}, (name, r["cfg"])


def test_nondecreasing_sampler_is_exact_conditional():
    vals, pmf = np.array([1, 2, 3]), np.array([0.5, 0.3, 0.2])
    rng = np.random.default_rng(0)
    n = 20000
    counts = {}
    for _ in range(n):
        s = tuple(_draw_seq(rng, vals, pmf, 2, True))
        counts[s] = counts.get(s, 0) + 1
    # target: P(x1, x2) ∝ p(x1) p(x2) on x1 <= x2
    pairs = [(i, j) for i in range(3) for j in range(3) if i <= j]
    z = sum(pmf[i] * pmf[j] for i, j in pairs)
    for i, j in pairs:
        assert counts.get((vals[i], vals[j]), 0) / n == pytest.approx(pmf[i] * pmf[j] / z, abs=0.015)
    assert all(a <= b for a, b in counts)


def test_window_rejection_error():
    with pytest.raises(RuntimeError):
        sample("AnyNetX_A", 1, 0, flop_window=(1, 2), max_tries=50)
