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
    # one seed each: the paired bootstrap over validation images excludes 0, but one training run and no
    # seed calibration -> inconclusive (trained-contrast rule)
    one = [_fake(a, 0, 0.5, 0.3, n=2000), _fake(b, 0, 0.1, 0.1, n=2000)]
    v = ex.contrast(one, a, b, key="val_err", expect="-")
    assert v.verdict == "inconclusive" and v.evidence["ci95_items"][1] < 0 and v.evidence["seed_std"] is None
    # same model, identical predictions -> inconclusive
    same = [_fake(a, 0, 0.3, 0.3), {**_fake(b, 0, 0.3, 0.3), "val_correct": _fake(a, 0, 0.3, 0.3)["val_correct"]}]
    assert ex.contrast(same, a, b).verdict == "inconclusive"
    # C4: ablation hurts both; grouped still better without shortcuts
    abl = [_fake(a, 0, 0.7, 0.6, shortcut=False, n=2000), _fake(b, 0, 0.4, 0.3, shortcut=False, n=2000)]
    assert ex.verdict_c4(one, abl, [a, b]).verdict == "inconclusive"
    assert ex.verdict_c4(res, abl + [{**r, "seed": 1} for r in abl], [a, b]).verdict == "held"
    assert ex.verdict_c4(one, [], [a, b]).verdict == "inconclusive"
    # two seeds in one arm only: sqrt(2) x that arm's seed std is the contrast's seed std
    mixed = res + [{**_fake(a, 0, 0.5, 0.5), "shortcut": False, "val_err": 0.45}]
    v = ex.contrast(mixed, a, a, expect="+", shortcut_b=False)
    assert v.verdict == "held" and abs(v.evidence["seed_std"] - np.sqrt(2) * np.std([0.40, 0.41], ddof=1)) < 1e-12
    mixed[-1]["val_err"] = 0.42     # diff 0.015 < floor 2 x 0.01: inconclusive
    assert ex.contrast(mixed, a, a, expect="+", shortcut_b=False).verdict == "inconclusive"
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


def test_claims_are_declared_library_side():
    a, b = "resnext_mini_1x32d", "resnext_mini_8x7d"
    cfg = dataclasses.replace(get_config("01_resnext", "ci"), c1_pair=[a, b], c2_models=[], c5_pairs=[],
                              throughput_models=[a, b])
    one = [_fake(a, 0, 0.5, 0.3, n=2000), _fake(b, 0, 0.1, 0.1, n=2000)]
    abl = [_fake(a, 0, 0.7, 0.6, shortcut=False, n=2000), _fake(b, 0, 0.4, 0.3, shortcut=False, n=2000)]
    tp = [{"model": a, "s_per_gmac": [1.0, 1.1, 1.05]}, {"model": b, "s_per_gmac": [2.0, 2.1, 2.05]}]
    forms, t2, cx = ex.forms_equivalence(hw=6), ex.table2_rows(), ex.complexity_rows(ex.CI_ANCHOR_MODELS)
    cs = ex.claims(cfg, forms_rows=forms, t2_rows=t2, cx_rows=cx, results=one, ablation=abl,
                   by_arm={"synthetic": one}, tp=tp)
    assert [c["claim_id"] for c in cs] == ["C3", "C1", "C2", "C4", "C5", "C6"]
    assert all(isinstance(c["verdict"], Verdict) and c["statement"] and c["paper"] for c in cs)
    want = {"C3": ex.verdict_c3(forms, t2, cx), "C1": ex.verdict_c1(one, [a, b]), "C2": ex.verdict_c2(one, []),
            "C4": ex.verdict_c4(one, abl, [a, b]), "C5": ex.verdict_c5_arms({"synthetic": one}, []),
            "C6": ex.verdict_c6(tp, a, [b])}
    assert {c["claim_id"]: c["verdict"] for c in cs} == want
    assert [c["trained"] for c in cs] == [False, True, True, True, True, False]
    # C4 from one seed per arm: no seed std, so inconclusive by the trained-contrast rule
    assert (want["C3"].verdict, want["C4"].verdict, want["C6"].verdict) == ("held", "inconclusive", "held")
    assert f"({b} vs {a})" in cs[1]["statement"]
    # C6 compares the dense model only with grouped ones (cardinality > 1)
    cfg2 = dataclasses.replace(cfg, throughput_models=[a, a])
    c6 = ex.claims(cfg2, forms_rows=forms, t2_rows=t2, cx_rows=cx, results=one, ablation=abl, by_arm={}, tp=tp)[-1]
    assert c6["verdict"] == ex.verdict_c6(tp, a, [])


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
                + [m for pair in cfg.c5_pairs for m in pair] + list(cfg.throughput_models) \
                + [m for pair in cfg.fig5_pairs for m in pair]:
            assert n in names, (p, n)
        assert set(cfg.c1_pair) <= set(cfg.models)
        assert {m for pair in cfg.fig5_pairs for m in pair} <= set(cfg.models)   # every panel is trained


