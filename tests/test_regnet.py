"""RegNet: the quantized linear rule, block compatibility, and the 24 RegNetX/Y anchors (exact)."""
import math

import numpy as np
import pytest
import torch

from paperlib.design_spaces import anynet_complexity
from paperlib.metrics import complexity
from paperlib.models import AnyNet, create_model, get_model_meta, list_models
from paperlib.models.regnet import (REGNET_TABLE, TINY_REGNET, adjust_block_compatibility,
                                    generate_regnet, generate_regnet_full, regnet_config,
                                    tiny_regnet_config)

NAMES = sorted(REGNET_TABLE)


def test_all_24_registered():
    x = [f"regnetx_{t}" for t in ("200mf", "400mf", "600mf", "800mf", "1_6gf", "3_2gf", "4_0gf",
                                  "6_4gf", "8_0gf", "12gf", "16gf", "32gf")]
    y = [n.replace("regnetx", "regnety") for n in x]
    assert sorted(list_models(family="regnetx") + list_models(family="regnety")) == sorted(x + y) == NAMES
    assert list_models(family="regnetx") == sorted(x)
    m = get_model_meta("regnety_32gf")
    assert m["err"] == 19.0 and m["config"]["wa"] == 115.89 and m["flops"] == 32_279_583_362


@pytest.mark.parametrize("name", NAMES)
def test_rule_widths_depths_groups(name):
    r = REGNET_TABLE[name]
    c = r["config"]
    ws, ds = generate_regnet(c["wa"], c["w0"], c["wm"], c["d"])
    assert ds == r["depths"] and len(ws) == 4 and sum(ds) == c["d"]
    ws2, _, gs = adjust_block_compatibility(ws, [1.0] * 4, [c["g"]] * 4)
    assert ws2 == r["widths"] and gs == r["groups"]
    cfg = regnet_config(c["d"], c["w0"], c["wa"], c["wm"], c["g"], se=name.startswith("regnety"))
    assert (cfg.widths, cfg.depths, cfg.group_widths, cfg.bot_widths) == (r["widths"], r["depths"], r["groups"], r["widths"])
    assert cfg.stem == "simple" and cfg.stem_width == 32 and cfg.strides == [2, 2, 2, 2]
    assert cfg.se_ratio == (0.25 if name.startswith("regnety") else None)
    # the analytic counter agrees exactly
    cx = anynet_complexity(cfg, 224)
    assert (cx["flops"], cx["params"], cx["acts"]) == (r["flops"], r["params"], r["acts"])


def test_module_complexity_exact_all_24():
    """flops, params, acts of the built modules (metrics.complexity) equal the spec table."""
    bad = []
    for name in NAMES:
        with torch.device("meta"):
            m = create_model(name)
        cx = complexity(m, (3, 224, 224))
        meta = get_model_meta(name)
        row = REGNET_TABLE[name]
        if any(cx[k] != meta[k] or cx[k] != row[k] for k in ("flops", "params", "acts")):
            bad.append((name, cx))
    assert not bad


def test_x8gf_compatibility_and_rule_details():
    r = generate_regnet_full(49.56, 80, 2.88, 23)
    assert r["widths"] == [80, 232, 664, 1912] and r["num_stages"] == r["total_stages"] == 4
    ws, _, gs = adjust_block_compatibility(r["widths"], [1.0] * 4, [120] * 4)
    assert ws == [80, 240, 720, 1920] and gs == [80, 120, 120, 120]
    # bottleneck multiplier < 1 and > 1 (inverted) paths
    assert adjust_block_compatibility([100], [0.25], [8]) == ([96], [0.25], [8])
    assert adjust_block_compatibility([100], [2.0], [6]) == ([99], [2.0], [6])   # v=200 -> 198
    with pytest.raises(ValueError):
        generate_regnet(10.0, 20, 2.0, 5)       # w0 % 8 != 0
    with pytest.raises(ValueError):
        regnet_config(13, 24, 36.44, 2.49, 8, num_stages=3)


