"""10_mae notebook drivers: data and loaders, one pre-training arm (pre-train + losses + linear probe), the arm
plan of a profile (the long "main" arm and the shorter comparison arms), fine-tuning / scratch arms and the
sanity run. Recipes are :mod:`.mae`'s; tables, figures and claims :mod:`.mae_report`'s.

    from paperlib.experiments import mae_runs as X
    data = X.build_data(cfg, data_root, seed=0)
    arms = X.run_arms(cfg, data, device, seed=0)          # {key: arm result}, keys from X.arm_specs(cfg)
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn

from ..engine import TrainConfig
from ..engine import distributed as D
from ..engine.recipe import (IMAGENET_MEAN, IMAGENET_STD, classification_transforms, n_processes, per_item_correct,
                             with_transform)
from ..models.mae import MaskedAutoencoderViT, pix_target
from ..models.vit import VisionTransformer
from .mae import (extract_features, finetune, finetune_config, freeze_for_partial_ft, linear_probe, linprobe_transform,
                  online_linear_probe, pretrain, pretrain_config, pretrain_transform, scratch_config, vit_from_mae)


def pretrain_loader(cfg, data: Dict, aug: str, seed: int = 0):
    """The pre-training loader of an augmentation arm: the same images in the same order as ``data["pre"]``
    (same subset, batch, seed, drop_last), with :func:`pretrain_transform` ``aug``."""
    from ..engine import make_loader

    meta = data["meta"]
    ds = with_transform(data["pre"].dataset, pretrain_transform(cfg.image_size, meta["mean"], meta["std"], aug=aug))
    return make_loader(ds, cfg.batch_size, shuffle=True, seed=seed, num_workers=cfg.num_workers, drop_last=True)


def build_data(cfg, data_root=None, seed: int = 0) -> Dict:
    """Datasets/loaders: ``pre`` (augmented, for pre-training), ``lp_train`` (un-augmented subset of
    the training images for frozen features; cfg.n_lp_train, 0 = all), ``val``; plus ``meta``."""
    import copy

    from torch.utils.data import Subset

    from ..data import classification_datasets
    from ..data.classification import STATS, default_crop, default_transforms
    from ..engine import make_loader

    kw = dict(data_root=data_root, image_size=cfg.image_size, num_classes=cfg.num_classes,
              n_train=cfg.n_train, n_val=cfg.n_val, seed=cfg.data_seed)
    mean, std = STATS[cfg.dataset.lower()]
    # evaluation: resize + centre crop unless the images are stored at image_size (synthetic / CIFAR); was chosen
    # by image_size, which left ImageNet-folder images at their own size in a <= 64-px run (crash)
    crop = default_crop(cfg.dataset.lower())
    evt = default_transforms(cfg.image_size, mean, std, train=False, crop=crop)
    pre, val, meta = classification_datasets(cfg.dataset, **kw, train_transform=pretrain_transform(
        cfg.image_size, mean, std), val_transform=evt)
    lp_tr = copy.copy(pre)            # same images (shared storage), evaluation transform
    lp_tr.transform = evt
    pre_ds = pre
    if getattr(cfg, "n_pretrain", 0) and cfg.n_pretrain < len(pre):
        gp = torch.Generator().manual_seed(seed + 1)
        pre = Subset(pre, torch.randperm(len(pre), generator=gp)[:cfg.n_pretrain].tolist())
    n_lp = len(lp_tr) if not cfg.n_lp_train else min(cfg.n_lp_train, len(lp_tr))
    g = torch.Generator().manual_seed(seed)
    lp_tr = Subset(lp_tr, torch.randperm(len(lp_tr), generator=g)[:n_lp].tolist())
    nw = cfg.num_workers
    return {
        "meta": meta, "pre_ds": pre_ds, "val_ds": val,
        "pre": make_loader(pre, cfg.batch_size, shuffle=True, seed=seed, num_workers=nw, drop_last=True),
        # evaluation loaders: under torchrun every image on exactly one rank (ShardSampler, no padding); the
        # per-item results and features are gathered in dataset order (per_item_correct, extract_features)
        "lp_train": make_loader(lp_tr, cfg.eval_batch_size, num_workers=nw, evaluation=True),
        "val": make_loader(val, cfg.eval_batch_size, num_workers=nw, evaluation=True),
    }


def make_mae(cfg, **over) -> MaskedAutoencoderViT:
    from ..models import create_model

    kw = dict(img_size=cfg.image_size, decoder_embed_dim=cfg.decoder_dim, decoder_depth=cfg.decoder_depth,
              norm_pix_loss=cfg.norm_pix_loss, mask_ratio=cfg.mask_ratio, mask_sampling="random")
    kw.update(over)
    return create_model(cfg.model, **kw)


@torch.no_grad()
def per_image_loss(model: MaskedAutoencoderViT, loader, device="cpu", mask_ratio: Optional[float] = None,
                   seed: int = 0, trivial: bool = False):
    """Reconstruction loss per image (masked patches, the model's own target and mask sampling),
    with masks drawn from a seeded generator so every call sees the same masks. Dataset order; under torchrun
    the ranks' shards are gathered (each rank draws its masks from the same seeded generator).

    ``trivial=True`` returns (model loss, trivial loss): the trivial predictor fills every masked patch of an
    image with the mean of that image's *visible* patches (in the same target space: per-patch-normalised
    pixels for a norm-pix model), scored with the same masks and the same loss -- the bar a model that learned
    nothing but the image's average patch would reach."""
    was = model.training
    model.eval()
    idx = D.loader_indices(loader)
    g = torch.Generator().manual_seed(seed)
    r = model.mask_ratio if mask_ratio is None else mask_ratio
    out, base = [], []
    for x, _ in loader:
        x = x.to(device)
        ids = model.sample_ids(x.shape[0], r, x.device, generator=g)
        _, pred, mask = model(x, r, ids)
        target, _, _ = pix_target(x, model.patch_size, model.norm_pix_loss)
        per = ((pred - target) ** 2).mean(-1)
        out.append(((per * mask).sum(1) / mask.sum(1)).cpu().numpy())
        vis = (1 - mask).unsqueeze(-1)
        fill = (target * vis).sum(1, keepdim=True) / vis.sum(1, keepdim=True)       # mean visible patch
        base.append(((((fill - target) ** 2).mean(-1) * mask).sum(1) / mask.sum(1)).cpu().numpy())
    model.train(was)

    def gathered(parts):
        local = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return np.asarray(D.merge_rank_items(D.all_gather_object((idx, local.tolist())), len(loader.dataset)),
                          dtype=local.dtype)

    return (gathered(out), gathered(base)) if trivial else gathered(out)


