"""09 Early Convolutions Help Transformers See Better: the trained studies (ViT_P vs ViT_C).

One sweep job, :func:`train_one` (importable, one JSON config in, one JSON dict out), trains one model
of the pair with one optimizer and one (lr, wd) and seed::

    {"model": "vit_p_tiny", "model_kw": {}, "data": {"name": "synthetic", "data_root": None,
     "image_size": 32, "num_classes": 10, "n_train": 5000, "n_val": 1000, "seed": 0},
     "train": {<TrainConfig fields>}, "recipe": {"mixup": 0, "cutmix": 0, "label_smoothing": 0,
     "autoaugment": False}, "batch_size": 128, "seed": 0, "device": "cpu"}

It returns ``{"err", "diverged", "diverged_msg", "curve" (val error per evaluated epoch, EMA model's when
EMA is on), "wrong" (per validation image 0/1, for paired bootstraps), "seconds", "images_per_sec"}``.
A run whose loss becomes non-finite (long SGD runs of ViT_P, the paper's Fig 3) is **a result**: the
engine's NaN guard stops it, and the job records ``diverged=True`` with error 1.0 (every image counted
wrong) and the curve up to the divergence -- it is never dropped and never crashes the sweep.

Studies (all through :mod:`paperlib.sweep`, cached and resumable):
- search: ``n_search`` log-uniform (lr, wd) samples per optimizer, the **same samples for both models**
  (Figs 4/5: EDFs of error minus the best error of that model/optimizer);
- best: the best search config of each (model, optimizer) re-run with every seed (Fig 3: gap =
  err_SGD - err_AdamW per model; contrast gap_P - gap_C);
- short: the AdamW best of each model on the short schedule with every seed (Fig 2: the short-schedule
  penalty err_short - err_long per model; contrast P - C).
Complexity tables, timing, figures and the claims live in :mod:`paperlib.experiments.vit_early_convs_report`.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = ["train_one", "SWEEP_CODE", "build_model", "data_spec", "job", "search_samples", "search_jobs",
           "run_jobs", "best_configs", "seed_jobs", "short_jobs", "collect", "err_of", "PAIR", "prepare", "run_studies"]

PAIR = ("P", "C")
#: the code a job runs: its hash keys the sweep cache (analysis edits keep trained runs cached)
SWEEP_CODE = ["engine", "models/vit.py", "models/registry.py", "data/classification.py", "data/common.py",
              "sweep.py", "experiments/vit_early_convs.py"]
_DATA_CACHE: Dict[str, tuple] = {}


# ----------------------------------------------------------------------------- one job
def build_model(name: str, kw: Optional[dict], img_size: int, num_classes: int):
    """A registered model (``kw`` empty) or, with ``kw`` = {hidden, heads, mlp, depth, (patch | c_stem)},
    the same family at another size (gpu profile): ``_p_`` in the name = patchify stem, else conv stem."""
    from ..models import create_model
    from ..models.vit import vit_early_convs
    if not kw:
        return create_model(name, img_size=img_size, num_classes=num_classes)
    stem = "patchify" if "_p_" in name else "conv"
    kw = dict(kw)
    if "c_stem" in kw:
        kw["c_stem"] = tuple(tuple(x) for x in kw["c_stem"])
    return vit_early_convs(stem, img_size=img_size, num_classes=num_classes, **kw)


def _datasets(data: dict, recipe: dict):
    from ..data import classification_datasets
    key = json.dumps([data, bool(recipe.get("autoaugment"))], sort_keys=True)
    if key not in _DATA_CACHE:
        d = dict(data)
        name = d.pop("name", "synthetic")
        root = d.pop("data_root", None)
        if recipe.get("autoaugment"):
            d["train_transform"], d["val_transform"] = _recipe_transforms(name, int(d.get("image_size", 224)))
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = classification_datasets(name, root, **d)
    return _DATA_CACHE[key]


def _recipe_transforms(name: str, size: int):
    """The paper's augmentation (pycls: AutoAugment with the ImageNet policy, random-resized crop, flip;
    eval: resize 256 -> centre 224) through the engine's timm recipe (policy "original")."""
    from ..data.classification import STATS
    from ..engine.recipe import classification_transforms
    mean, std = STATS[name.lower()]
    return classification_transforms(size, mean, std, auto_augment="original")