def test_tiny_reference_exact():
    cfg = tiny_regnet_config()
    assert (cfg.widths, cfg.depths, cfg.stem, cfg.stem_width) == ([16, 40, 96], [2, 4, 2], "cifar", 16)
    m = AnyNet(cfg)
    cx = complexity(m, (3, 32, 32))
    assert (cx["flops"], cx["params"]) == (TINY_REGNET["flops"], TINY_REGNET["params"]) == (4_187_082, 80_778)
    assert anynet_complexity(cfg, 32)["flops"] == 4_187_082
    cx2 = complexity(AnyNet(tiny_regnet_config(strides=(1, 2, 2))), (3, 32, 32))
    assert (cx2["flops"], cx2["params"]) == (14_369_738, 80_490)
    out = m(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 10)
    reg = create_model("regnetx_cifar_tiny")
    meta = get_model_meta("regnetx_cifar_tiny")
    assert complexity(reg, meta["input_size"]) == {k: meta[k] for k in ("flops", "params", "acts")}


def test_builder_head_init_and_forward():
    torch.manual_seed(0)
    m = create_model("regnetx_200mf", num_classes=7)
    assert m.head.fc.out_features == 7
    assert float(m.head.fc.weight.detach().std()) == pytest.approx(0.01, rel=0.1)
    assert float(m.head.fc.bias.detach().abs().max()) == 0.0
    m.eval()
    assert m(torch.zeros(1, 3, 64, 64)).shape == (1, 7)


# ----------------------------------------------------------------------------- Fig 12 timing device
def test_forward_timing_cpu_reports_device_and_restores_threads():
    from paperlib.experiments import regnet as ex
    before = torch.get_num_threads()
    rows = ex.forward_timing(["regnetx_200mf"], batch=1, image_size=32, threads=1, reps=1, warmup=0,
                             device="cpu")
    assert torch.get_num_threads() == before
    (r,) = rows
    assert r["device"] == "cpu" and r["threads"] == 1 and "device_name" not in r
    assert r["seconds"] > 0 and r["flops"] == complexity(create_model("regnetx_200mf"), (3, 32, 32))["flops"]
    # the old name still times on the CPU
    assert ex.cpu_forward_timing(["regnetx_200mf"], batch=1, image_size=32, reps=1)[0]["device"] == "cpu"


def test_forward_timing_cuda_unavailable_is_an_error(monkeypatch):
    from paperlib.experiments import regnet as ex
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for dev in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            ex.forward_timing(["regnetx_200mf"], batch=1, image_size=32, reps=1, device=dev)
    assert ex.timing_device("auto") == torch.device("cpu")   # auto without CUDA: the CPU, said so
    with pytest.raises(ValueError, match="unsupported device"):
        ex.timing_device("meta")


@pytest.mark.gpu
def test_forward_timing_on_cuda():
    from paperlib.experiments import regnet as ex
    bench = torch.backends.cudnn.benchmark
    rows = ex.forward_timing(["regnetx_200mf", "regnety_200mf"], batch=2, image_size=64, reps=2, device="cuda")
    assert torch.backends.cudnn.benchmark == bench
    idx = torch.cuda.current_device()
    assert [r["device"] for r in rows] == [f"cuda:{idx}"] * 2
    assert all(r["device_name"] == torch.cuda.get_device_name(idx) and r["threads"] is None for r in rows)
    assert all(r["seconds"] > 0 for r in rows)


# ----------------------------------------------------------------------------- Precise-BN
def _bn_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    mean, std = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([0.5, 2.0, 1.0])
    x = torch.randn(n, 3, 4, 4, generator=g) * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)
    return torch.utils.data.TensorDataset(x, torch.zeros(n, dtype=torch.long)), x


