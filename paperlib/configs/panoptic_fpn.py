"""06 Panoptic Feature Pyramid Networks (paper notes: docs/papers/06_panoptic_fpn.md).

Profiles:
- ci:      the exact checks (semantic head structure and parameter count, shapes, target mapping, the
           golden merge, PQ); 4 synthetic 64 px panoptic images, tiny trunk, FPN 32, branch 16; a few joint
           iterations at lambda_s 0.5 -> merge -> PNG + JSON -> PQ (pipeline only).
- default: synthetic panoptic scenes at 96 px: ONE thing class (discs), 4 stuff, 1..4 objects of COCO's
           "medium" area range only (32^2..0.3 x 96^2 px before occlusion), no crowd regions; branch width and
           sum vs concat (semantic-only), joint training over lambda_s in {0, 0.5, 1} (AP, mIoU, PQ^Th), the
           merge-parameter study, joint vs two separate networks (PQ, MACs); 2 seeds; 500 iterations at batch
           4, lr 0.04 with a 50-iteration warm-up, RPN 100 / 100 proposals and 32 RoIs per image in training.
           Why (pilots, one seed, one joint network at lambda_s 0.5, 1 thread, CPU seconds; merge score 0.5):

           | run | scenes | iters | lr (warm-up it) | RoIs / RPN | AP | AP50 | PQ^Th | PQ^Th@.3 | PQ^St | mIoU | train s |
           |---|---|---|---|---|---|---|---|---|---|---|---|
           | A | 3 things, generator areas, crowds, <= 6 | 600 | 0.02 (10) | 64 / 200 | 1.3 | 6.0 | 0.0 | 1.8 | 70.6 | 79.1 | 146 |
           | B | same | 600 | 0.04 (50) | 64 / 200 | 1.6 | 7.0 | 0.0 | 0.9 | 73.6 | 80.6 | 140 |
           | C | same | 600 | 0.06 (50) | 64 / 200 | 1.7 | 7.2 | 0.0 | 2.3 | 71.7 | 79.6 | 141 |
           | F | 3 things, 30 % small / 70 % medium, <= 4 | 600 | 0.04 (50) | 32 / 100 | 3.0 | 11.7 | 0.0 | 3.3 | 70.0 | 79.2 | 107 |
           | D | 3 things, medium only, <= 4 | 600 | 0.04 (50) | 32 / 100 | 2.8 | 11.0 | 0.0 | 3.7 | 68.1 | 78.4 | 110 |
           | E | same as D | 600 | 0.04 (50) | 64 / 200 | 3.7 | 12.4 | 0.0 | 7.2 | 68.2 | 78.6 | 146 |
           | H | 2 things, medium only, <= 4 | 600 | 0.04 (50) | 32 / 100 | 11.2 | 31.9 | 13.9 | 19.8 | 67.1 | 78.2 | 103 |
           | J | same as H | 500 | 0.04 (50) | 32 / 100 | 8.5 | 25.4 | 7.0 | 16.0 | 65.0 | 77.5 | 78 |
           | G | 1 thing, medium only, <= 4 | 600 | 0.04 (50) | 32 / 100 | 30.9 | 71.4 | 53.8 | 52.6 | 65.2 | 79.4 | 101 |
           | K (chosen) | same as G | 500 | 0.04 (50) | 32 / 100 | 22.5 | 61.8 | 48.8 | 45.9 | 64.4 | 78.7 | 77 |
           | K, seed 1 | same as G | 500 | 0.04 (50) | 32 / 100 | 28.2 | 69.3 | 51.0 | 49.5 | 65.5 | 79.4 | 80 |
           | K, lambda_s 0 | same as G (detector alone) | 500 | 0.04 (50) | 32 / 100 | 31.3 | 69.6 | 55.0 | 51.7 | - | - | 71 |
           | I | same as G, batch 2 | 1000 | 0.02 (50) | 64 / 200 | 31.3 | 68.6 | 52.4 | 48.9 | 66.6 | 81.7 | 128 |

           (the previous plan, A's scenes at 250 iterations: mask AP ~1, PQ^Th 0). More iterations, a higher lr,
           larger objects or cheaper RoI sampling alone leave every score below the merge's 0.5 (PQ^Th 0, no
           instance in the examples): telling the shapes apart is what the tiny from-scratch network cannot
           learn in this budget; with one thing class the same network detects (K: 3.3 instances per val
           image kept at score 0.5). 32 RoIs / 100 proposals cut a joint iteration from ~0.24 to ~0.16 CPU s.
           Evaluation of a joint network on the 100 val images: ~3 CPU s. Seed noise is large (K: AP 22.5 vs
           28.2 over two seeds), so C2's AP parts may stay inconclusive. Expected default wall on 2 idle
           cores ~6.5 min: 6 joint x ~80 CPU s + 8 semantic-only x ~22 CPU s (0.04 s / iteration) over 2
           workers, plus ~40 s of data, process start-up, merge study and figures. The T3c/d designs (C4,
           ``variants``: alternating losses, grouped FPN) add 4 networks, ~+2 min: ~8.5 min in all (measured alone:
           434.5 s); the T3b network ("deeper", 2 seeds) ~+1.5 min more.
- gpu:     larger scenes (or a COCO panoptic subset from data_root), small/R-50 trunk with GN, longer runs.
- paper:   the dataset's published recipe (``published_recipe``: every recipe field left None is filled from
           DATASET_RECIPES[dataset]; an explicit override wins), R-50 FPN under torchrun.
           COCO panoptic 2017 from data_root: 1x = 90k iterations, batch 16 (2 per GPU x 8), lr 0.02 x0.1 at
           60k and 80k (detectron2), 1000 warm-up iterations, lambda_s 0.5 / lambda_i 1.0, min 800 / max 1333,
           one seed. Cityscapes (``overrides={"dataset": "cityscapes"}``, data_root = the user's Cityscapes after
           cityscapesScripts' createPanopticImgs): 65k iterations, batch 32 (4 per GPU x 8), lr 0.01 x0.1 at 40k
           and 55k, lambda_s 1.0 / lambda_i 0.5 (Table 3 = Table 2d's cell), 512 x 1024 crops after a random
           0.5-2.0x rescale, tested at the full 1024 x 2048, the branch on all 19 classes, 5 seeds and the
           median reported. Overriding ``iters`` alone keeps the recipe's lr steps at the same fractions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..config import COUNT, NONNEG, POSITIVE, PROB, SEEDS, STEPS, Range, check_ranges

SLUG = "06_panoptic_fpn"
TITLE = "Panoptic Feature Pyramid Networks (Kirillov, Girshick, He, Dollar; CVPR 2019)"


@dataclass
class Config:
    # ---- data: "scenes" = synthetic panoptic scenes; "coco" = COCO panoptic 2017 under data_root;
    # "cityscapes" = Cityscapes (gtFine) in cityscapesScripts' panoptic layout under data_root
    dataset: str = "scenes"
    # True (paper profile): recipe fields left None take DATASET_RECIPES[dataset]'s values (see the docstring)
    published_recipe: bool = False
    # the semantic branch's classes: "stuff_other" = other (every thing pixel) + the stuff classes (detectron2's
    # COCO head); "all" = every category, things included (Cityscapes: its 19-class mIoU needs them)
    sem_classes: Optional[str] = "stuff_other"
    # training on rescaled crops (None = off): a random rescale by a factor in scale_range, then a random
    # crop_size [h, w] window (smaller where the image is smaller, as detectron2's RandomCrop); the detector's
    # transform then leaves training images at their size, evaluation resizes to min_size / max_size
    crop_size: Optional[list[int]] = None
    scale_range: Optional[list[float]] = None
    image_size: int = 96
    n_train: int = 400
    n_val: int = 100
    num_things: int = 3
    num_stuff: int = 4
    max_objects: int = 6
    bucket_probs: list[float] = field(default_factory=lambda: [0.4, 0.25, 0.35])   # small / medium / large
    crowd_prob: float = 0.1
    data_seed: int = 0
    hflip: bool = True
    max_train_images: Optional[int] = None
    max_val_images: Optional[int] = None
    # ---- model (spec pitfall: sizes, anchors and Eq. 1's canonical size scaled with the image)
    backbone: str = "tiny"
    backbone_weights: Optional[str] = None
    norm: str = "gn"
    head_norm: Optional[str] = "gn"
    fpn_channels: int = 32
    sem_channels: int = 32              # the branch width at 1x of width_factors (= FPN width here; paper 128)
    representation_size: int = 128
    min_size: Optional[int] = 96
    max_size: Optional[int] = 96
    anchor_sizes: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 128])
    canonical_scale: int = 56          # 224 x (anchor scale 8 / 32)
    rpn_post_nms_top_n_test: int = 100
    rpn_pre_nms_top_n_train: int = 200   # CPU budget: torchvision's 2000 / 2000 / 512 at paper scale
    rpn_post_nms_top_n_train: int = 200
    box_batch_size_per_image: int = 64
    box_detections_per_img: int = 100
    box_score_thresh: float = 0.05      # the detector's own threshold (not the merge's)
    # ---- training (one recipe for every network; iterations equal for steps 1 and 2, so step 4 reuses them)
    iters: Optional[int] = 250
    batch_size: Optional[int] = 4
    lr: Optional[float] = 0.02
    # optimizer steps where the lr drops x0.1 (None = one drop at 75 % of iters; [] = none; detectron2: 60k and
    # 80k of 90k)
    lr_steps: Optional[list[int]] = None
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.1
    warmup_iters: Optional[int] = None  # the warm-up in optimizer steps (None = warmup_epochs; detectron2: 1000)
    clip_grad: Optional[float] = 10.0
    max_steps: Optional[int] = None
    log_every: int = 50
    num_workers: int = 0
    progress: Optional[bool] = None
    seeds: Optional[list[int]] = field(default_factory=lambda: [0, 1])
    # ---- studies
    width_factors: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])   # x sem_channels
    lambdas_s: Optional[list[float]] = field(default_factory=lambda: [0.0, 0.5, 1.0])
    lambda_i: Optional[float] = 1.0
    joint_lambda_s: Optional[float] = 0.5   # the joint model of step 4 (COCO's lambda_s)
    # T3c/d analogue (C4): the joint model's design alternatives, each trained at joint_lambda_s for every seed:
    # "alternate" = instance and semantic losses on alternate iterations, "grouped" = the FPN split into two
    # groups of fpn_channels / 2, one per task. Default profile: +4 networks, ~+2 min on 2 idle cores (pilot, 1
    # thread, 40 iterations at the default recipe, CPU s per iteration relative to a joint network: alternate
    # 0.98, grouped 0.49 -- the heads read half the channels); the paper profile leaves them out (2 x 90k its)
    variants: list[str] = field(default_factory=lambda: ["alternate", "grouped"])
    # merge (detectron2 defaults; the stuff limit as a fraction of the image area: 4096 / (800 x 1333))
    overlap_thr: float = 0.5
    score_thr: float = 0.5
    stuff_area_frac: Optional[float] = 0.004
    overlap_thrs: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    score_thrs: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    stuff_area_fracs: list[float] = field(default_factory=lambda: [0.0, 0.002, 0.004, 0.01])
    # ---- statistics: an effect counts as held only above max(2 x seed std, min_effect_pts) (points)
    min_effect_pts: float = 1.0
    # "A ~ B" is held only when |diff| + 2 x seed std stays inside this margin (points of mIoU / AP / PQ)
    equiv_margin_pts: float = 2.0
    n_boot: int = 500
    n_examples: int = 3
    threads: int = 1
    workers: int = 2                    # CPU: networks trained side by side in this many processes (1 thread each)
    # ---- T3b (C3's second part, issue 16): the joint network (lambda_s = joint_lambda_s) with a deeper trunk, at
    # about the compute of the separate pair; trained for every seed where ``variants`` lists "deeper" (gpu, paper).
    # The paper's R101 where the others use R50; at the CPU / gpu profiles the trunk's deeper sibling (stage 3
    # deepened until the body costs ~1.9x, R101 / R50's ratio: paperlib.models.detection.BACKBONES). MACs deeper
    # joint / separate pair (paperlib's counter, test-time RoI budgets): 0.996 (ci), 0.992 (default), 0.954 (gpu),
    # 0.847 (R101-FPN vs two R50-FPN at 800 x 1216) -- at the small profiles the RoI heads dominate (95 % of the
    # pair's MACs at default), so there every trunk is at "equal compute". Trained at default (variants), where its
    # cost was measured in a pilot (1 thread, 40 iterations at the default recipe, twice): 0.155 / 0.219 CPU s per
    # iteration vs 0.138 / 0.184 for the joint network (1.12-1.19x): 2 seeds x 500 iterations add ~180 CPU s,
    # ~90 s on 2 idle cores (the default run: ~7.2 min alone without it, so ~8.8 min with it)
    deeper_backbone: str = "tiny_deep"
    deeper_backbone_weights: Optional[str] = None    # like backbone_weights, for deeper_backbone (paper: R101's file)

    def __post_init__(self):
        if self.published_recipe:
            fill_recipe(self)
        check_ranges(self, RANGES)
        if len(self.anchor_sizes) != 5:
            raise ValueError(f"field anchor_sizes = {self.anchor_sizes}: expected 5 sizes (P2..P6)")
        if 1.0 not in self.width_factors:
            raise ValueError(f"field width_factors = {self.width_factors}: must contain 1.0 (the separate "
                             "semantic model of the joint-vs-separate comparison)")
        for name, need in (("lambdas_s", 0.0), ("lambdas_s", self.joint_lambda_s)):
            if need not in getattr(self, name):
                raise ValueError(f"field {name} = {getattr(self, name)}: must contain {need} (0 = the separate "
                                 "detector; joint_lambda_s = the joint model)")
        if len(self.bucket_probs) != 3 or sum(self.bucket_probs) <= 0:
            raise ValueError(f"field bucket_probs = {self.bucket_probs}: expected 3 weights >= 0 (small / medium / "
                             "large object areas) with a positive sum")
        if self.min_size > self.max_size:
            raise ValueError(f"field min_size = {self.min_size} exceeds max_size = {self.max_size}")
        if self.lr_steps and (any(b <= a for a, b in zip(self.lr_steps, self.lr_steps[1:]))
                              or self.lr_steps[-1] > self.iters):
            raise ValueError(f"field lr_steps = {self.lr_steps}: expected strictly increasing optimizer steps "
                             f"<= iters = {self.iters}")
        for name, n in (("crop_size", 2), ("scale_range", 2)):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise ValueError(f"field {name} = {v}: expected {n} numbers ([h, w] / [low, high]) or None")
        if self.scale_range is not None and self.scale_range[0] > self.scale_range[1]:
            raise ValueError(f"field scale_range = {self.scale_range}: low exceeds high")


#: the published recipe per dataset (paper profile, ``published_recipe``): the paper's and detectron2's values.
#: COCO: detectron2's panoptic_fpn_R_50_1x (Base-RCNN-FPN: 1000 warm-up iterations; 2 images per GPU x 8).
#: Cityscapes: the paper's section 4 (65k iterations, lr 0.01 x0.1 at 40k and 55k, 32 crops of 512 x 1024 =
#: 4 per GPU x 8, random scale 0.5-2.0, the median of 5 runs) and Table 3's weights (lambda_s 1.0 / lambda_i 0.5);
#: the warm-up (1000) is detectron2's default, not stated by the paper; stuff area limit: detectron2's 4096 px
#: at Cityscapes' full 1024 x 2048 (the paper does not give one for Cityscapes).
DATASET_RECIPES = {
    "coco": dict(iters=90000, lr=0.02, lr_steps=[60000, 80000], warmup_iters=1000, batch_size=2, lambda_i=1.0,
                 joint_lambda_s=0.5, lambdas_s=[0.0, 0.5], min_size=800, max_size=1333, crop_size=None,
                 scale_range=None, sem_classes="stuff_other", seeds=[0], stuff_area_frac=0.004),
    "cityscapes": dict(iters=65000, lr=0.01, lr_steps=[40000, 55000], warmup_iters=1000, batch_size=4,
                       lambda_i=0.5, joint_lambda_s=1.0, lambdas_s=[0.0, 1.0], min_size=1024, max_size=2048,
                       crop_size=[512, 1024], scale_range=[0.5, 2.0], sem_classes="all", seeds=[0, 1, 2, 3, 4],
                       stuff_area_frac=4096 / (1024 * 2048)),
}


def fill_recipe(cfg) -> None:
    """Fill every recipe field of ``cfg`` that is None from DATASET_RECIPES[cfg.dataset] (explicit values win).
    lr_steps left None with ``iters`` given: the recipe's steps at the same fractions of ``iters``."""
    if cfg.dataset not in DATASET_RECIPES:
        raise ValueError(f"field published_recipe = True needs dataset in {sorted(DATASET_RECIPES)}, got "
                         f"dataset = {cfg.dataset!r}")
    rec = DATASET_RECIPES[cfg.dataset]
    if cfg.lr_steps is None and cfg.iters is not None and cfg.iters != rec["iters"]:
        cfg.lr_steps = sorted({max(1, round(s * cfg.iters / rec["iters"])) for s in rec["lr_steps"]})
    for k, v in rec.items():
        if getattr(cfg, k) is None:
            setattr(cfg, k, list(v) if isinstance(v, list) else v)


