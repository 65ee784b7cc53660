"""RegNet (Radosavovic et al., CVPR 2020): the quantized linear rule and the RegNetX/Y families.

A RegNet is data, not code: :func:`generate_regnet` turns the four numbers (w_a, w_0, w_m, d) into
per-stage widths and depths, :func:`adjust_block_compatibility` makes bottleneck and group widths
consistent, and :func:`regnet_config` packs everything into an :class:`AnyNetConfig`.

    from paperlib.models import create_model, get_model_meta
    m = create_model("regnety_400mf")          # 1000 classes, 224 px
    get_model_meta("regnety_400mf")["flops"]    # 401_849_056 multiply-adds (pycls convention)

Conventions (pycls): ``b`` is the paper's bottleneck *ratio* (w_b = w / b, so b = 1 means no
bottleneck); :func:`adjust_block_compatibility` takes pycls's bottleneck *multiplier* (w_b = w * m,
m = 1 / b) so that its formulas read exactly as in the spec. ``g`` is a group *width* (channels per
group); the number of groups is w_b / g.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .anynet import AnyNet, AnyNetConfig
from .registry import register_model

__all__ = ["generate_regnet", "generate_regnet_full", "adjust_block_compatibility", "regnet_config",
           "REGNET_TABLE", "TINY_REGNET", "tiny_regnet_config", "quantize_float", "pycls_head_init"]


def quantize_float(f: float, q: float) -> int:
    """Round ``f`` to the nearest multiple of ``q`` (pycls ``quantize_float``)."""
    return int(round(f / q) * q)


def generate_regnet_full(w_a: float, w_0: int, w_m: float, d: int, q: int = 8) -> Dict[str, object]:
    """The quantized linear rule with every intermediate (pycls ``generate_regnet``).

    u_j = w_0 + w_a * j (0 <= j < d); k_j = round(log(u_j / w_0) / log(w_m));
    w_j = round(w_0 * w_m**k_j / q) * q; stages = the distinct w_j with their counts.

    Returns a dict: ``widths``, ``depths`` (per stage), ``num_stages``, ``total_stages``
    (max k + 1, counting stages whose quantized widths collapsed), ``ws_all`` (per-block quantized
    widths), ``ws_cont`` (per-block continuous widths u_j), ``ks``.
    """
    if not (w_a >= 0 and w_0 > 0 and w_m > 1 and w_0 % q == 0):
        raise ValueError(f"need w_a >= 0, w_0 > 0, w_m > 1 and w_0 % q == 0; got "
                         f"w_a={w_a}, w_0={w_0}, w_m={w_m}, q={q}")
    if d < 1:
        raise ValueError(f"need d >= 1; got {d}")
    ws_cont = np.arange(d) * w_a + w_0
    ks = np.round(np.log(ws_cont / w_0) / np.log(w_m))
    ws_all = w_0 * np.power(w_m, ks)
    ws_all = (np.round(np.divide(ws_all, q)) * q).astype(int)
    ws, ds = np.unique(ws_all, return_counts=True)
    return {"widths": [int(w) for w in ws], "depths": [int(x) for x in ds],
            "num_stages": int(len(ws)), "total_stages": int(ks.max()) + 1,
            "ws_all": [int(w) for w in ws_all], "ws_cont": [float(w) for w in ws_cont],
            "ks": [int(k) for k in ks]}


def generate_regnet(w_a: float, w_0: int, w_m: float, d: int, q: int = 8) -> Tuple[List[int], List[int]]:
    """Per-stage (widths, depths) of the RegNet (w_a, w_0, w_m, d) -- spec "code version", q = 8."""
    r = generate_regnet_full(w_a, w_0, w_m, d, q)
    return r["widths"], r["depths"]


def adjust_block_compatibility(ws: Sequence[int], bs: Sequence[float], gs: Sequence[int]
                               ) -> Tuple[List[int], List[float], List[int]]:
    """Make widths compatible with bottleneck multipliers and group widths (pycls).

    ``bs`` are bottleneck *multipliers* (w_b = w * b; the paper's ratio is 1 / b). Per stage:
    v = int(w * b); g <- min(g, v); m = lcm(g, b) if b > 1 else g; v <- max(m, round(v / m) * m);
    w <- v / b. Afterwards w * b is an integer multiple of g.
    """
    if not (len(ws) == len(bs) == len(gs)):
        raise ValueError("ws, bs, gs must have the same length")
    if not all(w > 0 and b > 0 and g > 0 for w, b, g in zip(ws, bs, gs)):
        raise ValueError(f"widths, multipliers and group widths must be positive: {ws} {bs} {gs}")
    vs = [int(max(1, w * b)) for w, b in zip(ws, bs)]
    gs = [int(min(g, v)) for g, v in zip(gs, vs)]
    ms = [int(np.lcm(int(g), int(b))) if b > 1 else g for g, b in zip(gs, bs)]
    vs = [max(m, int(round(v / m) * m)) for v, m in zip(vs, ms)]
    ws = [int(v / b) for v, b in zip(vs, bs)]
    assert all(round(w * b) % g == 0 for w, b, g in zip(ws, bs, gs)), (ws, bs, gs)
    return ws, list(bs), gs


def regnet_config(d: int, w0: int, wa: float, wm: float, g: int, b: float = 1, se: bool = False, *,
                  stem: str = "simple", stem_width: int = 32, num_classes: int = 1000,
                  num_stages: Optional[int] = None, strides: Optional[Sequence[int]] = None,
                  se_ratio: float = 0.25, q: int = 8) -> AnyNetConfig:
    """AnyNetConfig of the RegNet (d, w0, wa, wm, g, b) -- X block, plus SE (ratio 0.25 of the block
    input width) when ``se`` (RegNetY).

    ``b`` is the paper's bottleneck ratio (w_b = w / b). ``num_stages``, when given, must equal the
    number of stages the rule generates (a ValueError otherwise). ``strides`` default to 2 per stage.
    """
    ws, ds = generate_regnet(wa, w0, wm, d, q)
    if num_stages is not None and len(ws) != num_stages:
        raise ValueError(f"RegNet(d={d}, w0={w0}, wa={wa}, wm={wm}) has {len(ws)} stages, "
                         f"not {num_stages}")
    n = len(ws)
    mul = 1.0 / b
    ws, _, gs = adjust_block_compatibility(ws, [mul] * n, [g] * n)
    bot = [int(round(w * mul)) for w in ws]
    st = list(strides) if strides is not None else [2] * n
    if len(st) != n:
        raise ValueError(f"{len(st)} strides for {n} stages")
    return AnyNetConfig(stem=stem, stem_width=stem_width, depths=list(ds), widths=list(ws),
                        strides=st, bot_widths=bot, group_widths=list(gs),
                        se_ratio=(se_ratio if se else None), num_classes=num_classes)


# ----------------------------------------------------------------------------------------------
# The spec's anchor table (pycls dev/model_complexity.json; paper top-1 error, mean of 5 runs).
# config = (d, w0, wa, wm, g); all b = 1.  Counted at 224 px, 1000 classes.
# ----------------------------------------------------------------------------------------------
_X = "x"
_Y = "y"
REGNET_TABLE: Dict[str, Dict[str, object]] = {}


def _row(fam, tag, cfg, widths, depths, flops, params, acts, err, groups=None):
    name = f"regnet{fam}_{tag}"
    d, w0, wa, wm, g = cfg
    REGNET_TABLE[name] = {
        "config": {"d": d, "w0": w0, "wa": wa, "wm": wm, "g": g, "b": 1},
        "widths": list(widths), "depths": list(depths),
        "groups": list(groups) if groups is not None else [g] * 4,
        "flops": flops, "params": params, "acts": acts, "err": err,
    }


_row(_X, "200mf", (13, 24, 36.44, 2.49, 8), (24, 56, 152, 368), (1, 1, 4, 7), 199_040_872, 2_684_792, 2_164_056, 31.1)
_row(_X, "400mf", (22, 24, 24.48, 2.54, 16), (32, 64, 160, 384), (1, 2, 7, 12), 397_678_568, 5_157_512, 3_143_272, 27.3)
_row(_X, "600mf", (16, 48, 36.97, 2.24, 24), (48, 96, 240, 528), (1, 3, 5, 7), 600_891_112, 6_196_040, 3_975_096, 25.9)
_row(_X, "800mf", (16, 56, 35.73, 2.28, 16), (64, 128, 288, 672), (1, 3, 7, 5), 799_700_712, 7_259_656, 5_148_744, 24.8)
_row(_X, "1_6gf", (18, 80, 34.01, 2.25, 24), (72, 168, 408, 912), (2, 4, 10, 2), 1_602_850_792, 9_190_136, 7_933_512, 23.0)
_row(_X, "3_2gf", (25, 88, 26.31, 2.25, 48), (96, 192, 432, 1008), (2, 6, 15, 2), 3_176_622_952, 15_296_552, 11_367_432, 21.7)
_row(_X, "4_0gf", (23, 96, 38.65, 2.43, 40), (80, 240, 560, 1360), (2, 5, 14, 2), 3_964_499_816, 22_118_248, 12_201_608, 21.4)
_row(_X, "6_4gf", (17, 184, 60.83, 2.07, 56), (168, 392, 784, 1624), (2, 4, 10, 1), 6_460_292_264, 26_209_256, 16_369_744, 20.8)
_row(_X, "8_0gf", (23, 80, 49.56, 2.88, 120), (80, 240, 720, 1920), (2, 5, 15, 1), 7_995_133_416, 39_572_648, 14_059_688, 20.7,
     groups=(80, 120, 120, 120))
_row(_X, "12gf", (19, 168, 73.36, 2.37, 112), (224, 448, 896, 2240), (2, 5, 11, 1), 12_086_679_016, 46_106_056, 21_366_568, 20.3)
_row(_X, "16gf", (22, 216, 55.59, 2.1, 128), (256, 512, 896, 2048), (2, 6, 13, 1), 15_940_756_456, 54_278_536, 25_515_496, 20.0)
_row(_X, "32gf", (23, 320, 69.86, 2.0, 168), (336, 672, 1344, 2520), (2, 7, 13, 1), 31_735_930_792, 107_811_560, 36_302_160, 19.5)
_row(_Y, "200mf", (13, 24, 36.44, 2.49, 8), (24, 56, 152, 368), (1, 1, 4, 7), 199_519_076, 3_162_996, 2_168_052, 29.6)
_row(_Y, "400mf", (16, 48, 27.89, 2.09, 8), (48, 104, 208, 440), (1, 3, 6, 6), 401_849_056, 4_344_144, 3_892_496, 25.9)
_row(_Y, "600mf", (15, 48, 32.54, 2.32, 16), (48, 112, 256, 608), (1, 3, 7, 4), 601_227_608, 6_055_160, 4_334_296, 24.5)
_row(_Y, "800mf", (14, 56, 38.84, 2.4, 16), (64, 128, 320, 768), (1, 3, 8, 2), 797_183_328, 6_263_168, 5_249_888, 23.7)
_row(_Y, "1_6gf", (27, 48, 20.71, 2.65, 24), (48, 120, 336, 888), (2, 6, 17, 2), 1_612_087_326, 11_202_430, 8_044_814, 22.0)
_row(_Y, "3_2gf", (21, 80, 42.63, 2.66, 24), (72, 216, 576, 1512), (2, 5, 13, 1), 3_176_496_162, 19_436_338, 11_263_418, 21.0)
_row(_Y, "4_0gf", (22, 96, 31.41, 2.24, 64), (128, 192, 512, 1088), (2, 6, 12, 2), 3_973_301_344, 20_646_656, 12_287_200, 20.6)
_row(_Y, "6_4gf", (25, 112, 33.22, 2.27, 72), (144, 288, 576, 1296), (2, 7, 14, 2), 6_355_221_876, 30_583_252, 16_407_188, 20.1)
_row(_Y, "8_0gf", (17, 192, 76.82, 2.19, 56), (168, 448, 896, 2016), (2, 4, 10, 1), 7_963_074_196, 39_180_068, 17_968_916, 20.1)
_row(_Y, "12gf", (19, 168, 73.36, 2.37, 112), (224, 448, 896, 2240), (2, 5, 11, 1), 12_092_395_504, 51_822_544, 21_384_496, 19.7)
_row(_Y, "16gf", (18, 200, 106.23, 2.48, 112), (224, 448, 1232, 3024), (2, 4, 11, 1), 15_911_534_044, 83_590_140, 23_041_228, 19.6)
_row(_Y, "32gf", (20, 232, 115.89, 2.53, 232), (232, 696, 1392, 3712), (2, 5, 12, 1), 32_279_583_362, 145_046_770, 30_261_570, 19.0)

# Paper's rounded (GF, params M) labels, e.g. X-6.4GF is "6.5 GF" in the paper.
_PAPER_TAGS = {"200mf": 0.2, "400mf": 0.4, "600mf": 0.6, "800mf": 0.8, "1_6gf": 1.6, "3_2gf": 3.2,
               "4_0gf": 4.0, "6_4gf": 6.4, "8_0gf": 8.0, "12gf": 12.0, "16gf": 16.0, "32gf": 32.0}

# Tiny 32-px CIFAR-style reference (spec): (d=8, w0=16, wa=8, wm=2.5, g=8), 3x3 stride-1 16-ch stem,
# 3 stages of stride 2, 10 classes -> widths [16, 40, 96], depths [2, 4, 2].
TINY_REGNET = {"config": {"d": 8, "w0": 16, "wa": 8, "wm": 2.5, "g": 8, "b": 1},
               "widths": [16, 40, 96], "depths": [2, 4, 2], "input_size": (3, 32, 32),
               "num_classes": 10, "flops": 4_187_082, "params": 80_778,
               # same net with stage strides [1, 2, 2]
               "flops_s122": 14_369_738, "params_s122": 80_490}


def tiny_regnet_config(strides: Sequence[int] = (2, 2, 2), num_classes: int = 10, se: bool = False
                       ) -> AnyNetConfig:
    """The spec's tiny 32-px reference RegNetX (CIFAR stem, 16 channels, 3 stages)."""
    c = TINY_REGNET["config"]
    return regnet_config(c["d"], c["w0"], c["wa"], c["wm"], c["g"], c["b"], se=se, stem="cifar",
                         stem_width=16, num_classes=num_classes, num_stages=3, strides=strides)


def pycls_head_init(model: AnyNet) -> AnyNet:
    """pycls init of the head FC: N(0, 0.01) weight, zero bias (AnyNet's default keeps PyTorch's
    weight init). Zero-init of the last BN gamma stays off, as in the DDS configs."""
    import torch.nn as nn
    nn.init.normal_(model.head.fc.weight, mean=0.0, std=0.01)
    nn.init.zeros_(model.head.fc.bias)
    return model


def _make_builder(name: str, row: Dict[str, object]):
    se = name.startswith("regnety")
    c = row["config"]

    def builder(num_classes: int = 1000, **kwargs) -> AnyNet:
        cfg = regnet_config(c["d"], c["w0"], c["wa"], c["wm"], c["g"], c["b"], se=se,
                            num_classes=num_classes, **kwargs)
        return pycls_head_init(AnyNet(cfg))

    builder.__name__ = name
    builder.__qualname__ = name
    builder.__doc__ = (f"RegNet{'Y' if se else 'X'}-{name.split('_', 1)[1].upper()} "
                       f"(d={c['d']}, w0={c['w0']}, wa={c['wa']}, wm={c['wm']}, g={c['g']}, b=1).")
    tag = name.split("_", 1)[1]
    meta = {"family": "regnet" + ("y" if se else "x"), "input_size": (3, 224, 224), "num_classes": 1000,
            "flops": row["flops"], "params": row["params"], "acts": row["acts"],
            "config": dict(c), "widths": list(row["widths"]), "depths": list(row["depths"]),
            "groups": list(row["groups"]), "err": row["err"],
            "paper": {"top1_err": row["err"], "gflops_label": _PAPER_TAGS[tag]},
            "source": "pycls dev/model_complexity.json (exact); paper Figs 15/16 (error, mean of 5 runs)"}
    globals()[name] = register_model(name, meta=meta)(builder)


for _name, _r in REGNET_TABLE.items():
    _make_builder(_name, _r)
    __all__.append(_name)
del _name, _r


@register_model("regnetx_cifar_tiny", meta={
    "family": "regnet_cifar", "input_size": TINY_REGNET["input_size"], "num_classes": 10,
    "flops": TINY_REGNET["flops"], "params": TINY_REGNET["params"], "acts": 113_674,
    "config": dict(TINY_REGNET["config"]), "widths": list(TINY_REGNET["widths"]),
    "depths": list(TINY_REGNET["depths"]),
    "source": "docs/papers/08_regnet.md tiny 32-px reference (MACs, params); acts from the same counter"})
def regnetx_cifar_tiny(num_classes: int = 10, strides: Sequence[int] = (2, 2, 2)) -> AnyNet:
    """The spec's tiny 32-px RegNetX (d=8, w0=16, wa=8, wm=2.5, g=8; CIFAR stem 16 ch, 3 stages)."""
    return pycls_head_init(AnyNet(tiny_regnet_config(strides=strides, num_classes=num_classes)))


__all__.append("regnetx_cifar_tiny")
