"""09 Early convolutions: exact complexity anchors (8 ImageNet models, Table 3 stems, tiny pair), stem
structure, pycls init, MAE's models unchanged, and the trained path (diverged runs recorded, contrasts
under the seed-noise rule, gpu/paper recipes at toy scale on fake data in the real layouts)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from fakes import skip_cifar_md5, write_cifar

from paperlib.config import get_config
from paperlib.experiments import vit_early_convs as X
from paperlib.experiments import vit_early_convs_report as R
from paperlib.metrics.complexity import complexity
from paperlib.models import create_model, get_model_meta, list_models
from paperlib.models.vit import EC_TABLE3_STEMS, ConvStem, VisionTransformer, conv_stem

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ["vit_p_1gf", "vit_p_4gf", "vit_p_18gf", "vit_p_36gf", "vit_c_1gf", "vit_c_4gf", "vit_c_18gf",
         "vit_c_36gf", "vit_p_tiny", "vit_c_tiny"]
# the spec's anchors, typed here independently of the registry's metadata
ANCHORS = {
    "vit_p_1gf": (1_083_059_944, 4_830_376, 5_520_748), "vit_p_4gf": (3_909_048_808, 18_507_112, 11_040_496),
    "vit_p_18gf": (17_580_319_720, 86_567_656, 23_895_544), "vit_p_36gf": (35_997_187_048, 178_364_392, 37_136_840),
    "vit_c_1gf": (1_079_227_240, 4_567_936, 5_628_385), "vit_c_4gf": (3_965_674_216, 17_754_136, 11_255_770),
    "vit_c_18gf": (17_726_621_416, 81_573_160, 24_024_268), "vit_c_36gf": (35_025_829_864, 167_796_008, 36_606_008),
    "vit_p_tiny": (41_411_146, 572_074, 419_164), "vit_c_tiny": (40_777_354, 546_058, 374_905),
}


def _meta(name):
    with torch.device("meta"):
        return create_model(name)


@pytest.mark.parametrize("name", NAMES)
def test_complexity_anchors_exact(name):
    meta = get_model_meta(name)
    c = complexity(_meta(name), meta["input_size"])
    assert (c["flops"], c["params"], c["acts"]) == ANCHORS[name]
    assert (meta["flops"], meta["params"], meta["acts"]) == ANCHORS[name]


def test_registry_names_and_paper_tolerances():
    assert set(NAMES) <= set(list_models(family="vit_early_convs"))
    rows, ok = R.table1_rows(NAMES[:8])
    assert all(ok.values())
    for r in rows:   # spec: flops within 1 %, params within 0.1 M (Table 1 prints P-18GF as 86.7, Table 2 86.6)
        assert abs(r["flops G"] - r["paper flops G"]) <= 0.01 * r["paper flops G"] + 0.05
        assert abs(r["params M"] - r["paper params M"]) <= 0.15
        assert abs(r["acts M"] - r["paper acts M"]) <= 0.03 * r["paper acts M"] + 0.05


def test_attention_matmuls_counted_by_hand():
    """One block, N = 5 tokens (4 patches + cls), D = 8, 2 heads, MLP 16, 3 classes, 8x8 image, patch 4."""
    m = VisionTransformer(img_size=8, patch_size=4, num_classes=3, embed_dim=8, depth=1, num_heads=2,
                          mlp_ratio=2.0)
    N, D, H = 5, 8, 2
    patch = 4 * 3 * 16 * D + 4 * D
    block = N * (D * 3 * D + 3 * D) + N * (D * D + D) + N * (D * 2 * D + 2 * D) + N * (2 * D * D + D)
    attn = 2 * N * N * D
    head = D * 3 + 3
    c = complexity(m, (3, 8, 8))
    assert c["flops"] == patch + block + attn + head
    assert c["acts"] == 4 * D + N * 3 * D + H * N * N + N * D + N * D + N * 2 * D + N * D + 3


def test_table3_stems_exact_and_14x14():
    rows, ok = R.table3_rows()
    assert ok == {"P": True, "C": True, "S2": True, "S3": True, "S4": True}
    assert all(r["grid"] == "14x14" for r in rows)
    by = {r["stem"]: r for r in rows}
    assert by["C"]["acts"] == 1_204_224 and by["S4"]["acts"] // 100_000 == 28   # spec: C 1.2 M, S4 2.9 M acts
    assert abs(by["S2"]["MACs"] / 1e6 - 422) < 1 and abs(by["S3"]["MACs"] / 1e6 - 458) < 1


def test_stem_structure_bn_relu_and_bias():
    assert all(R.structure_checks().values())
    s = conv_stem(*EC_TABLE3_STEMS["C"])(224, 3, 384)
    assert isinstance(s, ConvStem) and len(s.layers) == 4
    for layer in s.layers:
        assert [type(x) for x in layer] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] and layer[0].bias is None
    assert s.proj.bias is not None and s.proj.kernel_size == (1, 1)
    assert tuple(s(torch.zeros(1, 3, 224, 224)).shape) == (1, 196, 384)
    assert tuple(create_model("vit_c_tiny").patch_embed(torch.zeros(2, 3, 32, 32)).shape) == (2, 64, 96)
    with pytest.raises(ValueError, match="embed_dim"):
        conv_stem(*EC_TABLE3_STEMS["C"])(224, 3, 192)


def test_pycls_init_and_mae_models_unchanged():
    torch.manual_seed(0)
    m = create_model("vit_c_tiny")
    assert m.pos_embed.requires_grad and torch.all(m.head.weight == 0) and torch.all(m.head.bias == 0)
    assert 0.015 < float(m.pos_embed.detach().std()) < 0.025
    b = m.blocks[0].mlp.fc1.bias.detach()
    assert 0 < float(b.abs().max()) < 1e-4
    w = m.patch_embed.layers[0][0].weight.detach()                           # N(0, sqrt(2 / (9 * 32)))
    assert abs(float(w.std()) - math.sqrt(2 / (9 * 32))) < 0.02
    # MAE's ViT-B/16: same parameter count, its own init (sin-cos pos-embed frozen, non-zero head)
    with torch.device("meta"):
        vb = create_model("vit_b16")
    assert sum(p.numel() for p in vb.parameters()) == 86_567_656
    torch.manual_seed(0)
    t = create_model("vit_tiny_p4_32")
    assert not t.pos_embed.requires_grad and float(t.head.weight.detach().abs().sum()) > 0 and t.init_scheme == "mae"


# ----------------------------------------------------------------------------- trained path
def _cfg(profile="ci", **kw):
    return get_config("09_vit_early_convs", profile, kw)


def test_config_validation_names_field():
    with pytest.raises(ValueError, match="short_epochs"):
        _cfg(epochs=2, short_epochs=3)
    with pytest.raises(ValueError, match="sgd_lr"):
        _cfg(sgd_lr=[0.4, 0.1])


def test_search_samples_shared_by_both_models_and_in_range():
    cfg = _cfg("default")
    jobs = X.search_jobs(cfg, X.data_spec(cfg))
    assert len(jobs) == 2 * 2 * cfg.n_search
    for opt in ("adamw", "sgd"):
        lrs = {a: [j["train"]["lr"] for j in jobs if j["arm"] == a and j["train"]["optimizer"] == opt] for a in "PC"}
        assert lrs["P"] == lrs["C"]
        lo, hi = getattr(cfg, f"{opt}_lr")
        assert all(lo * 0.999 <= v <= hi * 1.001 for v in lrs["P"])
    j = jobs[0]
    assert j["train"]["min_lr"] == pytest.approx(0.005 * j["train"]["lr"]) and not j["train"]["wd_on_norm_bias"]


def test_diverged_run_is_recorded_not_raised():
    cfg = _cfg(max_steps=6, warmup_epochs=0.0)
    c = X.job(cfg, X.data_spec(cfg), "P", "sgd", 1e5, 0.0, seed=0)
    r = X.train_one(c)
    assert r["diverged"] and r["err"] == 1.0 and "non-finite" in r["diverged_msg"]
    assert len(r["wrong"]) == cfg.n_val and isinstance(r["curve"], list)


def _rec(arm, opt, seed, wrong, diverged=False):
    return {"status": "ok", "config": {"arm": arm, "seed": seed, "train": {"optimizer": opt}},
            "result": {"err": float(np.mean(wrong)), "wrong": list(wrong), "diverged": diverged, "curve": []}}


def test_gap_contrast_follows_seed_noise_rule():
    rng = np.random.default_rng(0)
    n = 400

    def w(p):
        return (rng.random(n) < p).astype(int)
    # ViT_P: SGD much worse; ViT_C: no gap -> held
    recs = [_rec("P", "adamw", s, w(0.3)) for s in (0, 1)] + [_rec("P", "sgd", s, w(0.6)) for s in (0, 1)] + \
           [_rec("C", "adamw", s, w(0.3)) for s in (0, 1)] + [_rec("C", "sgd", s, w(0.3)) for s in (0, 1)]
    v, ev = R.gap_contrast(recs, min_effect=0.01, n_boot=300)
    assert v.verdict == "held" and ev["diff"] > 0.2
    # same arms everywhere -> inconclusive; reversed -> not held; a floor above the effect -> inconclusive
    same = [_rec(a, o, s, w(0.4)) for a in "PC" for o in ("adamw", "sgd") for s in (0, 1)]
    assert R.gap_contrast(same, min_effect=0.01, n_boot=300)[0].verdict == "inconclusive"
    rev = [dict(r, config=dict(r["config"], arm="C" if r["config"]["arm"] == "P" else "P")) for r in recs]
    assert R.gap_contrast(rev, min_effect=0.01, n_boot=300)[0].verdict == "not held"
    assert R.gap_contrast(recs, min_effect=0.5, n_boot=300)[0].verdict == "inconclusive"
    # a diverged SGD run of ViT_P counts (error 1.0), it is not dropped
    div = recs[:2] + [_rec("P", "sgd", 0, np.ones(n, int), True)] + recs[3:]
    v2, ev2 = R.gap_contrast(div, min_effect=0.01, n_boot=300)
    assert ev2["per_seed"][0] > ev["per_seed"][0] and v2.evidence["diverged_runs_per_term"]["0"] == 1


def test_edf_deltas_and_comparison():
    rng = np.random.default_rng(1)
    recs = []
    for i in range(8):
        recs.append(_rec("P", "sgd", 0, (rng.random(200) < 0.3 + 0.08 * i).astype(int)))
        recs.append(_rec("C", "sgd", 0, (rng.random(200) < 0.3 + 0.005 * i).astype(int)))
    d = R.edf_deltas(recs)
    assert d[("P", "sgd")].min() == 0 and d[("C", "sgd")].min() == 0
    cmp = R.edf_comparisons(d, n_boot=300)
    assert cmp["sgd"][0].verdict == "held" and cmp["adamw"][0].verdict == "inconclusive"
    few = {k: v[:R.MIN_EDF_RUNS - 1] for k, v in d.items()}          # too few runs: never decided
    v_few = R.edf_comparisons(few, n_boot=300)["sgd"][0]
    assert v_few.verdict == "inconclusive" and "fewer than" in v_few.reason


def test_studies_end_to_end_serial(tmp_path):
    """The default path at toy size: search -> best -> seeds -> short, cached (second call trains nothing)."""
    cfg = _cfg(sweep_dir=str(tmp_path / "sw"), n_train=64, n_val=32, batch_size=16, max_steps=1)
    prep = X.prepare(cfg, "ci")
    recs = X.run_studies(cfg, prep)
    assert len(recs["search"]) == 4 and len(recs["best"]) == 8 and len(recs["short"]) == 4
    assert all(r["status"] == "ok" for k in recs for r in recs[k])
    assert sum(r.get("cached", False) for r in recs["best"]) >= 4          # seed 0 of every best = a search run
    again = X.run_studies(cfg, prep)
    assert all(r.get("cached") for k in again for r in again[k])
    v, ev = R.gap_contrast(recs["best"], min_effect=cfg.min_effect, n_boot=200)
    assert len(ev["per_seed"]) == 2


def test_gpu_profile_toy_on_fake_cifar100(tmp_path, monkeypatch):
    skip_cifar_md5(monkeypatch)
    write_cifar(tmp_path, "cifar100", n=8)
    cfg = _cfg("gpu", batch_size=4, max_steps=2, epochs=2, short_epochs=1, warmup_epochs=1.0)
    assert cfg.dataset == "cifar100" and cfg.model_kw_c["depth"] == cfg.model_kw_p["depth"] - 1
    c = X.job(cfg, X.data_spec(cfg, tmp_path), "C", "adamw", 1e-3, 0.05, seed=0)
    assert c["train"]["ema_decay"] > 0
    r = X.train_one(c)
    assert not r["diverged"] and len(r["wrong"]) == 8 and math.isfinite(r["err"])
    m = X.build_model(cfg.model_c, cfg.model_kw_c, 32, 100)
    assert len(m.blocks) == 11 and m.embed_dim == 192 and m.patch_embed.grid_size == (8, 8)


def test_paper_recipe_toy_on_fake_imagefolder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / split / c / f"{i}.png")
    cfg = _cfg("paper", dataset="imagefolder", image_size=32, num_classes=2, model_p="vit_p_tiny",
               model_c="vit_c_tiny", batch_size=4, max_steps=2, epochs=2, short_epochs=1, warmup_epochs=1.0)
    assert (cfg.mixup, cfg.cutmix, cfg.label_smoothing, cfg.autoaugment) == (0.8, 1.0, 0.1, True)
    c = X.job(cfg, X.data_spec(cfg, tmp_path), "P", "adamw", 1e-3, 0.24, seed=0)
    r = X.train_one(c)
    assert not r["diverged"] and len(r["wrong"]) == 8 and r["curve"]
    train_ds = next(iter(X._DATA_CACHE.values()))[0]
    assert "AutoAugment" in repr(train_ds.transform)
    assert X._step_fn(c["recipe"], 2) is not None and c["train"]["ema_decay"] > 0
