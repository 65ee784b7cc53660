"""10 MAE: Masked Autoencoders Are Scalable Vision Learners (spec: papers/mae.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

SLUG = "10_mae"
TITLE = "Masked Autoencoders Are Scalable Vision Learners (He et al.; CVPR 2022)"


@dataclass
class Config:
    # data ("synthetic" = embedded procedural 10-class ImageFolder; cifar10 / cifar100 /
    # tiny-imagenet / imagenet from data_root)
    dataset: str = "synthetic"
    image_size: int = 32
    num_classes: int = 10
    n_train: int = 5000
    n_val: int = 1000
    data_seed: int = 0
    n_pretrain: int = 3000              # training images used for pre-training (0 = all)
    n_lp_train: int = 1000              # training images whose frozen features train the probe (0 = all)
    num_workers: int = 0
    # model: the spec's tiny CPU MAE (32 px, patch 4, 128-d x 6 x 4 heads; decoder 64-d x 2)
    model: str = "mae_vit_tiny_p4_32_dec64d2b"
    decoder_dim: int = 64
    decoder_depth: int = 2
    norm_pix_loss: bool = False         # Table 1 default target: unnormalised pixels
    mask_ratio: float = 0.75
    # pre-training (Table 8 recipe; lr = base_lr * effective batch / 256)
    epochs: int = 2
    batch_size: int = 128
    grad_accum: int = 1
    base_lr: float = 3e-3               # paper 1.5e-4 at batch 4096 x 800 ep; short CPU runs need more
    warmup_epochs: float = 0.5
    weight_decay: float = 0.05
    max_steps: Optional[int] = None     # ci: a handful of optimizer steps
    # experiments (each list entry = one extra pre-training arm, same budget)
    ratios: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 0.9])   # Fig 5
    sampling_arms: list[str] = field(default_factory=lambda: ["block", "grid"])   # Table 1f
    decoder_depth_arms: list[int] = field(default_factory=lambda: [1])            # Table 1a
    norm_pix_arm: bool = True                                                      # Table 1d
    mask_token_arm: bool = False        # Table 1c accuracy (w/ [M] costs ~3x per step)
    schedule_epochs: list[int] = field(default_factory=list)                       # Fig 7 (extra arms)
    # linear probe (cached frozen cls features; BN(affine=False) -> Linear)
    lp_epochs: int = 40
    lp_batch_size: int = 256
    lp_optimizer: str = "adamw"         # paper: "lars" (base lr 0.1, 90 epochs, batch 16384)
    lp_lr: float = 2e-3
    lp_warmup_epochs: float = 2
    # fine-tuning (Table 9; 0 epochs = skipped) and partial fine-tuning (Fig 9)
    ft_epochs: int = 0
    ft_base_lr: float = 1e-3
    ft_warmup_epochs: float = 1
    layer_decay: float = 0.75
    ft_drop_path: float = 0.1
    partial_ft_blocks: list[int] = field(default_factory=lambda: [1])   # Fig 9 / C6 (cheap: 1 block)
    partial_ft_epochs: int = 1
    # Table 2 timing (same process, interleaved reps)
    timing_model: str = ""              # "" = `model`
    timing_img_size: int = 0            # 0 = image_size
    timing_batch: int = 64
    timing_reps: int = 7
    # reconstructions (Figs 2-4)
    recon_ratios: list[float] = field(default_factory=lambda: [0.75, 0.85, 0.95])
    n_recon: int = 4
    # bookkeeping
    eval_batch_size: int = 500
    threads: Optional[int] = 1          # torch.set_num_threads (None = leave as is); 1 is robust on a
                                        # shared 2-core machine (2 threads + other load thrash)
    log_every: int = 50
    progress: Optional[bool] = None
    n_boot: int = 1000
    seeds: list[int] = field(default_factory=lambda: [0])


PROFILES = {
    "ci": dict(n_train=256, n_val=128, n_pretrain=0, n_lp_train=0, batch_size=64, epochs=1, max_steps=4,
               ratios=[0.5, 0.75], sampling_arms=["grid"], decoder_depth_arms=[], norm_pix_arm=True,
               lp_epochs=1, partial_ft_epochs=1, timing_batch=8, timing_reps=3, recon_ratios=[0.75, 0.9], n_recon=2,
               eval_batch_size=128, n_boot=200),
    "default": dict(),
    "gpu": dict(dataset="cifar10", n_pretrain=0, n_lp_train=0, threads=None, model="mae_vit_t_p4_32_dec128d4b", decoder_dim=128,
                decoder_depth=4, epochs=200, batch_size=256, base_lr=1.5e-4 * 16, warmup_epochs=10,
                ratios=[0.1, 0.25, 0.5, 0.75, 0.9], sampling_arms=["block", "grid"],
                decoder_depth_arms=[1, 2, 8], mask_token_arm=True, schedule_epochs=[50, 100],
                lp_epochs=90, lp_batch_size=1024, lp_warmup_epochs=10, lp_lr=1e-3,
                ft_epochs=50, ft_warmup_epochs=5, partial_ft_blocks=[0, 1, 2, 4], partial_ft_epochs=50,
                timing_model="mae_vit_large_patch16_dec512d8b", timing_img_size=224, timing_batch=32,
                num_workers=8, log_every=100, progress=False),
    "paper": dict(dataset="imagenet", image_size=224, n_pretrain=0, n_lp_train=0, threads=None, model="mae_vit_large_patch16_dec512d8b",
                  decoder_dim=512, decoder_depth=8, epochs=800, batch_size=64, grad_accum=8,  # x 8 GPUs = 4096
                  base_lr=1.5e-4, warmup_epochs=40, ratios=[0.75], sampling_arms=[], decoder_depth_arms=[],
                  norm_pix_arm=False, lp_epochs=90, lp_batch_size=16384, lp_optimizer="lars",
                  lp_warmup_epochs=10, ft_epochs=50, ft_warmup_epochs=5, ft_drop_path=0.1,
                  partial_ft_blocks=[1], partial_ft_epochs=50,
                  timing_batch=64, num_workers=10, eval_batch_size=256, progress=False),
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 900, "gpu": 12 * 3600, "paper": None}
