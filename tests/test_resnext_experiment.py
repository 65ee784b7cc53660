"""paperlib.experiments.resnext: the orchestration behind notebooks/01_resnext.ipynb."""
import dataclasses

import numpy as np
import torch

from paperlib.config import get_config
from paperlib.experiments import resnext as ex
from paperlib.metrics.stats import Verdict

torch.set_num_threads(1)


def test_exact_tables():
    t1 = ex.table1_rows()
    assert [r["stage"] for r in t1][:6] == ["conv1", "conv2", "conv3", "conv4", "conv5", "head"]
    assert t1[1]["resnext50_32x4d"].endswith("[1x1,128; 3x3,128, C=32; 1x1,256] x3")
    assert t1[4]["resnet50"] == "[1x1,512; 3x3,512; 1x1,2048] x3"
    assert "25,028,904" in t1[-2]["resnext50_32x4d"] and "4,089,185,256" in t1[-1]["resnet50"]
    cx = ex.complexity_rows(ex.CI_ANCHOR_MODELS)
    assert all(r["exact"] for r in cx)
    t2 = ex.table2_rows()
    assert all(r["equal"] for r in t2) and [r["group conv width C*d"] for r in t2] == [64, 80, 96, 112, 128]
    forms = ex.forms_equivalence(hw=6)
    assert all(r["max|a-c|"] < 1e-5 and r["max|b-c|"] < 1e-5 for r in forms)
    v = ex.verdict_c3(forms, t2, cx)
    assert isinstance(v, Verdict) and v.verdict == "held", v


def _fake(model, seed, val_err, train_err, shortcut=True, n=200, rng=None):
    rng = rng or np.random.default_rng(seed)
    correct = (rng.random(n) > val_err).astype(int).tolist()
    return {"model": model, "seed": seed, "shortcut": shortcut, "C": 1, "d": 32, "params": 1, "flops": 1,
            "train_loss": train_err, "train_err": train_err, "val_err": float(1 - np.mean(correct)),
            "val_correct": correct, "wall_s": 1.0, "train_images_per_s": 100.0,
            "history": {"epoch": [1, 2], "train_err": [0.5, train_err], "val_err": [0.5, val_err],
                        "images_per_sec": [100.0, 100.0]}}


def test_verdicts_from_fake_results():
    a, b = "resnext_mini_1x32d", "resnext_mini_8x7d"
    # two seeds, b clearly better than a -> held
    res = [_fake(a, 0, 0.40, 0.30), _fake(a, 1, 0.41, 0.31), _fake(b, 0, 0.20, 0.10), _fake(b, 1, 0.21, 0.11)]
    # make per-seed values exact for the seed-std rule
    for r, v in zip(res, [0.40, 0.41, 0.20, 0.21]):
        r["val_err"] = v
    assert ex.verdict_c1(res, [a, b]).verdict == "held"
    assert ex.verdict_c1(res, [b, a]).verdict == "not held"
    # one seed each: paired bootstrap over validation images
    one = [_fake(a, 0, 0.5, 0.3, n=2000), _fake(b, 0, 0.1, 0.1, n=2000)]
    v = ex.contrast(one, a, b, key="val_err", expect="-")
    assert v.verdict == "held" and v.evidence["ci95"][1] < 0
    # same model, identical predictions -> inconclusive
    same = [_fake(a, 0, 0.3, 0.3), {**_fake(b, 0, 0.3, 0.3), "val_correct": _fake(a, 0, 0.3, 0.3)["val_correct"]}]
    assert ex.contrast(same, a, b).verdict == "inconclusive"
    # C4: ablation hurts both; grouped still better without shortcuts
    abl = [_fake(a, 0, 0.7, 0.6, shortcut=False, n=2000), _fake(b, 0, 0.4, 0.3, shortcut=False, n=2000)]
    assert ex.verdict_c4(one, abl, [a, b]).verdict == "held"
    assert ex.verdict_c4(one, [], [a, b]).verdict == "inconclusive"
    # two seeds in one arm only: 2 x that arm's seed std is the bar
    mixed = res + [{**_fake(a, 0, 0.5, 0.5), "shortcut": False, "val_err": 0.45}]
    v = ex.contrast(mixed, a, a, expect="+", shortcut_b=False)
    assert v.verdict == "held" and abs(v.evidence["seed_std"] - np.std([0.40, 0.41], ddof=1)) < 1e-12
    mixed[-1]["val_err"] = 0.41
    assert ex.contrast(mixed, a, a, expect="+", shortcut_b=False).verdict == "inconclusive"
    # not trained here -> inconclusive with a reason
    assert ex.verdict_c2(one, []).verdict == "inconclusive"
    assert ex.verdict_c5(one, []).verdict == "inconclusive"
    assert ex.contrast(one, a, "resnext_mini_4x12d").verdict == "inconclusive"
    # C6 from throughput rows
    tp = [{"model": a, "s_per_gmac": [1.0, 1.1, 1.05]}, {"model": b, "s_per_gmac": [2.0, 2.1, 2.05]}]
    assert ex.verdict_c6(tp, a, [b]).verdict == "held"
    assert ex.table3_rows(res)[0]["seeds"] == 2
    ep, tr = ex.curves(res, a, "train_err")
    assert ep == [1, 2] and np.allclose(tr, [0.5, 0.305])


def test_tiny_training_and_throughput(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path))
    cfg = dataclasses.replace(get_config("01_resnext", "ci"), max_steps=1, n_train=32, n_val=16, batch_size=16)
    loaders = ex.make_loaders(cfg, seed=0)
    res = ex.train_many(["resnext_mini_1x32d"], cfg, loaders, seeds=[0], log=None)
    r = res[0]
    assert np.isfinite(r["train_loss"]) and 0 <= r["val_err"] <= 1 and len(r["val_correct"]) == 16
    assert r["params"] == 500_010
    rows = ex.table3_rows(res)
    assert rows[0]["model"] == "resnext_mini_1x32d" and rows[0]["seeds"] == 1
    fig = ex.fig5(res, ["resnext_mini_1x32d"])
    assert fig.axes
    tp = ex.throughput(["resnext_mini_1x32d", "resnext_mini_8x7d"], image_size=16, batch=4, rounds=2, steps=1)
    assert len(tp) == 2 and all(len(t["s_per_gmac"]) == 2 and t["train img/s"] > 0 for t in tp)
    assert ex.verdict_c6(tp, "resnext_mini_1x32d", ["resnext_mini_8x7d"]).verdict in ("held", "not held", "inconclusive")


def test_profiles_are_valid():
    for p in ("ci", "default", "gpu", "paper"):
        cfg = get_config("01_resnext", p)
        from paperlib.models import list_models
        names = set(list_models())
        for n in list(cfg.models) + list(cfg.c1_pair) + list(cfg.ablation_models) + list(cfg.c2_models) \
                + [m for pair in cfg.c5_pairs for m in pair] + list(cfg.throughput_models):
            assert n in names, (p, n)
        assert set(cfg.c1_pair) <= set(cfg.models)