def run_arm(cfg, data: Dict, device="cpu", *, seed: int = 0, name: str = "", lp: bool = True,
            epochs: Optional[int] = None, aug: str = "crop_rand", **model_kw) -> Dict:
    """Pre-train one MAE arm, then: final train loss, per-image val loss, linear-probe accuracy
    (per-image correctness for paired bootstraps), wall-clock. ``aug``: the pre-training augmentation
    (Table 1e; "crop_rand" = ``data["pre"]``, else :func:`pretrain_loader`)."""
    loader = data["pre"] if aug == "crop_rand" else pretrain_loader(cfg, data, aug, seed=seed)
    torch.manual_seed(seed)
    model = make_mae(cfg, **model_kw)
    n_ep = epochs if epochs is not None else cfg.epochs
    # warm-up capped at half the arm, so a short comparison arm still reaches its cosine decay
    pcfg = pretrain_config(n_ep, cfg.batch_size, grad_accum=cfg.grad_accum, world_size=None,
                           base_lr=cfg.base_lr, warmup_epochs=min(cfg.warmup_epochs, n_ep / 2),
                           weight_decay=cfg.weight_decay,
                           max_steps=cfg.max_steps, seed=seed, log_every=cfg.log_every,
                           ckpt_every_epochs=10**9)
    t0 = time.perf_counter()
    hist = pretrain(model, loader, pcfg, device, progress=cfg.progress, desc=name or "mae")
    res = {"name": name, "model": model, "history": hist, "pretrain_s": time.perf_counter() - t0,
           "train_loss": hist["train_loss"][-1], "mask_ratio": model.mask_ratio, "aug": aug,
           "sampling": model.mask_sampling, "decoder_depth": len(model.decoder_blocks),
           "norm_pix": model.norm_pix_loss, "mask_token_in_encoder": model.mask_token_in_encoder,
           "decoder_width": model.decoder_embed_dim, "loss_on": model.loss_on}
    res["val_loss_per_image"] = per_image_loss(model, data["val"], device, seed=seed + 123)
    res["val_loss"] = float(res["val_loss_per_image"].mean())
    if lp:
        res.update(linear_probe_arm(cfg, model, data, device, seed=seed))
    return res


