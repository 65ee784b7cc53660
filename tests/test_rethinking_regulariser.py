"""05 Rethinking ImageNet Pre-training, C6 (pre-training is not an automatic regulariser): the held-out split
for the re-tuning and the verdict rule of paperlib.experiments.rethinking_pretraining_regulariser. The gpu
path that trains the three arms runs at toy scale in tests/test_profiles_rethinking.py."""
import os

import pytest

from paperlib.configs.rethinking_pretraining import PROFILES, Config
from paperlib.experiments import rethinking_pretraining as rp
from paperlib.experiments import rethinking_pretraining_regulariser as reg


@pytest.fixture(scope="module")
def train_ds():
    os.environ.setdefault("PAPERLIB_DATA", "/tmp/paperlib-test-data")
    return rp.load_data(Config(**PROFILES["ci"]))["train"]


def test_split_heldout_is_disjoint_seeded_and_unflipped(train_ds):
    rest, held = reg.split_heldout(train_ds, 2, seed=0)
    assert len(held) == 2 and len(rest) == len(train_ds) - 2
    assert not set(rest.ids) & set(held.ids) and sorted(rest.ids + held.ids) == sorted(train_ds.ids)
    assert held.hflip is False and rest.hflip == train_ds.hflip and train_ds.ids == sorted(train_ds.ids)
    assert reg.split_heldout(train_ds, 2, seed=0)[1].ids == held.ids          # deterministic
    small = rp.subset(rest, 0.5, 0)                                          # the training subset: never held out
    assert not set(small.ids) & set(held.ids)
    for n in (0, len(train_ds)):
        with pytest.raises(ValueError, match="c6_tune_images"):
            reg.split_heldout(train_ds, n)


def _run(ap):
    return {"metrics": {"AP": ap, "AP50": 2 * ap, "AP75": ap / 2}, "E": None, "curve": [[3, ap / 2], [6, ap]]}


def _study(tuned, default, scratch, lr_tuned=0.04):
    runs = {"pretrained default": {s: _run(a) for s, a in enumerate(default)},
            "pretrained re-tuned": {s: _run(a) for s, a in enumerate(tuned)},
            "scratch default": {s: _run(a) for s, a in enumerate(scratch)}}
    return {"regulariser": {"fraction": 0.1, "train_images": 40, "tune_images": 8, "schedule": 2.0,
                            "lr_default": 0.02, "lr_tuned": lr_tuned, "grid_tune_AP": {0.02: 1.0, 0.04: 2.0},
                            "runs": runs}}


@pytest.fixture
def item_interval(monkeypatch):
    """The bootstrap over test images, replaced by the pooled value +- 0.2 (the runs here have no COCOeval)."""
    def fake(terms, n_boot=200, seed=0):
        return fake.value, fake.value - 0.2, fake.value + 0.2

    monkeypatch.setattr(rp, "boot_contrast", fake)
    return fake


CFG = Config(**{**PROFILES["ci"], "min_effect": 1.0})


@pytest.mark.parametrize("tuned,default,verdict", [
    ([6.0, 6.4], [3.0, 3.2], "held"),             # re-tuning gains 3.1 AP, seed std 0.14: over the floor of 1
    ([3.0, 3.1], [3.0, 3.2], "inconclusive"),     # no gain
    ([3.5, 3.7], [3.0, 3.2], "inconclusive"),     # a gain, but under the stated minimum of 1 AP
    ([6.0, 2.0], [3.0, 3.2], "inconclusive"),     # seed noise (std of the contrast 2.9) swamps a 0.9 gain
    ([1.0, 1.2], [3.0, 3.2], "not held"),         # the held-out pick lost 2 AP on the test split
])
def test_c6_verdict_rule(item_interval, tuned, default, verdict):
    item_interval.value = sum(tuned) / 2 - sum(default) / 2
    v = reg.claim_c6(_study(tuned, default, [1.0, 1.0]), CFG)
    assert v.verdict == verdict, v.reason
    assert v.evidence["per_seed"] == pytest.approx([a - b for a, b in zip(tuned, default)])
    assert v.evidence["ap_scratch_default"] == [1.0, 1.0] and v.evidence["picked_default_lr"] is False


def test_c6_one_seed_or_default_pick_is_inconclusive(item_interval):
    item_interval.value = 3.0
    v = reg.claim_c6(_study([6.0], [3.0], [1.0]), CFG)
    assert v.verdict == "inconclusive" and "one training seed" in v.reason
    item_interval.value = 0.0
    v = reg.claim_c6(_study([3.0, 3.2], [3.0, 3.2], [1.0, 1.0], lr_tuned=0.02), CFG)
    assert v.verdict == "inconclusive" and v.evidence["picked_default_lr"] is True


def test_c6_not_run_at_ci_and_default():
    for profile in ("ci", "default"):
        cfg = Config(**PROFILES[profile])
        v = reg.claim_c6({"regulariser": {}}, cfg)
        assert v.verdict == "inconclusive" and v.reason.startswith("not run at this profile")
        assert v.evidence["tested_here"] is False
    cfg = Config(**{**PROFILES["ci"], "c6_fraction": 0.5, "c6_tune_images": 2})
    assert "no pre-trained arm" in reg.claim_c6({"regulariser": {}}, cfg).reason


def test_c6_rows():
    rows = reg.regulariser_rows(_study([6.0, 6.4], [3.0, 3.2], [1.0, 1.2])["regulariser"])
    assert [r["arm"] for r in rows[:3]] == list(reg.ARMS)
    assert rows[1]["lr"] == 0.04 and rows[0]["lr"] == 0.02 and rows[0]["peak AP on curve (first seed)"] == 3.0
    assert [r["lr"] for r in rows[3:]] == [0.02, 0.04] and rows[4]["arm"].endswith("(picked)")
