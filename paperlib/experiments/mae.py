"""MAE recipes: pre-training, linear probing, (partial) fine-tuning with layer-wise lr decay,
reconstructions and the mask-token wall-clock ratio. All training goes through paperlib.engine; the
classification recipe pieces (mixup / CutMix, RandAugment, label smoothing, ...) are paperlib.engine.recipe's.
The notebook's drivers (data, arms) are in :mod:`.mae_runs`, its tables / figures / claims in :mod:`.mae_report`.

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

import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from ..engine import TrainConfig, train
from ..engine import distributed as D
from ..engine.recipe import IMAGENET_MEAN, IMAGENET_STD, finetune_step, n_processes, per_item_correct, scaled_lr
from ..models.mae import MaskedAutoencoderViT, pix_target, unpatchify
from ..models.vit import VisionTransformer, vit_layer_id


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
def pool_tokens(tokens: torch.Tensor, pool: str = "cls") -> torch.Tensor:
    """The probe's feature of the encoder's (normed) tokens: the cls token (Table 10) or, ``pool="avg"``, the mean
    of the patch tokens (the global pooling the official fine-tuning uses; Table 10's text allows either)."""
    if pool == "cls":
        return tokens[:, 0]
    if pool == "avg":
        return tokens[:, 1:].mean(1)
    raise ValueError(f"unknown probe pooling {pool!r}; valid: 'cls', 'avg'")


@torch.no_grad()
def extract_features(model: nn.Module, loader, device="cpu", pool: str = "cls") -> Dict[str, torch.Tensor]:
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
        feats.append(pool_tokens(tokens, pool).float().cpu())
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

    def __init__(self, encoder: nn.Module, num_classes: int, pool: str = "cls"):
        super().__init__()
        self.pool = pool
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
            f = pool_tokens(self.encoder.forward_features(x), self.pool)
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
