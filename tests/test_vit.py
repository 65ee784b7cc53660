"""ViT (paperlib.models.vit): sin-cos table, exact parameter counts, pluggable stem, layer ids."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from paperlib.models import create_model, get_model_meta
from paperlib.models.vit import (VisionTransformer, get_1d_sincos_pos_embed, get_2d_sincos_pos_embed,
                                 vit_layer_id)

pytestmark = pytest.mark.usefixtures("one_thread")   # small models: one torch thread



def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_sincos_table_shape_cls_row_and_column_first():
    D, G = 64, 14
    t = get_2d_sincos_pos_embed(D, G, cls_token=True)
    assert t.shape == (G * G + 1, D)
    assert np.all(t[0] == 0)
    # spec: omega_i = 10000^(-2i/E), emb = [sin(x w), cos(x w)]
    E = D // 2
    w = 10000.0 ** (-2 * np.arange(E // 2) / E)
    for r, c in [(0, 0), (0, 5), (3, 0), (7, 11)]:
        row = t[1 + r * G + c]
        np.testing.assert_allclose(row[:E], np.concatenate([np.sin(c * w), np.cos(c * w)]), atol=1e-12)
        np.testing.assert_allclose(row[E:], np.concatenate([np.sin(r * w), np.cos(r * w)]), atol=1e-12)
    np.testing.assert_allclose(get_1d_sincos_pos_embed(E, np.array([3.0]))[0],
                               np.concatenate([np.sin(3 * w), np.cos(3 * w)]))


@pytest.mark.parametrize("name,expected", [("vit_b16", 86_567_656), ("vit_l16", 304_326_632),
                                           ("vit_h14", 632_045_800)])
def test_exact_param_counts_meta(name, expected):
    assert get_model_meta(name)["params"] == expected
    with torch.device("meta"):
        cls_head = create_model(name)
        gap_head = create_model(name, global_pool=True)
    assert n_params(cls_head) == expected
    assert n_params(gap_head) == expected           # fc_norm replaces the final norm
    # the frozen sin-cos table is a Parameter (counted like timm's learned pos-embed), not trained
    assert not cls_head.pos_embed.requires_grad
    assert n_params(cls_head) - sum(p.numel() for p in cls_head.parameters() if p.requires_grad) \
        == cls_head.pos_embed.numel()


def test_tiny_forward_pools_and_init():
    torch.manual_seed(0)
    m = create_model("vit_tiny_p4_32", num_classes=10)
    assert (m.embed_dim, m.depth, m.num_patches, len(m.blocks[0].attn.qkv.weight)) == (128, 6, 64, 384)
    assert m.blocks[0].norm1.eps == 1e-6 and m.norm.eps == 1e-6
    x = torch.randn(2, 3, 32, 32)
    assert m(x).shape == (2, 10)
    assert m.forward_features(x).shape == (2, 65, 128)
    g = create_model("vit_tiny_p4_32", num_classes=10, global_pool=True)
    assert isinstance(g.norm, nn.Identity) and isinstance(g.fc_norm, nn.LayerNorm)
    assert g(x).shape == (2, 10)
    t = torch.from_numpy(get_2d_sincos_pos_embed(128, 8, cls_token=True)).float()
    assert torch.equal(m.pos_embed[0], t)
    l = create_model("vit_tiny_p4_32", pos_embed="learn")
    assert l.pos_embed.requires_grad


def test_pluggable_stem():
    class TwoConvStem(nn.Module):       # stand-in for the conv stem of paper 09
        def __init__(self, img_size, in_chans, embed_dim):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(in_chans, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, embed_dim, 2, 2))
            self.grid_size = (img_size // 4, img_size // 4)
            self.num_patches = self.grid_size[0] * self.grid_size[1]

        def forward(self, x):
            return self.body(x).flatten(2).transpose(1, 2)

    def stem(img_size, in_chans, embed_dim):
        return TwoConvStem(img_size, in_chans, embed_dim)

    m = VisionTransformer(img_size=32, embed_dim=64, depth=2, num_heads=2, num_classes=5, stem=stem)
    assert m.num_patches == 64 and m.pos_embed.shape == (1, 65, 64)
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 5)


def test_layer_ids():
    L = 13   # ViT-B: depth 12 + 1
    assert vit_layer_id("cls_token", L) == 0 and vit_layer_id("pos_embed", L) == 0
    assert vit_layer_id("patch_embed.proj.weight", L) == 0
    assert vit_layer_id("blocks.0.attn.qkv.weight", L) == 1
    assert vit_layer_id("blocks.11.mlp.fc2.bias", L) == 12
    assert vit_layer_id("fc_norm.weight", L) == 13 and vit_layer_id("head.weight", L) == 13


def test_pos_embed_modes_sincos_frozen_sincos_learn_and_learn():
    table = torch.from_numpy(get_2d_sincos_pos_embed(32, 4, cls_token=True)).float()
    kw = dict(img_size=16, patch_size=4, num_classes=3, embed_dim=32, depth=2, num_heads=2)
    torch.manual_seed(0)
    fixed, start, learn = (VisionTransformer(pos_embed=p, **kw) for p in ("sincos", "sincos_learn", "learn"))
    assert not fixed.pos_embed.requires_grad and torch.allclose(fixed.pos_embed[0], table)
    assert start.pos_embed.requires_grad and torch.allclose(start.pos_embed[0], table)   # FT: trainable from sin-cos
    assert learn.pos_embed.requires_grad and not torch.allclose(learn.pos_embed[0], table)
    assert 0 < learn.pos_embed.std() < 0.05                                              # timm: trunc-normal 0.02
    assert "pos_embed" in start.no_weight_decay() and vit_layer_id("pos_embed", 3) == 0
    with pytest.raises(AssertionError):
        VisionTransformer(pos_embed="fixed", **kw)
