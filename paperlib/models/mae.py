"""Masked autoencoder (He et al., MAE, CVPR 2022) on the paperlib ViT.

    from paperlib.models import create_model
    mae = create_model("mae_vit_base_patch16_dec512d8b", norm_pix_loss=True)
    loss, pred, mask = mae(imgs, mask_ratio=0.75)          # imgs: (N, 3, H, W), ImageNet-normalised

``MaskedAutoencoderViT`` *is* a :class:`~paperlib.models.vit.VisionTransformer` (headless) plus a
decoder, so its state dict has exactly the key names and shapes of the official
facebookresearch/mae ``models_mae.py`` checkpoints: ``cls_token, pos_embed, patch_embed.proj.*,
blocks.i.*, norm.*, mask_token, decoder_pos_embed, decoder_embed.*, decoder_blocks.i.*,
decoder_norm.*, decoder_pred.*``.  ``encoder_state_dict()`` gives the keys a ViT classifier loads.

Variants (all ablations of the paper's Table 1): ``mask_sampling`` random / block / grid;
``mask_token_in_encoder`` (Table 1c / Table 2 slow baseline: the encoder sees all L tokens, masked
ones replaced by a learned encoder-width mask token ``enc_mask_token`` + position embedding; the
decoder then receives all L+1 encoder outputs and has no mask token of its own); decoder depth and
width; ``norm_pix_loss``; ``loss_on`` masked (default) / all patches.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from timm.models.vision_transformer import Block

from .registry import register_model
from .vit import LayerNorm6, VisionTransformer, get_2d_sincos_pos_embed, init_vit_weights

__all__ = [
    "MaskedAutoencoderViT", "patchify", "unpatchify", "random_masking", "mask_from_ids",
    "sample_ids_shuffle", "block_mask", "grid_mask", "pix_target", "masked_mse",
    "len_keep_for", "mae_macs", "mae_flops_ratio", "count_params",
]


# --------------------------------------------------------------------------------------------
# patchify / targets / loss
# --------------------------------------------------------------------------------------------
def patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, L, p*p*C), pixel order (row-in-patch, col-in-patch, channel)."""
    n, c, h, w = imgs.shape
    assert h % p == 0 and w % p == 0
    gh, gw = h // p, w // p
    x = imgs.reshape(n, c, gh, p, gw, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, gh * gw, p * p * c)


def unpatchify(x: torch.Tensor, p: int, grid: Optional[Tuple[int, int]] = None, c: int = 3) -> torch.Tensor:
    """(N, L, p*p*C) -> (N, C, H, W); inverse of :func:`patchify`."""
    n, L, _ = x.shape
    gh, gw = grid if grid is not None else (int(math.isqrt(L)),) * 2
    assert gh * gw == L
    x = x.reshape(n, gh, gw, p, p, c)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(n, c, gh * p, gw * p)