RANGES = {
    "dataset": Range(choices=("scenes", "coco", "cityscapes")), "image_size": Range(lo=32),
    "sem_classes": Range(choices=("stuff_other", "all")), "crop_size": Range(lo=32, none="no crop"),
    "scale_range": Range(lo=0, lo_open=True, none="no rescale"), "lr_steps": Range(lo=1, none="one drop at 75 %"),
    "warmup_iters": Range(lo=1, none="warmup_epochs"), "n_train": COUNT, "n_val": COUNT,
    "num_things": Range(1, 250), "num_stuff": Range(1, 4), "max_objects": COUNT, "data_seed": NONNEG,
    "bucket_probs": Range(lo=0, nonempty=True), "crowd_prob": PROB,
    "max_train_images": Range(lo=1, none="all"), "max_val_images": Range(lo=1, none="all"),
    "norm": Range(choices=("bn", "frozen_bn", "syncbn", "gn")),
    "head_norm": Range(choices=("bn", "syncbn", "gn"), none="no norm"),
    "fpn_channels": COUNT, "sem_channels": COUNT, "representation_size": COUNT, "min_size": Range(lo=32),
    "max_size": Range(lo=32), "anchor_sizes": COUNT, "canonical_scale": COUNT, "rpn_post_nms_top_n_test": COUNT,
    "rpn_pre_nms_top_n_train": COUNT, "rpn_post_nms_top_n_train": COUNT, "box_batch_size_per_image": COUNT,
    "box_detections_per_img": COUNT, "box_score_thresh": PROB,
    "iters": COUNT, "batch_size": COUNT, "lr": POSITIVE, "weight_decay": NONNEG, "warmup_epochs": NONNEG,
    "clip_grad": Range(lo=0, lo_open=True, none="no clipping"), "max_steps": STEPS, "log_every": COUNT,
    "num_workers": NONNEG, "seeds": SEEDS, "width_factors": Range(lo=0, lo_open=True, nonempty=True),
    "lambdas_s": Range(lo=0, nonempty=True), "lambda_i": NONNEG, "joint_lambda_s": NONNEG,
    "variants": Range(choices=("alternate", "grouped", "deeper")),
    "overlap_thr": PROB, "score_thr": PROB, "stuff_area_frac": PROB,
    "overlap_thrs": Range(0, 1, nonempty=True), "score_thrs": Range(0, 1, nonempty=True),
    "stuff_area_fracs": Range(0, 1, nonempty=True), "min_effect_pts": NONNEG,
    "equiv_margin_pts": Range(lo=0, lo_open=True, why="points"),
    "n_boot": Range(lo=1, why="bootstrap resamples"), "n_examples": NONNEG, "threads": COUNT, "workers": COUNT,
    # T3b
    "deeper_backbone": Range(choices=("tiny_deep", "small_deep", "resnet101", "resnet152"),
                             why="the deeper trunk of variant 'deeper' (T3b)"),
}

