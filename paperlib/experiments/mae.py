"""MAE recipes: pre-training, linear probing, (partial) fine-tuning with layer-wise lr decay,
reconstructions and the mask-token wall-clock ratio. All training goes through paperlib.engine.

    from paperlib.experiments import mae as X
    cfg = X.pretrain_config(epochs=800, batch_size=4096)      # Table 8: AdamW(.9,.95), 1.5e-4*B/256
    hist = X.pretrain(model, loader, cfg, device)
    feats = X.extract_features(model, loader, device)         # frozen cls features
    lp = X.linear_probe(train_feats, val_feats, num_classes)  # BN(affine=False) -> Linear
    lp = X.online_linear_probe(model, aug_train_ds, val_loader, num_classes)   # Table 10 (RRC + flip)
    vit = X.vit_from_mae(model, num_classes, global_pool=True)
    hist = X.finetune(vit, loader, X.finetune_config(...), device, layer_decay=0.75,
                      mixup=0.8, cutmix=1.0)                   # Table 9 (timm Mixup + SoftTargetCE)
    tr, ev = X.finetune_transforms(224, randaug="rand-m9-mstd0.5-inc1", reprob=0.25)
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..engine import TrainConfig, train
from ..engine import distributed as D
from ..models.mae import MaskedAutoencoderViT, pix_target, unpatchify
from ..models.vit import VisionTransformer, vit_layer_id

from ..engine.recipe import (IMAGENET_MEAN, IMAGENET_STD, ToPIL, TransformedDataset,  # noqa: F401 (re-exported)
                             classification_transforms, finetune_step, label_smoothing_step, make_mixup,
                             mixup_step, n_processes, per_item_correct, posterize_compat, scaled_lr,
                             with_transform)


# --------------------------------------------------------------------------------------------
# pre-training (Table 8)
# --------------------------------------------------------------------------------------------
def pretrain_config(epochs: int, batch_size: int, *, base_lr: float = 1.5e-4, warmup_epochs: float = 40,
                    weight_decay: float = 0.05, grad_accum: int = 1, world_size: Optional[int] = 1,
                    max_steps: Optional[int] = None, **kw) -> TrainConfig:
    """AdamW betas (0.9, 0.95), lr = :func:`scaled_lr` (world_size None: torchrun's), linear warm-up
    then half-cycle cosine to 0 per iteration, wd 0.05 without decay on 1-D params / biases, no clipping."""
    return TrainConfig(epochs=epochs, max_steps=max_steps, batch_size=batch_size, optimizer="adamw",
                       lr=scaled_lr(base_lr, batch_size, grad_accum, world_size), betas=(0.9, 0.95), weight_decay=weight_decay,
                       wd_on_norm_bias=False, schedule="cosine", warmup_epochs=warmup_epochs, min_lr=0.0,
                       grad_accum=grad_accum, clip_grad=None, **kw)


def mae_step(mask_ratio: Optional[float] = None) -> Callable:
    """engine step_fn: batch (imgs, labels) -> MAE loss (labels unused)."""

    def step(model, batch, device):
        imgs = batch[0] if isinstance(batch, (list, tuple)) else batch
        loss, _, _ = model(imgs.to(device, non_blocking=True), mask_ratio)
        return loss

    return step


def pretrain(model: MaskedAutoencoderViT, loader, cfg: TrainConfig, device="cpu", *,
             mask_ratio: Optional[float] = None, ckpt_path=None, progress=None, desc: str = "mae") -> dict:
    return train(model, loader, cfg, device=device, step_fn=mae_step(mask_ratio), val_loader=None,
                 ckpt_path=ckpt_path, progress=progress, desc=desc)


# --------------------------------------------------------------------------------------------
# linear probing (Table 10): frozen cls feature -> BatchNorm1d(affine=False, eps 1e-6) -> Linear
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def extract_features(model: nn.Module, loader, device="cpu") -> Dict[str, torch.Tensor]:
    """cls-token feature after the final norm of the *unmasked* encoder, for every image of the loader's data
    set in dataset order. Under torchrun each rank encodes its shard (``make_loader(..., evaluation=True)``)
    and the shards are gathered (:func:`paperlib.engine.distributed.gather_rows`), so every rank holds the
    features of the whole set; one process: the loader's (sequential) order."""
    was = model.training
    model.eval()
    idx = D.loader_indices(loader)
    feats, labels = [], []
    for x, y in loader:
        tokens = model.forward_features(x.to(device))     # MAE inherits the ViT's unmasked path
        feats.append(tokens[:, 0].float().cpu())
        labels.append(torch.as_tensor(y))
    model.train(was)
    n = len(loader.dataset)
    x, y = torch.cat(feats), torch.cat(labels)
    return {"x": D.gather_rows(idx, x, n), "y": D.gather_rows(idx, y, n)}


class LinearProbeHead(nn.Sequential):
    """BatchNorm1d without affine (eps 1e-6) then Linear (trunc-normal std 0.01, bias 0)."""

    def __init__(self, dim: int, num_classes: int):
        lin = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(lin.weight, std=0.01)
        nn.init.zeros_(lin.bias)
        super().__init__(nn.BatchNorm1d(dim, affine=False, eps=1e-6), lin)


class LinearProbe(nn.Module):
    """Frozen encoder (eval mode, no grad) + :class:`LinearProbeHead` on its cls feature."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder.encoder() if isinstance(encoder, MaskedAutoencoderViT) else encoder
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.head = LinearProbeHead(self.encoder.embed_dim, num_classes)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()
        return self

    def forward(self, x):
        with torch.no_grad():
            f = self.encoder.forward_features(x)[:, 0]
        return self.head(f)


def linprobe_config(epochs: int, batch_size: int, *, base_lr: float = 0.1, warmup_epochs: float = 10,
                    optimizer: str = "lars", **kw) -> TrainConfig:
    """Table 10: LARS, momentum 0.9, wd 0, lr = 0.1 * batch / 256, warm-up then cosine."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer, momentum=0.9,
                       lr=base_lr * batch_size / 256, weight_decay=0.0, schedule="cosine",
                       warmup_epochs=warmup_epochs, **kw)


def lp_train_config(epochs: int, batch_size: int, *, optimizer: str = "lars", lr: float = 1e-3,
                    warmup_epochs: float = 10, seed: int = 0, max_steps: Optional[int] = None) -> TrainConfig:
    """The probe's TrainConfig, shared by the cached and the online probe: ``optimizer="lars"`` is Table 10
    (:func:`linprobe_config`: LARS, momentum 0.9, wd 0, lr = 0.1 x global ``batch_size`` / 256, ``lr`` ignored);
    anything else (small profiles: "adamw") trains at ``lr``, wd 0. Warm-up then cosine, per iteration."""
    if optimizer == "lars":
        return linprobe_config(epochs, batch_size, warmup_epochs=warmup_epochs, seed=seed, log_every=10**9,
                               max_steps=max_steps)
    return TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=0.0,
                       schedule="cosine", warmup_epochs=warmup_epochs, seed=seed, log_every=10**9,
                       max_steps=max_steps)