def pix_target(imgs: torch.Tensor, p: int, norm_pix: bool, eps: float = 1e-6):
    """Target patches; with ``norm_pix`` each patch -> (t - mean)/sqrt(var + eps), **unbiased** var
    over its p*p*3 values. Returns (target, mean, var) (mean/var None without norm_pix)."""
    t = patchify(imgs, p)
    if not norm_pix:
        return t, None, None
    mean = t.mean(dim=-1, keepdim=True)
    var = t.var(dim=-1, keepdim=True, unbiased=True)
    return (t - mean) / (var + eps) ** 0.5, mean, var


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean over the p*p*3 values per patch, then mean over masked patches (Σ l_j m_j / Σ m_j);
    ``mask=None`` averages over all patches."""
    per_patch = ((pred - target) ** 2).mean(dim=-1)       # (N, L)
    if mask is None:
        return per_patch.mean()
    return (per_patch * mask).sum() / mask.sum()


# --------------------------------------------------------------------------------------------
# masking
# --------------------------------------------------------------------------------------------
def len_keep_for(L: int, mask_ratio: float) -> int:
    """floor(L (1 - r)) -- as int() in the official code (e.g. 196 @ .75 -> 49, @ .8 -> 39)."""
    return int(L * (1 - mask_ratio))


def block_mask(n: int, grid: Tuple[int, int], num_mask: int, generator=None, device=None,
               min_patches: int = 16, min_aspect: float = 0.3) -> torch.Tensor:
    """BEiT-style block-wise masking: add random rectangles (area >= ``min_patches``, log-uniform
    aspect in [0.3, 1/0.3]) until ``num_mask`` patches are covered; excess/deficit fixed at random
    so every sample masks exactly ``num_mask``. Returns (n, L) float mask (1 = removed)."""
    gh, gw = grid
    L = gh * gw
    out = torch.zeros(n, L)
    g = generator
    logr = (math.log(min_aspect), math.log(1 / min_aspect))
    for i in range(n):
        m = torch.zeros(gh, gw)
        tries = 0
        while m.sum() < num_mask and tries < 200:
            tries += 1
            remaining = num_mask - int(m.sum())
            max_area = max(min_patches, remaining)
            area = float(torch.empty(1).uniform_(min(min_patches, max_area), max_area, generator=g))
            aspect = math.exp(float(torch.empty(1).uniform_(*logr, generator=g)))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if not (0 < h <= gh and 0 < w <= gw):
                continue
            top = int(torch.randint(0, gh - h + 1, (1,), generator=g))
            left = int(torch.randint(0, gw - w + 1, (1,), generator=g))
            m[top:top + h, left:left + w] = 1
        flat = m.flatten()
        k = int(flat.sum())
        if k > num_mask:      # un-mask random masked patches
            idx = flat.nonzero().flatten()
            drop = idx[torch.randperm(len(idx), generator=g)[:k - num_mask]]
            flat[drop] = 0
        elif k < num_mask:    # mask random visible patches
            idx = (flat == 0).nonzero().flatten()
            add = idx[torch.randperm(len(idx), generator=g)[:num_mask - k]]
            flat[add] = 1
        out[i] = flat
    return out.to(device) if device is not None else out


def grid_mask(n: int, grid: Tuple[int, int], num_mask: int, device=None) -> torch.Tensor:
    """Regular grid sampling: keep one of every s x s patches (top-left of each cell), s chosen so
    the keep fraction is 1/s^2 (75% -> s = 2); count fixed up to ``num_mask`` deterministically."""
    gh, gw = grid
    L = gh * gw
    s = max(1, int(round(math.sqrt(L / max(1, L - num_mask)))))
    rr, cc = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    keep = ((rr % s == 0) & (cc % s == 0)).flatten()
    m = (~keep).float()
    k = int(m.sum())
    if k != num_mask:   # non-divisible grids: adjust in raster order
        idx = (m == 0).nonzero().flatten() if k < num_mask else m.nonzero().flatten()
        m[idx[:abs(num_mask - k)]] = 1.0 if k < num_mask else 0.0
    out = m.unsqueeze(0).repeat(n, 1)
    return out.to(device) if device is not None else out


def sample_ids_shuffle(n: int, grid: Tuple[int, int], mask_ratio: float, mode: str = "random",
                       device=None, generator=None) -> torch.Tensor:
    """ids_shuffle (n, L): the first ``len_keep`` entries are the kept patches.
    random: argsort(U(0,1) noise) ascending (official). block / grid: argsort(mask + noise/2), so
    kept patches come first (in random order) and exactly ``len_keep`` are kept."""
    L = grid[0] * grid[1]
    len_keep = len_keep_for(L, mask_ratio)
    noise = torch.rand(n, L, generator=generator).to(device) if generator is not None else \
        torch.rand(n, L, device=device)
    if mode == "random":
        return torch.argsort(noise, dim=1)
    if mode == "block":
        m = block_mask(n, grid, L - len_keep, generator=generator, device=device)
    elif mode == "grid":
        m = grid_mask(n, grid, L - len_keep, device=device)
    else:
        raise ValueError(f"unknown mask sampling {mode!r} (random | block | grid)")
    return torch.argsort(m * 2.0 + noise, dim=1)


def mask_from_ids(ids_shuffle: torch.Tensor, len_keep: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(mask, ids_restore): mask = [0]*len_keep ++ [1]*(L-len_keep) un-shuffled by ids_restore."""
    n, L = ids_shuffle.shape
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(n, L, device=ids_shuffle.device)
    mask[:, :len_keep] = 0
    return torch.gather(mask, 1, ids_restore), ids_restore