def linear_probe_arm(cfg, model: nn.Module, data: Dict, device="cpu", *, seed: int = 0) -> Dict:
    """The arm's linear probe per ``cfg.lp_mode``: "cached" (:func:`linear_probe` on frozen features of
    ``data["lp_train"]``, eval transform) or "online" (:func:`online_linear_probe` on the same images with
    :func:`linprobe_transform`, Table 10). Both score ``data["val"]`` (eval transform) and use cfg.lp_* for the
    optimizer / schedule. Returns lp_acc, lp_correct, lp_s, lp_mode."""
    t1 = time.perf_counter()
    nc = data["meta"]["num_classes"]
    mode = getattr(cfg, "lp_mode", "cached")
    kw = dict(epochs=cfg.lp_epochs, batch_size=cfg.lp_batch_size, optimizer=cfg.lp_optimizer, lr=cfg.lp_lr,
              warmup_epochs=cfg.lp_warmup_epochs, seed=seed, device=device)
    if mode == "online":
        meta = data["meta"]
        train_ds = with_transform(data["lp_train"].dataset, linprobe_transform(cfg.image_size, meta["mean"],
                                                                                meta["std"]))
        probe = online_linear_probe(model, train_ds, data["val"], nc, num_workers=cfg.num_workers,
                                    progress=cfg.progress, **kw)
    elif mode == "cached":
        pool = getattr(cfg, "lp_pool", "cls")
        ftr = extract_features(model, data["lp_train"], device, pool=pool)
        fva = extract_features(model, data["val"], device, pool=pool)
        probe = linear_probe(ftr, fva, nc, **kw)
    else:
        raise ValueError(f"unknown lp_mode {mode!r}; valid: 'cached', 'online'")
    return {"lp_acc": probe["acc"], "lp_correct": probe["correct"], "lp_s": time.perf_counter() - t1, "lp_mode": mode}


def finetune_transforms(image_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, randaug: str = "",
                        reprob: float = 0.0, interpolation: str = "bicubic"):
    """(train, eval) transforms of the official main_finetune.build_transform: the engine's
    :func:`paperlib.engine.recipe.classification_transforms` with RandAugment string ``randaug`` ("" = off)."""
    return classification_transforms(image_size, mean, std, auto_augment=randaug, reprob=reprob,
                                     interpolation=interpolation)


def ft_batch(cfg) -> int:
    return cfg.ft_batch_size or cfg.batch_size


def ft_effective_batch(cfg, world_size: Optional[int] = None) -> int:
    """ft_batch_size * ft_grad_accum * GPUs (WORLD_SIZE under torchrun): the batch that sets the lr."""
    return ft_batch(cfg) * cfg.ft_grad_accum * n_processes(world_size)


def ft_train_config(cfg, epochs: int, *, seed: int = 0, world_size: Optional[int] = None,
                    ema_decay: float = 0.0) -> TrainConfig:
    """The notebook's fine-tuning TrainConfig from the cfg.ft_* fields (Table 9 at the paper profile):
    lr = ft_base_lr * :func:`ft_effective_batch` / 256, cosine down to ft_min_lr; ``ema_decay`` > 0 keeps an
    EMA of the weights (the scratch arm's Table 11 EMA)."""
    return finetune_config(epochs, ft_batch(cfg), base_lr=cfg.ft_base_lr,
                           warmup_epochs=min(cfg.ft_warmup_epochs, epochs / 2), min_lr=cfg.ft_min_lr,
                           grad_accum=cfg.ft_grad_accum, world_size=world_size, max_steps=cfg.max_steps, seed=seed,
                           log_every=cfg.log_every, ckpt_every_epochs=10**9, ema_decay=ema_decay)


