"""08 RegNet notebook sections: the tables, figures, metrics and claims of ``notebooks/08_regnet.ipynb``
(paper notes: ``docs/papers/08_regnet.md``).

Each function computes one section from the run's config and records and returns data / figures; the
notebook records them (``run.table`` / ``run.figure`` / ``run.metric`` / ``run.claim``), so the
notebook stays a thin narrative. The trained-job code (:mod:`paperlib.experiments.regnet`) is kept
separate on purpose: its source hash keys the sweep cache, and this module is not part of it.

Sections, in notebook order::

    cx = complexity_tables()                       # 24 RegNetX/Y tables + exactness checks
    sizes = space_size_table(); v = space_size_verdict(sizes)
    prep = prepare_sweep(cfg, run, seed)           # populations, data, sweep job configs
    records, summary = run_sweep(cfg, prep)
    errs = space_errors(records, cfg.spaces)
    population_table(records, errs) / population_metrics(errs) / edf_figure(errs, cfg)
    cmps = space_comparisons(errs, cfg, seed); comparison_verdicts(cmps)
    efit_section(records, cfg); random_search_figure(errs, seed); trends_section(records, cfg, seed)
    timing = timing_section(cfg, all24, run.device, seed)   # timed where run.device says (CPU or CUDA)
    effnet = effnet_section(cfg, run.device, seed)         # Table 4 timing; None where cfg.effnet_pairs is empty
    claims(..., effnet=effnet) -> list of run.claim keyword dicts; run_notes(cfg, errs, timing, effnet)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import regnet as ex
from .regnet_timing import (EFFNET_COLUMNS, EFFNET_MIN_SPEEDUP, FAMILIES, PYCLS_B0_TRAIN_RATIO,  # noqa: F401
                            EffnetSection,
                            TimingSection, effnet_caption, effnet_section, effnet_table, effnet_verdict,
                            timing_analysis, timing_caption, timing_figure, timing_section)   # section 5 (re-exported)

__all__ = ["FAMILIES", "TABLE_COLUMNS", "DISPLAY_COLUMNS", "ComplexityTables", "complexity_tables",
           "complexity_caption", "complexity_checks", "space_size_table", "space_size_verdict",
           "TABLE1_CAPTION", "SweepPrep", "population_summary", "data_spec", "train_config",
           "default_sweep_dir", "prepare_sweep", "TREND_SPACE", "trend_regimes", "regime_label",
           "trend_recipe", "prepare_trend_sweep", "run_sweep", "space_errors", "population_table",
           "population_caption", "population_metrics", "edf_figure", "comparison_pairs",
           "space_comparisons", "comparison_caption", "comparison_verdicts", "EfitSection",
           "efit_section", "random_search_figure", "TrendsSection", "trends_section",
           "TimingSection", "timing_analysis", "timing_caption", "timing_figure", "timing_section",
           "EFFNET_MIN_SPEEDUP", "EFFNET_COLUMNS", "EffnetSection", "effnet_table", "effnet_verdict",
           "effnet_caption", "effnet_section",
           "population_str", "claims", "run_notes"]

#: columns of the table_regnetx / table_regnety artifacts
TABLE_COLUMNS = ["model", "d", "w0", "wa", "wm", "g", "widths", "depths", "groups",
                 "GF", "params_M", "acts_M", "exact", "paper_err"]
#: columns shown in the notebook under the complexity tables
DISPLAY_COLUMNS = ["model", "widths", "depths", "groups", "flops", "params", "acts", "exact", "paper_err"]
ANYNET_CHAIN = ("AnyNetX_A", "AnyNetX_B", "AnyNetX_C", "AnyNetX_D", "AnyNetX_E")   # the paper's refinement order


# ----------------------------------------------------------------------------- 1 exact checks
@dataclass
class ComplexityTables:
    tables: Dict[str, Any]          # family -> DataFrame (regnet_table_rows + *_ok check columns)
    all24: Any                      # both families concatenated
    anchors_exact: bool             # flops/params/acts exact and rule depths, widths, groups equal the spec
    tiny: Any                       # tiny 32-px RegNet AnyNetConfig
    tiny_complexity: dict           # module-counted complexity of the tiny model
    tiny_exact: bool


def complexity_checks(df, table=None):
    """Add ``rule_depths_ok`` (the quantized linear rule regenerates the depths), ``widths_ok`` and
    ``groups_ok`` (built model's widths / group widths equal the spec) to a
    :func:`regnet.regnet_table_rows` DataFrame, in place; returns it."""
    from ..models.regnet import REGNET_TABLE, generate_regnet
    table = REGNET_TABLE if table is None else table
    rule_ok = []
    for n in df.model:
        c = table[n]["config"]
        _, dd = generate_regnet(c["wa"], c["w0"], c["wm"], c["d"])
        rule_ok.append(dd == table[n]["depths"])
    df["rule_depths_ok"] = rule_ok
    df["widths_ok"] = [str(table[n]["widths"]) == w for n, w in zip(df.model, df.widths)]
    df["groups_ok"] = [str(table[n]["groups"]) == g for n, g in zip(df.model, df.groups)]
    return df


def complexity_tables() -> ComplexityTables:
    """The 24 RegNetX/Y models built (meta device) and checked against the spec, plus the tiny 32-px
    variant's widths, depths, flops and params."""
    import pandas as pd

    from ..design_spaces import anynet_complexity
    from ..metrics import complexity as module_complexity
    from ..models import AnyNet
    from ..models.regnet import TINY_REGNET, tiny_regnet_config
    tabs = {fam: complexity_checks(pd.DataFrame(ex.regnet_table_rows(fam))) for fam in FAMILIES}
    all24 = pd.concat(tabs.values())
    anchors_exact = bool(all24.exact.all() and all24.rule_depths_ok.all() and all24.widths_ok.all()
                         and all24.groups_ok.all())
    tiny = tiny_regnet_config()
    anynet_complexity(tiny, 32)     # the analytic counter must accept the config
    tiny_mod = module_complexity(AnyNet(tiny), (3, 32, 32))
    tiny_ok = (tiny.widths, tiny.depths, tiny_mod["flops"], tiny_mod["params"]) == \
              (TINY_REGNET["widths"], TINY_REGNET["depths"], TINY_REGNET["flops"], TINY_REGNET["params"])
    return ComplexityTables(tabs, all24, anchors_exact, tiny, tiny_mod, tiny_ok)


def complexity_caption(family: str) -> str:
    return (f"{'RegNetX' if family == 'regnetx' else 'RegNetY'}: complexity computed from the built "
            "models (224 px, 1000 classes); `exact` = flops, params and acts equal the pycls "
            "anchors; paper top-1 error (ImageNet, mean of 5 runs) beside.")


TABLE1_CAPTION = ("Table 1: design-space sizes recomputed from the definitions "
                  "(paper convention: each monotonicity constraint divides by 4!; 'exact count' counts "
                  "non-decreasing sequences exactly).")


def space_size_table(spaces: Optional[Dict[str, float]] = None):
    """Table 1: dimension and size of each design space, ours beside the paper's (``spaces``: name ->
    paper size; default :data:`design_spaces.PAPER_SPACE_SIZES`)."""
    import pandas as pd

    from .. import design_spaces as ds
    spaces = ds.PAPER_SPACE_SIZES if spaces is None else spaces
    return pd.DataFrame([{"space": n, "dim": ds.space_dim(n), "size (ours)": ds.space_size(n),
                          "size (paper)": p, "size exact count": ds.space_size(n, exact=True)}
                         for n, p in spaces.items()])


def space_size_verdict(sizes, rel_tol: float = 0.006):
    """Our sizes equal the paper's within ``rel_tol`` (the paper rounds to 2 significant digits)."""
    from ..metrics import stats
    return stats.decide_exact(sizes["size (ours)"].tolist(), sizes["size (paper)"].tolist(), rel_tol=rel_tol)


# ----------------------------------------------------------------------------- 2 populations
@dataclass
class SweepPrep:
    pops: Dict[str, List[dict]]
    data: dict
    train_cfg: dict
    configs: List[dict]
    sweep_dir: Path
    data_hash: str
    n_train: int = 0
    n_val: int = 0


def population_summary(pops: Dict[str, List[dict]]) -> List[str]:
    """One line per space: n, MACs range, draws needed, an example config."""
    return [f"{sp:10s} n={len(p)}  MACs {min(r['flops'] for r in p)/1e6:.2f}-{max(r['flops'] for r in p)/1e6:.2f} M"
            f"  draws until n: {p[-1]['draws']}  e.g. d={p[0]['cfg']['depths']} w={p[0]['cfg']['widths']}"
            for sp, p in pops.items()]


def data_spec(cfg, data_root=None) -> dict:
    """The ``data`` block of a sweep job (synthetic data also carries its size and seed)."""
    data = dict(name=cfg.dataset, data_root=str(data_root) if data_root else None,
                image_size=cfg.image_size, num_classes=cfg.num_classes)
    if cfg.dataset == "synthetic":
        data.update(n_train=cfg.n_train, n_val=cfg.n_val, seed=cfg.data_seed)
    return data


def train_config(cfg) -> dict:
    """The ``train`` block of a sweep job: the same schedule for every model. ``precise_bn_images``
    (> 0: Precise-BN over that many training images before every evaluation) is added only when the
    config turns it on, so the jobs of configs without it keep their cache keys."""
    t = dict(epochs=cfg.epochs, max_steps=cfg.max_steps, lr=cfg.lr, momentum=cfg.momentum,
             nesterov=cfg.nesterov, weight_decay=cfg.weight_decay, wd_on_norm_bias=cfg.wd_on_norm_bias,
             schedule="cosine", warmup_epochs=cfg.warmup_epochs, warmup_start_factor=0.1,
             amp=False, log_every=10**9, ckpt_every_epochs=10**9)
    n_bn = int(cfg.precise_bn_images)
    if n_bn > 0:
        t["precise_bn_images"] = n_bn
    return t


def default_sweep_dir(cfg, profile: str) -> Path:
    from ..data import data_home
    return Path(cfg.sweep_dir) if cfg.sweep_dir else data_home() / "sweeps" / "08_regnet" / profile


def _job_configs(pops: Dict[str, List[dict]], data: dict, train_cfg: dict, cfg, run, seed: int) -> List[dict]:
    """One sweep job config per sampled model of every population (shared by both sweeps)."""
    dev = "cuda" if run.device.type == "cuda" else "cpu"
    return [c for pop in pops.values() for c in ex.job_configs(pop, data, train_cfg, batch_size=cfg.batch_size,
                                                                 seed=seed, device=dev)]


def prepare_sweep(cfg, run, seed: int, verbose: bool = True) -> SweepPrep:
    """Sample ``cfg.n_models(space)`` models per space in the flop window, load (generate) the data once
    for its manifest hash, and build one sweep job config per model."""
    from ..data import classification_datasets, manifest_hash
    lo_f, hi_f = cfg.flop_window
    pops = {sp: ex.population(sp, cfg.n_models(sp), seed, flop_window=(lo_f, hi_f), input_size=cfg.image_size,
                              stem=cfg.stem, stem_width=cfg.stem_width, num_stages=cfg.num_stages,
                              num_classes=cfg.num_classes)
            for sp in cfg.spaces}
    data = data_spec(cfg, run.data_root)
    train_ds, val_ds, meta = classification_datasets(
        data["name"], data["data_root"], **{k: v for k, v in data.items() if k not in ("name", "data_root")})
    data_hash = manifest_hash(meta["root"]) or f"{cfg.dataset}:{meta['root']}"
    train_cfg = train_config(cfg)
    configs = _job_configs(pops, data, train_cfg, cfg, run, seed)
    sweep_dir = default_sweep_dir(cfg, run.profile)
    prep = SweepPrep(pops, data, train_cfg, configs, sweep_dir, data_hash, len(train_ds), len(val_ds))
    if verbose:
        print("\n".join(population_summary(pops)))
        print(f"data: {cfg.dataset}, {prep.n_train} train / {prep.n_val} val, hash {data_hash[:12]}")
        print(f"{len(configs)} jobs -> {sweep_dir}")
    return prep


#: the space of the Fig 11 trend populations (the paper's trends are over RegNetX)
TREND_SPACE = "RegNet"


def trend_regimes(cfg) -> List[tuple]:
    """The Fig 11 flop regimes ``cfg.trend_regimes`` as (lo, hi) MACs (validated by the Config);
    empty -> [], the trends reuse the EDF population."""
    return [tuple(float(v) for v in r) for r in cfg.trend_regimes]


def regime_label(regime: Sequence[float]) -> str:
    lo, hi = regime
    return f"{lo/1e6:g}-{hi/1e6:g} M MACs"


def trend_recipe(cfg) -> dict:
    """n, epochs and lr of the trend populations (``trend_n`` / ``trend_epochs`` / ``trend_lr``)."""
    return dict(n=int(cfg.trend_n), epochs=int(cfg.trend_epochs), lr=float(cfg.trend_lr))


def prepare_trend_sweep(cfg, run, seed: int, base: SweepPrep, verbose: bool = True) -> Optional[SweepPrep]:
    """The dedicated Fig 11 populations: ``trend_n`` RegNet models per flop regime of
    ``cfg.trend_regimes``, trained ``trend_epochs`` at ``trend_lr`` (the paper: 100 x 25 epochs, lr 0.1)
    on ``base``'s data, through the same job machinery; each job config carries its ``trend_regime``.
    None where no regime is configured (the trends then reuse the EDF population)."""
    regs = trend_regimes(cfg)
    if not regs:
        return None
    rc = trend_recipe(cfg)
    pops = {regime_label(r): ex.population(TREND_SPACE, rc["n"], seed + 100003 * (i + 1), flop_window=r,
                                           input_size=cfg.image_size, stem=cfg.stem, stem_width=cfg.stem_width,
                                           num_stages=cfg.num_stages, num_classes=cfg.num_classes)
            for i, r in enumerate(regs)}
    train_cfg = {**base.train_cfg, "epochs": rc["epochs"], "lr": rc["lr"]}
    configs = []
    for (label, pop), r in zip(pops.items(), regs):
        for c in _job_configs({label: pop}, base.data, train_cfg, cfg, run, seed):
            c["trend_regime"] = list(r)
            configs.append(c)
    prep = SweepPrep(pops, base.data, train_cfg, configs, base.sweep_dir / "trends", base.data_hash,
                     base.n_train, base.n_val)
    if verbose:
        print("\n".join(population_summary(pops)))
        print(f"{len(configs)} trend jobs ({rc['epochs']} epochs, lr {rc['lr']}) -> {prep.sweep_dir}")
    return prep


def run_sweep(cfg, prep: SweepPrep):
    """Train every job (cached per job) -> (records, summary with wall_seconds)."""
    from ..sweep import summarize
    t0 = time.time()
    records = ex.run_population(prep.configs, prep.sweep_dir, data_hash=prep.data_hash, backend=cfg.backend,
                                workers=cfg.workers, executor_kwargs=cfg.executor_kwargs)
    summary = summarize(records)
    summary["wall_seconds"] = round(time.time() - t0, 1)
    return records, summary


def space_errors(records: Sequence[dict], spaces: Sequence[str]) -> Dict[str, np.ndarray]:
    return {sp: ex.errors_of(records, sp) for sp in spaces}


def population_table(records: Sequence[dict], errs: Dict[str, np.ndarray]):
    """Per-space n, mean / min / median error (%) and mean job seconds (spaces with models only)."""
    import pandas as pd
    return pd.DataFrame([{"space": sp, "n": len(e), "mean_err_%": 100 * e.mean(), "min_err_%": 100 * e.min(),
                          "median_err_%": 100 * np.median(e),
                          "job_seconds_mean": np.mean([r["seconds"] for r in records
                                                       if r["status"] == "ok" and r["config"]["space"] == sp])}
                         for sp, e in errs.items() if len(e)])


def population_caption(cfg) -> str:
    lo_f, hi_f = cfg.flop_window
    return (f"Populations: n models per space in {lo_f/1e6:g}-{hi_f/1e6:g} M MACs, "
            f"each trained {cfg.epochs} epoch(s) ({cfg.dataset}, {cfg.image_size} px); val top-1 error.")


def population_metrics(errs: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """{<space>_n, <space>_mean_err, <space>_min_err} per space (None when a space has no model)."""
    out = {}
    for sp, e in errs.items():
        out[f"{sp}_n"] = len(e)
        out[f"{sp}_mean_err"] = float(e.mean()) if len(e) else None
        out[f"{sp}_min_err"] = float(e.min()) if len(e) else None
    return out


def edf_figure(errs: Dict[str, np.ndarray], cfg):
    """Fig 5 / 7 / 9 analogue: the EDF of each population with bootstrap bands. With more than three
    populations, two panels (same colour per space): the AnyNetX refinements A -> E, and AnyNetX_A / _E
    against the RegNet spaces."""
    from ..plots import subplots
    lo_f, hi_f = cfg.flop_window
    title = f"({cfg.dataset}, {lo_f/1e6:g}-{hi_f/1e6:g} M MACs, {cfg.epochs} ep)"
    names = [sp for sp in errs if len(errs[sp])]
    if len(names) <= 3:
        fig, ax = subplots(1, 1, width=5.0, height=3.6)
        ex.plot_edfs(ax, errs, n_boot=min(cfg.n_boot, 500))
        ax.set_title(f"EDFs {title}")
        return fig
    import matplotlib.pyplot as plt
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {sp: cycle[i % len(cycle)] for i, sp in enumerate(names)}
    chain = {sp: errs[sp] for sp in ANYNET_CHAIN if sp in names}
    rest = {sp: errs[sp] for sp in names if sp not in ANYNET_CHAIN or sp in ("AnyNetX_A", "AnyNetX_E")}
    fig, axes = subplots(1, 2, width=5.0, height=3.8, sharey=True)
    ex.plot_edfs(axes[0], chain, n_boot=min(cfg.n_boot, 500), colors=colors)
    axes[0].set_title(f"AnyNetX refinements {title}")
    ex.plot_edfs(axes[1], rest, n_boot=min(cfg.n_boot, 500), colors=colors)
    axes[1].set_title("AnyNetX_A / _E vs RegNet")
    return fig


def comparison_pairs(spaces: Sequence[str]) -> List[tuple]:
    """A -> E, E -> RegNet, A -> RegNet; then each refinement step between consecutive AnyNetX spaces
    present (A -> B -> C -> D -> E, the paper's Figs 5 and 7), then A -> any other space."""
    pairs = [("AnyNetX_A", "AnyNetX_E"), ("AnyNetX_E", "RegNet"), ("AnyNetX_A", "RegNet")]
    chain = [s for s in ANYNET_CHAIN if s in spaces]
    pairs += [p for p in zip(chain, chain[1:]) if p not in pairs]
    return pairs + [("AnyNetX_A", s) for s in spaces
                    if s not in ANYNET_CHAIN and s != "RegNet" and ("AnyNetX_A", s) not in pairs]


def space_comparisons(errs: Dict[str, np.ndarray], cfg, seed: int) -> Dict[str, dict]:
    """{"A -> B": metrics.edf.compare_spaces(...)} for the pairs with > 1 model on both sides."""
    from ..metrics import edf as E
    return {f"{a} -> {b}": E.compare_spaces(errs[a], errs[b], eps=cfg.eps, n_boot=cfg.n_boot, seed=seed)
            for a, b in comparison_pairs(cfg.spaces)
            if a in errs and b in errs and len(errs[a]) > 1 and len(errs[b]) > 1}


def comparison_caption(cfg) -> str:
    return (f"B minus A contrasts (errors as fractions), eps = {cfg.eps}; 95% bootstrap CIs "
            f"over models ({cfg.n_boot} resamples).")


# stated minimum of a trained space contrast: 1 point of mean error (fraction)
MIN_EFFECT = 0.01


def comparison_verdicts(cmps: Dict[str, dict]) -> Dict[str, Any]:
    """B better than A on mean error, by the trained-contrast rule (:func:`stats.decide_trained`): every
    model of a population is its own training run (its own seed), so the bootstrap over models is the
    rerun-at-another-seed distribution of the contrast; its standard error (95 % half-width / 1.96) is
    the contrast's seed std, and held / not held need |diff| > max(2 x that std, MIN_EFFECT)."""
    from ..metrics import stats
    out = {}
    for k, c in cmps.items():
        d, lo, hi = c["mean_diff"]
        out[k] = stats.decide_trained(d, expect="-", min_effect=MIN_EFFECT, seed_std=(hi - lo) / (2 * stats.Z95),
                                      seed_std_source="bootstrap over the independently trained models",
                                      n=int(min(c["n_a"], c["n_b"])), stat="mean_diff", ci95_models=[lo, hi],
                                      n_a=c["n_a"], n_b=c["n_b"])
    return out


# ----------------------------------------------------------------------------- 3 linear rule, random search
@dataclass
class EfitSection:
    fit_space: str
    fits: Any                       # fig8_efit table (best / worst of fit_space)
    all_fit: Any                    # fit rows of every ok model
    r_fit: float                    # pearson(e_fit, err) over every ok model
    fig: Any
    caption: str = ""


def efit_section(records: Sequence[dict], cfg) -> EfitSection:
    """Fig 8 analogue: quantized-linear fits of the best / worst models of AnyNetX_E (or the first
    space), e_fit vs error over every model, and the figure (best fit, worst fit, scatter)."""
    import pandas as pd

    from ..plots import subplots
    fit_space = "AnyNetX_E" if "AnyNetX_E" in cfg.spaces else cfg.spaces[0]
    fit_recs = [r for r in records if r["status"] == "ok" and r["config"]["space"] == fit_space]
    fits = pd.DataFrame(ex.fit_rows(fit_recs, top=cfg.fit_top))
    all_fit = pd.DataFrame(ex.fit_rows([r for r in records if r["status"] == "ok"], top=10**6))
    r_fit = ex.pearson(all_fit.e_fit, all_fit.err) if len(all_fit) > 2 else float("nan")
    fig, axs = subplots(1, 3, width=3.6, height=3.0)
    ok_sorted = sorted(fit_recs, key=lambda r: r["result"]["err"])
    if ok_sorted:
        ex.plot_fit(axs[0], ok_sorted[0], title=f"best {fit_space}")
        ex.plot_fit(axs[1], ok_sorted[-1], title=f"worst {fit_space}")
    for sp in cfg.spaces:
        if len(all_fit):
            sub = all_fit[all_fit.space == sp]
            axs[2].scatter(sub.e_fit, 100 * sub.err, s=12, label=sp)
        else:                       # no trained model at all: an empty panel with the legend
            axs[2].scatter([], [], s=12, label=sp)
    axs[2].set_xlabel("e_fit"); axs[2].set_ylabel("error (%)"); axs[2].legend()
    axs[2].set_title(f"e_fit vs error (r = {r_fit:.2f})")
    return EfitSection(fit_space, fits, all_fit, r_fit, fig,
                       caption=f"Quantized-linear fit of the best / worst {fit_space} models.")


def random_search_figure(errs: Dict[str, np.ndarray], seed: int, ms: Sequence[int] = (1, 2, 4, 8, 16, 32)):
    """Fig 9 analogue: bootstrap best error among m random models per space -> (bom, fig)."""
    from ..metrics import edf as E
    from ..plots import subplots
    ms = list(ms)
    fig, ax = subplots(1, 1, width=4.2, height=3.0)
    bom = {}
    for sp, e in errs.items():
        if len(e):
            b = E.best_of_m(e, ms, seed=seed)
            bom[sp] = b
            ax.plot(ms, 100 * b["median"], marker="o", label=sp)
            ax.fill_between(ms, 100 * b["lo"], 100 * b["hi"], alpha=0.15)
    ax.set_xscale("log", base=2); ax.set_xlabel("# random models m"); ax.set_ylabel("best error of m (%)")
    ax.legend(); ax.set_title("random-search efficiency (bootstrap)")
    return bom, fig


# ----------------------------------------------------------------------------- 4 trends
TREND_KEYS = ["d", "wm", "w0", "wa", "g"]


@dataclass
class TrendsSection:
    trend_space: str
    trend_recs: List[dict]          # every ok record the trends were computed on (all regimes)
    trends: Dict[str, dict]         # key -> empirical bootstrap of the best x (no samples);
                                    # with regimes: regime label -> {key -> bootstrap}
    fig: Any
    regimes: List[dict] = field(default_factory=list)  # per regime: label, flop_window, trend_recs, trends

    def table(self):
        import pandas as pd
        if self.regimes:
            return pd.DataFrame([{"regime": g["label"], "n": len(g["trend_recs"]), "param": k, **v}
                                 for g in self.regimes for k, v in g["trends"].items()])
        return pd.DataFrame([{"param": k, **v} for k, v in self.trends.items()])


def trends_section(records: Sequence[dict], cfg, seed: int, keys: Sequence[str] = TREND_KEYS,
                   trend_records: Optional[Sequence[dict]] = None) -> TrendsSection:
    """Fig 11 analogue. Without ``cfg.trend_regimes``: over the EDF population's RegNet models (or the
    last space), one row of panels. With them: over ``trend_records`` (the :func:`prepare_trend_sweep`
    sweep), one row of panels per regime."""
    from ..plots import subplots
    keys = list(keys)
    regs = trend_regimes(cfg)
    if not regs:
        trend_space = "RegNet" if "RegNet" in cfg.spaces else cfg.spaces[-1]
        trend_recs = [r for r in records if r["status"] == "ok" and r["config"]["space"] == trend_space]
        fig, axs = subplots(1, len(keys), width=2.8, height=2.6)
        trends = ex.plot_trends(axs, trend_recs, keys, n_rep=cfg.boot_reps, seed=seed)
        return TrendsSection(trend_space, trend_recs, trends, fig)
    if trend_records is None:
        raise ValueError("cfg.trend_regimes is set: pass the trend sweep's records (prepare_trend_sweep / "
                         "run_sweep) as trend_records")
    fig, axs = subplots(len(regs), len(keys), width=2.8, height=2.6, squeeze=False)
    groups, all_recs = [], []
    for row, r in zip(axs, regs):
        recs = [x for x in trend_records if x["status"] == "ok"
                and [float(v) for v in x["config"].get("trend_regime") or []] == list(r)]
        tr = ex.plot_trends(row, recs, keys, n_rep=cfg.boot_reps, seed=seed)
        row[0].set_ylabel(f"{regime_label(r)}\nerror (%)")
        groups.append(dict(label=regime_label(r), flop_window=list(r), trend_recs=recs, trends=tr))
        all_recs += recs
    return TrendsSection(TREND_SPACE, all_recs, {g["label"]: g["trends"] for g in groups}, fig, groups)


# ----------------------------------------------------------------------------- 6 claims
def population_str(errs: Dict[str, np.ndarray]) -> str:
    return ", ".join(f"{sp} n={len(e)}" for sp, e in errs.items())


def claims(*, errs, cmps, verdict_cmp, v_sizes, bom, r_fit, timing: TimingSection, trends: TrendsSection,
           all24, n_boot: int, seed: int, device_type: str,
           effnet: Optional[EffnetSection] = None) -> List[dict]:
    """C1..C5 as keyword dicts for ``run.claim(**c)`` (claim_id, statement, verdict, paper, evidence,
    trained), every verdict computed from this run's numbers. ``effnet``: the Table 4 timing section
    (:func:`effnet_section`) when it ran -- it adds C5's timing part (not tested when timed on a CPU)."""
    from .. import design_spaces as ds
    from ..metrics import stats
    from ..models.regnet import REGNET_TABLE
    n_str = population_str(errs)

    def cmp_verdict(a, b):
        k = f"{a} -> {b}"
        return verdict_cmp[k] if k in verdict_cmp else stats.not_tested(f"{k}: not run")

    out = []
    # C1: Table 1 sizes (exact) + E better than A (EDF, mean error)
    c1 = stats.combine([v_sizes, cmp_verdict("AnyNetX_A", "AnyNetX_E")], populations=n_str)
    out.append(dict(
        claim_id="C1",
        statement="Refining AnyNetX_A to AnyNetX_E (shared b and g, non-decreasing widths and depths) "
                  "shrinks the space from ~1.8e18 to ~5.5e11 configurations while improving the error EDF.",
        verdict=c1, paper={"sizes": ds.PAPER_SPACE_SIZES, "EDF": "E clearly better than A (Figs 5, 7)"},
        evidence={"comparison": cmps.get("AnyNetX_A -> AnyNetX_E"), "n": {k: len(v) for k, v in errs.items()},
                  # the paper's steps (B, C: EDF unchanged; D, E: better) -- reported with their 95% CIs,
                  # not part of the verdict: "unchanged" needs an equivalence margin our populations
                  # cannot resolve
                  "steps": {f"{a} -> {b}": {"mean_err_diff_ci": cmps[f"{a} -> {b}"].get("mean_diff"),
                                            "paper": "unchanged" if b in ("AnyNetX_B", "AnyNetX_C") else "better"}
                            for a, b in zip(ANYNET_CHAIN, ANYNET_CHAIN[1:]) if f"{a} -> {b}" in cmps}},
        trained=True))

    # C2: RegNet better than AnyNetX_A and AnyNetX_E on average
    c2 = stats.combine([cmp_verdict("AnyNetX_A", "RegNet"), cmp_verdict("AnyNetX_E", "RegNet")], populations=n_str)
    out.append(dict(
        claim_id="C2",
        statement="The RegNet space (quantized linear widths) has a better error EDF than AnyNetX_A and "
                  "AnyNetX_E; ~32 random samples suffice to find a good model.",
        verdict=c2, paper={"EDF": "RegNetX better on average than AnyNetX_E (Fig 9)"},
        evidence={"comparisons": {k: v for k, v in cmps.items() if k.endswith("RegNet")},
                  "best_of_m_median": {k: dict(zip(map(str, v["m"].tolist()), v["median"].tolist()))
                                       for k, v in bom.items()},
                  "pearson_efit_err": r_fit},
        trained=True))

    # C3: activations predict runtime better than flops (on the device the timing ran on -- the run's
    # device_type does not say where the models were timed), acts ~ sqrt(flops), params ~ flops
    tim, rs, slopes = timing.table, timing.pearson_r, timing.slopes
    on_cpu = timing.device_type == "cpu"
    t_note = ("timing measured on CPU, not the paper's GPU: on a CPU runtime tends to follow flops, so "
              "this is a weak test of the GPU claim" if on_cpu else
              f"timing measured on GPU ({timing.device_name or timing.device}), as in the paper")
    d_r, lo_r, hi_r = ex.corr_diff_boot(tim.seconds, tim.acts, tim.flops, n_boot=n_boot, seed=seed)
    v_time = stats.decide_diff(d_r, lo_r, hi_r, expect="+", n=len(tim), device=timing.device,
                               pearson_r=rs, note="r(time, acts) - r(time, flops); " + t_note)
    # params grow faster with flops than acts do (log-log slopes over the 12 models of each family;
    # interval = conservative difference of the two bootstrap intervals)
    v_slope = stats.combine([stats.decide_diff(slopes[f]["params"][0] - slopes[f]["acts"][0],
                                               slopes[f]["params"][1] - slopes[f]["acts"][2],
                                               slopes[f]["params"][2] - slopes[f]["acts"][1], expect="+", n=12,
                                               family=f)
                             for f in FAMILIES], slopes=slopes)
    c3_ev = {"timing_pearson_r": rs, "timing_device": timing.device_type, "timing_models": len(tim),
             "timing_note": t_note}
    if timing.device_name:
        c3_ev["timing_device_name"] = timing.device_name
    if device_type and str(device_type) != timing.device_type:
        c3_ev["run_device"] = str(device_type)
    out.append(dict(
        claim_id="C3",
        statement="Runtime tracks activations better than flops; for the best models acts grow like "
                  "sqrt(flops) and params like flops."
                  + (" (Runtime measured here on CPU, not the paper's GPU.)" if on_cpu else ""),
        verdict=stats.combine([v_time, v_slope]),
        paper={"fig": "Fig 12 (GPU)", "acts_slope": 0.5, "params_slope": 1.0},
        evidence=c3_ev,
        trained=False))

    # C4: trends (d ~ 20, wm ~ 2.5 among the best RegNets, across regimes) and SE helps: not expected at
    # small scale. With trend regimes, judged on each regime's dedicated population (all must hold).
    sp_def = ds.SPACES["RegNet"]
    groups = trends.regimes or [dict(label=None, trend_recs=trends.trend_recs, trends=trends.trends)]
    c4_parts = []
    for g in groups:
        sfx = f" ({g['label']})" if g["label"] else ""
        for key, val, rng in (("d", 20, sp_def.regnet_depth_range), ("wm", 2.5, sp_def.wm_range)):
            c4_parts.append(ex.trend_verdict(g["trends"].get(key), val, rng, name=key + sfx,
                                             observed=ex.trend_points(g["trend_recs"], key)[0]))
    v_se = stats.not_tested("RegNetY vs RegNetX (SE) is not trained at this profile")
    c4_ev = {"trend_space": trends.trend_space, "n": len(trends.trend_recs)}
    if trends.regimes:
        c4_ev["regimes"] = {g["label"]: len(g["trend_recs"]) for g in trends.regimes}
    out.append(dict(
        claim_id="C4",
        statement="Best RegNetX models have depth ~20 blocks and wm ~2.5 across regimes (b = 1); "
                  "adding SE (RegNetY) helps.",
        verdict=stats.combine(c4_parts + [v_se]),
        paper={"d": 20, "wm": 2.5, "b": 1},
        evidence=c4_ev,
        trained=True))

    # C5: competitive ImageNet models: the 24 models are reproduced exactly, their accuracy needs ImageNet
    v_cx = stats.decide_exact(all24[["flops", "params", "acts"]].values.tolist(),
                              [[REGNET_TABLE[n][k] for k in ("flops", "params", "acts")] for n in all24.model])
    c5_parts = [v_cx]
    c5_paper = {"RegNetX-3.2GF_err": 21.7, "ResNeXt-50_err": 21.9, "RegNetY-8.0GF_err": 20.1}
    c5_ev = None
    statement = ("RegNetX beats ResNe(X)t and RegNetY matches or beats EfficientNet at equal flops "
                 "under one training setup (ImageNet).")
    if effnet is not None and effnet.rows:         # the Table 4 timing part, only where the pairs ran
        c5_parts.append(effnet.verdict)
        statement += " RegNetY is up to ~5x faster than EfficientNet on GPU (Table 4)."
        if effnet.device_type != "cuda":
            statement += " (EfficientNet timing measured here on CPU: not a test of the GPU claim.)"
        c5_paper.update({"effnet_vs_regnety_infer_ratio": {r["pair"]: r["paper_ratio"] for r in effnet.rows
                                                           if r["mode"] == "infer"},
                         "pycls_B0_vs_Y400MF_train_ratio": PYCLS_B0_TRAIN_RATIO,
                         "reference_min_ratio": EFFNET_MIN_SPEEDUP})
        c5_ev = {"effnet_timing_device": effnet.device_type, "effnet_time_ratios": effnet.ratios}
        if effnet.device_name:
            c5_ev["effnet_timing_device_name"] = effnet.device_name
    out.append(dict(
        claim_id="C5",
        statement=statement,
        verdict=stats.combine(c5_parts + [stats.not_tested(
            "ImageNet accuracy of the RegNet models is not trained at this profile")]),
        paper=c5_paper,
        evidence=c5_ev,
        trained=False))
    return out


def run_notes(cfg, errs: Dict[str, np.ndarray], timing, effnet: Optional[EffnetSection] = None) -> List[str]:
    """The run's plain-language notes (population sizes and recipe; where Fig 12 was measured).
    ``timing``: the :class:`TimingSection` (its device is where the models were timed), or that device
    as a string."""
    lo_f, hi_f = cfg.flop_window
    n_bn = int(cfg.precise_bn_images)
    bn = f" Precise-BN: BN statistics recomputed on {n_bn} train images before every evaluation." if n_bn else ""
    if isinstance(timing, TimingSection):
        dev_type, label = timing.device_type, timing.device_label
    else:
        dev_type = label = str(getattr(timing, "type", timing)).split(":")[0]
    where = ("Fig 12 analogue is measured on " + label + (
        " (runtime there tends to follow flops; the paper's activation claim is about GPUs)." if dev_type == "cpu"
        else " with synchronized forward timing, like the paper's GPU measurement."))
    notes = [f"Populations: {population_str(errs)}; {lo_f/1e6:g}-{hi_f/1e6:g} M MACs at {cfg.image_size} px "
             f"({cfg.stem} stem, {cfg.num_stages} stages); every model trained {cfg.epochs} epoch(s), batch "
             f"{cfg.batch_size}, lr {cfg.lr}, wd {cfg.weight_decay}, cosine, on {cfg.dataset}." + bn,
             where]
    regs = trend_regimes(cfg)
    if regs:
        rc = trend_recipe(cfg)
        notes.append(f"Fig 11 trends: dedicated {TREND_SPACE} populations of {rc['n']} models per regime ("
                     + "; ".join(regime_label(r) for r in regs) + f"), each trained {rc['epochs']} epoch(s) at "
                     f"lr {rc['lr']} (the paper: 100 models x 25 epochs, lr 0.1).")
    if effnet is not None and effnet.rows:
        lab = effnet.device_type + (f" ({effnet.device_name})" if effnet.device_name else "")
        notes.append(f"Table 4 timing analogue (timm EfficientNet-Bk at its own resolution vs RegNetY at 224 px, "
                     f"{len({r['pair'] for r in effnet.rows})} pair(s)) measured on {lab}"
                     + (": a CPU says nothing about the paper's GPU speed claim, so C5's timing part is not tested."
                        if effnet.device_type != "cuda" else "."))
    return notes