def linear_probe(train_feats: Dict[str, torch.Tensor], val_feats: Dict[str, torch.Tensor], num_classes: int,
                 *, epochs: int = 30, batch_size: int = 256, optimizer: str = "adamw", lr: float = 1e-3,
                 warmup_epochs: float = 2, seed: int = 0, device="cpu", world_size: Optional[int] = None) -> Dict:
    """Train BN(affine=False) + Linear on cached frozen features (CPU-cheap form of the linear probe:
    the encoder is frozen and evaluated without augmentation, so its features can be cached).
    ``optimizer="lars"`` uses the paper's LARS with lr = 0.1*batch/256 (``lr`` ignored) -- it needs
    the paper's 90 epochs; small profiles use AdamW. Returns acc, per-item correctness, history.

    ``batch_size`` is the *global* batch (paper 16384): under torchrun (features gathered on every rank by
    :func:`extract_features`) each of the ``world_size`` processes (None: torchrun's) trains on batches of
    batch_size / world_size and LARS' lr is 0.1 x global batch / 256; the validation features are scored in
    shards and gathered, so the accuracy covers every image once."""
    from torch.utils.data import TensorDataset

    from ..engine import make_loader

    ws = n_processes(world_size)
    if batch_size % ws:
        raise ValueError(f"linear-probe batch {batch_size} (global) must be divisible by the {ws} processes")
    torch.manual_seed(seed)
    head = LinearProbeHead(train_feats["x"].shape[1], num_classes)
    tr = make_loader(TensorDataset(train_feats["x"], train_feats["y"]), batch_size // ws, shuffle=True, seed=seed)
    va = make_loader(TensorDataset(val_feats["x"], val_feats["y"]), 1024, shuffle=False, evaluation=True)
    cfg = lp_train_config(epochs, batch_size, optimizer=optimizer, lr=lr, warmup_epochs=warmup_epochs, seed=seed)
    hist = train(head, tr, cfg, device=device, val_loader=None, progress=False, desc="linprobe")
    correct = per_item_correct(head, va, device)
    return {"acc": float(correct.mean()), "correct": correct, "history": hist, "batch_per_process": batch_size // ws,
            "global_batch": batch_size, "lr": cfg.lr}


# main_linprobe.py: RandomResizedCrop(224, interpolation=3) -- its util/crop.py class, torchvision's default scale
# (0.08, 1) -- + RandomHorizontalFlip + ToTensor + Normalize. The spec (Table 10) says "RandomResizedCrop + flip"
# without a scale, so the official default is used. (util/crop.py differs from torchvision only in the fallback
# after 10 failed draws: a centre crop of the clamped aspect ratio instead of the whole image.)
LP_CROP_SCALE = (0.08, 1.0)


def linprobe_transform(image_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, scale=LP_CROP_SCALE):
    """Table 10 training augmentation of the online probe: RandomResizedCrop(``image_size``, scale 0.08-1,
    bicubic) + horizontal flip + normalize (the eval transform stays the dataset's, as for the cached probe)."""
    return pretrain_transform(image_size, mean, std, scale=tuple(scale), aug="crop_rand")


def online_linear_probe(model: nn.Module, train_ds, val_loader, num_classes: int, *, epochs: int = 90,
                        batch_size: int = 16384, optimizer: str = "lars", lr: float = 1e-3,
                        warmup_epochs: float = 10, seed: int = 0, device="cpu", world_size: Optional[int] = None,
                        num_workers: int = 0, max_steps: Optional[int] = None, progress=False) -> Dict:
    """Table 10 linear probe with augmentation: every step the frozen encoder of ``model`` (an MAE or a ViT;
    eval mode, no grad, cls token after the final norm) encodes a batch of ``train_ds`` (give it
    :func:`linprobe_transform`), and only the :class:`LinearProbeHead` (BN(affine=False, eps 1e-6) -> Linear)
    trains, through paperlib.engine with the cached probe's optimizer/schedule (:func:`lp_train_config`).

    The trained module is a :class:`LinearProbe`: its only parameters with requires_grad are the head's, so the
    optimizer holds the head alone and, under torchrun, DistributedDataParallel registers (and all-reduces) only
    the head -- the frozen encoder needs no ``find_unused_parameters``. The encoder's weights are shared with
    ``model`` (not copied); their requires_grad flags are restored afterwards. ``batch_size`` is the global batch
    (split over the processes; LARS lr from it). ``val_loader``: an ``evaluation=True`` loader of the eval
    transform. Returns acc, per-item correctness (dataset order), history, batch / lr."""
    from ..engine import make_loader

    ws = n_processes(world_size)
    if batch_size % ws:
        raise ValueError(f"linear-probe batch {batch_size} (global) must be divisible by the {ws} processes")
    per = batch_size // ws
    flags = [(p, p.requires_grad) for p in model.parameters()]
    torch.manual_seed(seed)
    probe = LinearProbe(model, num_classes)
    # main_linprobe.py drops the last partial batch (also keeps BN away from a 1-image batch); a set smaller
    # than one global batch keeps its single batch
    tr = make_loader(train_ds, per, shuffle=True, seed=seed, num_workers=num_workers,
                     drop_last=len(train_ds) >= batch_size)
    cfg = lp_train_config(epochs, batch_size, optimizer=optimizer, lr=lr, warmup_epochs=warmup_epochs, seed=seed,
                          max_steps=max_steps)
    try:
        hist = train(probe, tr, cfg, device=device, val_loader=None, progress=progress, desc="linprobe_online")
        correct = per_item_correct(probe, val_loader, device)
    finally:
        for p, f in flags:
            p.requires_grad_(f)
    return {"acc": float(correct.mean()), "correct": correct, "history": hist, "batch_per_process": per,
            "global_batch": batch_size, "lr": cfg.lr, "mode": "online", "head": probe.head,
            "train_transform": getattr(train_ds, "transform", None)}


# --------------------------------------------------------------------------------------------
# fine-tuning (Table 9) with layer-wise lr decay; partial fine-tuning (Fig 9)
# --------------------------------------------------------------------------------------------
def vit_from_mae(mae: MaskedAutoencoderViT, num_classes: int, *, global_pool: bool = True,
                 drop_path_rate: float = 0.1, head_init_std: float = 2e-5,
                 train_pos_embed: bool = True) -> VisionTransformer:
    """A ViT classifier initialised from the MAE encoder (official models_vit: global pool + fc_norm by
    default, head trunc-normal std 2e-5). Missing keys are exactly the new head (and fc_norm).

    ``train_pos_embed=True`` (end-to-end fine-tuning): pos_embed is a trainable parameter starting from the
    checkpoint's sin-cos values, as in the official fine-tuning (timm ViT's learned pos_embed loaded from the
    MAE checkpoint); it gets no weight decay and layer id 0 (:func:`param_groups_lrd`). False (linear probing,
    partial fine-tuning): the fixed sin-cos table, frozen as in pre-training."""
    vit = VisionTransformer(img_size=mae.img_size, patch_size=mae.patch_size, in_chans=mae.in_chans,
                            num_classes=num_classes, embed_dim=mae.embed_dim, depth=mae.depth,
                            num_heads=mae.blocks[0].attn.num_heads, drop_path_rate=drop_path_rate,
                            global_pool=global_pool, head_init_std=head_init_std,
                            pos_embed="sincos_learn" if train_pos_embed else "sincos")
    sd = mae.encoder_state_dict()
    if global_pool:
        sd = {k: v for k, v in sd.items() if not k.startswith("norm.")}
    missing, unexpected = vit.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    assert set(missing) <= {"head.weight", "head.bias", "fc_norm.weight", "fc_norm.bias"}, missing
    return vit


def param_groups_lrd(model: VisionTransformer, weight_decay: float = 0.05, layer_decay: float = 0.75,
                     no_weight_decay_list: Optional[Sequence[str]] = None) -> List[dict]:
    """Layer-wise lr decay groups (official util/lr_decay.py): num_layers = depth + 1,
    scale = decay ** (num_layers - layer_id); no wd on 1-D params, pos_embed, cls_token."""
    num_layers = len(model.blocks) + 1
    skip = set(model.no_weight_decay() if no_weight_decay_list is None else no_weight_decay_list)
    scales = [layer_decay ** (num_layers - i) for i in range(num_layers + 1)]
    groups: Dict[str, dict] = {}
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        nd = p.ndim == 1 or n in skip
        lid = vit_layer_id(n, num_layers)
        key = f"layer_{lid}_{'no_decay' if nd else 'decay'}"
        g = groups.setdefault(key, {"params": [], "names": [], "weight_decay": 0.0 if nd else weight_decay,
                                    "lr_scale": scales[lid], "name": key, "layer_id": lid})
        g["params"].append(p)
        g["names"].append(n)
    return list(groups.values())


def finetune_config(epochs: int, batch_size: int, *, base_lr: float = 1e-3, warmup_epochs: float = 5,
                    weight_decay: float = 0.05, min_lr: float = 1e-6, grad_accum: int = 1,
                    world_size: Optional[int] = 1, **kw) -> TrainConfig:
    """Table 9: AdamW (0.9, 0.999), lr = :func:`scaled_lr` (as main_finetune.py), wd 0.05, per-iteration
    warm-up + cosine down to ``min_lr`` (1e-6)."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adamw",
                       lr=scaled_lr(base_lr, batch_size, grad_accum, world_size),
                       betas=(0.9, 0.999), weight_decay=weight_decay, schedule="cosine",
                       warmup_epochs=warmup_epochs, min_lr=min_lr, grad_accum=grad_accum, **kw)


# Table 11 (Appendix A.2): the paper's supervised ViT-from-scratch recipe (its 82.3/82.6/83.1 for B/L/H).
# Its EMA 0.9999 is TrainConfig.ema_decay (paperlib.engine); the notebook's scratch arm takes it from
# cfg.scratch_ema (:func:`finetune_arm`) and reports the EMA model's accuracy.
SCRATCH_RECIPE = dict(optimizer="adamw", base_lr=1e-4, weight_decay=0.3, betas=(0.9, 0.95), batch_size=4096,
                      warmup_epochs=20, epochs={"B": 300, "L": 200, "H": 200}, randaug="rand-m9-mstd0.5-inc1",
                      smoothing=0.1, mixup=0.8, cutmix=1.0, drop_path={"B": 0.1, "L": 0.2, "H": 0.2}, ema=0.9999)


def scratch_config(epochs: int, batch_size: int, *, base_lr: float = 1e-4, warmup_epochs: float = 20,
                   weight_decay: float = 0.3, grad_accum: int = 1, world_size: Optional[int] = 1,
                   **kw) -> TrainConfig:
    """Table 11 optimiser/schedule: AdamW (0.9, 0.95), lr = :func:`scaled_lr` of 1e-4, wd 0.3, 20 warm-up
    epochs then cosine; augmentation as fine-tuning (RandAug, LS 0.1, mixup 0.8, CutMix 1.0); no layer decay."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adamw",
                       lr=scaled_lr(base_lr, batch_size, grad_accum, world_size),
                       betas=(0.9, 0.95), weight_decay=weight_decay, schedule="cosine",
                       warmup_epochs=warmup_epochs, grad_accum=grad_accum, **kw)