def test_precise_bn_sets_running_stats_to_the_data():
    from paperlib.experiments.regnet import precise_bn
    ds, x = _bn_data()
    model = torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.Flatten(), torch.nn.Linear(48, 2)).eval()
    bn = model[0]
    assert torch.equal(bn.running_mean, torch.zeros(3)) and torch.equal(bn.running_var, torch.ones(3))
    rng = torch.get_rng_state()
    n = precise_bn(model, ds, 10**6, batch_size=64, device="cpu")
    assert n == 256
    # equal batches: the running mean is the data's channel mean; the variance the mean of the batch
    # variances (within ~1/batch of the data's)
    assert torch.allclose(bn.running_mean, x.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(bn.running_var, x.var(dim=(0, 2, 3)), rtol=0.05)
    assert torch.allclose(bn.running_var, torch.tensor([0.25, 4.0, 1.0]), rtol=0.15)
    assert bn.momentum == 0.1 and not model.training and torch.equal(torch.get_rng_state(), rng)
    # a subset of n images (seeded): the stats of those images; 0 = off, nothing changes
    sub = precise_bn(model, ds, 64, batch_size=64, seed=3)
    idx = torch.randperm(256, generator=torch.Generator().manual_seed(3))[:64]
    assert sub == 64 and torch.allclose(bn.running_mean, x[idx].mean(dim=(0, 2, 3)), atol=1e-5)
    before = bn.running_mean.clone()
    assert precise_bn(model, ds, 0) == 0 and torch.equal(bn.running_mean, before)


def test_train_one_precise_bn_option(monkeypatch):
    """The job's train dict takes precise_bn_images (0 = off): Precise-BN runs before every evaluation
    only, recomputes the BN statistics there, and leaves the training trajectory unchanged."""
    from dataclasses import asdict

    from paperlib.experiments import regnet as ex
    from paperlib.models.regnet import tiny_regnet_config
    calls = []
    real = ex.precise_bn

    def spy(model, dataset, n, **kw):
        bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        before, mode = bn.running_mean.clone(), model.training
        used = real(model, dataset, n, **kw)
        calls.append((used, model.training == mode, bool((bn.running_mean - before).abs().max() > 0)))
        return used

    monkeypatch.setattr(ex, "precise_bn", spy)
    cfg = {"space": "RegNet", "index": 0, "arch": asdict(tiny_regnet_config()), "batch_size": 16, "seed": 0,
           "data": {"name": "synthetic", "data_root": None, "image_size": 32, "num_classes": 10,
                    "n_train": 256, "n_val": 64, "seed": 0},
           "train": {"epochs": 1, "max_steps": 2, "lr": 0.1, "weight_decay": 5e-5, "amp": False,
                     "log_every": 10**9, "ckpt_every_epochs": 10**9}, "device": "cpu"}
    off = ex.train_one(cfg)
    assert calls == [] and off["precise_bn_images"] == 0
    on = ex.train_one({**cfg, "train": {**cfg["train"], "precise_bn_images": 128}})
    assert on["precise_bn_images"] == 128
    assert calls == [(128, True, True)]           # once, before the one evaluation; stats recomputed
    assert on["train_loss"] == off["train_loss"]  # same training (RNGs restored)
    assert 0.0 <= on["err"] <= 1.0


# ----------------------------------------------------------------------------- Table 4 timing (EfficientNet)
def test_forward_timing_timm_model_per_model_size_and_train_mode():
    """forward_timing takes timm names, a {name: size} mapping and mode="train" (forward + backward)."""
    import timm

    from paperlib.experiments import regnet as ex
    rows = ex.forward_timing(["efficientnet_b0", "regnety_200mf"], batch=2,
                             image_size={"efficientnet_b0": 40, "regnety_200mf": 32}, reps=2, warmup=0,
                             device="cpu", mode="train")
    eff, reg = rows
    assert (eff["image_size"], reg["image_size"]) == (40, 32) and {eff["mode"], reg["mode"]} == {"train"}
    assert eff["flops"] == complexity(timm.create_model("efficientnet_b0"), (3, 40, 40))["flops"]
    assert len(eff["rep_seconds"]) == 2 and eff["seconds"] > 0 and eff["device"] == "cpu"
    with pytest.raises(ValueError, match="mode 'eval'"):
        ex.forward_timing(["regnetx_200mf"], mode="eval")
    with pytest.raises(ValueError, match="needs batch >= 2"):
        ex.forward_timing(["regnetx_200mf"], batch=1, mode="train")
    with pytest.raises(KeyError, match="neither a paperlib model .* nor a timm model"):
        ex.timing_model("efficientnet_b99")


def test_effnet_pairs_resolve_to_the_spec_table4():
    from paperlib.experiments import regnet as ex
    got = ex.resolve_effnet_pairs(ex.EFFNET_PAIRS)
    assert [(p["effnet"], p["regnety"], p["res"]) for p in got] == [
        ("efficientnet_b0", "regnety_400mf", 224), ("efficientnet_b1", "regnety_600mf", 240),
        ("efficientnet_b2", "regnety_800mf", 260), ("efficientnet_b3", "regnety_1_6gf", 300),
        ("efficientnet_b4", "regnety_4_0gf", 380), ("efficientnet_b5", "regnety_8_0gf", 456)]
    # a bare name takes its Table 4 partner and resolution; tf_ variants too; an explicit resolution wins
    assert ex.resolve_effnet_pairs(["tf_efficientnet_b3", ["efficientnet_b0", "regnetx_400mf", 192]]) == [
        {"effnet": "tf_efficientnet_b3", "regnety": "regnety_1_6gf", "res": 300},
        {"effnet": "efficientnet_b0", "regnety": "regnetx_400mf", "res": 192}]
    assert ex.resolve_effnet_pairs([]) == [] and ex.resolve_effnet_pairs(None) == []
    assert ex.paper_time_ratio("efficientnet_b5") == pytest.approx(504 / 113)
    assert ex.paper_time_ratio("efficientnet_b0", "train") == pytest.approx(11.7 / 5.1)
    assert ex.paper_time_ratio("efficientnet_b1") is None      # the spec gives no B1 timing


@pytest.mark.parametrize("bad, msg", [
    (["efficientnet_b9"], "unknown EfficientNet 'efficientnet_b9'"),
    (["resnet50"], "unknown EfficientNet 'resnet50'"),
    ([["efficientnet_b0", "regnety_9gf"]], "unknown RegNet 'regnety_9gf'"),
    ([["efficientnet_b0", "regnety_400mf", 0]], "resolution must be an integer >= 8"),
    ([["efficientnetv2_s", "regnety_400mf"]], "not in Table 4; give its resolution"),
    ([3], "expected an EfficientNet name"),
    ("efficientnet_b0", "must be a list"),
])
def test_effnet_pairs_unknown_names_are_clear_errors(bad, msg):
    from paperlib.experiments import regnet as ex
    with pytest.raises(ValueError, match=msg.replace("(", r"\(")):
        ex.resolve_effnet_pairs(bad)


def test_effnet_pairs_config_field():
    """Once the config has ``effnet_pairs``: empty at ci / default, the spec's six pairs at gpu / paper, and an
    unknown name is a ConfigError naming it."""
    from paperlib.config import ConfigError, get_config
    from paperlib.configs.regnet import Config
    from paperlib.experiments import regnet as ex
    if not hasattr(Config(), "effnet_pairs"):
        pytest.skip("Config.effnet_pairs not added yet")
    assert get_config("08_regnet", "ci").effnet_pairs == [] == get_config("08_regnet", "default").effnet_pairs
    for prof in ("gpu", "paper"):
        assert ex.resolve_effnet_pairs(get_config("08_regnet", prof).effnet_pairs) == \
            ex.resolve_effnet_pairs(ex.EFFNET_PAIRS)
    # the Config checks the form without timm: outside Table 4 a resolution is required; with one, the
    # name's existence in timm is checked when the notebook resolves the pairs
    with pytest.raises(ConfigError, match="'efficientnet_b9' is not in Table 4; give its resolution"):
        get_config("08_regnet", "gpu", {"effnet_pairs": [["efficientnet_b9", "regnety_400mf"]]})
    with pytest.raises(ConfigError, match="unknown RegNet 'resnet50'"):
        get_config("08_regnet", "gpu", {"effnet_pairs": [["efficientnet_b0", "resnet50"]]})
    cfg = get_config("08_regnet", "gpu", {"effnet_pairs": [["efficientnet_b9", "regnety_400mf", 300]]})
    with pytest.raises(ValueError, match="unknown EfficientNet 'efficientnet_b9'"):
        ex.resolve_effnet_pairs(cfg.effnet_pairs)


def test_effnet_complexity_at_paper_resolutions():
    """metrics.complexity counts timm's EfficientNets (depthwise convs, SE convs with bias, SiLU/BN free):
    at the paper's resolutions it gives Table 4's GF / params / acts within 5 % (pycls's EN-Bk differ
    slightly from timm's widths: B4 4.39 vs 4.2 GF, B5 10.27 vs 9.9 GF; acts agree to 2 %)."""
    import timm

    from paperlib.experiments import regnet as ex
    for name, row in ex.EFFNET_TABLE4.items():
        if "GF" not in row:
            continue
        with torch.device("meta"):
            m = timm.create_model(name)
        cx = complexity(m, (3, row["res"], row["res"]))
        assert cx["flops"] / 1e9 == pytest.approx(row["GF"], rel=0.05), name
        assert cx["acts"] / 1e6 == pytest.approx(row["acts_M"], rel=0.025), name
        if "params_M" in row:
            assert cx["params"] / 1e6 == pytest.approx(row["params_M"], rel=0.02), name
    # an independent count: PyTorch's FlopCounterMode (2 x MACs of conv / linear, no bias) + the bias adds
    # of the biased layers (SE convs, classifier) equals metrics.complexity's MACs
    from torch.utils.flop_counter import FlopCounterMode
    b0 = timm.create_model("efficientnet_b0").eval()
    cx = complexity(b0, (3, 224, 224))
    assert cx == {"flops": 385_825_092, "params": 5_288_548, "acts": 6_748_036}
    bias = []
    hooks = [mod.register_forward_hook(lambda mod, i, o: bias.append(o[0].numel() if mod.bias is not None else 0))
             for mod in b0.modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear))]
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        b0(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    assert fc.get_total_flops() // 2 + sum(bias) == cx["flops"]
    assert sum(1 for _ in bias) == sum(1 for mod in b0.modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)))


