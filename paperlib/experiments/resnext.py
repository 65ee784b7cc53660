"""Orchestration behind notebooks/01_resnext.ipynb (Xie et al., CVPR 2017), unit-tested.
Paper notes (claims, the paper's numbers, our deviations): ``docs/papers/01_resnext.md``.

Tables/figures of the paper, computed from the models (exact) or trained at the profile's scale:

- :func:`table1_rows`           Table 1 -- ResNet-50 vs ResNeXt-50 (32x4d) template + complexity
- :func:`complexity_rows`       the spec's anchor table, ours vs the spec (exact)
- :func:`table2_rows`           Table 2 -- cardinality vs width at preserved template complexity
- :func:`forms_equivalence`     C3 -- forms (a)/(b)/(c) compute the same function
- :func:`train_many`            Table 3 analogue / Fig 5 / residual ablation (engine.train per model/seed)
- :func:`table3_rows`, :func:`fig5`, :func:`fig5_panels`
- :func:`per_rank_batch`, :func:`merge_rank_items`  torchrun plumbing: global batch split per rank,
                                per-item validation results gathered from the shards in dataset order
- :func:`resolve_arms`, :func:`train_arm`, :func:`primary_arm`  several datasets per profile (cfg.arms)
- :func:`pair_complexity`       complexity() of a compared pair at an arm's input (C1's matched pair)
- :func:`fig7`, :func:`table7_rows`  Fig 7 / Table 7 analogue: CIFAR test error vs params per arm
- :func:`throughput`            training-step images/s per configuration (C6)
- ``verdict_c1`` .. ``verdict_c6``  computed verdicts (paperlib.metrics.stats), never typed.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch

from ..engine import TrainConfig, make_loader, train
from ..engine.distributed import all_gather_object, env_world, is_distributed_env, loader_indices, merge_rank_items
from ..metrics import stats
from ..metrics.complexity import complexity
from ..models import create_model, get_model_meta
from ..models import resnext as rx

# ----------------------------------------------------------------------------- exact (no training)
TABLE1_MODELS = ("resnet50", "resnext50_32x4d")
ANCHOR_MODELS = ("resnet50", "resnext50_32x4d", "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d",
                 "resnet101", "resnext101_32x4d", "resnext152_32x4d", "resnet101_1x100d",
                 "resnext101_2x64d", "resnext101_64x4d", "resnet200", "resnext101_32x8d",
                 "resnext29_8x64d", "resnext29_16x64d") + tuple(rx.MINI_FAMILY)
CI_ANCHOR_MODELS = ("resnet50", "resnext50_32x4d", "resnext29_8x64d") + tuple(rx.MINI_FAMILY)


def model_complexity(name: str, input_size=None, **kw) -> Dict[str, int]:
    """complexity() of a registered model built on the meta device (instant even at 15 GMACs)."""
    meta = get_model_meta(name)
    with torch.device("meta"):
        m = create_model(name, **kw)
    return complexity(m, tuple(input_size or meta.get("input_size", (3, 224, 224))))


def _stage_desc(cfg, i: int) -> str:
    wb, w, gw = cfg.bot_widths[i], cfg.widths[i], cfg.group_widths[i]
    c = wb // gw
    mid = f"3x3,{wb}" + ("" if c == 1 else f", C={c}")
    return f"[1x1,{wb}; {mid}; 1x1,{w}] x{cfg.depths[i]}"


def table1_rows(names: Sequence[str] = TABLE1_MODELS) -> List[dict]:
    """Table 1 from the models' configs and the complexity counter (224x224 input)."""
    with torch.device("meta"):
        models = [create_model(n) for n in names]
    out_hw = [56, 28, 14, 7]
    rows = [{"stage": "conv1", "output": "112x112",
             **{n: f"{m.stem.conv.kernel_size[0]}x{m.stem.conv.kernel_size[1]}, {m.cfg.stem_width}, "
                   f"stride {m.stem.conv.stride[0]}" for n, m in zip(names, models)}}]
    for i in range(4):
        rows.append({"stage": f"conv{i + 2}", "output": f"{out_hw[i]}x{out_hw[i]}",
                     **{n: ("3x3 max pool, stride 2; " if i == 0 else "") + _stage_desc(m.cfg, i)
                        for n, m in zip(names, models)}})
    rows.append({"stage": "head", "output": "1x1",
                 **{n: f"global average pool, {m.cfg.num_classes}-d fc, softmax" for n, m in zip(names, models)}})
    cx = [complexity(m, (3, 224, 224)) for m in models]
    rows.append({"stage": "# params", "output": "",
                 **{n: f"{c['params']:,} ({c['params'] / 1e6:.1f}M; paper {get_model_meta(n)['paper'].get('params_m')}M)"
                    for n, c in zip(names, cx)}})
    rows.append({"stage": "FLOPs (mult-adds)", "output": "",
                 **{n: f"{c['flops']:,} ({c['flops'] / 1e9:.2f}G; paper {get_model_meta(n)['paper'].get('gflops')}G)"
                    for n, c in zip(names, cx)}})
    return rows