def finetune(vit: VisionTransformer, loader, cfg: TrainConfig, device="cpu", *, val_loader=None,
             layer_decay: float = 0.75, label_smoothing: float = 0.1, mixup: float = 0.0, cutmix: float = 0.0,
             mixup_prob: float = 1.0, mixup_switch_prob: float = 0.5, mixup_mode: str = "batch",
             progress=None, desc="finetune") -> dict:
    """Layer-wise lr decay groups + :func:`finetune_step` through paperlib.engine. With mixup or CutMix on,
    the loader must give even batches (use drop_last=True)."""
    groups = param_groups_lrd(vit, cfg.weight_decay, layer_decay)
    step = finetune_step(vit.num_classes, smoothing=label_smoothing, mixup=mixup, cutmix=cutmix,
                         mixup_prob=mixup_prob, mixup_switch_prob=mixup_switch_prob, mixup_mode=mixup_mode)
    return train(vit, loader, cfg, device=device, val_loader=val_loader, param_groups=groups,
                 step_fn=step, progress=progress, desc=desc)


def freeze_for_partial_ft(vit: VisionTransformer, n_blocks: int) -> VisionTransformer:
    """Fig 9: tune only the last ``n_blocks`` blocks (+ final norm / fc_norm / head)."""
    depth = len(vit.blocks)
    for n, p in vit.named_parameters():
        tune = n.startswith(("head", "fc_norm", "norm."))
        if n.startswith("blocks."):
            tune = int(n.split(".")[1]) >= depth - n_blocks
        p.requires_grad_(tune and not (n == "pos_embed" and vit.pos_embed_type == "sincos"))
    return vit


