"""09 Early Convolutions Help Transformers See Better: exact complexity tables, stem checks, CPU timing,
the trained contrasts, figures and the claims C1-C6 (the trained runs come from
:mod:`paperlib.experiments.vit_early_convs`).

Every verdict is computed: exact anchors by :func:`stats.decide_exact` / :func:`stats.decide_all`;
trained contrasts (A better than B) by :func:`stats.decide_trained`: the 95 % paired bootstrap interval
over validation images widened by the seed noise, AND (for held and for not held) the floor
max(2 x seed std of the per-seed contrast, min_effect);
EDF comparisons by :func:`metrics.edf.compare_spaces` + ``decide_comparison``.
"""
from __future__ import annotations

import math
import time
from typing import Dict, List, Sequence

import numpy as np

from ..metrics import stats
from .vit_early_convs import PAIR, collect, err_of

__all__ = ["PAPER_TABLE1", "PAPER_TABLE3", "STEM_ANCHORS", "table1_rows", "table3_rows", "structure_checks",
           "forward_timing", "timing_correlations", "train_step_ratio", "gap_contrast", "short_contrast",
           "peak_contrast", "edf_deltas", "edf_comparisons", "plot_fig3", "plot_fig2", "plot_edfs", "plot_fig9",
           "search_rows", "claims"]

#: Table 1 as printed (flops G, params M, acts M, epoch minutes on 8 V100)
PAPER_TABLE1 = {"vit_p_1gf": (1.1, 4.8, 5.5, 2.6), "vit_p_4gf": (3.9, 18.5, 11.1, 3.8),
                "vit_p_18gf": (17.5, 86.7, 24.0, 11.5), "vit_p_36gf": (35.9, 178.4, 37.3, 18.8),
                "vit_c_1gf": (1.1, 4.6, 5.7, 2.7), "vit_c_4gf": (4.0, 17.8, 11.3, 3.9),
                "vit_c_18gf": (17.7, 81.6, 24.1, 11.4), "vit_c_36gf": (35.0, 167.8, 36.7, 18.6)}
#: Table 3 (stems at 4GF width): flops M, params M, AdamW err, SGD err, printed delta
PAPER_TABLE3 = {"P": (58, 0.3, 27.7, 33.0, 5.3), "C": (435, 1.0, 24.0, 24.7, 0.7), "S1": (422, 0.8, 24.3, 25.1, 0.8),
                "S2": (422, 0.7, 24.3, 25.3, 1.0), "S3": (458, 0.7, 25.1, 26.2, 1.1), "S4": (407, 0.6, 26.2, 27.9, 1.3)}
#: exact stem counts (MACs, params, acts or None) at 224 px, D = 384 (spec "Verification anchors");
#: S1 has none: its printed channel list and its printed cost disagree (one of them is mis-extracted)
STEM_ANCHORS = {"P": (57_878_016, 295_296, 75_264), "C": (435_402_240, 1_021_488, 1_204_224),
                "S2": (421_955_072, 716_960, None), "S3": (458_345_216, 671_459, None), "S4": (407_504_384, 555_464, None)}


# ----------------------------------------------------------------------------- exact tables
def _meta_model(name: str):
    import torch

    from ..models import create_model
    with torch.device("meta"):
        return create_model(name)


def table1_rows(names: Sequence[str]) -> tuple:
    """(rows, ok): each model's counted MACs / params / acts (built on the meta device) beside the
    registry's exact anchors and Table 1's printed values; ok[name] = exact equality."""
    from ..metrics.complexity import complexity
    from ..models import get_model_meta
    rows, ok = [], {}
    for n in names:
        meta = get_model_meta(n)
        m = _meta_model(n)
        c = complexity(m, meta["input_size"])
        ok[n] = all(c[k] == meta[k] for k in ("flops", "params", "acts"))
        pf, pp, pa, pt = PAPER_TABLE1.get(n, (None,) * 4)
        rows.append({"model": n, "blocks": len(m.blocks), "hidden": m.embed_dim, "flops G": c["flops"] / 1e9,
                     "params M": c["params"] / 1e6, "acts M": c["acts"] / 1e6, "MACs": c["flops"],
                     "params": c["params"], "acts": c["acts"], "exact": ok[n], "paper flops G": pf,
                     "paper params M": pp, "paper acts M": pa, "paper epoch min": pt})
    return rows, ok


