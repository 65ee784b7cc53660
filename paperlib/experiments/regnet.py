"""08 RegNet experiments: design-space populations trained through :mod:`paperlib.sweep`, their
comparison by EDFs, the linear-rule fit, trends, and the complexity/timing tables.
Paper notes (claims, the paper's numbers, our deviations): ``docs/papers/08_regnet.md``.

The sweep job is :func:`train_one` (importable, top-level, one JSON config in, one JSON dict out):

    {"arch": <AnyNetConfig dict>, "space": "AnyNetX_A", "index": 3,
     "data": {"name": "synthetic", "data_root": None, "image_size": 32, "num_classes": 10,
              "n_train": 4000, "n_val": 1000, "seed": 0},
     "train": {<TrainConfig fields>, "precise_bn_images": 0}, "batch_size": 128, "seed": 0,
     "device": "cpu"}

``train["precise_bn_images"]`` (optional, 0 = off): Precise-BN (pycls ``BN.USE_PRECISE_STATS`` /
``BN.NUM_SAMPLES_PRECISE``, 8,192 in the paper's recipe) -- before every evaluation the BatchNorm
running statistics are recomputed over that many training images (:func:`precise_bn`).

It returns ``{"err": top-1 val error (fraction), "train_loss", "seconds", "flops", "params",
"acts", "precise_bn_images", "history": {...}}``. Datasets are loaded once per worker process and
kept in memory.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..configs.regnet import EFFNET_PAIRS, EFFNET_TABLE4, effnet_key as _effnet_key, parse_effnet_pairs

__all__ = ["train_one", "precise_bn", "population", "job_configs", "run_population", "errors_of",
           "forward_timing", "timing_device", "timing_model", "cpu_forward_timing", "EFFNET_TABLE4",
           "EFFNET_PAIRS", "resolve_effnet_pairs", "paper_time_ratio", "log_ratio_ci", "effnet_pair_timing",
           "regnet_table_rows", "plot_edfs",
           "trend_points", "plot_trends", "fit_rows", "plot_fit", "comparison_rows", "pearson", "trend_verdict",
           "loglog_slope", "corr_diff_boot"]

_DATA_CACHE: Dict[str, tuple] = {}

#: the paperlib code a :func:`train_one` job runs -- its hash is the sweep's code version, so edits
#: elsewhere in the package (other papers, analysis code) keep the trained populations cached
SWEEP_CODE = ["engine", "models/anynet.py", "models/regnet.py", "models/registry.py",
              "data/classification.py", "data/common.py", "design_spaces.py", "sweep.py",
              "experiments/regnet.py"]


# ----------------------------------------------------------------------------- one job
def _datasets(data: dict):
    import json
    from ..data import classification_datasets
    key = json.dumps(data, sort_keys=True)
    if key not in _DATA_CACHE:
        d = dict(data)
        name = d.pop("name", "synthetic")
        root = d.pop("data_root", None)
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = classification_datasets(name, root, **d)
    return _DATA_CACHE[key]


def train_one(config: dict) -> dict:
    """Train one sampled model on the configured data for the configured schedule; return its
    validation top-1 error and complexity (the sweep job)."""
    import torch

    from ..design_spaces import anynet_complexity
    from ..engine import TrainConfig, evaluate_classification, make_loader, train
    from ..models.anynet import AnyNet, AnyNetConfig
    from ..models.regnet import pycls_head_init

    t0 = time.time()
    seed = int(config.get("seed", 0))
    torch.manual_seed(seed)
    tr, va, meta = _datasets(config["data"])
    arch = AnyNetConfig(**config["arch"])
    model = pycls_head_init(AnyNet(arch))
    bs = int(config.get("batch_size", 128))
    tl = make_loader(tr, bs, shuffle=True, seed=seed, drop_last=True)
    vl = make_loader(va, 256, shuffle=False)
    train_kw = dict(config["train"])
    n_bn = int(train_kw.pop("precise_bn_images", 0) or 0)
    tc = TrainConfig(**{**train_kw, "seed": seed})
    eval_fn = None
    if n_bn > 0:
        def eval_fn(m, loader, device):     # Precise-BN, then the engine's default evaluation
            precise_bn(m, tr, n_bn, batch_size=bs, device=device, seed=seed)
            return evaluate_classification(m, loader, device, channels_last=tc.channels_last)
    hist = train(model, tl, tc, device=config.get("device", "cpu"), val_loader=vl, eval_fn=eval_fn,
                 progress="off")
    err = float(hist["val_err"][-1]) if hist.get("val_err") else float("nan")
    size = int(config["data"].get("image_size", 32))
    cx = anynet_complexity(config["arch"], size)
    small = {k: [float(x) for x in v] for k, v in hist.items()
             if isinstance(v, list) and k in ("epoch", "train_loss", "train_err", "val_err", "lr")}
    return {"err": err, "train_loss": float(hist["train_loss"][-1]) if hist.get("train_loss") else None,
            "seconds": round(time.time() - t0, 2), **cx,
            "precise_bn_images": min(n_bn, len(tr)), "history": small}


def precise_bn(model, dataset, n_images: int, *, batch_size: int = 128, device="cpu", seed: int = 0) -> int:
    """Precise-BN (pycls ``compute_precise_bn_stats``): reset every BatchNorm's running mean / var and
    recompute them over ``n_images`` training images (a seeded random subset of ``dataset``, all of it
    when smaller), in train mode without gradients, with PyTorch's maintained implementation
    :func:`torch.optim.swa_utils.update_bn` (cumulative average of the batch statistics, like
    fvcore's / detectron2's precise BN; pycls adds the spread of the batch means to the variance, a
    ~1/batch relative difference). BN momenta and the train/eval mode are restored by ``update_bn``;
    the RNG states (augmentations draw from them) are restored here, so the training that follows is
    the same with and without it. Returns the number of images used."""
    import torch
    from torch.optim.swa_utils import update_bn
    from torch.utils.data import Subset

    from ..engine import make_loader
    from ..engine.checkpoint import rng_state, set_rng_state
    n = min(int(n_images), len(dataset))
    if n <= 0:
        return 0
    idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(int(seed)))[:n].tolist()
    loader = make_loader(Subset(dataset, idx), batch_size, shuffle=False, seed=seed, distributed=False)
    st = rng_state()
    try:
        update_bn(loader, model, device=device)
    finally:
        set_rng_state(st)
    return n


# ----------------------------------------------------------------------------- populations
def population(space: str, n: int, seed: int, *, flop_window, input_size=32, stem="cifar",
               stem_width=16, num_stages=3, num_classes=10, **kw) -> List[dict]:
    """n sampled models of ``space`` in the flop window (records of :func:`design_spaces.sample`);
    the seed is offset per space so spaces are independent."""
    from ..design_spaces import sample
    off = sum(ord(c) for c in space) * 1000
    return sample(space, n, np.random.default_rng(seed + off), flop_window=flop_window,
                  input_size=input_size, stem=stem, stem_width=stem_width, num_stages=num_stages,
                  num_classes=num_classes, **kw)


def job_configs(samples: Sequence[dict], data: dict, train: dict, *, batch_size: int = 128,
                seed: int = 0, device: str = "cpu") -> List[dict]:
    """Sweep configs of :func:`train_one` for sampled models (same data, schedule and seed)."""
    return [{"space": s["space"], "index": i, "arch": s["cfg"], "sample": s["arch"], "data": dict(data),
             "train": dict(train), "batch_size": batch_size, "seed": seed, "device": device}
            for i, s in enumerate(samples)]


def run_population(configs: Sequence[dict], cache_dir, *, data_hash: str = "", workers=None,
                   backend: str = "local", **kw) -> List[dict]:
    """Run :func:`train_one` on every config through :func:`paperlib.sweep.run_sweep` (code version:
    the hash of :data:`SWEEP_CODE`)."""
    from ..sweep import code_version, run_sweep
    kw.setdefault("code", code_version(paths=SWEEP_CODE))
    return run_sweep("paperlib.experiments.regnet:train_one", configs, cache_dir, workers=workers,
                     backend=backend, data_hash=data_hash, **kw)


def errors_of(records: Sequence[dict], space: Optional[str] = None) -> np.ndarray:
    """Val errors (fractions) of the finished ok records (optionally of one space)."""
    return np.array([r["result"]["err"] for r in records
                     if r.get("status") == "ok" and (space is None or r["config"]["space"] == space)
                     and math.isfinite(r["result"]["err"])])


# ----------------------------------------------------------------------------- analysis helpers
def comparison_rows(cmps: Dict[str, dict]) -> List[dict]:
    """Table rows of several :func:`metrics.edf.compare_spaces` results (B minus A)."""
    rows = []
    for name, c in cmps.items():
        row = {"comparison": name, "n_A": c["n_a"], "n_B": c["n_b"],
               "mean_A": c["mean_a"], "mean_B": c["mean_b"], "min_A": c["min_a"], "min_B": c["min_b"]}
        for k in ("mean_diff", "frac_diff", "ks"):
            d, lo, hi = c[k]
            row[k] = d
            row[k + "_ci95"] = f"[{lo:+.3f}, {hi:+.3f}]"
        row["ks_pvalue"] = c.get("ks_pvalue")
        rows.append(row)
    return rows


def trend_points(records: Sequence[dict], key: str) -> tuple:
    """(x, err) of a design parameter over ok records: key in d (total depth), w_last, wm, w0, wa,
    b, g (RegNet samples carry wm/w0/wa; AnyNet samples get depth/width/b/g)."""
    xs, es = [], []
    for r in records:
        if r.get("status") != "ok":
            continue
        a, c = r["config"]["sample"], r["config"]["arch"]
        if key == "d":
            x = sum(c["depths"])
        elif key == "w_last":
            x = c["widths"][-1]
        elif key == "b":
            x = c["widths"][-1] / c["bot_widths"][-1]
        elif key == "g":
            x = c["group_widths"][-1]
        else:
            if key not in a:
                continue
            x = a[key]
        xs.append(float(x))
        es.append(float(r["result"]["err"]))
    return np.asarray(xs), np.asarray(es)


def plot_edfs(ax, errs: Dict[str, np.ndarray], band: bool = True, n_boot: int = 500, pct: bool = True,
              colors: Optional[Dict[str, Any]] = None):
    """EDF of each population with its 95 % bootstrap band; legend "[min | mean] name (n)".
    ``colors``: optional {name: colour} so a population keeps its colour across panels."""
    from ..metrics.edf import edf_band, edf_curve
    s = 100.0 if pct else 1.0
    allx = np.concatenate([v for v in errs.values() if len(v)]) * s
    grid = np.linspace(allx.min() - 1e-9, allx.max() + 1e-6, 200)
    for name, e in errs.items():
        if len(e) == 0:
            continue
        xs, f = edf_curve(e * s)
        kw = {"color": colors[name]} if colors and name in colors else {}
        line, = ax.step(xs, f, where="post",
                        label=f"[{e.min() * s:.1f} | {e.mean() * s:.1f}] {name} (n={len(e)})", **kw)
        if band and len(e) > 1:
            lo, hi = edf_band(e * s, grid, n_boot=n_boot)
            ax.fill_between(grid, lo, hi, step="post", alpha=0.15, color=line.get_color())
    ax.set_xlabel("error (%)" if pct else "error")
    ax.set_ylabel("cumulative prob.")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")


def plot_trends(axes, records, keys, n_rep: int = 2000, pct: bool = True, seed: int = 0):
    """Fig 11 style: error vs each design parameter, with the empirical-bootstrap best x (median and
    95 % interval, footnote 4). Returns {key: bootstrap dict}."""
    from ..metrics.edf import empirical_bootstrap
    out = {}
    s = 100.0 if pct else 1.0
    for ax, k in zip(np.atleast_1d(axes), keys):
        x, e = trend_points(records, k)
        if len(x) < 2:
            ax.set_title(f"{k}: too few models")
            continue
        ax.scatter(x, e * s, s=10, alpha=0.7)
        bs = empirical_bootstrap(x, e, n_rep=n_rep, seed=seed)
        out[k] = {kk: v for kk, v in bs.items() if kk != "samples"}
        ax.axvspan(bs["lo"], bs["hi"], alpha=0.15, color="C1")
        ax.axvline(bs["median"], color="C1", lw=1)
        ax.set_xlabel(k)
        ax.set_ylabel("error (%)" if pct else "error")
        ax.set_title(f"best {k} ~ {bs['median']:.3g} [{bs['lo']:.3g}, {bs['hi']:.3g}]")
    return out


def fit_rows(records: Sequence[dict], top: int = 5) -> List[dict]:
    """Linear-rule fit (Fig 8) of the ``top`` best and ``top`` worst models of a population."""
    from ..metrics.edf import block_widths, fit_quantized_linear
    ok = sorted([r for r in records if r.get("status") == "ok"], key=lambda r: r["result"]["err"])
    sel = [("best", r) for r in ok[:top]] + [("worst", r) for r in ok[-top:][::-1]] if len(ok) > top else \
        [("best", r) for r in ok]
    rows = []
    for tag, r in sel:
        c = r["config"]["arch"]
        f = fit_quantized_linear(block_widths(c["widths"], c["depths"]))
        rows.append({"group": tag, "space": r["config"]["space"], "err": r["result"]["err"],
                     "widths": str(c["widths"]), "depths": str(c["depths"]), "e_fit": f["e_fit"],
                     "w0": f["w0"], "wa": f["wa"], "wm": f["wm"]})
    return rows


def plot_fit(ax, record: dict, title: str = ""):
    """Per-block widths of one model with its quantized-linear fit (Fig 8 top)."""
    from ..metrics.edf import block_widths, fit_quantized_linear
    c = record["config"]["arch"]
    f = fit_quantized_linear(block_widths(c["widths"], c["depths"]))
    j = np.arange(len(f["obs"]))
    ax.plot(j, f["obs"], "o", ms=4, label="observed w_j")
    ax.plot(j, f["pred"], "s-", ms=3, lw=1, drawstyle="steps-mid", label="quantized linear")
    ax.plot(j, f["linear"], "--", lw=1, label=f"u_j = {f['w0']:.0f} + {f['wa']:.1f} j")
    ax.set_yscale("log")
    ax.set_xlabel("block index j")
    ax.set_ylabel("width")
    ax.set_title(f"{title} e_fit={f['e_fit']:.3f}, wm={f['wm']:.2f}")
    ax.legend(loc="upper left")
    return f


def regnet_table_rows(family: str = "regnetx") -> List[dict]:
    """RegNetX/Y table: complexity computed from the built modules (meta device) beside the spec's
    numbers and the paper's error."""
    import torch

    from ..metrics import complexity
    from ..models import create_model, get_model_meta, list_models
    rows = []
    for n in list_models(family=family):
        with torch.device("meta"):
            m = create_model(n)
        cx = complexity(m, (3, 224, 224))
        meta = get_model_meta(n)
        c = meta["config"]
        rows.append({"model": n, "d": c["d"], "w0": c["w0"], "wa": c["wa"], "wm": c["wm"], "g": c["g"],
                     "widths": str(m.cfg.widths), "depths": str(m.cfg.depths),
                     "groups": str(m.cfg.group_widths),
                     "GF": cx["flops"] / 1e9, "params_M": cx["params"] / 1e6, "acts_M": cx["acts"] / 1e6,
                     "flops": cx["flops"], "params": cx["params"], "acts": cx["acts"],
                     "exact": all(cx[k] == meta[k] for k in ("flops", "params", "acts")),
                     "paper_err": meta["err"]})
    rows.sort(key=lambda r: r["flops"])
    return rows


