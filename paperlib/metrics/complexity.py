"""Model complexity in pycls's conventions: ``{"flops", "params", "acts"}``.

Counting convention (pycls ``complexity()``; spec "Counting convention"):
- ``flops``: multiply-adds of every Conv2d / Linear, ``k*k*C_in*C_out*H_out*W_out / groups`` (+
  ``C_out*H_out*W_out`` bias adds, only for biased layers); nothing for BN, activations, pooling,
  residual adds, SE's scaling.  ("FLOPs" in these papers = MACs.)
- ``params``: every trainable parameter (BN gamma/beta included, BN running statistics excluded).
- ``acts``: output elements of every Conv2d / Linear, plus those of MaxPool2d (the ResNet stem pool);
  global/adaptive average pooling adds none.
- transformers (pycls ``MultiheadAttention.complexity``): each self-attention (timm ``Attention``) adds
  its two matmuls, QK^T and AV, ``2 * N^2 * D`` multiply-adds for N tokens and attention width D, and
  their outputs as acts: the ``heads * N^2`` attention maps plus the ``N * D`` attended values (the qkv
  and output projections are Linear layers, counted above); nothing for LayerNorm, GELU, softmax, adds.
- batch size 1; output size from the real forward (= floor((h - 1) / s) + 1 for pad = k // 2).

The forward runs on the ``meta`` device (shapes only, no arithmetic, no copy of the weights), so a
15-GMAC model is counted in milliseconds.  Modules that cannot run on ``meta`` fall back to a real CPU
forward with a batch of one.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
from timm.layers import Attention
from torch import nn

__all__ = ["complexity"]


def _count_hooks(stats: Dict[str, int]):
    def conv(m: nn.Conv2d, inp, out):
        n_out = out[0].numel()  # per sample (batch = 1)
        k = m.kernel_size[0] * m.kernel_size[1]
        stats["flops"] += k * (m.in_channels // m.groups) * n_out + (n_out if m.bias is not None else 0)
        stats["acts"] += n_out

    def linear(m: nn.Linear, inp, out):
        n_out = out[0].numel()
        rows = n_out // m.out_features  # > 1 when applied to tokens
        stats["flops"] += rows * (m.in_features * m.out_features + (m.out_features if m.bias is not None else 0))
        stats["acts"] += n_out

    def pool(m, inp, out):
        stats["acts"] += out[0].numel()

    def attention(m, inp, out):
        n = inp[0].shape[1]                     # tokens (batch = 1)
        d = m.num_heads * m.head_dim            # attention width
        stats["flops"] += 2 * n * n * d
        stats["acts"] += m.num_heads * n * n + n * d

    return {nn.Conv2d: conv, nn.Linear: linear, nn.MaxPool2d: pool, Attention: attention}


def _run(model: nn.Module, x: torch.Tensor, meta: bool) -> Dict[str, int]:
    stats = {"flops": 0, "acts": 0}
    table = _count_hooks(stats)
    handles = []
    for m in model.modules():
        for cls, fn in table.items():
            if isinstance(m, cls):
                handles.append(m.register_forward_hook(fn))
                break
    try:
        with torch.no_grad():
            if meta:
                state = {k: torch.empty_like(v, device="meta")
                         for k, v in list(model.named_parameters()) + list(model.named_buffers())}
                torch.func.functional_call(model, state, (x,), strict=False, tie_weights=True)
            else:
                model(x)
    finally:
        for h in handles:
            h.remove()
    return stats


def complexity(model: nn.Module, input_size: Sequence[int] = (3, 224, 224)) -> Dict[str, int]:
    """``{"flops": multiply-adds, "params": ..., "acts": ...}`` of ``model`` at ``input_size`` (C, H, W)."""
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        try:
            stats = _run(model, torch.empty((1, *input_size), device="meta"), meta=True)
        except (NotImplementedError, RuntimeError):
            if any(p.is_meta for p in model.parameters()):
                raise
            dev = next(model.parameters()).device
            stats = _run(model, torch.zeros((1, *input_size), device=dev), meta=False)
    finally:
        model.train(was_training)
    return {"flops": int(stats["flops"]), "params": int(params), "acts": int(stats["acts"])}