def complexity_rows(names: Iterable[str] = ANCHOR_MODELS) -> List[dict]:
    """Ours vs the spec's anchors (from the registry meta), with an exact-match flag."""
    rows = []
    for n in names:
        meta = get_model_meta(n)
        c = model_complexity(n)
        row = {"model": n, "input": "x".join(map(str, meta["input_size"][1:])),
               "params": c["params"], "MACs": c["flops"], "acts": c["acts"],
               "spec params": meta.get("params"), "spec MACs": meta.get("flops"), "spec acts": meta.get("acts")}
        row["exact"] = all(meta[k] == c[k] for k in ("params", "flops", "acts") if k in meta)
        rows.append(row)
    return rows


def table2_rows() -> List[dict]:
    paper = [69_632, 69_760, 69_888, 71_456, 70_144]  # the spec's numbers for C*(256d + 9d^2 + 256d)
    rows = []
    for (C, d), p in zip(rx.TABLE2_TEMPLATES, paper):
        ours = rx.template_params(C, d)
        rows.append({"cardinality C": C, "width d": d, "group conv width C*d": C * d,
                     "template params (ours, counted)": ours, "formula C*(256d+9d^2+256d)": p,
                     "equal": ours == p})
    return rows


FORM_CASES = ((256, 256, 1, 32, 4), (64, 256, 1, 32, 4), (256, 512, 2, 8, 14))


