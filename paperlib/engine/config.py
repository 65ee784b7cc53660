"""TrainConfig: every knob of the shared training loop, as one dataclass."""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Optional, Sequence, Union


@dataclass
class TrainConfig:
    # length
    epochs: int = 1
    max_steps: Optional[int] = None          # stop after N optimizer steps in total (ci); the lr
                                             # schedule still spans `epochs` (truncation, not rescale)
    batch_size: int = 128                    # informational (the loader decides)
    # optimizer
    optimizer: str = "sgd"                   # "sgd" | "adamw" | "lars"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    wd_on_norm_bias: bool = False            # False: no decay on 1-D params (norm weights, biases)
    betas: Sequence[float] = (0.9, 0.999)
    eps: float = 1e-8
    # schedule (per iteration, from the fractional epoch)
    schedule: str = "cosine"                 # "cosine" | "step" | "constant"
    warmup_epochs: float = 0.0
    warmup_start_factor: float = 0.0         # lr at t=0 as a fraction of lr
    milestones: list = field(default_factory=list)   # epochs, for "step"
    gamma: float = 0.1
    min_lr: float = 0.0
    # step
    clip_grad: Optional[float] = None
    amp: Union[bool, str] = "auto"           # "auto" (CUDA only: bf16 if supported else fp16), True,
                                             # False, "bf16", "fp16"
    grad_accum: int = 1
    sync_bn: bool = False                    # convert BatchNorm to SyncBatchNorm under DDP
    ema_decay: float = 0.0                   # > 0: keep an EMA of the weights (parameters and buffers),
                                             # updated after every optimizer step with this constant
                                             # decay (timm ModelEmaV3, no warm-up); 0 = off
    find_unused_parameters: bool = False     # passed to DistributedDataParallel
    # bookkeeping
    log_every: int = 50
    eval_every_epochs: int = 1
    ckpt_every_epochs: int = 1
    ckpt_every_steps: Optional[int] = None   # also checkpoint mid-epoch every N optimizer steps
    seed: int = 0
    channels_last: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(d["betas"])
        return d

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adamw", "lars"):
            raise ValueError(f"TrainConfig.optimizer must be 'sgd', 'adamw' or 'lars', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ValueError(f"TrainConfig.schedule must be 'cosine', 'step' or 'constant', got {self.schedule!r}")
        if self.grad_accum < 1:
            raise ValueError("TrainConfig.grad_accum must be >= 1")
        if self.epochs < 0:
            raise ValueError("TrainConfig.epochs must be >= 0")
        if self.amp not in (True, False, "auto", "bf16", "fp16"):
            raise ValueError(f"TrainConfig.amp must be True, False, 'auto', 'bf16' or 'fp16', got {self.amp!r}")
        if not 0.0 <= float(self.ema_decay) < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1) (0 = off), got {self.ema_decay!r}")
        self.milestones = list(self.milestones)
