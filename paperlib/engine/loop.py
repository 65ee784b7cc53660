"""The training loop shared by every paper notebook."""
from __future__ import annotations

import math
import time
import warnings
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from .checkpoint import load_checkpoint, rng_state, save_atomic, set_rng_state
from .config import TrainConfig
from .data import make_loader, seed_everything
from .distributed import (all_gather_object, all_reduce_mean_dict, all_reduce_sum, barrier,
                          init_distributed)
from .optim import build_optimizer
from .progress import Progress, progress_mode
from .schedule import build_scheduler

CKPT_VERSION = 1
# divergence short of NaN: a step loss this many times the run's first step loss (in absolute value, the
# reference floored at LOSS_REF_FLOOR) warns once and marks the epoch's history entry "diverged"
LOSS_GROWTH_WARN = 100.0
#: every divergence warning of this process (desc, epoch, step, loss, first_loss, growth); the recorder copies
#: it into results.json ("training_divergence") so a run that trained through a blow-up says so on disk
DIVERGED_RUNS: list[dict] = []
LOSS_REF_FLOOR = 1e-2


# ----------------------------------------------------------------------------- helpers
def resolve_device(device) -> torch.device:
    """"auto"/None -> cuda if available else cpu; an explicit cuda device without CUDA is refused."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} requested but CUDA is not available; use device='auto' or 'cpu'")
    return dev


def to_device(obj, device, channels_last: bool = False):
    """Move tensors (nested in tuples/lists/dicts) to `device`."""
    if torch.is_tensor(obj):
        obj = obj.to(device, non_blocking=True)
        if channels_last and obj.ndim == 4 and obj.is_floating_point():
            obj = obj.contiguous(memory_format=torch.channels_last)
        return obj
    if isinstance(obj, dict):
        return {k: to_device(v, device, channels_last) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, channels_last) for v in obj) if not hasattr(obj, "_fields") \
            else type(obj)(*(to_device(v, device, channels_last) for v in obj))
    return obj


def classification_step(model, batch, device, channels_last: bool = False):
    """Default step_fn. batch=(x, y): CE loss and the number of correct top-1 predictions.
    A model returning a dict of losses is passed through (its losses are summed by the loop);
    a dict batch is passed as keyword arguments, a bare tensor batch as the only input."""
    if isinstance(batch, dict):
        return model(**to_device(batch, device, channels_last))
    if torch.is_tensor(batch):
        return model(to_device(batch, device, channels_last))
    x, y = batch[0], batch[1] if len(batch) > 1 else None
    x = to_device(x, device, channels_last)
    out = model(x)
    if isinstance(out, dict) or y is None or not torch.is_tensor(out):
        return out
    y = to_device(y, device)
    loss = F.cross_entropy(out, y)
    with torch.no_grad():
        target = y if y.ndim == 1 else y.argmax(dim=1)
        correct = (out.argmax(dim=1) == target).sum()
    return loss, {"correct": correct, "n": int(target.shape[0])}


@torch.no_grad()
def evaluate_classification(model, loader, device, channels_last: bool = False) -> dict:
    """Top-1 error, top-5 error and mean CE loss over `loader` (sums all-reduced under DDP).
    Returns {} when the model does not produce logits."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, correct1, correct5, n
    num_classes = None
    try:
        for batch in loader:
            x, y = to_device(batch[0], device, channels_last), to_device(batch[1], device)
            out = model(x)
            if not torch.is_tensor(out):
                return {}
            out = out.float()
            num_classes = out.shape[1]
            target = y if y.ndim == 1 else y.argmax(dim=1)
            sums[0] += F.cross_entropy(out, target, reduction="sum").double()
            k = min(5, out.shape[1])
            topk = out.topk(k, dim=1).indices
            hit = topk == target[:, None]
            sums[1] += hit[:, 0].sum()
            sums[2] += hit.any(dim=1).sum()
            sums[3] += target.shape[0]
    finally:
        model.train(was_training)
    sums = all_reduce_sum(sums)
    n = max(sums[3].item(), 1.0)
    res = {"err": 1.0 - sums[1].item() / n, "loss": sums[0].item() / n}
    if num_classes is not None and num_classes > 5:
        res["top5_err"] = 1.0 - sums[2].item() / n
    return res