# --------------------------------------------------------------------------------------------
# reconstructions (Figs 2-4)
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def reconstruct(model: MaskedAutoencoderViT, imgs: torch.Tensor, mask_ratio: Optional[float] = None, *,
                mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                ids_shuffle: Optional[torch.Tensor] = None, seed: Optional[int] = 0) -> Dict:
    """original / masked / reconstruction / reconstruction+visible, as (N, 3, H, W) images in [0, 1].

    With ``norm_pix_loss`` the prediction lives in per-patch-normalised space; it is de-normalised
    with the *original* patch's mean/std (ground-truth statistics -- flagged in the result as
    ``uses_gt_patch_stats``), then the dataset normalisation (mean/std) is undone."""
    was = model.training
    model.eval()
    dev = imgs.device
    r = model.mask_ratio if mask_ratio is None else mask_ratio
    if ids_shuffle is None:
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        ids_shuffle = model.sample_ids(imgs.shape[0], r, dev, generator=g)
    loss, pred, mask = model(imgs, r, ids_shuffle)
    model.train(was)
    p = model.patch_size
    if model.norm_pix_loss:
        _, pm, pv = pix_target(imgs, p, True)
        pred = pred * (pv + 1e-6) ** 0.5 + pm
    rec = unpatchify(pred, p, model.grid_size, model.in_chans)
    m = unpatchify(mask.unsqueeze(-1).expand(-1, -1, p * p * model.in_chans), p, model.grid_size, model.in_chans)
    mu = torch.tensor(mean, device=dev).view(1, -1, 1, 1)
    sd = torch.tensor(std, device=dev).view(1, -1, 1, 1)
    den = lambda x: (x * sd + mu).clamp(0, 1)
    orig = den(imgs)
    return {
        "original": orig.cpu(),
        "masked": (orig * (1 - m) + 0.5 * m).cpu(),            # removed patches shown grey
        "reconstruction": den(rec).cpu(),
        "reconstruction_visible": den(imgs * (1 - m) + rec * m).cpu(),
        "mask": mask.cpu(), "loss": float(loss), "mask_ratio": r,
        "visible": int((mask[0] == 0).sum()), "uses_gt_patch_stats": bool(model.norm_pix_loss),
    }