def scratch_train_config(cfg, epochs: int, *, seed: int = 0, world_size: Optional[int] = None,
                         ema_decay: float = 0.0) -> TrainConfig:
    """The scratch arm's TrainConfig: :func:`scratch_config` (Table 11: AdamW (0.9, 0.95), lr = scratch_base_lr
    (1e-4) x effective batch / 256, wd 0.3, cfg.scratch_warmup_epochs (paper 20) of warm-up then cosine to
    ft_min_lr); effective batch = ft_batch x scratch_grad_accum (0: ft_grad_accum) x GPUs (paper 4096)."""
    warm = cfg.ft_warmup_epochs if cfg.scratch_warmup_epochs is None else cfg.scratch_warmup_epochs
    return scratch_config(epochs, ft_batch(cfg), base_lr=cfg.scratch_base_lr, warmup_epochs=min(warm, epochs / 2),
                          weight_decay=cfg.scratch_weight_decay, grad_accum=scratch_grad_accum(cfg),
                          world_size=world_size, min_lr=cfg.ft_min_lr, max_steps=cfg.max_steps, seed=seed,
                          log_every=cfg.log_every, ckpt_every_epochs=10**9, ema_decay=ema_decay)


def scratch_grad_accum(cfg) -> int:
    return cfg.scratch_grad_accum or cfg.ft_grad_accum


def scratch_epochs(cfg) -> int:
    return cfg.scratch_epochs or cfg.ft_epochs


def scratch_vit(cfg, ref: nn.Module, num_classes: int) -> VisionTransformer:
    """The supervised-from-scratch ViT (Table 11 / Table 3 baseline) with the encoder's shape: global pool +
    fc_norm, drop path cfg.scratch_drop_path (None: ft_drop_path; paper 0.1 B / 0.2 L, H) and a learned
    pos_embed with timm's init (trunc-normal 0.02), as the official code trains it (main_finetune.py without
    --finetune builds timm's ViT); no weight decay on it, layer id 0."""
    dp = cfg.ft_drop_path if cfg.scratch_drop_path is None else cfg.scratch_drop_path
    return VisionTransformer(img_size=ref.img_size, patch_size=ref.patch_size, num_classes=num_classes,
                             embed_dim=ref.embed_dim, depth=ref.depth, num_heads=ref.blocks[0].attn.num_heads,
                             drop_path_rate=dp, global_pool=True, pos_embed="learn")


def finetune_data(cfg, data: Dict, seed: int = 0, reprob: Optional[float] = None) -> Dict:
    """Fine-tuning loaders over the pre-training images (``data["pre"].dataset``, a Subset of
    ``data["pre_ds"]`` or the set itself) with the fine-tuning train transform; ``train`` drops the last
    partial batch (mixup needs even batches). ``cfg.ft_transform``: "table9" -> :func:`finetune_transforms`
    (and the official eval transform for ``val``); "standard" -> the dataset's training augmentation and the
    shared ``data["val"]`` loader. ``reprob``: random-erasing probability (None: cfg.ft_reprob; the scratch arm
    passes cfg.scratch_reprob -- Table 11 lists no random erasing)."""
    from ..data.classification import default_crop, default_transforms
    from ..engine import make_loader

    meta = data["meta"]
    nw = cfg.num_workers
    if getattr(cfg, "ft_transform", "standard") == "table9":
        ttf, evt = finetune_transforms(cfg.image_size, meta["mean"], meta["std"], randaug=cfg.ft_randaug,
                                       reprob=cfg.ft_reprob if reprob is None else reprob)
        val = make_loader(with_transform(data["val_ds"], evt), cfg.eval_batch_size, num_workers=nw,
                          evaluation=True)
    else:
        ttf = default_transforms(cfg.image_size, meta["mean"], meta["std"], train=True,
                                 crop=default_crop(cfg.dataset.lower()))
        val = data["val"]
    train_ds = with_transform(data["pre"].dataset, ttf)
    return {"train": make_loader(train_ds, ft_batch(cfg), shuffle=True, seed=seed, num_workers=nw, drop_last=True),
            "val": val, "train_transform": ttf}


