"""Design spaces of "Designing Network Design Spaces" (Radosavovic et al., 2020): AnyNetX_A..E, RegNet.

A design space is a set of AnyNet configurations plus a distribution over them. Every space here is
a :class:`DesignSpace` value (data, not code); :func:`sample` draws n models from it by rejection in
a complexity window, and :func:`space_size` recomputes the sizes of the paper's Table 1.

AnyNetX (per stage i of 4): depth d_i <= 16, width w_i <= 1024 and divisible by 8, bottleneck ratio
b_i in {1, 2, 4}, group width g_i in {1, 2, 4, 8, 16, 32}; all sampled log-uniformly (widths
log-uniform on [8, 1024] then rounded to a multiple of 8, depths log-uniform on [1, 16] then rounded,
b and g uniform over their powers of two).

    A  unconstrained                      B  b_i = b (shared)        C  B + g_i = g (shared)
    D  C + w_{i+1} >= w_i                 E  D + d_{i+1} >= d_i

The monotone spaces are sampled *exactly* from the conditional distribution (the same law as
rejecting non-monotone draws), by dynamic programming over the discrete marginals.

RegNet (Eqs 2-4, pycls sampler): d uniform integer in [1, 63]; w0 log-uniform on [8, 256] rounded
to 8; wa log-uniform on [8, 256] rounded to 0.1; wm log-uniform on [1.5, 3] rounded to 0.001; b and
g shared as above. A draw is kept when the quantized linear rule yields exactly ``num_stages`` stages
and none collapsed (pycls: num_stages == total_stages). Variants: ``RegNet_wm2`` (wm = 2) and
``RegNet_w0wa`` (w0 = wa), Fig 9.

Complexity is counted analytically (:func:`anynet_complexity`, pycls conventions, the same numbers
as :func:`paperlib.metrics.complexity` on the built module -- checked by the tests), so rejection
sampling costs microseconds per draw.

The 32-px CIFAR-style profiles (3x3 stride-1 16-channel stem, 3 stages each of stride 2) use the
same spaces with ``num_stages=3`` and a scaled window (e.g. 3-5 M MACs); see :func:`sample`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["DesignSpace", "SPACES", "get_space", "sample", "sample_one", "space_size", "space_dim",
           "anynet_complexity", "PAPER_SPACE_SIZES", "PAPER_FLOP_WINDOW", "SMALL_FLOP_WINDOW",
           "check_constraints", "model_from_sample"]

PAPER_FLOP_WINDOW = (360e6, 400e6)      # paper: 360-400 MF at 224 px, 4 stages
SMALL_FLOP_WINDOW = (3e6, 5e6)          # spec default profile: 32 px, CIFAR stem, 3 stages

# Table 1 (the paper's rounding) -- recomputed by space_size()
PAPER_SPACE_SIZES = {"AnyNetX_A": 1.85e18, "AnyNetX_B": 6.84e16, "AnyNetX_C": 3.17e14,
                     "AnyNetX_D": 1.32e13, "AnyNetX_E": 5.5e11, "RegNet": 3.02e8}


@dataclass(frozen=True)
class DesignSpace:
    """A design space: parameter ranges, sharing and monotonicity constraints.

    kind "anynet": per-stage d, w, b, g;  kind "regnet": (d, w0, wa, wm, b, g).
    ``shared_b`` / ``shared_g``: one b / g for all stages.  ``inc_w`` / ``inc_d``: non-decreasing
    widths / depths across stages.  Ranges are inclusive.
    """
    name: str
    kind: str = "anynet"
    shared_b: bool = False
    shared_g: bool = False
    inc_w: bool = False
    inc_d: bool = False
    depth_range: Tuple[int, int] = (1, 16)
    width_range: Tuple[int, int] = (8, 1024)
    width_q: int = 8
    bs: Tuple[int, ...] = (1, 2, 4)                 # bottleneck ratios (w_b = w / b)
    gs: Tuple[int, ...] = (1, 2, 4, 8, 16, 32)      # group widths (channels per group)
    # RegNet
    regnet_depth_range: Tuple[int, int] = (1, 63)   # d < 64
    w0_range: Tuple[float, float] = (8, 256)
    wa_range: Tuple[float, float] = (8, 256)
    wm_range: Tuple[float, float] = (1.5, 3.0)
    fixed_wm: Optional[float] = None                # RegNet_wm2
    tie_w0_wa: bool = False                          # RegNet_w0wa
    regnet_grid: int = 64                            # values per continuous parameter (Table 1)
    description: str = ""

    def with_ranges(self, **kw) -> "DesignSpace":
        """A copy with other ranges (e.g. ``width_range=(8, 256)`` for a small profile)."""
        return replace(self, **kw)


SPACES: Dict[str, DesignSpace] = {
    "AnyNetX_A": DesignSpace("AnyNetX_A", description="unconstrained: per-stage d, w, b, g"),
    "AnyNetX_B": DesignSpace("AnyNetX_B", shared_b=True, description="A + shared bottleneck ratio b"),
    "AnyNetX_C": DesignSpace("AnyNetX_C", shared_b=True, shared_g=True,
                             description="B + shared group width g"),
    "AnyNetX_D": DesignSpace("AnyNetX_D", shared_b=True, shared_g=True, inc_w=True,
                             description="C + non-decreasing widths"),
    "AnyNetX_E": DesignSpace("AnyNetX_E", shared_b=True, shared_g=True, inc_w=True, inc_d=True,
                             description="D + non-decreasing depths"),
    "RegNet": DesignSpace("RegNet", kind="regnet", shared_b=True, shared_g=True, inc_w=True, inc_d=False,
                          description="quantized linear widths (d, w0, wa, wm, b, g)"),
    "RegNet_wm2": DesignSpace("RegNet_wm2", kind="regnet", shared_b=True, shared_g=True, inc_w=True,
                              fixed_wm=2.0, description="RegNet with wm = 2"),
    "RegNet_w0wa": DesignSpace("RegNet_w0wa", kind="regnet", shared_b=True, shared_g=True, inc_w=True,
                               tie_w0_wa=True, description="RegNet with w0 = wa"),
}


def get_space(space) -> DesignSpace:
    if isinstance(space, DesignSpace):
        return space
    if space not in SPACES:
        raise KeyError(f"unknown design space {space!r}; choose from {sorted(SPACES)}")
    return SPACES[space]


# ----------------------------------------------------------------------------- sizes (Table 1)
def space_dim(space, num_stages: int = 4) -> int:
    """Degrees of freedom: A 16, B 13, C 10, D 10, E 10, RegNet 6 (paper Table 1)."""
    s = get_space(space)
    if s.kind == "regnet":
        return 6 - (s.fixed_wm is not None) - bool(s.tie_w0_wa)
    k = num_stages
    return 2 * k + (1 if s.shared_b else k) + (1 if s.shared_g else k)


def space_size(space, num_stages: int = 4, exact: bool = False) -> float:
    """Number of configurations, from the definitions.

    Paper convention (``exact=False``, Table 1): per stage 16 depths x 128 widths (x 3 b x 6 g when
    not shared); each monotonicity constraint divides by num_stages! (the paper's approximation).
    ``exact=True`` counts the non-decreasing sequences exactly (C(n + k - 1, k)).
    RegNet: 64 values for each of d, w0, wa, wm, times 3 b and 6 g (paper: ~64^4 * 6 * 3).
    """
    s = get_space(space)
    nb, ng = len(s.bs), len(s.gs)
    if s.kind == "regnet":
        n = s.regnet_grid
        ncont = 4 - (s.fixed_wm is not None) - bool(s.tie_w0_wa)
        return float(n ** ncont * nb * ng)
    k = num_stages
    nd = s.depth_range[1] - s.depth_range[0] + 1
    nw = (s.width_range[1] - s.width_range[0]) // s.width_q + 1

    def seqs(n_values: int, inc: bool) -> float:
        if not inc:
            return float(n_values) ** k
        if exact:
            return float(math.comb(n_values + k - 1, k))
        return float(n_values) ** k / math.factorial(k)

    total = seqs(nd, s.inc_d) * seqs(nw, s.inc_w)
    total *= nb if s.shared_b else nb ** k
    total *= ng if s.shared_g else ng ** k
    return total


# ----------------------------------------------------------------------------- complexity
def _conv(cx, h, w, cin, cout, k, stride, groups=1, bias=False):
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    cx["flops"] += k * k * cin * cout // groups * ho * wo + (cout * ho * wo if bias else 0)
    cx["params"] += k * k * cin * cout // groups + (cout if bias else 0)
    cx["acts"] += cout * ho * wo
    return ho, wo


def anynet_complexity(cfg, input_size=224) -> Dict[str, int]:
    """flops (multiply-adds), params, acts of an AnyNet config, analytically (pycls conventions).

    ``cfg``: an :class:`~paperlib.models.anynet.AnyNetConfig` or its dict. ``input_size``: int or
    (H, W). Convs/FC count MACs (+ bias adds for the biased SE convs and the FC); BN counts 2 params
    per channel; acts = outputs of every conv/FC; conv output size floor((h - 1) / s) + 1.
    """
    c = cfg if isinstance(cfg, dict) else asdict(cfg)
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)[-2:]
    cx = {"flops": 0, "params": 0, "acts": 0}
    stem, sw = c["stem"], c["stem_width"]
    if stem in ("imagenet", "imagenet_nopool"):
        h, w = _conv(cx, h, w, 3, sw, 7, 2)
        if stem == "imagenet":    # 3x3/2 max pool (its outputs count as acts, as in complexity())
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
            cx["acts"] += sw * h * w
    else:
        h, w = _conv(cx, h, w, 3, sw, 3, 2 if stem == "simple" else 1)
    cx["params"] += 2 * sw
    w_in = sw
    se = c.get("se_ratio")
    shortcut = c.get("shortcut", True)
    for d, wo_, s, wb, gw in zip(c["depths"], c["widths"], c["strides"], c["bot_widths"], c["group_widths"]):
        for i in range(d):
            stride = s if i == 0 else 1
            if shortcut and (w_in != wo_ or stride != 1):
                _conv(cx, h, w, w_in, wo_, 1, stride)
                cx["params"] += 2 * wo_
            _conv(cx, h, w, w_in, wb, 1, 1)
            cx["params"] += 2 * wb
            h2, w2 = _conv(cx, h, w, wb, wb, 3, stride, groups=wb // gw)
            cx["params"] += 2 * wb
            if se:
                w_se = int(round(se * w_in))
                _conv(cx, 1, 1, wb, w_se, 1, 1, bias=True)
                _conv(cx, 1, 1, w_se, wb, 1, 1, bias=True)
            _conv(cx, h2, w2, wb, wo_, 1, 1)
            cx["params"] += 2 * wo_
            h, w, w_in = h2, w2, wo_
    nc = c["num_classes"]
    cx["flops"] += w_in * nc + nc
    cx["params"] += w_in * nc + nc
    cx["acts"] += nc
    return cx


# ----------------------------------------------------------------------------- sampling
def _log_uniform_pmf(values: np.ndarray, lo: float, hi: float, q: float) -> np.ndarray:
    """P(round(X / q) * q = v) for log X ~ U[log lo, log hi], over the grid ``values``."""
    a = np.maximum(lo, values - q / 2)
    b = np.minimum(hi, values + q / 2)
    p = np.where(b > a, np.log(np.maximum(b, 1e-300)) - np.log(np.maximum(a, 1e-300)), 0.0)
    return p / p.sum()


def _grid(lo, hi, q):
    return np.arange(lo, hi + q / 2, q)


def _draw_seq(rng, values: np.ndarray, pmf: np.ndarray, k: int, increasing: bool) -> List:
    """k draws from ``pmf``; with ``increasing``, conditioned on being non-decreasing (exact)."""
    if not increasing:
        return [values[i].item() for i in rng.choice(len(values), size=k, p=pmf)]
    n = len(values)
    # tail[j][x] = sum over non-decreasing continuations of length j starting at a value >= x
    # f_j(x) = p(x) * S_{j-1}(x),  S_j(x) = sum_{y >= x} f_j(y),  S_0 = 1
    S = [np.ones(n)]
    for j in range(1, k + 1):
        f = pmf * S[j - 1]
        S.append(np.cumsum(f[::-1])[::-1])
    out, lo = [], 0
    for j in range(k, 0, -1):
        f = np.zeros(n)
        f[lo:] = pmf[lo:] * S[j - 1][lo:]
        i = int(rng.choice(n, p=f / f.sum()))
        out.append(values[i].item())
        lo = i
    return out


def _pow2_choice(rng, options, k, shared):
    if shared:
        return [options[int(rng.integers(len(options)))]] * k
    return [options[int(i)] for i in rng.integers(len(options), size=k)]


@functools.lru_cache(maxsize=64)
def _marginals(space: DesignSpace):
    dv = _grid(space.depth_range[0], space.depth_range[1], 1).astype(int)
    wv = _grid(space.width_range[0], space.width_range[1], space.width_q).astype(int)
    dp = _log_uniform_pmf(dv.astype(float), *space.depth_range, 1)
    wp = _log_uniform_pmf(wv.astype(float), *space.width_range, space.width_q)
    return dv, dp, wv, wp


def _anynet_arch(space: DesignSpace, rng, num_stages: int) -> Dict[str, list]:
    k = num_stages
    dv, dp, wv, wp = _marginals(space)
    ds = _draw_seq(rng, dv, dp, k, space.inc_d)
    ws = _draw_seq(rng, wv, wp, k, space.inc_w)
    bs = _pow2_choice(rng, space.bs, k, space.shared_b)
    gs = _pow2_choice(rng, space.gs, k, space.shared_g)
    return {"ds": [int(x) for x in ds], "ws": [int(x) for x in ws], "bs": [int(x) for x in bs],
            "gs": [int(x) for x in gs]}


def _log_uniform(rng, lo, hi, q):
    x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    v = round(x / q) * q
    return min(max(v, lo), hi)


def _regnet_arch(space: DesignSpace, rng) -> Dict[str, float]:
    d = int(rng.integers(space.regnet_depth_range[0], space.regnet_depth_range[1] + 1))
    w0 = int(_log_uniform(rng, *space.w0_range, 8))
    wa = w0 if space.tie_w0_wa else round(_log_uniform(rng, *space.wa_range, 0.1), 1)
    wm = space.fixed_wm if space.fixed_wm is not None else round(_log_uniform(rng, *space.wm_range, 0.001), 3)
    b = int(space.bs[int(rng.integers(len(space.bs)))])
    g = int(space.gs[int(rng.integers(len(space.gs)))])
    return {"d": d, "w0": w0, "wa": float(wa), "wm": float(wm), "b": b, "g": g}


def _anynet_config_from_arch(arch, stem, stem_width, strides, num_classes):
    from .models.anynet import AnyNetConfig
    from .models.regnet import adjust_block_compatibility
    ws, ds, bs, gs = arch["ws"], arch["ds"], arch["bs"], arch["gs"]
    muls = [1.0 / b for b in bs]
    ws, _, gs = adjust_block_compatibility(ws, muls, gs)
    bot = [int(round(w * m)) for w, m in zip(ws, muls)]
    return AnyNetConfig(stem=stem, stem_width=stem_width, depths=list(ds), widths=list(ws),
                        strides=list(strides), bot_widths=bot, group_widths=list(gs),
                        se_ratio=None, num_classes=num_classes)


def model_from_sample(s: dict):
    """Build the AnyNet of a sampled record (``s["cfg"]`` is the AnyNetConfig dict)."""
    from .models.anynet import AnyNet, AnyNetConfig
    return AnyNet(AnyNetConfig(**s["cfg"]))


def sample_one(space, rng, *, input_size=224, stem="simple", stem_width=32, num_stages=4,
               strides=None, num_classes=1000, se=False):
    """One draw from ``space`` (no complexity constraint). None when a RegNet draw does not give
    exactly ``num_stages`` stages. Returns a record dict (see :func:`sample`)."""
    from .models.regnet import generate_regnet_full, regnet_config
    sp = get_space(space)
    st = list(strides) if strides is not None else [2] * num_stages
    if sp.kind == "regnet":
        a = _regnet_arch(sp, rng)
        r = generate_regnet_full(a["wa"], a["w0"], a["wm"], a["d"])
        if r["num_stages"] != num_stages or r["total_stages"] != num_stages:
            return None
        cfg = regnet_config(a["d"], a["w0"], a["wa"], a["wm"], a["g"], a["b"], se=se, stem=stem,
                            stem_width=stem_width, num_classes=num_classes, strides=st)
        arch = dict(a)
        arch.update(ds=list(cfg.depths), ws=list(cfg.widths), bs=[a["b"]] * num_stages,
                    gs=list(cfg.group_widths))
    else:
        arch = _anynet_arch(sp, rng, num_stages)
        cfg = _anynet_config_from_arch(arch, stem, stem_width, st, num_classes)
        if se:
            cfg.se_ratio = 0.25
    cx = anynet_complexity(cfg, input_size)
    return {"space": sp.name, "arch": arch, "cfg": asdict(cfg), **cx}


def sample(space, n: int, rng=None, *, flop_window: Optional[Tuple[float, float]] = PAPER_FLOP_WINDOW,
           input_size=224, stem: str = "simple", stem_width: int = 32, num_stages: int = 4,
           strides=None, num_classes: int = 1000, se: bool = False, max_tries: int = 2_000_000,
           param_window: Optional[Tuple[float, float]] = None, **space_overrides) -> List[dict]:
    """Draw ``n`` models from ``space`` by rejection until n fall in ``flop_window`` (inclusive MACs).

    Paper: ``flop_window=(360e6, 400e6)``, 224 px, simple stem (32 ch), 4 stages, 1000 classes.
    Small 32-px profiles: e.g. ``flop_window=(3e6, 5e6), input_size=32, stem="cifar", stem_width=16,
    num_stages=3, num_classes=10``. ``space_overrides`` replace the space's ranges
    (e.g. ``width_range=(8, 256)``). ``rng``: a numpy Generator or an int seed.

    Each record: ``space``, ``arch`` (the sampled design parameters, after compatibility),
    ``cfg`` (AnyNetConfig as a dict), ``flops``, ``params``, ``acts``.
    """
    sp = get_space(space)
    if space_overrides:
        sp = sp.with_ranges(**space_overrides)
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    out, tries = [], 0
    while len(out) < n:
        tries += 1
        if tries > max_tries:
            raise RuntimeError(f"{sp.name}: only {len(out)} of {n} models in window {flop_window} "
                               f"after {max_tries} draws")
        s = sample_one(sp, rng, input_size=input_size, stem=stem, stem_width=stem_width,
                       num_stages=num_stages, strides=strides, num_classes=num_classes, se=se)
        if s is None:
            continue
        if flop_window is not None and not (flop_window[0] <= s["flops"] <= flop_window[1]):
            continue
        if param_window is not None and not (param_window[0] <= s["params"] <= param_window[1]):
            continue
        s["draws"] = tries
        out.append(s)
    return out


def check_constraints(space, rec: dict) -> Dict[str, bool]:
    """Which of the space's constraints a sampled record satisfies (all must be True)."""
    sp = get_space(space)
    a, c = rec["arch"], rec["cfg"]
    ws, ds = c["widths"], c["depths"]
    bots, gws = c["bot_widths"], c["group_widths"]
    ratios = [w / b for w, b in zip(ws, bots)]
    res = {
        "depth_range": all(sp.depth_range[0] <= d <= sp.depth_range[1] for d in ds) if sp.kind == "anynet"
        else sp.regnet_depth_range[0] <= sum(ds) <= sp.regnet_depth_range[1],
        "width_q8": all(w % 8 == 0 for w in ws),
        "groups_divide": all(b % g == 0 for b, g in zip(bots, gws)),
        "b_in_set": all(any(abs(r - b) < 1e-9 for b in sp.bs) for r in ratios),
        "g_in_set": (a["g"] in sp.gs) if sp.kind == "regnet" else all(g in sp.gs for g in a["gs"]),
    }
    if sp.kind == "anynet":
        res["width_range"] = all(sp.width_range[0] <= w <= sp.width_range[1] for w in ws)
    if sp.shared_b:
        res["shared_b"] = len(set(round(r, 9) for r in ratios)) == 1
    if sp.shared_g:
        # compatibility may lower g to w_b in a narrow stage (pycls); otherwise one shared value
        res["shared_g"] = len(set(g for g, b in zip(gws, bots) if g != b) | {max(gws)}) == 1
    if sp.inc_w:
        res["inc_w"] = all(x <= y for x, y in zip(ws, ws[1:]))
    if sp.inc_d:
        res["inc_d"] = all(x <= y for x, y in zip(ds, ds[1:]))
    if sp.kind == "regnet":
        from .models.regnet import generate_regnet
        ws2, ds2 = generate_regnet(a["wa"], a["w0"], a["wm"], a["d"])
        res["regnet_rule"] = list(ds2) == list(ds)
        res["wm_range"] = (sp.fixed_wm == a["wm"]) if sp.fixed_wm is not None else \
            sp.wm_range[0] <= a["wm"] <= sp.wm_range[1]
        if sp.tie_w0_wa:
            res["w0_eq_wa"] = a["w0"] == a["wa"]
    return res