def table3_rows() -> tuple:
    """(rows, ok): complexity of Table 3's stems (patchify P and conv stems C, S1-S4 at 4GF width, 224 px)."""
    from ..metrics.complexity import complexity
    from ..models.vit import EC_TABLE3_STEMS, conv_stem, patchify_stem
    rows, ok = [], {}
    for name in ["P", *EC_TABLE3_STEMS]:
        stem = patchify_stem(16)(224, 3, 384) if name == "P" else conv_stem(*EC_TABLE3_STEMS[name])(224, 3, 384)
        c = complexity(stem)
        anchor = STEM_ANCHORS.get(name)
        if anchor:
            ok[name] = c["flops"] == anchor[0] and c["params"] == anchor[1] and anchor[2] in (None, c["acts"])
        pf, pp, ea, es, dl = PAPER_TABLE3[name]
        spec = EC_TABLE3_STEMS.get(name, ([16], [16], [384]))
        rows.append({"stem": name, "kernels": ",".join(map(str, spec[0])), "strides": ",".join(map(str, spec[1])),
                     "channels": ",".join(map(str, spec[2])), "grid": f"{stem.grid_size[0]}x{stem.grid_size[1]}",
                     "MACs": c["flops"], "params": c["params"], "acts": c["acts"],
                     "exact vs spec": ok.get(name, "no exact anchor"), "paper flops M": pf, "paper params M": pp,
                     "paper AdamW err": ea, "paper SGD err": es, "paper delta": dl})
    return rows, ok


def structure_checks() -> Dict[str, bool]:
    """The spec's structural pitfalls, checked on the real modules: every C stem gives 14x14 at 224 (8x8
    for the tiny stem at 32); BN -> ReLU after every non-final conv, none after the final 1x1 (which has
    a bias); ViT_C has exactly one block fewer than ViT_P."""
    from torch import nn

    from ..models.vit import ConvStem, EC_SIZES
    out = {}
    for regime in EC_SIZES:
        p, c = _meta_model(f"vit_p_{regime}"), _meta_model(f"vit_c_{regime}")
        out[f"{regime}: C blocks = P blocks - 1"] = len(c.blocks) == len(p.blocks) - 1
        out[f"{regime}: C grid 14x14"] = tuple(c.patch_embed.grid_size) == (14, 14)
    import torch

    from ..models import create_model
    with torch.device("meta"):
        tp, tc = create_model("vit_p_tiny"), create_model("vit_c_tiny")
    out["tiny: C blocks = P blocks - 1"] = len(tc.blocks) == len(tp.blocks) - 1
    out["tiny: C grid 8x8 = P grid"] = tuple(tc.patch_embed.grid_size) == (8, 8) == tuple(tp.patch_embed.grid_size)
    stems = [m.patch_embed for m in (tc, *(_meta_model(f"vit_c_{r}") for r in EC_SIZES))]
    good = True
    for s in stems:
        good &= isinstance(s, ConvStem)
        for layer in s.layers:
            kinds = [type(x) for x in layer]
            good &= kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] and layer[0].bias is None
        good &= s.proj.kernel_size == (1, 1) and s.proj.bias is not None
    out["stems: conv(no bias) -> BN -> ReLU, final 1x1 with bias and nothing after"] = bool(good)
    return out


# ----------------------------------------------------------------------------- timing (Fig 9, C1)
def _set_threads(threads: int):
    import torch
    prev = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    return prev


def forward_timing(names: Sequence[str], *, batch: int = 1, reps: int = 3, threads: int = 1, device="cpu") -> List[dict]:
    """Median forward time (seconds) of each ImageNet model at 224 px, eval mode, no grad, on ``device``
    (one warm-up pass first), with its exact complexity. A measurement of this machine, not the paper's GPUs."""
    import torch

    from ..metrics.complexity import complexity
    from ..models import create_model
    prev = _set_threads(threads)
    rows = []
    try:
        for n in names:
            torch.manual_seed(0)
            m = create_model(n).eval().to(device)
            x = torch.randn(batch, 3, 224, 224, device=device)
            ts = []
            with torch.no_grad():
                for i in range(reps + 1):
                    if device != "cpu" and torch.cuda.is_available():
                        torch.cuda.synchronize()
                    t = time.perf_counter()
                    m(x)
                    if device != "cpu" and torch.cuda.is_available():
                        torch.cuda.synchronize()
                    if i:
                        ts.append(time.perf_counter() - t)
            c = complexity(m)
            rows.append({"model": n, "seconds": float(np.median(ts)), "batch": batch, "threads": torch.get_num_threads(),
                         "flops G": c["flops"] / 1e9, "params M": c["params"] / 1e6, "acts M": c["acts"] / 1e6})
            del m
    finally:
        torch.set_num_threads(prev)
    return rows