def test_log_ratio_ci():
    from paperlib.experiments import regnet as ex
    d, lo, hi = ex.log_ratio_ci([2.0, 2.1, 1.9, 2.0], [1.0, 1.05, 0.95, 1.0], n_boot=200)
    assert d == pytest.approx(np.log(2.0)) and lo <= d <= hi and lo > 0
    assert ex.log_ratio_ci([2.0, 2.0], [1.0, 1.0])[1:] == (None, None)      # < 3 passes: no interval
    assert math.isnan(ex.log_ratio_ci([], [1.0])[0]) and math.isnan(ex.log_ratio_ci([0.0], [1.0])[0])


def test_effnet_pair_timing_tiny_cpu():
    """At a tiny resolution on the CPU: finite ratios with an interval, the device, both modes, and the
    complexity at the timed resolution."""
    from paperlib.experiments import regnet as ex
    before = torch.get_num_threads()
    rows = ex.effnet_pair_timing([["efficientnet_b0", "regnety_400mf"]], batch=1, train_batch=2, reps=3,
                                 warmup=0, device="cpu", image_size=32, n_boot=100)
    assert torch.get_num_threads() == before
    assert [r["mode"] for r in rows] == ["infer", "train"] and [r["batch"] for r in rows] == [1, 2]
    for r in rows:
        assert r["device"] == "cpu" and r["device_name"] is None and r["note"] is None
        assert (r["effnet_px"], r["regnety_px"]) == (32, 32) and r["pair"] == "efficientnet_b0 / regnety_400mf"
        assert math.isfinite(r["ratio"]) and r["ratio"] > 0 and r["effnet_ms"] > 0 and r["regnety_ms"] > 0
        assert r["ratio"] == pytest.approx(r["effnet_ms"] / r["regnety_ms"])
        assert r["ratio_lo"] <= r["ratio_hi"] and len(r["effnet_rep_seconds"]) == 3
        assert r["regnety_flops"] == complexity(create_model("regnety_400mf"), (3, 32, 32))["flops"]
    assert rows[0]["paper_ratio"] == pytest.approx(34 / 19) and rows[1]["paper_ratio"] == pytest.approx(11.7 / 5.1)
    assert ex.effnet_pair_timing([], device="cpu") == []


@pytest.mark.gpu
def test_effnet_pair_timing_on_cuda():
    from paperlib.experiments import regnet as ex
    rows = ex.effnet_pair_timing(["efficientnet_b0"], batch=4, train_batch=4, reps=3, device="cuda", image_size=64)
    idx = torch.cuda.current_device()
    assert [r["device"] for r in rows] == [f"cuda:{idx}"] * 2
    assert all(r["device_name"] == torch.cuda.get_device_name(idx) and math.isfinite(r["ratio"]) for r in rows)
