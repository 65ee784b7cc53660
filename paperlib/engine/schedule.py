"""Per-iteration learning-rate schedules: linear warmup, then cosine / step / constant.

The lr is a pure function of the fractional epoch t = global_step / steps_per_epoch:

    warmup (t < W):  lr(t) = base * (s + (1 - s) * t / W)              s = warmup_start_factor
    cosine (t >= W): lr(t) = min_lr + (base - min_lr) * 0.5 * (1 + cos(pi * (t - W) / (E - W)))
    step:            lr(t) = base * gamma ** (number of milestones m with t >= m)
    constant:        lr(t) = base

E = cfg.epochs. Each param group gets lr(t; base=group["base_lr"]) * group["lr_scale"].

Detection recipes count optimizer steps ("30k iterations, lr x0.1 at 20k"): :func:`step_decay`
turns such a schedule (or its epoch form) into the engine's fractional-epoch fields above.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union


def lr_at(t: float, cfg, base_lr: float | None = None) -> float:
    """Learning rate at fractional epoch `t` (exact formula above)."""
    base = cfg.lr if base_lr is None else base_lr
    W = float(cfg.warmup_epochs)
    if W > 0 and t < W:
        s = float(cfg.warmup_start_factor)
        return base * (s + (1.0 - s) * t / W)
    if cfg.schedule == "constant":
        return base
    if cfg.schedule == "step":
        k = sum(1 for m in cfg.milestones if t >= m)
        return base * cfg.gamma ** k
    # cosine
    E = float(cfg.epochs)
    span = E - W
    if span <= 0:
        return base
    p = min(max((t - W) / span, 0.0), 1.0)
    return cfg.min_lr + (base - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))


class IterScheduler:
    """Sets every group's lr at every iteration from the fractional epoch.

    `step(global_step)` sets the lr for the optimizer step about to be taken and returns the
    scheduled base lr (before lr_scale). Stateless apart from the last step, so resuming only
    needs the global step (state_dict kept for symmetry with torch schedulers).
    """

    def __init__(self, optimizer, cfg, steps_per_epoch: int):
        self.optimizer = optimizer
        self.cfg = cfg
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.last_step = -1
        for g in optimizer.param_groups:
            g.setdefault("base_lr", g["lr"])
            g.setdefault("lr_scale", 1.0)

    def lr_at_step(self, global_step: int, base_lr: float | None = None) -> float:
        return lr_at(global_step / self.steps_per_epoch, self.cfg, base_lr)

    def step(self, global_step: int) -> float:
        self.last_step = int(global_step)
        t = global_step / self.steps_per_epoch
        for g in self.optimizer.param_groups:
            g["lr"] = lr_at(t, self.cfg, g["base_lr"]) * g.get("lr_scale", 1.0)
        return lr_at(t, self.cfg)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_step": self.last_step, "steps_per_epoch": self.steps_per_epoch}

    def load_state_dict(self, state):
        self.last_step = state.get("last_step", -1)


def build_scheduler(optimizer, cfg, steps_per_epoch: int) -> IterScheduler:
    """Per-iteration scheduler for `optimizer` (call `.step(global_step)` before each update)."""
    return IterScheduler(optimizer, cfg, steps_per_epoch)


def step_decay(*, epochs: int, iters: Optional[int] = None, step_iters: Union[int, Sequence[int], None] = None,
               steps_per_epoch: Optional[int] = None, decay_at: float = 0.75, warmup_epochs: float = 0.0,
               warmup_start_factor: float = 0.001, max_steps: Optional[int] = None) -> dict:
    """The :class:`~paperlib.engine.TrainConfig` fields of a linear warm-up + step decay (x gamma per step).

    Epoch form (``iters`` None): ``epochs`` epochs, the lr drops at ``decay_at * epochs``; ``max_steps``
    (truncation) passes through. Iteration form: ``iters`` optimizer steps in total and the drop from
    step ``step_iters`` on (none if None; a list of steps, e.g. detectron2's [60000, 80000] of 90k, drops
    the lr at each: base, base x gamma, base x gamma^2), converted with ``steps_per_epoch`` (the loader's
    length on this rank): epochs = ceil(iters / steps_per_epoch), milestone = step / steps_per_epoch (so
    :func:`lr_at` switches exactly at that step), max_steps = iters (or the smaller ``max_steps``);
    ``epochs`` is then unused. The warm-up (in epochs) never exceeds the schedule:
    min(warmup_epochs, epochs). Returns {epochs, max_steps, schedule, milestones, warmup_epochs,
    warmup_start_factor}."""
    milestones = [decay_at * epochs]
    if iters is not None:
        if not steps_per_epoch:
            raise ValueError("an iteration schedule needs steps_per_epoch")
        epochs = math.ceil(iters / steps_per_epoch)
        steps = [step_iters] if isinstance(step_iters, int) else list(step_iters or [])
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"step_iters = {step_iters}: the lr steps must be strictly increasing")
        milestones = [s / steps_per_epoch for s in steps if s]
        max_steps = iters if max_steps is None else min(iters, max_steps)
    return dict(epochs=epochs, max_steps=max_steps, schedule="step", milestones=milestones,
                warmup_epochs=min(warmup_epochs, epochs), warmup_start_factor=warmup_start_factor)