def timing_correlations(rows: Sequence[dict]) -> Dict[str, float]:
    """Pearson r of forward time with acts / flops / params (paper Fig 9 on GPU: 0.93 / 0.75 / 0.71)."""
    t = np.array([r["seconds"] for r in rows])
    out = {}
    for k in ("acts M", "flops G", "params M"):
        x = np.array([r[k] for r in rows])
        out[k.split()[0]] = float(np.corrcoef(x, t)[0, 1]) if len(rows) > 2 and t.std() > 0 and x.std() > 0 else float("nan")
    return out


def train_step_ratio(build_p, build_c, *, batch: int, size: int, num_classes: int, reps: int = 5,
                     threads: int = 1, seed: int = 0, n_boot: int = 1000) -> dict:
    """Training-step time (forward + backward + AdamW) of the two models of the pair, interleaved
    repetitions after one warm-up each; ratio C/P of the medians and a bootstrap 95 % CI of it."""
    import torch
    import torch.nn.functional as F
    prev = _set_threads(threads)
    try:
        torch.manual_seed(seed)
        x = torch.randn(batch, 3, size, size)
        y = torch.randint(0, num_classes, (batch,))
        models = {"P": build_p(), "C": build_c()}
        opts = {k: torch.optim.AdamW(m.parameters(), 1e-4) for k, m in models.items()}
        times = {"P": [], "C": []}
        for i in range(reps + 1):
            for k, m in models.items():
                t = time.perf_counter()
                loss = F.cross_entropy(m(x), y)
                opts[k].zero_grad()
                loss.backward()
                opts[k].step()
                if i:
                    times[k].append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(prev)
    p, c = np.array(times["P"]), np.array(times["C"])
    rng = np.random.default_rng(seed)
    boots = [np.median(c[rng.integers(0, c.size, c.size)]) / np.median(p[rng.integers(0, p.size, p.size)])
             for _ in range(n_boot)]
    return {"ratio": float(np.median(c) / np.median(p)), "ci95": [float(np.quantile(boots, 0.025)),
            float(np.quantile(boots, 0.975))], "p_seconds": p.tolist(), "c_seconds": c.tolist(), "batch": batch}


# ----------------------------------------------------------------------------- trained contrasts
def _by_seed(recs: Sequence[dict]) -> Dict[int, dict]:
    return {int(r["config"]["seed"]): r for r in recs if r.get("status") == "ok"}


def _wrong(r: dict) -> np.ndarray:
    return np.asarray(r["result"]["wrong"], dtype=float)


def _contrast(terms: Sequence[tuple], *, expect: str, min_effect: float, n_boot: int, seed: int = 0, **ev):
    """sum(sign * err(arm)) over ``terms`` = [(sign, {seed: record}), ...], decided with the common rule:
    per-seed contrasts (their std is the seed noise) and a bootstrap over validation images of the
    per-image contrast averaged over seeds (paired: every arm is evaluated on the same images)."""
    seeds = sorted(set.intersection(*[set(t[1]) for t in terms])) if terms else []
    if not seeds:
        return stats.decide_trained(float("nan"), expect=expect, min_effect=min_effect, **ev), {}
    per_seed = [sum(s * err_of(arms[sd]) for s, arms in terms) for sd in seeds]
    items = np.mean([sum(s * _wrong(arms[sd]) for s, arms in terms) for sd in seeds], axis=0)
    lo, hi = stats.bootstrap_ci(items, n_boot=n_boot, seed=seed)
    seed_std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None
    diff = float(np.mean(per_seed))
    diverged = {f"{t}": sum(bool(a[sd]["result"]["diverged"]) for sd in seeds) for t, (_, a) in enumerate(terms)}
    v = stats.decide_trained(diff, lo, hi, expect=expect, min_effect=min_effect, per_seed=per_seed, seeds=seeds,
                             diverged_runs_per_term=diverged, **ev)
    return v, {"diff": diff, "ci95": [lo, hi], "seed_std": seed_std, "per_seed": per_seed}


