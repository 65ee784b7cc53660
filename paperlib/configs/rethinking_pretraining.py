"""05 Rethinking ImageNet Pre-training (He, Girshick, Dollar; ICCV 2019); docs/papers/05_rethinking_pretraining.md.

Plain data (no torch). Schedules are "k x" of a base of ``base_iters`` optimizer steps (the paper's
1x = 90k at batch 16); lr drops at T - floor(2B/3) and T - floor(2B/9).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

SLUG = "05_rethinking_pretraining"
TITLE = "Rethinking ImageNet Pre-training (He, Girshick, Dollar; ICCV 2019)"

NORMS = ("gn", "bn", "syncbn", "frozen_bn")


@dataclass
class Config:
    # detection data
    dataset: str = "scenes"             # "scenes" (synthetic, COCO layout) | "coco" (data_root: train2017/val2017)
    image_size: int = 64
    n_train: int = 120                  # scenes generated for training (120 / batch 4 = 30 steps per epoch)
    n_val: int = 64
    max_objects: int = 3                # default: 1-3 medium objects (a pilot: 80 scenes of 1-4 small/medium
                                        # objects at B = 60 left both inits at 2-3 AP; see the docs)
    clutter: int = 0                    # background clutter shapes per scene (02 FPN's scenes: 12)
    crowd_prob: float = 0.0
    bucket_probs: list[float] = field(default_factory=lambda: [0.0, 1.0, 0.0])   # small / medium / large
    data_seed: int = 0
    max_train_images: Optional[int] = None   # subset of the training images (None = all)
    max_val_images: Optional[int] = None
    hflip: bool = True                  # the paper's main runs: flip only
    min_size: Optional[int] = None      # detector resize (None = image_size); COCO 800 / 1333
    max_size: Optional[int] = None
    # detector: Faster R-CNN (mask=False) / Mask R-CNN, FPN, GN everywhere, 4conv1fc box head
    backbone: str = "tiny"              # "tiny" | "small" | an AnyNet registry name ("resnet50")
    mask: bool = False
    fpn_channels: int = 32
    anchor_scale: int = 2               # anchor side = anchor_scale x stride (paper 8: 32..512; 96 px: 8..128)
    representation_size: int = 128     # fc of the 4conv1fc head (paper 1024)
    rpn_post_nms_train: int = 200
    rpn_post_nms_test: int = 100
    box_batch_size_per_image: int = 64   # paper 512
    freeze_at: int = 2                  # pre-trained arm: stem + res2 frozen (detectron2's GN 3x configs); scratch: 0
    # optimisation (SGD momentum 0.9; weight decay 0 on norm parameters and biases)
    batch_size: int = 4
    lr: float = 0.02                    # the paper's 0.02 @ 16 images; not scaled down (see the notes)
    weight_decay: float = 1e-4
    warmup_iters: int = 20
    base_iters: int = 90                # B (1x); paper 90k. Drops at T - 60, T - 20: branch points 30, 120, 300
    schedules: list[float] = field(default_factory=lambda: [1.0, 2.0, 4.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    clip_grad: Optional[float] = 10.0   # a guard for the short CPU runs (the paper: none)
    # normalisation study (from scratch, at norm_schedule x, first seed): GN from the main runs vs these
    norm_study: list[str] = field(default_factory=lambda: ["bn", "frozen_bn"])
    norm_schedule: float = 2.0
    # "ImageNet" stand-in: the same GN trunk pre-trained on synthetic classification
    pretrain_weights: Optional[str] = None   # a paperlib-layout state dict of the GN trunk (under data_root)
    pretrain_classes: int = 16
    pretrain_image_size: int = 64
    pretrain_n_train: int = 1600
    pretrain_n_val: int = 160
    pretrain_iters: int = 400
    pretrain_batch_size: int = 32
    pretrain_lr: float = 0.1
    # data-size study (C5, gpu/paper): fractions of the training images, longest schedule, both inits
    data_fractions: list[float] = field(default_factory=list)
    # regulariser study (C6, gpu/paper): on c6_fraction of the training images, the pre-trained detector at
    # the default lr vs at an lr re-tuned over c6_lrs (+ lr) on c6_tune_images held out of the training
    # images (never the test split), vs scratch at the default lr; c6_schedule x, every seed. None: not run
    c6_fraction: Optional[float] = None
    c6_tune_images: int = 0
    c6_lrs: list[float] = field(default_factory=list)
    c6_schedule: float = 2.0
    # evaluation and bookkeeping
    eval_every_epochs: int = 1
    eval_batch_size: int = 8
    n_boot: int = 200
    min_effect: float = 1.0             # AP points: the stated minimum effect of a trained contrast
    threads: int = 1
    num_workers: int = 0
    log_every: int = 50
    progress: Optional[bool] = None

    def __post_init__(self):
        def need(name, ok, rng):
            if not ok:
                raise ValueError(f"{name} = {getattr(self, name)!r}: expected {rng}")

        need("dataset", self.dataset in ("scenes", "coco"), "'scenes' or 'coco'")
        for name in ("image_size", "n_train", "n_val", "max_objects", "batch_size", "fpn_channels",
                     "representation_size", "pretrain_classes", "pretrain_image_size", "pretrain_n_train",
                     "pretrain_n_val", "pretrain_batch_size", "eval_batch_size", "n_boot", "eval_every_epochs",
                     "anchor_scale", "rpn_post_nms_train", "rpn_post_nms_test", "box_batch_size_per_image"):
            need(name, isinstance(getattr(self, name), int) and getattr(self, name) >= 1, "an integer >= 1")
        need("base_iters", self.base_iters >= 9, "an integer >= 9 (drops at floor(2B/3) and floor(2B/9))")
        need("warmup_iters", 0 <= self.warmup_iters, "an integer >= 0")
        need("pretrain_iters", self.pretrain_iters >= 0, "an integer >= 0 (0: no pre-training arm)")
        need("freeze_at", self.freeze_at in (0, 1, 2), "0 (nothing), 1 (stem) or 2 (stem + res2)")
        need("lr", self.lr > 0, "a positive float")
        need("pretrain_lr", self.pretrain_lr > 0, "a positive float")
        need("weight_decay", self.weight_decay >= 0, "a float >= 0")
        need("min_effect", self.min_effect >= 0, "a float >= 0 (AP points)")
        need("schedules", bool(self.schedules) and all(k > 2 / 3 for k in self.schedules)
             and len(set(self.schedules)) == len(self.schedules), "distinct k > 2/3 (at least one)")
        need("seeds", bool(self.seeds) and len(set(self.seeds)) == len(self.seeds), "distinct integers")
        need("norm_study", all(n in ("bn", "syncbn", "frozen_bn") for n in self.norm_study),
             "a list of 'bn', 'syncbn', 'frozen_bn' (GN comes from the main runs)")
        need("norm_schedule", self.norm_schedule in self.schedules, f"one of schedules {self.schedules}")
        need("data_fractions", all(0 < f <= 1 for f in self.data_fractions), "fractions in (0, 1]")
        need("c6_fraction", self.c6_fraction is None or 0 < self.c6_fraction <= 1, "None (C6 not run) or in (0, 1]")
        need("c6_lrs", all(lr > 0 for lr in self.c6_lrs), "positive learning rates (the default lr is always tried)")
        need("c6_schedule", self.c6_schedule > 2 / 3, "k > 2/3")
        need("c6_tune_images", isinstance(self.c6_tune_images, int) and (
            self.c6_tune_images == 0 if self.c6_fraction is None else
            1 <= self.c6_tune_images and (self.dataset != "scenes" or self.c6_tune_images < self.n_train)),
            f"0 without c6_fraction, else an integer >= 1 (scenes: < n_train = {self.n_train}) of training images "
            "held out for the re-tuning")
        need("threads", self.threads >= 0, "an integer >= 0 (0 = torch's default)")


PROFILES = {
    "ci": dict(image_size=64, n_train=6, n_val=8, max_objects=3, bucket_probs=[0.3, 0.7, 0.0], batch_size=2,
               base_iters=9, warmup_iters=3,
               schedules=[1.0, 2.0], norm_schedule=2.0, representation_size=64, fpn_channels=16,
               pretrain_iters=10, pretrain_n_train=64, pretrain_n_val=32, pretrain_batch_size=16,
               pretrain_image_size=32, n_boot=20),
    "default": dict(),
    "gpu": dict(image_size=320, lr=0.01, clip_grad=None, n_train=4000, n_val=500, max_objects=10,
                bucket_probs=[0.3, 0.7, 0.0], backbone="small", fpn_channels=128,
                anchor_scale=4, representation_size=1024, rpn_post_nms_train=1000, rpn_post_nms_test=1000,
                box_batch_size_per_image=256, batch_size=8, warmup_iters=500, base_iters=3000,
                schedules=[1.0, 2.0, 3.0, 4.0, 6.0], seeds=[0, 1, 2], mask=True, pretrain_n_train=50000,
                pretrain_n_val=2000, pretrain_image_size=128, pretrain_classes=32, pretrain_iters=20000,
                pretrain_batch_size=128, data_fractions=[1.0, 0.3, 0.1, 0.03], eval_every_epochs=5,
                c6_fraction=0.1, c6_tune_images=400, c6_lrs=[0.005, 0.02, 0.04], c6_schedule=2.0,
                num_workers=4, threads=0, n_boot=500),
    "paper": dict(dataset="coco", backbone="resnet50", mask=True, fpn_channels=256, anchor_scale=8,
                  representation_size=1024, rpn_post_nms_train=2000, rpn_post_nms_test=1000,
                  box_batch_size_per_image=512, min_size=800, max_size=1333, batch_size=2, lr=0.02, clip_grad=None,
                  warmup_iters=1000, base_iters=90000, schedules=[2.0, 3.0, 4.0, 5.0, 6.0], seeds=[0],
                  norm_study=[], norm_schedule=2.0, pretrain_weights="R-50-GN.pth", pretrain_iters=0,
                  eval_every_epochs=1, num_workers=4, threads=0, n_boot=200,
                  c6_fraction=0.03, c6_tune_images=5000, c6_lrs=[0.01, 0.04], c6_schedule=1.0),
}

TIMEOUT = {"ci": 300, "default": 900, "gpu": 12 * 3600, "paper": None}