def random_masking(x: torch.Tensor, mask_ratio: float, ids_shuffle: Optional[torch.Tensor] = None):
    """Per-sample masking of x (N, L, D) -> (x_visible (N, len_keep, D), mask (N, L), ids_restore).
    ``ids_shuffle`` defaults to argsort of uniform noise (official ``random_masking``)."""
    n, L, d = x.shape
    len_keep = len_keep_for(L, mask_ratio)
    if ids_shuffle is None:
        ids_shuffle = torch.argsort(torch.rand(n, L, device=x.device), dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    x_vis = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, d))
    mask, ids_restore = mask_from_ids(ids_shuffle, len_keep)
    return x_vis, mask, ids_restore


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------
class MaskedAutoencoderViT(VisionTransformer):
    """MAE = headless ViT encoder (inherited: patch_embed, cls_token, pos_embed, blocks, norm) +
    lightweight decoder."""

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 1024, depth: int = 24, num_heads: int = 16,
                 decoder_embed_dim: int = 512, decoder_depth: int = 8, decoder_num_heads: int = 16,
                 mlp_ratio: float = 4.0, norm_pix_loss: bool = False, mask_ratio: float = 0.75,
                 mask_sampling: str = "random", mask_token_in_encoder: bool = False,
                 loss_on: str = "masked", stem=None):
        self._building = True
        super().__init__(img_size=img_size, patch_size=patch_size, in_chans=in_chans, num_classes=0,
                         embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                         global_pool=False, pos_embed="sincos", stem=stem)
        del self.head, self.fc_norm   # headless encoder: no (param-free) head modules in the layout
        self.in_chans = in_chans
        self.mask_ratio = mask_ratio
        self.mask_sampling = mask_sampling
        self.mask_token_in_encoder = mask_token_in_encoder
        self.norm_pix_loss = norm_pix_loss
        assert loss_on in ("masked", "all")
        self.loss_on = loss_on
        self.decoder_embed_dim = decoder_embed_dim
        L = self.num_patches
        if mask_token_in_encoder:
            self.enc_mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        else:
            self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim, bias=True)
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, L + 1, decoder_embed_dim), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, qkv_bias=True, norm_layer=LayerNorm6)
            for _ in range(decoder_depth)])
        self.decoder_norm = LayerNorm6(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, self.patch_size ** 2 * in_chans, bias=True)
        self._building = False
        self.init_weights()

    def init_weights(self) -> None:
        if getattr(self, "_building", False):
            return                      # called by the ViT constructor; done once at the end
        super().init_weights()          # sin-cos pos, patch conv like linear, cls N(0,.02), xavier, LN
        if self.pos_embed.device.type == "meta":
            return
        pe = get_2d_sincos_pos_embed(self.decoder_embed_dim, self.grid_size, cls_token=True)
        self.decoder_pos_embed.data.copy_(torch.from_numpy(pe).float().unsqueeze(0))
        for name in ("mask_token", "enc_mask_token"):
            if hasattr(self, name):
                nn.init.normal_(getattr(self, name), std=0.02)

    def no_weight_decay(self) -> set:
        # pre-training (spec / official main_pretrain): no decay on 1-D params and biases only; the
        # official timm helper still decays the 3-D cls / mask tokens. The sin-cos tables are frozen.
        return {"pos_embed", "decoder_pos_embed"}

    # -------------------------------------------------------------------- helpers
    def patchify(self, imgs):
        return patchify(imgs, self.patch_size)

    def unpatchify(self, x):
        return unpatchify(x, self.patch_size, self.grid_size, self.in_chans)

    def sample_ids(self, n: int, mask_ratio: float, device, generator=None) -> torch.Tensor:
        return sample_ids_shuffle(n, self.grid_size, mask_ratio, self.mask_sampling, device=device,
                                  generator=generator)

    # -------------------------------------------------------------------- encoder
    def forward_encoder(self, imgs: torch.Tensor, mask_ratio: Optional[float] = None,
                        ids_shuffle: Optional[torch.Tensor] = None):
        """Returns (latent, mask, ids_restore). Visible-only: latent (N, 1+len_keep, D) in shuffled
        order; with ``mask_token_in_encoder``: latent (N, 1+L, D) in the original order."""
        r = self.mask_ratio if mask_ratio is None else mask_ratio
        x = self.patch_embed(imgs)                            # (N, L, D)
        n, L, d = x.shape
        if ids_shuffle is None:
            ids_shuffle = self.sample_ids(n, r, x.device)
        if self.mask_token_in_encoder:
            len_keep = len_keep_for(L, r)
            mask, ids_restore = mask_from_ids(ids_shuffle, len_keep)
            m = mask.unsqueeze(-1).to(x.dtype)
            x = x * (1 - m) + self.enc_mask_token.to(x.dtype) * m   # [M] replaces masked patches
            x = x + self.pos_embed[:, 1:, :]                        # ... and gets its position
        else:
            x = x + self.pos_embed[:, 1:, :]                        # pos added before masking
            x, mask, ids_restore = random_masking(x, r, ids_shuffle)
        x = self.add_cls(x)
        return self.run_blocks(x), mask, ids_restore

    # -------------------------------------------------------------------- decoder
    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(latent)
        if not self.mask_token_in_encoder:
            n, l1, c = x.shape
            L = ids_restore.shape[1]
            mask_tokens = self.mask_token.expand(n, L + 1 - l1, -1)
            x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
            x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).expand(-1, -1, c))   # unshuffle
            x = torch.cat([x[:, :1, :], x_], dim=1)             # cls stays first
        x = x + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_norm(x)
        return self.decoder_pred(x)[:, 1:, :]                   # drop cls

    def forward_loss(self, imgs, pred, mask):
        target, _, _ = pix_target(imgs, self.patch_size, self.norm_pix_loss)
        return masked_mse(pred, target, mask if self.loss_on == "masked" else None)

    def forward(self, imgs: torch.Tensor, mask_ratio: Optional[float] = None,
                ids_shuffle: Optional[torch.Tensor] = None):
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, ids_shuffle)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(imgs, pred, mask), pred, mask

    # -------------------------------------------------------------------- export
    def encoder_state_dict(self) -> Dict[str, torch.Tensor]:
        """The keys a ViT classifier (``vit.VisionTransformer``) loads (strict=False for its head)."""
        enc = ("patch_embed.", "cls_token", "pos_embed", "blocks.", "norm.")
        return {k: v for k, v in self.state_dict().items() if k.startswith(enc)}

    def load_official(self, ckpt, strict: bool = True):
        """Load a facebookresearch/mae checkpoint (a path, or a dict with or without the "model"
        wrapper). Full "visualize" checkpoints load strictly; encoder-only pre-training checkpoints
        (mae_pretrain_vit_*.pth) need ``strict=False`` and leave the decoder untouched -- such a
        model cannot reconstruct (spec pitfall). Returns torch's (missing_keys, unexpected_keys)."""
        if isinstance(ckpt, (str, bytes)) or hasattr(ckpt, "__fspath__"):
            ckpt = torch.load(ckpt, map_location="cpu", weights_only=False)
        sd = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else ckpt
        return self.load_state_dict(sd, strict=strict)

    def encoder(self) -> VisionTransformer:
        """A headless ViT (cls feature = output) sharing weights with this MAE encoder."""
        vit = VisionTransformer.__new__(VisionTransformer)
        nn.Module.__init__(vit)
        for k in ("patch_embed", "blocks", "norm"):
            vit.add_module(k, getattr(self, k))
        vit.cls_token, vit.pos_embed = self.cls_token, self.pos_embed
        vit.fc_norm, vit.head = nn.Identity(), nn.Identity()
        vit.global_pool, vit.num_classes = False, 0
        vit.embed_dim = vit.num_features = self.embed_dim
        vit.depth, vit.grid_size, vit.num_patches = self.depth, self.grid_size, self.num_patches
        vit.patch_size, vit.img_size, vit.pos_embed_type = self.patch_size, self.img_size, "sincos"
        return vit