def _step_fn(recipe: dict, num_classes: int):
    """None (the engine's cross-entropy) unless the recipe asks for mixup / CutMix / label smoothing: then
    the engine's timm recipe (``Mixup`` + ``SoftTargetCrossEntropy``, or label-smoothed CE)."""
    mix, cut, ls = float(recipe.get("mixup", 0)), float(recipe.get("cutmix", 0)), float(recipe.get("label_smoothing", 0))
    if mix <= 0 and cut <= 0 and ls <= 0:
        return None
    from ..engine.recipe import finetune_step
    return finetune_step(num_classes, smoothing=ls, mixup=mix, cutmix=cut)


def _distributed_env_from_submitit() -> None:
    """In a multi-task submitit job (paper profile: one task per GPU) export the torchrun variables
    (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) with submitit's helper, so the engine starts DDP.
    Per-image results are gathered from every rank's shard, so all ranks write the same record."""
    if "RANK" in os.environ:
        return
    try:
        import submitit
        env = submitit.JobEnvironment()
        multi = env.num_tasks > 1
    except Exception:          # not inside a submitit job (or submitit missing): nothing to do
        return
    if multi:
        submitit.helpers.TorchDistributedEnvironment().export()


def train_one(config: dict) -> dict:
    """Train one model of the pair; return its validation error, curve and per-image errors (sweep job).
    A non-finite loss is recorded as a diverged run (error 1.0), not raised."""
    import torch

    _distributed_env_from_submitit()

    from ..engine import TrainConfig, evaluate_classification, make_loader, resolve_device, train
    from ..engine.recipe import per_item_correct
    t0 = time.time()
    seed = int(config.get("seed", 0))
    recipe = dict(config.get("recipe") or {})
    torch.manual_seed(seed)
    tr, va, meta = _datasets(config["data"], recipe)
    size = int(config["data"].get("image_size", 32))
    model = build_model(config["model"], config.get("model_kw"), size, int(meta["num_classes"]))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    bs = max(1, int(config.get("batch_size", 128)) // world)    # batch_size is the global batch
    tl = make_loader(tr, bs, shuffle=True, seed=seed, drop_last=True)
    vl = make_loader(va, 256, shuffle=False, evaluation=True)
    tc = TrainConfig(**{**config["train"], "seed": seed})
    curves: Dict[str, list] = {"raw": [], "ema": []}

    def eval_fn(m, loader, device):          # the engine's evaluation, with the curve kept here so that
        res = evaluate_classification(m, loader, device)   # a diverged run keeps its epochs so far
        curves["raw" if m is model else "ema"].append(float(res["err"]))
        return res

    device = resolve_device(config.get("device", "cpu"))
    diverged, msg, hist = False, None, None
    try:
        hist = train(model, tl, tc, device=device, val_loader=vl, eval_fn=eval_fn,
                     step_fn=_step_fn(recipe, int(meta["num_classes"])), progress="off")
    except FloatingPointError as e:          # the engine's NaN guard: a result, not a crash
        diverged, msg = True, str(e)
    use_ema = tc.ema_decay > 0
    curve = curves["ema"] if use_ema and curves["ema"] else curves["raw"]
    if diverged:
        wrong = [1] * len(va)
    else:
        final = hist.ema if (use_ema and hist.ema is not None) else model
        wrong = [int(v) for v in 1 - per_item_correct(final, vl, device)]
    ips = [float(v) for v in (hist or {}).get("images_per_sec", [])]
    return {"err": float(np.mean(wrong)), "diverged": diverged, "diverged_msg": msg, "curve": curve,
            "wrong": wrong, "seconds": round(time.time() - t0, 2),
            "images_per_sec": float(np.median(ips)) if ips else None}


# ----------------------------------------------------------------------------- configs
def data_spec(cfg, data_root=None) -> dict:
    d = {"name": cfg.dataset, "data_root": str(data_root) if data_root else None, "image_size": cfg.image_size,
         "num_classes": cfg.num_classes}
    if cfg.dataset == "synthetic":
        d.update(n_train=cfg.n_train, n_val=cfg.n_val, seed=cfg.data_seed)
    return d


def job(cfg, data: dict, arm: str, optimizer: str, lr: float, wd: float, *, seed: int, epochs: Optional[int] = None,
        device: str = "cpu") -> dict:
    """The sweep config of one run: arm "P" or "C", the profile's shared schedule (``epochs`` overrides
    its length: the warm-up is kept, capped at half the run)."""
    ep = int(epochs or cfg.epochs)
    train = {"epochs": ep, "max_steps": cfg.max_steps, "optimizer": optimizer, "lr": float(lr),
             "weight_decay": float(wd), "wd_on_norm_bias": False, "momentum": 0.9, "schedule": "cosine",
             "warmup_epochs": min(float(cfg.warmup_epochs), ep / 2), "min_lr": cfg.min_lr_frac * float(lr),
             "clip_grad": cfg.clip_grad, "ema_decay": cfg.ema_decay, "log_every": 10 ** 9, "ckpt_every_epochs": 10 ** 9}
    recipe = {"mixup": cfg.mixup, "cutmix": cfg.cutmix, "label_smoothing": cfg.label_smoothing,
              "autoaugment": cfg.autoaugment}
    name, kw = (cfg.model_p, cfg.model_kw_p) if arm == "P" else (cfg.model_c, cfg.model_kw_c)
    return {"arm": arm, "model": name, "model_kw": dict(kw), "data": dict(data), "train": train,
            "recipe": recipe, "batch_size": cfg.batch_size, "seed": int(seed), "device": device}


def search_samples(cfg, optimizer: str, seed: int = 0) -> List[tuple]:
    """``n_search`` (lr, wd) pairs, log-uniform in the profile's ranges (pycls's random search);
    seeded per optimizer so that both models see the same samples."""
    lo_lr, hi_lr = getattr(cfg, f"{optimizer}_lr")
    lo_wd, hi_wd = getattr(cfg, f"{optimizer}_wd")
    rng = np.random.default_rng([int(seed), 9, sum(map(ord, optimizer))])
    lr = np.exp(rng.uniform(math.log(lo_lr), math.log(hi_lr), cfg.n_search))
    wd = np.exp(rng.uniform(math.log(lo_wd), math.log(hi_wd), cfg.n_search))
    return [(float(f"{a:.4g}"), float(f"{b:.4g}")) for a, b in zip(lr, wd)]


def search_jobs(cfg, data: dict, *, seed: int = 0, device: str = "cpu") -> List[dict]:
    from ..configs.vit_early_convs import OPTIMIZERS
    return [job(cfg, data, arm, opt, lr, wd, seed=seed, device=device)
            for opt in OPTIMIZERS for (lr, wd) in search_samples(cfg, opt, seed) for arm in PAIR]


def run_jobs(configs: Sequence[dict], cfg, cache_dir, *, data_hash: str = "", **kw) -> List[dict]:
    """Run :func:`train_one` on every config through :func:`paperlib.sweep.run_sweep` (cached)."""
    from ..sweep import code_version, run_sweep
    kw.setdefault("code", code_version(paths=SWEEP_CODE))
    return run_sweep("paperlib.experiments.vit_early_convs:train_one", configs, cache_dir, workers=cfg.workers,
                     backend=cfg.backend, data_hash=data_hash, executor_kwargs=cfg.executor_kwargs or None, **kw)


def err_of(rec: dict) -> float:
    """Error of a record: the run's error (1.0 for a diverged run); NaN for an infrastructure failure."""
    if rec.get("status") != "ok":
        return float("nan")
    return float(rec["result"]["err"])


def best_configs(records: Sequence[dict]) -> Dict[tuple, dict]:
    """(arm, optimizer) -> the search config with the lowest error (ties: first drawn)."""
    best: Dict[tuple, tuple] = {}
    for r in records:
        c, e = r["config"], err_of(r)
        key = (c["arm"], c["train"]["optimizer"])
        if math.isfinite(e) and (key not in best or e < best[key][0]):
            best[key] = (e, c)
    return {k: v[1] for k, v in best.items()}


def _reseed(c: dict, seed: int, epochs: Optional[int] = None, cfg=None) -> dict:
    """A copy of job config ``c`` with another seed (and schedule length). Configs carry no role tag, so
    the same run asked for twice (the search's seed of a best config) is one cached job."""
    c = json.loads(json.dumps(c))
    c["seed"] = int(seed)
    if epochs is not None:
        c["train"]["epochs"] = int(epochs)
        c["train"]["warmup_epochs"] = min(float(cfg.warmup_epochs), epochs / 2)
    return c


def seed_jobs(best: Dict[tuple, dict], seeds: Sequence[int]) -> List[dict]:
    """Every best config with every seed (the seed the search used is the cached search run itself)."""
    return [_reseed(c, s) for _, c in sorted(best.items()) for s in seeds]


def short_jobs(best: Dict[tuple, dict], cfg, seeds: Sequence[int]) -> List[dict]:
    """The AdamW best of each model on the short schedule (``short_epochs``), every seed."""
    return [_reseed(best[(arm, "adamw")], s, cfg.short_epochs, cfg) for arm in PAIR
            if (arm, "adamw") in best for s in seeds]


def collect(records: Sequence[dict]) -> Dict[tuple, List[dict]]:
    """(arm, optimizer) -> the records, in order."""
    out: Dict[tuple, List[dict]] = {}
    for r in records:
        c = r["config"]
        out.setdefault((c["arm"], c["train"]["optimizer"]), []).append(r)
    return out


# ----------------------------------------------------------------------------- the studies
def prepare(cfg, profile: str, data_root=None, device="cpu") -> dict:
    """Load (and, for synthetic data, generate) the datasets once here, so the workers only read them;
    return the data spec, its manifest hash (part of every job's key), the sweep folder and the device."""
    from pathlib import Path

    from ..data import data_home, manifest_hash
    data = data_spec(cfg, data_root)
    _, _, meta = _datasets(data, {})
    data_hash = manifest_hash(meta["root"]) or f"{cfg.dataset}:{meta['root']}"
    sweep_dir = Path(cfg.sweep_dir) if cfg.sweep_dir else data_home() / "sweeps" / "09_vit_early_convs" / profile
    return {"data": data, "data_hash": data_hash, "sweep_dir": sweep_dir, "device": str(device),
            "num_classes": int(meta["num_classes"])}


def run_studies(cfg, prep: dict, *, seed: int = 0) -> Dict[str, List[dict]]:
    """search -> best per (model, optimizer) -> every seed of the bests -> short-schedule AdamW bests.
    ``seed`` (the notebook's) draws the search samples; the bests run with ``cfg.seeds`` as given (``Run``
    has already shifted them by the notebook's seed).
    Returns {"search", "best", "short"} record lists (each through the cached sweep)."""
    kw = dict(data_hash=prep["data_hash"])
    search = run_jobs(search_jobs(cfg, prep["data"], seed=seed, device=prep["device"]), cfg, prep["sweep_dir"], **kw)
    best = best_configs(search)
    seeds = list(cfg.seeds)                     # already shifted by the notebook's seed (Run)
    best_recs = run_jobs(seed_jobs(best, seeds), cfg, prep["sweep_dir"], **kw)
    short = run_jobs(short_jobs(best, cfg, seeds), cfg, prep["sweep_dir"], **kw)
    return {"search": search, "best": best_recs, "short": short}
