"""Vision Transformer (ViT) built from timm's blocks, with a pluggable stem.

    from paperlib.models import create_model
    m = create_model("vit_b16", num_classes=1000)            # ViT-B/16, patchify stem, cls head
    m = create_model("vit_tiny_p4_32", num_classes=10)       # the MAE spec's tiny CPU model

Layout (key names) follows timm / facebookresearch/mae ``models_vit.py``:
``patch_embed.proj`` (the patchify stem), ``cls_token``, ``pos_embed``, ``blocks.i.*`` (timm
``Block``: pre-norm, LayerNorm eps 1e-6, MLP ratio 4, GELU, qkv bias), ``norm`` (cls head) or
``fc_norm`` (global-pool head; then ``norm`` is Identity, as in the official fine-tuning model),
``head``.

Stem: ``stem`` is a factory ``stem(img_size=, in_chans=, embed_dim=) -> nn.Module`` whose module
maps (N, C, H, W) -> (N, L, D) and exposes ``num_patches`` and ``grid_size`` (rows, cols).  The
default is :func:`patchify_stem` (a p x p / stride p convolution = timm ``PatchEmbed``); paper 09
("early convolutions") plugs a convolutional stem in the same slot.

Position embeddings: ``pos_embed="sincos"`` (default) stores the fixed 2-D sin-cos table as an
``nn.Parameter`` with ``requires_grad=False`` (as the official MAE code does), so it is part of the
state dict and of the parameter count; ``pos_embed="learn"`` makes it trainable with timm's init
(trunc-normal std 0.02: the official from-scratch ViT, main_finetune.py without --finetune);
``pos_embed="sincos_learn"`` is trainable and starts from the sin-cos table (the official fine-tuning model:
timm's learned pos_embed overwritten by the MAE checkpoint's sin-cos values, then trained -- no weight decay,
layer id 0).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from timm.layers import PatchEmbed, trunc_normal_
from timm.models.vision_transformer import Block

from .registry import register_model

__all__ = [
    "VisionTransformer", "patchify_stem", "get_1d_sincos_pos_embed", "get_2d_sincos_pos_embed",
    "vit_b16", "vit_l16", "vit_h14", "vit_tiny_p4_32", "vit_t_p4_32", "vit_s_p4_32",
    "LayerNorm6", "vit_layer_id", "ConvStem", "conv_stem", "init_vit_pycls",
]

LayerNorm6 = partial(nn.LayerNorm, eps=1e-6)


# --------------------------------------------------------------------------------------------
# 2-D sin-cos position embeddings (MAE spec; official util/pos_embed.py semantics)
# --------------------------------------------------------------------------------------------
def get_1d_sincos_pos_embed(embed_dim: int, pos: np.ndarray) -> np.ndarray:
    """1-D table: for E = embed_dim, omega_i = 10000^(-2i/E), i < E/2; emb = [sin(x w), cos(x w)]."""
    assert embed_dim % 2 == 0
    omega = np.arange(embed_dim // 2, dtype=np.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000 ** omega                       # (E/2,)
    out = np.einsum("m,d->md", np.asarray(pos, dtype=np.float64).reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)   # (M, E)


def get_2d_sincos_pos_embed(embed_dim: int, grid_size, cls_token: bool = False) -> np.ndarray:
    """(G_h*G_w [+1], D) table. Token (r, c) sits at row r*G_w + c; its first D/2 dims embed the
    **column** c and the last D/2 the row r (official meshgrid "w goes first"). cls row = zeros."""
    gh, gw = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
    assert embed_dim % 4 == 0, "2-D sin-cos needs embed_dim divisible by 4"
    rows, cols = np.meshgrid(np.arange(gh, dtype=np.float64), np.arange(gw, dtype=np.float64),
                             indexing="ij")            # (gh, gw) each
    emb_c = get_1d_sincos_pos_embed(embed_dim // 2, cols)
    emb_r = get_1d_sincos_pos_embed(embed_dim // 2, rows)
    emb = np.concatenate([emb_c, emb_r], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros([1, embed_dim]), emb], axis=0)
    return emb


# --------------------------------------------------------------------------------------------
# stems
# --------------------------------------------------------------------------------------------
def patchify_stem(patch_size: int = 16) -> Callable[..., nn.Module]:
    """Factory for the patchify stem (conv p x p, stride p; timm PatchEmbed -> key ``proj``)."""

    def make(img_size: int = 224, in_chans: int = 3, embed_dim: int = 768) -> nn.Module:
        return PatchEmbed(img_size=img_size, patch_size=patch_size, in_chans=in_chans,
                          embed_dim=embed_dim)

    make.patch_size = patch_size
    return make


class ConvStem(nn.Module):
    """Convolutional stem of "Early Convolutions Help Transformers See Better" (pycls ``ViTStemConv``):
    every layer but the last is conv k x k (bias-free) -> BatchNorm -> ReLU (torchvision's
    ``Conv2dNormActivation``); the last is a conv with bias and nothing after it, mapping to D.
    Maps (N, C, H, W) -> (N, L, D) like timm's ``PatchEmbed``."""

    def __init__(self, img_size: int, in_chans: int, kernels: Sequence[int], strides: Sequence[int],
                 channels: Sequence[int], paddings: Optional[Sequence[int]] = None):
        super().__init__()
        from torchvision.ops import Conv2dNormActivation
        if not (len(kernels) == len(strides) == len(channels)) or len(kernels) < 1:
            raise ValueError(f"ConvStem: kernels {list(kernels)}, strides {list(strides)} and channels "
                             f"{list(channels)} must be non-empty lists of the same length")
        pads = list(paddings) if paddings is not None else [stem_padding(k) for k in kernels]
        layers, c_in, size = [], in_chans, img_size
        for i, (k, s, c, p) in enumerate(zip(kernels, strides, channels, pads)):
            if i < len(kernels) - 1:
                layers.append(Conv2dNormActivation(c_in, c, k, s, p, norm_layer=nn.BatchNorm2d,
                                                   activation_layer=nn.ReLU, inplace=True))
            else:
                self.proj = nn.Conv2d(c_in, c, k, s, p, bias=True)
            c_in, size = c, (size + 2 * p - k) // s + 1
        self.layers = nn.Sequential(*layers)
        self.kernels, self.strides, self.channels, self.paddings = list(kernels), list(strides), list(channels), pads
        self.grid_size = (size, size)
        self.num_patches = size * size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.layers(x)).flatten(2).transpose(1, 2)