# --------------------------------------------------------------------------------------------
# FLOPs (multiply-accumulates) and the mask-token cost ratio (Table 1c "3.3x")
# --------------------------------------------------------------------------------------------
def _block_macs(n: int, d: int, mlp_ratio: float = 4.0) -> int:
    # qkv 3nd^2 + proj nd^2 + mlp 2*r*nd^2 + attention matmuls (q k^T and attn v) 2 n^2 d
    return int(4 * n * d * d + 2 * mlp_ratio * n * d * d + 2 * n * n * d)


def mae_macs(img_size: int, patch_size: int, embed_dim: int, depth: int, decoder_embed_dim: int,
             decoder_depth: int, mask_ratio: float, mask_token_in_encoder: bool,
             in_chans: int = 3, decoder_embed_tokens: str = "visible") -> Dict[str, int]:
    """Forward MACs of MAE pre-training: patch embedding (all L patches), encoder blocks on
    1 + len_keep tokens (1 + L with mask tokens in the encoder), decoder input projection,
    decoder blocks on 1 + L tokens, prediction linear on 1 + L tokens. Norms/GELU/softmax ignored.

    ``decoder_embed_tokens``: how many encoder outputs the decoder's input projection is charged
    for. "visible" (default) charges 1 + len_keep in *both* arms, i.e. the decoder cost is held
    fixed and only the encoder differs -- this is the convention that reproduces the spec's
    anchors (ViT-L + 8x512: 3.225; tiny: 3.18 / 1.87). "actual" charges what our w/[M] model
    really projects (1 + L tokens): ViT-L 3.228, tiny 3.197."""
    L = (img_size // patch_size) ** 2
    keep = len_keep_for(L, mask_ratio)
    n_enc = 1 + (L if mask_token_in_encoder else keep)
    n_dec_in = 1 + (L if (mask_token_in_encoder and decoder_embed_tokens == "actual") else keep)
    out = {
        "patch_embed": L * in_chans * patch_size ** 2 * embed_dim,
        "encoder": depth * _block_macs(n_enc, embed_dim),
        "decoder_embed": n_dec_in * embed_dim * decoder_embed_dim,
        "decoder": decoder_depth * _block_macs(1 + L, decoder_embed_dim),
        "decoder_pred": (1 + L) * decoder_embed_dim * patch_size ** 2 * in_chans,
    }
    out["total"] = sum(out.values())
    return out


def mae_flops_ratio(img_size: int, patch_size: int, embed_dim: int, depth: int,
                    decoder_embed_dim: int = 512, decoder_depth: int = 8, mask_ratio: float = 0.75,
                    decoder_embed_tokens: str = "visible") -> float:
    """Training-FLOPs ratio, encoder w/ [M] vs w/o (backward ~ 2x forward for both, so the forward
    MAC ratio is the training ratio)."""
    kw = dict(img_size=img_size, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
              decoder_embed_dim=decoder_embed_dim, decoder_depth=decoder_depth, mask_ratio=mask_ratio,
              decoder_embed_tokens=decoder_embed_tokens)
    return mae_macs(mask_token_in_encoder=True, **kw)["total"] / mae_macs(mask_token_in_encoder=False, **kw)["total"]


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------------------------
# builders. Counts include every parameter tensor, also the frozen sin-cos tables
# (B: 111,907,840 = encoder 85,798,656 + decoder 26,109,184; frozen 197*768 + 197*512 = 252,160).
# --------------------------------------------------------------------------------------------
_SRC = "MAE spec (official models_mae.py layout; every parameter tensor incl. frozen sin-cos tables)"


def _mae(patch_size: int, embed_dim: int, depth: int, num_heads: int, dec: tuple, **kw) -> MaskedAutoencoderViT:
    """A registered MAE: the named encoder; ``dec`` = the default decoder (width, depth, heads), which
    ``kw`` (like anything else) may override."""
    for k, v in zip(("decoder_embed_dim", "decoder_depth", "decoder_num_heads"), dec):
        kw.setdefault(k, v)
    return MaskedAutoencoderViT(patch_size=patch_size, embed_dim=embed_dim, depth=depth, num_heads=num_heads, **kw)


@register_model("mae_vit_base_patch16_dec512d8b", meta={
    "params": 111_907_840, "frozen_params": 252_160, "encoder_params": 85_798_656,
    "decoder_params": 26_109_184, "input_size": (3, 224, 224), "family": "mae", "source": _SRC})
def mae_vit_base_patch16_dec512d8b(**kw) -> MaskedAutoencoderViT:
    return _mae(16, 768, 12, 12, (512, 8, 16), **kw)


@register_model("mae_vit_large_patch16_dec512d8b", meta={
    "params": 329_541_888, "frozen_params": 302_592, "decoder_params": 26_240_256,
    "input_size": (3, 224, 224), "family": "mae", "source": _SRC})
def mae_vit_large_patch16_dec512d8b(**kw) -> MaskedAutoencoderViT:
    return _mae(16, 1024, 24, 16, (512, 8, 16), **kw)


@register_model("mae_vit_huge_patch14_dec512d8b", meta={
    "params": 657_074_508, "frozen_params": 460_544, "decoder_params": 26_309_708,
    "input_size": (3, 224, 224), "family": "mae", "source": _SRC})
def mae_vit_huge_patch14_dec512d8b(**kw) -> MaskedAutoencoderViT:
    return _mae(14, 1280, 32, 16, (512, 8, 16), **kw)


@register_model("mae_vit_tiny_p4_32_dec64d2b", meta={
    "input_size": (3, 32, 32), "family": "mae",
    "source": "MAE spec tiny CPU model: 32 px, patch 4, 128-d x 6 x 4 heads; decoder 64-d x 2"})
def mae_vit_tiny_p4_32_dec64d2b(**kw) -> MaskedAutoencoderViT:
    kw.setdefault("img_size", 32)
    return _mae(4, 128, 6, 4, (64, 2, 4), **kw)


@register_model("mae_vit_t_p4_32_dec128d4b", meta={
    "input_size": (3, 32, 32), "family": "mae",
    "source": "ViT-T (192-d x 12 x 3) MAE at 32 px, patch 4; decoder 128-d x 4 (gpu profile)"})
def mae_vit_t_p4_32_dec128d4b(**kw) -> MaskedAutoencoderViT:
    kw.setdefault("img_size", 32)
    return _mae(4, 192, 12, 3, (128, 4, 4), **kw)
