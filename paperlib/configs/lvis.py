"""07 LVIS -- A Dataset for Large Vocabulary Instance Segmentation (Gupta, Dollar, Girshick; CVPR 2019).

Notes: docs/papers/07_lvis.md. Profiles:
- ci:      the golden federated case and the RFS anchors; a 50-category, 200-image long-tailed set in
           LVIS json; the CPU proxy detector trained a few iterations; every table and figure drawn.
- default: 200 shape x colour categories under a Zipf-like law, 2000 train / 300 val images at 96 px;
           the CPU proxy detector (jittered GT + background proposals -> RoIAlign 16x16 crops -> small
           CNN, K+1-way softmax); C1 federated vs naive vs oracle, the test-time threshold table, RFS
           over t in {0, 0.1, 1, 10} x t_syn and class-aware sampling with 2 seeds, evaluation-set size
           and |N_c| simulations.
- gpu:     torchvision Mask R-CNN (paperlib.models.detection.build_detector) on a larger synthetic set
           (or an LVIS subset from data_root), RFS t in {0, 1, 10} x t_syn and class-aware, 2 seeds.
- paper:   LVIS v1 json + COCO images from data_root, Mask R-CNN, RFS t = 0.001, 300 detections,
           score threshold 0.0001 (detectron2's recipe: batch_images 2 per GPU, 16 under an 8-GPU
           torchrun, which trains data-parallel).
"""
from __future__ import annotations

from dataclasses import dataclass, field

SLUG = "07_lvis"
TITLE = "LVIS: A Dataset for Large Vocabulary Instance Segmentation (Gupta, Dollár, Girshick; CVPR 2019)"

#: LVIS v0.5 training images (approximate; the spec marks it uncertain): scales t to the synthetic set
N_LVIS_TRAIN = 57_000


