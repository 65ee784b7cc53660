"""Optimizer builders: SGD / AdamW / LARS with no weight decay on norms and biases."""
from __future__ import annotations


import torch
from torch import nn


class LARS(torch.optim.Optimizer):
    """LARS (You et al. 2017) as used for MAE linear probing: SGD with momentum where each
    parameter's update is scaled by the trust ratio ||w|| / ||g + wd w||. Parameters of a group
    with `lars_exclude=True` (or 1-D parameters by default) skip weight decay and adaptation."""

    def __init__(self, params, lr=0.1, momentum=0.9, weight_decay=0.0, trust_coefficient=0.001):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                        trust_coefficient=trust_coefficient, lars_exclude=None)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                dp = p.grad
                exclude = g["lars_exclude"] if g["lars_exclude"] is not None else p.ndim <= 1
                if not exclude:
                    dp = dp.add(p, alpha=g["weight_decay"])
                    pn, un = torch.norm(p), torch.norm(dp)
                    one = torch.ones_like(pn)
                    q = torch.where(pn > 0.0, torch.where(un > 0, g["trust_coefficient"] * pn / un, one), one)
                    dp = dp.mul(q)
                st = self.state[p]
                if "mu" not in st:
                    st["mu"] = torch.zeros_like(p)
                mu = st["mu"]
                mu.mul_(g["momentum"]).add_(dp)
                p.add_(mu, alpha=-g["lr"])
        return loss


def _no_wd_names(model: nn.Module) -> set:
    """Names the model asks to exclude from weight decay (timm convention: model.no_weight_decay())."""
    fn = getattr(model, "no_weight_decay", None)
    if callable(fn):
        try:
            return set(fn())
        except Exception:
            return set()
    return set()


def param_groups_weight_decay(model: nn.Module, weight_decay: float, wd_on_norm_bias: bool = False):
    """Two groups: decayed (>= 2-D weights) and not decayed (1-D params: norm weights, biases,
    plus names from model.no_weight_decay()). With wd_on_norm_bias=True a single decayed group."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if wd_on_norm_bias:
        return [{"params": [p for _, p in params], "weight_decay": weight_decay, "name": "all"}]
    skip = _no_wd_names(model)
    decay, no_decay = [], []
    for n, p in params:
        if p.ndim <= 1 or n in skip or n.endswith(".bias") or any(n == s or n.endswith("." + s) for s in skip):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay, "name": "decay"})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0, "name": "no_decay"})
    return groups


def build_optimizer(model_or_params, cfg, param_groups=None) -> torch.optim.Optimizer:
    """Optimizer from `cfg` (sgd | adamw | lars).

    model_or_params: an nn.Module (groups built with no weight decay on norms/biases unless
    cfg.wd_on_norm_bias) or an iterable of parameters / group dicts.
    param_groups: custom groups (list of dicts with "params"; optional "weight_decay", "lr",
    "lr_scale"); used as given (no further splitting). Each group gets "base_lr" (its own "lr"
    or cfg.lr) and "lr_scale" (default 1.0): the scheduler sets lr = schedule(base_lr) * lr_scale.
    """
    if param_groups is not None:
        groups = [dict(g) for g in param_groups]
    elif isinstance(model_or_params, nn.Module):
        groups = param_groups_weight_decay(model_or_params, cfg.weight_decay, cfg.wd_on_norm_bias)
    else:
        items = list(model_or_params)
        if items and isinstance(items[0], dict):
            groups = [dict(g) for g in items]
        else:
            groups = [{"params": items}]
    for g in groups:
        g["params"] = list(g["params"])
        g.setdefault("weight_decay", cfg.weight_decay)
        g.setdefault("lr_scale", 1.0)
        g["base_lr"] = float(g.get("lr", cfg.lr))
        g["lr"] = g["base_lr"] * g["lr_scale"]
    groups = [g for g in groups if g["params"]]
    name = cfg.optimizer.lower()
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                 weight_decay=cfg.weight_decay)
    if name == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose sgd, adamw or lars")
