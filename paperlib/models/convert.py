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
           "to_torchvision_state_dict", "load_torchvision_state_dict", "state_dict_layout",
           "read_state_dict", "load_backbone_weights"]

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


# ----------------------------------------------------------------------------- backbone weights
def _unwrap(obj):
    """A bare state dict from a checkpoint: {"state_dict": ...}, {"model": ...} and a DDP
    ``module.`` prefix are accepted."""
    for k in ("state_dict", "model"):
        if isinstance(obj, Mapping) and k in obj and isinstance(obj[k], Mapping):
            obj = obj[k]
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError("not a state dict (expected a mapping of parameter names to tensors)")
    if all(k.startswith("module.") for k in obj):
        obj = OrderedDict((k[len("module."):], v) for k, v in obj.items())
    return obj


def state_dict_layout(sd: Mapping[str, torch.Tensor]) -> str:
    """"torchvision" (conv1 / bn1 / layer*, also timm's ResNets) or "paperlib" (stem / s* / head)."""
    keys = list(sd)
    if any(k.startswith("layer1.") for k in keys) or "conv1.weight" in sd:
        return "torchvision"
    if any(k.startswith("stem.") for k in keys) or any(_OURS_RE.match(k) for k in keys):
        return "paperlib"
    raise ValueError(f"unrecognised state-dict layout (first keys {keys[:3]}); expected a torchvision "
                     "ResNet (conv1, bn1, layer1..4, fc) or a paperlib AnyNet (stem, s1..s4, head)")


def read_state_dict(path) -> "OrderedDict[str, torch.Tensor]":
    """Read a backbone state dict file and return it in paperlib's layout (converted from
    torchvision's when needed, see :func:`state_dict_layout`)."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    sd = _unwrap(obj)
    if state_dict_layout(sd) == "torchvision":
        sd = from_torchvision_state_dict(sd)
    return OrderedDict(sd)


def load_backbone_weights(model: torch.nn.Module, weights) -> torch.nn.Module:
    """Load pre-trained backbone weights into an AnyNet (before any norm conversion): ``weights`` is a
    path to a torchvision-layout ResNet state dict (e.g. torchvision's ``resnet50-0676ba61.pth``) or a
    paperlib AnyNet state dict (layout detected), or such a state dict itself. The classifier head
    (``fc`` / ``head.*``) is ignored; every other tensor must match the model's, both ways."""
    if isinstance(weights, Mapping):
        sd = _unwrap(weights)
        if state_dict_layout(sd) == "torchvision":
            sd = from_torchvision_state_dict(sd)
    else:
        sd = read_state_dict(weights)
    sd = OrderedDict((k, v) for k, v in sd.items() if not k.startswith("head."))
    own = {k for k in model.state_dict() if not k.startswith("head.")}
    missing, unexpected = sorted(own - set(sd)), sorted(set(sd) - own)
    if missing or unexpected:
        raise ValueError(f"backbone weights do not match the model: {len(missing)} missing (e.g. {missing[:3]}), "
                         f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
    shapes = model.state_dict()
    bad = [k for k, v in sd.items() if tuple(v.shape) != tuple(shapes[k].shape)]
    if bad:
        raise ValueError(f"backbone weights: shape mismatch for {len(bad)} tensor(s), e.g. {bad[0]}: "
                         f"{tuple(sd[bad[0]].shape)} in the file vs {tuple(shapes[bad[0]].shape)} in the model")
    model.load_state_dict(sd, strict=False)
    return model