def _normalize_step_output(out):
    """-> (total loss tensor, {name: loss tensor} components, info dict)."""
    info = {}
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        out, info = out
    if isinstance(out, dict):
        parts = {k: v for k, v in out.items() if torch.is_tensor(v)}
        if not parts:
            raise TypeError("step_fn/model returned a dict without tensor losses")
        if "loss" in parts:   # an explicit total; other entries are logged only
            total = parts["loss"]
        else:
            total = sum(v if v.ndim == 0 else v.mean() for v in parts.values())
        return total, parts, info
    if torch.is_tensor(out):
        return out, {}, info
    raise TypeError(f"step_fn must return a loss tensor, a dict of losses, or (loss, info); got {type(out)}")


def _batch_size(batch, info) -> int:
    if "n" in info:
        return int(info["n"])
    b = batch
    while isinstance(b, (list, tuple)) and b:
        b = b[0]
    if isinstance(b, dict):
        b = next((v for v in b.values() if torch.is_tensor(v)), None)
    if torch.is_tensor(b) and b.ndim > 0:
        return int(b.shape[0])
    if isinstance(batch, (list, tuple)):
        return len(batch)
    return 0


def _amp_setup(cfg, device):
    amp = cfg.amp
    if amp is False or amp is None:
        return None, None
    if amp == "auto" and device.type != "cuda":
        return None, None
    if amp in ("auto", True):
        if device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.bfloat16
    elif amp == "bf16":
        dtype = torch.bfloat16
    elif amp == "fp16":
        dtype = torch.float16
    else:
        raise ValueError(f"bad amp setting {amp!r}")
    scaler = torch.amp.GradScaler(device.type) if (dtype == torch.float16 and device.type == "cuda") else None
    return dtype, scaler


def _ensure_distributed_loader(loader, cfg, world):
    if world <= 1 or not isinstance(loader, DataLoader):
        return loader
    if isinstance(loader.sampler, DistributedSampler) or \
            isinstance(getattr(loader.batch_sampler, "sampler", None), DistributedSampler):
        return loader
    shuffle = isinstance(loader.sampler, RandomSampler)
    return make_loader(loader.dataset, loader.batch_size or 1, shuffle=shuffle, seed=cfg.seed,
                       num_workers=loader.num_workers, drop_last=loader.drop_last, distributed=True,
                       collate_fn=loader.collate_fn, pin_memory=loader.pin_memory)


def _sharded_eval_loader(loader, world):
    """The validation loader for the default (summed) evaluation under DDP: a padded
    DistributedSampler (or a plain sequential loader, which every rank would run in full) becomes a
    :class:`ShardSampler` loader, so each item counts once in val_err. Other loaders are kept."""
    from .data import ShardSampler
    if world <= 1 or not isinstance(loader, DataLoader) or isinstance(loader.sampler, ShardSampler):
        return loader
    s = loader.sampler
    padded = isinstance(s, DistributedSampler) and not s.shuffle and not s.drop_last
    if not (padded or isinstance(s, SequentialSampler)) or loader.drop_last:
        return loader
    return make_loader(loader.dataset, loader.batch_size or 1, num_workers=loader.num_workers,
                       distributed=True, evaluation=True, collate_fn=loader.collate_fn,
                       pin_memory=loader.pin_memory)


def _set_epoch(loader, epoch):
    for s in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if hasattr(s, "set_epoch"):
            s.set_epoch(epoch)


def _broadcast_buffers(module: nn.Module, world: int):
    """Make every rank hold rank 0's buffers (e.g. BatchNorm running stats), as DDP does before
    each forward, so evaluation and the final weights agree across ranks."""
    if world <= 1:
        return
    import torch.distributed as dist
    for b in module.buffers():
        dist.broadcast(b.data, src=0)