def timing_device(device="cpu"):
    """The torch.device a Fig 12 timing runs on: "auto"/None picks CUDA when present; a CUDA device
    gets its index resolved (``cuda`` -> ``cuda:<current>``). Asking for CUDA where none is available
    (or for a GPU index that does not exist) is an error, never a silent fall-back to the CPU."""
    import torch

    from ..engine import resolve_device
    dev = resolve_device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"forward timing: device {str(device)!r} requested but CUDA is not available "
                               f"(torch {torch.__version__}); time on 'cpu' or run where a GPU is visible")
        idx = torch.cuda.current_device() if dev.index is None else dev.index
        if idx >= torch.cuda.device_count():
            raise RuntimeError(f"forward timing: device {str(device)!r} requested but only "
                               f"{torch.cuda.device_count()} CUDA device(s) are visible")
        return torch.device("cuda", idx)
    if dev.type != "cpu":
        raise ValueError(f"forward timing: unsupported device {str(device)!r} (use 'cpu', 'cuda[:i]' or 'auto')")
    return dev


def timing_model(name: str):
    """A model to time by name: a paperlib registry model (the RegNets), else a timm model
    (``timm.create_model(name)``, random init, e.g. ``"efficientnet_b0"``); an unknown name raises a
    KeyError naming both registries."""
    from ..models import create_model, is_model
    if is_model(name):
        return create_model(name)
    import timm
    if timm.is_model(name):
        return timm.create_model(name, pretrained=False)
    raise KeyError(f"timing: unknown model {name!r}: neither a paperlib model (paperlib.models.list_models()) "
                   f"nor a timm model (timm.list_models())")


