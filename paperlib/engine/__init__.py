"""paperlib.engine: one training loop for every paper.

    from paperlib.engine import TrainConfig, train
    hist = train(model, train_loader, TrainConfig(epochs=10, lr=0.1), device="cuda", val_loader=val)

Optimizer and schedule builders (SGD / AdamW / LARS, no weight decay on norms and biases, warmup +
cosine / step / constant per iteration), mixed precision on CUDA, gradient clipping, a NaN guard,
atomic resumable checkpoints, DistributedDataParallel under torchrun, seeded loaders, progress, and an
EMA of the weights (cfg.ema_decay; the returned history's ``.ema``).
"""
from .checkpoint import load_checkpoint, save_atomic
from .config import TrainConfig
from .data import ShardSampler, make_loader, seed_everything, seed_worker
from .distributed import init_distributed, is_distributed_env, is_main_process, shutdown_distributed
from .loop import (TrainHistory, classification_step, evaluate_classification, resolve_device, to_device,
                   train)
from .optim import LARS, build_optimizer, param_groups_weight_decay
from .progress import is_headless, progress_mode
from . import recipe  # the classification recipe (mixup/CutMix, RandAugment, label smoothing, ...) via timm
from .schedule import IterScheduler, build_scheduler, lr_at

__all__ = [
    "TrainConfig", "TrainHistory", "train", "build_optimizer", "build_scheduler", "seed_everything", "make_loader",
    "seed_worker", "ShardSampler", "lr_at", "IterScheduler", "LARS", "param_groups_weight_decay",
    "classification_step", "evaluate_classification", "resolve_device", "to_device",
    "save_atomic", "load_checkpoint", "init_distributed", "is_distributed_env", "is_main_process", "shutdown_distributed",
    "is_headless", "progress_mode",
]
