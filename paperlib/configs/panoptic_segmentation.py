"""04 Panoptic Segmentation (paper notes: docs/papers/04_panoptic_segmentation.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..config import COUNT, NONNEG, POSITIVE, PROB, SEEDS, STEPS, Range, check_ranges

SLUG = "04_panoptic_segmentation"
TITLE = "Panoptic Segmentation (Kirillov, He, Girshick, Rother, Dollar; CVPR 2019)"


@dataclass
class Config:
    # data: "scenes" = synthetic panoptic scenes (FPN scene generator); "files" = evaluate a
    # user-supplied COCO panoptic prediction against GT under data_root (paper profile)
    dataset: str = "scenes"
    image_size: int = 128
    n_scenes: int = 300                 # evaluation scenes (human study, machine evaluation)
    min_objects: int = 2
    max_objects: int = 12
    crowd_prob: float = 0.1
    void_rim: bool = True               # 1-px unlabelled rim around things (GT VOID)
    data_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])   # annotator-noise seeds
    # simulated annotators (our design; see paperlib.experiments.panoptic_segmentation)
    jitter_max_px: int = 2
    p_jitter: float = 1.0
    p_merge: float = 0.3
    p_split: float = 0.1
    p_cls: float = 0.05
    small_area: int = 100
    p_small: float = 0.3
    # T4: hallucinated stuff blobs
    blob_counts: list[int] = field(default_factory=lambda: [0, 5, 20, 50])
    blob_area: list[int] = field(default_factory=lambda: [4, 30])
    # merge heuristic (paper section 7 / panopticapi's script)
    confidence_thr: float = 0.5
    overlap_thr: float = 0.5
    stuff_area_limit: Optional[float] = None   # None: 4096 px scaled to the image area
    # simulated machine (spec's default design)
    sim_blobs: int = 5
    sim_p_miss_small: float = 0.6
    # trained machine: "fcn" = tiny FCN (semantic + thing + boundary heads) + a tiny RoI classifier (the
    # CPU stand-in); "panoptic_fpn" = paperlib's Panoptic FPN (models/panoptic_fpn.py, the spec's gpu
    # machine), trained with the shared recipe of paperlib.engine.panoptic on n_train fresh scenes
    train_machine: bool = True
    machine: str = "fcn"
    # machines trained (seeds seeds[0] + 0..k-1): the seed std of C3 / C5 (trained contrasts). Default: the
    # FCN machine took 65 s of the committed default run, so 3 seeds add ~2.5 min (~4 min in all). Pilot
    # (default, 3 seeds, 1 thread): C3's dRQ - dSQ per seed 0.316 / 0.308 / 0.300 (seed std 0.008 < the 0.02
    # minimum: held); C5's PQ^St drop per seed -1.58 / -2.28 / -2.13 points (floor 0.74: not held)
    machine_seeds: int = 3
    n_train: int = 400
    width: int = 16
    epochs: int = 12
    batch_size: int = 16
    lr: float = 0.004
    max_steps: Optional[int] = None
    roi_epochs: int = 8                 # RoI classifier (labels the FCN's instance masks)
    min_instance_area: int = 20
    boundary_thr: float = 0.8           # instance cores: boundary probability below this
    # machine == "panoptic_fpn": trunk, FPN width (= branch width), iterations, batch, SGD lr, lambda_s;
    # sizes, anchors and Eq. 1's canonical size follow image_size (paperlib.experiments.panoptic_machine)
    fpn_backbone: str = "tiny"
    fpn_channels: int = 32
    fpn_iters: int = 500
    fpn_batch_size: int = 4
    fpn_lr: float = 0.04
    fpn_lambda_s: float = 0.5
    log_every: int = 25
    progress: Optional[bool] = None
    torch_threads: int = 1
    # statistics. Spec: "an effect counts as held only if its sign matches and its size exceeds
    # max(2 x seed std, a stated minimum)". The stated minimums (ours, in PQ points): C2 (RQ_L-RQ_S) -
    # (SQ_L-SQ_S) 5 (paper: Cityscapes 20.5); C3 dRQ - dSQ 2 (paper: Cityscapes 4.4); C4 PQ^St drop -
    # mIoU drop 5 (paper: G-RMI vs CASIA 8.1 - 1.7); C5 PQ^St drop 0.1 (paper: Cityscapes 0.2).
    n_boot: int = 500
    min_effect_pts: dict = field(default_factory=lambda: {"C2": 5.0, "C3": 2.0, "C4": 5.0, "C5": 0.1})
    miou_change_max_pts: float = 2.0    # C4: "mIoU should change by < 2 points" (spec, T4 analogue)

    def __post_init__(self):
        check_ranges(self, RANGES)
        if self.min_objects > self.max_objects:
            raise ValueError(f"field min_objects = {self.min_objects} exceeds max_objects = {self.max_objects}: "
                             "expected min_objects <= max_objects")
        if len(self.blob_area) != 2 or self.blob_area[0] > self.blob_area[1]:
            raise ValueError(f"field blob_area = {self.blob_area!r}: expected [min, max] pixels with 1 <= min <= max")
        bad = sorted(set(self.min_effect_pts) - {"C2", "C3", "C4", "C5"})
        if bad:
            raise ValueError(f"min_effect_pts: unknown claim(s) {bad}; valid: C2, C3, C4, C5")
        for k, v in self.min_effect_pts.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
                raise ValueError(f"min_effect_pts[{k!r}] = {v!r}: need a number >= 0 (PQ points)")
        if not self.miou_change_max_pts > 0:
            raise ValueError(f"miou_change_max_pts = {self.miou_change_max_pts!r}: need a number > 0")

    def min_effect(self, claim: str) -> float:
        """The stated minimum of ``claim`` in PQ points (0 when not set)."""
        return float(self.min_effect_pts.get(claim, 0.0))
    # dataset == "files": GT json (+ folder) under data_root, prediction json (+ folder)
    gt_json: Optional[str] = None
    pred_json: Optional[str] = None
    workers: Optional[int] = None
    # dataset == "files", T5 on real data (panopticapi's combine script inputs; paths relative to
    # data_root or absolute): semantic_pred = COCO stuff results json (RLE per image and class) or a
    # folder of single-channel PNG label maps (<image stem>.png, pixel = category id);
    # instance_pred_json = COCO detection results json with RLE masks and scores. The merged
    # prediction uses the script's unscaled 64*64 px stuff limit unless stuff_area_limit is set.
    semantic_pred: Optional[str] = None
    instance_pred_json: Optional[str] = None


# valid range of every numeric / list / choice field (checked when the Config is built)
RANGES = {
    "dataset": Range(choices=("scenes", "files")), "image_size": Range(lo=32), "n_scenes": COUNT,
    "min_objects": NONNEG, "max_objects": COUNT, "crowd_prob": PROB, "data_seed": NONNEG, "seeds": SEEDS,
    "jitter_max_px": NONNEG, "p_jitter": PROB, "p_merge": PROB, "p_split": PROB, "p_cls": PROB,
    "small_area": NONNEG, "p_small": PROB, "blob_counts": Range(lo=0, nonempty=True), "blob_area": COUNT,
    "confidence_thr": PROB, "overlap_thr": PROB, "stuff_area_limit": Range(lo=0, none="4096 px scaled to the image"),
    "sim_blobs": NONNEG, "sim_p_miss_small": PROB,
    "n_train": COUNT, "width": COUNT, "epochs": COUNT, "batch_size": COUNT, "lr": POSITIVE, "max_steps": STEPS,
    "roi_epochs": COUNT, "min_instance_area": NONNEG, "machine": Range(choices=("fcn", "panoptic_fpn")),
    "machine_seeds": COUNT, "fpn_backbone": Range(choices=("tiny", "small", "resnet50")),
    "fpn_channels": COUNT, "fpn_iters": COUNT, "fpn_batch_size": COUNT, "fpn_lr": POSITIVE, "fpn_lambda_s": NONNEG, "boundary_thr": PROB, "log_every": COUNT,
    "torch_threads": COUNT, "n_boot": Range(lo=1, why="bootstrap resamples"),
    "workers": Range(lo=1, none="every core for >= 200 images, else 1"),
}


PROFILES = {
    "ci": dict(image_size=64, n_scenes=8, seeds=[0], n_train=16, epochs=1, max_steps=2, machine_seeds=2,
               batch_size=8, blob_counts=[0, 20], n_boot=50),
    "default": dict(),
    # gpu: the spec's machine, a Panoptic FPN (06's gpu recipe: small trunk, FPN 128, 15k iterations at batch 8)
    "gpu": dict(image_size=512, n_scenes=1000, n_train=2000, width=32, epochs=30, batch_size=16,
                max_objects=30, roi_epochs=20, min_instance_area=60, machine="panoptic_fpn", machine_seeds=3,
                fpn_backbone="small", fpn_channels=128, fpn_iters=15000, fpn_batch_size=8, fpn_lr=0.02),
    "paper": dict(dataset="files", gt_json="annotations/panoptic_val2017.json", train_machine=False,
                  pred_json=None, semantic_pred=None, instance_pred_json=None),  # user sets them
}

# execution timeout of the whole notebook per profile, seconds (None = no limit)
TIMEOUT = {"ci": 300, "default": 900, "gpu": 6 * 3600, "paper": None}