PROFILES = {
    "ci": dict(image_size=64, n_train=4, n_val=4, max_objects=3, min_size=64, max_size=64, fpn_channels=32,
               sem_channels=16, representation_size=64, iters=5, batch_size=2, seeds=[0], width_factors=[1.0],
               lambdas_s=[0.0, 0.5], overlap_thrs=[0.5], score_thrs=[0.5], stuff_area_fracs=[0.0, 0.004],
               n_boot=50, n_examples=2, log_every=5, workers=1),
    # default: see the module docstring (pilot table); the Config defaults stay the generic 3-thing scenes
    "default": dict(num_things=1, max_objects=4, bucket_probs=[0.0, 1.0, 0.0], crowd_prob=0.0, iters=500, lr=0.04,
                    warmup_epochs=0.5, box_batch_size_per_image=32, rpn_pre_nms_top_n_train=100,
                    rpn_post_nms_top_n_train=100, variants=["alternate", "grouped", "deeper"]),
    "gpu": dict(image_size=256, n_train=6000, n_val=500, max_objects=12, min_size=256, max_size=256,
                backbone="small", fpn_channels=128, sem_channels=128, representation_size=512,
                anchor_sizes=[16, 32, 64, 128, 256], canonical_scale=112, rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=1000,
                box_batch_size_per_image=512, iters=15000, batch_size=8,
                lambdas_s=[0.0, 0.1, 0.25, 0.5, 0.75, 1.0], seeds=[0, 1, 2], threads=4, num_workers=4,
                variants=["alternate", "grouped", "deeper"], deeper_backbone="small_deep"),
    # paper: the dataset's published recipe (DATASET_RECIPES; None = filled from it, an override wins)
    "paper": dict(dataset="coco", published_recipe=True, backbone="resnet50", norm="frozen_bn", head_norm=None,
                  backbone_weights="resnet50-0676ba61.pth", fpn_channels=256, sem_channels=128,
                  representation_size=1024, anchor_sizes=[32, 64, 128, 256, 512],
                  canonical_scale=224, rpn_post_nms_top_n_test=1000, rpn_pre_nms_top_n_train=2000,
                  rpn_post_nms_top_n_train=1000, box_batch_size_per_image=512, clip_grad=None, width_factors=[1.0],
                  threads=4, num_workers=4, log_every=20,
                  # T3b: Panoptic R101-FPN (torchvision's ResNet101_Weights.IMAGENET1K_V1 file under data_root), one
                  # more network per seed; T3c/d's designs are left out (2 more networks per seed)
                  variants=["deeper"], deeper_backbone="resnet101", deeper_backbone_weights="resnet101-63fe2227.pth",
                  **{k: None for k in ("iters", "lr", "lr_steps", "warmup_iters", "batch_size", "lambda_i",
                                       "joint_lambda_s", "lambdas_s", "min_size", "max_size", "crop_size",
                                       "scale_range", "sem_classes", "seeds", "stuff_area_frac")}),
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 1800, "gpu": 12 * 3600, "paper": None}