def stem_padding(k: int) -> int:
    """(k - 1) / 2 for odd kernels (3x3 -> 1, 1x1 -> 0); 0 for the even, stride-k patchify-like layers
    of Table 3's S1-S4 stems (2x2/2, 4x4/4, 8x8/8, 16x16/16)."""
    return (k - 1) // 2 if k % 2 else 0


def conv_stem(kernels: Sequence[int], strides: Sequence[int], channels: Sequence[int],
              paddings: Optional[Sequence[int]] = None) -> Callable[..., nn.Module]:
    """Factory for a :class:`ConvStem` (a stem is data: kernels / strides / channels lists; the last
    channel count must equal the model's embed_dim)."""

    def make(img_size: int = 224, in_chans: int = 3, embed_dim: int = 768) -> nn.Module:
        if channels[-1] != embed_dim:
            raise ValueError(f"conv_stem: last channel count {channels[-1]} != embed_dim {embed_dim}")
        return ConvStem(img_size, in_chans, kernels, strides, channels, paddings)

    make.patch_size = int(np.prod(strides))
    make.spec = {"kernels": list(kernels), "strides": list(strides), "channels": list(channels)}
    return make


def _init_linear_like_conv(stem: nn.Module) -> None:
    """MAE: initialise the patchify conv like a linear layer (xavier-uniform on D x (C p p))."""
    proj = getattr(stem, "proj", None)
    if isinstance(proj, nn.Conv2d):
        w = proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        if proj.bias is not None:
            nn.init.zeros_(proj.bias)