def gap_contrast(best_recs: Sequence[dict], *, min_effect: float, n_boot: int) -> tuple:
    """Fig 3 / C2: gap_P - gap_C with gap = err_SGD - err_AdamW (paper: > 0)."""
    g = {k: _by_seed(v) for k, v in collect(best_recs).items()}
    need = [("P", "sgd"), ("P", "adamw"), ("C", "sgd"), ("C", "adamw")]
    if any(k not in g for k in need):
        return stats.not_tested("a (model, optimizer) arm has no finished run"), {}
    return _contrast([(1, g[("P", "sgd")]), (-1, g[("P", "adamw")]), (-1, g[("C", "sgd")]), (1, g[("C", "adamw")])],
                     expect="+", min_effect=min_effect, n_boot=n_boot, contrast="gap_P - gap_C")


def short_contrast(best_recs: Sequence[dict], short_recs: Sequence[dict], *, min_effect: float, n_boot: int) -> tuple:
    """Fig 2 / C3: (err_short - err_long)_P - (err_short - err_long)_C, AdamW (paper: > 0)."""
    g, s = ({k: _by_seed(v) for k, v in collect(r).items()} for r in (best_recs, short_recs))
    need = [("P", "adamw"), ("C", "adamw")]
    if any(k not in g or k not in s for k in need):
        return stats.not_tested("a short or long AdamW arm has no finished run"), {}
    return _contrast([(1, s[("P", "adamw")]), (-1, g[("P", "adamw")]), (-1, s[("C", "adamw")]), (1, g[("C", "adamw")])],
                     expect="+", min_effect=min_effect, n_boot=n_boot, contrast="penalty_P - penalty_C")


def peak_contrast(best_recs: Sequence[dict], *, min_effect: float, n_boot: int) -> tuple:
    """C5: err_P - err_C with each model's best AdamW config (paper: > 0, 1-2 points)."""
    g = {k: _by_seed(v) for k, v in collect(best_recs).items()}
    if ("P", "adamw") not in g or ("C", "adamw") not in g:
        return stats.not_tested("an AdamW arm has no finished run"), {}
    return _contrast([(1, g[("P", "adamw")]), (-1, g[("C", "adamw")])], expect="+", min_effect=min_effect,
                     n_boot=n_boot, contrast="err_P - err_C (AdamW)")


def edf_deltas(search_recs: Sequence[dict]) -> Dict[tuple, np.ndarray]:
    """(arm, optimizer) -> error minus the best error of that arm and optimizer (Figs 4/5), every
    search run included (a diverged run is at error 1.0)."""
    out = {}
    for k, recs in collect(search_recs).items():
        e = np.array([err_of(r) for r in recs])
        e = e[np.isfinite(e)]
        if e.size:
            out[k] = e - e.min()
    return out


# the fewest random-search runs per (model, optimizer) whose EDF contrast is decided (C4)
MIN_EDF_RUNS = 5


def edf_comparisons(deltas: Dict[tuple, np.ndarray], *, n_boot: int, seed: int = 0) -> Dict[str, tuple]:
    """Per optimizer: compare_spaces(A = ViT_P deltas, B = ViT_C deltas) and its verdict on the mean
    delta (C4: B better = more runs near their best)."""
    from ..metrics.edf import compare_spaces, decide_comparison
    out = {}
    for opt in ("adamw", "sgd"):
        a, b = deltas.get(("P", opt)), deltas.get(("C", opt))
        if a is None or b is None or min(a.size, b.size) < MIN_EDF_RUNS:
            n = 0 if a is None or b is None else min(a.size, b.size)
            out[opt] = (stats.not_tested(f"{opt}: {n} search runs per model, fewer than {MIN_EDF_RUNS}: a bootstrap "
                                         "over so few runs (10 distinct resamples of 3) is no 95 % interval"), None)
            continue
        cmp = compare_spaces(a, b, n_boot=n_boot, seed=seed)
        out[opt] = (decide_comparison(cmp, "mean_diff", b_better=True, optimizer=opt), cmp)
    return out