_BOOKKEEPING = {"log_every", "eval_every_epochs", "ckpt_every_epochs", "ckpt_every_steps", "epochs",
                "max_steps", "batch_size"}


def _warn_cfg_mismatch(saved: dict | None, cfg: TrainConfig, path):
    if not saved:
        return
    now = cfg.to_dict()
    diff = sorted(k for k in now if k not in _BOOKKEEPING and k in saved and saved[k] != now[k])
    if diff:
        warnings.warn(f"resuming from {path} whose TrainConfig differs in {diff}; "
                      "the run will not match an uninterrupted one", stacklevel=3)


def _new_history():
    return {"epoch": [], "train_loss": [], "lr": [], "epoch_time": [], "images_per_sec": [], "steps": []}


class TrainHistory(dict):
    """What :func:`train` returns: the per-epoch history (a dict of lists, JSON-friendly, the same dict the
    checkpoints store) plus one attribute, ``ema``: the EMA model (an ``nn.Module`` of the trained model's
    class, in eval mode) when ``cfg.ema_decay > 0``, else None. The EMA is an attribute and not a key, so
    json.dump, pickling and copying the history never carry a model (the latter two give a plain dict)."""

    ema = None

    def __reduce__(self):
        return dict, (dict(self),)


def _make_ema(raw: nn.Module, cfg: TrainConfig):
    """timm's ModelEmaV3 of `raw` (parameters and floating buffers averaged, integer buffers copied) with a
    constant decay: no warm-up, and ``update()`` is called without a step -- timm's step-based decay is 0 at
    the first step (a plain copy), which is not the recipe's EMA (timm ModelEma / DeiT / MAE Table 11)."""
    if not cfg.ema_decay:
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(raw, decay=float(cfg.ema_decay), use_warmup=False)


def _record_epoch(history, rec: dict):
    history["epoch"].append(rec.pop("epoch"))
    n = len(history["epoch"])
    for k, v in rec.items():
        lst = history.setdefault(k, [])
        lst.extend([None] * (n - 1 - len(lst)))
        lst.append(v)
    for k, lst in history.items():
        if k not in ("epoch", "steps") and len(lst) < n:
            lst.extend([None] * (n - len(lst)))


def _new_acc():
    return {"loss_sum": 0.0, "iters": 0, "correct": 0.0, "n": 0.0, "images": 0.0,
            "parts": {}, "info": {}, "time": 0.0}