def _timed_passes(m, x, dev, warmup: int, reps: int, mode: str) -> List[float]:
    """Seconds of each of ``reps`` passes of ``m`` on ``x`` after ``warmup`` untimed ones (CUDA
    synchronized before and after each pass). ``mode`` "infer": eval, no grad; "train": train mode,
    forward + backward of a cross-entropy loss (pycls's training timing: FP32 forward + backward, no
    optimizer step; gradients cleared before each pass, outside the timer)."""
    import torch
    cuda = dev.type == "cuda"
    train = mode == "train"
    m.train(train)
    y = None
    ts = []
    with torch.set_grad_enabled(train):
        for i in range(warmup + reps):
            if train:
                m.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize(dev)
            t = time.perf_counter()
            out = m(x)
            if train:
                if y is None:
                    y = torch.zeros(out.shape[0], dtype=torch.long, device=out.device)
                torch.nn.functional.cross_entropy(out, y).backward()
            if cuda:
                torch.cuda.synchronize(dev)
            if i >= warmup:
                ts.append(time.perf_counter() - t)
    if train:
        m.zero_grad(set_to_none=True)
    return ts


def forward_timing(names: Sequence[str], batch: int = 8, image_size: Union[int, Mapping[str, int]] = 224,
                   threads: int = 1, reps: int = 3, warmup: Optional[int] = None, device="cpu",
                   mode: str = "infer") -> List[dict]:
    """Fig 12 analogue: median seconds of a forward pass (eval, no grad, float32; on CUDA with PyTorch's
    default TF32 convolutions) of each model, with its flops / params / acts (counted on the meta device).

    ``names``: paperlib registry models or timm models (:func:`timing_model`). ``image_size``: one
    size for every model, or ``{name: size}`` (e.g. each EfficientNet at its own resolution).
    ``mode="train"`` times forward + backward instead (see :func:`_timed_passes`).

    CPU: at ``threads`` intra-op threads (restored afterwards), ``warmup`` (default 1) untimed passes.
    CUDA: model and input moved to the device, cuDNN autotuning on while timing (pycls), ``warmup``
    (default 5) untimed passes, ``torch.cuda.synchronize()`` before and after every timed pass; the CPU
    thread count is left alone (recorded as None). Every row records the device actually used
    (``"cpu"`` or ``"cuda:<i>"``) and, on CUDA, the GPU's name (``device_name``), the input size, the
    mode and every timed pass (``rep_seconds``). A CUDA ``device`` where CUDA is not available raises
    (see :func:`timing_device`)."""
    import torch

    from ..metrics import complexity
    if mode not in ("infer", "train"):
        raise ValueError(f"forward timing: mode {mode!r}: use 'infer' or 'train'")
    if mode == "train" and batch < 2:
        raise ValueError(f"forward timing: mode 'train' needs batch >= 2 (BatchNorm in train mode), got {batch}")
    dev = timing_device(device)
    cuda = dev.type == "cuda"
    if warmup is None:
        warmup = 5 if cuda else 1
    sizes = {n: int(image_size[n] if isinstance(image_size, Mapping) else image_size) for n in names}
    from ..engine.runtime import setup_threads

    old_threads = torch.get_num_threads()
    old_bench = torch.backends.cudnn.benchmark
    if cuda:
        torch.backends.cudnn.benchmark = True
        gpu_name = torch.cuda.get_device_name(dev)
    else:
        threads = setup_threads(threads, dev)
    rows = []
    inputs: Dict[int, Any] = {}
    try:
        for n in names:
            size = sizes[n]
            if size not in inputs:
                inputs[size] = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
                if cuda:
                    inputs[size] = inputs[size].to(dev)
            torch.manual_seed(0)
            m = timing_model(n)
            cx = complexity(m, (3, size, size))
            if cuda:
                m = m.to(dev)
            ts = _timed_passes(m, inputs[size], dev, warmup, reps, mode)
            row = {"model": n, "flops": cx["flops"], "params": cx["params"], "acts": cx["acts"],
                   "seconds": float(np.median(ts)), "batch": batch, "threads": None if cuda else threads,
                   "device": str(dev), "image_size": size, "mode": mode, "rep_seconds": [float(t) for t in ts]}
            if cuda:
                row["device_name"] = gpu_name
            rows.append(row)
            del m
    finally:
        if cuda:
            torch.backends.cudnn.benchmark = old_bench
        else:
            torch.set_num_threads(old_threads)
    return rows