def finetune_arm(cfg, model: Optional[MaskedAutoencoderViT], data: Dict, device="cpu", *, seed: int = 0,
                 n_blocks: Optional[int] = None, scratch_build: Optional[Callable] = None, name="ft") -> Dict:
    """End-to-end (n_blocks None) or partial fine-tuning of a pre-trained MAE encoder, or a
    from-scratch ViT (``scratch_build``, e.g. :func:`scratch_vit`) with the Table 11 recipe
    (:func:`scratch_train_config`: cfg.scratch_* epochs / warm-up / lr / wd; the fine-tuning augmentation
    RandAug + mixup + CutMix + label smoothing without random erasing (cfg.scratch_reprob); no layer decay).
    The Table 9 recipe comes from cfg.ft_* (:func:`finetune_data`, :func:`finetune_step`). End-to-end
    fine-tuning trains pos_embed (from the sin-cos values); partial fine-tuning keeps it frozen.
    Returns val acc + per-image correctness. The scratch arm keeps an EMA of its weights when cfg.scratch_ema
    > 0 (Table 11: 0.9999) and then reports the EMA model's accuracy, as the paper does (the trained weights'
    accuracy stays in ``acc_raw`` / ``correct_raw``)."""
    torch.manual_seed(seed)
    nc = data["meta"]["num_classes"]
    if scratch_build is not None:
        vit = scratch_build()
    else:
        vit = vit_from_mae(model, nc, global_pool=n_blocks is None, drop_path_rate=cfg.ft_drop_path,
                           train_pos_embed=n_blocks is None)
    if n_blocks is not None:
        freeze_for_partial_ft(vit, n_blocks)
    if scratch_build is not None:
        epochs = scratch_epochs(cfg)
        ema = float(getattr(cfg, "scratch_ema", 0.0))
        fcfg = scratch_train_config(cfg, epochs, seed=seed, ema_decay=ema)
        loaders = finetune_data(cfg, data, seed=seed, reprob=cfg.scratch_reprob)
    else:
        epochs = cfg.ft_epochs if n_blocks is None else cfg.partial_ft_epochs
        ema = 0.0
        fcfg = ft_train_config(cfg, epochs, seed=seed, ema_decay=ema)
        loaders = finetune_data(cfg, data, seed=seed)
    t0 = time.perf_counter()
    hist = finetune(vit, loaders["train"], fcfg, device, layer_decay=1.0 if scratch_build is not None else cfg.layer_decay,
             label_smoothing=cfg.ft_smoothing, mixup=cfg.ft_mixup, cutmix=cfg.ft_cutmix, mixup_prob=cfg.ft_mixup_prob,
             mixup_switch_prob=cfg.ft_mixup_switch_prob, mixup_mode=cfg.ft_mixup_mode, progress=cfg.progress,
             desc=name)
    correct = per_item_correct(vit, loaders["val"], device)
    out = {"name": name, "acc": float(correct.mean()), "correct": correct, "ft_s": time.perf_counter() - t0,
           "n_blocks": n_blocks, "epochs": epochs, "history": hist, "ema_decay": ema, "chance": 1.0 / nc}
    if hist.ema is not None:
        ce = per_item_correct(hist.ema, loaders["val"], device)
        out.update(acc=float(ce.mean()), correct=ce, acc_raw=out["acc"], correct_raw=correct)
    return out


MAIN = "main"          # the long pre-training of the base recipe, where ablation arms are shorter (cfg.ablation_epochs)
LONG_RATIO = "main_ratio_"   # key prefix of a ratio arm as long as MAIN (cfg.long_ratios)