def plot_reconstructions(rec: Dict, n: int = 4, title: Optional[str] = None):
    """Grid: one row per image; columns original / masked / reconstruction / reconstruction+visible."""
    from ..plots import subplots

    cols = ["original", "masked", "reconstruction", "reconstruction_visible"]
    n = min(n, rec["original"].shape[0])
    fig, axes = subplots(n, 4, width=1.6, height=1.6, squeeze=False)
    for i in range(n):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            ax.imshow(rec[c][i].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                lab = c.replace("_", " + ") if c != "masked" else f"masked {rec['mask_ratio']:.0%}"
                if c.startswith("reconstruction") and rec["uses_gt_patch_stats"]:
                    lab += "\n(de-norm: GT patch stats)"
                ax.set_title(lab, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def plot_ratio_reconstructions(model: MaskedAutoencoderViT, imgs: torch.Tensor, ratios: Sequence[float],
                               n: int = 3, title: Optional[str] = None, **kw):
    """Fig 4 style: one model (e.g. trained at 75 %) applied at several masking ratios; for each
    ratio a column pair masked / reconstruction+visible."""
    return plot_model_reconstructions({f"{r:.0%}": (model, r) for r in ratios}, imgs, n=n, title=title or "", **kw)


# --------------------------------------------------------------------------------------------
# Table 2 / 1c: wall-clock of the visible-only encoder vs mask tokens in the encoder
# --------------------------------------------------------------------------------------------
def time_fwd_bwd(model: nn.Module, imgs: torch.Tensor, ids_shuffle: torch.Tensor, mask_ratio: float) -> float:
    model.zero_grad(set_to_none=True)
    sync = torch.cuda.synchronize if imgs.is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    loss, _, _ = model(imgs, mask_ratio, ids_shuffle)
    loss.backward()
    sync()
    return time.perf_counter() - t0


def mask_token_speedup(build: Callable[..., MaskedAutoencoderViT], *, batch: int = 64, mask_ratio: float = 0.75,
                       reps: int = 5, warmup: int = 1, device="cpu", seed: int = 0) -> Dict:
    """Forward+backward time of ``build()`` (visible-only) vs ``build(mask_token_in_encoder=True)``
    in the same process, interleaved (alternating order), median of ``reps``; same images and mask."""
    torch.manual_seed(seed)
    fast = build().to(device)
    slow = build(mask_token_in_encoder=True).to(device)
    imgs = torch.randn(batch, fast.in_chans, fast.img_size, fast.img_size, device=device)
    ids = fast.sample_ids(batch, mask_ratio, device)
    for _ in range(warmup):
        time_fwd_bwd(fast, imgs, ids, mask_ratio)
        time_fwd_bwd(slow, imgs, ids, mask_ratio)
    t = {"visible_only": [], "mask_token_encoder": []}
    for r in range(reps):
        arms = [("visible_only", fast), ("mask_token_encoder", slow)]
        for name, m in (arms if r % 2 == 0 else arms[::-1]):
            t[name].append(time_fwd_bwd(m, imgs, ids, mask_ratio))
    med = {k: statistics.median(v) for k, v in t.items()}
    from ..models.mae import mae_flops_ratio

    flops = mae_flops_ratio(fast.img_size, fast.patch_size, fast.embed_dim, fast.depth, fast.decoder_embed_dim,
                            len(fast.decoder_blocks), mask_ratio)
    return {"seconds": t, "median_s": med, "speedup": med["mask_token_encoder"] / med["visible_only"],
            "flops_ratio": flops, "batch": batch, "reps": reps, "threads": torch.get_num_threads(),
            "img_size": fast.img_size, "embed_dim": fast.embed_dim, "depth": fast.depth,
            "decoder": f"{len(fast.decoder_blocks)}x{fast.decoder_embed_dim}"}


def table2_rows(timing: Dict, model_name: str) -> List[dict]:
    m = timing["median_s"]
    rows = [{"encoder": f"{model_name} w/ [M]", "decoder": timing["decoder"], "source": "this run",
             "s / step (median)": m["mask_token_encoder"], "speed-up": 1.0, "FLOPs ratio": None},
            {"encoder": model_name, "decoder": timing["decoder"], "source": "this run",
             "s / step (median)": m["visible_only"], "speed-up": timing["speedup"], "FLOPs ratio": timing["flops_ratio"]}]
    for enc, dec, hours, sp in [("ViT-L w/ [M]", "8x512", 42.4, None), ("ViT-L", "8x512", 15.4, 2.8),
                                ("ViT-L", "1x512", 11.6, 3.7), ("ViT-H w/ [M]", "8x512", 119.6, None),
                                ("ViT-H", "8x512", 34.5, 3.5), ("ViT-H", "1x512", 29.3, 4.1)]:
        rows.append({"encoder": enc, "decoder": dec, "source": f"paper ({hours} h, 128 TPU-v3)",
                     "s / step (median)": None, "speed-up": sp, "FLOPs ratio": None})
    return rows


def plot_model_reconstructions(models: Dict[str, tuple], imgs: torch.Tensor, n: int = 3, title: str = "", **kw):
    """One column pair (masked / reconstruction+visible) per (name -> (model, mask_ratio))."""
    from ..plots import subplots

    n = min(n, imgs.shape[0])
    fig, axes = subplots(n, 2 * len(models), width=1.3, height=1.4, squeeze=False)
    for k, (name, (model, r)) in enumerate(models.items()):
        rec = reconstruct(model, imgs[:n], r, **kw)
        for i in range(n):
            for j, c in enumerate(("masked", "reconstruction_visible")):
                ax = axes[i][2 * k + j]
                ax.imshow(rec[c][i].permute(1, 2, 0).numpy(), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"{name}\n{'masked' if j == 0 else 'rec.'}", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------
# notebook drivers (10_mae): data, one pre-training arm = pretrain + losses + linear probe
# --------------------------------------------------------------------------------------------
def pretrain_transform(image_size: int, mean, std, scale=(0.2, 1.0), aug: str = "crop_rand"):
    """Table 8 augmentation (``aug="crop_rand"``): RandomResizedCrop(scale 0.2-1, bicubic) + horizontal flip.
    The other Table 1e arms:

    - ``"none"``: no augmentation: resize the shorter side to ``image_size`` and centre-crop (deterministic).
    - ``"crop_fixed"``: a crop of fixed size at a random position + flip ("both having random horizontal
      flipping", paper sec. 4.1). The paper does not give the size; here the image is resized to
      int(size / 0.875) (256 for 224, 36 for 32: the official eval transform's ratio) and a size x size window
      is cropped at random, i.e. the standard fixed-size crop of ImageNet training.
    - ``"crop_jitter"``: crop_rand + ColorJitter(0.4, 0.4, 0.4) (brightness, contrast, saturation). Neither the
      paper nor the official repo (no jitter in main_pretrain.py) gives the jitter strength: 0.4 is timm's
      ``create_transform`` default ``color_jitter=0.4``, which timm expands to ColorJitter(0.4, 0.4, 0.4) -- the
      setting behind main_finetune.py's ``--color_jitter`` option (used when RandAug is off).
    """
    from torchvision.transforms import InterpolationMode, v2

    from ..configs.mae import AUG_ARMS

    if aug not in AUG_ARMS:
        raise ValueError(f"unknown pre-training augmentation {aug!r}; valid: {list(AUG_ARMS)}")
    bicubic = InterpolationMode.BICUBIC
    if aug == "none":
        geo = [v2.Resize(image_size, interpolation=bicubic, antialias=True), v2.CenterCrop(image_size)]
    elif aug == "crop_fixed":
        geo = [v2.Resize(int(image_size / 0.875), interpolation=bicubic, antialias=True), v2.RandomCrop(image_size),
               v2.RandomHorizontalFlip()]
    else:
        geo = [v2.RandomResizedCrop(image_size, scale=scale, antialias=True, interpolation=bicubic),
               v2.RandomHorizontalFlip()]
        if aug == "crop_jitter":
            geo.append(v2.ColorJitter(0.4, 0.4, 0.4))
    return v2.Compose([v2.ToImage(), *geo, v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])


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
    from ..data.classification import STATS, default_transforms
    from ..engine import make_loader

    kw = dict(data_root=data_root, image_size=cfg.image_size, num_classes=cfg.num_classes,
              n_train=cfg.n_train, n_val=cfg.n_val, seed=cfg.data_seed)
    mean, std = STATS[cfg.dataset.lower()]
    crop = "padcrop" if cfg.image_size <= 64 else "rrc"
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
                   seed: int = 0) -> np.ndarray:
    """Reconstruction loss per image (masked patches, the model's own target and mask sampling),
    with masks drawn from a seeded generator so every call sees the same masks. Dataset order; under torchrun
    the ranks' shards are gathered (each rank draws its masks from the same seeded generator)."""
    was = model.training
    model.eval()
    idx = D.loader_indices(loader)
    g = torch.Generator().manual_seed(seed)
    r = model.mask_ratio if mask_ratio is None else mask_ratio
    out = []
    for x, _ in loader:
        x = x.to(device)
        ids = model.sample_ids(x.shape[0], r, x.device, generator=g)
        _, pred, mask = model(x, r, ids)
        target, _, _ = pix_target(x, model.patch_size, model.norm_pix_loss)
        per = ((pred - target) ** 2).mean(-1)
        out.append(((per * mask).sum(1) / mask.sum(1)).cpu().numpy())
    model.train(was)
    local = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
    return np.asarray(D.merge_rank_items(D.all_gather_object((idx, local.tolist())), len(loader.dataset)),
                      dtype=local.dtype)


def run_arm(cfg, data: Dict, device="cpu", *, seed: int = 0, name: str = "", lp: bool = True,
            epochs: Optional[int] = None, aug: str = "crop_rand", **model_kw) -> Dict:
    """Pre-train one MAE arm, then: final train loss, per-image val loss, linear-probe accuracy
    (per-image correctness for paired bootstraps), wall-clock. ``aug``: the pre-training augmentation
    (Table 1e; "crop_rand" = ``data["pre"]``, else :func:`pretrain_loader`)."""
    loader = data["pre"] if aug == "crop_rand" else pretrain_loader(cfg, data, aug, seed=seed)
    torch.manual_seed(seed)
    model = make_mae(cfg, **model_kw)
    pcfg = pretrain_config(epochs if epochs is not None else cfg.epochs, cfg.batch_size,
                           grad_accum=cfg.grad_accum, world_size=None,
                           base_lr=cfg.base_lr, warmup_epochs=cfg.warmup_epochs, weight_decay=cfg.weight_decay,
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
        ftr = extract_features(model, data["lp_train"], device)
        fva = extract_features(model, data["val"], device)
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
    from ..data.classification import default_transforms
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
                                 crop="padcrop" if cfg.image_size <= 64 else "rrc")
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
           "n_blocks": n_blocks, "epochs": epochs, "history": hist, "ema_decay": ema}
    if hist.ema is not None:
        ce = per_item_correct(hist.ema, loaders["val"], device)
        out.update(acc=float(ce.mean()), correct=ce, acc_raw=out["acc"], correct_raw=correct)
    return out


def arm_specs(cfg) -> List[tuple]:
    """(key, run_arm kwargs) for every pre-training arm the profile affords; the base arm
    (cfg.mask_ratio, random sampling, cfg.decoder_depth, cfg target) is shared by all comparisons."""
    base = dict(mask_ratio=cfg.mask_ratio)
    specs = [(f"ratio_{r:g}", dict(mask_ratio=r)) for r in cfg.ratios]
    if cfg.mask_ratio not in cfg.ratios:
        specs.append((f"ratio_{cfg.mask_ratio:g}", base))
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
    specs += [(f"epochs_{e}", dict(base, epochs=e)) for e in cfg.schedule_epochs if e != cfg.epochs]
    return specs


def base_key(cfg) -> str:
    return f"ratio_{cfg.mask_ratio:g}"


def run_arms(cfg, data: Dict, device="cpu", seed: int = 0, log=print) -> Dict[str, Dict]:
    arms = {}
    for key, kw in arm_specs(cfg):
        arms[key] = run_arm(cfg, data, device, seed=seed, name=key, **kw)
        a = arms[key]
        log(f"[mae] {key}: pretrain {a['pretrain_s']:.0f}s train loss {a['train_loss']:.4f} "
            f"val loss {a['val_loss']:.4f}" + (f" LP acc {a['lp_acc']:.3f}" if "lp_acc" in a else ""))
    return arms


AUG_LABEL = {"none": "none", "crop_fixed": "crop, fixed size", "crop_rand": "crop, rand size",
             "crop_jitter": "crop + colour jitter"}


def ft_arm_keys(arms: Dict[str, Dict]) -> List[str]:
    """The pre-training arms the notebook fine-tunes where the profile fine-tunes: the Fig 5 ratio arms and
    the Table 1e augmentation arms."""
    return [k for k in arms if k.startswith(("ratio_", "aug_"))]


def ablation_rows(arms: Dict[str, Dict], cfg, ft: Optional[Dict[str, Dict]] = None) -> List[dict]:
    """Table 1 analogue: one row per arm (config, losses, LP accuracy, FT accuracy where fine-tuned) with the
    paper's ft/lin. The augmentation and FT columns appear only when the profile runs those arms."""
    paper = {"decoder_depth_1": "84.8/65.5", "decoder_depth_2": "84.9/70.0", "decoder_depth_4": "84.9/71.9",
             "decoder_depth_8": "84.9/73.5", "decoder_depth_12": "84.4/73.3", "mask_token_encoder": "84.2/59.6",
             "norm_pix_on": "85.4/73.9", "sampling_block": "82.8/63.9 (75%)", "sampling_grid": "84.0/66.0",
             "aug_none": "84.0/65.7", "aug_crop_fixed": "84.7/73.1", "aug_crop_jitter": "84.3/71.9",
             "base": "84.9/73.5", **{f"decoder_width_{w}": v for w, v in PAPER_TABLE1B.items()},
             "loss_all_patches": PAPER_LOSS_ALL}
    ft = ft or {}
    show_aug = any(k.startswith("aug_") for k in arms)
    show_width = any(k.startswith("decoder_width_") for k in arms)
    show_loss = "loss_all_patches" in arms
    show_ft = any(k in ft for k in arms)
    rows = []
    for k, a in arms.items():
        if k.startswith("ratio_") and k != base_key(cfg):
            continue
        row = {"arm": (f"baseline (random {cfg.mask_ratio:.0%}, dec {cfg.decoder_depth}, "
                       f"{'norm-pix' if cfg.norm_pix_loss else 'raw pixels'})") if k == base_key(cfg) else k,
               "mask ratio": a["mask_ratio"], "sampling": a["sampling"], "decoder depth": a["decoder_depth"],
               "norm pix": a["norm_pix"], "[M] in encoder": a["mask_token_in_encoder"]}
        if show_width:
            row["decoder width"] = a.get("decoder_width")
        if show_loss:
            row["loss on"] = a.get("loss_on", "masked")
        if show_aug:
            row["augmentation"] = AUG_LABEL[a.get("aug", "crop_rand")]
        row.update({"final train loss": a["train_loss"], "val loss (own target)": a["val_loss"],
                    "LP acc %": 100 * a["lp_acc"] if "lp_acc" in a else None})
        if show_ft:
            row["FT acc %"] = 100 * ft[k]["acc"] if k in ft else None
        row["paper ft/lin"] = paper.get("base" if k == base_key(cfg) else k, "")
        rows.append(row)
    return rows


PAPER_TABLE1B = {128: "84.9/69.1", 256: "84.8/71.3", 512: "84.9/73.5", 768: "84.4/73.1", 1024: "84.3/73.1"}
PAPER_LOSS_ALL = "~0.5 lower than masked-only (footnote)"


PAPER_FIG5 = {"ratio": [10, 20, 30, 40, 50, 60, 70, 75, 80, 90],
              "ft": [83.2, 83.4, 83.4, 84.7, 84.9, 85.0, 84.9, 84.9, 84.5, 83.0],
              "lin": [54.6, 58.9, 61.7, 67.0, 69.9, 71.8, 73.2, 73.5, 71.8, 66.1]}


PAPER_FIG9 = {0: 73.5, 1: 81.0, 2: 83.1, 4: 84.2, 6: 84.4, 12: 84.6, 18: 84.7, 24: 84.9}


def plot_fig5(arms: Dict[str, Dict], ft: Optional[Dict[str, Dict]] = None, num_classes: Optional[int] = None):
    from ..plots import subplots

    fig, axes = subplots(1, 2, width=3.4, height=2.6)
    rs = sorted(((a["mask_ratio"], k) for k, a in arms.items() if k.startswith("ratio_") and "lp_acc" in a))
    rs = [(r, arms[k]) for r, k in rs]

    def ci95(correct):   # normal-approximation 95 % interval of an accuracy over n eval images
        p, n = float(np.mean(correct)), len(correct)
        return 100 * 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))

    axes[0].errorbar([100 * r for r, _ in rs], [100 * a["lp_acc"] for _, a in rs],
                     yerr=[ci95(a["lp_correct"]) for _, a in rs], fmt="o-", capsize=3, label="linear probe (95% CI)")
    if ft:
        fr = sorted(((arms[k]["mask_ratio"], k) for k in ft if k in arms and k.startswith("ratio_")))
        axes[0].errorbar([100 * r for r, _ in fr], [100 * ft[k]["acc"] for _, k in fr],
                         yerr=[ci95(ft[k]["correct"]) for _, k in fr], fmt="s-", capsize=3, label="fine-tune (95% CI)")
    if num_classes:
        axes[0].axhline(100.0 / num_classes, color="0.5", ls="--", lw=1, label="chance")
    axes[0].set_xlabel("masking ratio (%)")
    axes[0].set_ylabel("top-1 acc (%) - this run")
    axes[0].legend(fontsize=7)
    axes[0].set_title("this run", fontsize=9)
    axes[1].plot(PAPER_FIG5["ratio"], PAPER_FIG5["ft"], "s-", label="fine-tune")
    axes[1].plot(PAPER_FIG5["ratio"], PAPER_FIG5["lin"], "o-", label="linear probe")
    axes[1].set_xlabel("masking ratio (%)")
    axes[1].set_ylabel("ImageNet top-1 (%)")
    axes[1].set_title("paper (ViT-L, 800 ep)", fontsize=9)
    axes[1].legend()
    return fig