# ----------------------------------------------------------------------------- torchrun: global batch
def test_per_rank_batch_is_global_over_world():
    assert ex.per_rank_batch(256, 8) == 32 and ex.per_rank_batch(256, 1) == 256
    import pytest
    with pytest.raises(ValueError, match="divisible"):
        ex.per_rank_batch(256, 3)


def test_loaders_split_the_global_batch_per_rank(tmp_path, monkeypatch):
    import pytest
    from torch.utils.data import DistributedSampler

    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path))
    cfg = dataclasses.replace(get_config("01_resnext", "ci"), n_train=32, n_val=18, batch_size=16)
    one = ex.make_loaders(cfg, seed=0)                      # one process: the loader's batch = batch_size
    assert one[0].batch_size == 16 and not isinstance(one[0].sampler, DistributedSampler)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")                  # a fake torchrun world, no process group
    assert ex.world_size() == 4
    tr, va, _ = ex.make_loaders(cfg, seed=0)
    assert tr.batch_size == 4                              # 16 global = 4 ranks x 4
    for ld in (tr, va):
        assert isinstance(ld.sampler, DistributedSampler) and (ld.sampler.num_replicas, ld.sampler.rank) == (4, 1)
    tc = ex.train_config(cfg, 0)
    assert tc.lr == cfg.lr and tc.batch_size == 16         # lr belongs to the global batch, unscaled
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="global batch and must be divisible"):
        ex.make_loaders(cfg, seed=0)


# ----------------------------------------------------------------------------- torchrun: per-item results
def _shards(n, world, drop_last=False):
    from torch.utils.data import DistributedSampler

    return [list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop_last))
            for r in range(world)]


def test_merge_rank_items_dataset_order_each_item_once():
    import pytest

    n, world = 10, 4                                        # 10 items on 4 ranks: padded to 12 (0, 1 twice)
    shards = _shards(n, world)
    assert sum(map(len, shards)) == 12
    truth = [i % 3 == 0 for i in range(n)]
    gathered = [(idx, [truth[i] for i in idx]) for idx in shards]
    assert ex.merge_rank_items(gathered, n) == truth
    # single process = identity
    assert ex.merge_rank_items([(list(range(n)), truth)], n) == truth
    # padding duplicates: the first occurrence wins (rank order), not the padded copy
    dup = [(idx, [("r%d" % r, i) for i in idx]) for r, idx in enumerate(shards)]
    merged = ex.merge_rank_items(dup, n)
    assert [m[1] for m in merged] == list(range(n)) and merged[0] == ("r0", 0) and merged[1] == ("r1", 1)
    # an item no rank scored (drop_last=True sampler) or a length mismatch is an error
    with pytest.raises(ValueError, match="missing"):
        ex.merge_rank_items([(idx, [0] * len(idx)) for idx in _shards(n, world, drop_last=True)], n)
    with pytest.raises(ValueError, match="indices but"):
        ex.merge_rank_items([(list(range(n)), truth[:-1])], n)
    with pytest.raises(ValueError, match="outside"):
        ex.merge_rank_items([(list(range(n + 1)), truth + [True])], n)


def test_per_item_correct_gathers_shards(monkeypatch):
    """per_item_correct under a fake 3-rank world: each rank's shard, all_gather_object faked with the
    other ranks' results, gives the single-process answer in dataset order."""
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    torch.manual_seed(0)
    n, world = 11, 3
    ds = TensorDataset(torch.randn(n, 4), torch.randint(0, 3, (n,)))
    model = torch.nn.Linear(4, 3)
    full = ex.per_item_correct(model, DataLoader(ds, batch_size=4), "cpu")
    with torch.no_grad():
        assert full == (model(ds.tensors[0]).argmax(1) == ds.tensors[1]).int().tolist()
    loaders = [DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, num_replicas=world, rank=r, shuffle=False))
               for r in range(world)]
    per_rank = []
    monkeypatch.setattr(ex, "all_gather_object", lambda obj: per_rank.append(obj) or [obj])
    for ld in loaders:                                      # each rank alone: its shard, then the merge fails
        try:
            ex.per_item_correct(model, ld, "cpu")
        except ValueError:
            pass
    monkeypatch.setattr(ex, "all_gather_object", lambda obj: per_rank)
    assert ex.per_item_correct(model, loaders[0], "cpu") == full
    import pytest
    with pytest.raises(ValueError, match="sequential or distributed"):
        ex.loader_indices(DataLoader(ds, batch_size=2, shuffle=True))