# ----------------------------------------------------------------------------- train
def train(model: nn.Module, train_loader, cfg: TrainConfig | None = None, *, device="cpu",
          val_loader=None, step_fn=None, eval_fn=None, ckpt_path=None, resume: bool = True,
          param_groups=None, optimizer=None, progress=None, desc: str = "") -> dict:
    """Train `model` in place and return the history (dict of per-epoch lists + "steps"), a
    :class:`TrainHistory` whose ``.ema`` is the EMA model when cfg.ema_decay > 0 (else None).

    step_fn(model, batch, device) -> loss | dict of losses | (loss, info); default: CE on (x, y).
    eval_fn(model, loader, device) -> dict of metrics (stored as val_<name>); default: top-1/top-5
    error and loss. ckpt_path: atomic checkpoints every cfg.ckpt_every_epochs epochs (and every
    cfg.ckpt_every_steps steps if set) and at the end; resume=True continues from it if it exists.
    Under torchrun (RANK/WORLD_SIZE set) the model is wrapped in DistributedDataParallel.
    cfg.ema_decay > 0: an EMA of the (unwrapped) model's parameters and buffers is updated after every
    optimizer step, evaluated beside the model (history keys val_<name>_ema), checkpointed and resumed.
    Divergence: a non-finite loss stops with FloatingPointError; a finite loss that reaches LOSS_GROWTH_WARN x
    the run's first step loss warns once, and every epoch records ``loss_growth`` (its largest step loss / the
    first step's) and ``diverged`` (loss_growth >= LOSS_GROWTH_WARN) for the notebook to report.
    """
    cfg = cfg or TrainConfig()
    rank, world, device = init_distributed(resolve_device(device))
    main = rank == 0
    seed_everything(cfg.seed + rank)

    raw = model.to(device)
    if cfg.channels_last:
        raw = raw.to(memory_format=torch.channels_last)
    net = raw
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        if cfg.sync_bn:
            raw = nn.SyncBatchNorm.convert_sync_batchnorm(raw)
        net = DDP(raw, device_ids=[device.index] if device.type == "cuda" else None,
                  find_unused_parameters=cfg.find_unused_parameters)
    train_loader = _ensure_distributed_loader(train_loader, cfg, world)
    if step_fn is None:
        step_fn = partial(classification_step, channels_last=cfg.channels_last)
    default_eval = eval_fn is None
    if default_eval:
        eval_fn = partial(evaluate_classification, channels_last=cfg.channels_last)
        if val_loader is not None:
            val_loader = _sharded_eval_loader(val_loader, world)

    if optimizer is None:
        optimizer = build_optimizer(raw, cfg, param_groups=param_groups)
    n_iters = len(train_loader)
    if n_iters == 0:
        raise ValueError("train_loader is empty (dataset smaller than one batch with drop_last?)")
    A = int(cfg.grad_accum)
    steps_per_epoch = math.ceil(n_iters / A)
    sched = build_scheduler(optimizer, cfg, steps_per_epoch)
    amp_dtype, scaler = _amp_setup(cfg, device)
    autocast = (lambda: torch.autocast(device_type=device.type, dtype=amp_dtype)) if amp_dtype else nullcontext
    ema = _make_ema(raw, cfg)     # of the unwrapped model (never the DDP wrapper)

    epoch, global_step, start_iter = 0, 0, 0
    loss_ref, growth_warned = None, False      # the run's first step loss (divergence reference)
    history = _new_history()
    acc = _new_acc()
    resume_rng = epoch_start_rng = None
    ckpt_path = Path(ckpt_path) if ckpt_path else None
    if ckpt_path is not None and resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        _warn_cfg_mismatch(ck.get("cfg"), cfg, ckpt_path)
        raw.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck.get("scheduler", {}))
        if scaler is not None and ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        if ema is not None:
            if ck.get("ema") is not None:
                ema.module.load_state_dict(ck["ema"])
            else:
                warnings.warn(f"resuming from {ckpt_path}, which holds no EMA state: the EMA restarts from the "
                              "resumed weights", stacklevel=2)
                ema.set(raw)
        epoch, global_step = int(ck["epoch"]), int(ck["global_step"])
        loss_ref = ck.get("loss_ref")
        start_iter = int(ck.get("iter_in_epoch", 0))
        history = ck.get("history") or _new_history()
        if start_iter:
            acc = ck["epoch_acc"]
        rngs = ck.get("rng") or []
        resume_rng = rngs[rank] if rank < len(rngs) else None
        es = ck.get("epoch_start_rng") or []
        epoch_start_rng = es[rank] if rank < len(es) else None
        if resume_rng is not None and not start_iter:
            set_rng_state(resume_rng, train_loader)
        if main and progress is not False:
            print(f"{'[' + desc + '] ' if desc else ''}resumed from {ckpt_path} at epoch {epoch} "
                  f"(global step {global_step}{', iteration ' + str(start_iter) if start_iter else ''})",
                  flush=True)

    def done() -> bool:
        return epoch >= cfg.epochs or (cfg.max_steps is not None and global_step >= cfg.max_steps)

    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    prog = Progress(progress_mode(progress) if main else "off", cfg.log_every, desc, total_steps)

    def save(iter_in_epoch: int, epoch_acc=None, ep_start=None):
        rngs = all_gather_object(rng_state(train_loader))
        eps = all_gather_object(ep_start) if iter_in_epoch else None
        if not main or ckpt_path is None:
            return
        save_atomic({
            "version": CKPT_VERSION, "model": raw.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": sched.state_dict(), "scaler": scaler.state_dict() if scaler is not None else None,
            "ema": ema.module.state_dict() if ema is not None else None,
            "epoch": epoch, "global_step": global_step, "iter_in_epoch": iter_in_epoch,
            "epoch_acc": epoch_acc, "rng": rngs, "epoch_start_rng": eps, "history": history,
            "cfg": cfg.to_dict(), "world_size": world, "loss_ref": loss_ref,
        }, ckpt_path)

    log_every = max(int(cfg.log_every), 1)
    lr_now = sched.lr_at_step(global_step)
    try:
        while not done():
            net.train()
            _set_epoch(train_loader, epoch)
            if start_iter:       # mid-epoch resume: replay the epoch's data order, then restore RNGs
                if epoch_start_rng is not None:
                    set_rng_state(epoch_start_rng, train_loader)
                ep_rng = epoch_start_rng
                it = iter(train_loader)
                for _ in range(start_iter):
                    next(it)
                if resume_rng is not None:
                    set_rng_state(resume_rng, train_loader)
            else:
                ep_rng = rng_state(train_loader)
                it = iter(train_loader)
                acc = _new_acc()
            prog.start_epoch(epoch, cfg.epochs, n_iters, start_iter)
            t_epoch = time.perf_counter()
            t_last = t_epoch
            imgs_since = 0.0
            optimizer.zero_grad(set_to_none=True)
            stopped = False
            for i in range(start_iter, n_iters):
                batch = next(it)
                w0 = (i // A) * A
                wlen = min(A, n_iters - w0)
                last_in_window = (i + 1 == w0 + wlen)
                if i == w0:
                    lr_now = sched.step(global_step)
                sync_ctx = net.no_sync() if (world > 1 and not last_in_window) else nullcontext()
                with sync_ctx:
                    with autocast():
                        out = step_fn(net, batch, device)
                    loss, parts, info = _normalize_step_output(out)
                    lval = loss.detach().float().reshape(1)
                    if world > 1:
                        lval = all_reduce_sum(lval) / world
                    loss_item = float(lval.item())
                    if not math.isfinite(loss_item):
                        extra = ", ".join(f"{k}={float(v.detach().float().mean()):.4g}" for k, v in parts.items())
                        raise FloatingPointError(
                            f"non-finite loss at epoch {epoch + 1} step {i + 1} (global step {global_step + 1}): "
                            f"loss={loss_item}" + (f" ({extra})" if extra else ""))
                    if loss_ref is None:
                        loss_ref = abs(loss_item)
                    growth = abs(loss_item) / max(loss_ref, LOSS_REF_FLOOR)
                    acc["growth"] = max(acc.get("growth", 0.0), growth)
                    if growth >= LOSS_GROWTH_WARN and not growth_warned and main:   # one warning, rank 0
                        growth_warned = True
                        DIVERGED_RUNS.append({"desc": desc or "", "epoch": epoch + 1, "step": i + 1,
                                              "global_step": global_step + 1, "loss": loss_item,
                                              "first_loss": loss_ref, "growth": growth})
                        warnings.warn(
                            f"{'[' + desc + '] ' if desc else ''}the training loss diverges: {loss_item:.4g} at "
                            f"epoch {epoch + 1} step {i + 1} (global step {global_step + 1}) is {growth:.3g} x the "
                            f"first step's {loss_ref:.4g} (warning threshold {LOSS_GROWTH_WARN:g} x); the learning "
                            "rate is probably too high. The history marks the epoch: hist['diverged']", stacklevel=2)
                    scaled = loss / wlen
                    if scaler is not None:
                        scaler.scale(scaled).backward()
                    else:
                        scaled.backward()
                # epoch accumulators
                acc["loss_sum"] += loss_item
                acc["iters"] += 1
                for k, v in parts.items():
                    acc["parts"][k] = acc["parts"].get(k, 0.0) + float(v.detach().float().mean())
                if "correct" in info and "n" in info:
                    acc["correct"] += float(info["correct"])
                    acc["n"] += float(info["n"])
                for k, v in info.items():
                    if k in ("correct", "n"):
                        continue
                    if isinstance(v, (int, float)) or (torch.is_tensor(v) and v.numel() == 1):
                        acc["info"][k] = acc["info"].get(k, 0.0) + float(v)
                bs = _batch_size(batch, info) * world
                acc["images"] += bs
                imgs_since += bs
                if not last_in_window:
                    continue
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if cfg.clip_grad:
                    torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.clip_grad)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if ema is not None:
                    ema.update(raw)
                global_step += 1
                if global_step % log_every == 0:
                    history["steps"].append((global_step, loss_item))
                now = time.perf_counter()
                ips = imgs_since / max(now - t_last, 1e-9)
                if global_step % log_every == 0:
                    t_last, imgs_since = now, 0.0
                prog.step(i + 1, global_step, loss_item, lr_now, ips)
                if cfg.max_steps is not None and global_step >= cfg.max_steps:
                    stopped = i + 1 < n_iters
                    break
                if (cfg.ckpt_every_steps and ckpt_path is not None and i + 1 < n_iters
                        and global_step % cfg.ckpt_every_steps == 0):
                    acc["time"] += time.perf_counter() - t_epoch
                    t_epoch = time.perf_counter()
                    save(i + 1, acc, ep_rng)
            start_iter = 0
            _broadcast_buffers(raw, world)
            if ema is not None:   # each rank averaged its own BatchNorm stats: keep rank 0's, as for raw
                _broadcast_buffers(ema.module, world)
            epoch_time = acc["time"] + time.perf_counter() - t_epoch
            # epoch summary (all-reduced)
            sums = all_reduce_sum(torch.tensor([acc["correct"], acc["n"]], dtype=torch.float64))
            iters = max(acc["iters"], 1)
            rec = {"epoch": epoch + 1, "train_loss": acc["loss_sum"] / iters}
            # the epoch's largest step loss / the run's first step loss, and whether it crossed the threshold
            rec["loss_growth"] = acc.get("growth", 0.0)
            rec["diverged"] = bool(rec["loss_growth"] >= LOSS_GROWTH_WARN)
            if sums[1] > 0:
                rec["train_err"] = 1.0 - float(sums[0] / sums[1])
            comp = {f"train_{k}": v / iters for k, v in acc["parts"].items() if k != "loss"}
            comp.update({f"train_{k}": v / iters for k, v in acc["info"].items()})
            rec.update(all_reduce_mean_dict(comp, "cpu"))
            rec["lr"] = lr_now
            rec["epoch_time"] = epoch_time
            rec["images_per_sec"] = acc["images"] / max(epoch_time, 1e-9)
            last = (epoch + 1 >= cfg.epochs) or stopped or \
                (cfg.max_steps is not None and global_step >= cfg.max_steps)
            if val_loader is not None and ((epoch + 1) % max(cfg.eval_every_epochs, 1) == 0 or last):
                for module, suffix in ((raw, ""), (ema.module if ema is not None else None, "_ema")):
                    if module is None:
                        continue
                    # the EMA's evaluation must not move the RNGs (a DataLoader draws its base seed from
                    # the global RNG): training with and without EMA then follows the same trajectory
                    keep_rng = rng_state() if suffix else None
                    with autocast():
                        metrics = eval_fn(module, val_loader, device)
                    if keep_rng is not None:
                        set_rng_state(keep_rng)
                    net.train()
                    metrics = metrics or {}
                    if not default_eval:
                        metrics = all_reduce_mean_dict(metrics, device)
                    for k, v in metrics.items():   # val_<name>; the EMA model's: val_<name>_ema
                        if torch.is_tensor(v) and v.numel() == 1:
                            v = float(v)
                        rec[(k if k.startswith("val_") else f"val_{k}") + suffix] = v
            _record_epoch(history, rec)
            prog.end_epoch({"epoch": epoch + 1, **{k: v for k, v in rec.items()
                                                   if k in ("train_loss", "train_err", "lr") or k.startswith("val_")}})
            epoch += 1
            if ckpt_path is not None and (epoch % max(cfg.ckpt_every_epochs, 1) == 0 or done()):
                save(0)
    finally:
        prog.close()
    barrier()
    history = TrainHistory(history)
    history.ema = ema.module if ema is not None else None
    return history