def forms_equivalence(cases=FORM_CASES, hw: int = 8, seed: int = 0) -> List[dict]:
    """Max |difference| between forms (a)/(b) and (c) of one block (eval BN, float32, random input)."""
    rows = []
    for w_in, w_out, s, C, d in cases:
        a, b, c = rx.make_block_forms(w_in, w_out, s, C, d, seed=seed)
        x = torch.randn(2, w_in, hw, hw, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            yc = c(x)
            da, db = (a(x) - yc).abs().max().item(), (b(x) - yc).abs().max().item()
        rows.append({"block": f"{w_in}->{w_out}, stride {s}, {C}x{d}d", "max|a-c|": da, "max|b-c|": db,
                     "params a/b/c": "/".join(str(sum(p.numel() for p in f.parameters())) for f in (a, b, c))})
    return rows


# ----------------------------------------------------------------------------- training
def world_size() -> int:
    """Processes the loaders are sharded over: torchrun's WORLD_SIZE (the engine's detection), else 1."""
    return env_world()[1] if is_distributed_env() else 1


def per_rank_batch(global_batch: int, world: int) -> int:
    """Images per rank for a global batch (cfg.batch_size is the global batch; the spec's ImageNet
    recipe is 256 on 8 GPUs = 32 per GPU, so BN sees 32 images).  It must divide evenly."""
    global_batch, world = int(global_batch), int(world)
    if world < 1:
        raise ValueError(f"world size must be >= 1, got {world}")
    if global_batch % world:
        raise ValueError(f"batch_size {global_batch} is the global batch and must be divisible by the number "
                         f"of processes ({world}): choose a batch_size that is a multiple of {world} "
                         f"(e.g. overrides={{'batch_size': {max(world, global_batch // world * world)}}}) "
                         "or launch a world size that divides it")
    return global_batch // world


def make_loaders(cfg, data_root=None, *, seed: int = 0):
    """(train_loader, val_loader, meta) for cfg.dataset (synthetic: generated once and cached).

    cfg.batch_size is the global batch: under torchrun each rank's loader takes
    cfg.batch_size / WORLD_SIZE images (DistributedSampler shards); cfg.lr belongs to the global batch."""
    from ..data import classification_datasets

    tr, va, meta = classification_datasets(cfg.dataset, data_root, image_size=cfg.image_size,
                                           num_classes=cfg.num_classes, n_train=cfg.n_train,
                                           n_val=cfg.n_val, seed=cfg.data_seed,
                                           color_jitter=cfg.color_jitter, lighting=cfg.lighting,
                                           crop=getattr(cfg, "crop", None))
    world = world_size()
    # per-rank batch (capped for tiny data sets; one process: min(batch_size, len(train)) as always)
    bs = min(per_rank_batch(cfg.batch_size, world), max(1, len(tr) // world))
    train_loader = make_loader(tr, bs, shuffle=True, seed=seed, num_workers=cfg.num_workers, drop_last=True)
    # evaluation batch: per rank too; its size does not change the results (BN in eval mode)
    val_loader = make_loader(va, max(bs, 256), shuffle=False, seed=seed, num_workers=cfg.num_workers)
    return train_loader, val_loader, meta


def train_config(cfg, seed: int) -> TrainConfig:
    return TrainConfig(epochs=cfg.epochs, max_steps=cfg.max_steps, batch_size=cfg.batch_size,
                       optimizer="sgd", lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                       weight_decay=cfg.weight_decay, wd_on_norm_bias=cfg.wd_on_norm_bias,
                       schedule=cfg.schedule, milestones=list(cfg.milestones),
                       warmup_epochs=cfg.warmup_epochs, seed=seed, channels_last=cfg.channels_last,
                       log_every=10 ** 6)


@torch.no_grad()
def per_item_correct(model, loader, device) -> List[int]:
    """0/1 correctness of every validation item, in dataset order.  Under torchrun each rank scores
    its shard and the shards are gathered (all_gather_object) and merged by :func:`merge_rank_items`,
    so the paired bootstrap sees every image exactly once; one process: the loader's own order."""
    model.eval()
    idx = loader_indices(loader)
    out = []
    for x, y in loader:
        pred = model(x.to(device)).argmax(1).cpu()
        out.extend((pred == y).int().tolist())
    return merge_rank_items(all_gather_object((idx, out)), len(loader.dataset))


def train_one(name: str, cfg, loaders, *, seed: int, device="cpu", shortcut: bool = True,
              num_classes: Optional[int] = None, progress=False) -> dict:
    """Train one registered model with the profile's recipe; returns a flat record + history."""
    train_loader, val_loader = loaders[0], loaders[1]
    torch.manual_seed(seed)
    meta = get_model_meta(name)
    nc = num_classes or cfg.num_classes
    kw = {"stem": cfg.stem} if getattr(cfg, "stem", None) else {}
    model = create_model(name, num_classes=nc, shortcut=shortcut, **kw)
    cx = complexity(model, (3, cfg.image_size, cfg.image_size))
    t = time.perf_counter()
    hist = train(model, train_loader, train_config(cfg, seed), device=device, val_loader=val_loader,
                 progress=progress, desc=f"{name}{'' if shortcut else ' (no shortcut)'} seed {seed}")
    wall = time.perf_counter() - t
    correct = per_item_correct(model, val_loader, device)
    last = lambda k: (hist.get(k) or [float("nan")])[-1]  # noqa: E731
    return {"model": name, "seed": seed, "shortcut": shortcut,
            "C": meta.get("cardinality"), "d": meta.get("bottleneck_width"),
            "params": cx["params"], "flops": cx["flops"],
            "train_loss": last("train_loss"), "train_err": last("train_err"), "val_err": last("val_err"),
            "val_correct": correct, "wall_s": wall,
            "train_images_per_s": float(np.median(hist["images_per_sec"])) if hist.get("images_per_sec") else None,
            "history": hist}


def train_many(names: Sequence[str], cfg, loaders, *, seeds: Sequence[int], device="cpu",
               shortcut: bool = True, progress=False, log=print) -> List[dict]:
    """Every model x every seed (seed-major order: one seed of every model first)."""
    res = []
    for s in seeds:
        for n in names:
            r = train_one(n, cfg, loaders, seed=s, device=device, shortcut=shortcut, progress=progress)
            if log:
                log(f"{n:22s} seed {s} shortcut={shortcut}: train loss {r['train_loss']:.3f} "
                    f"train err {r['train_err']:.3f} val err {r['val_err']:.3f} "
                    f"({r['wall_s']:.1f}s, {r['train_images_per_s'] or 0:.0f} img/s)")
            res.append(r)
    return res


# ----------------------------------------------------------------------------- arms (several datasets)
@dataclasses.dataclass
class Arm:
    """One dataset of a profile: its name, its full Config (top-level fields + the arm's keys) and
    the sub-folder of data_root holding its data."""
    name: str
    cfg: Any
    data_subdir: str = ""

    def data_root(self, data_root):
        """data_root/<data_subdir> (None stays None: embedded synthetic data)."""
        if data_root is None or not self.data_subdir:
            return data_root
        return os.path.join(str(data_root), self.data_subdir)


def resolve_arms(cfg) -> List[Arm]:
    """The arms of a profile: cfg.arms resolved onto cfg, or (no arms) the single arm cfg itself,
    named after its dataset.  Unknown keys / missing names were rejected by the Config; here every
    model an arm trains must be registered."""
    from ..configs.resnext import ARM_ONLY_KEYS, validate_arms
    from ..models import list_models

    if not getattr(cfg, "arms", None):
        return [Arm(cfg.dataset, cfg)]
    validate_arms(cfg.arms)
    names = set(list_models())
    out = []
    for a in cfg.arms:
        acfg = dataclasses.replace(cfg, arms=[], **{k: v for k, v in a.items() if k not in ARM_ONLY_KEYS})
        bad = [m for m in list(acfg.models) + list(acfg.c2_models) if m not in names]
        if bad:
            raise ValueError(f"arm {a['name']!r}: unknown model(s) {bad}; see paperlib.models.list_models()")
        out.append(Arm(a["name"], acfg, a.get("data_subdir", "")))
    return out


def primary_arm(arms: Sequence[Arm], pair: Sequence[str]) -> Arm:
    """The arm judged for C1 / Fig 5 / C2 / C4: the first that trains both models of `pair`
    (none: the first arm, whose verdict then says the pair was not trained)."""
    return next((a for a in arms if set(pair) <= set(a.cfg.models)), arms[0])


def train_arm(arm: Arm, data_root=None, *, seed: int = 0, device="cpu", progress=False, log=print):
    """(results, loaders) of one arm: its models (then its c2_models not among them) x its seeds (as in
    the arm's config: ``Run`` has already shifted them by the notebook's seed); ``seed`` seeds the loaders.
    Every record is tagged with ``arm``."""
    c = arm.cfg
    loaders = make_loaders(c, arm.data_root(data_root), seed=seed)
    if log:
        log(f"[{arm.name}] train / val images: {len(loaders[0].dataset)} / {len(loaders[1].dataset)} "
            f"| data: {loaders[2]['name']}")
    seeds = list(c.seeds)                       # already shifted by the notebook's seed (Run)
    res = train_many(c.models, c, loaders, seeds=seeds, device=device, progress=progress, log=log)
    extra = [m for m in c.c2_models if m not in c.models]
    if extra:                                     # Table 4 models (paper profile only)
        res += train_many(extra, c, loaders, seeds=seeds, device=device, progress=progress, log=log)
    for r in res:
        r["arm"] = arm.name
    return res, loaders


def pair_complexity(cfg, pair: Sequence[str], params_tol: float = 0.03, macs_tol: float = 0.04) -> dict:
    """complexity() of both models of a compared pair as the arm builds them (its input size, classes,
    stem) and whether they are matched within the spec's tolerance (ResNeXt-50 vs ResNet-50: params
    within 3 %, MACs within 4 %)."""
    kw = {"num_classes": cfg.num_classes, **({"stem": cfg.stem} if getattr(cfg, "stem", None) else {})}
    a, b = (model_complexity(n, (3, cfg.image_size, cfg.image_size), **kw) for n in pair)
    dp, dm = b["params"] / a["params"] - 1, b["flops"] / a["flops"] - 1
    return {"pair": list(pair), "params": [a["params"], b["params"]], "MACs": [a["flops"], b["flops"]],
            "params_rel_diff": dp, "macs_rel_diff": dm,
            "matched": abs(dp) < params_tol and abs(dm) < macs_tol}


def verdict_c5_arms(by_arm: Dict[str, List[dict]], pairs: Sequence[Sequence[str]]) -> stats.Verdict:
    """C5 on every arm that trains all of `pairs` (CIFAR-10 and -100 at gpu); one arm = verdict_c5."""
    names = {m for p in pairs for m in p}
    arms = [a for a, res in by_arm.items() if pairs and names <= {r["model"] for r in res}]
    if len(arms) <= 1:
        return verdict_c5(by_arm[arms[0]] if arms else [], pairs)
    return stats.combine([verdict_c5(by_arm[a], pairs) for a in arms], arms=arms,
                         pairs=[list(p) for p in pairs])


# Table 7 rows the paper reports without a model we build (context only)
TABLE7_PAPER_EXTRA = [{"model": "Wide ResNet (paper)", "params_m": 36.5, "cifar10_err": 4.17, "cifar100_err": 20.50}]


def cifar_arms(by_arm: Dict[str, List[dict]], arms: Sequence[Arm]) -> List[Arm]:
    """Arms on CIFAR-10/100 that trained CIFAR ResNeXt-29 models (Fig 7 / Table 7)."""
    return [a for a in arms if a.cfg.dataset in ("cifar10", "cifar100") and a.name in by_arm
            and any(get_model_meta(r["model"]).get("family") == "cifar" for r in by_arm[a.name])]


def _err_points(results) -> List[dict]:
    """Per model (shortcut on): params, C, d, mean / std / std-error of val_err over seeds."""
    out = []
    for m in dict.fromkeys(r["model"] for r in results if r["shortcut"]):
        v = np.asarray(arm_values(results, m, "val_err"), dtype=float)
        r0 = next(r for r in results if r["model"] == m)
        sd = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
        out.append({"model": m, "params": r0["params"], "C": r0["C"], "d": r0["d"], "seeds": len(v),
                    "err": float(v.mean()), "std": sd, "se": sd / np.sqrt(len(v))})
    return out


def table7_rows(by_arm: Dict[str, List[dict]], arms: Sequence[Arm]) -> List[dict]:
    """Table 7 / Fig 7 numbers: per model, params and test error % (mean ± std over seeds) per CIFAR
    arm, beside the paper's 10-run means (only 8x64d, 16x64d and Wide ResNet are in the paper)."""
    rows: Dict[str, dict] = {}
    for a in cifar_arms(by_arm, arms):
        for p in _err_points(by_arm[a.name]):
            row = rows.setdefault(p["model"], {"model": p["model"], "C x d": f"{p['C']}x{p['d']}d"})
            row[f"params ({a.name})"] = p["params"]
            row[f"{a.name} err % (ours)"] = stats.fmt_mean_std(arm_values(by_arm[a.name], p["model"], "val_err"), 100.0, 2)
            row[f"{a.name} err % (paper)"] = get_model_meta(p["model"])["paper"].get(f"{a.cfg.dataset}_err")
    out = list(rows.values())
    for name in ("resnext29_8x64d", "resnext29_16x64d"):
        if name not in rows:
            pm = get_model_meta(name)["paper"]
            out.append({"model": name + " (paper)", "params (M, paper)": pm.get("params_m"),
                        **{f"{a.name} err % (paper)": pm.get(f"{a.cfg.dataset}_err") for a in cifar_arms(by_arm, arms)}})
    for e in TABLE7_PAPER_EXTRA:
        out.append({"model": e["model"], "params (M, paper)": e["params_m"],
                    **{f"{a.name} err % (paper)": e.get(f"{a.cfg.dataset}_err") for a in cifar_arms(by_arm, arms)}})
    return out


def fig7(by_arm: Dict[str, List[dict]], arms: Sequence[Arm]):
    """Fig 7 analogue, one panel per CIFAR arm: test error vs #params, one point per trained model
    (mean over seeds, std-error bars), the cardinality series (Cx64d) and the width series (1xd) as
    lines, and the paper's Table 7 points (8x64d, 16x64d, Wide ResNet; 10-run means) as stars."""
    from ..plots import COLORS, subplots

    panels = cifar_arms(by_arm, arms)
    if not panels:
        raise ValueError("fig7 needs a CIFAR-10/100 arm that trained ResNeXt-29 models")
    fig, axes = subplots(1, len(panels), width=5.0, height=3.6, squeeze=False)
    for ax, a in zip(axes[0], panels):
        pts = _err_points(by_arm[a.name])
        for c, (label, sel) in zip(COLORS, (("cardinality series (Cx64d)", lambda p: p["d"] == 64),
                                             ("width series (1xd)", lambda p: p["C"] == 1))):
            s = sorted((p for p in pts if sel(p)), key=lambda p: p["params"])
            if len(s) > 1:
                ax.plot([p["params"] / 1e6 for p in s], [p["err"] * 100 for p in s], "-", color=c, label=label)
        x, y = [p["params"] / 1e6 for p in pts], [p["err"] * 100 for p in pts]
        ax.errorbar(x, y, yerr=[p["se"] * 100 for p in pts], fmt="none", ecolor="k", capsize=2)
        ax.plot(x, y, "o", color="k", ms=4, gid="fig7_ours", label="ours (mean, s.e. over seeds)")
        for p in pts:
            ax.annotate(short_name(p["model"]).split()[-1], (p["params"] / 1e6, p["err"] * 100),
                        textcoords="offset points", xytext=(3, 3), fontsize=7)
        key = f"{a.cfg.dataset}_err"
        ref = [(get_model_meta(n)["paper"].get("params_m"), get_model_meta(n)["paper"].get(key), n.split("_")[-1])
               for n in ("resnext29_8x64d", "resnext29_16x64d")]
        ref += [(e["params_m"], e.get(key), "WRN") for e in TABLE7_PAPER_EXTRA]
        ref = [r for r in ref if r[1] is not None]
        if ref:
            ax.plot([r[0] for r in ref], [r[1] for r in ref], "*", color=COLORS[2], ms=8, gid="fig7_paper",
                    label="paper Table 7 (10-run mean)")
            for r in ref:
                ax.annotate(r[2], (r[0], r[1]), textcoords="offset points", xytext=(3, -9), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("# params (M, log scale)")
        ax.set_ylabel("test error (%)")
        ax.set_title(f"Fig 7 analogue: {a.cfg.dataset} ({a.cfg.epochs} epochs)")
        ax.legend(fontsize=7)
    return fig


def arm_values(results, model, key, shortcut=True):
    """Per-seed values of `key` for one model (and shortcut setting), in result order."""
    return [r[key] for r in results if r["model"] == model and r["shortcut"] == shortcut]


_vals = arm_values


def table3_rows(results: Sequence[dict], scale: float = 100.0) -> List[dict]:
    """Table 3 analogue: per model (and shortcut setting), mean ± std over seeds."""
    rows, seen = [], []
    for r in results:
        key = (r["model"], r["shortcut"])
        if key in seen:
            continue
        seen.append(key)
        sel = [x for x in results if (x["model"], x["shortcut"]) == key]
        paper = get_model_meta(r["model"])["paper"]
        rows.append({
            "model": r["model"] + ("" if r["shortcut"] else " (no shortcut)"),
            "C x d": f"{r['C']}x{r['d']}d", "params": r["params"], "MACs (M)": round(r["flops"] / 1e6, 2),
            "seeds": len(sel),
            "train loss": stats.fmt_mean_std([x["train_loss"] for x in sel], 1.0, 3),
            "train err %": stats.fmt_mean_std([x["train_err"] for x in sel], scale, 2),
            "val err %": stats.fmt_mean_std([x["val_err"] for x in sel], scale, 2),
            "train img/s": round(float(np.median([x["train_images_per_s"] or 0 for x in sel])), 1),
            "paper top-1 err %": paper.get("top1_err", paper.get("cifar10_err", paper.get("analog_top1_err"))),
        })
    return rows


def curves(results, model, key, shortcut=True):
    """Mean (over seeds) per-epoch curve of history[key] for one model."""
    hs = [r["history"] for r in results if r["model"] == model and r["shortcut"] == shortcut]
    if not hs:
        return [], []
    n = min(len(h["epoch"]) for h in hs)
    ys = np.array([[np.nan if v is None else v for v in h.get(key, [None] * n)[:n]] for h in hs], dtype=float)
    return list(hs[0]["epoch"][:n]), list(np.nanmean(ys, axis=0)) if ys.size else []


def short_name(name: str) -> str:
    """'resnext_mini_8x7d' -> 'mini 8x7d' (family + C x d) for legends and titles."""
    m = get_model_meta(name)
    return f"{m.get('family', '')} {m.get('cardinality')}x{m.get('bottleneck_width')}d".strip()


def fig5(results, pair: Sequence[str], title: str = ""):
    """Fig 5 analogue: training (dashed) and validation (solid) top-1 error vs epoch, mean over seeds."""
    from ..plots import subplots

    fig, ax = subplots(1, 1, width=5.4, height=3.4)
    _fig5_axis(ax, results, pair, title or "Fig 5 analogue: " + " vs ".join(short_name(n) for n in pair))
    return fig


def fig5_pairs(cfg) -> List[List[str]]:
    """The Fig 5 panels of a profile: cfg.fig5_pairs, else the single C1 pair."""
    return [list(p) for p in (getattr(cfg, "fig5_pairs", None) or [cfg.c1_pair])]


def fig5_panels(results, pairs: Sequence[Sequence[str]], title: str = ""):
    """Fig 5: one panel per [ResNet-like, ResNeXt] pair (the paper: 50-layer and 101-layer pairs).
    Pairs with a model not trained in `results` are left out (the first pair is always drawn); a
    single pair is exactly :func:`fig5`."""
    from ..plots import subplots

    trained = {r["model"] for r in results}
    keep = [list(p) for i, p in enumerate(pairs) if i == 0 or set(p) <= trained]
    if len(keep) == 1:
        return fig5(results, keep[0], title)
    fig, axes = subplots(1, len(keep), width=5.4, height=3.4)
    for ax, pair in zip(axes, keep):
        _fig5_axis(ax, results, pair, " vs ".join(pair))
    fig.suptitle(title or "Fig 5: training (dashed) and validation (solid) top-1 error")
    return fig


def _fig5_axis(ax, results, pair: Sequence[str], title: str):
    from ..plots import COLORS

    from matplotlib.ticker import MaxNLocator

    for c, name in zip(COLORS, pair):
        ep, tr = curves(results, name, "train_err")
        _, va = curves(results, name, "val_err")
        ax.plot(ep, np.array(tr) * 100, "--", color=c, marker="o", ms=3, label=f"{name} train")
        ax.plot(ep, np.array(va) * 100, "-", color=c, marker="o", ms=3, label=f"{name} val")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 error (%)")
    ax.set_title(title)
    ax.legend()


# ----------------------------------------------------------------------------- throughput (C6)
def throughput(names: Sequence[str], *, image_size: int, batch: int, rounds: int = 5, steps: int = 2,
               device="cpu", num_classes: int = 10) -> List[dict]:
    """Training-step images/s (fwd + CE + bwd + SGD), interleaved rounds, per configuration.
    Returns one row per model with the median img/s, seconds per forward GMAC (per round, for C6)."""
    device = torch.device(device)
    steps_fn, gmac = {}, {}
    for n in names:
        torch.manual_seed(0)
        m = create_model(n, num_classes=num_classes).to(device).train()
        gmac[n] = complexity(m, (3, image_size, image_size))["flops"] / 1e9
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(batch, 3, image_size, image_size, device=device)
        y = torch.randint(0, num_classes, (batch,), device=device)

        def step(m=m, opt=opt, x=x, y=y):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
        step()
        steps_fn[n] = step
    ips = {n: [] for n in names}
    for r in range(rounds):
        for n in (names if r % 2 == 0 else list(names)[::-1]):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(steps):
                steps_fn[n]()
            if device.type == "cuda":
                torch.cuda.synchronize()
            ips[n].append(batch * steps / (time.perf_counter() - t))
    rows = []
    for n in names:
        meta = get_model_meta(n)
        med = statistics.median(ips[n])
        rows.append({"model": n, "C x d": f"{meta.get('cardinality')}x{meta.get('bottleneck_width')}d",
                     "fwd MACs (M)": round(gmac[n] * 1e3, 2), "train img/s": round(med, 1),
                     "fwd GMAC/s": round(med * gmac[n], 2),
                     "train s per fwd GMAC": round(1.0 / (med * gmac[n]), 4),
                     "rounds img/s": [round(v, 1) for v in ips[n]],
                     "s_per_gmac": [1.0 / (v * gmac[n]) for v in ips[n]]})
    return rows


# ----------------------------------------------------------------------------- verdicts
# stated minimum of a trained error contrast (fraction): 0.5 points of top-1 error, the smallest gap the
# paper's tables resolve (Table 3 reports 0.1-point steps, its seed-to-seed noise is ~0.2-0.3 points)
MIN_EFFECT = 0.005


def contrast(results, a: str, b: str, *, key: str = "val_err", expect: str = "-",
             shortcut_a: bool = True, shortcut_b: bool = True, **evidence) -> stats.Verdict:
    """Verdict on mean(b) - mean(a) of `key` by the trained-contrast rule (:func:`stats.decide_trained`,
    floor max(2 x seed std, MIN_EFFECT)). Seed std of the contrast: both arms at the same >= 2 seeds ->
    the std of the per-seed contrast; >= 2 seeds in one arm only -> sqrt(2) x that arm's seed std (two
    independent runs); one seed each -> none, so inconclusive (01 records no calibration), with the
    paired bootstrap over validation images as evidence (val_err only); an arm not trained -> inconclusive."""
    va, vb = _vals(results, a, key, shortcut_a), _vals(results, b, key, shortcut_b)
    ev = dict(arm_a=a + ("" if shortcut_a else " (no shortcut)"),
              arm_b=b + ("" if shortcut_b else " (no shortcut)"), metric=key, a_values=va, b_values=vb, **evidence)
    if not va or not vb:
        return stats.not_tested(f"{ev['arm_a'] if not va else ev['arm_b']} not trained in this profile", **ev)
    diff = float(np.mean(vb) - np.mean(va))
    if len(va) == len(vb) >= 2:
        return stats.decide_trained(diff, expect=expect, min_effect=MIN_EFFECT,
                                    per_seed=(np.asarray(vb) - np.asarray(va)).tolist(), n=len(va), **ev)
    if len(va) >= 2 or len(vb) >= 2:
        sd = float(np.sqrt(2 * np.mean([np.var(v, ddof=1) for v in (va, vb) if len(v) >= 2])))
        return stats.decide_trained(diff, expect=expect, min_effect=MIN_EFFECT, seed_std=sd, n=min(len(va), len(vb)),
                                    seed_std_source="sqrt(2) x the seed std of the arm(s) with >= 2 seeds", **ev)
    lo = hi = None
    if key == "val_err":
        ca = _vals(results, a, "val_correct", shortcut_a)[0]
        cb = _vals(results, b, "val_correct", shortcut_b)[0]
        diff, lo, hi = stats.paired_bootstrap(1 - np.asarray(ca), 1 - np.asarray(cb))
    return stats.decide_trained(diff, lo, hi, expect=expect, min_effect=MIN_EFFECT, n=1, **ev)


def verdict_c1(results, pair: Sequence[str]) -> stats.Verdict:
    """C1: at matched complexity the higher-cardinality model has lower val AND train error."""
    a, b = pair
    return stats.combine([contrast(results, a, b, key="val_err", expect="-"),
                          contrast(results, a, b, key="train_err", expect="-")], pair=list(pair))


def verdict_c2(results, c2_models: Sequence[str]) -> stats.Verdict:
    """C2: grouped (c2_models[0]) beats deeper and wider at ~2x complexity (val error)."""
    if not c2_models:
        return stats.not_tested("needs the ~15-GMAC ImageNet models of Table 4 (paper profile); "
                                "not trained at this profile")
    g, *others = c2_models
    return stats.combine([contrast(results, o, g, key="val_err", expect="-") for o in others],
                         grouped=g, others=others)


def verdict_c3(forms_rows, t2_rows, cx_rows, tol: float = 1e-5) -> stats.Verdict:
    """C3: forms a/b/c equal within tol; Table 2 template params equal; R-50/X-50 anchors exact and
    ResNeXt-50 within 3 % params / 4 % MACs of ResNet-50 (complexity preserved)."""
    cx = {r["model"]: r for r in cx_rows}
    checks = {
        f"forms (a)==(c) within {tol:g}": all(r["max|a-c|"] < tol for r in forms_rows),
        f"forms (b)==(c) within {tol:g}": all(r["max|b-c|"] < tol for r in forms_rows),
        "Table 2 template params": all(r["equal"] for r in t2_rows),
        "complexity anchors exact": all(r["exact"] for r in cx_rows),
    }
    if "resnet50" in cx and "resnext50_32x4d" in cx:
        r, x = cx["resnet50"], cx["resnext50_32x4d"]
        checks["ResNeXt-50 params within 3% of ResNet-50"] = abs(x["params"] / r["params"] - 1) < 0.03
        checks["ResNeXt-50 MACs within 4% of ResNet-50"] = abs(x["MACs"] / r["MACs"] - 1) < 0.04
    return stats.decide_all(checks, max_abs_diff=max(max(r["max|a-c|"], r["max|b-c|"]) for r in forms_rows))


def verdict_c4(results, ablation, pair: Sequence[str]) -> stats.Verdict:
    """C4: removing shortcuts hurts both; without shortcuts the grouped model is still better."""
    if not ablation:
        return stats.not_tested("residual ablation not trained at this profile")
    a, b = pair
    allr = list(results) + list(ablation)
    return stats.combine([
        contrast(allr, a, a, key="val_err", expect="+", shortcut_b=False),
        contrast(allr, b, b, key="val_err", expect="+", shortcut_b=False),
        contrast(allr, a, b, key="val_err", expect="-", shortcut_a=False, shortcut_b=False),
    ], pair=list(pair))


def verdict_c5(results, pairs: Sequence[Sequence[str]]) -> stats.Verdict:
    """C5 (CIFAR): at matched params, more cardinality beats more width (pairs [card, width])."""
    if not pairs:
        return stats.not_tested("needs CIFAR ResNeXt-29 cardinality vs width series (gpu profile); "
                                "not trained at this profile")
    return stats.combine([contrast(results, w, c, key="val_err", expect="-") for c, w in pairs],
                         pairs=[list(p) for p in pairs])


def verdict_c6(tp_rows, base: str, grouped: Sequence[str]) -> stats.Verdict:
    """C6 (side note): grouped configurations need more seconds per forward GMAC than the 1xd one."""
    by = {r["model"]: r for r in tp_rows}
    if base not in by or not any(g in by for g in grouped):
        return stats.not_tested("throughput of the compared models not measured")
    parts = [stats.compare_arms(by[base]["s_per_gmac"], by[g]["s_per_gmac"], expect="+",
                                arm_a=base, arm_b=g, metric="seconds per forward GMAC (training step)")
             for g in grouped if g in by]
    return stats.combine(parts, base=base, grouped=[g for g in grouped if g in by])


# ----------------------------------------------------------------------------- claims for run.claim(**c)
def claims(cfg, *, forms_rows, t2_rows, cx_rows, results, ablation, by_arm, tp) -> List[dict]:
    """C3, C1, C2, C4, C5, C6 as keyword arguments of ``run.claim`` (the notebook loops ``run.claim(**c)``),
    every verdict computed from this run: the exact tables (``forms_rows``, ``t2_rows``, ``cx_rows``), the
    primary arm's trainings (``results``), the residual ablation, every arm's results (``by_arm``, C5) and
    the throughput rows (``tp``, C6: the first of ``cfg.throughput_models`` against its grouped ones)."""
    base, grouped = cfg.throughput_models[0], cfg.throughput_models[1:]
    grouped = [g for g in grouped if get_model_meta(g)["cardinality"] > 1]
    return [
        dict(claim_id="C3", statement="Forms (a), (b), (c) compute the same function; the template keeps params/MACs "
             "at ResNet level (Tables 1-2).", verdict=verdict_c3(forms_rows, t2_rows, cx_rows), trained=False,
             paper={"resnet50": "25.5M / 4.1G", "resnext50_32x4d": "25.0M / 4.2G", "template_params": "~70k"}),
        dict(claim_id="C1", statement=f"At matched complexity, higher cardinality lowers validation and training error "
             f"({cfg.c1_pair[1]} vs {cfg.c1_pair[0]}).", verdict=verdict_c1(results, cfg.c1_pair), trained=True,
             paper={"resnet50_top1_err": 23.9, "resnext50_32x4d_top1_err": 22.2,
                    "note": "training-error gap larger than validation gap (Fig 5)"}),
        dict(claim_id="C2", statement="At ~2x complexity, more cardinality beats going deeper or wider "
             "(ResNeXt-101 64x4d 20.4 vs ResNet-200 21.7 and ResNet-101 1x100d 21.3).",
             verdict=verdict_c2(results, cfg.c2_models), trained=True,
             paper={"resnext101_64x4d": 20.4, "resnet200": 21.7, "resnet101_1x100d": 21.3}),
        dict(claim_id="C4", statement="Removing shortcuts hurts both families, and the grouped model stays better "
             "without them.", verdict=verdict_c4(results, ablation, cfg.c1_pair), trained=True,
             paper={"resnet50": [23.9, 31.2], "resnext50_32x4d": [22.2, 26.1]}),
        dict(claim_id="C5", statement="On CIFAR, increasing cardinality is a better use of parameters than increasing "
             "width.", verdict=verdict_c5_arms(by_arm, cfg.c5_pairs), trained=True,
             paper={"resnext29_8x64d_c10_err": 3.65, "resnext29_16x64d_c10_err": 3.58, "wide_resnet_c10_err": 4.17}),
        dict(claim_id="C6", statement="Grouped convolutions cost more wall-clock per MAC than the dense 1xd design "
             "(side note: ResNeXt-101 0.95 s vs ResNet-101 0.70 s per mini-batch).",
             verdict=verdict_c6(tp, base, grouped), trained=False,
             paper={"resnext101_s_per_batch": 0.95, "resnet101_s_per_batch": 0.70}),
    ]