# ----------------------------------------------------------------------------- ImageNet augmentation
def test_lighting_transform():
    from paperlib.data.classification import IMAGENET_PCA, Lighting

    img = torch.rand(3, 5, 6)
    assert torch.equal(Lighting(0.0)(img), img)
    L = Lighting(0.1, generator=torch.Generator().manual_seed(3))
    alpha = torch.randn(3, generator=torch.Generator().manual_seed(3)) * 0.1
    out = L(img)
    expect = np.array(IMAGENET_PCA["eigvec"]) @ (alpha.numpy() * np.array(IMAGENET_PCA["eigval"]))
    delta = (out - img).reshape(3, -1)
    assert np.allclose(delta.numpy(), expect[:, None], atol=1e-6)   # the same offset at every pixel
    fixed = np.array([0.5, -1.0, 2.0])
    assert np.allclose(L.offset(fixed).numpy(), np.array(IMAGENET_PCA["eigvec"]) @ (fixed * np.array(IMAGENET_PCA["eigval"])),
                       atol=1e-7)
    # the spec's values (fb.resnet.torch's PCA)
    assert IMAGENET_PCA["eigval"] == (0.2175, 0.0188, 0.0045)
    assert IMAGENET_PCA["eigvec"][1] == (-0.5808, -0.0045, -0.8140)