def search_rows(search_recs: Sequence[dict]) -> List[dict]:
    rows = []
    for r in search_recs:
        c = r["config"]
        res = r.get("result") or {}
        rows.append({"model": c["arm"], "optimizer": c["train"]["optimizer"], "lr": c["train"]["lr"],
                     "wd": c["train"]["weight_decay"], "seed": c["seed"], "status": r.get("status"),
                     "err %": 100 * err_of(r), "diverged": res.get("diverged")})
    return rows


# ----------------------------------------------------------------------------- figures
def plot_fig3(best_recs: Sequence[dict], title: str = ""):
    from ..plots import COLORS, subplots
    fig, ax = subplots(1, 1, width=4.2, height=3.0)
    g = {k: _by_seed(v) for k, v in collect(best_recs).items()}
    for i, arm in enumerate(PAIR):
        for j, opt in enumerate(("adamw", "sgd")):
            errs = [100 * err_of(r) for r in g.get((arm, opt), {}).values()]
            x = i * 3 + j
            if errs:
                ax.bar(x, np.mean(errs), color=COLORS[j], label=opt if i == 0 else None)
                ax.scatter([x] * len(errs), errs, color="k", s=8, zorder=3)
    ax.set_xticks([0.5, 3.5], ["ViT_P", "ViT_C"])
    ax.set_ylabel("val top-1 error (%)")
    ax.set_title(title or "Fig 3 analogue: SGD vs AdamW (best lr/wd, dots = seeds)", fontsize=8)
    ax.legend(fontsize=7)
    return fig