def cpu_forward_timing(names: Sequence[str], batch: int = 8, image_size: int = 224, threads: int = 1,
                       reps: int = 3, warmup: int = 1) -> List[dict]:
    """:func:`forward_timing` on the CPU (kept for callers of the old name)."""
    return forward_timing(names, batch=batch, image_size=image_size, threads=threads, reps=reps,
                          warmup=warmup, device="cpu")


# ----------------------------------------------------------------------------- Table 4 timing analogue
# Table 4's data (EFFNET_TABLE4, EFFNET_PAIRS) is plain data in configs/regnet.py, which validates a
# config's effnet_pairs without importing timm; imported here under the names this module always exported.
#: the RegNetY side is timed at the RegNets' 224 px
REGNET_RES = 224


def paper_time_ratio(effnet: str, mode: str = "infer") -> Optional[float]:
    """The paper's EfficientNet / RegNetY time ratio of a Table 4 pair (inference ms or training
    hours), None where the spec gives no timing."""
    r = EFFNET_TABLE4.get(_effnet_key(effnet), {})
    k = "infer_ms" if mode == "infer" else "train_h"
    if r.get(k) is None or r.get("regnety_" + k) is None:
        return None
    return r[k] / r["regnety_" + k]


def resolve_effnet_pairs(pairs) -> List[dict]:
    """Validate a config's ``effnet_pairs`` and return ``[{"effnet", "regnety", "res"}]``.

    Each entry is an EfficientNet timm name (its Table 4 RegNetY and resolution are used), or
    ``[effnet, regnet]``, or ``[effnet, regnet, resolution]``. The EfficientNet must be a timm model, the
    RegNet a paperlib registry model; the resolution defaults to :data:`EFFNET_TABLE4`'s (required for a
    timm model outside it). Anything else raises a ValueError that names the entry and the valid names.
    The form is checked by :func:`paperlib.configs.regnet.parse_effnet_pairs` (also run by the Config,
    which imports no timm); this adds the existence of the names in timm and in the registry."""
    if not pairs:
        return parse_effnet_pairs(pairs)
    import timm

    from ..models import list_models
    return parse_effnet_pairs(pairs, is_effnet=timm.is_model,
                              regnet_names=list_models(family="regnety") + list_models(family="regnetx"))