@dataclass
class Config:
    # ---- data
    dataset: str = "synthetic"            # synthetic | lvis (LVIS json + images under data_root)
    num_categories: int = 200
    n_train: int = 2000
    n_val: int = 300
    image_size: int = 96
    max_objects: int = 8
    zipf_exponent: float = 2.3            # P(category k) ~ (k + 1 + offset)^-exponent
    zipf_offset: float = 40.0
    p_unk: float = 0.2                    # a present category left unlabelled (unknown status)
    # p_ne and n_neg as in lvis-api's data/lvis_val_100.json (100 LVIS v0.5 val images: 3.0 labelled,
    # 9.4 verified-negative and 0.16 not-exhaustive categories per image), so that a category has about
    # three verified negative images per positive one and ~5% of labelled categories are not exhaustive
    p_ne: float = 0.05                    # a labelled category with instances dropped (not exhaustive)
    n_neg: int = 10                       # verified negative categories per image
    data_seed: int = 0
    # ---- detector
    detector: str = "proxy"               # proxy (CPU) | maskrcnn (torchvision Mask R-CNN)
    crop_size: int = 16                   # RoIAlign output side (proxy)
    width: int = 16                       # proxy CNN width
    jitter_train: int = 2                 # jittered GT proposals per instance (train)
    bg_train: int = 4                     # background proposals per image (train)
    jitter_eval: int = 2
    bg_eval: int = 6
    topk: int = 10                        # classes kept per proposal at test time
    iters: int = 400
    batch_images: int = 8
    lr: float = 0.05
    weight_decay: float = 1e-4
    backbone: str = "tiny"                # maskrcnn only
    min_size: int = 96                    # maskrcnn only
    max_dets: int = 300
    score_thresh: float = 0.0001
    # ---- studies
    rfs_multipliers: list[float] = field(default_factory=lambda: [0.0, 0.1, 1.0, 10.0])   # x t_syn
    rfs_t: float | None = None            # absolute t (paper: 0.001); None: 0.001 * N_LVIS / n_train
    class_aware: bool = True              # also train with class-aware sampling (the T-rfs table's last row)
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    thr_settings: list[list[float]] = field(default_factory=lambda: [[0.05, 100], [0.05, 300], [0.001, 300],
                                                                     [0.0, 300]])
    size_fractions: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])
    neg_counts: list[int] = field(default_factory=lambda: [2, 5, 12])
    n_resamples: int = 3
    n_boot: int = 1000
    min_effect: float = 0.005             # AP points (fraction) an effect must exceed to be "held"
    threads: int = 1

    def __post_init__(self):
        if self.dataset not in ("synthetic", "lvis"):
            raise ValueError(f"dataset = {self.dataset!r}: choose 'synthetic' or 'lvis'")
        if self.detector not in ("proxy", "maskrcnn"):
            raise ValueError(f"detector = {self.detector!r}: choose 'proxy' or 'maskrcnn'")
        if not 2 <= self.num_categories <= 250:
            raise ValueError(f"num_categories = {self.num_categories}: valid range [2, 250]")
        for name in ("n_train", "n_val", "iters", "batch_images", "topk", "crop_size", "width", "n_resamples",
                     "max_dets", "max_objects"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: need an integer >= 1")
        if self.image_size < 32:
            raise ValueError(f"image_size = {self.image_size}: valid range >= 32")
        for name in ("p_unk", "p_ne"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} = {getattr(self, name)}: valid range [0, 1]")
        if self.zipf_exponent < 0 or self.zipf_offset < 0:
            raise ValueError(f"zipf_exponent = {self.zipf_exponent}, zipf_offset = {self.zipf_offset}: need >= 0")
        if not self.rfs_multipliers or any(m < 0 for m in self.rfs_multipliers) or self.rfs_multipliers[0] != 0:
            raise ValueError(f"rfs_multipliers = {self.rfs_multipliers}: non-negative, the first 0 (uniform)")
        if not isinstance(self.class_aware, bool):
            raise ValueError(f"class_aware = {self.class_aware!r}: need true or false")
        if not self.seeds:
            raise ValueError("seeds: need at least one seed")
        if any(len(s) != 2 or not 0 <= s[0] <= 1 or s[1] < 1 for s in self.thr_settings):
            raise ValueError(f"thr_settings = {self.thr_settings}: pairs [score threshold in [0, 1], cap >= 1]")
        if any(not 0 < f <= 1 for f in self.size_fractions):
            raise ValueError(f"size_fractions = {self.size_fractions}: values in (0, 1]")
        if any(n < 1 for n in self.neg_counts):
            raise ValueError(f"neg_counts = {self.neg_counts}: values >= 1")
        if not 0 <= self.score_thresh < 1:
            raise ValueError(f"score_thresh = {self.score_thresh}: valid range [0, 1)")


PROFILES = {
    "ci": dict(num_categories=50, n_train=200, n_val=50, image_size=64, iters=20, batch_images=8,
               seeds=[0], rfs_multipliers=[0.0, 1.0], size_fractions=[0.5, 1.0], neg_counts=[2, 5],
               n_resamples=2, n_boot=100, zipf_exponent=2.0, zipf_offset=0.0),
    "default": dict(),
    "gpu": dict(detector="maskrcnn", num_categories=250, n_train=20000, n_val=2000, image_size=256,
                max_objects=12, min_size=256, backbone="resnet50", iters=20000, batch_images=8, lr=0.02,
                rfs_multipliers=[0.0, 1.0, 10.0], seeds=[0, 1], n_resamples=8),
    "paper": dict(dataset="lvis", detector="maskrcnn", backbone="resnet50", min_size=800, iters=90000,
                  batch_images=2, lr=0.02, rfs_t=0.001, rfs_multipliers=[0.0, 1.0], seeds=[0],
                  class_aware=False, n_resamples=8, threads=4),     # 90k iterations a model: uniform and t only
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 1800, "gpu": 12 * 3600, "paper": None}