def plot_fig2(best_recs: Sequence[dict], short_recs: Sequence[dict]):
    from ..plots import COLORS, subplots
    fig, ax = subplots(1, 1, width=4.2, height=3.0)
    for recs, ls, what in ((best_recs, "-", "long"), (short_recs, "--", "short")):
        for i, arm in enumerate(PAIR):
            for sd, r in sorted(_by_seed(collect(recs).get((arm, "adamw"), [])).items()):
                cur = [100 * e for e in r["result"]["curve"]]
                ax.plot(range(1, len(cur) + 1), cur, ls, color=COLORS[i], marker="o", ms=3,
                        label=f"ViT_{arm} {what}" if sd == min(_by_seed(collect(recs).get((arm, 'adamw'), []))) else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("val top-1 error (%)")
    ax.set_title("Fig 2 analogue: AdamW, short vs long schedule", fontsize=8)
    ax.legend(fontsize=7)
    return fig


def plot_edfs(deltas: Dict[tuple, np.ndarray]):
    from ..metrics.edf import edf_curve
    from ..plots import COLORS, subplots
    fig, axes = subplots(1, 2, width=7.0, height=3.0)
    for ax, opt in zip(np.atleast_1d(axes), ("adamw", "sgd")):
        for i, arm in enumerate(PAIR):
            d = deltas.get((arm, opt))
            if d is None:
                continue
            x, y = edf_curve(100 * d)
            ax.step(x, y, where="post", color=COLORS[i], label=f"ViT_{arm} (n={d.size})")
        ax.set_xlabel("error - best error (%)")
        ax.set_ylabel("cumulative prob.")
        ax.set_title(f"Figs 4/5 analogue: {opt}", fontsize=8)
        ax.legend(fontsize=7)
    return fig


def plot_fig9(rows: Sequence[dict], device_name: str = "CPU"):
    from ..plots import COLORS, subplots
    fig, axes = subplots(1, 3, width=9.0, height=2.8)
    r = timing_correlations(rows)
    for ax, k in zip(axes, ("acts M", "flops G", "params M")):
        for row in rows:
            c = COLORS[0] if "_p_" in row["model"] else COLORS[1]
            ax.scatter(row[k], row["seconds"], color=c, s=14)
        ax.set_xlabel(k)
        ax.set_title(f"r = {r[k.split()[0]]:.2f}", fontsize=8)
    axes[0].set_ylabel(f"forward s ({device_name})")
    return fig


# ----------------------------------------------------------------------------- claims
def _forward_ratios(rows: Sequence[dict]) -> Dict[str, float]:
    """Fig 9 forward time C/P per regime (ImageNet models on this run's device; evidence for C1)."""
    t = {r["model"]: r["seconds"] for r in rows}
    return {k.split("_")[-1]: t[k.replace("_p_", "_c_")] / t[k] for k in t
            if "_p_" in k and k.replace("_p_", "_c_") in t and t[k] > 0}


def claims(cfg, *, cx_ok: Dict[str, bool], table1: Sequence[dict], stem_ok: Dict[str, bool],
           struct: Dict[str, bool], tp_ratio: dict, gap, short, peak, edf_cmp, fwd_rows=()) -> List[dict]:
    """The claim dicts ``{"claim_id", "statement", "verdict", "paper", "trained"}`` for ``run.claim(**c)``."""
    by = {r["model"]: r for r in table1}
    parity = {}
    for regime in ("1gf", "4gf", "18gf", "36gf"):
        p, c = by.get(f"vit_p_{regime}"), by.get(f"vit_c_{regime}")
        if p and c:
            parity[f"{regime} flops C/P in [0.95, 1.05]"] = abs(c["MACs"] / p["MACs"] - 1) <= 0.05
            parity[f"{regime} params C/P in [0.90, 1.05]"] = 0.90 <= c["params"] / p["params"] <= 1.05
            parity[f"{regime} acts C/P in [0.95, 1.05]"] = abs(c["acts"] / p["acts"] - 1) <= 0.05
    lo, hi = tp_ratio["ci95"]
    runtime = stats.decide_all({"train-step time ratio C/P (tiny pair, this machine): 95% CI within [0.85, 1.15]":
                                0.85 <= lo and hi <= 1.15}, ratio=tp_ratio["ratio"], ci95=[lo, hi])
    c1 = stats.combine([stats.decide_all(parity), stats.decide_all({f"{k} exact": v for k, v in cx_ok.items()}), runtime],
                       flops_ratio={k: by[f"vit_c_{k}"]["MACs"] / by[f"vit_p_{k}"]["MACs"] for k in ("1gf", "4gf", "18gf", "36gf")
                                    if f"vit_c_{k}" in by and f"vit_p_{k}" in by},
                       forward_time_ratio_c_over_p=_forward_ratios(fwd_rows))
    c2 = gap[0]
    c3 = short[0]
    c4 = stats.combine([v for v, _ in edf_cmp.values()],
                       per_optimizer={k: (v.verdict, v.reason) for k, (v, _) in edf_cmp.items()}) \
        if edf_cmp else stats.not_tested("no search runs")
    c5 = peak[0]
    c6 = stats.not_tested("needs trained stem ablations at 4GF (gpu/paper profile); this run computes the stems' "
                          "complexity only", stems_exact=stem_ok, structure=struct)
    return [
        dict(claim_id="C1", statement="A conv stem costs about one transformer block: ViT_C (one block fewer) keeps "
             "flops, params and acts within a few % of ViT_P, and the runtime", verdict=c1, trained=False,
             paper={"table1": PAPER_TABLE1, "runtime_ratio": "~1.00 (8 V100)"}),
        dict(claim_id="C2", statement="ViT_P loses more than ViT_C when trained with SGD instead of AdamW "
             "(gap_P - gap_C > 0)", verdict=c2, trained=True,
             paper={"table3_delta_P": 5.3, "table3_delta_C": 0.7, "fig3": "ViT_P up to ~10%, ViT_C < 0.2%"}),
        dict(claim_id="C3", statement="ViT_C is closer to its long-schedule error on a short schedule "
             "(penalty_P - penalty_C > 0)", verdict=c3, trained=True, paper={"1GF_50ep_gap_P": 10, "1GF_50ep_gap_C": 6}),
        dict(claim_id="C4", statement="Over random (lr, wd), ViT_C's runs sit closer to their best (mean error - "
             "best lower) for AdamW and SGD", verdict=c4, trained=True,
             paper={"sgd_18gf_within_4pct": {"C": 0.6, "P": "< 0.2"}}),
        dict(claim_id="C5", statement="ViT_C reaches lower error than ViT_P (AdamW, tuned)", verdict=c5, trained=True,
             paper={"table2_400ep_err": {"1GF": [27.7, 24.7], "4GF": [19.6, 18.6], "18GF": [17.9, 17.0],
                                         "36GF": [18.2, 16.8]}}),
        dict(claim_id="C6", statement="Stride-2 3x3 conv stems beat larger-stride / larger-kernel stems (Table 3); "
             "the convolutions, not the norm, drive the gain (Fig 7)", verdict=c6, trained=True,
             paper={k: {"AdamW err": v[2], "SGD err": v[3]} for k, v in PAPER_TABLE3.items()}),
    ]
