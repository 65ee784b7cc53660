"""paperlib.metrics.complexity: pycls counting convention, every anchor of docs/papers/01_resnext.md exact."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from paperlib.metrics import complexity
from paperlib.models import create_model, get_model_meta
from paperlib.models.anynet import AnyNet, AnyNetConfig

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

# (name, params, MACs, acts) copied from the spec's "Verification anchors" (None = not given)
ANCHORS = [
    ("resnet50", 25_557_032, 4_089_185_256, 11_315_688),
    ("resnext50_32x4d", 25_028_904, 4_230_480_872, 14_602_216),
    ("resnext50_2x40d", 25_425_000, 4_124_509_160, 12_137_320),
    ("resnext50_4x24d", 25_292_968, 4_159_833_064, 12_958_952),
    ("resnext50_8x14d", 25_603_016, 4_267_410_408, 13_780_584),
    ("resnet101", 44_549_160, 7_801_406_440, 16_433_640),
    ("resnext101_32x4d", 44_177_704, 7_969_997_800, 21_426_152),
    ("resnext152_32x4d", 59_951_400, 11_709_514_728, 29_855_720),
    ("resnet101_1x100d", 85_611_336, 15_272_863_720, 19_241_928),
    ("resnext101_2x64d", 84_198_184, 15_123_088_360, 21_426_152),
    ("resnext101_64x4d", 83_455_272, 15_460_271_080, 31_411_176),
    ("resnet200", 64_673_832, 15_007_482_856, 32_389_608),
    ("resnext101_32x8d", 88_791_336, 16_414_016_488, None),
    # CIFAR ResNeXt-29, 32x32 input, 10 classes
    ("resnext29_1x64d", 4_914_250, 748_365_834, None),
    ("resnext29_2x64d", 9_130_314, None, None),
    ("resnext29_4x64d", 17_562_442, None, None),
    ("resnext29_8x64d", 34_426_698, 5_387_266_058, None),
    ("resnext29_16x64d", 68_155_210, 10_688_866_314, None),
    ("resnext29_1x128d", 13_775_178, None, None),
    ("resnext29_1x256d", 45_431_626, None, None),
    # mini family (params exact; MACs given to 0.1 M in the spec, checked below)
    ("resnext_mini_1x32d", 500_010, None, None),
    ("resnext_mini_2x20d", 489_898, None, None),
    ("resnext_mini_4x12d", 479_786, None, None),
    ("resnext_mini_8x7d", 477_234, None, None),
    ("resnext_mini_32x2d", 459_562, None, None),
]
MINI_MMACS = {"resnext_mini_1x32d": 80.6, "resnext_mini_2x20d": 82.0, "resnext_mini_4x12d": 83.4,
              "resnext_mini_8x7d": 85.9, "resnext_mini_32x2d": 86.2}


def _meta_model(name, **kw):
    with torch.device("meta"):
        return create_model(name, **kw)


@pytest.mark.parametrize("name,params,flops,acts", ANCHORS, ids=[a[0] for a in ANCHORS])
def test_anchor_exact(name, params, flops, acts):
    meta = get_model_meta(name)
    cx = complexity(_meta_model(name), meta["input_size"])
    assert cx["params"] == params
    if flops is not None:
        assert cx["flops"] == flops
    if acts is not None:
        assert cx["acts"] == acts
    # the registry's metadata record agrees with the spec and the module
    for k, v in (("params", params), ("flops", flops), ("acts", acts)):
        if v is not None:
            assert meta[k] == v
        if k in meta:
            assert cx[k] == meta[k]


def test_mini_family_macs_and_16px():
    for name, mm in MINI_MMACS.items():
        cx32 = complexity(_meta_model(name), (3, 32, 32))
        assert round(cx32["flops"] / 1e6, 1) == mm
        cx16 = complexity(_meta_model(name), (3, 16, 16))
        assert 20.1e6 <= cx16["flops"] < 21.65e6


def test_cifar100_head_and_resnext50_torchvision_params():
    c10 = complexity(_meta_model("resnext29_8x64d"), (3, 32, 32))["params"]
    c100 = complexity(_meta_model("resnext29_8x64d", num_classes=100), (3, 32, 32))["params"]
    assert c100 - c10 == 92_250 and c100 == 34_518_948
    tv = pytest.importorskip("torchvision")
    with torch.device("meta"):
        assert sum(p.numel() for p in tv.models.resnext50_32x4d().parameters()) == 25_028_904


def test_hand_counted_small_net_with_se_and_cpu_fallback_agree():
    """A tiny AnyNet with SE, counted by hand with pycls's formulas; meta == real CPU forward."""
    cfg = AnyNetConfig(stem="simple", stem_width=8, depths=[1], widths=[16], strides=[2],
                       bot_widths=[8], group_widths=[4], se_ratio=0.25, num_classes=3)
    m = AnyNet(cfg)
    h = 16
    f = p = a = 0
    # stem 3x3 s2: 16 -> 8
    h = 8; f += 9 * 3 * 8 * h * h; p += 9 * 3 * 8 + 2 * 8; a += 8 * h * h
    # block: proj 1x1 s2 (8 -> 16) at 4x4, a 1x1 (8 -> 8) at 8x8, b 3x3 s2 groups 2 at 4x4,
    # SE (8 -> 2 -> 8, biased, 1x1 spatial), c 1x1 (8 -> 16) at 4x4
    f += 8 * 16 * 16; p += 8 * 16 + 32; a += 16 * 16
    f += 8 * 8 * 64; p += 64 + 16; a += 8 * 64
    f += 9 * 8 * 8 * 16 // 2; p += 9 * 8 * 8 // 2 + 16; a += 8 * 16
    w_se = round(0.25 * 8)
    f += 8 * w_se + w_se + w_se * 8 + 8; p += 8 * w_se + w_se + w_se * 8 + 8; a += w_se + 8
    f += 8 * 16 * 16; p += 8 * 16 + 32; a += 16 * 16
    # head FC 16 -> 3 with bias
    f += 16 * 3 + 3; p += 16 * 3 + 3; a += 3
    want = {"flops": f, "params": p, "acts": a}
    assert complexity(m, (3, 16, 16)) == want
    from paperlib.metrics.complexity import _run
    real = _run(m.eval(), torch.zeros(1, 3, 16, 16), meta=False)
    assert real == {"flops": f, "acts": a}


def test_complexity_leaves_model_untouched_and_is_fast():
    import time
    m = create_model("resnext_mini_8x7d")
    m.train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    t = time.perf_counter()
    complexity(m, (3, 32, 32))
    assert time.perf_counter() - t < 2.0
    assert m.training
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not p.is_meta for p in m.parameters())


def test_issue_command_prints_anchor():
    code = ("from paperlib.models import create_model; from paperlib.metrics import complexity; "
            "print(complexity(create_model('resnext50_32x4d')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "{'flops': 4230480872, 'params': 25028904, 'acts': 14602216}"