def test_paper_profile_uses_imagenet_colour_augmentation(tmp_path):
    from PIL import Image
    from torchvision.transforms import v2

    from paperlib.data.classification import Lighting

    for split in ("train", "val"):
        for c in ("n01", "n02"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(2):
                arr = np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(arr).save(tmp_path / split / c / f"{i}.png")
    cfg = dataclasses.replace(get_config("01_resnext", "paper"), num_workers=0, image_size=32, num_classes=2)
    assert (cfg.color_jitter, cfg.lighting) == (0.4, 0.1)
    tr, va, meta = ex.make_loaders(cfg, str(tmp_path), seed=0)
    tf = tr.dataset.transform.transforms
    kinds = [type(t) for t in tf]
    assert v2.RandomResizedCrop in kinds and v2.ColorJitter in kinds and Lighting in kinds
    cj = next(t for t in tf if isinstance(t, v2.ColorJitter))
    assert cj.brightness == cj.contrast == cj.saturation == (0.6, 1.4) and cj.hue is None
    assert next(t for t in tf if isinstance(t, Lighting)).alphastd == 0.1
    # order: float conversion, jitter, lighting, then normalise
    assert kinds.index(v2.ToDtype) < kinds.index(v2.ColorJitter) < kinds.index(Lighting) < kinds.index(v2.Normalize)
    x, y = next(iter(tr))
    assert x.shape == (4, 3, 32, 32) and torch.isfinite(x).all()
    assert not any(isinstance(t, (v2.ColorJitter, Lighting)) for t in va.dataset.transform.transforms)
    # every other profile keeps its augmentation unchanged (no jitter / lighting)
    for p in ("ci", "default", "gpu"):
        c = get_config("01_resnext", p)
        assert (c.color_jitter, c.lighting) == (0.0, 0.0), p


# ----------------------------------------------------------------------------- Fig 5 panels
def test_fig5_panels():
    res = [_fake(m, 0, 0.3, 0.2) for m in ("resnet50", "resnext50_32x4d", "resnet101", "resnext101_32x4d")]
    paper = get_config("01_resnext", "paper")
    assert ex.fig5_pairs(paper) == [["resnet50", "resnext50_32x4d"], ["resnet101", "resnext101_32x4d"]]
    fig = ex.fig5_panels(res, ex.fig5_pairs(paper))
    assert len(fig.axes) == 2 and [a.get_title() for a in fig.axes] == ["resnet50 vs resnext50_32x4d",
                                                                          "resnet101 vs resnext101_32x4d"]
    # a pair that was not trained is left out; one pair = the single-panel fig5
    assert len(ex.fig5_panels(res[:2], ex.fig5_pairs(paper)).axes) == 1
    default = get_config("01_resnext", "default")
    assert ex.fig5_pairs(default) == [default.c1_pair]
    assert ex.fig5_panels(res, [["resnet50", "resnext50_32x4d"]]).axes[0].get_title().startswith("Fig 5 analogue")


# ----------------------------------------------------------------------------- arms (several datasets per profile)
def test_single_dataset_profiles_are_one_arm_of_themselves():
    for p in ("ci", "default", "paper"):
        cfg = get_config("01_resnext", p)
        assert cfg.arms == [] and cfg.stem is None and cfg.crop is None
        arms = ex.resolve_arms(cfg)
        assert len(arms) == 1 and arms[0].cfg is cfg and arms[0].name == cfg.dataset
        assert arms[0].data_root("/d") == "/d" and ex.primary_arm(arms, cfg.c1_pair) is arms[0]


def test_gpu_profile_arms_and_matched_c1_pair():
    cfg = get_config("01_resnext", "gpu")
    arms = {a.name: a for a in ex.resolve_arms(cfg)}
    assert list(arms) == ["tiny_imagenet", "cifar10", "cifar100"]
    tiny = arms["tiny_imagenet"]
    assert (tiny.cfg.dataset, tiny.cfg.image_size, tiny.cfg.num_classes, tiny.cfg.stem) == \
        ("tiny-imagenet", 64, 200, "imagenet_nopool")
    assert tiny.cfg.models == ["resnet50", "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d", "resnext50_32x4d"]
    assert tiny.data_root("/data") == "/data/tiny-imagenet-200" and tiny.data_root(None) is None
    assert ex.primary_arm(list(arms.values()), cfg.c1_pair) is tiny
    # C1 is judged on the spec's equal-complexity pair, counted as the arm builds it (64 px, no maxpool, 200 classes)
    assert cfg.c1_pair == ["resnet50", "resnext50_32x4d"]
    cx = ex.pair_complexity(tiny.cfg, cfg.c1_pair)
    assert cx["matched"] and abs(cx["params_rel_diff"]) < 0.03 and abs(cx["macs_rel_diff"]) < 0.04
    # the old gpu C1 pair (1x64d vs 4x64d) is not matched: the check can fail
    assert not ex.pair_complexity(arms["cifar10"].cfg, ["resnext29_1x64d", "resnext29_4x64d"])["matched"]
    for n in ("cifar10", "cifar100"):
        c = arms[n].cfg
        assert c.dataset == n and c.num_classes == int(n[5:]) and c.epochs == 100 and c.milestones == [50, 75]
        assert {m for p in cfg.c5_pairs for m in p} <= set(c.models)
        assert arms[n].data_root("/data") == "/data"


def test_bad_arm_specs_are_clear_errors():
    import pytest

    from paperlib.config import ConfigError

    ok = dict(name="a", dataset="cifar10")
    cases = [([dict(ok, epoch=3)], "unknown key.*'epoch'"), ([dict(dataset="cifar10")], "'name' is required"),
             ([dict(ok, name="a b")], "must match"), ([ok, dict(ok)], "duplicate arm name 'a'"),
             ([dict(name="a")], "'dataset' is required"), ([dict(ok, epochs="3")], r"\['epochs'\].*expected int"),
             ([dict(ok, models=[])], "must not be empty"), (["cifar10"], "expected list\\[dict\\]"),
             ([dict(ok, arms=[])], "unknown key.*'arms'")]
    for arms, msg in cases:
        with pytest.raises(ConfigError, match=msg):
            get_config("01_resnext", "ci", {"arms": arms})
    cfg = get_config("01_resnext", "ci", {"arms": [dict(ok, models=["resnext_mini_1x32d", "resnext29_nope"])]})
    with pytest.raises(ValueError, match="arm 'a': unknown model.*resnext29_nope"):
        ex.resolve_arms(cfg)


def _fake_tiny_imagenet(root, classes=("n01", "n02"), n=2, size=64):
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "val" / "images").mkdir(parents=True)
    ann = []
    for c in classes:
        (root / "train" / c / "images").mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
                root / "train" / c / "images" / f"{c}_{i}.JPEG")
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
                root / "val" / "images" / f"val_{c}_{i}.JPEG")
            ann.append(f"val_{c}_{i}.JPEG\t{c}\t0\t0\t{size}\t{size}")
    (root / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")


def _fake_cifar100(root, n_train=8, n_test=6):
    import pickle

    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in (("train", n_train), ("test", n_test)):
        with open(d / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                         "fine_labels": [int(v) for v in rng.integers(0, 100, n)]}, f)
    with open(d / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)]}, f)


