"""State-dict conversion between torchvision's ResNet/ResNeXt and our AnyNet (pycls names).

Key mapping (torchvision -> ours); ``i`` = stage 1..4, ``j`` = block index (0-based in torchvision,
1-based in pycls naming); every BN carries weight, bias, running_mean, running_var,
num_batches_tracked::

    conv1.weight                      -> stem.conv.weight
    bn1.*                             -> stem.bn.*
    layer{i}.{j}.conv1.weight         -> s{i}.b{j+1}.f.a.weight      (1x1, w_in -> C*d)
    layer{i}.{j}.bn1.*                -> s{i}.b{j+1}.f.a_bn.*
    layer{i}.{j}.conv2.weight         -> s{i}.b{j+1}.f.b.weight      (3x3 grouped, stride here)
    layer{i}.{j}.bn2.*                -> s{i}.b{j+1}.f.b_bn.*
    layer{i}.{j}.conv3.weight         -> s{i}.b{j+1}.f.c.weight      (1x1, C*d -> w_out)
    layer{i}.{j}.bn3.*                -> s{i}.b{j+1}.f.c_bn.*
    layer{i}.{j}.downsample.0.weight  -> s{i}.b{j+1}.proj.weight     (projection shortcut)
    layer{i}.{j}.downsample.1.*       -> s{i}.b{j+1}.bn.*
    fc.weight / fc.bias               -> head.fc.weight / head.fc.bias

torchvision's ResNet v1.5 puts the stride on the 3x3 conv (``conv2``) like ours, so the mapping is
a pure renaming (no tensor changes).  timm's ``resnet*``/``resnext*`` use the same names as
torchvision (``conv1``, ``bn1``, ``layer*``, ``fc``), so the same mapping applies to them.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Mapping

import torch

__all__ = ["torchvision_key_to_ours", "ours_key_to_torchvision", "from_torchvision_state_dict",
           "to_torchvision_state_dict", "load_torchvision_state_dict"]

_BLOCK = {"conv1": "f.a", "bn1": "f.a_bn", "conv2": "f.b", "bn2": "f.b_bn", "conv3": "f.c",
          "bn3": "f.c_bn", "downsample.0": "proj", "downsample.1": "bn"}
_BLOCK_INV = {v: k for k, v in _BLOCK.items()}
_TV_RE = re.compile(r"^layer(\d+)\.(\d+)\.(conv[123]|bn[123]|downsample\.[01])\.(.+)$")
_OURS_RE = re.compile(r"^s(\d+)\.b(\d+)\.(f\.a_bn|f\.b_bn|f\.c_bn|f\.a|f\.b|f\.c|proj|bn)\.(.+)$")


def torchvision_key_to_ours(key: str) -> str:
    if key.startswith("conv1."):
        return "stem.conv." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "stem.bn." + key[len("bn1."):]
    if key.startswith("fc."):
        return "head.fc." + key[len("fc."):]
    m = _TV_RE.match(key)
    if not m:
        raise KeyError(f"no mapping for torchvision key {key!r}")
    stage, block, part, rest = m.groups()
    return f"s{stage}.b{int(block) + 1}.{_BLOCK[part]}.{rest}"


def ours_key_to_torchvision(key: str) -> str:
    for ours, tv in (("stem.conv.", "conv1."), ("stem.bn.", "bn1."), ("head.fc.", "fc.")):
        if key.startswith(ours):
            return tv + key[len(ours):]
    m = _OURS_RE.match(key)
    if not m:
        raise KeyError(f"no mapping for key {key!r}")
    stage, block, part, rest = m.groups()
    return f"layer{stage}.{int(block) - 1}.{_BLOCK_INV[part]}.{rest}"


def from_torchvision_state_dict(sd: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """torchvision (or timm) ResNet/ResNeXt state dict -> our AnyNet state dict (renaming only)."""
    return OrderedDict((torchvision_key_to_ours(k), v) for k, v in sd.items())


def to_torchvision_state_dict(sd: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((ours_key_to_torchvision(k), v) for k, v in sd.items())


def load_torchvision_state_dict(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], strict: bool = True):
    """Load a torchvision state dict into our model (strict: every key must match both ways)."""
    return model.load_state_dict(from_torchvision_state_dict(sd), strict=strict)
