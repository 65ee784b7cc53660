"""RegNet: the quantized linear rule, block compatibility, and the 24 RegNetX/Y anchors (exact)."""
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