def test_arms_train_tiny_imagenet_and_cifar100(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "cache"))
    _fake_tiny_imagenet(tmp_path / "data" / "tiny")
    _fake_cifar100(tmp_path / "data")
    arms_spec = [dict(name="tiny", dataset="tiny-imagenet", data_subdir="tiny", image_size=32, num_classes=200,
                      models=["resnext50_32x4d"], stem="imagenet_nopool", crop="padcrop"),
                 dict(name="c100", dataset="cifar100", num_classes=100, image_size=32,
                      models=["resnext29_1x64d"], c2_models=[])]
    cfg = get_config("01_resnext", "ci", {"arms": arms_spec, "batch_size": 4, "max_steps": 1,
                                          "c1_pair": ["resnext50_32x4d", "resnext50_32x4d"]})
    arms = ex.resolve_arms(cfg)
    by_arm = {}
    for arm in arms:
        by_arm[arm.name], loaders = ex.train_arm(arm, str(tmp_path / "data"), seed=0, log=None)
        assert loaders[2]["name"] == arm.cfg.dataset
    (t,), (c,) = by_arm["tiny"], by_arm["c100"]
    assert t["arm"] == "tiny" and np.isfinite(t["train_loss"]) and len(t["val_correct"]) == 4
    # the arm's stem (no maxpool) and head are what was trained and counted
    assert t["params"] == ex.model_complexity("resnext50_32x4d", (3, 32, 32), num_classes=200,
                                              stem="imagenet_nopool")["params"]
    assert c["arm"] == "c100" and len(c["val_correct"]) == 6 and c["params"] == 4_914_250 + 92_250
    assert ex.primary_arm(arms, cfg.c1_pair).name == "tiny"
    assert [a.name for a in ex.cifar_arms(by_arm, arms)] == ["c100"]
    fig = ex.fig7(by_arm, arms)
    assert len(fig.axes) == 1
    rows = ex.table7_rows(by_arm, arms)
    assert rows[0]["model"] == "resnext29_1x64d" and rows[-1]["c100 err % (paper)"] == 20.50


def test_fig7_one_point_per_model_and_c5_over_arms():
    cfg = get_config("01_resnext", "gpu")
    arms = [a for a in ex.resolve_arms(cfg) if a.name != "tiny_imagenet"]
    models = arms[0].cfg.models
    by_arm = {}
    for k, arm in enumerate(arms):
        res = []
        for i, m in enumerate(models):
            for s in (0, 1):
                meta = ex.get_model_meta(m)
                err = 0.3 - 0.02 * meta["cardinality"] + 0.001 * s + 0.1 * k     # more C -> lower error
                r = _fake(m, s, err, 0.2)
                r.update(val_err=err, C=meta["cardinality"], d=meta["bottleneck_width"],
                         params=ex.model_complexity(m)["params"])
                res.append(r)
        by_arm[arm.name] = res
    fig = ex.fig7(by_arm, arms)
    assert len(fig.axes) == 2
    for ax, arm in zip(fig.axes, arms):
        ours = [ln for ln in ax.lines if ln.get_gid() == "fig7_ours"]
        assert len(ours) == 1 and len(ours[0].get_xdata()) == len(models)
        assert sorted(np.round(ours[0].get_xdata(), 3)) == sorted(round(ex.model_complexity(m)["params"] / 1e6, 3) for m in models)
        paper = [ln for ln in ax.lines if ln.get_gid() == "fig7_paper"][0]
        assert len(paper.get_xdata()) == 3 and arm.cfg.dataset in ax.get_title()
    rows = {r["model"]: r for r in ex.table7_rows(by_arm, arms)}
    assert rows["resnext29_8x64d (paper)"]["cifar10 err % (paper)"] == 3.65
    assert rows["resnext29_8x64d (paper)"]["cifar100 err % (paper)"] == 17.77
    assert rows["resnext29_1x64d"]["cifar10 err % (ours)"].startswith("28.05 ±")
    # C5: cardinality models (later in `models`) have lower error in both arms -> held on both
    v = ex.verdict_c5_arms(by_arm, cfg.c5_pairs)
    assert v.verdict == "held" and v.evidence["arms"] == ["cifar10", "cifar100"]
    # one arm only: exactly verdict_c5
    one = {"cifar10": by_arm["cifar10"]}
    assert ex.verdict_c5_arms(one, cfg.c5_pairs).verdict == ex.verdict_c5(by_arm["cifar10"], cfg.c5_pairs).verdict
    assert ex.verdict_c5_arms(one, []).verdict == "inconclusive"