def plot_loss_curves(arms: Dict[str, Dict], keys: Sequence[str], title: str = ""):
    from ..plots import subplots

    fig, ax = subplots(1, 1, width=4.0, height=2.8)
    for k in keys:
        if k in arms:
            h = arms[k]["history"]
            ax.plot(h["epoch"], h["train_loss"], "o-", label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss (masked patches)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------------------------
# claim verdicts (computed from the run; never typed)
# --------------------------------------------------------------------------------------------
def _lp_contrast(arms, a_key, b_key, expect, n_boot, **ev):
    from ..metrics import stats

    if a_key not in arms or b_key not in arms or "lp_correct" not in arms[a_key] or "lp_correct" not in arms[b_key]:
        return stats.not_tested(f"needs LP of arms {a_key} and {b_key} (not run at this profile)")
    return stats.decide_paired(arms[a_key]["lp_correct"], arms[b_key]["lp_correct"], expect=expect, n_boot=n_boot,
                               a=a_key, b=b_key, acc_a=arms[a_key]["lp_acc"], acc_b=arms[b_key]["lp_acc"], **ev)


def _loss_contrast(arms, a_key, b_key, expect, n_boot, **ev):
    from ..metrics import stats

    if a_key not in arms or b_key not in arms:
        return stats.not_tested(f"needs arms {a_key} and {b_key} (not run at this profile)")
    return stats.decide_paired(arms[a_key]["val_loss_per_image"], arms[b_key]["val_loss_per_image"], expect=expect,
                               n_boot=n_boot, a=a_key, b=b_key, loss_a=arms[a_key]["val_loss"],
                               loss_b=arms[b_key]["val_loss"], **ev)


FT_FLAT_RANGE = (0.4, 0.8)
FT_FLAT_MARGIN = 0.01     # stated minimum: 1 accuracy point (the paper's FT spread over 40-80 % is 0.5 points)


def ft_flat_verdict(arms: Dict[str, Dict], ft: Optional[Dict[str, Dict]], n_boot: int = 1000,
                    margin: float = FT_FLAT_MARGIN, seed_std: Optional[float] = None):
    """C1's "fine-tuning is flat over ~40-80 %" part. Rule: among the fine-tuned ratio arms with a ratio in
    [0.4, 0.8] (at least two), spread = acc(best) - acc(worst); its 95 % interval is a paired bootstrap over the
    validation images. Flat is *held* when the interval's upper end is below max(``margin`` (1 point), 2 x seed
    std when given), *not held* when its lower end is above it, else inconclusive (decide_diff on margin -
    spread). Fewer than two such arms: not tested."""
    from ..metrics import stats

    ft = ft or {}
    keys = sorted((arms[k]["mask_ratio"], k) for k in ft if k in arms and k.startswith("ratio_")
                  and FT_FLAT_RANGE[0] - 1e-9 <= arms[k]["mask_ratio"] <= FT_FLAT_RANGE[1] + 1e-9)
    if len(keys) < 2:
        return stats.not_tested("FT flatness over 40-80 % needs fine-tuned ratio arms (>= 2 ratios in [0.4, 0.8]); "
                                "not run at this profile")
    accs = {k: float(np.mean(ft[k]["correct"])) for _, k in keys}
    hi_k, lo_k = max(accs, key=accs.get), min(accs, key=accs.get)
    spread, lo, hi = stats.paired_bootstrap(ft[lo_k]["correct"], ft[hi_k]["correct"], n_boot=n_boot)
    bar = max(margin, 2 * seed_std if seed_std else 0.0)
    return stats.decide_diff(bar - spread, bar - hi, bar - lo, expect="+", n=len(ft[lo_k]["correct"]),
                             part=f"FT flat over 40-80 %: max-min FT acc ({hi_k} - {lo_k}) below {bar:.3g}",
                             spread=spread, spread_ci95=[lo, hi], margin=bar,
                             ft_acc={k: accs[k] for _, k in keys})


def claim_verdicts(cfg, arms: Dict[str, Dict], timing: Dict, flops: Dict, ft: Optional[Dict] = None,
                   partial: Optional[Dict] = None) -> Dict[str, tuple]:
    """{claim id: (statement, Verdict, paper numbers)} for C1..C6 of the spec."""
    from ..metrics import stats

    nb = cfg.n_boot
    base = base_key(cfg)
    ft = ft or {}
    partial = partial or {}
    ratio_keys = sorted((a["mask_ratio"], k) for k, a in arms.items() if k.startswith("ratio_"))
    out = {}
    # C1: LP rises with the ratio up to 75 %; FT flat 40-80 %; every ratio beats scratch when fine-tuned
    low = ratio_keys[0][1] if ratio_keys else None
    parts = [_lp_contrast(arms, low, base, "+", nb, part="LP(75%) - LP(lowest ratio)") if low and low != base
             else stats.not_tested("needs a ratio below 75 %")]
    if ft and "scratch" in ft:
        for k, v in ft.items():
            if k.startswith("ratio_"):
                parts.append(stats.decide_paired(ft["scratch"]["correct"], v["correct"], expect="+", n_boot=nb,
                                                 part=f"FT({k}) - scratch"))
    else:
        parts.append(stats.not_tested("fine-tuning vs scratch not run at this profile (ft_epochs=0)"))
    parts.append(ft_flat_verdict(arms, ft, nb))
    out["C1"] = ("High masking ratio: LP accuracy rises with the masking ratio up to 75 %; FT is flat over "
                 "40-80 %; every ratio beats training from scratch when fine-tuned (Fig 5).",
                 stats.combine(parts), {"lin_10": 54.6, "lin_75": 73.5, "ft_75": 84.9, "scratch": 82.5})
    # C2: visible-only encoder more accurate and cheaper
    t = timing["seconds"]
    parts = [stats.compare_arms(t["visible_only"], t["mask_token_encoder"], expect="+",
                                part="wall-clock w/[M] - w/o (s per step)", speedup=timing["speedup"]),
             stats.decide_all({"ViT-L+8x512 FLOPs ratio in [3.1, 3.4]": 3.1 <= flops["vit_l_dec8"] <= 3.4,
                               "tiny-model FLOPs ratio > 1.5": flops["tiny_75"] > 1.5,
                               "measured speed-up > 1": timing["speedup"] > 1.0}, flops=flops),
             _lp_contrast(arms, "mask_token_encoder", base, "+", nb, part="LP(w/o [M]) - LP(w/ [M])")]
    out["C2"] = ("Asymmetric encoder: the visible-only encoder is more accurate (84.9/73.5 vs 84.2/59.6) and "
                 "cheaper (3.3x fewer FLOPs, 2.8-4.1x faster) than putting mask tokens in the encoder.",
                 stats.combine(parts), {"ft_wo": 84.9, "lin_wo": 73.5, "ft_w": 84.2, "lin_w": 59.6, "flops_ratio": 3.3,
                                        "speedup_L8": 2.8, "speedup_H1": 4.1})
    # C3: FT insensitive to decoder depth; LP needs a deeper decoder
    shallow = sorted((arms[k]["decoder_depth"], k) for k in arms if k.startswith("decoder_depth_")
                     and arms[k]["decoder_depth"] < cfg.decoder_depth)
    parts = [_lp_contrast(arms, shallow[0][1], base, "+", nb, part="LP(deeper) - LP(shallower decoder)")
             if shallow else stats.not_tested("no shallower-decoder arm at this profile"),
             stats.not_tested("FT insensitivity to decoder depth needs fine-tuning per decoder arm (gpu/paper)")]
    out["C3"] = ("Light decoder: FT is insensitive to decoder depth/width; LP needs a deeper decoder "
                 "(1 block 65.5 -> 8 blocks 73.5).", stats.combine(parts),
                 {"lin_dec1": 65.5, "lin_dec8": 73.5, "ft_dec1": 84.8, "ft_dec8": 84.9})
    # C4: norm-pix best target; random > block / grid; crop-only augmentation suffices
    np_key = "norm_pix_on" if not cfg.norm_pix_loss else "norm_pix_off"
    a, b = (base, np_key) if np_key == "norm_pix_on" else (np_key, base)
    parts = [_lp_contrast(arms, a, b, "+", nb, part="LP(norm-pix) - LP(raw)"),
             _lp_contrast(arms, "sampling_block", base, "+", nb, part="LP(random) - LP(block)"),
             _lp_contrast(arms, "sampling_grid", base, "+", nb, part="LP(random) - LP(grid)"),
             _loss_contrast(arms, base, "sampling_block", "+", nb, part="loss(block) - loss(random) (paper: block higher)"),
             _loss_contrast(arms, "sampling_grid", base, "+", nb, part="loss(random) - loss(grid) (paper: grid lower)")]
    statement = ("Simple target and sampling: per-patch-normalised pixels are the best target; random masking "
                 "beats block and grid (block: higher loss, grid: lower loss); cropping alone suffices.")
    paper = {"normpix": "85.4/73.9", "raw": "84.9/73.5", "block75": "82.8/63.9", "grid75": "84.0/66.0",
             "random75": "84.9/73.5"}
    jit = "aug_crop_jitter"
    if jit in arms:    # Table 1e: adding colour jitter to the crop hurts (84.9/73.5 -> 84.3/71.9)
        parts.append(_lp_contrast(arms, jit, base, "+", nb, part="LP(crop) - LP(crop + colour jitter) (paper: jitter hurts)"))
        if jit in ft and base in ft:
            parts.append(stats.decide_paired(ft[jit]["correct"], ft[base]["correct"], expect="+", n_boot=nb,
                                             part="FT(crop) - FT(crop + colour jitter) (paper: jitter hurts)",
                                             acc_crop=ft[base]["acc"], acc_jitter=ft[jit]["acc"]))
        statement += " Colour jitter on top of the crop hurts (Table 1e)."
        paper.update(crop_rand="84.9/73.5", crop_jitter="84.3/71.9")
    else:
        parts.append(stats.not_tested("augmentation ablation (colour jitter) not run"))
    out["C4"] = (statement, stats.combine(parts), paper)
    # C5: longer pre-training keeps helping; gains grow with model size
    sched = sorted((arms[k]["history"]["epoch"][-1], k) for k in arms if k.startswith("epochs_"))
    parts = [_lp_contrast(arms, sched[0][1], base, "+", nb, part="LP(longer) - LP(shorter schedule)")
             if sched and sched[0][0] < cfg.epochs else stats.not_tested("no shorter-schedule arm at this profile"),
             stats.not_tested("model scaling (B/L/H on ImageNet) needs the paper profile")]
    out["C5"] = ("Scaling: longer pre-training keeps helping (LP not saturated at 1600 ep); MAE + FT beats "
                 "supervised from scratch at B/L/H with larger gains for larger models.", stats.combine(parts),
                 {"lin_800": 73.5, "lin_1600": 75.1, "mae_B_L_H": [83.6, 85.9, 86.9], "scratch_B_L_H": [82.3, 82.6, 83.1]})
    # C6: partial fine-tuning lifts LP
    if 1 in partial and "lp_correct" in arms.get(base, {}):
        v = stats.decide_paired(arms[base]["lp_correct"], partial[1]["correct"], expect="+", n_boot=nb,
                                part="acc(tune last block) - LP", lp=arms[base]["lp_acc"], ft1=partial[1]["acc"])
    else:
        v = stats.not_tested("partial fine-tuning not run at this profile (partial_ft_blocks without 1)")
    out["C6"] = ("Partial fine-tuning: linear probing understates MAE features; tuning only the last block "
                 "lifts 73.5 -> 81.0 (Fig 9).", v, {"lin": 73.5, "ft_1_block": 81.0})
    return out


def exact_checks() -> Dict:
    """[ci] exact anchors: masking counts, parameter counts (meta device), FLOPs ratios, sin-cos table."""
    from ..models import create_model, get_model_meta
    from ..models.mae import len_keep_for, mae_flops_ratio
    from ..models.vit import get_2d_sincos_pos_embed

    rows, ok = [], {}

    def add(name, ours, expected, passed):
        rows.append({"check": name, "ours": ours, "spec": expected, "pass": bool(passed)})
        ok[name] = bool(passed)

    for L, r, k in [(196, 0.75, 49), (196, 0.8, 39), (64, 0.75, 16)]:
        add(f"visible of {L} at {r:.0%}", len_keep_for(L, r), k, len_keep_for(L, r) == k)
    for name in ["vit_b16", "vit_l16", "vit_h14", "mae_vit_base_patch16_dec512d8b",
                 "mae_vit_large_patch16_dec512d8b", "mae_vit_huge_patch14_dec512d8b"]:
        with torch.device("meta"):
            m = create_model(name)
        n = sum(p.numel() for p in m.parameters())
        add(f"params {name}", n, get_model_meta(name)["params"], n == get_model_meta(name)["params"])
    fl = {"vit_l_dec8": mae_flops_ratio(224, 16, 1024, 24, 512, 8, 0.75),
          "vit_l_dec1": mae_flops_ratio(224, 16, 1024, 24, 512, 1, 0.75),
          "vit_h_dec8": mae_flops_ratio(224, 14, 1280, 32, 512, 8, 0.75),
          "vit_b_dec8": mae_flops_ratio(224, 16, 768, 12, 512, 8, 0.75),
          "tiny_75": mae_flops_ratio(32, 4, 128, 6, 64, 2, 0.75),
          "tiny_50": mae_flops_ratio(32, 4, 128, 6, 64, 2, 0.5),
          "tiny_90": mae_flops_ratio(32, 4, 128, 6, 64, 2, 0.9)}
    spec = {"vit_l_dec8": 3.23, "vit_l_dec1": 3.88, "vit_h_dec8": 3.60, "vit_b_dec8": 2.35, "tiny_75": 3.18,
            "tiny_50": 1.87, "tiny_90": 5.51}
    add("FLOPs ratio ViT-L+8x512 in [3.1, 3.4]", round(fl["vit_l_dec8"], 3), "3.1-3.4 (3.23)", 3.1 <= fl["vit_l_dec8"] <= 3.4)
    add("FLOPs ratio tiny @75%", round(fl["tiny_75"], 3), 3.18, round(fl["tiny_75"], 2) == 3.18)
    for k in ("vit_l_dec1", "vit_h_dec8", "vit_b_dec8", "tiny_50", "tiny_90"):
        add(f"FLOPs ratio {k} (within 0.05)", round(fl[k], 3), spec[k], abs(fl[k] - spec[k]) <= 0.05)
    t = get_2d_sincos_pos_embed(768, 14, cls_token=True)
    add("sin-cos table shape / zero cls row", str(t.shape), "(197, 768), zeros", t.shape == (197, 768) and not t[0].any())
    return {"rows": rows, "ok": ok, "flops": fl}