def init_vit_weights(m: nn.Module) -> None:
    """Linear: xavier-uniform, bias 0; LayerNorm: weight 1, bias 0 (official MAE init)."""
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        if m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------
class VisionTransformer(nn.Module):
    """ViT: stem -> (+pos) -> [cls] + tokens -> pre-norm blocks -> norm -> pool -> head."""

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 num_classes: int = 1000, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_path_rate: float = 0.0,
                 global_pool: bool = False, pos_embed: str = "sincos",
                 stem: Optional[Callable[..., nn.Module]] = None, head_init_std: float = 2e-5,
                 norm_layer: Callable[..., nn.Module] = LayerNorm6, init: str = "mae"):
        super().__init__()
        if init not in ("mae", "pycls"):
            raise ValueError(f"VisionTransformer: init must be 'mae' or 'pycls', got {init!r}")
        self.init_scheme = init
        self.num_classes = num_classes
        self.embed_dim = self.num_features = embed_dim
        self.depth = depth
        self.global_pool = global_pool
        self.img_size = img_size
        stem = stem or patchify_stem(patch_size)
        self.patch_embed = stem(img_size=img_size, in_chans=in_chans, embed_dim=embed_dim)
        self.patch_size = getattr(stem, "patch_size", patch_size)
        self.grid_size: Tuple[int, int] = tuple(self.patch_embed.grid_size)
        num_patches = self.patch_embed.num_patches
        self.num_patches = num_patches

        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        assert pos_embed in ("sincos", "learn", "sincos_learn"), pos_embed
        self.pos_embed_type = pos_embed
        # a Parameter even when frozen: official layout, and part of the counted parameters
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim),
                                      requires_grad=(pos_embed in ("learn", "sincos_learn")))
        dpr = [drop_path_rate * i / max(1, depth - 1) for i in range(depth)]   # = torch.linspace, meta-safe
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias=qkv_bias, drop_path=dpr[i],
                  norm_layer=norm_layer) for i in range(depth)])
        if global_pool:          # official models_vit: fc_norm replaces the final norm
            self.norm = nn.Identity()
            self.fc_norm = norm_layer(embed_dim)
        else:
            self.norm = norm_layer(embed_dim)
            self.fc_norm = nn.Identity()
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._head_init_std = head_init_std
        self.init_weights()

    # ---------------------------------------------------------------- init
    def init_weights(self) -> None:
        if self.pos_embed.device.type == "meta":
            return
        if self.init_scheme == "pycls":
            init_vit_pycls(self)
            return
        if self.pos_embed_type in ("sincos", "sincos_learn"):
            pe = get_2d_sincos_pos_embed(self.embed_dim, self.grid_size, cls_token=True)
            self.pos_embed.data.copy_(torch.from_numpy(pe).float().unsqueeze(0))
        else:
            trunc_normal_(self.pos_embed, std=0.02)
        _init_linear_like_conv(self.patch_embed)
        nn.init.normal_(self.cls_token, std=0.02)
        self.apply(init_vit_weights)
        if isinstance(getattr(self, "head", None), nn.Linear):
            trunc_normal_(self.head.weight, std=self._head_init_std)
            nn.init.zeros_(self.head.bias)

    def no_weight_decay(self) -> set:
        return {"pos_embed", "cls_token"}

    # ---------------------------------------------------------------- forward
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Stem + position embedding of the patch tokens (no cls): (N, L, D)."""
        return self.patch_embed(x) + self.pos_embed[:, 1:, :]

    def add_cls(self, x: torch.Tensor) -> torch.Tensor:
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1)

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """All tokens after the last block and final norm: (N, L+1, D)."""
        return self.run_blocks(self.add_cls(self.embed(x)))

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.global_pool:
            return self.fc_norm(tokens[:, 1:, :].mean(dim=1))
        return tokens[:, 0]

    def forward_head(self, tokens: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        f = self.pool(tokens)
        return f if pre_logits else self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def init_vit_pycls(model: "VisionTransformer") -> None:
    """pycls ``init_weights_vit`` (paper 09's recipe; spec "Faithful implementation"): patchify conv
    trunc-normal std sqrt(1/fan_in), bias 0; conv-stem convs N(0, sqrt(2/fan_out)) with
    fan_out = k*k*C_out (pycls's conv init), last conv's bias 0; BN/LN weight 1, bias 0; MLP linears
    xavier-uniform with biases N(0, 1e-6); attention linears xavier-uniform, biases 0; learned
    position embedding N(0, 0.02); cls token 0; classifier weight and bias 0."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            if isinstance(model.patch_embed, ConvStem):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, std=math.sqrt(2.0 / fan_out))
            else:
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                trunc_normal_(m.weight, std=math.sqrt(1.0 / fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                if ".mlp." in f".{name}.":
                    nn.init.normal_(m.bias, std=1e-6)
                else:
                    nn.init.zeros_(m.bias)
    nn.init.normal_(model.pos_embed, std=0.02)
    nn.init.zeros_(model.cls_token)
    if isinstance(model.head, nn.Linear):
        nn.init.zeros_(model.head.weight)
        nn.init.zeros_(model.head.bias)


def vit_layer_id(name: str, num_layers: int) -> int:
    """Layer id for layer-wise lr decay (spec / official util/lr_decay.py):
    cls_token, pos_embed, patch_embed (stem) -> 0; blocks.i -> i+1; everything else
    (final norm, fc_norm, head) -> num_layers (= depth + 1)."""
    if name in ("cls_token", "pos_embed", "mask_token") or name.startswith("patch_embed"):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return num_layers


# --------------------------------------------------------------------------------------------
# builders. Parameter counts (classifier form, 1000 classes) reproduce the spec exactly:
# the spec counts timm's ViT with a *learned* position embedding; ours stores the fixed sin-cos
# table as a frozen nn.Parameter of the same shape (1, L+1, D), so summing numel() over
# parameters() counts it too and gives the same number.  Global pool swaps the final `norm` for
# an `fc_norm` of the same size, so both heads give the same count. E.g. ViT-B/16:
#   patch 768*3*16*16+768 = 590,592; cls 768; pos 197*768 = 151,296;
#   12 blocks x 7,087,872 = 85,054,464; norm 1,536; head 768*1000+1000 = 769,000 -> 86,567,656.
# --------------------------------------------------------------------------------------------
def _vit(img_size, patch_size, embed_dim, depth, num_heads, **kw):
    kw.setdefault("num_classes", 1000)
    return VisionTransformer(img_size=img_size, patch_size=patch_size, embed_dim=embed_dim,
                             depth=depth, num_heads=num_heads, **kw)


_SRC = "MAE spec (timm ViT classifier form: qkv bias, cls token, learned-size pos-embed, 1000-class head)"


@register_model("vit_b16", meta={"params": 86_567_656, "num_classes": 1000, "input_size": (3, 224, 224),
                                 "family": "vit", "paper": {"params_m": 86}, "source": _SRC})
def vit_b16(img_size: int = 224, **kw) -> VisionTransformer:
    return _vit(img_size, 16, 768, 12, 12, **kw)


@register_model("vit_l16", meta={"params": 304_326_632, "num_classes": 1000, "input_size": (3, 224, 224),
                                 "family": "vit", "paper": {"params_m": 304}, "source": _SRC})
def vit_l16(img_size: int = 224, **kw) -> VisionTransformer:
    return _vit(img_size, 16, 1024, 24, 16, **kw)


@register_model("vit_h14", meta={"params": 632_045_800, "num_classes": 1000, "input_size": (3, 224, 224),
                                 "family": "vit", "paper": {"params_m": 632}, "source": _SRC})
def vit_h14(img_size: int = 224, **kw) -> VisionTransformer:
    return _vit(img_size, 14, 1280, 32, 16, **kw)


@register_model("vit_tiny_p4_32", meta={"num_classes": 10, "input_size": (3, 32, 32), "family": "vit",
                                        "source": "MAE spec tiny CPU model: 32 px, patch 4, 128-d x 6 x 4 heads"})
def vit_tiny_p4_32(img_size: int = 32, **kw) -> VisionTransformer:
    kw.setdefault("num_classes", 10)
    return _vit(img_size, 4, 128, 6, 4, **kw)


@register_model("vit_t_p4_32", meta={"num_classes": 10, "input_size": (3, 32, 32), "family": "vit",
                                     "source": "ViT-T (192-d x 12 x 3 heads), patch 4 at 32 px (gpu profile)"})
def vit_t_p4_32(img_size: int = 32, **kw) -> VisionTransformer:
    kw.setdefault("num_classes", 10)
    return _vit(img_size, 4, 192, 12, 3, **kw)


@register_model("vit_s_p4_32", meta={"num_classes": 10, "input_size": (3, 32, 32), "family": "vit",
                                     "source": "ViT-S (384-d x 12 x 6 heads), patch 4 at 32 px"})
def vit_s_p4_32(img_size: int = 32, **kw) -> VisionTransformer:
    kw.setdefault("num_classes", 10)
    return _vit(img_size, 4, 384, 12, 6, **kw)


# --------------------------------------------------------------------------------------------
# 09 "Early Convolutions Help Transformers See Better": ViT_P (patchify stem) and ViT_C (conv stem,
# one block fewer), learned position embeddings, zero-initialised head, pycls init. A model is data:
# (hidden, heads, MLP dim, ViT_P blocks) per flop regime + the ViT_C stem lists (spec's tables).
# Exact anchors (224 px, 1000 classes; pycls's counting with the attention matmuls, see
# paperlib.metrics.complexity): the spec's "Verification anchors", checked by tests/test_vit_early_convs.py.
# --------------------------------------------------------------------------------------------
EC_SIZES = {   # regime: (hidden D, heads, MLP dim, ViT_P blocks); ViT_C has one block fewer
    "1gf": (192, 3, 576, 12), "4gf": (384, 6, 1152, 12), "18gf": (768, 12, 3072, 12), "36gf": (1024, 16, 4096, 14),
}
EC_C_STEMS = {  # regime: (kernels, strides, channels) of the official ViT_C configs
    "1gf": ([3, 3, 3, 3, 1], [2, 2, 2, 2, 1], [24, 48, 96, 192, 192]),
    "4gf": ([3, 3, 3, 3, 1], [2, 2, 2, 2, 1], [48, 96, 192, 384, 384]),
    "18gf": ([3, 3, 3, 3, 3, 3, 1], [2, 2, 1, 2, 1, 2, 1], [64, 128, 128, 256, 256, 512, 768]),
    "36gf": ([3, 3, 3, 3, 3, 3, 1], [2, 2, 1, 2, 1, 2, 1], [64, 128, 128, 256, 256, 512, 1024]),
}
#: Table 3's stems at 4GF width (D = 384): kernels, strides, channels (paddings by :func:`stem_padding`)
EC_TABLE3_STEMS = {
    "C": ([3, 3, 3, 3, 1], [2, 2, 2, 2, 1], [48, 96, 192, 384, 384]),
    "S1": ([3, 3, 3, 2, 1], [2, 2, 2, 2, 1], [42, 104, 208, 416, 384]),
    "S2": ([3, 3, 3, 4, 1], [2, 2, 1, 4, 1], [32, 64, 128, 256, 384]),
    "S3": ([3, 3, 3, 8, 1], [2, 1, 1, 8, 1], [17, 34, 68, 136, 384]),
    "S4": ([3, 3, 3, 16, 1], [1, 1, 1, 16, 1], [8, 16, 32, 64, 384]),
}
#: the CPU pair (spec "Tiny pair"): 32 px, 10 classes, D 96, MLP 288, 3 heads
EC_TINY = {"hidden": 96, "heads": 3, "mlp": 288, "p_blocks": 6, "patch": 4,
           "c_stem": ([3, 3, 3, 3, 1], [2, 1, 2, 1, 1], [32, 32, 64, 64, 96])}
# exact counts (MACs, params, acts) under pycls's convention; (flops G, params M, acts M) as Table 1 prints
_EC_ANCHORS = {
    "vit_p_1gf": ((1_083_059_944, 4_830_376, 5_520_748), (1.1, 4.8, 5.5)),
    "vit_p_4gf": ((3_909_048_808, 18_507_112, 11_040_496), (3.9, 18.5, 11.1)),
    "vit_p_18gf": ((17_580_319_720, 86_567_656, 23_895_544), (17.5, 86.7, 24.0)),
    "vit_p_36gf": ((35_997_187_048, 178_364_392, 37_136_840), (35.9, 178.4, 37.3)),
    "vit_c_1gf": ((1_079_227_240, 4_567_936, 5_628_385), (1.1, 4.6, 5.7)),
    "vit_c_4gf": ((3_965_674_216, 17_754_136, 11_255_770), (4.0, 17.8, 11.3)),
    "vit_c_18gf": ((17_726_621_416, 81_573_160, 24_024_268), (17.7, 81.6, 24.1)),
    "vit_c_36gf": ((35_025_829_864, 167_796_008, 36_606_008), (35.0, 167.8, 36.7)),
    "vit_p_tiny": ((41_411_146, 572_074, 419_164), None),
    "vit_c_tiny": ((40_777_354, 546_058, 374_905), None),
}
_EC_SRC = ("Xiao et al. 2021, Table 1 (paper numbers); exact counts: docs/papers/09_vit_early_convs.md "
           "(pycls convention incl. attention matmuls)")


def _ec_meta(name: str, size: int, classes: int) -> dict:
    (f, p, a), paper = _EC_ANCHORS[name]
    m = {"flops": f, "params": p, "acts": a, "num_classes": classes, "input_size": (3, size, size),
         "family": "vit_early_convs", "source": _EC_SRC}
    if paper:
        m["paper"] = {"gflops": paper[0], "params_m": paper[1], "acts_m": paper[2]}
    return m


def vit_early_convs(stem: str, hidden: int, heads: int, mlp: int, depth: int, *, img_size: int = 224,
                    num_classes: int = 1000, patch: int = 16, c_stem=None, **kw) -> VisionTransformer:
    """ViT_P (``stem="patchify"``, p x p / p conv) or ViT_C (``stem="conv"``: ``c_stem`` =
    (kernels, strides, channels)) with this paper's recipe: learned pos-embed, cls token, qkv bias,
    pycls init (zero head). ``depth`` is the number of transformer blocks as given."""
    if stem == "patchify":
        factory = patchify_stem(patch)
    elif stem == "conv":
        factory = conv_stem(*c_stem)
    else:
        raise ValueError(f"vit_early_convs: stem must be 'patchify' or 'conv', got {stem!r}")
    kw.setdefault("pos_embed", "learn")
    kw.setdefault("init", "pycls")
    return VisionTransformer(img_size=img_size, num_classes=num_classes, embed_dim=hidden, depth=depth,
                             num_heads=heads, mlp_ratio=mlp / hidden, qkv_bias=True, stem=factory, **kw)


def _register_ec(kind: str, regime: str) -> None:
    name = f"vit_{kind}_{regime}"

    def build(img_size: int = 224, num_classes: int = 1000, **kw) -> VisionTransformer:
        d, h, mlp, blocks = EC_SIZES[regime]
        if kind == "p":
            return vit_early_convs("patchify", d, h, mlp, blocks, img_size=img_size, num_classes=num_classes, **kw)
        return vit_early_convs("conv", d, h, mlp, blocks - 1, img_size=img_size, num_classes=num_classes,
                               c_stem=EC_C_STEMS[regime], **kw)

    build.__name__ = build.__qualname__ = name
    globals()[name] = register_model(name, meta=_ec_meta(name, 224, 1000))(build)


for _kind in ("p", "c"):
    for _regime in EC_SIZES:
        _register_ec(_kind, _regime)


@register_model("vit_p_tiny", meta=_ec_meta("vit_p_tiny", 32, 10))
def vit_p_tiny(img_size: int = 32, num_classes: int = 10, **kw) -> VisionTransformer:
    t = EC_TINY
    return vit_early_convs("patchify", t["hidden"], t["heads"], t["mlp"], t["p_blocks"], img_size=img_size,
                           num_classes=num_classes, patch=t["patch"], **kw)


@register_model("vit_c_tiny", meta=_ec_meta("vit_c_tiny", 32, 10))
def vit_c_tiny(img_size: int = 32, num_classes: int = 10, **kw) -> VisionTransformer:
    t = EC_TINY
    return vit_early_convs("conv", t["hidden"], t["heads"], t["mlp"], t["p_blocks"] - 1, img_size=img_size,
                           num_classes=num_classes, c_stem=t["c_stem"], **kw)