def ablation_epochs(cfg) -> int:
    """Length of the comparison arms: cfg.ablation_epochs when set (0 = cfg.epochs: every arm as long as the base)."""
    return getattr(cfg, "ablation_epochs", 0) or cfg.epochs


def arm_specs(cfg) -> List[tuple]:
    """(key, run_arm kwargs) for every pre-training arm the profile affords; the base arm
    (cfg.mask_ratio, random sampling, cfg.decoder_depth, cfg target) is shared by all comparisons.

    With cfg.ablation_epochs < cfg.epochs the base recipe is pre-trained twice: once for cfg.epochs (key
    :data:`MAIN`: the best-trained model -- sanity check, fine-tuning vs scratch, partial fine-tuning,
    reconstructions) and once for ablation_epochs like every ablation arm (the base they are compared with, at
    equal budget). cfg.ref_seeds > 1 repeats that base arm with seeds + 1, + 2, ... (keys ``ref_seed_<k>``): the
    seed std of its probe accuracy and loss is the seed-noise floor of the trained contrasts."""
    abl = ablation_epochs(cfg)
    base = dict(mask_ratio=cfg.mask_ratio)
    specs = [(MAIN, dict(base, epochs=cfg.epochs))] if abl != cfg.epochs else []
    if specs:   # Fig 5 ratio arms as long as MAIN (compared with it: LP at equal budget, FT vs scratch)
        specs += [(f"{LONG_RATIO}{r:g}", dict(mask_ratio=r, epochs=cfg.epochs)) for r in getattr(cfg, "long_ratios", [])
                  if abs(r - cfg.mask_ratio) > 1e-9]
    specs += [(f"ratio_{r:g}", dict(mask_ratio=r)) for r in cfg.ratios]
    if cfg.mask_ratio not in cfg.ratios:
        specs.append((f"ratio_{cfg.mask_ratio:g}", base))
    specs += [(f"ref_seed_{k}", dict(base, seed_offset=k)) for k in range(1, getattr(cfg, "ref_seeds", 1))]
    specs += [(f"sampling_{s}", dict(base, mask_sampling=s, lp=True)) for s in cfg.sampling_arms if s != "random"]
    specs += [(f"decoder_depth_{d}", dict(base, decoder_depth=d)) for d in cfg.decoder_depth_arms
              if d != cfg.decoder_depth]
    specs += [(f"decoder_width_{w}", dict(base, decoder_embed_dim=w)) for w in getattr(cfg, "decoder_width_arms", [])
              if w != cfg.decoder_dim]                                               # Table 1b
    if cfg.norm_pix_arm:
        specs.append(("norm_pix_" + ("off" if cfg.norm_pix_loss else "on"), dict(base, norm_pix_loss=not cfg.norm_pix_loss)))
    if cfg.mask_token_arm:
        specs.append(("mask_token_encoder", dict(base, mask_token_in_encoder=True)))
    specs += [(f"aug_{a}", dict(base, aug=a)) for a in getattr(cfg, "aug_arms", []) if a != "crop_rand"]
    if getattr(cfg, "loss_all_arm", False):                                          # footnote: loss on all patches
        specs.append(("loss_all_patches", dict(base, loss_on="all")))
    specs += [(f"epochs_{e}", dict(base, epochs=e)) for e in cfg.schedule_epochs if e not in (cfg.epochs, abl)]
    return [(k, kw if "epochs" in kw else dict(kw, epochs=abl)) for k, kw in specs]


def base_key(cfg) -> str:
    """The base arm the ablations are compared with (same length as they are)."""
    return f"ratio_{cfg.mask_ratio:g}"


def main_key(arms: Dict[str, Dict], cfg) -> str:
    """The best-trained arm of the base recipe: :data:`MAIN` where the profile runs it, else the base arm."""
    return MAIN if MAIN in arms else base_key(cfg)