def log_ratio_ci(slow_seconds: Sequence[float], fast_seconds: Sequence[float], n_boot: int = 1000,
                 seed: int = 0, min_reps: int = 3) -> tuple:
    """log(median slow / median fast) of two models' timed passes, with a percentile-bootstrap 95 %
    interval (:func:`metrics.stats.two_sample_bootstrap` of the median log time, each model's passes
    resampled independently). (nan, None, None) when a time is missing or not positive; no interval
    (None, None) with fewer than ``min_reps`` passes on either side."""
    from ..metrics import stats
    a, b = np.asarray(slow_seconds, float), np.asarray(fast_seconds, float)
    if a.size == 0 or b.size == 0 or not (np.all(a > 0) and np.all(b > 0)):
        return float("nan"), None, None
    d = float(np.log(np.median(a)) - np.log(np.median(b)))
    if min(a.size, b.size) < min_reps:
        return d, None, None
    _, lo, hi = stats.two_sample_bootstrap(np.log(b), np.log(a), stat=np.median, n_boot=n_boot, seed=seed)
    return d, lo, hi


def _oom_errors():
    import torch
    return (torch.cuda.OutOfMemoryError,) if hasattr(torch.cuda, "OutOfMemoryError") else ()


def effnet_pair_timing(pairs, batch: int = 64, train_batch: int = 0, reps: int = 10,
                       warmup: Optional[int] = None, device="cpu", threads: int = 1,
                       image_size: Optional[int] = None, n_boot: int = 1000, seed: int = 0) -> List[dict]:
    """Table 4 timing analogue: each EfficientNet at its resolution against its RegNetY at 224 px, timed
    with :func:`forward_timing` on ``device`` (same batch, device, threads and reps for both).

    ``pairs``: a config's ``effnet_pairs`` (:func:`resolve_effnet_pairs`). Inference at ``batch``; when
    ``train_batch`` > 0 also the training step (forward + backward) at that batch. ``image_size``
    overrides both models' resolution (tests, smoke runs). One row per pair and mode: both models'
    flops / params / acts (:func:`metrics.complexity`, at the timed resolution) and median ms, ``ratio``
    = EfficientNet time / RegNetY time (> 1: RegNetY faster) with ``log_ratio`` and its bootstrap 95 %
    interval over the timed passes (:func:`log_ratio_ci`), the paper's ratio where the spec has it, and
    the device. A CUDA out-of-memory error is recorded in the row (``note``, times NaN), not raised."""
    import torch
    modes = [("infer", int(batch))] + ([("train", int(train_batch))] if train_batch and train_batch > 0 else [])
    rows = []
    for p in resolve_effnet_pairs(pairs):
        eff, reg = p["effnet"], p["regnety"]
        sizes = {eff: image_size or p["res"], reg: image_size or REGNET_RES}
        for mode, bs in modes:
            note = None
            try:
                t_eff, t_reg = forward_timing([eff, reg], batch=bs, image_size=sizes, threads=threads, reps=reps,
                                              warmup=warmup, device=device, mode=mode)
            except _oom_errors() as e:          # one pair too big for this GPU: say so in its row
                note = f"CUDA out of memory at batch {bs} ({str(e).splitlines()[0][:120]})"
                t_eff = t_reg = None
            d, lo, hi = (log_ratio_ci(t_eff["rep_seconds"], t_reg["rep_seconds"], n_boot=n_boot, seed=seed)
                         if note is None else (float("nan"), None, None))
            row = {"pair": f"{eff} / {reg}", "mode": mode, "batch": bs}
            for side, name, t in (("effnet", eff, t_eff), ("regnety", reg, t_reg)):
                row.update({side: name, f"{side}_px": sizes[name],
                            f"{side}_flops": t["flops"] if t else None, f"{side}_params": t["params"] if t else None,
                            f"{side}_acts": t["acts"] if t else None,
                            f"{side}_ms": 1000 * t["seconds"] if t else float("nan"),
                            f"{side}_rep_seconds": t["rep_seconds"] if t else []})
            row.update({"ratio": float(np.exp(d)) if math.isfinite(d) else float("nan"), "log_ratio": d,
                        "log_ratio_lo": lo, "log_ratio_hi": hi,
                        "ratio_lo": float(np.exp(lo)) if lo is not None else None,
                        "ratio_hi": float(np.exp(hi)) if hi is not None else None,
                        "paper_ratio": paper_time_ratio(eff, mode), "reps": reps,
                        "device": str(timing_device(device)), "note": note})
            dev_name = (t_eff or {}).get("device_name")
            if dev_name is None and row["device"].startswith("cuda"):
                dev_name = torch.cuda.get_device_name(timing_device(device))
            row["device_name"] = dev_name
            rows.append(row)
            if row["device"].startswith("cuda"):
                torch.cuda.empty_cache()
    return rows


def pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


# ----------------------------------------------------------------------------- verdict helpers
def trend_verdict(bs: Optional[dict], paper_value: float, sampled_range: Sequence[float],
                  max_width_frac: float = 0.5, name: str = "x", min_n: int = 8,
                  observed: Optional[Sequence[float]] = None):
    """Verdict for a Fig-11 trend ("best x is about paper_value") from an empirical bootstrap
    (:func:`metrics.edf.empirical_bootstrap`): inconclusive when there is no bootstrap or its 95 %
    interval spans more than ``max_width_frac`` of the sampled range (the population cannot locate
    the best x), fewer than ``min_n`` models, or the paper's value lies outside the ``observed`` x
    values (no trained model near it: nothing to refute); otherwise held iff the interval contains the
    paper's value."""
    from ..metrics import stats
    if not bs or int(bs.get("n") or 0) < min_n:
        return stats.not_tested(f"best {name}: fewer than {min_n} trained models",
                                n=(bs or {}).get("n"))
    if observed is not None and len(observed) and not (min(observed) <= paper_value <= max(observed)):
        return stats.not_tested(f"best {name}: the paper's {paper_value} is outside the trained models' "
                                f"range [{min(observed):.3g}, {max(observed):.3g}]",
                                best_median=bs["median"], best_ci95=[bs["lo"], bs["hi"]])
    lo, hi = float(bs["lo"]), float(bs["hi"])
    span = float(sampled_range[1]) - float(sampled_range[0])
    ev = dict(best_median=bs["median"], best_ci95=[lo, hi], paper=paper_value,
              sampled_range=list(sampled_range), n=bs.get("n"))
    if span <= 0 or (hi - lo) > max_width_frac * span:
        return stats.not_tested(f"best {name} interval [{lo:.3g}, {hi:.3g}] spans more than "
                                f"{max_width_frac:.0%} of the sampled range: not located", **ev)
    return stats.decide_all({f"best {name} 95% interval contains {paper_value}": lo <= paper_value <= hi}, **ev)


