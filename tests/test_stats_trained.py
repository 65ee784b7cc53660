"""The trained-contrast verdict rule (stats.decide_trained), seed calibrations and reconcile()."""
import math

import numpy as np
import pytest

from paperlib.metrics import stats

CAL = {"C2/x": {"seed_std": float(np.std([1.0, 2.0, 3.0], ddof=1)), "per_seed": [1.0, 2.0, 3.0],
                "command": "python benchmarks/calibrate.py --seeds 0 1 2"}}


def test_no_seed_std_is_inconclusive_even_with_a_tight_item_interval():
    v = stats.decide_trained(5.0, 4.0, 6.0, expect="+", min_effect=0.5)
    assert v.verdict == "inconclusive" and v.evidence["seed_std"] is None
    assert "no seed std" in v.reason


def test_held_and_not_held_need_the_floor_on_both_sides():
    # per-seed contrasts: mean 1.0, std 0.1 -> floor max(0.2, 0.5) = 0.5
    assert stats.decide_trained(1.0, 0.9, 1.1, expect="+", min_effect=0.5, per_seed=[0.9, 1.0, 1.1]).verdict == "held"
    assert stats.decide_trained(-1.0, -1.1, -0.9, expect="+", min_effect=0.5,
                                per_seed=[-0.9, -1.0, -1.1]).verdict == "not held"
    # below the stated minimum: inconclusive on BOTH sides, although the intervals exclude 0
    small = stats.decide_trained(-0.3, -0.35, -0.25, expect="+", min_effect=0.5, per_seed=[-0.31, -0.3, -0.29])
    assert small.verdict == "inconclusive" and "within max(2 x seed std" in small.reason
    assert stats.decide_trained(0.3, 0.25, 0.35, expect="+", min_effect=0.5,
                                per_seed=[0.31, 0.3, 0.29]).verdict == "inconclusive"
    # expect "-": the sign flips
    assert stats.decide_trained(-1.0, expect="-", min_effect=0.1, seed_std=0.2).verdict == "held"
    assert stats.decide_trained(1.0, expect="-", min_effect=0.1, seed_std=0.2).verdict == "not held"


def test_seed_std_widens_the_item_interval():
    # item interval [0.9, 1.1] excludes 0, but the seed std 0.6 (floor 1.2 > diff) makes it inconclusive
    v = stats.decide_trained(1.0, 0.9, 1.1, expect="+", min_effect=0.0, seed_std=0.6, seed_std_source="test")
    assert v.verdict == "inconclusive"
    lo, hi = v.evidence["ci95"]
    assert lo == pytest.approx(1.0 - math.hypot(0.1, stats.Z95 * 0.6))
    assert hi == pytest.approx(1.0 + math.hypot(0.1, stats.Z95 * 0.6))
    assert lo < 0 < hi and v.evidence["ci95_items"] == [0.9, 1.1]
    # a wide item interval alone also keeps it inconclusive, however small the seed std
    assert stats.decide_trained(1.0, -0.2, 2.2, expect="+", min_effect=0.0, seed_std=0.01).verdict == "inconclusive"
    # no item interval: diff +- 1.96 s
    v = stats.decide_trained(1.0, expect="+", min_effect=0.0, seed_std=0.4)
    assert v.verdict == "held" and v.evidence["ci95"][0] == pytest.approx(1.0 - stats.Z95 * 0.4)


def test_seed_std_sources_and_their_order():
    v = stats.decide_trained(5.0, 4.0, 6.0, expect="+", min_effect=0.5, calibration=stats.calibration_entry(CAL, "C2/x"))
    assert v.evidence["seed_std"] == pytest.approx(1.0) and v.evidence["floor"] == pytest.approx(2.0)
    assert v.verdict == "held" and "calibration (3 seeds): python benchmarks/calibrate.py" in v.evidence["seed_std_source"]
    # the calibration says the contrast moves by 1.0 between seeds: 1.5 is not enough
    assert stats.decide_trained(1.5, 1.4, 1.6, expect="+", min_effect=0.5,
                                calibration=CAL["C2/x"]).verdict == "inconclusive"
    # measured per-seed contrasts win over the calibration
    v = stats.decide_trained(1.5, expect="+", min_effect=0.5, per_seed=[1.5, 1.5], calibration=CAL["C2/x"])
    assert v.evidence["seed_std"] == 0.0 and v.verdict == "held"
    assert "measured over 2" in v.evidence["seed_std_source"]
    # one per-seed value only: falls back to the calibration
    assert stats.decide_trained(1.5, expect="+", min_effect=0.5, per_seed=[1.5],
                                calibration=CAL["C2/x"]).evidence["seed_std"] == pytest.approx(1.0)


def test_bad_arguments_and_calibrations_are_refused():
    with pytest.raises(ValueError, match="min_effect"):
        stats.decide_trained(1.0, expect="+", min_effect=None, seed_std=0.1)
    with pytest.raises(ValueError, match="expect"):
        stats.decide_trained(1.0, expect="up", min_effect=0.1, seed_std=0.1)
    with pytest.raises(ValueError, match="both ends"):
        stats.decide_trained(1.0, 0.5, None, expect="+", min_effect=0.1, seed_std=0.1)
    assert stats.decide_trained(float("nan"), expect="+", min_effect=0.1, seed_std=0.1).verdict == "inconclusive"
    assert stats.calibration_entry(CAL, "missing") is None and stats.calibration_entry(None, "C2/x") is None
    bad = {"k": {**CAL["C2/x"], "seed_std": 0.3}}
    with pytest.raises(ValueError, match="not the std"):
        stats.calibration_entry(bad, "k")
    with pytest.raises(ValueError, match=">= 3 seeds"):
        stats.calibration_entry({"k": {**CAL["C2/x"], "per_seed": [1.0, 2.0]}}, "k")
    with pytest.raises(ValueError, match="command"):
        stats.calibration_entry({"k": {**CAL["C2/x"], "command": ""}}, "k")


def test_reconcile():
    held = stats.decide_trained(1.0, expect="+", min_effect=0.1, seed_std=0.1)
    r = stats.reconcile({0: held, 1: "held"})
    assert r == {"verdict": "held", "agree": True, "by_seed": {0: "held", 1: "held"}}
    r = stats.reconcile({0: "inconclusive", 1: "held"})
    assert r["verdict"] == "inconclusive" and r["agree"] is False
    r = stats.reconcile({0: "not held", 1: "held", 2: "held"})
    assert r["verdict"] == "inconclusive" and not r["agree"]
    assert stats.reconcile({0: "not held"})["verdict"] == "not held"
    with pytest.raises(ValueError):
        stats.reconcile({0: "held", 1: "maybe"})
    with pytest.raises(ValueError):
        stats.reconcile({})