def run_arms(cfg, data: Dict, device="cpu", seed: int = 0, log=print) -> Dict[str, Dict]:
    arms = {}
    for key, kw in arm_specs(cfg):
        kw = dict(kw)
        arms[key] = run_arm(cfg, data, device, seed=seed + kw.pop("seed_offset", 0), name=key, **kw)
        a = arms[key]
        log(f"[mae] {key}: {a['history']['epoch'][-1]} ep, pretrain {a['pretrain_s']:.0f}s train loss "
            f"{a['train_loss']:.4f} val loss {a['val_loss']:.4f}" + (f" LP acc {a['lp_acc']:.3f}" if "lp_acc" in a else ""))
    return arms


def ref_noise(arms: Dict[str, Dict], cfg) -> Dict[str, Optional[float]]:
    """Seed std (ddof 1) of the base arm's probe accuracy and validation loss over its seeds (the base arm and the
    ``ref_seed_*`` repeats); None with a single seed."""
    keys = [base_key(cfg)] + [k for k in arms if k.startswith("ref_seed_")]
    reps = [arms[k] for k in keys if k in arms]
    out = {"n_seeds": len(reps), "lp_acc": None, "val_loss": None}
    if len(reps) >= 2:
        if all("lp_acc" in a for a in reps):
            out["lp_acc"] = float(np.std([a["lp_acc"] for a in reps], ddof=1))
        out["val_loss"] = float(np.std([a["val_loss"] for a in reps], ddof=1))
    return out


AUG_LABEL = {"none": "none", "crop_fixed": "crop, fixed size", "crop_rand": "crop, rand size",
             "crop_jitter": "crop + colour jitter"}


def is_ratio_arm(key: str) -> bool:
    """An arm of the masking-ratio family (Fig 5): ratio_<r>, the long base arm :data:`MAIN`, or a ratio arm as
    long as it (main_ratio_<r>, cfg.long_ratios)."""
    return key.startswith("ratio_") or key == MAIN or key.startswith(LONG_RATIO)


def ft_arm_keys(arms: Dict[str, Dict], cfg=None) -> List[str]:
    """The pre-training arms the notebook fine-tunes where the profile fine-tunes: the long base arm
    (:data:`MAIN`) where it runs and the ratio arms as long as it (cfg.long_ratios), the Fig 5 ratio arms (with cfg.ft_ratios set: only those ratios; the FT-flatness
    part of C1 compares them at equal budget) and the Table 1e augmentation arms."""
    sel = getattr(cfg, "ft_ratios", None) if cfg is not None else None
    keys = ([MAIN] if MAIN in arms else []) + [k for k in arms if k.startswith(LONG_RATIO)]
    keys += [k for k in arms if k.startswith("ratio_")
             and (sel is None or any(abs(arms[k]["mask_ratio"] - r) < 1e-9 for r in sel))]
    return keys + [k for k in arms if k.startswith("aug_")]


def sanity_run(cfg, arm: Dict, data: Dict, device="cpu", *, seed: int = 0) -> Dict:
    """Has the pre-training learned anything? For the arm (the best-trained one, :func:`main_key`): the same
    encoder at random init (same seed, same builder) probed the same way, and the arm's per-image masked-patch
    error next to the trivial predictor's (each masked patch = the mean of its image's visible patches, same
    masks, same target space; :func:`per_image_loss`)."""
    torch.manual_seed(seed)
    init = make_mae(cfg, mask_ratio=arm["mask_ratio"], decoder_depth=arm["decoder_depth"],
                    decoder_embed_dim=arm["decoder_width"], norm_pix_loss=arm["norm_pix"])
    lp0 = linear_probe_arm(cfg, init, data, device, seed=seed)
    model_err, trivial_err = per_image_loss(arm["model"], data["val"], device, seed=seed + 123, trivial=True)
    return {"arm": arm["name"], "lp_acc": arm.get("lp_acc"), "lp_correct": arm.get("lp_correct"),
            "random_init_lp_acc": lp0["lp_acc"], "random_init_lp_correct": lp0["lp_correct"],
            "recon_err": model_err, "trivial_err": trivial_err, "recon_err_mean": float(model_err.mean()),
            "trivial_err_mean": float(trivial_err.mean()), "norm_pix": arm["norm_pix"]}