def loglog_slope(x, y, n_boot: int = 1000, seed: int = 0) -> tuple:
    """Slope of log y on log x (least squares) with a percentile-bootstrap 95 % interval over points."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    s = float(np.polyfit(lx, ly, 1)[0])
    rng = np.random.default_rng(seed)
    bs = []
    for _ in range(n_boot):
        i = rng.integers(0, lx.size, lx.size)
        if np.ptp(lx[i]) > 0:
            bs.append(np.polyfit(lx[i], ly[i], 1)[0])
    lo, hi = np.quantile(bs, [0.025, 0.975])
    return s, float(lo), float(hi)


def corr_diff_boot(t, a, b, n_boot: int = 1000, seed: int = 0) -> tuple:
    """pearson(t, a) - pearson(t, b) with a percentile-bootstrap 95 % interval over models
    (e.g. t = runtime, a = acts, b = flops). NaN when fewer than 3 models."""
    t, a, b = (np.asarray(v, float) for v in (t, a, b))
    if t.size < 3:
        return float("nan"), None, None
    d = pearson(t, a) - pearson(t, b)
    rng = np.random.default_rng(seed)
    bs = []
    for _ in range(n_boot):
        i = rng.integers(0, t.size, t.size)
        v = pearson(t[i], a[i]) - pearson(t[i], b[i])
        if math.isfinite(v):
            bs.append(v)
    if not bs:
        return d, None, None
    lo, hi = np.quantile(bs, [0.025, 0.975])
    return float(d), float(lo), float(hi)
