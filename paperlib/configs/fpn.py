"""02 FPN: Feature Pyramid Networks for Object Detection (paper notes: docs/papers/02_fpn.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..config import COUNT, NONNEG, POSITIVE, PROB, SEEDS, STEPS, Range, check_ranges

SLUG = "02_fpn"
TITLE = "Feature Pyramid Networks for Object Detection (Lin et al.; CVPR 2017)"

ALL_VARIANTS = ["c4", "c5", "fpn", "bottom_up", "no_lateral", "finest"]


@dataclass
class Config:
    # data: "scenes" = embedded synthetic COCO-format scenes; "coco" = COCO 2017 under data_root
    dataset: str = "scenes"
    image_size: int = 256               # synthetic scenes are square; also the detector input size
    n_train: int = 600
    n_val: int = 150
    max_objects: int = 10
    data_seed: int = 0
    max_train_images: Optional[int] = None   # subset of the training images (None = all)
    max_val_images: Optional[int] = None
    hflip: bool = True
    min_size: Optional[int] = None      # detector resize (None = image_size); COCO: 800 / 1333
    max_size: Optional[int] = None
    # model
    backbone: str = "tiny"              # "tiny" | "small" | an AnyNet registry name ("resnet50")
    norm: str = "bn"                    # "bn" | "frozen_bn" (needs backbone_weights) | "gn"
    # pre-trained backbone (spec: ImageNet-pre-trained, user-supplied): a state-dict file of a
    # torchvision ResNet (e.g. torchvision's resnet50-0676ba61.pth, converted by paperlib.models.convert)
    # or of a paperlib AnyNet -- layout detected; loaded before the norm conversion. A relative path is
    # looked up under data_root, then the working directory. None = random init (train from scratch).
    backbone_weights: Optional[str] = None
    fpn_channels: int = 32              # d (paper 256)
    anchor_scale: int = 4               # anchor side = anchor_scale x stride (paper 8: 32..512)
    representation_size: int = 256      # 2fc head width (paper 1024)
    rpn_pre_nms_train: int = 2000       # per level
    rpn_pre_nms_test: int = 1000        # per level
    rpn_post_nms_train: int = 200       # per image (paper 2000; scaled with the anchor count)
    box_batch_size_per_image: int = 64   # RoIs per image (paper 512)
    # experiments
    rpn_variants: list[str] = field(default_factory=lambda: list(ALL_VARIANTS))
    det_variants: list[str] = field(default_factory=lambda: ["c4", "fpn"])
    # Table 3: False (the paper's Table 3 = Table 5 "not shared"): per det variant, a Fast R-CNN trained
    # on the proposals of that variant's own RPN (the Table 1 RPN, reused; trained here if the variant is
    # not in rpn_variants). True: one jointly trained Faster R-CNN per variant, RPN and detector sharing
    # the backbone (the Table 5 "shared" analogue).
    shared_features: bool = False
    # Table 2: Fast R-CNN heads trained and tested on the fixed proposals of the FPN RPN (Table 1 c);
    # [] = skip (needs "fpn" in rpn_variants)
    fast_rcnn_variants: list[str] = field(default_factory=list)
    fast_rcnn_proposals_train: int = 200    # top-N FPN-RPN proposals per training image (paper 2000)
    fast_rcnn_proposals_test: int = 100     # per evaluation image (paper 1000)
    proposal_budgets: list[int] = field(default_factory=lambda: [10, 100])   # AR100 / AR1k analogues
    curve_budgets: list[int] = field(default_factory=lambda: [1, 3, 10, 30, 100])
    # training (same schedule for every variant)
    batch_size: int = 4
    rpn_epochs: int = 3
    det_epochs: int = 2
    fast_rcnn_epochs: int = 2
    max_steps: Optional[int] = None     # ci: a handful of steps
    # iteration schedules (the paper's recipe): <kind>_iters optimizer steps in total, lr x0.1 after
    # <kind>_step_iters; None = <kind>_epochs epochs with the lr drop at 75 % (kind: rpn, det, fast_rcnn)
    rpn_iters: Optional[int] = None
    rpn_step_iters: Optional[int] = None
    det_iters: Optional[int] = None
    det_step_iters: Optional[int] = None
    fast_rcnn_iters: Optional[int] = None
    fast_rcnn_step_iters: Optional[int] = None
    lr: float = 0.02
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.1
    clip_grad: Optional[float] = 10.0
    num_workers: int = 0
    threads: int = 0                    # torch CPU threads (0 = torch's default)
    eval_batch_size: int = 8
    log_every: int = 50
    progress: Optional[bool] = None
    # statistics / figures
    n_boot: int = 1000
    n_boot_ap: int = 200
    timing_repeats: int = 3             # interleaved inference timing (C4 claim)
    vis_score: float = 0.05             # detections drawn in the small-object figure: top 5 above this
    seeds: list[int] = field(default_factory=lambda: [0])
    # trained-contrast rule (paperlib.metrics.stats.decide_trained): the stated minimum effect in points of
    # AR / AP, and the name of the seed calibration (SEED_CALIBRATION below) that gives every trained
    # contrast its seed std; None = no calibration, so a one-seed trained contrast is inconclusive
    min_effect: float = 1.0
    seed_calibration: Optional[str] = None

    def __post_init__(self):
        check_ranges(self, RANGES)
        if self.seed_calibration is not None and self.seed_calibration not in SEED_CALIBRATION:
            raise ValueError(f"seed_calibration = {self.seed_calibration!r}: choose None or one of "
                             f"{sorted(SEED_CALIBRATION)} (configs/fpn.py SEED_CALIBRATION)")
        if self.norm not in ("bn", "frozen_bn", "gn"):
            raise ValueError(f"norm = {self.norm!r}: choose 'bn', 'frozen_bn' or 'gn'")
        if self.norm == "frozen_bn" and not self.backbone_weights:
            raise ValueError("norm='frozen_bn' needs backbone_weights (an ImageNet-pre-trained ResNet state dict): "
                             "FrozenBatchNorm on a randomly initialised backbone is no normalisation at all "
                             "(spec pitfall). Set backbone_weights, or norm='gn' / 'bn' to train from scratch")
        for name in ("rpn_variants", "det_variants", "fast_rcnn_variants"):
            vs = getattr(self, name)
            bad = [v for v in vs if v not in ALL_VARIANTS]
            if bad:
                raise ValueError(f"{name}: unknown variant(s) {bad}; choose from {ALL_VARIANTS}")
            if len(set(vs)) != len(vs):
                raise ValueError(f"{name}: repeated variant(s) in {vs}")
        if self.fast_rcnn_variants and "fpn" not in self.rpn_variants:
            raise ValueError("fast_rcnn_variants (Table 2) train on the FPN RPN's proposals: "
                             "rpn_variants must include 'fpn' (or set fast_rcnn_variants=[])")
        for name in ("fast_rcnn_proposals_train", "fast_rcnn_proposals_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: need an integer >= 1")
        for kind in ("rpn", "det", "fast_rcnn"):
            n, step = getattr(self, f"{kind}_iters"), getattr(self, f"{kind}_step_iters")
            if n is not None and n < 1:
                raise ValueError(f"{kind}_iters = {n}: need an integer >= 1 (or None for epochs)")
            if step is not None and (n is None or not 0 < step < n):
                raise ValueError(f"{kind}_step_iters = {step}: needs {kind}_iters and 0 < {kind}_step_iters "
                                 f"< {kind}_iters (got {kind}_iters = {n})")


_OPT_COUNT = Range(lo=1, none="all")
_SIZE = Range(lo=1, none="image_size")
# valid range of every numeric / list / choice field (checked when the Config is built)
RANGES = {
    "dataset": Range(choices=("scenes", "coco")),
    "image_size": Range(lo=32), "n_train": COUNT, "n_val": COUNT, "max_objects": COUNT, "data_seed": NONNEG,
    "max_train_images": _OPT_COUNT, "max_val_images": _OPT_COUNT, "min_size": _SIZE, "max_size": _SIZE,
    "fpn_channels": COUNT, "anchor_scale": COUNT, "representation_size": COUNT,
    "rpn_pre_nms_train": COUNT, "rpn_pre_nms_test": COUNT, "rpn_post_nms_train": COUNT,
    "box_batch_size_per_image": COUNT,
    "proposal_budgets": Range(lo=1, nonempty=True), "curve_budgets": Range(lo=1, nonempty=True),
    "batch_size": COUNT, "rpn_epochs": COUNT, "det_epochs": COUNT, "fast_rcnn_epochs": COUNT, "max_steps": STEPS,
    "lr": POSITIVE, "weight_decay": NONNEG, "warmup_epochs": NONNEG,
    "clip_grad": Range(lo=0, lo_open=True, none="no clipping"), "num_workers": NONNEG,
    "threads": Range(lo=1, zero="torch's default"), "eval_batch_size": COUNT, "log_every": COUNT,
    "n_boot": Range(lo=1, why="bootstrap resamples"), "n_boot_ap": Range(lo=1, why="bootstrap resamples"),
    "timing_repeats": COUNT, "vis_score": PROB, "seeds": SEEDS, "min_effect": NONNEG,
}


PROFILES = {
    "ci": dict(image_size=64, n_train=8, n_val=8, max_objects=4, rpn_variants=["c4", "fpn"],
               det_variants=["c4", "fpn"], fast_rcnn_variants=["c4", "fpn"], batch_size=2, max_steps=3,
               n_boot=100, n_boot_ap=20, timing_repeats=1,
               curve_budgets=[1, 10, 100], eval_batch_size=8, threads=1),
    # one thread: stable timings (C4) and no oversubscription when notebooks run side by side
    "default": dict(threads=1, seed_calibration="default"),
    # spec gpu: "Backbone ... else from scratch with GroupNorm": R-50 (AnyNet has no basic
    # block, so no R-18), GN, from scratch unless backbone_weights (+ norm="frozen_bn") is given
    "gpu": dict(image_size=512, n_train=6000, n_val=500, max_objects=20, backbone="resnet50", norm="gn",
                fpn_channels=128, anchor_scale=8, representation_size=1024, rpn_post_nms_train=2000,
                box_batch_size_per_image=512, proposal_budgets=[100, 1000],
                curve_budgets=[10, 30, 100, 300, 1000], det_variants=["c4", "c5", "fpn"],
                fast_rcnn_variants=list(ALL_VARIANTS), fast_rcnn_proposals_train=2000,
                fast_rcnn_proposals_test=1000, batch_size=8, rpn_epochs=12, det_epochs=12,
                fast_rcnn_epochs=12, num_workers=4, eval_batch_size=8),
    # 8 GPUs x 2 images = 16 per iteration (torchrun); the paper's schedules in iterations (spec
    # "Training"): RPN lr 0.02 for 30k then 0.002 for 10k; Fast R-CNN (Table 2) and the Faster R-CNNs
    # of Table 3 lr 0.02 for 60k then 0.002 for 20k; 512 RoIs / image; 2000 / 1000 proposals per
    # image at train / test time. rpn_epochs, det_epochs and fast_rcnn_epochs are unused here.
    # ImageNet-pre-trained R-50 (torchvision's IMAGENET1K_V1 file, put under data_root by the user;
    # checked before any training) with frozen BN; no gradient clipping (not in the recipe).
    "paper": dict(dataset="coco", backbone="resnet50", norm="frozen_bn",
                  backbone_weights="resnet50-0676ba61.pth", clip_grad=None, fpn_channels=256,
                  anchor_scale=8, representation_size=1024, min_size=800, max_size=1333,
                  rpn_post_nms_train=2000, box_batch_size_per_image=512,
                  proposal_budgets=[100, 1000], curve_budgets=[10, 30, 100, 300, 1000],
                  det_variants=["c4", "c5", "fpn"], fast_rcnn_variants=list(ALL_VARIANTS),
                  fast_rcnn_proposals_train=2000, fast_rcnn_proposals_test=1000,
                  batch_size=2, lr=0.02, rpn_iters=40000, rpn_step_iters=30000,
                  det_iters=80000, det_step_iters=60000, fast_rcnn_iters=80000, fast_rcnn_step_iters=60000,
                  warmup_epochs=0.01, num_workers=4, hflip=True),
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 1800, "gpu": 6 * 3600, "paper": None}


# Seed std of the trained contrasts at a profile that trains one seed, measured once with three training
# seeds and recorded with the command that measured it (stats.calibration_entry checks that seed_std is
# the std of per_seed). Keys: fpn.calibration_key(metric, a, b), contrasts in points. A contrast without
# an entry here has no seed std and is inconclusive (stats.decide_trained).
# measured 2026-12-06 on the shared 2-core CPU (torch 2.14.1) with rpn_epochs=1, a third of default's 3-epoch
# RPN schedule, for cost: a proxy for default's seed noise (re-measure at full default with the same script,
# without -o rpn_epochs=1). Per-variant AR of each seed: benchmarks/results/fpn_seed_calibration.json.
_CAL_CMD = ("for s in 0 1 2; do PYTHONPATH=$PWD .venv/bin/python benchmarks/calibrate_fpn_seeds.py --profile default "
            "-o rpn_epochs=1 --seeds $s --out /tmp/fpn_cal_$s.json & done; wait; "
            "PYTHONPATH=$PWD .venv/bin/python benchmarks/calibrate_fpn_seeds.py --merge /tmp/fpn_cal_0.json "
            "/tmp/fpn_cal_1.json /tmp/fpn_cal_2.json --out benchmarks/results/fpn_seed_calibration.json")
SEED_CALIBRATION: dict = {
    "default": {
        'AR@100: fpn - c4': {"seed_std": 1.191151, "per_seed": [-0.7643, -3.1465, -1.9745], "command": _CAL_CMD},
        'AR_s@100: fpn - c4': {"seed_std": 0.321274, "per_seed": [-0.1538, -0.7385, -0.6769], "command": _CAL_CMD},
        'AR@100: fpn - bottom_up': {"seed_std": 0.363515, "per_seed": [0.1783, -0.5478, -0.1529], "command": _CAL_CMD},
        'AR@100: fpn - no_lateral': {"seed_std": 0.809113, "per_seed": [0.5732, -0.8408, -0.8153], "command": _CAL_CMD},
        'AR@100: fpn - finest': {"seed_std": 1.771741, "per_seed": [6.1274, 2.6115, 4.7516], "command": _CAL_CMD},
    },
}
